"""Campaigns driven by the ensemble and GNN surrogates, from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from db.campaigns import CampaignStore
from matloop.cli import app

# tiny models: on a busy machine, intra-op threads only wait on each other
pytestmark = pytest.mark.usefixtures("single_torch_thread")

REPO = Path(__file__).resolve().parents[1]
OLYMPUS = REPO / "matloop" / "data" / "olympus" / "photo_pce10"
BULK_MODULUS = REPO.parent / "shared" / "data" / "property" / "aflow__ael_bulk_modulus_vrh"


@pytest.fixture
def composition_pool_csv(tmp_path: Path) -> Path:
    """60 measured compositions (AFLOW bulk moduli, GPa), sodium nitride's "NaN" included."""
    if not BULK_MODULUS.is_dir():
        pytest.skip(f"{BULK_MODULUS} is not here")
    table = pd.read_csv(BULK_MODULUS / "train.csv", keep_default_na=False).head(59)
    table = pd.concat([table, pd.DataFrame({"formula": ["NaN"], "target": [60.0]})])
    path = tmp_path / "pool.csv"
    table.to_csv(path, index=False)
    return path


def _ok(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _trials(cli: CliRunner, name: str) -> list[dict]:
    return json.loads(_ok(cli, "campaign", "export", name, "--format", "json"))


def _model_rounds(trials: list[dict], surrogate: str) -> list[dict]:
    return [t for t in trials if t["strategy"] == surrogate]


@pytest.mark.parametrize("surrogate", ["gnn", "ensemble"])
def test_photo_pce10_campaign_runs_on_a_neural_surrogate(
    cli: CliRunner, mongodb_uri: str, surrogate: str
) -> None:
    create = ["campaign", "create", "opv", "--from-olympus", str(OLYMPUS), "--initial", "8"]
    _ok(cli, *create, "--strategy", "gp+qucb+iwarp+warp")
    out = _ok(cli, "campaign", "run", "opv", "--rounds", "2", "--surrogate", surrogate)
    switched = f"{surrogate}+qucb+warp"  # the campaign's acquisition kept; iwarp is GP-only
    assert f"these rounds choose with {switched}" in out
    trials = _trials(cli, "opv")
    guided = _model_rounds(trials, switched)
    assert len(guided) == 8 and len(trials) == 16  # 2 rounds of the default batch of 4
    versions = {t["model_version"] for t in guided}
    assert all(v and v.startswith(f"opv:{surrogate}:") for v in versions)
    assert len(versions) == 2  # a model per round, each trained on more data
    artifact = CampaignStore().load_model(sorted(versions)[0])
    assert artifact.kind == surrogate and artifact.metrics["n_train"] >= 8
    assert len(artifact.metrics["members"]) == 5
    for t in guided:  # polymer-blend fractions stay on the simplex
        assert sum(t[f"mat_{i}"] for i in range(1, 5)) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("surrogate", ["gnn", "ensemble", "transformer"])
def test_composition_pool_campaign_runs_on_a_neural_surrogate(
    cli: CliRunner, composition_pool_csv: Path, surrogate: str
) -> None:
    out = _ok(
        cli,
        "campaign",
        "create",
        "moduli",
        "--from-csv",
        str(composition_pool_csv),
        "--composition",
        "formula",
        "--objective",
        "target:max",
        "--surrogate",
        surrogate,
        "--initial",
        "8",
        "--batch",
        "3",
    )
    assert "60 candidates" in out and "elements as molar fractions" in out
    _ok(cli, "campaign", "run", "moduli", "--rounds", "2")
    trials = _trials(cli, "moduli")
    guided = _model_rounds(trials, surrogate)
    assert len(guided) == 6
    assert all(t["model_version"].startswith(f"moduli:{surrogate}:") for t in guided)
    elements = [k for k in trials[0] if k[0].isupper() and len(k) <= 2 and k != "NaN"]
    for t in trials:  # every candidate is a composition: fractions on the simplex
        fractions = [t[e] for e in elements]
        assert min(fractions) >= 0 and sum(fractions) == pytest.approx(1.0, abs=1e-6)
    assert len({t["candidate"] for t in trials}) == len(trials)  # never proposed twice
    artifact = CampaignStore().load_model(guided[0]["model_version"])
    assert artifact.featurizer_version and artifact.featurizer_version.startswith("composition:")


def test_gnn_refuses_a_space_without_compositions(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "process.csv"
    path.write_text(
        "temperature,time,yield\n" + "".join(f"{i},{i % 7},{i % 5}\n" for i in range(20))
    )
    _ok(cli, "campaign", "create", "proc", "--from-csv", str(path), "--objective", "yield:max")
    result = cli.invoke(app, ["campaign", "run", "proc", "--rounds", "1", "--surrogate", "gnn"])
    assert result.exit_code != 0
    assert "gnn surrogate needs a composition or mixture space" in result.output


def test_transformer_refuses_a_mixture_space(cli: CliRunner) -> None:
    _ok(cli, "campaign", "create", "opv", "--from-olympus", str(OLYMPUS), "--initial", "8")
    result = cli.invoke(
        app, ["campaign", "run", "opv", "--rounds", "2", "--surrogate", "transformer"]
    )
    assert result.exit_code != 0
    assert "transformer surrogate needs a composition space" in result.output
    assert len(_trials(cli, "opv")) == 8  # the random round ran; the refused one wrote nothing


@pytest.mark.parametrize(
    ("strategy", "said"),
    [
        ("gnn", "gnn surrogate needs a composition or mixture space"),
        ("transformer", "transformer surrogate needs a composition space"),
    ],
)
def test_a_set_surrogate_is_refused_when_the_campaign_is_created(
    cli: CliRunner, tmp_path: Path, strategy: str, said: str
) -> None:
    path = tmp_path / "process.csv"  # no composition, no mixture
    path.write_text(
        "temperature,time,yield\n" + "".join(f"{i},{i % 7},{i % 5}\n" for i in range(20))
    )
    create = ["campaign", "create", "proc", "--from-csv", str(path), "--objective", "yield:max"]
    result = cli.invoke(app, [*create, "--strategy", strategy])
    assert result.exit_code != 0 and said in result.output  # not after its random design
    assert CampaignStore().campaigns() == []


def test_unknown_surrogate_is_refused(cli: CliRunner) -> None:
    result = cli.invoke(
        app, ["campaign", "create", "x", "--from-olympus", str(OLYMPUS), "--surrogate", "svm"]
    )
    assert result.exit_code != 0 and "--surrogate: unknown 'svm'" in result.output


def test_a_literature_prior_enters_the_campaign_and_can_be_switched_off(
    cli: CliRunner, composition_pool_csv: Path, tmp_path: Path
) -> None:
    records = tmp_path / "records.csv"  # "literature" values of the same property
    table = pd.read_csv(composition_pool_csv, keep_default_na=False)
    table.assign(target=table.target * 0.9 + 5).to_csv(records, index=False)
    trained = _ok(
        cli, "model", "train", "--data", str(records), "--target", "target", "--kind", "ensemble",
        "--members", "1", "--epochs", "3",
    )  # fmt: skip
    version = next(w for w in trained.split() if w.startswith("model:ensemble:"))
    common = ["--from-csv", str(composition_pool_csv), "--composition", "formula"]
    common += ["--objective", "target:max", "--initial", "6", "--batch", "2"]
    refused = cli.invoke(app, ["campaign", "create", "bad", *common, "--prior", "model:gp:000"])
    assert refused.exit_code != 0 and "error: --prior: " in refused.output
    assert "no model version" in refused.output and "prior_model" not in refused.output
    random = [*common, "--prior", version, "--strategy", "random"]
    refused = cli.invoke(app, ["campaign", "create", "bad", *random])
    assert refused.exit_code != 0 and "no surrogate to give a prior mean" in refused.output
    assert "bad" not in _ok(cli, "campaign", "list")
    assert "predicts" not in _ok(cli, "campaign", "create", "moduli", *common, "--prior", version)
    gaps = tmp_path / "gaps.csv"  # another property, in no unit either
    table.rename(columns={"target": "gap"}).to_csv(gaps, index=False)
    other = ["--from-csv", str(gaps), "--composition", "formula", "--objective", "gap:max"]
    created = cli.invoke(app, ["campaign", "create", "gaps", *other, "--prior", version])
    noted = " ".join(created.output.split())
    assert f"note: prior {version} predicts 'target' and the objective is 'gap'" in noted
    _ok(cli, "campaign", "run", "moduli", "--rounds", "1")
    _ok(cli, "campaign", "run", "moduli", "--rounds", "2", "--prior", "none")
    trials = _trials(cli, "moduli")
    assert [t["strategy"] for t in trials[6:]] == ["gp+prior"] * 2 + ["gp"] * 2
    artifact = CampaignStore().load_model(trials[6]["model_version"])
    assert 0.0 <= artifact.metrics["prior_scale"] <= 2.0


def test_rounds_run_with_another_prior_are_traced_to_it_not_to_the_settings(
    cli: CliRunner, composition_pool_csv: Path
) -> None:
    from agents.models import register
    from discovery.ensembles import TrainingConfig
    from discovery.property_models import PropertyModelConfig, fit_property_model

    table = pd.read_csv(composition_pool_csv, keep_default_na=False).head(20)
    config = PropertyModelConfig("gp", TrainingConfig(n_members=1, epochs=3, device="cpu"))
    formulas = list(table.formula)
    old, new = (  # two "literature" models of the same property
        register(fit_property_model(formulas, table.target * a + b, [], np.zeros(0), config), {}, h)
        for a, b, h in ((0.9, 5.0, "c" * 64), (1.1, -3.0, "d" * 64))
    )
    common = ["--from-csv", str(composition_pool_csv), "--composition", "formula"]
    common += ["--objective", "target:max", "--initial", "6", "--batch", "2"]
    _ok(cli, "campaign", "create", "moduli", *common, "--prior", old)
    _ok(cli, "campaign", "run", "moduli", "--rounds", "1")
    _ok(cli, "campaign", "run", "moduli", "--rounds", "2", "--prior", new)
    trials = _trials(cli, "moduli")[6:]
    assert [t["strategy"] for t in trials] == ["gp+prior"] * 4  # the strategy stays as it was
    store = CampaignStore()
    named = [store.load_model(t["model_version"]).metrics.get("prior_model") for t in trials]
    assert named == [old] * 2 + [new] * 2
    shown = json.loads(_ok(cli, "campaign", "show", "moduli", "--json"))
    assert shown["settings"]["prior_model"] == old  # these rounds only: settings unchanged


def test_show_tells_how_a_generated_pool_was_made_and_which_prior_shapes_it(
    cli: CliRunner,
) -> None:
    from agents.models import register
    from db.materials import add_material
    from discovery.ensembles import TrainingConfig
    from discovery.property_models import PropertyModelConfig, fit_property_model

    formulas = ["TiO2", "ZrO2", "TiN", "ZrN", "TiC", "ZrC"] * 2
    values = np.linspace(100.0, 250.0, len(formulas))
    config = PropertyModelConfig("ensemble", TrainingConfig(n_members=1, epochs=2, device="cpu"))
    model = fit_property_model(formulas, values, formulas[:2], values[:2], config)
    version = register(model, {}, "ef" * 32, {"unit": "GPa"})
    for known in ("CO", "CN", "TiO2"):  # TiO2 is off the grid of tenths: not in the pool anyway
        add_material(known)
    args = ["campaign", "create", "hard", "--elements", "Ti,Zr,O,N,C", "--max-elements", "3"]
    args += ["--grid", "10", "--charge-balanced", "--objective", "bulk:max:GPa"]
    _ok(cli, *args, "--prior", version)
    shown = " ".join(_ok(cli, "campaign", "show", "hard").split())  # rich wraps long lines
    assert f"strategy=gp+prior prior={version} rounds=0" in shown  # as its trials name it
    assert (
        "pool: 248 compositions of Ti,Zr,O,N,C, 2 to 3 elements, grid 10, charge balanced; "
        "2 known left out" in shown
    )
    data = json.loads(_ok(cli, "campaign", "show", "hard", "--json"))
    assert data["settings"]["prior_model"] == version
    assert (data["pool_size"], data["source"]) == (248, "generated")
    assert data["pool_recipe"] == {
        "elements": ["Ti", "Zr", "O", "N", "C"],
        "max_elements": 3,
        "min_elements": 2,
        "charge_balanced": True,
        "grid": 10,
        "substitute_from": [],
        "threshold": None,
        "known_left_out": 2,
    }


def test_a_recipe_records_the_most_elements_as_applied(cli: CliRunner) -> None:
    args = ["campaign", "create", "e1", "--elements", "Li,Fe,O", "--max-elements", "5"]
    _ok(cli, *args, "--grid", "4", "--objective", "gap:max:eV")
    data = json.loads(_ok(cli, "campaign", "show", "e1", "--json"))
    assert data["pool_recipe"]["max_elements"] == 3  # three elements: no pool holds five
    assert "at most 5" not in " ".join(_ok(cli, "campaign", "show", "e1").split())


def test_show_tells_which_formulas_a_substituted_pool_comes_from(cli: CliRunner) -> None:
    grid = ["--elements", "Sr,Ba,Ca,Ti,Zr,O", "--max-elements", "3", "--objective", "g:max"]
    _ok(cli, "campaign", "create", "swaps", *grid, "--substitute-from", "STO")
    recipe = json.loads(_ok(cli, "campaign", "show", "swaps", "--json"))["pool_recipe"]
    assert recipe["substitute_from"] == ["SrTiO3"] and recipe["grid"] is None  # STO as read
    assert recipe["charge_balanced"] is True and recipe["threshold"] == 1e-3
    assert recipe["known_left_out"] == 1  # SrTiO3 itself
    shown = " ".join(_ok(cli, "campaign", "show", "swaps").split())
    assert "strategy=gp rounds=0" in shown and "prior=" not in shown
    assert "substitutions of SrTiO3 (probability above 0.001), charge balanced" in shown
