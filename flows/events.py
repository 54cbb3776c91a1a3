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
:func:`results_reported_trigger` runs once per event (``matloop flows serve`` sets this up).

This module imports nothing from the loop (no torch, no database).
"""

from __future__ import annotations

from prefect.events import DeploymentEventTrigger, emit_event
from prefect.settings import PREFECT_API_URL

RESULTS_REPORTED = "matloop.results.reported"
"""Event name: results for a campaign were stored."""

RESOURCE_PREFIX = "matloop.campaign."
"""Event resources are ``matloop.campaign.<campaign name>``."""


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


def results_reported_trigger(campaign: str | None = None) -> DeploymentEventTrigger:
    """A deployment trigger that runs the deployment once per results-reported event.

    The flow run gets ``campaign`` and ``count`` from the event; other parameters (the
    database URI) come from the deployment's defaults.

    Args:
        campaign: Only this campaign's events; None for every campaign.

    """
    resource = f"{RESOURCE_PREFIX}{campaign}" if campaign is not None else f"{RESOURCE_PREFIX}*"
    return DeploymentEventTrigger(
        name=f"results reported: {campaign or 'any campaign'}",
        description="Retrain and propose when instruments report results.",
        expect={RESULTS_REPORTED},
        match={"prefect.resource.id": resource},
        parameters={
            "campaign": "{{ event.payload.campaign }}",
            "count": "{{ event.payload.count }}",
        },
    )


__all__ = [
    "RESOURCE_PREFIX",
    "RESULTS_REPORTED",
    "campaign_resource",
    "emit_results_reported",
    "results_reported_trigger",
]
