"""Acquisitions of one's own: the registry's rules and installed plugins (entry points)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.analytic import UpperConfidenceBound
from botorch.acquisition.monte_carlo import qUpperConfidenceBound

from discovery.acquisition import (
    ACQUISITIONS,
    PLUGIN_FAILURES,
    PLUGIN_GROUP,
    AcquisitionInputs,
    load_plugins,
    register_acquisition,
)
from discovery.planners import make_planner
from tests.discovery.test_planners import pool_problem
from tests.stand_ins import install_distribution

PLUGIN_MODULE = """
from botorch.acquisition.monte_carlo import qUpperConfidenceBound


def build(inputs):
    return qUpperConfidenceBound(inputs.model, beta=0.5, X_pending=inputs.pending)
"""


@pytest.fixture
def registry() -> Iterator[None]:
    """Leave the registry and the plugin cache as they were."""
    before, failures = dict(ACQUISITIONS), dict(PLUGIN_FAILURES)
    load_plugins.cache_clear()
    yield
    ACQUISITIONS.clear()
    ACQUISITIONS.update(before)
    PLUGIN_FAILURES.clear()
    PLUGIN_FAILURES.update(failures)
    load_plugins.cache_clear()


def install_plugin(root: Path, name: str, target: str, module: str = PLUGIN_MODULE) -> None:
    """A package installed under ``root``: its module and the entry point naming it."""
    install_distribution(root, "my_acquisitions", module, PLUGIN_GROUP, f"{name} = {target}")


def mc_ucb(inputs: AcquisitionInputs) -> AcquisitionFunction:
    return qUpperConfidenceBound(inputs.model, beta=0.5, X_pending=inputs.pending)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("warp", "is a word of strategy names"),
        ("gp", "is a word of strategy names"),
        ("random", "is a word of strategy names"),
        ("rl", "is a word of strategy names"),
        ("my+acq", "lower-case letters, digits and _"),
        ("", "lower-case letters, digits and _"),
        ("Mine", "lower-case letters, digits and _"),
        ("qucb", "is already registered"),
    ],
)
def test_a_name_that_would_change_or_never_reach_a_strategy_is_refused(
    registry: None, name: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        register_acquisition(name, mc_ucb)
    assert make_planner("gp+iwarp+warp").name == "gp+iwarp+warp"  # unchanged


def test_a_registered_acquisition_chooses_a_batch(registry: None) -> None:
    register_acquisition("ucb_half", mc_ucb)
    problem, measured, pending = pool_problem()
    planner = make_planner("gp+ucb_half+warp")
    plan = planner.plan(problem, 3, seed=0)
    picks = {s.candidate for s in plan.suggestions}
    assert planner.name == "gp+ucb_half+warp"
    assert len(picks) == 3 and not picks & {*measured.tolist(), *pending.tolist()}


def test_an_analytic_acquisition_is_refused_naming_why(registry: None) -> None:
    register_acquisition("ucb_analytic", lambda i: UpperConfidenceBound(i.model, beta=0.5))
    problem, _, _ = pool_problem()
    with pytest.raises(ValueError, match=r"'ucb_analytic': UpperConfidenceBound is analytic"):
        make_planner("gp+ucb_analytic").plan(problem, 2, seed=0)


def test_an_installed_plugin_is_registered_in_every_process(
    registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, "plug_ucb", "my_acquisitions:build")
    with pytest.raises(ValueError, match=f"unknown strategy 'gp\\+plug_ucb'.*{PLUGIN_GROUP}"):
        make_planner("gp+plug_ucb")  # not installed yet
    monkeypatch.syspath_prepend(str(tmp_path))
    load_plugins.cache_clear()
    assert make_planner("gp+plug_ucb").name == "gp+plug_ucb"
    assert load_plugins() == ("plug_ucb",)
    problem, _, _ = pool_problem()
    assert len(make_planner("gp+plug_ucb").plan(problem, 2, seed=0).suggestions) == 2
    # a fresh process (a CLI call, a flow, a benchmark worker) finds it the same way
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    code = "from discovery.planners import make_planner; print(make_planner('gp+plug_ucb').name)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "gp+plug_ucb"


def test_a_broken_plugin_is_named_by_the_strategies_that_name_it_alone(
    registry: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_plugin(tmp_path, "warp", "my_acquisitions:build")  # a flag's name
    monkeypatch.syspath_prepend(str(tmp_path))
    assert make_planner("gp+top+warp").name == "gp+top+warp"  # the flag, unchanged
    assert "acquisition plugin 'warp' (my_acquisitions:build) is not registered" in caplog.text
    assert "is a word of strategy names" in PLUGIN_FAILURES["warp"]
