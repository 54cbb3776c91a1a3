"""Session fixtures: a real SecantusDB server over TCP, a fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents import CampaignAgent
from db import CampaignStore, connect, disconnect, ephemeral_server
from db.connection import client
from discovery.datasets import PoolDataset, load_olympus
from discovery.domain import CampaignSettings

REPO = Path(__file__).resolve().parents[1]
PHOTO_PCE10 = REPO / "matloop" / "data" / "olympus" / "photo_pce10"


@pytest.fixture(scope="session")
def mongodb_server() -> Iterator[str]:
    """URI of an in-memory SecantusDB process on a free port (``mongodb://127.0.0.1:P``)."""
    with ephemeral_server() as uri:
        yield uri


@pytest.fixture
def mongodb_uri(mongodb_server: str) -> Iterator[str]:
    """URI of a fresh, connected database on the session server; dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    uri = f"{mongodb_server}/{name}"
    connect(uri)
    yield uri
    client().drop_database(name)
    disconnect()


@pytest.fixture
def store(mongodb_uri: str) -> CampaignStore:
    return CampaignStore()


@pytest.fixture(scope="session")
def photo_pce10_dataset() -> PoolDataset:
    return load_olympus(PHOTO_PCE10)


@pytest.fixture
def photo_pce10_campaign(store: CampaignStore, photo_pce10_dataset: PoolDataset) -> CampaignAgent:
    """A GP campaign on photo_pce10 (initial 10, batches of 4, seed 0), nothing proposed yet."""
    settings = CampaignSettings("gp", initial=10, batch_size=4, seed=0)
    return CampaignAgent.from_dataset(store, "photo-pce10", photo_pce10_dataset, settings)
