"""Deployments of a campaign's flows, and serving them (``matloop flows serve``).

Three deployments per campaign, each named after the campaign:

- ``run-campaign/<campaign>``: on a cron or interval schedule, brings the campaign to
  ``rounds`` rounds with its lookup oracle, at most ``per_run`` batches a run (all at
  once without it; later runs do nothing once it is there).
  One run at a time; a run due while another runs is cancelled.
- ``train-surrogate/<campaign>``: unscheduled; run it on demand
  (``prefect deployment run train-surrogate/<campaign>``).
- ``results-reported/<campaign>``: runs once per ``matloop.results.reported`` event for
  the campaign (:mod:`flows.events`), one at a time (queued).

And ``ingest-literature/scheduled`` (:func:`literature_deployment`): ingests the papers
dropped into watched folders on a schedule.

Schedules and event triggers need a Prefect server (``prefect server start``, or the
compose service) with ``PREFECT_API_URL`` pointing at it; the serving process executes
the runs. The database URI is a deployment parameter, visible to whoever can read the
Prefect server.
"""

from __future__ import annotations

import datetime
from collections.abc import Coroutine
from typing import Any

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment

from flows.campaigns import results_reported, run_campaign
from flows.events import results_reported_trigger
from flows.training import train_surrogate


def campaign_deployments(
    campaign: str,
    uri: str,
    rounds: int,
    cron: str | None = None,
    interval: float | None = None,
    oracle: bool = True,
    per_run: int | None = None,
) -> list[RunnerDeployment]:
    """Deployments of ``run-campaign`` (scheduled), ``train-surrogate`` and ``results-reported``.

    Args:
        campaign: Campaign name (deployments are named after it).
        uri: MongoDB URI passed to every run.
        rounds: Target rounds of the scheduled ``run-campaign`` runs.
        cron: Cron schedule of ``run-campaign`` (e.g. ``"0 * * * *"``).
        interval: Interval schedule of ``run-campaign``, in seconds.
        oracle: Whether the pool carries reference values for the lookup oracle. A lab's
            campaign, whose instruments measure, gets no ``run-campaign`` and no schedule:
            its results arrive through the API and trigger ``results-reported``.
        per_run: Batches each scheduled run adds at most (None: up to ``rounds``).

    Raises:
        ValueError: unless exactly one of ``cron`` and ``interval`` is given (none without
            an oracle), or with ``rounds < 0``, ``interval <= 0`` or ``per_run < 1``.

    """
    if not oracle:
        if cron is not None or interval is not None:
            raise ValueError(
                f"campaign {campaign!r}: its pool has no reference values, so a scheduled "
                "run-campaign (which measures with the lookup oracle) could never run; "
                "serve it without a schedule"
            )
        return _event_deployments(campaign, uri)
    if (cron is None) == (interval is None):
        raise ValueError("give exactly one schedule: cron or interval")
    if interval is not None and interval <= 0:
        raise ValueError(f"interval must be > 0 seconds, got {interval}")
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    if per_run is not None and per_run < 1:
        raise ValueError(f"per_run must be >= 1, got {per_run}")
    every = None if interval is None else datetime.timedelta(seconds=interval)
    run = run_campaign.to_deployment(
        name=campaign,
        cron=cron,
        interval=every,
        parameters={"campaign": campaign, "rounds": rounds, "uri": uri, "per_run": per_run},
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        description=f"Bring {campaign} to {rounds} rounds with its lookup oracle.",
        tags=_tags(campaign),
    )
    return [_built(run), *_event_deployments(campaign, uri)]


def _event_deployments(campaign: str, uri: str) -> list[RunnerDeployment]:
    """``train-surrogate`` (on demand) and ``results-reported`` (on results events)."""
    tags = _tags(campaign)
    train = train_surrogate.to_deployment(
        name=campaign,
        parameters={"campaign": campaign, "uri": uri},
        description=f"Retrain {campaign}'s surrogate with leave-one-out diagnostics.",
        tags=tags,
    )
    reported = results_reported.to_deployment(
        name=campaign,
        parameters={"campaign": campaign, "uri": uri},
        triggers=[results_reported_trigger(campaign)],
        concurrency_limit=1,
        description=f"Retrain and propose when results for {campaign} are reported.",
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
    uri: str,
    cron: str | None = None,
    interval: float | None = None,
    version: str | None = None,
) -> RunnerDeployment:
    """A scheduled ``ingest-literature/scheduled`` deployment over folders of papers.

    Each run ingests the files under ``paths``; papers stored before are skipped, so a
    schedule picks up only what was dropped into the folders since the last run.

    Raises:
        ValueError: unless exactly one of ``cron`` and ``interval`` is given, or
            ``interval <= 0``, or no path is given.
    """
    from flows.ingestion import ingest_literature

    if (cron is None) == (interval is None):
        raise ValueError("give exactly one schedule: cron or interval")
    if interval is not None and interval <= 0:
        raise ValueError(f"interval must be > 0 seconds, got {interval}")
    if not paths:
        raise ValueError("paths: give at least one folder or file of papers")
    every = None if interval is None else datetime.timedelta(seconds=interval)
    deployment = ingest_literature.to_deployment(
        name="scheduled",
        cron=cron,
        interval=every,
        parameters={"paths": paths, "uri": uri, "version": version},
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        description="Ingest new papers dropped into the watched folders.",
        tags=["matloop", "literature"],
    )
    return _built(deployment)


def serve_campaign(
    campaign: str,
    uri: str,
    rounds: int,
    cron: str | None = None,
    interval: float | None = None,
    oracle: bool = True,
    per_run: int | None = None,
) -> None:
    """Serve :func:`campaign_deployments` until interrupted (blocks; pauses schedules on exit)."""
    deployments = campaign_deployments(
        campaign, uri, rounds, cron=cron, interval=interval, oracle=oracle, per_run=per_run
    )
    serve(*deployments)


def serve_literature(
    paths: list[str], uri: str, cron: str | None = None, interval: float | None = None
) -> None:
    """Serve :func:`literature_deployment` until interrupted (blocks)."""
    serve(literature_deployment(paths, uri, cron=cron, interval=interval))


__all__ = ["campaign_deployments", "literature_deployment", "serve_campaign", "serve_literature"]
