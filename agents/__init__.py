"""The loop: campaign agent (ask/tell), oracles, the run loop and strategy comparisons.

May import ``db`` and the science packages; never Prefect.
"""

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
