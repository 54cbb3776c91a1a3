"""Campaign efficiency: best-so-far, Top% traces, enhancement and acceleration factors.

Definitions follow Rohr et al., Chem. Sci. 11, 2696 (2020) and Liang et al., npj Comput.
Mater. 7, 188 (2021):

* the *top set* is the ``ceil(fraction * N)`` best points of the pool (ties included);
  with several objectives, the pool's first Pareto layers (nondominated sorting, as in
  NSGA-II) until they hold that many (:func:`pareto_top_mask`);
* ``Top%(i)`` is the fraction of the top set found after ``i`` experiments;
* random sampling without replacement finds, in expectation, ``Top%_rand(i) = i / N``;
* enhancement factor ``EF(i) = Top%(i) / Top%_rand(i)``;
* acceleration factor ``AF = i_rand(a) / i(a)`` for the Top% ``a`` reached at the end of
  the budget, with ``i(a)`` the first experiment at which the campaign reached ``a`` and
  ``i_rand(a) = a * N`` the experiments random sampling needs for it in expectation.

EF is 1 for random sampling in expectation, larger when the campaign is better. This AF,
taken for one campaign at the Top% it ends with, is not: a campaign's last find comes before
its budget is spent, so random sampling itself scores above 1 (about 1.4 on a pool of 1,040
rows in 70 experiments, 2.8 to 3.3 on pools of 66 and 73 rows in 22), and a campaign that
finds nothing has none (NaN). Compare strategies by their ratio on the same pools and seeds,
or by Rohr's AF on the mean Top% curve of many campaigns (:func:`curve_acceleration_factor`),
which is 1 for random sampling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from discovery.domain import Direction


def best_so_far(values: Sequence[float] | np.ndarray, direction: Direction) -> np.ndarray:
    """Running best of measured values, shape ``n`` (in measurement order).

    A NaN (a result that does not count, such as an infeasible one) carries the best
    before it; the trace is NaN until the first value that counts.
    """
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return array
    return np.fmax.accumulate(array) if direction.sign > 0 else np.fmin.accumulate(array)


def top_count(size: int, fraction: float) -> int:
    """How many points make the top ``fraction`` of ``size``: ``ceil(fraction * size)``, >= 1.

    Raises:
        ValueError: ``fraction`` is not in ``(0, 1]``.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return max(1, math.ceil(round(fraction * size, 9)))  # 0.07 * 100 is 7.000000000000001


def top_mask(pool_values: np.ndarray, direction: Direction, fraction: float = 0.05) -> np.ndarray:
    """Boolean mask of the pool's top ``fraction`` (at least one point; ties included).

    Args:
        pool_values: Objective value of every pool member, shape ``N``.
        direction: Whether larger or smaller is better.
        fraction: Size of the top set as a fraction of ``N``.

    """
    scores = direction.sign * np.asarray(pool_values, dtype=float)
    k = top_count(scores.size, fraction)
    threshold = np.sort(scores)[::-1][k - 1]
    return scores >= threshold


def pareto_top_mask(points: np.ndarray, fraction: float = 0.05) -> np.ndarray:
    """Boolean mask of the pool's top ``fraction`` with several objectives.

    The pool is sorted into Pareto layers (layer 0 is its front, layer 1 the front of the
    rest, ...); the top set is the first layers that together hold ``ceil(fraction * N)``
    points or more. With one objective the layers are the distinct values, best first,
    so this is :func:`top_mask` (ties included).

    Args:
        points: ``N x m`` objective values of the pool, oriented so that larger is better.
        fraction: Least size of the top set as a fraction of ``N``.

    """
    import moocore

    Y = np.asarray(points, dtype=float)
    ranks = np.asarray(moocore.pareto_rank(Y, maximise=True))
    k = top_count(len(Y), fraction)
    last = np.sort(ranks)[k - 1]  # the layer that brings the count to k
    return ranks <= last


def top_fraction_trace(order: Sequence[int], is_top: np.ndarray) -> np.ndarray:
    """Fraction of the top set found after each experiment.

    Args:
        order: Pool indices in the order they were measured, shape ``n`` (repeats count once).
        is_top: Top-set mask over the pool, shape ``N``.

    Returns:
        ``Top%(i)`` for ``i = 1..n``, shape ``n``.

    """
    seen: set[int] = set()
    found = 0
    trace = np.zeros(len(order))
    for i, index in enumerate(order):
        if index not in seen and is_top[index]:
            found += 1
        seen.add(index)
        trace[i] = found
    return trace / max(1, int(is_top.sum()))


def enhancement_factor(trace: np.ndarray, pool_size: int) -> float:
    """``EF`` at the end of a Top% trace (see module docstring)."""
    n = len(trace)
    if n == 0:
        return float("nan")
    return float(trace[-1] / (n / pool_size))


def acceleration_factor(trace: np.ndarray, pool_size: int) -> float:
    """``AF`` for the Top% reached at the end of the trace; NaN when nothing was found."""
    if len(trace) == 0 or trace[-1] <= 0:
        return float("nan")
    target = trace[-1]
    first = int(np.argmax(trace >= target - 1e-12)) + 1
    return float(target * pool_size / first)


def experiments_to_reach(curve: np.ndarray, level: float) -> float:
    """Experiments a Top% curve needs to reach ``level``, interpolated between experiments.

    Args:
        curve: ``Top%`` after ``1..n`` experiments, shape ``n`` (one campaign's, or the mean
            of many: :func:`curve_acceleration_factor`); 0 before the first.
        level: A share of the top set, in ``(0, 1]``.

    Returns:
        Experiments (a real number, ``<= n``; 0 for a level of 0), or ``inf`` when the
        curve never gets there.

    Raises:
        ValueError: for a curve holding NaN.
    """
    if np.isnan(curve).any():
        raise ValueError("curve: holds NaN")
    if level <= 0:
        return 0.0
    reached = np.flatnonzero(curve >= level - 1e-12)
    if reached.size == 0:
        return math.inf
    k = int(reached[0])  # curve[k] is after k + 1 experiments
    before = float(curve[k - 1]) if k else 0.0
    return k + (level - before) / (float(curve[k]) - before)


def curve_acceleration_factor(traces: np.ndarray, pool_size: int, level: float) -> float:
    """Rohr's AF: ``level * N`` over the experiments the mean Top% curve needs for ``level``.

    The mean of many campaigns' curves, not of their AFs: random sampling's mean curve is
    ``i / N``, so its AF is 1, and a campaign that finds nothing counts (its curve is 0).

    Args:
        traces: ``s x n`` Top% traces of ``s`` campaigns of ``n`` experiments each.
        pool_size: ``N``.
        level: The Top% compared at, in ``(0, 1]`` (the same for every strategy compared).

    Returns:
        The AF; 0 when the mean curve never reaches ``level``.
    """
    needed = experiments_to_reach(np.asarray(traces, dtype=float).mean(axis=0), level)
    return 0.0 if math.isinf(needed) else level * pool_size / needed


def simple_regret(best: float, optimum: float, direction: Direction) -> float:
    """How far the best measured value is from the pool's known optimum (objective units).

    Negative when the measured best beats the pool's reference value: a lab measured
    better than the table said, and its values and the pool's disagree. Clamped to 0 it
    would read as "the optimum was found".
    """
    return direction.sign * (optimum - best) + 0.0  # + 0.0: the optimum found is 0, not -0


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Which of ``n x m`` points (every objective maximised) no other point dominates.

    Equal points are all kept (moocore's nondominated filter, keeping weak ties).

    Args:
        points: ``n x m`` objective values, oriented so that larger is better.

    Returns:
        ``n`` flags, True for the points on the Pareto front.
    """
    import moocore

    Y = np.asarray(points, dtype=float)
    if Y.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(moocore.is_nondominated(Y, maximise=True, keep_weakly=True), dtype=bool)


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume dominated by ``points`` above ``reference`` (every objective maximised).

    Exact, by moocore (HV3D+ for up to 3 objectives, WFG beyond): about a millisecond for
    600 points in 2 objectives or 30 in 8, where a box decomposition (BoTorch's
    ``Hypervolume``) takes seconds to minutes; live metrics compute it on every report.

    Args:
        points: ``n x m`` objective values, oriented so that larger is better.
        reference: ``m`` reference point; points not above it in every objective add nothing.

    Returns:
        The hypervolume, in the product of the objectives' units.
    """
    import moocore

    ref = np.asarray(reference, dtype=float)
    Y = np.asarray(points, dtype=float).reshape(-1, len(ref))
    Y = Y[(ref < Y).all(-1)]
    if Y.shape[0] == 0:
        return 0.0
    return float(moocore.hypervolume(Y, ref=ref, maximise=True))
