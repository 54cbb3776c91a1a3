"""Every route has an access rule, and writes without a token or with the wrong scope fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from agents import CampaignAgent
from agents.api import create_app
from db.documents import MeasurementDocument
from db.tokens import TokenDocument, create_token, list_tokens, revoke_token
from discovery.datasets import PoolDataset

APP = create_app()
ROUTES = [
    (method, route.path, getattr(route.endpoint, "__access__", None))
    for route in APP.routes
    if isinstance(route, APIRoute)
    for method in sorted(route.methods)
]
WRITES = [(m, p, rule) for m, p, rule in ROUTES if m != "GET" and rule != "public"]


@pytest.fixture
def api(photo_pce10_campaign: CampaignAgent) -> Iterator[TestClient]:
    with TestClient(APP) as client:
        yield client


def _url(path: str) -> str:
    return path.replace("{name}", "photo-pce10").replace("{trial_id}", "0" * 24)


def _token(role: str, campaigns: list[str] | None = None) -> dict[str, str]:
    secret, _ = create_token(f"{role}-{'-'.join(campaigns or [])}", role, campaigns)
    return {"Authorization": f"Bearer {secret}"}


def test_every_route_declares_its_access_rule() -> None:
    missing = [(m, p) for m, p, rule in ROUTES if rule is None]
    assert not missing, f"routes without an @access rule: {missing}"
    assert len(WRITES) >= 7  # the routes were found at all


@pytest.mark.parametrize(("method", "path", "rule"), [r for r in ROUTES if r[2] != "public"])
def test_no_token_or_an_unknown_token_is_401(
    api: TestClient, method: str, path: str, rule: str
) -> None:
    assert api.request(method, _url(path), json={}).status_code == 401
    fake = {"Authorization": "Bearer mlp_not-a-real-token"}
    assert api.request(method, _url(path), json={}, headers=fake).status_code == 401


@pytest.mark.parametrize(("method", "path", "rule"), WRITES)
def test_writes_with_the_wrong_scope_are_403(
    api: TestClient, method: str, path: str, rule: str
) -> None:
    wrong = [_token("researcher"), _token("instrument", ["another-campaign"])]
    if rule == "admin":
        wrong.append(_token("instrument", ["photo-pce10"]))
    for headers in wrong:
        response = api.request(method, _url(path), json={}, headers=headers)
        assert response.status_code == 403, (method, path, response.text)


def test_tokens_are_stored_hashed(api: TestClient) -> None:
    secret, _ = create_token("hashed", "researcher")
    stored = TokenDocument.objects.get(name="hashed")
    assert secret not in str(stored.to_mongo())
    assert len(stored.token_hash) == 64


CAMPAIGN = "/api/v1/campaigns/photo-pce10"


def _bearer(name: str, role: str, instrument: str | None = None) -> dict[str, str]:
    campaigns = ["photo-pce10"] if role == "instrument" else None
    secret, _ = create_token(name, role, campaigns, instrument)
    return {"Authorization": f"Bearer {secret}"}


def _claim(api: TestClient, headers: dict[str, str], instrument: str | None, count: int) -> list:
    body = {"count": count} | ({"instrument": instrument} if instrument else {})
    response = api.post(f"{CAMPAIGN}/claims", json=body, headers=headers)
    assert response.status_code == 200, response.text
    trials: list = response.json()["trials"]
    return trials


def _posing_as_inst_b(api: TestClient, headers: dict[str, str], trials: list) -> dict:
    """Each write naming ``inst-b``, on its four ``trials``: route -> the response."""
    first, second = (f"{CAMPAIGN}/trials/{t['id']}" for t in trials[:2])
    result = {"trial_id": trials[2]["id"], "values": {"degradation": 0.1}}
    unnamed = {"trial_id": trials[3]["id"], "values": {"degradation": 0.2}}
    named = {"instrument": "inst-b"}
    return {
        "claim": api.post(f"{CAMPAIGN}/claims", json=named, headers=headers),
        "heartbeat": api.post(f"{first}/heartbeat", json=named, headers=headers),
        "fail": api.post(f"{first}/fail", json=named | {"reason": "x"}, headers=headers),
        "cancel": api.post(f"{second}/cancel", json=named, headers=headers),
        "results": api.post(
            f"{CAMPAIGN}/results", json=result | {"source": "inst-b"}, headers=headers
        ),
        "results[1]": api.post(
            f"{CAMPAIGN}/results",
            json={"results": [unnamed, result | {"source": "inst-b"}]},
            headers=headers,
        ),
    }


def test_an_unbound_token_may_not_act_as_an_instrument_a_token_is_bound_to(
    api: TestClient,
) -> None:
    tok_b = _bearer("tok-b", "instrument", "inst-b")
    tok_c = _bearer("tok-c", "instrument")
    trials = _claim(api, tok_b, None, 4)
    fields = {
        "claim": "instrument",
        "heartbeat": "instrument",
        "fail": "instrument",
        "cancel": "instrument",
        "results": "source",
        "results[1]": "results[1].source",
    }
    for route, response in _posing_as_inst_b(api, tok_c, trials).items():
        assert response.status_code == 403, (route, response.text)
        assert response.json()["detail"] == (
            f"{fields[route]}: instrument 'inst-b' is bound to token 'tok-b'; "
            "only that token (or an admin token) acts for it"
        ), route
    assert MeasurementDocument.objects.count() == 0
    shouted = api.post(f"{CAMPAIGN}/claims", json={"instrument": "INST-B"}, headers=tok_c)
    assert shouted.status_code == 403, shouted.text
    assert shouted.json()["detail"] == (
        "instrument: instrument 'inst-b' is bound to token 'tok-b'; only that token (or an "
        "admin token) acts for it (nor as 'INST-B', its name in other case)"
    )
    listed = api.get(f"{CAMPAIGN}/trials", params={"filter": 'status="running"'}, headers=tok_b)
    assert {t["claimed_by"] for t in listed.json()["data"]} == {"inst-b"}
    # the bound token still acts as inst-b, naming it or not
    answers = _posing_as_inst_b(api, tok_b, trials)
    assert {r: a.status_code for r, a in answers.items()} == dict.fromkeys(answers, 200)
    assert {m.source for m in MeasurementDocument.objects} == {"inst-b"}


def test_an_unnamed_result_for_a_bound_instruments_trial_comes_only_from_its_token(
    api: TestClient,
) -> None:
    tok_b = _bearer("tok-b", "instrument", "inst-b")
    tok_c = _bearer("tok-c", "instrument")
    held, free = _claim(api, tok_b, None, 1)[0], _claim(api, tok_c, "inst-c", 1)[0]
    unnamed = [{"trial_id": t["id"], "values": {"degradation": 0.1}} for t in (free, held)]
    # taken as the holder's, it would complete inst-b's trial in its place
    refused = api.post(f"{CAMPAIGN}/results", json={"results": unnamed}, headers=tok_c)
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == (
        f"results[1].source: trial {held['id']} is leased to instrument 'inst-b', which only "
        "token 'tok-b' (or an admin token) reports for"
    )
    assert MeasurementDocument.objects.count() == 0
    as_api = {**unnamed[1], "source": "api"}  # what naming none stores, written out
    refused = api.post(f"{CAMPAIGN}/results", json=as_api, headers=tok_c)
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"].startswith(f"source: trial {held['id']} is leased to")
    assert MeasurementDocument.objects.count() == 0
    mine = api.post(f"{CAMPAIGN}/results", json=unnamed[0], headers=tok_c)  # inst-c: nobody's
    theirs = api.post(f"{CAMPAIGN}/results", json=unnamed[1], headers=tok_b)
    assert (mine.status_code, theirs.status_code) == (200, 200), (mine.text, theirs.text)
    with pytest.raises(ValueError, match="instrument: 'api' is what a result that names no"):
        create_token("tok-api", "instrument", ["photo-pce10"], "api")


def test_an_admin_token_still_acts_for_a_bound_instrument(api: TestClient) -> None:
    trials = _claim(api, _bearer("tok-b", "instrument", "inst-b"), None, 4)
    answers = _posing_as_inst_b(api, _bearer("boss", "admin"), trials)
    assert {r: a.status_code for r, a in answers.items()} == dict.fromkeys(answers, 200)


def test_an_unbound_token_acts_for_an_instrument_no_token_is_bound_to(api: TestClient) -> None:
    _bearer("tok-b", "instrument", "inst-b")
    tok_c = _bearer("tok-c", "instrument")
    [trial] = _claim(api, tok_c, "inst-c", 1)
    heartbeat = f"{CAMPAIGN}/trials/{trial['id']}/heartbeat"
    beat = api.post(heartbeat, json={"instrument": "inst-c"}, headers=tok_c)
    assert beat.status_code == 200, beat.text
    result = {"trial_id": trial["id"], "values": {"degradation": 0.1}, "source": "inst-c"}
    stored = api.post(f"{CAMPAIGN}/results", json=result, headers=tok_c)
    assert stored.json() == {"stored": 1, "duplicates": 0, "completed": 1}, stored.text
    [other] = _claim(api, tok_c, "inst-c", 1)
    failed = api.post(
        f"{CAMPAIGN}/trials/{other['id']}/fail", json={"instrument": "inst-c"}, headers=tok_c
    )
    assert failed.json()["status"] == "failed", failed.text


def test_revoking_the_bound_token_frees_the_instruments_name(api: TestClient) -> None:
    trials = _claim(api, _bearer("tok-b", "instrument", "inst-b"), None, 4)
    tok_c = _bearer("tok-c", "instrument")
    revoke_token("tok-b")
    answers = _posing_as_inst_b(api, tok_c, trials)
    assert {r: a.status_code for r, a in answers.items()} == dict.fromkeys(answers, 200)


def test_the_instruments_tokens_are_bound_to_are_indexed(api: TestClient) -> None:
    create_token("indexed", "instrument", ["photo-pce10"], "inst-i")
    keys = [info["key"] for info in TokenDocument._get_collection().index_information().values()]
    assert [("instrument", 1)] in keys


@pytest.mark.parametrize(
    ("role", "scopes"), [("researcher", "read"), ("admin", "read, write, admin")]
)
def test_campaigns_are_refused_for_a_token_they_would_not_limit(
    api: TestClient, role: str, scopes: str
) -> None:
    with pytest.raises(ValueError) as refused:
        create_token("r2", role, ["photo-pce10"])
    assert str(refused.value) == (
        "campaigns: they limit the campaigns an instrument token writes to; "
        f"role {role!r} has {scopes} access to every campaign and is not limited by them"
    )
    assert "r2" not in {t.name for t in list_tokens()}


def test_a_batch_naming_a_hundred_instruments_is_checked_against_their_bindings(
    api: TestClient,
) -> None:
    tok_c = _bearer("tok-c", "instrument")
    _bearer("tok-b", "instrument", "inst-b")
    trials = _claim(api, tok_c, "gateway", 1)
    results = [  # a gateway reporting for many instruments: none bound, one result each
        {"trial_id": "0" * 24, "values": {"degradation": 0.1}, "source": f"instrument-{i:03d}-x"}
        for i in range(100)
    ]
    answer = api.post(f"{CAMPAIGN}/results", json={"results": results}, headers=tok_c)
    assert answer.status_code == 422, answer.text  # the unknown trial, not a 500
    assert "trial_id" in answer.json()["detail"]
    results[57] = {**results[57], "trial_id": trials[0]["id"], "source": "INST-B"}
    refused = api.post(f"{CAMPAIGN}/results", json={"results": results}, headers=tok_c)
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"].startswith("results[57].source: instrument 'inst-b'")


def test_an_instrument_token_reads_its_own_campaigns_alone(
    api: TestClient, photo_pce10_campaign: CampaignAgent, photo_pce10_dataset: PoolDataset
) -> None:
    other = "another-group"
    CampaignAgent.from_dataset(photo_pce10_campaign.store, other, photo_pce10_dataset)
    robot = _token("instrument", ["photo-pce10"])
    listed = api.get("/api/v1/campaigns", headers=robot)
    assert [c["name"] for c in listed.json()] == ["photo-pce10"]
    assert listed.headers["X-Total-Count"] == "1"
    for path in ("", "/trials", "/measurements"):
        assert api.get(f"{CAMPAIGN}{path}", headers=robot).status_code == 200
        refused = api.get(f"/api/v1/campaigns/{other}{path}", headers=robot)
        assert refused.status_code == 403, refused.text
        assert refused.json()["detail"] == (
            f"token 'instrument-photo-pce10' may not read campaign {other!r}; it reads its "
            "campaigns ['photo-pce10'] alone"
        )
    assert api.get("/api/v1/campaigns/no-such-one", headers=robot).status_code == 403  # no hint
    for path in ("/materials", "/literature/records", "/literature/papers", "/models"):
        refused = api.get(f"/api/v1{path}", headers=robot)
        assert refused.status_code == 403, (path, refused.text)
        assert "may not read what is no campaign's" in refused.json()["detail"]
    researcher = _token("researcher")
    assert len(api.get("/api/v1/campaigns", headers=researcher).json()) == 2
    assert api.get(f"/api/v1/campaigns/{other}/trials", headers=researcher).status_code == 200
    assert api.get("/api/v1/materials", headers=researcher).status_code == 200
    # where the pool file lies on the server is no lab PC's business: its name alone
    assert api.get(CAMPAIGN, headers=robot).json()["source"] == "photo_pce10"
    assert api.get(CAMPAIGN, headers=researcher).json()["source"] == photo_pce10_dataset.source
