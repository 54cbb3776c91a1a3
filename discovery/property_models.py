"""Property surrogates on materials: train, predict with uncertainty, serialise.

One entry point, :func:`fit_property_model`, trains any surrogate family on materials given
as formulas (composition models) or pymatgen structures (crystal graphs):

========== ========================================= ===================================
kind       model                                     input
========== ========================================= ===================================
gp         exact GP (``SingleTaskGP``), kernel fitted composition descriptors
           on a sample of ``hyper_rows``, conditioned
           on up to ``exact_gp_limit`` rows
ensemble   deep ensemble of residual MLPs            composition descriptors
gnn        ensemble of Roost-style composition GNNs  element graph of the composition
transformer ensemble of CrabNet-style element        element set of the composition
           transformers
crystal-gnn ensemble of CGCNN-style networks         crystal graph of the structure
hybrid     the ensemble and the transformer, mixed   both
           with a weight chosen on the validation
           split
========== ========================================= ===================================

Every model predicts a Gaussian per material; ensembles are recalibrated on the validation
split, and the GP's own likelihood gives its predictive variance.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP, SingleTaskVariationalGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood
from pymatgen.core import Structure
from tqdm.auto import tqdm

from discovery.ensembles import (
    Ensemble,
    FeatureInputs,
    Inputs,
    TrainingConfig,
    recalibration_scale,
    train_ensemble,
)
from discovery.featurizers import Compositions, featurizer_version

#: Surrogate families trained by :func:`fit_property_model`.
KINDS: tuple[str, ...] = ("gp", "ensemble", "gnn", "transformer", "crystal-gnn", "hybrid")

#: The two models a ``hybrid`` mixes: descriptors and element sets see different things.
HYBRID_PARTS = ("ensemble", "transformer")

#: Widest composition (number of elements) the element-set featurization keeps.
MAX_ELEMENTS = 12

Material = str | Structure


@dataclass(frozen=True)
class PropertyModelConfig:
    """Settings of a property surrogate.

    Attributes:
        kind: One of :data:`KINDS`.
        training: Ensemble training settings (ignored by ``gp``).
        hidden: Width of the networks (MLP hidden layers, GNN node features, transformer
            tokens).
        hyper_rows: Rows (a seeded sample beyond) the GP's kernel and noise are fitted
            on: each L-BFGS step costs ``O(n^3)`` on all rows and more than a second at
            a few thousand, so its hyperparameters come from a subset (subset of data,
            Chalupka et al., JMLR 2013) and the GP then conditions on every row.
        fit_iterations: Most L-BFGS iterations of that fit (ARD over ~130 descriptors
            runs past a thousand to converge, for a few per cent of MAE).
        exact_gp_limit: Most rows the GP conditions on; a seeded sample of that many
            above it (the ensembles train on every row).

    """

    kind: str = "ensemble"
    training: TrainingConfig = field(default_factory=TrainingConfig)
    hidden: int | None = None
    hyper_rows: int = 1000
    fit_iterations: int = 200
    exact_gp_limit: int = 8000

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: unknown surrogate {self.kind!r}; choose from {list(KINDS)}")
        for name in ("hyper_rows", "fit_iterations", "exact_gp_limit"):
            if getattr(self, name) < 2:
                raise ValueError(f"{name}: must be at least 2, got {getattr(self, name)}")


@dataclass(frozen=True)
class Prediction:
    """Gaussian predictions for ``n`` materials (target units).

    Attributes:
        mean: ``n`` predictive means.
        std: ``n`` predictive standard deviations (noise included, recalibrated).
        epistemic_std: ``n`` model-uncertainty part of ``std``.

    """

    mean: np.ndarray
    std: np.ndarray
    epistemic_std: np.ndarray


def _structures(materials: Sequence[Material], where: str) -> list[Structure]:
    for i, m in enumerate(materials):
        if not isinstance(m, Structure):
            raise ValueError(
                f"{where} row {i}: crystal-gnn needs structures, got {type(m).__name__}"
            )
    return list(materials)  # type: ignore[arg-type]


def _formulas(materials: Sequence[Material], where: str) -> list[str]:
    out = []
    for i, m in enumerate(materials):
        if isinstance(m, Structure):
            out.append(m.composition.formula)
        elif isinstance(m, str):
            out.append(m)
        else:
            raise ValueError(f"{where} row {i}: expected a formula or structure, got {m!r}")
    return out


def _featurizer(kind: str) -> Any:
    if kind == "crystal-gnn":
        from discovery.crystal import CrystalGraphFeaturizer

        return CrystalGraphFeaturizer()
    return None


def _inputs(kind: str, materials: Sequence[Material], where: str) -> Inputs:
    """Model inputs of ``materials`` for a surrogate ``kind``.

    Raises:
        TypeError: for one string, whose characters would each be read as a formula.
        ValueError: naming ``where`` and the row of a material that cannot be read.
    """
    if isinstance(materials, str):
        raise TypeError(
            f"{where}: materials are a sequence of formulas or structures, not one string: "
            f"[{materials!r}] for one material"
        )
    if kind == "crystal-gnn":
        featurizer = _featurizer(kind)
        return featurizer.featurize(_structures(materials, where))
    formulas = _formulas(materials, where)
    try:
        compositions = Compositions.from_formulas(formulas, MAX_ELEMENTS)
    except ValueError as error:  # "row N: ..." -> "val row N: ..."
        raise ValueError(f"{where} {error}") from None
    if kind in ("gnn", "transformer"):
        return compositions
    return FeatureInputs(compositions.features())


def _version(kind: str) -> str:
    featurizer = _featurizer(kind)
    return featurizer.version if featurizer is not None else featurizer_version()


class PropertyModel:
    """A trained property surrogate.

    Attributes:
        kind: Surrogate family (:data:`KINDS`).
        featurizer_version: Version of the featurization it was trained with.
        metrics: Training diagnostics (sizes, seconds, per-member history).

    """

    def __init__(
        self,
        kind: str,
        featurizer_version: str,
        metrics: dict[str, Any],
        ensemble: Ensemble | None = None,
        gp: _FeatureGP | None = None,
        parts: tuple[PropertyModel, PropertyModel] | None = None,
    ) -> None:
        self.kind = kind
        self.featurizer_version = featurizer_version
        self.metrics = metrics
        self.ensemble = ensemble
        self.gp = gp
        self.parts = parts

    def predict(self, materials: Sequence[Material], batch_size: int = 2048) -> Prediction:
        """Predict ``n`` materials (formulas, or structures for ``crystal-gnn``)."""
        if self.parts is not None:
            first, second = (part.predict(materials, batch_size) for part in self.parts)
            return _mixture(first, second, self.metrics["weight"], self.metrics["scale"])
        inputs = _inputs(self.kind, materials, "predict")
        if self.ensemble is not None:
            mean, epistemic, std = self.ensemble.predict(inputs, batch_size)
            return Prediction(mean, std, epistemic)
        assert self.gp is not None and isinstance(inputs, FeatureInputs)
        return self.gp.predict(inputs.features, batch_size)

    def to_bytes(self) -> bytes:
        """Serialise the model (``torch.save`` bytes)."""
        buffer = io.BytesIO()
        if self.parts is not None:
            body: Any = [part.to_bytes() for part in self.parts]
        elif self.ensemble is not None:
            body = self.ensemble.to_bytes()
        else:
            assert self.gp is not None
            body = self.gp.to_bytes()
        torch.save(
            {
                "kind": self.kind,
                "featurizer_version": self.featurizer_version,
                "metrics": self.metrics,
                "body": body,
            },
            buffer,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, device: str | None = None) -> PropertyModel:
        """Rebuild a model written by :meth:`to_bytes`.

        Raises:
            ValueError: when ``data`` is not a property model's (naming the fields it
                lacks: a campaign's ensemble surrogate stores its ensemble alone), or when
                the stored featurizer version differs from this code's, since its
                predictions would silently change.

        """
        blob = _stored_fields(data)
        kind = blob["kind"]
        if blob["featurizer_version"] != _version(kind):
            raise ValueError(
                f"model was trained with featurizer {blob['featurizer_version']!r}, "
                f"this code has {_version(kind)!r}"
            )
        try:
            return cls._rebuild(blob, device)
        except KeyError as error:  # a body written by something else than to_bytes
            raise ValueError(f"weights: the {kind} model's body has no field {error}") from None

    @classmethod
    def _rebuild(cls, blob: dict[str, Any], device: str | None) -> PropertyModel:
        """The model of :meth:`from_bytes`'s checked fields."""
        kind, version, metrics = blob["kind"], blob["featurizer_version"], blob["metrics"]
        if kind == "hybrid":
            first, second = (cls.from_bytes(part, device) for part in blob["body"])
            return cls(kind, version, metrics, parts=(first, second))
        if kind == "gp":
            return cls(kind, version, metrics, gp=_FeatureGP.from_bytes(blob["body"]))
        return cls(kind, version, metrics, ensemble=Ensemble.from_bytes(blob["body"], device))


#: Fields of the weights :meth:`PropertyModel.to_bytes` writes.
STORED_FIELDS = ("kind", "featurizer_version", "metrics", "body")


def _stored_fields(data: bytes) -> dict[str, Any]:
    """The fields :meth:`PropertyModel.to_bytes` wrote, checked to be there.

    Raises:
        ValueError: ``weights: ...`` for bytes torch cannot read, or that lack a field or
            name a kind that is not a property model's.

    """
    try:
        blob = torch.load(io.BytesIO(data), weights_only=True)
    except Exception as error:  # torch raises many kinds (unpickling, zip, EOF)
        raise ValueError(f"weights: torch cannot read them ({type(error).__name__})") from None
    if not isinstance(blob, dict):
        raise ValueError(f"weights: hold a {type(blob).__name__}, not a property model's fields")
    missing = [name for name in STORED_FIELDS if name not in blob]
    if missing:
        raise ValueError(
            f"weights: no {', '.join(map(repr, missing))}; not a property model's "
            "(written by PropertyModel.to_bytes)"
        )
    if blob["kind"] not in KINDS:
        raise ValueError(f"weights: kind {blob['kind']!r} is none of {list(KINDS)}")
    return blob


def fit_property_model(
    materials: Sequence[Material],
    y: np.ndarray,
    val_materials: Sequence[Material],
    y_val: np.ndarray,
    config: PropertyModelConfig | None = None,
) -> PropertyModel:
    """Train a property surrogate; ``val`` early-stops and recalibrates ensembles.

    Args:
        materials: ``n`` training formulas (or structures for ``crystal-gnn``).
        y: ``n`` training targets.
        val_materials: Validation materials (the GP adds them to its training data).
        y_val: Validation targets.
        config: Surrogate settings.

    Raises:
        ValueError: naming the split and row of an unreadable material, or for
            mismatched lengths or non-finite targets.

    """
    config = config or PropertyModelConfig()
    y, y_val = np.asarray(y, dtype=np.float64), np.asarray(y_val, dtype=np.float64)
    for where, xs, ys in (("train", materials, y), ("val", val_materials, y_val)):
        if len(xs) != len(ys):
            raise ValueError(f"{where}: {len(xs)} materials but {len(ys)} targets")
        if not np.all(np.isfinite(ys)):
            raise ValueError(
                f"{where}: row {int(np.flatnonzero(~np.isfinite(ys))[0])}: target is not finite"
            )
    if config.kind == "hybrid":
        return _fit_hybrid(materials, y, val_materials, y_val, config)
    started = time.perf_counter()
    train = _inputs(config.kind, materials, "train")
    val = _inputs(config.kind, val_materials, "val")
    featurized = time.perf_counter() - started
    metrics: dict[str, Any] = {
        "n_train": len(y),
        "n_val": len(y_val),
        "featurize_seconds": featurized,
    }
    if config.kind == "gp":
        assert isinstance(train, FeatureInputs) and isinstance(val, FeatureInputs)
        X = np.vstack([train.features, val.features])
        gp = _FeatureGP.fit(X, np.concatenate([y, y_val]), config)
        metrics["train_seconds"] = time.perf_counter() - started - featurized
        metrics["gp"] = gp.variant
        metrics["gp_rows"] = gp.rows
        return PropertyModel(config.kind, _version(config.kind), metrics, gp=gp)
    kind, args = _member(config, train)
    prepare = None
    if kind == "mlp":
        features = torch.from_numpy(train.features)  # type: ignore[attr-defined]

        def prepare(member: Any) -> None:
            member.fit_input_scaling(features)

    ensemble = train_ensemble(kind, args, train, y, val, y_val, config.training, prepare)
    metrics["train_seconds"] = time.perf_counter() - started - featurized
    metrics["members"] = ensemble.history
    metrics["recalibration_scale"] = ensemble.scale
    return PropertyModel(config.kind, _version(config.kind), metrics, ensemble=ensemble)


def _mixture(first: Prediction, second: Prediction, weight: float, scale: float) -> Prediction:
    """The two-component Gaussian mixture ``w N1 + (1 - w) N2``, moment-matched, rescaled."""
    mean = weight * first.mean + (1 - weight) * second.mean
    spread = weight * (1 - weight) * (first.mean - second.mean) ** 2
    variance = weight * first.std**2 + (1 - weight) * second.std**2 + spread
    epistemic = weight * first.epistemic_std**2 + (1 - weight) * second.epistemic_std**2
    return Prediction(mean, scale * np.sqrt(variance), scale * np.sqrt(epistemic + spread))


def _fit_hybrid(
    materials: Sequence[Material],
    y: np.ndarray,
    val_materials: Sequence[Material],
    y_val: np.ndarray,
    config: PropertyModelConfig,
) -> PropertyModel:
    """The :data:`HYBRID_PARTS`, mixed with the validation-best weight, recalibrated."""
    started = time.perf_counter()
    first, second = (
        fit_property_model(
            materials, y, val_materials, y_val, PropertyModelConfig(kind, config.training)
        )
        for kind in HYBRID_PARTS
    )
    hybrid = mix_models(first, second, val_materials, y_val)
    hybrid.metrics |= {"n_train": len(y), "train_seconds": time.perf_counter() - started}
    return hybrid


def mix_models(
    first: PropertyModel,
    second: PropertyModel,
    val_materials: Sequence[Material],
    y_val: np.ndarray,
) -> PropertyModel:
    """Two trained models as one ``hybrid``: mixture weight and recalibration from ``val``.

    Args:
        first: A trained composition model (the deep ensemble, say).
        second: Another (the transformer).
        val_materials: Validation materials, not used to train either.
        y_val: Their targets.

    """
    y_val = np.asarray(y_val, dtype=np.float64)
    parts = (first, second)
    first_val, second_val = (part.predict(val_materials) for part in parts)
    grid = np.linspace(0.0, 1.0, 11)
    errors = [np.mean(np.abs(w * first_val.mean + (1 - w) * second_val.mean - y_val)) for w in grid]
    weight = float(grid[int(np.argmin(errors))])
    mixed = _mixture(first_val, second_val, weight, 1.0)
    metrics = {
        "n_train": first.metrics.get("n_train"),
        "n_val": len(y_val),
        "weight": weight,
        "scale": recalibration_scale(y_val, mixed.mean, mixed.std),
        "parts": [part.metrics for part in parts],
    }
    return PropertyModel("hybrid", featurizer_version(), metrics, parts=parts)


def _member(config: PropertyModelConfig, train: Inputs) -> tuple[str, dict[str, Any]]:
    hidden = config.hidden
    if config.kind == "ensemble":
        assert isinstance(train, FeatureInputs)
        return "mlp", {"n_features": int(train.features.shape[1]), "hidden": hidden or 256}
    if config.kind == "gnn":
        return "roost", {"hidden": hidden or 64}
    if config.kind == "transformer":
        return "transformer", {"width": hidden or 256}
    if config.kind == "crystal-gnn":
        return "cgcnn", {"hidden": hidden or 64}
    # a kind added to KINDS without its network (gp and hybrid never get here)
    raise ValueError(f"kind: {config.kind!r} has no ensemble member network")


class _FeatureGP:
    """An exact GP on standardised composition descriptors.

    Variational GPs, which models stored before December 2026 may be, still load and predict.

    Targets are standardised too, before the GP sees them: the model predicts
    ``(y - y_mean) / y_std``, and :meth:`predict` maps that back to target units.
    """

    def __init__(
        self,
        model: Any,
        columns: np.ndarray,
        shift: np.ndarray,
        scale: np.ndarray,
        y_mean: float = 0.0,
        y_std: float = 1.0,
    ) -> None:
        self.model = model
        self.columns, self.shift, self.scale = columns, shift, scale
        self.y_mean, self.y_std = y_mean, y_std

    @property
    def variant(self) -> str:
        return "variational" if isinstance(self.model, SingleTaskVariationalGP) else "exact"

    def _transform(self, features: np.ndarray) -> torch.Tensor:
        z = (features[:, self.columns] - self.shift) / self.scale
        return torch.as_tensor(z, dtype=torch.float64)

    @classmethod
    def fit(cls, features: np.ndarray, y: np.ndarray, config: PropertyModelConfig) -> _FeatureGP:
        # float64, and one std for both selection and scaling: in float32 a constant column
        # (p-norms of all-binary data) can show std 6e-8 here and 0 on the subset -> NaN
        features = np.asarray(features, dtype=np.float64)
        spread = features.std(0)
        columns = np.flatnonzero(spread > 1e-8)  # unused elements carry nothing
        shift, scale = features[:, columns].mean(0), spread[columns]
        # standardise here, as the ensemble does: Standardize alone leaves targets with std
        # under 1e-8 unscaled, for the GP's unit-scale priors and 1e-4 noise floor to swamp,
        # and gpytorch clamps the untransformed posterior variance at 1e-10, so targets of
        # order 1e-9 got std 1e-5 for every material. On these z-scores Standardize is a
        # no-op, kept so that models stored before still load.
        y_mean, y_std = float(np.mean(y)), float(np.std(y)) or 1.0
        gp = cls(None, columns, shift, scale, y_mean, y_std)
        X = gp._transform(features)
        Y = torch.as_tensor((y - y_mean) / y_std, dtype=torch.float64).unsqueeze(-1)
        rng = np.random.default_rng(config.training.seed)
        kept = _sample(len(Y), config.exact_gp_limit, rng)
        X, Y = X[kept], Y[kept]
        tuned = _sample(len(Y), config.hyper_rows, rng)
        torch.manual_seed(config.training.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # jitter and optimizer notices
            model = SingleTaskGP(X[tuned], Y[tuned], outcome_transform=Standardize(m=1))
            _fit_hyperparameters(model, config)
            if len(tuned) < len(Y):
                model = _conditioned(model, X, Y)
        gp.model = model.eval()
        return gp

    @property
    def rows(self) -> int:
        """The training rows the GP conditions on (none kept by a variational one)."""
        return 0 if self.variant == "variational" else len(self.model.train_targets)

    def predict(self, features: np.ndarray, batch_size: int = 2048) -> Prediction:
        if len(features) == 0:  # as Ensemble.predict; np.concatenate needs one array
            return Prediction(np.zeros(0), np.zeros(0), np.zeros(0))
        means, stds, epistemic = [], [], []
        with torch.no_grad():
            for start in range(0, len(features), batch_size):
                X = self._transform(features[start : start + batch_size])
                latent = self.model.posterior(X)
                noisy = self.model.posterior(X, observation_noise=True)
                means.append(latent.mean.squeeze(-1).numpy())
                epistemic.append(latent.variance.squeeze(-1).sqrt().numpy())
                stds.append(noisy.variance.squeeze(-1).sqrt().numpy())
        mean, std, epistemic_std = (np.concatenate(parts) for parts in (means, stds, epistemic))
        return Prediction(
            mean * self.y_std + self.y_mean, std * self.y_std, epistemic_std * self.y_std
        )

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(
            {
                "variant": self.variant,
                "columns": torch.as_tensor(self.columns),
                "shift": torch.as_tensor(self.shift),
                "scale": torch.as_tensor(self.scale),
                "y_mean": self.y_mean,
                "y_std": self.y_std,
                "train_X": self.model.train_inputs[0] if self.variant == "exact" else None,
                "train_Y": self.model.train_targets if self.variant == "exact" else None,
                "state": self.model.state_dict(),
                "n_inducing": (
                    None
                    if self.variant == "exact"
                    else self.model.model.variational_strategy.inducing_points.shape[0]
                ),
            },
            buffer,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> _FeatureGP:
        blob = torch.load(io.BytesIO(data), weights_only=True)
        columns, shift, scale = (blob[k].numpy() for k in ("columns", "shift", "scale"))
        d = len(columns)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the placeholder data below is not standardised
            if blob["variant"] == "exact":
                # train_inputs/targets are stored after the outcome transform: rebuild untransformed
                model: Any = SingleTaskGP(
                    torch.zeros(2, d, dtype=torch.float64),
                    torch.zeros(2, 1, dtype=torch.float64),
                    outcome_transform=Standardize(m=1),
                )
                model.load_state_dict(blob["state"], strict=False)
                model.set_train_data(blob["train_X"], blob["train_Y"], strict=False)
            else:
                # stored before the GP conditioned on every row (to December 2026)
                model = SingleTaskVariationalGP(
                    torch.zeros(blob["n_inducing"], d, dtype=torch.float64),
                    torch.zeros(blob["n_inducing"], 1, dtype=torch.float64),
                    # the stored points themselves: from all-zero placeholder data the
                    # default allocator picks a single point and the shapes would not match
                    inducing_points=blob["state"]["model.variational_strategy.inducing_points"],
                    outcome_transform=Standardize(m=1),
                )
                # keep_transforms=False: the default re-standardises the training targets,
                # which a variational GP does not keep (AttributeError: train_targets)
                model.load_state_dict(blob["state"], keep_transforms=False)
        # models stored before targets were standardised here have neither: identity
        y_mean, y_std = float(blob.get("y_mean", 0.0)), float(blob.get("y_std", 1.0))
        return cls(model.eval(), columns, shift, scale, y_mean, y_std)


def _sample(n: int, most: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of all ``n`` rows, or of ``most`` drawn without replacement (sorted)."""
    return np.arange(n) if n <= most else np.sort(rng.choice(n, most, replace=False))


def _fit_hyperparameters(model: SingleTaskGP, config: PropertyModelConfig) -> None:
    """Maximise the marginal likelihood by L-BFGS, ``config.fit_iterations`` at most."""
    bar = tqdm(
        total=config.fit_iterations,
        desc=f"GP kernel on {len(model.train_targets)} rows",
        disable=not config.training.progress,
    )

    def step(parameters: dict[str, torch.Tensor], result: Any) -> None:
        bar.update()
        bar.set_postfix(loss=f"{result.fval:.4g}", refresh=False)

    with bar:
        fit_gpytorch_mll(
            ExactMarginalLogLikelihood(model.likelihood, model),
            optimizer_kwargs={"options": {"maxiter": config.fit_iterations}, "callback": step},
        )


def _conditioned(fitted: SingleTaskGP, X: torch.Tensor, Y: torch.Tensor) -> SingleTaskGP:
    """An exact GP on ``X`` (n x d), ``Y`` (n x 1) with ``fitted``'s mean, kernel and noise.

    Not its outcome transform: that is refitted to all of ``Y``.
    """
    model = SingleTaskGP(X, Y, outcome_transform=Standardize(m=1))
    for part in ("mean_module", "covar_module", "likelihood"):
        getattr(model, part).load_state_dict(getattr(fitted, part).state_dict())
    return model


__all__ = [
    "KINDS",
    "STORED_FIELDS",
    "Prediction",
    "PropertyModel",
    "PropertyModelConfig",
    "fit_property_model",
    "mix_models",
]
