"""Surrogates of one's own: the registry's rules, their models, installed plugins."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms import Normalize, Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood

from discovery.acquisition import (
    ACQUISITIONS,
    PLUGIN_FAILURES,
    PLUGIN_GROUP,
    acquisitions,
    load_plugins,
)
from discovery.campaign_models import (
    SURROGATE_PLUGIN_GROUP,
    SURROGATE_PLUGINS,
    SurrogateInputs,
    SurrogatePluginError,
    SurrogateSpec,
    load_surrogate_plugins,
    register_surrogate,
    surrogate_origin,
    surrogates,
)
from discovery.planners import make_planner, with_acquisition, with_surrogate
from discovery.simulate import PoolTask, simulate
from tests.discovery.test_planners import MAXIMIZE_Y, SOLVENT_SPACE, pool_problem, solvent_response
from tests.stand_ins import install_distribution

PLUGIN_MODULE = """
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms import Normalize, Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood

from discovery.campaign_models import SurrogateSpec


def fit(inputs):
    d = inputs.train_X.shape[-1]
    gp = SingleTaskGP(
        inputs.train_X,
        inputs.train_Y,
        input_transform=Normalize(d, bounds=inputs.bounds),
        outcome_transform=Standardize(1),
    )
    fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
    return gp


PLUG_GP = SurrogateSpec(fit, gaussian_process=True)
"""

#: The origin a campaign records of the installed plugin.
PLUG_GP_ORIGIN = {
    "source": "my_surrogates:PLUG_GP",
    "distribution": "my-surrogates",
    "version": "0.1",
}


@contextmanager
def restored_surrogate_registry() -> Iterator[None]:
    """Leave the registered surrogates and the plugin cache as they were."""
    before, failures = dict(SURROGATE_PLUGINS), dict(PLUGIN_FAILURES)
    load_surrogate_plugins.cache_clear()
    try:
        yield
    finally:
        SURROGATE_PLUGINS.clear()
        SURROGATE_PLUGINS.update(before)
        PLUGIN_FAILURES.clear()
        PLUGIN_FAILURES.update(failures)
        load_surrogate_plugins.cache_clear()


@pytest.fixture
def registry() -> Iterator[None]:
    with restored_surrogate_registry():
        yield


def install_plugin(root: Path, name: str, target: str, module: str = PLUGIN_MODULE) -> None:
    """A package installed under ``root``: its module and the entry point naming it."""
    install_distribution(
        root, "my_surrogates", module, SURROGATE_PLUGIN_GROUP, f"{name} = {target}"
    )


def fit_plain_gp(inputs: SurrogateInputs) -> Model:
    """A GP of one's own, registered without saying so: used as any other model."""
    d = inputs.train_X.shape[-1]
    gp = SingleTaskGP(
        inputs.train_X,
        inputs.train_Y,
        input_transform=Normalize(d, bounds=inputs.bounds),
        outcome_transform=Standardize(1),
    )
    fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
    return gp


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("warp", "is a word of strategy names"),
        ("iwarp", "is a word of strategy names"),
        ("endgame", "is a word of strategy names"),
        ("top", "is an acquisition's name already"),
        ("qucb", "is an acquisition's name already"),
        ("random", "is a word of strategy names"),
        ("portfolio", "is a word of strategy names"),
        ("rl", "is a word of strategy names"),
        ("gp", "is already registered"),
        ("ensemble", "is already registered"),
        ("my+gp", "lower-case letters, digits and _"),
        ("rl:mine", "lower-case letters, digits and _"),
        ("", "lower-case letters, digits and _"),
        ("Mine", "lower-case letters, digits and _"),
    ],
)
def test_a_name_that_would_change_or_never_reach_a_strategy_is_refused(
    registry: None, name: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        register_surrogate(name, fit_plain_gp)
    assert name not in SURROGATE_PLUGINS
    assert make_planner("gp+top+warp").name == "gp+top+warp"  # unchanged


def test_a_name_is_registered_once(registry: None) -> None:
    register_surrogate("plain_gp", fit_plain_gp)
    with pytest.raises(ValueError, match="surrogate 'plain_gp' is already registered"):
        register_surrogate("plain_gp", SurrogateSpec(fit_plain_gp, gaussian_process=True))
    assert not SURROGATE_PLUGINS["plain_gp"].spec.gaussian_process


def test_a_registered_surrogate_proposes_a_batch_and_describes_its_model(registry: None) -> None:
    register_surrogate("plain_gp", fit_plain_gp)
    assert surrogates()[-1] == "plain_gp"
    problem, measured, pending = pool_problem()
    planner = make_planner("plain_gp+qucb+warp")
    plan = planner.plan(problem, 3, seed=0)
    picks = {s.candidate for s in plan.suggestions}
    assert planner.name == "plain_gp+qucb+warp"
    assert len(picks) == 3 and not picks & {*measured.tolist(), *pending.tolist()}
    model = plan.model
    assert model is not None and model.kind == "plain_gp"
    assert model.metrics["n_train"] == 12
    assert model.metrics["model_class"] == "botorch.models.gp_regression.SingleTaskGP"
    origin = model.metrics["surrogate_plugin"]
    assert origin["source"].endswith(":fit_plain_gp") and origin["version"] is None
    state = torch.load(io.BytesIO(model.weights), weights_only=True)
    assert "covar_module.raw_lengthscale" in state


def test_a_registered_surrogate_runs_a_simulated_campaign(registry: None) -> None:
    register_surrogate("plain_gp", fit_plain_gp)
    pool = SOLVENT_SPACE.encode(SOLVENT_SPACE.sample(60, np.random.default_rng(1)))
    task = PoolTask("solvent", SOLVENT_SPACE, MAXIMIZE_Y, pool, solvent_response(pool))
    run = simulate(make_planner("plain_gp"), task, initial=6, batch_size=3, rounds=2, seed=0)
    assert run.strategies == ("random",) * 6 + ("plain_gp",) * 6
    assert len(set(run.order.tolist())) == 12


def test_top_iwarp_and_endgame_need_a_surrogate_registered_as_a_gp(registry: None) -> None:
    register_surrogate("plain_gp", fit_plain_gp)
    register_surrogate("my_gp", SurrogateSpec(fit_plain_gp, gaussian_process=True))
    for strategy in ("plain_gp+top", "plain_gp+iwarp"):
        with pytest.raises(ValueError, match=r"needs a GP surrogate .*'my_gp'.* not"):
            make_planner(strategy)
    assert with_surrogate("gp+top+warp+endgame", "my_gp") == "my_gp+top+warp+endgame"
    assert with_surrogate("gp+top+warp+endgame", "plain_gp") == "plain_gp+warp"
    assert with_acquisition("my_gp+warp", "top") == "my_gp+top+warp"
    problem, measured, pending = pool_problem()
    plan = make_planner("my_gp+top").plan(problem, 3, seed=0)
    picks = {s.candidate for s in plan.suggestions}
    assert len(picks) == 3 and not picks & {*measured.tolist(), *pending.tolist()}


def raises(error: Exception) -> Callable[[SurrogateInputs], Model]:
    def fit(inputs: SurrogateInputs) -> Model:
        raise error

    return fit


def single_precision(inputs: SurrogateInputs) -> Model:
    """A GP fitted in float32: the acquisitions ask its posterior in float64."""
    return fit_plain_gp(
        replace(inputs, train_X=inputs.train_X.float(), train_Y=inputs.train_Y.float())
    )


@pytest.mark.filterwarnings("ignore::botorch.exceptions.warnings.InputDataWarning")  # float32
@pytest.mark.parametrize(
    ("fit", "problem"),
    [
        (lambda inputs: inputs.train_Y, "returned Tensor, not a fitted BoTorch Model"),
        (raises(RuntimeError("did not converge")), "RuntimeError: did not converge"),
        (raises(ValueError("bad prior")), "ValueError: bad prior"),  # not the caller's fault
        (single_precision, "its posterior at a training input failed: RuntimeError"),
    ],
)
def test_a_failing_plugin_is_named_with_its_origin(
    registry: None, fit: Callable[[SurrogateInputs], Model], problem: str
) -> None:
    register_surrogate("broken", fit)
    with pytest.raises(SurrogatePluginError) as raised:
        make_planner("broken").plan(pool_problem()[0], 2, seed=0)
    message = str(raised.value)
    assert message.startswith(f"surrogate plugin 'broken' ({__name__}:") and problem in message


def test_a_plugin_sees_bounds_it_can_normalise_by(registry: None) -> None:
    seen: list[torch.Tensor] = []

    def fit(inputs: SurrogateInputs) -> Model:
        seen.append(inputs.bounds)
        return fit_plain_gp(inputs)

    register_surrogate("flat", fit)
    problem = pool_problem()[0]
    flat = np.array(problem.pool, dtype=float)
    flat[:, 0] = 0.5  # a column the pool never varies: a constant parameter
    X, pending = np.array(problem.X, dtype=float), np.array(problem.X_pending, dtype=float)
    X[:, 0] = pending[:, 0] = 0.5
    problem = replace(problem, pool=flat, X=X, X_pending=pending)
    assert len(make_planner("flat").plan(problem, 2, seed=0).suggestions) == 2
    lower, upper = seen[0]
    assert bool((upper > lower).all())  # Normalize by them gives no NaN


def test_a_gp_plugin_that_does_not_warp_when_asked_is_warned_of(
    registry: None, caplog: pytest.LogCaptureFixture
) -> None:
    register_surrogate("unwarped", SurrogateSpec(fit_plain_gp, gaussian_process=True))
    problem = pool_problem()[0]
    with caplog.at_level("WARNING", logger="discovery.campaign_models"):
        make_planner("unwarped+iwarp").plan(problem, 2, seed=0)
    assert "asked to warp its inputs (+iwarp)" in caplog.text


def test_an_installed_plugin_is_registered_in_every_process(
    registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, "plug_gp", "my_surrogates:PLUG_GP")
    pattern = f"unknown strategy 'plug_gp\\+top'.*{SURROGATE_PLUGIN_GROUP}"
    with pytest.raises(ValueError, match=pattern):
        make_planner("plug_gp+top")  # not installed yet
    monkeypatch.syspath_prepend(str(tmp_path))
    load_surrogate_plugins.cache_clear()
    assert make_planner("plug_gp+top").name == "plug_gp+top"
    assert load_surrogate_plugins() == ("plug_gp",)
    assert surrogate_origin("plug_gp") == PLUG_GP_ORIGIN
    problem, _, _ = pool_problem()
    plan = make_planner("plug_gp+top").plan(problem, 2, seed=0)
    assert len(plan.suggestions) == 2
    assert plan.model is not None and plan.model.metrics["surrogate_plugin"] == PLUG_GP_ORIGIN
    # a fresh process (a CLI call, a flow, a benchmark worker) finds it the same way
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    code = "from discovery.planners import make_planner; print(make_planner('plug_gp+top').name)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "plug_gp+top"


def test_a_broken_plugin_is_named_by_the_strategies_that_name_it_alone(
    registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, "forest", "my_surrogates:missing")  # no such attribute
    monkeypatch.syspath_prepend(str(tmp_path))
    assert make_planner("gp+top+iwarp+warp+endgame").name == "gp+top+iwarp+warp+endgame"
    broken = r"strategy 'forest\+qucb': surrogate plugin 'forest' \(my_surrogates:missing\)"
    with pytest.raises(ValueError, match=broken + " is not registered: .*missing"):
        make_planner("forest+qucb")


def test_a_name_two_plugins_claim_is_the_acquisitions(
    registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # whichever is asked for first, in every process: the acquisition loads first
    acquisition = "def build(inputs):\n    raise NotImplementedError\n"
    entry = "forest = forest_acquisitions:build"
    install_distribution(tmp_path, "forest_acquisitions", acquisition, PLUGIN_GROUP, entry)
    install_plugin(tmp_path, "forest", "my_surrogates:PLUG_GP")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = dict(ACQUISITIONS)
    load_plugins.cache_clear()
    try:
        assert "forest" not in surrogates()
        assert "forest" in acquisitions()
        assert PLUGIN_FAILURES["forest"].endswith("'forest' is an acquisition's name already")
    finally:
        ACQUISITIONS.clear()
        ACQUISITIONS.update(before)
        load_plugins.cache_clear()
