"""``matloop flows``: serve a campaign's Prefect deployments, or run its flow once.

Registered in :mod:`matloop.cli` as ``app.add_typer(flows_app, name="flows")``. Prefect
and the flows are imported only when a command runs, so ``matloop --help`` stays fast.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import typer

flows_app = typer.Typer(
    help="Prefect flows: scheduled and event-triggered campaign deployments, one-off runs.",
    no_args_is_help=True,
)


@flows_app.callback()
def flows_main() -> None:
    """Prefect flows: scheduled and event-triggered campaign deployments, one-off runs."""


def _measured(campaigns: Any, campaign: str) -> bool:
    """Whether the campaign's pool carries reference values (the lookup oracle can measure).

    A lab's pool (no reference values) or an open space (no pool) is measured by
    instruments. Raises if there is no such campaign.
    """
    pool = campaigns.candidates(campaign)
    return bool(pool) and all(c.reference is not None for c in pool)


def _check_pacing(rounds: int, per_run: int | None) -> None:
    from matloop.cli import CommandError

    if rounds < 0:
        raise CommandError(f"--rounds: must be >= 0, got {rounds}")
    if per_run is not None and per_run < 1:
        raise CommandError(f"--per-run: must be >= 1, got {per_run}")


def _check_schedule(cron: str | None, interval: float | None) -> None:
    """Refuse two schedules, and one that Prefect would misread or that never comes round.

    Each would otherwise be applied (or fail inside Prefect with a traceback): an
    interval that is not finite, under a second or over 366 days, a cron expression of
    other than five fields (six are read as seconds first), or one with no run within
    a year (``0 0 31 2 *`` never fires).
    """
    from flows.deployments import check_cron, check_interval
    from matloop.cli import CommandError

    if cron is not None and interval is not None:
        raise CommandError("give exactly one schedule: --cron EXPR or --interval SECONDS")
    if interval is not None:
        try:
            check_interval(interval)
        except ValueError as error:
            raise CommandError(f"--interval: {error}") from None
    if cron is not None:
        try:
            check_cron(cron)
        except ValueError as error:
            raise CommandError(f"--cron {cron!r}: {error}") from None


def _check_settle(settle: float | None, least: float, why: str = "") -> None:
    """Refuse a ``--settle`` below ``least`` seconds, or not finite (nan, inf)."""
    from matloop.cli import CommandError

    if settle is not None and not (math.isfinite(settle) and settle >= least):
        raise CommandError(f"--settle: must be >= {least:g} seconds{why}, got {settle}")


def _check_prefect() -> None:
    """Refuse a Prefect server that is not there (a traceback from Prefect's ``serve``)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from matloop.cli import CommandError

    url = PREFECT_API_URL.value()
    if not url:  # an ephemeral API runs no scheduler: nothing would fire
        raise CommandError(
            "PREFECT_API_URL is not set: schedules and triggers need a Prefect server "
            "(`prefect server start`, then PREFECT_API_URL=http://127.0.0.1:4200/api)"
        )
    with get_client(sync_client=True) as client:
        failure = client.api_healthcheck()
    if failure is not None:
        raise CommandError(
            f"the Prefect server at {url} does not answer ({type(failure).__name__}: "
            f"{failure}); start it with `prefect server start`"
        )


def _check_not_served(names: list[str], take_over: bool) -> None:
    """Refuse deployments another process serves now, unless told to take them over.

    Before anything is applied: a second process would rewrite the first's deployments,
    and pause them when it stops (see :func:`flows.serving.check_not_served`).
    """
    if not take_over:
        from flows.serving import check_not_served

        check_not_served(names)  # a ValueError: `errors()` prints it


TakeOver = Annotated[
    bool,
    typer.Option(
        "--take-over",
        help="Serve even if another process seems to serve these deployments: for one "
        "killed without stopping (kill -9), which Prefect takes for serving until 60 s "
        "after its last poll. Never while that process still runs.",
    ),
]


@flows_app.command("serve")
def flows_serve(
    campaign: Annotated[str, typer.Option(help="Campaign to serve deployments for.")],
    rounds: Annotated[
        int, typer.Option(help="Rounds after the initial design each scheduled run aims for.")
    ] = 15,
    cron: Annotated[
        str | None, typer.Option(help='Cron schedule of run-campaign, e.g. "0 * * * *".')
    ] = None,
    interval: Annotated[
        float | None, typer.Option(help="Interval schedule of run-campaign, in seconds.")
    ] = None,
    per_run: Annotated[
        int | None,
        typer.Option(help="Batches each scheduled run adds at most (default: up to --rounds)."),
    ] = None,
    settle: Annotated[
        float | None,
        typer.Option(
            help="Seconds without a new report before results-reported runs for the burst's "
            "last results (>= 10; default: flows.events.SETTLE_SECONDS, 30); also the least "
            "time between its runs on reports."
        ),
    ] = None,
    take_over: TakeOver = False,
) -> None:
    """Serve run-campaign (scheduled), train-surrogate and results-reported deployments.

    A campaign whose pool has no reference values (a lab's) gets no run-campaign and no
    schedule: its instruments report through the API, which triggers results-reported. A
    closed campaign is served with run-campaign paused (no new batches), so its late
    results still retrain the model (results-reported); serve says so and keeps running.
    An interval schedule keeps its times across restarts, and a run starts at once when
    none was due within the last interval. An interval is 1 s to 366 days; a cron
    expression has five fields and a run within a year.

    Needs a Prefect server for schedules and triggers (`prefect server start`, then
    PREFECT_API_URL=http://127.0.0.1:4200/api). Runs until interrupted (Ctrl-C).
    Runs left submitted or running by a serve process that was stopped are marked
    Crashed, with their subflows, when serving starts (and stops). A campaign that
    another process serves now (Prefect polled its deployments within the last 60 s)
    is refused: --take-over serves it anyway, after a serve killed with kill -9. Start
    it from a directory without folders named like matloop's packages (db/, flows/,
    ...): each run starts there and would import those instead.
    """
    from db.campaigns import CLOSED
    from matloop.cli import CommandError, errors, store
    from matloop.settings import Settings

    with errors():
        _check_working_directory()
        _check_schedule(cron, interval)
        _check_pacing(rounds, per_run)
        _check_settle(settle, 10, " (Prefect's least)")
        _check_prefect()
        # a lab's pool (no reference values) or open space (no pool) is measured by
        # instruments, not on a schedule
        campaigns = store()
        oracle = _measured(campaigns, campaign)
        scheduled = cron is not None or interval is not None
        if not oracle and scheduled:
            raise CommandError(
                f"campaign {campaign!r}: it has no pool with reference values, so "
                "run-campaign (which measures with the lookup oracle) cannot be scheduled; "
                "serve it without --cron/--interval for train-surrogate and results-reported"
            )
        if oracle and not scheduled:
            raise CommandError("give exactly one schedule: --cron EXPR or --interval SECONDS")
        if per_run is not None and not scheduled:
            raise CommandError("--per-run paces a schedule: give --cron or --interval with it")
        from flows.deployments import deployment_names, serve_campaign
        from flows.events import SETTLE_SECONDS

        uri = Settings().uri
        # not an error: under `restart: unless-stopped` an exit would loop forever, and the
        # campaign's running trials may still report (their results retrain the model)
        closed = campaigns.get(campaign).status == CLOSED
        _check_not_served(deployment_names(campaign, oracle), take_over)
    if closed:
        paused = f"run-campaign/{campaign} is paused (no new batches); " if oracle else ""
        _warn(
            f"campaign {campaign!r} is closed: {paused}serving train-surrogate and "
            "results-reported for late results"
        )
    serve_campaign(
        campaign,
        uri,
        rounds,
        cron=cron,
        interval=interval,
        oracle=oracle,
        per_run=per_run,
        closed=closed,
        settle=SETTLE_SECONDS if settle is None else settle,
        take_over=take_over,
    )


def _check_working_directory() -> None:
    """Refuse to serve where the runs would import the directory's folders as matloop's."""
    from flows.serving import check_working_directory

    check_working_directory()  # a ValueError: `errors()` prints it


def _warn(message: str) -> None:
    from rich.markup import escape

    from matloop.cli import err

    err.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)


@flows_app.command("run")
def flows_run(
    campaign: Annotated[
        str, typer.Argument(help="Campaign to run (a pool with reference values).")
    ],
    rounds: Annotated[
        int, typer.Option(help="Rounds after the initial design to bring it to (in total).")
    ] = 15,
    per_run: Annotated[
        int | None,
        typer.Option(help="Batches this run adds at most (default: up to --rounds)."),
    ] = None,
) -> None:
    """Run run-campaign once, in this process, and print its summary (JSON).

    Brings CAMPAIGN to its initial design plus --rounds rounds with its lookup oracle,
    exactly as a scheduled run does (resumable; trials an instrument claimed are left
    to it). Needs no Prefect server: without PREFECT_API_URL the run goes to a temporary
    local Prefect API started for it; with PREFECT_API_URL it shows up on that server.
    """
    from rich.markup import escape

    from matloop.cli import CommandError, console, errors, store
    from matloop.settings import Settings

    with errors():
        _check_pacing(rounds, per_run)
        campaigns = store()
        campaigns.ensure_open(campaign)  # like `campaign run`: a closed one runs no more
        if not _measured(campaigns, campaign):
            raise CommandError(
                f"campaign {campaign!r}: it has no pool with reference values, so the lookup "
                "oracle cannot measure it; its instruments report through the API"
            )
        uri = Settings().uri
        from flows.campaigns import MESSAGE, run_campaign

    summary = run_campaign(campaign, rounds, uri, per_run=per_run)
    if summary["closed"]:  # closed while it ran
        _warn(summary[MESSAGE])
    else:
        console.print(escape(summary[MESSAGE]), highlight=False)
    console.print_json(json.dumps({k: v for k, v in summary.items() if k != MESSAGE}))


@flows_app.command("serve-literature")
def flows_serve_literature(
    paths: Annotated[list[str], typer.Argument(help="Folders (or files) of papers to watch.")],
    cron: Annotated[str | None, typer.Option(help="Cron schedule of ingest-literature.")] = None,
    interval: Annotated[
        float | None, typer.Option(help="Interval schedule of ingest-literature, in seconds.")
    ] = None,
    settle: Annotated[
        float | None,
        typer.Option(
            help="Seconds a file must go unmodified before a run reads it; newer files may "
            "still be being copied in and wait for a later run (default: "
            "flows.deployments.WATCH_SETTLE_SECONDS, 60; 0 reads every file)."
        ),
    ] = None,
    take_over: TakeOver = False,
) -> None:
    """Serve a scheduled ingest-literature deployment over folders of papers.

    The deployment is named after the folders (`ingest-literature/papers-1a2b3c4d`), one
    per set of folders, so several watchers can share one Prefect server.

    Each run ingests the files not stored yet, except those modified within the last
    --settle seconds (still being copied in?): a later run reads them, and the run's
    result lists them as unsettled. Needs a Prefect server (PREFECT_API_URL) and a
    registered tagger (`matloop literature train`). Runs until interrupted (Ctrl-C).
    Refuses a watch another process serves now, as `flows serve` does (--take-over).
    """
    from matloop.cli import CommandError, errors, store
    from matloop.settings import Settings

    with errors():
        _check_working_directory()
        if cron is None and interval is None:
            raise CommandError("give exactly one schedule: --cron EXPR or --interval SECONDS")
        _check_schedule(cron, interval)
        _check_settle(settle, 0)
        _check_prefect()
        store()
        from db.literature import LiteratureStore

        LiteratureStore().load_tagger()  # fail now, not at the first scheduled run
        from flows.deployments import WATCH_SETTLE_SECONDS, serve_literature, watch_name
        from flows.ingestion import ingest_literature

        uri = Settings().uri
        _check_not_served([f"{ingest_literature.name}/{watch_name(paths)}"], take_over)
    watch = WATCH_SETTLE_SECONDS if settle is None else settle
    serve_literature(paths, uri, cron=cron, interval=interval, settle=watch, take_over=take_over)


if __name__ == "__main__":
    flows_app()
