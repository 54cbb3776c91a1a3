"""Property models from tables, campaigns and literature records: train, register, reload."""

from __future__ import annotations

import csv
import hashlib
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymatgen.core import Composition, Lattice, Structure

from agents import CampaignAgent, LookupOracle
from agents.campaign import trial_lineage, with_prior
from agents.models import (
    MIN_SAMPLES,
    LabelledData,
    TrainedModel,
    campaign_data,
    data_hash,
    lineage_changes,
    load_property_model,
    prepare_campaign,
    prepare_records,
    prepare_table,
    read_materials,
    read_table,
    records_data,
    register,
    register_trained,
    registered,
    split,
    train,
    train_from_campaign,
    train_from_records,
    train_from_table,
    write_plots,
)
from db import CampaignStore, save_model_record
from db.documents import ModelRecord
from db.literature import (
    LiteratureStore,
    PaperDocument,
    PassageDocument,
    PropertyRecordDocument,
    RecordSource,
)
from db.models import describe_model_record, list_model_records, model_version
from discovery.campaign_models import fitting_code
from discovery.datasets import load_csv
from discovery.diagnostics import calibration
from discovery.domain import CampaignSettings, Direction, ModelArtifact
from discovery.ensembles import TrainingConfig
from discovery.planners import GPPlanner
from discovery.property_models import PropertyModel, PropertyModelConfig, fit_property_model

# tiny models: on a busy machine, intra-op threads only wait on each other
pytestmark = pytest.mark.usefixtures("single_torch_thread")

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "property" / "aflow__ael_bulk_modulus_vrh" / "train.csv"

#: One member, three epochs, on the CPU: seconds, not minutes.
TINY = TrainingConfig(n_members=1, epochs=3, patience=3, batch_size=16, lr=3e-3, device="cpu")


@pytest.fixture(scope="module")
def bulk_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 40 rows (formula, bulk modulus in GPa) of the AFLOW training split."""
    if not DATA.is_file():
        pytest.skip(f"property data not on this machine: {DATA}")
    lines = DATA.read_text().splitlines()[:41]
    path = tmp_path_factory.mktemp("bulk") / "bulk.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def bulk_ensemble(bulk_csv: Path) -> TrainedModel:
    return train_from_table(bulk_csv, "target", "ensemble", config=TINY)


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


# -- tables ------------------------------------------------------------------------------


def test_table_model_registers_once_and_reloads_with_identical_predictions(
    mongodb_uri: str, bulk_ensemble: TrainedModel, tmp_path: Path
) -> None:
    trained = bulk_ensemble
    assert set(trained.diagnostics) == {
        "mae", "rmse", "nll", "coverage_95", "miscalibration_area", "spearman",
    }  # fmt: skip
    assert trained.model.metrics["n_train"] == 36 and trained.model.metrics["n_val"] == 4
    version = register(trained.model, trained.diagnostics, trained.data_hash, trained.info)
    assert version == model_version(  # its data and how it was fitted: by which code
        ModelArtifact("ensemble", trained.data_hash, {"fit": {"code": fitting_code()}}, b"")
    )
    assert register_trained(trained) == version and ModelRecord.objects.count() == 1
    record = ModelRecord.objects.get(version=version)
    assert record.metrics["val_mae"] == pytest.approx(trained.diagnostics["mae"])
    assert record.metrics["target"] == "target" and record.metrics["source"].startswith("table:")
    assert record.featurizer_version == trained.model.featurizer_version
    formulas = ["NaCl", "Fe2O3", "NaN", "Al3B2Ru4"]  # NaN: sodium nitride
    reloaded = load_property_model(version, device="cpu")
    want, got = trained.model.predict(formulas), reloaded.predict(formulas)
    for name in ("mean", "std", "epistemic_std"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    paths = write_plots(trained, tmp_path / "plots")
    assert [p.name for p in paths] == ["parity.png", "calibration.png"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_gp_is_scored_out_of_sample_and_same_data_gives_same_version(
    mongodb_uri: str, bulk_csv: Path
) -> None:
    first = train_from_table(bulk_csv, "target", "gp", val_fraction=0.25, seed=1)
    assert first.model.metrics["n_train"] == 30 and first.model.metrics["n_val"] == 10
    assert first.diagnostics["mae"] > 1.0  # not in-sample (the GP interpolates its data)
    again = train_from_table(bulk_csv, "target", "gp", val_fraction=0.25, seed=1)
    assert again.data_hash == first.data_hash
    assert register_trained(again) == register_trained(first)
    other = train_from_table(bulk_csv, "target", "gp", val_fraction=0.25, seed=2)
    assert other.data_hash != first.data_hash


def test_hash_covers_data_and_settings_but_not_the_device() -> None:
    data = LabelledData(["NaCl", "KCl"], np.array([1.0, 2.0]), ["NaCl", "KCl"])
    val = LabelledData(["LiF"], np.array([3.0]), ["LiF"])
    config = PropertyModelConfig("ensemble", TINY)
    base = data_hash(data, val, config)
    assert len(base) == 64
    moved = PropertyModelConfig("ensemble", replace(TINY, device="cuda", progress=True))
    assert data_hash(data, val, moved) == base
    longer = PropertyModelConfig("ensemble", replace(TINY, epochs=4))
    assert data_hash(data, val, longer) != base
    changed = LabelledData(["NaCl", "KCl"], np.array([1.0, 2.5]), ["NaCl", "KCl"])
    assert data_hash(changed, val, config) != base


def test_a_gp_hash_ignores_ensemble_settings_and_is_pinned() -> None:
    data = LabelledData(["NaCl", "KCl"], np.array([1.0, 2.0]), ["NaCl", "KCl"])
    val = LabelledData(["LiF"], np.array([3.0]), ["LiF"])
    default = data_hash(data, val, PropertyModelConfig("gp", TrainingConfig(seed=0)))
    # pinned: a registered default GP keeps its version. It changed once, on purpose, when
    # the kernel came to be fitted on a subset (was 397a06a9...: another fit, another model)
    assert default == "db55cfb4350dcd0aef8eee8747f225b26c2f7d98784f1db290885078015953d1"
    assert data_hash(data, val, PropertyModelConfig("gp", TINY)) == default  # a GP has no members
    reseeded = PropertyModelConfig("gp", replace(TINY, seed=1))
    assert data_hash(data, val, reseeded) != default  # the seed starts its optimiser


#: Hashes of models of the other kinds registered with default settings (seed 0), as
#: first registered: the GP's settings changing must leave them be.
PINNED = {
    "ensemble": "80e551845f8936f6570923acd88f8989fdbc9c66f512c6688fefc4fcb86eac70",
    "gnn": "c8bca9d832aa35dd194bfcba0dcf8b72233b2b2a6a6a5969bed9bf2078fb2bd3",
    "transformer": "f015c1bb1e1c85890315aa58c37d3735865062dd6849c926f26c5b552e6ee594",
    "hybrid": "b7e06f86bf610d38b195ea7fb1054f4555a7a442b4ff243aebdf9a306180a0b2",
    "crystal-gnn": "47ac352850719a9fd2dbce5c0ae4546d9e00743a455b2d9e0895ae0b4427d293",
}


@pytest.mark.parametrize("kind", sorted(PINNED))
def test_models_of_other_kinds_keep_their_registered_versions(kind: str) -> None:
    data = LabelledData(["NaCl", "KCl"], np.array([1.0, 2.0]), ["NaCl", "KCl"])
    val = LabelledData(["LiF"], np.array([3.0]), ["LiF"])
    config = PropertyModelConfig(kind, TrainingConfig(seed=0))
    assert data_hash(data, val, config) == PINNED[kind]
    wider = PropertyModelConfig("ensemble", TrainingConfig(seed=3, epochs=7), hidden=32)
    assert data_hash(data, val, wider) == (
        "68fa102ba25996fe0f56ebca113a88de268866da404c4dc55df2eb6826dd5c05"
    )


#: Seven compositions: a split of 0.9 of them leaves one to train on.
SEVEN_SALTS = ("NaCl", "KCl", "LiF", "MgO", "CaO", "NaF", "KBr")


@pytest.mark.parametrize(
    ("rows", "kwargs", "message"),
    [
        ([["formula", "y"], ["NaCl", "1"]], {"target": "k"}, r"target column 'k' not found"),
        ([["name", "k"], ["NaCl", "1"]], {}, r"formula column 'formula' not found"),
        (
            [["formula", "k"], ["NaCl", "1"], ["KCl", "soft"]],
            {},
            r"'k' in data row 2: 'soft' is not a number",
        ),
        ([["formula", "k"], ["NaCl", "NaN"]], {}, r"'k' in data row 1: 'NaN' is not finite"),
        ([["formula", "k"], ["NaCl", "inf"]], {}, r"'k' in data row 1: 'inf' is not finite"),
        (
            [["formula", "k"], ["NaCl", "1"], ["Fe2O3", "1e300"]],
            {},
            r"'k' in data row 2: '1e300' is beyond \+-1e\+100",
        ),
        ([["formula", "k"], ["Fe2O3", "-1e160"]], {}, r"'k' in data row 1: '-1e160' is beyond"),
        ([["formula", "k"], ["NaCl", ""]], {}, r"'k' in data row 1: empty"),
        ([["formula", "k"], ["Xx2O", "1"]], {}, r"'formula' in data row 1: cannot read formula"),
        ([["formula", "k"], ["", "1"]], {}, r"'formula' in data row 1: empty"),
        ([["formula", "k"]], {}, r"no data rows"),
        ([["formula", "k"], ["NaCl", "1", "2"]], {}, r"data row 1 has 3 cells, the header has 2"),
        (
            [["formula", "k"], ["NaCl", "1"]],
            {"kind": "crystal-gnn"},
            r"structure_column: crystal-gnn reads crystal structures",
        ),
        ([["formula", "k"], ["NaCl", "1"]], {"kind": "mlp"}, r"kind: unknown surrogate 'mlp'"),
        (
            [["formula", "k"], ["NaCl", "1"], ["KCl", "2"], ["LiF", "3"]],
            {},
            r"3 labelled material\(s\); training a model needs at least 5, and a validation "
            "split holds one out: give at least 6",
        ),
        (
            [["formula", "k"], *[[f, "1"] for f in ("NaCl", "KCl", "LiF", "MgO", "CaO")]],
            {"val_fraction": 1.0},
            r"val_fraction: must lie in \(0, 1\)",
        ),
        (
            [["formula", "k", "k"], ["NaCl", "1", "2"]],
            {},
            r"bad\.csv: column\(s\) \['k'\] appear more than once in the header",
        ),
        (
            [["formula", "k"], ["H3S", "1"], ["D3S", "2"]],
            {},
            r"'formula' in data row 2: 'D3S': holds D \(deuterium\), which pymatgen reads as "
            "hydrogen",
        ),
        (
            [["formula", "k"], *[[f, "1"] for f in SEVEN_SALTS]],
            {"val_fraction": 0.9},
            r"^val_fraction: 0.9 of the 7 labelled materials of .*bad\.csv holds 6 out for "
            r"validation and leaves 1 to train on; training a model needs at least 5: give a "
            "smaller val_fraction$",
        ),
        (
            [["formula", "k"], *[[f, "1"] for f in ("NaCl", "KCl", "LiF", "MgO", "CaO")]],
            {"val_fraction": 0.1},
            r"bad\.csv: 5 labelled material\(s\); training a model needs at least 5, and a "
            "validation split holds one out: give at least 6$",
        ),
    ],
)
def test_bad_tables_are_refused_naming_file_column_and_row(
    tmp_path: Path, rows: list[list[str]], kwargs: dict, message: str
) -> None:
    path = write_csv(tmp_path / "bad.csv", rows)
    arguments = {"target": "k", "kind": "gp", **kwargs}
    with pytest.raises(ValueError, match=message) as error:
        train_from_table(path, arguments.pop("target"), **arguments)
    if "kind" not in kwargs and "val_fraction" not in kwargs:
        assert str(path) in str(error.value)


def test_every_bad_cell_of_a_table_is_named_at_once(tmp_path: Path) -> None:
    rows = [["formula", "k"], ["NaCl", "1"], ["KCl", "abc"], ["Xx2O", "x"], ["LiF", "2"]]
    rows += [["MgO", "inf"]] + [["CaO", ""]] * 10
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(ValueError) as error:
        read_table(path, "k")
    lines = str(error.value).splitlines()
    assert lines[0] == f"{path}: 14 cells cannot be read:"
    assert lines[1:4] == [
        "  'k' in data row 2: 'abc' is not a number",
        "  'k' in data row 3: 'x' is not a number",
        "  'formula' in data row 3: cannot read formula 'Xx2O': 'Xx' is not an element",
    ]
    assert lines[-1] == "  and 4 more" and len(lines) == 12


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"formula,k\nNaCl,1\nNb\xe9Ti,2\n", r"line 3 is not UTF-8 \(byte 0xe9, a Latin-1"),
        (b"", r"the file is empty"),
        (b"\n \n", r"the file is empty"),
    ],
    ids=["latin-1", "empty", "blank"],
)
def test_a_table_not_utf8_or_empty_is_refused_naming_its_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: {message}"):
        read_table(path, "k")


def test_rows_of_one_composition_become_one_row_with_their_mean_target(tmp_path: Path) -> None:
    rows = [["formula", "k"], ["TlY", "1"], ["NaCl", "2"], ["Y2Tl2", "3"], ["YTl", "5"],
            ["KCl", "4"]]  # fmt: skip
    data = read_table(write_csv(tmp_path / "t.csv", rows), "k")
    assert data.labels == ["TlY", "NaCl", "KCl"] and data.rows == [1, 2, 5]
    np.testing.assert_allclose(data.y, [3.0, 2.0, 4.0])


def test_a_composition_in_another_notation_is_one_composition(tmp_path: Path) -> None:
    rows = [["formula", "k"], ["Li0.5CoO2", "1"], ["HfBe5", "2"], ["La1.85Sr0.15CuO4", "3"],
            ["LiCo2O4", "5"], ["Hf0.16666667Be0.83333333", "4"], ["La37Sr3Cu20O80", "7"],
            ["HfBe4", "9"]]  # fmt: skip
    data = read_table(write_csv(tmp_path / "t.csv", rows), "k")
    assert data.labels == ["Li0.5CoO2", "HfBe5", "La1.85Sr0.15CuO4", "HfBe4"]
    assert data.rows == [1, 2, 3, 7]
    np.testing.assert_allclose(data.y, [3.0, 3.0, 5.0, 9.0])


def test_structures_of_one_composition_merge_for_composition_models_only(
    tmp_path: Path,
) -> None:
    # rock-salt NaCl, KCl and CsCl-type NaCl: two polymorphs of NaCl, to a crystal model
    cells = [rock_salt("Na", "Cl", 5.6), rock_salt("K", "Cl", 6.3), caesium_chloride("Na", "Cl")]
    targets = ("5.6", "6.3", "5.8")
    rows = [["cif", "a"], *[[c.to(fmt="cif"), a] for c, a in zip(cells, targets, strict=True)]]
    path = write_csv(tmp_path / "s.csv", rows)
    crystals = read_table(path, "a", structure_column="cif", kind="crystal-gnn")
    assert crystals.labels == ["NaCl", "KCl", "NaCl"]
    compositions = read_table(path, "a", structure_column="cif", kind="gp")
    assert compositions.labels == ["NaCl", "KCl"] and compositions.rows == [1, 2]
    np.testing.assert_allclose(compositions.y, [5.7, 6.3])


def shifted(structure: Structure, angstrom: float = 0.1) -> Structure:
    """``structure`` with every site moved by ``angstrom`` along x: the same crystal."""
    moved = structure.copy()
    moved.translate_sites(list(range(len(moved))), [angstrom, 0, 0], frac_coords=False)
    return moved


def test_one_crystal_written_twice_is_one_row_for_a_crystal_model(tmp_path: Path) -> None:
    nacl = rock_salt(*SALT_CELLS[0])
    cells = [*(rock_salt(*cell) for cell in SALT_CELLS), shifted(nacl),
             nacl.copy().make_supercell(2), caesium_chloride("Na", "Cl")]  # fmt: skip
    rows = [["cif", "a"], *[[c.to(fmt="cif"), str(i + 1)] for i, c in enumerate(cells)]]
    path = write_csv(tmp_path / "s.csv", rows)
    prepared = prepare_table(path, "a", "crystal-gnn", structure_column="cif")
    values = {
        row: value for part in (prepared.train, prepared.val)
        for row, value in zip(part.rows, part.y, strict=True)
    }  # fmt: skip
    # rows 8 (shifted) and 9 (a supercell) are row 1's rock-salt NaCl; CsCl-type row 10 is not
    assert sorted(values) == [1, 2, 3, 4, 5, 6, 7, 10]
    assert values[1] == pytest.approx((1 + 8 + 9) / 3) and values[10] == 10
    assert prepared.notes == (
        f"{path}: 2 row(s) repeat an earlier structure (matched by pymatgen's "
        "StructureMatcher: shifts and supercells, not strain); each structure's targets "
        "were averaged into one row; the widest spread: 'NaCl' (data rows 1, 8, 9) from 1 to 9",
    )


def test_a_validation_file_holding_a_training_crystal_moved_a_little_is_refused(
    tmp_path: Path,
) -> None:
    salts = [rock_salt(c, x, a) for c, x, a in SALT_CELLS[:5]]
    rows = [["cif", "a"], *[[c.to(fmt="cif"), str(c.lattice.a)] for c in salts]]
    training = write_csv(tmp_path / "train.csv", rows)
    nacl = shifted(salts[0]).to(fmt="cif")  # the first training crystal, moved by 0.1 A
    moved = write_csv(tmp_path / "moved.csv", [["cif", "a"], [nacl, "5"]])
    with pytest.raises(ValueError, match=r"^val_path: 1 structure\(s\) of .*moved\.csv are also "
                       r"in the training file .*train\.csv \(data row 1 \('NaCl'\)\)"):  # fmt: skip
        prepare_table(training, "a", "crystal-gnn", structure_column="cif", val_path=moved)
    polymorph = caesium_chloride("Na", "Cl").to(fmt="cif")
    other = write_csv(tmp_path / "polymorph.csv", [["cif", "a"], [polymorph, "4"]])
    prepared = prepare_table(training, "a", "crystal-gnn", structure_column="cif", val_path=other)
    assert len(prepared.train) == 5 and prepared.val.labels == ["NaCl"]


def test_copies_of_compositions_cannot_leak_into_the_validation_split(
    bulk_csv: Path, tmp_path: Path
) -> None:
    lines = bulk_csv.read_text().splitlines()
    doubled = [
        f"{(Composition(f) * 2).formula.replace(' ', '')},{v}"
        for f, v in (line.split(",") for line in lines[1:])
    ]  # Zr1 -> Zr2, K2Mg5Sn3 -> K4Mg10Sn6: the same compositions again
    copies = tmp_path / "copies.csv"
    copies.write_text("\n".join([*lines, *doubled]) + "\n")
    original = train_from_table(bulk_csv, "target", "gp", val_fraction=0.25, seed=1)
    merged = train_from_table(copies, "target", "gp", val_fraction=0.25, seed=1)
    assert merged.data_hash == original.data_hash  # the same 40 compositions, split alike
    assert merged.diagnostics == original.diagnostics
    assert original.notes == ()
    assert merged.notes == (
        f"{copies}: 40 row(s) repeat an earlier composition; each composition's targets "
        "were averaged into one row (each one's rows agree)",
    )


@pytest.fixture
def nan_gp() -> PropertyModel:
    """A GP fitted (past the table reader) on a target of 1e300: it predicts NaN."""
    formulas = ["NaCl", "KCl", "LiF", "MgO", "CaO", "NaF"]
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 1e300])
    return fit_property_model(formulas, y, [], np.zeros(0), PropertyModelConfig("gp", TINY))


def test_a_model_with_non_finite_validation_metrics_is_not_registered(
    mongodb_uri: str, nan_gp: PropertyModel
) -> None:
    prediction = nan_gp.predict(["KBr", "SrO"])
    quality = calibration(np.array([3.0, 4.0]), prediction.mean, prediction.std)
    diagnostics = {"mae": quality.mae, "rmse": quality.rmse, "nll": quality.nll,
                   "coverage_95": quality.coverage_95, "spearman": None}  # fmt: skip
    with pytest.raises(ValueError, match=r"validation mae = nan, rmse = nan, nll = nan: .*not "):
        register(nan_gp, diagnostics, "cd" * 32)
    with pytest.raises(ValueError, match=r"validation nll = inf"):
        register(nan_gp, {"mae": 1.0, "nll": math.inf, "spearman": None}, "cd" * 32)
    assert ModelRecord.objects.count() == 0


SALTS = ["NaCl", "KCl", "LiF", "MgO", "CaO", "NaF", "KBr", "SrO"]


def test_a_validation_file_sharing_compositions_with_training_is_refused(
    tmp_path: Path,
) -> None:
    training = write_csv(tmp_path / "train.csv", [["formula", "k"], *[[f, "1"] for f in SALTS]])
    rows = [["formula", "k"], ["BaO", "2"], ["Na2Cl2", "3"], ["K0.5Br0.5", "4"]]
    overlapping = write_csv(tmp_path / "val.csv", rows)
    with pytest.raises(ValueError, match=r"val_path: 2 composition\(s\) of .*val\.csv are also "
                       r"in the training file .*train\.csv \(data row 2 \('Na2Cl2'\), data "
                       r"row 3 \('K0.5Br0.5'\)\)"):  # fmt: skip
        train_from_table(training, "k", "gp", val_path=overlapping)
    held_out = write_csv(tmp_path / "held_out.csv", [["formula", "k"], ["BaO", "2"]])
    trained = train_from_table(training, "k", "gp", val_path=held_out)
    assert trained.model.metrics["n_train"] == 8 and trained.validation.labels == ["BaO"]


def test_a_validation_file_does_not_count_towards_the_training_minimum(tmp_path: Path) -> None:
    one = write_csv(tmp_path / "one.csv", [["formula", "k"], ["NaCl", "1"], ["Na2Cl2", "1"]])
    val = write_csv(tmp_path / "val.csv", [["formula", "k"], *[[f, "1"] for f in SALTS[1:]]])
    with pytest.raises(ValueError, match=r"one\.csv: 1 labelled material\(s\); training a model "):
        train_from_table(one, "k", "gp", val_path=val)


@pytest.mark.parametrize("kind", ["gp", "ensemble", "transformer"])
def test_a_formula_wider_than_the_model_reads_is_refused_naming_its_data_row(
    tmp_path: Path, kind: str
) -> None:
    wide = "LiBeBNaMgAlSiKCaScTiVCr"  # 13 elements
    rows = [["formula", "k"], *[[f, "1"] for f in SALTS[:3]], [wide, "2"], ["SrO", "3"]]
    path = write_csv(tmp_path / "wide.csv", rows)
    message = rf"wide\.csv: 'formula' in data row 4: '{wide}' has 13 elements; a {kind} model "
    with pytest.raises(ValueError, match=message + "reads at most 12"):
        train_from_table(path, "k", kind, config=TINY)
    with pytest.raises(ValueError, match=rf"^material 2: '{wide}' has 13 elements"):
        read_materials(kind, ["NaCl", wide])
    assert len(read_table(path, "k")) == 5  # no model named: no limit


def test_deuterium_and_tritium_are_refused_not_read_as_hydrogen() -> None:
    for formula, isotope in (("D3S", "D (deuterium)"), ("T2O", "T (tritium)"),
                             ("LiD", "D (deuterium)")):  # fmt: skip
        message = rf"^material 2: '{formula}': holds {re.escape(isotope)}, which pymatgen reads "
        with pytest.raises(ValueError, match=message + "as hydrogen"):
            read_materials("gp", ["H3S", formula])
    # Dy, Te and Ta are elements; STO's T is titanium's (SrTiO3), not tritium
    assert read_materials("gp", ["DyTe", "TaS2", "STO"]) == ["DyTe", "TaS2", "SrTiO3"]


def test_a_validation_fraction_with_a_validation_file_is_refused_naming_both(
    tmp_path: Path,
) -> None:
    training = write_csv(tmp_path / "train.csv", [["formula", "k"], *[[f, "1"] for f in SALTS]])
    held_out = write_csv(tmp_path / "held_out.csv", [["formula", "k"], ["BaO", "2"]])
    message = r"^val_fraction: holds part of the training data out .*, and val_path gives a "
    with pytest.raises(ValueError, match=message):  # the fraction would be ignored
        prepare_table(training, "k", "gp", val_path=held_out, val_fraction=0.3)
    with pytest.raises(ValueError, match=message):  # the default, said out loud, too
        train_from_table(training, "k", "gp", val_path=held_out, val_fraction=0.1)
    assert prepare_table(training, "k", "gp", val_path=held_out).info["validation"] == (
        f"file {held_out}"
    )
    split_alone = prepare_table(training, "k", "gp")
    assert split_alone.info["validation"] == "random 0.1 (seed 0)"  # the default fraction
    assert len(split_alone.val) == 1


def test_a_table_model_names_its_file_absolutely_with_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = write_csv(tmp_path / "salts.csv", [["formula", "k"], *[[f, "1"] for f in SALTS]])
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    here = prepare_table("salts.csv", "k", "gp")
    monkeypatch.chdir(tmp_path / "elsewhere")
    there = prepare_table(Path("..") / "salts.csv", "k", "gp")
    for prepared in (here, there):
        assert prepared.info["source"] == f"table:{table.resolve()}"
        assert prepared.info["table_sha256"] == hashlib.sha256(table.read_bytes()).hexdigest()
    # where it was read from is lineage, not identity: one file, one version
    assert here.version() == there.version()
    # the same data in a changed file (a column added): the same model, another digest
    extra = [["formula", "k", "note"], *[[f, "1", "x"] for f in SALTS]]
    changed = prepare_table(write_csv(tmp_path / "salts.csv", extra), "k", "gp")
    assert changed.version() == here.version()
    assert lineage_changes(changed, here.info) == ["table_sha256"]
    held_out = write_csv(tmp_path / "val.csv", [["formula", "k"], ["BaO", "2"]])
    with_file = prepare_table(table, "k", "gp", val_path=Path("..") / "val.csv")
    assert with_file.info["validation"] == f"file {held_out.resolve()}"
    assert with_file.info["val_table_sha256"] == hashlib.sha256(held_out.read_bytes()).hexdigest()


def test_missing_files_are_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.csv: not found"):
        train_from_table(tmp_path / "nowhere.csv", "k", "gp")
    good = write_csv(tmp_path / "ok.csv", [["formula", "k"], ["NaCl", "1"]])
    with pytest.raises(FileNotFoundError, match=r"val\.csv: not found"):
        train_from_table(good, "k", "gp", val_path=tmp_path / "val.csv")


def rock_salt(cation: str, anion: str, a: float) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def caesium_chloride(cation: str, anion: str, a: float = 3.4) -> Structure:
    """The CsCl-type cell of ``cation`` and ``anion``: another polymorph than rock salt."""
    return Structure(Lattice.cubic(a), [cation, anion], [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])


#: Rock-salt cells: cation, anion, lattice constant (A).
SALT_CELLS = [("Na", "Cl", 5.64), ("K", "Cl", 6.29), ("Mg", "O", 4.21), ("Li", "F", 4.03),
              ("Ca", "O", 4.81), ("Na", "F", 4.63), ("Sr", "O", 5.16)]  # fmt: skip


def test_structures_are_read_from_cif_text_or_cif_files_beside_the_csv(tmp_path: Path) -> None:
    (tmp_path / "cifs").mkdir()
    (tmp_path / "cifs" / "kcl.cif").write_text(rock_salt("K", "Cl", 6.29).to(fmt="cif"))
    rows = [
        ["id", "cif", "a"],
        ["1", rock_salt("Na", "Cl", 5.64).to(fmt="cif"), "5.64"],
        ["2", "cifs/kcl.cif", "6.29"],
    ]
    data = read_table(write_csv(tmp_path / "s.csv", rows), "a", structure_column="cif")
    assert data.labels == ["NaCl", "KCl"] and list(data.y) == [5.64, 6.29]
    assert all(isinstance(m, Structure) for m in data.materials)
    assert data.materials[1].lattice.a == pytest.approx(6.29)
    missing = write_csv(tmp_path / "m.csv", [["cif", "a"], ["cifs/none.cif", "1"]])
    with pytest.raises(ValueError, match=r"'cif' in data row 1: CIF file .*none.cif' not found"):
        read_table(missing, "a", structure_column="cif")
    junk = write_csv(tmp_path / "j.csv", [["cif", "a"], ["data_x\n_cell_length_a oops", "1"]])
    with pytest.raises(ValueError, match=r"'cif' in data row 1: cannot read the structure"):
        read_table(junk, "a", structure_column="cif")
    assert isinstance(read_materials("crystal-gnn", ["kcl.cif"], tmp_path / "cifs")[0], Structure)
    with pytest.raises(ValueError, match="material 2: cannot read formula 'Qq'"):
        read_materials("gnn", ["NaCl", "Qq"])


def test_crystal_gnn_trains_on_cif_structures_and_reloads(mongodb_uri: str, tmp_path: Path) -> None:
    rows = [["cif", "a"], *[[rock_salt(c, x, a).to(fmt="cif"), str(a)] for c, x, a in SALT_CELLS]]
    path = write_csv(tmp_path / "salts.csv", rows)
    tiny = replace(TINY, epochs=2, patience=2, batch_size=2)
    trained = train_from_table(
        path, "a", "crystal-gnn", structure_column="cif", val_fraction=0.34, config=tiny
    )
    assert trained.model.metrics["n_train"] == 5 and len(trained.validation.labels) == 2
    version = register_trained(trained)
    assert version.startswith("model:crystal-gnn:")
    (tmp_path / "nacl.cif").write_text(rock_salt("Na", "Cl", 5.64).to(fmt="cif"))
    structures = read_materials("crystal-gnn", ["nacl.cif"], tmp_path)
    want = trained.model.predict(structures)
    got = load_property_model(version, device="cpu").predict(structures)
    np.testing.assert_array_equal(got.mean, want.mean)
    np.testing.assert_array_equal(got.std, want.std)


def test_loading_something_that_is_not_a_property_model_is_refused(mongodb_uri: str) -> None:
    with pytest.raises(LookupError, match="no model version 'model:gp:123'"):
        load_property_model("model:gp:123")
    tagger = save_model_record(ModelArtifact("tagger-supermat", "e" * 64, {}, b"x"), "t")
    with pytest.raises(ValueError, match="not a property model"):
        load_property_model(tagger)


def test_a_campaign_ensemble_surrogate_is_named_not_read_as_a_property_model(
    store: CampaignStore, tmp_path: Path
) -> None:
    rows = [["formula", "a"], *[[f, str(i)] for i, f in enumerate(SALTS)]]
    pool = load_csv(write_csv(tmp_path / "salts.csv", rows), [("a", Direction.MAXIMIZE)],
                    composition="formula")  # fmt: skip
    CampaignAgent.from_dataset(store, "salts", pool, CampaignSettings("gp", initial=2))
    fitted = fit_property_model(SALTS[:6], np.arange(6.0), SALTS[6:], np.arange(2.0),
                                PropertyModelConfig("ensemble", TINY))  # fmt: skip
    assert fitted.ensemble is not None
    # as discovery.campaign_models stores one: the ensemble alone, with a featurizer version
    surrogate = ModelArtifact("ensemble", "ab" * 32, {"n_train": 6}, fitted.ensemble.to_bytes(),
                              featurizer_version=fitted.featurizer_version)  # fmt: skip
    version = store.save_model("salts", surrogate)
    message = rf"^model '{version}' is a campaign's surrogate \(campaign 'salts'\), not a property "
    with pytest.raises(ValueError, match=message):
        load_property_model(version)
    with pytest.raises(ValueError, match=message):  # `campaign create/run --prior VERSION`
        with_prior(GPPlanner(), version, pool.space)
    # the same weights filed under no campaign: malformed, named, never a bare KeyError
    orphan = save_model_record(replace(surrogate, data_hash="cd" * 32))
    with pytest.raises(ValueError, match=rf"^model '{orphan}': weights: no 'featurizer_version', "
                       r"'metrics', 'body'; not a property model's"):  # fmt: skip
        load_property_model(orphan)


# -- literature records ------------------------------------------------------------------


def stored_record(
    material: str,
    value: float,
    unit: str = "K",
    formula: str | None = None,
    n_papers: int = 1,
    **reading: Any,
) -> None:
    """A stored tc record; ``reading``: ``qualifier``, ``low``, ``high``, ``conditions``."""
    PropertyRecordDocument(
        key=f"{material}|tc|{value}|{unit}|{sorted(reading.items())}",
        material=material,
        formula=formula,
        property="tc",
        value=value,
        unit=unit,
        confidence=0.9,
        n_papers=n_papers,
        n_sources=n_papers,
        **reading,
    ).save()


def test_records_train_one_value_per_readable_formula(mongodb_uri: str) -> None:
    for material, value in [
        ("MgB2", 39.0), ("B2Mg", 41.0), ("NbSe2", 7.2), ("Nb3Sn", 18.3),
        ("YBa2Cu3O7", 92.0), ("La1.85Sr0.15CuO4", 38.0), ("Nb", 9.2),
    ]:  # fmt: skip
        stored_record(material, value, formula=material)
    stored_record("LSCO", 38.0)  # a name, not a formula
    stored_record("Pb", 7200.0, unit="mK", formula="Pb")
    store = LiteratureStore()
    data, notes, unit, used, _ = records_data(store, "tc")
    assert unit == "K" and "MgB2" in data.labels and "LSCO" not in data.labels
    read = {str(r.id) for r in PropertyRecordDocument.objects(unit="K", material__ne="LSCO")}
    assert set(used) == read and len(used) == 7  # MgB2 and B2Mg: two records, one formula
    assert data.y[data.labels.index("MgB2")] == pytest.approx(40.0)
    assert len(data) == 6
    assert any("1 record(s) skipped: no formula" in n for n in notes)
    assert any("unit other than 'K'" in n for n in notes)
    trained = train_from_records(store, "tc", "gp")
    assert trained.info["target"] == "tc" and trained.info["unit"] == "K"
    assert trained.model.metrics["n_train"] + trained.model.metrics["n_val"] == 6
    version = register_trained(trained)
    metrics = ModelRecord.objects.get(version=version).metrics
    assert metrics["source"] == "records:tc" and sorted(metrics["record_ids"]) == sorted(used)
    assert metrics["records_used"] == 7 and len(metrics["records_hash"]) == 64
    with pytest.raises(ValueError, match=r"property: 'kappa' is not a record property; use tc"):
        train_from_records(store, "kappa", "gp")


def test_records_train_the_median_of_the_papers_readings(mongodb_uri: str) -> None:
    # 4.4 K: tantalum's Tc read as MgB2's once; a mean of the three records gives 27.8 K
    for value, papers in ((39.0, 20), (40.0, 3), (4.4, 1)):
        stored_record("MgB2", value, formula="MgB2", n_papers=papers)
    for value, papers in ((7.0, 1), (7.4, 1)):  # an even split: the middle of the two
        stored_record("NbSe2", value, formula="NbSe2", n_papers=papers)
    data, _, _, used, _ = records_data(LiteratureStore(), "tc")
    assert data.y[data.labels.index("MgB2")] == pytest.approx(39.0)
    assert data.y[data.labels.index("NbSe2")] == pytest.approx(7.2)
    assert len(used) == 5  # every record is in the lineage, the outvoted one too


def test_records_a_curator_rejected_are_not_trained_on(mongodb_uri: str) -> None:
    for value in (39.0, 41.0, 4.4):  # 4.4 K: tantalum's Tc, read as MgB2's
        stored_record("MgB2", value, formula="MgB2")
    stored_record("NbSe2", 7.2, formula="NbSe2")
    store = LiteratureStore()
    wrong = PropertyRecordDocument.objects.get(value=4.4)
    store.reject_record(str(wrong.id), "tantalum's Tc", "curator")
    data, notes, _, used, _ = records_data(store, "tc")
    assert data.y[data.labels.index("MgB2")] == pytest.approx(40.0)
    assert str(wrong.id) not in used and len(used) == 3
    assert "1 record(s) skipped: rejected by a curator (`literature reject`)" in notes


def read_in(*papers: str) -> list[RecordSource]:
    """A record's sources: one sentence of each paper (stored, as ingestion stores them)."""
    sources = []
    for key in papers:
        paper = PaperDocument.objects(key=key).first()
        if paper is None:
            paper = PaperDocument(key=key, model_version=TAGGER).save()
        sentence = PassageDocument.objects(paper=paper).count()  # the paper's next one
        passage = PassageDocument(paper=paper, section=0, sentence=sentence, text=key).save()
        sources.append(
            RecordSource(paper=paper, paper_key=key, passage=passage, section=0,
                         sentence=sentence, model_version=TAGGER)
        )  # fmt: skip
    return sources


TAGGER = "tagger-supermat:test"
TC_RECORDS = [("MgB2", 39.0), ("NbSe2", 7.2), ("Nb3Sn", 18.3), ("YBa2Cu3O7", 92.0),
              ("La2CuO4", 38.0), ("Nb", 9.2)]  # fmt: skip


def read_record(key: str, formula: str, value: float, *papers: str) -> PropertyRecordDocument:
    """A stored plain tc record of ``formula`` read in ``papers``."""
    return PropertyRecordDocument(
        key=key, material=formula, formula=formula, property="tc", value=value, unit="K",
        qualifier="=", papers=list(papers), n_papers=len(papers), sources=read_in(*papers),
    ).save()  # fmt: skip


def test_a_records_model_keeps_the_papers_its_records_were_read_in_when_it_trained(
    mongodb_uri: str,
) -> None:
    for i, (formula, value) in enumerate(TC_RECORDS):
        read_record(formula, formula, value, *(["p1"] if i % 2 else ["p1", "p2"]))
    store = LiteratureStore()
    prepared = prepare_records(store, "tc", "gp")
    version = register_trained(train(prepared))
    metrics = describe_model_record(version)["metrics"]
    assert metrics["record_papers"] == ["p1", "p2"] and metrics["papers_used"] == 2
    assert len(metrics["record_papers_hash"]) == 64
    # a paper ingested later cites MgB2's record: the model was not trained on it
    mgb2 = PropertyRecordDocument.objects.get(key="MgB2")
    mgb2.update(push_all__sources=read_in("p3"), push__papers="p3", inc__n_papers=1)
    assert describe_model_record(version)["metrics"]["record_papers"] == ["p1", "p2"]
    again = prepare_records(store, "tc", "gp")
    assert again.info["record_papers"] == ["p1", "p2", "p3"]
    # the same records and values: the same model, whose papers are those it learned from
    assert again.version() == version
    assert lineage_changes(again, metrics) == ["record_papers_hash"]
    assert lineage_changes(prepared, metrics) == []


def test_a_new_record_of_a_known_value_is_another_model_version(mongodb_uri: str) -> None:
    for formula, value in TC_RECORDS:
        read_record(formula, formula, value, "p1")
    store = LiteratureStore()
    first = prepare_records(store, "tc", "gp")
    version = register_trained(train(first))
    assert registered(first) is not None
    read_record("MgB2 again", "MgB2", 39.0, "p2")  # same formula, same value: same data
    second = prepare_records(store, "tc", "gp")
    for part in ("train", "val"):  # the data are as they were
        was, now = getattr(first, part), getattr(second, part)
        assert now.materials == was.materials
        np.testing.assert_array_equal(now.y, was.y)
    assert second.info["records_used"] == 7 and first.info["records_used"] == 6
    assert second.version() != version and registered(second) is None
    assert register_trained(train(second)) == second.version()
    metrics = describe_model_record(second.version())["metrics"]
    assert len(metrics["record_ids"]) == 7 and metrics["record_papers"] == ["p1", "p2"]
    # the set of records, not the order it was read in
    ids = list(second.record_ids)
    assert data_hash(second.train, second.val, second.config, None, ids[::-1]) == (second.data_hash)


WIDE = "LiBeBNaMgAlSiKCaScTiVCr"  # 13 elements, one more than composition models read


def test_records_of_a_formula_wider_than_the_model_reads_are_refused_before_training(
    mongodb_uri: str,
) -> None:
    for material in ("MgB2", "NbSe2", "Nb3Sn", "Nb", "YBa2Cu3O7", "LaFeAsO"):
        stored_record(material, 10.0, formula=material)
    stored_record("wide", 5.0, formula=WIDE)
    store = LiteratureStore()
    wide = str(Composition(WIDE).reduced_formula)  # records are named by reduced formula
    message = rf"^property 'tc' records: '{wide}' has 13 elements; a gp model reads at most 12$"
    with pytest.raises(ValueError, match=message):  # not "train row N" from the fit
        prepare_records(store, "tc", "gp")


def test_records_of_one_composition_in_other_notations_are_one_material(
    mongodb_uri: str,
) -> None:
    stored_record("LSCO", 38.0, formula="La1.85Sr0.15CuO4")
    stored_record("LSCO", 36.0, formula="La37Sr3Cu20O80")
    stored_record("MgB2", 39.0, formula="MgB2")
    data, _, _, used, _ = records_data(LiteratureStore(), "tc")
    assert data.labels == ["MgB2", "Sr0.15La1.85Cu1O4"] and len(used) == 3
    np.testing.assert_allclose(data.y, [39.0, 37.0])


def test_records_without_a_formula_are_skipped_not_read_from_their_names(
    mongodb_uri: str,
) -> None:
    stored_record("MgB2", 39.0, formula="MgB2")
    stored_record("NbSe2", 7.2, formula="NbSe2")
    for name in ("PCCO", "BSCCO", "STO"):  # PCCO read as a formula would be PC2O
        stored_record(name, 21.0)
    data, notes, _, used, _ = records_data(LiteratureStore(), "tc")
    assert data.labels == ["MgB2", "NbSe2"] and len(used) == 2
    assert notes == ["3 record(s) skipped: no formula pymatgen can read"]


def test_records_train_on_plain_readings_only(mongodb_uri: str) -> None:
    stored_record("MgB2", 39.0, formula="MgB2", qualifier="=", low=39.0, high=39.0)
    stored_record("MgB2", 35.0, formula="MgB2", qualifier="=", conditions={"pressure_gpa": 5.0})
    stored_record("LaFeAsO", 26.0, formula="LaFeAsO", qualifier="<")  # "< 26 K"
    stored_record("Nb3Sn", 18.0, formula="Nb3Sn", qualifier="=", low=15.0, high=21.0)
    stored_record("YBa2Cu3O7", 92.0, formula="YBa2Cu3O7", qualifier="~")
    stored_record("Nb", -1.0, formula="Nb", qualifier="=")  # a misread "−1", stored earlier
    stored_record("Hg2Sr2YCu2O8", 0.0, formula="Hg2Sr2YCu2O8", qualifier="=")  # no transition
    # "at ambient pressure", as stored before ambient pressure stopped being a condition
    stored_record("FeSe", 8.0, formula="FeSe", qualifier="=", conditions={"pressure_gpa": 1e-4})
    store = LiteratureStore()
    data, notes, *_ = records_data(store, "tc")
    labelled = dict(zip(data.labels, data.y, strict=True))
    assert labelled == {"MgB2": 39.0, "Ba2YCu3O7": 92.0, "FeSe": 8.0}
    assert notes == [
        "1 record(s) skipped: a bound, not a value (qualifier '<')",
        "1 record(s) skipped: a range, not a value",
        "1 record(s) skipped: at 0 K, which is no transition",
        "1 record(s) skipped: below absolute zero",
        "1 record(s) skipped: read under conditions (pressure_gpa)",
    ]
    every, notes, *_ = records_data(store, "tc", plain_only=False)
    assert every.y[every.labels.index("MgB2")] == pytest.approx(37.0)  # 39 K and 35 K @ 5 GPa
    assert "LaFeAsO" in every.labels and notes == [
        "1 record(s) skipped: at 0 K, which is no transition",
        "1 record(s) skipped: below absolute zero",
    ]


# -- campaigns ---------------------------------------------------------------------------


def test_a_composition_campaign_trains_on_its_measured_formulas(
    store: CampaignStore, tmp_path: Path
) -> None:
    formulas = ["NaCl", "KCl", "LiF", "MgO", "CaO", "NaF", "KBr", "LiCl", "SrO", "BaO"]
    rows = [["formula", "a"], *[[f, str(4.0 + 0.2 * i)] for i, f in enumerate(formulas)]]
    pool = load_csv(write_csv(tmp_path / "salts.csv", rows), [("a", Direction.MAXIMIZE)],
                    composition="formula")  # fmt: skip
    agent = CampaignAgent.from_dataset(
        store, "salts", pool, CampaignSettings("random", initial=3, batch_size=3)
    )
    oracle = LookupOracle.from_candidates(store.candidates("salts"))
    agent.observe(oracle.evaluate(agent.propose(3)))
    with pytest.raises(ValueError, match=r"campaign 'salts' .*3 labelled material\(s\)"):
        train_from_campaign(store, "salts", kind="gp")
    agent.observe(oracle.evaluate(agent.propose(3)))
    trained = train_from_campaign(store, "salts", kind="gp")
    lineage = ("train_trials", "train_trials_hash", "val_trials")
    assert {k: v for k, v in trained.info.items() if k not in lineage} == {
        "target": "a", "source": "campaign:salts", "unit": None,
        "validation": "random 0.1 (seed 0)", "fit": {"code": fitting_code()},
        "settings": {"kind": "gp", "hyper_rows": 1000, "fit_iterations": 200,
                     "exact_gp_limit": 8000},
    }  # fmt: skip
    assert trained.model.metrics["n_train"] + trained.model.metrics["n_val"] == 6
    measured = {t.parameters["Na"] for t in store.trials("salts")}
    assert measured <= {0.0, 0.5}  # molar fractions: NaCl is Na 0.5, Cl 0.5
    with pytest.raises(ValueError, match="objective: campaign 'salts' has no objective 'b'"):
        train_from_campaign(store, "salts", "b", kind="gp")


def test_a_campaign_model_lists_its_trials_and_outlives_its_campaign(
    store: CampaignStore, tmp_path: Path
) -> None:
    rows = [["formula", "a"], *[[f, str(4.0 + 0.2 * i)] for i, f in enumerate(SALTS)]]
    pool = load_csv(write_csv(tmp_path / "salts.csv", rows), [("a", Direction.MAXIMIZE)],
                    composition="formula")  # fmt: skip
    agent = CampaignAgent.from_dataset(
        store, "salts", pool, CampaignSettings("random", initial=8, batch_size=8)
    )
    agent.observe(LookupOracle.from_candidates(store.candidates("salts")).evaluate(agent.propose()))
    prepared = prepare_campaign(store, "salts", kind="gp", val_fraction=0.25)
    measured = [str(t.id) for t in store.trials("salts")]  # proposal order
    info = prepared.info
    assert len(info["train_trials"]) == 6 and len(info["val_trials"]) == 2
    assert info["train_trials"] == [t for t in measured if t not in info["val_trials"]]
    assert info["val_trials"] == [t for t in measured if t in info["val_trials"]]
    assert info["train_trials_hash"] == trial_lineage(info["train_trials"])["train_trials_hash"]
    # lineage is not identity: the version is what it was before trials were recorded
    bare = [replace(part, ids=[]) for part in (prepared.train, prepared.val)]
    assert data_hash(*bare, prepared.config) == prepared.data_hash
    version = register_trained(train(prepared))
    described = describe_model_record(version)
    assert described["campaign"] is None and described["metrics"]["source"] == "campaign:salts"
    assert described["metrics"]["train_trials"] == info["train_trials"]
    assert described["metrics"]["val_trials"] == info["val_trials"]
    store.delete("salts")  # its own surrogates go; a property model may be another's prior
    assert [r["version"] for r in list_model_records()] == [version]


def reduced(formula: str) -> str:
    """``formula``'s composition to 6 decimals of its molar fractions: TiO2 in any notation."""
    fractions = Composition(formula).fractional_composition.get_el_amt_dict()
    return " ".join(f"{el}{round(amount, 6)}" for el, amount in sorted(fractions.items()))


#: A pool that writes two compositions twice: fractions 3e-9 apart, which its check keeps.
TWINS = ["TiO2", "Ti0.33333333O0.66666667", "HfBe5", "Hf0.16666667Be0.83333333"]


def test_one_composition_measured_twice_in_a_campaign_is_one_row_on_one_side(
    store: CampaignStore, tmp_path: Path
) -> None:
    formulas = [*TWINS, *SALTS]
    rows = [["formula", "a"], *[[f, str(i)] for i, f in enumerate(formulas)]]
    pool = load_csv(write_csv(tmp_path / "twins.csv", rows), [("a", Direction.MAXIMIZE)],
                    composition="formula")  # fmt: skip
    assert len(pool.points) == 12  # the pool holds each twin: the model must merge them
    agent = CampaignAgent.from_dataset(
        store, "twins", pool, CampaignSettings("random", initial=12, batch_size=12)
    )
    agent.observe(LookupOracle.from_candidates(store.candidates("twins")).evaluate(agent.propose()))
    measured = sorted(str(t.id) for t in store.trials("twins"))

    def sides(*parts: LabelledData) -> list[set[str]]:
        return [{reduced(str(m)) for m in part.materials} for part in parts]

    raw = campaign_data(store, "twins")[0]  # a row per trial, as the split saw them before
    assert any(set.intersection(*sides(*split(raw, 0.5, seed))) for seed in range(8))
    for seed in range(8):
        prepared = prepare_campaign(store, "twins", kind="gp", val_fraction=0.5, seed=seed)
        train_side, val_side = sides(prepared.train, prepared.val)
        assert len(prepared.train) + len(prepared.val) == 10 and not train_side & val_side
        info = prepared.info  # each side lists the trials behind its rows, twins both
        assert sorted(info["train_trials"] + info["val_trials"]) == measured
        assert len(info["train_trials"]) == len(prepared.train) + sum(
            reduced(t) in train_side for t in TWINS[::2]
        )
    merged = dict(zip(map(str, prepared.train.materials + prepared.val.materials),
                      [*prepared.train.y, *prepared.val.y], strict=True))  # fmt: skip
    titania = next(value for m, value in merged.items() if reduced(m) == reduced("TiO2"))
    assert titania == pytest.approx(0.5)  # the mean of rows 0 and 1
    assert prepared.notes == (
        "campaign 'twins': 2 measurement(s) repeat an earlier composition (measured again, "
        "or written another way in the pool); each composition's values were averaged into "
        "one row",
    )


def test_a_campaign_whose_split_leaves_too_little_to_train_on_is_refused(
    store: CampaignStore, tmp_path: Path
) -> None:
    rows = [["formula", "a"], *[[f, str(i)] for i, f in enumerate(SALTS)]]
    pool = load_csv(write_csv(tmp_path / "salts.csv", rows), [("a", Direction.MAXIMIZE)],
                    composition="formula")  # fmt: skip
    agent = CampaignAgent.from_dataset(
        store, "salts", pool, CampaignSettings("random", initial=8, batch_size=8)
    )
    agent.observe(LookupOracle.from_candidates(store.candidates("salts")).evaluate(agent.propose()))
    message = (
        r"^val_fraction: 0.5 of the 8 labelled materials of campaign 'salts' \(objective 'a'\) "
        rf"holds 4 out for validation and leaves 4 to train on; .* at least {MIN_SAMPLES}"
    )
    with pytest.raises(ValueError, match=message):
        prepare_campaign(store, "salts", kind="gp", val_fraction=0.5)


def test_a_campaign_composition_wider_than_the_model_reads_is_refused_before_training(
    store: CampaignStore, tmp_path: Path
) -> None:
    formulas = [*SALTS[:5], WIDE]
    rows = [["formula", "a"], *[[f, str(i)] for i, f in enumerate(formulas)]]
    pool = load_csv(write_csv(tmp_path / "wide.csv", rows), [("a", Direction.MAXIMIZE)],
                    composition="formula")  # fmt: skip
    agent = CampaignAgent.from_dataset(
        store, "wide", pool, CampaignSettings("random", initial=6, batch_size=6)
    )
    oracle = LookupOracle.from_candidates(store.candidates("wide"))
    agent.observe(oracle.evaluate(agent.propose(6)))  # every material, the wide one too
    message = (
        r"^campaign 'wide' measurements: '[^']+' has 13 elements; a gp model reads at most 12$"
    )
    with pytest.raises(ValueError, match=message):  # not "train row N" from the fit
        prepare_campaign(store, "wide", kind="gp")


def test_a_prior_model_that_predicts_nan_is_refused_naming_it(
    store: CampaignStore, nan_gp: PropertyModel, tmp_path: Path
) -> None:
    version = register(nan_gp, {}, "cd" * 32)  # no metrics to refuse: as before the check
    rows = [["formula", "a"], *[[f, str(i)] for i, f in enumerate(["NaCl", "KCl", "NaF", "KF"])]]
    pool = load_csv(write_csv(tmp_path / "salts.csv", rows), [("a", Direction.MAXIMIZE)],
                    composition="formula")  # fmt: skip
    settings = CampaignSettings("gp", initial=2, prior_model=version)
    with pytest.raises(ValueError, match=rf"prior model '{version}' predicts nan .*not finite"):
        CampaignAgent.from_dataset(store, "salts", pool, settings)
    assert store.campaigns() == []  # refused before anything was stored


def test_batches_planned_with_two_priors_on_the_same_data_each_name_their_prior(
    store: CampaignStore, tmp_path: Path
) -> None:
    formulas = ["NaCl", "KCl", "LiF", "MgO", "CaO", "NaF"]
    config = PropertyModelConfig("gp", TINY)
    priors = [  # constant predictions: scale 0, so the residuals are the same data for both
        register(fit_property_model(formulas, np.full(6, level), [], np.zeros(0), config), {}, h)
        for level, h in ((3.0, "a" * 64), (7.0, "b" * 64))
    ]
    rows = [["formula", "a"], *[[f, str(i)] for i, f in enumerate(formulas)]]
    pool = load_csv(write_csv(tmp_path / "salts.csv", rows), [("a", Direction.MAXIMIZE)],
                    composition="formula")  # fmt: skip
    agent = CampaignAgent.from_dataset(store, "salts", pool, CampaignSettings("gp", initial=3))
    agent.observe(LookupOracle.from_candidates(store.candidates("salts")).evaluate(agent.propose()))
    batches = [  # nothing measured between them: both fit the same three results
        CampaignAgent(store, "salts", with_prior(GPPlanner(), version, pool.space)).propose(1)
        for version in priors
    ]
    versions = [trials[0].model_version for trials in batches]
    assert all(trials[0].strategy == "gp+prior" for trials in batches)
    assert versions[0] != versions[1] and None not in versions
    named = [store.load_model(v).metrics["prior_model"] for v in versions if v]
    assert named == priors


def test_a_campaign_of_other_parameters_is_refused(photo_pce10_campaign: CampaignAgent) -> None:
    with pytest.raises(ValueError, match=r"parameter\(s\) \['mat_1'.* are not element fractions"):
        train_from_campaign(photo_pce10_campaign.store, "photo-pce10", kind="gp")


def test_a_process_campaign_with_parameters_named_like_elements_is_refused(
    store: CampaignStore, tmp_path: Path
) -> None:
    # T and P are tritium and phosphorus to pymatgen, a temperature and a pressure here
    rows = [["T", "P", "y"], ["300", "1", "1.0"], ["600", "5", "2.0"], ["900", "9", "1.5"]]
    process = load_csv(write_csv(tmp_path / "process.csv", rows), [("y", Direction.MAXIMIZE)])
    CampaignAgent.from_dataset(store, "process", process, CampaignSettings("random", initial=3))
    with pytest.raises(ValueError, match=r"parameter\(s\) \['T', 'P'\] are not element fractions"):
        train_from_campaign(store, "process", kind="gp")


def test_a_prior_in_another_unit_is_converted_to_the_objectives(
    mongodb_uri: str, tmp_path: Path
) -> None:
    formulas = ["NaCl", "KCl", "LiF", "MgO", "CaO", "NaF"]
    tc = fit_property_model(formulas, np.arange(1.0, 7.0), [], np.zeros(0),
                            PropertyModelConfig("gp", TINY))  # fmt: skip
    version = register(tc, {}, "ef" * 32, {"unit": "K"})
    rows = [["formula", "a"], *[[f, "1"] for f in ["NaCl", "KCl", "NaF", "KF"]]]
    pool = load_csv(write_csv(tmp_path / "salts.csv", rows), [("a", Direction.MAXIMIZE)],
                    composition="formula")  # fmt: skip
    X = np.array([pool.space.encode([p])[0] for p in pool.points])
    kelvin, millikelvin = (
        with_prior(GPPlanner(), version, pool.space, unit) for unit in ("K", "mK")
    )
    assert isinstance(kelvin, GPPlanner) and isinstance(millikelvin, GPPlanner)
    assert kelvin.prior is not None and millikelvin.prior is not None
    np.testing.assert_allclose(millikelvin.prior(X), 1000 * kelvin.prior(X))
    with pytest.raises(ValueError, match=r"predicts in 'K', the objective is in 'eV'"):
        with_prior(GPPlanner(), version, pool.space, "eV")


# -- a prior's unit: declared for a table, refused when missing for an objective with one ----
def test_a_prior_that_records_no_unit_is_refused_for_an_objective_with_one(
    mongodb_uri: str, tmp_path: Path
) -> None:
    formulas = ["NaCl", "KCl", "LiF", "MgO", "CaO", "NaF"]
    table = write_csv(tmp_path / "bulk.csv", [["formula", "k"], *[[f, "30"] for f in formulas]])
    prepared = prepare_table(table, "k", "gp", config=TINY)  # no --unit: GPa, or eV?
    version = register_trained(train(prepared))
    rows = [["formula", "a"], *[[f, "1"] for f in ["NaCl", "KCl", "NaF", "KF"]]]
    pool = load_csv(write_csv(tmp_path / "salts.csv", rows), [("a", Direction.MAXIMIZE)],
                    composition="formula")  # fmt: skip
    for unit in ("MPa", "eV"):
        message = (
            rf"^prior model '{version}' records no unit, and the objective is in '{unit}': "
            r".*retrain it with its unit \(`matloop model train \.\.\. --unit UNIT`\)"
        )
        with pytest.raises(ValueError, match=message):
            with_prior(GPPlanner(), version, pool.space, unit)
    assert isinstance(with_prior(GPPlanner(), version, pool.space, None), GPPlanner)


def test_a_table_model_keeps_its_declared_unit_and_converts_as_a_prior(
    mongodb_uri: str, tmp_path: Path
) -> None:
    formulas = ["NaCl", "KCl", "LiF", "MgO", "CaO", "NaF"]
    rows = [["formula", "k"], *[[f, str(10 * (i + 1))] for i, f in enumerate(formulas)]]
    table = write_csv(tmp_path / "bulk.csv", rows)
    plain = prepare_table(table, "k", "gp", config=TINY)
    gpa = prepare_table(table, "k", "gp", config=TINY, unit=" GPa ")
    assert gpa.info["unit"] == "GPa" and plain.info["unit"] is None
    assert gpa.version() != plain.version()  # the unit-less model is not this one
    version = register_trained(train(gpa))
    assert describe_model_record(version)["metrics"]["unit"] == "GPa"
    pool = load_csv(write_csv(tmp_path / "salts.csv", [["formula", "a"], ["NaCl", "1"],
                    ["KF", "2"]]), [("a", Direction.MAXIMIZE)], composition="formula")  # fmt: skip
    X = pool.space.encode(pool.points)
    in_gpa, in_mpa = (with_prior(GPPlanner(), version, pool.space, u) for u in ("GPa", "MPa"))
    assert isinstance(in_gpa, GPPlanner) and isinstance(in_mpa, GPPlanner)
    assert in_gpa.prior is not None and in_mpa.prior is not None
    np.testing.assert_allclose(in_mpa.prior(X), 1000 * in_gpa.prior(X))
    with pytest.raises(ValueError, match=r"predicts in 'GPa', the objective is in 'eV'"):
        with_prior(GPPlanner(), version, pool.space, "eV")


def test_a_property_model_fitted_by_new_code_is_a_new_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    formulas = ["NaCl", "KCl", "LiF", "MgO", "CaO", "NaF"]
    table = write_csv(tmp_path / "t.csv", [["formula", "k"], *[[f, "3"] for f in formulas]])
    before = prepare_table(table, "k", "gp", config=TINY).version()
    monkeypatch.setattr("agents.models.fitting_code", lambda: "0123456789ab")  # an upgrade
    after = prepare_table(table, "k", "gp", config=TINY)
    assert after.version() != before and after.fit == {"code": "0123456789ab"}


def test_a_tc_below_zero_kelvin_is_said_and_one_below_absolute_zero_refused(
    tmp_path: Path,
) -> None:
    formulas = ["NaCl", "KCl", "LiF", "MgO", "CaO", "NaF"]
    rows = [["formula", "tc"], *[[f, "9"] for f in formulas], ["Bi2Sr2CaCu2O8", "-85"]]
    table = write_csv(tmp_path / "tc.csv", rows)
    prepared = prepare_table(table, "tc", "gp", config=TINY, unit="K")
    [note] = [n for n in prepared.notes if "below 0 K" in n]
    assert note == (
        f"{table}: 'tc' is below 0 K in data row(s) ['7']: no absolute temperature is; "
        "kept, as a difference (a shift) may be"
    )
    assert not [n for n in prepare_table(table, "tc", "gp", config=TINY).notes if "0 K" in n]
    # a repeat at +300 would average it to 0 degC: each row is checked before
    celsius = write_csv(
        tmp_path / "c.csv", [*rows[:-1], ["YBa2Cu3O7", "-300"], ["YBa2Cu3O7", "300"]]
    )
    with pytest.raises(ValueError, match=r"'tc' in data row 7: -300 degC is below absolute"):
        prepare_table(celsius, "tc", "gp", config=TINY, unit="degC")
    fine = write_csv(tmp_path / "fine.csv", rows[:-1])
    with pytest.raises(ValueError, match=r"c\.csv: 'tc' in data row 7: -300 degC"):
        prepare_table(fine, "tc", "gp", config=TINY, unit="degC", val_path=celsius)


@pytest.mark.parametrize("unit", ["gigapascool", "a.u.", "wt%", "  "])
def test_a_table_unit_pint_cannot_read_is_refused_naming_it(tmp_path: Path, unit: str) -> None:
    table = write_csv(tmp_path / "t.csv", [["formula", "k"], ["NaCl", "1"]])
    with pytest.raises(ValueError, match=r"^unit: "):
        prepare_table(table, "k", "gp", unit=unit)


def test_a_strained_crystal_is_not_merged_with_the_relaxed_one() -> None:
    """A pressure series is training data for a crystal model, not repeats of one row."""
    from pymatgen.core import Lattice, Structure

    from agents.models import _repeat_groups

    def rock_salt(a: float) -> Structure:
        return Structure.from_spacegroup(
            "Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
        )

    moved = rock_salt(5.64)
    moved.translate_sites(range(len(moved)), [0.02, 0.0, 0.0])  # the same crystal, moved
    crystals = [rock_salt(5.64), moved, rock_salt(5.3), rock_salt(4.5)]
    assert _repeat_groups(crystals, by_structure=True) == [[0, 1], [2], [3]]


def test_a_repeated_column_after_blank_lines_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("\n\nformula,k,k\nNaCl,1,2\n")  # pandas skips the blank lines
    with pytest.raises(ValueError, match=r"column\(s\) \['k'\] appear more than once"):
        read_table(path, "k")
