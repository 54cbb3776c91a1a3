from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest

from agents import CampaignAgent, LookupOracle, compare_strategies, run, summarize
from db import CampaignStore
from discovery.datasets import PoolDataset
from discovery.planners import make_planner


def test_run_reaches_the_requested_rounds_and_is_idempotent(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    oracle = LookupOracle.from_candidates(agent.store.candidates(agent.name))
    seen = []
    status = run(agent, oracle, rounds=2, on_round=seen.append)
    assert [r.round for r in seen] == [0, 1, 2]
    assert status.measurements == 10 + 2 * 4
    assert run(agent, oracle, rounds=2).measurements == 18  # nothing more to do
    assert run(agent, oracle, rounds=3).measurements == 22
    efficiency = status.efficiency
    assert efficiency is not None
    assert efficiency.pool_best == pytest.approx(0.001622641)


def test_two_runners_to_the_same_rounds_do_not_overshoot(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    oracle = LookupOracle.from_candidates(agent.store.candidates(agent.name))
    run(agent, oracle, rounds=1)
    # a scheduled run, say, on another acquisition: its batch shares no candidate
    other = CampaignAgent(CampaignStore(), agent.name, make_planner("gp+qucb"))
    planner = agent.planner

    class Beaten:
        """Plans this run's round 2 while the other run stores its own round 2."""

        name = planner.name

        def plan(self, *args: Any, **kwargs: Any) -> Any:
            if agent.store.batches_stored(agent.name) == 2:
                other.propose(rounds=2)
            return planner.plan(*args, **kwargs)

    racing = CampaignAgent(agent.store, agent.name, cast(Any, Beaten()))
    status = run(racing, oracle, rounds=2)
    assert (status.rounds, status.batches) == (2, 3)  # this run's round 2 was refused
    assert status.trials["proposed"] == 4  # the other's, left to its runner
    assert len(agent.store.trials(agent.name)) == 10 + 4 + 4  # not a third batch of 4


def test_rounds_count_after_an_initial_design_begun_by_hand(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    oracle = LookupOracle.from_candidates(agent.store.candidates(agent.name))
    agent.observe(oracle.evaluate(agent.propose(4)))  # 4 of the initial 10, by hand
    assert (agent.status().rounds, agent.status().initial_left) == (0, 6)
    status = run(agent, oracle, rounds=2)
    strategies = [t.strategy for t in agent.store.trials(agent.name)]
    assert strategies == ["random"] * 10 + ["gp"] * 8  # the design's 6 left, then 2 rounds
    assert (status.rounds, status.initial_left, status.batches) == (2, 0, 4)


def test_a_round_stays_a_round_when_initial_trials_fail_later(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    oracle = LookupOracle.from_candidates(agent.store.candidates(agent.name))
    design = agent.propose()
    agent.observe(oracle.evaluate(design[:7]))
    agent.propose()  # the model's first round, three of the design still out
    for trial in design[7:]:
        agent.fail(trial.id or "")
    assert agent.status().rounds == 1  # the batch the model chose is still a round
    status = run(agent, oracle, rounds=1)  # measures the round's four; proposes nothing
    assert (status.rounds, status.measurements, status.batches) == (1, 11, 2)


def test_run_leaves_trials_an_instrument_claimed_to_it(
    photo_pce10_campaign: CampaignAgent,
) -> None:
    agent = photo_pce10_campaign
    claimed = agent.claim("robot-1", 2)  # two of the initial design, leased
    oracle = LookupOracle.from_candidates(agent.store.candidates(agent.name))
    status = run(agent, oracle, rounds=0)  # measures what the crashed runner left
    assert (status.measurements, status.trials["running"]) == (8, 2)
    agent.observe(oracle.evaluate(claimed))  # the robot's results are still accepted
    assert agent.status().measurements == 10


@pytest.mark.slow
def test_gp_beats_random_on_photo_pce10_over_five_seeds(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    outcomes = compare_strategies(
        store,
        photo_pce10_dataset,
        ["random", "gp"],
        range(5),
        initial=10,
        batch_size=4,
        rounds=8,
        prefix="t",
    )
    by_strategy = {s.strategy: s for s in summarize(outcomes, photo_pce10_dataset.best_value())}
    gp, random = by_strategy["gp"], by_strategy["random"]
    assert gp.ef_mean > 2 * random.ef_mean
    assert gp.best_mean < random.best_mean  # minimise degradation
    gp_best = np.mean([o.best_so_far[-1] for o in outcomes if o.strategy == "gp"])
    assert gp_best == pytest.approx(gp.best_mean)


def test_a_lookup_oracle_refuses_an_empty_pool() -> None:
    with pytest.raises(ValueError, match="open-space campaign has no pool"):
        LookupOracle.from_candidates([])


def test_a_comparison_budgets_its_rounds_so_an_endgame_plays(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    strategy = "gp+top+endgame"
    [outcome] = compare_strategies(
        store, photo_pce10_dataset, [strategy], [0], initial=4, batch_size=2, rounds=3, prefix="e"
    )
    campaign = store.get(outcome.campaign)
    assert campaign.settings.budget == 4 + 3 * 2
    trials = store.trials(outcome.campaign)
    assert [t.strategy for t in trials].count(strategy) == 6
