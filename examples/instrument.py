"""A simulated instrument: claims work from a matloop server and reports measured results.

It "measures" a trial by looking its parameters up in a measured data set (an Olympus
folder), so a whole campaign can run over HTTP without a lab:

    matloop db start
    matloop campaign create opv --from-olympus matloop/data/olympus/photo_pce10
    matloop token create robot-1 --role instrument --campaign opv    # prints TOKEN
    matloop serve &
    python examples/instrument.py --campaign opv --token TOKEN --rounds 20 \
        --data matloop/data/olympus/photo_pce10

Each round claims a batch (a lease), measures it (``--work-seconds``) while a background
thread sends a heartbeat for each trial every third of ``--lease-seconds``, so that no lease
runs out mid-measurement, and reports the batch in one bulk request with idempotency keys,
retrying on connection errors and 5xx answers: a retried report is stored once.

A 409 costs one trial, never the batch. A heartbeat refused for a trial that another
instrument took over (its lease ran out, say while this one was stalled) drops that trial,
with a line saying why; a lease that ran out with nobody taking the trial still gets its
result sent, which the server takes. A report refused because of one trial (the results
endpoint is all or nothing) is sent again one result per request, under the same idempotency
keys, so the other results are stored once each and only the refused ones are dropped,
each with the server's reason. An empty claim that may be followed by work (trials other
instruments hold may fail or lose their lease; the model starts once the initial design's
results are in: the server's ``ask_again``) is asked again every ``--poll-seconds``, for
at most ``--max-wait`` seconds; a spent budget or pool ends the run. Any other refusal
(401, 403, 404, 422) stops the script with the server's message and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np


class CampaignClosed(Exception):
    """The campaign was closed: it hands out no more work (``matloop campaign close``)."""


class ApiError(RuntimeError):
    """A request the server refused: retrying it would not help."""

    def __init__(self, path: str, status: int, detail: str) -> None:
        super().__init__(f"{path}: {status} {detail}")
        self.status = status
        self.detail = detail


class Conflict(ApiError):
    """A 409: a trial's state or lease forbids it (taken over, expired, already finished)."""


def _detail(response: Any) -> str:
    """The server's message: ``detail`` of a JSON error body, else the body."""
    try:
        detail = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        return str(response.text)
    return detail if isinstance(detail, str) else json.dumps(detail)


def log(message: str) -> None:
    """One line of the instrument's log (stdout, flushed: the lease thread writes too)."""
    print(message, flush=True)


class Instrument:
    """An HTTP client for one instrument on one campaign."""

    def __init__(self, url: str, token: str, campaign: str, name: str) -> None:
        self.client = httpx.Client(
            base_url=url.rstrip("/") + f"/api/v1/campaigns/{campaign}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=120.0,
        )
        self.name = name

    def call(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        attempts: int = 5,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """POST ``body`` (GET without one), with bounded retries on connection errors and 5xx.

        Every request this client sends is idempotent, so a retry is safe.

        Raises:
            CampaignClosed: the campaign is closed (a claim).
            Conflict: any other 409.
            ApiError: any other 4xx, or a 5xx on the last attempt.
            httpx.TransportError: no connection on the last attempt.
        """
        for attempt in range(attempts):
            try:
                if body is None:
                    response = self.client.get(path, params=params)
                else:
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
            if response.status_code == 409:
                raise Conflict(path, 409, _detail(response))
            if response.status_code >= 400:
                raise ApiError(path, response.status_code, _detail(response))
            return response.json()
        raise ApiError(path, 0, f"no answer after {attempts} attempts")  # pragma: no cover

    def claim(self, count: int, lease_seconds: float) -> dict[str, Any]:
        """Lease up to ``count`` trials (a retry of this request gets the same ones).

        Returns:
            The server's answer: ``trials``; and when there are none, ``why`` and
            ``ask_again`` (whether work may come later: trials still out may free
            their place, results may let the model start).
        """
        body = {
            "instrument": self.name,
            "count": count,
            "lease_seconds": lease_seconds,
            "request_id": uuid.uuid4().hex,
        }
        return self.call("/claims", body)

    def heartbeat(self, trial_id: str, lease_seconds: float) -> None:
        """Extend the lease on a trial being measured (a :class:`Conflict` if it holds none)."""
        body = {"instrument": self.name, "lease_seconds": lease_seconds}
        self.call(f"/trials/{trial_id}/heartbeat", body)

    def trial(self, trial_id: str) -> dict[str, Any] | None:
        """The trial as the server has it now (``status``, ``claimed_by``), if it has it."""
        page = self.call("/trials", params={"filter": f'id="{trial_id}"'})
        return next(iter(page["data"]), None)

    def report(self, results: list[dict[str, Any]]) -> dict[str, int]:
        """Report measured results in one bulk request (all or nothing)."""
        report: dict[str, int] = self.call("/results", {"results": results})
        return report

    def report_all(self, results: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, str]]:
        """Report results so that a 409 for one of them costs only that one.

        The batch goes in one request; refused with a 409 (a trial leased to another
        instrument, or no longer open), each result is sent again on its own, with the same
        idempotency key: none is stored twice, and each refused one is dropped.

        Returns:
            Counts of results stored and repeated, and why each dropped trial was refused.
        """
        try:
            return self.report(results), {}
        except Conflict as refused:
            log(f"report refused ({refused.detail}); sending its {len(results)} results one by one")
        counts = {"stored": 0, "duplicates": 0}
        dropped: dict[str, str] = {}
        for result in results:
            try:
                report = self.report([result])
            except Conflict as refused:
                dropped[result["trial_id"]] = refused.detail
                log(f"trial {result['trial_id']}: result dropped, refused: {refused.detail}")
                continue
            counts["stored"] += report["stored"]
            counts["duplicates"] += report["duplicates"]
        return counts, dropped


class LeaseKeeper(threading.Thread):
    """Sends heartbeats for a claimed batch while it is measured, until :meth:`stop`.

    Each trial's lease is extended every ``lease_seconds / 3``, well before it runs out,
    so that a late heartbeat (a slow answer, retries) still lands in time. A heartbeat
    refused with a 409 means this instrument no longer holds the trial: if another
    instrument has it, the trial is dropped (:meth:`dropped`) and measured by that one;
    if its lease ran out with nobody taking it, it is kept (the server takes its result)
    but no longer heartbeated. Once the results are on their way (:meth:`reporting`), a
    refused heartbeat only stops that trial's: the trial may have just been stored, and
    the report says which results were refused. Use it as a context manager around
    measuring and reporting.
    """

    def __init__(
        self,
        instrument: Instrument,
        trial_ids: list[str],
        lease_seconds: float,
        every: float | None = None,
    ) -> None:
        super().__init__(name=f"leases-{instrument.name}", daemon=True)
        self.instrument = instrument
        self.lease_seconds = lease_seconds
        self.every = lease_seconds / 3 if every is None else every
        self._beating = list(trial_ids)
        self._dropped: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._reporting = threading.Event()

    def __enter__(self) -> LeaseKeeper:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """No more heartbeats (the results are sent); waits for one underway."""
        self._stopped.set()
        if self.is_alive():
            self.join()

    def reporting(self) -> None:
        """The results are being sent: go on renewing the leases, but drop no trial."""
        self._reporting.set()

    def dropped(self) -> dict[str, str]:
        """The trials dropped so far, and why."""
        with self._lock:
            return dict(self._dropped)

    def keep(self, trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The trials not dropped."""
        dropped = self.dropped()
        return [t for t in trials if t["id"] not in dropped]

    def run(self) -> None:
        """Heartbeat every trial still held, every ``every`` seconds."""
        while not self._stopped.wait(self.every):
            with self._lock:
                beating = list(self._beating)
            for trial_id in beating:
                if self._stopped.is_set():
                    return
                self._beat(trial_id)

    def _beat(self, trial_id: str) -> None:
        try:
            self.instrument.heartbeat(trial_id, self.lease_seconds)
        except Conflict as refused:
            self._lost(trial_id, refused.detail)
        except (ApiError, httpx.TransportError) as error:  # after the client's retries
            log(f"trial {trial_id}: heartbeat failed ({error}); trying again")

    def _lost(self, trial_id: str, detail: str) -> None:
        """This instrument's lease on the trial is gone: drop it unless nobody has it."""
        if self._reporting.is_set():  # stored just now, or refused: the report tells
            with self._lock:
                self._beating.remove(trial_id)
            return
        try:
            now = self.instrument.trial(trial_id)
        except (ApiError, CampaignClosed, httpx.TransportError):
            now = None  # unknown: assume the worst
        with self._lock:
            self._beating.remove(trial_id)
            if now is not None and now.get("status") == "proposed":
                log(
                    f"trial {trial_id}: lease ran out ({detail}); no other instrument holds "
                    "it, so its result will still be sent"
                )
                return
            self._dropped[trial_id] = f"heartbeat refused: {detail}"
        log(f"trial {trial_id}: dropped from the batch, heartbeat refused: {detail}")


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
    """Run the instrument for ``--rounds`` rounds; prints a JSON summary last.

    Returns:
        0, also when trials were dropped; 1 when the server refused a request for good
        (a 4xx other than a lease conflict) or could not be reached.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True)
    parser.add_argument("--campaign", required=True)
    parser.add_argument("--data", type=Path, required=True, help="Olympus data set folder.")
    parser.add_argument("--name", default="sim-1", help="Instrument id.")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument(
        "--lease-seconds",
        type=float,
        default=300.0,
        help="Lease asked for each claim; heartbeats renew it every third of it.",
    )
    parser.add_argument("--work-seconds", type=float, default=0.0)
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=5.0,
        help="Wait between claims while the server has no work yet but may have later.",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=600.0,
        help="Seconds to keep asking for work that may come before stopping.",
    )
    args = parser.parse_args(argv)
    if not args.poll_seconds > 0:  # a zero wait would ask the server without a pause
        parser.error(f"--poll-seconds: must be more than 0, got {args.poll_seconds}")

    if not (args.data / "config.json").is_file() or not (args.data / "data.csv").is_file():
        parser.error(f"--data: {args.data} is no Olympus data set (config.json and data.csv)")
    table = LookupTable(args.data)
    instrument = Instrument(args.url, args.token, args.campaign, args.name)
    totals = {"stored": 0, "duplicates": 0}
    try:
        run(instrument, table, args, totals)
    except ApiError as error:  # a 4xx: the request itself is wrong, retrying will not help
        print(f"error: the server refused {error}", file=sys.stderr)
        print(json.dumps(totals))
        return 1
    except httpx.TransportError as error:  # after the client's retries
        print(f"error: no connection to {args.url}: {error}", file=sys.stderr)
        print(json.dumps(totals))
        return 1
    print(json.dumps(totals))
    return 0


def claim_or_wait(instrument: Instrument, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Claim a batch; while none comes and the server says to ask again, wait and ask.

    Work may come later: trials other instruments hold may fail or lose their lease,
    and the model starts once the initial design's results are in. Gives up, with the
    server's reason, when the budget or pool is spent or after ``--max-wait`` seconds.
    """
    waited = 0.0
    while True:
        answer = instrument.claim(args.batch, args.lease_seconds)
        if answer["trials"]:
            return list(answer["trials"])
        if not answer.get("ask_again") or waited >= args.max_wait:
            print(f"no more work: {answer.get('why')}", flush=True)
            return []
        print(f"waiting {args.poll_seconds:g} s: {answer.get('why')}", flush=True)
        time.sleep(args.poll_seconds)
        waited += args.poll_seconds


def run(
    instrument: Instrument, table: LookupTable, args: argparse.Namespace, totals: dict[str, int]
) -> None:
    """The rounds: claim, measure while the leases are kept alive, report; adds to totals."""
    for round_ in range(1, args.rounds + 1):
        try:
            trials = claim_or_wait(instrument, args)
        except CampaignClosed as closed:  # an operator closed it: not this instrument's error
            print(f"no more work: {closed}")
            break
        if not trials:
            break
        with LeaseKeeper(instrument, [t["id"] for t in trials], args.lease_seconds) as leases:
            time.sleep(args.work_seconds)  # measuring; the leases are renewed meanwhile
            measured = leases.keep(trials)  # not those another instrument took over
            results = [
                {
                    "trial_id": t["id"],
                    "values": {table.objective: table.measure(t["parameters"])},
                    # stable: a resend of this result is recognised, never stored twice
                    "idempotency_key": f"{args.name}:{t['id']}",
                    "source": args.name,  # so that the server checks it against the lease
                }
                for t in measured
            ]
            leases.reporting()
            report, refused = instrument.report_all(results) if results else ({}, {})
        dropped = len(trials) - len(results) + len(refused)
        totals["stored"] += report.get("stored", 0)
        totals["duplicates"] += report.get("duplicates", 0)
        values = [r["values"][table.objective] for r in results if r["trial_id"] not in refused]
        print(
            f"round {round_}: measured {len(trials)}, stored {report.get('stored', 0)}"
            + (f", dropped {dropped} (why: above)" if dropped else "")
            + (f", {table.objective} {min(values):.4g}..{max(values):.4g}" if values else ""),
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
