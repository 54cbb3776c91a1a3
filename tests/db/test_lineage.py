"""db.lineage: a real chain (papers, records, a prior, a campaign) walked both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
from bson import ObjectId

from agents import CampaignAgent, LookupOracle
from db import CampaignNotFoundError, CampaignStore, TrialNotFoundError
from db.documents import ModelRecord
from db.lineage import (
    lineage_of_material,
    lineage_of_measurement,
    lineage_of_model,
    lineage_of_paper,
    lineage_of_trial,
    property_model_lineage,
)
from db.literature import LiteratureStore, PaperDocument, PropertyRecordDocument
from db.materials import add_material
from db.models import save_model_record
from discovery.domain import ModelArtifact
from tests.lineage_chain import (
    CAB6,
    CAMPAIGN,
    PAPER_A,
    PAPER_B,
    Chain,
    build_chain,
    extraction,
    stated,
)

pytestmark = pytest.mark.usefixtures("single_torch_thread")

KEY_A, KEY_B = f"doi:{PAPER_A[0]}", f"doi:{PAPER_B[0]}"


@pytest.fixture
def chain(store: CampaignStore, tmp_path: Path) -> Chain:
    return build_chain(store, tmp_path)


def test_a_guided_trial_walks_back_to_the_papers_its_prior_learned_from(chain: Chain) -> None:
    found = lineage_of_trial(CAMPAIGN, str(chain.guided.id))
    assert found["campaign"]["name"] == CAMPAIGN and found["campaign"]["prior_model"] == chain.prior
    trial = found["trial"]
    assert trial["id"] == chain.guided.id and trial["strategy"] == "gp+prior"
    assert trial["model_version"] == chain.model and trial["batch"] == "b0001"
    assert trial["claimed_by"] == "xrd-1" and trial["status"] == "completed"
    assert trial["formula"] == chain.guided.label and trial["parameters"]  # what to make
    (measured,) = found["measurements"]
    assert measured["trial_id"] == chain.guided.id and measured["source"] == "xrd-1"
    assert set(measured["values"]) == {"tc"}
    model = found["model"]
    assert model["stored"] and model["version"] == chain.model and model["campaign"] == CAMPAIGN
    assert model["prior_model"] == chain.prior and model["trained_on_trials"] == 2
    prior = found["prior"]
    assert prior["version"] == chain.prior and prior["source"] == "records:tc"
    assert prior["unit"] == "K" and prior["target"] == "tc"
    records = prior["records"]
    assert records["used"] == 7 and records["listed"] and records["ids"] == chain.record_ids
    assert (records["stored"], records["rejected"], records["gone"], records["merged"]) == (
        7, 0, 0, 0,
    )  # fmt: skip
    assert prior["papers"] == [
        {"key": KEY_A, "title": PAPER_A[1], "year": 2001, "doi": PAPER_A[0], "stored": True},
        {"key": KEY_B, "title": PAPER_B[1], "year": 2005, "doi": PAPER_B[0], "stored": True},
    ]
    assert prior["papers_used"] == 2 and prior["papers_since"] == [] and found["notes"] == []
    # from its result: the same lineage
    assert lineage_of_measurement(CAMPAIGN, f"lookup:{chain.guided.id}") == found


def test_a_trial_of_the_initial_design_was_proposed_by_no_model(chain: Chain) -> None:
    found = lineage_of_trial(CAMPAIGN, str(chain.random.id))
    assert found["trial"]["strategy"] == "random" and found["trial"]["model_version"] is None
    assert found["model"] is None and found["prior"] is None
    assert len(found["measurements"]) == 1
    assert "was proposed by no model (strategy 'random'" in found["notes"][0]


def test_a_pending_trial_has_no_measurement_yet(chain: Chain, store: CampaignStore) -> None:
    (pending,) = CampaignAgent(store, CAMPAIGN).propose()
    found = lineage_of_trial(CAMPAIGN, str(pending.id))
    assert found["measurements"] == [] and found["trial"]["status"] == "proposed"
    assert found["prior"]["version"] == chain.prior


def test_a_record_rejected_since_is_counted_and_named(chain: Chain) -> None:
    wrong = chain.record("Nb3Sn")
    LiteratureStore().reject_record(wrong, "read from a table of another alloy", "curator")
    prior = lineage_of_trial(CAMPAIGN, str(chain.guided.id))["prior"]
    records = prior["records"]
    assert (records["stored"], records["rejected"], records["gone"]) == (7, 1, 0)
    assert records["rejected_ids"] == [wrong]
    forward = lineage_of_paper(PAPER_A[0])
    assert forward["records"]["total"] == 4 and forward["records"]["rejected"] == 1
    (row,) = [r for r in forward["records"]["items"] if r["id"] == wrong]
    assert row["rejected"] and row["formula"] == "Nb3Sn"


def test_a_removed_paper_leaves_its_records_gone_and_is_still_followed(chain: Chain) -> None:
    removed = LiteratureStore().remove_paper(PAPER_B[0])
    assert removed.models == (chain.prior,)  # `literature remove` names the same models
    back = lineage_of_trial(CAMPAIGN, str(chain.guided.id))
    records = back["prior"]["records"]
    # YBa2Cu3O7, La2CuO4 and V3Si were read in it alone; MgB2 keeps paper A
    assert (records["used"], records["stored"], records["gone"]) == (7, 4, 3)
    assert chain.record("MgB2") not in records["gone_ids"]
    assert set(records["gone_ids"]) <= set(chain.record_ids)
    paper = next(p for p in back["prior"]["papers"] if p["key"] == KEY_B)
    assert paper == {"key": KEY_B, "title": None, "year": None, "doi": None, "stored": False}
    said = " ".join(back["notes"])
    assert "3 of the 7 records" in said and "are gone" in said and "literature remove" in said
    # forward from the removed paper: by its DOI as a link, in any case
    forward = lineage_of_paper(f"https://doi.org/{PAPER_B[0].upper()}")
    assert forward["paper"] == {  # as it was when removed
        "key": KEY_B, "stored": False, "title": "Cuprates and A15 superconductors",
        "year": 2005, "doi": "10.5555/lineage.b", "journal": None,
    }  # fmt: skip
    assert forward["records"]["total"] == 0
    went = forward["records"]["removed"]  # what it alone gave, named though gone
    assert sorted(r["material"] for r in went) == ["La2CuO4", "V3Si", "YBa2Cu3O7"]
    assert {r["id"] for r in went} == set(records["gone_ids"])
    assert [m["version"] for m in forward["models"]] == [chain.prior]
    assert forward["models"][0]["names_paper"]
    assert forward["trials"]["total"] == 1 and forward["trials"]["measured"] == 1
    assert "no longer stored" in forward["notes"][0]
    assert "3 records read in it alone went with it" in forward["notes"][0]


def test_a_removed_files_paper_is_followed_from_the_start_of_its_hash(chain: Chain) -> None:
    LiteratureStore().remove_paper(PAPER_B[0])
    file_key, other = "sha256:c16239fe" + "0" * 56, "sha256:c16239fe" + "1" * 56
    models = ModelRecord._get_collection()  # the prior read paper B from a file, not a DOI
    papers = models.find_one({"version": chain.prior})["metrics"]["record_papers"]
    named = [file_key if key == KEY_B else key for key in papers]
    models.update_one({"version": chain.prior}, {"$set": {"metrics.record_papers": named}})
    for start in ("sha256:c16239fe0000", "C16239FE0000"):  # as the papers table shows it
        forward = lineage_of_paper(start)
        assert forward["paper"]["key"] == file_key and not forward["paper"]["stored"]
        assert [m["version"] for m in forward["models"]] == [chain.prior]
    models.update_one({"version": chain.prior}, {"$push": {"metrics.record_papers": other}})
    with pytest.raises(LookupError, match="starts the keys of several papers"):
        lineage_of_paper("sha256:c16239fe")


@pytest.mark.parametrize("looked_up", [0, 500])  # one pass over the records, or by id
def test_a_record_merged_since_is_found_as_the_one_it_was_merged_into(
    chain: Chain, monkeypatch: pytest.MonkeyPatch, looked_up: int
) -> None:
    monkeypatch.setattr("db.lineage.IDS_LOOKED_UP", looked_up)
    merged, into = chain.record("NbN"), chain.record("NbSe2")
    records = PropertyRecordDocument._get_collection()  # as db.literature._merge_records does
    records.delete_one({"_id": ObjectId(merged)})
    records.update_one({"_id": ObjectId(into)}, {"$set": {"merged_ids": [ObjectId(merged)]}})
    found = property_model_lineage(chain.prior)
    assert found["records"]["stored"] == 7 and found["records"]["gone"] == 0
    assert found["records"]["merged"] == 1 and found["records"]["merged_into"] == {merged: into}


def test_a_paper_feeds_its_records_models_campaigns_trials_and_results(chain: Chain) -> None:
    forward = lineage_of_paper(KEY_A.upper())  # any case
    assert forward["paper"]["key"] == KEY_A and forward["paper"]["title"] == PAPER_A[1]
    assert forward["paper"]["stored"] and forward["paper"]["year"] == 2001
    materials = [r["material"] for r in forward["records"]["items"]]
    assert materials == ["MgB2", "Nb3Sn", "NbN", "NbSe2"]
    ((model),) = forward["models"]
    assert model["version"] == chain.prior and model["records_used"] == 7
    ((campaign),) = forward["campaigns"]
    assert campaign["name"] == CAMPAIGN and campaign["prior_model"] == chain.prior
    assert (campaign["models"], campaign["trials"], campaign["measured"]) == (1, 1, 1)
    trials = forward["trials"]
    assert (trials["total"], trials["measured"]) == (1, 1)
    (item,) = trials["items"]
    assert item["id"] == chain.guided.id and item["campaign"] == CAMPAIGN
    assert item["model_version"] == chain.model and item["prior_model"] == chain.prior
    assert item["measurement"]["source"] == "xrd-1" and set(item["measurement"]["values"]) == {"tc"}
    assert forward["notes"] == []


def test_a_models_trials_are_counted_whole_and_listed_a_page_at_a_time(
    chain: Chain, store: CampaignStore
) -> None:
    agent = CampaignAgent(store, CAMPAIGN)
    second = agent.propose()  # a second guided batch, from a model fitted on three results
    agent.observe(LookupOracle.from_candidates(store.candidates(CAMPAIGN)).evaluate(second))
    third = agent.propose()  # and one left pending
    forward = lineage_of_model(chain.prior, limit=1, offset=1)
    (campaign,) = forward["campaigns"]
    assert campaign["models"] == 3 and campaign["trials"] == 3 and campaign["measured"] == 2
    assert campaign["by_status"] == {"completed": 2, "proposed": 1}
    trials = forward["trials"]
    assert (trials["total"], trials["measured"], trials["limit"], trials["offset"]) == (3, 2, 1, 1)
    assert [t["id"] for t in trials["items"]] == [second[0].id]  # oldest first
    last = lineage_of_model(chain.prior, limit=5, offset=2)["trials"]["items"]
    assert [t["id"] for t in last] == [third[0].id] and last[0]["measurement"] is None
    assert lineage_of_model(chain.prior, offset=9)["trials"]["items"] == []
    # forward from the campaign's own model: the trial it proposed
    own = lineage_of_model(chain.model)
    assert own["model"]["campaign"] == CAMPAIGN and own["model"]["records"] is None
    assert [t["id"] for t in own["trials"]["items"]] == [chain.guided.id]
    assert own["trials"]["items"][0]["prior_model"] == chain.prior
    # and back: the trials it was fitted on, the prior it took and that prior's papers
    assert own["fitted"]["trained_on_trials"] == 2 and own["fitted"]["prior_model"] == chain.prior
    assert own["prior"]["version"] == chain.prior and own["prior"]["records"]["used"] == 7
    assert [p["key"] for p in own["prior"]["papers"]] == [KEY_A, KEY_B]
    assert lineage_of_model(chain.prior)["fitted"] is None


def test_models_no_campaign_used_and_models_of_no_records_say_so(chain: Chain) -> None:
    read = {"source": "table:/x.csv", "table_sha256": "cd" * 32}  # the bytes it read
    table = save_model_record(ModelArtifact("gp", "ab" * 32, read, b"w"))
    found = lineage_of_model(table)
    assert found["model"]["records"] is None and found["campaigns"] == []
    assert found["model"]["table_sha256"] == "cd" * 32  # the file pinned, not just its path
    assert found["trials"]["total"] == 0
    said = "was trained on table:/x.csv (sha256 cdcdcdcdcdcd...), not literature records"
    assert said in found["notes"][0]
    assert f"no campaign model took {table} as its prior mean" in found["notes"][1]
    PaperDocument(key="doi:10.9/unread", model_version="t").save()  # a paper of no record
    unread = lineage_of_paper("10.9/UNREAD")
    assert unread["records"]["total"] == 0 and unread["models"] == []
    assert unread["trials"]["total"] == 0 and unread["campaigns"] == []


def test_a_model_of_more_records_than_its_metrics_list_says_so(chain: Chain) -> None:
    metrics = {"source": "records:tc", "records_used": 25_000, "record_ids": None,
               "record_papers": [KEY_A], "papers_used": 1}  # fmt: skip
    big = save_model_record(ModelArtifact("gp", "cd" * 32, metrics, b"w"))
    found = property_model_lineage(big)
    records = found["records"]
    assert records["used"] == 25_000 and not records["listed"] and records["ids"] == []
    assert records["stored"] is None and records["gone"] is None  # not known
    assert [p["key"] for p in found["papers"]] == [KEY_A]
    assert "more than its metrics list" in found["notes"][0]
    forward = lineage_of_paper(PAPER_A[0])
    assert [m["version"] for m in forward["models"]] == [chain.prior, big]  # oldest first


def test_unknown_things_are_named(chain: Chain) -> None:
    with pytest.raises(CampaignNotFoundError, match="no campaign named 'nope'"):
        lineage_of_trial("nope", str(chain.guided.id))
    with pytest.raises(TrialNotFoundError, match=f"trial {'0' * 24} not found in campaign"):
        lineage_of_trial(CAMPAIGN, "0" * 24)
    with pytest.raises(ValueError, match="trial_id: 'xyz' is not a valid id"):
        lineage_of_trial(CAMPAIGN, "xyz")
    with pytest.raises(LookupError, match="measurement: no result with idempotency key 'k'"):
        lineage_of_measurement(CAMPAIGN, "k")
    with pytest.raises(LookupError, match=r"paper: no paper '10.1/none' \(`matloop literature"):
        lineage_of_paper("10.1/none")
    with pytest.raises(LookupError, match="no model version 'model:gp:000000000000'"):
        lineage_of_model("model:gp:000000000000")


def test_a_material_gathers_its_registration_records_and_trials(chain: Chain) -> None:
    add_material("Mg2B4")
    found = lineage_of_material("B2Mg")  # any spelling
    assert found["material"] == {"formula": "B2Mg", "reduced": "B2Mg"}
    assert [m["formula"] for m in found["registered"]] == ["Mg2B4"]  # as registered
    records = found["records"]
    assert records["total"] == 1 and records["rejected"] == 0
    assert records["properties"] == [
        {"property": "tc", "unit": "K", "conditions": {}, "records": 1, "papers": 2,
         "min": 39.0, "max": 39.0, "upper_bounds": [], "lower_bounds": []}
    ]  # fmt: skip
    assert records["items"][0]["papers"] == [KEY_A, KEY_B]
    made = lineage_of_material(str(chain.guided.label))  # a composition the campaign made
    (item,) = made["trials"]["items"]
    assert item["id"] == chain.guided.id and item["campaign"] == CAMPAIGN
    assert item["measurement"] is not None and set(item["measurement"]["values"]) == {"tc"}
    (campaign,) = made["campaigns"]
    assert (campaign["name"], campaign["trials"], campaign["measured"]) == (CAMPAIGN, 1, 1)
    assert made["trials"]["total"] == 1 and made["trials"]["measured"] == 1
    assert lineage_of_material(str(chain.guided.label), offset=1)["trials"]["items"] == []
    with pytest.raises(LookupError, match=r"material: nothing stored of 'Fe4O6' \(Fe2O3\)"):
        lineage_of_material("Fe4O6")  # no campaign holds Fe: passed over, not an error
    with pytest.raises(ValueError, match=r"^formula: 'YBCO' is the abbreviation"):
        lineage_of_material("YBCO")  # no record under that name either


@pytest.mark.usefixtures("chain")
def test_a_name_the_papers_gave_finds_the_records_read_under_it() -> None:
    LiteratureStore().ingest(extraction("10.5555/lsco", "LSCO films", 2001, [("LSCO", "38 K")]))
    found = lineage_of_material("lsco")  # no formula reads it; the records' name does
    assert found["material"] == {"formula": "lsco", "reduced": None}
    assert found["records"]["total"] == 1 and found["records"]["items"][0]["material"] == "LSCO"
    assert found["registered"] == [] and found["trials"]["total"] == 0
    assert "read as the name the papers gave it" in found["notes"][0]
    with pytest.raises(ValueError, match=r"^formula: "):  # MgB2 miswritten, not a name
        lineage_of_material("mgb2")


def test_a_removed_papers_tombstone_keeps_its_readings_as_stated_and_its_hash_start(
    chain: Chain,
) -> None:
    bounded = stated(
        "", "no DOI", 2001,
        [("CaB6 does not superconduct down to 2 K.", [("material", "CaB6"), ("tcValue", "2 K")]),
         ("SrB6 has Tc = 87-90 K.", [("material", "SrB6"), ("tcValue", "87-90 K")])],
    )  # fmt: skip
    key = LiteratureStore().ingest(bounded).paper_key
    LiteratureStore().remove_paper(key)
    found = lineage_of_paper(key[:20])  # the start of its hash, as the papers table showed it
    assert found["paper"]["key"] == key and found["records"]["removed_total"] == 2
    readings = {
        r["material"]: (r["qualifier"], r["low"], r["high"]) for r in found["records"]["removed"]
    }
    assert readings == {"CaB6": ("<", None, 2.0), "SrB6": ("=", 87.0, 90.0)}


def test_a_materials_summary_keeps_bounds_ranges_and_conditions_apart(
    mongodb_uri: str,
) -> None:
    LiteratureStore().ingest(stated("10.5555/cab6", "Borides", 2020, CAB6))
    found = lineage_of_material("CaB6")
    ambient, pressed = found["records"]["properties"]
    assert ambient == {
        "property": "tc", "unit": "K", "conditions": {}, "records": 4, "papers": 1,
        "min": 80.0, "max": 90.0,  # the value and the range's ends, not its middle
        "upper_bounds": [{"qualifier": "<", "value": 2.0}],
        "lower_bounds": [{"qualifier": ">", "value": 100.0}],
    }  # fmt: skip
    assert pressed["conditions"] == {"pressure_gpa": 10.0}
    assert (pressed["records"], pressed["min"], pressed["max"]) == (1, 33.0, 33.0)
    items = {item["value"]: item for item in lineage_of_paper("10.5555/cab6")["records"]["items"]}
    assert (items[88.5]["low"], items[88.5]["high"]) == (87.0, 90.0)
    assert (items[2.0]["qualifier"], items[2.0]["low"]) == ("<", None)
    assert items[33.0]["conditions"] == {"pressure_gpa": 10.0}
