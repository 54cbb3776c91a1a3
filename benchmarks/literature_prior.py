"""What prior knowledge is worth: experiments to a top-1% bulk modulus, with and without.

The campaign: the AFLOW bulk moduli (``aflow__ael_bulk_modulus_vrh``, all 4,892
compositions) as a pool with a lookup oracle; 20 random known materials to start, then
batches of 4 chosen by qLogNEI on a GP, until a top-1% material is measured or the budget
runs out. The prior: a deep ensemble trained with matloop's own code on another database's
values of the same property (Materials Project, ``mp_bulk_modulus/train.csv``), standing
in for literature records; the GP then models ``y - a * prior(x)`` (``discovery.priors``).
The two databases share many compositions (the table's first line counts them, and the
pool's top-1% among them): a prior that has seen a material's value elsewhere all but
looks it up. So the prior is trained twice, on all of its training set (``gp+prior``: what
is known elsewhere, the campaign measures what is true here) and with every composition of
the pool left out (``gp+prior-unseen``: what a prior is worth for materials nobody has
measured).

    python benchmarks/literature_prior.py [--seeds 10] [--budget 100]

Writes ``benchmarks/results/literature_prior.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Composition

REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]
sys.path.insert(0, str(REPO))

from benchmarks.machine import machine  # noqa: E402
from discovery.compositions import reduced_formula  # noqa: E402
from discovery.datasets import load_csv  # noqa: E402
from discovery.domain import Direction  # noqa: E402
from discovery.ensembles import TrainingConfig  # noqa: E402
from discovery.planners import GPPlanner, PlanningProblem  # noqa: E402
from discovery.priors import composition_formulas  # noqa: E402
from discovery.property_models import PropertyModelConfig, fit_property_model  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "property"
RESULTS = REPO / "benchmarks" / "results"


def pool_csv(folder: Path, scratch: Path) -> Path:
    """All splits of the pool set in one CSV (the campaign sees every composition)."""
    parts = [
        pd.read_csv(folder / f"{s}.csv", keep_default_na=False) for s in ("train", "val", "test")
    ]
    path = scratch / "pool.csv"
    pd.concat(parts).to_csv(path, index=False)
    return path


def campaign(
    planner: GPPlanner,
    data: Any,
    X: np.ndarray,
    y: np.ndarray,
    top: np.ndarray,
    seed: int,
    args: Any,
) -> dict[str, Any]:
    """Run one campaign; experiments until the first top-1% material (or None)."""
    rng = np.random.default_rng(seed)
    measured = list(rng.choice(len(y), args.initial, replace=False))
    first = next((i + 1 for i, m in enumerate(measured) if top[m]), None)
    rounds = 0
    while first is None and len(measured) < args.budget:
        available = np.ones(len(y), bool)
        available[measured] = False
        problem = PlanningProblem(
            data.space,
            data.objectives,
            X[measured],
            y[measured, None],
            np.empty((0, X.shape[1])),
            X,
            available,
        )
        plan = planner.plan(problem, args.batch, seed * 1_000 + rounds)
        for suggestion in plan.suggestions:
            assert suggestion.candidate is not None  # a pool campaign
            measured.append(suggestion.candidate)
            if first is None and top[measured[-1]]:
                first = len(measured)
        rounds += 1
    return {"experiments_to_top1": first, "measured": len(measured)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--initial", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS / "literature_prior")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    scratch = args.output.parent
    scratch.mkdir(parents=True, exist_ok=True)
    data = load_csv(
        pool_csv(args.data / "aflow__ael_bulk_modulus_vrh", scratch),
        [("target", Direction.MAXIMIZE)],
        composition="formula",
    )
    (scratch / "pool.csv").unlink()
    X, y = data.space.encode(data.points), data.values[:, 0]
    top = y >= np.quantile(y, 0.99)
    pool_formulas = composition_formulas(data.space, X)
    pool_keys = {_key(f) for f in pool_formulas}
    source = pd.read_csv(args.data / "mp_bulk_modulus" / "train.csv", keep_default_na=False)
    in_pool = source.formula.map(_key).isin(pool_keys)
    overlap = set(source.formula[in_pool].map(_key))
    model, prior_seconds = train_prior(source)
    unseen, _ = train_prior(source[~in_pool])
    predictions = model.predict(pool_formulas).mean
    top_keys = {_key(f) for f, t in zip(pool_formulas, top, strict=True) if t}

    def prior_of(fitted: Any) -> Any:
        return lambda rows: fitted.predict(composition_formulas(data.space, rows)).mean

    strategies = {
        "gp": GPPlanner(),
        "gp+prior": GPPlanner(prior=prior_of(model)),
        "gp+prior-unseen": GPPlanner(prior=prior_of(unseen)),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in strategies}
    for seed in range(args.seeds):
        for name, planner in strategies.items():
            tic = time.perf_counter()
            runs[name].append(
                campaign(planner, data, X, y, top, seed, args)
                | {"seconds": time.perf_counter() - tic}
            )
            print(f"seed {seed} {name}: {runs[name][-1]}", flush=True)
    result = {
        "machine": machine(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "pool": len(y),
        "top1_count": int(top.sum()),
        "prior_train_seconds": prior_seconds,
        "prior_pool_mae": float(np.mean(np.abs(predictions - y))),
        "prior_pool_spearman": float(pd.Series(predictions).corr(pd.Series(y), method="spearman")),
        "prior_train_pool_compositions": len(overlap),
        "prior_train_pool_top1": len(overlap & top_keys),
        "unseen_prior_left_out": int(in_pool.sum()),
        "runs": runs,
        "summary": {name: summarize(r, args.budget) for name, r in runs.items()},
    }
    args.output.with_suffix(".json").write_text(json.dumps(result, indent=2))
    args.output.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


def _key(formula: str) -> str:
    """A composition's reduced formula, whatever its notation (fractions or amounts)."""
    return reduced_formula(Composition(formula).as_dict())


def train_prior(source: pd.DataFrame) -> tuple[Any, float]:
    """An ensemble trained on Materials Project bulk moduli (``formula``, ``target`` rows).

    Returns:
        The model and its training seconds.
    """
    started = time.perf_counter()
    held = source.sample(frac=0.1, random_state=0)
    kept = source.drop(held.index)
    model = fit_property_model(
        list(kept.formula),
        kept.target.to_numpy(),
        list(held.formula),
        held.target.to_numpy(),
        PropertyModelConfig("ensemble", TrainingConfig(n_members=3, epochs=60)),
    )
    return model, time.perf_counter() - started


def summarize(runs: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    """Mean and standard error of experiments to a top-1% hit (misses count as the budget)."""
    counts = [r["experiments_to_top1"] or budget for r in runs]
    se = statistics.stdev(counts) / len(counts) ** 0.5 if len(counts) > 1 else float("nan")
    return {
        "mean_experiments": statistics.fmean(counts),
        "se": se,
        "found": sum(r["experiments_to_top1"] is not None for r in runs),
        "seeds": len(runs),
    }


def markdown(r: dict[str, Any]) -> str:
    c = r["config"]
    lines = [
        f"AFLOW bulk modulus pool ({r['pool']} compositions, {r['top1_count']} in the top 1%), "
        f"{c['initial']} random to start, batches of {c['batch']}, budget {c['budget']}, "
        f"{c['seeds']} seeds; prior: MP-trained ensemble (pool MAE {r['prior_pool_mae']:.1f} GPa, "
        f"Spearman {r['prior_pool_spearman']:.2f}, trained in {r['prior_train_seconds']:.0f} s). "
        f"Its training set holds {r['prior_train_pool_compositions']} of the pool's "
        f"compositions, {r['prior_train_pool_top1']} of them in the top 1%; "
        f"gp+prior-unseen's prior is trained without them "
        f"({r['unseen_prior_left_out']} rows left out).",
        "",
        "| strategy | experiments to a top-1% material (mean ± se) | found within budget |",
        "|---|---|---|",
    ]
    for name, s in r["summary"].items():
        lines.append(
            f"| {name} | {s['mean_experiments']:.1f} ± {s['se']:.1f} | {s['found']}/{s['seeds']} |"
        )
    lines.append("")
    lines.append("A miss counts as the whole budget.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
