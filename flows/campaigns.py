"""Flows that run campaign rounds: on demand, on a schedule, or when results come in.

Flows only orchestrate: every step is a task from :mod:`flows.tasks`, and the loop's
logic (planning, validation, idempotency) lives in :mod:`agents`.

``run_campaign`` is declarative like :func:`agents.runner.run` (the campaign is brought to
its initial design plus ``rounds`` rounds, counted in the database, so a run that was
killed or repeated goes on where the database stands), but it does not call ``run``:
each round is its own ``campaign_round`` subflow made of thin tasks, so a round's
proposal, measurement and storage show up, time and fail separately, and only the
database steps retry.

The lookup oracle measures only trials no instrument holds: a trial an instrument
claimed (over the API, even in the middle of a round) is left for it to report.

A closed campaign (``matloop campaign close``) gets no new batch: each flow reads it in
the campaign's summary (``closed``) before it proposes, and logs a warning that it skips
the work, so a schedule left on a closed campaign does nothing, and says so.

Each flow takes the MongoDB URI as an optional ``uri``; a served run gets none and
connects to the database of ``flows serve``'s settings (:func:`flows.tasks.database_uri`),
so the URI, which may hold a password, is never a run parameter on the Prefect server.

Each flow logs one line saying what it did (:data:`MESSAGE` in its result) and returns
a small JSON-able summary. The line is also the message of the run's Completed state, so
the Prefect UI shows it beside the run: the flows return that state, which Prefect
unwraps for a caller (or a parent flow), who gets the dict; ``flow.fn(...)``, bypassing
Prefect, returns the state itself (``.result()`` is the dict).
"""

from __future__ import annotations

from typing import Any, cast

from prefect import flow, get_run_logger
from prefect.runtime import deployment
from prefect.states import Completed

from agents.oracles import LookupOracle
from agents.training import MIN_MEASUREMENTS
from db.campaigns import CampaignClosedError, TrialStateError
from discovery.domain import Trial
from flows.serving import settle_crashed_leftovers
from flows.tasks import (
    campaign_summary,
    database_uri,
    evaluate,
    fit_model,
    load_training_data,
    lookup_oracle,
    no_work_reason,
    observe_results,
    propose_batch,
    refuse_redirected,
    register_model,
    trained_version,
    unclaimed_trials,
    work_ended,
)

MESSAGE = "message"
"""Key of a flow result's one-line account of the run (also logged)."""

CLAIM_RACES = 3
"""Tries at storing oracle results when instruments keep claiming trials meanwhile."""

CLOSED_CAMPAIGN = "the campaign is closed"
"""Why a closed campaign's schedule is paused (served again, it stays so)."""

_ROUND_ONLY = (
    "proposed", "batch", "stored", "recovered", "left_to_instruments", "why_none", MESSAGE
)  # fmt: skip


def _skip_closed(summary: dict[str, Any], what: str) -> bool:
    """Whether the summarised campaign is closed, logging that ``what`` is skipped if so."""
    if summary["closed"]:
        _log_closed(summary["campaign"], what)
    return bool(summary["closed"])


def _closed_message(campaign: str, what: str) -> str:
    return f"campaign {campaign!r} is closed: {what} skipped (it hands out no new trials)"


def _log_closed(campaign: str, what: str) -> None:
    get_run_logger().warning(_closed_message(campaign, what))


def _said(summary: dict[str, Any], message: str, logged: bool = False) -> dict[str, Any]:
    """``summary`` with ``message``, the run's one-line account and its state's message.

    The line is logged at INFO unless ``logged`` already. Prefect unwraps a returned
    state: a caller, or a parent flow, gets the dict.
    """
    if not logged:
        get_run_logger().info("%s", message)
    return cast(dict[str, Any], Completed(message=message, data={**summary, MESSAGE: message}))


def _best(summary: dict[str, Any]) -> str:
    """``"14 results, best degradation 0.1234"``: the campaign's results and best so far."""
    results = f"{summary['measurements']} results"
    if summary["best"] is None:
        return f"{results}, no best yet"
    return f"{results}, best {summary['objective']} {summary['best']:.4g}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 'es' if word.endswith('ch') else 's'}"


def _propose(campaign: str, uri: str, what: str, rounds: int | None = None) -> list[Trial]:
    """The campaign's next batch, or none.

    None when the campaign was closed while the batch was planned, or (``rounds``) when
    another run brought it to that many rounds meanwhile.
    """
    try:
        return propose_batch(campaign, uri, rounds=rounds)
    except CampaignClosedError:  # the check before planning passed: an operator, meanwhile
        _log_closed(campaign, what)
        return []


def _measure_free(
    campaign: str, uri: str, oracle: LookupOracle, batch: list[Trial] | None = None
) -> int:
    """Measure with the oracle, and store, the trials no instrument holds.

    A trial an instrument claimed is the instrument's to report: the oracle's value in
    its place would be refused (``TrialStateError``), and with it every result of the
    all-or-nothing store. So only unclaimed trials are measured (see
    :meth:`agents.CampaignAgent.unclaimed`), read just before; a claim landing between
    that read and the store refuses the store, and the unclaimed trials are read and
    measured again (at most :data:`CLAIM_RACES` tries).

    Args:
        campaign: Campaign name.
        uri: MongoDB URI.
        oracle: The campaign's lookup oracle.
        batch: Only these trials (a round's batch); None for every unclaimed trial.

    Returns:
        Results stored.

    """
    wanted = None if batch is None else {trial.id for trial in batch}
    for attempt in range(1, CLAIM_RACES + 1):
        free = [t for t in unclaimed_trials(campaign, uri) if wanted is None or t.id in wanted]
        if not free:
            return 0
        try:
            return observe_results(campaign, uri, evaluate(oracle, free)).stored
        except TrialStateError:
            if attempt == CLAIM_RACES:
                raise
            get_run_logger().info(
                "an instrument claimed trials of %r while the oracle measured: "
                "measuring the unclaimed ones again",
                campaign,
            )
    raise AssertionError("unreachable")


@flow(name="campaign-round", flow_run_name="{campaign}-round")
def campaign_round(
    campaign: str, uri: str | None = None, rounds: int | None = None
) -> dict[str, Any]:
    """One round against the campaign's lookup oracle: propose a batch, measure, store.

    The first round of a fresh campaign is its random initial design. Trials left pending
    by an interrupted round are measured first. Trials an instrument claims (before or
    during the round) are left to it.

    Args:
        campaign: Campaign name (its pool must carry reference values).
        uri: MongoDB URI (default: the settings', :func:`flows.tasks.database_uri`).
        rounds: Propose only while the campaign has fewer rounds (``run_campaign``'s
            target), as counted when the batch is stored.

    Returns:
        The campaign summary (see :func:`flows.tasks.campaign_summary`) plus
        ``proposed`` (trials in this round's batch; 0 when the pool is exhausted or the
        campaign closed: the summary's ``closed``), ``stored`` (results stored this round),
        ``left_to_instruments`` (trials of the batch not measured here: an instrument
        claimed them, or a close meanwhile abandoned them), ``recovered`` (pending trials
        measured first) and ``message`` (the line the run logged).

    """
    uri = database_uri(uri)
    summary = campaign_summary(campaign, uri)
    if _skip_closed(summary, "round"):
        counts: dict[str, Any] = {
            "proposed": 0,
            "batch": None,
            "stored": 0,
            "left_to_instruments": 0,
            "recovered": 0,
        }
        return _said({**summary, **counts}, _closed_message(campaign, "round"), logged=True)
    oracle = lookup_oracle(campaign, uri)  # first: a pool it cannot answer gets no batch
    recovered = _measure_free(campaign, uri, oracle)
    trials = _propose(campaign, uri, "round", rounds)
    stored = _measure_free(campaign, uri, oracle, trials) if trials else 0
    counts = {
        "proposed": len(trials),
        "batch": trials[0].batch if trials else None,  # as stored and exported: b0003
        "stored": stored,
        "left_to_instruments": len(trials) - stored,
        "recovered": recovered,
    }
    summary = {**campaign_summary(campaign, uri), **counts}
    if (
        not trials
        and not summary["closed"]
        and not (rounds is not None and _reached(summary, rounds))
    ):
        summary["why_none"] = no_work_reason(campaign, uri)  # spent, or the model waits
    return _said(summary, _round_message(summary, rounds))


def _reached(summary: dict[str, Any], rounds: int) -> bool:
    """Whether a campaign has its initial design and ``rounds`` rounds (as ``run`` counts)."""
    return not summary["initial_left"] and summary["rounds"] >= rounds


def _why_none(result: dict[str, Any], rounds: int | None) -> str:
    """Why a round proposed nothing.

    Closed, the target reached by another run, else the campaign's reason (``why_none``:
    its budget or pool, or its model waiting).
    """
    if result["closed"]:
        return "campaign closed"
    if rounds is not None and _reached(result, rounds):
        return f"another run reached {rounds} rounds"
    return str(result.get("why_none") or "pool or budget spent")


def _round_message(result: dict[str, Any], rounds: int | None = None) -> str:
    """``"pce10 batch b0001 (round 1): proposed 4, stored 4; 14 results, best ..."``."""
    done = (
        f"{result['campaign']}: measured {result['recovered']} pending trials first; "
        if result["recovered"]
        else f"{result['campaign']}: "
    )
    if not result["proposed"]:
        return f"{done}nothing proposed ({_why_none(result, rounds)}); {_best(result)}"
    left, unmeasured = "", result["left_to_instruments"]
    if unmeasured:
        left = (
            f" ({unmeasured} not measured: the campaign was closed meanwhile)"
            if result["closed"]
            else f" ({unmeasured} left to the instruments that claimed them)"
        )
    return (
        f"{done}batch {result['batch']} (round {result['rounds']}): proposed "
        f"{result['proposed']}, stored {result['stored']}{left}; {_best(result)}"
    )


@flow(name="run-campaign", flow_run_name="{campaign}-to-{rounds}-rounds")
def run_campaign(
    campaign: str, rounds: int, uri: str | None = None, per_run: int | None = None
) -> dict[str, Any]:
    """Bring a campaign to its initial design plus ``rounds`` rounds (counted in the database).

    Resumable and idempotent: trials left pending are measured first; a campaign already
    at ``rounds`` rounds gets no new round. Stops early when the pool or budget is spent.

    Args:
        campaign: Campaign name (its pool must carry reference values).
        rounds: Target number of model-guided rounds after the initial design (>= 0).
        uri: MongoDB URI (default: the settings'). Passed on to the rounds as given, so
            a served run's subflows carry no URI either.
        per_run: At most this many batches in this run (a schedule then advances the
            campaign a step per run); None runs them all.

    Returns:
        The campaign summary plus ``target_rounds`` (``rounds``), ``batches_run``
        (batches this run added, the initial design included), ``recovered`` (pending
        trials measured first), ``closed`` (the campaign is closed: the run stopped
        there, or did nothing) and ``message`` (the line the run logged, e.g.
        ``"opv: added 1 batch, rounds now 3 of 6; 22 results, best pce 9.1"``).

    """
    refuse_redirected({"campaign": campaign, "uri": uri})
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    if per_run is not None and per_run < 1:
        raise ValueError(f"per_run must be >= 1, got {per_run}")
    settle_crashed_leftovers(deployment.id)  # what an earlier run left as it crashed
    db = database_uri(uri)
    summary = campaign_summary(campaign, db)
    if _skip_closed(summary, "run"):
        counts = {"target_rounds": rounds, "batches_run": 0, "recovered": 0}
        _pause_when_served(campaign, rounds, CLOSED_CAMPAIGN)
        return _said({**summary, **counts}, _closed_message(campaign, "run"), logged=True)
    recovered = _measure_free(campaign, db, lookup_oracle(campaign, db))
    summary = campaign_summary(campaign, db)
    run, stopped = 0, None
    while not _reached(summary, rounds) and run != per_run:
        result = campaign_round(campaign, uri, rounds)  # uri as given: None when served
        summary = {k: v for k, v in result.items() if k not in _ROUND_ONLY}
        if not result["proposed"]:
            # closed, spent or waiting (the round said why); or another run reached the
            # target meanwhile: then the summary says so, and nothing stopped this one
            if result["closed"]:
                stopped = "the campaign was closed"
            elif not _reached(summary, rounds):
                stopped = _why_none(result, rounds)
            break
        run += 1
    summary = {**summary, "target_rounds": rounds, "batches_run": run, "recovered": recovered}
    said = _said(summary, _run_message(summary, stopped))
    if deployment.id is not None and (finished := _finished(summary, rounds, stopped, db)):
        _pause_when_served(campaign, rounds, finished)
    return said


def _finished(summary: dict[str, Any], rounds: int, stopped: str | None, uri: str) -> str | None:
    """Why the campaign needs no more runs toward ``rounds``, or None while it does."""
    if summary["closed"]:
        return CLOSED_CAMPAIGN
    if _reached(summary, rounds):
        return _target_reached(summary, rounds)
    if stopped is not None and work_ended(summary["campaign"], uri):
        return stopped  # its budget or pool spent
    return None


def _pause_when_served(campaign: str, rounds: int, why: str) -> None:
    """Pause the schedule of a served run that found nothing left to do (``why``).

    Else it would come every interval to say so. A run in-process (`flows run`) has no
    schedule. Serving the campaign again (a higher ``--rounds``, a larger budget) or
    ``matloop flows resume`` resumes it; a closed campaign's stays paused. The run's
    work is stored: a pause that fails (Prefect's API) is a warning, not a failed run.
    """
    if deployment.id is None:
        return
    from flows.deployments import pause_finished  # here: that module imports this one

    try:
        paused = pause_finished(deployment.id, campaign, rounds, why)
    except Exception as error:  # the schedule runs on: its next run tries again
        get_run_logger().warning(
            "run-campaign/%s has nothing left to do (%s), but its schedule could not be "
            "paused: %s: %s",
            campaign,
            why,
            type(error).__name__,
            error,
        )
        return
    if paused:
        again = "" if why == CLOSED_CAMPAIGN else "serving it again or "  # served paused
        get_run_logger().warning(
            "run-campaign/%s: its schedule is paused (%s); %s`matloop flows resume %s` resumes it",
            campaign,
            why,
            again,
            campaign,
        )


def _run_message(result: dict[str, Any], stopped: str | None) -> str:
    """The run's account: batches added, rounds now of the target, best so far."""
    first = f"measured {result['recovered']} pending trials, " if result["recovered"] else ""
    where = f"rounds {result['rounds']} of {result['target_rounds']}"
    if result["initial_left"]:
        where += f", initial design {result['initial_left']} short"
    if not result["batches_run"] and stopped is None:
        what = f"target reached ({where}): nothing to do"
    else:
        what = f"added {_plural(result['batches_run'], 'batch')}, {where}"
        if stopped is not None:
            what += f"; stopped: {stopped}"
    return f"{result['campaign']}: {first}{what}; {_best(result)}"


@flow(name="results-reported", flow_run_name="{campaign}-results-reported")
def results_reported(
    campaign: str,
    uri: str | None = None,
    count: int = 0,
    propose: bool = True,
    rounds: int | None = None,
) -> dict[str, Any]:
    """React to instruments reporting results: retrain, then hand out the next batch.

    Meant to run from a deployment triggered by the ``matloop.results.reported`` event
    (:func:`flows.events.results_reported_triggers`). The instruments are the oracle
    here, so nothing is measured: the surrogate is retrained on all results so far (once
    there are at least 3, for a campaign with one objective; not again when a model of
    these very results is registered already), and when no trial of the campaign is
    still pending the next batch is proposed for the instruments to fetch, unless the
    campaign has reached ``rounds`` (the target ``flows serve --rounds`` gives a served
    campaign: results reported on a scheduled campaign never take it past the target
    its schedule aims for).

    Args:
        campaign: Campaign name.
        uri: MongoDB URI (default: the settings', :func:`flows.tasks.database_uri`).
        count: Results stored by the report that triggered this run (informational).
        propose: Propose the next batch when nothing is pending.
        rounds: Propose only while the campaign has fewer rounds after its initial
            design, as counted when the batch is stored (None: no target).

    Returns:
        The campaign summary plus ``reported`` (``count``), ``model_version`` (None with
        fewer than 3 results or several objectives), ``retrained`` (this run fitted it),
        ``proposed`` (trial ids handed out, possibly none), ``closed`` (a closed
        campaign: results of its running trials still retrain the model, but no batch
        is proposed) and ``message`` (the line the run logged).

    """
    refuse_redirected({"campaign": campaign, "uri": uri})
    uri = database_uri(uri)
    summary = campaign_summary(campaign, uri)
    version, retrained = None, False
    # the registry's surrogate models one objective; several still get their next batch
    if summary["measurements"] >= MIN_MEASUREMENTS and summary["objectives"] == 1:
        data = load_training_data(campaign, uri)
        # reports arriving together may queue several runs: the first fits, the rest find it
        version = trained_version(campaign, uri, data)
        if version is None:
            version, retrained = register_model(campaign, uri, fit_model(data)), True
        # read again: an instrument's claim may have proposed a batch during the fit
        summary = campaign_summary(campaign, uri)
    proposed: list[str] = []
    if propose and not _skip_closed(summary, "next batch") and summary["pending"] == 0:
        proposed, summary = _next_batch(campaign, uri, summary, rounds)
    result = {
        **summary,
        "reported": count,
        "model_version": version,
        "retrained": retrained,
        "proposed": proposed,
    }
    return _said(result, _reported_message(result, propose))


def _next_batch(
    campaign: str, uri: str, summary: dict[str, Any], rounds: int | None
) -> tuple[list[str], dict[str, Any]]:
    """Propose the next batch below ``rounds``: its trial ids, and the summary after.

    The summary says why none was proposed (``why_none``) unless the campaign is closed.
    """
    if rounds is not None and _reached(summary, rounds):
        return [], {**summary, "why_none": _target_reached(summary, rounds)}
    proposed = [str(t.id) for t in _propose(campaign, uri, "next batch", rounds)]
    summary = campaign_summary(campaign, uri)
    if not proposed and not summary["closed"]:
        if rounds is not None and _reached(summary, rounds):  # another run, meanwhile
            summary["why_none"] = _target_reached(summary, rounds)
        else:
            summary["why_none"] = no_work_reason(campaign, uri)
    return proposed, summary


def _target_reached(summary: dict[str, Any], rounds: int) -> str:
    return f"target reached: rounds {summary['rounds']} of {rounds}"


def _reported_message(result: dict[str, Any], propose: bool) -> str:
    """What a results-reported run did: the model it (re)trained, the batch it proposed."""
    if result["model_version"] is None:
        why = (
            f"{result['objectives']} objectives"
            if result["objectives"] != 1
            else f"fewer than {MIN_MEASUREMENTS} results"
        )
        model = f"no model ({why})"
    elif result["retrained"]:
        model = f"retrained {result['model_version']}"
    else:
        model = f"model {result['model_version']} already fits these results"
    if result["proposed"]:
        batch = f"proposed {len(result['proposed'])} trials"
    elif not propose:
        batch = "no batch asked for"
    elif result["closed"]:
        batch = "nothing proposed (campaign closed)"
    elif result["pending"]:
        batch = f"nothing proposed ({result['pending']} trials pending)"
    else:
        batch = f"nothing proposed ({result.get('why_none') or 'pool or budget spent'})"
    return f"{result['campaign']}: {result['reported']} results reported; {model}; {batch}"


__all__ = ["CLAIM_RACES", "MESSAGE", "campaign_round", "results_reported", "run_campaign"]
