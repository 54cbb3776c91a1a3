"""A short run of the load benchmark: concurrent instruments through a real ``matloop serve``.

Every acknowledged result is stored exactly once, and no instrument fails, with the
queue refilled while instruments claim (the path the full benchmark measures).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from db import disconnect
from db.connection import client


@pytest.fixture(scope="module")
def load(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    """benchmarks/load.py."""
    return benchmark_script("load")


@pytest.fixture
def load_database(mongodb_server: str) -> Iterator[str]:
    """A database name for one run on the session server; dropped afterwards."""
    name = f"load_{uuid.uuid4().hex[:12]}"
    yield name
    client().drop_database(name)  # run_load left the connection on it
    disconnect()


def test_a_short_load_run_stores_every_acknowledged_result_once(
    load: ModuleType, mongodb_server: str, load_database: str
) -> None:
    outcome = load.run_load(
        mongodb_server,
        instruments=4,
        per_instrument=50,
        bulk=10,
        time_limit=240,
        database=load_database,
    )
    assert outcome["errors"] == []
    assert outcome["acknowledged"] == outcome["sent"] == 200
    assert outcome["stored"] == 200
    assert outcome["completed_trials"] == 200
    assert outcome["lost"] == 0
    assert outcome["duplicates"] == 0
    assert outcome["client_retries"] == 0  # a 5xx would be retried, and hidden, otherwise
