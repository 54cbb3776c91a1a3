"""The embedded database: a SecantusDB server (MongoDB wire protocol) as a separate process.

``EmbeddedServer`` runs a persistent server under a home directory (data, pid file, log)
for the ``matloop db`` commands; :func:`ephemeral_server` runs an in-memory one on a free
port for tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
from pymongo import MongoClient

EXECUTABLE = "secantusd-py"


@dataclass(frozen=True)
class ServerInfo:
    """A running server."""

    pid: int
    host: str
    port: int
    data_dir: str
    log: str
    started: float | None = None  # the process's creation time (psutil), None before kept

    @property
    def uri(self) -> str:
        """``mongodb://host:port`` of the server."""
        return f"mongodb://{self.host}:{self.port}"


def executable() -> str:
    """Path of ``secantusd-py``: beside this interpreter first, then on PATH."""
    beside = Path(sys.executable).parent / EXECUTABLE
    found = str(beside) if beside.exists() else shutil.which(EXECUTABLE)
    if found is None:
        raise FileNotFoundError(f"{EXECUTABLE} not found: pip install secantusdb==0.7.0b3")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free now on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ping(uri: str, timeout_ms: int = 500) -> bool:
    """True when a MongoDB-wire server answers ``ping`` at ``uri``."""
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connect=True)
    try:
        client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        client.close()


def _wait_ready(process: subprocess.Popen[bytes], uri: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"database server exited with {process.returncode}:\n{tail}")
        if ping(uri):
            return
        time.sleep(0.1)
    process.kill()
    raise TimeoutError(f"database server at {uri} not ready after {timeout:.0f} s (log: {log})")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _serves(info: ServerInfo) -> bool | None:
    """Whether ``info``'s process is the server it records; None when it cannot be told.

    A pid file outlives a reboot or a killed server, and its pid may since belong to any
    other program: that one must be neither taken for the database nor signalled. The
    pid and its process's creation time identify the process; a pid file written before
    the time was kept is checked by the server's data folder on its command line.
    """
    try:
        process = psutil.Process(info.pid)
        if process.status() == psutil.STATUS_ZOMBIE:  # killed, and not yet reaped
            return False
        if info.started is not None:
            return abs(process.create_time() - info.started) < 0.01
        command = process.cmdline()
    except psutil.NoSuchProcess:  # a zombie too: it has exited
        return False
    except psutil.AccessDenied:  # another user's, or a hardened /proc: ask the server
        return None
    flag = "--storage-path"
    return flag in command[:-1] and command[command.index(flag) + 1] == info.data_dir


class EmbeddedServer:
    """A persistent SecantusDB under ``home``: ``db/`` data, ``secantusd.pid``, ``secantusd.log``.

    Example:
        >>> server = EmbeddedServer(Path("~/.local/share/matloop").expanduser())
        >>> info = server.start()   # idempotent: returns the running server if there is one
        >>> server.stop()

    """

    def __init__(self, home: Path, host: str = "127.0.0.1", port: int = 27217) -> None:
        self.home = Path(home)
        self.host = host
        self.port = port
        self.data_dir = self.home / "db"
        self.pid_file = self.home / "secantusd.pid"
        self.log = self.home / "secantusd.log"

    def status(self) -> ServerInfo | None:
        """The running server recorded in the pid file, or None.

        A stale pid file (its process gone, or its pid since taken by another program) is
        removed. The server may run on another port than :attr:`port`
        (:meth:`check_port`).
        """
        if not self.pid_file.exists():
            return None
        try:
            info = ServerInfo(**json.loads(self.pid_file.read_text()))
        except (ValueError, TypeError):
            self.pid_file.unlink()
            return None
        ours = _serves(info)
        if ours is None:  # cannot look at the process: alive and answering is ours
            ours = _alive(info.pid) and ping(info.uri, timeout_ms=2000)
        if not ours:
            self.pid_file.unlink(missing_ok=True)
            return None
        return info  # ours, answering or busy

    def check_port(self, info: ServerInfo) -> ServerInfo:
        """``info``, when the server runs on :attr:`port`.

        Raises:
            ValueError: naming both ports, when it runs on another one (started with
                another ``MATLOOP_DB_PORT``): commands would connect to a port where
                nothing answers.
        """
        if info.port != self.port:
            raise ValueError(
                f"the embedded database in {self.home} runs on port {info.port}, not on "
                f"MATLOOP_DB_PORT {self.port}: set MATLOOP_DB_PORT={info.port}, or stop it "
                f"(MATLOOP_DB_PORT={info.port} matloop db stop) and start it on {self.port}"
            )
        return info

    def start(self, timeout: float = 60.0) -> ServerInfo:
        """Start the server (or return the one already running).

        Raises:
            RuntimeError: if the port is taken by another program or the server exits.
            ValueError: if it already runs, on another port (:meth:`check_port`).

        """
        running = self.status()
        if running is not None:
            return self.check_port(running)
        uri = f"mongodb://{self.host}:{self.port}"
        if ping(uri):
            raise RuntimeError(
                f"port {self.port} already serves a database that matloop did not start; "
                f"set MATLOOP_MONGODB_URI={uri} to use it, or MATLOOP_DB_PORT to pick another port"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            process = subprocess.Popen(
                [
                    executable(),
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                    "--storage-path",
                    str(self.data_dir),
                    "--log-level",
                    "WARNING",
                    # an acknowledged write is on disk: without it, a server killed within
                    # a few tenths of a second of a 200 lost the result (kill -9, OOM)
                    "--sync-on-commit",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the command that started it
            )
        _wait_ready(process, uri, self.log, timeout)
        started = psutil.Process(process.pid).create_time()
        info = ServerInfo(
            process.pid, self.host, self.port, str(self.data_dir), str(self.log), started
        )
        self.pid_file.write_text(json.dumps(info.__dict__))
        return info

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``); False if none ran."""
        info = self.status()
        if info is None:
            return False
        os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(info.pid) and time.monotonic() < deadline:
            _reap(info.pid)
            time.sleep(0.1)
        if _alive(info.pid):
            os.kill(info.pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True


def _reap(pid: int) -> None:
    # A server started by this very process stays a zombie until waited for.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


#: Oplog entries an in-memory server keeps. Its data, oplog included, lives in WiredTiger's
#: cache (1 GiB): with the default 100000 entries, ten stored taggers (83 MB of GridFS
#: chunks each, logged however soon their database is dropped) filled it (WT_CACHE_FULL).
#: Nothing here reads the oplog: no change streams, and transactions do not need it.
EPHEMERAL_OPLOG_ENTRIES = 2000


@contextlib.contextmanager
def ephemeral_server(host: str = "127.0.0.1", timeout: float = 60.0) -> Iterator[str]:
    """Run an in-memory SecantusDB on a free port; yield its URI; stop it afterwards.

    Its oplog is capped at :data:`EPHEMERAL_OPLOG_ENTRIES`, so that a long test session
    or benchmark that stores and drops large files does not fill the server's memory.
    """
    port = free_port(host)
    log = Path(os.devnull)
    process = subprocess.Popen(
        [
            executable(),
            "--host",
            host,
            "--port",
            str(port),
            "--storage-path",
            ":memory:",
            "--oplog-max-entries",
            str(EPHEMERAL_OPLOG_ENTRIES),
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    uri = f"mongodb://{host}:{port}"
    try:
        _wait_ready(process, uri, log, timeout)
        yield uri
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
