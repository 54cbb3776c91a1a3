"""Deep ensembles: recalibration, training, storage and the BoTorch model wrapper."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement

from discovery.ensembles import (
    LEARNING_RATES,
    MEMBERS,
    Ensemble,
    EnsembleModel,
    FeatureInputs,
    TrainingConfig,
    _one_cycle,
    recalibration_scale,
    train_ensemble,
)

# tiny models: on a busy machine, intra-op threads only wait on each other
pytestmark = pytest.mark.usefixtures("single_torch_thread")

Z_95 = 1.959963984540054
N_FEATURES = 2


@pytest.fixture(scope="module")
def sum_problem() -> dict[str, np.ndarray]:
    """y = x1 + x2 + noise: 160 training rows and 40 validation rows."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-2.0, 2.0, size=(200, N_FEATURES)).astype(np.float32)
    y = X.sum(1).astype(np.float64) + 0.1 * rng.standard_normal(200)
    return {"X": X[:160], "y": y[:160], "X_val": X[160:], "y_val": y[160:]}


@pytest.fixture(scope="module")
def training_config() -> TrainingConfig:
    return TrainingConfig(
        n_members=2, epochs=15, patience=15, batch_size=32, lr=1e-2, seed=3, device="cpu"
    )


MEMBER_ARGS = {"n_features": N_FEATURES, "hidden": 16, "depth": 1, "dropout": 0.0}


def train_sum_ensemble(problem: dict[str, np.ndarray], config: TrainingConfig) -> Ensemble:
    features = torch.from_numpy(problem["X"])
    return train_ensemble(
        "mlp",
        MEMBER_ARGS,
        FeatureInputs(problem["X"]),
        problem["y"],
        FeatureInputs(problem["X_val"]),
        problem["y_val"],
        config,
        prepare=lambda member: member.fit_input_scaling(features),
    )


@pytest.fixture(scope="module")
def sum_ensemble(sum_problem: dict[str, np.ndarray], training_config: TrainingConfig) -> Ensemble:
    return train_sum_ensemble(sum_problem, training_config)


@pytest.fixture(scope="module")
def ensemble_model(sum_ensemble: Ensemble) -> EnsembleModel:
    return EnsembleModel(sum_ensemble, encode=lambda X: X.float())


# ---------------------------------------------------------------- recalibration


def test_recalibration_scale_is_one_when_95_percent_inside() -> None:
    z = np.full(20, Z_95)
    assert recalibration_scale(z, np.zeros(20), np.ones(20)) == pytest.approx(1.0)


def test_recalibration_scale_doubles_for_twice_the_errors() -> None:
    std = np.array([0.5, 1.0, 2.0, 4.0])
    observed = 10.0 + 2.0 * Z_95 * std * np.array([1, -1, 1, -1])  # |z| = 2 * 1.96 everywhere
    assert recalibration_scale(observed, np.full(4, 10.0), std) == pytest.approx(2.0)


def test_recalibration_scale_uses_the_95_percent_quantile() -> None:
    z = np.arange(101, dtype=float)  # |z| = 0..100: its 95% quantile is 95
    assert recalibration_scale(-z, np.zeros(101), np.ones(101)) == pytest.approx(95.0 / Z_95)


def test_recalibration_scale_empty_is_one() -> None:
    assert recalibration_scale(np.zeros(0), np.zeros(0), np.zeros(0)) == 1.0


# ---------------------------------------------------------------- config and validation


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_members": 0}, "n_members must be >= 1"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"patience": -1}, "patience must be >= 1"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"loss": "mse"}, "loss must be one of"),
        ({"beta": -3.0}, "beta must lie in"),
        ({"beta": 1.5}, "beta must lie in"),
    ],
)
def test_training_config_rejects_bad_values(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**changes)  # type: ignore[arg-type]


def test_every_member_kind_has_a_default_learning_rate(
    sum_problem: dict[str, np.ndarray],
) -> None:
    assert set(LEARNING_RATES) == set(MEMBERS)
    config = TrainingConfig(n_members=1, epochs=1, batch_size=32, device="cpu")
    assert config.lr is None
    train = FeatureInputs(sum_problem["X"][:40])
    ensemble = train_ensemble(
        "mlp", {"n_features": N_FEATURES, "hidden": 8}, train, sum_problem["y"][:40],
        train, sum_problem["y"][:40], config,
    )  # fmt: skip
    assert ensemble.history[0]["lr"] == LEARNING_RATES["mlp"]


def test_train_ensemble_rejects_mismatched_lengths(
    sum_problem: dict[str, np.ndarray], training_config: TrainingConfig
) -> None:
    with pytest.raises(ValueError, match=r"train: 160 inputs but 159 targets"):
        train_ensemble(
            "mlp",
            MEMBER_ARGS,
            FeatureInputs(sum_problem["X"]),
            sum_problem["y"][:-1],
            FeatureInputs(sum_problem["X_val"]),
            sum_problem["y_val"],
            training_config,
        )


def test_train_ensemble_rejects_non_finite_targets(
    sum_problem: dict[str, np.ndarray], training_config: TrainingConfig
) -> None:
    y_val = sum_problem["y_val"].copy()
    y_val[3] = np.nan
    with pytest.raises(ValueError, match=r"val: targets must be finite"):
        train_ensemble(
            "mlp",
            MEMBER_ARGS,
            FeatureInputs(sum_problem["X"]),
            sum_problem["y"],
            FeatureInputs(sum_problem["X_val"]),
            y_val,
            training_config,
        )


def test_train_ensemble_rejects_unknown_kind(
    sum_problem: dict[str, np.ndarray], training_config: TrainingConfig
) -> None:
    with pytest.raises(ValueError, match=r"unknown member kind 'schnet'"):
        train_ensemble(
            "schnet",
            {},
            FeatureInputs(sum_problem["X"]),
            sum_problem["y"],
            FeatureInputs(sum_problem["X_val"]),
            sum_problem["y_val"],
            training_config,
        )


# ---------------------------------------------------------------- training


def test_ensemble_beats_predicting_the_mean(
    sum_ensemble: Ensemble, sum_problem: dict[str, np.ndarray]
) -> None:
    mean, epistemic, std = sum_ensemble.predict(FeatureInputs(sum_problem["X_val"]))
    assert mean.shape == epistemic.shape == std.shape == (40,)
    assert np.all(std > 0)
    assert np.all(std >= epistemic)
    baseline = np.mean(np.abs(sum_problem["y_val"] - sum_problem["y"].mean()))
    mae = np.mean(np.abs(sum_problem["y_val"] - mean))
    assert mae < 0.25 * baseline
    assert len(sum_ensemble.history) == 2
    assert sum_ensemble.scale > 0


def test_members_differ(sum_ensemble: Ensemble, sum_problem: dict[str, np.ndarray]) -> None:
    means, variances = sum_ensemble.predict_members(torch.from_numpy(sum_problem["X_val"]))
    assert means.shape == variances.shape == (2, 40)
    assert not torch.allclose(means[0], means[1])
    assert [h["seed"] for h in sum_ensemble.history] == [3.0, 4.0]


def test_seeded_training_is_reproducible(
    sum_ensemble: Ensemble, sum_problem: dict[str, np.ndarray], training_config: TrainingConfig
) -> None:
    # one member suffices: member 0 of both runs sees the same seed
    again = train_sum_ensemble(sum_problem, replace(training_config, n_members=1))
    inputs = FeatureInputs(sum_problem["X_val"])
    means, _ = sum_ensemble.predict_members(inputs.batch(np.arange(40)))
    means_again, _ = again.predict_members(inputs.batch(np.arange(40)))
    torch.testing.assert_close(means_again[0], means[0], rtol=0, atol=0)


def test_training_runs_with_a_one_step_warm_up(
    sum_problem: dict[str, np.ndarray], training_config: TrainingConfig
) -> None:
    # 160 rows / 32 per batch x 4 epochs = 20 steps: a 5% warm-up is exactly one step,
    # where torch's OneCycleLR divided by zero
    config = replace(training_config, n_members=1, epochs=4)
    ensemble = train_sum_ensemble(sum_problem, config)
    assert ensemble.history[0]["epochs"] == 4.0


def _learning_rates(schedule: torch.optim.lr_scheduler.LRScheduler, steps: int) -> list[float]:
    rates = []
    for _ in range(steps):
        rates.append(float(schedule.get_last_lr()[0]))
        schedule.optimizer.step()
        schedule.step()
    return rates


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=1e-3)


@pytest.mark.parametrize("total_steps", [*range(1, 45), 75, 1000])
def test_one_cycle_schedule_warms_up_two_steps_and_keeps_runs_of_40_steps(
    total_steps: int,
) -> None:
    rates = _learning_rates(_one_cycle(_optimizer(), 1e-3, total_steps), total_steps)
    assert all(0 < rate <= 1e-3 for rate in rates)
    if total_steps >= 40:  # 5% is two steps or more: torch's own schedule, models unchanged
        reference = torch.optim.lr_scheduler.OneCycleLR(
            _optimizer(), 1e-3, total_steps=total_steps, pct_start=0.05
        )
        assert rates == _learning_rates(reference, total_steps)
    elif total_steps >= 3:  # two warm-up steps (from 1e-3 / 25), the peak, then the decay
        assert rates[:2] == [pytest.approx(4e-5), pytest.approx(1e-3)]
        assert rates[2:] == sorted(rates[2:], reverse=True) and rates[2] < 1e-3


def test_the_documented_learning_rate_range_is_the_schedules() -> None:
    doc = " ".join((TrainingConfig.__doc__ or "").split())
    found = re.search(r"from ``lr / (\d+)``.* to ``lr / (\d+)`` at the last step", doc)
    assert found, doc
    first, last = (1e-3 / float(n) for n in found.groups())
    rates = _learning_rates(_one_cycle(_optimizer(), 1e-3, 100), 100)
    assert rates[0] == pytest.approx(first) and rates[-1] == pytest.approx(last)
    assert max(rates) == pytest.approx(1e-3)


def test_bytes_round_trip(sum_ensemble: Ensemble, sum_problem: dict[str, np.ndarray]) -> None:
    restored = Ensemble.from_bytes(sum_ensemble.to_bytes(), device="cpu")
    assert restored.kind == "mlp"
    assert restored.member_args == MEMBER_ARGS
    assert restored.scale == sum_ensemble.scale
    assert restored.history == sum_ensemble.history
    inputs = FeatureInputs(sum_problem["X_val"])
    for got, want in zip(restored.predict(inputs), sum_ensemble.predict(inputs), strict=True):
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- BoTorch model


def test_posterior_shapes(ensemble_model: EnsembleModel) -> None:
    X = torch.rand(4, 3, N_FEATURES, dtype=torch.float64)
    posterior = ensemble_model.posterior(X)
    assert posterior.mean.shape == (4, 3, 1)
    assert posterior.variance.shape == (4, 3, 1)
    assert posterior.mean.dtype == torch.float64
    assert torch.all(posterior.variance > 0)
    noisy = ensemble_model.posterior(X, observation_noise=True)
    torch.testing.assert_close(noisy.mean, posterior.mean)
    assert torch.all(noisy.variance > posterior.variance)
    assert ensemble_model.num_outputs == 1


def test_posterior_matches_predict(
    ensemble_model: EnsembleModel, sum_ensemble: Ensemble, sum_problem: dict[str, np.ndarray]
) -> None:
    X = torch.from_numpy(sum_problem["X_val"]).double()
    posterior = ensemble_model.posterior(X.unsqueeze(-2), observation_noise=True)
    mean, epistemic, std = sum_ensemble.predict(FeatureInputs(sum_problem["X_val"]))
    np.testing.assert_allclose(posterior.mean.squeeze().detach().numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(posterior.variance.sqrt().squeeze().detach().numpy(), std, rtol=1e-6)
    latent = ensemble_model.posterior(X.unsqueeze(-2))
    np.testing.assert_allclose(
        latent.variance.sqrt().squeeze().detach().numpy(), epistemic, rtol=1e-5
    )


def test_sign_negates_the_mean(sum_ensemble: Ensemble) -> None:
    X = torch.rand(5, 1, N_FEATURES, dtype=torch.float64)
    plus = EnsembleModel(sum_ensemble, encode=lambda X: X.float()).posterior(X)
    minus = EnsembleModel(sum_ensemble, encode=lambda X: X.float(), sign=-1.0).posterior(X)
    torch.testing.assert_close(minus.mean, -plus.mean)
    torch.testing.assert_close(minus.variance, plus.variance)


def test_works_in_q_log_noisy_expected_improvement(
    ensemble_model: EnsembleModel, sum_problem: dict[str, np.ndarray]
) -> None:
    torch.manual_seed(0)
    X_baseline = torch.from_numpy(sum_problem["X"][:20]).double()
    acqf = qLogNoisyExpectedImprovement(ensemble_model, X_baseline=X_baseline)
    candidates = torch.rand(6, 1, N_FEATURES, dtype=torch.float64) * 4.0 - 2.0
    values = acqf(candidates)
    assert values.shape == (6,)
    assert torch.isfinite(values).all()
    # y = x1 + x2: a candidate at the top corner beats one at the bottom corner
    corners = torch.tensor([[[2.0, 2.0]], [[-2.0, -2.0]]], dtype=torch.float64)
    high, low = acqf(corners)
    assert high > low
