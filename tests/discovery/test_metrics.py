"""Campaign metrics on small pools whose Top%, EF and AF can be worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from discovery.domain import Direction
from discovery.metrics import (
    acceleration_factor,
    best_so_far,
    curve_acceleration_factor,
    enhancement_factor,
    experiments_to_reach,
    hypervolume,
    pareto_mask,
    pareto_top_mask,
    simple_regret,
    top_fraction_trace,
    top_mask,
)

# -- best_so_far ---------------------------------------------------------------------------


def test_best_so_far_is_the_running_maximum_when_maximising() -> None:
    out = best_so_far([3.0, 1.0, 4.0, 1.0, 5.0, 2.0], Direction.MAXIMIZE)
    np.testing.assert_array_equal(out, [3, 3, 4, 4, 5, 5])


def test_best_so_far_is_the_running_minimum_when_minimising() -> None:
    out = best_so_far(np.array([3.0, 1.0, 4.0, 0.5, 5.0]), Direction.MINIMIZE)
    np.testing.assert_array_equal(out, [3, 1, 1, 0.5, 0.5])


def test_best_so_far_of_nothing_is_empty() -> None:
    assert best_so_far([], Direction.MAXIMIZE).shape == (0,)


@pytest.mark.parametrize(("direction", "want"), [(Direction.MAXIMIZE, 3), (Direction.MINIMIZE, 1)])
def test_a_result_that_does_not_count_carries_the_best_before_it(
    direction: Direction, want: float
) -> None:
    out = best_so_far([math.nan, 3.0, math.nan, 1.0], direction)  # NaN: infeasible
    np.testing.assert_array_equal(out[:3], [math.nan, 3, 3])
    assert out[-1] == want


# -- top_mask ------------------------------------------------------------------------------

POOL20 = np.array(
    [float(v) for v in (7, 3, 19, 0, 12, 5, 8, 1, 14, 2, 6, 4, 9, 11, 10, 13, 15, 16, 17, 18)]
)


def test_top_five_percent_of_twenty_is_the_single_best_point() -> None:
    assert np.flatnonzero(top_mask(POOL20, Direction.MAXIMIZE, 0.05)).tolist() == [2]
    assert np.flatnonzero(top_mask(POOL20, Direction.MINIMIZE, 0.05)).tolist() == [3]


def test_top_mask_rounds_the_top_set_size_up() -> None:
    # ceil(0.12 * 20) = 3: the values 19, 18, 17
    mask = top_mask(POOL20, Direction.MAXIMIZE, 0.12)
    assert sorted(POOL20[mask].tolist()) == [17.0, 18.0, 19.0]


def test_top_mask_keeps_at_least_one_point() -> None:
    assert top_mask(POOL20, Direction.MAXIMIZE, 1e-9).sum() == 1


def test_top_mask_includes_ties_at_the_threshold() -> None:
    values = np.array([1.0, 5.0, 5.0, 2.0, 5.0, 0.0])
    mask = top_mask(values, Direction.MAXIMIZE, 0.2)  # ceil(1.2) = 2, three tie at 5
    assert mask.tolist() == [False, True, True, False, True, False]


def test_top_mask_of_the_whole_pool_is_everything() -> None:
    assert top_mask(POOL20, Direction.MINIMIZE, 1.0).all()


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_top_mask_rejects_fractions_outside_zero_one(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction must be in"):
        top_mask(POOL20, Direction.MAXIMIZE, fraction)


@pytest.mark.parametrize(("fraction", "size", "expected"), [(0.07, 100, 7), (0.14, 50, 7)])
def test_top_mask_size_is_exact_for_fractions_with_float_noise(
    fraction: float, size: int, expected: int
) -> None:
    assert top_mask(np.arange(float(size)), Direction.MAXIMIZE, fraction).sum() == expected


# -- top_fraction_trace --------------------------------------------------------------------


def test_trace_counts_each_top_point_once_in_measurement_order() -> None:
    is_top = np.zeros(10, bool)
    is_top[[2, 5]] = True
    trace = top_fraction_trace([0, 5, 5, 1, 2, 2], is_top)
    np.testing.assert_array_equal(trace, [0.0, 0.5, 0.5, 0.5, 1.0, 1.0])


def test_trace_of_no_top_points_found_stays_zero() -> None:
    is_top = np.zeros(5, bool)
    is_top[4] = True
    np.testing.assert_array_equal(top_fraction_trace([0, 1, 2], is_top), [0.0, 0.0, 0.0])


# -- enhancement and acceleration ----------------------------------------------------------


def single_top_trace(found_at: int, n: int) -> np.ndarray:
    """Trace of a 20-point pool with one top point, measured at experiment ``found_at``."""
    is_top = top_mask(POOL20, Direction.MAXIMIZE, 0.05)
    others = [i for i in range(20) if not is_top[i]]
    top = int(np.flatnonzero(is_top)[0])
    order = [*others[: found_at - 1], top, *others[found_at - 1 :]]
    return top_fraction_trace(order[:n], is_top)


@pytest.mark.parametrize(("found_at", "n"), [(1, 1), (1, 10), (4, 10), (10, 10), (5, 20)])
def test_enhancement_factor_for_one_top_point_in_twenty(found_at: int, n: int) -> None:
    trace = single_top_trace(found_at, n)
    assert trace[-1] == 1.0
    assert enhancement_factor(trace, 20) == pytest.approx(1.0 / (n / 20))


@pytest.mark.parametrize(("found_at", "n"), [(1, 1), (1, 10), (4, 10), (10, 10), (20, 20)])
def test_acceleration_factor_for_one_top_point_in_twenty(found_at: int, n: int) -> None:
    trace = single_top_trace(found_at, n)
    assert acceleration_factor(trace, 20) == pytest.approx(20 / found_at)


def test_factors_are_one_when_the_top_point_comes_last() -> None:
    trace = single_top_trace(20, 20)
    assert enhancement_factor(trace, 20) == pytest.approx(1.0)
    assert acceleration_factor(trace, 20) == pytest.approx(1.0)


def test_factors_for_a_partially_found_top_set() -> None:
    # pool 40, top 10% = 4 points; two found, at experiments 3 and 6, of 8 measured
    values = np.arange(40.0)
    is_top = top_mask(values, Direction.MAXIMIZE, 0.1)
    assert np.flatnonzero(is_top).tolist() == [36, 37, 38, 39]
    order = [0, 1, 39, 2, 3, 37, 4, 5]
    trace = top_fraction_trace(order, is_top)
    np.testing.assert_array_equal(trace, [0, 0, 0.25, 0.25, 0.25, 0.5, 0.5, 0.5])
    assert enhancement_factor(trace, 40) == pytest.approx(0.5 / (8 / 40))  # 2.5
    assert acceleration_factor(trace, 40) == pytest.approx(0.5 * 40 / 6)  # 3.33


def test_enhancement_factor_of_an_empty_trace_is_nan() -> None:
    assert math.isnan(enhancement_factor(np.array([]), 20))


def test_acceleration_factor_is_nan_when_nothing_was_found() -> None:
    assert math.isnan(acceleration_factor(np.zeros(5), 20))
    assert math.isnan(acceleration_factor(np.array([]), 20))
    assert enhancement_factor(np.zeros(5), 20) == 0.0


# -- simple regret and hypervolume ---------------------------------------------------------
def test_simple_regret_is_the_distance_to_the_optimum_in_either_direction() -> None:
    assert simple_regret(7.0, 10.0, Direction.MAXIMIZE) == 3.0
    assert simple_regret(0.5, 0.2, Direction.MINIMIZE) == pytest.approx(0.3)
    assert simple_regret(10.0, 10.0, Direction.MAXIMIZE) == 0.0
    found = simple_regret(0.2, 0.2, Direction.MINIMIZE)
    assert found == 0.0 and math.copysign(1.0, found) == 1.0  # shown as 0, not -0
    # a lab's best beyond the pool's known optimum: said, not hidden as "found"
    assert simple_regret(0.12, 0.24, Direction.MINIMIZE) == pytest.approx(-0.12)


def test_hypervolume_of_a_staircase_is_the_area_under_it() -> None:
    # two points (1, 3) and (3, 1) above (0, 0): 3 + 3 - 1 = 5
    assert hypervolume(np.array([[1.0, 3.0], [3.0, 1.0]]), np.zeros(2)) == pytest.approx(5.0)
    # a dominated point and a point below the reference add nothing
    more = np.array([[1.0, 3.0], [3.0, 1.0], [0.5, 0.5], [-1.0, 9.0]])
    assert hypervolume(more, np.zeros(2)) == pytest.approx(5.0)
    assert hypervolume(np.array([[-1.0, -1.0]]), np.zeros(2)) == 0.0


def test_hypervolume_in_eight_objectives_is_the_union_of_the_boxes() -> None:
    # two boxes of volume 2 sharing the unit cube: 2 + 2 - 1 = 3
    points = np.ones((2, 8))
    points[0, 0] = points[1, 1] = 2.0
    assert hypervolume(points, np.zeros(8)) == pytest.approx(3.0)


def test_pareto_mask_keeps_the_undominated_and_their_ties() -> None:
    points = np.array([[1.0, 2.0], [2.0, 1.0], [0.5, 0.5], [1.0, 2.0], [2.0, 0.5]])
    assert pareto_mask(points).tolist() == [True, True, False, True, False]
    assert pareto_mask(np.empty((0, 2))).tolist() == []


def test_the_pareto_top_set_takes_whole_layers_until_it_holds_the_fraction() -> None:
    # layer 0: (3, 1), (1, 3); layer 1: (2, 1), (1, 2); layer 2: (0.5, 0.5), (0, 0)
    points = np.array([[3, 1], [1, 3], [2, 1], [1, 2], [0.5, 0.5], [0, 0]], dtype=float)
    assert pareto_top_mask(points, 2 / 6).tolist() == [True, True, False, False, False, False]
    assert pareto_top_mask(points, 3 / 6).tolist() == [True] * 4 + [False] * 2  # a whole layer
    assert pareto_top_mask(points, 0.01).sum() == 2  # the front, however small the fraction


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.37])
def test_with_one_objective_the_pareto_top_set_is_the_top_set(fraction: float) -> None:
    values = np.random.default_rng(3).integers(0, 40, size=101).astype(float)  # with ties
    expected = top_mask(values, Direction.MAXIMIZE, fraction)
    assert pareto_top_mask(values[:, None], fraction).tolist() == expected.tolist()


# -- Rohr's AF on mean curves --------------------------------------------------------------
def test_experiments_to_reach_interpolates_between_experiments() -> None:
    curve = np.array([0.0, 0.25, 0.25, 0.75])
    assert experiments_to_reach(curve, 0.25) == 2.0
    assert experiments_to_reach(curve, 0.5) == pytest.approx(3.5)  # halfway from 3 to 4
    assert experiments_to_reach(np.array([0.5]), 0.25) == pytest.approx(0.5)  # from 0 at 0
    assert experiments_to_reach(curve, 1.0) == math.inf
    assert experiments_to_reach(curve, 0.0) == 0.0  # nothing to find: no experiment
    with pytest.raises(ValueError, match="NaN"):
        experiments_to_reach(np.array([0.1, math.nan]), 0.1)


def test_random_sampling_is_1_on_the_mean_curve_not_by_each_campaigns_own_af() -> None:
    rng = np.random.default_rng(0)
    size, budget = 100, 30
    top = np.zeros(size, dtype=bool)
    top[:5] = True
    traces = np.array(
        [top_fraction_trace(rng.permutation(size)[:budget], top) for _ in range(4000)]
    )
    level = traces.mean(axis=0)[-1]
    assert curve_acceleration_factor(traces, size, level) == pytest.approx(1.0, abs=0.03)
    own = [acceleration_factor(t, size) for t in traces]
    # each campaign at its own final share: random sampling scores well above 1
    assert np.nanmean(own) > 1.3
    assert curve_acceleration_factor(traces[:, :5] * 0, size, level) == 0.0  # never reached
