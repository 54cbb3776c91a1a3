"""The Olympus acquisition results of several seed blocks, pooled from their campaigns.

One block of 10 seeds leaves a standard error of 0.2 to 0.4 AF on the small sets, enough
to move a set across the 1.2x line by chance. This reads the campaigns that
``benchmarks/acquisition.py`` recorded for each block, in the ``runs`` of its committed
``benchmarks/results/<block>.json`` (reported seeds 0-9, development seeds 100-109, check
seeds 200-209), keeps the strategies that every block ran, and summarises them together.
It runs no campaign. The development block is where matloop's configuration was chosen,
so a pool that includes it flatters that configuration a little; the check block never
served any choice.

For each set it also gives how much of the room between plain BoTorch and the ``oracle``
(which reads the answers) a strategy takes: ``(AF - AF_botorch) / (AF_oracle -
AF_botorch)``, 0 for BoTorch's AF and 1 for the oracle's.

AF is decided by the last top find: ``Top%(end) x N / (experiments until it)``. A second
table says, per set, how many experiments that took and which row was found last most
often under matloop's default strategy, with what makes it hard to find: its rank in
the top set, a tie with the top set's threshold, other rows with the same inputs (a
repeat in the data, measured apart), and how many of its nearest rows are in the top.
A third compares the strategies on equal terms: experiments until 50% and 90% of the top
set were found, since AF, taken at the share each campaign ends with, rewards a strategy
that stops finding top rows early. A fourth gives Rohr's AF on the mean Top% curves
(:func:`discovery.metrics.curve_acceleration_factor`), which is 1 for random sampling (the
per-campaign AF is not: random sampling scores 1.2 to 3.3 on these sets) and counts a
campaign that finds nothing, at the share botorch's mean curve ends with.

    python benchmarks/acquisition_pooled.py [--blocks acquisition acquisition_dev \
        acquisition_check] [--extra BLOCK ...] [--studied STRATEGY] \
        [--output benchmarks/results/acquisition_pooled]

A strategy added later is run on the same seeds in blocks of its own and joins with
``--extra`` (each (set, seed) of the pooled botorch campaigns, no more, no fewer); a block
of ``--blocks`` that ran it beside botorch (a later block of fresh seeds) completes it.

Writes ``benchmarks/results/acquisition_pooled.{json,md}`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# benchmarks/literature.py would shadow the literature package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]
sys.path.insert(0, str(REPO))

from benchmarks.scripts import sibling  # noqa: E402
from discovery.metrics import (  # noqa: E402
    curve_acceleration_factor,
    experiments_to_reach,
    top_fraction_trace,
    top_mask,
)

RESULTS = REPO / "benchmarks" / "results"
BLOCKS = ("acquisition", "acquisition_dev", "acquisition_check")


def block_runs(path: Path) -> list[dict[str, Any]]:
    """The campaigns a block's results file records (its ``runs``).

    Raises:
        SystemExit: naming the file, when it is missing or records no campaign.
    """
    if not path.is_file():
        raise SystemExit(f"{path}: no such results file; run benchmarks/acquisition.py first")
    runs: list[dict[str, Any]] = json.loads(path.read_text()).get("runs", [])
    if not runs:
        raise SystemExit(f"{path}: records no campaign (no 'runs')")
    return runs


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


def with_extra(
    runs: list[dict[str, Any]],
    extra: dict[str, list[dict[str, Any]]],
    sets: tuple[str, ...],
    partial: dict[str, list[dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """``runs`` and the campaigns of strategies that blocks run later added on their seeds.

    A strategy new to the comparison is run on the pooled seeds in blocks of its own
    (``--extra``), and compared with the others over exactly those seeds. ``partial``
    (by block: campaigns of ``--blocks`` of strategies not every block ran) completes an
    added strategy's seeds: a later block of seeds that ran it beside botorch.

    Raises:
        ValueError: when an added strategy is already pooled, or misses or adds a (set,
            seed) of the pooled botorch campaigns (the comparison would not be paired).
    """
    pooled = {r["strategy"] for r in runs}
    seeds = {(r["task"], r["seed"]) for r in runs if r["strategy"] == "botorch"}
    added: dict[str, dict[tuple[str, int], dict[str, Any]]] = {}
    for block, block_runs_ in extra.items():
        for run in (r for r in block_runs_ if r["task"] in sets):
            if run["strategy"] in pooled:
                raise ValueError(f"{block}: {run['strategy']} is pooled already")
            added.setdefault(run["strategy"], {})[(run["task"], run["seed"])] = {
                **run,
                "block": block,
            }
    for block, block_runs_ in (partial or {}).items():
        for run in (r for r in block_runs_ if r["strategy"] in added and r["task"] in sets):
            key = (run["task"], run["seed"])
            if key in added[run["strategy"]]:
                raise ValueError(f"{block}: seed {key[1]} of {key[0]} {run['strategy']} twice")
            added[run["strategy"]][key] = {**run, "block": block}
    for strategy, campaigns in added.items():
        if set(campaigns) != seeds:
            missing, more = len(seeds - set(campaigns)), len(set(campaigns) - seeds)
            raise ValueError(
                f"{strategy}: {missing} pooled (set, seed) campaign(s) missing, {more} beyond "
                "them; run it on the pooled seeds"
            )
    return runs + [run for campaigns in added.values() for run in campaigns.values()]


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


#: Nearest rows (Euclidean, inputs scaled to [0, 1]) read to tell an isolated top row.
NEIGHBOURS = 5


def last_top_finds(runs: list[dict[str, Any]], top: np.ndarray) -> tuple[list[int], Counter[int]]:
    """Experiments until each campaign's last top find, and which top row that was.

    Args:
        runs: Campaigns of one set and strategy (``order``: pool rows as measured).
        top: The set's top mask, shape ``N``.

    Returns:
        Per campaign that found any, the experiments until its last top find (AF's
        denominator); and how often each row was the last found.
    """
    reached: list[int] = []
    last: Counter[int] = Counter()
    for run in runs:
        order = list(dict.fromkeys(run["order"]))  # a repeat is no new find
        finds = [i for i, row in enumerate(order) if top[row]]
        if finds:
            reached.append(finds[-1] + 1)
            last[order[finds[-1]]] += 1
    return reached, last


def describe_top_row(pool: np.ndarray, scores: np.ndarray, top: np.ndarray, row: int) -> str:
    """What makes a top row hard to find, in words (see the module docstring).

    Args:
        pool: ``N x d`` encoded inputs.
        scores: ``N`` objective values, oriented so that larger is better.
        top: The top mask, shape ``N``.
        row: The row described.
    """
    rank = int((scores[top] > scores[row]).sum()) + 1
    words = [f"rank {rank} of {int(top.sum())}"]
    if scores[row] == scores[top].min() and (scores == scores[row]).sum() > 1:
        words.append("ties the threshold")
    span = np.ptp(pool, axis=0)
    scaled = (pool - pool.min(0)) / np.where(span > 0, span, 1.0)
    distance = np.linalg.norm(scaled - scaled[row], axis=1)
    twins = np.flatnonzero(distance == 0)
    if len(twins) > 1:
        words.append(f"{len(twins) - 1} other row(s) with its inputs")
    distance[twins] = np.inf
    nearest = np.argsort(distance)[:NEIGHBOURS]
    words.append(f"{int(top[nearest].sum())} of its {NEIGHBOURS} nearest rows in the top")
    return ", ".join(words)


def last_finds_summary(
    runs: list[dict[str, Any]], strategies: tuple[str, ...], default: str
) -> dict[str, Any]:
    """Per set: experiments until the last top find by strategy; the row ``default`` found last.

    Returns:
        ``last_found_by`` (``default``) and ``sets``: per set, ``top`` (rows),
        ``reached`` (mean and standard error by strategy) and ``last_row`` (``row``,
        ``share`` of campaigns, ``what``: :func:`describe_top_row`).
    """
    bench = sibling("acquisition")
    summary: dict[str, Any] = {}
    for key in dict.fromkeys(r["task"] for r in runs):
        pool = bench.task(key)
        scores = pool.objectives[0].direction.sign * pool.values[:, 0]
        top = top_mask(pool.values[:, 0], pool.objectives[0].direction, 0.05)
        entry: dict[str, Any] = {"top": int(top.sum()), "reached": {}}
        for strategy in strategies:
            chosen = [r for r in runs if r["task"] == key and r["strategy"] == strategy]
            reached, last = last_top_finds(chosen, top)
            entry["reached"][strategy] = bench.mean_se([float(n) for n in reached])
            if strategy == default and last:
                row, count = last.most_common(1)[0]
                entry["last_row"] = {
                    "row": row,
                    "share": count / len(chosen),
                    "what": describe_top_row(pool.pool, scores, top, row),
                }
        summary[key] = entry
    return {"last_found_by": default, "sets": summary}


#: Shares of the top set at which strategies are compared on equal terms.
TARGETS = (0.5, 0.9)


def experiments_to(order: list[int], top: np.ndarray, target: float) -> int | None:
    """Experiments until ``target`` of the top set was found, or None if never.

    Args:
        order: Pool rows in the order measured (a repeat is no new find).
        top: The set's top mask, shape ``N``.
        target: Share of the top set, in ``(0, 1]``.
    """
    trace = top_fraction_trace(order, top)
    reached = np.flatnonzero(trace >= target - 1e-12)
    return int(reached[0]) + 1 if len(reached) else None


def fixed_targets_summary(
    runs: list[dict[str, Any]], strategies: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Per set and strategy: experiments to each of :data:`TARGETS`, and campaigns there.

    AF is taken at the share of the top set a campaign ends with, so a strategy that gives
    up on the last, hard top rows gets there sooner and scores higher while it finds fewer
    of them. At a share fixed for every strategy the comparison is on equal terms; a
    campaign that never got there counts as its budget + 1 (a bound in its favour), and
    how many got there is given beside it.

    Returns:
        By set, by strategy: ``to`` (target -> mean experiments) and ``reached`` (target
        -> campaigns that got there), ``campaigns``.
    """
    bench = sibling("acquisition")
    summary: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys(r["task"] for r in runs):
        pool = bench.task(key)
        top = top_mask(pool.values[:, 0], pool.objectives[0].direction, 0.05)
        summary[key] = {}
        for strategy in strategies:
            chosen = [r for r in runs if r["task"] == key and r["strategy"] == strategy]
            if not chosen:
                continue
            to: dict[str, float] = {}
            reached: dict[str, int] = {}
            for target in TARGETS:
                counts = [experiments_to(r["order"], top, target) for r in chosen]
                misses = [len(r["order"]) + 1 for r in chosen]
                to[str(target)] = float(
                    np.mean([c or m for c, m in zip(counts, misses, strict=True)])
                )
                reached[str(target)] = sum(c is not None for c in counts)
            summary[key][strategy] = {"to": to, "reached": reached, "campaigns": len(chosen)}
    return summary


def curves_summary(
    runs: list[dict[str, Any]], strategies: tuple[str, ...], draws: int = 2000
) -> dict[str, dict[str, Any]]:
    """Per set: Rohr's AF on each strategy's mean Top% curve, at botorch's final share.

    ``level`` is the Top% botorch's mean curve reaches at the budget: where BoTorch's
    defaults get with every experiment. A strategy's AF relative to botorch is then the
    experiments botorch's mean curve needs for it over the strategy's (0: the strategy's
    mean curve never gets there within the budget), with a 90% bootstrap interval over
    seeds, each draw of seeds the same for every strategy (paired).

    Returns:
        By set: ``level``, and by strategy ``af`` (against random), ``vs_botorch``,
        ``vs_botorch_90`` (over the draws whose mean curve got there) and ``draws_short``
        (the share of draws whose mean curve did not).

    Raises:
        ValueError: for a set with no botorch campaigns, or campaigns of different budgets.
    """
    bench = sibling("acquisition")
    rng = np.random.default_rng(0)
    summary: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys(r["task"] for r in runs):
        pool = bench.task(key)
        top = top_mask(pool.values[:, 0], pool.objectives[0].direction, 0.05)
        by_seed = {
            strategy: {
                r["seed"]: top_fraction_trace(r["order"], top)
                for r in runs
                if r["task"] == key and r["strategy"] == strategy
            }
            for strategy in strategies
        }
        if "botorch" not in strategies:
            raise ValueError(f"{key}: no botorch campaigns to compare with")
        seeds = sorted(set.intersection(*(set(found) for found in by_seed.values())))
        if len({len(by_seed[s][seed]) for s in strategies for seed in seeds}) != 1:
            raise ValueError(f"{key}: campaigns of different budgets cannot share a curve")
        # paired by seed: row i is seed seeds[i] for every strategy
        traces = {s: np.array([by_seed[s][seed] for seed in seeds]) for s in strategies}

        every = np.arange(len(traces["botorch"]))
        level = float(traces["botorch"].mean(axis=0)[-1])
        point = curve_ratios(traces, every)
        draws_of = [curve_ratios(traces, rng.choice(every, every.size)) for _ in range(draws)]
        summary[key] = {"level": level, "strategies": {}}
        for strategy, t in traces.items():
            drawn = [d[strategy] for d in draws_of]
            reached = [x for x in drawn if x > 0]  # 0: a draw whose mean curve fell short
            low, high = np.percentile(reached, [5, 95]) if reached else (math.nan, math.nan)
            summary[key]["strategies"][strategy] = {
                "af": curve_acceleration_factor(t, len(pool), level),
                "vs_botorch": point[strategy],
                "vs_botorch_90": (float(low), float(high)),
                "draws_short": 1 - len(reached) / len(drawn),
            }
    return summary


def curve_ratios(traces: dict[str, np.ndarray], seeds: np.ndarray) -> dict[str, float]:
    """Each strategy's AF relative to botorch on the mean curves of ``seeds`` (0: not there).

    Args:
        traces: By strategy, ``s x n`` Top% traces, row ``i`` the campaign of seed ``i``.
        seeds: Rows to average (a bootstrap draw repeats some).
    """
    botorch = traces["botorch"][seeds].mean(axis=0)
    level = float(botorch[-1])
    reference = experiments_to_reach(botorch, level)
    return {
        s: reference / experiments_to_reach(t[seeds].mean(axis=0), level)  # inf: 0
        for s, t in traces.items()
    }


def curves_markdown(summary: dict[str, dict[str, Any]]) -> list[str]:
    """The table of Rohr's AF on mean curves (:func:`curves_summary`)."""
    if not summary:
        return []
    strategies = list(next(iter(summary.values()))["strategies"])
    lines = [
        "",
        "Rohr's AF on the mean Top% curves (random sampling: 1; a campaign that finds "
        "nothing counts), at the share of the top set botorch's mean curve reaches at the "
        "budget. In brackets: AF relative to botorch, the experiments botorch's mean curve "
        "needs for that share over the strategy's, with a 90% bootstrap interval over "
        "paired seeds, of the draws whose mean curve reached that share (and the share of "
        'draws that fell short, where some did); "not reached": the strategy\'s mean curve '
        "stays below it.",
        "",
        "| set | share | " + " | ".join(strategies) + " |",
        "|---|---|" + "---|" * len(strategies),
    ]
    for name, entry in summary.items():
        cells = []
        for s in strategies:
            row = entry["strategies"][s]
            if row["vs_botorch"] == 0:
                cells.append("not reached")
                continue
            low, high = row["vs_botorch_90"]
            interval = f" [{low:.2f}, {high:.2f}]" if s != "botorch" else ""
            short = row.get("draws_short", 0)
            fell = f"; {short:.1%} of draws short" if short and s != "botorch" else ""
            cells.append(f"{row['af']:.2f} ({row['vs_botorch']:.3f}x{interval}{fell})")
        lines.append(f"| {name} | {entry['level']:.0%} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "On the mean curves, per strategy: sets at >= 1.2x botorch, below 0.9x, and not "
        "reached (below botorch's share at the budget: no ratio):",
        "",
    ]
    for s in strategies:
        ratios = [e["strategies"][s]["vs_botorch"] for e in summary.values()]
        lines.append(
            f"- {s}: {sum(x >= 1.2 for x in ratios)}/{len(ratios)} at >= 1.2x, "
            f"{sum(0 < x < 0.9 for x in ratios)} below 0.9x, {sum(x == 0 for x in ratios)} "
            "not reached"
        )
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The pooled tables: AF with its ratio to BoTorch and share of the room, and counts."""
    bench = sibling("acquisition")
    summary = result["olympus"]
    strategies = list(next(iter(summary.values()))["strategies"])
    seeds = max(row["seeds"] for row in next(iter(summary.values()))["strategies"].values())
    lines = [
        f"Acquisition benchmark, Olympus sets, pooled over the campaigns of "
        f"{', '.join(result['blocks'])}"
        + (
            f", and of {', '.join(result['extra'])} for the strategies they add"
            if result.get("extra")
            else ""
        )
        + f" ({seeds} seeds per set and strategy); "
        "mean ± standard error of AF against random (top 5%), of the campaigns that found a "
        "top row (how many found none, where some did). In brackets: AF relative to "
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
                f"{rows[s]['af'][0]:.2f} ± {rows[s]['af'][1]:.2f}{bench.missed(rows[s])} "
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
    tables = (
        last_finds_markdown(result["last_finds"])
        + fixed_targets_markdown(result["fixed_targets"])
        + curves_markdown(result.get("curves", {}))
    )
    return "\n".join(lines + tables) + "\n"


def last_finds_markdown(last_finds: dict[str, Any]) -> list[str]:
    """The table of last top finds (:func:`last_finds_summary`)."""
    summary = last_finds["sets"]
    strategies = list(next(iter(summary.values()))["reached"])
    lines = [
        "",
        "Where AF is decided: mean ± standard error of the experiments until the last top "
        f"find, and the top row that {last_finds['last_found_by']} found last most often.",
        "",
        "| set | top rows | " + " | ".join(strategies) + " | found last most often |",
        "|---|---|" + "---|" * len(strategies) + "---|",
    ]
    for name, entry in summary.items():
        cells = [f"{m:.1f} ± {se:.1f}" for m, se in entry["reached"].values()]
        last = entry.get("last_row")
        said = f"row {last['row']} ({last['share']:.0%}): {last['what']}" if last else "none"
        lines.append(f"| {name} | {entry['top']} | " + " | ".join(cells) + f" | {said} |")
    return lines


def fixed_targets_markdown(summary: dict[str, dict[str, Any]]) -> list[str]:
    """The table of experiments to fixed shares of the top set (:func:`fixed_targets_summary`)."""
    strategies = list(next(iter(summary.values())))
    shares = " and ".join(f"{t:.0%}" for t in TARGETS)
    lines = [
        "",
        f"On equal terms: mean experiments until {shares} of the top set were found (a "
        "campaign that never got there counts as its budget + 1), and in brackets how many "
        f"campaigns found {TARGETS[-1]:.0%}. AF is taken at the share each campaign ends "
        "with, so a strategy that stops finding top rows early scores higher than it would "
        "here.",
        "",
        "| set | " + " | ".join(strategies) + " |",
        "|---|" + "---|" * len(strategies),
    ]
    last = str(TARGETS[-1])
    for name, rows in summary.items():
        cells = [
            " / ".join(f"{rows[s]['to'][str(t)]:.1f}" for t in TARGETS)
            + f" ({rows[s]['reached'][last]}/{rows[s]['campaigns']})"
            for s in strategies
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", nargs="*", default=list(BLOCKS))
    parser.add_argument(
        "--extra",
        nargs="*",
        default=[],
        help="blocks of strategies run later on the pooled seeds (see with_extra)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "acquisition_pooled")
    parser.add_argument(
        "--studied",
        help="the strategy whose last top finds the second table follows (default: the "
        "benchmark's DEFAULT where pooled, else the strategy --extra adds)",
    )
    args = parser.parse_args()
    bench = sibling("acquisition")
    journals = {b: block_runs(RESULTS / f"{b}.json") for b in args.blocks}
    runs = pooled_runs(journals, bench.SETS)
    common = {r["strategy"] for r in runs}
    partial = {b: [r for r in js if r["strategy"] not in common] for b, js in journals.items()}
    extra = {b: block_runs(RESULTS / f"{b}.json") for b in args.extra}
    try:
        runs = with_extra(runs, extra, bench.SETS, partial)
    except ValueError as error:
        parser.error(f"--extra: {error}")
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
    strategies = tuple(next(iter(summary.values()))["strategies"])
    # the last finds of DEFAULT, or of the strategy the --extra blocks add when it is absent
    added = [r["strategy"] for r in runs if r.get("block") in args.extra]
    studied = args.studied or (
        bench.DEFAULT if bench.DEFAULT in strategies else (added or ["botorch"])[-1]
    )
    if studied not in strategies:
        parser.error(f"--studied: {studied!r} is not among the pooled strategies {strategies}")
    compared = tuple(dict.fromkeys(s for s in ("botorch", studied) if s in strategies))
    last_finds = last_finds_summary(runs, compared, studied)
    result = {
        "blocks": args.blocks,
        "extra": args.extra,
        "olympus": summary,
        "last_finds": last_finds,
        "fixed_targets": fixed_targets_summary(runs, strategies),
        "curves": curves_summary(runs, strategies),
    }
    args.output.with_suffix(".json").write_text(json.dumps(result, indent=1, default=float))
    args.output.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
