"""Deployments of a campaign's flows, and serving them (``matloop flows serve``).

Three deployments per campaign, each named after the campaign:

- ``run-campaign/<campaign>``: on a cron or interval schedule, brings the campaign to
  ``rounds`` rounds with its lookup oracle, at most ``per_run`` batches a run (all at
  once without it). One run at a time; a run due while another runs is cancelled.
  Paused for a closed campaign (its runs would only log that they skip); a run that
  finds nothing left to do pauses its schedule itself (:func:`pause_finished`).
- ``train-surrogate/<campaign>``: unscheduled; run it on demand
  (``prefect deployment run train-surrogate/<campaign>``).
- ``results-reported/<campaign>``: runs when instruments report results for the
  campaign (:mod:`flows.events`), once for a burst of reports, one at a time (queued).
  It proposes no batch past ``rounds`` (the scheduled runs' target), so reports on a
  scheduled campaign never take it further than its schedule aims; ``per_run`` paces
  only the scheduled runs.

And ``ingest-literature/<watch>`` (:func:`literature_deployment`): ingests the papers
dropped into watched folders on a schedule, one deployment per set of folders
(:func:`watch_name`).

Cron schedules read their expression in UTC unless given a time zone (an IANA name such
as ``Europe/Berlin``: :func:`check_timezone`), whose daylight saving time they then
follow. Interval schedules count from a fixed anchor (:data:`SCHEDULE_ANCHOR`), not
from the moment a deployment is applied, so restarting ``flows serve`` keeps the
cadence: an hourly schedule fires on the hour whenever it was (re)started. When serving
starts and no run of ``run-campaign`` was due since the schedule's last time (the last
interval, or a cron's last run time) because nothing served it, :func:`catch_up` starts
one at once; so does a new interval schedule, while a new cron schedule waits for its
first time. Not when the next run is due within :data:`CATCH_UP_GRACE`: that one does it,
or, when Prefect gives that slot no run, one :func:`watch_next_slot` starts after it.

Before anything is applied, serving checks all it was given (the schedule:
:func:`schedule`), refuses a working directory that would shadow matloop's packages in
the runs, and refuses deployments another process is serving right now
(:func:`flows.serving.check_not_served`; ``take_over`` skips that, for a serving
process killed without stopping). Then it marks ``Crashed`` the runs a stopped serving
process left submitted or running, with their subflows (:mod:`flows.serving`): they
would otherwise hold ``run-campaign``'s one slot (its next runs cancelled) until
Prefect's lease on it expires. It marks them again when it stops itself.

Schedules and event triggers need a Prefect server (``prefect server start``, or the
compose service) with ``PREFECT_API_URL`` pointing at it; the serving process executes
the runs. The database URI is no deployment parameter: it may hold a password, and
parameters are shown to whoever can read the Prefect server. The runs execute in the
serving process or its children, which inherit its environment, and read the URI from
matloop's settings there (:func:`flows.tasks.database_uri`): the database the serving
process was started for.
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime
import hashlib
import math
import re
import threading
import zoneinfo
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import get_client, serve
from prefect._vendor.croniter import CroniterBadDateError, croniter  # Prefect's scheduler's
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
)
from prefect.client.schemas.objects import (
    ConcurrencyLimitConfig,
    ConcurrencyLimitStrategy,
    DeploymentStatus,
    FlowRun,
    StateType,
)
from prefect.client.schemas.schedules import CronSchedule
from prefect.client.schemas.sorting import FlowRunSort
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.logging import get_logger
from prefect.schedules import Cron, Interval, Schedule
from prefect.variables import Variable

from flows.campaigns import results_reported, run_campaign
from flows.events import SETTLE_SECONDS, results_reported_triggers
from flows.serving import (
    check_not_served,
    check_working_directory,
    deployment_ids,
    deployment_runs,
    settle_on_exit,
    settle_stopped_runs,
    sigterm_as_ctrl_c,
)
from flows.training import train_surrogate

SCHEDULE_ANCHOR = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
"""Interval schedules fire at this instant plus whole intervals (midnight UTC, 2000-01-01).

Fixed, so a deployment applied again (each ``flows serve`` start) keeps its times; an
interval that divides a day fires at the same clock times every day.
"""

CATCH_UP_TAG = "catch-up"
"""Tag of a run :func:`catch_up` started (the scheduled ones are ``auto_scheduled``)."""

CATCH_UP_GRACE = datetime.timedelta(seconds=60)
"""No catch-up run when the schedule's next run is this close: that run does the work,
where a catch-up still running then would have it cancelled ("Deployment concurrency
limit reached")."""

SLOT_WATCH = datetime.timedelta(seconds=30)
"""How long after a slot within :data:`CATCH_UP_GRACE` of serving's start its run may take
to appear before serving starts one itself (:func:`watch_next_slot`)."""

WATCH_SETTLE_SECONDS = 60.0
"""Default of ``ingest-literature/<watch>``'s ``settle``: a watched folder's file
modified less than this long ago may still be being copied in, and waits for a later run.
"""

logger = get_logger("matloop.flows")


MIN_INTERVAL = 1.0
"""Shortest interval schedule, in seconds (a runner looks for due runs every few anyway)."""

HORIZON = datetime.timedelta(days=366)
"""Longest wait for a schedule's next run: an interval at most, a cron's first run."""

CRON_FIELDS = "minute hour day-of-month month day-of-week"
"""The five fields of a cron expression (Prefect would read a sixth as seconds)."""

CRON_TIMEZONE = "UTC"
"""The time zone a cron expression is read in when none is given."""

INTERVAL_IN_UTC = (
    "applies to cron schedules only (an interval counts from a fixed UTC anchor, 2000-01-01 00:00)"
)
"""Why a time zone is refused with an interval schedule (:data:`SCHEDULE_ANCHOR`)."""


def schedule(
    cron: str | None = None, interval: float | None = None, timezone: str | None = None
) -> Schedule:
    """A cron schedule, or an interval schedule on :data:`SCHEDULE_ANCHOR`.

    Args:
        cron: Cron expression (``"0 * * * *"``; see :func:`check_cron`).
        interval: Seconds between runs (see :func:`check_interval`).
        timezone: IANA time zone the cron expression is read in (default
            :data:`CRON_TIMEZONE`; see :func:`check_timezone`). Cron schedules only.

    Raises:
        ValueError: unless exactly one of ``cron`` and ``interval`` is given, with a
            time zone for an interval, or when one is refused (the message names it).

    """
    if (cron is None) == (interval is None):
        raise ValueError("give exactly one schedule: cron or interval")
    if interval is None:
        zone = check_timezone(CRON_TIMEZONE if timezone is None else timezone)
        expression = str(cron)
        try:
            check_cron(expression, timezone=zone)
        except ValueError as error:
            raise ValueError(f"cron {expression!r}: {error}") from None
        return Cron(expression, timezone=zone)
    if timezone is not None:
        raise ValueError(f"timezone: {INTERVAL_IN_UTC}")
    try:
        check_interval(interval)
    except ValueError as error:
        raise ValueError(f"interval: {error}") from None
    return Interval(datetime.timedelta(seconds=interval), anchor_date=SCHEDULE_ANCHOR)


def check_interval(seconds: float) -> None:
    """Refuse an interval schedule that Prefect cannot keep, or that never comes round.

    Raises:
        ValueError: unless ``seconds`` is a finite number from :data:`MIN_INTERVAL` to
            :data:`HORIZON` (366 days).
    """
    longest = HORIZON.total_seconds()
    if not math.isfinite(seconds) or not MIN_INTERVAL <= seconds <= longest:
        raise ValueError(
            f"must be from {MIN_INTERVAL:g} to {longest:.0f} seconds (366 days), got {seconds:g}"
        )


def check_timezone(name: str) -> str:
    """Refuse a time zone that is not an IANA name Prefect's scheduler knows.

    Returns:
        ``name``.

    Raises:
        ValueError: saying so, with examples.
    """
    # Prefect checks against this very set when it applies the schedule, and a name it
    # refuses there (a lower-case "europe/berlin") fails inside Prefect with a traceback
    if name not in zoneinfo.available_timezones():
        raise ValueError(
            f"{name!r} is not an IANA time zone name (e.g. UTC, Europe/Berlin, America/New_York)"
        )
    return name


def check_cron(
    expression: str, now: datetime.datetime | None = None, timezone: str = CRON_TIMEZONE
) -> datetime.datetime:
    """Refuse a cron expression that is not five fields, or that runs not within a year.

    Prefect reads six fields as seconds first (``* * * * * *`` fires every second), and
    takes an expression that never matches (``0 0 31 2 *``) without a word: its
    scheduler just never creates a run.

    Args:
        expression: The cron expression.
        now: When to look for the next run from (timezone-aware; now by default).
        timezone: The IANA time zone the expression is read in, as Prefect's ``Cron``
            reads it (UTC by default).

    Returns:
        Its next run (in ``timezone``, naive).

    Raises:
        ValueError: saying what is wrong with it.
    """
    fields = len(expression.split())
    if expression.strip().startswith("@"):  # an alias Prefect takes: @hourly, @daily, ...
        fields = 5
    if fields != 5:
        counted = f"{fields} field{'' if fields == 1 else 's'}"
        raise ValueError(
            f'not a cron expression: {counted}, not five ({CRON_FIELDS}; e.g. "0 * * * *")'
        )
    try:
        CronSchedule(cron=expression)  # Prefect's own check (no random or hashed fields)
    except ValueError:
        raise ValueError(f'not a cron expression ({CRON_FIELDS}; e.g. "0 * * * *")') from None
    when = datetime.datetime.now(datetime.UTC) if now is None else now
    start = when.astimezone(zoneinfo.ZoneInfo(timezone)).replace(tzinfo=None)
    try:
        upcoming: datetime.datetime = croniter(expression, start, day_or=True).get_next(
            datetime.datetime
        )
    except CroniterBadDateError:  # no match in the 50 years croniter searches
        raise ValueError("it never runs: no date matches it") from None
    if upcoming - start > HORIZON:
        raise ValueError(
            f"its next run is {upcoming:%Y-%m-%d %H:%M} {timezone}, more than a year away"
        )
    return upcoming


def campaign_deployments(
    campaign: str,
    rounds: int | None,
    cron: str | None = None,
    interval: float | None = None,
    oracle: bool = True,
    per_run: int | None = None,
    closed: bool = False,
    settle: float = SETTLE_SECONDS,
    timezone: str | None = None,
    schedule_active: bool = True,
) -> list[RunnerDeployment]:
    """Deployments of ``run-campaign`` (scheduled), ``train-surrogate`` and ``results-reported``.

    None carries the database URI (the runs read it where they execute; see the module
    docstring).

    Args:
        campaign: Campaign name (deployments are named after it).
        rounds: Target rounds of the scheduled ``run-campaign`` runs, past which
            ``results-reported`` proposes no batch either. None (no target) only without
            an oracle: a lab's campaign then goes on while its budget and pool last.
        cron: Cron schedule of ``run-campaign`` (e.g. ``"0 * * * *"``; :func:`check_cron`).
        interval: Interval schedule of ``run-campaign``, in seconds (:func:`check_interval`).
        oracle: Whether the pool carries reference values for the lookup oracle. A lab's
            campaign, whose instruments measure, gets no ``run-campaign`` and no schedule:
            its results arrive through the API and trigger ``results-reported``.
        per_run: Batches each scheduled run adds at most (None: up to ``rounds``).
        closed: The campaign is closed: ``run-campaign`` is deployed paused (its runs
            would only skip), while late results still retrain (``results-reported``).
        settle: Debounce window of the ``results-reported`` triggers, in seconds (>= 10;
            see :func:`flows.events.results_reported_triggers`).
        timezone: IANA time zone of the cron schedule (default UTC; :func:`schedule`).
        schedule_active: False: ``run-campaign``'s schedule is deployed paused (as it was
            paused in Prefect: :func:`schedule_paused`).

    Raises:
        ValueError: unless exactly one of ``cron`` and ``interval`` is given (none without
            an oracle), with a schedule :func:`schedule` refuses, or with ``rounds < 0``
            (None with an oracle), ``per_run < 1`` or ``settle < 10``.

    """
    if rounds is not None and rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    if not oracle:
        if cron is not None or interval is not None:
            raise ValueError(
                f"campaign {campaign!r}: its pool has no reference values, so a scheduled "
                "run-campaign (which measures with the lookup oracle) could never run; "
                "serve it without a schedule"
            )
        return _event_deployments(campaign, rounds, settle)
    when = dataclasses.replace(schedule(cron, interval, timezone), active=schedule_active)
    if rounds is None:
        raise ValueError("rounds: a scheduled run-campaign needs a target")
    if per_run is not None and per_run < 1:
        raise ValueError(f"per_run must be >= 1, got {per_run}")
    run = run_campaign.to_deployment(
        name=campaign,
        schedule=when,
        paused=closed,
        parameters={"campaign": campaign, "rounds": rounds, "per_run": per_run},
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        description=f"Bring {campaign} to {rounds} rounds with its lookup oracle.",
        tags=_tags(campaign),
    )
    return [_built(run), *_event_deployments(campaign, rounds, settle)]


def _event_deployments(campaign: str, rounds: int | None, settle: float) -> list[RunnerDeployment]:
    """``train-surrogate`` (on demand) and ``results-reported`` (on results events)."""
    tags = _tags(campaign)
    train = train_surrogate.to_deployment(
        name=campaign,
        parameters={"campaign": campaign},
        description=f"Retrain {campaign}'s surrogate with leave-one-out diagnostics.",
        tags=tags,
    )
    target = "" if rounds is None else f", up to {rounds} rounds"
    reported = results_reported.to_deployment(
        name=campaign,
        parameters={"campaign": campaign, "rounds": rounds},
        triggers=list(results_reported_triggers(campaign, settle)),
        concurrency_limit=1,
        description=f"Retrain and propose when results for {campaign} are reported{target}.",
        tags=tags,
    )
    return [_built(train), _built(reported)]


def _tags(campaign: str) -> list[str]:
    return ["matloop", f"campaign:{campaign}"]


def _built(
    deployment: RunnerDeployment | Coroutine[Any, Any, RunnerDeployment],
) -> RunnerDeployment:
    if not isinstance(deployment, RunnerDeployment):  # to_deployment in an event loop
        raise RuntimeError("campaign_deployments must be called from synchronous code")
    return deployment


def literature_deployment(
    paths: list[str],
    cron: str | None = None,
    interval: float | None = None,
    version: str | None = None,
    settle: float = WATCH_SETTLE_SECONDS,
    timezone: str | None = None,
) -> RunnerDeployment:
    """A scheduled ``ingest-literature/<watch>`` deployment over folders of papers.

    Each run ingests the files under ``paths``; papers stored before are skipped, so a
    schedule picks up only what was dropped into the folders since the last run. A file
    modified less than ``settle`` seconds before a run may still be being copied in: it
    is left (and reported) for a later run, not stored half-written as a paper of its
    own. The runs read the database URI where they execute, as the campaign flows do.

    Raises:
        ValueError: unless exactly one of ``cron`` and ``interval`` is given, with a
            schedule :func:`schedule` refuses (``timezone`` too), ``settle < 0``, or no
            path is given.
    """
    from flows.ingestion import ingest_literature

    when = schedule(cron, interval, timezone)
    if not paths:
        raise ValueError("paths: give at least one folder or file of papers")
    if settle < 0:
        raise ValueError(f"settle must be >= 0 seconds, got {settle}")
    deployment = ingest_literature.to_deployment(
        name=watch_name(paths),
        schedule=when,
        parameters={"paths": paths, "version": version, "settle": settle},
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        description="Ingest new papers dropped into the watched folders.",
        tags=["matloop", "literature"],
    )
    return _built(deployment)


def serve_campaign(
    campaign: str,
    rounds: int | None,
    cron: str | None = None,
    interval: float | None = None,
    oracle: bool = True,
    per_run: int | None = None,
    closed: bool = False,
    settle: float = SETTLE_SECONDS,
    take_over: bool = False,
    timezone: str | None = None,
) -> None:
    """Serve :func:`campaign_deployments` until interrupted (blocks; pauses schedules on exit).

    Nothing is applied before all is checked: the arguments (:func:`campaign_deployments`),
    the working directory (no folder shadows matloop's packages), and that no other
    process serves the deployments now (:func:`flows.serving.check_not_served`). Then
    marks ``Crashed`` the runs a stopped serving process left in flight, with their
    subflows (:mod:`flows.serving`), and, for an open campaign, :func:`catch_up`: a run
    starts at once when none was due since the schedule's last time (see the module's
    docstring).

    The runs connect to the database of this process's settings (``MATLOOP_*``): they
    execute here or in children of this process, which inherit its environment.

    Args:
        campaign: Campaign name.
        rounds: Target rounds of the scheduled runs and of ``results-reported`` (None:
            none, for a campaign without an oracle).
        cron: Cron schedule of ``run-campaign``.
        interval: Interval schedule of ``run-campaign``, in seconds.
        oracle: Whether the pool carries reference values (see :func:`campaign_deployments`).
        per_run: Batches each scheduled run adds at most.
        closed: The campaign is closed (``run-campaign`` paused).
        settle: Debounce window of the ``results-reported`` triggers, in seconds.
        take_over: Serve the deployments even when another process seems to serve them
            (one killed without stopping, whose deployments Prefect still has ``READY``).
        timezone: IANA time zone of the cron schedule (default UTC).

    Raises:
        ValueError: a bad argument (see :func:`campaign_deployments`).
        flows.serving.ShadowedPackageError: see
            :func:`flows.serving.check_working_directory`.
        flows.serving.DeploymentServedError: see :func:`flows.serving.check_not_served`.
    """
    name = f"{run_campaign.name}/{campaign}"
    paused = oracle and schedule_paused(name)
    finished = paused_by_run(name) if paused and not closed else None
    if finished is not None:  # a run paused it, done: served again, it runs again
        paused = False
    deployments = campaign_deployments(
        campaign,
        rounds,
        cron=cron,
        interval=interval,
        oracle=oracle,
        per_run=per_run,
        closed=closed,
        settle=settle,
        timezone=timezone,
        schedule_active=not paused,
    )
    _check_serving(deployments, take_over)
    added = schedules_added_by_hand(campaign)
    if added:
        logger.warning(
            "serving removes the schedules added in Prefect to %s: matloop applies its "
            "deployments as it defines them (train-surrogate runs on demand; results retrain "
            "the model through results-reported, and each scheduled round retrains it too)",
            ", ".join(added),
        )
    settle_stopped_runs(deployments)  # before catch_up: a crashed run is no recent run
    drop_stale_runs(deployments)  # and a run of old settings is none either
    if paused:
        logger.warning(
            "the schedule of %s/%s was paused in Prefect: it stays paused (`matloop flows "
            "resume %s` resumes it)",
            run_campaign.name,
            campaign,
            campaign,
        )
    if finished is not None:
        with get_client(sync_client=True) as client:
            _forget_paused_by_run(client.read_deployment_by_name(name).id)
        logger.info(
            "the schedule of %s was paused by its last run (%s): served again, it runs again",
            name,
            finished,
        )
    watched = None
    if oracle and not closed and not paused:
        since, upcoming = schedule_window(cron, interval, timezone)
        if upcoming - datetime.datetime.now(datetime.UTC) > CATCH_UP_GRACE:
            started = catch_up(deployments[0], since, missed_only=cron is not None)
            if started is not None:
                logger.info(
                    "no run of run-campaign/%s was due since %s: started one now (%s)",
                    campaign,
                    f"{since:%Y-%m-%d %H:%M:%S} UTC",
                    started,
                )
        else:
            watched = upcoming
    _serve(deployments, watched)


def deployment_names(campaign: str, oracle: bool = True) -> list[str]:
    """The names of the deployments :func:`serve_campaign` serves for a campaign."""
    flows = (train_surrogate, results_reported)
    return [f"{flow.name}/{campaign}" for flow in ((run_campaign, *flows) if oracle else flows)]


def _check_serving(deployments: Sequence[RunnerDeployment], take_over: bool) -> None:
    """The checks before serving: the working directory, and no other serving process."""
    check_working_directory()
    if not take_over:
        check_not_served(f"{d.flow_name}/{d.name}" for d in deployments)


def _serve(deployments: list[RunnerDeployment], slot: datetime.datetime | None = None) -> None:
    """Prefect's ``serve``, then mark the runs it leaves in flight (it exits without).

    ``SIGTERM`` stops it as Ctrl-C does (:func:`flows.serving.sigterm_as_ctrl_c`).
    ``slot``: the first deployment's next run time, when it is so near that serving
    relies on it (:data:`CATCH_UP_GRACE`): watched (:func:`watch_next_slot`).
    """
    watch = None if slot is None else watch_next_slot(deployments[0], slot)
    try:
        with sigterm_as_ctrl_c(lambda: settle_on_exit(deployments)):
            serve(*deployments)
    finally:  # Ctrl-C and SIGTERM return
        if watch is not None:
            watch.cancel()
        settle_on_exit(deployments)


def watch_next_slot(deployment: RunnerDeployment, slot: datetime.datetime) -> threading.Timer:
    """Start a run of ``deployment`` :data:`SLOT_WATCH` after ``slot`` if the slot brings none.

    Serving that starts within :data:`CATCH_UP_GRACE` of a slot leaves the work to that
    slot's run, but Prefect may never make it: a deployment applied again seconds before
    one of its times (a serve restarted, a schedule its run had paused served again) was
    seen to get no run for that time, and the work waited a whole interval. So unless a
    run of it was due since serving began (scheduled, started by hand or caught up, and
    not given up: :func:`did_or_will_run`), one is started, late rather than lost.

    Returns:
        The started timer (a daemon thread): cancel it when serving stops (a check
        already under way still finishes).
    """
    began = datetime.datetime.now(datetime.UTC)
    name = f"{deployment.flow_name}/{deployment.name}"

    def check() -> None:
        try:
            if schedule_paused(name):  # paused since (by hand, or by a run): no run is owed
                return
            with get_client(sync_client=True) as client:
                deployment_id = client.read_deployment_by_name(name).id
            started = _start_unless_due(deployment_id, deployment.tags, began)
        except Exception:  # a watch must not take serving down
            logger.exception("could not check that %s ran at %s", name, f"{slot:%H:%M:%S} UTC")
            return
        if started is not None:
            logger.warning(
                "%s got no run for %s (applied moments before it): started one now (%s)",
                name,
                f"{slot:%Y-%m-%d %H:%M:%S} UTC",
                started,
            )

    wait = slot - began + SLOT_WATCH
    context = contextvars.copy_context()  # Prefect's settings, as serving has them
    timer = threading.Timer(max(wait.total_seconds(), 0.0), context.run, [check])
    timer.daemon = True
    timer.start()
    return timer


def schedule_window(
    cron: str | None,
    interval: float | None,
    timezone: str | None = None,
    now: datetime.datetime | None = None,
) -> tuple[datetime.datetime, datetime.datetime]:
    """Since when a run of the schedule was due, and when its next one is (both UTC).

    An interval's window is the last interval; a cron's starts a second before its last
    run time (one that ran on time counts), read in ``timezone`` as Prefect reads it.
    Around a daylight-saving change croniter may put the last time after ``now`` or the
    next before it; the next run is then taken as due now, so that no catch-up starts
    (:data:`CATCH_UP_GRACE`) where the schedule's times are in doubt.

    Args:
        cron: Cron expression, or None for ``interval``.
        interval: Seconds between runs, or None for ``cron``.
        timezone: IANA time zone of ``cron`` (default :data:`CRON_TIMEZONE`).
        now: The present (timezone-aware; now by default).
    """
    now = datetime.datetime.now(datetime.UTC) if now is None else now
    if interval is not None:
        step = datetime.timedelta(seconds=interval)
        upcoming = SCHEDULE_ANCHOR + ((now - SCHEDULE_ANCHOR) // step + 1) * step
        return now - step, upcoming
    zone = zoneinfo.ZoneInfo(timezone or CRON_TIMEZONE)
    local = now.astimezone(zone).replace(tzinfo=None)
    last, upcoming = (
        croniter(str(cron), local, day_or=True).get_prev(datetime.datetime),
        croniter(str(cron), local, day_or=True).get_next(datetime.datetime),
    )
    since = (last.replace(tzinfo=zone) - datetime.timedelta(seconds=1)).astimezone(datetime.UTC)
    after = upcoming.replace(tzinfo=zone).astimezone(datetime.UTC)
    if since > now or after <= now:  # a daylight-saving change: times in doubt
        return min(since, now), now
    return since, after


def catch_up(
    deployment: RunnerDeployment, since: datetime.datetime, missed_only: bool = False
) -> UUID | None:
    """Apply ``deployment`` and start a run of it now if none was due since ``since``.

    With the schedule's fixed anchor a restart keeps the cadence, but a slot that fell
    while nothing served it is lost (pausing on shutdown deletes it, and a new
    deployment's first slot is up to an interval away). So when no run of the deployment
    (scheduled, manual or an earlier catch-up) was expected to start since ``since``
    (:func:`schedule_window`: the last interval, or a cron's last run time), one run is
    created now, tagged :data:`CATCH_UP_TAG`. One at
    most: a restart loop does not pile them up, since a catch-up run not yet run still
    counts. A run that did not do the interval's work does not count
    (:func:`did_or_will_run`): one crashed (its serving process stopped), cancelled (by
    the concurrency limit while a crashed run held the slot, or by hand), or failed
    before it started.

    Args:
        deployment: A scheduled deployment (``run-campaign/<campaign>``).
        since: The start of the window (timezone-aware).
        missed_only: Start one only when the deployment was there before ``since`` (a
            time passed while nothing served it, the deployment then left with no run at
            all): a cron schedule names its times, so a new one waits for the first,
            where a new interval starts at once.

    Returns:
        The id of the run started, or None when a run was due recently.

    """
    deployment_id = _applied(deployment.apply())
    return _start_unless_due(deployment_id, deployment.tags, since, missed_only)


def _start_unless_due(
    deployment_id: UUID, tags: list[str], since: datetime.datetime, missed_only: bool = False
) -> UUID | None:
    """:func:`catch_up` on a deployment applied already (its id): the run started, or None."""
    now = datetime.datetime.now(datetime.UTC)
    with get_client(sync_client=True) as client:
        recent = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            # validated: Prefect's DateTime type, not datetime, is what the fields declare
            flow_run_filter=FlowRunFilter.model_validate(
                {"expected_start_time": {"after_": since, "before_": now}}
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,  # the sync client sends no default
            limit=200,
        )
        if any(map(did_or_will_run, recent)):
            return None
        if missed_only:  # new since its last time (an upsert keeps when it was created)
            created = client.read_deployment(deployment_id).created
            if created is None or created >= since:
                return None
        run = client.create_flow_run_from_deployment(deployment_id, tags=[*tags, CATCH_UP_TAG])
    return run.id


def schedule_paused(name: str) -> bool:
    """Whether every schedule of the deployment ``name`` (``flow/deployment``) is paused.

    Paused in Prefect, by hand (``prefect deployment schedule pause``): a serve that stops
    pauses its deployments, not their schedules. Applying the deployment again would make
    its schedule active, so :func:`serve_campaign` deploys it paused instead.
    """
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(name)
        except ObjectNotFound:
            return False
    return bool(deployment.schedules) and not any(s.active for s in deployment.schedules)


def schedules_added_by_hand(campaign: str) -> list[str]:
    """The schedules added in Prefect to a campaign's unscheduled deployments, described.

    ``train-surrogate`` and ``results-reported`` are served without a schedule, and
    serving them again removes one given by hand (``prefect deployment schedule create``).
    """
    found = []
    with get_client(sync_client=True) as client:
        for flow in (train_surrogate.name, results_reported.name):
            name = f"{flow}/{campaign}"
            try:
                deployment = client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            found += [f"{name} ({_described(each.schedule)})" for each in deployment.schedules]
    return found


def campaign_status(campaign: str, runs: int = 5) -> list[dict[str, Any]]:
    """Where each of a campaign's deployments stands in Prefect, and its last runs.

    Args:
        campaign: Campaign name.
        runs: How many of each deployment's latest runs to give (newest first).

    Returns:
        One dict per deployment Prefect has (none for a campaign never served):
        ``name``, ``served`` (a serve polls it now: Prefect's ``READY``), ``paused`` (the
        deployment itself: a stopped serve's, a closed campaign's), ``schedules`` (each
        ``schedule`` described and ``active``), ``paused_by_run`` (why a run paused its
        schedule, else None) and ``runs`` (``name``, ``state``, ``message``, ``expected``
        start, ISO 8601 UTC), those due by now: Prefect makes a schedule's next runs ahead
        of time; ``next``, when the first of those is due (None: none made).
    """
    found = []
    now = datetime.datetime.now(datetime.UTC)
    with get_client(sync_client=True) as client:
        for flow in (run_campaign, train_surrogate, results_reported):
            name = f"{flow.name}/{campaign}"
            try:
                deployment = client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            of_it = DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
            latest = client.read_flow_runs(
                deployment_filter=of_it,
                flow_run_filter=FlowRunFilter.model_validate(  # as in catch_up
                    {"expected_start_time": {"before_": now}}
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=runs,
            )
            upcoming = client.read_flow_runs(
                deployment_filter=of_it,
                flow_run_filter=FlowRunFilter.model_validate(
                    {"expected_start_time": {"after_": now}}
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=1,
            )
            why = Variable.get(_paused_by_run(deployment.id), default=None)
            found.append(
                {
                    "name": name,
                    "served": deployment.status == DeploymentStatus.READY,
                    "paused": bool(deployment.paused),
                    "schedules": [
                        {"schedule": _described(each.schedule), "active": each.active}
                        for each in deployment.schedules
                    ],
                    "paused_by_run": None if why is None else str(why),
                    "runs": [_run_view(run) for run in latest],
                    "next": _run_view(upcoming[0])["expected"] if upcoming else None,
                }
            )
    return found


def _run_view(run: FlowRun) -> dict[str, Any]:
    state = run.state
    expected = run.expected_start_time
    return {
        "name": run.name,
        "state": state.name if state else None,
        "message": state.message if state else None,
        "expected": None if expected is None else expected.isoformat(),
    }


def _paused_by_run(deployment_id: UUID) -> str:
    """The Prefect variable saying why a run paused its own deployment's schedule."""
    return f"matloop-paused-by-run-{deployment_id}"


def pause_finished(deployment_id: str, campaign: str, rounds: int, why: str) -> bool:
    """Pause a ``run-campaign`` schedule from one of its runs: nothing is left to do.

    The campaign is closed, at its target or out of budget or pool (``why``): its runs
    would come every interval to say so. Only a run of the schedule's own settings
    pauses it: one made by hand for another campaign or target (``prefect deployment run
    -p rounds=2``) leaves the schedule to its own. The pause is marked as a run's (a
    Prefect variable), unlike one by hand, so that serving the campaign again (a higher
    ``--rounds``, after a larger budget) resumes it, where a pause by hand is kept.

    Args:
        deployment_id: The run's deployment (``prefect.runtime.deployment.id``).
        campaign: The run's campaign.
        rounds: The run's target.
        why: What is finished, in words.

    Returns:
        Whether the schedule was active (and now is paused).
    """
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment(UUID(deployment_id))
    aims = deployment.parameters or {}
    if aims.get("campaign") != campaign or aims.get("rounds") != rounds:
        return False
    return bool(set_schedule_active(f"{run_campaign.name}/{deployment.name}", False, by_run=why))


def paused_by_run(name: str) -> str | None:
    """Why a run of deployment ``name`` paused its schedule (:func:`pause_finished`), or None."""
    with get_client(sync_client=True) as client:
        try:
            deployment_id = client.read_deployment_by_name(name).id
        except ObjectNotFound:
            return None
    found = Variable.get(_paused_by_run(deployment_id), default=None)
    return None if found is None else str(found)


def _forget_paused_by_run(deployment_id: UUID) -> None:
    Variable.unset(_paused_by_run(deployment_id))


def deployment_paused(name: str) -> bool:
    """Whether the deployment ``name`` is paused itself, whatever its schedules.

    A closed campaign's ``run-campaign`` is served paused, and a runner pauses its
    deployments when it stops (see :mod:`flows.serving`).
    """
    with get_client(sync_client=True) as client:
        try:
            return bool(client.read_deployment_by_name(name).paused)
        except ObjectNotFound:
            return False


def set_schedule_active(name: str, active: bool, by_run: str | None = None) -> list[str]:
    """Pause (``active=False``) or resume every schedule of the deployment ``name``.

    Pausing deletes the schedule's runs still waiting: Prefect deletes its future ones,
    and this the ones already late and a serve's catch-up run, which would still start
    (runs made by hand are kept). Resuming makes them again from now on. A serve keeps
    serving the deployment meanwhile (results events, runs made by hand), and a restarted
    serve keeps the schedule as it finds it (:func:`schedule_paused`).

    Args:
        name: ``flow/deployment``, e.g. ``run-campaign/opv``.
        active: Whether the schedules should run.
        by_run: Why one of its runs pauses it (:func:`pause_finished`); None for a pause
            or resume by hand, which forgets a run's.

    Returns:
        The schedules changed, described (``every 3600 s``), empty when all were already
        so.

    Raises:
        LookupError: naming ``name``, when no such deployment exists or it has no schedule.
    """
    flow, _, served = name.partition("/")
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(name)
        except ObjectNotFound:
            try:  # a lab's campaign: served for its results events only
                client.read_deployment_by_name(f"results-reported/{served}")
            except ObjectNotFound:
                raise LookupError(f"{name}: no such deployment; serve it first") from None
            raise LookupError(
                f"{name}: no such deployment: {served} is served for its instruments' results "
                f"only (its {flow} deployment was never served, or was deleted), so there is "
                f"no {flow} schedule to change; serve it again with --cron or --interval"
            ) from None
        if not deployment.schedules:
            raise LookupError(f"{name}: it has no schedule (served without --cron or --every)")
        changing = [each for each in deployment.schedules if each.active != active]
        if by_run is None:  # by hand now, or resumed
            _forget_paused_by_run(deployment.id)
        elif changing:  # marked first: a pause that fails after it leaves a marker, never the
            # reverse; a schedule paused already (by hand) is not the run's to mark
            Variable.set(_paused_by_run(deployment.id), by_run, overwrite=True)
        changed = []
        for each in changing:
            client.update_deployment_schedule(deployment.id, each.id, active=active)
            changed.append(_described(each.schedule))
        if not active:
            waiting = deployment_runs(
                client, [deployment.id], [StateType.SCHEDULED], FlowRunSort.EXPECTED_START_TIME_ASC
            )
            for run in waiting:
                made_here = run.auto_scheduled or CATCH_UP_TAG in run.tags
                if made_here and run.run_count == 0 and run.state_name in NOT_YET_RUN:
                    client.delete_flow_run(run.id)
    return changed


def _described(when: Any) -> str:
    """A Prefect schedule in a few words: ``cron '0 * * * *' (UTC)``, ``every 3600 s``."""
    if getattr(when, "cron", None):
        return f"cron {when.cron!r} ({when.timezone or 'UTC'})"
    if getattr(when, "interval", None):
        return f"every {when.interval.total_seconds():g} s"
    return str(when)


#: Names of the ``SCHEDULED`` states of a run that has not run: not ``AwaitingRetry`` nor
#: ``AwaitingConcurrencySlot``.
NOT_YET_RUN = frozenset({"Scheduled", "Late"})


def drop_stale_runs(deployments: Sequence[RunnerDeployment]) -> list[FlowRun]:
    """Delete the waiting scheduled and catch-up runs made with other parameters.

    A run carries the parameters its deployment had when the run was made. Applying the
    deployment again drops its future scheduled runs, but not those already late (the
    serving process stopped before picking them up) nor an earlier serve's catch-up run:
    the restarted process would run one with the old target, ``--rounds 0`` after
    ``--rounds 3``, past what it now serves. Runs made by hand (``prefect deployment
    run``, parameters of their own) are kept, and so, as Prefect's own clean-up keeps
    them, are runs that ran before (waiting to retry) or wait for a concurrency slot.

    Returns:
        The runs deleted.
    """
    dropped = []
    with get_client(sync_client=True) as client:
        for deployment in deployments:
            ids = deployment_ids(client, [deployment])
            if not ids:
                continue
            waiting = deployment_runs(
                client, ids, [StateType.SCHEDULED], FlowRunSort.EXPECTED_START_TIME_ASC
            )
            stale: dict[str, list[FlowRun]] = {}  # by their parameters, one line each
            for run in waiting:
                made_here = run.auto_scheduled or CATCH_UP_TAG in run.tags
                never_ran = run.run_count == 0 and run.state_name in NOT_YET_RUN
                if made_here and never_ran and run.parameters != deployment.parameters:
                    client.delete_flow_run(run.id)
                    stale.setdefault(repr(run.parameters), []).append(run)
            for runs in stale.values():
                logger.warning(
                    "%d flow run(s) of %s/%s waiting with other parameters (%s, now %s) "
                    "deleted, the first %s (%s)",
                    len(runs),
                    deployment.flow_name,
                    deployment.name,
                    runs[0].parameters,
                    deployment.parameters,
                    runs[0].name,
                    runs[0].id,
                )
                dropped += runs
    return dropped


def did_or_will_run(run: FlowRun) -> bool:
    """Whether a run did its interval's work, does it, or still will (for :func:`catch_up`).

    Crashed and cancelled runs did not finish it; a failed one counts only if it started
    (a run that fails again and again is not retried on every restart).
    """
    state = run.state.type if run.state is not None else StateType.SCHEDULED
    if state in (StateType.CRASHED, StateType.CANCELLED):
        return False
    return state != StateType.FAILED or run.start_time is not None


def _applied(deployment_id: UUID | Coroutine[Any, Any, UUID]) -> UUID:
    if not isinstance(deployment_id, UUID):  # apply in an event loop
        raise RuntimeError("catch_up must be called from synchronous code")
    return deployment_id


def watch_name(paths: Sequence[str]) -> str:
    """The deployment name of a watch over ``paths``: a folder's name and a digest of all.

    Each set of watched folders gets a deployment of its own, so two ``serve-literature``
    processes on one Prefect server do not share one: a restart of either marks only its
    own runs (``settle_stopped_runs``) and takes only its own one-run slot. The digest is
    of the absolute paths, so the same watch started again from another directory (or
    with the folders in another order) finds its deployment again.

    Example: ``watch_name(["/lab/papers"])`` is ``papers-`` and 8 hex digits.
    """
    resolved = sorted({str(Path(path).expanduser().resolve()) for path in paths})
    digest = hashlib.sha256("\n".join(resolved).encode()).hexdigest()[:8]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(resolved[0]).name).strip("-.") or "root"
    return f"{stem[:40]}-{digest}"


def serve_literature(
    paths: list[str],
    cron: str | None = None,
    interval: float | None = None,
    settle: float = WATCH_SETTLE_SECONDS,
    take_over: bool = False,
    timezone: str | None = None,
) -> None:
    """Serve :func:`literature_deployment` until interrupted (blocks).

    Checks its arguments, the working directory and that no other process serves the
    watch, then settles stopped runs, as :func:`serve_campaign` does.
    """
    deployment = literature_deployment(
        paths, cron=cron, interval=interval, settle=settle, timezone=timezone
    )
    deployments = [deployment]
    _check_serving(deployments, take_over)
    settle_stopped_runs(deployments)
    _, upcoming = schedule_window(cron, interval, timezone)
    near = upcoming - datetime.datetime.now(datetime.UTC) <= CATCH_UP_GRACE
    _serve(deployments, upcoming if near else None)


__all__ = [
    "CATCH_UP_TAG",
    "CRON_FIELDS",
    "CRON_TIMEZONE",
    "HORIZON",
    "INTERVAL_IN_UTC",
    "MIN_INTERVAL",
    "NOT_YET_RUN",
    "SCHEDULE_ANCHOR",
    "WATCH_SETTLE_SECONDS",
    "campaign_deployments",
    "campaign_status",
    "catch_up",
    "check_cron",
    "check_interval",
    "check_timezone",
    "deployment_names",
    "did_or_will_run",
    "drop_stale_runs",
    "literature_deployment",
    "pause_finished",
    "paused_by_run",
    "schedule",
    "schedule_paused",
    "schedules_added_by_hand",
    "serve_campaign",
    "serve_literature",
    "watch_name",
]
