"""The dashboard as a lab reads it: outages, closed campaigns, whose GP, what strategy, when."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pymongo.errors import ServerSelectionTimeoutError

import agents.api as api
import agents.dashboard as dashboard
from agents import CampaignAgent, LookupOracle, run
from agents.api import create_app
from db import CampaignStore
from db.tokens import create_token
from discovery.compositions import CompositionSpace, enumerate_compositions
from discovery.datasets import PoolDataset
from discovery.domain import (
    Campaign,
    CampaignSettings,
    Candidate,
    Direction,
    Objective,
    PoolRecipe,
)
from discovery.spaces import ContinuousParameter, SearchSpace

SAME_SITE = {"Origin": "http://testserver"}
PAGES = ["/dashboard", "/dashboard/campaigns/photo-pce10", "/dashboard/literature"]


@pytest.fixture
def client(photo_pce10_campaign: CampaignAgent) -> Iterator[TestClient]:
    with TestClient(create_app()) as app:
        yield app


def _sign_in(client: TestClient) -> str:
    secret, _ = create_token("reader", "researcher")
    response = client.post(
        "/dashboard/login", data={"token": secret}, headers=SAME_SITE, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return secret


def _down(*args: object, **kwargs: object) -> None:
    """A read of a database that does not answer."""
    raise ServerSelectionTimeoutError("127.0.0.1:27017: timed out")


def _subtitle(text: str, dom_id: str) -> str:
    """A figure's subtitle on a page."""
    figures = re.findall(r'<div class="plot" id="([^"]+)" data-figure="([^"]*)"', text)
    data = dict(figures)[dom_id]
    return str(json.loads(html.unescape(data))["layout"]["title"]["subtitle"]["text"])


def _hint(text: str, label: str) -> str:
    """The hint under a key-number tile."""
    found = re.search(
        rf'<span class="label">{re.escape(label)}</span><span class="value">[^<]*</span>'
        r'<span class="hint">([^<]*)</span>',
        text,
    )
    assert found is not None, label
    return found.group(1)


# -- 1. the database down -------------------------------------------------------------------
@pytest.mark.parametrize("path", PAGES)
def test_a_page_with_the_database_down_is_an_html_503_in_words(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    _sign_in(client)
    monkeypatch.setattr(api, "session_principal", _down)  # the session lookup: the first read
    response = client.get(path)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-security-policy"] == dashboard.CSP
    assert "The database is not answering; try again shortly." in response.text
    assert "ServerSelectionTimeoutError" not in response.text
    assert "idempotency" not in response.text and '"detail"' not in response.text


def test_a_page_whose_later_read_fails_is_the_same_503_page(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sign_in(client)
    monkeypatch.setattr(CampaignStore, "trials", _down)  # signed in, then the database goes
    response = client.get("/dashboard/campaigns/photo-pce10")
    assert response.status_code == 503
    assert "The database is not answering" in response.text


def test_the_api_tells_only_writes_to_keep_their_idempotency_keys(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret, _ = create_token("robot", "instrument", ["photo-pce10"])
    headers = {"Authorization": f"Bearer {secret}"}
    monkeypatch.setattr(api, "authenticate", _down)
    read = client.get("/api/v1/campaigns", headers=headers)
    assert read.status_code == 503 and read.headers["retry-after"] == "1"
    assert read.json() == {"detail": "database unavailable (ServerSelectionTimeoutError); retry"}
    write = client.post(
        "/api/v1/campaigns/photo-pce10/results",
        json={"trial_id": "x", "values": {"degradation": 1.0}},
        headers=headers,
    )
    assert write.status_code == 503
    assert write.json()["detail"].endswith("; retry with the same idempotency key")
    claim = client.post(
        "/api/v1/campaigns/photo-pce10/claims", json={"instrument": "robot"}, headers=headers
    )
    assert claim.status_code == 503
    assert claim.json()["detail"].endswith("; retry with the same request_id")  # its key


# -- 2. a closed campaign ---------------------------------------------------------------------
def test_a_closed_campaign_says_so_and_how_its_expired_leases_end(
    client: TestClient, photo_pce10_campaign: CampaignAgent
) -> None:
    agent = photo_pce10_campaign
    agent.propose(2)
    agent.claim("robot-1", 1, lease_seconds=1.0)
    time.sleep(1.1)
    _sign_in(client)
    text = client.get("/dashboard/campaigns/photo-pce10").text
    assert '<h1>photo-pce10</h1><span class="pill active">active</span>' in text
    assert _hint(text, "running").endswith("1 lease ran out: the next claim frees them")

    agent.claim("robot-2", 1, lease_seconds=1.0)
    agent.close()  # robot-2's lease still runs: its trial stays running, the rest abandoned
    time.sleep(1.1)
    text = client.get("/dashboard/campaigns/photo-pce10").text
    assert '<h1>photo-pce10</h1><span class="pill closed">closed</span>' in text
    assert "no new trials" in text
    hint = _hint(text, "running")
    assert hint.endswith(
        "1 lease ran out: closing again (matloop campaign close photo-pce10) abandons them"
    )
    assert "next claim" not in hint  # a closed campaign refuses claims (409)
    assert '<span class="pill closed">closed</span>' in client.get("/dashboard").text


# -- 3. the GP panels' GP ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("strategy", "prior", "gap"),
    [
        ("gp", None, ""),
        ("gp+qucb", None, ""),  # another acquisition, the same plain GP
        ("botorch", None, ""),
        ("gnn", None, "this campaign proposes with gnn"),
        ("ensemble+qucb", None, "this campaign proposes with ensemble+qucb"),
        ("gp+warp", None, "this campaign proposes with gp+warp"),
        ("gp+iwarp", None, "this campaign proposes with gp+iwarp"),
        ("gp", "model:ensemble:abc", "this campaign proposes with gp+prior"),
        ("random", None, "this campaign proposes with random"),
        ("no-such-strategy", None, "this campaign proposes with no-such-strategy"),
    ],
)
def test_the_model_gap_names_what_the_campaign_proposes_with(
    strategy: str, prior: str | None, gap: str
) -> None:
    space = SearchSpace((ContinuousParameter("x", 0, 1),))
    settings = CampaignSettings(strategy, prior_model=prior)
    campaign = Campaign("c", space, (Objective("y", Direction.MAXIMIZE),), settings)
    assert dashboard.model_gap(campaign) == gap


def test_gp_panels_say_they_are_a_diagnostic_gp_and_not_a_warped_campaigns_model(
    client: TestClient,
    store: CampaignStore,
    photo_pce10_campaign: CampaignAgent,
    photo_pce10_dataset: PoolDataset,
) -> None:
    plain = photo_pce10_campaign
    settings = CampaignSettings("gp+qucb+warp", initial=4, batch_size=2, seed=0)
    warped = CampaignAgent.from_dataset(store, "opv-warp", photo_pce10_dataset, settings)
    for agent in (plain, warped):
        run(agent, LookupOracle.from_candidates(store.candidates(agent.name)), 1)
        agent.propose()  # pending trials, drawn at the diagnostic GP's prediction
    _sign_in(client)

    text = client.get("/dashboard/campaigns/photo-pce10").text
    assert _hint(text, "diagnostic GP 95% coverage") == "LOO on 14 points"
    for figure in ("fig-parity", "fig-calibration"):
        assert _subtitle(text, figure).startswith("diagnostic GP<br>")
    assert "proposes with" not in text

    text = client.get("/dashboard/campaigns/opv-warp").text
    gap = "this campaign proposes with gp+qucb+warp"
    assert _hint(text, "diagnostic GP 95% coverage") == f"LOO on 6 points; plain GP, {gap}"
    for figure in ("fig-parity", "fig-calibration"):
        assert _subtitle(text, figure).startswith(f"diagnostic GP (plain; {gap})<br>")
    assert f"(diagnostic GP mean ± 2σ; plain GP, {gap})" in _subtitle(text, "fig-proposals")


# -- 5. the strategy as `campaign show` gives it, and the pool's recipe ------------------------
def test_a_prior_and_a_generated_pool_are_shown_as_the_cli_shows_them(
    client: TestClient, store: CampaignStore
) -> None:
    space = CompositionSpace(("Ti", "Zr", "O"), 3, 10, charge_balanced=True)
    recipe = PoolRecipe(space.elements, 3, space.fewest, True, grid=10, known_left_out=1)
    points = enumerate_compositions(space)
    settings = CampaignSettings("gp", initial=2, prior_model="model:ensemble:abc123")
    goal = (Objective("bulk", Direction.MAXIMIZE, "GPa"),)
    campaign = Campaign(
        "oxides", space.search_space(), goal, settings, source="generated", pool_recipe=recipe
    )
    store.create(campaign, [Candidate(i, p) for i, p in enumerate(points)])
    _sign_in(client)

    index = client.get("/dashboard").text
    assert '<td>gp+<wbr>prior<div class="sub">prior=model:ensemble:abc123</div></td>' in index
    text = client.get("/dashboard/campaigns/oxides").text
    subtitle = re.search(r'<p class="subtitle">(.*?)</p>', text)
    assert subtitle is not None
    assert subtitle.group(1).startswith("gp+prior prior=model:ensemble:abc123 · 2 initial")
    words = recipe.describe()  # as `campaign show` gives it
    assert words == "Ti,Zr,O, 2 to 3 elements, grid 10, charge balanced; 1 known left out"
    assert f" · pool of {len(points)} compositions of {words}" in subtitle.group(1)
    assert "source generated" not in text


def test_a_pool_without_a_recipe_still_names_its_source(
    client: TestClient, photo_pce10_campaign: CampaignAgent
) -> None:
    _sign_in(client)
    text = client.get("/dashboard/campaigns/photo-pce10").text
    assert f" · source {photo_pce10_campaign.campaign.source}" in text
    assert "compositions of" not in text and "prior=" not in text


# -- 10. when a page was drawn ----------------------------------------------------------------
def test_every_page_says_when_it_was_drawn(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    monkeypatch.setattr(dashboard, "drawn_at", lambda: drawn)
    stamp = '<time class="asof" datetime="2026-03-04T05:06:07Z" title="2026-03-04">'
    assert f"{stamp}as of 05:06:07 UTC</time>" in client.get("/dashboard/login").text
    _sign_in(client)
    for path in [*PAGES, "/dashboard/campaigns/nothing-here"]:
        response = client.get(path)
        assert "as of 05:06:07 UTC" in response.text, path
        assert 'http-equiv="refresh"' not in response.text  # static: the time says how old


def test_the_time_a_page_gives_is_when_it_was_drawn(client: TestClient) -> None:
    _sign_in(client)
    before = datetime.now(UTC).replace(microsecond=0)
    text = client.get("/dashboard").text
    after = datetime.now(UTC)
    found = re.search(
        r'<time class="asof" datetime="([^"]+)"[^>]*>as of (\d\d:\d\d:\d\d) UTC', text
    )
    assert found is not None
    drawn = datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= drawn <= after and found.group(2) == f"{drawn:%H:%M:%S}"
