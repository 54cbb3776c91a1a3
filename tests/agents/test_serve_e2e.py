"""`matloop serve` and the simulated instrument complete a 20-round campaign over HTTP."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from agents import CampaignAgent
from db.documents import MeasurementDocument
from db.server import free_port
from db.tokens import create_token

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "matloop" / "data" / "olympus" / "photo_pce10"


@pytest.mark.slow
def test_simulated_instrument_runs_twenty_rounds_over_http(
    mongodb_uri: str, photo_pce10_campaign: CampaignAgent, tmp_path: Path
) -> None:
    token, _ = create_token("sim-1", "instrument", [photo_pce10_campaign.name])
    port = free_port()
    env = {**os.environ, "MATLOOP_MONGODB_URI": mongodb_uri}
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "matloop", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("w"),  # the request log
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        run = subprocess.run(
            [
                sys.executable,
                str(REPO / "examples" / "instrument.py"),
                "--url",
                f"http://127.0.0.1:{port}",
                "--token",
                token,
                "--campaign",
                photo_pce10_campaign.name,
                "--data",
                str(DATA),
                "--rounds",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout.strip().splitlines()[-1]) == {"stored": 80, "duplicates": 0}
    finally:
        server.terminate()
        server.wait(timeout=30)
    claims = f'"POST /api/v1/campaigns/{photo_pce10_campaign.name}/claims HTTP/1.1" 200'
    assert claims in log.read_text()  # one line per request, for whoever debugs a lab's client
    status = photo_pce10_campaign.status()
    assert status.measurements == 80
    measurements = list(MeasurementDocument.objects.no_dereference())
    assert max(Counter(str(m.trial.id) for m in measurements).values()) == 1
    assert {m.source for m in measurements} == {"sim-1"}
    assert status.best is not None
    assert status.efficiency is not None and status.efficiency.enhancement_factor > 1


def test_the_request_log_leaves_out_passing_probes_and_nothing_else(
    mongodb_uri: str, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "matloop", "serve", "--port", str(port)],
        env={**os.environ, "MATLOOP_MONGODB_URI": mongodb_uri},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # a healthcheck's polling
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        assert httpx.get(f"{base}/ready").status_code == 200
        assert httpx.get(f"{base}/api/v1/campaigns").status_code == 401
        assert httpx.get(f"{base}/health/more").status_code == 404
    finally:
        server.terminate()
        server.wait(timeout=40)
    said = log.read_text()
    assert "Application shutdown complete" in said  # the SIGTERM a docker stop sends
    assert '"GET /api/v1/campaigns HTTP/1.1" 401' in said
    assert '"GET /health/more HTTP/1.1" 404' in said
    assert '"GET /health HTTP/1.1"' not in said and '"GET /ready HTTP/1.1"' not in said


def test_a_failing_probe_stays_in_the_request_log() -> None:
    from matloop.cli import _not_a_passing_probe

    def line(method: str, path: str, status: int) -> logging.LogRecord:
        args = ("10.0.0.7:5501", method, path, "1.1", status)
        return logging.LogRecord("uvicorn.access", 20, "", 0, '%s - "%s %s HTTP/%s" %d', args, None)

    assert not _not_a_passing_probe(line("GET", "/ready", 200))
    assert not _not_a_passing_probe(line("HEAD", "/health", 200))
    assert _not_a_passing_probe(line("GET", "/ready", 503))  # the database is down: say so
    assert _not_a_passing_probe(line("POST", "/ready", 405))
    assert _not_a_passing_probe(line("GET", "/api/v1/campaigns", 200))
