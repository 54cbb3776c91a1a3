"""``matloop lineage`` against a real SecantusDB: a stored chain walked both ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from db import CampaignStore
from db.lineage import lineage_of_model, lineage_of_paper, lineage_of_trial
from db.literature import LiteratureStore
from matloop.cli import app
from tests.lineage_chain import CAB6, CAMPAIGN, PAPER_A, PAPER_B, Chain, build_chain, stated

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture
def chain(cli: CliRunner, store: CampaignStore, tmp_path: Path) -> Chain:
    return build_chain(store, tmp_path)


def said(cli: CliRunner, *args: str, code: int = 0) -> str:
    """The output of ``matloop ARGS`` (exit status ``code``), its lines' spaces collapsed."""
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return "\n".join(" ".join(line.split()) for line in result.output.splitlines())


def test_a_trial_is_traced_back_to_its_papers(cli: CliRunner, chain: Chain) -> None:
    text = said(cli, "lineage", "trial", CAMPAIGN, str(chain.guided.id))
    assert f"campaign {CAMPAIGN} (active), strategy gp, prior model {chain.prior}" in text
    assert f"trial {chain.guided.id}: {chain.guided.label}, batch b0001 (#2), completed" in text
    assert f"strategy gp+prior, model {chain.model}," in text and "claimed by xrd-1" in text
    assert "measurement: tc=" in text and "(source xrd-1, key lookup:" in text
    assert f"proposed by model {chain.model} (gp, fitted on 2 trial(s))" in text
    assert f"prior mean: {chain.prior}" in text
    assert f"prior model {chain.prior} (gp, records:tc, unit K," in text
    assert "trained on 7 records: 7 still stored, 0 gone" in text
    assert f"doi:{PAPER_A[0]} {PAPER_A[1]} (2001), doi {PAPER_A[0]}" in text
    assert f"doi:{PAPER_B[0]} {PAPER_B[1]} (2005), doi {PAPER_B[0]}" in text
    as_json = json.loads(said(cli, "lineage", "trial", CAMPAIGN, str(chain.guided.id), "--json"))
    assert as_json == lineage_of_trial(CAMPAIGN, str(chain.guided.id))
    key = f"lookup:{chain.guided.id}"
    by_key = json.loads(said(cli, "lineage", "measurement", CAMPAIGN, key, "--json"))
    assert by_key == as_json
    random = said(cli, "lineage", "trial", CAMPAIGN, str(chain.random.id))
    assert "model -," in random and "note: trial" in random and "proposed by no model" in random


def test_a_paper_and_a_model_are_followed_forward(cli: CliRunner, chain: Chain) -> None:
    text = said(cli, "lineage", "paper", PAPER_A[0].upper())
    assert f"paper doi:{PAPER_A[0]}: {PAPER_A[1]} (2001)" in text
    assert "records read in it: 4" in text and "MgB2 tc 39 K" in text
    assert (
        f"property models trained on its records: 1\n{chain.prior} (gp, records:tc, 7 records"
        in (text)
    )
    assert f"{CAMPAIGN} (active): 1 model(s), 1 trial(s) (1 completed)" in text
    assert "trials they proposed: 1, 1 measured" in text
    assert f"{CAMPAIGN} b0001 {chain.guided.id} {chain.guided.label} gp+prior completed tc=" in text
    as_json = json.loads(said(cli, "lineage", "paper", f"doi:{PAPER_A[0]}", "--json"))
    assert as_json == lineage_of_paper(PAPER_A[0])  # the API's page
    model = said(cli, "lineage", "model", chain.prior, "--limit", "1")
    assert f"model {chain.prior} (gp, records:tc, unit K," in model
    assert "campaigns whose models took it as their prior mean: 1" in model
    own = said(cli, "lineage", "model", chain.model)  # a campaign's model: the trial it proposed
    assert f"fitted on 2 trial(s) of its campaign\nprior mean: {chain.prior}" in own
    assert f"prior model {chain.prior} (gp, records:tc, unit K," in own
    assert f"model {chain.model} (gp, campaign {CAMPAIGN}," in own and "its campaign: 1" in own
    assert f"{CAMPAIGN} b0001 {chain.guided.id}" in own
    assert "trials they proposed: 1, 1 measured" in model
    page = json.loads(said(cli, "lineage", "model", chain.prior, "--offset", "3", "--json"))
    assert page == lineage_of_model(chain.prior, offset=3)
    assert page["trials"]["items"] == [] and page["trials"]["total"] == 1
    past = said(cli, "lineage", "model", chain.prior, "--offset", "3")
    assert "trials they proposed: 1, 1 measured; none past --offset 3" in past


def test_rejected_records_and_a_removed_paper_are_said(cli: CliRunner, chain: Chain) -> None:
    literature = LiteratureStore()
    literature.reject_record(chain.record("Nb3Sn"), "another alloy's", "curator")
    literature.remove_paper(PAPER_B[0])
    text = said(cli, "lineage", "trial", CAMPAIGN, str(chain.guided.id))
    assert "trained on 7 records: 4 still stored (1 rejected by a curator since), 3 gone" in text
    assert f"rejected: {chain.record('Nb3Sn')}" in text
    assert f"doi:{PAPER_B[0]} (no longer stored)" in text
    assert "note: 3 of the 7 records" in text and "literature remove" in text
    removed = said(cli, "lineage", "paper", f"https://doi.org/{PAPER_B[0]}")
    assert f"paper doi:{PAPER_B[0]} (Cuprates and A15 superconductors): no longer stored" in (
        removed
    )
    assert "records read in it: 0" in removed and "trials they proposed: 1, 1 measured" in removed
    assert "records read in it alone, removed with it: 3" in removed and "V3Si" in removed
    assert "note: paper" in removed
    forward = said(cli, "lineage", "paper", PAPER_A[0])
    assert "records read in it: 4, 1 rejected by a curator" in forward
    assert "Nb3Sn tc 18.3 K (rejected)" in forward


def test_unknown_things_are_one_error_line_naming_them(cli: CliRunner, chain: Chain) -> None:
    trial = str(chain.guided.id)
    for args, message in [
        (("trial", "nope", trial), "error: no campaign named 'nope'"),
        (("trial", CAMPAIGN, "0" * 24), f"error: trial {'0' * 24} not found in campaign"),
        (("trial", CAMPAIGN, "xyz"), "error: TRIAL_ID: 'xyz' is not a valid id"),
        (("measurement", CAMPAIGN, "k1"), "error: measurement: no result with idempotency key"),
        (("paper", "10.1/none"), "error: paper: no paper '10.1/none'"),
        (("model", "model:gp:000000000000"), "error: no model version 'model:gp:000000000000'"),
    ]:
        text = said(cli, "lineage", *args, code=1)
        assert message in text, args
        assert "Traceback" not in text


def test_readings_are_shown_as_stated_with_their_conditions(cli: CliRunner) -> None:
    LiteratureStore().ingest(stated("10.5555/cab6", "Borides", 2020, CAB6))
    summary = said(cli, "lineage", "material", "CaB6")
    assert "tc: 4 record(s) from 1 paper(s), 80 to 90, < 2, > 100 K" in summary
    assert "tc at pressure_gpa=10: 1 record(s) from 1 paper(s), 33 K" in summary
    listed = said(cli, "lineage", "paper", "10.5555/cab6")
    for reading in ("tc < 2 K", "tc 87 to 90 K", "tc 33 K at pressure_gpa=10", "tc > 100 K"):
        assert reading in listed


def test_the_lineage_group_lists_its_commands(cli: CliRunner) -> None:
    text = said(cli, "lineage", "--help")
    for command in ("trial", "measurement", "paper", "model"):
        assert command in text


def test_a_material_is_gathered_from_papers_and_campaigns(cli: CliRunner, chain: Chain) -> None:
    text = said(cli, "lineage", "material", "MgB2")
    assert "material MgB2 (stored as B2Mg)" in text and "registered: no" in text
    assert "literature records: 1" in text and "tc: 1 record(s) from 2 paper(s), 39 K" in text
    made = said(cli, "lineage", "material", str(chain.guided.label))
    assert f"{CAMPAIGN} (active): 1 completed" in made
    assert f"trials of it: 1, 1 measured\n{CAMPAIGN} b0001 {chain.guided.id}" in made
    missing = said(cli, "lineage", "material", "Fe2O3", code=1)
    assert "material: nothing stored of 'Fe2O3'" in missing


def test_a_campaign_given_a_stale_prior_says_so(
    cli: CliRunner, chain: Chain, tmp_path: Path
) -> None:
    def create(name: str) -> str:
        pool = str(tmp_path / "borides.csv")
        options = ["--composition", "formula", "--objective", "tc:max:K", "--prior", chain.prior]
        return said(cli, "campaign", "create", name, "--from-csv", pool, *options)

    assert "learned from 7" not in create("again")  # nothing changed since it was trained
    LiteratureStore().reject_record(chain.record("Nb3Sn"), "another alloy's", "curator")
    LiteratureStore().remove_paper(PAPER_B[0])
    assert (
        f"note: prior {chain.prior} learned from 7 literature records, 1 rejected by a "
        "curator and 3 gone with their papers since"
    ) in create("again2")


def test_a_measurement_is_shown_with_its_units() -> None:
    from matloop.lineage_cli import named_values

    assert named_values({"tc": 85.0, "cost": 3.0}, {"tc": "K"}) == "tc=85 K, cost=3"
    assert named_values({}, None) == "-"


@pytest.mark.parametrize(
    ("scale", "shown"),
    [
        (0.8, "prior mean: model:gp:1a2b (scale 0.8)"),
        (
            0.0,
            "prior mean: model:gp:1a2b (scale 0: the measurements gave it no weight in this fit)",
        ),
        (None, "prior mean: model:gp:1a2b"),  # fitted before scales were recorded
    ],
)
def test_a_prior_mean_is_shown_with_the_weight_its_fit_gave_it(
    scale: float | None, shown: str
) -> None:
    from matloop.lineage_cli import _prior_mean

    assert _prior_mean({"prior_model": "model:gp:1a2b", "prior_scale": scale}) == shown
