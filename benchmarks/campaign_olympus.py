"""GP (qLogNEI) against random sampling on the ten Olympus data sets, through the real agent.

Every campaign runs through matloop's agent on an in-memory SecantusDB (the same code
path as ``matloop campaign run``), with a lookup oracle over the measured pool.

Budget per set: ``initial + rounds * batch`` experiments, capped at a third of the pool
(small pools would otherwise be nearly exhausted, making every strategy look alike).

    python benchmarks/campaign_olympus.py [--data DIR] [--seeds 5] [--sets photo_pce10 ...]

Writes ``benchmarks/results/campaign_olympus.json`` and ``.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # benchmarks.machine

from agents import compare_strategies, summarize  # noqa: E402
from benchmarks.machine import machine as describe_machine  # noqa: E402
from db import CampaignStore, connect, ephemeral_server  # noqa: E402
from discovery.datasets import load_olympus  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "optimization" / "olympus"
RESULTS = REPO / "benchmarks" / "results"
SETS = (
    "photo_pce10",
    "photo_wf3",
    "hplc",
    "fullerenes",
    "colors_bob",
    "suzuki",
    "alkox",
    "colors_n9",
    "benzylation",
    "snar",
)


def rounds_for(pool_size: int, initial: int, batch: int, rounds: int) -> int:
    """Rounds after the initial design, capped so the budget stays within a third of the pool."""
    return max(1, min(rounds, (pool_size // 3 - initial) // batch))


def fmt(mean: float, se: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.2f} ± {se:.2f}" if not math.isnan(se) else f"{mean:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("OLYMPUS_DATA", DEFAULT_DATA))
    )
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--initial", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--output", type=Path, default=RESULTS / "campaign_olympus.json")
    args = parser.parse_args()

    rows = []
    with ephemeral_server() as uri:
        connect(f"{uri}/benchmark")
        store = CampaignStore()
        for name in args.sets:
            dataset = load_olympus(args.data / name)
            rounds = rounds_for(len(dataset), args.initial, args.batch, args.rounds)
            start = time.perf_counter()
            outcomes = compare_strategies(
                store,
                dataset,
                ["random", "gp"],
                range(args.seeds),
                args.initial,
                args.batch,
                rounds,
                prefix=name,
            )
            summary = {s.strategy: s for s in summarize(outcomes, dataset.best_value())}
            row = {
                "set": name,
                "pool": len(dataset),
                "goal": dataset.objectives[0].direction.value,
                "budget": args.initial + rounds * args.batch,
                "dataset_best": dataset.best_value(),
                "summary": {k: asdict(v) for k, v in summary.items()},
                "wall_seconds": time.perf_counter() - start,
            }
            rows.append(row)
            gp, rnd = summary["gp"], summary["random"]
            print(
                f"{name:12s} EF gp {fmt(gp.ef_mean, gp.ef_se):>14s}  random "
                f"{fmt(rnd.ef_mean, rnd.ef_se):>14s}  ({row['wall_seconds']:.0f} s)",
                flush=True,
            )

    machine = describe_machine()
    payload = {
        "benchmark": "campaign_olympus",
        "settings": {
            "seeds": args.seeds,
            "initial": args.initial,
            "batch": args.batch,
            "rounds": args.rounds,
        },
        "definitions": "EF/AF against the expectation of random sampling, top-5% of the pool "
        "(Liang et al., npj Comput. Mater. 7, 188, 2021)",
        "machine": machine,
        "results": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2, allow_nan=True))
    table = markdown(rows, args.seeds, machine)
    args.output.with_suffix(".md").write_text(table)
    print()
    print(table)


def markdown(rows: list[dict], seeds: int, machine: dict) -> str:
    lines = [
        f"GP + qLogNEI against random sampling, {seeds} seeds, mean ± standard error; "
        f"EF/AF against random (top 5%). Machine: {machine['cpus']} CPUs, {machine['device']}.",
        "",
        "| set | pool | goal | budget | EF gp | EF random | AF gp | AF random | best gp | "
        "best random | data-set best | gp hit best | s/campaign gp |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        gp, rnd = row["summary"]["gp"], row["summary"]["random"]
        lines.append(
            f"| {row['set']} | {row['pool']} | {row['goal']} | {row['budget']} | "
            f"{fmt(gp['ef_mean'], gp['ef_se'])} | {fmt(rnd['ef_mean'], rnd['ef_se'])} | "
            f"{fmt(gp['af_mean'], gp['af_se'])} | {fmt(rnd['af_mean'], rnd['af_se'])} | "
            f"{gp['best_mean']:.4g} | {rnd['best_mean']:.4g} | {row['dataset_best']:.4g} | "
            f"{gp['found_optimum']}/{gp['seeds']} | {gp['seconds_mean']:.1f} |"
        )
    wins = sum(r["summary"]["gp"]["ef_mean"] > r["summary"]["random"]["ef_mean"] for r in rows)
    lines += ["", f"GP's mean EF is above random's on {wins} of {len(rows)} sets."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
