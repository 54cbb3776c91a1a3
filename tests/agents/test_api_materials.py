"""Registering materials over HTTP: formulas read as meant, kept as written."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from pymatgen.core import Lattice, Structure

from agents.api import create_app
from db.documents import MaterialDocument
from db.tokens import create_token


@pytest.fixture
def api(mongodb_uri: str) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


@pytest.fixture
def admin() -> dict[str, str]:
    secret, _ = create_token("materials-admin", "admin")
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize(
    ("formula", "why"),
    [
        ("Fe(III)2O3", "'Fe(III)' gives an oxidation state in Roman numerals"),
        ("YBCO", "abbreviation of YBa2Cu3O7-δ, in which δ is not fixed"),
        ("BSCCO", "an abbreviation? write the formula"),
    ],
)
def test_a_formula_pymatgen_would_misread_is_a_422_naming_it(
    api: TestClient, admin: dict[str, str], formula: str, why: str
) -> None:
    response = api.post("/api/v1/materials", json={"formula": formula}, headers=admin)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith(f"formula: '{formula}'") and why in detail
    assert MaterialDocument.objects.count() == 0


def test_a_registered_material_keeps_its_formula_as_written(
    api: TestClient, admin: dict[str, str]
) -> None:
    created = api.post("/api/v1/materials", json={"formula": "La1.85Sr0.15CuO4"}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["formula_descriptive"] == "La1.85Sr0.15CuO4"
    assert (body["elements"], body["chemsys"]) == (["Cu", "La", "O", "Sr"], "Cu-La-O-Sr")
    again = api.post("/api/v1/materials", json={"formula": "La37Sr3Cu20O80"}, headers=admin)
    assert again.status_code == 200 and again.json() == body
    resolved = api.post("/api/v1/materials", json={"formula": "STO"}, headers=admin)
    assert resolved.status_code == 201, resolved.text
    assert (resolved.json()["formula"], resolved.json()["formula_descriptive"]) == (
        "SrTiO3",
        "SrTiO3",
    )


def test_a_material_is_found_by_its_formula_as_written(
    api: TestClient, admin: dict[str, str]
) -> None:
    api.post("/api/v1/materials", json={"formula": "La1.85Sr0.15CuO4"}, headers=admin)
    for text in ('chemical_formula_descriptive="La1.85Sr0.15CuO4"', 'chemsys="Cu-La-O-Sr"'):
        found = api.get("/api/v1/materials", params={"filter": text}, headers=admin).json()
        assert [m["formula_descriptive"] for m in found["data"]] == ["La1.85Sr0.15CuO4"], text


# -- a material with its crystal structure ---------------------------------------------------
def _copper() -> dict[str, Any]:
    """fcc copper's primitive cell as pymatgen writes it, then as JSON carries it."""
    cell = Structure(Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])
    return cast(dict[str, Any], json.loads(json.dumps(cell.as_dict())))


def test_a_material_with_a_structure_is_registered_listed_and_registered_again(
    api: TestClient, admin: dict[str, str]
) -> None:
    structure = _copper()
    created = api.post(
        "/api/v1/materials", json={"formula": "Cu", "structure": structure}, headers=admin
    )
    assert created.status_code == 201, created.text
    assert created.json()["structure"] == structure
    for text, found in (
        ("", 1),
        ('elements HAS "Cu"', 1),
        ('chemsys="Cu"', 1),
        ('chemsys="Fe"', 0),
    ):
        listed = api.get("/api/v1/materials", params={"filter": text}, headers=admin)
        assert listed.status_code == 200, (text, listed.text)
        assert listed.json()["data"] == [created.json()] * found, text
    table = api.get("/api/v1/materials", params={"format": "csv"}, headers=admin)
    assert table.status_code == 200, table.text
    [row] = csv.DictReader(io.StringIO(table.text))
    assert json.loads(row["structure"]) == structure
    again = api.post(
        "/api/v1/materials", json={"formula": "Cu", "structure": structure}, headers=admin
    )
    assert again.status_code == 200 and again.json() == created.json()
    assert MaterialDocument.objects.count() == 1


def _with(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    structure = _copper()
    change(structure)
    return structure


@pytest.mark.parametrize(
    ("formula", "structure", "detail"),
    [
        ("Fe", _copper(), "structure: its formula Cu does not match formula Fe"),
        ("Cu", {"sites": []}, "structure: not a pymatgen structure"),
        ("Cu", {}, "structure: empty; leave it out (null)"),
        (  # stored, a NaN would make every later listing fail: it is not JSON
            "Cu",
            _with(lambda s: s["lattice"].update(a=math.nan)),
            "structure.lattice.a: nan is not a finite number",
        ),
        (
            "Cu",
            _with(lambda s: s["sites"][0]["properties"].update(magmom=10**30)),
            "structure.sites[0].properties.magmom: 10000",
        ),
        ("Cu", _with(lambda s: s.update({"$where": 1})), "structure: key '$where' cannot be"),
    ],
)
def test_an_invalid_structure_is_a_422_naming_it_and_stores_nothing(
    api: TestClient, admin: dict[str, str], formula: str, structure: Any, detail: str
) -> None:
    body = json.dumps({"formula": formula, "structure": structure})  # NaN included
    answer = api.post(
        "/api/v1/materials", content=body, headers=admin | {"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(detail), answer.text
    assert MaterialDocument.objects.count() == 0
    listed = api.get("/api/v1/materials", headers=admin)
    assert listed.status_code == 200 and listed.json()["data"] == []


def test_materials_are_sorted_and_filtered_by_when_they_were_registered(
    api: TestClient, admin: dict[str, str]
) -> None:
    for day, formula in enumerate(["MgB2", "Fe2O3", "LiFePO4", "Cu"], start=1):
        api.post("/api/v1/materials", json={"formula": formula}, headers=admin)
        MaterialDocument.objects(formula=formula).update(set__created_at=datetime(2026, 12, day))

    def formulas(**params: Any) -> list[str]:
        response = api.get("/api/v1/materials", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [row["formula"] for row in response.json()["data"]]

    assert formulas() == ["Cu", "Fe2O3", "LiFePO4", "MgB2"]  # by formula, the default
    assert formulas(sort="-created_at") == ["Cu", "LiFePO4", "Fe2O3", "MgB2"]
    assert formulas(sort="-nelements") == ["LiFePO4", "Fe2O3", "MgB2", "Cu"]  # ties by formula
    assert formulas(sort="nelements,-formula") == ["Cu", "MgB2", "Fe2O3", "LiFePO4"]
    # OPTIMADE's spelling: B2Mg, Cu, Fe2O3, FeLiO4P
    assert formulas(sort="chemical_formula_reduced") == ["MgB2", "Cu", "Fe2O3", "LiFePO4"]
    assert formulas(filter='created_at >= "2026-12-02" AND created_at < "2026-12-04"') == [
        "Fe2O3",
        "LiFePO4",
    ]
    (row,) = api.get(
        "/api/v1/materials", params={"filter": 'chemsys = "Cu"'}, headers=admin
    ).json()["data"]
    assert row["created_at"] == "2026-12-04T00:00:00.000Z"
    response = api.get("/api/v1/materials", params={"sort": "mass"}, headers=admin)
    assert response.status_code == 400
    assert "sort: 'mass' is not a field to sort materials by; use one of formula," in response.text
