"""Surrogates fitted inside a campaign, by name (:data:`SURROGATES`).

``gp`` is BoTorch's ``SingleTaskGP``; ``bayesgp`` is the GP with its hyperparameters
integrated out by NUTS (:func:`discovery.surrogates.fit_bayesian_gp`); ``ensemble``,
``gnn`` and ``transformer`` are deep ensembles.

A campaign hands its planner encoded arrays. How a surrogate reads them depends on the
space:

* a composition space (continuous parameters named by element symbols, tied by a simplex
  constraint, from ``load_csv(..., composition=...)``) is read as chemistry: the ensemble
  sees the Magpie-style descriptors of each composition, the GNN its element graph, the
  transformer its elements as tokens;
* a mixture space (a simplex over named components, such as the polymer blends of
  ``photo_pce10``) gives the GNN one node per component with a learned embedding;
* any other space gives the ensemble the parameters scaled to ``[0, 1]``; the GNN refuses,
  and the transformer (which reads element descriptors) refuses all but compositions.

Ensembles train on the measurements with a seeded fifth held out for early stopping and
recalibration, so that a round of a campaign is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from botorch.models.model import Model
from pymatgen.core.periodic_table import Element

from discovery.compositions import element_fractions
from discovery.domain import ModelArtifact
from discovery.ensembles import (
    Ensemble,
    EnsembleModel,
    FeatureInputs,
    TrainingConfig,
    train_ensemble,
)
from discovery.featurizers import (
    CompositionBatch,
    composition_features,
    featurizer_version,
    fractions_to_batch,
)
from discovery.spaces import SearchSpace
from discovery.surrogates import data_hash, fit_bayesian_gp, fit_gp, gp_artifact

#: Surrogates a campaign can use, by name.
SURROGATES: tuple[str, ...] = ("gp", "bayesgp", "ensemble", "gnn", "transformer")

#: Surrogates that are exact GPs: they warp inputs and condition on believed outcomes.
GAUSSIAN_PROCESSES: tuple[str, ...] = ("gp", "bayesgp")

#: The ensemble member each element-set surrogate trains.
_SET_MEMBERS = {"gnn": "roost", "transformer": "transformer"}

#: Peak learning rate on a campaign's few measurements (others: 3e-3). Attention needed a
#: lower rate than the MLPs on the property sets (``LEARNING_RATES``); not tuned on campaigns.
_LEARNING_RATES = {"transformer": 1e-3}

#: Most components with a non-zero fraction that one composition may have.
MAX_COMPONENTS = 12


@dataclass(frozen=True)
class _Components:
    """The simplex columns a GNN or composition featurizer reads, and what they are."""

    columns: list[int]
    ids: torch.Tensor  # atomic numbers, or component ids 1..E
    elements: bool


def _components(space: SearchSpace) -> _Components | None:
    """The columns a composition model reads, and whether they are elements.

    The element-fraction simplex (:func:`~discovery.compositions.element_fractions`) as
    elements, else the first simplex as mixture components.
    """
    if not space.simplex:
        return None
    symbols = element_fractions(space)
    if symbols is not None:
        columns = [space.columns.index(n) for n in symbols]
        return _Components(columns, torch.tensor([Element(n).Z for n in symbols]), True)
    names = list(space.simplex[0].names)
    columns = [space.columns.index(n) for n in names]
    return _Components(columns, torch.arange(1, len(names) + 1), False)


def _encoder(
    surrogate: str, space: SearchSpace, bounds: torch.Tensor
) -> tuple[Callable[[torch.Tensor], Any], dict[str, Any], str | None]:
    """How the surrogate reads encoded inputs: encode function, member kwargs, featurizer."""
    parts = _components(space)
    k = min(len(parts.columns), MAX_COMPONENTS) if parts is not None else 0
    if surrogate in _SET_MEMBERS:
        if surrogate == "gnn" and parts is None:
            raise ValueError(
                "the gnn surrogate needs a composition or mixture space (a simplex "
                "constraint); use gp or ensemble for this campaign"
            )
        if surrogate == "transformer" and (parts is None or not parts.elements):
            raise ValueError(
                "the transformer surrogate needs a composition space (element symbols as "
                "simplex columns); use gnn for mixtures, gp or ensemble otherwise"
            )
        assert parts is not None

        def element_sets(X: torch.Tensor) -> CompositionBatch:
            return fractions_to_batch(X[..., parts.columns], parts.ids, k)

        if surrogate == "transformer":  # small: a campaign has 10-1000 measurements, not 10^4
            args = {"width": 64, "n_layers": 2, "feedforward": 128, "head": (64, 32)}
            return element_sets, args, featurizer_version()
        args = {"hidden": 64, "n_layers": 2}
        if not parts.elements:
            args |= {"n_components": len(parts.columns) + 1, "element_descriptors": False}
        return element_sets, args, featurizer_version() if parts.elements else "mixture-graph"
    if parts is not None and parts.elements:

        def descriptors(X: torch.Tensor) -> torch.Tensor:
            return composition_features(fractions_to_batch(X[..., parts.columns], parts.ids, k))

        return descriptors, {"hidden": 64, "depth": 2}, featurizer_version()
    lower, width = bounds[0], (bounds[1] - bounds[0]).clamp_min(1e-12)

    def scaled(X: torch.Tensor) -> torch.Tensor:
        return ((X - lower.to(X)) / width.to(X)).float()

    return scaled, {"hidden": 64, "depth": 2}, None


def fit_surrogate(
    surrogate: str,
    space: SearchSpace,
    train_X: torch.Tensor,
    train_Y: torch.Tensor,
    bounds: torch.Tensor,
    seed: int,
    input_warp: bool = False,
) -> tuple[Model, ModelArtifact]:
    """Fit a campaign surrogate and describe it for the model registry.

    Args:
        surrogate: A name in :data:`SURROGATES`.
        space: The campaign's search space (decides how inputs are read).
        train_X: ``n x d`` encoded inputs of the measurements.
        train_Y: ``n x 1`` targets, oriented so that larger is better.
        bounds: ``2 x d`` bounds of the encoded inputs.
        seed: Seed of the round (members, batch order, validation split, NUTS).
        input_warp: Kumaraswamy input warping (GPs only, see
            :func:`discovery.surrogates.build_gp`).

    Returns:
        The fitted BoTorch model and its registry artifact.

    Raises:
        ValueError: for an unknown surrogate, a GNN on a space without a simplex, a
            transformer on a space that is not a composition space, or input warping
            on a network surrogate.

    """
    if surrogate not in SURROGATES:
        raise ValueError(f"unknown surrogate {surrogate!r}; choose from {list(SURROGATES)}")
    if input_warp and surrogate not in GAUSSIAN_PROCESSES:
        raise ValueError(
            f"input warping (iwarp) needs a GP surrogate {GAUSSIAN_PROCESSES}, not {surrogate}"
        )
    if surrogate == "gp":
        gp = fit_gp(train_X, train_Y, bounds, input_warp)
        return gp, gp_artifact(gp, train_X, train_Y)
    if surrogate == "bayesgp":
        bayesian = fit_bayesian_gp(train_X, train_Y, bounds, input_warp, seed)
        return bayesian, gp_artifact(bayesian, train_X, train_Y)
    encode, args, featurizer = _encoder(surrogate, space, bounds)
    ensemble = _train(surrogate, encode, args, train_X, train_Y[:, 0], seed)
    model = EnsembleModel(ensemble, encode)
    metrics = {
        "n_train": int(train_X.shape[0]),
        "recalibration_scale": ensemble.scale,
        "members": ensemble.history,
    }
    artifact = ModelArtifact(
        surrogate,
        data_hash(train_X, train_Y),
        metrics,
        ensemble.to_bytes(),
        featurizer_version=featurizer,
    )
    return model, artifact


def _train(
    surrogate: str,
    encode: Callable[[torch.Tensor], Any],
    args: dict[str, Any],
    X: torch.Tensor,
    y: torch.Tensor,
    seed: int,
) -> Ensemble:
    n = X.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(2, round(0.2 * n)), n - 1)
    val, train = order[:n_val], order[n_val:]
    y_np = y.detach().cpu().numpy()
    config = TrainingConfig(
        n_members=5,
        epochs=100,
        patience=20,
        batch_size=min(32, len(train)),
        lr=_LEARNING_RATES.get(surrogate, 3e-3),
        seed=seed,
    )
    if surrogate in _SET_MEMBERS:
        sets = _Sets(encode(X.detach()))
        return train_ensemble(
            _SET_MEMBERS[surrogate],
            args,
            sets.take(train),
            y_np[train],
            sets.take(val),
            y_np[val],
            config,
        )
    with torch.no_grad():
        features = encode(X.detach()).cpu().numpy()
    train_features = torch.from_numpy(features[train])
    args = {"n_features": features.shape[1], **args}
    return train_ensemble(
        "mlp",
        args,
        FeatureInputs(features[train]),
        y_np[train],
        FeatureInputs(features[val]),
        y_np[val],
        config,
        prepare=lambda member: member.fit_input_scaling(train_features),  # type: ignore[operator]
    )


@dataclass(frozen=True)
class _Sets:
    """Element sets already encoded as one tensor batch, indexable as ``Inputs``."""

    sets: CompositionBatch

    def __len__(self) -> int:
        return len(self.sets)

    def take(self, index: np.ndarray) -> _Sets:
        rows = torch.as_tensor(index)
        return _Sets(CompositionBatch(self.sets.elements[rows], self.sets.fractions[rows]))

    def batch(self, index: np.ndarray) -> CompositionBatch:
        return self.take(index).sets


__all__ = ["GAUSSIAN_PROCESSES", "MAX_COMPONENTS", "SURROGATES", "fit_surrogate"]
