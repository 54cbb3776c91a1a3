"""A simulated instrument: claims work from a matloop server and reports measured results.

It "measures" a trial by looking its parameters up in a measured data set (an Olympus
folder), so a whole campaign can run over HTTP without a lab:

    matloop db start
    matloop campaign create opv --from-olympus matloop/data/olympus/photo_pce10
    matloop token create robot-1 --role instrument --campaign opv    # prints TOKEN
    matloop serve &
    python examples/instrument.py --campaign opv --token TOKEN --rounds 20 \
        --data matloop/data/olympus/photo_pce10

Each round claims a batch (a lease), sends a heartbeat, waits ``--work-seconds`` as if
measuring, and reports the batch in one bulk request with idempotency keys, retrying on
connection errors: a retried report is stored once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np


class CampaignClosed(Exception):
    """The campaign was closed: it hands out no more work (``matloop campaign close``)."""


class Instrument:
    """An HTTP client for one instrument on one campaign."""

    def __init__(self, url: str, token: str, campaign: str, name: str) -> None:
        self.client = httpx.Client(
            base_url=url.rstrip("/") + f"/api/v1/campaigns/{campaign}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=120.0,
        )
        self.name = name

    def call(self, path: str, body: dict[str, Any], attempts: int = 5) -> Any:
        """POST with bounded retries on connection errors and 5xx (requests are idempotent)."""
        for attempt in range(attempts):
            try:
                response = self.client.post(path, json=body)
            except httpx.TransportError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.5 * 2**attempt)
                continue
            if response.status_code >= 500 and attempt < attempts - 1:
                time.sleep(0.5 * 2**attempt)
                continue
            if response.status_code == 409 and "is closed" in response.text:
                raise CampaignClosed(response.json()["detail"])
            if response.status_code >= 400:
                raise RuntimeError(f"{path}: {response.status_code} {response.text}")
            return response.json()
        raise RuntimeError(f"{path}: no answer after {attempts} attempts")

    def claim(self, count: int, lease_seconds: float) -> tuple[list[dict[str, Any]], str | None]:
        """Lease up to ``count`` trials (a retry of this request gets the same ones).

        Returns:
            The trials, and why there are none when there are none.
        """
        body = {
            "instrument": self.name,
            "count": count,
            "lease_seconds": lease_seconds,
            "request_id": uuid.uuid4().hex,
        }
        answer = self.call("/claims", body)
        return answer["trials"], answer.get("why")

    def heartbeat(self, trial_id: str, lease_seconds: float) -> None:
        """Extend the lease on a trial being measured."""
        body = {"instrument": self.name, "lease_seconds": lease_seconds}
        self.call(f"/trials/{trial_id}/heartbeat", body)

    def report(self, results: list[dict[str, Any]]) -> dict[str, int]:
        """Report measured results in one bulk request."""
        report: dict[str, int] = self.call("/results", {"results": results})
        return report


class LookupTable:
    """Measured values of an Olympus data set, looked up by parameters."""

    def __init__(self, folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        self.names = [p["name"] for p in config["parameters"]]
        self.objective = config["measurements"][0]["name"]
        data = np.loadtxt(folder / "data.csv", delimiter=",", ndmin=2)
        self.X, self.y = data[:, : len(self.names)], data[:, len(self.names)]

    def measure(self, parameters: dict[str, float]) -> float:
        """The measured value of the data set's row at these parameters."""
        x = np.array([parameters[n] for n in self.names])
        row = int(np.argmin(np.abs(self.X - x).sum(axis=1)))
        if not np.allclose(self.X[row], x, atol=1e-9):
            raise ValueError(f"no measured point at {parameters}")
        return float(self.y[row])


def main(argv: list[str] | None = None) -> int:
    """Run the instrument for ``--rounds`` rounds; prints a JSON summary last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True)
    parser.add_argument("--campaign", required=True)
    parser.add_argument("--data", type=Path, required=True, help="Olympus data set folder.")
    parser.add_argument("--name", default="sim-1", help="Instrument id.")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lease-seconds", type=float, default=300.0)
    parser.add_argument("--work-seconds", type=float, default=0.0)
    args = parser.parse_args(argv)

    table = LookupTable(args.data)
    instrument = Instrument(args.url, args.token, args.campaign, args.name)
    stored = duplicates = 0
    for round_ in range(1, args.rounds + 1):
        try:
            trials, why = instrument.claim(args.batch, args.lease_seconds)
        except CampaignClosed as closed:  # an operator closed it: not this instrument's error
            print(f"no more work: {closed}")
            break
        if not trials:
            print(f"no more work: {why}")
            break
        for trial in trials:
            instrument.heartbeat(trial["id"], args.lease_seconds)
        time.sleep(args.work_seconds)
        results = [
            {
                "trial_id": t["id"],
                "values": {table.objective: table.measure(t["parameters"])},
                "idempotency_key": f"{args.name}:{t['id']}",
                "source": args.name,
            }
            for t in trials
        ]
        report = instrument.report(results)
        stored += report["stored"]
        duplicates += report["duplicates"]
        values = [r["values"][table.objective] for r in results]
        print(
            f"round {round_}: measured {len(trials)}, stored {report['stored']}, "
            f"{table.objective} {min(values):.4g}..{max(values):.4g}",
            flush=True,
        )
    print(json.dumps({"stored": stored, "duplicates": duplicates}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
