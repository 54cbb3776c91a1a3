"""The loop: campaign agent (ask/tell), oracles, the run loop and strategy comparisons.

May import ``db`` and the science packages; never Prefect. Names are read from their
modules when first used: a command that lists campaigns (``agents.serialize``) then
loads no BoTorch, which ``agents.campaign`` does (seconds on a busy machine).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.campaign import (
        CampaignAgent,
        CampaignStatus,
        Efficiency,
        Observation,
        ObserveReport,
        pareto_front,
    )
    from agents.oracles import LookupOracle, Oracle
    from agents.runner import (
        RoundReport,
        RunOutcome,
        StrategySummary,
        compare_strategies,
        run,
        summarize,
    )

#: Each exported name and the module that defines it.
_HOMES = {
    **dict.fromkeys(
        ("CampaignAgent", "CampaignStatus", "Efficiency", "Observation", "ObserveReport",
         "pareto_front"),
        "agents.campaign",
    ),
    **dict.fromkeys(("LookupOracle", "Oracle"), "agents.oracles"),
    **dict.fromkeys(
        ("RoundReport", "RunOutcome", "StrategySummary", "compare_strategies", "run",
         "summarize"),
        "agents.runner",
    ),
}  # fmt: skip

__all__ = [
    "CampaignAgent",
    "CampaignStatus",
    "Efficiency",
    "LookupOracle",
    "Observation",
    "ObserveReport",
    "Oracle",
    "RoundReport",
    "RunOutcome",
    "StrategySummary",
    "compare_strategies",
    "pareto_front",
    "run",
    "summarize",
]


def __getattr__(name: str) -> Any:
    """An exported name, read from its module on first use (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
