"""Filters and sorts read as writes read: formulas as materials are registered, DOIs as
``matloop literature papers --doi`` reads them, record sorts as the other listings' sorts.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from db.tokens import create_token

#: Formulas as a lab writes them, which pymatgen alone misreads: an abbreviation (S, T and
#: O atoms) and hydrates (read as one formula unit: ``O4.5``, or not at all).
WRITTEN = {"STO": "SrTiO3", "CuSO4.5H2O": "CuH10SO9", "MgSO4·7H2O": "MgH14SO11"}


@pytest.fixture
def api(literature_api: TestClient) -> TestClient:
    return literature_api


@pytest.fixture
def admin(mongodb_uri: str) -> dict[str, str]:
    secret, _ = create_token("query-admin", "admin")
    return {"Authorization": f"Bearer {secret}"}


def get(api: TestClient, headers: dict[str, str], path: str, **params: str) -> list[dict]:
    response = api.get(f"/api/v1{path}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_a_material_is_found_by_the_formula_it_was_registered_with(
    api: TestClient, admin: dict[str, str], reader: dict[str, str]
) -> None:
    for written in [*WRITTEN, "MgB2"]:
        created = api.post("/api/v1/materials", json={"formula": written}, headers=admin)
        assert created.status_code == 201, created.text
    for written, meant in WRITTEN.items():
        filter_ = f'chemical_formula_reduced="{written}"'
        (found,) = get(api, reader, "/materials", filter=filter_)
        assert found["formula_descriptive"] == meant
        others = get(api, reader, "/materials", filter=filter_.replace("=", "!=", 1))
        assert len(others) == len(WRITTEN)  # != leaves out what = finds, and only that


@pytest.mark.parametrize("path", ["/materials", "/literature/records"])
def test_a_formula_writing_refuses_is_a_400_naming_the_field(
    api: TestClient, reader: dict[str, str], path: str
) -> None:
    response = api.get(
        f"/api/v1{path}", params={"filter": 'chemical_formula_reduced="YBCO"'}, headers=reader
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith(
        "filter: chemical_formula_reduced: 'YBCO' is the abbreviation of YBa2Cu3O7-δ"
    )


@pytest.mark.parametrize("written", ["10.1/BB", "doi:10.1/bb", "https://doi.org/10.1/bb"])
def test_a_paper_is_found_by_its_doi_however_written(
    api: TestClient, reader: dict[str, str], written: str
) -> None:
    records = get(api, reader, "/literature/records", filter=f'paper="{written}"')
    assert [r["material"] for r in records] == ["MgB2"]
    for field in ("doi", "key"):
        (paper,) = get(api, reader, "/literature/papers", filter=f'{field}="{written}"')
        assert paper["key"] == "doi:10.1/bb"


def test_a_record_material_reads_formulas_by_composition_and_names_in_any_case(
    api: TestClient, reader: dict[str, str]
) -> None:
    for written in ("MgB2", "B2Mg", "mgb2"):  # "mgb2": no formula, so MgB2's name in any case
        records = get(api, reader, "/literature/records", filter=f'material="{written}"')
        assert [r["material"] for r in records] == ["MgB2"]
    nbse2 = get(api, reader, "/literature/records", filter='material="nbse2"')
    assert [r["material"] for r in nbse2] == ["NbSe2"]
    assert get(api, reader, "/literature/records", filter='material="NbSe3"') == []


def test_records_sort_by_several_fields_and_a_bad_sort_is_a_400(
    api: TestClient, reader: dict[str, str]
) -> None:
    def materials(sort: str) -> list[str]:
        return [r["material"] for r in get(api, reader, "/literature/records", sort=sort)]

    assert materials("-n_papers,value") == ["MgB2", "NbSe2", "La1.85Sr0.15CuO4"]
    assert materials("n_papers,-value") == ["La1.85Sr0.15CuO4", "NbSe2", "MgB2"]
    assert materials("-low") == ["MgB2", "La1.85Sr0.15CuO4", "NbSe2"]
    assert materials("-n_sources")[0] == "MgB2"
    for sort, message in [
        ("tc", "sort: 'tc' is not a record field to sort by"),
        ("-value,tc", "sort: 'tc' is not a record field to sort by"),
    ]:  # as a trials or measurements sort: the query's error, not an invalid body
        response = api.get("/api/v1/literature/records", params={"sort": sort}, headers=reader)
        assert response.status_code == 400 and message in response.json()["detail"]
