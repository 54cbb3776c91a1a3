"""Leave-one-out GP predictions and calibration metrics, checked against brute force."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize
from scipy import stats

from discovery.diagnostics import (
    LEVELS,
    LeaveOneOut,
    calibration,
    central_z,
    loo_predictions,
    spearman,
)
from discovery.surrogates import DTYPE, build_gp, fit_gp, safe_bounds

BOUNDS = torch.tensor([[0.0, -2.0], [1.0, 2.0]], dtype=DTYPE)


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    X = BOUNDS[0] + torch.rand(n, 2, generator=generator, dtype=DTYPE) * (BOUNDS[1] - BOUNDS[0])
    Y = torch.sin(3.0 * X[:, :1]) + 0.5 * X[:, 1:] ** 2 + 10.0  # offset: exercises Standardize
    return X, Y


def _fixed_gp(X: torch.Tensor, Y: torch.Tensor) -> SingleTaskGP:
    """A GP with hand-set hyperparameters (no fitting)."""
    model = build_gp(X, Y, BOUNDS)
    model.covar_module.lengthscale = torch.tensor([[0.3, 0.6]], dtype=DTYPE)
    model.likelihood.noise = torch.tensor([0.05], dtype=DTYPE)
    model.mean_module.constant = torch.tensor(0.2, dtype=DTYPE)
    return model.eval()


def _brute_force_loo(model: SingleTaskGP, X: torch.Tensor, Y: torch.Tensor) -> np.ndarray:
    """Condition a copy of the GP on n - 1 points, n times; returns ``n x 2`` (mean, std)."""
    shift = model.outcome_transform.means.detach().reshape(())
    scale = model.outcome_transform.stdvs.detach().reshape(())
    Y_std = (Y - shift) / scale  # the full model's standardisation, held fixed
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("outcome_transform")}
    rows = []
    for i in range(X.shape[0]):
        keep = torch.arange(X.shape[0]) != i
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "data not standardised": it is, on all n points
            sub = SingleTaskGP(
                X[keep],
                Y_std[keep],
                input_transform=Normalize(d=2, bounds=safe_bounds(BOUNDS)),
                outcome_transform=None,
            )
        sub.load_state_dict(state)
        sub.eval()
        with torch.no_grad():
            posterior = sub.posterior(X[i : i + 1], observation_noise=True)
            mean, variance = float(posterior.mean), float(posterior.variance)
        rows.append([mean * float(scale) + float(shift), math.sqrt(variance) * float(scale)])
    return np.array(rows)


def test_closed_form_loo_matches_brute_force_with_fixed_hyperparameters() -> None:
    X, Y = _data(9, seed=0)
    model = _fixed_gp(X, Y)
    loo = loo_predictions(model)
    expected = _brute_force_loo(model, X, Y)
    np.testing.assert_allclose(loo.observed, Y.numpy().ravel(), rtol=1e-12)
    np.testing.assert_allclose(loo.mean, expected[:, 0], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(loo.std, expected[:, 1], rtol=1e-8, atol=1e-10)
    assert loo.mean.shape == loo.std.shape == (9,)


def test_closed_form_loo_matches_brute_force_on_a_fitted_gp() -> None:
    X, Y = _data(16, seed=1)
    torch.manual_seed(0)
    model = fit_gp(X, Y, BOUNDS)
    loo = loo_predictions(model)
    expected = _brute_force_loo(model, X, Y)
    np.testing.assert_allclose(loo.mean, expected[:, 0], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(loo.std, expected[:, 1], rtol=1e-6, atol=1e-8)
    # a smooth function: held-out predictions beat predicting the mean of the data
    assert float(np.sqrt(np.mean((loo.mean - loo.observed) ** 2))) < 0.6 * float(Y.std())


def test_loo_refuses_multi_output_and_single_point_models() -> None:
    X, Y = _data(5, seed=2)
    with pytest.raises(ValueError, match="single-output"):
        loo_predictions(build_gp(X, torch.cat([Y, -Y], dim=1), BOUNDS).eval())
    with pytest.raises(ValueError, match="at least 2"):
        loo_predictions(_fixed_gp(X[:1], Y[:1]))


def test_central_z_matches_the_normal_quantiles() -> None:
    assert central_z(np.array([0.95]))[0] == pytest.approx(1.959963985, abs=1e-8)
    np.testing.assert_allclose(central_z(LEVELS), stats.norm.ppf((1 + LEVELS) / 2), rtol=1e-12)
    assert LEVELS[0] == 0.05 and LEVELS[-1] == 0.95 and LEVELS.size == 19


def test_calibration_by_hand() -> None:
    # |z| = 0, 1, 2, 3; z_0.5 = 0.674 holds one point, z_0.9 = 1.645 holds two
    result = calibration(np.arange(4.0), np.zeros(4), np.ones(4), levels=np.array([0.5, 0.9]))
    np.testing.assert_allclose(result.observed, [0.25, 0.5])
    assert result.miscalibration_area == pytest.approx((0.25 + 0.4) / 2)
    assert result.coverage_95 == 0.5
    assert result.mae == 1.5
    assert result.rmse == pytest.approx(math.sqrt(3.5))
    assert math.isnan(result.spearman)  # sigma is constant


def test_nll_by_hand() -> None:
    half_log_two_pi = 0.5 * math.log(2 * math.pi)
    # y = mu: only the normalisation, log(sigma) + 0.5 log(2 pi)
    exact = calibration(np.full(3, 5.0), np.full(3, 5.0), np.full(3, 2.0))
    assert exact.nll == pytest.approx(math.log(2.0) + half_log_two_pi, rel=1e-12)
    # z = 1 and z = 2 with sigma = 1 and 0.5: mean of (0.5 + 0) and (2 + log 0.5)
    result = calibration(np.array([1.0, -1.0]), np.zeros(2), np.array([1.0, 0.5]))
    expected = half_log_two_pi + (0.5 + 2.0 + math.log(0.5)) / 2
    assert result.nll == pytest.approx(expected, rel=1e-12)
    assert result.nll == pytest.approx(
        -np.mean(stats.norm.logpdf([1.0, -1.0], loc=0.0, scale=[1.0, 0.5])), rel=1e-12
    )


@pytest.mark.parametrize(("sigma", "observed"), [(1e-6, 0.0), (1e6, 1.0)])
def test_over_and_underconfidence_give_the_worst_area(sigma: float, observed: float) -> None:
    y = np.linspace(-1, 1, 10) + 0.05
    result = calibration(y, np.zeros(10), np.full(10, sigma))
    np.testing.assert_allclose(result.observed, observed)
    assert result.miscalibration_area == pytest.approx(0.5)


def test_gaussian_predictions_are_calibrated() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    mu = rng.normal(size=n)
    sigma = rng.uniform(0.1, 3.0, size=n)
    y = mu + sigma * rng.normal(size=n)
    result = calibration(y, mu, sigma)
    assert result.miscalibration_area < 0.01
    assert result.coverage_95 == pytest.approx(0.95, abs=0.01)
    np.testing.assert_allclose(result.observed, LEVELS, atol=0.02)
    assert result.mae == pytest.approx(np.sqrt(2 / np.pi) * sigma.mean(), rel=0.03)
    assert result.spearman > 0.3  # larger sigma, larger errors


def test_spearman_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 5, size=40).astype(float)
    b = a + rng.integers(0, 3, size=40)
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, rel=1e-12)
    assert spearman(np.arange(5.0), -np.arange(5.0)) == pytest.approx(-1.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.ones(3), np.ones(2), np.ones(3)), "shapes differ"),
        ((np.ones(0), np.ones(0), np.ones(0)), "at least one"),
        ((np.ones(2), np.ones(2), np.array([1.0, 0.0])), "positive"),
    ],
)
def test_calibration_rejects_bad_input(args: tuple[np.ndarray, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calibration(*args)
    with pytest.raises(ValueError, match="levels"):
        calibration(np.ones(2), np.ones(2), np.ones(2), levels=np.array([0.5, 1.0]))


def test_rescaled_loo_is_in_the_units_and_sign_of_the_factor() -> None:
    loo = LeaveOneOut(np.array([1.0, -2.0]), np.array([0.5, -1.5]), np.array([0.1, 0.2]))
    flipped = loo.rescaled(-1.0)  # a minimised objective, fitted as measured: exact
    assert flipped.observed.tolist() == [-1.0, 2.0] and flipped.mean.tolist() == [-0.5, 1.5]
    assert flipped.std.tolist() == [0.1, 0.2]
    tiny = loo.rescaled(-(2.0**-40))  # fitted in units of 2^-40 (a diffusivity in m^2/s)
    np.testing.assert_array_equal(tiny.mean, -(2.0**-40) * loo.mean)
    np.testing.assert_array_equal(tiny.std, 2.0**-40 * loo.std)
