"""The Olympus acquisition results of several seed blocks, pooled from their journals.

One block of 10 seeds leaves a standard error of 0.2 to 0.4 AF on the small sets, enough
to move a set across the 1.2x line by chance. This reads the campaigns that
``benchmarks/acquisition.py`` journalled for each block (reported seeds 0-9, development
seeds 100-109, check seeds 200-209), keeps the strategies that every block ran, and
summarises them together. It runs no campaign. The development block is where matloop's
configuration was chosen, so a pool that includes it flatters that configuration a little;
the check block never served any choice.

For each set it also gives how much of the room between plain BoTorch and the ``oracle``
(which reads the answers) a strategy takes: ``(AF - AF_botorch) / (AF_oracle -
AF_botorch)``, 0 for BoTorch's AF and 1 for the oracle's.

    python benchmarks/acquisition_pooled.py [--blocks acquisition acquisition_dev \
        acquisition_check] [--output benchmarks/results/acquisition_pooled]

Writes ``benchmarks/results/acquisition_pooled.{json,md}`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# benchmarks/literature.py would shadow the literature package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]
sys.path.insert(0, str(REPO))

from benchmarks.scripts import sibling  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
BLOCKS = ("acquisition", "acquisition_dev", "acquisition_check")


def pooled_runs(
    journals: dict[str, list[dict[str, Any]]], sets: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Olympus campaigns of the strategies that every block ran, one per (set, strategy, seed).

    Args:
        journals: Campaign records (``task``, ``strategy``, ``seed``, ...) by block name.
        sets: The Olympus set names.

    Raises:
        ValueError: when two blocks hold the same seed of a set and strategy (pooling
            would count it twice).
    """
    kept = [[r for r in runs if r["task"] in sets] for runs in journals.values()]
    common = set.intersection(*({r["strategy"] for r in runs} for runs in kept))
    pooled: dict[tuple[str, str, int], dict[str, Any]] = {}
    for block, runs in zip(journals, kept, strict=True):
        for run in runs:
            if run["strategy"] not in common:
                continue
            key = (run["task"], run["strategy"], run["seed"])
            if key in pooled and pooled[key]["block"] != block:
                raise ValueError(f"{block}: seed {key[2]} of {key[0]} {key[1]} is in two blocks")
            pooled[key] = {**run, "block": block}  # a rerun within a block replaces
    return list(pooled.values())


def room_share(af: float, botorch: float, oracle: float) -> float:
    """Share of the room between BoTorch's AF and the oracle's that ``af`` takes."""
    room = oracle - botorch
    return (af - botorch) / room if room > 0 else math.nan


def ratio_interval(
    af: dict[int, float], botorch: dict[int, float], level: float = 0.9, draws: int = 4000
) -> tuple[float, float]:
    """A bootstrap interval for the ratio of mean AFs to BoTorch's, over paired seeds.

    Seeds are resampled together for both strategies (a seed fixes the random start both
    share); campaigns that found nothing (NaN AF) are left out of either mean, as in the
    tables.

    Args:
        af: A strategy's AF by seed.
        botorch: BoTorch's AF by seed.
        level: Coverage of the central interval.
        draws: Bootstrap resamples (seeded, so the tables are reproducible).

    Returns:
        The lower and upper ends of the interval.
    """
    seeds = sorted(set(af) & set(botorch))
    pairs = np.array([[af[s], botorch[s]] for s in seeds], dtype=float)
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(seeds), size=(draws, len(seeds)))
    means = np.nanmean(pairs[picks], axis=1)  # draws x 2
    ratios = means[:, 0] / means[:, 1]
    tail = (1 - level) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return float(low), float(high)


def markdown(result: dict[str, Any]) -> str:
    """The pooled tables: AF with its ratio to BoTorch and share of the room, and counts."""
    summary = result["olympus"]
    strategies = list(next(iter(summary.values()))["strategies"])
    seeds = max(row["seeds"] for row in next(iter(summary.values()))["strategies"].values())
    lines = [
        f"Acquisition benchmark, Olympus sets, pooled over the journals of "
        f"{', '.join(result['blocks'])} ({seeds} seeds per set and strategy); "
        "mean ± standard error of AF against random (top 5%). In brackets: AF relative to "
        "botorch with a 90% bootstrap interval over paired seeds, and the share of the room "
        "between botorch and the oracle that the strategy takes. Machine: the one each block "
        "ran on (see its table); nothing was rerun.",
        "",
        "| set | pool | " + " | ".join(strategies) + " |",
        "|---|---|" + "---|" * len(strategies),
    ]
    for name, entry in summary.items():
        rows = entry["strategies"]
        cells = []
        for s in strategies:
            share = rows[s].get("room_share", math.nan)
            share_text = f", {share:+.2f}" if math.isfinite(share) else ""
            low, high = rows[s].get("af_vs_botorch_90", (math.nan, math.nan))
            interval = f" [{low:.2f}, {high:.2f}]" if s != "botorch" and math.isfinite(low) else ""
            cells.append(
                f"{rows[s]['af'][0]:.2f} ± {rows[s]['af'][1]:.2f} "
                f"({rows[s]['af_vs_botorch']:.2f}x{interval}{share_text})"
            )
        lines.append(f"| {name} | {entry['pool']} | " + " | ".join(cells) + " |")
    lines += ["", "AF relative to botorch, per strategy: sets at >= 1.2x, sets below 0.9x:", ""]
    for s in strategies:
        rows = [e["strategies"][s] for e in summary.values()]
        ratios = [row["af_vs_botorch"] for row in rows]
        intervals = [row.get("af_vs_botorch_90", (math.nan, math.nan)) for row in rows]
        lows, highs = [low for low, _ in intervals], [high for _, high in intervals]
        lines.append(
            f"- {s}: {sum(x >= 1.2 for x in ratios)}/{len(ratios)} at >= 1.2x "
            f"({sum(x >= 1.2 for x in lows)} with the whole interval there), "
            f"{sum(x < 0.9 for x in ratios)} below 0.9x ({sum(x < 0.9 for x in highs)} with the "
            f"whole interval there); geometric mean {math.exp(np.mean(np.log(ratios))):.2f}x"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", nargs="*", default=list(BLOCKS))
    parser.add_argument("--output", type=Path, default=RESULTS / "acquisition_pooled")
    args = parser.parse_args()
    bench = sibling("acquisition")
    journals = {b: bench.read_journal(RESULTS / f"{b}.runs.jsonl") for b in args.blocks}
    for block, runs in journals.items():
        if not runs:
            raise SystemExit(f"{block}: no journal at {RESULTS / f'{block}.runs.jsonl'}")
    runs = pooled_runs(journals, tuple(bench.SETS))
    order = {name: i for i, name in enumerate((*bench.SETS, *bench.OLYMPUS_STRATEGIES))}
    runs.sort(key=lambda r: (order[r["task"]], order.get(r["strategy"], len(order)), r["seed"]))
    summary = bench.olympus_summary(runs)
    for entry in summary.values():
        rows = entry["strategies"]
        if "botorch" not in rows:
            continue
        botorch = rows["botorch"]
        for row in rows.values():
            row["af_vs_botorch_90"] = ratio_interval(row["af_by_seed"], botorch["af_by_seed"])
            if "oracle" in rows:
                row["room_share"] = room_share(
                    row["af"][0], botorch["af"][0], rows["oracle"]["af"][0]
                )
    result = {"blocks": args.blocks, "olympus": summary}
    args.output.with_suffix(".json").write_text(json.dumps(result, indent=1, default=float))
    args.output.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
