"""``matloop flows``: serve a campaign's Prefect deployments, or run its flows once.

Registered in :mod:`matloop.cli` as ``app.add_typer(flows_app, name="flows")``. Prefect
and the flows are imported only when a command runs, so ``matloop --help`` stays fast.
No deployment or run gets the database URI (it may hold a password, and Prefect shows
parameters to whoever can read its server): the runs read it from the settings
(``MATLOOP_*``) of the process that executes them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
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


#: ``flows serve``'s round target of a scheduled campaign when --rounds is not given.
DEFAULT_ROUNDS = 15

#: Prefect's setting that sends a server's anonymous usage heartbeats.
ANALYTICS_ENV = "PREFECT_SERVER_ANALYTICS_ENABLED"


def _check_pacing(rounds: int | None, per_run: int | None) -> None:
    from matloop.cli import CommandError

    if rounds is not None and rounds < 0:
        raise CommandError(f"--rounds: must be >= 0, got {rounds}")
    if per_run is not None and per_run < 1:
        raise CommandError(f"--per-run: must be >= 1, got {per_run}")


def _check_schedule(cron: str | None, interval: float | None, timezone: str | None = None) -> None:
    """Refuse two schedules, and one that Prefect would misread or that never comes round.

    Each would otherwise be applied (or fail inside Prefect with a traceback): an
    interval that is not finite, under a second or over 366 days, a cron expression of
    other than five fields (six are read as seconds first), or one with no run within
    a year (``0 0 31 2 *`` never fires); a time zone that is no IANA name, or one given
    without a cron schedule.
    """
    from flows.deployments import CRON_TIMEZONE, check_cron, check_interval
    from matloop.cli import CommandError

    if cron is not None and interval is not None:
        raise CommandError("give exactly one schedule: --cron EXPR or --interval SECONDS")
    zone = _check_timezone(timezone, cron)
    if interval is not None:
        try:
            check_interval(interval)
        except ValueError as error:
            raise CommandError(f"--interval: {error}") from None
    if cron is not None:
        try:
            check_cron(cron, timezone=zone or CRON_TIMEZONE)
        except ValueError as error:
            raise CommandError(f"--cron {cron!r}: {error}") from None


def _check_timezone(timezone: str | None, cron: str | None) -> str | None:
    """Refuse a --timezone that is no IANA name, or that has no --cron to apply to."""
    from flows.deployments import INTERVAL_IN_UTC, check_timezone
    from matloop.cli import CommandError

    if timezone is None:
        return None
    if cron is None:
        raise CommandError(f"--timezone: {INTERVAL_IN_UTC}; give it with --cron")
    try:
        return check_timezone(timezone)
    except ValueError as error:
        raise CommandError(f"--timezone: {error}") from None


def _check_settle(settle: float | None, least: float, why: str = "") -> None:
    """Refuse a ``--settle`` below ``least`` seconds, or not finite (nan, inf)."""
    from matloop.cli import CommandError

    if settle is not None and not (math.isfinite(settle) and settle >= least):
        raise CommandError(f"--settle: must be >= {least:g} seconds{why}, got {settle}")


def _check_prefect(required: bool = True) -> None:
    """Refuse a Prefect server that is not there (a long traceback from Prefect).

    Args:
        required: Refuse no ``PREFECT_API_URL`` too (serving: a temporary API runs no
            scheduler, so nothing would fire); else a run without it goes to a
            temporary local API, and only a server named and down is refused.
    """
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from matloop.cli import CommandError

    url = PREFECT_API_URL.value()
    if not url and not required:
        return
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

Timezone = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        help="IANA time zone the --cron expression is read in, e.g. Europe/Berlin "
        "(default: UTC); the schedule follows its daylight saving time. --cron only.",
    ),
]


@flows_app.command("serve")
def flows_serve(
    campaign: Annotated[str, typer.Option(help="Campaign to serve deployments for.")],
    rounds: Annotated[
        int | None,
        typer.Option(
            help="Rounds after the initial design each scheduled run aims for; "
            "results-reported proposes no batch past them either (default: 15 with a "
            "schedule; no limit for a campaign served without one)."
        ),
    ] = None,
    cron: Annotated[
        str | None,
        typer.Option(help='Cron schedule of run-campaign, e.g. "0 * * * *" (UTC: --timezone).'),
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
    timezone: Timezone = None,
) -> None:
    """Serve run-campaign (scheduled), train-surrogate and results-reported deployments.

    A campaign whose pool has no reference values (a lab's) gets no run-campaign and no
    schedule: its instruments report through the API, which triggers results-reported. A
    closed campaign is served with run-campaign paused (no new batches), so its late
    results still retrain the model (results-reported); serve says so and keeps running.
    results-reported proposes no batch once the campaign has --rounds rounds, so results
    an instrument reports never take a scheduled campaign past its target (--per-run
    paces the scheduled runs only). An interval schedule keeps its times across
    restarts. A run starts at once when the schedule's last time passed with no run (the
    worker was down) or the interval schedule is new (a new cron waits for its time),
    unless the next run is due within a minute. An interval is 1 s to 366 days; a cron
    expression has five fields and a run within a year, and is read in UTC unless
    --timezone names another zone.

    The runs connect to the database this process is configured for (MATLOOP_MONGODB_URI,
    or the embedded one): no deployment carries the URI, so Prefect never shows it.

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

    with errors():
        _check_working_directory()
        _check_schedule(cron, interval, timezone)
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

        if oracle and rounds is None:
            rounds = DEFAULT_ROUNDS
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
        rounds,
        cron=cron,
        interval=interval,
        oracle=oracle,
        per_run=per_run,
        closed=closed,
        settle=SETTLE_SECONDS if settle is None else settle,
        take_over=take_over,
        timezone=timezone,
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
    ] = DEFAULT_ROUNDS,
    per_run: Annotated[
        int | None,
        typer.Option(help="Batches this run adds at most (default: up to --rounds)."),
    ] = None,
) -> None:
    """Run run-campaign once, in this process, and print its summary (JSON).

    Brings CAMPAIGN to its initial design plus --rounds rounds with its lookup oracle,
    exactly as a scheduled run does (resumable; trials an instrument claimed are left
    to it). Needs no Prefect server: without PREFECT_API_URL the run goes to a temporary
    local Prefect API started for it (its usage analytics off unless
    PREFECT_SERVER_ANALYTICS_ENABLED says otherwise); with PREFECT_API_URL it shows up on
    that server, which must answer.
    """
    _quiet_temporary_server()  # first: before anything loads Prefect
    from rich.markup import escape

    from matloop.cli import CommandError, console, errors, store

    with errors():
        _check_pacing(rounds, per_run)
        campaigns = store()
        campaigns.ensure_open(campaign)  # like `campaign run`: a closed one runs no more
        if not _measured(campaigns, campaign):
            raise CommandError(
                f"campaign {campaign!r}: it has no pool with reference values, so the lookup "
                "oracle cannot measure it; its instruments report through the API"
            )
        _check_prefect(required=False)
        from flows.campaigns import MESSAGE, run_campaign

    # no uri: the run reads this process's settings, and its parameters show no URI
    summary = run_campaign(campaign, rounds, per_run=per_run)
    if summary["closed"]:  # closed while it ran
        _warn(summary[MESSAGE])
    else:
        console.print(escape(summary[MESSAGE]), highlight=False)
    console.print_json(json.dumps({k: v for k, v in summary.items() if k != MESSAGE}))


@flows_app.command("pause")
def flows_pause(
    campaign: Annotated[str, typer.Argument(help="Campaign whose run-campaign schedule to pause.")],
) -> None:
    """Pause CAMPAIGN's schedule: no scheduled run starts until `flows resume`.

    The serve goes on (results still retrain and propose) and a restarted serve keeps the
    schedule paused. Needs the Prefect server (PREFECT_API_URL).
    """
    _set_schedule(campaign, active=False)


@flows_app.command("resume")
def flows_resume(
    campaign: Annotated[str, typer.Argument(help="Campaign whose paused schedule to resume.")],
) -> None:
    """Resume CAMPAIGN's paused schedule (runs missed meanwhile are not caught up)."""
    _set_schedule(campaign, active=True)


@flows_app.command("status")
def flows_status(
    campaign: Annotated[str, typer.Argument(help="Campaign whose deployments to show.")],
    runs: Annotated[int, typer.Option(min=1, max=100, help="Latest runs shown of each.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where CAMPAIGN's deployments stand: served, schedule active or paused, last runs.

    Each latest run with its state and the line it logged (`Completed: opv: added 1
    batch, rounds 3 of 6; ...`), then (not in --json) the campaign as the database this
    shell's settings name holds it: a run that failed or crashed after storing its batch
    counts there. Needs the Prefect server (PREFECT_API_URL); the database line says so
    when the database does not answer.
    """
    from rich.markup import escape

    from matloop.cli import CommandError, console, errors

    with errors():
        _check_prefect()
        from flows.deployments import campaign_status

        found = campaign_status(campaign, runs)
        if not found:
            raise CommandError(f"{campaign}: no deployment in Prefect; serve it first")
    if as_json:
        console.print_json(json.dumps(found))
        return
    for deployment in found:
        console.print(escape(_deployment_line(deployment)), highlight=False)
        for run in deployment["runs"]:
            said = f": {run['message']}" if run["message"] else ""
            line = f"  {_when(run['expected'])}  {run['state']}{said}"
            console.print(escape(line), highlight=False)
    console.print(escape(_database_line(campaign)), highlight=False)


def _database_line(campaign: str) -> str:
    """``in the database (URI): rounds 3 (4 batches), 22 results, 0 pending``, or why not.

    The database this shell's settings name (its URI shown without a password): a served
    run reads its serve's, which the deployment does not record.
    """
    from agents import CampaignAgent
    from db.campaigns import CLOSED
    from db.connection import redact
    from matloop.cli import store
    from matloop.settings import Settings

    try:
        where = f"in the database ({redact(Settings().uri)})"
        status = CampaignAgent(store(), campaign).status()
    except Exception as error:  # the deployments are what was asked: say why, go on
        return f"in the database: not read ({type(error).__name__}: {str(error)[:200]})"
    pending = status.trials["proposed"] + status.trials["running"]
    closed = ", closed" if status.campaign.status == CLOSED else ""
    batches = f"{status.batches} batch" + ("" if status.batches == 1 else "es")
    return (
        f"{where}: rounds {status.rounds} ({batches}), "
        f"{status.measurements} results, {pending} pending{closed}"
    )


def _deployment_line(deployment: dict[str, Any]) -> str:
    """``run-campaign/opv: served; every 60 s, paused by its last run (target reached ...)``."""
    state = "served" if deployment["served"] else "not served now"
    if deployment["paused"]:
        state += ", paused itself (a closed campaign's, or its serve stopped)"
    by_run = deployment["paused_by_run"]
    paused = f"paused by its run ({by_run})" if by_run else "paused"
    schedules = [
        f"{each['schedule']}, {'active' if each['active'] else paused}"
        for each in deployment["schedules"]
    ]
    plan = "; ".join(schedules) or "no schedule (on demand or on results)"
    last = "" if deployment["runs"] else "; no runs yet"
    due = f"; next run {_when(deployment['next'])} UTC" if deployment["next"] else ""
    return f"{deployment['name']}: {state}; {plan}{last}{due}"


def _when(iso: str | None) -> str:
    """An ISO 8601 time to the second, as people read it: ``2026-12-07 11:40:02``."""
    return (iso or "")[:19].replace("T", " ")


def _set_schedule(campaign: str, active: bool) -> None:
    from rich.markup import escape

    from matloop.cli import CommandError, console, errors

    name = f"run-campaign/{campaign}"
    with errors():
        _check_prefect()
        from flows.deployments import deployment_paused, set_schedule_active

        try:
            changed = set_schedule_active(name, active)
        except LookupError as missing:
            raise CommandError(str(missing)) from None
        if active and deployment_paused(name):  # then no scheduled run starts either way
            _warn(
                f"{name} itself is paused: a closed campaign's is, for good (no new batches), "
                "and so is one whose `flows serve` stopped, until it serves again"
            )
        elif active and _closed(campaign):  # closed while served: its deployment runs on
            _warn(
                f"campaign {campaign!r} is closed: its runs hand out no new batches, and the "
                "next one pauses this schedule again"
            )
    done = "resumed" if active else "paused"
    if not changed:
        console.print(escape(f"{name}: its schedule was {done} already"), highlight=False)
        return
    undo = "resume" if not active else "pause"
    console.print(
        escape(
            f"{name}: {done} ({', '.join(changed)}); `matloop flows {undo} {campaign}` undoes it"
        ),
        highlight=False,
    )


def _closed(campaign: str) -> bool:
    """Whether ``campaign`` is stored and closed (not when the database lacks or hides it).

    For a warning only: a schedule is resumed in Prefect whether the database answers.
    """
    from pymongo.errors import PyMongoError

    from db.campaigns import CLOSED, CampaignNotFoundError
    from matloop.cli import CommandError, store

    try:
        return store(prepare=False).get(campaign).status == CLOSED
    except (CampaignNotFoundError, CommandError, ConnectionError, PyMongoError):
        return False


def _quiet_temporary_server() -> None:
    """Default the temporary Prefect server's usage analytics off (``PREFECT_SERVER_...``).

    A run without PREFECT_API_URL gets a temporary local server, whose telemetry
    heartbeat competes with the run for its SQLite file (~110 lines of "database is
    locked" tracebacks) or fails to reach Prefect without a route out. Set before Prefect
    loads its settings, unless the environment sets it: Prefect hands its settings to the
    temporary server, and to Dask workers, which start temporary servers of their own.
    """
    os.environ.setdefault(ANALYTICS_ENV, "false")


@flows_app.command("train-many")
def flows_train_many(
    campaigns: Annotated[list[str], typer.Argument(help="Campaigns whose surrogates to train.")],
) -> None:
    """Train several campaigns' surrogates in parallel on Dask (train-many), once.

    Runs the train-many flow in this process on a local Dask cluster
    (MATLOOP_DASK_WORKERS worker processes, default one per core) or on the scheduler
    MATLOOP_DASK_ADDRESS names, whose workers must reach the database. Prints each
    campaign's outcome: the model version registered, or why it was skipped (fewer
    than 3 results, several objectives) or failed; exits 1 naming the failed ones. Like
    `flows run`, it needs no Prefect server (PREFECT_API_URL: one that must answer).
    """
    _quiet_temporary_server()  # first: before anything loads Prefect
    from prefect.task_runners import TaskRunner

    from matloop.cli import errors, store

    with errors():
        known = store()
        for name in dict.fromkeys(campaigns):
            known.get(name)  # a LookupError naming it: refused before a cluster starts
        _check_prefect(required=False)
        from flows.training import dask_task_runner, train_many

        runner: TaskRunner[Any] = dask_task_runner()  # MATLOOP_DASK_* read now
    state = train_many.with_options(task_runner=runner)(
        list(dict.fromkeys(campaigns)), return_state=True
    )
    _report_training(state)


def _report_training(state: Any) -> None:
    """Print each campaign's outcome of a train-many run; exit 1 naming failures."""
    from rich.markup import escape

    from flows.training import TrainingFailed
    from matloop.cli import CommandError, console, errors

    result = state.result(raise_on_failure=False)
    with errors():
        if isinstance(result, TrainingFailed):
            _print_training(result.trained, result.skipped, result.failed)
            raise CommandError(f"training failed for {', '.join(sorted(result.failed))}")
        if isinstance(result, BaseException) or not isinstance(result, dict):
            raise CommandError(f"train-many failed: {state.message or result}")
    _print_training(result["trained"], result["skipped"], {})
    console.print(escape(state.message or ""), highlight=False, soft_wrap=True)


def _print_training(
    trained: dict[str, str], skipped: dict[str, str], failed: dict[str, str]
) -> None:
    """One line per campaign: ``opv: trained opv:gp:913cbe607e0c``, ``x: skipped (...)``."""
    from rich.markup import escape

    from matloop.cli import console

    lines = [f"{name}: trained {version}" for name, version in trained.items()]
    lines += [f"{name}: skipped ({why})" for name, why in skipped.items()]
    lines += [f"{name}: failed ({error})" for name, error in failed.items()]
    for line in sorted(lines):  # one line each, however long: for grep
        console.print(escape(line), highlight=False, soft_wrap=True)


@flows_app.command("serve-literature")
def flows_serve_literature(
    paths: Annotated[list[str], typer.Argument(help="Folders (or files) of papers to watch.")],
    cron: Annotated[
        str | None,
        typer.Option(help="Cron schedule of ingest-literature (UTC: --timezone)."),
    ] = None,
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
    timezone: Timezone = None,
) -> None:
    """Serve a scheduled ingest-literature deployment over folders of papers.

    The deployment is named after the folders (`ingest-literature/papers-1a2b3c4d`), one
    per set of folders, so several watchers can share one Prefect server. Each path must
    exist when serving starts (a typo is refused, naming it); one gone at a run's time
    (an unmounted share) is counted as failed, and the others are read.

    Each run ingests the files not stored yet, except those modified within the last
    --settle seconds (still being copied in?): a later run reads them, and the run's
    result lists them as unsettled. Each file that fails is logged as a warning with
    its error, and the run's state message counts the files stored, skipped (stored
    before), failed and left for later. Needs a Prefect server (PREFECT_API_URL) and a
    registered tagger (`matloop literature train`). Runs until interrupted (Ctrl-C).
    Refuses a watch another process serves now, as `flows serve` does (--take-over).
    """
    from matloop.cli import CommandError, errors, store

    with errors():
        _check_working_directory()
        if cron is None and interval is None:
            raise CommandError("give exactly one schedule: --cron EXPR or --interval SECONDS")
        _check_schedule(cron, interval, timezone)
        _check_settle(settle, 0)
        _check_paths(paths)
        _check_prefect()
        store()
        from db.literature import LiteratureStore

        LiteratureStore().load_tagger()  # fail now, not at the first scheduled run
        from flows.deployments import WATCH_SETTLE_SECONDS, serve_literature, watch_name
        from flows.ingestion import ingest_literature

        _check_not_served([f"{ingest_literature.name}/{watch_name(paths)}"], take_over)
    watch = WATCH_SETTLE_SECONDS if settle is None else settle
    serve_literature(
        paths, cron=cron, interval=interval, settle=watch, take_over=take_over, timezone=timezone
    )


def _check_paths(paths: list[str]) -> None:
    """Refuse paths that name no file or folder: each run would only report them failed."""
    from matloop.cli import CommandError

    missing = [path for path in paths if not Path(path).exists()]  # as the runs look
    if missing:
        raise CommandError(f"PATHS: no such file or folder: {', '.join(missing)}")


if __name__ == "__main__":
    flows_app()
