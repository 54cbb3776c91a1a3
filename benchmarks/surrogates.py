"""Surrogates against CrabNet's and Roost's published MAE on CrabNet's fixed splits.

For each property set, every model trains on ``train.csv`` (``val.csv`` for early stopping
and recalibration; the GP also fits on it) and is scored once on ``test.csv``. A random
forest on the same composition descriptors runs in the same script as a same-machine
reference. Reported per model: test MAE, RMSE, NLL, 95% interval coverage, miscalibration
area, Spearman rank correlation of |error| with sigma, training seconds and predictions
per second.

    python benchmarks/surrogates.py [--data DIR] [--sets NAME ...]
        [--models rf ensemble gnn transformer hybrid gp] [--members 5] [--epochs 300] [--threads 1]

Writes ``benchmarks/results/surrogates.json`` and ``.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]
sys.path.insert(0, str(REPO))

from benchmarks.machine import machine  # noqa: E402
from discovery.diagnostics import calibration  # noqa: E402
from discovery.ensembles import TrainingConfig  # noqa: E402
from discovery.featurizers import Compositions  # noqa: E402
from discovery.property_models import (  # noqa: E402
    HYBRID_PARTS,
    PropertyModel,
    PropertyModelConfig,
    fit_property_model,
    mix_models,
)

DEFAULT_DATA = REPO.parent / "shared" / "data" / "property"
RESULTS = REPO / "benchmarks" / "results"
SETS = (
    "aflow__ael_bulk_modulus_vrh",
    "aflow__Egap",
    "mp_bulk_modulus",
    "mp_shear_modulus",
    "mp_e_hull",
)
#: Published test MAE on these splits (CrabNet repo, metrics/all_metrics.csv).
PUBLISHED = {
    "aflow__ael_bulk_modulus_vrh": {"roost": 8.82, "crabnet": 8.69, "rf": 11.91, "unit": "GPa"},
    "aflow__Egap": {"roost": 0.337, "crabnet": 0.301, "rf": 0.384, "unit": "eV"},
    "mp_bulk_modulus": {"roost": 11.39, "crabnet": 11.21, "rf": 14.36, "unit": "GPa"},
    "mp_shear_modulus": {"roost": 12.80, "crabnet": 12.79, "rf": 12.78, "unit": "GPa"},
    "mp_e_hull": {"roost": 0.0938, "crabnet": 0.0886, "rf": 0.1257, "unit": "eV/atom"},
    "OQMD_Bandgap": {"roost": 0.0877, "crabnet": 0.0492, "rf": 0.0601, "unit": "eV"},
}


def read_split(folder: Path, split: str) -> pd.DataFrame:
    # keep_default_na=False: sodium nitride is "NaN"
    return pd.read_csv(folder / f"{split}.csv", keep_default_na=False)


def scores(y: np.ndarray, mean: np.ndarray, std: np.ndarray | None) -> dict[str, float]:
    out = {
        "mae": float(np.mean(np.abs(y - mean))),
        "rmse": float(np.sqrt(np.mean((y - mean) ** 2))),
    }
    if std is not None:
        cal = calibration(y, mean, std)
        out |= {
            "nll": cal.nll,
            "coverage_95": cal.coverage_95,
            "miscalibration_area": cal.miscalibration_area,
            "spearman_err_sigma": cal.spearman,
        }
    return out


def random_forest(
    train: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    seed: int,
    trees: int = 200,
    max_features: float = 1.0,
) -> dict[str, Any]:
    from sklearn.ensemble import RandomForestRegressor

    started = time.perf_counter()
    fit = pd.concat([train, val])
    X = Compositions.from_formulas(list(fit.formula)).features()
    forest = RandomForestRegressor(
        n_estimators=trees, max_features=max_features, n_jobs=-1, random_state=seed
    )
    forest.fit(X, fit.target.to_numpy())
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    X_test = Compositions.from_formulas(list(test.formula)).features()
    per_tree = np.stack([t.predict(X_test) for t in forest.estimators_])
    rate = len(test) / (time.perf_counter() - started)
    # the spread of the trees, as an (uncalibrated) uncertainty for comparison
    mean, std = per_tree.mean(0), np.maximum(per_tree.std(0), 1e-9)
    return scores(test.target.to_numpy(), mean, std) | {
        "train_seconds": seconds,
        "predictions_per_second": rate,
        "trees": trees,
        "max_features": max_features,
    }


def surrogate(
    kind: str,
    train: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    configs: dict[str, TrainingConfig],
    trained: dict[str, tuple[PropertyModel, float]],
) -> dict[str, Any]:
    """Train (or reuse, for the hybrid's parts) a model and score it on the test split."""
    config = configs[kind]
    if kind == "hybrid":  # the same two models as the rows of its parts, mixed
        parts = [trained.get(k) or train_model(k, train, val, configs[k]) for k in HYBRID_PARTS]
        started = time.perf_counter()
        model = mix_models(parts[0][0], parts[1][0], list(val.formula), val.target.to_numpy())
        seconds = parts[0][1] + parts[1][1] + time.perf_counter() - started
    else:
        model, seconds = train_model(kind, train, val, config)
        trained[kind] = (model, seconds)
    started = time.perf_counter()
    prediction = model.predict(list(test.formula))
    rate = len(test) / (time.perf_counter() - started)
    result = scores(test.target.to_numpy(), prediction.mean, prediction.std)
    members = model.metrics.get("members", [])
    return result | {
        "train_seconds": seconds,
        "predictions_per_second": rate,
        "members": config.n_members,
        "max_epochs": config.epochs,
        "batch_size": config.batch_size,
        "loss": config.loss,
        "epochs": [int(m["epochs"]) for m in members],
        "recalibration_scale": model.metrics.get("recalibration_scale", model.metrics.get("scale")),
        "hybrid_weight": model.metrics.get("weight"),
    }


def train_model(
    kind: str, train: pd.DataFrame, val: pd.DataFrame, config: TrainingConfig
) -> tuple[PropertyModel, float]:
    started = time.perf_counter()
    model = fit_property_model(
        list(train.formula),
        train.target.to_numpy(),
        list(val.formula),
        val.target.to_numpy(),
        PropertyModelConfig(kind=kind, training=config),
    )
    return model, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--models", nargs="+", default=["rf", "ensemble", "gnn"])
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=30)
    parser.add_argument("--rf-trees", type=int, default=200)
    parser.add_argument("--rf-max-features", type=float, default=1.0, help="share per split")
    parser.add_argument(
        "--gnn-members", type=int, help="GNN and transformer members (default --members)"
    )
    parser.add_argument(
        "--gnn-epochs", type=int, help="GNN and transformer epochs (default --epochs)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--output", type=Path, default=RESULTS / "surrogates")
    parser.add_argument(
        "--combine", nargs="+", type=Path, help="merge result JSON files of separate runs"
    )
    args = parser.parse_args()
    if args.combine:
        write(combine([json.loads(p.read_text()) for p in args.combine]), args.output)
        print(args.output.with_suffix(".md").read_text())
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    config = TrainingConfig(
        n_members=args.members, epochs=args.epochs, patience=args.patience, seed=args.seed
    )
    results: dict[str, Any] = {
        "machine": machine(),
        "config": vars(args) | {"data": str(args.data)},
    }
    results["config"]["output"] = str(args.output)
    results["sets"] = {}
    for name in args.sets:
        folder = args.data / name
        train, val, test = (read_split(folder, s) for s in ("train", "val", "test"))
        row: dict[str, Any] = {"n": {"train": len(train), "val": len(val), "test": len(test)}}
        trained: dict[str, tuple[PropertyModel, float]] = {}
        for model in args.models:
            print(f"{name}: {model} ...", flush=True)
            if model == "rf":
                row[model] = random_forest(
                    train, val, test, args.seed, args.rf_trees, args.rf_max_features
                )
            else:
                # big sets: larger batches, so that an epoch costs about the same per sample
                batch = 128 if len(train) < 10_000 else 512
                sized = dataclasses.replace(config, batch_size=batch)
                gnn = dataclasses.replace(
                    sized,
                    n_members=args.gnn_members or sized.n_members,
                    epochs=args.gnn_epochs or sized.epochs,
                )
                configs = {"gp": sized, "ensemble": sized, "hybrid": sized}
                configs |= {"gnn": gnn, "transformer": gnn}
                row[model] = surrogate(model, train, val, test, configs, trained)
            print(f"  {json.dumps(row[model])}", flush=True)
        results["sets"][name] = row
        write(results, args.output)
    print(markdown(results))


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from runs of different models on the same sets (same machine)."""
    merged: dict[str, Any] = {
        "machine": runs[0]["machine"],
        "config": runs[0]["config"]
        | {"models": list(dict.fromkeys(m for r in runs for m in r["config"]["models"]))},
        "runs": [c for r in runs for c in r.get("runs", [r["config"]])],  # flatten merges
        "sets": {},
    }
    for run in runs:
        for name, row in run["sets"].items():
            merged["sets"].setdefault(name, {}).update(row)
    return merged


def write(results: dict[str, Any], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(results, indent=2))
    output.with_suffix(".md").write_text(markdown(results))


def markdown(results: dict[str, Any]) -> str:
    models = results["config"]["models"]
    lines = [
        f"Machine: {results['machine']['device']} ({results['machine']['processor']}), "
        f"{results['machine']['cpus']} CPUs, torch threads {results['machine']['torch_threads']}.",
        "",
        "| set | unit | Roost | CrabNet | "
        + " | ".join(f"{m} MAE" for m in models)
        + " | best vs CrabNet | best vs Roost |",
        "|---|---|---|---|" + "---|" * len(models) + "---|---|",
    ]
    notes = [
        "",
        "best: the lowest test MAE of the models in the row, so chosen on the test split "
        "(an optimistic pick; no validation MAE is recorded), one seed, no spread.",
    ]
    for name, row in results["sets"].items():
        pub = PUBLISHED[name]
        maes = {m: row[m]["mae"] for m in models if m in row}
        best = min(maes.values())
        lines.append(
            f"| {name} | {pub['unit']} | {pub['roost']} | {pub['crabnet']} | "
            + " | ".join(f"{maes[m]:.4g}" if m in maes else "" for m in models)
            + f" | {best / pub['crabnet']:.3f} | {best / pub['roost']:.3f} |"
        )
    lines += [
        *notes,
        "",
        "| set | model | RMSE | NLL | 95% coverage | miscal. area | Spearman(|err|, σ) "
        "| train s | pred/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in results["sets"].items():
        for m in models:
            if m not in row:
                continue
            r = row[m]
            nan = float("nan")
            lines.append(
                f"| {name} | {m} | {r['rmse']:.4g} | {r.get('nll', nan):.3f} | "
                f"{r.get('coverage_95', nan):.3f} | {r.get('miscalibration_area', nan):.3f} | "
                f"{r.get('spearman_err_sigma', nan):.3f} | {r['train_seconds']:.0f} | "
                f"{r['predictions_per_second']:.0f} |"
            )
    lines.append("")
    first: dict[str, Any] = next(iter(results["sets"].values()), {})
    for m in models:
        r = first.get(m, {})
        if m == "hybrid":
            lines.append(
                f"hybrid: the {' and '.join(HYBRID_PARTS)} models of the same run, mixed "
                "(weight on val)."
            )
        elif "members" in r:
            lines.append(
                f"{m}: {r['members']} members, <= {r['max_epochs']} epochs, {r['loss']} loss."
            )
            lines += [
                f"{m} on {name}: {row[m]['members']} members, <= {row[m]['max_epochs']} epochs."
                for name, row in results["sets"].items()
                if m in row
                and (row[m]["members"], row[m]["max_epochs"]) != (r["members"], r["max_epochs"])
            ]
    for name, row in results["sets"].items():
        if "rf" in row:
            rf = row["rf"]
            lines.append(
                f"RF on {name}: {rf.get('trees', 200)} trees, "
                f"{rf.get('max_features', 1.0):g} of the features per split."
            )
    lines.append("RF σ is the spread of its trees, uncalibrated. An empty cell: not run.")
    if "runs" in results:
        lines.append(f"Combined from {len(results['runs'])} runs on this machine, 1-2 at a time.")
        threads = results["machine"]["torch_threads"]
        lines += [  # train seconds are comparable only at the same thread count
            f"{', '.join(run['models'])} on {', '.join(run['sets'])}: torch threads "
            f"{run['threads']}, one process."
            for run in results["runs"]
            if run.get("threads", threads) != threads
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
