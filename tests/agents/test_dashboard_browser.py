"""The dashboard end to end in headless Chromium: sign in, open a campaign, see the figures.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium
chromium-driver``) and the ``selenium`` package; skipped when the browser is absent. The
server is uvicorn on a free loopback port in a thread of this process. Set
``MATLOOP_DASHBOARD_SCREENSHOT=/path.png`` to keep a copy of the page's screenshot.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from agents import CampaignAgent, LookupOracle, run
from agents.api import SESSION_COOKIE, create_app
from db.server import free_port
from db.tokens import create_token
from tests.live_server import live_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 60

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason="headless Chromium is not installed: apt-get install -y chromium chromium-driver",
)


@pytest.fixture
def server(mongodb_uri: str) -> Iterator[str]:
    """Base URL of the app served by uvicorn on loopback, against the test database."""
    config = uvicorn.Config(
        create_app(mongodb_uri), port=free_port(), log_level="warning", lifespan="on"
    )
    with live_server(config) as url:
        yield url


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium driven by chromedriver (offline: no updates, sync or QUIC)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1440,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT_S)
    driver.set_script_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def test_sign_in_and_see_the_campaign_figures(
    photo_pce10_campaign: CampaignAgent, server: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    agent = photo_pce10_campaign
    run(agent, LookupOracle.from_candidates(agent.store.candidates(agent.name)), rounds=3)
    agent.propose()  # one batch handed out and not yet measured
    secret, _ = create_token("browser", "researcher")
    wait = WebDriverWait(browser, WAIT_S)

    browser.get(f"{server}/dashboard")  # no cookie yet: the 401 page links to the form
    assert "This page needs a valid API token." in browser.page_source
    browser.get_log("browser")  # drop the expected "401" console entry
    browser.find_element(By.LINK_TEXT, "Sign in with a token").click()
    wait.until(ec.presence_of_element_located((By.ID, "token"))).send_keys(secret)
    browser.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    wait.until(ec.url_to_be(f"{server}/dashboard"))
    cookie = browser.get_cookie(SESSION_COOKIE)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert secret not in browser.execute_script("return document.cookie")  # HttpOnly

    browser.find_element(By.LINK_TEXT, "photo-pce10").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")) >= 5)
    titles = wait.until(
        lambda d: (
            [e.text for e in d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .gtitle")]
            if len(d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .gtitle")) >= 5
            else None
        )
    )
    assert titles == [
        "Best so far",
        "Top 5% found",
        "Proposals and measurements",
        "Leave-one-out parity",
        "Calibration",
    ]
    subtitles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".gtitle-subtitle")]
    assert len(subtitles) == 5
    assert "EF " in subtitles[1] and "AF " in subtitles[1]
    assert "4 pending (diagnostic GP mean ± 2σ)" in subtitles[2]
    assert "MAE " in subtitles[3] and "95% coverage " in subtitles[4]
    assert browser.find_element(By.TAG_NAME, "h1").text == "photo-pce10"
    kpis = browser.find_element(By.CLASS_NAME, "kpis").text
    assert "MEASURED\n22" in kpis and "PROPOSED\n4" in kpis and "RUNNING\n0" in kpis
    # no script errors, no Content-Security-Policy violations
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1440, min(int(height) + 40, 6000))
    time.sleep(0.5)  # let plotly's responsive relayout settle at the new size
    shot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    keep = os.environ.get("MATLOOP_DASHBOARD_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)

    browser.find_element(By.CSS_SELECTOR, "header button.link").click()  # sign out
    wait.until(ec.url_to_be(f"{server}/dashboard/login"))
    assert browser.get_cookie(SESSION_COOKIE) is None
    browser.get(f"{server}/dashboard")
    assert "This page needs a valid API token." in browser.page_source
