"""Researchers' trial and measurement listings: filters on measured values, and sorts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agents.api import create_app
from db import CampaignStore
from db.documents import MeasurementDocument, TrialDocument
from discovery.domain import (
    Campaign,
    CampaignSettings,
    Direction,
    Measurement,
    Objective,
    OutcomeConstraint,
    Trial,
)
from discovery.spaces import CategoricalParameter, ContinuousParameter, SearchSpace

URL = "/api/v1/campaigns/cells"
#: Per result, in the order received: PCE (AM1.5), Tc, band gap. Two PCEs tie at 9.5.
RESULTS = [
    (3.0, 10.0, 1.2),
    (9.5, 20.0, 1.5),
    (1.0, 30.0, 2.0),
    (12.0, 40.0, 1.3),
    (9.5, 50.0, 1.6),
]
#: Per trial, in proposal order: batch and acquisition value (None: a random pick).
TRIALS = [("b1", 0.2), ("b1", None), ("b1", 0.9), ("b0", 0.5), ("b0", 0.9)]


@pytest.fixture
def cells(store: CampaignStore) -> list[Trial]:
    """A campaign whose outcomes are named as people write them, five trials measured.

    Its outcomes are ``PCE (AM1.5)`` (a dot: no MongoDB path reaches it), ``Tc`` (mixed
    case) and ``band gap`` (a space, and a constraint).
    """
    space = SearchSpace((ContinuousParameter("x", 0, 1),))
    goals = (Objective("PCE (AM1.5)", Direction.MAXIMIZE), Objective("Tc", Direction.MAXIMIZE))
    gap = OutcomeConstraint("band gap", 1.1, 1.7, "eV")
    settings = CampaignSettings("random", initial=2)
    store.create(Campaign("cells", space, goals, settings, constraints=(gap,)), [])
    trials = []
    for i, (batch, value) in enumerate(TRIALS):  # a batch at a time: proposal order is kept
        trial = Trial("cells", {"x": i / 10}, batch, acquisition_value=value)
        trials += store.add_trials("cells", [trial])
    for i, (pce, tc, gap_ev) in enumerate(RESULTS):  # one at a time: the order received
        values = {"PCE (AM1.5)": pce, "Tc": tc, "band gap": gap_ev}
        store.record("cells", [Measurement(str(trials[i].id), values, f"key-{i}", "lab")])
    return trials


@pytest.fixture
def api(cells: list[Trial]) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def _get(api: TestClient, reader: dict[str, str], path: str, **params: Any) -> Any:
    response = api.get(f"{URL}/{path}", params=params, headers=reader)
    assert response.status_code == 200, response.text
    return response.json()


def _keys(api: TestClient, reader: dict[str, str], **params: Any) -> list[int]:
    """The results a measurements page lists, by their index in :data:`RESULTS`."""
    rows = _get(api, reader, "measurements", **params)["data"]
    return [int(row["idempotency_key"].removeprefix("key-")) for row in rows]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("values.pce_am1_5 > 9", [1, 3, 4]),  # a name with a dot: compared by expression
        ("values.pce_am1_5 >= 9.5 AND values.pce_am1_5 < 12", [1, 4]),
        ("NOT values.pce_am1_5 > 9", [0, 2]),
        ("values.pce_am1_5 != 9.5", [0, 2, 3]),
        ("values.pce_am1_5 IS KNOWN", [0, 1, 2, 3, 4]),
        ("values.pce_am1_5 IS UNKNOWN", []),
        ("values.tc >= 30 AND values.band_gap < 1.5", [3]),  # mixed case; a space
        ('values.tc = 20 OR source = "nobody"', [1]),
        ("values.band_gap IS UNKNOWN", []),
    ],
)
def test_measurements_are_filtered_by_their_values(
    api: TestClient, reader: dict[str, str], text: str, expected: list[int]
) -> None:
    assert _keys(api, reader, filter=text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('values.tc > "9"', "filter: values.tc: '9' is not a number"),
        ("values.tc HAS 9", "filter: values.tc is a number: HAS does not apply"),
        ("values.tc LENGTH 1", "filter: values.tc is a number: LENGTH does not apply"),
        (
            "values.voc > 1",
            "filter: values.voc is not an outcome of this campaign; its outcomes are "
            "values.pce_am1_5 ('PCE (AM1.5)'), values.tc ('Tc'), values.band_gap ('band gap')",
        ),
        ("values.Tc > 1", "names are lower case ('tc', not 'Tc')"),
        ("values > 1", "filter: values holds a value per outcome: compare one, values.<outcome>"),
        (
            "voc > 1",
            "use one of ['feasible', 'idempotency_key', 'received_at', 'source', 'trial_id', "
            "'values.<outcome>']",
        ),
    ],
)
def test_a_filter_on_values_that_cannot_apply_is_a_400_naming_it(
    api: TestClient, reader: dict[str, str], text: str, message: str
) -> None:
    response = api.get(f"{URL}/measurements", params={"filter": text}, headers=reader)
    assert response.status_code == 400 and message in response.json()["detail"]


def test_results_and_trials_are_filtered_by_when_they_came(
    api: TestClient, reader: dict[str, str], cells: list[Trial]
) -> None:
    for i, trial in enumerate(cells):  # result i came on 1 + i December, at noon UTC
        noon = datetime(2026, 12, 1 + i, 12)
        TrialDocument.objects(id=trial.id).update(set__created_at=noon - timedelta(days=1))
        MeasurementDocument.objects(trial=trial.id).update(set__received_at=noon)
    assert _keys(
        api, reader, filter='received_at >= "2026-12-02" AND received_at < "2026-12-04"'
    ) == [1, 2]
    # 13:00 at UTC+2 is 11:00 UTC, before the second result's noon
    assert _keys(api, reader, filter='received_at < "2026-12-02T13:00:00+02:00"') == [0]
    assert _keys(api, reader, filter='received_at > "2026-12-05T11:59:59Z"') == [4]
    proposed = _get(api, reader, "trials", filter='created_at < "2026-12-01"')["data"]
    assert [row["id"] for row in proposed] == [str(cells[0].id)]
    for text in ('received_at > "yesterday"', "received_at > 5"):
        response = api.get(f"{URL}/measurements", params={"filter": text}, headers=reader)
        assert response.status_code == 400
        assert "filter: received_at:" in response.json()["detail"]
        assert "is not a time; write an ISO 8601 date or time" in response.json()["detail"]


def test_a_time_finer_than_a_millisecond_compares_as_written(
    api: TestClient, reader: dict[str, str], cells: list[Trial]
) -> None:
    """Times are stored to the millisecond; a filter's finer time is not cut down to one."""
    for i, trial in enumerate(cells):  # result i came at 12:00:00.00i
        received = datetime(2026, 12, 1, 12, 0, 0, 1000 * i)
        MeasurementDocument.objects(trial=trial.id).update(set__received_at=received)
    between = '"2026-12-01T12:00:00.0015Z"'  # between the second result and the third
    assert _keys(api, reader, filter=f"received_at < {between}") == [0, 1]
    assert _keys(api, reader, filter=f"received_at <= {between}") == [0, 1]
    assert _keys(api, reader, filter=f"received_at >= {between}") == [2, 3, 4]
    assert _keys(api, reader, filter=f"received_at > {between}") == [2, 3, 4]
    assert _keys(api, reader, filter=f"NOT received_at < {between}") == [2, 3, 4]
    assert _keys(api, reader, filter=f"received_at = {between}") == []
    assert _keys(api, reader, filter=f"received_at != {between}") == [0, 1, 2, 3, 4]
    exact = '"2026-12-01T12:00:00.001Z"'
    assert _keys(api, reader, filter=f"received_at = {exact}") == [1]
    assert _keys(api, reader, filter=f"received_at != {exact}") == [0, 2, 3, 4]
    assert _keys(api, reader, filter=f"received_at HAS ANY {between},{exact}") == [1]
    assert _keys(api, reader, filter=f"NOT received_at HAS ANY {between}") == [0, 1, 2, 3, 4]
    last = '"9999-12-31T23:59:59.9995Z"'  # past the last millisecond there is
    assert _keys(api, reader, filter=f"received_at < {last}") == [0, 1, 2, 3, 4]
    assert _keys(api, reader, filter=f"received_at >= {last}") == []


def test_the_best_results_come_first_and_ties_in_the_order_received(
    api: TestClient, reader: dict[str, str]
) -> None:
    best = [3, 1, 4, 0, 2]  # 12, then the two 9.5s as received, 3, 1
    assert _keys(api, reader, sort="-values.pce_am1_5") == best
    assert _keys(api, reader, sort="values.pce_am1_5") == [2, 0, 1, 4, 3]
    assert _keys(api, reader, sort="-values.tc") == [4, 3, 2, 1, 0]
    assert _keys(api, reader, sort="-values.band_gap", filter="values.tc < 50") == [2, 1, 3, 0]
    pages = [_keys(api, reader, sort="-values.pce_am1_5", limit=2, offset=o) for o in (0, 2, 4)]
    assert [k for page in pages for k in page] == best  # pages neither repeat nor skip
    top = _get(api, reader, "measurements", sort="-values.pce_am1_5", limit=2)
    assert top["meta"] == {"total": 5, "limit": 2, "offset": 0, "returned": 2}
    assert [r["values"]["PCE (AM1.5)"] for r in top["data"]] == [12.0, 9.5]


def test_measurements_keep_the_order_received_unless_sorted(
    api: TestClient, reader: dict[str, str]
) -> None:
    assert _keys(api, reader) == [0, 1, 2, 3, 4]
    assert _keys(api, reader, sort="received_at") == [0, 1, 2, 3, 4]
    assert _keys(api, reader, sort="-received_at") == [4, 3, 2, 1, 0]
    assert _keys(api, reader, sort="source,-values.tc") == [4, 3, 2, 1, 0]


def test_a_sorted_csv_export_pages_like_json(api: TestClient, reader: dict[str, str]) -> None:
    params = {"format": "csv", "sort": "-values.pce_am1_5", "filter": "values.tc > 10"}
    page = api.get(f"{URL}/measurements", params={**params, "limit": 2}, headers=reader)
    assert page.status_code == 200 and page.headers["x-total-count"] == "4"
    rows = list(csv.DictReader(io.StringIO(page.text)))
    assert [r["values.PCE (AM1.5)"] for r in rows] == ["12.0", "9.5"]
    assert [r["feasible"] for r in rows] == ["True", "True"]
    assert [r["idempotency_key"] for r in rows] == ["key-3", "key-1"]


@pytest.mark.parametrize(
    ("path", "sort", "message"),
    [
        (
            "measurements",
            "pce",
            "sort: 'pce' is not a field to sort measurements by; use one of received_at, "
            "source, trial_id, values.<outcome>, with - first for descending",
        ),
        ("measurements", "-values.voc", "sort: values.voc is not an outcome of this campaign"),
        (
            "trials",
            "-score",
            "sort: 'score' is not a field to sort trials by; use one of created_at, updated_at, "
            "batch, status, strategy, candidate, acquisition_value, claimed_by",
        ),
        ("trials", "values.tc", "sort: 'values.tc' is not a field to sort trials by"),
    ],
)
def test_an_unknown_sort_is_a_400_listing_the_keys_allowed(
    api: TestClient, reader: dict[str, str], path: str, sort: str, message: str
) -> None:
    response = api.get(f"{URL}/{path}", params={"sort": sort}, headers=reader)
    assert response.status_code == 400 and message in response.json()["detail"]


def test_trials_sort_by_acquisition_value_and_batch_ties_in_proposal_order(
    api: TestClient, reader: dict[str, str], cells: list[Trial]
) -> None:
    def order(**params: Any) -> list[int]:
        ids = [str(t.id) for t in cells]
        return [ids.index(t["id"]) for t in _get(api, reader, "trials", **params)["data"]]

    assert order() == order(sort="created_at") == [0, 1, 2, 3, 4]  # proposal order
    assert order(sort="-created_at") == [4, 3, 2, 1, 0]
    assert order(sort="-acquisition_value") == [2, 4, 3, 0, 1]  # no value: last
    assert order(sort="batch,-acquisition_value") == [4, 3, 2, 0, 1]
    assert order(sort="-acquisition_value", limit=2, offset=1) == [4, 3]
    exported = api.get(f"{URL}/trials", params={"format": "csv", "sort": "batch"}, headers=reader)
    batches = [r["batch"] for r in csv.DictReader(io.StringIO(exported.text))]
    assert batches == ["b0", "b0", "b1", "b1", "b1"]


FILMS = "/api/v1/campaigns/films"
#: Per trial, in proposal order: temperature, solvent, and the band gap measured (None: no
#: result yet). 1.7000000000000002 is on the 1.7 bound (float noise of a unit conversion).
FILMS_TRIALS = [
    (25.0, "water", 1.4),
    (80.0, "ethanol", 1.7000000000000002),
    (120.0, "water", 1.0),
    (60.0, "toluene", 1.8),
    (200.0, "ethanol", None),
]


@pytest.fixture
def films(store: CampaignStore) -> list[Trial]:
    """A campaign whose trials differ in a temperature and a solvent, four measured.

    The temperature is named as people write it (``Temperature (C)``); the band gap is
    constrained to [1.1, 1.7] eV, so results 0 and 1 are feasible, 2 and 3 not.
    """
    space = SearchSpace(
        (
            ContinuousParameter("Temperature (C)", 0, 300),
            CategoricalParameter("solvent", ("water", "ethanol", "toluene")),
        )
    )
    goals = (Objective("yield", Direction.MAXIMIZE),)
    gap = OutcomeConstraint("band gap", 1.1, 1.7, "eV")
    settings = CampaignSettings("random", initial=2)
    store.create(Campaign("films", space, goals, settings, constraints=(gap,)), [])
    trials = []
    for i, (temperature, solvent, _) in enumerate(FILMS_TRIALS):
        point = {"Temperature (C)": temperature, "solvent": solvent}
        trials += store.add_trials("films", [Trial("films", point, f"b{i}")])
    for i, (*_, gap_ev) in enumerate(FILMS_TRIALS):
        if gap_ev is not None:
            values = {"yield": float(i), "band gap": gap_ev}
            store.record("films", [Measurement(str(trials[i].id), values, f"key-{i}", "lab")])
    return trials


@pytest.fixture
def films_api(films: list[Trial]) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def _films(api: TestClient, reader: dict[str, str], path: str, **params: Any) -> Any:
    response = api.get(f"{FILMS}/{path}", params=params, headers=reader)
    assert response.status_code == 200, response.text
    return response.json()["data"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"filter": "parameters.temperature_c > 50"}, [1, 2, 3, 4]),
        ({"filter": 'parameters.temperature_c > 50 AND status="completed"'}, [1, 2, 3]),
        ({"filter": 'parameters.solvent = "water"'}, [0, 2]),
        ({"filter": 'parameters.solvent != "water" AND parameters.temperature_c < 100'}, [1, 3]),
        ({"filter": 'parameters.solvent STARTS WITH "eth"'}, [1, 4]),
        ({"sort": "-parameters.temperature_c"}, [4, 2, 1, 3, 0]),
        ({"sort": "parameters.solvent,-parameters.temperature_c"}, [4, 1, 3, 2, 0]),
        (
            {"filter": "parameters.temperature_c >= 60", "sort": "parameters.temperature_c"},
            [3, 1, 2, 4],
        ),
    ],
)
def test_trials_are_filtered_and_sorted_by_their_parameters(
    films_api: TestClient,
    reader: dict[str, str],
    films: list[Trial],
    params: dict[str, str],
    expected: list[int],
) -> None:
    ids = [str(t.id) for t in films]
    assert [ids.index(t["id"]) for t in _films(films_api, reader, "trials", **params)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("feasible = true", [0, 1]),  # 1 is on its bound, as the listing tells
        ("feasible = TRUE", [0, 1]),
        ("feasible = false", [2, 3]),
        ("feasible=FALSE AND values.yield > 2", [3]),
        ("NOT feasible = true", [2, 3]),
        ("feasible = true OR values.yield = 3", [0, 1, 3]),
    ],
)
def test_measurements_are_filtered_by_feasibility_as_listed(
    films_api: TestClient, reader: dict[str, str], text: str, expected: list[int]
) -> None:
    rows = _films(films_api, reader, "measurements", filter=text)
    assert [int(r["idempotency_key"].removeprefix("key-")) for r in rows] == expected


def test_the_feasible_filter_selects_the_rows_the_listing_calls_feasible(
    films_api: TestClient, reader: dict[str, str]
) -> None:
    told = {r["idempotency_key"]: r["feasible"] for r in _films(films_api, reader, "measurements")}
    for truth in (True, False):
        rows = _films(films_api, reader, "measurements", filter=f"feasible = {truth}".lower())
        assert sorted(r["idempotency_key"] for r in rows) == sorted(
            key for key, feasible in told.items() if feasible is truth
        )
        assert all(r["feasible"] is truth for r in rows)


@pytest.mark.parametrize(
    ("path", "text", "message"),
    [
        (
            "trials",
            "parameters.pressure > 1",
            "filter: parameters.pressure is not a parameter of this campaign; its parameters "
            "are parameters.temperature_c ('Temperature (C)'), parameters.solvent ('solvent')",
        ),
        ("trials", "parameters.solvent.a = 1", "parameters.solvent.a is not a parameter"),
        (
            "trials",
            "parameters.solvent = 1",
            "filter: parameters.solvent: 1 is not one of ['water', 'ethanol', 'toluene']",
        ),
        ("trials", 'parameters.temperature_c > "hot"', "parameters.temperature_c: 'hot' is not a"),
        ("trials", "feasible = 1", "filter: feasible: 1 is not true or false"),  # a result's
        ("measurements", "feasible = 1", "filter: feasible: 1 is not true or false"),
    ],
)
def test_a_filter_on_parameters_or_feasibility_that_cannot_apply_is_a_400(
    films_api: TestClient, reader: dict[str, str], path: str, text: str, message: str
) -> None:
    response = films_api.get(f"{FILMS}/{path}", params={"filter": text}, headers=reader)
    assert response.status_code == 400 and message in response.json()["detail"]


def test_only_the_campaigns_own_parameter_names_reach_the_query(
    films_api: TestClient, reader: dict[str, str], films: list[Trial]
) -> None:
    rows = _films(films_api, reader, "trials", filter='parameters.solvent = "toluene"')
    assert [r["id"] for r in rows] == [str(films[3].id)]
    hostile = {
        ("trials", "parameters.$where = 1"): "filter: cannot parse",
        ("trials", "parameters.solvent.$ne = 1"): "filter: cannot parse",
        ("trials", "parameters.solvent.a = 1"): "is not a parameter of this campaign",
        ("trials", 'parameters.solvent = "$ne"'): "'$ne' is not one of",
        ("measurements", 'parameters.solvent = "water"'): "cannot be filtered on for measurements",
    }
    for (path, text), message in hostile.items():
        response = films_api.get(f"{FILMS}/{path}", params={"filter": text}, headers=reader)
        assert response.status_code == 400 and message in response.json()["detail"], text


def test_an_unknown_parameter_sort_is_a_400(films_api: TestClient, reader: dict[str, str]) -> None:
    response = films_api.get(f"{FILMS}/trials", params={"sort": "parameters.x"}, headers=reader)
    assert response.status_code == 400
    assert "sort: parameters.x is not a parameter of this campaign" in response.json()["detail"]
