"""Pool data sets: Olympus folders (real data) and plain CSV tables (small files)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from discovery.datasets import PoolDataset, load_csv, load_olympus
from discovery.domain import Direction
from discovery.spaces import CategoricalParameter, ContinuousParameter, SimplexConstraint

#: The shared data checked out beside the repository (``../shared`` from its root).
SHARED_OLYMPUS = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "optimization" / "olympus"
)
SHARED_NAMES = (
    sorted(p.name for p in SHARED_OLYMPUS.iterdir() if (p / "config.json").is_file())
    if SHARED_OLYMPUS.is_dir()
    else ["photo_pce10"]  # the packaged copy
)

# -- Olympus: real data sets ---------------------------------------------------------------


def test_photo_pce10_is_a_simplex_pool_of_1040_blends(photo_pce10_dataset: PoolDataset) -> None:
    data = photo_pce10_dataset
    assert data.name == "photo_pce10"
    assert len(data) == 1040
    assert data.values.shape == (1040, 1)
    assert data.space.names == ["mat_1", "mat_2", "mat_3", "mat_4"]
    assert data.space.simplex == (SimplexConstraint(("mat_1", "mat_2", "mat_3", "mat_4"), 1.0),)
    assert [(o.name, o.direction) for o in data.objectives] == [("degradation", Direction.MINIMIZE)]
    assert data.notes == ()


def test_photo_pce10_first_rows_match_the_file(photo_pce10_dataset: PoolDataset) -> None:
    # data.csv rows 1-2: 1,0,0,0,0.189174654 and 0,1,0,0,0.113557828
    assert photo_pce10_dataset.points[0] == {"mat_1": 1.0, "mat_2": 0.0, "mat_3": 0.0, "mat_4": 0.0}
    assert photo_pce10_dataset.points[1]["mat_2"] == 1.0
    np.testing.assert_allclose(photo_pce10_dataset.values[:2, 0], [0.189174654, 0.113557828])


def test_photo_pce10_every_point_validates_against_its_space(
    photo_pce10_dataset: PoolDataset,
) -> None:
    for point in photo_pce10_dataset.points:
        photo_pce10_dataset.space.validate(point)


def test_best_value_follows_the_objective_direction(photo_pce10_dataset: PoolDataset) -> None:
    column = photo_pce10_dataset.values[:, 0]
    assert photo_pce10_dataset.best_value() == column.min()
    assert photo_pce10_dataset.best_value() < column.max()


def test_colors_bob_drops_the_simplex_its_data_violates(colors_bob_dataset: PoolDataset) -> None:
    data = colors_bob_dataset
    assert data.space.simplex == ()
    assert len(data.notes) == 1
    assert "declares a simplex" in data.notes[0]
    assert "not applied" in data.notes[0]
    sums = data.space.encode(data.points).sum(axis=1)
    assert np.abs(sums - 1.0).max() > 1e-3  # the data really are off the simplex
    for point in data.points:
        data.space.validate(point)


def test_alkox_bounds_are_widened_to_the_measured_points(
    alkox_dataset: PoolDataset, olympus_folder: Callable[[str], Path]
) -> None:
    config = json.loads((olympus_folder("alkox") / "config.json").read_text())
    nominal = {p["name"]: (p["low"], p["high"]) for p in config["parameters"]}
    X = alkox_dataset.space.encode(alkox_dataset.points)
    widened = 0
    for j, p in enumerate(alkox_dataset.space.parameters):
        assert isinstance(p, ContinuousParameter)
        low, high = nominal[p.name]
        # never narrower than configured, and never narrower than the data
        assert p.lower == min(low, X[:, j].min())
        assert p.upper == max(high, X[:, j].max())
        widened += (p.lower < low) + (p.upper > high)
    residence_time = alkox_dataset.space.by_name["residence_time"]
    assert isinstance(residence_time, ContinuousParameter)
    assert residence_time.lower == 0.05  # configured 0.5
    assert widened >= 1
    for point in alkox_dataset.points:
        alkox_dataset.space.validate(point)


@pytest.mark.parametrize("name", SHARED_NAMES)
def test_every_olympus_data_set_loads_into_a_self_consistent_pool(
    name: str, olympus_folder: Callable[[str], Path]
) -> None:
    folder = olympus_folder(name)
    data = load_olympus(folder)
    rows = sum(1 for line in (folder / "data.csv").read_text().splitlines() if line.strip())
    assert len(data) == rows == data.values.shape[0]
    assert np.isfinite(data.values).all()
    encoded = data.space.encode(data.points)
    lower, upper = data.space.bounds()
    assert ((lower <= encoded) & (encoded <= upper)).all()
    for point in data.points[:200]:
        data.space.validate(point)


# -- Olympus: error cases on small folders -------------------------------------------------


def write_olympus(folder: Path, config: dict[str, object], rows: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "data.csv").write_text(rows)
    return folder


TWO_PARAMS = {
    "parameters": [
        {"name": "a", "lower": 0.0, "upper": 1.0},
        {"name": "b", "low": 0.0, "high": 1.0},
    ],
    "measurements": [{"name": "y"}],
    "default_goal": "maximize",
    "constraints": {"parameters": "simplex"},
}


def test_olympus_accepts_both_bound_spellings_and_keeps_a_valid_simplex(tmp_path: Path) -> None:
    folder = write_olympus(tmp_path / "tiny", TWO_PARAMS, "0.25,0.75,1.5\n1.0,0.0,2.5\n")
    data = load_olympus(folder)
    assert data.name == "tiny"
    assert data.space.parameters == (
        ContinuousParameter("a", 0.0, 1.0),
        ContinuousParameter("b", 0.0, 1.0),
    )
    assert data.space.simplex == (SimplexConstraint(("a", "b"), 1.0),)
    assert data.objectives[0].direction is Direction.MAXIMIZE
    assert data.best_value() == 2.5


def test_olympus_goal_defaults_to_minimize(tmp_path: Path) -> None:
    config = {k: v for k, v in TWO_PARAMS.items() if k not in ("default_goal", "constraints")}
    data = load_olympus(write_olympus(tmp_path / "tiny", config, "0.2,0.3,1.5\n0.5,0.5,2.5\n"))
    assert data.objectives[0].direction is Direction.MINIMIZE
    assert data.best_value() == 1.5
    assert data.space.simplex == ()


@pytest.mark.parametrize("missing", ["data.csv", "config.json"])
def test_olympus_names_the_missing_file(tmp_path: Path, missing: str) -> None:
    folder = write_olympus(tmp_path / "tiny", TWO_PARAMS, "0.5,0.5,1.0\n")
    (folder / missing).unlink()
    with pytest.raises(FileNotFoundError, match=missing):
        load_olympus(folder)


def test_olympus_rejects_a_table_that_does_not_match_the_config(tmp_path: Path) -> None:
    folder = write_olympus(tmp_path / "tiny", TWO_PARAMS, "0.5,0.5\n0.2,0.8\n")
    with pytest.raises(ValueError, match=r"2 columns, config\.json describes 2 parameters"):
        load_olympus(folder)


# -- load_csv ------------------------------------------------------------------------------


def write_csv(tmp_path: Path, text: str, name: str = "table.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


MIXED = "solvent,temp,yield\nwater,20,0.5\nethanol,40,0.9\nwater,60,0.7\ntoluene,30,0.1\n"


def test_csv_numeric_columns_become_continuous_and_text_columns_categorical(
    tmp_path: Path,
) -> None:
    data = load_csv(write_csv(tmp_path, MIXED), [("yield", Direction.MAXIMIZE)])
    assert data.name == "table"
    assert data.space.parameters == (
        CategoricalParameter("solvent", ("ethanol", "toluene", "water")),
        ContinuousParameter("temp", 20.0, 60.0),
    )
    assert data.points[1] == {"solvent": "ethanol", "temp": 40.0}
    np.testing.assert_array_equal(data.values[:, 0], [0.5, 0.9, 0.7, 0.1])
    assert data.best_value() == 0.9
    for point in data.points:
        data.space.validate(point)


def test_csv_uses_only_the_parameter_columns_asked_for(tmp_path: Path) -> None:
    data = load_csv(write_csv(tmp_path, MIXED), [("yield", Direction.MINIMIZE)], params=["temp"])
    assert data.space.names == ["temp"]
    assert data.points[0] == {"temp": 20.0}
    assert data.best_value() == 0.1


def test_csv_with_two_objectives_keeps_their_order(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "x,cost,yield\n1,5,0.2\n2,3,0.4\n")
    data = load_csv(path, [("yield", Direction.MAXIMIZE), ("cost", Direction.MINIMIZE)])
    assert [o.name for o in data.objectives] == ["yield", "cost"]
    np.testing.assert_array_equal(data.values, [[0.2, 5.0], [0.4, 3.0]])
    assert data.best_value(1) == 3.0
    assert data.space.names == ["x"]


@pytest.mark.parametrize(
    ("objective", "params", "column"),
    [("efficiency", None, "efficiency"), ("yield", ["temp", "pressure"], "pressure")],
)
def test_csv_names_a_missing_column(
    tmp_path: Path, objective: str, params: list[str] | None, column: str
) -> None:
    path = write_csv(tmp_path, MIXED)
    with pytest.raises(ValueError, match=rf"column '{column}' not found; columns are"):
        load_csv(path, [(objective, Direction.MAXIMIZE)], params=params)


def test_csv_names_the_column_and_row_of_a_missing_objective(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "temp,yield\n20,0.5\n40,\n60,0.7\n")
    with pytest.raises(ValueError, match=r"objective 'yield' is missing .* in data row 2"):
        load_csv(path, [("yield", Direction.MAXIMIZE)])


@pytest.mark.parametrize("header", ["temp,solvent", "temp,solvent,yield"])
def test_csv_of_candidates_to_measure_has_no_values(tmp_path: Path, header: str) -> None:
    blank = "," if header.endswith("yield") else ""  # the column out, or there and empty
    path = write_csv(tmp_path, f"{header}\n20,water{blank}\n40,ethanol{blank}\n")
    data = load_csv(path, [("yield", Direction.MAXIMIZE)], measured=False)
    assert data.space.names == ["temp", "solvent"] and len(data) == 2
    assert data.values.shape == (2, 1) and np.isnan(data.values).all()
    columns = header.split(",")
    with pytest.raises(ValueError, match=re.escape(f"'tmp' not found; columns are {columns}")):
        load_csv(path, [("yield", Direction.MAXIMIZE)], params=["tmp"], measured=False)


def test_a_table_of_candidates_keeps_the_values_of_rows_measured_already(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path, "temp,yield,purity\n20,,\n40,0.6,0.9\n60, , \n")
    goals = [("yield", Direction.MAXIMIZE), ("purity", Direction.MAXIMIZE)]
    data = load_csv(path, goals, measured=False)
    assert np.isnan(data.values[[0, 2]]).all()  # a blank cell is an empty one
    assert data.values[1].tolist() == [0.6, 0.9]
    with pytest.raises(ValueError, match=r"in data row 1 .*campaign create --unmeasured"):
        load_csv(path, goals)  # measured: every row


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("20,0.5,\n", r"data row 1 holds \['yield'\] but not \['purity'\]"),
        ("20,0.5,0.9\n40,,0.8\n", r"data row 2 holds \['purity'\] but not \['yield'\]"),
        ("20,pending,\n", r"objective 'yield' is not a finite number in data row 1 \('pending'\)"),
    ],
)
def test_a_table_of_candidates_refuses_a_row_half_measured_or_a_text_value(
    tmp_path: Path, rows: str, message: str
) -> None:
    path = write_csv(tmp_path, "temp,yield,purity\n" + rows)
    goals = [("yield", Direction.MAXIMIZE), ("purity", Direction.MAXIMIZE)]
    with pytest.raises(ValueError, match=message):
        load_csv(path, goals, measured=False)


def test_a_composition_table_of_candidates_reads_its_formulas(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "formula,k\nFe2O3,\nFeO,\n")
    data = load_csv(path, [("k", Direction.MAXIMIZE)], composition="formula", measured=False)
    assert sorted(data.space.names) == ["Fe", "O"] and np.isnan(data.values).all()
    assert data.labels == ("Fe2O3", "FeO")


@pytest.mark.parametrize("bad", ["NaN", "inf", "n/a", "high"])
def test_csv_rejects_non_finite_or_text_objective_values(tmp_path: Path, bad: str) -> None:
    path = write_csv(tmp_path, f"temp,yield\n20,0.5\n40,0.6\n60,{bad}\n")
    with pytest.raises(ValueError, match=r"objective 'yield' .* in data row 3"):
        load_csv(path, [("yield", Direction.MAXIMIZE)])


def test_csv_names_the_column_and_row_of_an_empty_parameter(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "solvent,temp,yield\nwater,20,0.5\n,40,0.9\n")
    with pytest.raises(ValueError, match=r"column 'solvent' is empty in data row 2"):
        load_csv(path, [("yield", Direction.MAXIMIZE)])


def test_csv_text_like_none_or_na_is_a_category_not_a_missing_cell(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "dopant,temp,yield\nNone,20,0.5\nMg,40,0.9\nNA,60,0.7\n")
    data = load_csv(path, [("yield", Direction.MAXIMIZE)])
    assert data.space.parameters[0] == CategoricalParameter("dopant", ("Mg", "NA", "None"))
    assert data.points[0] == {"dopant": "None", "temp": 20.0}


def test_csv_names_a_column_that_appears_twice(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "temp,temp,yield\n20,25,0.5\n40,45,0.9\n")
    with pytest.raises(ValueError, match=r"column\(s\) \['temp'\] appear more than once"):
        load_csv(path, [("yield", Direction.MAXIMIZE)])


def test_csv_with_unnamed_trailing_columns_still_loads(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "temp,yield,,\n20,0.5,,\n40,0.9,,\n")  # a spreadsheet's
    assert load_csv(path, [("yield", Direction.MAXIMIZE)], params=["temp"]).space.names == ["temp"]


def test_csv_needs_an_objective(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one objective column"):
        load_csv(write_csv(tmp_path, MIXED), [])


def test_csv_rejects_a_column_that_is_both_parameter_and_objective(tmp_path: Path) -> None:
    path = write_csv(tmp_path, MIXED)
    with pytest.raises(ValueError, match=r"\['yield'\] are both parameter and measured outcome"):
        load_csv(path, [("yield", Direction.MAXIMIZE)], params=["temp", "yield"])


def test_csv_with_a_header_only_has_no_rows(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no rows"):
        load_csv(write_csv(tmp_path, "temp,yield\n"), [("yield", Direction.MAXIMIZE)])


def test_csv_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        load_csv(tmp_path / "nope.csv", [("yield", Direction.MAXIMIZE)])


def test_csv_boolean_column_gives_points_that_validate(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "stirred,temp,yield\nTrue,20,0.5\nFalse,40,0.9\n")
    data = load_csv(path, [("yield", Direction.MAXIMIZE)])
    for point in data.points:
        data.space.validate(point)


# -- CSV composition pools: formulas read as their writers meant them ------------------------

GAP = [("gap", Direction.MAXIMIZE)]


def test_csv_composition_misread_capitals_are_refused_naming_the_row(tmp_path: Path) -> None:
    # pymatgen reads STO as S, tritium and O: no pool of hydrogen sulfate
    path = write_csv(tmp_path, "f,gap\nBaTiO3,3.2\nSTO,3.3\n")
    with pytest.raises(ValueError) as refused:
        load_csv(path, GAP, composition="f")
    assert str(refused.value).startswith(
        f"{path}: 'f' in data row 2: cannot read formula 'STO': 'STO' reads as one atom per"
        " capital, T as hydrogen"
    )


def test_csv_composition_abbreviations_resolve_through_the_reader_given(tmp_path: Path) -> None:
    from literature.formulas import read_formula  # what the CLI passes

    path = write_csv(tmp_path, "f,gap\nBaTiO3,3.2\nSTO,3.3\n")
    data = load_csv(path, GAP, composition="f", read_formula=read_formula)
    assert set(data.space.names) == {"Ba", "Sr", "Ti", "O"}  # no H, no S
    assert data.points[1] == pytest.approx({"Ba": 0.0, "Sr": 0.2, "Ti": 0.2, "O": 0.6})


def test_csv_composition_reader_errors_name_the_file_column_and_row(tmp_path: Path) -> None:
    from literature.formulas import read_formula

    path = write_csv(tmp_path, "f,gap\nSrTiO3,3.2\nYBCO,0.1\n")
    with pytest.raises(ValueError) as refused:
        load_csv(path, GAP, composition="f", read_formula=read_formula)
    assert str(refused.value).startswith(
        f"{path}: 'f' in data row 2: 'YBCO' is the abbreviation of YBa2Cu3O7"
    )
    assert "not fixed" in str(refused.value)


def test_csv_composition_repeats_are_found_among_the_formulas_meant(tmp_path: Path) -> None:
    from literature.formulas import read_formula

    path = write_csv(tmp_path, "f,gap\nSrTiO3,3.2\nBaTiO3,3.1\nSTO,3.3\n")
    with pytest.raises(ValueError, match=r"data rows 1 and 3 \('SrTiO3', 'STO'\) is one"):
        load_csv(path, GAP, composition="f", read_formula=read_formula)


# -- sources: where the data came from ------------------------------------------------------


def test_sources_are_absolute_wherever_the_files_were_read_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_olympus(tmp_path / "data" / "tiny", TWO_PARAMS, "0.25,0.75,1.5\n1.0,0.0,2.5\n")
    table = write_csv(tmp_path / "data", "f,gap\nBaTiO3,3.2\nSrTiO3,3.3\n")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    relative = Path("..") / "data"
    assert load_olympus(relative / "tiny").source == str(folder.resolve())
    assert load_csv(relative / table.name, GAP).source == str(table.resolve())
    assert load_csv(relative / table.name, GAP, composition="f").source == str(table.resolve())


def test_errors_name_the_path_as_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_csv(tmp_path, "temp,yield\n20,0.5\n40,\n", name="data.csv")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"^data\.csv: objective 'yield' is missing"):
        load_csv("data.csv", [("yield", Direction.MAXIMIZE)])


def test_an_objective_named_as_an_element_of_the_pool_is_refused_saying_what_to_do(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path, "f,Tc\nTcO2,1.0\nMgB2,39\n")  # technetium, and its Tc
    with pytest.raises(ValueError, match=r"\['Tc'\] clash with element names: .* rename the"):
        load_csv(path, [("Tc", Direction.MAXIMIZE)], composition="f")
    other = write_csv(tmp_path, "f,Tc\nNbN,16\nMgB2,39\n")  # no technetium: the name is free
    pool = load_csv(other, [("Tc", Direction.MAXIMIZE)], composition="f")
    assert [o.name for o in pool.objectives] == ["Tc"]


def test_a_label_column_names_each_candidate_as_written(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "sample,x,gap\n007,0.1,1.2\n,0.2,1.3\nP 3,0.3,1.4\n")
    pool = load_csv(path, GAP, params=["x"], label="sample")
    assert pool.labels == ("007", None, "P 3")  # text: its zeros kept; an empty cell: none
    assert not any("not read" in note for note in pool.notes)
    assert load_csv(path, GAP, label="sample").space.names == ["x"]  # not a parameter
    with pytest.raises(ValueError, match=r"label column 'name' not found; columns are"):
        load_csv(path, GAP, params=["x"], label="name")
    formulas = write_csv(tmp_path, "f,gap\nK3C60,1.0\nMgB2,2.0\n")
    assert load_csv(formulas, GAP, composition="f").labels == ("K3C60", "MgB2")


def test_a_table_notes_a_sample_id_read_as_a_parameter_and_repeated_points(
    tmp_path: Path,
) -> None:
    rows = [f"s{i},{i / 10},{i}" for i in range(12)] + ["s12,0.1,99"]  # 0.1 measured twice
    table = tmp_path / "lab.csv"
    table.write_text("id,x,y\n" + "\n".join(rows) + "\n")
    notes = load_csv(table, [("y", Direction.MAXIMIZE)]).notes
    assert any("column 'id' has a different value in every row" in n for n in notes), notes
    assert not any("repeat a point" in n for n in notes)  # the ids tell the rows apart
    by_x = load_csv(table, [("y", Direction.MAXIMIZE)], params=["x"]).notes
    assert by_x == (
        "data rows [2, 13] repeat a point of another row: each is a candidate with its "
        "own measured value (average replicates into one row for one candidate)",
        "column(s) ['id'] not read (a measured one: --objective or --constraint; one naming "
        "each row, a sample id: --label)",
    )
    labelled = load_csv(table, [("y", Direction.MAXIMIZE)], label="id").notes
    assert not any("different value in every row" in n for n in labelled)
