"""Every route has an access rule, and writes without a token or with the wrong scope fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from agents import CampaignAgent
from agents.api import create_app
from db.tokens import create_token

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
    from db.tokens import TokenDocument

    secret, _ = create_token("hashed", "researcher")
    stored = TokenDocument.objects.get(name="hashed")
    assert secret not in str(stored.to_mongo())
    assert len(stored.token_hash) == 64
