"""Fixtures for the bad-input tests: an API client, an admin token, document counts.

Fuzz tests add the number of cases they tried to ``fuzz_cases``; the totals are printed
at the end of the run and written to ``fuzz-cases.json`` in pytest's base temp folder.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from agents import CampaignAgent
from agents.api import create_app
from db.documents import (
    CampaignDocument,
    CandidateDocument,
    MaterialDocument,
    MeasurementDocument,
    TrialDocument,
)
from db.tokens import create_token

_CASES: Counter[str] = Counter()
DOCUMENTS = {
    "campaigns": CampaignDocument,
    "candidates": CandidateDocument,
    "trials": TrialDocument,
    "measurements": MeasurementDocument,
    "materials": MaterialDocument,
}


@pytest.fixture(scope="session")
def fuzz_cases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Counter[str]]:
    """Cases tried per fuzz test (name -> count), saved as JSON when the session ends."""
    yield _CASES
    path = tmp_path_factory.getbasetemp() / "fuzz-cases.json"
    path.write_text(json.dumps({"total": sum(_CASES.values()), **dict(_CASES)}, indent=1))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _CASES:
        terminalreporter.write_sep("-", "fuzz cases tried")
        for name, count in sorted(_CASES.items()):
            terminalreporter.write_line(f"{count:6d}  {name}")
        terminalreporter.write_line(f"{sum(_CASES.values()):6d}  total")


@pytest.fixture
def admin_headers(mongodb_uri: str) -> dict[str, str]:
    """Authorization header of an admin token named ``fuzz``."""
    secret, _ = create_token("fuzz", "admin")
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def api(photo_pce10_campaign: CampaignAgent) -> Iterator[TestClient]:
    """The app with the photo-pce10 campaign present; server errors come back as 500s."""
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


def count_documents() -> dict[str, int]:
    """The number of stored documents per collection (of the connected database)."""
    return {name: document.objects.count() for name, document in DOCUMENTS.items()}


@pytest.fixture
def counts() -> Callable[[], dict[str, int]]:
    """:func:`count_documents`, for test modules (they cannot import this conftest)."""
    return count_documents
