"""Development tasks for pool acquisition, none of them an Olympus set.

Acquisition strategies are chosen here, never on the Olympus sets that
``benchmarks/acquisition.py`` reports. Three families of fixed, measured pools:

* ``TASKS``: BoTorch's standard test functions (minimised) on Sobol pools;
* ``MIXTURES``: mixtures on the simplex, as the Olympus blend and dye sets are (minimised),
  on Dirichlet(1) pools: dyes mixing by Beer-Lambert's law towards a target colour, a
  Scheffe special-cubic blend, Hartmann 6 on six fractions;
* ``MEASURED``: real measurements, fixed samples of two property sets as composition pools
  (each element's molar fraction, on the simplex), the property maximised.

The first two are measured once with Gaussian noise of 5% of their spread; the property
sets are taken as published. Every task runs the Olympus protocol: 10 random experiments,
then batches of 4 for 15 rounds, capped at a third of the pool. Pool sizes span the
Olympus range (66 to 1,386 rows). AF and EF against random sampling for the top 5%, and
AF relative to ``botorch`` per seed (geometric mean over seeds and tasks).

    python benchmarks/acquisition_synthetic.py --strategies botorch \
        gp+top+iwarp+warp+endgame gp+ens+iwarp+warp [--seeds 10] [--workers 2] \
        [--reuse benchmarks/results/acquisition_synthetic.json]
    python benchmarks/acquisition_synthetic.py --tasks dyes5 blend4 hartmann6mix \
        mp_shear500 oqmd_gap1000 --strategies botorch gp+top+iwarp+warp+endgame \
        gp+top+iwarp+warp+believer gp+ens+iwarp+warp \
        --output benchmarks/results/acquisition_devtasks   # the later tasks, 10 seeds

Writes ``benchmarks/results/acquisition_synthetic.{json,md}`` (or ``--output``); finished
campaigns are journalled beside them (``.runs.jsonl``), so an interrupted run resumes; a
change to matloop's code or to a task is not in a campaign's key: delete the journal.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import time
from functools import cache
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import torch
from botorch.test_functions import synthetic
from torch.quasirandom import SobolEngine

REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]
sys.path.insert(0, str(REPO))

from benchmarks.machine import machine  # noqa: E402
from benchmarks.scripts import sibling  # noqa: E402
from discovery.domain import Direction, Objective  # noqa: E402
from discovery.metrics import (  # noqa: E402
    acceleration_factor,
    enhancement_factor,
    top_fraction_trace,
    top_mask,
)
from discovery.planners import make_planner  # noqa: E402
from discovery.policy import TrainingPool, training_pool  # noqa: E402
from discovery.simulate import PoolTask, simulate  # noqa: E402
from discovery.spaces import ContinuousParameter, SearchSpace, SimplexConstraint  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
OLYMPUS_BUDGET = sibling("campaign_olympus")  # the same budget rule
ACQUISITION = sibling("acquisition")  # its mean ± se (AF is NaN where nothing was found)
#: name: (test function, pool rows). Fixed before any strategy was run on them.
TASKS: dict[str, tuple[Any, int]] = {
    "branin": (synthetic.Branin(), 100),
    "hartmann3": (synthetic.Hartmann(dim=3), 250),
    "ackley4": (synthetic.Ackley(dim=4), 250),
    "styblinskitang4": (synthetic.StyblinskiTang(dim=4), 70),
    "rosenbrock4": (synthetic.Rosenbrock(dim=4), 250),
    "levy4": (synthetic.Levy(dim=4), 1000),
    "hartmann6": (synthetic.Hartmann(dim=6), 1000),
}
#: name: (components, pool rows). Added after the believer was chosen on TASKS, fixed
#: before any strategy was run on them.
MIXTURES: dict[str, tuple[int, int]] = {
    "dyes5": (5, 250),
    "blend4": (4, 1000),
    "hartmann6mix": (6, 500),
}
#: name: (property set, pool rows), fixed like MIXTURES. Not the AFLOW sets, which
#: acquisition.py's own tasks use, nor mp_bulk_modulus, which measures the same property.
MEASURED: dict[str, tuple[str, int]] = {
    "mp_shear500": ("mp_shear_modulus", 500),
    "oqmd_gap1000": ("OQMD_Bandgap", 1000),
}
NOISE = 0.05  # of the pool's standard deviation, measured once per row


def pool_rows(name: str) -> int:
    """How many rows the named task's pool has (without building it)."""
    return {**TASKS, **MIXTURES, **MEASURED}[name][1]


def dye_colour_distance(fractions: np.ndarray) -> np.ndarray:
    """How far a dye mixture's colour is from a target colour: the dyes5 response.

    Five dyes with Gaussian absorbance bands (peak absorbance 1-3) mix by Beer-Lambert's
    law; white light through the mixture is seen by three Gaussian sensitivities (red,
    green, blue; 40 nm wide); the target is the colour of a fixed mixture outside the pool.

    Args:
        fractions: ``n x 5`` dye fractions, each row summing to 1.

    Returns:
        ``n`` Euclidean distances in RGB (each channel 0-1).
    """
    rng = np.random.default_rng(1)
    wavelengths = np.linspace(400.0, 700.0, 61)  # nm
    centres, widths = rng.uniform(420.0, 680.0, 5), rng.uniform(20.0, 60.0, 5)
    peaks = rng.uniform(1.0, 3.0, 5)
    absorbance = peaks[:, None] * np.exp(
        -0.5 * ((wavelengths - centres[:, None]) / widths[:, None]) ** 2
    )  # dyes x wavelengths
    sensors = np.exp(-0.5 * ((wavelengths - np.array([[610.0], [545.0], [450.0]])) / 40.0) ** 2)
    sensors /= sensors.sum(axis=1, keepdims=True)

    def colour(mixture: np.ndarray) -> np.ndarray:
        return np.exp(-mixture @ absorbance) @ sensors.T  # n x 3

    target = colour(rng.dirichlet(np.ones(5))[None])
    return np.linalg.norm(colour(fractions) - target, axis=1)


def scheffe_special_cubic(fractions: np.ndarray) -> np.ndarray:
    """A Scheffe special-cubic blend response with fixed standard-normal coefficients.

    The model of mixture designs: linear blending, plus binary and ternary synergies
    (scaled by 4 and 27, the inverse of their largest value inside the simplex).

    Args:
        fractions: ``n x q`` component fractions, each row summing to 1.

    Returns:
        ``n`` responses.
    """
    rng = np.random.default_rng(3)
    q = fractions.shape[1]
    value = fractions @ rng.standard_normal(q)
    for i, j in combinations(range(q), 2):
        value += 4.0 * rng.standard_normal() * fractions[:, i] * fractions[:, j]
    for i, j, k in combinations(range(q), 3):
        value += 27.0 * rng.standard_normal() * fractions[:, i] * fractions[:, j] * fractions[:, k]
    return value


def hartmann6_mixture(fractions: np.ndarray) -> np.ndarray:
    """Hartmann 6 at six fractions (a point of the unit cube's simplex face)."""
    return synthetic.Hartmann(dim=6)(torch.as_tensor(fractions)).numpy()


RESPONSES = {
    "dyes5": dye_colour_distance,
    "blend4": scheffe_special_cubic,
    "hartmann6mix": hartmann6_mixture,
}


def _measured_once(values: np.ndarray) -> np.ndarray:
    """``values`` with one draw of Gaussian noise, ``NOISE`` of their spread."""
    return values + NOISE * values.std() * np.random.default_rng(0).standard_normal(len(values))


@cache
def task(name: str) -> PoolTask:
    """The named task's fixed pool, with its one measurement per row."""
    if name in MIXTURES:
        return mixture_task(name)
    if name in MEASURED:
        dataset = ACQUISITION.composition_pool(*MEASURED[name])
        return PoolTask.from_dataset(dataset)
    function, rows = TASKS[name]
    bounds = function.bounds.to(torch.float64)
    unit = SobolEngine(function.dim, scramble=True, seed=0).draw(rows, dtype=torch.float64)
    points = bounds[0] + (bounds[1] - bounds[0]) * unit
    values = _measured_once(function(points).numpy())
    space = SearchSpace(
        tuple(
            ContinuousParameter(f"x{i}", float(lo), float(hi))
            for i, (lo, hi) in enumerate(bounds.T.tolist())
        )
    )
    objective = Objective("value", Direction.MINIMIZE)
    return PoolTask(name, space, (objective,), points.numpy(), values.reshape(-1, 1))


def mixture_task(name: str) -> PoolTask:
    """The named mixture on its Dirichlet(1) pool, with its one noisy measurement."""
    components, rows = MIXTURES[name]
    fractions = np.random.default_rng(10).dirichlet(np.ones(components), rows)
    names = tuple(f"x{i}" for i in range(components))
    space = SearchSpace(
        tuple(ContinuousParameter(n, 0.0, 1.0) for n in names),
        (SimplexConstraint(names, 1.0),),
    )
    values = _measured_once(RESPONSES[name](fractions))
    objective = Objective("value", Direction.MINIMIZE)
    return PoolTask(name, space, (objective,), fractions, values.reshape(-1, 1))


def training_pools() -> list[TrainingPool]:
    """Every development task as a pool the RL policy trains on (none an Olympus set)."""
    pools = []
    for name in [*TASKS, *MIXTURES, *MEASURED]:
        pool = task(name)
        maximise = pool.objectives[0].direction is Direction.MAXIMIZE
        pools.append(training_pool(name, pool.pool, pool.values[:, 0], maximise))
    return pools


def _key(job: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(job[k] for k in ("task", "strategy", "seed", "initial", "batch", "rounds"))


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One campaign: its measurement order and seconds."""
    torch.set_num_threads(1)
    pool = task(job["task"])
    start = time.perf_counter()
    result = simulate(
        make_planner(job["strategy"]),
        pool,
        job["initial"],
        job["batch"],
        job["rounds"],
        job["seed"],
    )
    return job | {"order": result.order.tolist(), "seconds": time.perf_counter() - start}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per task and strategy: AF and EF mean ± se, AF relative to botorch over paired seeds."""
    table: dict[str, Any] = {}
    for name in dict.fromkeys(r["task"] for r in runs):
        pool = task(name)
        top = top_mask(pool.values[:, 0], pool.objectives[0].direction, 0.05)
        af: dict[str, dict[int, float]] = {}
        rows: dict[str, Any] = {}
        for run in (r for r in runs if r["task"] == name):
            trace = top_fraction_trace(run["order"], top)
            af.setdefault(run["strategy"], {})[run["seed"]] = acceleration_factor(trace, len(pool))
            rows.setdefault(run["strategy"], {"ef": []})["ef"].append(
                enhancement_factor(trace, len(pool))
            )
        for strategy, row in rows.items():
            seeds = af[strategy]
            base = af.get("botorch", {})
            paired = [
                math.log(seeds[s] / base[s])
                for s in seeds
                if s in base and base[s] > 0 and seeds[s] > 0  # both found a top row
            ]
            row.update(
                ef=ACQUISITION.mean_se(row["ef"]),
                af=ACQUISITION.mean_se(list(seeds.values())),
                log_ratio=paired,
                af_vs_botorch=math.exp(float(np.mean(paired))) if paired else math.nan,
            )
        table[name] = {"pool": len(pool), "strategies": rows}
    return table


def markdown(result: dict[str, Any]) -> str:
    table = result["tasks"]
    strategies = list(dict.fromkeys(s for t in table.values() for s in t["strategies"]))
    lines = [
        f"Development tasks, {result['config']['seeds']} seeds from "
        f"{result['config']['first_seed']}; AF against random (top 5%), mean ± se, and in "
        "brackets the geometric mean over paired seeds of AF relative to botorch (a seed "
        "where either found no top row has no AF and is left out of both). Machine: "
        f"{result['machine']['cpus']} CPUs; "
        f"{sum(r['seconds'] for r in result['runs']) / 60:.0f} min of campaigns.",
        "",
        "| task | pool | " + " | ".join(strategies) + " |",
        "|---|---|" + "---|" * len(strategies),
    ]
    for name, entry in table.items():
        cells = []
        for strategy in strategies:
            row = entry["strategies"].get(strategy)
            mean, se = row["af"] if row else (math.nan, math.nan)
            cells.append(f"{mean:.2f} ± {se:.2f} ({row['af_vs_botorch']:.2f}x)" if row else "")
        lines.append(f"| {name} | {entry['pool']} | " + " | ".join(cells) + " |")
    overall = []
    for strategy in strategies:
        logs = [x for t in table.values() for x in t["strategies"][strategy]["log_ratio"]]
        overall.append(f"{math.exp(float(np.mean(logs))):.3f}x" if logs else "n/a")
    lines.append("| all (geometric mean) | | " + " | ".join(overall) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=[*TASKS, *MIXTURES, *MEASURED])
    parser.add_argument("--strategies", nargs="+", required=True)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS / "acquisition_synthetic")
    parser.add_argument(
        "--reuse",
        type=Path,
        nargs="*",
        default=[],
        help="earlier outputs (.json) whose campaigns of the same jobs are taken, not rerun",
    )
    args = parser.parse_args()
    for strategy in args.strategies:
        try:
            make_planner(strategy)
        except ValueError as error:
            parser.error(f"--strategies: {error}")
    jobs = [
        {
            "task": name,
            "strategy": strategy,
            "seed": seed,
            "initial": 10,
            "batch": 4,
            "rounds": OLYMPUS_BUDGET.rounds_for(pool_rows(name), 10, 4, 15),
        }
        for name in args.tasks
        for strategy in args.strategies
        for seed in range(args.first_seed, args.first_seed + args.seeds)
    ]
    started = time.perf_counter()
    wanted = {_key(j) for j in jobs}
    journal = args.output.with_suffix(".runs.jsonl")  # an interrupted run resumes from it
    earlier = [r for path in args.reuse for r in json.loads(path.read_text())["runs"]]
    earlier += ACQUISITION.read_journal(journal)
    runs = list({_key(r): r for r in earlier if _key(r) in wanted}.values())
    todo = [j for j in jobs if _key(j) not in {_key(r) for r in runs}]
    print(f"{len(runs)} campaigns reused, {len(todo)} to run", flush=True)
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.workers) as workers, journal.open("a") as log:
        for done in workers.imap_unordered(run_job, todo):
            log.write(json.dumps(done) + "\n")
            log.flush()
            runs.append(done)
            print(
                f"[{len(runs)}/{len(jobs)}] {done['task']} {done['strategy']} "
                f"s{done['seed']}: {done['seconds']:.1f} s",
                flush=True,
            )
    result = {
        "machine": machine(),
        "config": json.loads(json.dumps(vars(args), default=str)),
        "seconds": time.perf_counter() - started,
        "tasks": summary(runs),
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(result, indent=1, default=float))
    args.output.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
