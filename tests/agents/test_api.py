"""The HTTP API against a real SecantusDB: leases, results, filters, exports."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pymongo.errors import ServerSelectionTimeoutError

import agents.api
import agents.models
from agents import CampaignAgent
from agents.api import create_app, listing
from agents.models import register
from db import CampaignStore
from db.documents import CampaignDocument, MeasurementDocument
from db.materials import add_material
from db.models import register_model
from db.query import FIELDS
from db.tokens import create_token
from discovery.domain import (
    Campaign,
    CampaignSettings,
    Direction,
    ModelArtifact,
    Objective,
    OutcomeConstraint,
    PoolRecipe,
)
from discovery.ensembles import TrainingConfig
from discovery.property_models import PropertyModelConfig, fit_property_model
from discovery.spaces import ContinuousParameter, SearchSpace

BASE = "/api/v1/campaigns/photo-pce10"


@pytest.fixture
def api(photo_pce10_campaign: CampaignAgent) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def _auth(
    role: str,
    campaigns: list[str] | None = None,
    name: str | None = None,
    instrument: str | None = None,
) -> dict:
    secret, _ = create_token(name or f"{role}-{time.monotonic_ns()}", role, campaigns, instrument)
    return {"Authorization": f"Bearer {secret}"}


def test_instrument_claims_reports_and_the_campaign_progresses(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    response = api.post(
        "/api/v1/campaigns/photo-pce10/claims",
        json={"instrument": "robot-1", "count": 3},
        headers=robot,
    )
    assert response.status_code == 200, response.text
    trials = response.json()["trials"]
    assert [t["status"] for t in trials] == ["running"] * 3
    assert all(t["claimed_by"] == "robot-1" and t["lease_expires_at"] for t in trials)

    body = {
        "results": [
            {"trial_id": t["id"], "values": {"degradation": 0.1 + i / 100}, "source": "robot-1"}
            for i, t in enumerate(trials)
        ]
    }
    first = api.post("/api/v1/campaigns/photo-pce10/results", json=body, headers=robot)
    assert first.json() == {"stored": 3, "duplicates": 0, "completed": 3}
    again = api.post("/api/v1/campaigns/photo-pce10/results", json=body, headers=robot)
    # a retried request is harmless
    assert again.json() == {"stored": 0, "duplicates": 3, "completed": 0}
    assert MeasurementDocument.objects.count() == 3

    reader = _auth("researcher")
    shown = api.get("/api/v1/campaigns/photo-pce10", headers=reader).json()
    assert shown["measurements"] == 3
    assert shown["best"]["values"] == {"degradation": 0.1}
    assert shown["efficiency"]["pool_best"] == pytest.approx(0.001622641)
    [recorded] = shown["metrics_history"]  # one stored batch of results
    assert recorded["measurements"] == 3 and recorded["best"] == 0.1
    # lineage: a trial's measurement, by the trial's id
    second = trials[1]["id"]
    found = api.get(
        "/api/v1/campaigns/photo-pce10/measurements",
        params={"filter": f'trial_id="{second}"'},
        headers=reader,
    ).json()
    assert [(m["trial_id"], m["values"]) for m in found["data"]] == [
        (second, {"degradation": 0.11})
    ]


def test_an_empty_claim_says_why_and_whether_to_ask_again(api: TestClient) -> None:
    CampaignDocument.objects(name="photo-pce10").update(set__settings__budget=2)
    robot = _auth("instrument", ["photo-pce10"])
    url = "/api/v1/campaigns/photo-pce10/claims"
    first = api.post(url, json={"instrument": "robot-1", "count": 2}, headers=robot).json()
    assert len(first["trials"]) == 2 and first["why"] is first["ask_again"] is None
    out = api.post(url, json={"instrument": "robot-2", "count": 3}, headers=robot).json()
    assert out == {
        "trials": [],
        "why": "its budget of 2 experiments is handed out; 2 trials are still out (a failure, "
        "a cancel or a lost lease frees its place): ask again later",
        "ask_again": True,
    }
    results = [
        {"trial_id": t["id"], "values": {"degradation": 0.1 + i}, "source": "robot-1"}
        for i, t in enumerate(first["trials"])
    ]
    reported = api.post(url.replace("claims", "results"), json={"results": results}, headers=robot)
    assert reported.status_code == 200, reported.text
    spent = api.post(url, json={"instrument": "robot-2", "count": 3}, headers=robot).json()
    assert spent == {
        "trials": [],
        "why": "its budget of 2 experiments is spent",
        "ask_again": False,
    }


def test_an_admin_corrects_a_wrong_result_and_the_old_values_stay_with_it(
    api: TestClient,
) -> None:
    robot = _auth("instrument", ["photo-pce10"], name="robot-token")
    boss = _auth("admin", name="lab-lead")
    base = "/api/v1/campaigns/photo-pce10"
    claim = {"instrument": "robot-1", "count": 2}
    done, waiting = api.post(f"{base}/claims", json=claim, headers=robot).json()["trials"]
    wrong = {"trial_id": done["id"], "values": {"degradation": 5.0}, "source": "robot-1"}
    assert api.post(f"{base}/results", json=wrong, headers=robot).json()["stored"] == 1
    url = f"{base}/trials/{done['id']}/correction"
    fix = {"values": {"degradation": 0.05}, "reason": "decimal slip", "idempotency_key": "fix-1"}

    assert api.post(url, json=fix, headers=robot).status_code == 403  # an operator's act
    corrected = api.post(url, json=fix, headers=boss).json()
    assert (corrected["values"], corrected["duplicate"]) == ({"degradation": 0.05}, False)
    (old,) = corrected["corrections"]
    assert (old["values"], old["source"], old["reason"], old["by"]) == (
        {"degradation": 5.0}, "robot-1", "decimal slip", "lab-lead")  # fmt: skip
    assert old["idempotency_key"] == "fix-1" and old["at"]
    assert corrected["recorded_by"] == "robot-token"  # the token that wrote it, kept

    again = api.post(url, json=fix, headers=boss).json()
    assert again["duplicate"] and len(again["corrections"]) == 1  # a retry: stored once
    other = api.post(url, json=fix | {"values": {"degradation": 0.06}}, headers=boss)
    assert other.status_code == 422 and "idempotency_key" in other.json()["detail"]
    same = api.post(url, json=fix | {"idempotency_key": "fix-2"}, headers=boss)
    assert same.status_code == 422 and "nothing to correct" in same.json()["detail"]
    unmeasured = f"{base}/trials/{waiting['id']}/correction"
    assert api.post(unmeasured, json=fix | {"idempotency_key": "fix-3"}, headers=boss).json() == {
        "detail": f"trial {waiting['id']} is running: it has no result to correct"
    }
    # the lab's retry of its first report is still a repeat, not a clash with the fix
    retried = api.post(f"{base}/results", json=wrong, headers=robot).json()
    assert retried == {"stored": 0, "duplicates": 1, "completed": 0}

    shown = api.get(base, headers=boss).json()
    assert shown["best"]["values"] == {"degradation": 0.05}  # what models and metrics use
    listed = api.get(f"{base}/measurements", params={"format": "csv"}, headers=boss).text
    (row,) = csv.DictReader(io.StringIO(listed))
    assert row["values.degradation"] == "0.05" and "decimal slip" in row["corrections"]


def test_an_admin_gives_a_campaign_another_budget_never_below_what_is_out(
    api: TestClient,
) -> None:
    robot, boss = _auth("instrument", ["photo-pce10"]), _auth("admin")
    url = "/api/v1/campaigns/photo-pce10"
    assert api.put(f"{url}/budget", json={"budget": 5}, headers=robot).status_code == 403
    set_to = api.put(f"{url}/budget", json={"budget": 5}, headers=boss).json()
    assert set_to == {"budget": 5, "previous": None, "spent": 0}
    claim = {"instrument": "robot-1", "count": 3}
    assert len(api.post(f"{url}/claims", json=claim, headers=robot).json()["trials"]) == 3
    below = api.put(f"{url}/budget", json={"budget": 2}, headers=boss)
    assert below.status_code == 422
    assert below.json()["detail"] == (  # the design's 5 are stored: 3 claimed, 2 waiting
        "budget: 2 is below the 5 experiments done or out, 2 of them proposed and waiting: "
        "cancel those to free their places (`matloop campaign cancel photo-pce10 --waiting`, "
        "or POST .../trials/{id}/cancel), or close the campaign to stop it"
    )
    assert api.put(f"{url}/budget", json={"budget": 5}, headers=boss).json()["spent"] == 5
    assert len(api.post(f"{url}/claims", json=claim, headers=robot).json()["trials"]) == 2
    capped = api.post(f"{url}/claims", json=claim, headers=robot).json()
    assert capped["trials"] == [] and capped["why"].startswith("its budget of 5 experiments")
    lower = api.put(f"{url}/budget", json={"budget": 4}, headers=boss)  # all 5 claimed
    assert (
        lower.status_code == 422
        and "none of them waiting: those done or running stay" in (lower.json()["detail"])
    )
    opened = api.put(f"{url}/budget", json={"budget": None}, headers=boss).json()
    assert opened == {"budget": None, "previous": 5, "spent": 5}
    assert api.get(url, headers=boss).json()["settings"]["budget"] is None
    assert api.put(f"{url}/budget", json={"budget": 0}, headers=boss).status_code == 422
    api.post(f"{url}/close", headers=boss)
    assert api.put(f"{url}/budget", json={"budget": 9}, headers=boss).status_code == 409


def test_a_misspelt_campaign_is_refused_naming_the_campaigns_the_token_writes_to(
    api: TestClient,
) -> None:
    robot = _auth("instrument", ["photo-pce10"], name="robot")
    refused = api.post("/api/v1/campaigns/PHOTO-PCE10/claims", json={}, headers=robot)
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "token 'robot' may not write to campaign 'PHOTO-PCE10'; it writes to ['photo-pce10']"
    )


def test_a_bare_heartbeat_renews_a_lease_for_as_long_as_last_asked(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    claim = {"instrument": "robot-1", "count": 1, "lease_seconds": 3600}
    (trial,) = api.post("/api/v1/campaigns/photo-pce10/claims", json=claim, headers=robot).json()[
        "trials"
    ]
    beat = f"/api/v1/campaigns/photo-pce10/trials/{trial['id']}/heartbeat"

    def left(answer: Any) -> float:  # seconds of lease the answer gives
        assert answer.status_code == 200, answer.text
        expires = datetime.fromisoformat(answer.json()["lease_expires_at"])
        return (expires - datetime.now(UTC)).total_seconds()

    assert 3500 < left(api.post(beat, json={"instrument": "robot-1"}, headers=robot)) <= 3600
    shorter = {"instrument": "robot-1", "lease_seconds": 60}
    assert 0 < left(api.post(beat, json=shorter, headers=robot)) <= 60
    assert 0 < left(api.post(beat, json={"instrument": "robot-1"}, headers=robot)) <= 60


def test_single_result_heartbeat_fail_and_cancel(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    trials = api.post(
        "/api/v1/campaigns/photo-pce10/claims",
        json={"instrument": "robot-1", "count": 3},
        headers=robot,
    ).json()["trials"]
    base = "/api/v1/campaigns/photo-pce10/trials"
    beat = api.post(
        f"{base}/{trials[0]['id']}/heartbeat",
        json={"instrument": "robot-1", "lease_seconds": 30},
        headers=robot,
    )
    assert beat.status_code == 200 and beat.json()["lease_expires_at"]
    stolen = api.post(
        f"{base}/{trials[0]['id']}/heartbeat", json={"instrument": "robot-2"}, headers=robot
    )
    assert stolen.status_code == 409 and "leased to 'robot-1'" in stolen.json()["detail"]
    failing = f"{base}/{trials[1]['id']}/fail"
    anonymous = api.post(failing, headers=robot)  # a running trial: who holds it must say
    assert anonymous.status_code == 409 and "instrument" in anonymous.json()["detail"]
    other = api.post(failing, json={"instrument": "robot-2"}, headers=robot)
    assert other.status_code == 409 and "leased to 'robot-1'" in other.json()["detail"]
    failed = api.post(
        failing, json={"instrument": "robot-1", "reason": "furnace fault"}, headers=robot
    ).json()
    assert (failed["status"], failed["reason"]) == ("failed", "furnace fault")
    cancelled = api.post(
        f"{base}/{trials[2]['id']}/cancel", json={"instrument": "robot-1"}, headers=robot
    )
    assert cancelled.json()["status"] == "abandoned"
    one = {"trial_id": trials[0]["id"], "values": {"degradation": 0.2}, "idempotency_key": "k1"}
    assert (
        api.post("/api/v1/campaigns/photo-pce10/results", json=one, headers=robot).json()["stored"]
        == 1
    )
    late = {"trial_id": trials[1]["id"], "values": {"degradation": 0.2}}
    response = api.post("/api/v1/campaigns/photo-pce10/results", json=late, headers=robot)
    assert response.status_code == 409 and "is failed" in response.json()["detail"]
    assert response.json()["detail"].startswith(f"trial {trials[1]['id']} is failed")
    unknown = {"trial_id": "6b1396fb11088fdb855c9453", "values": {"degradation": 0.2}}
    response = api.post("/api/v1/campaigns/photo-pce10/results", json=unknown, headers=robot)
    # one result alone: its fields named as sent, not as the first of a batch
    assert response.status_code == 422 and response.json()["detail"].startswith("trial_id: ")
    batch = api.post(
        "/api/v1/campaigns/photo-pce10/results", json={"results": [unknown]}, headers=robot
    )
    assert batch.json()["detail"].startswith("results[0].trial_id: ")


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"trial_id": "0" * 24, "values": {"degradation": 1.0}}, 422, "not a trial"),
        ({"trial_id": "T", "values": {"degradation": {"$gt": 0}}}, 422, "values"),
        ({"trial_id": {"$ne": None}, "values": {"degradation": 1.0}}, 422, "trial_id"),
        ({"trial_id": "T", "values": {}}, 422, "missing objective"),
        ({"trial_id": "T", "values": {"degradation": 1.0}, "extra": 1}, 422, "extra"),
        ({"results": []}, 422, "results"),
    ],
)
def test_bad_results_get_a_clear_4xx_and_store_nothing(
    api: TestClient, payload: dict, status: int, fragment: str
) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    [trial] = api.post(
        "/api/v1/campaigns/photo-pce10/claims", json={"instrument": "r"}, headers=robot
    ).json()["trials"]
    if payload.get("trial_id") == "T":
        payload = {**payload, "trial_id": trial["id"]}
    response = api.post("/api/v1/campaigns/photo-pce10/results", json=payload, headers=robot)
    assert response.status_code == status, response.text
    assert fragment in response.text
    assert MeasurementDocument.objects.count() == 0


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [  # pydantic's lax mode would read these as 2 trials, a 60 s lease, a budget of 5
        ("claims", {"instrument": "r", "count": "2"}, "count"),
        ("claims", {"instrument": "r", "count": 2.0}, "count"),
        ("claims", {"instrument": "r", "lease_seconds": "60"}, "lease_seconds"),
        ("budget", {"budget": "5"}, "budget"),
        ("budget", {"budget": True}, "budget"),
    ],
)
def test_a_number_sent_as_text_or_a_flag_is_a_422_naming_it_as_result_values_are(
    api: TestClient, route: str, body: dict, field: str
) -> None:
    robot, boss = _auth("instrument", ["photo-pce10"]), _auth("admin")
    url = f"/api/v1/campaigns/photo-pce10/{route}"
    send = api.post if route == "claims" else api.put
    answer = send(url, json=body, headers=robot if route == "claims" else boss)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", field], error
    campaign = api.get("/api/v1/campaigns/photo-pce10", headers=boss).json()
    assert campaign["settings"]["budget"] is None
    running = {"filter": 'status="running"'}
    trials = api.get("/api/v1/campaigns/photo-pce10/trials", params=running, headers=boss)
    assert trials.json()["meta"]["total"] == 0


def test_a_key_naming_another_trial_of_the_campaign_is_refused(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    claim = {"instrument": "r", "count": 2}
    mine, theirs = api.post(f"{BASE}/claims", json=claim, headers=robot).json()["trials"]
    squat = {"trial_id": mine["id"], "values": {"degradation": 1.0}}
    # another trial's default key, taken first, would have that trial's result refused
    refused = api.post(
        f"{BASE}/results", json=squat | {"idempotency_key": f"xrd-2:{theirs['id']}"}, headers=robot
    )
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert f"is of the default form that names trial {theirs['id']} (SOURCE:TRIAL_ID" in detail
    assert MeasurementDocument.objects.count() == 0
    lims = squat | {"idempotency_key": f"lims:{'a' * 24}"}  # no trial's: a LIMS's own id
    assert api.post(f"{BASE}/results", json=lims, headers=robot).json()["stored"] == 1


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"trial_id": "T", "value": {"degradation": 0.1}}, ["body", "ResultIn", "values"]),
        ({"results": [{"trial_id": "T"}]}, ["body", "ResultsIn", "results", 0, "values"]),
    ],
)
def test_a_malformed_report_is_told_what_its_own_shape_lacks(
    api: TestClient, payload: dict, loc: list
) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    response = api.post("/api/v1/campaigns/photo-pce10/results", json=payload, headers=robot)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert errors[0]["loc"] == loc and errors[0]["type"] == "missing", errors
    assert len(errors) == 1 + ("value" in payload)  # and the unknown field; nothing else


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            '{"trial_id": "TRIAL", "values": {"y": 0.5}, "idempotency_key": "k\\ud800"}',
            "idempotency_key",
        ),
        ('{"trial_id": "TRIAL", "values": {"y": 0.5}, "units": {"y": "\\udfff"}}', "units.y"),
    ],
)
def test_text_that_is_not_unicode_is_refused_naming_the_field(
    api: TestClient, body: str, field: str
) -> None:
    # "\ud800" is valid JSON but no UTF-8 text: BSON cannot store it
    robot = _auth("instrument", ["photo-pce10"])
    [trial] = api.post(
        "/api/v1/campaigns/photo-pce10/claims", json={"instrument": "r"}, headers=robot
    ).json()["trials"]
    response = api.post(
        "/api/v1/campaigns/photo-pce10/results",
        content=body.replace("TRIAL", trial["id"]),
        headers={**robot, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert f"{field}: text is not valid Unicode" in response.text
    assert MeasurementDocument.objects.count() == 0


def test_nan_in_a_result_is_refused(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    [trial] = api.post(
        "/api/v1/campaigns/photo-pce10/claims", json={"instrument": "r"}, headers=robot
    ).json()["trials"]
    body = '{"trial_id": "TRIAL", "values": {"degradation": NaN}}'.replace("TRIAL", trial["id"])
    response = api.post(
        "/api/v1/campaigns/photo-pce10/results",
        content=body,
        headers={**robot, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert MeasurementDocument.objects.count() == 0


def test_oversized_payload_is_refused(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    body = "x" * (3 * 1024 * 1024)
    response = api.post(
        "/api/v1/campaigns/photo-pce10/results",
        content=body,
        headers={**robot, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def _formulas(api: TestClient, reader: dict[str, str], text: str) -> list[str]:
    """The formulas of the materials ``filter=text`` selects, sorted."""
    response = api.get("/api/v1/materials", params={"filter": text}, headers=reader)
    assert response.status_code == 200, response.text
    return sorted(m["formula"] for m in response.json()["data"])


def test_optimade_filters_select_the_right_materials(api: TestClient) -> None:
    for formula in ("CuO", "YBa2Cu3O7", "Cu2O", "Fe2O3", "LiFePO4", "Cu", "La2CuO4", "NaCl"):
        add_material(formula)
    reader = _auth("researcher")

    formulas = partial(_formulas, api, reader)

    assert formulas('elements HAS ALL "Cu","O" AND nelements<=4') == [
        "Ba2YCu3O7",
        "Cu2O",
        "CuO",
        "La2CuO4",
    ]
    assert formulas('elements HAS ALL "Cu","O" AND nelements<=2') == ["Cu2O", "CuO"]
    assert formulas('chemical_formula_reduced="FeLiO4P"') == ["LiFePO4"]
    assert formulas('nelements=1 OR elements HAS "Na"') == ["Cu", "NaCl"]
    assert formulas('NOT elements HAS "O"') == ["Cu", "NaCl"]
    assert formulas('elements HAS ONLY "Cu","O"') == ["Cu", "Cu2O", "CuO"]
    bad = api.get("/api/v1/materials", params={"filter": "elements HAS"}, headers=reader)
    assert bad.status_code == 400 and "cannot parse" in bad.json()["detail"]
    unknown = api.get("/api/v1/materials", params={"filter": "density>3"}, headers=reader)
    assert unknown.status_code == 400 and "'density' cannot be filtered" in unknown.text


def test_materials_are_found_by_any_spelling_of_their_formula_and_by_id(
    api: TestClient,
) -> None:
    for formula in ("MgB2", "Fe2O3", "FeO"):
        add_material(formula)
    reader = _auth("researcher")

    formulas = partial(_formulas, api, reader)

    assert formulas('chemical_formula_reduced="MgB2"') == ["MgB2"]  # stored as B2Mg
    assert formulas('chemical_formula_reduced="Fe4O6"') == ["Fe2O3"]  # not reduced
    assert formulas('chemsys="Mg-B"') == ["MgB2"]  # stored as B-Mg
    assert formulas('chemsys="O-Fe" AND chemical_formula_reduced!="Fe4O6"') == ["FeO"]
    rows = api.get("/api/v1/materials", headers=reader).json()["data"]
    ids = {m["formula"]: m["id"] for m in rows}
    assert formulas(f'id="{ids["FeO"]}" OR id="{ids["MgB2"]}"') == ["FeO", "MgB2"]
    bad = api.get("/api/v1/materials", params={"filter": 'chemsys="Mg-b"'}, headers=reader)
    assert bad.status_code == 400 and "chemsys: 'b' in 'Mg-b'" in bad.json()["detail"]


def test_trial_listing_filters_paginates_and_exports_csv(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    api.post(
        "/api/v1/campaigns/photo-pce10/claims", json={"instrument": "a", "count": 4}, headers=robot
    )
    api.post(
        "/api/v1/campaigns/photo-pce10/claims", json={"instrument": "b", "count": 2}, headers=robot
    )
    reader = _auth("researcher")
    url = "/api/v1/campaigns/photo-pce10/trials"
    page = api.get(url, params={"filter": 'claimed_by="a"', "limit": 3}, headers=reader).json()
    assert page["meta"] == {"total": 4, "limit": 3, "offset": 0, "returned": 3}
    rest = api.get(
        url, params={"filter": 'claimed_by="a"', "limit": 3, "offset": 3}, headers=reader
    ).json()
    assert rest["meta"]["returned"] == 1
    assert (
        api.get(url, params={"filter": 'status="proposed"'}, headers=reader).json()["meta"]["total"]
        == 4
    )  # 10 proposed in the initial design, 6 claimed
    exported = api.get(url, params={"format": "csv"}, headers=reader)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 10 and "parameters.mat_1" in rows[0]
    # one trial by its id; a status that does not exist is named, not an empty page
    trial_id = rows[0]["id"]
    one = api.get(url, params={"filter": f'id="{trial_id}"'}, headers=reader).json()
    assert [t["id"] for t in one["data"]] == [trial_id]
    bogus = api.get(url, params={"filter": 'status="bogus"'}, headers=reader)
    assert bogus.status_code == 400 and "'bogus' is not one of" in bogus.json()["detail"]


def test_trials_are_filtered_by_their_batch(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    for instrument, count in (("a", 6), ("b", 10)):  # the initial 10 in two batches: 6 and 4
        api.post(
            "/api/v1/campaigns/photo-pce10/claims",
            json={"instrument": instrument, "count": count},
            headers=robot,
        )
    reader = _auth("researcher")
    url = "/api/v1/campaigns/photo-pce10/trials"
    trials = api.get(url, headers=reader).json()["data"]
    batches = {t["batch"] for t in trials}
    assert len(batches) == 2 and all(isinstance(b, str) for b in batches)
    for batch in batches:
        found = api.get(url, params={"filter": f'batch="{batch}"'}, headers=reader)
        assert found.status_code == 200, found.text
        expected = sorted(t["id"] for t in trials if t["batch"] == batch)
        assert sorted(t["id"] for t in found.json()["data"]) == expected
    number = api.get(url, params={"filter": "batch=1"}, headers=reader)
    assert number.status_code == 400 and "batch: 1 is not a string" in number.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("elements LENGTH >= 4", ["LiFePO4"]),
        ("elements LENGTH < 4", ["Cu", "Fe2O3", "MgB2"]),
        ("elements LENGTH = 2", ["Fe2O3", "MgB2"]),
        ("elements LENGTH 2", ["Fe2O3", "MgB2"]),
        ("elements LENGTH != 2", ["Cu", "LiFePO4"]),
        ("elements LENGTH < 2", ["Cu"]),
        ("elements LENGTH <= 2", ["Cu", "Fe2O3", "MgB2"]),
        ("elements LENGTH > 2", ["LiFePO4"]),
        ("elements LENGTH >= 2", ["Fe2O3", "LiFePO4", "MgB2"]),
        ("elements LENGTH > 4", []),
        ("NOT elements LENGTH >= 2", ["Cu"]),
    ],
)
def test_length_compares_a_materials_element_count(
    api: TestClient, text: str, expected: list[str]
) -> None:
    for formula in ("LiFePO4", "Fe2O3", "MgB2", "Cu"):
        add_material(formula)
    response = api.get("/api/v1/materials", params={"filter": text}, headers=_auth("researcher"))
    assert response.status_code == 200, response.text
    assert sorted(m["formula"] for m in response.json()["data"]) == expected


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/campaigns/photo-pce10/trials", {"status": "running"}, "status"),
        ("/campaigns/photo-pce10/measurements", {"filtre": 'source="a"'}, "filtre"),
        ("/materials", {"filter": "nelements=2", "limt": "5"}, "limt"),
        ("/campaigns", {"name": "x"}, "name"),
        ("/campaigns/photo-pce10", {"verbose": "1"}, "verbose"),
    ],
)
def test_a_query_parameter_the_route_does_not_take_is_a_422(
    api: TestClient, path: str, params: dict[str, str], named: str
) -> None:
    reader = _auth("researcher")
    response = api.get(f"/api/v1{path}", params=params, headers=reader)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", named] and f"unknown query parameter {named!r}" in error["msg"]
    assert api.get(f"/api/v1{path}", params=params).status_code == 401  # the token first


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_their_scripts_from_the_api_not_a_cdn(
    api: TestClient, page: str
) -> None:
    html = api.get(page).text  # an instrument network is often offline
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert assets and all(a.startswith("/static-offline-docs/") for a in assets), assets
    for asset in assets:
        assert api.get(asset).status_code == 200


def test_routes_outside_the_api_take_any_query(api: TestClient) -> None:
    reader = _auth("researcher")
    assert api.get("/api/v1/materials", params={"limit": 5}, headers=reader).status_code == 200
    assert api.get("/health", params={"x": 1}).status_code == 200
    assert api.get("/docs", params={"x": 1}).status_code == 200
    assert api.get("/openapi.json", params={"x": 1}).status_code == 200
    login = api.get("/dashboard/login", params={"next": "/dashboard"})
    assert login.status_code == 200
    secret = reader["Authorization"].removeprefix("Bearer ")
    api.post("/dashboard/login", data={"token": secret}, headers={"Origin": "http://testserver"})
    page = api.get("/dashboard", params={"x": 1})
    assert page.status_code == 200, page.text


def test_every_csv_page_of_a_listing_has_the_same_columns() -> None:
    rows = [
        {"trial_id": "1", "values": {"pce": 1.0}, "units": {}},
        {"trial_id": "2", "values": {"pce": 2.0}, "units": {"pce": "%"}},
    ]
    pages = [listing([row], 2, 1, i, "csv") for i, row in enumerate(rows)]
    headers = [bytes(page.body).decode().splitlines()[0] for page in pages]
    assert headers == ["trial_id,values.pce,units"] * 2  # the campaign fixes values' keys
    second = next(csv.DictReader(io.StringIO(bytes(pages[1].body).decode())))
    assert json.loads(second["units"]) == {"pce": "%"}  # JSON text a reader parses back
    assert pages[1].headers["x-total-count"] == "2"


def test_a_csv_page_without_rows_still_has_the_listings_header() -> None:
    columns = ["trial_id", "values.a", "values.b", "units"]
    empty = listing([], 0, 100, 0, "csv", columns)
    assert bytes(empty.body).decode() == "trial_id,values.a,values.b,units\r\n"
    assert empty.headers["x-total-count"] == "0"
    # a client may report the outcomes in any order: the columns keep the listing's
    row = {"trial_id": "1", "values": {"b": 2.0, "a": 1.0}, "units": {}}
    page = bytes(listing([row], 1, 100, 0, "csv", columns).body).decode()
    assert page.splitlines() == ["trial_id,values.a,values.b,units", "1,1.0,2.0,{}"]


@pytest.mark.parametrize(
    ("path", "nothing", "column"),
    [
        ("/campaigns/photo-pce10/trials", 'status="failed"', "parameters.mat_1"),
        ("/campaigns/photo-pce10/measurements", 'source="nobody"', "values.degradation"),
        ("/materials", "nelements>50", "formula"),
    ],
)
def test_an_empty_csv_page_has_the_header_of_the_listings_other_pages(
    api: TestClient, path: str, nothing: str, column: str
) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    [trial] = api.post(
        "/api/v1/campaigns/photo-pce10/claims", json={"instrument": "r"}, headers=robot
    ).json()["trials"]
    result = {"trial_id": trial["id"], "values": {"degradation": 0.2}}
    assert api.post("/api/v1/campaigns/photo-pce10/results", json=result, headers=robot).is_success
    add_material("CuO")
    reader = _auth("researcher")
    full = api.get(f"/api/v1{path}", params={"format": "csv"}, headers=reader)
    empty = api.get(f"/api/v1{path}", params={"format": "csv", "filter": nothing}, headers=reader)
    assert empty.status_code == 200 and empty.headers["x-total-count"] == "0"
    header = full.text.splitlines()[0]
    assert empty.text.splitlines() == [header] and column in header.split(",")
    assert list(csv.DictReader(io.StringIO(empty.text))) == []  # columns, and no rows


@pytest.fixture
def band_gap_campaign(store: CampaignStore) -> str:
    """An open-space campaign whose constrained outcome, in eV, is named ``band gap``."""
    space = SearchSpace((ContinuousParameter("x", 0, 1),))
    goals = (Objective("efficiency", Direction.MAXIMIZE),)
    gap = OutcomeConstraint("band gap", 1.1, 1.7, "eV")  # a name a CSV column may have
    settings = CampaignSettings("random", initial=2)
    store.create(Campaign("pv", space, goals, settings, constraints=(gap,)), [])
    return "pv"


def test_an_outcome_named_with_a_space_is_given_its_unit_and_exported(
    api: TestClient, band_gap_campaign: str
) -> None:
    robot, reader = _auth("instrument", [band_gap_campaign]), _auth("researcher")
    url = f"/api/v1/campaigns/{band_gap_campaign}"
    empty = api.get(f"{url}/measurements", params={"format": "csv"}, headers=reader)
    header = (
        "trial_id,values.efficiency,values.band gap,idempotency_key,source,units,reported,"
        "received_at,recorded_by,corrections"
    )
    assert empty.text.splitlines() == [f"{header},feasible"]
    [trial] = api.post(f"{url}/claims", json={"instrument": "r"}, headers=robot).json()["trials"]
    values = {"efficiency": 0.2, "band gap": 1400.0}

    def report(units: dict[str, str]) -> Any:
        body = {"trial_id": trial["id"], "values": values, "units": units}
        return api.post(f"{url}/results", json=body, headers=robot)

    stray = report({"band_gap": "meV"})
    assert stray.status_code == 422, stray.text
    assert stray.json()["detail"] == (
        f"trial {trial['id']}: units: 'band_gap' is not an outcome; the outcomes "
        "are ['efficiency', 'band gap']"
    )
    operator = report({"$where": "meV"})  # never a MongoDB operator, as no outcome is one
    assert operator.status_code == 422
    assert operator.json()["detail"][0]["loc"] == ["body", "ResultIn", "units", "$where", "[key]"]
    assert MeasurementDocument.objects.count() == 0
    stored = report({"band gap": "meV"})
    assert stored.status_code == 200, stored.text
    [row] = api.get(f"{url}/measurements", headers=reader).json()["data"]
    assert row["values"]["band gap"] == pytest.approx(1.4) and row["feasible"] is True
    assert row["units"] == {"band gap": "eV"}  # converted from meV
    sent = {"band gap": {"value": 1400.0, "unit": "meV"}}
    assert row["values"]["band gap"] == 1.4 and row["reported"] == sent  # what the lab sent
    again = report({"band gap": "meV"})  # the instrument's retry: the same report
    assert again.status_code == 200
    assert again.json() == {"stored": 0, "duplicates": 1, "completed": 0}
    page = api.get(f"{url}/measurements", params={"format": "csv"}, headers=reader)
    assert page.text.splitlines()[0] == f"{header},feasible"  # the empty page's header
    [cells] = csv.DictReader(io.StringIO(page.text))
    assert json.loads(cells["reported"]) == sent and cells["values.band gap"] == "1.4"


def test_admin_creates_an_open_space_campaign_and_materials(api: TestClient) -> None:
    boss = _auth("admin")
    body = {
        "name": "mixing",
        "space": {
            "parameters": [
                {"name": "a", "type": "continuous", "lower": 0, "upper": 1},
                {"name": "b", "type": "continuous", "lower": 0, "upper": 1},
            ],
            "simplex": [{"names": ["a", "b"], "total": 1}],
        },
        "objectives": [{"name": "yield", "direction": "max"}],
        "settings": {"initial": 2, "batch_size": 2},
    }
    created = api.post("/api/v1/campaigns", json=body, headers=boss)
    assert created.status_code == 201, created.text
    assert created.json()["notes"] == []
    assert api.post("/api/v1/campaigns", json=body, headers=boss).status_code == 409
    trials = api.post(
        "/api/v1/campaigns/mixing/claims", json={"instrument": "r", "count": 2}, headers=boss
    ).json()["trials"]
    misspelt = [{"name": "yield", "direction": "max", "unit": "pecent"}]
    noted = api.post(
        "/api/v1/campaigns", json=body | {"name": "mixing-2", "objectives": misspelt}, headers=boss
    )
    assert noted.status_code == 201 and noted.json()["notes"] == [
        "yield's unit 'pecent' is not one pint knows: results must be given in it or without "
        "a unit, none converts to it (check its spelling)"
    ]
    short = body | {"name": "mixing-3", "settings": {"initial": 2, "budget": 2}}
    assert api.post("/api/v1/campaigns", json=short, headers=boss).json()["notes"] == [
        "budget: 2 experiments, and the random initial design takes 2: the model never "
        "chooses one (lower --initial, or raise the budget)"
    ]
    assert all(abs(sum(t["parameters"].values()) - 1) < 1e-6 for t in trials)
    assert api.post("/api/v1/materials", json={"formula": "Fe4O6"}, headers=boss).status_code == 201
    again = api.post("/api/v1/materials", json={"formula": "Fe2O3"}, headers=boss)
    assert again.status_code == 200 and again.json()["formula"] == "Fe2O3"
    typeset = api.post("/api/v1/materials", json={"formula": "Fe₂O₃"}, headers=boss)
    assert typeset.status_code == 200 and typeset.json()["formula"] == "Fe2O3"  # subscripts
    bad = api.post("/api/v1/materials", json={"formula": "Qq2"}, headers=boss)
    assert bad.status_code == 422 and "formula" in bad.text


def test_a_campaign_with_an_outcome_constraint_and_a_composed_strategy(
    api: TestClient,
) -> None:
    boss = _auth("admin")
    body = {
        "name": "absorber",
        "space": {"parameters": [{"name": "x", "type": "continuous", "lower": 0, "upper": 1}]},
        "objectives": [{"name": "efficiency", "direction": "max"}],
        "constraints": [{"name": "gap", "lower": 1.1, "upper": 1.7, "unit": "eV"}],
        "settings": {"strategy": "gp+warp", "initial": 2},
    }
    created = api.post("/api/v1/campaigns", json=body, headers=boss)
    assert created.status_code == 201, created.text
    assert created.json()["constraints"] == [body["constraints"][0]]
    listed = next(
        c for c in api.get("/api/v1/campaigns", headers=boss).json() if c["name"] == "absorber"
    )
    assert listed["constraints"] == [body["constraints"][0]]
    assert listed["objectives"] == [{"name": "efficiency", "direction": "max", "unit": None}]
    trial = api.post(
        "/api/v1/campaigns/absorber/claims", json={"instrument": "r", "count": 1}, headers=boss
    ).json()["trials"][0]
    result = {"trial_id": trial["id"], "values": {"efficiency": 0.2}, "idempotency_key": "a"}
    refused = api.post("/api/v1/campaigns/absorber/results", json=result, headers=boss)
    assert refused.status_code == 422 and "gap" in refused.text
    infeasible = result | {"values": {"efficiency": 0.2, "gap": 2.5}}
    assert (
        api.post("/api/v1/campaigns/absorber/results", json=infeasible, headers=boss).json()[
            "stored"
        ]
        == 1
    )
    shown = api.get("/api/v1/campaigns/absorber", headers=boss).json()
    assert (shown["measurements"], shown["feasible"], shown["best"]) == (1, 0, None)
    [row] = api.get("/api/v1/campaigns/absorber/measurements", headers=boss).json()["data"]
    assert row["feasible"] is False
    for change, message in (
        ({"settings": {"strategy": "gp+magic"}}, "settings.strategy"),
        (
            {"settings": {"strategy": "gp+top"}},
            "settings.strategy: 1 objective(s) and 1 outcome constraint(s) are beyond the "
            "top acquisition",
        ),
        ({"candidates": []}, "candidates: none given"),
        ({"constraints": [{"name": "gap", "lower": 2, "upper": 1}]}, "constraints[0]"),
        ({"settings": {"seed": 2**62}}, f"less than or equal to {2**43 - 1}"),
        ({"name": "lab:absorber"}, '"loc":["body","name"]'),
    ):
        bad = api.post("/api/v1/campaigns", json=body | {"name": "b2"} | change, headers=boss)
        assert bad.status_code == 422 and message in bad.text, bad.text
    surrogate = json.dumps(body | {"name": "b2"}).replace('"x"', '"x\\ud800"')
    bad = api.post(
        "/api/v1/campaigns",
        content=surrogate,
        headers={**boss, "Content-Type": "application/json"},
    )
    assert bad.status_code == 422 and "space.parameters.0.name: text is not" in bad.text, bad.text
    assert api.get("/api/v1/campaigns/b2", headers=boss).status_code == 404


def test_a_campaign_takes_the_outcome_names_the_command_line_takes(api: TestClient) -> None:
    boss, url = _auth("admin"), "/api/v1/campaigns/spaced"
    body: dict[str, Any] = {
        "name": "spaced",
        "space": {"parameters": [{"name": "x", "type": "continuous", "lower": 0, "upper": 1}]},
        "objectives": [{"name": "band gap", "direction": "max", "unit": "eV"}],
        "constraints": [{"name": "PCE (AM1.5)", "lower": 0.1}],  # a "." is stored as is
        "settings": {"strategy": "random", "initial": 2},
    }
    created = api.post("/api/v1/campaigns", json=body, headers=boss)
    assert created.status_code == 201, created.text
    [trial] = api.post(f"{url}/claims", json={"instrument": "r"}, headers=boss).json()["trials"]
    values = {"band gap": 1400.0, "PCE (AM1.5)": 0.2}
    result = {"trial_id": trial["id"], "values": values, "units": {"band gap": "meV"}}
    stored = api.post(f"{url}/results", json=result, headers=boss)
    assert stored.status_code == 200, stored.text
    [row] = api.get(f"{url}/measurements", headers=boss).json()["data"]
    assert row["values"] == {"band gap": pytest.approx(1.4), "PCE (AM1.5)": 0.2}
    assert row["feasible"] is True and row["units"] == {"band gap": "eV"}
    page = api.get(f"{url}/measurements", params={"format": "csv"}, headers=boss)
    assert page.text.startswith("trial_id,values.band gap,values.PCE (AM1.5),")
    assert api.get(url, headers=boss).json()["best"]["values"] == row["values"]
    for field in ("objectives", "constraints"):
        for name in ("", "$where", "gap\x00", "g" * 129):  # "$": an operator; NUL: no BSON key
            bad = {**body, "name": "b6", field: [{**body[field][0], "name": name}]}
            refused = api.post("/api/v1/campaigns", json=bad, headers=boss)
            assert refused.status_code == 422, refused.text
            assert refused.json()["detail"][0]["loc"] == ["body", field, 0, "name"]
    assert api.get("/api/v1/campaigns/b6", headers=boss).status_code == 404


def test_a_campaign_is_refused_by_the_planner_rules_its_agent_runs_with(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    boss = _auth("admin")
    body = {
        "name": "ruled",
        "space": {"parameters": [{"name": "x", "type": "continuous", "lower": 0, "upper": 1}]},
        "objectives": [{"name": "efficiency", "direction": "max"}],
    }
    planned: list[str] = []

    def refusing(error: Exception) -> Any:
        def planner(campaign: Campaign) -> None:
            planned.append(campaign.name)
            raise error

        return planner

    for error, detail in (
        (ValueError("prior_model: predicts nan"), "settings.prior_model: predicts nan"),
        (LookupError("no policy 'rl:x'"), "settings.strategy: no policy 'rl:x'"),
        (ValueError("strategy 'gp' serves no 9 objectives"), "settings.strategy: strategy 'gp'"),
    ):
        monkeypatch.setattr(agents.api, "campaign_planner", refusing(error))
        refused = api.post("/api/v1/campaigns", json=body, headers=boss)
        assert refused.status_code == 422 and detail in refused.json()["detail"], refused.text
    monkeypatch.setattr(agents.api, "campaign_planner", refusing(KeyError("gap")))
    bug = api.post("/api/v1/campaigns", json=body, headers=boss)
    assert bug.status_code == 500, bug.text  # a bug, not a refusal of the settings
    assert planned == ["ruled"] * 4
    assert api.get("/api/v1/campaigns/ruled", headers=boss).status_code == 404


def test_a_result_from_an_instrument_whose_lease_ran_out_is_refused(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    claims, results = (
        "/api/v1/campaigns/photo-pce10/claims",
        "/api/v1/campaigns/photo-pce10/results",
    )
    first = {"instrument": "robot-1", "count": 1, "lease_seconds": 0.2}
    [trial] = api.post(claims, json=first, headers=robot).json()["trials"]
    time.sleep(0.4)
    [again] = api.post(claims, json={"instrument": "robot-2"}, headers=robot).json()["trials"]
    assert again["id"] == trial["id"]
    late = {"trial_id": trial["id"], "values": {"degradation": 0.3}, "source": "robot-1"}
    refused = api.post(results, json=late, headers=robot)
    assert refused.status_code == 409, refused.text
    assert "leased to 'robot-2'; a result from 'robot-1'" in refused.json()["detail"]
    holder = {"trial_id": trial["id"], "values": {"degradation": 0.2}, "source": "robot-2"}
    assert api.post(results, json=holder, headers=robot).json()["stored"] == 1
    [stored] = MeasurementDocument.objects
    assert (stored.source, stored.values) == ("robot-2", {"degradation": 0.2})


def test_an_unnamed_result_is_taken_and_its_retry_is_a_repeat(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    claims, results = (
        "/api/v1/campaigns/photo-pce10/claims",
        "/api/v1/campaigns/photo-pce10/results",
    )
    [trial] = api.post(claims, json={"instrument": "robot-1"}, headers=robot).json()["trials"]
    unnamed = {"trial_id": trial["id"], "values": {"degradation": 0.2}}
    first = api.post(results, json=unnamed, headers=robot).json()
    assert first == {"stored": 1, "duplicates": 0, "completed": 1}
    retry = api.post(results, json=unnamed, headers=robot)  # the answer was lost
    assert retry.json() == {"stored": 0, "duplicates": 1, "completed": 0}, retry.text


def test_a_token_bound_to_an_instrument_acts_only_as_it(api: TestClient) -> None:
    campaign = "/api/v1/campaigns/photo-pce10"
    xrd2 = _auth("instrument", ["photo-pce10"], instrument="xrd-2")
    xrd3 = _auth("instrument", ["photo-pce10"], instrument="xrd-3")
    first = {"count": 2, "lease_seconds": 0.3}  # no instrument named: the token's
    trials = api.post(f"{campaign}/claims", json=first, headers=xrd2).json()["trials"]
    assert [t["claimed_by"] for t in trials] == ["xrd-2", "xrd-2"]
    posing = api.post(f"{campaign}/claims", json={"instrument": "xrd-3"}, headers=xrd2)
    assert posing.status_code == 403, posing.text
    detail = posing.json()["detail"]
    assert (
        detail.startswith("instrument: token")
        and "only for instrument 'xrd-2', not 'xrd-3'" in detail
    )
    time.sleep(0.5)  # xrd-2's leases run out, and xrd-3 claims the same trials
    again = api.post(f"{campaign}/claims", json={"count": 2}, headers=xrd3).json()["trials"]
    assert {t["id"] for t in again} == {t["id"] for t in trials}
    # xrd-2's late result does not name its source, and is refused all the same
    late = {"trial_id": trials[0]["id"], "values": {"degradation": 0.3}}
    refused = api.post(f"{campaign}/results", json=late, headers=xrd2)
    assert refused.status_code == 409, refused.text
    assert "leased to 'xrd-3'; a result from 'xrd-2'" in refused.json()["detail"]
    # a list naming another instrument is refused whole, naming the item
    body = {
        "results": [
            {"trial_id": trials[0]["id"], "values": {"degradation": 0.2}},
            {"trial_id": trials[1]["id"], "values": {"degradation": 0.2}, "source": "xrd-2"},
        ]
    }
    posing = api.post(f"{campaign}/results", json=body, headers=xrd3)
    assert posing.status_code == 403 and "results[1].source" in posing.json()["detail"]
    assert MeasurementDocument.objects.count() == 0
    del body["results"][1]["source"]
    assert api.post(f"{campaign}/results", json=body, headers=xrd3).json()["stored"] == 2
    retry = api.post(f"{campaign}/results", json=body, headers=xrd3)  # the answer was lost
    assert retry.json() == {"stored": 0, "duplicates": 2, "completed": 0}, retry.text
    assert {m.source for m in MeasurementDocument.objects} == {"xrd-3"}


def test_a_bound_token_heartbeats_and_gives_up_without_naming_itself(api: TestClient) -> None:
    campaign = "/api/v1/campaigns/photo-pce10"
    xrd2 = _auth("instrument", ["photo-pce10"], instrument="xrd-2")
    [beating, failing] = api.post(f"{campaign}/claims", json={"count": 2}, headers=xrd2).json()[
        "trials"
    ]
    beat = api.post(f"{campaign}/trials/{beating['id']}/heartbeat", json={}, headers=xrd2)
    assert beat.status_code == 200, beat.text
    bare = api.post(f"{campaign}/trials/{beating['id']}/heartbeat", headers=xrd2)  # no body
    assert bare.status_code == 200, bare.text
    failed = api.post(
        f"{campaign}/trials/{failing['id']}/fail", json={"reason": "jammed"}, headers=xrd2
    )
    assert failed.json()["status"] == "failed", failed.text
    unbound = _auth("instrument", ["photo-pce10"])
    anonymous = api.post(f"{campaign}/claims", json={"count": 1}, headers=unbound)
    assert anonymous.status_code == 422, anonymous.text
    assert anonymous.json()["detail"].startswith("instrument: required")


def test_an_admin_gives_up_a_running_trial_without_naming_its_instrument(
    api: TestClient,
) -> None:
    robot, boss = _auth("instrument", ["photo-pce10"]), _auth("admin")
    claims = "/api/v1/campaigns/photo-pce10/claims"
    [trial] = api.post(claims, json={"instrument": "robot-1"}, headers=robot).json()["trials"]
    cancel = f"/api/v1/campaigns/photo-pce10/trials/{trial['id']}/cancel"
    given_up = api.post(cancel, json={"reason": "robot down for service"}, headers=boss)
    assert given_up.json()["status"] == "abandoned", given_up.text


def test_a_budgeted_campaign_hands_out_no_more_than_its_budget(api: TestClient) -> None:
    boss = _auth("admin")
    body = {
        "name": "budgeted",
        "space": {"parameters": [{"name": "x", "type": "continuous", "lower": 0, "upper": 1}]},
        "objectives": [{"name": "efficiency", "direction": "max"}],
        "settings": {"initial": 2, "budget": 3},
    }
    created = api.post("/api/v1/campaigns", json=body, headers=boss)
    assert created.status_code == 201 and created.json()["settings"]["budget"] == 3
    claims = "/api/v1/campaigns/budgeted/claims"
    claimed = api.post(claims, json={"instrument": "r", "count": 5}, headers=boss)
    assert claimed.status_code == 200 and len(claimed.json()["trials"]) == 2, claimed.text
    assert claimed.json()["ask_again"] and "needs 2 results" in claimed.json()["why"]
    results = [{"trial_id": t["id"], "values": {"efficiency": 0.1 * i}, "source": "r"}
               for i, t in enumerate(claimed.json()["trials"])]  # fmt: skip
    api.post(claims.replace("claims", "results"), json={"results": results}, headers=boss)
    claimed = api.post(claims, json={"instrument": "r", "count": 5}, headers=boss)
    assert len(claimed.json()["trials"]) == 1 and "budget of 3" in claimed.json()["why"]
    bad = body | {"name": "b2", "settings": {"budget": 0}}
    refused = api.post("/api/v1/campaigns", json=bad, headers=boss)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "settings", "budget"]


def test_a_campaign_says_how_its_pool_was_generated(api: TestClient) -> None:
    from discovery.compositions import CompositionSpace, enumerate_compositions

    space = CompositionSpace(("Ti", "Zr", "O"), 3, 10, charge_balanced=True)
    recipe = PoolRecipe(space.elements, 3, space.fewest, True, grid=10, known_left_out=1)
    goal = (Objective("bulk", Direction.MAXIMIZE, "GPa"),)
    points = enumerate_compositions(space)
    CampaignAgent.from_candidates(
        CampaignStore(), "oxides", space.search_space(), goal, points, pool_recipe=recipe
    )
    reader = _auth("researcher")
    shown = api.get("/api/v1/campaigns/oxides", headers=reader).json()
    assert (shown["pool_size"], shown["source"]) == (len(points), "generated")
    assert shown["pool_recipe"] == {
        "elements": ["Ti", "Zr", "O"],
        "max_elements": 3,
        "min_elements": 2,
        "charge_balanced": True,
        "grid": 10,
        "substitute_from": [],
        "threshold": None,
        "known_left_out": 1,
    }
    assert shown["settings"]["prior_model"] is None
    measured = api.get("/api/v1/campaigns/photo-pce10", headers=reader).json()
    assert measured["pool_recipe"] is None and measured["source"]  # its data set names it
    data = (Path(measured["source"]) / "data.csv").read_bytes()
    assert measured["source_sha256"] == hashlib.sha256(data).hexdigest()
    assert shown["source_sha256"] is None  # generated: no file


def test_openapi_is_published(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    assert "/api/v1/campaigns/{name}/claims" in spec["paths"]
    assert api.get("/health").json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/api/v1/campaigns/{name}/trials", "trials"),
        ("/api/v1/campaigns/{name}/measurements", "measurements"),
        ("/api/v1/literature/papers", "papers"),
        ("/api/v1/literature/records", "records"),
        ("/api/v1/materials", "materials"),
    ],
)
def test_a_listings_published_description_names_every_field_it_filters(
    api: TestClient, path: str, resource: str
) -> None:
    described = api.get("/openapi.json").json()["paths"][path]["get"]["description"]
    _, found, listed = described.partition("Filterable:")  # where the fields are listed
    assert found, f"{path}: its description lists no fields ('Filterable: ...')"
    pattern = r"(?<![\w.]){}(?![\w.])"  # a whole name: not part of another, nor of a path
    unnamed = [name for name in FIELDS[resource] if not re.search(pattern.format(name), listed)]
    assert unnamed == [], f"{path}: its description does not name {unnamed}"


def test_ready_answers_only_while_the_database_does(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.get("/ready").json() == {"status": "ready"}

    def down() -> None:
        raise ServerSelectionTimeoutError("no server")

    monkeypatch.setattr(agents.api, "client", down)
    assert api.get("/health").status_code == 200  # alive: restarting it would not help
    assert api.get("/ready").status_code == 503


def test_a_campaign_created_with_a_literature_prior_keeps_it(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    formulas = [f"Fe{x}O{10 - x}" for x in range(1, 10)] * 2
    config = PropertyModelConfig("ensemble", TrainingConfig(n_members=1, epochs=2))
    values = np.linspace(50.0, 150.0, len(formulas))
    model = fit_property_model(formulas, values, formulas[:4], values[:4], config)
    version = register(model, {}, "ab" * 32, {"unit": "GPa"})
    boss = _auth("admin")
    body: dict[str, Any] = {
        "name": "oxides",
        "space": {
            "parameters": [
                {"name": e, "type": "continuous", "lower": 0, "upper": 1} for e in ("Fe", "O")
            ],
            "simplex": [{"names": ["Fe", "O"], "total": 1}],
        },
        "objectives": [{"name": "bulk_modulus", "direction": "max", "unit": "GPa"}],
        "settings": {"initial": 2, "prior_model": version},
        "candidates": [{"Fe": x / 20, "O": 1 - x / 20} for x in range(1, 20)],
    }
    created = api.post("/api/v1/campaigns", json=body, headers=boss)
    assert created.status_code == 201, created.text
    assert created.json()["settings"]["prior_model"] == version
    loads = []
    real_load = agents.models.load_property_model
    monkeypatch.setattr(
        agents.models, "load_property_model", lambda v: loads.append(v) or real_load(v)
    )
    assert api.get("/api/v1/campaigns/oxides", headers=boss).status_code == 200
    assert loads == []  # a status request never reads the prior model
    claims = "/api/v1/campaigns/oxides/claims"
    initial = api.post(claims, json={"instrument": "r", "count": 2}, headers=boss).json()["trials"]
    results = [
        {"trial_id": t["id"], "values": {"bulk_modulus": 100.0 + i}} for i, t in enumerate(initial)
    ]
    api.post("/api/v1/campaigns/oxides/results", json={"results": results}, headers=boss)
    guided = api.post(claims, json={"instrument": "r", "count": 1}, headers=boss).json()["trials"]
    assert [t["strategy"] for t in guided] == ["gp+prior"]
    assert loads == [version]  # read when the model first chose
    open_space = {"parameters": [{"name": "x", "type": "continuous", "lower": 0, "upper": 1}]}
    for change, message in (
        ({"prior_model": "model:gp:000000000000"}, "no model version"),
        ({"prior_model": version, "strategy": "random"}, "no surrogate"),
    ):
        bad = body | {"name": "b3", "settings": body["settings"] | change}
        refused = api.post("/api/v1/campaigns", json=bad, headers=boss)
        assert refused.status_code == 422 and "settings.prior_model" in refused.text, refused.text
        assert message in refused.text
    unitless = register(model, {}, "cd" * 32)  # in GPa? eV? nothing says
    bad = body | {"name": "b6", "settings": body["settings"] | {"prior_model": unitless}}
    refused = api.post("/api/v1/campaigns", json=bad, headers=boss)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"].startswith(
        f"settings.prior_model: prior model '{unitless}' records no unit, and the objective "
        "is in 'GPa'"
    )
    bad = body | {"name": "b4", "space": open_space, "candidates": [{"x": 0.5}]}
    refused = api.post("/api/v1/campaigns", json=bad, headers=boss)
    assert refused.status_code == 422 and "composition space" in refused.text, refused.text
    refused = api.post(
        "/api/v1/campaigns", json=body | {"name": "b5", "candidates": None}, headers=boss
    )
    assert refused.status_code == 422 and "needs a pool" in refused.text, refused.text
    names = [c["name"] for c in api.get("/api/v1/campaigns", headers=boss).json()]
    assert "oxides" in names and not {"b3", "b4", "b5"} & set(names)


def test_model_versions_named_by_trials_are_readable(api: TestClient) -> None:
    artifact = ModelArtifact("gp", "f" * 64, {"n_train": 12, "noise": 0.01}, b"weights")
    version = register_model(artifact, "gp:photo-pce10:test")
    reader = _auth("researcher")
    listed = api.get("/api/v1/models", params={"kind": "gp"}, headers=reader).json()
    assert [m["version"] for m in listed] == [version]
    shown = api.get(f"/api/v1/models/{version}", headers=reader).json()
    assert (shown["kind"], shown["metrics"]["n_train"], shown["weights_bytes"]) == ("gp", 12, 7)
    assert shown["created_at"].endswith("Z")
    missing = api.get("/api/v1/models/gp:nope", headers=reader)
    assert missing.status_code == 404 and "no model version 'gp:nope'" in missing.text


def test_models_are_listed_by_kind_in_any_case_or_by_family(api: TestClient) -> None:
    gp = register_model(ModelArtifact("gp", "a" * 64, {}, b"w"), "gp:test")
    tagger = register_model(ModelArtifact("tagger-supermat", "b" * 64, {}, b"w"), "lit")
    reader = _auth("researcher")

    def versions(kind: str) -> list[str]:
        response = api.get("/api/v1/models", params={"kind": kind}, headers=reader)
        assert response.status_code == 200, response.text
        return [m["version"] for m in response.json()]

    assert versions("GP") == versions("gp") == [gp]
    assert versions("tagger") == versions("Tagger-SuperMat") == [tagger]
    assert versions("tag") == versions("gnn") == []  # a family is a whole word before '-'


@pytest.mark.parametrize("bug", [IndexError("index 8 is out of bounds"), KeyError("gap")])
def test_an_internal_error_is_a_500_not_a_404(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, bug: Exception
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise bug

    monkeypatch.setattr(CampaignAgent, "status", broken)
    response = api.get("/api/v1/campaigns/photo-pce10", headers=_auth("researcher"))
    assert response.status_code == 500, response.text
    assert api.get("/api/v1/campaigns/nope", headers=_auth("researcher")).status_code == 404


def test_an_admin_closes_a_campaign_and_instruments_get_no_more_work(api: TestClient) -> None:
    robot, boss = _auth("instrument", ["photo-pce10"]), _auth("admin")
    base = "/api/v1/campaigns/photo-pce10"
    [trial] = api.post(
        f"{base}/claims", json={"instrument": "robot-1", "count": 1}, headers=robot
    ).json()["trials"]  # the initial design: 1 running, 9 waiting
    assert api.post(f"{base}/close", headers=robot).status_code == 403  # not an instrument's
    closed = api.post(f"{base}/close", headers=boss)
    assert closed.status_code == 200, closed.text
    assert closed.json() == {
        "name": "photo-pce10",
        "status": "closed",
        "already_closed": False,
        "abandoned": 9,
        "running": 1,
    }
    again = api.post(f"{base}/close", headers=boss)  # idempotent
    assert again.status_code == 200 and again.json()["already_closed"] is True
    refused = api.post(f"{base}/claims", json={"instrument": "robot-1"}, headers=robot)
    assert refused.status_code == 409
    assert "campaign 'photo-pce10' is closed" in refused.json()["detail"]
    result = {"trial_id": trial["id"], "values": {"degradation": 0.2}, "source": "robot-1"}
    stored = api.post(f"{base}/results", json=result, headers=robot)  # the lab's work counts
    assert stored.json() == {"stored": 1, "duplicates": 0, "completed": 1}
    reader = _auth("researcher")
    assert api.get(base, headers=reader).json()["status"] == "closed"
    [listed] = api.get("/api/v1/campaigns", headers=reader).json()
    assert listed["status"] == "closed"
    unknown = api.post("/api/v1/campaigns/nope/close", headers=boss)
    assert unknown.status_code == 404 and "'nope'" in unknown.json()["detail"]


def test_a_body_sent_to_a_route_that_reads_none_is_refused_and_changes_nothing(
    api: TestClient,
) -> None:
    boss = _auth("admin")
    base = "/api/v1/campaigns/photo-pce10"
    for body in ({"dry_run": True}, {}):  # ignored, a dry run would close it for good
        refused = api.post(f"{base}/close", json=body, headers=boss)
        assert refused.status_code == 422, refused.text
        [error] = refused.json()["detail"]
        assert error["loc"] == ["body"] and "takes no request body" in error["msg"]
    assert api.get(base, headers=boss).json()["status"] == "active"
    chunked = api.request("GET", base, content=iter([b""]), headers=boss)  # empty, chunked
    assert chunked.status_code == 200, chunked.text
    empty = api.post(f"{base}/close", content=iter([b""]), headers=boss)
    assert empty.status_code == 200, empty.text  # no body: closed


def test_a_body_that_is_not_json_at_all_is_a_400_saying_where(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    headers = {**robot, "Content-Type": "application/json"}
    url = "/api/v1/campaigns/photo-pce10/results"
    answer = api.post(url, content='{"trial_id": "x", "values": {', headers=headers)
    assert answer.status_code == 400, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith("body: cannot be read as JSON (") and "at character 29" in detail


def test_a_422_echoing_nan_or_infinity_is_still_json(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    headers = {**robot, "Content-Type": "application/json"}
    url = "/api/v1/campaigns/photo-pce10/claims"
    answer = api.post(url, content='{"instrument": "f", "lease_seconds": NaN}', headers=headers)
    assert answer.status_code == 422
    # strict JSON: a body holding a bare NaN token fails here
    [error] = json.loads(answer.text, parse_constant=lambda token: pytest.fail(token))["detail"]
    assert error["loc"] == ["body", "lease_seconds"]
    assert (error["input"], error["msg"]) == ("nan", "not a finite number")
    nested = '{"instrument": "f", "lease_seconds": [Infinity]}'
    answer = api.post(url, content=nested, headers=headers)
    [error] = json.loads(answer.text, parse_constant=lambda token: pytest.fail(token))["detail"]
    assert error["input"] == "[Infinity]"
    misspelt = '{"instrument": "f", "lease_secs": NaN}'  # the field is what is wrong
    answer = api.post(url, content=misspelt, headers=headers)
    [error] = json.loads(answer.text, parse_constant=lambda token: pytest.fail(token))["detail"]
    assert (error["type"], error["input"]) == ("extra_forbidden", "nan")
    assert error["msg"] != "not a finite number"


def test_a_failing_surrogate_plugin_is_a_500_naming_it(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from discovery.campaign_models import SURROGATE_PLUGINS, register_surrogate

    def fit(inputs: object) -> object:
        raise ValueError("lengthscale prior must be positive")  # the plugin's, not the lab's

    monkeypatch.setattr("discovery.campaign_models.SURROGATE_PLUGINS", dict(SURROGATE_PLUGINS))
    register_surrogate("stubborn", fit)
    boss = _auth("admin")
    body = {
        "name": "stuck",
        "space": {"parameters": [{"name": "a", "lower": 0, "upper": 1}]},
        "objectives": [{"name": "yield", "direction": "max"}],
        "settings": {"strategy": "stubborn", "initial": 2, "batch_size": 2},
    }
    assert api.post("/api/v1/campaigns", json=body, headers=boss).status_code == 201
    claim = {"instrument": "r", "count": 2}
    trials = api.post("/api/v1/campaigns/stuck/claims", json=claim, headers=boss).json()["trials"]
    results = [{"trial_id": t["id"], "values": {"yield": i}} for i, t in enumerate(trials)]
    stored = api.post("/api/v1/campaigns/stuck/results", json={"results": results}, headers=boss)
    assert stored.status_code == 200, stored.text
    failed = api.post("/api/v1/campaigns/stuck/claims", json=claim, headers=boss)
    assert failed.status_code == 500
    detail = failed.json()["detail"]
    assert detail.startswith("surrogate plugin 'stubborn' (")
    assert detail.endswith("ValueError: lengthscale prior must be positive")


def test_trials_name_their_pool_candidates_label_and_are_found_by_it(
    api: TestClient, store: CampaignStore, tmp_path: Any
) -> None:
    from discovery.datasets import load_csv

    pool = tmp_path / "pool.csv"
    pool.write_text("sample,x,y\n" + "".join(f"P{i:03d},{i / 10},{i}\n" for i in range(8)))
    dataset = load_csv(pool, [("y", Direction.MAXIMIZE)], params=["x"], label="sample")
    agent = CampaignAgent.from_dataset(store, "labelled", dataset)
    proposed = agent.propose(2)
    assert all(t.label == f"P{t.candidate:03d}" for t in proposed)
    url, boss = "/api/v1/campaigns/labelled/trials", _auth("researcher")
    listed = api.get(url, headers=boss).json()["data"]
    assert {t["label"] for t in listed} == {t.label for t in proposed}
    wanted = proposed[0].label
    found = api.get(url, params={"filter": f'label="{wanted}"'}, headers=boss).json()["data"]
    assert [t["id"] for t in found] == [proposed[0].id]


def test_a_pool_sent_to_the_api_keeps_its_labels(api: TestClient) -> None:
    boss, url = _auth("admin"), "/api/v1/campaigns"
    body: dict[str, Any] = {
        "name": "samples",
        "space": {"parameters": [{"name": "x", "lower": 0, "upper": 1}]},
        "objectives": [{"name": "y", "direction": "max"}],
        "settings": {"strategy": "random", "initial": 3},
        "candidates": [{"x": 0.1}, {"x": 0.5}, {"x": 0.9}],
        "labels": ["P001", "  P  002 ", None],
    }
    assert api.post(url, json=body, headers=boss).status_code == 201
    claimed = api.post(f"{url}/samples/claims", json={"instrument": "r", "count": 3}, headers=boss)
    named = {t["parameters"]["x"]: t["label"] for t in claimed.json()["trials"]}
    assert named == {0.1: "P001", 0.5: "P 002", 0.9: None}
    listed = api.get(f"{url}/samples/trials", params={"filter": 'label="P001"'}, headers=boss)
    assert [t["parameters"] for t in listed.json()["data"]] == [{"x": 0.1}]
    open_space = {k: v for k, v in body.items() if k != "candidates"}
    generated = {k: v for k, v in open_space.items() if k != "space"} | {
        "compositions": {"elements": ["Fe", "O"], "grid": 4}
    }
    for sent, message in (
        (body | {"labels": ["P001", "P002"]}, "labels: 2 given for 3 candidates"),
        (open_space, "labels: an open space (no candidates) has no candidates to name"),
        (generated, "labels: a generated pool has no candidates to name"),
        (body | {"labels": ["P" * 257, None, None]}, '"loc":["body","labels",0]'),
    ):
        bad = api.post(url, json=sent | {"name": "bad"}, headers=boss)
        assert bad.status_code == 422 and message in bad.text, bad.text
    assert api.get(f"{url}/bad", headers=boss).status_code == 404


def test_a_pool_sent_to_the_api_may_bring_the_results_measured_before_it(
    api: TestClient,
) -> None:
    boss, url = _auth("admin", name="importer"), "/api/v1/campaigns"
    body: dict[str, Any] = {
        "name": "measured-some",
        "space": {"parameters": [{"name": "x", "lower": 0, "upper": 1}]},
        "objectives": [{"name": "gap", "direction": "max", "unit": "eV"}],
        "settings": {"initial": 3},
        "candidates": [{"x": i / 9} for i in range(10)],
        "labels": [f"P{i}" for i in range(10)],
        "results": [
            {"candidate": 2, "values": {"gap": 1.5}, "source": "old-xrd"},
            {"candidate": 7, "values": {"gap": 900}, "units": {"gap": "meV"}},
        ],
    }
    created = api.post(url, json=body, headers=boss)
    assert created.status_code == 201, created.text
    assert created.json()["best"]["values"] == {"gap": 1.5}
    assert created.json()["initial_left"] == 1
    listed = api.get(f"{url}/measured-some/trials", params={"limit": 1}, headers=boss)
    assert (listed.headers["X-Total-Count"], listed.headers["X-Limit"]) == ("2", "1")
    assert listed.json()["meta"] == {"total": 2, "limit": 1, "offset": 0, "returned": 1}
    trials = api.get(f"{url}/measured-some/trials", headers=boss).json()["data"]
    assert {(t["label"], t["strategy"], t["status"]) for t in trials} == {
        ("P2", "imported", "completed"),
        ("P7", "imported", "completed"),
    }
    measured = api.get(f"{url}/measured-some/measurements", headers=boss).json()["data"]
    assert {(m["source"], m["values"]["gap"]) for m in measured} == {
        ("old-xrd", 1.5),
        ("imported", 0.9),
    }
    assert {m["recorded_by"] for m in measured} == {"importer"}  # the token that sent them
    no_pool = {k: v for k, v in body.items() if k not in ("candidates", "labels")}
    for sent, message in (
        (body | {"results": [body["results"][0]] * 2}, "results[1].candidate: 2 has a result"),
        (body | {"results": [{"candidate": 10, "values": {"gap": 1}}]}, "candidate 10 is not"),
        (body | {"results": [{"candidate": 1, "values": {}}]}, "candidate 1 (P1): "),
        (no_pool, "results: an open space (no candidates) has no candidates measured"),
    ):
        bad = api.post(url, json=sent | {"name": "bad"}, headers=boss)
        assert bad.status_code == 422 and message in bad.text, bad.text
    assert api.get(f"{url}/bad", headers=boss).status_code == 404


def test_a_body_sent_as_other_than_json_is_a_415_saying_what_to_send(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    results = "/api/v1/campaigns/photo-pce10/results"
    text = json.dumps({"trial_id": "x", "values": {"degradation": 0.1}})
    for sent in ("text/plain", "application/x-www-form-urlencoded"):
        answer = api.post(results, content=text, headers={**robot, "Content-Type": sent})
        assert answer.status_code == 415, answer.text
        assert answer.json()["detail"] == (
            f"body: send JSON with Content-Type: application/json (the request's: '{sent}')"
        )
    wrong = api.post(results, json="a string", headers=robot)  # JSON, but no object: a 422
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"][0] == "body"


def test_a_422_echoes_a_long_input_cut_short_and_lists_at_most_twenty_errors(
    api: TestClient,
) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    results = "/api/v1/campaigns/photo-pce10/results"
    many = [{"trial_id": f"t{i}", "values": {"degradation": 0.1}} for i in range(1001)]
    too_many = api.post(results, json={"results": many}, headers=robot)
    assert too_many.status_code == 422 and len(too_many.content) < 2000, len(too_many.content)
    [error] = too_many.json()["detail"]
    assert error["loc"] == ["body", "ResultsIn", "results"]
    assert error["input"].endswith("characters)") and len(error["input"]) < 250
    broken = [{"trial_id": "", "values": {}} for _ in range(30)]  # 30 empty ids
    answer = api.post(results, json={"results": broken}, headers=robot)
    detail = answer.json()["detail"]
    assert len(detail) == 21 and detail[-1]["msg"].startswith("... and ")
    assert detail[-1]["msg"].endswith(" more errors")


def test_one_trial_is_read_as_the_listing_gives_it(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    base = "/api/v1/campaigns/photo-pce10"
    claims = {"instrument": "robot-1", "count": 1}
    [trial] = api.post(f"{base}/claims", json=claims, headers=robot).json()["trials"]
    one = api.get(f"{base}/trials/{trial['id']}", headers=robot)
    assert one.status_code == 200, one.text
    listed = api.get(f"{base}/trials", params={"filter": f'id="{trial["id"]}"'}, headers=robot)
    assert one.json() == listed.json()["data"][0]
    assert (one.json()["status"], one.json()["claimed_by"]) == ("running", "robot-1")
    unknown = api.get(f"{base}/trials/{'0' * 24}", headers=robot)
    assert unknown.status_code == 404 and "not found" in unknown.json()["detail"]
    malformed = api.get(f"{base}/trials/nonsense", headers=robot)
    assert malformed.status_code == 422 and malformed.json()["detail"].startswith("trial_id:")


def test_a_claim_repeated_after_one_of_its_trials_ended_says_it_is_a_repeat(
    api: TestClient,
) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    base = "/api/v1/campaigns/photo-pce10"
    ask = {"instrument": "robot-1", "count": 2, "request_id": "part-1"}
    first, done = api.post(f"{base}/claims", json=ask, headers=robot).json()["trials"]
    result = {"trial_id": done["id"], "values": {"degradation": 0.1}, "source": "robot-1"}
    assert api.post(f"{base}/results", json=result, headers=robot).status_code == 200
    again = api.post(f"{base}/claims", json={**ask, "count": 5}, headers=robot).json()
    assert [t["id"] for t in again["trials"]] == [first["id"]]
    assert again["why"] == (
        "a repeat of claim request 'part-1': the 1 trial(s) it leased that still run; "
        "while any runs, that request id gets no new trials"
    )
    assert again["ask_again"] is True
    whole = api.post(f"{base}/claims", json={**ask, "count": 1}, headers=robot).json()
    assert whole["why"] is None and [t["id"] for t in whole["trials"]] == [first["id"]]


def test_the_instrument_routes_answer_as_their_documented_schemas(api: TestClient) -> None:
    from agents.api import ClaimOut, ReportOut, TrialOut

    spec = api.get("/openapi.json").json()
    documented = {
        ("post", "/api/v1/campaigns/{name}/claims"): "ClaimOut",
        ("post", "/api/v1/campaigns/{name}/results"): "ReportOut",
        ("post", "/api/v1/campaigns/{name}/trials/{trial_id}/heartbeat"): "TrialOut",
        ("get", "/api/v1/campaigns/{name}/trials/{trial_id}"): "TrialOut",
    }
    for (method, path), name in documented.items():
        answer = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]
        assert answer["schema"] == {"$ref": f"#/components/schemas/{name}"}, path
    robot = _auth("instrument", ["photo-pce10"])
    base = "/api/v1/campaigns/photo-pce10"
    claims = {"instrument": "robot-1", "count": 3}
    claim = ClaimOut.model_validate(api.post(f"{base}/claims", json=claims, headers=robot).json())
    one, two, three = (t.id for t in claim.trials)
    result = {"trial_id": one, "values": {"degradation": 0.1}, "source": "robot-1"}
    ReportOut.model_validate(api.post(f"{base}/results", json=result, headers=robot).json())
    answers = [
        api.get(f"{base}/trials/{one}", headers=robot),
        api.post(f"{base}/trials/{two}/heartbeat", json={"instrument": "robot-1"}, headers=robot),
        api.post(f"{base}/trials/{two}/fail", json={"instrument": "robot-1"}, headers=robot),
        api.post(f"{base}/trials/{three}/cancel", json={"instrument": "robot-1"}, headers=robot),
    ]
    for answer in answers:  # extra="forbid": a field the schema lacks fails here
        assert TrialOut.model_validate(answer.json()).id in (one, two, three), answer.text


def test_a_body_that_is_not_utf8_is_a_400_saying_so(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    latin1 = '{"trial_id": "x", "values": {"degradation": 0.1}, "source": "Müller"}'
    answer = api.post(
        "/api/v1/campaigns/photo-pce10/results",
        content=latin1.encode("latin-1"),
        headers={**robot, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"] == (
        "body: cannot be read as JSON in UTF-8; send the body encoded as UTF-8"
    )
    assert api.get("/api/v1/nothing-here", headers=robot).status_code == 404  # others as before


def test_a_body_that_gives_a_key_twice_is_a_400_and_stores_nothing(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    url = "/api/v1/campaigns/photo-pce10/claims"
    (trial,) = api.post(url, json={"instrument": "robot-1"}, headers=robot).json()["trials"]
    twice = (  # a client's merge bug: which value was measured?
        f'{{"results": [{{"trial_id": "{trial["id"]}", "source": "robot-1", '
        '"values": {"degradation": 0.1, "degradation": 0.2}}]}'
    )
    headers = {**robot, "Content-Type": "application/json"}
    answer = api.post(url.replace("claims", "results"), content=twice, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"] == (
        'body: the key "degradation" is given twice in one object; send each key once'
    )
    assert MeasurementDocument.objects.count() == 0
    once = twice.replace(', "degradation": 0.2', "")
    stored = api.post(url.replace("claims", "results"), content=once, headers=headers)
    assert stored.status_code == 200, stored.text
    assert [m.values for m in MeasurementDocument.objects] == [{"degradation": 0.1}]


@pytest.mark.parametrize(
    ("text", "row"),
    [
        ('[{"a": 1}, {"b": {"c": 1, "c": 2}}]', 1),  # nested in the row
        (' [ {"a": 1, "a": 2} ] ', 0),
        ('[{"a": 1}, {"a": 2}]', None),  # each row gives its keys once
        ('{"a": 1, "a": 2}', None),  # no list: no row
        ('[{"a": 1}, {"b": 1, "b": 2}', 1),  # the list unclosed: the row still found
    ],
)
def test_the_row_giving_a_key_twice_is_found(text: str, row: int | None) -> None:
    from agents.serialize import row_giving_a_key_twice

    assert row_giving_a_key_twice(text) == row


def test_a_batch_with_bad_results_is_a_422_naming_each(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    url = "/api/v1/campaigns/photo-pce10/claims"
    one, two = api.post(url, json={"instrument": "robot-1", "count": 2}, headers=robot).json()[
        "trials"
    ]
    results = [
        {"trial_id": one["id"], "values": {"degradation": 0.1}, "source": "robot-1"},
        {"trial_id": "0" * 24, "values": {"degradation": 0.2}, "source": "robot-1"},
        {"trial_id": two["id"], "values": {"colour": 3.0}, "source": "robot-1"},
    ]
    answer = api.post(url.replace("claims", "results"), json={"results": results}, headers=robot)
    assert answer.status_code == 422, answer.text
    lines = answer.json()["detail"].splitlines()
    assert lines[0] == "2 of 3 results are refused, and none is stored:"
    assert lines[1].startswith("results[1].trial_id: ") and lines[2].startswith("results[2]: ")
    assert MeasurementDocument.objects.count() == 0


def test_a_trials_filter_holds_at_most_three_tests_of_results(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = _auth("researcher")
    trials = "/api/v1/campaigns/photo-pce10/trials"
    three = " OR ".join(f"values.degradation > {x}" for x in (0.1, 0.2, 0.3))
    assert api.get(trials, params={"filter": three}, headers=reader).status_code == 200

    def unread(*args: object) -> None:
        raise AssertionError("a refused filter read the measurements")

    monkeypatch.setattr("db.campaigns.MeasurementDocument._get_collection", unread)
    four = f"{three} OR values.degradation < 0.05"
    answer = api.get(trials, params={"filter": four}, headers=reader)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith(
        "filter: at most 3 tests of results (values.<outcome>, feasible) in one trials filter"
    )


def test_a_body_nested_too_deeply_is_a_400_saying_so(api: TestClient) -> None:
    robot = _auth("instrument", ["photo-pce10"])
    deep = b"[" * 100_000 + b"]" * 100_000
    answer = api.post(
        "/api/v1/campaigns/photo-pce10/results",
        content=deep,
        headers={**robot, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"] == "body: JSON nested too deeply to read"


def test_the_unicode_check_walks_a_body_deeper_than_python_recurses() -> None:
    # the server's threads recurse less deep than tests do: a body of depth 950 was a 500
    deep: list[Any] = []
    for _ in range(5 * sys.getrecursionlimit()):
        deep = [deep]
    assert agents.api._lone_surrogate({"a": deep}, "") is None
    assert agents.api._lone_surrogate({"a": [deep, "x\ud800"]}, "") == "a.1"
