"""Prefect for the flow tests: one test harness (temporary server and SQLite) per session.

The only place Prefect's engine runs in the test suite. Everything stays on loopback:
analytics are off and Prefect's home is a temporary folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_HOME,
    PREFECT_LOCAL_STORAGE_PATH,
    PREFECT_RESULTS_PERSIST_BY_DEFAULT,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    PREFECT_SERVER_DATABASE_TIMEOUT,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness

from agents import CampaignAgent
from db import CampaignStore
from discovery.datasets import PoolDataset
from discovery.domain import CampaignSettings


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture(scope="session", autouse=True)
def prefect_api(prefect_home: Path) -> Iterator[str]:
    """URL of the session's Prefect test server (``prefect_test_harness``)."""
    updates = {
        PREFECT_HOME: prefect_home,
        PREFECT_SERVER_ANALYTICS_ENABLED: False,
        # the server's SQLite waits this long for a lock (10 s by default): on a loaded
        # 2-core machine its services outwait that, and a run's state came back without
        # its result ("database is locked", then MissingResult)
        PREFECT_SERVER_DATABASE_TIMEOUT: 60.0,
        # and a run's state read back from the server, as the engine does when a write
        # waited, holds its result only if it was persisted: else MissingResult again
        PREFECT_RESULTS_PERSIST_BY_DEFAULT: True,
        PREFECT_LOCAL_STORAGE_PATH: prefect_home / "storage",
    }
    with temporary_settings(updates=updates), prefect_test_harness(server_startup_timeout=60):
        url = PREFECT_API_URL.value()
        assert url is not None and url.startswith("http://127.0.0.1:")
        yield url


@pytest.fixture
def random_campaign(store: CampaignStore, photo_pce10_dataset: PoolDataset) -> CampaignAgent:
    """A random-sampling campaign on photo_pce10 (initial 10, batches of 4): fast rounds."""
    settings = CampaignSettings("random", initial=10, batch_size=4, seed=1)
    return CampaignAgent.from_dataset(store, "pce10-random", photo_pce10_dataset, settings)


@pytest.fixture
def lab_campaign(store: CampaignStore, photo_pce10_dataset: PoolDataset) -> CampaignAgent:
    """A lab's campaign ``lab``: 50 photo_pce10 blends without reference values."""
    dataset = photo_pce10_dataset
    return CampaignAgent.from_candidates(
        store, "lab", dataset.space, dataset.objectives, dataset.points[:50], CampaignSettings()
    )
