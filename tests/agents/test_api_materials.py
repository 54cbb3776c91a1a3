"""Registering materials over HTTP: formulas read as meant, kept as written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

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
