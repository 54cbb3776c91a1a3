"""``POST /campaigns``: the ``space`` format, documented in the OpenAPI schema and enforced."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agents.api import create_app
from db import CampaignStore
from db.documents import CampaignDocument
from db.tokens import create_token
from discovery.spaces import SearchSpace

X = {"name": "x", "type": "continuous", "lower": 0, "upper": 1}


@pytest.fixture
def api(mongodb_uri: str) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


@pytest.fixture
def admin(mongodb_uri: str) -> dict[str, str]:
    secret, _ = create_token(f"admin-{time.monotonic_ns()}", "admin")
    return {"Authorization": f"Bearer {secret}"}


def _body(name: str, space: Any) -> dict[str, Any]:
    return {"name": name, "space": space, "objectives": [{"name": "y", "direction": "max"}]}


def _space_schema(api: TestClient) -> dict[str, Any]:
    schema = api.get("/openapi.json").json()
    return schema["components"]["schemas"]["CampaignIn"]["properties"]["space"]


def test_an_unknown_space_key_is_a_422_naming_it_and_nothing_is_stored(
    api: TestClient, admin: dict[str, str]
) -> None:
    space = {"parameters": [X], "linear_constraints": [{"terms": {"x": 1}, "upper": 0.5}]}
    answer = api.post("/api/v1/campaigns", json=_body("unsafe", space), headers=admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == (
        "space.linear_constraints: unknown key (a space has parameters, simplex, linear)"
    )
    assert CampaignDocument.objects(name="unsafe").count() == 0
    assert api.get("/api/v1/campaigns", headers=admin).json() == []


@pytest.mark.parametrize(
    ("space", "detail"),
    [
        ({"parameters": {"x": [0, 1]}}, "space.parameters: must be a list, got {'x': [0, 1]}"),
        ({"parameters": [{"name": "x", "low": 0, "high": 1}]}, "space.parameters[0].low: unknown"),
        ({"parameters": [X], "simplex": [["x"]]}, "space.simplex[0]: must be an object"),
        ({"parameters": [X | {"units": "degC"}]}, "space.parameters[0].units: unknown key"),
    ],
)
def test_a_wrongly_shaped_space_is_a_422_with_a_path_not_a_python_error(
    api: TestClient, admin: dict[str, str], space: dict[str, Any], detail: str
) -> None:
    answer = api.post("/api/v1/campaigns", json=_body("shaped", space), headers=admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(detail), answer.text
    assert "Error" not in answer.text and "malformed" not in answer.text


def test_the_openapi_schema_describes_the_space_and_its_example_creates_a_campaign(
    api: TestClient, admin: dict[str, str]
) -> None:
    schema = _space_schema(api)
    for word in ("parameters", "continuous", "categorical", "simplex", "linear", "unknown key"):
        assert word in schema["description"], word
    [example] = schema["examples"]
    kinds = {p.get("type", "continuous") for p in example["parameters"]}
    assert kinds == {"continuous", "categorical"} and example["simplex"] and example["linear"]
    assert any(p.get("unit") for p in example["parameters"])
    created = api.post("/api/v1/campaigns", json=_body("documented", example), headers=admin)
    assert created.status_code == 201, created.text
    assert CampaignStore().get("documented").space == SearchSpace.from_dict(example)
