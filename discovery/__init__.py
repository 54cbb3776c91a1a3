"""Science of the loop: search spaces, data sets, surrogates, acquisition, planners, metrics.

Pure computation on arrays, tensors and pymatgen objects: no database, Prefect or HTTP.
Submodules load lazily, so ``discovery.spaces`` and ``discovery.domain`` stay free of torch
(the storage layer imports them).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Campaign": "domain",
    "CampaignSettings": "domain",
    "Candidate": "domain",
    "Direction": "domain",
    "Measurement": "domain",
    "ModelArtifact": "domain",
    "Objective": "domain",
    "RECOMMENDED_STRATEGY": "domain",
    "Trial": "domain",
    "TrialStatus": "domain",
    "CategoricalParameter": "spaces",
    "ContinuousParameter": "spaces",
    "SearchSpace": "spaces",
    "SimplexConstraint": "spaces",
    "Calibration": "diagnostics",
    "LeaveOneOut": "diagnostics",
    "calibration": "diagnostics",
    "loo_predictions": "diagnostics",
    "PoolDataset": "datasets",
    "load_csv": "datasets",
    "load_olympus": "datasets",
    "GPPlanner": "planners",
    "Plan": "planners",
    "PlanningProblem": "planners",
    "RandomPlanner": "planners",
    "Suggestion": "planners",
    "make_planner": "planners",
    # extension points: a surrogate or an acquisition of one's own (also by entry point)
    "SurrogateInputs": "campaign_models",
    "SurrogateSpec": "campaign_models",
    "register_surrogate": "campaign_models",
    "AcquisitionInputs": "acquisition",
    "register_acquisition": "acquisition",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'discovery' has no attribute {name!r}")
    return getattr(importlib.import_module(f"discovery.{_EXPORTS[name]}"), name)
