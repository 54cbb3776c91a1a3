"""``matloop model``: scoring a held-out file, listing, small validation sets, messages."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from db.documents import ModelRecord
from discovery.domain import Measurement, ModelArtifact
from matloop.cli import app
from tests.test_model_cli import SALTS, registered, salts_csv

# tiny models: on a busy machine, intra-op threads only wait on each other
pytestmark = pytest.mark.usefixtures("single_torch_thread")

REPO = Path(__file__).resolve().parents[1]
BULK = REPO.parent / "shared" / "data" / "property" / "aflow__ael_bulk_modulus_vrh"
HELD_OUT = ["BaO", "LiCl", "NaBr", "KF", "CsCl"]


def one_line(output: str) -> str:
    return " ".join(output.split())  # Rich wraps long lines


def train_gp(cli: CliRunner, tmp_path: Path, *options: str) -> str:
    """A GP on SALTS (target ``k``, 6 train / 2 validation), registered: its version."""
    table = salts_csv(tmp_path / "salts.csv", SALTS)
    result = cli.invoke(app, ["model", "train", "--data", str(table), "--target", "k",
                              "--kind", "gp", "--val-fraction", "0.25", *options])  # fmt: skip
    assert result.exit_code == 0, result.output
    return registered(result.output)


def held_out_csv(path: Path, values: list[float], column: str = "k") -> Path:
    rows = "".join(f"{f},{v}\n" for f, v in zip(HELD_OUT, values, strict=True))
    path.write_text(f"formula,{column}\n{rows}")
    return path


def predicted_means(cli: CliRunner, version: str) -> list[dict[str, Any]]:
    result = cli.invoke(app, ["model", "predict", version, *HELD_OUT, "--json"])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


# -- model eval: a registered model scored on a held-out file ------------------------------


def test_eval_scores_a_held_out_file_as_predict_predicts_it(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # the file's path, however long, on one line
    version = train_gp(cli, tmp_path, "--unit", "GPa")
    values = [3.0, 5.0, 2.0, 4.0, 6.0]
    test = held_out_csv(tmp_path / "test.csv", values)
    result = cli.invoke(app, ["model", "eval", version, str(test), "--json"])  # target: k
    assert result.exit_code == 0, result.output
    scored = json.loads(result.stdout)
    rows = predicted_means(cli, version)
    errors = [v - r["mean"] for v, r in zip(values, rows, strict=True)]
    assert scored["n"] == 5 and scored["unit"] == "GPa" and scored["target"] == "k"
    assert scored["mae"] == pytest.approx(sum(map(abs, errors)) / 5)
    assert scored["rmse"] == pytest.approx(math.sqrt(sum(e * e for e in errors) / 5))
    spread = sum((v - sum(values) / 5) ** 2 for v in values)
    assert scored["r2"] == pytest.approx(1 - sum(e * e for e in errors) / spread)
    nll = [0.5 * (e / r["std"]) ** 2 + math.log(r["std"]) + 0.5 * math.log(2 * math.pi)
           for e, r in zip(errors, rows, strict=True)]  # fmt: skip
    assert scored["nll"] == pytest.approx(sum(nll) / 5)
    inside = [abs(e) <= 1.959964 * r["std"] for e, r in zip(errors, rows, strict=True)]
    assert scored["coverage_95"] == pytest.approx(sum(inside) / 5)

    text = cli.invoke(app, ["model", "eval", version, str(test)])
    assert text.exit_code == 0, text.output
    said = one_line(text.output)
    assert f"{version} on {test}: 5 material(s), target 'k' (GPa)" in said
    assert f"MAE {scored['mae']:.4g} GPa, RMSE {scored['rmse']:.4g} GPa, R^2 " in said
    assert "NLL" in said and "95% coverage" in said
    assert "rest on 5 rows" in said  # a handful of rows: rough
    trained_on = cli.invoke(app, ["model", "eval", version, str(tmp_path / "salts.csv")])
    assert trained_on.exit_code == 0, trained_on.output
    assert f"is the file {version} was trained on: its scores are not held out" in one_line(
        trained_on.output
    )
    assert "rows scored are materials of" not in one_line(result.output)  # none in common
    part = tmp_path / "part.csv"  # three of the training rows, and a held-out one
    part.write_text("".join((tmp_path / "salts.csv").read_text().splitlines(True)[:4]) + "BaO,3\n")
    some = one_line(cli.invoke(app, ["model", "eval", version, str(part)]).output)
    assert (
        f"3 of the 4 rows scored are materials of {tmp_path / 'salts.csv'}, which {version} "
        "was trained on: their scores are not held out"
    ) in some
    (tmp_path / "salts.csv").write_text("formula,k\n")  # changed since: no longer known
    changed = one_line(cli.invoke(app, ["model", "eval", version, str(part)]).output)
    assert "rows scored are materials of" not in changed


def test_eval_reads_the_training_file_with_the_columns_it_was_trained_on(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    table = salts_csv(tmp_path / "salts.csv", SALTS)
    renamed = tmp_path / "renamed.csv"  # trained on a column named otherwise
    renamed.write_text(table.read_text().replace("formula,", "composition,", 1))
    result = cli.invoke(app, ["model", "train", "--data", str(renamed), "--target", "k",
                              "--formula-column", "composition", "--kind", "gp",
                              "--val-fraction", "0.25"])  # fmt: skip
    assert result.exit_code == 0, result.output
    version = registered(result.output)
    part = tmp_path / "part.csv"  # two training rows, under the eval's own column name
    part.write_text("".join(table.read_text().splitlines(True)[:3]))
    said = one_line(cli.invoke(app, ["model", "eval", version, str(part)]).output)
    assert f"2 of the 2 rows scored are materials of {renamed}" in said


def test_eval_writes_predictions_and_converts_a_declared_unit(
    cli: CliRunner, tmp_path: Path
) -> None:
    version = train_gp(cli, tmp_path, "--unit", "GPa")
    in_gpa = [3.0, 5.0, 2.0, 4.0, 6.0]
    test = held_out_csv(tmp_path / "mpa.csv", [1000 * v for v in in_gpa], column="bulk")
    out = tmp_path / "out" / "predictions.csv"
    result = cli.invoke(app, ["model", "eval", version, str(test), "--target", "bulk",
                              "--unit", "MPa", "--predictions", str(out), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    scored = json.loads(result.stdout)
    rows = predicted_means(cli, version)
    expected = sum(abs(v - r["mean"]) for v, r in zip(in_gpa, rows, strict=True)) / 5
    assert scored["mae"] == pytest.approx(expected) and scored["unit"] == "GPa"
    with out.open() as handle:
        written = list(csv.DictReader(handle))
    assert list(written[0]) == ["data_row", "formula", "target", "mean", "std"]
    assert [r["formula"] for r in written] == HELD_OUT
    assert [float(r["target"]) for r in written] == pytest.approx(in_gpa)
    assert [float(r["mean"]) for r in written] == pytest.approx([r["mean"] for r in rows])
    other = cli.invoke(app, ["model", "eval", version, str(test), "--target", "bulk",
                             "--unit", "K"])  # fmt: skip
    assert other.exit_code == 1
    assert "--unit: 'K' cannot be converted to the model's unit 'GPa'" in one_line(other.output)


def test_eval_reads_the_shared_test_split(cli: CliRunner, tmp_path: Path) -> None:
    if not (BULK / "test.csv").is_file():
        pytest.skip(f"property data not on this machine: {BULK}")
    train = tmp_path / "train.csv"
    train.write_text("\n".join((BULK / "train.csv").read_text().splitlines()[:31]) + "\n")
    test = tmp_path / "test.csv"
    test.write_text("\n".join((BULK / "test.csv").read_text().splitlines()[:21]) + "\n")
    trained = cli.invoke(app, ["model", "train", "--data", str(train), "--target", "target",
                               "--kind", "gp", "--unit", "GPa"])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    result = cli.invoke(app, ["model", "eval", registered(trained.output), str(test)])
    assert result.exit_code == 0, result.output
    said = one_line(result.output)
    assert "20 material(s), target 'target' (GPa)" in said and "MAE" in said
    assert "rest on" not in said  # 20 rows: no caveat


def test_predict_points_a_table_at_eval(cli: CliRunner, tmp_path: Path) -> None:
    version = train_gp(cli, tmp_path)
    result = cli.invoke(app, ["model", "predict", version, "NaCl", "data/test.csv"])
    assert result.exit_code == 1
    assert (
        f"material 2: 'data/test.csv' is a CSV file, not a formula; `matloop model eval "
        f"{version} data/test.csv` scores a model on a table"
    ) in one_line(result.output)


def test_eval_names_the_option_file_and_row_of_bad_input(cli: CliRunner, tmp_path: Path) -> None:
    version = train_gp(cli, tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("formula,k\nNaCl,1\nKCl,hard\n")
    cases = [
        ([str(bad)], f"{bad}: 'k' in data row 2: 'hard' is not a number"),
        ([str(bad), "--target", "y"], f"{bad}: target column 'y' not found"),
        ([str(tmp_path / "none.csv")], "none.csv: not found"),
        ([str(bad), "--unit", "GPa"], f"--unit: model {version!r} records no unit"),
        ([str(bad), "--formula-column", "f"], f"{bad}: formula column 'f' not found"),
        ([str(bad), "--predictions", str(bad)], f"--predictions: {bad} is the file scored"),
        ([str(bad), "--predictions", str(tmp_path)], f"--predictions: {tmp_path} is a folder"),
    ]
    for arguments, message in cases:
        result = cli.invoke(app, ["model", "eval", version, *arguments])
        assert result.exit_code == 1, result.output
        assert message in one_line(result.output) and "Traceback" not in result.output


def test_eval_refuses_what_predict_refuses_with_its_words(cli: CliRunner, tmp_path: Path) -> None:
    from agents.policies import register_policy
    from db.literature import LiteratureStore
    from discovery.policy import AcquisitionPolicy, PolicyTrainingConfig, TrainedPolicy

    config = PolicyTrainingConfig(iterations=3, tasks=1, rollouts=1, pool=10, horizon=3)
    policy = register_policy(TrainedPolicy(AcquisitionPolicy(config.hidden), config))
    tagger = LiteratureStore().save_tagger(ModelArtifact("tagger-supermat", "a" * 64, {}, b"w"))
    test = held_out_csv(tmp_path / "test.csv", [1.0] * 5)
    for version in (policy, tagger, "model:gp:000"):
        predicted = cli.invoke(app, ["model", "predict", version, "NaCl"])
        scored = cli.invoke(app, ["model", "eval", version, str(test)])
        assert predicted.exit_code == scored.exit_code == 1
        assert scored.output == predicted.output  # one line, the same words


# -- model list: newest first, filtered, limited, readable at 80 columns -------------------


def digest(n: int) -> str:
    """A data hash of its own for each n (versions keep its first 12 digits)."""
    return hashlib.sha256(str(n).encode()).hexdigest()


def fake_property_model(n: int, **metrics: Any) -> str:
    """A property model's registry record (weights that are no model: only listed)."""
    from db.models import save_model_record

    stored = {"target": "k", "n_train": 7, "n_val": 1, "val_mae": 0.5, **metrics}
    artifact = ModelArtifact("gp", digest(n), stored, b"w", featurizer_version="composition:1")
    return save_model_record(artifact)


@pytest.fixture
def registry(tmp_path: Path) -> dict[str, list[str]]:
    """Four property models, then two surrogates of campaign 'salts-campaign', oldest first."""
    from agents import CampaignAgent
    from db import CampaignStore
    from discovery.datasets import load_csv
    from discovery.domain import CampaignSettings, Direction

    models = [fake_property_model(n) for n in range(1, 5)]
    store = CampaignStore()
    pool = load_csv(salts_csv(tmp_path / "pool.csv", SALTS), [("k", Direction.MAXIMIZE)],
                    composition="formula")  # fmt: skip
    CampaignAgent.from_dataset(store, "salts-campaign", pool, CampaignSettings("gp", initial=2))
    surrogates = [
        store.save_model("salts-campaign", ModelArtifact("gp", digest(n), {"n_train": 4}, b"w"))
        for n in (7, 8)
    ]
    collection = ModelRecord._get_collection()
    for minute, version in enumerate([*models, *surrogates]):  # one a minute, in this order
        created = datetime(2030, 1, 1, 0, minute, tzinfo=UTC)
        collection.update_one({"version": version}, {"$set": {"created_at": created}})
    return {"models": models, "surrogates": surrogates}


def listed(cli: CliRunner, *options: str) -> list[str]:
    result = cli.invoke(app, ["model", "list", "--json", *options])
    assert result.exit_code == 0, result.output
    return [row["version"] for row in json.loads(result.stdout)]


def test_model_list_is_newest_first_limited_and_filtered(
    cli: CliRunner, registry: dict[str, list[str]]
) -> None:
    models, surrogates = registry["models"], registry["surrogates"]
    newest_first = [*surrogates[::-1], *models[::-1]]
    assert listed(cli) == newest_first
    assert listed(cli, "--limit", "2") == newest_first[:2]
    assert listed(cli, "--limit", "0") == newest_first  # 0: every model
    assert listed(cli, "--campaign", "salts-campaign") == surrogates[::-1]
    assert listed(cli, "--property-only") == models[::-1]
    assert listed(cli, "--property-only", "--limit", "1") == models[-1:]
    table = cli.invoke(app, ["model", "list", "--limit", "2"])
    assert table.exit_code == 0, table.output
    assert "2 of 6 models (newest first); 4 more: --limit 0 lists them all" in one_line(
        table.output
    )
    more = cli.invoke(app, ["model", "list", "--limit", "2", "--json"])
    assert "4 more" not in more.stdout and "4 more" in more.stderr  # JSON stays JSON
    ghost = cli.invoke(app, ["model", "list", "--campaign", "ghost"])
    assert ghost.exit_code == 1 and "--campaign: no campaign named 'ghost'" in ghost.output
    both = cli.invoke(app, ["model", "list", "--campaign", "salts-campaign", "--property-only"])
    assert both.exit_code == 1 and "--property-only: " in both.output


def test_model_list_property_only_hides_policies_and_taggers(cli: CliRunner) -> None:
    from db.literature import LiteratureStore

    model = fake_property_model(1)
    LiteratureStore().save_tagger(ModelArtifact("tagger-supermat", "a" * 64, {}, b"w"))
    assert listed(cli, "--property-only") == [model]


def test_property_kinds_are_the_property_models(cli: CliRunner) -> None:
    from discovery.property_models import KINDS
    from matloop.model_cli import PROPERTY_KINDS

    assert set(PROPERTY_KINDS) == set(KINDS)  # written out: `model list` loads no torch


def test_model_list_tells_models_apart_by_file_unit_and_objective(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents import CampaignAgent
    from db import CampaignStore
    from discovery.datasets import load_csv
    from discovery.domain import CampaignSettings, Direction

    monkeypatch.setenv("COLUMNS", "200")
    fake_property_model(1, unit="GPa", source=f"table:{tmp_path / 'moduli.csv'}")
    fake_property_model(2, unit="eV")
    table = cli.invoke(app, ["model", "list"]).output
    (gpa,) = [line for line in table.splitlines() if "moduli.csv" in line]
    assert "k (moduli.csv)" in gpa and "0.5 GPa (n=1)" in gpa
    assert "0.5 eV (n=1)" in table
    pool = load_csv(salts_csv(tmp_path / "pool.csv", SALTS), [("k", Direction.MAXIMIZE)],
                    composition="formula")  # fmt: skip
    settings = CampaignSettings("gp", initial=4, batch_size=1)
    agent = CampaignAgent.from_dataset(CampaignStore(), "salts", pool, settings)
    for _ in range(5):  # four random, then the model's: its surrogate is registered
        [trial] = agent.propose(1)
        agent.observe([Measurement(trial.id, {"k": float(len(trial.id))}, f"m:{trial.id}")])
    [surrogate] = json.loads(
        cli.invoke(app, ["model", "list", "--campaign", "salts", "--json"]).output
    )
    assert surrogate["metrics"]["objective"] == "k"  # the column a campaign's model names


def test_model_list_fits_80_columns(
    cli: CliRunner, registry: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = cli.invoke(app, ["model", "list"])
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    assert all(len(line) <= 80 for line in result.output.splitlines())
    for version in registry["models"]:  # whole, to copy, beside its MAE and n_val
        (row,) = [line for line in result.output.splitlines() if f" {version} " in line]
        assert "0.5 (n=1)" in row
    for version in registry["surrogates"]:
        assert sum(f" {version} " in line for line in result.output.splitlines()) == 1
    monkeypatch.setenv("COLUMNS", "200")  # wide: kind and campaign have columns too
    wide = cli.invoke(app, ["model", "list"])
    assert "salts-campaign │" in wide.output and "created" in wide.output


# -- validation metrics of a handful of rows -----------------------------------------------


def test_validation_metrics_of_few_rows_say_so(cli: CliRunner, tmp_path: Path) -> None:
    table = salts_csv(tmp_path / "salts.csv", SALTS)
    result = cli.invoke(app, ["model", "train", "--data", str(table), "--target", "k",
                              "--kind", "gp"])  # fmt: skip
    assert result.exit_code == 0, result.output
    said = one_line(result.output)
    assert "7 train / 1 validation" in said
    assert "note: the validation metrics rest on 1 row and are rough" in said
    assert "a 95% coverage of one row can only be 0 or 1" in said
    version = registered(result.output)
    shown = one_line(cli.invoke(app, ["model", "show", version]).output)
    assert "val_mae: " in shown and "(n_val 1)" in shown
    assert "the validation metrics rest on 1 row and are rough" in shown
    row = one_line(cli.invoke(app, ["model", "list"]).output)
    assert "(n=1)" in row


def test_validation_metrics_of_ten_rows_have_no_caveat(cli: CliRunner, tmp_path: Path) -> None:
    formulas = [f"Na{i}Cl" for i in range(1, 21)]
    table = salts_csv(tmp_path / "many.csv", formulas)
    result = cli.invoke(app, ["model", "train", "--data", str(table), "--target", "k",
                              "--kind", "gp", "--val-fraction", "0.5"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "10 train / 10 validation" in result.output and "rough" not in result.output


# -- messages name the command-line options ------------------------------------------------


@pytest.fixture
def salts_campaign(tmp_path: Path) -> str:
    from agents import CampaignAgent, LookupOracle
    from db import CampaignStore
    from discovery.datasets import load_csv
    from discovery.domain import CampaignSettings, Direction

    store = CampaignStore()
    pool = load_csv(salts_csv(tmp_path / "salts.csv", SALTS), [("k", Direction.MAXIMIZE)],
                    composition="formula")  # fmt: skip
    agent = CampaignAgent.from_dataset(store, "sc", pool, CampaignSettings("random", initial=8))
    agent.observe(LookupOracle.from_candidates(store.candidates("sc")).evaluate(agent.propose()))
    return "sc"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--objective", "nope"], "--objective: campaign 'sc' has no objective 'nope': ['k']"),
        (["--kind", "crystal-gnn"], "--kind: crystal-gnn needs structures; a campaign's"),
    ],
)
def test_campaign_training_errors_name_the_option(
    cli: CliRunner, salts_campaign: str, options: list[str], message: str
) -> None:
    result = cli.invoke(app, ["model", "train", "--campaign", salts_campaign, *options])
    assert result.exit_code == 1, result.output
    assert message in one_line(result.output)
    assert ModelRecord.objects.count() == 0


def test_records_crystal_gnn_names_the_kind_option(cli: CliRunner) -> None:
    result = cli.invoke(app, ["model", "train", "--records", "tc", "--kind", "crystal-gnn"])
    assert result.exit_code == 1
    assert "--kind: crystal-gnn needs structures; literature records have none" in result.output


# -- a learned policy worse than expected improvement is not recommended ------------------


@pytest.mark.parametrize(("regret", "recommended"), [(0.2440, False), (0.0100, True)])
def test_train_policy_recommends_only_a_policy_that_beats_ei(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, regret: float, recommended: bool
) -> None:
    metrics = {"seconds": 3.0, "held_out_regret": regret, "held_out_regret_ei": 0.0183}
    stored = {"version": "policy:rl-policy:abc", "metrics": metrics}
    monkeypatch.setattr("agents.policies.registered_policy", lambda *settings: stored)
    result = cli.invoke(app, ["model", "train-policy", "--iterations", "1", "--horizon", "3"])
    assert result.exit_code == 0, result.output
    said = one_line(result.output)
    assert f"mean held-out regret {regret:.4f}" in said
    assert ("use --acquisition rl:policy:rl-policy:abc" in said) is recommended
    warned = (
        f"warning: its held-out regret {regret:.4f} is worse than expected improvement's "
        "0.0183: it is not recommended; keep an expected-improvement acquisition (the "
        "default qlognei, or --acquisition qlogei)"
    )
    assert (warned in said) is not recommended


# -- rows wider than the header ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "row"),
    [
        ("formula,k\n" + "".join(f"{f},1,2\n" for f in SALTS), 1),  # every row
        ("formula,k\n" + "".join(f"{f},1\n" for f in SALTS[:4]) + "KBr,1,2\nSrO,1\n", 5),
        ("formula,k\nNaCl,1\n\nKCl,2\nLiF,3,\n", 3),  # blank lines are no rows
    ],
)
def test_a_row_wider_than_the_header_is_named(
    cli: CliRunner, tmp_path: Path, text: str, row: int
) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(text)
    result = cli.invoke(app, ["model", "train", "--data", str(path), "--target", "k"])
    assert result.exit_code == 1, result.output
    said = one_line(result.output)
    assert f"{path}: data row {row} has 3 cells, the header has 2" in said
    assert "tokenizing" not in said and "C error" not in said
