"""``matloop model`` commands against a real SecantusDB: train, list, show, predict."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from db.documents import ModelRecord
from db.literature import PropertyRecordDocument
from discovery.domain import ModelArtifact
from matloop.cli import app
from tests.stand_ins import tagger_metrics

# tiny models: on a busy machine, intra-op threads only wait on each other
pytestmark = pytest.mark.usefixtures("single_torch_thread")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "property" / "aflow__ael_bulk_modulus_vrh" / "train.csv"
TINY = ["--members", "1", "--epochs", "3", "--patience", "3", "--batch-size", "16"]


@pytest.fixture
def bulk_csv(tmp_path: Path) -> Path:
    """The first 40 rows (formula, bulk modulus in GPa) of the AFLOW training split."""
    if not DATA.is_file():
        pytest.skip(f"property data not on this machine: {DATA}")
    path = tmp_path / "bulk.csv"
    path.write_text("\n".join(DATA.read_text().splitlines()[:41]) + "\n")
    return path


def registered(output: str) -> str:
    found = re.search(r"registered (\S+)", output)
    assert found, output
    return found.group(1)


def test_train_list_show_predict_end_to_end(cli: CliRunner, bulk_csv: Path, tmp_path: Path) -> None:
    train = ["model", "train", "--data", str(bulk_csv), "--target", "target", "--kind", "ensemble",
             *TINY, "--device", "cpu", "--plots", str(tmp_path / "plots")]  # fmt: skip
    result = cli.invoke(app, train)
    assert result.exit_code == 0, result.output
    version = registered(result.output)
    assert version.startswith("model:ensemble:")
    assert "36 train / 4 validation" in result.output
    assert re.search(r"validation: MAE \S+, RMSE \S+, NLL \S+, 95% coverage \S+", result.output)
    said = " ".join(result.output.split())  # Rich wraps long lines
    assert "its coverage is not out of sample" in said  # the split recalibrated it
    # members keep their epoch of least validation MAE: the split chose what it scores
    assert "its MAE, RMSE and NLL were used for model selection and are optimistic" in said
    assert (tmp_path / "plots" / "parity.png").is_file()
    assert (tmp_path / "plots" / "calibration.png").is_file()
    again = cli.invoke(app, train)
    assert registered(again.output) == version and ModelRecord.objects.count() == 1

    listed = cli.invoke(app, ["model", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    assert row["version"] == version and row["campaign"] is None
    assert row["metrics"]["target"] == "target" and "val_mae" in row["metrics"]
    table = cli.invoke(app, ["model", "list", "--kind", "ensemble"])
    assert table.exit_code == 0 and "model:ensemble:" in table.output
    assert json.loads(cli.invoke(app, ["model", "list", "--kind", "gp", "--json"]).output) == []
    spelled = cli.invoke(app, ["model", "list", "--kind", "Ensemble", "--json"])
    assert [r["version"] for r in json.loads(spelled.output)] == [version]  # as the API does

    shown = cli.invoke(app, ["model", "show", version, "--json"])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.output)
    assert info["featurizer_version"].startswith("composition:")
    assert info["weights_bytes"] > 0 and len(info["metrics"]["members"]) == 1
    settings = info["metrics"]["settings"]  # what it was trained with, read back
    assert settings["kind"] == "ensemble" and settings["n_members"] == 1
    assert {"epochs", "patience", "batch_size", "weight_decay", "loss", "beta"} <= set(settings)
    text = cli.invoke(app, ["model", "show", version])
    assert "val_coverage_95" in text.output and "featurizer_version" in text.output
    assert "settings: kind=ensemble, hidden=" in text.output and "n_members=1" in text.output
    assert "were used for model selection and are optimistic" in " ".join(text.output.split())

    predicted = cli.invoke(app, ["model", "predict", version, "NaCl", "NaN", "--json"])
    assert predicted.exit_code == 0, predicted.output
    rows = json.loads(predicted.output)
    assert [r["material"] for r in rows] == ["NaCl", "NaN"]
    assert all(r["std"] > 0 for r in rows)
    assert [r["unit"] for r in rows] == [None, None]  # trained without --unit
    table = cli.invoke(app, ["model", "predict", version, "Fe2O3"])
    assert table.exit_code == 0 and "± std" in table.output and "Fe2O3" in table.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["model", "train", "--kind", "gp"], "give exactly one of --data, --campaign or --records"),
        (
            ["model", "train", "--data", "x.csv", "--records", "tc"],
            "(got --data and --records)",
        ),
        (["model", "train", "--data", "x.csv"], "--target: name the target column"),
        (["model", "train", "--records", "tc", "--target", "k"], "--target: applies to --data"),
        (["model", "train", "--records", "tc", "--objective", "k"], "--objective: applies to"),
        (
            ["model", "train", "--data", "x.csv", "--target", "k", "--kind", "mlp"],
            "--kind: unknown model 'mlp'",
        ),
        (
            ["model", "train", "--data", "x.csv", "--target", "k", "--kind", "crystal-gnn"],
            "--structure-column: crystal-gnn reads crystal structures",
        ),
        (
            ["model", "train", "--data", "x.csv", "--target", "k", "--val-fraction", "1"],
            "--val-fraction: must lie strictly between 0 and 1",
        ),
        (["model", "train", "--data", "nowhere.csv", "--target", "k"], "nowhere.csv: not found"),
        (["model", "train", "--data", "tests", "--target", "k"], "tests: a folder, not a CSV file"),
        (["model", "train", "--campaign", "ghost"], "no campaign named 'ghost'"),
        (["model", "train", "--records", "tc", "--kind", "gp"], "'tc': no records are stored"),
        (
            ["model", "train", "--records", "band_gap"],
            "--records: 'band_gap' is not a record property; use tc",
        ),
        (["model", "show", "model:gp:000"], "no model version 'model:gp:000'"),
        (["model", "predict", "model:gp:000", "NaCl"], "no model version 'model:gp:000'"),
        (
            ["model", "train", "--data", "x.csv", "--target", "k", "--device", "tpu"],
            "--device: expected cpu, cuda or cuda:N, got 'tpu'",
        ),
        (
            ["model", "predict", "model:gp:000", "NaCl", "--device", "cuda:x"],
            "--device: expected cpu, cuda or cuda:N, got 'cuda:x'",
        ),
        (
            ["model", "train", "--data", "x.csv", "--target", "k", "--kind", "gp",
             "--members", "2", "--epochs", "9"],
            "--members, --epochs: set ensemble training, and --kind gp trains no ensemble",
        ),
        (
            ["model", "train", "--data", "x.csv", "--target", "k", "--kind", "gp",
             "--device", "cpu"],
            "--device: set ensemble training, and --kind gp trains no ensemble",
        ),
        (
            ["model", "train", "--campaign", "sc", "--formula-column", "name"],
            "--formula-column: applies to --data only, not --campaign",
        ),
        (
            ["model", "train", "--records", "tc", "--formula-column", "name"],
            "--formula-column: applies to --data only, not --records",
        ),
        (
            ["model", "train", "--data", "x.csv", "--target", "k", "--structure-column", "cif",
             "--formula-column", "name"],
            "--formula-column: --structure-column reads the materials from crystal structures, "
            "and no formula column is read with it; give one of them",
        ),
        (
            ["model", "train", "--data", "x.csv", "--target", "k", "--val", "v.csv",
             "--val-fraction", "0.2"],
            "--val-fraction: holds part of the training data out for validation, and --val "
            "gives a validation file instead: give one of them",
        ),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_registers_nothing(
    cli: CliRunner, arguments: list[str], message: str
) -> None:
    result = cli.invoke(app, arguments)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert ModelRecord.objects.count() == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize(
    "command", [["train", "--data", "x.csv", "--target", "k"], ["predict", "v", "NaCl"]]
)
def test_cuda_asked_for_without_one_is_named(cli: CliRunner, command: list[str]) -> None:
    result = cli.invoke(app, ["model", *command, "--device", "cuda"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "--device: cuda was asked for, and this machine has no CUDA" in result.output


def test_bad_table_cells_name_the_file_column_and_row(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("formula,k\nNaCl,1\nKCl,hard\n")
    result = cli.invoke(app, ["model", "train", "--data", str(path), "--target", "k"])
    assert result.exit_code == 1
    assert "'k' in data row 2: 'hard' is not a number" in result.output
    missing = cli.invoke(app, ["model", "train", "--data", str(path), "--target", "y"])
    assert missing.exit_code == 1 and "target column 'y' not found" in missing.output
    assert ModelRecord.objects.count() == 0


def test_a_split_that_leaves_too_little_to_train_on_names_the_fraction(
    cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "small.csv"
    path.write_text("formula,k\n" + "".join(f"{f},{i}\n" for i, f in enumerate(SALTS[:7])))
    result = cli.invoke(app, ["model", "train", "--data", str(path), "--target", "k",
                              "--kind", "gp", "--val-fraction", "0.9"])  # fmt: skip
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "math domain error" not in text
    assert f"--val-fraction: 0.9 of the 7 labelled materials of {path} holds 6 out for " in text
    assert "leaves 1 to train on; training a model needs at least 5: give a smaller --val-" in text
    assert ModelRecord.objects.count() == 0


def test_a_column_named_twice_in_a_training_header_is_refused(
    cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("formula,k,k\n" + "".join(f"{f},{i},{-i}\n" for i, f in enumerate(SALTS)))
    result = cli.invoke(app, ["model", "train", "--data", str(path), "--target", "k",
                              "--kind", "gp"])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "column(s) ['k'] appear more than once in the header" in " ".join(result.output.split())
    assert ModelRecord.objects.count() == 0


def test_records_train_a_gp_and_predict_reports_bad_formulas(cli: CliRunner) -> None:
    for material, value in [("MgB2", 39.0), ("NbSe2", 7.2), ("Nb3Sn", 18.3), ("Nb", 9.2),
                            ("YBa2Cu3O7", 92.0), ("La2CuO4", 38.0)]:  # fmt: skip
        PropertyRecordDocument(key=material, material=material, formula=material, property="tc",
                               value=value, unit="K").save()  # fmt: skip
    result = cli.invoke(app, ["model", "train", "--records", "tc", "--kind", "gp"])
    assert result.exit_code == 0, result.output
    version = registered(result.output)
    assert version.startswith("model:gp:") and "MAE" in result.output and " K," in result.output
    bad = cli.invoke(app, ["model", "predict", version, "MgB2", "Qq3"])
    assert bad.exit_code == 1 and "material 2: cannot read formula 'Qq3'" in bad.output
    wide = cli.invoke(app, ["model", "predict", version, "MgB2", "LiBeBNaMgAlSiKCaScTiVCr"])
    assert wide.exit_code == 1, wide.output
    assert "material 2: 'LiBeBNaMgAlSiKCaScTiVCr' has 13 elements" in wide.output
    deuteride = cli.invoke(app, ["model", "predict", version, "MgB2", "D3S"])  # not H3S
    assert deuteride.exit_code == 1, deuteride.output
    assert "material 2: 'D3S': holds D (deuterium), which pymatgen reads as hydrogen" in (
        " ".join(deuteride.output.split())
    )
    shown = cli.invoke(app, ["model", "show", version])  # a GP never saw its validation split
    assert "the validation split was held out of the fit" in " ".join(shown.output.split())


def salts_csv(path: Path, formulas: list[str]) -> Path:
    path.write_text("formula,k\n" + "".join(f"{f},{i + 1}\n" for i, f in enumerate(formulas)))
    return path


SALTS = ["NaCl", "KCl", "LiF", "MgO", "CaO", "NaF", "KBr", "SrO"]


def test_formulas_are_read_as_pools_and_the_materials_api_read_them(
    cli: CliRunner, tmp_path: Path
) -> None:
    # STO is SrTiO3 (pymatgen: S, tritium, O): the two rows are one composition, merged
    table = salts_csv(tmp_path / "s.csv", [*SALTS, "SrTiO3", "STO"])
    trained = cli.invoke(app, ["model", "train", "--data", str(table), "--target", "k",
                               "--kind", "gp"])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "1 row(s) repeat an earlier composition" in " ".join(trained.output.split())
    version = registered(trained.output)
    # YBCO's oxygen is open: refused, never predicted for Y, B, C and O
    ybco = cli.invoke(app, ["model", "predict", version, "NaCl", "YBCO"])
    assert ybco.exit_code == 1, ybco.output
    assert "material 2: 'YBCO' is the abbreviation of YBa2Cu3O7-δ, in which δ is not fixed" in (
        " ".join(ybco.output.split())
    )
    spellings = ["STO", "SrTiO3", "CuSO4.5H2O", "CuH10SO9"]  # pymatgen: CuSO4.5H2O is O5.5
    predicted = cli.invoke(app, ["model", "predict", version, *spellings, "--json"])
    assert predicted.exit_code == 0, predicted.output
    means = [row["mean"] for row in json.loads(predicted.output)]
    assert means[0] == pytest.approx(means[1]) and means[2] == pytest.approx(means[3])
    # a training row is read the same way, and its refusal names the row
    bad = salts_csv(tmp_path / "b.csv", [*SALTS, "YBCO"])
    refused = cli.invoke(app, ["model", "train", "--data", str(bad), "--target", "k"])
    assert refused.exit_code == 1, refused.output
    assert "'formula' in data row 9: 'YBCO' is the abbreviation of YBa2Cu3O7" in (
        " ".join(refused.output.split())  # Rich wraps long lines
    )
    assert ModelRecord.objects.count() == 1


def test_a_validation_file_overlapping_the_training_file_is_refused_naming_val(
    cli: CliRunner, tmp_path: Path
) -> None:
    data = salts_csv(tmp_path / "train.csv", SALTS)
    val = salts_csv(tmp_path / "val.csv", ["BaO", "Na2Cl2"])
    result = cli.invoke(app, ["model", "train", "--data", str(data), "--target", "k",
                              "--kind", "gp", "--val", str(val)])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "--val: 1 composition(s) of" in result.output and "'Na2Cl2'" in result.output
    assert ModelRecord.objects.count() == 0


def test_retraining_the_same_data_reports_the_registered_model_without_training(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = ["model", "train", "--data", str(salts_csv(tmp_path / "s.csv", SALTS)),
             "--target", "k", "--kind", "gp", "--val-fraction", "0.25"]  # fmt: skip
    first = cli.invoke(app, train)
    assert first.exit_code == 0, first.output
    version = registered(first.output)
    ModelRecord._get_collection().update_one(
        {"version": version}, {"$set": {"metrics.val_mae": 1234.5}}
    )  # the registry's metrics are reported, not a fresh run's

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a registered model was trained again")

    monkeypatch.setattr("agents.models.fit_property_model", no_training)
    plots = tmp_path / "plots"
    again = cli.invoke(app, [*train, "--plots", str(plots)])
    assert again.exit_code == 0, again.output
    text = " ".join(again.output.split())  # Rich wraps long lines
    assert f"already registered {version} (same data and settings, not retrained; k, " in text
    assert "MAE 1234" in text and "6 train / 2 validation" in text
    assert (plots / "parity.png").is_file()  # from the registered model's predictions
    assert ModelRecord.objects.count() == 1


def test_a_plots_path_that_cannot_be_a_folder_is_refused_before_training(
    cli: CliRunner, tmp_path: Path
) -> None:
    data = salts_csv(tmp_path / "s.csv", SALTS)
    taken = tmp_path / "taken.png"
    taken.write_text("not a folder")
    for plots, message in [
        (taken, f"--plots: {taken} is a file, not a folder"),
        (taken / "sub", f"--plots: cannot make folder {taken / 'sub'}: Not a directory"),
    ]:
        result = cli.invoke(app, ["model", "train", "--data", str(data), "--target", "k",
                                  "--kind", "gp", "--plots", str(plots)])  # fmt: skip
        assert result.exit_code == 1, result.output
        assert message in " ".join(result.output.split())  # Rich wraps long lines
        assert "train /" not in result.output
    assert ModelRecord.objects.count() == 0


def test_a_plots_folder_made_for_a_failed_training_is_taken_back(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("formula,k\nNaCl,1\nKCl,hard\n")
    nested = tmp_path / "made" / "plots"  # both folders made by the command
    result = cli.invoke(app, ["model", "train", "--data", str(bad), "--target", "k",
                              "--kind", "gp", "--plots", str(nested)])  # fmt: skip
    assert result.exit_code == 1 and "'hard' is not a number" in result.output
    assert not (tmp_path / "made").exists()

    def failing_fit(*args: object, **kwargs: object) -> None:
        raise ValueError("the fit failed")

    monkeypatch.setattr("agents.models.fit_property_model", failing_fit)
    data = salts_csv(tmp_path / "s.csv", SALTS)
    kept = tmp_path / "kept"
    kept.mkdir()  # there before the command: it stays, empty or not
    for plots in (tmp_path / "fresh", kept):
        result = cli.invoke(app, ["model", "train", "--data", str(data), "--target", "k",
                                  "--kind", "gp", "--plots", str(plots)])  # fmt: skip
        assert result.exit_code == 1 and "the fit failed" in result.output, result.output
    assert not (tmp_path / "fresh").exists() and kept.is_dir()
    assert ModelRecord.objects.count() == 0


def test_model_list_shows_a_policys_training_episodes_and_held_out_regret(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents.policies import KIND, register_policy
    from discovery.policy import AcquisitionPolicy, PolicyTrainingConfig, TrainedPolicy
    from matloop.model_cli import POLICY_KIND

    assert POLICY_KIND == KIND  # written out in the CLI, which does not import torch to list
    config = PolicyTrainingConfig(iterations=3000, tasks=2, rollouts=4, pool=40, horizon=6)
    version = register_policy(TrainedPolicy(AcquisitionPolicy(config.hidden), config))
    regret = ModelRecord.objects.get(version=version).metrics["held_out_regret"]
    monkeypatch.setenv("COLUMNS", "200")  # the whole table on one line per model
    result = cli.invoke(app, ["model", "list"])
    assert result.exit_code == 0, result.output
    (row,) = [line for line in result.output.splitlines() if version in line]
    cells = [cell.strip() for cell in row.split("│")]
    assert "24000†" in cells  # 3000 updates x 2 tasks x 4 rollouts, not 2.4e+04
    assert f"{regret:.4g}†" in cells
    legend = " ".join(result.output.split())
    assert "† acquisition policy (rl-policy): n = training episodes" in legend
    assert "val MAE = held-out regret" in legend


def test_model_list_shows_a_taggers_training_sentences_and_held_out_f1(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from db.literature import LiteratureStore
    from matloop.model_cli import TAGGER_MARK

    scores = {"micro": 0.71234, "material": 0.8, "tcValue": 0.0}
    metrics = tagger_metrics(scores, train_sentences=900)
    scored = LiteratureStore().save_tagger(
        ModelArtifact("tagger-supermat", "a" * 64, metrics, b"w")
    )
    unscored = LiteratureStore().save_tagger(ModelArtifact("tagger-supermat", "b" * 64, {}, b"w"))
    monkeypatch.setenv("COLUMNS", "250")  # the whole table on one line per model
    result = cli.invoke(app, ["model", "list"])
    assert result.exit_code == 0, result.output

    def cells(version: str) -> list[str]:
        (row,) = [line for line in result.output.splitlines() if version in line]
        return [cell.strip() for cell in row.split("│")]

    assert f"900{TAGGER_MARK}" in cells(scored)
    assert f"0.7123 / 0{TAGGER_MARK}" in cells(scored)  # micro F1 / tcValue F1
    assert f"-{TAGGER_MARK}" in cells(unscored)  # not scored: no score, not a 0
    legend = " ".join(result.output.split())
    assert f"{TAGGER_MARK} literature tagger (tagger-*): n = training sentences" in legend
    assert "all entities (micro) / tcValue" in legend and "higher is better" in legend
    assert "acquisition policy" not in legend  # no policy listed
    as_json = json.loads(cli.invoke(app, ["model", "list", "--json"]).output)
    assert [row["version"] for row in as_json] == [unscored, scored]  # newest first
    assert as_json[1]["metrics"]["test_f1_tcValue"] == 0.0


def test_a_table_model_takes_its_unit_and_a_prior_without_one_is_refused(
    cli: CliRunner, tmp_path: Path
) -> None:
    table = salts_csv(tmp_path / "bulk.csv", SALTS)  # k, say in GPa
    train = ["model", "train", "--data", str(table), "--target", "k", "--kind", "gp"]
    bare = cli.invoke(app, train)
    assert bare.exit_code == 0, bare.output
    unitless = registered(bare.output)
    given = cli.invoke(app, [*train, "--unit", "GPa"])
    assert given.exit_code == 0, given.output
    version = registered(given.output)
    assert version != unitless and " GPa," in given.output  # not the unit-less model again
    shown = json.loads(cli.invoke(app, ["model", "show", version, "--json"]).output)
    assert shown["metrics"]["unit"] == "GPa"
    predicted = cli.invoke(app, ["model", "predict", version, "NaCl", "KF", "--json"])
    assert predicted.exit_code == 0, predicted.output
    assert [row["unit"] for row in json.loads(predicted.output)] == ["GPa", "GPa"]
    pool = salts_csv(tmp_path / "pool.csv", ["NaCl", "KCl", "NaF", "KF", "LiCl", "LiBr"])
    create = ["campaign", "create", "bulk", "--from-csv", str(pool), "--composition", "formula"]
    create += ["--objective", "k:max:MPa", "--initial", "2"]
    refused = cli.invoke(app, [*create, "--prior", unitless])
    assert refused.exit_code == 1, refused.output
    assert f"prior model '{unitless}' records no unit" in refused.output
    assert "--unit UNIT" in refused.output
    assert cli.invoke(app, [*create, "--prior", version]).exit_code == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--unit", "gigapascool"], "--unit: 'gigapascool' is not a unit pint reads"),
        (["--unit", "a.u."], "--unit: 'a.u.' is not a unit pint reads"),
    ],
)
def test_a_unit_pint_cannot_read_is_refused_before_training(
    cli: CliRunner, tmp_path: Path, options: list[str], message: str
) -> None:
    table = salts_csv(tmp_path / "bulk.csv", SALTS)
    train = ["model", "train", "--data", str(table), "--target", "k", "--kind", "gp"]
    result = cli.invoke(app, [*train, *options])
    assert result.exit_code == 1 and message in result.output, result.output
    assert ModelRecord.objects.count() == 0


def test_a_unit_applies_to_tables_only(cli: CliRunner) -> None:
    result = cli.invoke(app, ["model", "train", "--records", "tc", "--unit", "K"])
    assert result.exit_code == 1
    assert "--unit: applies to --data only, not --records" in result.output


# -- lineage: what a registered model was trained on ----------------------------------------

TC = [("MgB2", 39.0), ("NbSe2", 7.2), ("Nb3Sn", 18.3), ("Nb", 9.2), ("YBa2Cu3O7", 92.0),
      ("La2CuO4", 38.0)]  # fmt: skip


def show(cli: CliRunner, version: str) -> dict[str, Any]:
    """``model show VERSION --json``, read."""
    shown = cli.invoke(app, ["model", "show", version, "--json"])
    assert shown.exit_code == 0, shown.output
    described: dict[str, Any] = json.loads(shown.output)
    return described


def test_a_new_record_of_a_known_value_trains_a_new_version(cli: CliRunner) -> None:
    for material, value in TC:
        PropertyRecordDocument(key=material, material=material, formula=material, property="tc",
                               value=value, unit="K").save()  # fmt: skip
    train = ["model", "train", "--records", "tc", "--kind", "gp"]
    first = cli.invoke(app, train)
    assert first.exit_code == 0, first.output
    # a paper read later states MgB2's Tc again: the data are the same, the records are not
    PropertyRecordDocument(key="MgB2 again", material="MgB2", formula="MgB2", property="tc",
                           value=39.0, unit="K").save()  # fmt: skip
    second = cli.invoke(app, train)
    assert second.exit_code == 0, second.output
    assert "already registered" not in second.output
    versions = [registered(first.output), registered(second.output)]
    assert versions[0] != versions[1]
    lineage = [show(cli, v)["metrics"] for v in versions]
    assert [len(m["record_ids"]) for m in lineage] == [6, 7]


def test_a_campaign_model_records_its_trials(cli: CliRunner, tmp_path: Path) -> None:
    from agents import CampaignAgent, LookupOracle
    from db import CampaignStore
    from discovery.datasets import load_csv
    from discovery.domain import CampaignSettings, Direction

    store = CampaignStore()
    pool = load_csv(salts_csv(tmp_path / "salts.csv", SALTS), [("k", Direction.MAXIMIZE)],
                    composition="formula")  # fmt: skip
    agent = CampaignAgent.from_dataset(store, "sc", pool, CampaignSettings("random", initial=8))
    agent.observe(LookupOracle.from_candidates(store.candidates("sc")).evaluate(agent.propose()))
    too_few = cli.invoke(app, ["model", "train", "--campaign", "sc", "--kind", "gp",
                               "--val-fraction", "0.5"])  # fmt: skip
    assert too_few.exit_code == 1, too_few.output
    assert "--val-fraction: 0.5 of the 8 labelled materials of campaign 'sc'" in (
        " ".join(too_few.output.split())
    )
    result = cli.invoke(app, ["model", "train", "--campaign", "sc", "--kind", "gp"])
    assert result.exit_code == 0, result.output
    version = registered(result.output)
    described = show(cli, version)
    metrics = described["metrics"]
    assert metrics["source"] == "campaign:sc"
    measured = [str(t.id) for t in store.trials("sc")]
    trained_on = metrics["train_trials"] + metrics["val_trials"]
    assert sorted(trained_on) == sorted(measured) and len(metrics["train_trials"]) == 7
    assert len(metrics["train_trials_hash"]) == 64
    lineage = {f"metrics.{k}": "" for k in ("train_trials", "train_trials_hash", "val_trials")}
    ModelRecord._get_collection().update_one(
        {"version": version}, {"$unset": lineage}
    )  # as it was registered before lineage was recorded: its version is the same
    again = cli.invoke(app, ["model", "train", "--campaign", "sc", "--kind", "gp"])
    assert again.exit_code == 0, again.output
    text = " ".join(again.output.split())
    assert f"already registered {version}" in text
    hash_here = metrics["train_trials_hash"][:12]
    assert f"not this training's: train_trials_hash none there, {hash_here} here" in text


def test_a_campaigns_ensemble_surrogate_is_refused_as_a_property_model(
    cli: CliRunner, tmp_path: Path
) -> None:
    import numpy as np

    from agents import CampaignAgent
    from db import CampaignStore
    from discovery.datasets import load_csv
    from discovery.domain import CampaignSettings, Direction
    from discovery.ensembles import TrainingConfig
    from discovery.property_models import PropertyModelConfig, fit_property_model

    store = CampaignStore()
    pool_csv = salts_csv(tmp_path / "salts.csv", SALTS)
    pool = load_csv(pool_csv, [("k", Direction.MAXIMIZE)], composition="formula")
    CampaignAgent.from_dataset(store, "sc", pool, CampaignSettings("gp", initial=2))
    tiny = TrainingConfig(n_members=1, epochs=2, patience=2, batch_size=4, device="cpu")
    fitted = fit_property_model(SALTS[:6], np.arange(6.0), SALTS[6:], np.arange(2.0),
                                PropertyModelConfig("ensemble", tiny))  # fmt: skip
    assert fitted.ensemble is not None
    # as a campaign stores its ensemble surrogate: the ensemble alone, and its featurizer
    surrogate = ModelArtifact(
        "ensemble",
        "ab" * 32,
        {"n_train": 6},
        fitted.ensemble.to_bytes(),
        featurizer_version=fitted.featurizer_version,
    )
    version = store.save_model("sc", surrogate)
    said = f"model '{version}' is a campaign's surrogate (campaign 'sc'), not a property model"
    predicted = cli.invoke(app, ["model", "predict", version, "NaCl"])
    assert predicted.exit_code == 1 and said in " ".join(predicted.output.split())
    create = ["campaign", "create", "other", "--from-csv", str(pool_csv), "--composition",
              "formula", "--objective", "k:max", "--prior", version]  # fmt: skip
    prior = cli.invoke(app, create)
    assert prior.exit_code == 1 and said in " ".join(prior.output.split()), prior.output


def test_a_table_read_from_two_folders_is_one_model_named_by_its_absolute_path(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = salts_csv(tmp_path / "salts.csv", SALTS)
    (tmp_path / "runs").mkdir()
    train = ["model", "train", "--target", "k", "--kind", "gp", "--data"]
    monkeypatch.chdir(tmp_path)
    first = cli.invoke(app, [*train, "salts.csv"])
    assert first.exit_code == 0, first.output
    version = registered(first.output)
    metrics = show(cli, version)["metrics"]
    assert metrics["source"] == f"table:{table.resolve()}"
    assert metrics["table_sha256"] == hashlib.sha256(table.read_bytes()).hexdigest()
    monkeypatch.chdir(tmp_path / "runs")
    again = cli.invoke(app, [*train, "../salts.csv"])
    assert again.exit_code == 0, again.output
    assert f"already registered {version}" in again.output
    assert "keeps the lineage" not in again.output  # the same file: the same lineage
    # the same data in another file: the registered model, whose lineage is not this file's
    copy = tmp_path / "runs" / "copy.csv"
    copy.write_text("formula,k,note\n" + "".join(f"{f},{i + 1},x\n" for i, f in enumerate(SALTS)))
    other = cli.invoke(app, [*train, "copy.csv"])
    assert other.exit_code == 0, other.output
    text = " ".join(other.output.split())
    assert f"already registered {version}" in text
    assert f"note: {version} keeps the lineage of the training that registered it" in text
    assert "not this training's: source 'table:" in text
    assert "copy.csv'here;" in "".join(other.output.split())  # a long path wraps anywhere
    assert f"table_sha256 {metrics['table_sha256'][:12]} there" in text


def test_records_train_on_the_records_at_least_min_confidence_sure(cli: CliRunner) -> None:
    unsure = [("Nb3Ge", 23.0), ("V3Si", 17.0)]
    for material, value in [*TC, *unsure]:
        confidence = 0.1 if (material, value) in unsure else 0.9
        PropertyRecordDocument(key=material, material=material, formula=material, property="tc",
                               value=value, unit="K", confidence=confidence).save()  # fmt: skip
    train = ["model", "train", "--records", "tc", "--kind", "gp", "--min-confidence", "0.5"]
    result = cli.invoke(app, train)
    assert result.exit_code == 0, result.output
    metrics = show(cli, registered(result.output))["metrics"]
    assert len(metrics["record_ids"]) == len(TC) and metrics["min_confidence"] == 0.5
    assert "2 record(s) skipped: confidence under 0.5" in " ".join(result.output.split())
    too_sure = cli.invoke(app, [*train[:-1], "0.95"])
    assert too_sure.exit_code == 1
    assert f"{len(TC) + 2} record(s) skipped: confidence under 0.95" in too_sure.output
    for bound in ("1.5", "-0.1", "nan"):
        bad = cli.invoke(app, [*train[:-1], bound])
        assert bad.exit_code == 2 and "--min-confidence" in bad.output, bad.output
    elsewhere = cli.invoke(
        app, ["model", "train", "--data", "x.csv", "--target", "k", "--min-confidence", "0.5"]
    )
    assert elsewhere.exit_code == 1
    assert "--min-confidence: applies to --records only, not --data" in elsewhere.output


@pytest.mark.parametrize("seed", ["-1", "99999999999999999999"])
@pytest.mark.parametrize(
    "command",
    [
        ["model", "train", "--data", "x.csv", "--target", "k"],
        ["model", "train-policy"],
        ["campaign", "create", "c", "--from-olympus", "photo_pce10"],
        ["literature", "train"],
    ],
)
def test_a_seed_out_of_range_is_refused_naming_it(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, command: list[str], seed: str
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    bad = cli.invoke(app, [*command, f"--seed={seed}"])
    assert bad.exit_code == 2 and "Invalid value for '--seed'" in bad.output, bad.output
    assert ModelRecord.objects.count() == 0
