"""The ``matloop.results.reported`` event: instruments reported results for a campaign.

The HTTP API (agents layer) must not import Prefect, so it does not emit events itself.
Emitting is optional and isolated here: matloop's wiring layer hands
:func:`emit_results_reported` to the API as a plain ``(campaign, count)`` callback::

    from flows.events import emit_results_reported   # imports prefect.events only
    app = create_app(uri, on_results=emit_results_reported)

After results are stored, the API calls ``on_results(campaign, stored)``. With no Prefect
API configured (``PREFECT_API_URL`` unset) the call does nothing and returns None, so a
lab without Prefect loses nothing; it never raises for Prefect being down either
(events are queued and sent in the background by Prefect's events worker).

A deployment of :func:`flows.campaigns.results_reported` carrying
:func:`results_reported_triggers` runs when results come in (``matloop flows serve`` sets
this up), debounced: a burst of reports (ten results posted one by one) makes at most
two runs, not one each. The first report starts a run at once, and further reports in
the same window of :data:`SETTLE_SECONDS` start none; once reports have stopped for
:data:`SETTLE_SECONDS`, one more run covers those the first run did not see. A steady
stream of reports gets at most one run per window (Prefect's windows follow one another,
so two runs may start close together across a window's end).

An event that never reaches Prefect (the server was down: Prefect's events worker logs
that event data may be lost) loses no result: results are stored before the event is
emitted, and every run, proposal and fit reads all of them from the database, so the
next event, scheduled round or ``train-surrogate`` run catches up.

This module imports nothing from the loop (no torch, no database).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from prefect.events import DeploymentEventTrigger, emit_event
from prefect.events.schemas.automations import Posture
from prefect.settings import PREFECT_API_URL

RESULTS_REPORTED = "matloop.results.reported"
"""Event name: results for a campaign were stored."""

RESOURCE_PREFIX = "matloop.campaign."
"""Event resources are ``matloop.campaign.<campaign name>``."""

SETTLE_SECONDS = 30.0
"""Debounce window of the results-reported triggers, in seconds (>= 10, Prefect's least
for the trailing trigger)."""


def campaign_resource(campaign: str) -> dict[str, str]:
    """The Prefect event resource that stands for a campaign."""
    return {
        "prefect.resource.id": f"{RESOURCE_PREFIX}{campaign}",
        "prefect.resource.name": campaign,
        "matloop.campaign": campaign,
    }


def emit_results_reported(campaign: str, count: int) -> str | None:
    """Tell Prefect that ``count`` new results were stored for ``campaign``.

    Args:
        campaign: Campaign name.
        count: Number of results newly stored (repeats excluded).

    Events go out in the background through Prefect's events worker, one per process,
    bound to the API URL that was configured when it first sent.

    Returns:
        The event id, or None when nothing was sent (no Prefect API configured, or
        Prefect's events worker refused it; failures are logged, never raised).

    """
    if not PREFECT_API_URL.value():
        return None  # otherwise Prefect would start a throw-away ephemeral server
    event = emit_event(
        RESULTS_REPORTED,
        resource=campaign_resource(campaign),
        payload={"campaign": campaign, "count": int(count)},
    )
    return None if event is None else str(event.id)


def results_reported_triggers(
    campaign: str | None = None, settle: float = SETTLE_SECONDS
) -> tuple[DeploymentEventTrigger, DeploymentEventTrigger]:
    """Deployment triggers that run the deployment once per burst of results reports.

    Both count events per campaign (``for_each`` resource), so one campaign's reports
    never hold back another's run under the wildcard.

    - ``first``: reactive, fires on a report unless it fired already in the current
      ``settle``-second window (a report there is dropped, not deferred; windows follow
      one another, so two runs may start close together across a window's end).
    - ``settled``: proactive, fires ``settle`` seconds after a report when no other report
      came in meanwhile (each report restarts the wait): the run that sees the burst's
      last results.

    The flow run gets ``campaign`` and ``count`` (that of the report that fired it; for
    ``settled`` usually the burst's last, though a server that receives the burst out of
    order may pass another of its reports: the count is informational, every run reads
    all results from the database) from the event; other parameters (the round target)
    come from the deployment's, and the database URI from the settings of the process
    that runs the flow.

    Args:
        campaign: Only this campaign's events; None for every campaign.
        settle: The debounce window, in seconds (>= 10).

    Raises:
        ValueError: with ``settle < 10``.

    """
    if settle < 10:
        raise ValueError(f"settle must be >= 10 seconds (Prefect's least), got {settle}")
    resource = f"{RESOURCE_PREFIX}{campaign}" if campaign is not None else f"{RESOURCE_PREFIX}*"
    who = campaign or "any campaign"
    first = _trigger(
        resource,
        settle,
        name=f"results reported: {who}",
        description=(
            "Retrain and propose when instruments report results "
            f"(at most one run per {settle:g} s)."
        ),
        posture=Posture.Reactive,
    )
    settled = _trigger(
        resource,
        settle,
        name=f"results settled: {who}",
        description=f"Retrain and propose once reports have stopped for {settle:g} s.",
        posture=Posture.Proactive,
        after={RESULTS_REPORTED},  # each report starts the wait again
    )
    return first, settled


def _trigger(
    resource: str,
    settle: float,
    name: str,
    description: str,
    posture: Literal[Posture.Reactive, Posture.Proactive],
    after: set[str] | None = None,
) -> DeploymentEventTrigger:
    """A per-campaign trigger on results-reported events within ``settle`` seconds."""
    return DeploymentEventTrigger(
        name=name,
        description=description,
        match={"prefect.resource.id": resource},
        for_each={"prefect.resource.id"},
        after=after or set(),
        expect={RESULTS_REPORTED},
        posture=posture,
        threshold=1,
        within=timedelta(seconds=settle),
        parameters={
            "campaign": "{{ event.payload.campaign }}",
            "count": "{{ event.payload.count }}",
        },
    )


__all__ = [
    "RESOURCE_PREFIX",
    "RESULTS_REPORTED",
    "SETTLE_SECONDS",
    "campaign_resource",
    "emit_results_reported",
    "results_reported_triggers",
]
