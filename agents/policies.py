"""Learned acquisition policies in the model registry: train, register, load as a planner.

A policy is registered under ``policy:rl-policy:{hash}``, the hash being that of its
training configuration (the tasks are generated from it), so training the same
configuration twice registers once. Campaigns select it as strategy ``rl:VERSION``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from db.models import (
    describe_model_record,
    load_model_record,
    model_version,
    save_model_record,
)
from discovery.domain import ModelArtifact
from discovery.planners import PolicyPlanner
from discovery.policy import (
    AcquisitionPolicy,
    PolicyTrainingConfig,
    TrainedPolicy,
    expected_improvement_scores,
    held_out_regret,
    train_policy,
)

KIND = "rl-policy"
PREFIX = "policy"
STRATEGY_PREFIX = "rl:"


def config_hash(config: PolicyTrainingConfig) -> str:
    """SHA-256 of a training configuration (what determines the trained policy)."""
    return hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()


def policy_version(config: PolicyTrainingConfig) -> str:
    """The version a policy trained with ``config`` is registered under."""
    return model_version(ModelArtifact(KIND, config_hash(config), {}, b""), PREFIX)


def registered_policy(config: PolicyTrainingConfig) -> dict[str, Any] | None:
    """The registry's record of the policy trained with ``config`` (no weights), or None.

    Training it again would be wasted: the same configuration trains the same policy.
    """
    try:
        return describe_model_record(policy_version(config))
    except LookupError:
        return None


def register_policy(trained: TrainedPolicy) -> str:
    """Store a trained policy with its training curve and held-out comparison.

    The version names the configuration, so that a registered one is not trained again;
    ``weights_sha256`` tells apart the weights two machines (or two versions of the
    code) trained from it.

    Returns:
        Its version, ``policy:rl-policy:{config hash[:12]}``.
    """
    weights = trained.policy.to_bytes()
    metrics = trained.metrics() | {
        "held_out_regret": held_out_regret(trained.policy, trained.config),
        "held_out_regret_ei": held_out_regret(expected_improvement_scores, trained.config),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    artifact = ModelArtifact(KIND, config_hash(trained.config), metrics, weights)
    return save_model_record(artifact, PREFIX)


def train_and_register(config: PolicyTrainingConfig, progress: bool = False) -> str:
    """:func:`train_policy` then :func:`register_policy`; returns the version."""
    return register_policy(train_policy(config, progress))


def load_policy(version: str) -> tuple[AcquisitionPolicy, int]:
    """A registered policy and the horizon it was trained for.

    Raises:
        LookupError: if no model has that version.
        ValueError: if the version is not an acquisition policy.
    """
    artifact = load_model_record(version)
    if artifact.kind != KIND:
        raise ValueError(f"model {version!r} is a {artifact.kind}, not an acquisition policy")
    horizon = int(dict(artifact.metrics).get("config", {}).get("horizon", 30))
    return AcquisitionPolicy.from_bytes(artifact.weights), horizon


def policy_planner(strategy: str) -> PolicyPlanner:
    """The planner of strategy ``rl:VERSION``, its policy read from the registry."""
    version = strategy.removeprefix(STRATEGY_PREFIX)
    policy, horizon = load_policy(version)
    return PolicyPlanner(policy, version, horizon)
