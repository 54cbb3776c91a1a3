"""GP surrogates: fitting, serialisation round trip and training-data hashes."""

from __future__ import annotations

import io

import pytest
import torch
from botorch.models import SingleTaskGP
from gpytorch.mlls import ExactMarginalLogLikelihood

from discovery.surrogates import (
    DTYPE,
    build_gp,
    data_hash,
    device,
    fit_gp,
    gp_artifact,
    load_gp,
    safe_bounds,
)

BOUNDS = torch.tensor([[0.0, -2.0], [1.0, 2.0]], dtype=DTYPE)


def branin_like(X: torch.Tensor) -> torch.Tensor:
    """Smooth ``n x 1`` test function on BOUNDS."""
    return (torch.sin(3.0 * X[:, :1]) + 0.5 * X[:, 1:] ** 2 - X[:, :1] * X[:, 1:]).to(DTYPE)


def uniform_points(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    unit = torch.rand(n, 2, generator=generator, dtype=DTYPE)
    return BOUNDS[0] + unit * (BOUNDS[1] - BOUNDS[0])


@pytest.fixture(scope="module")
def fitted() -> tuple[SingleTaskGP, torch.Tensor, torch.Tensor]:
    train_X = uniform_points(20, seed=0)
    train_Y = branin_like(train_X)
    torch.manual_seed(0)
    return fit_gp(train_X, train_Y, BOUNDS), train_X, train_Y


def test_fit_gp_returns_a_model_in_eval_mode_that_tracks_its_data(
    fitted: tuple[SingleTaskGP, torch.Tensor, torch.Tensor],
) -> None:
    model, train_X, train_Y = fitted
    assert not model.training
    with torch.no_grad():
        mean = model.posterior(train_X).mean
        test_X = uniform_points(50, seed=1)
        test_mean = model.posterior(test_X).mean
    assert mean.shape == train_Y.shape
    assert torch.allclose(mean, train_Y, atol=0.05 * float(train_Y.std()))
    # a smooth function is learned, not just memorised: held-out RMSE well below the spread
    truth = branin_like(test_X)
    rmse = float(((test_mean - truth) ** 2).mean().sqrt())
    assert rmse < 0.25 * float(truth.std())


def test_gp_artifact_then_load_gp_gives_the_same_posterior(
    fitted: tuple[SingleTaskGP, torch.Tensor, torch.Tensor],
) -> None:
    model, train_X, train_Y = fitted
    artifact = gp_artifact(model, train_X, train_Y)
    restored = load_gp(artifact.weights, train_X, train_Y, BOUNDS)
    assert not restored.training
    test_X = uniform_points(30, seed=2)
    with torch.no_grad():
        before, after = model.posterior(test_X), restored.posterior(test_X)
        assert torch.allclose(after.mean, before.mean, rtol=1e-10, atol=1e-12)
        assert torch.allclose(after.variance, before.variance, rtol=1e-10, atol=1e-12)


def test_an_input_warped_gp_round_trips_through_its_artifact() -> None:
    train_X = uniform_points(20, seed=0)
    model = fit_gp(train_X, branin_like(train_X), BOUNDS, input_warp=True)
    artifact = gp_artifact(model, train_X, branin_like(train_X))
    restored = load_gp(artifact.weights, train_X, branin_like(train_X), BOUNDS)
    test_X = uniform_points(30, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(restored.posterior(test_X).mean, model.posterior(test_X).mean)


def test_input_warping_learns_a_response_that_changes_fast_at_one_end() -> None:
    # y = sin(8 sqrt(x)): wiggles near x = 0, flat near 1; a stationary kernel must
    # compromise, the Kumaraswamy warp stretches the start of the range
    def response(X: torch.Tensor) -> torch.Tensor:
        return torch.sin(8 * X[:, :1].sqrt()) + 0 * X[:, 1:]

    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=DTYPE)
    errors = {False: 0.0, True: 0.0}
    for seed in range(3):
        generator = torch.Generator().manual_seed(seed)
        X = torch.rand(30, 2, generator=generator, dtype=DTYPE)
        test_X = torch.rand(400, 2, generator=generator, dtype=DTYPE)
        for warped in errors:
            model = fit_gp(X, response(X), bounds, input_warp=warped)
            with torch.no_grad():
                error = (model.posterior(test_X).mean - response(test_X)).abs().mean()
            errors[warped] += float(error)
    assert errors[True] < 0.7 * errors[False]


def test_load_gp_really_uses_the_weights(
    fitted: tuple[SingleTaskGP, torch.Tensor, torch.Tensor],
) -> None:
    model, train_X, train_Y = fitted
    test_X = uniform_points(30, seed=2)
    unfitted = build_gp(train_X, train_Y, BOUNDS).eval()
    with torch.no_grad():
        gap = (unfitted.posterior(test_X).mean - model.posterior(test_X).mean).abs().max()
    assert float(gap) > 1e-3


def test_gp_artifact_describes_the_model(
    fitted: tuple[SingleTaskGP, torch.Tensor, torch.Tensor],
) -> None:
    model, train_X, train_Y = fitted
    artifact = gp_artifact(model, train_X, train_Y)
    assert artifact.kind == "gp"
    assert artifact.data_hash == data_hash(train_X, train_Y)
    assert artifact.metrics["n_train"] == 20
    assert artifact.metrics["noise"] == pytest.approx(float(model.likelihood.noise.detach().mean()))
    assert len(artifact.metrics["lengthscale"]) == 2
    state = torch.load(io.BytesIO(artifact.weights), weights_only=True)
    assert set(state) == set(model.state_dict())


def test_data_hash_is_sha256_hex_and_depends_on_inputs_and_targets() -> None:
    X = uniform_points(5, seed=3)
    Y = branin_like(X)
    digest = data_hash(X, Y)
    assert len(digest) == 64
    int(digest, 16)
    assert data_hash(X.clone(), Y.clone()) == digest
    assert data_hash(X, -Y) != digest
    assert data_hash(X[:4], Y[:4]) != digest
    X2 = X.clone()
    X2[0, 0] += 1e-12
    assert data_hash(X2, Y) != digest


def test_data_hash_ignores_dtype_and_memory_layout() -> None:
    X = torch.tensor([[0.5, 1.0], [0.25, -2.0]], dtype=torch.float32)
    Y = torch.tensor([[1.0], [2.0]], dtype=torch.float32)
    assert data_hash(X, Y) == data_hash(X.double(), Y.double())
    assert data_hash(X.t().contiguous().t(), Y) == data_hash(X, Y)


def test_safe_bounds_widens_only_degenerate_columns() -> None:
    bounds = torch.tensor([[0.0, 3.0, 5.0], [1.0, 3.0, 4.0]], dtype=DTYPE)
    widened = safe_bounds(bounds)
    assert widened.tolist() == [[0.0, 3.0, 5.0], [1.0, 4.0, 6.0]]
    assert bounds.tolist() == [[0.0, 3.0, 5.0], [1.0, 3.0, 4.0]]  # input untouched


def test_gp_fits_with_a_constant_input_column() -> None:
    X = uniform_points(12, seed=4)
    X[:, 1] = 0.7
    bounds = torch.stack([X.min(dim=0).values, X.max(dim=0).values])
    model = fit_gp(X, branin_like(X), bounds)
    with torch.no_grad():
        assert torch.isfinite(model.posterior(X).mean).all()


def test_device_is_cuda_exactly_when_available() -> None:
    assert device().type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.usefixtures("small_gp_limits")
def test_a_gp_on_many_results_fits_on_a_sample_and_conditions_on_the_best_and_a_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import discovery.surrogates as surrogates

    fitted_on: list[int] = []
    fit = surrogates.fit_gpytorch_mll

    def counted(mll: ExactMarginalLogLikelihood) -> object:
        fitted_on.append(mll.model.train_inputs[0].shape[0])
        return fit(mll)

    monkeypatch.setattr(surrogates, "fit_gpytorch_mll", counted)
    torch.manual_seed(0)
    X = torch.rand(100, 2, dtype=torch.float64)
    Y = torch.sin(5 * X).sum(-1, keepdim=True)
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    model = surrogates.fit_gp(X, Y, bounds, input_warp=True)
    assert fitted_on == [30]  # the likelihood's L-BFGS on a sample only
    kept = surrogates.conditioned_rows(Y)
    assert model.train_inputs[0].shape[0] == 60 == len(set(kept.tolist()))
    assert set(torch.topk(Y[:, 0], 10).indices.tolist()) <= set(kept.tolist())  # the best
    artifact = surrogates.gp_artifact(model, X, Y)
    assert (artifact.metrics["n_train"], artifact.metrics["n_conditioned"]) == (100, 60)
    loaded = surrogates.load_gp(artifact.weights, X, Y, bounds)  # the same rows again
    with torch.no_grad():
        assert torch.allclose(loaded.posterior(X).mean, model.posterior(X).mean)
    assert surrogates.fit_gp(X[:25], Y[:25], bounds).train_inputs[0].shape[0] == 25
