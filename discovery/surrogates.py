"""Surrogate models, each a BoTorch ``Model`` with a posterior over candidates."""

from __future__ import annotations

import hashlib
import io

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.input import ChainedInputTransform, InputTransform, Normalize, Warp
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior

from discovery.domain import ModelArtifact

DTYPE = torch.float64


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


def fit_gp(
    train_X: torch.Tensor, train_Y: torch.Tensor, bounds: torch.Tensor, input_warp: bool = False
) -> SingleTaskGP:
    """Fit a GP by maximising the exact marginal likelihood (BoTorch defaults and priors).

    Args:
        train_X: ``n x d`` training inputs.
        train_Y: ``n x m`` training targets, oriented so that larger is better.
        bounds: ``2 x d`` bounds of the encoded space.
        input_warp: Fit Kumaraswamy input warps with the kernel (:func:`build_gp`).

    Returns:
        The fitted model in eval mode.

    """
    model = build_gp(train_X, train_Y, bounds, input_warp)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model.eval()


def data_hash(train_X: torch.Tensor, train_Y: torch.Tensor) -> str:
    """SHA-256 of the training data (inputs and targets, float64 bytes)."""
    digest = hashlib.sha256()
    for tensor in (train_X, train_Y):
        digest.update(tensor.detach().to(torch.float64).cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def gp_artifact(model: SingleTaskGP, train_X: torch.Tensor, train_Y: torch.Tensor) -> ModelArtifact:
    """Serialise a fitted GP (state dict) with its diagnostics for the model registry."""
    buffer = io.BytesIO()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, buffer)
    lengthscale = model.covar_module.lengthscale.detach().cpu().flatten().tolist()
    metrics = {
        "n_train": int(train_X.shape[0]),
        "noise": float(model.likelihood.noise.detach().mean()),
        "lengthscale": [float(v) for v in lengthscale],
    }
    return ModelArtifact("gp", data_hash(train_X, train_Y), metrics, buffer.getvalue())


def load_gp(
    weights: bytes, train_X: torch.Tensor, train_Y: torch.Tensor, bounds: torch.Tensor
) -> SingleTaskGP:
    """Rebuild a GP from :func:`gp_artifact` weights and the data it was trained on."""
    state = torch.load(io.BytesIO(weights), weights_only=True)
    warped = any(key.startswith("input_transform.warp.") for key in state)
    model = build_gp(train_X, train_Y, bounds, input_warp=warped)
    model.load_state_dict(state)
    return model.eval()
