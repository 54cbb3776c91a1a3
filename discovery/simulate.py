"""Campaigns simulated in memory on a measured pool: for benchmarks and for policy studies.

The loop is the agent's (random initial design, then the planner each round, seeded the
same way, every completed experiment with the strategy that chose it), without storage,
so that many strategies x seeds x data sets fit in a benchmark's time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from discovery.datasets import PoolDataset
from discovery.domain import Objective, round_seed
from discovery.planners import Plan, Planner, PlanningProblem, RandomPlanner, Suggestion
from discovery.spaces import SearchSpace


@dataclass(frozen=True)
class PoolTask:
    """A pool whose every member has been measured: the oracle is a lookup.

    Attributes:
        name: Task name.
        space: Search space of the pool.
        objectives: Objectives, in the column order of ``values``.
        pool: ``N x d`` encoded candidates.
        values: ``N x m`` measured objective values.

    """

    name: str
    space: SearchSpace
    objectives: tuple[Objective, ...]
    pool: np.ndarray
    values: np.ndarray

    @classmethod
    def from_dataset(cls, dataset: PoolDataset) -> PoolTask:
        """The task of a measured data set (all its objectives)."""
        pool = dataset.space.encode(dataset.points)
        return cls(dataset.name, dataset.space, dataset.objectives, pool, dataset.values)

    def __len__(self) -> int:
        return len(self.pool)


@dataclass(frozen=True)
class ClairvoyantPlanner:
    """Measures the best available pool members first: it reads the task's answers.

    No strategy can find a pool's top sooner after the same initial design, so its
    campaign metrics are the ceiling the others are measured against (first objective).

    Attributes:
        task: The measured pool whose values it reads.
    """

    task: PoolTask
    name: ClassVar[str] = "oracle"

    def plan(self, problem: PlanningProblem, q: int, seed: int) -> Plan:
        """The ``q`` best available members (ties broken by pool order)."""
        if problem.pool is None:
            raise ValueError("the clairvoyant planner needs a pool")
        available = problem.available_indices()
        scores = self.task.objectives[0].direction.sign * self.task.values[available, 0]
        picks = available[np.argsort(-scores, kind="stable")[:q]]
        points = problem.space.decode(problem.pool[picks])
        return Plan([Suggestion(p, int(i)) for p, i in zip(points, picks, strict=True)])


@dataclass(frozen=True)
class SimulatedCampaign:
    """What a simulated campaign measured.

    Attributes:
        order: Pool indices in the order they were measured, shape ``n``.
        strategies: The strategy that chose each, length ``n`` (``random`` for the
            initial design).

    """

    order: np.ndarray
    strategies: tuple[str, ...]


def simulate(
    planner: Planner,
    task: PoolTask,
    initial: int,
    batch_size: int,
    rounds: int,
    seed: int,
    until: Callable[[np.ndarray], bool] | None = None,
) -> SimulatedCampaign:
    """Run ``planner`` on ``task`` for ``initial + rounds * batch_size`` experiments.

    Args:
        planner: The strategy after the initial design.
        task: The measured pool.
        initial: Random experiments first (seeded by ``seed`` alone, so every strategy
            of one seed starts from the same ones).
        batch_size: Experiments per round; each batch is measured before the next.
        rounds: Model-guided rounds.
        seed: Campaign seed; round ``r`` is planned with ``round_seed(seed, r)`` as the
            agent does.
        until: Stops the campaign early once it returns True for the order so far.

    Returns:
        The measurement order and the strategy behind each experiment.
    """
    budget = initial + rounds * batch_size
    order: list[int] = []
    strategies: list[str] = []
    for round_ in range(rounds + 1):
        available = np.ones(len(task), dtype=bool)
        available[order] = False
        if not available.any() or (until is not None and order and until(np.array(order))):
            break
        problem = PlanningProblem(
            space=task.space,
            objectives=task.objectives,
            X=task.pool[order],
            Y=task.values[order],
            X_pending=task.pool[:0],
            pool=task.pool,
            available=available,
            strategies=tuple(strategies),
            budget=budget,
            initial=initial,
        )
        chooser: Planner = planner if round_ > 0 else RandomPlanner()
        plan = chooser.plan(
            problem, initial if round_ == 0 else batch_size, round_seed(seed, round_)
        )
        for suggestion in plan.suggestions:
            assert suggestion.candidate is not None  # pool planners always name a candidate
            order.append(suggestion.candidate)
            strategies.append(suggestion.strategy or chooser.name)
    return SimulatedCampaign(np.array(order, dtype=int), tuple(strategies))
