"""Load: concurrent simulated instruments report results through the HTTP API.

A real ``matloop serve`` process on loopback, an in-memory SecantusDB, a campaign whose
trials are queued beforehand; each instrument (a thread with its own HTTP client) claims
leases and reports every result, retrying on connection errors with the same idempotency
key. Afterwards the database is counted: every acknowledged result must be stored once.

    python benchmarks/load.py [--instruments 20] [--results 1000] [--bulk 1 25]

Writes ``benchmarks/results/load.json`` and prints a table (one row per ``--bulk`` size,
the number of results per request).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    # Run as a script, this folder comes first on sys.path, and benchmarks/literature.py
    # would shadow the `literature` package that db imports.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]

import httpx
import numpy as np

from db import CampaignStore, connect, ephemeral_server
from db.documents import MeasurementDocument, TrialDocument
from db.server import free_port
from db.tokens import create_token
from discovery.domain import Campaign, CampaignSettings, Direction, Objective, Trial
from discovery.spaces import ContinuousParameter, SearchSpace

RESULTS = Path(__file__).resolve().parent / "results"
CLAIM = 50


SPACE = SearchSpace(tuple(ContinuousParameter(f"x{i}", 0.0, 1.0) for i in range(4)))


class Feeder(threading.Thread):
    """Keeps about ``depth`` proposed trials queued until ``n`` have been queued in all.

    A lab's queue is a few batches deep; queueing all trials up front would measure
    scans over a 20,000-deep queue instead of the ingestion path. The instruments tell
    it what they claimed (:meth:`claimed`): counting proposed trials in the database
    scans the whole collection on SecantusDB (0.36 s at 20,000 trials), and doing
    that 20 times a second loaded the database more than the instruments did.
    """

    def __init__(self, store: CampaignStore, name: str, n: int, depth: int, seed: int) -> None:
        super().__init__(daemon=True)
        self.store, self.name, self.n, self.depth = store, name, n, depth
        self.rng = np.random.default_rng(seed)
        self.queued = self.taken = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def claimed(self, count: int) -> None:
        """Instruments report the trials each claim leased (leases last the whole run)."""
        with self.lock:
            self.taken += count

    def top_up(self) -> None:
        with self.lock:
            waiting = self.queued - self.taken
        count = min(self.depth - waiting, self.n - self.queued)
        if count > 0:
            points = SPACE.sample(count, self.rng)
            self.store.add_trials(self.name, [Trial(self.name, p, "queued") for p in points])
            self.queued += count

    def run(self) -> None:
        while self.queued < self.n and not self.stop.is_set():
            self.top_up()
            time.sleep(0.05)


def start_server(uri: str) -> tuple[subprocess.Popen[bytes], str]:
    """``matloop serve`` on a free loopback port; returns the process and its base URL."""
    port = free_port()
    env = {**os.environ, "MATLOOP_MONGODB_URI": uri}
    env.pop("PREFECT_API_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "matloop", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("matloop serve did not start")


class Instrument(threading.Thread):
    """Claims trials and reports ``total`` results, ``bulk`` per request."""

    def __init__(
        self,
        url: str,
        token: str,
        campaign: str,
        label: str,
        total: int,
        bulk: int,
        deadline: float,
        feeder: Feeder,
    ) -> None:
        super().__init__(daemon=True)
        self.feeder = feeder
        self.client = httpx.Client(
            base_url=f"{url}/api/v1/campaigns/{campaign}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        self.label, self.total, self.bulk, self.deadline = label, total, bulk, deadline
        self.latencies: list[float] = []
        self.acknowledged: list[str] = []
        self.retries = 0
        self.error: str | None = None

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(8):
            try:
                response = self.client.post(path, json=body)
            except httpx.TransportError:
                self.retries += 1
                time.sleep(min(2.0, 0.1 * 2**attempt))
                continue
            if response.status_code >= 500:
                self.retries += 1
                time.sleep(min(2.0, 0.1 * 2**attempt))
                continue
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result
        raise RuntimeError(f"{path}: gave up after retries")

    def run(self) -> None:
        try:
            while len(self.acknowledged) < self.total and time.monotonic() < self.deadline:
                want = min(CLAIM, self.total - len(self.acknowledged))
                trials = self.post(
                    "/claims", {"instrument": self.label, "count": want, "lease_seconds": 600}
                )["trials"]
                self.feeder.claimed(len(trials))
                if not trials:
                    time.sleep(0.05)  # the queue is being refilled
                    continue
                for i in range(0, len(trials), self.bulk):
                    chunk = trials[i : i + self.bulk]
                    body = {
                        "results": [
                            {
                                "trial_id": t["id"],
                                "values": {"y": sum(t["parameters"].values())},
                                "idempotency_key": f"{self.label}:{t['id']}",
                                "source": self.label,
                            }
                            for t in chunk
                        ]
                    }
                    start = time.perf_counter()
                    self.post("/results", body)
                    self.latencies.append(time.perf_counter() - start)
                    self.acknowledged += [t["id"] for t in chunk]
        except Exception as error:  # reported in the summary
            self.error = repr(error)
        finally:
            self.client.close()


def run_load(
    uri: str,
    instruments: int,
    per_instrument: int,
    bulk: int,
    time_limit: float = 900.0,
    database: str | None = None,
) -> dict[str, Any]:
    """One load run in its own database (left connected); returns the counted outcome.

    ``uri`` is the server's (``mongodb://host:port``, no database); ``database``
    defaults to ``load_<bulk>_<time>``.
    """
    database = database or f"load_{bulk}_{int(time.time())}"
    connect(f"{uri}/{database}")
    store = CampaignStore()
    name = "load"
    store.create(
        Campaign(
            name,
            SPACE,
            (Objective("y", Direction.MAXIMIZE),),
            CampaignSettings("random", initial=1, batch_size=CLAIM, seed=bulk),
        )
    )
    feeder = Feeder(store, name, instruments * per_instrument, depth=40 * CLAIM, seed=bulk)
    feeder.top_up()
    feeder.start()
    token, _ = create_token("load-instruments", "instrument", [name])
    server, url = start_server(f"{uri}/{database}")
    try:
        deadline = time.monotonic() + time_limit
        threads = [
            Instrument(url, token, name, f"robot-{i:02d}", per_instrument, bulk, deadline, feeder)
            for i in range(instruments)
        ]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=time_limit + 60)
        elapsed = time.perf_counter() - start
    finally:
        feeder.stop.set()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    acknowledged = [trial for t in threads for trial in t.acknowledged]
    rows = MeasurementDocument._get_collection().find({}, {"trial": 1})
    stored = Counter(str(row["trial"]) for row in rows)
    latencies = np.array([x for t in threads for x in t.latencies])
    return {
        "instruments": instruments,
        "results_per_request": bulk,
        "sent": instruments * per_instrument,
        "acknowledged": len(acknowledged),
        "stored": sum(stored.values()),
        "duplicates": sum(c - 1 for c in stored.values() if c > 1),
        "lost": len(set(acknowledged) - set(stored)),
        "completed_trials": TrialDocument.objects(status="completed").count(),
        "seconds": elapsed,
        "results_per_second": len(acknowledged) / elapsed,
        "requests": int(latencies.size),
        "p50_ms": float(np.percentile(latencies, 50) * 1000) if latencies.size else None,
        "p99_ms": float(np.percentile(latencies, 99) * 1000) if latencies.size else None,
        "client_retries": sum(t.retries for t in threads),
        "errors": [t.error for t in threads if t.error],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=20)
    parser.add_argument("--results", type=int, default=1000, help="Results per instrument.")
    parser.add_argument("--bulk", type=int, nargs="+", default=[1, 25])
    parser.add_argument("--output", type=Path, default=RESULTS / "load.json")
    args = parser.parse_args()
    rows = []
    with ephemeral_server() as uri:
        for bulk in args.bulk:
            rows.append(run_load(uri, args.instruments, args.results, bulk))
            print(json.dumps(rows[-1]), flush=True)
    machine = {"platform": platform.platform(), "cpus": os.cpu_count()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps({"benchmark": "load", "machine": machine, "runs": rows}, indent=2)
    )
    print()
    print(
        "| results/request | sent | stored | duplicates | lost | results/s | p50 ms | "
        "p99 ms | retries |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['results_per_request']} | {r['sent']} | {r['stored']} | {r['duplicates']} | "
            f"{r['lost']} | {r['results_per_second']:.0f} | {r['p50_ms']:.0f} | "
            f"{r['p99_ms']:.0f} | {r['client_retries']} |"
        )


if __name__ == "__main__":
    main()
