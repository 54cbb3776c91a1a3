"""MongoDB operators where scalars belong, in bodies, query strings and paths; huge bodies.

Every case must answer a 4xx with a message (``detail``) and store nothing: the number of
campaigns, candidates, trials, measurements and materials is the same before and after.
Cases that show a bug are ``xfail(strict=True)`` with the place and a reproduction.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agents import CampaignAgent
from agents.api import create_app
from db import CampaignStore, connect, disconnect
from db.connection import client as db_client
from db.materials import add_material
from db.tokens import create_token
from discovery.datasets import PoolDataset
from discovery.domain import CampaignSettings

CAMPAIGN = "/api/v1/campaigns/photo-pce10"
SPACE = {"parameters": [{"name": "x", "type": "continuous", "lower": 0, "upper": 1}]}
OBJECTIVES = [{"name": "y", "direction": "max"}]
TRIAL = "{trial}"  # replaced by a real running trial id
_NAMES = itertools.count()


def campaign(**fields: Any) -> dict[str, Any]:
    """A campaign body with a new name each time (a stored one never hides a later case)."""
    return {"name": f"injected-{next(_NAMES)}", "space": SPACE, "objectives": OBJECTIVES, **fields}


def result(**fields: Any) -> dict[str, Any]:
    return {"trial_id": TRIAL, "values": {"degradation": 0.1}, **fields}


def _fill(value: Any, trial: str) -> Any:
    if value == TRIAL:
        return trial
    if isinstance(value, dict):
        return {k: _fill(v, trial) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, trial) for v in value]
    return value


@dataclass
class World:
    """One database for the whole module: the photo-pce10 campaign, a running trial."""

    client: TestClient
    headers: dict[str, str]
    trial: str


@pytest.fixture(scope="module")
def world(mongodb_server: str, photo_pce10_dataset: PoolDataset) -> Iterator[World]:
    # Module-scoped (creating the 1040-point campaign per test costs ~0.6 s): every case
    # stores nothing, and campaign names are unique, so the cases cannot see each other.
    name = f"test_{uuid.uuid4().hex[:12]}"
    connect(f"{mongodb_server}/{name}")
    settings = CampaignSettings("gp", initial=10, batch_size=4, seed=0)
    CampaignAgent.from_dataset(CampaignStore(), "photo-pce10", photo_pce10_dataset, settings)
    secret, _ = create_token("fuzz", "admin")
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        response = client.post(f"{CAMPAIGN}/claims", json={"instrument": "r"}, headers=headers)
        assert response.status_code == 200, response.text
        yield World(client, headers, str(response.json()["trials"][0]["id"]))
    db_client().drop_database(name)
    disconnect()


@pytest.fixture
def api(world: World) -> TestClient:
    return world.client


@pytest.fixture
def admin_headers(world: World) -> dict[str, str]:
    return world.headers


@pytest.fixture
def refused(
    world: World, counts: Callable[[], dict[str, int]]
) -> Iterator[Callable[..., dict[str, Any]]]:
    """Send a request; assert a 4xx with a message and that nothing was stored."""

    def send(method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        before = counts()
        if "json" in kwargs:
            kwargs["json"] = _fill(kwargs["json"], world.trial)
        headers = {**world.headers, **kwargs.pop("headers", {})}
        response = world.client.request(
            method, url.replace(TRIAL, world.trial), headers=headers, **kwargs
        )
        assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
        detail = response.json()["detail"]
        assert detail, response.text
        assert counts() == before
        return {"status": response.status_code, "detail": detail}

    yield send


# -- JSON bodies ------------------------------------------------------------------------
BODIES = [
    ("results", result(trial_id={"$ne": None}), "trial_id"),
    ("results", result(values={"degradation": {"$gt": 0}}), "values"),
    ("results", result(values={"degradation": True}), "values"),  # not a measured 1.0
    ("results", result(values={"degradation": "0.1"}), "values"),
    ("results", result(values={"$where": 1.0}), "unknown objective"),
    ("results", result(values={"degradation": 0.1, "$set": 1.0}), "unknown objective"),
    ("results", result(idempotency_key={"$ne": None}), "idempotency_key"),
    ("results", result(source="$where"), "source"),
    ("results", result(source={"$ne": None}), "source"),
    ("results", result(units={"degradation": {"$ne": 1}}), "units"),
    ("results", {"results": {"$where": "1"}}, "results"),
    ("results", {"results": [result(trial_id={"$in": [TRIAL]})]}, "trial_id"),
    ("results", {"$where": "1"}, "extra"),
    ("claims", {"instrument": {"$where": "1"}}, "instrument"),
    ("claims", {"instrument": "$where"}, "instrument"),
    ("claims", {"instrument": "r", "count": {"$gt": 0}}, "count"),
    (f"trials/{TRIAL}/heartbeat", {"instrument": {"$ne": None}}, "instrument"),
    (f"trials/{TRIAL}/heartbeat", {"instrument": "r", "lease_seconds": {"$gt": 0}}, "lease"),
    ("/campaigns", campaign(name="$where"), "name"),
    ("/campaigns", campaign(name="a$b"), "name"),
    ("/campaigns", campaign(name={"$ne": None}), "name"),
    ("/campaigns", campaign(objectives=[{"name": "$gt", "direction": "max"}]), "name"),
    ("/campaigns", campaign(objectives=[{"name": "y", "direction": {"$ne": "x"}}]), "direction"),
    ("/campaigns", campaign(settings={"strategy": "$where"}), "strategy"),
    ("/campaigns", campaign(settings={"initial": {"$gt": 0}}), "initial"),
    ("/campaigns", campaign(candidates=[{"x": {"$gt": 0}}]), "expected a number"),
    ("/campaigns", campaign(candidates=[{"x": 0.5, "$where": 1}]), "unknown parameters"),
    ("/campaigns", campaign(space={"$where": "1"}), "parameter"),
    ("/materials", {"formula": {"$regex": ".*"}}, "formula"),
    ("/materials", {"formula": "$where"}, "formula"),
    ("/materials", {"formula": "Fe2O3", "structure": {"$where": "1"}}, "structure"),
]


def _url(target: str) -> str:
    return f"/api/v1{target}" if target.startswith("/") else f"{CAMPAIGN}/{target}"


@pytest.mark.parametrize(
    ("target", "body", "fragment"), BODIES, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(BODIES)]
)
def test_operators_in_json_bodies_are_refused(
    refused: Callable[..., dict[str, Any]], target: str, body: Any, fragment: str
) -> None:
    answer = refused("POST", _url(target), json=body)
    assert answer["status"] in (400, 422)
    assert fragment in str(answer["detail"])


def test_operator_as_a_units_key_is_a_422(refused: Callable[..., dict[str, Any]]) -> None:
    assert refused("POST", _url("results"), json=result(units={"$where": "1"}))["status"] == 422


def test_a_parameter_named_like_an_operator_is_refused(
    refused: Callable[..., dict[str, Any]],
) -> None:
    space = {"parameters": [{"name": "$where", "lower": 0, "upper": 1}]}
    assert refused("POST", _url("/campaigns"), json=campaign(space=space))["status"] == 422


def test_an_operator_as_a_parameter_unit_is_refused(
    refused: Callable[..., dict[str, Any]],
) -> None:
    space = {"parameters": [{"name": "x", "lower": 0, "upper": 1, "unit": {"$gt": 1}}]}
    refused("POST", _url("/campaigns"), json=campaign(space=space))


def test_duplicate_objective_names_are_refused(refused: Callable[..., dict[str, Any]]) -> None:
    objectives = [{"name": "y", "direction": "max"}, {"name": "y", "direction": "min"}]
    refused("POST", _url("/campaigns"), json=campaign(objectives=objectives))


def test_an_invalid_formula_gets_a_clear_message(refused: Callable[..., dict[str, Any]]) -> None:
    detail = refused("POST", _url("/materials"), json={"formula": "$where"})["detail"]
    assert detail.startswith("formula:"), detail
    assert "MaterialDocument" not in detail and "elements" not in detail, detail


# -- space: arbitrary JSON where a search space belongs ---------------------------------
def _space(*parameters: Any, **extra: Any) -> dict[str, Any]:
    return {"parameters": list(parameters), **extra}


SPACES = {
    "parameters-int": {"parameters": 5},
    "parameter-int": _space(5),
    "choices-int": _space({"name": "c", "type": "categorical", "choices": 3}),
    "choices-dict": _space({"name": "c", "type": "categorical", "choices": [1, {}]}),
    "lower-list": _space({"name": "c", "lower": [1], "upper": 2}),
    "name-operator": _space({"name": {"$ne": 1}, "lower": 0, "upper": 2}),
    "simplex-int": _space({"name": "a", "lower": 0, "upper": 2}, simplex=[{"names": 3}]),
    "name-missing": _space({"lower": 0, "upper": 1}),
}


@pytest.mark.parametrize("space", SPACES.values(), ids=SPACES.keys())
def test_a_malformed_space_is_a_422_naming_the_field(
    refused: Callable[..., dict[str, Any]], space: dict[str, Any]
) -> None:
    answer = refused("POST", _url("/campaigns"), json=campaign(space=space))
    assert answer["status"] == 422
    assert "space" in str(answer["detail"]) or "parameters" in str(answer["detail"])


def test_a_seed_too_large_for_mongodb_is_a_422(refused: Callable[..., dict[str, Any]]) -> None:
    assert (
        refused("POST", _url("/campaigns"), json=campaign(settings={"seed": 2**70}))["status"]
        == 422
    )


def test_a_huge_integer_candidate_value_is_a_422(refused: Callable[..., dict[str, Any]]) -> None:
    body = campaign(candidates=[{"x": 10**400}])
    assert refused("POST", _url("/campaigns"), json=body)["status"] == 422


# -- query parameters -------------------------------------------------------------------
LISTINGS = [f"{CAMPAIGN}/trials", f"{CAMPAIGN}/measurements", "/api/v1/materials"]
FILTERS = [
    "$where",
    '{"$where": "sleep(1000)"}',
    'status={"$ne": 1}',
    'status="running" OR {"$ne": 1}',
    "status=$ne",
    'claimed_by.$ne="x"',
    '_id="x"',
    'campaign="x"',
    'status="x" AND ' * 120,
    "(" * 900 + 'status="x"' + ")" * 900,
    "NOT " * 400 + 'status="x"',
    "x" * 2001,
]


@pytest.mark.parametrize("url", LISTINGS)
@pytest.mark.parametrize("text", FILTERS, ids=[f"filter{i}" for i in range(len(FILTERS))])
def test_operators_and_junk_in_filters_are_400_or_422(
    refused: Callable[..., dict[str, Any]], url: str, text: str
) -> None:
    answer = refused("GET", url, params={"filter": text})
    assert answer["status"] in (400, 422)
    assert "filter" in str(answer["detail"])


VALID_FILTERS = [  # batches that do not exist: every filter matches nothing
    'batch="x" OR ' * 130 + 'batch="y"',
    "NOT (" * 150 + 'batch="x"' + ")" * 150,
    '(batch="x" OR (batch="z" AND ' * 60 + 'batch="y"' + "))" * 60,
    "(" * 150 + 'batch="x"' + ")" * 150,
]


@pytest.mark.parametrize(
    "text", VALID_FILTERS, ids=["or-chain", "not-nest", "and-or-nest", "parens"]
)
def test_long_and_deeply_nested_valid_filters_answer_200(
    api: TestClient, admin_headers: dict[str, str], text: str
) -> None:
    assert len(text) <= 2000
    response = api.get(f"{CAMPAIGN}/trials", params={"filter": text}, headers=admin_headers)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["data"] == []


@pytest.mark.parametrize("url", LISTINGS)
@pytest.mark.parametrize(
    "query",
    ["limit=%7B%22%24gt%22%3A0%7D", "offset[$gt]=0&offset=x", "format=%24where", "limit=0"],
)
def test_operators_in_limit_offset_format_are_422(
    refused: Callable[..., dict[str, Any]], url: str, query: str
) -> None:
    assert refused("GET", f"{url}?{query}")["status"] == 422


@pytest.mark.parametrize("url", LISTINGS)
def test_bracketed_operator_parameters_are_refused_not_applied(
    api: TestClient, admin_headers: dict[str, str], url: str
) -> None:
    # `limit[$gt]=0` is no parameter a listing takes: a 422 naming it, never {"$gt": 0}.
    response = api.get(f"{url}?limit[$gt]=0&filter[$ne]=1&filter[$where]=1", headers=admin_headers)
    assert response.status_code == 422, response.text
    named = [error["loc"][-1] for error in response.json()["detail"]]
    assert named == ["limit[$gt]", "filter[$ne]", "filter[$where]"]


def test_contains_matches_literally_not_as_a_regex(
    api: TestClient, admin_headers: dict[str, str]
) -> None:
    add_material("Fe2O3")
    add_material("NaCl")
    response = api.get(
        "/api/v1/materials",
        params={"filter": 'chemical_formula_descriptive CONTAINS "."'},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == []


REGEX_CRASHES = {
    "materials": ("/api/v1/materials", 'chemical_formula_descriptive STARTS WITH "("'),
    "trials": (f"{CAMPAIGN}/trials", 'status CONTAINS "["'),
    "measurements": (f"{CAMPAIGN}/measurements", 'source ENDS WITH "*"'),
}


@pytest.mark.parametrize(("url", "text"), REGEX_CRASHES.values(), ids=REGEX_CRASHES.keys())
def test_regex_metacharacters_in_a_filter_are_not_a_500(
    api: TestClient,
    admin_headers: dict[str, str],
    url: str,
    text: str,
) -> None:
    response = api.get(url, params={"filter": text}, headers=admin_headers)
    assert response.status_code < 500, response.text


@pytest.mark.parametrize("url", LISTINGS[:1])
def test_a_huge_integer_in_a_filter_is_a_400(
    refused: Callable[..., dict[str, Any]], url: str
) -> None:
    assert refused("GET", url, params={"filter": "candidate > 1" + "0" * 20})["status"] == 400


@pytest.mark.parametrize("url", LISTINGS)
def test_an_offset_too_large_for_mongodb_is_a_422(
    refused: Callable[..., dict[str, Any]], url: str
) -> None:
    assert refused("GET", url, params={"offset": 2**63})["status"] == 422


# -- path parameters --------------------------------------------------------------------
PATHS = [
    ("GET", "/api/v1/campaigns/%24where", 404),
    ("GET", "/api/v1/campaigns/%24where/trials", 404),
    ("GET", "/api/v1/campaigns/%24where/measurements", 404),
    ("GET", "/api/v1/campaigns/%7B%22%24ne%22%3Anull%7D", 404),
    ("GET", "/api/v1/campaigns/photo-pce10%00", 404),
    ("POST", "/api/v1/campaigns/%24where/claims", 404),
    ("POST", "/api/v1/campaigns/%24where/results", 404),
    ("POST", f"/api/v1/campaigns/%24where/trials/{TRIAL}/fail", 404),
    ("POST", f"{CAMPAIGN}/trials/%24ne/fail", 422),
    ("POST", f"{CAMPAIGN}/trials/%7B%22%24ne%22%3Anull%7D/cancel", 422),
    ("POST", f"{CAMPAIGN}/trials/abcdefghijkl/cancel", 422),  # 12 bytes: an ObjectId to bson
    ("POST", f"{CAMPAIGN}/trials/{'0' * 24}/fail", 404),
]


@pytest.mark.parametrize(("method", "url", "status"), PATHS, ids=[u for _, u, _ in PATHS])
def test_operators_in_path_parameters_are_404_or_422(
    refused: Callable[..., dict[str, Any]], method: str, url: str, status: int
) -> None:
    body = {"claims": {"instrument": "r"}, "results": result()}.get(url.rsplit("/", 1)[-1])
    assert refused(method, url, json=body)["status"] == status


# -- oversized bodies -------------------------------------------------------------------
BIG = 3 * 1024 * 1024


def test_a_body_over_2_mib_is_413_and_stores_nothing(
    refused: Callable[..., dict[str, Any]],
) -> None:
    body = campaign(objectives=[{"name": "y", "direction": "max", "unit": "x" * BIG}])
    answer = refused("POST", _url("/campaigns"), json=body)
    assert answer["status"] == 413 and "2097152" in answer["detail"]


def test_a_chunked_body_over_2_mib_is_413_and_stores_nothing(
    refused: Callable[..., dict[str, Any]],
) -> None:
    head = b'{"name": "chunked", "space": {"parameters": [{"name": "x", "lower": 0, "upper": 1}]},'
    head += b' "objectives": [{"name": "y", "direction": "max", "unit": "'

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(BIG // 65536):
            yield b"x" * 65536
        yield b'"}]}'

    # No Content-Length: the limit is enforced while the body streams in.
    answer = refused(
        "POST", _url("/campaigns"), content=chunks(), headers={"content-type": "application/json"}
    )
    assert answer["status"] == 413 and "2097152" in answer["detail"]


def test_a_chunked_body_under_2_mib_is_read(api: TestClient, admin_headers: dict[str, str]) -> None:
    body = json.dumps(campaign(objectives=[{"name": "y", "direction": "max", "unit": "x" * 1000}]))
    pieces = [body[i : i + 100].encode() for i in range(0, len(body), 100)]
    headers = {**admin_headers, "content-type": "application/json"}
    response = api.post(_url("/campaigns"), content=iter(pieces), headers=headers)
    assert response.status_code == 201, response.text[:300]
