"""Surrogate diagnostics: leave-one-out predictions of a GP and how well calibrated they are.

Leave-one-out (LOO) predictions of an exact GP need no refitting (Rasmussen & Williams,
*Gaussian Processes for Machine Learning*, 2006, sec. 5.4.2). With ``C = K + sigma_n^2 I``
the noisy training covariance and ``r = y - m`` the centred targets,

* ``mean_i = y_i - [C^-1 r]_i / [C^-1]_ii``
* ``var_i = 1 / [C^-1]_ii``

is the predictive distribution of the noisy observation ``y_i`` given the other ``n - 1``
points, with the hyperparameters held fixed. The GP's own transforms are respected: the
algebra runs on its normalised inputs and standardised targets, and the results are mapped
back to the scale of the targets it was trained on.

Calibration follows Kuleshov et al. (ICML 2018) and Tran et al. (Mach. Learn.: Sci.
Technol. 1, 025006, 2020): for nominal central-interval probabilities ``p``, the observed
fraction of points with ``|y - mu| <= z_p sigma`` should equal ``p``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize

#: Nominal central-interval probabilities of the calibration curve (0.05, 0.10, ..., 0.95).
LEVELS = np.round(np.arange(1, 20) / 20, 2)


@dataclass(frozen=True)
class LeaveOneOut:
    """Leave-one-out predictive distributions of the training targets.

    Attributes:
        observed: Training targets ``y``, shape ``n`` (the scale the model was given).
        mean: LOO predictive mean of each ``y_i``, shape ``n``.
        std: LOO predictive standard deviation of each noisy ``y_i`` (observation noise
            included), shape ``n``.

    """

    observed: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    def rescaled(self, factor: float) -> LeaveOneOut:
        """The predictions of ``factor`` times the targets (a negative factor flips them).

        Takes a model's LOO back to the user's units and sign, e.g. with ``factor = sign *
        scale`` for a model fitted to ``sign * y / scale``
        (:func:`discovery.planners.fitted_outcomes`). Exact for ``factor = +-1``.

        Args:
            factor: Nonzero multiplier of the targets.

        Returns:
            ``observed`` and ``mean`` times ``factor``, ``std`` times ``|factor|``.
        """
        return LeaveOneOut(factor * self.observed, factor * self.mean, abs(factor) * self.std)


@dataclass(frozen=True)
class Calibration:
    """Accuracy and calibration of Gaussian predictions against observations.

    Attributes:
        levels: Nominal central-interval probabilities ``p``, shape ``k``.
        observed: Fraction of points inside the central ``p`` interval, shape ``k``.
        miscalibration_area: Mean of ``|observed - p|`` over the levels, a Riemann
            approximation of the area between the calibration curve and the diagonal
            (0 is perfect, 0.5 the worst).
        coverage_95: Fraction of points inside the central 95% interval.
        mae: Mean absolute error of the means.
        rmse: Root mean squared error of the means.
        spearman: Spearman rank correlation of ``|error|`` with ``sigma`` (NaN when either
            is constant); positive when the model knows where it is unsure.
        nll: Mean Gaussian negative log-likelihood of the observations (nats per point).

    """

    levels: np.ndarray
    observed: np.ndarray
    miscalibration_area: float
    coverage_95: float
    mae: float
    rmse: float
    spearman: float
    nll: float


def loo_predictions(model: SingleTaskGP) -> LeaveOneOut:
    """Closed-form leave-one-out predictions of a fitted single-output exact GP.

    Args:
        model: A fitted ``SingleTaskGP`` with one output and no batch dimensions, on ``n``
            training points; input and ``Standardize`` outcome transforms are allowed.

    Returns:
        LOO means and standard deviations of the ``n`` training targets, in the scale the
        targets were passed to the model (before its outcome transform).

    Raises:
        ValueError: for a multi-output or batched model, or fewer than 2 training points.

    Example:
        >>> model = fit_gp(train_X, train_Y, bounds)  # train_X: n x d, train_Y: n x 1
        >>> loo = loo_predictions(model)
        >>> calibration(loo.observed, loo.mean, loo.std).coverage_95

    """
    if model.num_outputs != 1:
        raise ValueError(f"loo_predictions needs a single-output GP, got {model.num_outputs}")
    model.eval()  # in eval mode, train_inputs hold the transformed (normalised) inputs
    X = model.train_inputs[0]
    y = model.train_targets
    if X.dim() != 2 or y.dim() != 1:
        raise ValueError(f"loo_predictions needs an unbatched GP, got inputs {tuple(X.shape)}")
    if y.shape[0] < 2:
        raise ValueError(f"leave-one-out needs at least 2 training points, got {y.shape[0]}")
    with torch.no_grad():
        prior = model.forward(X)
        noisy = model.likelihood(prior)
        C = noisy.covariance_matrix
        residual = (y - prior.mean).unsqueeze(-1)
        L = _cholesky(C)
        C_inv = torch.cholesky_inverse(L)
        alpha = torch.cholesky_solve(residual, L).squeeze(-1)
        diag = torch.diagonal(C_inv)
        mean = y - alpha / diag
        std = diag.rsqrt()
        observed = y
        transform = getattr(model, "outcome_transform", None)
        if isinstance(transform, Standardize):
            shift = transform.means.reshape(-1)[0]
            scale = transform.stdvs.reshape(-1)[0]
            observed, mean, std = observed * scale + shift, mean * scale + shift, std * scale
        elif transform is not None:
            raise ValueError(
                f"loo_predictions supports Standardize outcome transforms, got "
                f"{type(transform).__name__}"
            )
    return LeaveOneOut(_numpy(observed), _numpy(mean), _numpy(std))


def calibration(
    observed: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    levels: np.ndarray = LEVELS,
) -> Calibration:
    """Calibration curve, 95% coverage, errors and error/uncertainty rank correlation.

    Args:
        observed: Measured values ``y``, shape ``n``.
        mean: Predicted means ``mu``, shape ``n``.
        std: Predicted standard deviations ``sigma > 0``, shape ``n``.
        levels: Nominal central-interval probabilities in ``(0, 1)``, shape ``k``.

    Returns:
        The :class:`Calibration` of the predictions.

    Raises:
        ValueError: on mismatched shapes, no points, non-positive ``std`` or levels
            outside ``(0, 1)``.

    Example:
        >>> calibration(np.array([0.0, 1.0]), np.zeros(2), np.ones(2)).coverage_95
        1.0

    """
    y, mu, sigma = (np.asarray(a, dtype=float).reshape(-1) for a in (observed, mean, std))
    if not y.shape == mu.shape == sigma.shape:
        raise ValueError(f"shapes differ: {y.shape}, {mu.shape}, {sigma.shape}")
    if y.size == 0:
        raise ValueError("calibration needs at least one point")
    if not np.all(sigma > 0):
        raise ValueError("std must be positive")
    p = np.asarray(levels, dtype=float).reshape(-1)
    if p.size == 0 or not np.all((p > 0) & (p < 1)):
        raise ValueError("levels must lie in (0, 1)")
    error = y - mu
    z = np.abs(error) / sigma
    inside = (z[None, :] <= central_z(p)[:, None]).mean(axis=1)
    return Calibration(
        levels=p,
        observed=inside,
        miscalibration_area=float(np.mean(np.abs(inside - p))),
        coverage_95=float(np.mean(z <= central_z(np.array([0.95]))[0])),
        mae=float(np.mean(np.abs(error))),
        rmse=float(math.sqrt(np.mean(error**2))),
        spearman=spearman(np.abs(error), sigma),
        nll=float(np.mean(0.5 * z**2 + np.log(sigma) + 0.5 * math.log(2 * math.pi))),
    )


def central_z(levels: np.ndarray) -> np.ndarray:
    """Half-widths ``z_p`` of central standard-normal intervals: ``P(|Z| <= z_p) = p``.

    Args:
        levels: Probabilities in ``(0, 1)``, shape ``k``.

    Returns:
        ``Phi^-1((1 + p) / 2)``, shape ``k`` (1.959964 for 0.95).

    """
    q = torch.as_tensor((1.0 + np.asarray(levels, dtype=float)) / 2.0, dtype=torch.float64)
    return torch.special.ndtri(q).numpy()


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when either is constant.

    Args:
        a: First sample, shape ``n``.
        b: Second sample, shape ``n``.

    """
    ra, rb = _ranks(np.asarray(a, dtype=float)), _ranks(np.asarray(b, dtype=float))
    if ra.size < 2 or np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank, shape ``n``."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size)
    ranks[order] = np.arange(1, values.size + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def _cholesky(matrix: torch.Tensor) -> torch.Tensor:
    """Cholesky factor, adding jitter (1e-9 .. 1e-3 of the mean diagonal) if needed."""
    L, info = torch.linalg.cholesky_ex(matrix)
    scale = float(torch.diagonal(matrix).mean())
    jitter = 1e-9
    while int(info) != 0 and jitter <= 1e-3:
        eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
        L, info = torch.linalg.cholesky_ex(matrix + jitter * scale * eye)
        jitter *= 10
    if int(info) != 0:
        raise ValueError("the GP's training covariance is not positive definite")
    return L


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(torch.float64).cpu().numpy().reshape(-1)
