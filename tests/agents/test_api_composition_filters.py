"""Filters by composition over HTTP: a composition campaign's trials by their elements and
formula, read from their fraction parameters, and an element's fraction on every resource.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from agents import CampaignAgent
from agents.api import create_app
from db import CampaignStore
from discovery.compositions import CompositionSpace
from discovery.domain import CampaignSettings, Direction, Objective
from discovery.spaces import ContinuousParameter, SearchSpace

#: A Li-Fe-O pool by name: each candidate's composition as molar fractions. ``Fe3O7~`` is
#: Fe3O7 as float arithmetic leaves it: Fe 0.1 + 0.2 (0.30000000000000004) and a
#: 4e-17 of Li that no lab weighed out.
POOL: dict[str, dict[str, float]] = {
    "Fe2O3": {"Li": 0.0, "Fe": 0.4, "O": 0.6},
    "FeO": {"Li": 0.0, "Fe": 0.5, "O": 0.5},
    "LiO": {"Li": 0.5, "Fe": 0.0, "O": 0.5},
    "LiFeO3": {"Li": 0.2, "Fe": 0.2, "O": 0.6},
    "Fe3O7~": {"Li": 4e-17, "Fe": 0.1 + 0.2, "O": 0.7},
}
GOALS = (Objective("gap", Direction.MAXIMIZE),)


@pytest.fixture
def api(store: CampaignStore) -> TestClient:
    """The API over campaign ``lfo`` (every pool candidate proposed) and ``process`` (no
    composition)."""
    space = CompositionSpace(("Li", "Fe", "O"), max_elements=3, grid=10).search_space()
    settings = CampaignSettings("random", initial=len(POOL), batch_size=len(POOL), seed=0)
    agent = CampaignAgent.from_candidates(store, "lfo", space, GOALS, list(POOL.values()), settings)
    assert len(agent.propose()) == len(POOL)
    process = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
    CampaignAgent.from_candidates(store, "process", process, GOALS, [{"x": 0.5}], settings)
    return TestClient(create_app())


def trials(api: TestClient, reader: dict[str, str], filter_: str) -> list[str]:
    """The pool names of the trials of ``lfo`` the filter finds."""
    response = api.get("/api/v1/campaigns/lfo/trials", params={"filter": filter_}, headers=reader)
    assert response.status_code == 200, response.text
    names = list(POOL)
    return sorted(names[row["candidate"]] for row in response.json()["data"])


def refusal(api: TestClient, reader: dict[str, str], path: str, filter_: str) -> Any:
    """The 400's detail for a filter the listing at ``path`` refuses."""
    response = api.get(f"/api/v1{path}", params={"filter": filter_}, headers=reader)
    assert response.status_code == 400, response.text
    return response.json()["detail"]


@pytest.mark.parametrize(
    ("filter_", "found"),
    [
        ('elements HAS "Li"', ["LiFeO3", "LiO"]),  # not Fe3O7~: its Li is float noise
        ('elements HAS ALL "Fe","O"', ["Fe2O3", "Fe3O7~", "FeO", "LiFeO3"]),
        ('elements HAS ANY "Li","Fe"', sorted(POOL)),
        ('NOT elements HAS "Li"', ["Fe2O3", "Fe3O7~", "FeO"]),
        ('elements HAS ONLY "Fe","O"', ["Fe2O3", "Fe3O7~", "FeO"]),
        ('NOT elements HAS ONLY "Fe","O"', ["LiFeO3", "LiO"]),
        ("elements LENGTH 3", ["LiFeO3"]),
        ("elements LENGTH < 3", ["Fe2O3", "Fe3O7~", "FeO", "LiO"]),
        ("nelements = 2", ["Fe2O3", "Fe3O7~", "FeO", "LiO"]),
        ("nelements > 2", ["LiFeO3"]),
        ('chemical_formula_reduced = "Fe2O3"', ["Fe2O3"]),
        ('chemical_formula_reduced = "O3Fe2"', ["Fe2O3"]),  # any order or multiple
        ('chemical_formula_reduced = "Fe4O6"', ["Fe2O3"]),
        ('chemical_formula_reduced = "Fe0.3O0.7"', ["Fe3O7~"]),  # noise is no element
        ('chemical_formula_reduced != "Fe2O3"', ["Fe3O7~", "FeO", "LiFeO3", "LiO"]),
        ('chemical_formula_reduced = "LiO" OR chemical_formula_reduced = "Li"', ["LiO"]),
        ("fraction.fe >= 0.3 AND fraction.fe < 0.5", ["Fe2O3", "Fe3O7~"]),
        ("fraction.li = 0", ["Fe2O3", "FeO"]),  # a fraction is the stored parameter
        ('elements HAS "Fe" AND fraction.o > 0.55', ["Fe2O3", "Fe3O7~", "LiFeO3"]),
        # an element the campaign lacks is in no trial, as a material lacks it
        ('elements HAS "Cu"', []),
        ('elements HAS ANY "Cu","Li"', ["LiFeO3", "LiO"]),
        ('NOT elements HAS "Cu"', sorted(POOL)),
        ('elements HAS ONLY "Fe","O","Cu"', ["Fe2O3", "Fe3O7~", "FeO"]),
        ("fraction.cu = 0", sorted(POOL)),
        ("fraction.cu > 0", []),
        ('chemical_formula_reduced = "CuO"', []),
        ('chemical_formula_reduced != "CuO"', sorted(POOL)),
    ],
)
def test_a_composition_campaigns_trials_are_filtered_by_their_composition(
    api: TestClient, reader: dict[str, str], filter_: str, found: list[str]
) -> None:
    assert trials(api, reader, filter_) == found


@pytest.mark.parametrize(
    ("filter_", "detail"),
    [
        ("fraction.xx > 0", "filter: fraction.xx: 'xx' is not an element symbol"),
        ('fraction.fe > "0.3"', "filter: fraction.fe: '0.3' is not a number"),
        ('elements HAS "fe"', "filter: elements: 'fe' is not an element symbol (case matters)"),
        ('chemical_formula_reduced > "Fe2O3"', "filter: chemical_formula_reduced has no order"),
    ],
)  # fmt: skip
def test_a_composition_filter_that_names_no_element_or_number_is_a_400_naming_it(
    api: TestClient, reader: dict[str, str], filter_: str, detail: str
) -> None:
    assert refusal(api, reader, "/campaigns/lfo/trials", filter_).startswith(detail)


@pytest.mark.parametrize(
    "filter_",
    ['elements HAS "Fe"', "nelements = 1", 'chemical_formula_reduced = "Fe2O3"', "fraction.fe > 0"],
)
def test_composition_names_on_a_campaign_without_a_composition_are_a_400_naming_them(
    api: TestClient, reader: dict[str, str], filter_: str
) -> None:
    name = filter_.split()[0]
    assert refusal(api, reader, "/campaigns/process/trials", filter_).startswith(
        f"filter: {name}: this campaign's space is not a composition"
    )


def test_measurements_point_to_their_trials_for_a_composition(
    api: TestClient, reader: dict[str, str]
) -> None:
    detail = refusal(api, reader, "/campaigns/lfo/measurements", 'elements HAS "Fe"')
    assert detail.endswith(
        "a result's composition is its trial's: filter the campaign's trials by elements, "
        "then measurements by trial_id"
    )


def test_records_are_filtered_by_an_elements_fraction(
    literature_api: TestClient, reader: dict[str, str]
) -> None:
    def materials(filter_: str) -> list[str]:
        response = literature_api.get(
            "/api/v1/literature/records", params={"filter": filter_}, headers=reader
        )
        assert response.status_code == 200, response.text
        return sorted({row["material"] for row in response.json()["data"]})

    # La1.85Sr0.15CuO4: Sr is 0.15 of 7 atoms, 0.0214
    assert materials("fraction.sr > 0.02 AND fraction.sr < 0.03") == ["La1.85Sr0.15CuO4"]
    assert materials("fraction.sr > 0.0215") == []
    assert materials("fraction.mg > 0.33 AND fraction.b > 0.66") == ["MgB2"]
    assert materials("fraction.sr = 0") == ["MgB2", "NbSe2"]  # no Sr: its fraction is 0
    assert materials("NOT fraction.o >= 0.5") == ["MgB2", "NbSe2"]  # LSCO's O is 4/7
    assert materials('fraction.sr > 0 AND property = "tc"') == ["La1.85Sr0.15CuO4"]
    detail = refusal(literature_api, reader, "/literature/records", "fraction.xx > 0.1")
    assert detail.startswith("filter: fraction.xx: 'xx' is not an element symbol")
    detail = refusal(literature_api, reader, "/literature/records", "fraction.sr HAS 0.1")
    assert detail == "filter: fraction.sr is a number: HAS does not apply"
