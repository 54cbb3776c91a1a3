"""No API token reaches the server's logs: the app's, uvicorn's (access log on), pymongo's.

A real uvicorn server (in a thread, every logger at DEBUG and propagating to pytest's
capture) answers tokens as bearer headers, as the dashboard's cookie and in the login
form, valid and wrong, on successful, refused and failing requests. The test's own HTTP
client (httpx, httpcore) is not checked: at DEBUG httpcore prints response headers, and
the dashboard login's ``Set-Cookie`` carries the token to the browser by design.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from agents import CampaignAgent
from agents.api import SESSION_COOKIE, create_app
from db.server import free_port
from db.tokens import create_token
from tests.live_server import live_server

CAMPAIGN = "/api/v1/campaigns/photo-pce10"
CLIENT_LOGGERS = ("httpx", "httpcore")
WRONG = "mlp_wrong-token-Zq8vT3xLk2pW9sRb7nYc4dFh6gJm1aQe5uIo0tEr"


@pytest.fixture
def server(photo_pce10_campaign: CampaignAgent) -> Iterator[str]:
    """The API and dashboard on a free port, logging through ``logging`` (no own handlers)."""
    config = uvicorn.Config(
        create_app(), port=free_port(), log_config=None, log_level="debug", access_log=True
    )
    with live_server(config) as url:
        yield url


def _requests(url: str, tokens: list[str]) -> list[int]:
    """Use every token every way a client would; the statuses answered."""
    statuses = []
    with httpx.Client(base_url=url) as client:
        for secret in [*tokens, WRONG]:
            bearer = {"Authorization": f"Bearer {secret}"}
            for response in (
                client.get("/api/v1/campaigns", headers=bearer),
                client.get(f"{CAMPAIGN}/trials", params={"format": "csv"}, headers=bearer),
                client.post(f"{CAMPAIGN}/claims", json={"instrument": "r"}, headers=bearer),
                client.post(f"{CAMPAIGN}/results", json={"trial_id": "x"}, headers=bearer),
                client.get("/api/v1/materials", params={"filter": "(("}, headers=bearer),
                client.post("/dashboard/login", data={"token": secret}, headers={"Origin": url}),
            ):
                statuses.append(response.status_code)
            statuses.append(client.get("/dashboard").status_code)  # the login's session
            client.cookies.clear()
            client.cookies.set(SESSION_COOKIE, secret)  # a token where a session belongs
            statuses.append(client.get("/dashboard").status_code)
            client.cookies.clear()
    return statuses


def test_no_token_appears_in_any_log_record(
    server: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    tokens = [
        create_token(f"logs-{role}", role, ["photo-pce10"] if role == "instrument" else None)[0]
        for role in ("researcher", "instrument", "admin")
    ]
    caplog.set_level(logging.DEBUG)  # the root logger: every logger that propagates
    statuses = _requests(server, tokens)
    assert {200, 303, 401, 403, 422, 400} <= set(statuses), statuses

    records = caplog.records
    access = [r.getMessage() for r in records if r.name == "uvicorn.access"]
    assert any("/api/v1/campaigns" in line for line in access), access[:5]
    assert any('"GET /dashboard HTTP/1.1" 401' in line for line in access), access[:5]
    assert any(r.name.startswith("pymongo") for r in records)  # the database log too
    out, err = capfd.readouterr()
    server_records = [r for r in records if not r.name.startswith(CLIENT_LOGGERS)]
    for secret in [*tokens, WRONG]:
        for record in server_records:
            text = f"{record.getMessage()} {record.exc_text or ''} {vars(record)!r}"
            assert secret not in text, f"{record.name}: {record.getMessage()[:300]}"
        assert secret not in out + err
