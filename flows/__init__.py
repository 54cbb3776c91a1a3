"""Prefect flows that schedule and run matloop's steps.

Orchestration only: the logic lives in agents/, db/, discovery/ and literature/.
Submodules load lazily, so ``flows.events`` (what the HTTP wiring needs to emit
events) imports Prefect's events client without torch, Dask or the database.

Flows: ``campaign_round``, ``run_campaign``, ``results_reported`` (:mod:`flows.campaigns`);
``train_surrogate``, ``train_many`` (:mod:`flows.training`); ``ingest_literature``,
``train_tagger`` (:mod:`flows.ingestion`). Deployments: :mod:`flows.deployments`.
Events: :mod:`flows.events`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "campaign_round": "campaigns",
    "results_reported": "campaigns",
    "run_campaign": "campaigns",
    "train_many": "training",
    "train_surrogate": "training",
    "dask_task_runner": "training",
    "ingest_literature": "ingestion",
    "train_tagger": "ingestion",
    "campaign_deployments": "deployments",
    "literature_deployment": "deployments",
    "serve_literature": "deployments",
    "serve_campaign": "deployments",
    "catch_up": "deployments",
    "RESULTS_REPORTED": "events",
    "emit_results_reported": "events",
    "results_reported_triggers": "events",
    "SETTLE_SECONDS": "events",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'flows' has no attribute {name!r}")
    return getattr(importlib.import_module(f"flows.{_EXPORTS[name]}"), name)
