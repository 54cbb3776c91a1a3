"""Fixtures shared by the API tests."""

from __future__ import annotations

import time

import pytest

from db.tokens import create_token


@pytest.fixture
def reader(mongodb_uri: str) -> dict[str, str]:
    """Headers with a fresh researcher's token (read scope)."""
    secret, _ = create_token(f"reader-{time.monotonic_ns()}", "researcher")
    return {"Authorization": f"Bearer {secret}"}
