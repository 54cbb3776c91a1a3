"""The synthetic development tasks of acquisition (benchmarks/acquisition_synthetic.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from discovery.domain import Direction
from discovery.metrics import top_mask


@pytest.fixture(scope="module")
def synthetic(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    """benchmarks/acquisition_synthetic.py."""
    return benchmark_script("acquisition_synthetic")


def test_a_task_is_its_test_function_measured_once_on_a_fixed_pool(synthetic: ModuleType) -> None:
    task = synthetic.task("hartmann3")
    function, rows = synthetic.TASKS["hartmann3"]
    assert task.pool.shape == (rows, 3) and task.values.shape == (rows, 1)
    lower, upper = function.bounds.numpy()
    assert (task.pool >= lower).all() and (task.pool <= upper).all()
    assert task.objectives[0].direction is Direction.MINIMIZE
    exact = function(torch.as_tensor(task.pool)).numpy()
    noise = task.values[:, 0] - exact
    assert 0 < noise.std() < 2 * synthetic.NOISE * exact.std()
    again = synthetic.task.__wrapped__("hartmann3")  # not the cached one: the same draw
    np.testing.assert_array_equal(again.values, task.values)


def test_a_mixture_is_measured_once_on_a_fixed_pool_of_the_simplex(synthetic: ModuleType) -> None:
    task = synthetic.task("dyes5")
    components, rows = synthetic.MIXTURES["dyes5"]
    assert task.pool.shape == (rows, components) and (task.pool >= 0).all()
    np.testing.assert_allclose(task.pool.sum(axis=1), 1.0)
    (simplex,) = task.space.simplex
    assert simplex.names == tuple(p.name for p in task.space.parameters)
    exact = synthetic.dye_colour_distance(task.pool)
    assert (exact >= 0).all() and exact.std() > 0
    noise = task.values[:, 0] - exact
    assert 0 < noise.std() < 2 * synthetic.NOISE * exact.std()
    again = synthetic.task.__wrapped__("dyes5")
    np.testing.assert_array_equal(again.values, task.values)


def test_a_measured_task_is_a_fixed_sample_of_its_property_set_maximised(
    synthetic: ModuleType,
) -> None:
    task = synthetic.task("mp_shear500")
    folder = synthetic.ACQUISITION.PROPERTY / "mp_shear_modulus"
    published = pd.concat(pd.read_csv(folder / f"{s}.csv") for s in ("train", "val", "test"))
    by_formula = published.groupby("formula").target.mean()
    assert task.pool.shape[0] == synthetic.pool_rows("mp_shear500") == 500
    assert task.objectives[0].direction is Direction.MAXIMIZE
    gap = np.abs(task.values[:, 0, None] - by_formula.to_numpy()[None, :]).min(axis=1)
    assert gap.max() < 1e-9  # every value as published: no noise added
    np.testing.assert_allclose(task.pool.sum(axis=1), 1.0)  # molar fractions


def campaign(strategy: str, seed: int, order: list[int], name: str = "branin") -> dict[str, Any]:
    return {"task": name, "strategy": strategy, "seed": seed, "order": order}


def test_a_maximised_task_hunts_its_largest_values(synthetic: ModuleType) -> None:
    values = synthetic.task("mp_shear500").values[:, 0]
    best, *rest = np.argsort(-values).tolist()
    runs = [
        campaign("botorch", 0, [best, *rest[-9:]], "mp_shear500"),  # the best row first
        campaign("ens", 0, [*rest[-9:], best], "mp_shear500"),  # ... or tenth
    ]
    rows = synthetic.summary(runs)["mp_shear500"]["strategies"]
    assert rows["ens"]["af_vs_botorch"] == pytest.approx(0.1)


def test_af_is_compared_with_botorch_over_paired_seeds_that_found_a_top_row(
    synthetic: ModuleType,
) -> None:
    task = synthetic.task("branin")
    top = np.flatnonzero(top_mask(task.values[:, 0], Direction.MINIMIZE, 0.05))
    rest = [i for i in range(len(task)) if i not in set(top)]
    runs = [
        campaign("botorch", 0, [*rest[:9], top[0]]),  # the first top row at 10
        campaign("ens", 0, [*rest[:4], top[0], *rest[4:9]]),  # at 5: twice as fast
        campaign("botorch", 1, [*rest[:9], top[0]]),
        campaign("ens", 1, rest[:10]),  # no top row: no AF, not paired
    ]
    rows = synthetic.summary(runs)["branin"]["strategies"]
    assert rows["ens"]["af_vs_botorch"] == pytest.approx(2.0)
    assert rows["ens"]["log_ratio"] == [pytest.approx(math.log(2.0))]
    assert rows["ens"]["af"][0] == pytest.approx(2 * rows["botorch"]["af"][0])
