"""Running a campaign against an oracle: a resumable loop, and strategy comparisons.

The loop is declarative: ``run(agent, oracle, rounds=15)`` brings the campaign to its
initial design plus 15 model-guided rounds, whatever it had done before. Killed at any
point and started again, it first finishes the work already handed out, then goes on.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from agents.campaign import CampaignAgent, CampaignStatus, campaign_planner, with_stored_strategy
from agents.oracles import LookupOracle, Oracle
from db import CampaignNotFoundError, CampaignStore
from discovery.datasets import PoolDataset
from discovery.domain import Campaign, CampaignSettings, Trial


@dataclass(frozen=True)
class RoundReport:
    """One completed batch: its round (0 in the initial design), results stored, best so far.

    ``queued``: the trials proposed before this run (waiting in the queue), measured first.
    """

    round: int
    stored: int
    best: float | None
    queued: bool = False


def run(
    agent: CampaignAgent,
    oracle: Oracle,
    rounds: int,
    on_round: Callable[[RoundReport], None] | None = None,
) -> CampaignStatus:
    """Bring a campaign to its initial design plus ``rounds`` model-guided rounds.

    Args:
        agent: The campaign's agent.
        oracle: Measures the proposed trials.
        rounds: Target number of rounds after the initial design (counted in the database).
        on_round: Called after each round (for progress bars).

    Returns:
        The campaign's status at the end.

    """
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")

    def measure(trials: list[Trial], queued: bool = False) -> CampaignStatus:
        report = agent.observe(oracle.evaluate(trials))
        status = agent.status()
        if on_round is not None:
            objective = agent.campaign.objectives[0].name
            best = status.best.measurement.values[objective] if status.best else None
            on_round(RoundReport(status.rounds, report.stored, best, queued))
        return status

    left = agent.unclaimed()  # proposed before (the queue, or before a crash): measured first
    status = measure(left, queued=True) if left else agent.status()
    while status.initial_left or status.rounds < rounds:
        trials = agent.propose(rounds=rounds)  # checked again as it is stored
        if not trials:  # pool or budget spent, or another runner reached the rounds
            return agent.status()
        status = measure(trials)
    return status


@dataclass(frozen=True)
class RunOutcome:
    """One finished campaign of a comparison."""

    strategy: str
    seed: int
    campaign: str
    best_so_far: np.ndarray
    top_fraction: np.ndarray
    enhancement_factor: float
    acceleration_factor: float
    best: float
    seconds: float


@dataclass(frozen=True)
class StrategySummary:
    """Mean and standard error over seeds of one strategy's outcomes."""

    strategy: str
    seeds: int
    ef_mean: float
    ef_se: float
    af_mean: float
    af_se: float
    af_defined: int
    best_mean: float
    found_optimum: int
    seconds_mean: float


def compare_strategies(
    store: CampaignStore,
    dataset: PoolDataset,
    strategies: Sequence[str],
    seeds: Sequence[int],
    initial: int,
    batch_size: int,
    rounds: int,
    prefix: str,
    on_round: Callable[[str, RoundReport], None] | None = None,
    on_run: Callable[[RunOutcome], None] | None = None,
) -> list[RunOutcome]:
    """Run each strategy with each seed as its own stored campaign on a lookup pool.

    Campaigns are named ``{prefix}-{strategy}-s{seed}``, with any character a campaign
    name cannot hold (``+``, ``:``) as ``_``; existing ones of that name are replaced so
    that a comparison always starts fresh. Each has the budget its rounds spend, so that
    an endgame knows its last batches. Every strategy is checked against the data set
    (its objectives, its space) before the first runs; ``on_run`` hears of each run done.

    Raises:
        ValueError: ``strategy S: ...`` for one the data set's campaigns cannot take.
    """
    budget = initial + rounds * batch_size
    for strategy in strategies:
        _check_strategy(dataset, CampaignSettings(strategy, initial, batch_size, budget=budget))
    outcomes = []
    for strategy in strategies:
        for seed in seeds:
            name = f"{prefix}-{re.sub(r'[^A-Za-z0-9_-]', '_', strategy)}-s{seed}"
            with contextlib.suppress(CampaignNotFoundError):
                store.delete(name)
            # the budget the rounds spend: an endgame strategy knows its last batches
            settings = CampaignSettings(strategy, initial, batch_size, seed, budget=budget)
            agent = CampaignAgent.from_dataset(store, name, dataset, settings)
            oracle = LookupOracle.from_candidates(store.candidates(name))
            start = time.perf_counter()
            callback = (lambda r, n=name: on_round(n, r)) if on_round else None
            status = run(agent, oracle, rounds, callback)
            seconds = time.perf_counter() - start
            efficiency = status.efficiency
            assert efficiency is not None  # a lookup pool always has reference values
            outcome = RunOutcome(
                strategy,
                seed,
                name,
                status.best_so_far,
                efficiency.top_fraction,
                efficiency.enhancement_factor,
                efficiency.acceleration_factor,
                float(status.best_so_far[-1]),
                seconds,
            )
            outcomes.append(outcome)
            if on_run is not None:
                on_run(outcome)
    return outcomes


def _check_strategy(dataset: PoolDataset, settings: CampaignSettings) -> None:
    """Refuse a strategy a campaign on ``dataset`` would refuse, before anything runs."""
    campaign = Campaign(
        name="check",
        space=dataset.space,
        objectives=dataset.objectives,
        settings=settings,
        pool_size=len(dataset.points),
        source=dataset.source,
    )
    try:
        campaign_planner(with_stored_strategy(campaign))
    except (ValueError, LookupError) as error:
        raise ValueError(f"strategy {settings.strategy}: {error}") from None


def summarize(outcomes: Sequence[RunOutcome], optimum: float) -> list[StrategySummary]:
    """Per-strategy mean ± standard error of EF and AF (AF over seeds where it is defined)."""
    summaries = []
    for strategy in dict.fromkeys(o.strategy for o in outcomes):
        runs = [o for o in outcomes if o.strategy == strategy]
        ef = np.array([o.enhancement_factor for o in runs])
        af = np.array([o.acceleration_factor for o in runs])
        af = af[np.isfinite(af)]
        summaries.append(
            StrategySummary(
                strategy=strategy,
                seeds=len(runs),
                ef_mean=float(ef.mean()),
                ef_se=_se(ef),
                af_mean=float(af.mean()) if af.size else math.nan,
                af_se=_se(af),
                af_defined=int(af.size),
                best_mean=float(np.mean([o.best for o in runs])),
                found_optimum=sum(math.isclose(o.best, optimum, rel_tol=1e-12) for o in runs),
                seconds_mean=float(np.mean([o.seconds for o in runs])),
            )
        )
    return summaries


def _se(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else math.nan
