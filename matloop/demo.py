"""The demo: GP against random sampling on photo_pce10, every step kept in MongoDB."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from agents import RunOutcome, StrategySummary
from discovery.datasets import PoolDataset, load_olympus
from discovery.domain import Direction

DATA_DIR = Path(__file__).parent / "data"


def packaged_dataset(name: str = "photo_pce10") -> PoolDataset:
    """An Olympus data set shipped with matloop (MIT, Aspuru-Guzik group)."""
    return load_olympus(DATA_DIR / "olympus" / name)


def plot_best_so_far(
    outcomes: list[RunOutcome], dataset: PoolDataset, path: Path, title: str
) -> None:
    """Best-so-far against experiments: each seed thin, the mean thick, the pool best dashed."""
    objective = dataset.objectives[0]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    colours = {"gp": "tab:blue", "random": "tab:grey"}
    for strategy in dict.fromkeys(o.strategy for o in outcomes):
        runs = [o.best_so_far for o in outcomes if o.strategy == strategy]
        n = min(len(r) for r in runs)
        curves = np.stack([r[:n] for r in runs])
        x = np.arange(1, n + 1)
        colour = colours.get(strategy)
        for curve in curves:
            ax.plot(x, curve, color=colour, alpha=0.25, linewidth=0.8)
        ax.plot(
            x,
            curves.mean(axis=0),
            color=colour,
            linewidth=2.2,
            label=f"{strategy} (mean of {len(runs)} seeds)",
        )
    ax.axhline(
        dataset.best_value(), color="black", linestyle="--", linewidth=1, label="best in data set"
    )
    if objective.direction is Direction.MINIMIZE and dataset.values.min() > 0:
        ax.set_yscale("log")
    ax.set_xlabel("experiments")
    ax.set_ylabel(f"best {objective.name} so far ({objective.direction.value}imise)")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def write_summary(
    path: Path,
    dataset: PoolDataset,
    summaries: list[StrategySummary],
    outcomes: list[RunOutcome],
    settings: dict[str, int],
) -> None:
    """Write the comparison as JSON (summaries and per-seed traces)."""
    payload = {
        "dataset": dataset.name,
        "pool_size": len(dataset),
        "pool_best": dataset.best_value(),
        "settings": settings,
        "summary": [asdict(s) for s in summaries],
        "runs": [
            {
                "strategy": o.strategy,
                "seed": o.seed,
                "campaign": o.campaign,
                "best": o.best,
                "enhancement_factor": o.enhancement_factor,
                "acceleration_factor": o.acceleration_factor,
                "seconds": o.seconds,
                "best_so_far": o.best_so_far.tolist(),
                "top_fraction": o.top_fraction.tolist(),
            }
            for o in outcomes
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, allow_nan=True))
