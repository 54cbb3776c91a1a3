"""Pooling the acquisition benchmark's seed blocks (benchmarks/acquisition_pooled.py)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest


@pytest.fixture(scope="module")
def pooled(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    """benchmarks/acquisition_pooled.py."""
    return benchmark_script("acquisition_pooled")


def run(task: str, strategy: str, seed: int, order: tuple[int, ...] = (0,)) -> dict[str, Any]:
    return {"task": task, "strategy": strategy, "seed": seed, "order": list(order)}


def test_pooling_keeps_the_strategies_every_block_ran(pooled: ModuleType) -> None:
    journals = {
        "reported": [
            run("snar", "botorch", 0),
            run("snar", "rl", 0),
            run("composition", "botorch", 0),
        ],
        "check": [run("snar", "botorch", 200), run("snar", "rl", 200), run("snar", "oracle", 200)],
        "dev": [run("snar", "botorch", 100), run("snar", "rl", 100), run("snar", "rl", 101)],
    }
    runs = pooled.pooled_runs(journals, ("snar",))
    assert sorted((r["strategy"], r["seed"]) for r in runs) == [
        ("botorch", 0),
        ("botorch", 100),
        ("botorch", 200),
        ("rl", 0),
        ("rl", 100),
        ("rl", 101),
        ("rl", 200),
    ]


def test_a_rerun_in_one_block_replaces_and_a_seed_in_two_blocks_is_refused(
    pooled: ModuleType,
) -> None:
    rerun = {"reported": [run("snar", "botorch", 0, (1,)), run("snar", "botorch", 0, (2,))]}
    (kept,) = pooled.pooled_runs(rerun, ("snar",))
    assert kept["order"] == [2]
    twice = {"reported": [run("snar", "botorch", 0)], "dev": [run("snar", "botorch", 0)]}
    with pytest.raises(ValueError, match="seed 0 of snar botorch is in two blocks"):
        pooled.pooled_runs(twice, ("snar",))


def test_a_strategy_added_later_joins_on_exactly_the_pooled_seeds(pooled: ModuleType) -> None:
    runs = [run("snar", "botorch", 0), run("snar", "botorch", 100), run("snar", "rl", 0)]
    later = {"ens0": [run("snar", "ens", 0)], "ens100": [run("snar", "ens", 100)]}
    joined = pooled.with_extra(runs, later, ("snar",))
    assert sorted((r["strategy"], r["seed"], r.get("block")) for r in joined) == [
        ("botorch", 0, None),
        ("botorch", 100, None),
        ("ens", 0, "ens0"),
        ("ens", 100, "ens100"),
        ("rl", 0, None),
    ]
    with pytest.raises(ValueError, match=r"ens: 1 pooled \(set, seed\) campaign\(s\) missing, 0"):
        pooled.with_extra(runs, {"ens0": later["ens0"]}, ("snar",))
    beyond = {**later, "ens5": [run("snar", "ens", 5)]}
    with pytest.raises(ValueError, match=r"ens: 0 pooled .* missing, 1 beyond them"):
        pooled.with_extra(runs, beyond, ("snar",))
    with pytest.raises(ValueError, match="again: rl is pooled already"):
        pooled.with_extra(runs, {"again": [run("snar", "rl", 100)]}, ("snar",))


def test_a_later_block_that_ran_an_added_strategy_completes_its_seeds(pooled: ModuleType) -> None:
    runs = [run("snar", "botorch", 0), run("snar", "botorch", 400)]
    later = {"ens0": [run("snar", "ens", 0)]}
    partial = {"confirm": [run("snar", "ens", 400), run("snar", "oracle", 400)]}
    joined = pooled.with_extra(runs, later, ("snar",), partial)
    assert sorted((r["strategy"], r["seed"], r.get("block")) for r in joined) == [
        ("botorch", 0, None),
        ("botorch", 400, None),
        ("ens", 0, "ens0"),
        ("ens", 400, "confirm"),  # the oracle, added by no --extra block, stays out
    ]
    with pytest.raises(ValueError, match=r"ens: 1 pooled \(set, seed\) campaign\(s\) missing"):
        pooled.with_extra(runs, later, ("snar",))
    twice = {"confirm": [run("snar", "ens", 0)]}
    with pytest.raises(ValueError, match="confirm: seed 0 of snar ens twice"):
        pooled.with_extra(runs, later, ("snar",), twice)


def test_room_share_runs_from_botorch_to_the_oracle(pooled: ModuleType) -> None:
    assert pooled.room_share(4.0, 4.0, 6.0) == 0.0
    assert pooled.room_share(6.0, 4.0, 6.0) == 1.0
    assert pooled.room_share(3.0, 4.0, 6.0) == -0.5
    assert math.isnan(pooled.room_share(5.0, 4.0, 4.0))


def test_the_ratio_interval_pairs_seeds_and_holds_the_ratio_of_means(pooled: ModuleType) -> None:
    botorch = {s: 2.0 + (s % 5) for s in range(30)}  # mean 4
    same = pooled.ratio_interval(dict(botorch), botorch)
    assert same == pytest.approx((1.0, 1.0))  # paired seeds: no spread when the AFs agree
    better = {s: 1.25 * v for s, v in botorch.items()}
    assert pooled.ratio_interval(better, botorch) == pytest.approx((1.25, 1.25))
    noisy = {s: v + (1.0 if s % 2 else -0.5) for s, v in botorch.items()}  # mean 4.25
    low, high = pooled.ratio_interval(noisy, botorch)
    assert low < 4.25 / 4 < high
    # resampled together, the seeds' shared part (2 to 6) cancels; resampled apart it would
    # widen the interval to about 0.3
    assert high - low < 0.15


def test_block_runs_reads_a_results_file_and_names_one_without_campaigns(
    pooled: ModuleType, tmp_path: Path
) -> None:
    results = tmp_path / "block.json"
    results.write_text(json.dumps({"runs": [run("snar", "botorch", 0)]}))
    assert pooled.block_runs(results) == [run("snar", "botorch", 0)]
    results.write_text(json.dumps({"olympus": {}}))
    with pytest.raises(SystemExit, match=r"block\.json: records no campaign"):
        pooled.block_runs(results)
    with pytest.raises(SystemExit, match=r"missing\.json: no such results file"):
        pooled.block_runs(tmp_path / "missing.json")


def test_the_last_top_find_decides_and_a_repeat_is_no_find(pooled: ModuleType) -> None:
    top = np.array([True, False, True, False])
    runs = [
        run("snar", "botorch", 0, (1, 0, 0, 2)),  # the repeat of row 0 is no experiment
        run("snar", "botorch", 1, (2, 3, 0)),
        run("snar", "botorch", 2, (1, 3)),  # no top find: left out
    ]
    reached, last = pooled.last_top_finds(runs, top)
    assert reached == [3, 3]
    assert last == {2: 1, 0: 1}


def test_a_top_row_is_described_by_rank_ties_twins_and_neighbours(pooled: ModuleType) -> None:
    pool = np.array([[0.0], [0.0], [0.12], [0.52], [0.93], [1.0], [0.21], [0.66]])
    scores = np.array([5.0, 3.0, 5.0, 9.0, 1.0, 2.0, 0.0, 4.0])
    top = scores >= 5.0
    assert pooled.describe_top_row(pool, scores, top, 3) == (
        "rank 1 of 3, 1 of its 5 nearest rows in the top"  # its twins are 6th and 7th
    )
    assert pooled.describe_top_row(pool, scores, top, 0) == (
        "rank 2 of 3, ties the threshold, 1 other row(s) with its inputs, "
        "2 of its 5 nearest rows in the top"
    )


def test_experiments_to_a_share_of_the_top_set_count_until_it_is_found(
    pooled: ModuleType,
) -> None:
    top = np.array([True, False, True, False, True, True])
    order = [1, 0, 3, 2, 4]
    assert pooled.experiments_to(order, top, 0.5) == 4  # rows 0 and 2: two of four
    assert pooled.experiments_to(order, top, 0.75) == 5
    assert pooled.experiments_to(order, top, 1.0) is None  # row 5 never measured


def test_on_equal_terms_a_campaign_that_gave_up_counts_as_its_budget(
    pooled: ModuleType,
) -> None:
    bench = pooled.sibling("acquisition")
    pool = bench.task("snar")
    top = np.flatnonzero(pooled.top_mask(pool.values[:, 0], pool.objectives[0].direction, 0.05))
    rest = [i for i in range(len(pool)) if i not in set(top)]
    assert len(top) == 4
    quick = [*top[:2], *rest[:18]]  # half of the top in 2 experiments, never 90%
    thorough = [*rest[:2], *top[:2], *rest[2:16], *top[2:]]  # 90% at the 20th
    runs = [run("snar", "quick", 0, tuple(quick)), run("snar", "thorough", 0, tuple(thorough))]
    summary = pooled.fixed_targets_summary(runs, ("quick", "thorough"))["snar"]
    assert summary["quick"] == {
        "to": {"0.5": 2.0, "0.9": 21.0},
        "reached": {"0.5": 1, "0.9": 0},
        "campaigns": 1,
    }
    assert summary["thorough"]["to"] == {"0.5": 4.0, "0.9": 20.0}
    assert summary["thorough"]["reached"]["0.9"] == 1
    table = "\n".join(pooled.fixed_targets_markdown({"snar": summary}))
    assert "| snar | 2.0 / 21.0 (0/1) | 4.0 / 20.0 (1/1) |" in table
