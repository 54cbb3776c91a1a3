"""Flows that run campaign rounds: on demand, on a schedule, or when results come in.

Flows only orchestrate: every step is a task from :mod:`flows.tasks`, and the loop's
logic (planning, validation, idempotency) lives in :mod:`agents`.

``run_campaign`` is declarative like :func:`agents.runner.run` (the campaign is brought to
its initial design plus ``rounds`` rounds, counted in the database, so a run that was
killed or repeated goes on where the database stands), but it does not call ``run``:
each round is its own ``campaign_round`` subflow made of thin tasks, so a round's
proposal, measurement and storage show up, time and fail separately, and only the
database steps retry.

A closed campaign (``matloop campaign close``) gets no new batch: each flow reads it in
the campaign's summary (``closed``) before it proposes, and logs a warning that it skips
the work, so a schedule left on a closed campaign does nothing, and says so.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from agents.oracles import LookupOracle
from agents.training import MIN_MEASUREMENTS
from db.campaigns import CampaignClosedError
from discovery.domain import Trial
from flows.tasks import (
    campaign_summary,
    evaluate,
    fit_model,
    load_training_data,
    lookup_oracle,
    observe_results,
    propose_batch,
    register_model,
    trained_version,
    unclaimed_trials,
)


def _skip_closed(summary: dict[str, Any], what: str) -> bool:
    """Whether the summarised campaign is closed, logging that ``what`` is skipped if so."""
    if summary["closed"]:
        _log_closed(summary["campaign"], what)
    return bool(summary["closed"])


def _log_closed(campaign: str, what: str) -> None:
    get_run_logger().warning(
        "campaign %r is closed: %s skipped (it hands out no new trials)", campaign, what
    )


def _propose(campaign: str, uri: str, what: str) -> list[Trial]:
    """The campaign's next batch; none when it was closed while the batch was planned."""
    try:
        return propose_batch(campaign, uri)
    except CampaignClosedError:  # the check before planning passed: an operator, meanwhile
        _log_closed(campaign, what)
        return []


def _measure_unclaimed(campaign: str, uri: str, oracle: LookupOracle) -> int:
    """Measure trials handed out before an interruption with the lookup oracle.

    Only those no instrument claimed (:meth:`agents.CampaignAgent.unclaimed`).
    """
    unclaimed = unclaimed_trials(campaign, uri)
    if not unclaimed:
        return 0
    return observe_results(campaign, uri, evaluate(oracle, unclaimed)).stored


@flow(name="campaign-round", flow_run_name="{campaign}-round")
def campaign_round(campaign: str, uri: str) -> dict[str, Any]:
    """One round against the campaign's lookup oracle: propose a batch, measure, store.

    The first round of a fresh campaign is its random initial design. Trials left pending
    by an interrupted round are measured first.

    Args:
        campaign: Campaign name (its pool must carry reference values).
        uri: MongoDB URI.

    Returns:
        The campaign summary (see :func:`flows.tasks.campaign_summary`) plus
        ``proposed`` (trials in this round's batch; 0 when the pool is exhausted or the
        campaign closed: the summary's ``closed``), ``stored`` (results stored this round)
        and ``recovered`` (pending trials measured first).

    """
    summary = campaign_summary(campaign, uri)
    if _skip_closed(summary, "round"):
        return {**summary, "proposed": 0, "stored": 0, "recovered": 0}
    oracle = lookup_oracle(campaign, uri)  # first: a pool it cannot answer gets no batch
    recovered = _measure_unclaimed(campaign, uri, oracle)
    trials = _propose(campaign, uri, "round")
    stored = 0
    if trials:
        stored = observe_results(campaign, uri, evaluate(oracle, trials)).stored
    counts = {"proposed": len(trials), "stored": stored, "recovered": recovered}
    return {**campaign_summary(campaign, uri), **counts}


@flow(name="run-campaign", flow_run_name="{campaign}-to-{rounds}-rounds")
def run_campaign(
    campaign: str, rounds: int, uri: str, per_run: int | None = None
) -> dict[str, Any]:
    """Bring a campaign to its initial design plus ``rounds`` rounds (counted in the database).

    Resumable and idempotent: trials left pending are measured first; a campaign already
    at ``rounds`` rounds gets no new round. Stops early when the pool or budget is spent.

    Args:
        campaign: Campaign name (its pool must carry reference values).
        rounds: Target number of model-guided rounds after the initial design (>= 0).
        uri: MongoDB URI.
        per_run: At most this many batches in this run (a schedule then advances the
            campaign a step per run); None runs them all.

    Returns:
        The campaign summary plus ``batches_run`` (batches this run added, the initial
        design included), ``recovered`` (pending trials measured first) and ``closed``
        (the campaign is closed: the run stopped there, or did nothing).

    """
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    if per_run is not None and per_run < 1:
        raise ValueError(f"per_run must be >= 1, got {per_run}")
    summary = campaign_summary(campaign, uri)
    if _skip_closed(summary, "run"):
        return {**summary, "batches_run": 0, "recovered": 0}
    recovered = _measure_unclaimed(campaign, uri, lookup_oracle(campaign, uri))
    summary = campaign_summary(campaign, uri)
    run = 0
    while (summary["initial_left"] or summary["rounds"] < rounds) and run != per_run:
        result = campaign_round(campaign, uri)
        summary = {k: v for k, v in result.items() if k not in ("proposed", "stored", "recovered")}
        if not result["proposed"]:
            break  # pool or budget spent, or campaign closed (the round said so in its log)
        run += 1
    return {**summary, "batches_run": run, "recovered": recovered}


@flow(name="results-reported", flow_run_name="{campaign}-results-reported")
def results_reported(
    campaign: str, uri: str, count: int = 0, propose: bool = True
) -> dict[str, Any]:
    """React to instruments reporting results: retrain, then hand out the next batch.

    Meant to run from a deployment triggered by the ``matloop.results.reported`` event
    (:func:`flows.events.results_reported_trigger`). The instruments are the oracle here,
    so nothing is measured: the surrogate is retrained on all results so far (once there
    are at least 3, for a campaign with one objective; not again when a model of these
    very results is registered already), and when no trial of the campaign
    is still pending the next batch is proposed for the instruments to fetch.

    Args:
        campaign: Campaign name.
        uri: MongoDB URI.
        count: Results stored by the report that triggered this run (informational).
        propose: Propose the next batch when nothing is pending.

    Returns:
        The campaign summary plus ``reported`` (``count``), ``model_version`` (None with
        fewer than 3 results or several objectives), ``proposed`` (trial ids handed
        out, possibly none) and ``closed`` (a closed campaign: results of its running
        trials still retrain the model, but no batch is proposed).

    """
    summary = campaign_summary(campaign, uri)
    version = None
    # the registry's surrogate models one objective; several still get their next batch
    if summary["measurements"] >= MIN_MEASUREMENTS and summary["objectives"] == 1:
        data = load_training_data(campaign, uri)
        # reports arriving together queue one run each: the first fits, the rest find it
        version = trained_version(campaign, uri, data)
        if version is None:
            version = register_model(campaign, uri, fit_model(data))
        # read again: an instrument's claim may have proposed a batch during the fit
        summary = campaign_summary(campaign, uri)
    proposed: list[str] = []
    if propose and not _skip_closed(summary, "next batch") and summary["pending"] == 0:
        proposed = [str(t.id) for t in _propose(campaign, uri, "next batch")]
        summary = campaign_summary(campaign, uri)
    return {**summary, "reported": count, "model_version": version, "proposed": proposed}


__all__ = ["campaign_round", "results_reported", "run_campaign"]
