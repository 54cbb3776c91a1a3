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

Surrogates of one's own are registered by name (:func:`register_surrogate`), or by an
installed package through :data:`SURROGATE_PLUGIN_GROUP`; :func:`surrogates` names them
all. A builder follows :class:`SurrogateBuilder`, and its models are registered as
:func:`plugin_artifact` describes.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from botorch.models.model import Model
from botorch.models.transforms.input import ChainedInputTransform, Warp
from pymatgen.core.periodic_table import Element

from discovery.acquisition import (
    ACQUISITIONS,
    PLUGIN_NAME,
    load_all_plugins,
    register_entry_points,
)
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
from discovery.surrogates import data_hash, fit_bayesian_gp, fit_gp, gp_artifact, safe_bounds

logger = logging.getLogger(__name__)

#: The built-in surrogates, by name; :func:`surrogates` adds the registered ones.
SURROGATES: tuple[str, ...] = ("gp", "bayesgp", "ensemble", "gnn", "transformer")

#: Built-in surrogates that are exact GPs: they warp inputs and condition on believed
#: outcomes; :func:`gaussian_processes` adds the registered ones.
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


def check_surrogate_space(surrogate: str, space: SearchSpace) -> None:
    """Refuse a set surrogate for a space it cannot read, when a campaign is created.

    Raises:
        ValueError: for ``gnn`` without a composition or mixture (a simplex), or
            ``transformer`` without element symbols as simplex columns.
    """
    parts = _components(space)
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


def _encoder(
    surrogate: str, space: SearchSpace, bounds: torch.Tensor
) -> tuple[Callable[[torch.Tensor], Any], dict[str, Any], str | None]:
    """How the surrogate reads encoded inputs: encode function, member kwargs, featurizer."""
    parts = _components(space)
    k = min(len(parts.columns), MAX_COMPONENTS) if parts is not None else 0
    if surrogate in _SET_MEMBERS:
        check_surrogate_space(surrogate, space)
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


@dataclass(frozen=True)
class SurrogateInputs:
    """What a surrogate builder is fitted on: one objective, the campaign's encoding.

    Attributes:
        train_X: ``n x d`` encoded inputs of the measurements (float64, on the CPU).
        train_Y: ``n x 1`` targets, oriented so that larger is better (a minimised
            objective arrives negated), possibly Yeo-Johnson-warped (``+warp``), divided
            by a power of two (:func:`discovery.planners.fitting_scale`), or residuals
            of a prior mean (a campaign's ``prior_model``).
        bounds: ``2 x d`` bounds of the encoded inputs: the pool's extent, or the space's.
        seed: Seed of the round; a reproducible fit draws all its randomness from it.
        space: The campaign's search space, to read the encoded columns by name
            (``space.columns``; one-hot categories, simplex constraints).
        input_warp: Whether the strategy asks for input warping (``+iwarp``); only a
            surrogate registered as a Gaussian process is ever asked.

    """

    train_X: torch.Tensor
    train_Y: torch.Tensor
    bounds: torch.Tensor
    seed: int
    space: SearchSpace
    input_warp: bool = False


class SurrogateBuilder(Protocol):
    """Fits a surrogate of one's own to a campaign's measurements.

    Registered under a name (:func:`register_surrogate`, or an installed package's
    :data:`SURROGATE_PLUGIN_GROUP` entry point), it serves every strategy that names it
    first: ``mine`` (qLogNEI), ``mine+qucb``, ``mine+warp``; with ``gaussian_process``
    (:class:`SurrogateSpec`) also ``mine+top``, ``mine+top+endgame``, ``mine+top+believer``
    and ``mine+iwarp``.

    Example (a GP: it honours ``input_warp``, as :class:`SurrogateSpec` asks):
        >>> from discovery.surrogates import kumaraswamy_warp
        >>> def fit_matern(inputs: SurrogateInputs) -> Model:
        ...     d = inputs.train_X.shape[-1]
        ...     scale = Normalize(d, bounds=inputs.bounds)
        ...     if inputs.input_warp:  # +iwarp: warp the [0, 1] inputs too
        ...         warp = kumaraswamy_warp(inputs.train_X)
        ...         scale = ChainedInputTransform(normalize=scale, warp=warp)
        ...     gp = SingleTaskGP(
        ...         inputs.train_X,
        ...         inputs.train_Y,
        ...         input_transform=scale,
        ...         outcome_transform=Standardize(1),
        ...     )
        ...     fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
        ...     return gp
        >>> register_surrogate("matern", SurrogateSpec(fit_matern, gaussian_process=True))
    """

    def __call__(self, inputs: SurrogateInputs, /) -> Model:
        """Fit a model to ``inputs``.

        Args:
            inputs: The training data, ``n x d`` inputs and ``n x 1`` targets (larger is
                better), ``2 x d`` bounds, the round's seed and the search space.

        Returns:
            A fitted BoTorch ``Model`` with ``num_outputs == 1`` whose ``posterior`` of
            ``b x q x d`` inputs has a ``b x q x 1`` mean and variance and ``rsample``s
            (a ``GPyTorchPosterior``, or an ensemble's): qLogNEI, qUCB and the other
            Monte-Carlo acquisitions then choose with it. Its ``state_dict`` is what the
            model registry keeps (:func:`plugin_artifact`).
        """
        ...


def state_dict_bytes(model: Model) -> bytes:
    """``torch.save`` bytes of ``model``'s state dict on the CPU, as the GPs are stored."""
    buffer = io.BytesIO()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class SurrogateSpec:
    """A surrogate builder and what its models support.

    Attributes:
        fit: The builder.
        gaussian_process: Its models are exact GPs (GPyTorch): they condition on
            believed outcomes (``condition_on_observations``, which ``top`` uses for a
            batch's picks) and the builder honours ``inputs.input_warp``. Strategies
            with ``top``, ``endgame``, ``believer`` or ``iwarp`` are refused for other
            surrogates.
        weights: What the registry keeps of a fitted model: by default its whole state
            dict (:func:`state_dict_bytes`); a model around a large frozen network may
            keep its fitted part only, or ``b""`` when nothing can be stored.

    """

    fit: SurrogateBuilder
    gaussian_process: bool = False
    weights: Callable[[Model], bytes] = state_dict_bytes


@dataclass(frozen=True)
class RegisteredSurrogate:
    """A registered surrogate and where it came from.

    Attributes:
        spec: Its builder and what its models support.
        origin: ``source`` (``module:function``), ``distribution`` and ``version`` (of
            the installed package that provides it; None when registered in code).
    """

    spec: SurrogateSpec
    origin: Mapping[str, str | None]


#: Surrogates registered besides the built-in ones, by name.
SURROGATE_PLUGINS: dict[str, RegisteredSurrogate] = {}

#: The entry-point group through which an installed package adds surrogates, each entry
#: point naming a :class:`SurrogateBuilder` or a :class:`SurrogateSpec`: in its
#: ``pyproject.toml``, ``[project.entry-points."matloop.surrogates"]`` then
#: ``mine = "my_package.surrogates:fit_mine"``. Every matloop process (CLI, API, flows,
#: benchmark workers) loads them.
SURROGATE_PLUGIN_GROUP = "matloop.surrogates"


def register_surrogate(
    name: str,
    fit: SurrogateBuilder | SurrogateSpec,
    *,
    origin: Mapping[str, str | None] | None = None,
) -> None:
    """Add a surrogate under a new name.

    A campaign names it in its strategy (``mine+qucb``), so every process that runs the
    campaign must register it: an installed package does so through
    :data:`SURROGATE_PLUGIN_GROUP`, and its distribution's version is then recorded with
    every model it fits (:func:`plugin_artifact`).

    Args:
        name: The first part of the strategies that use it.
        fit: The builder, or a :class:`SurrogateSpec` saying what its models support
            (a plain builder's are not Gaussian processes).
        origin: Where it comes from (:class:`RegisteredSurrogate`); by default its
            ``module:function``, with no distribution or version.

    Raises:
        ValueError: if the name is taken (silently replacing one would change campaigns),
            is not lower-case letters, digits and ``_`` (``+`` and ``:`` split strategy
            names), or is another word of strategy names (a flag such as ``warp``, an
            acquisition such as ``top``, a strategy such as ``random``).

    """
    if not PLUGIN_NAME.fullmatch(name):
        raise ValueError(
            f"surrogate name {name!r}: lower-case letters, digits and _, starting with a "
            "letter (it is one part of a strategy name, NAME+qucb)"
        )
    from discovery.planners import strategy_words  # planners import this module

    if name in SURROGATES or name in SURROGATE_PLUGINS:
        raise ValueError(f"surrogate {name!r} is already registered")
    if name in ACQUISITIONS:
        raise ValueError(f"surrogate name {name!r} is an acquisition's name already")
    if name in strategy_words():
        raise ValueError(
            f"surrogate name {name!r} is a word of strategy names; {name!r} would "
            "change what those strategies mean"
        )
    spec = fit if isinstance(fit, SurrogateSpec) else SurrogateSpec(fit)
    SURROGATE_PLUGINS[name] = RegisteredSurrogate(spec, origin or _code_origin(spec.fit))


def _code_origin(fit: SurrogateBuilder) -> dict[str, str | None]:
    """The ``module:function`` of a builder registered in code: it has no package version."""
    module = getattr(fit, "__module__", None) or type(fit).__module__
    function = getattr(fit, "__qualname__", None) or type(fit).__qualname__
    return {"source": f"{module}:{function}", "distribution": None, "version": None}


def _register_entry_point(entry: EntryPoint) -> None:
    dist = entry.dist
    origin = {
        "source": entry.value,
        "distribution": None if dist is None else dist.name,
        "version": None if dist is None else dist.version,
    }
    register_surrogate(entry.name, entry.load(), origin=origin)


@cache
def load_surrogate_plugins() -> tuple[str, ...]:
    """Register the surrogates of installed packages (:data:`SURROGATE_PLUGIN_GROUP`), once.

    Returns:
        The names registered (those that fail are in
        :data:`discovery.acquisition.PLUGIN_FAILURES`).
    """
    return register_entry_points(SURROGATE_PLUGIN_GROUP, "surrogate", _register_entry_point)


def surrogates() -> tuple[str, ...]:
    """The surrogates a strategy may name: built-in, then registered (plugins included)."""
    load_all_plugins()
    return (*SURROGATES, *SURROGATE_PLUGINS)


def gaussian_processes() -> tuple[str, ...]:
    """The surrogates that are exact GPs (``top``, ``endgame``, ``iwarp``), plugins included."""
    load_all_plugins()
    registered = (n for n, r in SURROGATE_PLUGINS.items() if r.spec.gaussian_process)
    return (*GAUSSIAN_PROCESSES, *registered)


def is_gaussian_process(name: str) -> bool:
    """Whether surrogate ``name`` is an exact GP; plugins are loaded only for other names.

    Planners are built when :mod:`discovery.planners` is imported (a portfolio's base),
    before a plugin could import it, so a built-in name must not load plugins.
    """
    return name in GAUSSIAN_PROCESSES or (name not in SURROGATES and name in gaussian_processes())


#: The libraries whose release changes what a surrogate's fit gives on the same data.
FITTING_LIBRARIES = ("torch", "gpytorch", "botorch")


@cache
def fitting_code() -> str:
    """A digest of the code that fits campaign models: this package and its fitting libraries.

    Part of a model's registry version (:func:`agents.campaign.fit_settings`): a matloop
    or library upgrade that fits another model on the same data gives another version,
    rather than the registry keeping the old weights under the version the new fit names.
    Any change to a ``discovery`` module counts, which is wider than needed and never
    wrong (a refit where one might have been spared).

    Returns:
        12 lower-case hex digits: SHA-256 of every ``discovery/*.py`` file (path and
        bytes, in path order) and the versions of :data:`FITTING_LIBRARIES`.
    """
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(f"{path.relative_to(package).as_posix()}\0".encode())
        digest.update(path.read_bytes())
    for library in FITTING_LIBRARIES:
        digest.update(f"\0{library}=={package_version(library)}".encode())
    return digest.hexdigest()[:12]


def surrogate_origin(name: str) -> Mapping[str, str | None] | None:
    """Where a registered surrogate comes from (:class:`RegisteredSurrogate`); None if built in."""
    load_all_plugins()
    registered = SURROGATE_PLUGINS.get(name)
    return None if registered is None else registered.origin


def plugin_artifact(
    name: str, model: Model, train_X: torch.Tensor, train_Y: torch.Tensor
) -> ModelArtifact:
    """The registry artifact of a registered surrogate's fitted model.

    Its kind is the surrogate's name and its data hash that of the training data, as for
    the built-in surrogates; its weights are :attr:`SurrogateSpec.weights` of the model
    (by default the ``torch.save`` bytes of its state dict: rebuild the model with the
    plugin and the training data, then ``load_state_dict``). Its metrics give ``n_train``,
    the model's class and ``surrogate_plugin``, the surrogate's origin: a campaign also
    folds the origin into the model's version (:func:`agents.campaign.fit_settings`), so
    that another release of the plugin, fitted on the same data, is another version.

    Args:
        name: A registered surrogate (:data:`SURROGATE_PLUGINS`).
        model: The model its builder fitted.
        train_X: ``n x d`` the inputs it was fitted on.
        train_Y: ``n x 1`` the targets it was fitted on.
    """
    registered = SURROGATE_PLUGINS[name]
    metrics = {
        "n_train": int(train_X.shape[0]),
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "surrogate_plugin": dict(registered.origin),
    }
    weights = registered.spec.weights(model)
    return ModelArtifact(name, data_hash(train_X, train_Y), metrics, weights)


class SurrogatePluginError(RuntimeError):
    """A registered surrogate failed: its builder raised, or its model cannot be used.

    A fault of the plugin, not of the caller's request: the message names the surrogate
    and where it comes from (package and version), and the cause is chained.
    """


def _fit_registered(name: str, inputs: SurrogateInputs) -> tuple[Model, ModelArtifact]:
    """Fit a registered surrogate, refusing what the acquisitions cannot use, naming it.

    Raises:
        SurrogatePluginError: when the builder raises, returns no single-output BoTorch
            model, or a model whose posterior at a training input fails or is not finite.
    """
    registered = SURROGATE_PLUGINS[name]
    try:
        model = registered.spec.fit(inputs)
    except Exception as error:  # anything the plugin raises is the plugin's fault
        raise _plugin_error(name, f"{type(error).__name__}: {error}") from error
    if not isinstance(model, Model):
        raise _plugin_error(name, f"returned {type(model).__name__}, not a fitted BoTorch Model")
    try:
        outputs = model.num_outputs
    except NotImplementedError:
        outputs = None
    if outputs != 1:
        raise _plugin_error(
            name,
            f"{type(model).__name__} has num_outputs {outputs}; a surrogate models one "
            "objective (num_outputs == 1)",
        )
    model.eval()  # BoTorch's posteriors are those of a model in eval mode
    _check_posterior(name, model, inputs.train_X[:1])
    if inputs.input_warp and not _warps_inputs(model):
        logger.warning(
            "surrogate %r was asked to warp its inputs (+iwarp), and its model has no "
            "BoTorch Warp input transform: if it does not warp them another way, its "
            "trials and model version claim a warp that was not fitted",
            name,
        )
    return model, plugin_artifact(name, model, inputs.train_X, inputs.train_Y)


def _plugin_error(name: str, problem: str) -> SurrogatePluginError:
    origin = SURROGATE_PLUGINS[name].origin
    package = origin.get("distribution") or origin.get("source")
    version = f" {origin['version']}" if origin.get("version") else ""
    return SurrogatePluginError(f"surrogate plugin {name!r} ({package}{version}): {problem}")


def _check_posterior(name: str, model: Model, X: torch.Tensor) -> None:
    """Refuse a model whose posterior at ``X`` (``1 x d``, float64) fails or is not finite.

    Caught here, a float32 model or a posterior of the wrong shape names the plugin,
    instead of failing deep inside an acquisition function.
    """
    try:
        with torch.no_grad():
            posterior: Any = model.posterior(X)  # a GPyTorch or an ensemble's: both have these
            mean, variance = posterior.mean, posterior.variance
    except Exception as error:
        problem = f"its posterior at a training input failed: {type(error).__name__}: {error}"
        raise _plugin_error(name, problem) from error
    if mean.shape[-2:] != (1, 1) or variance.shape != mean.shape:
        raise _plugin_error(
            name,
            f"its posterior of 1 x d inputs has a mean of shape {tuple(mean.shape)} and a "
            f"variance of shape {tuple(variance.shape)}, not 1 x 1",
        )
    if not (torch.isfinite(mean).all() and torch.isfinite(variance).all()):
        raise _plugin_error(name, "its posterior at a training input is not finite")


def _warps_inputs(model: Model) -> bool:
    """Whether ``model`` warps its inputs with BoTorch's ``Warp`` (alone or chained)."""
    transform = getattr(model, "input_transform", None)
    chained = transform.values() if isinstance(transform, ChainedInputTransform) else [transform]
    return any(isinstance(t, Warp) for t in chained)


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
        surrogate: A name in :func:`surrogates` (built in, or registered).
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
            on a surrogate that is not a GP.
        SurrogatePluginError: when a registered surrogate fails (:func:`_fit_registered`).

    """
    if surrogate not in surrogates():
        raise ValueError(f"unknown surrogate {surrogate!r}; choose from {list(surrogates())}")
    if input_warp and not is_gaussian_process(surrogate):
        raise ValueError(
            f"input warping (iwarp) needs a GP surrogate {gaussian_processes()}, not {surrogate}"
        )
    if surrogate in SURROGATE_PLUGINS:  # bounds as the built-in GPs see them: never flat
        inputs = SurrogateInputs(train_X, train_Y, safe_bounds(bounds), seed, space, input_warp)
        return _fit_registered(surrogate, inputs)
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


__all__ = [
    "GAUSSIAN_PROCESSES",
    "MAX_COMPONENTS",
    "SURROGATES",
    "SURROGATE_PLUGINS",
    "SURROGATE_PLUGIN_GROUP",
    "RegisteredSurrogate",
    "SurrogateBuilder",
    "SurrogateInputs",
    "SurrogatePluginError",
    "SurrogateSpec",
    "fit_surrogate",
    "gaussian_processes",
    "is_gaussian_process",
    "load_surrogate_plugins",
    "plugin_artifact",
    "register_surrogate",
    "state_dict_bytes",
    "surrogate_origin",
    "surrogates",
]
