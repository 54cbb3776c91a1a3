from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from db import CampaignStore, connect, disconnect
from db.server import EmbeddedServer, free_port, ping
from discovery.domain import Campaign, Direction, Objective
from discovery.spaces import ContinuousParameter, SearchSpace


def test_embedded_server_keeps_data_across_restarts(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "home", port=free_port())
    assert server.status() is None
    info = server.start()
    try:
        assert server.start().pid == info.pid  # starting twice reuses the running server
        elsewhere = EmbeddedServer(tmp_path / "home", port=info.port + 1)  # another MATLOOP_DB_PORT
        with pytest.raises(ValueError, match=f"runs on port {info.port}, not on MATLOOP_DB_PORT"):
            elsewhere.start()
        assert ping(info.uri)
        assert (tmp_path / "home" / "secantusd.pid").exists()
        connect(f"{info.uri}/matloop")
        space = SearchSpace((ContinuousParameter("x", 0, 1),))
        CampaignStore().create(Campaign("kept", space, (Objective("y", Direction.MINIMIZE),)))
        disconnect()
        assert server.stop()
        assert server.status() is None
        assert not ping(info.uri)
        info = server.start()
        connect(f"{info.uri}/matloop")
        assert [c.name for c in CampaignStore().campaigns()] == ["kept"]
        disconnect()
    finally:
        server.stop()
    assert not server.stop()


def test_an_acknowledged_write_survives_the_server_being_killed_at_once(tmp_path: Path) -> None:
    # without a synced commit, kill -9 (or the OOM killer) lost the last tenths of a second
    server = EmbeddedServer(tmp_path / "home", port=free_port())
    info = server.start()
    try:
        connect(f"{info.uri}/matloop")
        space = SearchSpace((ContinuousParameter("x", 0, 1),))
        CampaignStore().create(
            Campaign("acknowledged", space, (Objective("y", Direction.MAXIMIZE),))
        )
        os.kill(info.pid, 9)
        disconnect()
        psutil.Process(info.pid).wait(10)  # reaped: a zombie is not a running server either
        info = server.start()
        connect(f"{info.uri}/matloop")
        assert [c.name for c in CampaignStore().campaigns()] == ["acknowledged"]
        disconnect()
    finally:
        server.stop()


def test_port_taken_by_a_foreign_database_is_reported(mongodb_server: str, tmp_path: Path) -> None:
    port = int(mongodb_server.rsplit(":", 1)[1])
    with pytest.raises(RuntimeError, match="MATLOOP_MONGODB_URI"):
        EmbeddedServer(tmp_path, port=port).start()


@pytest.fixture
def other_program() -> Iterator[subprocess.Popen[bytes]]:
    """A running process that is no database (a pid a pid file may name after a reboot)."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def write_pid_file(server: EmbeddedServer, pid: int, **fields: object) -> None:
    """Record ``pid`` as ``server``'s, with ``fields`` (port, started, ...) over the defaults."""
    record = {"pid": pid, "host": "127.0.0.1", "port": server.port}
    paths = {"data_dir": str(server.data_dir), "log": str(server.log)}
    server.pid_file.write_text(json.dumps(record | paths | fields))


def test_a_pid_file_whose_pid_another_program_took_is_stale(
    tmp_path: Path, other_program: subprocess.Popen[bytes]
) -> None:
    """After a reboot the pid in the file may be any program's: never taken or signalled."""
    server = EmbeddedServer(tmp_path, port=free_port())
    write_pid_file(server, other_program.pid)
    assert server.status() is None
    assert not server.pid_file.exists()
    assert not server.stop()
    assert other_program.poll() is None  # still running


def test_a_process_that_cannot_be_looked_at_is_ours_when_its_server_answers(
    mongodb_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hardened /proc hides the command line: the pid file is kept while the server answers."""

    def hidden(pid: int) -> None:
        raise psutil.AccessDenied(pid)

    monkeypatch.setattr(psutil, "Process", hidden)
    server = EmbeddedServer(tmp_path, port=int(mongodb_server.rsplit(":", 1)[1]))
    write_pid_file(server, os.getpid(), started=1.0)
    assert server.status() is not None
    write_pid_file(server, os.getpid(), started=1.0, port=free_port())
    assert server.status() is None  # nothing answers there: stale
    assert not server.pid_file.exists()


def test_a_pid_file_names_its_process_by_creation_time(
    tmp_path: Path, other_program: subprocess.Popen[bytes]
) -> None:
    server = EmbeddedServer(tmp_path, port=free_port())
    started = psutil.Process(other_program.pid).create_time()
    write_pid_file(server, other_program.pid, started=started)
    assert server.status() is not None  # the very process it recorded
    write_pid_file(server, other_program.pid, started=started - 60)
    assert server.status() is None  # its pid, another process


def test_a_killed_server_not_yet_reaped_is_not_taken_for_a_running_one(tmp_path: Path) -> None:
    # kill -9 leaves a zombie until its parent waits for it: `db start` said "running"
    server = EmbeddedServer(tmp_path, port=free_port())
    killed = subprocess.Popen(["sleep", "60"])
    started = psutil.Process(killed.pid).create_time()
    killed.kill()
    write_pid_file(server, killed.pid, started=started)
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(killed.pid).status() != psutil.STATUS_ZOMBIE:  # still unreaped
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert server.status() is None
        assert not server.pid_file.exists()
    finally:
        killed.wait()
