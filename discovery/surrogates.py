"""Surrogate models, each a BoTorch ``Model`` with a posterior over candidates."""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import torch
from botorch.exceptions.warnings import InputDataWarning
from botorch.fit import fit_fully_bayesian_model_nuts, fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.fully_bayesian import FullyBayesianSingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.input import ChainedInputTransform, InputTransform, Normalize, Warp
from botorch.models.transforms.outcome import Standardize
from gpytorch.kernels import Kernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior
from linear_operator.utils.warnings import NumericalWarning

from discovery.bucketed_nuts import BucketedBayesianGP, bucket_rows, make_room_for
from discovery.domain import ModelArtifact

DTYPE = torch.float64


@contextmanager
def routine_warnings_silenced() -> Iterator[None]:
    """Silence the notices of fitting that are routine here, not a user's concern.

    Cholesky jitter on near-duplicate inputs; BoTorch's note that outcomes are not
    standardised, which matloop does itself, when they cannot be (all equal, std 0);
    torch's note that linear_operator's sparse interpolation (multi-task GPs) skips
    invariant checks.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumericalWarning)
        warnings.filterwarnings(
            "ignore", r"Data \(outcome observations\) is not standardized", InputDataWarning
        )
        warnings.filterwarnings("ignore", "Sparse invariant checks are implicitly disabled")
        yield


class SingleOutputModel(Model):
    """Base of the wrappers that are not GPyTorch models: one output, no batch dimensions."""

    @property
    def num_outputs(self) -> int:
        """One output: the predicted objective or property."""
        return 1

    @property
    def batch_shape(self) -> torch.Size:
        """No model batch dimensions."""
        return torch.Size([])


def device() -> torch.device:
    """``cuda`` when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def safe_bounds(bounds: torch.Tensor) -> torch.Tensor:
    """Widen degenerate columns (lower == upper) so input normalisation never divides by 0.

    Args:
        bounds: ``2 x d`` lower/upper bounds.

    """
    widened = bounds.clone()
    flat = widened[1] <= widened[0]
    widened[1, flat] = widened[0, flat] + 1.0
    return widened


def build_gp(
    train_X: torch.Tensor, train_Y: torch.Tensor, bounds: torch.Tensor, input_warp: bool = False
) -> SingleTaskGP:
    """An unfitted ``SingleTaskGP`` with input normalisation and outcome standardisation.

    Args:
        train_X: ``n x d`` training inputs (encoded space units).
        train_Y: ``n x m`` training targets, oriented so that larger is better.
        bounds: ``2 x d`` bounds of the encoded space, used to normalise inputs to [0, 1].
        input_warp: Also warp each normalised input through a Kumaraswamy CDF whose two
            shapes are fitted with the kernel (Snoek et al., ICML 2014; HEBO), so that a
            response that changes fast at one end of a range is still stationary.

    """
    transform: InputTransform = Normalize(d=train_X.shape[-1], bounds=safe_bounds(bounds))
    if input_warp:
        transform = ChainedInputTransform(normalize=transform, warp=kumaraswamy_warp(train_X))
    return SingleTaskGP(
        train_X,
        train_Y,
        input_transform=transform,
        outcome_transform=Standardize(m=train_Y.shape[-1]),
    )


def kumaraswamy_warp(train_X: torch.Tensor) -> Warp:
    """A learnable Kumaraswamy CDF on every (normalised) input column.

    The shape priors are BoTorch's tutorial ones, LogNormal(0, 0.75) on each of the two
    concentrations: centred on the identity warp (both 1).
    """
    d = train_X.shape[-1]
    return Warp(
        d=d,
        indices=list(range(d)),
        concentration1_prior=LogNormalPrior(0.0, 0.75**0.5),
        concentration0_prior=LogNormalPrior(0.0, 0.75**0.5),
    ).to(train_X)


#: Most results a campaign GP's hyperparameters (kernel, noise, input warps) are fitted
#: on. Each L-BFGS step of the marginal likelihood costs ``O(n^3)``: at 6,000 results a
#: claim fitted for over 20 minutes. Above it they are fitted on a seeded sample of this
#: many, and the GP then conditions on every result (subset of data, Chalupka et al.,
#: JMLR 2013), as :mod:`discovery.property_models` does.
HYPER_ROWS = 1000

#: Most results a campaign GP conditions on: its covariance holds ``n^2`` numbers (8,000:
#: 0.5 GB), and a posterior over a 100,000-candidate pool took 76 s at 6,000 on 2 cores.
#: Above it the GP keeps the best :data:`EXACT_BEST` (shared among its targets) and a
#: seeded sample of the rest.
EXACT_ROWS = 5000
EXACT_BEST = 1000

#: The fitted parts a GP on a sample hands to the GP on every result.
_FITTED_PARTS = ("mean_module", "covar_module", "likelihood", "input_transform")


def _seeded_sample(n: int, size: int) -> torch.Tensor:
    """``size`` of ``range(n)`` (sorted), the same for the same ``n``."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(n))[:size].sort().values


def conditioned_rows(train_Y: torch.Tensor) -> torch.Tensor:
    """The rows a campaign GP conditions on: all, or above :data:`EXACT_ROWS` a subset.

    The subset keeps the best by each target (larger is better), :data:`EXACT_BEST` in
    all, shared equally: where the acquisition looks, on every objective's front; and a
    seeded sample of the rest.

    Args:
        train_Y: ``n x m`` training targets.

    Returns:
        Sorted row indices.
    """
    n = train_Y.shape[0]
    if n <= EXACT_ROWS:
        return torch.arange(n)
    targets = train_Y.detach().cpu()
    each = EXACT_BEST // targets.shape[1]
    best = torch.cat([torch.topk(column, each).indices for column in targets.T]).unique()
    rest = torch.ones(n, dtype=torch.bool)
    rest[best] = False
    others = rest.nonzero().squeeze(-1)
    kept = others[_seeded_sample(len(others), EXACT_ROWS - EXACT_BEST)]
    return torch.cat([best, kept]).sort().values


def fit_gp(
    train_X: torch.Tensor, train_Y: torch.Tensor, bounds: torch.Tensor, input_warp: bool = False
) -> SingleTaskGP:
    """Fit a GP by maximising the exact marginal likelihood (BoTorch defaults and priors).

    Over :data:`HYPER_ROWS` results, the hyperparameters come from a sample of them
    (the same sample for the same number of results) and the GP conditions on all, up
    to :data:`EXACT_ROWS` (:func:`conditioned_rows`).

    Args:
        train_X: ``n x d`` training inputs.
        train_Y: ``n x m`` training targets, oriented so that larger is better.
        bounds: ``2 x d`` bounds of the encoded space.
        input_warp: Fit Kumaraswamy input warps with the kernel (:func:`build_gp`).

    Returns:
        The fitted model in eval mode.

    """
    n = train_X.shape[0]
    if n <= HYPER_ROWS:
        model = build_gp(train_X, train_Y, bounds, input_warp)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        return model.eval()
    kept = conditioned_rows(train_Y)
    model = build_gp(train_X[kept], train_Y[kept], bounds, input_warp)
    rows = _seeded_sample(n, HYPER_ROWS)
    tuned = build_gp(train_X[rows], train_Y[rows], bounds, input_warp)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(tuned.likelihood, tuned))
    for part in _FITTED_PARTS:
        getattr(model, part).load_state_dict(getattr(tuned, part).state_dict())
    return model.eval()


#: NUTS warm-up steps and draws for :func:`fit_bayesian_gp`, and the thinning that keeps
#: 16 hyperparameter samples (BoTorch's defaults: 512, 256, 16): on one CPU core a fit takes
#: about 3 s at 20 to 70 observations, and 7 to 10 s when it compiles the sampler for a
#: new bucket of data sizes (:mod:`discovery.bucketed_nuts`).
NUTS_WARMUP, NUTS_DRAWS, NUTS_THINNING = 128, 128, 8


def build_bayesian_gp(
    train_X: torch.Tensor, train_Y: torch.Tensor, bounds: torch.Tensor, input_warp: bool = False
) -> FullyBayesianSingleTaskGP:
    """An unfitted fully Bayesian GP, normalising inputs and standardising the outcome.

    Matern-5/2 kernel with the dimension-scaled log-normal lengthscale prior of Hvarfner
    et al. (ICML 2024), as BoTorch's ``FullyBayesianSingleTaskGP`` builds it; the sampler
    pads the data to a bucket of sizes, so that its compiled code is reused.

    Args:
        train_X: ``n x d`` training inputs (encoded space units).
        train_Y: ``n x 1`` training targets.
        bounds: ``2 x d`` bounds of the encoded space.
        input_warp: Also sample a Kumaraswamy warp of each normalised input.
    """
    return BucketedBayesianGP(
        train_X,
        train_Y,
        outcome_transform=Standardize(m=1),
        input_transform=Normalize(d=train_X.shape[-1], bounds=safe_bounds(bounds)),
        use_input_warping=input_warp,
    )


def fit_bayesian_gp(
    train_X: torch.Tensor,
    train_Y: torch.Tensor,
    bounds: torch.Tensor,
    input_warp: bool = False,
    seed: int = 0,
) -> FullyBayesianSingleTaskGP:
    """Fit a GP whose hyperparameters are integrated out by NUTS instead of maximised.

    With a campaign's few measurements the marginal likelihood is flat in the
    lengthscales, and one maximum of it is often a confident wrong guess; averaging over
    the posterior's samples (Eriksson & Jankowiak, UAI 2021; Hvarfner et al., ICML 2024)
    keeps the alternatives in play. The result is a batch of
    ``NUTS_DRAWS / NUTS_THINNING`` GPs whose posterior is their equal mixture.

    Args:
        train_X: ``n x d`` training inputs (encoded space units).
        train_Y: ``n x 1`` training targets, oriented so that larger is better.
        bounds: ``2 x d`` bounds of the encoded space.
        input_warp: Sample Kumaraswamy input warps with the kernel.
        seed: Seed of the sampler.

    Returns:
        The fitted model in eval mode.
    """
    if train_Y.shape[-1] != 1:
        raise ValueError(f"train_Y: a fully Bayesian GP models one output, not {train_Y.shape[-1]}")
    model = build_bayesian_gp(train_X, train_Y, bounds, input_warp)
    make_room_for((bucket_rows(train_X.shape[0]), train_X.shape[1], input_warp))
    fit_fully_bayesian_model_nuts(
        model,
        warmup_steps=NUTS_WARMUP,
        num_samples=NUTS_DRAWS,
        thinning=NUTS_THINNING,
        disable_progbar=True,
        seed=seed % 2**31,
    )
    return model.eval()


def data_hash(train_X: torch.Tensor, train_Y: torch.Tensor) -> str:
    """SHA-256 of the training data (inputs and targets, float64 bytes)."""
    digest = hashlib.sha256()
    for tensor in (train_X, train_Y):
        digest.update(tensor.detach().to(torch.float64).cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def gp_artifact(
    model: SingleTaskGP | FullyBayesianSingleTaskGP, train_X: torch.Tensor, train_Y: torch.Tensor
) -> ModelArtifact:
    """Serialise a fitted GP (state dict) with its diagnostics for the model registry.

    A fully Bayesian GP is stored as kind ``bayesgp`` with all its hyperparameter samples;
    its metrics give their median lengthscales and mean noise.
    """
    buffer = io.BytesIO()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, buffer)
    kernel = cast(Kernel, model.covar_module)  # set once fitted
    lengthscales = kernel.lengthscale.detach().cpu().reshape(-1, train_X.shape[-1])
    inputs = cast(tuple[torch.Tensor, ...], model.train_inputs)
    conditioned = int(inputs[0].shape[-2])  # fewer above EXACT_ROWS
    metrics: dict[str, object] = {
        "n_train": int(train_X.shape[0]),
        **({"n_conditioned": conditioned} if conditioned < train_X.shape[0] else {}),
        "noise": float(model.likelihood.noise.detach().mean()),
        "lengthscale": [float(v) for v in lengthscales.median(dim=0).values],
    }
    kind = "gp"
    if isinstance(model, FullyBayesianSingleTaskGP):
        kind, metrics["hyperparameter_samples"] = "bayesgp", int(model.num_mcmc_samples)
    return ModelArtifact(kind, data_hash(train_X, train_Y), metrics, buffer.getvalue())


def load_gp(
    weights: bytes, train_X: torch.Tensor, train_Y: torch.Tensor, bounds: torch.Tensor
) -> SingleTaskGP | FullyBayesianSingleTaskGP:
    """Rebuild a GP from :func:`gp_artifact` weights and the data it was trained on."""
    state = torch.load(io.BytesIO(weights), weights_only=True)
    # a fully Bayesian GP keeps one lengthscale row per sample (S x 1 x d, not 1 x d)
    if state["covar_module.raw_lengthscale"].dim() == 3:
        warped = any(key.startswith("input_transform.tf1.concentration") for key in state)
        bayesian = build_bayesian_gp(train_X, train_Y, bounds, input_warp=warped)
        bayesian.load_state_dict(state)
        return bayesian.eval()
    warped = any(key.startswith("input_transform.warp.") for key in state)
    kept = conditioned_rows(train_Y)  # the rows fit_gp conditioned on
    model = build_gp(train_X[kept], train_Y[kept], bounds, input_warp=warped)
    model.load_state_dict(state)
    return model.eval()
