"""Crashes: SIGKILL the API mid-burst, restart the database mid-flight; nothing acknowledged
is lost or stored twice, and the leases of a dead instrument return their trials."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from db import CampaignStore, EmbeddedServer, connect, disconnect
from db.documents import MeasurementDocument, TrialDocument
from db.server import free_port, ping
from db.tokens import create_token
from discovery.domain import Campaign, CampaignSettings, Direction, Objective, Trial
from discovery.spaces import ContinuousParameter, SearchSpace

pytestmark = pytest.mark.slow


def _queue(name: str, n: int) -> None:
    space = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
    CampaignStore().create(
        Campaign(
            name, space, (Objective("y", Direction.MAXIMIZE),), CampaignSettings("random", 1, 10, 0)
        )
    )
    CampaignStore().add_trials(name, [Trial(name, {"x": i / n}, "b0") for i in range(n)])


class Server:
    """`matloop serve` in a subprocess on a fixed port, restartable."""

    def __init__(self, uri: str) -> None:
        self.uri, self.port = uri, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "MATLOOP_MONGODB_URI": self.uri}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "matloop", "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("server did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


class Reporter(threading.Thread):
    """Claims one trial at a time and reports it; retries with the same key until acked."""

    def __init__(self, url: str, token: str, name: str, label: str, total: int) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(
            base_url=f"{url}/api/v1/campaigns/{name}",
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
        )
        self.label, self.total = label, total
        self.acknowledged: list[str] = []
        self.failures = 0

    def post(self, path: str, body: dict) -> dict:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                response = self.client.post(path, json=body)
                if response.status_code < 500:
                    response.raise_for_status()
                    return response.json()
            except httpx.TransportError:
                pass
            self.failures += 1
            time.sleep(0.2)
        raise AssertionError(f"{path}: no answer for 120 s")

    def run(self) -> None:
        while len(self.acknowledged) < self.total:
            [trial] = self.post(
                "/claims", {"instrument": self.label, "count": 1, "lease_seconds": 300}
            )["trials"]
            self.post(
                "/results",
                {
                    "trial_id": trial["id"],
                    "values": {"y": trial["parameters"]["x"]},
                    "idempotency_key": f"{self.label}:{trial['id']}",
                },
            )
            self.acknowledged.append(trial["id"])


def _check(reporters: list[Reporter]) -> None:
    acknowledged = [t for r in reporters for t in r.acknowledged]
    stored = Counter(str(m.trial.id) for m in MeasurementDocument.objects.no_dereference())
    assert set(acknowledged) <= set(stored), "an acknowledged result was lost"
    assert max(stored.values()) == 1, "a result was stored twice"
    completed = TrialDocument.objects(status="completed").count()
    assert completed == len(stored)


@pytest.fixture
def persistent_db(tmp_path: Path) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(tmp_path / "home", port=free_port())
    server.start()
    yield server
    disconnect()
    server.stop()


def test_api_killed_mid_burst_loses_and_duplicates_nothing(mongodb_uri: str) -> None:
    _queue("burst", 200)
    token, _ = create_token("robots", "instrument", ["burst"])
    server = Server(mongodb_uri)
    server.start()
    reporters = [Reporter(server.url, token, "burst", f"r{i}", 25) for i in range(4)]
    try:
        for reporter in reporters:
            reporter.start()
        while MeasurementDocument.objects.count() < 30:
            time.sleep(0.05)
        server.kill()  # SIGKILL in the middle of the burst
        time.sleep(0.5)
        server.start()
        for reporter in reporters:
            reporter.join(timeout=240)
    finally:
        server.stop()
    assert all(len(r.acknowledged) == 25 for r in reporters)
    assert sum(r.failures for r in reporters) > 0, "the kill went unnoticed: test proves nothing"
    _check(reporters)


def test_database_restarted_mid_flight_clients_retry(persistent_db: EmbeddedServer) -> None:
    info = persistent_db.start()
    uri = f"{info.uri}/matloop"
    connect(uri)
    _queue("restart", 200)
    token, _ = create_token("robots", "instrument", ["restart"])
    server = Server(uri)
    server.start()
    reporters = [Reporter(server.url, token, "restart", f"r{i}", 20) for i in range(3)]
    try:
        for reporter in reporters:
            reporter.start()
        while MeasurementDocument.objects.count() < 20:
            time.sleep(0.05)
        stored_before = MeasurementDocument.objects.count()
        persistent_db.stop()  # the database goes away mid-flight ...
        assert not ping(info.uri)
        time.sleep(1.0)
        persistent_db.start()  # ... and comes back with its data
        for reporter in reporters:
            reporter.join(timeout=240)
    finally:
        server.stop()
    assert stored_before < 60, "the restart came after the work: test proves nothing"
    # pymongo's server selection waits out a short outage, the API answers 503 on longer
    # ones and the clients retry: either way every acknowledged result is there once.
    assert all(len(r.acknowledged) == 20 for r in reporters)
    _check(reporters)


def test_leases_of_a_dead_instrument_return_their_trials(mongodb_uri: str) -> None:
    _queue("leases", 10)
    from agents import CampaignAgent

    agent = CampaignAgent(CampaignStore(), "leases")
    taken = agent.claim("crashed-robot", count=3, lease_seconds=0.5)
    time.sleep(1.0)  # the robot never comes back
    again = agent.claim("healthy-robot", count=3, lease_seconds=60)
    assert {t.id for t in again} == {t.id for t in taken}
    assert {t.claimed_by for t in again} == {"healthy-robot"}
