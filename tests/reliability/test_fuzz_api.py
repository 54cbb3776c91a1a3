"""Schemathesis against the API's own OpenAPI schema, in process, with an admin token.

Every operation is fuzzed with schema-conforming (positive) and schema-violating
(negative) requests, with generated path parameters and with the real ``photo-pce10``
campaign and one of its trials, so the handlers run past their 404s. Checks: no response
is a 5xx (``not_a_server_error``, and no exception escapes the app), every status is
one the operation declares, and responses match the schema's body and content type
(CSV listings and the handlers' ``{"detail": "text"}`` errors included). Generation is
derandomized and unshrunk: CI tries the same cases every run, and all of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agents.api import MAX_BODY_BYTES, create_app
from db.tokens import create_token

APP = create_app()
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
OPERATIONS = sorted((op.ok().method.upper(), op.ok().path) for op in SCHEMA.get_all_operations())
EXAMPLES = 16  # per operation x generation mode x (generated | real) path parameters
CAMPAIGN = "photo-pce10"


@pytest.fixture
def trial_id(api: TestClient, admin_headers: dict[str, str]) -> str:
    """A real, running trial of the campaign."""
    response = api.post(
        f"/api/v1/campaigns/{CAMPAIGN}/claims",
        json={"instrument": "fuzz", "count": 2},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["trials"][0]["id"])


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_operation_answers_5xx_and_answers_match_the_schema(
    api: TestClient,
    admin_headers: dict[str, str],
    trial_id: str,
    fuzz_cases: Counter[str],
    method: str,
    path: str,
) -> None:
    operation = SCHEMA[path][method]
    real = {k: v for k, v in {"name": CAMPAIGN, "trial_id": trial_id}.items() if f"{{{k}}}" in path}
    strategies = [
        operation.as_strategy(mode, headers=admin_headers, path_parameters=fixed)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for fixed in ([None, real] if real else [None])
    ]
    problems: list[str] = []
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES * len(strategies),
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def fuzz(case: schemathesis.Case) -> None:
        try:
            response = case.call(app=APP)
        except Exception as error:  # raised past the app's error handlers
            statuses[0] += 1
            problems.append(f"{type(error).__name__}: {error}\n  {case.as_curl_command()}")
            return
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as error:
            problems.append(f"{response.status_code}: {case.as_curl_command()}\n{error}")

    fuzz()
    tried = statuses.total()
    fuzz_cases[f"schemathesis {method} {path}"] += tried
    print(f"{method} {path}: {tried} cases, statuses {dict(statuses)}")
    assert tried > 0
    assert not problems, f"{len(problems)} problems, first ones:\n" + "\n".join(problems[:5])


def _conforms(response: Any, method: str, path: str, name: str = CAMPAIGN, **case: Any) -> None:
    """Assert the response's status is declared and its body and type match the schema."""
    parameters = {"name": name} if "{name}" in path else {}
    operation = SCHEMA[path][method]
    operation.Case(path_parameters=parameters, **case).validate_response(response, checks=CHECKS)


LISTINGS = [
    "/api/v1/campaigns/{name}/trials",
    "/api/v1/campaigns/{name}/measurements",
    "/api/v1/materials",
]


@pytest.mark.parametrize("path", LISTINGS)
def test_csv_listings_are_documented_in_the_schema(
    api: TestClient, admin_headers: dict[str, str], trial_id: str, path: str
) -> None:
    content = APP.openapi()["paths"][path]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv"} <= set(content), (path, sorted(content))
    url = path.replace("{name}", CAMPAIGN)
    response = api.get(url, params={"format": "csv"}, headers=admin_headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    _conforms(response, "GET", path, query={"format": "csv"})


RESULTS = "/api/v1/campaigns/{name}/results"
FAILED = "{failed}"  # replaced by a trial that was failed, so no longer pending
ERROR_CASES = {
    "401-no-token": (401, CAMPAIGN, None, {"trial_id": "x"}),
    "403-researcher": (403, CAMPAIGN, "researcher", {"trial_id": "x"}),
    "404-campaign": (404, "nope", "admin", {"trial_id": "x"}),
    "409-not-pending": (409, CAMPAIGN, "admin", {"trial_id": FAILED}),
    "422-handler-text": (422, CAMPAIGN, "admin", {"trial_id": "0" * 24}),
    "422-validation-list": (422, CAMPAIGN, "admin", {"trial_id": "x", "values": None}),
}


@pytest.mark.parametrize(
    ("status", "name", "role", "body"), ERROR_CASES.values(), ids=ERROR_CASES.keys()
)
def test_error_answers_are_declared_and_match_their_schema(
    api: TestClient,
    admin_headers: dict[str, str],
    trial_id: str,
    status: int,
    name: str,
    role: str | None,
    body: dict[str, Any],
) -> None:
    fail = api.post(f"/api/v1/campaigns/{CAMPAIGN}/trials/{trial_id}/fail", headers=admin_headers)
    assert fail.status_code == 200, fail.text
    headers = {}
    if role is not None:
        secret, _ = create_token(f"schema-{role}", role)
        headers = {"Authorization": f"Bearer {secret}"}
    body = {"values": {"degradation": 1.0}, **body}
    body["trial_id"] = trial_id if body["trial_id"] == FAILED else body["trial_id"]
    response = api.post(f"/api/v1/campaigns/{name}/results", json=body, headers=headers)
    assert response.status_code == status, response.text[:300]
    assert response.json()["detail"], response.text
    _conforms(response, "POST", RESULTS, name, media_type="application/json")


def test_a_chunked_413_is_declared_and_matches_its_schema(
    api: TestClient, admin_headers: dict[str, str]
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"trial_id": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"x" * 65536
        yield b'", "values": {}}'

    headers = {**admin_headers, "content-type": "application/json"}
    response = api.post(f"/api/v1/campaigns/{CAMPAIGN}/results", content=chunks(), headers=headers)
    assert response.status_code == 413, response.text[:300]
    _conforms(response, "POST", RESULTS, media_type="application/json")


def test_a_new_and_a_known_material_are_declared_answers(
    api: TestClient, admin_headers: dict[str, str]
) -> None:
    for status in (201, 200):
        response = api.post("/api/v1/materials", json={"formula": "Fe2O3"}, headers=admin_headers)
        assert response.status_code == status, response.text
        _conforms(response, "POST", "/api/v1/materials", media_type="application/json")


def test_the_schema_declares_the_error_statuses_the_routes_answer() -> None:
    paths = APP.openapi()["paths"]
    declared = {
        (method.upper(), path): set(operation["responses"])
        for path, operations in paths.items()
        for method, operation in operations.items()
    }
    assert {"401", "403", "404", "409", "413", "422", "503"} <= declared[("POST", RESULTS)]
    for (method, path), statuses in declared.items():
        if path.startswith("/api/"):  # every API route: token errors, database down
            assert {"401", "403", "503"} <= statuses, (method, path, sorted(statuses))
        if method == "POST" and path.startswith("/api/"):
            assert {"413", "422"} <= statuses, (method, path, sorted(statuses))
        if "{name}" in path:
            assert "404" in statuses, (method, path, sorted(statuses))
    for path in LISTINGS:
        assert "400" in declared[("GET", path)], path
