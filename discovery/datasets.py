"""Measured data sets as candidate pools: Olympus folders and plain CSV tables.

A pool data set is a table of measured points. A campaign on it may only propose
points of the pool, and the "experiment" returns the measured value (a lookup oracle).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from discovery.domain import Direction, Objective
from discovery.spaces import (
    CategoricalParameter,
    ContinuousParameter,
    Parameter,
    Parameters,
    SearchSpace,
    SimplexConstraint,
)

_SIMPLEX_TOL = 1e-6


@dataclass(frozen=True)
class PoolDataset:
    """A measured pool of candidates.

    Attributes:
        name: Data set name.
        space: Search space spanned by the pool.
        objectives: The measured columns, with directions.
        points: The ``N`` candidates, in file order.
        values: Measured objective values, shape ``N x m`` (columns follow ``objectives``).
        source: Path the data came from.
        notes: Anything the importer had to decide (dropped constraints, ...).

    """

    name: str
    space: SearchSpace
    objectives: tuple[Objective, ...]
    points: list[Parameters]
    values: np.ndarray
    source: str
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.points)

    def best_value(self, objective: int = 0) -> float:
        """Best measured value of one objective over the whole pool."""
        column = self.values[:, objective]
        return float(
            column.max() if self.objectives[objective].direction.sign > 0 else column.min()
        )


def load_olympus(folder: str | Path) -> PoolDataset:
    """Read an Olympus data set folder (``data.csv`` without header + ``config.json``).

    Bounds are the configured bounds widened to the measured points (some data sets hold
    points outside their nominal bounds). A ``simplex`` parameter constraint is kept only
    when the measured points satisfy it.

    Raises:
        FileNotFoundError: if ``data.csv`` or ``config.json`` is missing.
        ValueError: if the table does not match the configuration.

    """
    folder = Path(folder)
    config_path, data_path = folder / "config.json", folder / "data.csv"
    for path in (config_path, data_path):
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: not found (an Olympus folder has data.csv and config.json)"
            )
    config = json.loads(config_path.read_text())
    names = [p["name"] for p in config["parameters"]]
    goal = Direction.parse(config.get("default_goal", "minimize"))
    measured = [m["name"] for m in config["measurements"]]
    table = pd.read_csv(data_path, header=None)
    if table.shape[1] != len(names) + len(measured):
        raise ValueError(
            f"{data_path}: {table.shape[1]} columns, config.json describes "
            f"{len(names)} parameters + {len(measured)} measurements"
        )
    table.columns = names + measured
    objectives = tuple(Objective(m, goal) for m in measured)

    nominal = {
        p["name"]: (float(p.get("lower", p.get("low"))), float(p.get("upper", p.get("high"))))
        for p in config["parameters"]
    }
    data = _pool_from_table(table, names, objectives, nominal, name=folder.name, source=str(folder))
    if config.get("constraints", {}).get("parameters") != "simplex":
        return data
    sums = table[names].to_numpy(float).sum(axis=1)
    if np.all(np.abs(sums - 1.0) <= _SIMPLEX_TOL):
        space = SearchSpace(data.space.parameters, (SimplexConstraint(tuple(names), 1.0),))
        return replace(data, space=space)
    note = (
        f"config.json declares a simplex, but the measured points sum to "
        f"{sums.min():.3g}..{sums.max():.3g}; the constraint was not applied"
    )
    return replace(data, notes=(*data.notes, note))


def load_csv(
    path: str | Path,
    objectives: Sequence[tuple[str, Direction]],
    params: Sequence[str] | None = None,
) -> PoolDataset:
    """Read a CSV table with a header into a pool data set.

    Args:
        path: CSV file with one row per measured point.
        objectives: ``(column, direction)`` for each objective column.
        params: Parameter columns; default all columns that are not objectives. Numeric
            columns become continuous parameters (bounds from the data), others categorical.

    Raises:
        ValueError: naming the column (and row) that is missing, empty or not finite.

    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found")
    table = pd.read_csv(path)
    if table.empty:
        raise ValueError(f"{path}: no rows")
    objective_names = [name for name, _ in objectives]
    if not objective_names:
        raise ValueError("at least one objective column is needed (--objective COL:max|min)")
    chosen = list(params) if params else [c for c in table.columns if c not in objective_names]
    for column in (*objective_names, *chosen):
        if column not in table.columns:
            raise ValueError(
                f"{path}: column {column!r} not found; columns are {list(table.columns)}"
            )
    overlap = set(chosen) & set(objective_names)
    if overlap:
        raise ValueError(f"columns {sorted(overlap)} are both parameter and objective")
    goals = tuple(Objective(name, direction) for name, direction in objectives)
    return _pool_from_table(table, chosen, goals, {}, name=path.stem, source=str(path))


def _pool_from_table(
    table: pd.DataFrame,
    names: list[str],
    objectives: tuple[Objective, ...],
    nominal: dict[str, tuple[float, float]],
    *,
    name: str,
    source: str,
) -> PoolDataset:
    parameters: list[Parameter] = []
    for column in names:
        series = table[column]
        if series.isna().any():
            row = int(np.flatnonzero(series.isna().to_numpy())[0])
            raise ValueError(f"{source}: column {column!r} is empty in data row {row + 1}")
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            lo, hi = float(series.min()), float(series.max())
            if column in nominal:
                lo, hi = min(lo, nominal[column][0]), max(hi, nominal[column][1])
            parameters.append(ContinuousParameter(column, lo, hi))
        else:
            choices = tuple(sorted(str(v) for v in series.unique()))
            parameters.append(CategoricalParameter(column, choices))
    values = np.empty((len(table), len(objectives)))
    for j, objective in enumerate(objectives):
        column = pd.to_numeric(table[objective.name], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(column))
        if bad.size:
            raise ValueError(
                f"{source}: objective {objective.name!r} is missing or not a finite number "
                f"in data row {int(bad[0]) + 1}"
            )
        values[:, j] = column
    points: list[Parameters] = []
    for record in table[names].to_dict(orient="records"):
        points.append(
            {
                k: (float(v) if isinstance(v, int | float) and not isinstance(v, bool) else str(v))
                for k, v in record.items()
            }
        )
    return PoolDataset(name, SearchSpace(tuple(parameters)), objectives, points, values, source)
