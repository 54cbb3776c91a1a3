"""Learned acquisition policies in the model registry: train, register, load as a planner.

A policy is registered under ``policy:rl-policy:{hash}``, the hash being that of its
training configuration (the tasks are generated from it) and of the development pools it
trained on, if any, so training the same configuration twice registers once. Campaigns
select it as strategy ``rl:VERSION``, VERSION in full or shortened to its hash or the
start of it (``rl:3f2a9c``); the campaign stores it in full.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from db.models import (
    describe_model_record,
    list_model_records,
    load_model_record,
    model_version,
    save_model_record,
)
from discovery.domain import ModelArtifact
from discovery.planners import PolicyPlanner
from discovery.policy import (
    POOL_SHARE,
    AcquisitionPolicy,
    PolicyTrainingConfig,
    TrainedPolicy,
    TrainingPool,
    expected_improvement_scores,
    held_out_regret,
    train_policy,
    training_digest,
)

KIND = "rl-policy"
PREFIX = "policy"
STRATEGY_PREFIX = "rl:"


def policy_version(
    config: PolicyTrainingConfig, pools: Sequence[TrainingPool] = (), pool_share: float = POOL_SHARE
) -> str:
    """The version a policy trained with ``config`` (and ``pools``) is registered under."""
    digest = training_digest(config, pools, pool_share)
    return model_version(ModelArtifact(KIND, digest, {}, b""), PREFIX)


def registered_policy(
    config: PolicyTrainingConfig, pools: Sequence[TrainingPool] = (), pool_share: float = POOL_SHARE
) -> dict[str, Any] | None:
    """The registry's record of the policy trained so (no weights), or None.

    Training it again would be wasted: the same configuration and pools train the same
    policy.
    """
    try:
        return describe_model_record(policy_version(config, pools, pool_share))
    except LookupError:
        return None


def register_policy(trained: TrainedPolicy) -> str:
    """Store a trained policy with its training curve and held-out comparison.

    The version names the configuration, so that a registered one is not trained again;
    ``weights_sha256`` tells apart the weights two machines (or two versions of the
    code) trained from it.

    Returns:
        Its version, ``policy:rl-policy:{tasks digest[:12]}``.
    """
    weights = trained.policy.to_bytes()
    metrics = trained.metrics() | {
        "held_out_regret": held_out_regret(trained.policy, trained.config),
        "held_out_regret_ei": held_out_regret(expected_improvement_scores, trained.config),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    artifact = ModelArtifact(KIND, trained.tasks_digest(), metrics, weights)
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


#: The shortest start of a policy's hash that names it (as ``git`` takes a commit's).
MIN_HASH_PREFIX = 4


def full_policy_version(version: str) -> str:
    """A policy's registry version from its version, its hash or the start of its hash.

    ``policy:rl-policy:3f2a9c0d1e2b``, ``rl-policy:3f2a9c0d1e2b``, ``3f2a9c0d1e2b`` and
    ``3f2a`` name the same policy while no other policy's hash starts so. A version that
    is registered, of any kind, is returned as it is (:func:`load_policy` then says what
    it is).

    Raises:
        LookupError: for no such policy, or a start that several policies' hashes share
            (naming them).
    """
    try:
        return str(describe_model_record(version)["version"])
    except LookupError:
        pass
    short = version.lower().removeprefix(f"{PREFIX}:").removeprefix(f"{KIND}:")
    versions = [str(row["version"]) for row in list_model_records(KIND)]
    found = [
        v
        for v in versions
        if len(short) >= MIN_HASH_PREFIX and v.rpartition(":")[2].startswith(short)
    ]
    if len(found) == 1:
        return found[0]
    if found:
        raise LookupError(
            f"policy {version!r} is the start of {len(found)} policies' versions "
            f"({', '.join(found)}): give more of it"
        )
    raise LookupError(
        f"no model version {version!r}: see `matloop model list --kind {KIND}` "
        f"({len(versions)} policies registered)"
    )


def policy_planner(strategy: str) -> PolicyPlanner:
    """The planner of strategy ``rl:VERSION``, its policy read from the registry.

    VERSION may be shortened (:func:`full_policy_version`); the planner's name, which
    trials and campaigns record, has it in full.
    """
    version = full_policy_version(strategy.removeprefix(STRATEGY_PREFIX))
    policy, horizon = load_policy(version)
    return PolicyPlanner(policy, version, horizon)
