"""Training a campaign's surrogate on its measurements, with cross-validation diagnostics.

The model is the one the plain ``gp`` planner fits when it proposes (same encoding, bounds,
sign convention, training-data hash and fit: no input or outcome warp, no prior), so a
model trained here on some data and the model such a proposal on the same data reports are
one registry version, which gains the cross-validation metrics. A proposal that fits
another model (``gp+iwarp``, ``gp+warp``, a prior, another surrogate) registers a version
of its own (:func:`agents.campaign.fit_settings`), never this one.

Three steps, each usable on its own (the Prefect flows run them as separate tasks so that
only the database steps retry):

1. :func:`training_data` reads the completed trials (database).
2. :func:`fit_surrogate` fits the GP and scores its leave-one-out predictions (computation).
3. ``store.save_model`` registers the artifact (database, idempotent by data and fit).

:func:`train_surrogate` runs all three.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.campaign import CampaignAgent, fit_settings, trial_lineage
from db import CampaignStore
from db.models import FIT_METRIC
from discovery.diagnostics import calibration, loo_predictions
from discovery.domain import ModelArtifact
from discovery.planners import GPPlanner, fitted_outcomes, with_scale
from discovery.surrogates import (
    DTYPE,
    conditioned_rows,
    data_hash,
    device,
    fit_gp,
    gp_artifact,
    routine_warnings_silenced,
)

CPU = torch.device("cpu")

MIN_MEASUREMENTS = 3
"""Fewest completed measurements a surrogate is trained on (leave-one-out needs n - 1 >= 2)."""


@dataclass(frozen=True)
class TrainingData:
    """A campaign's completed measurements, encoded as the ``gp`` planner encodes them.

    Attributes:
        campaign: Campaign name.
        objective: Name of the objective modelled (the campaign's only objective).
        sign: +1 to maximise, -1 to minimise; the model is fitted to ``sign * y``.
        X: ``n x d`` encoded inputs of completed trials, in proposal order.
        y: ``n`` measured values in the objective's original units.
        bounds: ``2 x d`` bounds of the encoded space (the pool's extent for a pool).
        trials: ``n`` trial ids, aligned with the rows of ``X``.
        seed: The campaign's seed (fitting is deterministic given the data and seed).

    """

    campaign: str
    objective: str
    sign: float
    X: np.ndarray
    y: np.ndarray
    bounds: np.ndarray
    trials: tuple[str, ...]
    seed: int = 0

    def __len__(self) -> int:
        return int(self.y.shape[0])


def training_data(store: CampaignStore, campaign_name: str) -> TrainingData:
    """Read a campaign's completed measurements for surrogate training.

    Args:
        store: A connected campaign store.
        campaign_name: The campaign.

    Raises:
        CampaignNotFoundError: if there is no such campaign.
        ValueError: if the campaign has more than one objective, or fewer than
            :data:`MIN_MEASUREMENTS` completed measurements.

    """
    agent = CampaignAgent(store, campaign_name)
    campaign = agent.campaign
    if len(campaign.objectives) != 1:
        raise ValueError(
            f"campaign {campaign_name!r}: the gp surrogate models one objective; this campaign "
            f"has {len(campaign.objectives)} ({campaign.objective_names})"
        )
    objective = campaign.objectives[0]
    observed = agent.observations()
    if len(observed) < MIN_MEASUREMENTS:
        raise ValueError(
            f"campaign {campaign_name!r} has {len(observed)} completed measurement(s); "
            f"training a surrogate needs at least {MIN_MEASUREMENTS}"
        )
    space = campaign.space
    candidates = store.candidates(campaign_name) if campaign.pool_size else []
    if candidates:  # as the gp planner: a pool's own extent, else the space's bounds
        pool = space.encode([c.parameters for c in candidates])
        bounds = np.stack([pool.min(axis=0), pool.max(axis=0)])
    else:
        bounds = space.bounds()
    return TrainingData(
        campaign=campaign_name,
        objective=objective.name,
        sign=objective.direction.sign,
        X=space.encode([o.trial.parameters for o in observed]),
        y=np.array([o.measurement.values[objective.name] for o in observed], dtype=float),
        bounds=bounds,
        trials=tuple(str(o.trial.id) for o in observed),
        seed=campaign.settings.seed,
    )


def fit_surrogate(data: TrainingData) -> ModelArtifact:
    """Fit the campaign's GP and attach leave-one-out diagnostics to its metrics.

    Trains on ``cuda`` when present, else on the CPU; the stored weights are CPU tensors.

    Leave-one-out predictions are the closed form of
    :func:`discovery.diagnostics.loo_predictions` (no refits), over the results the GP
    conditions on: every one, up to :data:`~discovery.surrogates.EXACT_ROWS`
    (:func:`~discovery.surrogates.fit_gp`). As the planner, the GP is fitted to the
    objective divided by its fitting scale (:func:`discovery.planners.fitted_outcomes`),
    so that an objective of order 1e-12 is not lost under GPyTorch's absolute noise
    floors; the artifact then notes
    ``objective_scale`` as the planner's does, and its ``noise`` is in the fitted units.
    Metrics added to those of :func:`discovery.surrogates.gp_artifact`, all in the
    objective's original units and sign:

    - ``fit``: how the model was fitted, as the plain ``gp`` planner describes its own
      (:func:`fit_settings`): part of the registry version.
    - ``train_trials``, ``train_trials_hash``: the trials it was trained on
      (:func:`agents.campaign.trial_lineage`), as a proposal's model records them.
    - ``objective``: the objective modelled; ``cv``: ``"loo"``.
    - ``cv_mae``, ``cv_rmse``: mean absolute and root-mean-square leave-one-out error.
    - ``cv_coverage_95``, ``cv_miscalibration_area``, ``cv_spearman``: calibration of the
      leave-one-out intervals (:func:`discovery.diagnostics.calibration`; spearman None
      when undefined).
    - ``cv_trials``, ``cv_measured``, ``cv_predicted``, ``cv_std``: per measurement the
      GP conditions on (in proposal order), the trial, its measured value, its
      leave-one-out prediction and predictive standard deviation (for a parity plot).

    Args:
        data: The campaign's encoded measurements (see :func:`training_data`).

    Returns:
        The artifact, ready for ``store.save_model``.

    """
    if len(data) < MIN_MEASUREMENTS:
        raise ValueError(
            f"training a surrogate needs at least {MIN_MEASUREMENTS} measurements, got {len(data)}"
        )
    where = device()
    devices = [where.index or 0] if where.type == "cuda" else []
    train_X, train_Y, scale = _tensors(data, where)
    bounds = torch.as_tensor(data.bounds, dtype=DTYPE, device=where)
    with torch.random.fork_rng(devices=devices), routine_warnings_silenced():
        torch.manual_seed(data.seed)
        model = fit_gp(train_X, train_Y, bounds)
        loo = loo_predictions(model).rescaled(data.sign * float(scale[0]))  # user's units
    artifact = with_scale(gp_artifact(model, train_X, train_Y), "objective_scale", scale)
    # leave-one-out over the results the GP conditions on (all, up to EXACT_ROWS)
    kept = conditioned_rows(train_Y).numpy()
    measured, trials = data.y[kept], [data.trials[i] for i in kept]
    quality = calibration(measured, loo.mean, loo.std)
    metrics: dict[str, Any] = {
        **artifact.metrics,
        FIT_METRIC: _fit(data),
        **trial_lineage(data.trials),
        "objective": data.objective,
        "cv": "loo",
        "cv_mae": quality.mae,
        "cv_rmse": quality.rmse,
        "cv_coverage_95": quality.coverage_95,
        "cv_miscalibration_area": quality.miscalibration_area,
        "cv_spearman": None if math.isnan(quality.spearman) else quality.spearman,
        "cv_trials": trials,
        "cv_measured": [float(v) for v in measured],
        "cv_predicted": [float(v) for v in loo.mean],
        "cv_std": [float(v) for v in loo.std],
    }
    return dataclasses.replace(artifact, metrics=metrics)


def _tensors(
    data: TrainingData, where: torch.device
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """What the ``gp`` planner fits on the same data (same values, so the same data hash).

    Returns:
        ``n x d`` inputs, ``n x 1`` targets (larger is better, divided by their fitting
        scale) and that scale, shape ``1`` (:func:`discovery.planners.fitted_outcomes`).
    """
    fitted, scale = fitted_outcomes(data.sign * data.y[:, None], warp=False)
    train_X = torch.as_tensor(data.X, dtype=DTYPE, device=where)
    train_Y = torch.as_tensor(fitted, dtype=DTYPE, device=where)
    return train_X, train_Y, scale


def _fit(data: TrainingData) -> dict[str, Any]:
    """How :func:`fit_surrogate` fits: as the plain ``gp`` planner, so both name one model."""
    return fit_settings(GPPlanner(), data.seed)


def trained_version(store: CampaignStore, data: TrainingData) -> str | None:
    """The version :func:`fit_surrogate` would register for ``data``, if it already did.

    Lets a retraining triggered by every report skip a fit whose model, cross-validation
    included, is already registered (results that arrived together trigger one fit each).
    """
    train_X, train_Y, _ = _tensors(data, CPU)
    version = store.model_version(data.campaign, "gp", data_hash(train_X, train_Y), _fit(data))
    return version if store.has_model(version, "cv_mae") else None


def train_surrogate(store: CampaignStore, campaign_name: str) -> str:
    """Fit a campaign's GP on its completed measurements and register it.

    Example:
        >>> version = train_surrogate(CampaignStore(), "photo-pce10")
        >>> CampaignStore().load_model(version).metrics["cv_rmse"]

    Args:
        store: A connected campaign store.
        campaign_name: The campaign.

    Returns:
        The registered model version (``campaign:gp:<digest>``, of the data and the fit,
        :meth:`db.CampaignStore.model_version`); the same data give the same version,
        which a ``gp`` proposal on them names too.

    Raises:
        CampaignNotFoundError: if there is no such campaign.
        ValueError: with fewer than :data:`MIN_MEASUREMENTS` completed measurements, or
            more than one objective.

    """
    return store.save_model(campaign_name, fit_surrogate(training_data(store, campaign_name)))


__all__ = [
    "MIN_MEASUREMENTS",
    "TrainingData",
    "fit_surrogate",
    "train_surrogate",
    "training_data",
]
