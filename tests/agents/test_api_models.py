"""Researchers' model routes: the registry a page at a time, a model's training records."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from fastapi.testclient import TestClient

from agents.api import MAX_FILTER
from db import CampaignStore
from db.documents import ModelRecord
from db.literature import RECORD_COLUMNS, LiteratureStore, PropertyRecordDocument
from db.models import IDS_LOOKED_UP, model_record_ids, register_model
from discovery.domain import Campaign, Direction, ModelArtifact, Objective
from discovery.spaces import ContinuousParameter, SearchSpace

MODELS = "/api/v1/models"
RECORDS = "/api/v1/literature/records"


@pytest.fixture
def api(literature_api: TestClient) -> TestClient:
    return literature_api


def _ids() -> dict[str, str]:
    """Each stored record's material -> its id."""
    return {row["material"]: row["id"] for row in LiteratureStore().records({})[0]}


def _records_model(record_ids: list[str] | None, **metrics: object) -> str:
    """A property model trained on literature records, as ``model train --records`` lists them."""
    listed = {"record_ids": record_ids, "records_used": len(record_ids or ()), **metrics}
    digest = hashlib.sha256(json.dumps(listed, sort_keys=True).encode()).hexdigest()
    artifact = ModelArtifact("ensemble", digest, listed, b"w")
    return register_model(artifact, f"model:ensemble:{digest[:12]}")


def _campaign(store: CampaignStore, name: str) -> None:
    space = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
    store.create(Campaign(name, space, (Objective("y", Direction.MAXIMIZE),)))


def _registered_in_order(versions: list[str]) -> None:
    """Give the models created_at one second apart, in this order (the clock may tie)."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i, version in enumerate(versions):
        ModelRecord._get_collection().update_one(
            {"version": version}, {"$set": {"created_at": start + timedelta(seconds=i)}}
        )


# -- GET /models/{version}/records ---------------------------------------------------------


def test_a_models_training_records_are_listed_as_the_records_listing_gives_them(
    api: TestClient, reader: dict[str, str]
) -> None:
    ids = _ids()
    trained_on = [ids["NbSe2"], ids["MgB2"]]
    version = _records_model(trained_on)
    response = api.get(f"{MODELS}/{version}/records", headers=reader)
    assert response.status_code == 200, response.text
    page = response.json()
    assert sorted(r["id"] for r in page["data"]) == sorted(trained_on)
    assert page["meta"] == {"total": 2, "limit": 100, "offset": 0, "returned": 2}
    # the rows of /literature/records, sources and sentences included
    by_filter = api.get(
        RECORDS,
        params={"filter": " OR ".join(f'id="{i}"' for i in trained_on)},
        headers=reader,
    ).json()
    assert page["data"] == by_filter["data"]
    # sort, limit and offset as there
    params = {"sort": "-value", "limit": 1, "offset": 1}
    second = api.get(f"{MODELS}/{version}/records", params=params, headers=reader).json()
    assert [r["material"] for r in second["data"]] == ["NbSe2"]  # MgB2's 39 K first
    assert second["meta"]["total"] == 2
    # a filter narrows them further; a property no record has is a 400, as there
    narrowed = api.get(
        f"{MODELS}/{version}/records", params={"filter": 'elements HAS "Se"'}, headers=reader
    ).json()
    assert [r["material"] for r in narrowed["data"]] == ["NbSe2"]
    bad = api.get(
        f"{MODELS}/{version}/records", params={"filter": 'property="gap"'}, headers=reader
    )
    assert bad.status_code == 400 and "filter: property: 'gap'" in bad.text
    wrong = api.get(f"{MODELS}/{version}/records", params={"sort": "tc"}, headers=reader)
    there = api.get(RECORDS, params={"sort": "tc"}, headers=reader)
    assert wrong.status_code == there.status_code >= 400  # refused as there, in its words
    assert wrong.json() == there.json() and "'tc'" in wrong.text
    assert response.headers["X-Records-Gone"] == "0"


def test_a_models_training_records_read_only_in_a_removed_paper_are_counted_gone(
    api: TestClient, reader: dict[str, str]
) -> None:
    ids = _ids()
    version = _records_model([ids["NbSe2"], ids["MgB2"]])
    LiteratureStore().remove_paper("doi:10.1/a")  # NbSe2 read there alone; MgB2 twice
    response = api.get(f"{MODELS}/{version}/records", headers=reader)
    assert [r["material"] for r in response.json()["data"]] == ["MgB2"]
    assert response.headers["X-Records-Gone"] == "1"


def test_a_models_training_records_come_as_the_records_csv(
    api: TestClient, reader: dict[str, str]
) -> None:
    ids = _ids()
    lsco = ids["La1.85Sr0.15CuO4"]
    version = _records_model([ids["MgB2"], lsco])
    response = api.get(f"{MODELS}/{version}/records", params={"format": "csv"}, headers=reader)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["X-Total-Count"] == "2"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == list(RECORD_COLUMNS)
    assert sorted(r["material"] for r in rows) == ["La1.85Sr0.15CuO4", "MgB2"]
    listing = api.get(
        RECORDS,
        params={"format": "csv", "filter": f'id="{ids["MgB2"]}" OR id="{lsco}"'},
        headers=reader,
    )
    assert response.text == listing.text  # the same columns, order and cells


def test_more_ids_than_a_filter_holds_are_listed_whole(
    api: TestClient, reader: dict[str, str]
) -> None:
    ids = _ids()
    # 20,000 ids, as many as a model lists: most name no stored record (another database's)
    absent = [f"{i:024x}" for i in range(1, 20_000 - len(ids) + 1)]
    version = _records_model([*absent, *ids.values()])
    assert len(model_record_ids(version)) == 20_000
    by_filter = " OR ".join(f'id="{i}"' for i in [*absent[:100], *ids.values()])
    assert len(by_filter) > MAX_FILTER
    too_long = api.get(RECORDS, params={"filter": by_filter}, headers=reader)
    assert too_long.status_code == 422
    (problem,) = too_long.json()["detail"]
    assert problem["loc"] == ["query", "filter"]
    assert f"at most {MAX_FILTER} characters" in problem["msg"]
    assert 'id HAS ANY "a","b"' in problem["msg"]
    assert "GET /api/v1/models/{version}/records" in problem["msg"]
    response = api.get(f"{MODELS}/{version}/records", headers=reader)
    assert response.status_code == 200, response.text
    assert sorted(r["id"] for r in response.json()["data"]) == sorted(ids.values())


@pytest.mark.parametrize("looked_up", [0, IDS_LOOKED_UP])  # one pass over ids, or by id
def test_a_merged_record_is_listed_once_as_the_record_it_was_merged_into(
    api: TestClient, reader: dict[str, str], monkeypatch: pytest.MonkeyPatch, looked_up: int
) -> None:
    monkeypatch.setattr("db.models.IDS_LOOKED_UP", looked_up)
    ids = _ids()
    gone = "6650f0c0a1b2c3d4e5f60718"  # a record merged into MgB2's since the model trained
    PropertyRecordDocument._get_collection().update_one(
        {"_id": ObjectId(ids["MgB2"])}, {"$set": {"merged_ids": [ObjectId(gone)]}}
    )
    version = _records_model([gone, ids["MgB2"], ids["NbSe2"]])
    page = api.get(f"{MODELS}/{version}/records", headers=reader).json()
    assert sorted(r["material"] for r in page["data"]) == ["MgB2", "NbSe2"]
    assert page["meta"]["total"] == 2
    only = _records_model([gone])
    (row,) = api.get(f"{MODELS}/{only}/records", headers=reader).json()["data"]
    assert row["id"] == ids["MgB2"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"sort": "-value"},
        {"sort": "-value", "limit": 1, "offset": 1},
        {"sort": "n_papers", "limit": 2},
        {"offset": 2},
        {"offset": 9},
        {"format": "csv", "sort": "formula"},
    ],
)
def test_many_ids_page_as_few_do(
    api: TestClient,
    reader: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    params: dict[str, object],
) -> None:
    ids = _ids()
    version = _records_model([*ids.values(), "6650f0c0a1b2c3d4e5f60718"])  # one not stored
    by_id = api.get(f"{MODELS}/{version}/records", params=params, headers=reader)
    monkeypatch.setattr("db.models.IDS_LOOKED_UP", 0)  # as for more than a few hundred ids
    in_one_pass = api.get(f"{MODELS}/{version}/records", params=params, headers=reader)
    assert by_id.status_code == in_one_pass.status_code == 200, in_one_pass.text
    assert by_id.text == in_one_pass.text
    assert by_id.headers.get("X-Total-Count") == in_one_pass.headers.get("X-Total-Count")


def test_has_any_selects_the_ids_a_hint_names(api: TestClient, reader: dict[str, str]) -> None:
    ids = _ids()
    wanted = [ids["MgB2"], ids["NbSe2"]]
    text = "id HAS ANY " + ",".join(f'"{i}"' for i in wanted)
    response = api.get(RECORDS, params={"filter": text}, headers=reader)
    assert response.status_code == 200, response.text
    assert sorted(r["id"] for r in response.json()["data"]) == sorted(wanted)
    long = api.get("/api/v1/materials", params={"filter": "x" * 2001}, headers=reader)
    assert long.status_code == 422
    (problem,) = long.json()["detail"]
    assert 'id HAS ANY "a","b"' in problem["msg"]
    assert "/models/{version}/records" not in problem["msg"]  # records only


def test_a_model_without_records_has_an_empty_list_and_an_unknown_one_is_a_404(
    api: TestClient, reader: dict[str, str]
) -> None:
    store = CampaignStore()
    _campaign(store, "opv")
    surrogate = store.save_model("opv", ModelArtifact("gp", "c" * 64, {"cv_mae": 0.1}, b"w"))
    for fmt in ("json", "csv"):
        response = api.get(f"{MODELS}/{surrogate}/records", params={"format": fmt}, headers=reader)
        assert response.status_code == 200, response.text
        assert response.headers.get("X-Total-Count", "0") == "0"
    empty = api.get(f"{MODELS}/{surrogate}/records", headers=reader).json()
    assert empty == {"data": [], "meta": {"total": 0, "limit": 100, "offset": 0, "returned": 0}}
    header = api.get(f"{MODELS}/{surrogate}/records", params={"format": "csv"}, headers=reader)
    assert header.text.strip() == ",".join(RECORD_COLUMNS)  # the columns, no rows
    missing = api.get(f"{MODELS}/model:gp:nope/records", headers=reader)
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith("no model version 'model:gp:nope'")


def test_a_model_that_lists_only_a_count_of_its_records_says_so(
    api: TestClient, reader: dict[str, str]
) -> None:
    version = _records_model(None, records_used=20_001, records_hash="f" * 64)
    response = api.get(f"{MODELS}/{version}/records", headers=reader)
    assert response.status_code == 409, response.text
    assert "learned from 20001 literature records" in response.json()["detail"]
    assert "records_hash" in response.json()["detail"]


def test_a_models_records_need_a_token_and_take_only_their_parameters(
    api: TestClient, reader: dict[str, str]
) -> None:
    version = _records_model([_ids()["MgB2"]])
    assert api.get(f"{MODELS}/{version}/records").status_code == 401
    typo = api.get(f"{MODELS}/{version}/records", params={"filtre": "x"}, headers=reader)
    assert typo.status_code == 422 and "filtre" in typo.text
    assert (
        api.get(f"{MODELS}/{version}/records", params={"limit": 0}, headers=reader).status_code
        == 422
    )


# -- GET /models ---------------------------------------------------------------------------


def test_models_are_listed_newest_first_a_page_at_a_time(
    api: TestClient, reader: dict[str, str]
) -> None:
    versions = [
        register_model(ModelArtifact("gp", f"{i:x}" * 64, {"n_train": i}, b"w"), f"gp:v{i}")
        for i in range(5)
    ]
    _registered_in_order(versions)
    whole = api.get(MODELS, headers=reader)
    assert whole.status_code == 200, whole.text
    assert [m["version"] for m in whole.json()] == versions[::-1]
    assert (whole.headers["X-Total-Count"], whole.headers["X-Limit"]) == ("5", "100")
    page = api.get(MODELS, params={"limit": 2, "offset": 1}, headers=reader)
    assert page.status_code == 200, page.text
    assert [m["version"] for m in page.json()] == [versions[3], versions[2]]
    assert (page.headers["X-Total-Count"], page.headers["X-Offset"]) == ("5", "1")
    kind = api.get(MODELS, params={"kind": "GP", "limit": 1}, headers=reader)
    assert [m["version"] for m in kind.json()] == [versions[4]]
    assert kind.headers["X-Total-Count"] == "5"
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}):
        refused = api.get(MODELS, params=bad, headers=reader)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["detail"][0]["loc"] == ["query", next(iter(bad))]


def test_models_are_listed_by_campaign(api: TestClient, reader: dict[str, str]) -> None:
    store = CampaignStore()
    _campaign(store, "opv")
    _campaign(store, "oxides")
    first = store.save_model("opv", ModelArtifact("gp", "a" * 64, {}, b"w"))
    other = store.save_model("oxides", ModelArtifact("gp", "b" * 64, {}, b"w"))
    second = store.save_model("opv", ModelArtifact("gp", "c" * 64, {}, b"w"))
    free = register_model(ModelArtifact("ensemble", "d" * 64, {}, b"w"), "model:ensemble:d")
    _registered_in_order([first, other, second, free])
    opv = api.get(MODELS, params={"campaign": "opv"}, headers=reader)
    assert opv.status_code == 200, opv.text
    assert [(m["version"], m["campaign"]) for m in opv.json()] == [
        (second, "opv"),
        (first, "opv"),
    ]
    assert opv.headers["X-Total-Count"] == "2"
    latest = api.get(MODELS, params={"campaign": "opv", "limit": 1}, headers=reader)
    assert [m["version"] for m in latest.json()] == [second]  # the latest round's
    none = api.get(MODELS, params={"campaign": "opv", "kind": "ensemble"}, headers=reader)
    assert none.json() == [] and none.headers["X-Total-Count"] == "0"
    unknown = api.get(MODELS, params={"campaign": "opvv"}, headers=reader)
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "campaign: no campaign named 'opvv'"
    bad = api.get(MODELS, params={"campaign": "o p v"}, headers=reader)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "campaign"]


# -- GET /campaigns ------------------------------------------------------------------------


def test_campaigns_are_listed_a_page_at_a_time(api: TestClient, reader: dict[str, str]) -> None:
    store = CampaignStore()
    for name in ("c1", "c2", "c3"):
        _campaign(store, name)
    whole = api.get("/api/v1/campaigns", headers=reader)
    assert whole.status_code == 200, whole.text
    assert [c["name"] for c in whole.json()] == ["c1", "c2", "c3"]  # oldest first, as before
    assert whole.headers["X-Total-Count"] == "3"
    page = api.get("/api/v1/campaigns", params={"limit": 1, "offset": 1}, headers=reader)
    assert [c["name"] for c in page.json()] == ["c2"]
    assert (page.headers["X-Total-Count"], page.headers["X-Limit"]) == ("3", "1")
    past = api.get("/api/v1/campaigns", params={"offset": 5}, headers=reader)
    assert past.json() == [] and past.headers["X-Total-Count"] == "3"
    refused = api.get("/api/v1/campaigns", params={"limit": 1001}, headers=reader)
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["query", "limit"]


def test_the_schema_declares_the_page_headers_and_the_new_route(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/campaigns", "/api/v1/models"):
        answer = paths[path]["get"]["responses"]["200"]
        assert "X-Total-Count" in answer["headers"], path
        names = {p["name"] for p in paths[path]["get"]["parameters"]}
        assert {"limit", "offset"} <= names, path
    route = paths["/api/v1/models/{version}/records"]["get"]
    assert "text/csv" in route["responses"]["200"]["content"]
    assert {"404", "409"} <= set(route["responses"])
    assert {"campaign", "kind"} <= {p["name"] for p in paths["/api/v1/models"]["get"]["parameters"]}


def test_a_models_records_narrowed_by_a_filter_are_the_listings_same_rows(
    api: TestClient, reader: dict[str, str]
) -> None:
    # a filter takes the one-pass path: compared with /literature/records, not with itself
    ids = _ids()
    version = _records_model(list(ids.values()))
    narrow = 'property="tc" AND value<39'
    mine = api.get(
        f"{MODELS}/{version}/records", params={"filter": narrow, "sort": "-value"}, headers=reader
    )
    listed = ",".join(f'"{i}"' for i in ids.values())
    every = api.get(
        RECORDS,
        params={"filter": f"id HAS ANY {listed} AND {narrow}", "sort": "-value"},
        headers=reader,
    )
    assert mine.status_code == every.status_code == 200, mine.text
    assert mine.json()["data"] == every.json()["data"] != []
    assert {k: v for k, v in mine.json().items() if k != "data"} == {
        k: v for k, v in every.json().items() if k != "data"
    }
