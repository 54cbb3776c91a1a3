"""Measured data sets as candidate pools: Olympus folders and plain CSV tables.

A pool data set is a table of measured points. A campaign on it may only propose
points of the pool, and the "experiment" returns the measured value (a lookup oracle).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeGuard

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
        values: Measured objective values, shape ``N x m`` (columns follow ``objectives``);
            NaN in the rows of candidates not yet measured (``load_csv(measured=False)``).
        source: Absolute path of the file or folder the data came from (resolved:
            where it was read from, whatever folder the reader ran in).
        source_sha256: SHA-256 (hex) of the table's bytes as read (an Olympus folder's
            ``data.csv``): which version of the file a campaign holds.
        notes: Anything the importer had to decide (dropped constraints, ...).
        labels: What the file names each candidate by (a sample id, a formula as
            written), in file order, None for an empty cell; empty when it names none.

    """

    name: str
    space: SearchSpace
    objectives: tuple[Objective, ...]
    points: list[Parameters]
    values: np.ndarray
    source: str
    notes: tuple[str, ...] = field(default=())
    source_sha256: str | None = None
    labels: tuple[str | None, ...] = field(default=())

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
        ValueError: naming the file (and the field, or the line) when ``config.json`` is
            malformed, ``data.csv`` cannot be parsed or does not match the configuration.

    """
    folder = Path(folder)
    config_path, data_path = folder / "config.json", folder / "data.csv"
    for path in (config_path, data_path):
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: not found (an Olympus folder has data.csv and config.json)"
            )
    config = _olympus_config(config_path)
    names, measured = list(config.nominal), list(config.measured)
    table, digest = _read_csv(data_path, header=None)
    if table.shape[1] != len(names) + len(measured):
        raise ValueError(
            f"{data_path}: {table.shape[1]} columns, config.json describes "
            f"{len(names)} parameters + {len(measured)} measurements"
        )
    table.columns = names + measured
    objectives = tuple(Objective(m, config.goal) for m in measured)
    data = _pool_from_table(
        table,
        names,
        objectives,
        config.nominal,
        name=folder.name,
        source=_absolute(folder),
        where=str(folder),
    )
    data = replace(data, source_sha256=digest)
    if not config.simplex:
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


#: How a refusal of a table with measurements missing says what a table of candidates is.
UNMEASURED_HINT = (
    "a table of candidates a lab will measure leaves it out or empty where a row is not "
    "measured yet: campaign create --unmeasured"
)


def load_csv(
    path: str | Path,
    objectives: Sequence[tuple[str, Direction]],
    params: Sequence[str] | None = None,
    composition: str | None = None,
    read_formula: Callable[[str], str] | None = None,
    label: str | None = None,
    measured: bool = True,
) -> PoolDataset:
    """Read a CSV table with a header into a pool data set.

    Args:
        path: CSV file with one row per measured point, or per candidate to measure.
        objectives: ``(column, direction)`` for each objective column: each measured in
            every row, or (``measured`` False) in the rows already measured.
        params: Parameter columns; default all columns that are not objectives. Numeric
            columns become continuous parameters (bounds from the data), others categorical.
        composition: A column of chemical formulas to read as compositions: it becomes one
            molar-fraction parameter per element of the pool, named by the element symbol
            and tied by a simplex constraint (sum 1), so that every model sees chemistry.
        read_formula: How a ``composition`` cell is read as its writer meant it, before
            pymatgen reads it: it returns the formula (``"STO"`` -> ``"SrTiO3"``) or
            raises ValueError saying why it cannot (``literature.formulas.read_formula``,
            which this layer may not import). None: cells are read as written, and
            pymatgen's misreadings (``STO`` as S, tritium, O) are refused.
        label: A column that names each row (``sample``: ``P001``), read as text and
            kept with each candidate (:attr:`PoolDataset.labels`). Default: the
            ``composition`` column, as written (``K3C60``, whose fractions read as KC20).
            A column not read is named in the notes.
        measured: False: the rows are candidates a lab will measure. A row it has
            measured already holds a value in every objective column, the others none
            (or the columns are left out); ``values`` is NaN in the rows not measured.

    Raises:
        FileNotFoundError: if there is no such file.
        ValueError: naming the file, and the column and row that is missing, empty or not
            finite, or the line that cannot be parsed (a row wider than the header too),
            or the formula that cannot be read or holds a composition twice; or, where
            ``measured`` is False, a row measured in some objective columns only.

    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found")
    table, digest = _read_csv(path, header=0)
    if table.empty:
        raise ValueError(f"{path}: no rows")
    objective_names = [name for name, _ in objectives]
    if not objective_names:
        raise ValueError("at least one objective column is needed (--objective COL:max|min)")
    written = list(table.columns)  # as the file has them, for messages
    if not measured:  # a table of candidates may leave its outcome columns out
        table = table.assign(**{n: np.nan for n in objective_names if n not in table})
    not_parameters = {*objective_names, label}  # a label names a row: never a parameter
    chosen = list(params) if params else [c for c in table.columns if c not in not_parameters]
    for column in (*objective_names, *chosen):
        if column not in table.columns:
            unmeasured = f" ({UNMEASURED_HINT})" if column in objective_names else ""
            raise ValueError(
                f"{path}: column {column!r} not found; columns are {written}" + unmeasured
            )
    overlap = set(chosen) & set(objective_names)
    if overlap:
        raise ValueError(f"columns {sorted(overlap)} are both parameter and measured outcome")
    goals = tuple(Objective(name, direction) for name, direction in objectives)
    for named, what in ((composition, "composition"), (label, "label")):
        if named is not None and named not in table.columns:
            raise ValueError(f"{path}: {what} column {named!r} not found; columns are {written}")
    if composition is not None:
        pool = _composition_pool(table, composition, goals, path, read_formula, measured)
        used = {composition, *objective_names}
    else:
        where = str(path)
        pool = _pool_from_table(
            table, chosen, goals, {}, name=path.stem, source=_absolute(path), where=where,
            measured=measured,
        )  # fmt: skip
        pool = replace(pool, notes=(*pool.notes, *_table_notes(table, chosen)))
        used = {*chosen, *objective_names}
    label = label or composition
    unused = [c for c in table.columns if c not in used and c != label]
    notes = [
        f"column(s) {unused} not read (a measured one: --objective or --constraint; one "
        "naming each row, a sample id: --label)"
    ]
    labels = _labels(path, label) if label is not None else ()
    notes = notes[: bool(unused)]
    return replace(pool, labels=labels, notes=(*pool.notes, *notes), source_sha256=digest)


#: Fewest rows for a text column with a value of its own in each to read as a sample id.
ID_LIKE_ROWS = 10


def _table_notes(table: pd.DataFrame, parameters: Sequence[str]) -> list[str]:
    """What a lab should know of its table's parameter columns before a campaign runs.

    A text column with a different value in every row (a sample id) tells a model nothing
    as a parameter; rows that repeat a point (replicates) are kept, each with its value.
    """
    notes = []
    for column in parameters:
        series = table[column]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if not numeric and len(table) >= ID_LIKE_ROWS and series.nunique() == len(table):
            notes.append(
                f"column {column!r} has a different value in every row: as a parameter it "
                "tells the model nothing; if it names the rows, give it as --label (and "
                "the parameters as --param)"
            )
    repeated = table.duplicated(subset=list(parameters), keep=False)
    if repeated.any():
        rows = [int(i) + 1 for i in np.flatnonzero(repeated.to_numpy())]
        notes.append(
            f"data rows {rows[:6]}{' ...' if len(rows) > 6 else ''} repeat a point of another "
            "row: each is a candidate with its own measured value (average replicates into "
            "one row for one candidate)"
        )
    return notes


def _labels(path: Path, column: str) -> tuple[str | None, ...]:
    """A column's cells as written (text: ``007`` keeps its zeros), None for an empty one."""
    cells = pd.read_csv(path, usecols=[column], dtype=str, keep_default_na=False)[column]
    return tuple(" ".join(cell.split()) or None for cell in cells)


def _refuse_repeated_compositions(
    parsed: list[tuple[tuple[int, ...], tuple[float, ...]]],
    formulas: list[str],
    column: str,
    path: Path,
) -> None:
    """Raise naming two rows that hold one composition (Fe2O3, Fe4O6 and O3Fe2 are one).

    A pool holds each candidate once: two rows of one composition would be handed out
    as two experiments, and would give the lookup oracle two answers.
    """
    first: dict[tuple[tuple[int, ...], tuple[float, ...]], int] = {}
    for row, (zs, fs) in enumerate(parsed):
        key = (zs, tuple(round(f, 12) for f in fs))  # parse_formula sorts by atomic number
        if key in first:
            earlier = first[key]
            raise ValueError(
                f"{path}: {column!r} in data rows {earlier + 1} and {row + 1} "
                f"({formulas[earlier]!r}, {formulas[row]!r}) is one composition; a pool holds "
                "each once: merge those rows (average their values, say) and load again"
            )
        first[key] = row


def _composition_pool(
    table: pd.DataFrame,
    column: str,
    objectives: tuple[Objective, ...],
    path: Path,
    read_formula: Callable[[str], str] | None = None,
    measured: bool = True,
) -> PoolDataset:
    """A pool whose parameters are the molar fractions of the elements in ``column``."""
    from pymatgen.core import Element  # pymatgen only for composition pools

    from discovery.featurizers import parse_formula

    # re-read as text: pandas would turn sodium nitride ("NaN") into a missing value
    written = pd.read_csv(path, usecols=[column], dtype=str, keep_default_na=False)[column]
    formulas = written.tolist()
    parsed = []
    for row, cell in enumerate(formulas, start=1):
        where = f"{path}: {column!r} in data row {row}"
        parsed.append(parse_formula(_as_meant(cell, read_formula, where), where))
    # on the compositions read: "STO" and "SrTiO3" in one file are one
    _refuse_repeated_compositions(parsed, formulas, column, path)
    elements = sorted({z for zs, _ in parsed for z in zs})
    symbols = [Element.from_Z(z).symbol for z in elements]
    clash = sorted(set(symbols) & {o.name for o in objectives})
    if clash:
        raise ValueError(
            f"{path}: objective column(s) {clash} clash with element names: each element of "
            f"the pool is a parameter named by its symbol; rename the column ({clash[0]!r} "
            f"as {clash[0].lower() + '_value'!r}, say) and name it so in --objective"
        )
    fractions = pd.DataFrame(0.0, index=table.index, columns=symbols)
    for row, (zs, fs) in enumerate(parsed):
        for z, f in zip(zs, fs, strict=True):
            fractions.iat[row, elements.index(z)] = f
    expanded = pd.concat([fractions, table[[o.name for o in objectives]]], axis=1)
    nominal = dict.fromkeys(symbols, (0.0, 1.0))
    pool = _pool_from_table(
        expanded,
        symbols,
        objectives,
        nominal,
        name=path.stem,
        source=_absolute(path),
        where=str(path),
        measured=measured,
    )
    space = SearchSpace(pool.space.parameters, (SimplexConstraint(tuple(symbols), 1.0),))
    note = f"{column!r}: {len(symbols)} elements as molar fractions (simplex)"
    return replace(pool, space=space, notes=(*pool.notes, note))


def _refuse_partly_measured(
    values: np.ndarray, objectives: Sequence[Objective], where: str
) -> None:
    """Raise naming the first row measured in some objective columns but not all.

    Such a row is neither a result (it lacks outcomes every result reports) nor a
    candidate to measure (it holds some).
    """
    known = np.isfinite(values)
    partly = np.flatnonzero(known.any(axis=1) & ~known.all(axis=1))
    if partly.size:
        row = int(partly[0])
        empty = [o.name for o, k in zip(objectives, known[row], strict=True) if not k]
        held = [o.name for o, k in zip(objectives, known[row], strict=True) if k]
        raise ValueError(
            f"{where}: data row {row + 1} holds {held} but not {empty}: a row is measured "
            "in every outcome column, or in none (a candidate not measured yet)"
        )


def _as_meant(cell: str, read_formula: Callable[[str], str] | None, where: str) -> str:
    """A formula cell read by ``read_formula`` (as written without one); errors name ``where``."""
    if read_formula is None:
        return cell
    try:
        return read_formula(cell)
    except ValueError as error:  # its own field name is no column of this file
        raise ValueError(f"{where}: {str(error).removeprefix('formula: ')}") from None


@dataclass(frozen=True)
class _OlympusConfig:
    nominal: dict[str, tuple[float, float]]  # parameter -> configured (lower, upper)
    measured: tuple[str, ...]
    goal: Direction
    simplex: bool


def _olympus_config(path: Path) -> _OlympusConfig:
    """Read and check an Olympus ``config.json``; errors name the file and the field."""
    try:
        config = json.loads(path.read_text())
    except (ValueError, RecursionError) as error:  # JSON syntax, not UTF-8, too deep
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected an object with parameters and measurements")
    nominal = {}
    for i, item in enumerate(_named_items(config, "parameters", path)):
        lower, upper = _bound(item, "lower", "low"), _bound(item, "upper", "high")
        if lower is None or upper is None:
            raise ValueError(
                f"{path}: parameters[{i}] ({item['name']!r}): lower/upper (or low/high) "
                "must be finite numbers"
            )
        nominal[item["name"]] = (lower, upper)
    measured = tuple(m["name"] for m in _named_items(config, "measurements", path))
    if len({*nominal, *measured}) < len(config["parameters"]) + len(measured):
        raise ValueError(f"{path}: parameter and measurement names must be unique")
    constraints = config.get("constraints", {})
    if not isinstance(constraints, dict):
        raise ValueError(f"{path}: constraints: expected an object")
    simplex = constraints.get("parameters") == "simplex"
    return _OlympusConfig(nominal, measured, _goal(config, path), simplex)


def _goal(config: dict[str, Any], path: Path) -> Direction:
    goal = config.get("default_goal", "minimize")
    try:
        return Direction.parse(goal if isinstance(goal, str) else repr(goal))
    except ValueError as error:
        raise ValueError(f"{path}: default_goal: {error}") from None


def _named_items(config: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    """``config[key]``: a non-empty list of objects, each with a string ``name``."""
    items = config.get(key)
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: {key}: expected a non-empty list")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError(f"{path}: {key}[{i}]: expected an object with a string name")
    return items


def _bound(item: dict[str, Any], *keys: str) -> float | None:
    """The first of ``keys`` in ``item`` as a float; None if absent or not a finite number."""
    value = next((item[key] for key in keys if key in item), None)
    if not _is_number(value) or not math.isfinite(_float_or_inf(value)):
        return None
    return float(value)


def _read_csv(path: Path, header: int | None) -> tuple[pd.DataFrame, str]:
    """``pd.read_csv`` with the file named in its errors and rows wider than the header refused.

    Returns the table and the SHA-256 (hex) of the bytes it was parsed from.

    ``index_col=False``: otherwise pandas reads a first row with one cell more than the
    header as "the first column is the index" and shifts every column; here it warns
    instead, which is turned into an error.
    """
    content = path.read_bytes()  # read once, for the checks and both parses
    refuse_unreadable(content, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            table = pd.read_csv(io.BytesIO(content), header=header, index_col=False)
        except pd.errors.ParserWarning:
            raise ValueError(f"{path}: data row 1 has more cells than the header") from None
        except ValueError as error:  # pandas' parser errors, not UTF-8, empty file
            raise ValueError(f"{path}: {error}".strip()) from None
        # In text columns only an empty cell is missing: "None" or "NA" is a category
        # (no dopant, not applicable), which pandas would otherwise read as NaN.
        text = [c for c in table.columns if table[c].map(lambda v: isinstance(v, str)).any()]
        if header == 0:  # pandas renames a repeated column "x.1": say what is wrong
            first = io.StringIO(content.decode("utf-8-sig"), newline=None).readline()
            names = next(csv.reader(io.StringIO(first)), [])  # \r ends a line too
            twice = repeated(names)
            if twice:
                raise ValueError(f"{path}: column(s) {twice} appear more than once in the header")
        if text:
            verbatim = pd.read_csv(
                io.BytesIO(content),
                header=header,
                index_col=False,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
            )
            table[text] = verbatim[text]
    return _integers_as_floats(table), hashlib.sha256(content).hexdigest()


def refuse_unreadable(content: bytes, path: Path) -> None:
    """Refuse a table file that is empty, or not UTF-8, naming the line of its first bad byte.

    pandas would say "No columns to parse from file", or name a byte's position in a
    chunk of the file ("position 2"), not where in the file it is.

    Raises:
        ValueError: naming the file and, for a byte that is not UTF-8, its line (1: the
            header) and value.
    """
    if not content.strip():
        raise ValueError(f"{path}: the file is empty")
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        raise ValueError(
            f"{path}: line {line} is not UTF-8 (byte 0x{content[error.start]:02x}, a "
            "Latin-1 or Windows character, say); save the file as UTF-8"
        ) from None


def repeated(header: Sequence[str]) -> list[str]:
    """Column names a header holds more than once (unnamed columns aside), sorted."""
    return sorted({name for name in header if name and header.count(name) > 1})


def _integers_as_floats(table: pd.DataFrame) -> pd.DataFrame:
    """Integer columns past 64 bits (pandas keeps Python ints) as floats, inf past range."""
    for column in table.columns:
        series = table[column]
        if series.dtype == object and series.map(_is_number).all():
            table[column] = series.map(_float_or_inf).astype(float)
    return table


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _float_or_inf(value: float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond float range: not a finite number
        return math.inf if value > 0 else -math.inf


def _absolute(path: Path) -> str:
    """``path`` absolute, links resolved: one name for one file, wherever it was read from."""
    return str(path.resolve())


def _pool_from_table(
    table: pd.DataFrame,
    names: list[str],
    objectives: tuple[Objective, ...],
    nominal: dict[str, tuple[float, float]],
    *,
    name: str,
    source: str,
    where: str,
    measured: bool = True,
) -> PoolDataset:
    """A pool of ``table``'s rows; ``where`` (the path as given) starts error messages.

    Its values are the objective columns', or NaN where the rows are not ``measured``.
    """
    parameters: list[Parameter] = []
    for column in names:
        series = table[column]
        if series.isna().any():
            row = int(np.flatnonzero(series.isna().to_numpy())[0])
            raise ValueError(f"{where}: column {column!r} is empty in data row {row + 1}")
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            bad = np.flatnonzero(~np.isfinite(series.to_numpy(float)))
            if bad.size:
                raise ValueError(
                    f"{where}: column {column!r} is not a finite number in data row "
                    f"{int(bad[0]) + 1}"
                )
            lo, hi = float(series.min()), float(series.max())
            if column in nominal:
                lo, hi = min(lo, nominal[column][0]), max(hi, nominal[column][1])
            parameters.append(ContinuousParameter(column, lo, hi))
        else:
            choices = tuple(sorted(str(v) for v in series.unique()))
            parameters.append(CategoricalParameter(column, choices))
    values = np.full((len(table), len(objectives)), np.nan)
    for j, objective in enumerate(objectives):
        cells = table[objective.name]
        column = pd.to_numeric(cells, errors="coerce").to_numpy(float)
        given = (cells.notna() & (cells.astype(str).str.strip() != "")).to_numpy()
        bad = np.flatnonzero(~np.isfinite(column) & (given | measured))
        if bad.size and measured:
            raise ValueError(
                f"{where}: objective {objective.name!r} is missing or not a finite number "
                f"in data row {int(bad[0]) + 1} (a measured table measures every row; "
                f"{UNMEASURED_HINT})"
            )
        if bad.size:
            raise ValueError(
                f"{where}: objective {objective.name!r} is not a finite number in data row "
                f"{int(bad[0]) + 1} ({cells.iloc[bad[0]]!r}): a row not measured yet leaves "
                "it empty"
            )
        values[:, j] = column
    _refuse_partly_measured(values, objectives, where)
    points: list[Parameters] = []
    for record in table[names].to_dict(orient="records"):
        points.append(
            {
                k: (float(v) if isinstance(v, int | float) and not isinstance(v, bool) else str(v))
                for k, v in record.items()
            }
        )
    return PoolDataset(name, SearchSpace(tuple(parameters)), objectives, points, values, source)
