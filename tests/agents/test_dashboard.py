"""The dashboard's pages through the app: sign-in, campaign list, figures, errors, escaping."""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

import agents.dashboard as dashboard
from agents import CampaignAgent, LookupOracle, run
from agents.api import SESSION_COOKIE, create_app
from db import CampaignStore
from db.tokens import create_token, revoke_token
from discovery.datasets import PoolDataset
from discovery.domain import (
    Campaign,
    CampaignSettings,
    Direction,
    Measurement,
    Objective,
    OutcomeConstraint,
)
from discovery.spaces import CategoricalParameter, ContinuousParameter, SearchSpace

SAME_SITE = {"Origin": "http://testserver"}
HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture
def client(photo_pce10_campaign: CampaignAgent) -> Iterator[TestClient]:
    with TestClient(create_app()) as api:
        yield api


def _sign_in(client: TestClient, name: str = "reader") -> str:
    secret, _ = create_token(name, "researcher")
    response = client.post(
        "/dashboard/login", data={"token": secret}, headers=SAME_SITE, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return secret


def _decode(value: Any) -> Any:
    """Plotly's JSON with its base64 typed arrays (``{"dtype", "bdata"}``) as lists."""
    if isinstance(value, dict):
        if set(value) == {"dtype", "bdata"}:
            return np.frombuffer(base64.b64decode(value["bdata"]), value["dtype"]).tolist()
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _figures(text: str) -> dict[str, dict[str, Any]]:
    """Figures on a page by div id, parsed from their data-figure attributes."""
    found = re.findall(r'<div class="plot" id="([^"]+)" data-figure="([^"]*)"', text)
    return {dom_id: _decode(json.loads(html.unescape(data))) for dom_id, data in found}


def _tiles(text: str) -> dict[str, str]:
    """A page's key-number tiles, label -> value."""
    found = re.findall(r'<span class="label">([^<]*)</span><span class="value">([^<]*)<', text)
    return dict(found)


def _measure(agent: CampaignAgent, rounds: int) -> None:
    run(agent, LookupOracle.from_candidates(agent.store.candidates(agent.name)), rounds)


def test_login_sets_an_httponly_strict_cookie_and_redirects(client: TestClient) -> None:
    form = client.get("/dashboard/login")
    assert form.status_code == 200
    assert '<form method="post" action="/dashboard/login"' in form.text
    secret, _ = create_token("reader", "researcher")
    response = client.post(
        "/dashboard/login", data={"token": secret}, headers=SAME_SITE, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=mls_") and secret not in cookie  # not the token
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert client.get("/dashboard").status_code == 200  # the cookie now signs us in
    session = client.cookies[SESSION_COOKIE]
    as_bearer = client.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {session}"})
    assert as_bearer.status_code == 401  # the session is no token: it reads only by cookie


def test_a_session_ends_when_its_token_is_revoked_or_its_time_is_up(client: TestClient) -> None:
    from db.tokens import SessionDocument, revoke_token

    secret, _ = create_token("short", "researcher")
    client.post("/dashboard/login", data={"token": secret}, headers=SAME_SITE)
    assert client.get("/dashboard").status_code == 200
    SessionDocument.objects.update(set__expires_at=datetime(2000, 1, 1))
    assert client.get("/dashboard").status_code == 401
    client.post("/dashboard/login", data={"token": secret}, headers=SAME_SITE)
    assert SessionDocument.objects.count() == 1  # the ended one deleted as a new one began
    revoke_token("short")
    assert client.get("/dashboard").status_code == 401
    assert SessionDocument.objects.count() == 0  # the revoked token's sessions deleted


def test_signing_in_again_ends_the_session_before(client: TestClient) -> None:
    from db.tokens import SessionDocument

    secret, _ = create_token("twice", "researcher")
    client.post("/dashboard/login", data={"token": secret}, headers=SAME_SITE)
    first = client.cookies[SESSION_COOKIE]
    client.cookies.set("matloop_token", secret)  # where an older matloop kept the token
    again = client.post(
        "/dashboard/login", data={"token": secret}, headers=SAME_SITE, follow_redirects=False
    )
    assert 'matloop_token="";' in again.headers["set-cookie"]  # the old cookie deleted
    assert SessionDocument.objects.count() == 1
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, first)
    assert client.get("/dashboard").status_code == 401


def test_the_sign_in_cookie_reads_but_never_writes(client: TestClient) -> None:
    """Another site's page could post a form here with it: closing a campaign, for one."""
    secret, _ = create_token("boss", "admin")
    client.post("/dashboard/login", data={"token": secret}, headers=SAME_SITE)
    assert client.get("/api/v1/campaigns").status_code == 200  # reads, as the pages do
    forged = client.post("/api/v1/campaigns/opv/close", headers={"Origin": "http://evil:9"})
    assert forged.status_code == 401
    assert "the dashboard's sign-in reads only" in forged.json()["detail"]
    sent = client.post("/api/v1/campaigns/opv/close", headers={"Authorization": f"Bearer {secret}"})
    assert sent.status_code == 404  # the token itself: on to the campaign, which is none


def test_a_shared_link_returns_to_its_page_after_sign_in(client: TestClient) -> None:
    asked = client.get("/dashboard/campaigns/pv.lab", params={"x": "1"})
    assert asked.status_code == 401
    assert 'href="/dashboard/login?next=/dashboard/campaigns/pv.lab%3Fx%3D1"' in asked.text
    form = client.get("/dashboard/login", params={"next": "/dashboard/campaigns/pv.lab?x=1"})
    assert 'name="next" value="/dashboard/campaigns/pv.lab?x=1"' in form.text
    secret, _ = create_token("reader", "researcher")
    for target, landing in [
        ("/dashboard/campaigns/pv.lab?x=1", "/dashboard/campaigns/pv.lab?x=1"),
        ("//evil.example/dashboard", "/dashboard"),  # never another site
        ("https://evil.example/dashboard", "/dashboard"),
        ("/api/v1/campaigns", "/dashboard"),  # pages only
        ("/dashboard\\..\\x", "/dashboard"),
        ("/dashboard/../api/v1/campaigns", "/dashboard"),
        ("/dashboard/%2e%2e/api", "/dashboard"),
        ("/dashboard/logout", "/dashboard"),  # no page to land on
        ("/dashboard/static/plotly.js", "/dashboard"),
    ]:
        signed = client.post(
            "/dashboard/login",
            data={"token": secret, "next": target},
            headers=SAME_SITE,
            follow_redirects=False,
        )
        assert signed.status_code == 303 and signed.headers["location"] == landing, target


@pytest.mark.parametrize("token", ["mlp_not-a-real-token", "", "x" * 600])
def test_a_bad_token_gets_the_form_again_with_401(client: TestClient, token: str) -> None:
    response = client.post("/dashboard/login", data={"token": token}, headers=SAME_SITE)
    assert response.status_code == 401
    assert "unknown or revoked" in response.text and 'name="token"' in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "https://evil.example"}, {"Referer": "https://evil.example/x"}],
)
def test_cross_site_login_and_logout_posts_are_refused(
    client: TestClient, headers: dict[str, str]
) -> None:
    secret, _ = create_token("reader", "researcher")
    login = client.post("/dashboard/login", data={"token": secret}, headers=headers)
    assert login.status_code == 403 and "set-cookie" not in login.headers
    assert client.post("/dashboard/logout", headers=headers).status_code == 403
    referer = client.post(
        "/dashboard/login",
        data={"token": secret},
        headers={"Referer": "http://testserver/dashboard/login"},
        follow_redirects=False,
    )
    assert referer.status_code == 303  # a same-site Referer is enough without Origin


def test_logout_forgets_the_cookie_and_ends_the_session(client: TestClient) -> None:
    _sign_in(client)
    session = client.cookies[SESSION_COOKIE]
    response = client.post("/dashboard/logout", headers=SAME_SITE, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"
    assert f'{SESSION_COOKIE}="";' in response.headers["set-cookie"]
    assert client.get("/dashboard").status_code == 401
    client.cookies.set(SESSION_COOKIE, session)  # a copy of the cookie, kept elsewhere
    assert client.get("/dashboard").status_code == 401


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/campaigns/photo-pce10"])
def test_pages_need_a_token_and_answer_401_with_a_login_link(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    back = "" if path == "/dashboard" else f"?next={path}"  # to the page asked for
    assert f'href="/dashboard/login{back}"' in response.text
    fake = client.get(path, headers={"Authorization": "Bearer mlp_not-a-real-token"})
    assert fake.status_code == 401
    _sign_in(client, "revoked")
    assert client.get(path).status_code == 200
    revoke_token("revoked")
    assert client.get(path).status_code == 401  # the cookie's token no longer works
    client.cookies.clear()
    reader, _ = create_token("bearer", "researcher")  # a bearer token works like the cookie
    assert client.get(path, headers={"Authorization": f"Bearer {reader}"}).status_code == 200


def test_campaign_list_shows_counts_best_and_efficiency(
    client: TestClient, photo_pce10_campaign: CampaignAgent
) -> None:
    agent = photo_pce10_campaign
    trials = agent.propose()  # the random initial design: 10 trials
    agent.observe(
        LookupOracle.from_candidates(agent.store.candidates(agent.name)).evaluate(trials[:6])
    )
    _sign_in(client)
    response = client.get("/dashboard")
    assert response.status_code == 200
    text = response.text
    assert 'href="/dashboard/campaigns/photo-pce10"' in text
    status = photo_pce10_campaign.status()
    eff = status.efficiency
    assert eff is not None
    row = text[text.index("photo-pce10</a>") :].split("</tr>")[0]
    cells = re.findall(r'<td class="n">([^<]*)</td>', row)
    # measured, feasible (no constraints: none to meet), failed, abandoned, running,
    # proposed, pool
    assert cells[:7] == ["6", "—", "0", "0", "0", "4", "1040"]
    best = status.best
    assert best is not None
    assert cells[7] == dashboard.num(best.measurement.values["degradation"])
    assert cells[8:] == [
        dashboard.num(eff.pool_best),
        dashboard.num(eff.enhancement_factor, 3),
        dashboard.num(eff.acceleration_factor, 3),
    ]


def test_the_campaign_list_fits_a_laptop_and_counts_read_as_written(
    client: TestClient,
    store: CampaignStore,
    photo_pce10_campaign: CampaignAgent,
    photo_pce10_dataset: PoolDataset,
) -> None:
    first = photo_pce10_campaign
    first.observe(
        LookupOracle.from_candidates(store.candidates(first.name)).evaluate(first.propose(1))
    )
    _sign_in(client)
    assert "1 campaign · 1 measurement ·" in client.get("/dashboard").text  # not "1 campaigns"
    settings = CampaignSettings("gp+qucb+warp", initial=4, batch_size=2, seed=0)
    agent = CampaignAgent.from_dataset(store, "opv-qucb", photo_pce10_dataset, settings)
    _measure(agent, 1)
    index = client.get("/dashboard").text
    assert "2 campaigns · 7 measurements ·" in index
    # compact, so that every count stays in view at 1300 px: the strategy wraps at its +,
    # the pool's path is named by its last part (whole on hover)
    assert '<table class="campaigns">' in index
    assert "<td>gp+<wbr>qucb+<wbr>warp</td>" in index
    source = agent.campaign.source or ""
    shown = source.rstrip("/").rsplit("/")[-1]
    assert f'<div class="sub" title="{html.escape(source)}">{html.escape(shown)}</div>' in index
    page = client.get("/dashboard/campaigns/opv-qucb").text
    assert "1 round after the design" in page and "1 rounds" not in page


def test_many_campaigns_are_listed_a_page_at_a_time(
    client: TestClient,
    store: CampaignStore,
    photo_pce10_dataset: PoolDataset,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dashboard, "INDEX_ROWS", 2)
    settings = CampaignSettings("random", initial=2, batch_size=2, seed=0)
    for name in ("opv-b", "opv-c"):  # after photo-pce10, the oldest
        _measure(CampaignAgent.from_dataset(store, name, photo_pce10_dataset, settings), 0)
    _sign_in(client)
    first = client.get("/dashboard").text
    assert "campaigns 1 to 2 of 3 · 2 measurements in these ·" in first
    assert "photo-pce10</a>" in first and "opv-b</a>" in first and "opv-c</a>" not in first
    assert 'page 1 of 2 · <a href="/dashboard?page=2">later →</a>' in first
    second = client.get("/dashboard", params={"page": 2}).text
    assert "campaigns 3 to 3 of 3 · 2 measurements in these ·" in second
    assert "opv-c</a>" in second and "opv-b</a>" not in second
    assert 'page 2 of 2 · <a href="/dashboard?page=1">← earlier</a>' in second
    for page in ("3", "0", "two", "²", "9" * 5000):  # "²" is a digit to isdigit, not int
        missing = client.get("/dashboard", params={"page": page})
        assert missing.status_code == 404
        assert html.escape(f"There is no page {page!r}: pages 1 to 2.") in missing.text
    monkeypatch.setattr(dashboard, "INDEX_ROWS", 3)
    whole = client.get("/dashboard").text
    assert "3 campaigns · 4 measurements ·" in whole and "page 1 of" not in whole


def test_campaign_page_draws_every_figure_from_the_campaign(
    client: TestClient, photo_pce10_campaign: CampaignAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = photo_pce10_campaign
    _measure(agent, rounds=1)
    pending = agent.propose()
    fits = []
    real_fit = dashboard.fit_gp
    monkeypatch.setattr(dashboard, "fit_gp", lambda *a: fits.append(1) or real_fit(*a))
    _sign_in(client)
    response = client.get("/dashboard/campaigns/photo-pce10")
    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["cache-control"] == "no-store"
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)  # no inline script
    assert '<script defer src="/dashboard/static/plotly.js' in response.text
    figures = _figures(response.text)
    assert list(figures) == [
        "fig-best",
        "fig-top",
        "fig-proposals",
        "fig-parity",
        "fig-calibration",
    ]

    measured = [o.measurement.values["degradation"] for o in agent.observations()]
    n = len(measured)
    assert n == 14
    best = {t["name"]: t for t in figures["fig-best"]["data"]}
    np.testing.assert_allclose(best["best so far"]["y"], np.minimum.accumulate(measured))
    assert best["data-set best"]["y"] == pytest.approx([0.001622641] * 2)

    top = {t["name"]: t for t in figures["fig-top"]["data"]}
    np.testing.assert_allclose(top["random sampling (i/N)"]["y"], 100 * np.arange(1, n + 1) / 1040)
    assert "EF " in figures["fig-top"]["layout"]["title"]["subtitle"]["text"]

    proposals = {t["name"]: t for t in figures["fig-proposals"]["data"]}
    assert set(proposals) == {"random", "gp", "pending (diagnostic GP mean ± 2σ)"}
    assert len(proposals["random"]["x"]) == 10 and len(proposals["gp"]["x"]) == 4
    assert proposals["pending (diagnostic GP mean ± 2σ)"]["x"] == list(
        range(n + 1, n + len(pending) + 1)
    )

    # parity: measured values on x in the objective's own sign, LOO predictions on y
    parity = {t["name"]: t for t in figures["fig-parity"]["data"]}["LOO mean ± 1σ"]
    np.testing.assert_allclose(parity["x"], measured)
    assert np.all(np.asarray(parity["error_y"]["array"]) > 0)
    assert np.corrcoef(parity["x"], parity["y"])[0, 1] > 0
    calibration = {t["name"]: t for t in figures["fig-calibration"]["data"]}["observed"]
    assert calibration["x"][0] == 0 and calibration["x"][-1] == 1
    assert all(0 <= v <= 1 for v in calibration["y"])
    assert "fig-literature" not in response.text  # literature has its own page

    assert fits == [1]
    assert client.get("/dashboard/campaigns/photo-pce10").status_code == 200
    assert fits == [1]  # same data: the fitted GP is reused


def test_gp_panels_wait_for_three_measurements(
    client: TestClient, photo_pce10_campaign: CampaignAgent
) -> None:
    agent = photo_pce10_campaign
    trials = agent.propose(2)
    agent.observe(LookupOracle.from_candidates(agent.store.candidates(agent.name)).evaluate(trials))
    _sign_in(client)
    text = client.get("/dashboard/campaigns/photo-pce10").text
    assert "The GP panels need at least 3 measurements; this campaign has 2." in text
    assert list(_figures(text)) == ["fig-best", "fig-top", "fig-proposals"]


def test_an_empty_campaign_page_says_so(
    client: TestClient, photo_pce10_campaign: CampaignAgent
) -> None:
    _sign_in(client)
    text = client.get("/dashboard/campaigns/photo-pce10").text
    assert "No measurements yet." in text and "Nothing proposed yet." in text
    assert _figures(text) == {}


def test_trials_given_up_show_their_reason_and_are_counted(
    client: TestClient, photo_pce10_campaign: CampaignAgent
) -> None:
    agent = photo_pce10_campaign
    first, second = agent.propose(2)
    agent.fail(first.id or "", reason="furnace fault <3>")
    agent.abandon(second.id or "", reason="precursor out of stock")
    _sign_in(client)
    text = client.get("/dashboard/campaigns/photo-pce10").text
    assert "furnace fault &lt;3&gt;" in text and "precursor out of stock" in text
    assert _tiles(text) | {"best degradation": ""} == {
        "measured": "0",
        "failed": "1",
        "abandoned": "1",
        "running": "0",
        "proposed": "0",
        "best degradation": "",
    }  # no feasible tile: the campaign has no outcome constraints
    assert "Nothing measured or pending." in text  # not "nothing proposed": two were
    agent.claim("robot-1", 1, lease_seconds=0.1)
    time.sleep(0.2)
    text = client.get("/dashboard/campaigns/photo-pce10").text
    running, expired = (f'<span class="pill {s}">{s}</span>' for s in ("running", "expired"))
    assert f"{running} {expired}" in text  # the stored status, then why it is stale


def test_two_objectives_show_both_and_the_hypervolume(
    client: TestClient, tradeoff_dataset: PoolDataset
) -> None:
    store = CampaignStore()
    settings = CampaignSettings("random", initial=6, batch_size=5, seed=1)
    agent = CampaignAgent.from_dataset(store, "tradeoff", tradeoff_dataset, settings)
    run(agent, LookupOracle.from_candidates(store.candidates("tradeoff")), 1)
    _sign_in(client)
    text = client.get("/dashboard/campaigns/tradeoff").text
    fraction = agent.status().metrics.hypervolume_fraction
    assert fraction is not None and f"{100 * fraction:.3g}% of the pool" in text
    assert '<th class="n">a</th><th class="n">b</th>' in text


def test_two_objectives_plot_the_measured_pareto_front(client: TestClient) -> None:
    x = np.linspace(0.0, 1.0, 11)  # b is minimised: x < 0.5 loses to 1 - x on a, ties on b
    dataset = PoolDataset(
        name="front",
        space=SearchSpace((ContinuousParameter("x", 0.0, 1.0),)),
        objectives=(Objective("a", Direction.MAXIMIZE, "eV"), Objective("b", Direction.MINIMIZE)),
        points=[{"x": float(v)} for v in x],
        values=np.stack([x, (x - 0.5) ** 2], axis=1),
        source="test",
    )
    store = CampaignStore()
    settings = CampaignSettings("random", initial=11, batch_size=1, seed=0)
    agent = CampaignAgent.from_dataset(store, "front", dataset, settings)
    run(agent, LookupOracle.from_candidates(store.candidates("front")), 0)
    _sign_in(client)
    figures = _figures(client.get("/dashboard/campaigns/front").text)
    assert list(figures)[:2] == ["fig-best", "fig-pareto"]
    traces = {t.get("name"): t for t in figures["fig-pareto"]["data"]}
    np.testing.assert_allclose(sorted(traces["Pareto front"]["x"]), x[5:])
    np.testing.assert_allclose(sorted(traces["measured"]["x"]), x[:5])
    assert "<b>b = 0.25</b>" in " ".join(traces["Pareto front"]["text"])
    subtitle = figures["fig-pareto"]["layout"]["title"]["subtitle"]["text"]
    assert subtitle == "6 of 11 results on the front"
    index = client.get("/dashboard").text  # the first objective's best, the others named
    assert '<td>a ↑<div class="sub">then b ↓</div></td>' in index
    assert '<td class="n">1 eV</td>' in index


def test_unknown_campaign_is_404_and_the_name_is_escaped(client: TestClient) -> None:
    _sign_in(client)
    response = client.get("/dashboard/campaigns/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<img src=x" not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text


def test_a_pages_address_with_a_slash_at_its_end_goes_to_the_page(client: TestClient) -> None:
    for asked, page_path in [
        ("/dashboard/", "/dashboard"),
        ("/dashboard/literature/", "/dashboard/literature"),
        ("/dashboard/campaigns/pv.lab/", "/dashboard/campaigns/pv.lab"),
    ]:
        response = client.get(asked, follow_redirects=False)
        assert response.status_code == 307 and response.headers["location"] == page_path


@pytest.mark.parametrize("path", ["/dashboard/campaigns", "/dashboard/models", "/dashboard/x/<b>"])
def test_a_dashboard_address_that_is_no_page_answers_the_404_page(
    client: TestClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "The dashboard has no page" in response.text and "<b>" not in response.text


def test_hostile_parameters_source_and_units_are_escaped(
    client: TestClient, store: CampaignStore
) -> None:
    space = SearchSpace(
        (
            ContinuousParameter("x", 0.0, 1.0),
            CategoricalParameter("solvent", (HOSTILE, "water")),
        )
    )
    store.create(
        Campaign(
            name="open-space",
            space=space,
            objectives=(Objective("yield", Direction.MAXIMIZE, unit=HOSTILE),),
            settings=CampaignSettings("gp", initial=4, batch_size=2, seed=0),
            source='"><script>alert("source")</script>',
        )
    )
    agent = CampaignAgent(store, "open-space")
    trials = agent.propose()
    agent.observe(
        [
            Measurement(
                str(t.id),
                {"yield": float(i) + 0.5 * (t.parameters["solvent"] == "water")},
                f"lab:{t.id}",
            )
            for i, t in enumerate(trials)
        ]
    )
    agent.propose()  # open space: the GP plans in the box (space.bounds())
    _sign_in(client)
    response = client.get("/dashboard/campaigns/open-space")
    assert response.status_code == 200
    text = response.text
    assert HOSTILE not in text and "<script>alert" not in text
    assert html.escape(HOSTILE) in text  # shown, as text
    figures = _figures(text)
    assert {"fig-parity", "fig-calibration"} <= set(figures)
    assert "fig-top" not in figures  # no reference values on an open space
    hover = json.dumps(figures["fig-proposals"]["data"])
    assert HOSTILE not in hover and "&lt;img" in hover  # plotly renders hover text as HTML
    index = client.get("/dashboard").text
    assert "<script>alert" not in index and "&lt;script&gt;alert" in index


def test_static_assets_are_public_and_cached(client: TestClient) -> None:
    plotly_js = client.get("/dashboard/static/plotly.js")
    assert plotly_js.status_code == 200
    assert plotly_js.headers["content-type"].startswith("text/javascript")
    assert len(plotly_js.content) > 1_000_000 and b"plotly" in plotly_js.content[:2000].lower()
    etag = plotly_js.headers["etag"]
    again = client.get("/dashboard/static/plotly.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content
    assert "Plotly.newPlot" in client.get("/dashboard/static/dashboard.js").text
    assert (
        client.get("/dashboard/static/dashboard.css").headers["content-type"].startswith("text/css")
    )
    assert client.get("/dashboard/static/secrets.txt").status_code == 404


def test_literature_page_plots_records_over_time_and_lists_the_most_read(
    client: TestClient, literature_samples: Any
) -> None:
    from db.literature import LiteratureStore

    _sign_in(client)
    empty = client.get("/dashboard/literature")
    assert empty.status_code == 200 and "No papers yet" in empty.text
    store = LiteratureStore()
    store.ingest(literature_samples.extraction("10.1/a", ["MgB2", "LSCO"]))
    store.ingest(literature_samples.extraction("10.1/bb", ["MgB2"]))
    response = client.get("/dashboard/literature")
    assert response.status_code == 200
    assert 'id="fig-literature-time"' in response.text
    assert 'id="fig-literature-values"' in response.text
    rows = re.findall(r"<tr><td>([^<]+)</td><td>tc</td>", response.text)
    assert rows == ["MgB2", "La1.85Sr0.15CuO4"]  # the record read in two papers first
    assert "2 records read from 2 papers" in response.text
    assert "Paper 10.1/a: “39 K”" in response.text  # the paper's title, not its key
    (lsco,) = [r for r in store.records({})[0] if r["material"] != "MgB2"]
    store.reject_record(lsco["id"], "not a superconductor here", "curator")
    after = client.get("/dashboard/literature").text
    assert re.findall(r"<tr><td>([^<]+)</td><td>tc</td>", after) == ["MgB2"]
    records_kpi = r'<span class="label">records</span><span class="value">(\d+)</span>'
    assert re.findall(records_kpi, after) == ["1"]  # as listed: the rejected one left out
    assert len(store.timeline()["records"]) == 1  # and out of the plots over time


def test_a_large_literature_is_drawn_with_bounded_points_and_exact_counts() -> None:
    start = datetime(2026, 1, 1)
    times = [start + timedelta(seconds=i) for i in range(100_000)]
    records = [(t, "tc", 10.0 + i % 90, 0.9 if i % 3 else 0.2, "") for i, t in enumerate(times)]
    timeline = {"papers": times[:500], "records": records}
    papers, lines = dashboard.literature_timeline_figure(timeline).data
    assert list(papers.y) == list(range(1, 501))  # few enough: every step
    assert len(lines.x) == dashboard.LINE_POINTS
    assert (lines.x[0], lines.y[0], lines.x[-1], lines.y[-1]) == (times[0], 1, times[-1], 100_000)
    assert all(lines.x[i] == times[n - 1] for i, n in enumerate(lines.y))  # exact counts
    values = dashboard.record_values_figure(timeline).data
    assert [sum(bars.y) for bars in values] == [66_666, 33_334]  # every record, counted
    assert all(len(bars.y) == dashboard.VALUE_BINS for bars in values)


def test_a_literature_records_conditions_are_shown_beside_its_value() -> None:
    assert dashboard._conditions({"pressure_gpa": 8.9, "field_t": 1.0}) == (
        "field_t=1, pressure_gpa=8.9"
    )
    assert dashboard._conditions({}) == dashboard._conditions(None) == ""


def test_the_records_read_in_two_papers_are_counted_beyond_the_page(
    client: TestClient, literature_samples: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from db.literature import LiteratureStore

    _sign_in(client)
    store = LiteratureStore()
    for paper in ("10.1/a", "10.1/bb"):  # both materials read in both papers
        store.ingest(literature_samples.extraction(paper, ["MgB2", "LSCO"]))
    monkeypatch.setattr(dashboard, "LITERATURE_ROWS", 1)  # a page of the most read only
    response = client.get("/dashboard/literature")
    assert len(re.findall(r"<tr><td>([^<]+)</td><td>tc</td>", response.text)) == 1
    tile = re.search(r'in 2\+ papers</span><span class="value">(\d+)</span>', response.text)
    assert tile is not None and tile.group(1) == "2"


def test_a_bound_is_shown_as_stated_and_left_out_of_the_tc_histogram() -> None:
    now = datetime(2026, 12, 5)
    read = [(39.0, 0.9, ""), (40.0, 0.9, "<="), (45.0, 0.2, ">")]  # value, confidence, qualifier
    records = [(now, "tc", *reading) for reading in read]
    figure = dashboard.record_values_figure({"papers": [now], "records": records})
    assert [sum(trace.y) for trace in figure.data] == [1, 0]  # 39 K, confident; bounds out
    (bar,) = [i for i, n in enumerate(figure.data[0].y) if n]
    low = figure.data[0].x[bar] - figure.data[0].width[bar] / 2
    assert low <= 39.0 <= low + figure.data[0].width[bar]
    assert dashboard._qualified({"value": 40.0, "qualifier": "<="}) == "<= 40"
    assert dashboard._qualified({"value": 39.0, "qualifier": "="}) == "39"


def test_the_best_so_far_figure_marks_infeasible_results(store: CampaignStore) -> None:
    space = SearchSpace((ContinuousParameter("x", 0, 1),))
    goals = (Objective("efficiency", Direction.MAXIMIZE),)
    gap = OutcomeConstraint("gap", 1.1, 1.7, "eV")
    settings = CampaignSettings("random", initial=3)
    store.create(Campaign("pv", space, goals, settings, constraints=(gap,)), [])
    agent = CampaignAgent(store, "pv")
    readings = [(0.3, 1.4), (0.9, 2.5), (0.5, 1.2)]  # the 0.9 misses the band gap
    for trial, (eff, g) in zip(agent.propose(3), readings, strict=True):
        agent.observe([Measurement(trial.id or "", {"efficiency": eff, "gap": g}, f"k{eff}")])
    status = agent.status()
    values = np.array([eff for eff, _ in readings])
    figure = dashboard.best_so_far_figure(status, values, np.array([True, False, True]))
    traces = {trace.name: trace for trace in figure.data}
    assert list(traces["infeasible"].y) == [0.9] and list(traces["measured"].y) == [0.3, 0.5]
    assert np.nanmax(np.asarray(traces["best so far"].y, dtype=float)) == 0.5

    proposals = dashboard.proposals_figure(agent.campaign, agent.observations(), [], None)
    symbols = [symbol for trace in proposals.data for symbol in trace.marker.symbol]
    assert symbols == ["circle", "circle-open", "circle"]
    hover = [text for trace in proposals.data for text in trace.text]
    assert ["infeasible" in text for text in hover] == [False, True, False]
    results = {str(o.trial.id): o.measurement for o in agent.observations()}
    rows = dashboard.trials_table(agent.store.trials("pv"), results, agent.campaign).split("<tr>")
    statuses = [re.findall(r'<span class="pill [a-z]+">([a-z]+)</span>', r) for r in rows[2:]]
    assert statuses == [["completed"], ["completed", "infeasible"], ["completed"]]
    assert "meeting the outcome constraints" in dashboard._no_top_why(agent.campaign)


def test_the_latest_trials_name_their_id_sample_time_and_a_corrected_result(
    store: CampaignStore,
) -> None:
    space = SearchSpace((ContinuousParameter("x", 0, 1),))
    goals = (Objective("efficiency", Direction.MAXIMIZE, "%"),)
    points, labels = [{"x": 0.1}, {"x": 0.2}], ["P001", "<b>P002</b>"]
    settings = CampaignSettings("random", initial=2)
    agent = CampaignAgent.from_candidates(
        store, "pv.lab", space, goals, points, settings, labels=labels
    )
    first, second = agent.propose(2)
    agent.observe([Measurement(str(first.id), {"efficiency": 12.0}, "k1", "xrd-2")])
    fix = Measurement(str(first.id), {"efficiency": 21.0}, "fix-1", "xrd-2")
    agent.correct(fix, "misread <digit>", "ana")
    results = {str(o.trial.id): o.measurement for o in agent.observations()}
    table = dashboard.trials_table(store.trials("pv.lab"), results, agent.campaign)
    row = next(r for r in table.split("<tr>") if str(first.id) in r)
    lineage = f"/api/v1/campaigns/pv.lab/trials/{first.id}/lineage"
    assert f'<a class="id" href="{lineage}"><code>{first.id}</code></a>' in row
    assert "<td>P001</td>" in row and "<td>xrd-2</td>" in row  # its sample; who measured it
    assert re.search(r'<td class="when">\d{4}-\d\d-\d\d \d\d:\d\d</td>', row)
    (tip,) = re.findall(r'<span class="pill corrected" title="([^"]*)">corrected</span>', row)
    assert tip.startswith("efficiency=12 % replaced by ana on ") and "misread &lt;digit&gt;" in tip
    other = next(r for r in table.split("<tr>") if str(second.id) in r)
    assert "&lt;b&gt;P002&lt;/b&gt;" in other and "corrected" not in other


def test_the_campaign_page_reads_its_results_once(
    client: TestClient, store: CampaignStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result stored while the page is drawn cannot make its figures disagree."""
    run(
        CampaignAgent(store, "photo-pce10"),
        LookupOracle.from_candidates(store.candidates("photo-pce10")),
        1,
    )
    read = store.measurements
    calls = []

    def arriving(name: str) -> list:
        calls.append(name)
        stored = read(name)
        return stored[:-1] if len(calls) == 1 else stored  # the last one lands meanwhile

    monkeypatch.setattr(CampaignStore, "measurements", lambda self, name: arriving(name))
    _sign_in(client)
    page = client.get("/dashboard/campaigns/photo-pce10")
    assert page.status_code == 200, page.text
    assert "top 5%% found" not in page.text


def _trace(figures: dict[str, dict[str, Any]], figure: str, name: str) -> dict[str, Any]:
    return {t["name"]: t for t in figures[figure]["data"]}[name]


def _subtitle_number(figure: dict[str, Any], label: str) -> float:
    """The number after ``label`` in a figure's subtitle."""
    found = re.search(rf"{label} (\S+)", figure["layout"]["title"]["subtitle"]["text"])
    assert found is not None
    return float(found.group(1))


def test_gp_panels_of_an_objective_in_tiny_units_match_the_plain_ones_in_them(
    client: TestClient,
    store: CampaignStore,
    photo_pce10_campaign: CampaignAgent,
    photo_pce10_dataset: PoolDataset,
) -> None:
    """A diffusivity-like objective (~1e-14) is fitted in rescaled units, shown in its own."""
    unit = 1e-12
    tiny_data = dataclasses.replace(photo_pce10_dataset, values=photo_pce10_dataset.values * unit)
    settings = photo_pce10_campaign.campaign.settings
    tiny = CampaignAgent.from_dataset(store, "photo-pce10-tiny", tiny_data, settings)
    for agent in (photo_pce10_campaign, tiny):
        oracle = LookupOracle.from_candidates(store.candidates(agent.name))
        trials = agent.propose()  # the random design of 10: the same trials in both
        agent.observe(oracle.evaluate(trials[:8]))  # two pending
    _sign_in(client)
    plain, scaled = (
        _figures(client.get(f"/dashboard/campaigns/{name}").text)
        for name in ("photo-pce10", "photo-pce10-tiny")
    )
    parity = "fig-parity", "LOO mean ± 1σ"
    pending = "fig-proposals", "pending (diagnostic GP mean ± 2σ)"
    for panel in (parity, pending):
        expected, got = _trace(plain, *panel), _trace(scaled, *panel)
        x = np.array(expected["x"]) * (unit if panel == parity else 1.0)
        np.testing.assert_allclose(got["x"], x)
        np.testing.assert_allclose(got["y"], unit * np.array(expected["y"]), rtol=1e-3)
        errors = unit * np.array(expected["error_y"]["array"])
        np.testing.assert_allclose(got["error_y"]["array"], errors, rtol=1e-3)
    observed = _trace(scaled, "fig-calibration", "observed")["y"]
    assert observed == _trace(plain, "fig-calibration", "observed")["y"]
    for label in ("MAE", "RMSE"):
        expected_error = unit * _subtitle_number(plain["fig-parity"], label)
        assert _subtitle_number(scaled["fig-parity"], label) == pytest.approx(
            expected_error, rel=0.01
        )


def test_counts_of_a_constrained_campaign_come_from_the_pages_one_reading(
    client: TestClient, store: CampaignStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured, feasible, failed, abandoned, running and proposed, on both pages."""
    space = SearchSpace((ContinuousParameter("x", 0, 1),))
    goals = (Objective("efficiency", Direction.MAXIMIZE),)
    gap = OutcomeConstraint("band gap", 1.1, 1.7, "eV")
    settings = CampaignSettings("random", initial=19)
    store.create(Campaign("pv", space, goals, settings, constraints=(gap,)), [])
    agent = CampaignAgent(store, "pv")
    trials = agent.propose(19)
    gaps = [1.4, 2.5, 1.2, 1.3, 0.9, 1.5]  # 4 of 6 meet the constraint
    for trial, g in zip(trials[:6], gaps, strict=True):
        agent.observe([Measurement(trial.id or "", {"efficiency": g / 3, "band gap": g}, f"k{g}")])
    agent.fail(trials[6].id or "")
    for trial in trials[7:9]:
        agent.abandon(trial.id or "")
    agent.claim("robot-1", 4)  # 19 - 6 - 1 - 2 - 4 = 6 stay proposed
    counts = {
        "measured": "6",
        "feasible": "4",
        "failed": "1",
        "abandoned": "2",
        "running": "4",
        "proposed": "6",
    }
    _sign_in(client)
    index = client.get("/dashboard").text
    head = re.findall(r'<th class="n" title="[^"]*">([^<]*)</th>', index)
    assert head == list(counts)
    row = index[index.index("pv</a>") :].split("</tr>")[0]
    assert re.findall(r'<td class="n">([^<]*)</td>', row)[:7] == [*counts.values(), "open"]
    tiles = _tiles(client.get("/dashboard/campaigns/pv").text)
    assert {label: tiles[label] for label in counts} == counts

    # the last result lands while the page is drawn: the counts are those of its figures
    read, calls = store.measurements, []

    def arriving(name: str) -> list[Measurement]:
        calls.append(name)
        return read(name)[:-1] if len(calls) == 1 else read(name)

    monkeypatch.setattr(CampaignStore, "measurements", lambda self, name: arriving(name))
    text = client.get("/dashboard/campaigns/pv").text
    tiles = _tiles(text)
    assert (tiles["measured"], tiles["feasible"]) == ("5", "3")  # the 1.5 eV one not yet
    best = _figures(text)["fig-best"]["data"]
    shown = sum(len(t["x"]) for t in best if t["name"] in ("measured", "infeasible"))
    assert shown == 5


def test_an_instrument_signed_in_sees_its_own_campaigns_alone(
    client: TestClient, photo_pce10_campaign: CampaignAgent, photo_pce10_dataset: PoolDataset
) -> None:
    CampaignAgent.from_dataset(photo_pce10_campaign.store, "another-group", photo_pce10_dataset)
    secret, _ = create_token("robot", "instrument", ["photo-pce10"])
    signed = client.post(
        "/dashboard/login", data={"token": secret}, headers=SAME_SITE, follow_redirects=False
    )
    assert signed.status_code == 303, signed.text
    index = client.get("/dashboard")
    assert "photo-pce10" in index.text and "another-group" not in index.text
    page = client.get("/dashboard/campaigns/photo-pce10")
    assert page.status_code == 200
    where = str(Path(photo_pce10_dataset.source).parent)  # the server's folders: not shown
    assert where not in index.text and where not in page.text
    assert "photo_pce10" in index.text and "source photo_pce10" in page.text
    for page in ("/dashboard/campaigns/another-group", "/dashboard/literature"):
        refused = client.get(page)
        assert refused.status_code == 403, page
        assert "reads its campaigns [&#x27;photo-pce10&#x27;] alone" in refused.text
