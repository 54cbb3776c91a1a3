"""Fixtures shared by the API tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from agents.api import create_app
from db.literature import LiteratureStore
from db.tokens import create_token


@pytest.fixture
def reader(mongodb_uri: str) -> dict[str, str]:
    """Headers with a fresh researcher's token (read scope)."""
    secret, _ = create_token(f"reader-{time.monotonic_ns()}", "researcher")
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def literature_api(mongodb_uri: str, literature_samples: SimpleNamespace) -> Iterator[TestClient]:
    """The API over two papers: MgB2, LSCO and NbSe2 in one, MgB2 again in the other."""
    store = LiteratureStore()
    store.ingest(literature_samples.extraction("10.1/a", ["MgB2", "LSCO", "NbSe2"]))
    store.ingest(literature_samples.extraction("10.1/bb", ["MgB2"]))
    with TestClient(create_app()) as client:
        yield client
