"""Researchers' literature routes: records by OPTIMADE filter, papers, semantic search."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from pymatgen.core import Composition

from agents.api import create_app
from db.literature import (
    PAPER_COLUMNS,
    RECORD_COLUMNS,
    LiteratureStore,
    PassageDocument,
    PropertyRecordDocument,
)
from db.tokens import create_token
from discovery.compositions import CompositionSpace, formula_of
from discovery.domain import ModelArtifact
from literature.parsing import parse_paper
from literature.pipeline import Extractor
from tests.stand_ins import SpansOf, tagger_metrics


@pytest.fixture
def api(literature_api: TestClient) -> TestClient:
    return literature_api


def test_records_are_filtered_with_optimade(api: TestClient, reader: dict[str, str]) -> None:
    def materials(text: str) -> list[str]:
        response = api.get("/api/v1/literature/records", params={"filter": text}, headers=reader)
        assert response.status_code == 200, response.text
        return sorted(r["material"] for r in response.json()["data"])

    assert materials('elements HAS ALL "Cu","O" AND nelements<=4') == ["La1.85Sr0.15CuO4"]
    assert materials('property="tc" AND value>=30 AND value<=38.5') == ["La1.85Sr0.15CuO4"]
    assert materials("n_papers>=2") == ["MgB2"]
    assert materials('NOT elements HAS "O"') == ["MgB2", "NbSe2"]
    bad = api.get("/api/v1/literature/records", params={"filter": "value >"}, headers=reader)
    assert bad.status_code == 400 and "cannot parse" in bad.json()["detail"]
    unknown = api.get("/api/v1/literature/records", params={"filter": "sources=1"}, headers=reader)
    assert unknown.status_code == 400 and "'sources' cannot be filtered" in unknown.text
    # the reduced formula in alphabetical order, whatever order the paper wrote
    assert materials('chemical_formula_reduced="B2Mg"') == ["MgB2"]
    # lineage: the records read in a paper, and that paper by its key
    assert materials('paper="doi:10.1/bb"') == ["MgB2"]
    papers = api.get(
        "/api/v1/literature/papers", params={"filter": 'key="doi:10.1/bb"'}, headers=reader
    )
    assert [p["doi"] for p in papers.json()["data"]] == ["10.1/bb"]


def test_records_sort_by_a_field(api: TestClient, reader: dict[str, str]) -> None:
    def materials(sort: str) -> list[str]:
        params = {"filter": 'property="tc"', "sort": sort, "limit": 2}
        response = api.get("/api/v1/literature/records", params=params, headers=reader)
        assert response.status_code == 200, response.text
        return [r["material"] for r in response.json()["data"]]

    assert materials("-value") == ["MgB2", "La1.85Sr0.15CuO4"]  # the two highest Tc
    assert materials("value") == ["NbSe2", "La1.85Sr0.15CuO4"]
    assert materials("-n_papers")[0] == "MgB2"  # read in both papers
    bad = api.get("/api/v1/literature/records", params={"sort": "tc"}, headers=reader)
    assert bad.status_code == 400 and "sort: 'tc' is not a record field" in bad.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("elements LENGTH >= 4", ["La1.85Sr0.15CuO4"]),
        ("elements LENGTH < 4", ["MgB2", "NbSe2"]),
        ("elements LENGTH = 2", ["MgB2", "NbSe2"]),
        ("elements LENGTH != 2", ["La1.85Sr0.15CuO4"]),
        ("elements LENGTH < 2", []),
        ("elements LENGTH <= 2", ["MgB2", "NbSe2"]),
        ("elements LENGTH > 2", ["La1.85Sr0.15CuO4"]),
        ("elements LENGTH > 4", []),
        ("elements LENGTH <= 4", ["La1.85Sr0.15CuO4", "MgB2", "NbSe2"]),
        ("NOT elements LENGTH > 2", ["MgB2", "NbSe2"]),
    ],
)
def test_length_compares_a_records_element_count(
    api: TestClient, reader: dict[str, str], text: str, expected: list[str]
) -> None:
    response = api.get("/api/v1/literature/records", params={"filter": text}, headers=reader)
    assert response.status_code == 200, response.text
    assert sorted(r["material"] for r in response.json()["data"]) == expected


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/literature/records", {"filtre": "value>100"}, "filtre"),
        ("/literature/papers", {"filter": "year>2000", "sort": "year"}, "sort"),
        ("/literature/search", {"q": "x", "elements": "Cu"}, "elements"),
    ],
)
def test_a_query_parameter_the_route_does_not_take_is_a_422(
    api: TestClient, reader: dict[str, str], path: str, params: dict[str, str], named: str
) -> None:
    response = api.get(f"/api/v1{path}", params=params, headers=reader)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", named] and f"unknown query parameter {named!r}" in error["msg"]


def test_csv_pages_of_records_have_the_same_columns(
    api: TestClient, reader: dict[str, str]
) -> None:
    # one record read under pressure, the others under no stated conditions
    PropertyRecordDocument.objects(material="MgB2").update(set__conditions={"pressure": 2.0})
    pages = [
        api.get(
            "/api/v1/literature/records",
            params={"format": "csv", "limit": 1, "offset": offset},
            headers=reader,
        )
        for offset in range(3)
    ]
    headers = {page.text.splitlines()[0] for page in pages}
    assert len(headers) == 1 and "conditions" in next(iter(headers)).split(",")
    rows = [next(csv.DictReader(io.StringIO(page.text))) for page in pages]
    conditions = {row["material"]: json.loads(row["conditions"]) for row in rows}
    assert conditions["MgB2"] == {"pressure": 2.0} and conditions["NbSe2"] == {}
    assert all(page.headers["x-total-count"] == "3" for page in pages)


@pytest.mark.parametrize(
    ("path", "nothing", "columns"),
    [
        ("/literature/records", "value>1e9", RECORD_COLUMNS),
        ("/literature/papers", "year>3000", PAPER_COLUMNS),
    ],
)
def test_an_empty_csv_page_of_records_or_papers_has_their_header(
    api: TestClient,
    reader: dict[str, str],
    path: str,
    nothing: str,
    columns: tuple[str, ...],
) -> None:
    rows = api.get(f"/api/v1{path}", headers=reader).json()["data"]
    assert rows and all(list(row) == list(columns) for row in rows)  # what the store gives
    full = api.get(f"/api/v1{path}", params={"format": "csv"}, headers=reader)
    empty = api.get(f"/api/v1{path}", params={"format": "csv", "filter": nothing}, headers=reader)
    assert empty.status_code == 200 and empty.headers["x-total-count"] == "0"
    assert empty.text.splitlines() == [full.text.splitlines()[0]] == [",".join(columns)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('elements HAS "cu"', "elements: 'cu' is not an element symbol"),
        ('value<"40"', "value: '40' is not a number"),
        ("material=3", "material: 3 is not a string"),
        ('value STARTS WITH "4"', "value is not text"),
    ],
)
def test_a_filter_value_a_field_cannot_hold_is_a_400(
    api: TestClient, reader: dict[str, str], text: str, message: str
) -> None:
    response = api.get("/api/v1/literature/records", params={"filter": text}, headers=reader)
    assert response.status_code == 400 and message in response.json()["detail"]


def test_records_carry_provenance_and_export_as_csv(
    api: TestClient, reader: dict[str, str]
) -> None:
    response = api.get(
        "/api/v1/literature/records", params={"filter": 'material="MgB2"'}, headers=reader
    )
    (mgb2,) = response.json()["data"]
    assert {s["paper"] for s in mgb2["sources"]} == {"doi:10.1/a", "doi:10.1/bb"}
    assert all(s["model_version"] == "tagger-supermat:abc" for s in mgb2["sources"])
    page = api.get(
        "/api/v1/literature/records", params={"format": "csv", "limit": 2}, headers=reader
    )
    assert page.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(page.text)))
    assert len(rows) == 2 and {"material", "value", "unit", "confidence"} <= set(rows[0])
    listing = api.get("/api/v1/literature/records", headers=reader).json()
    total = listing["meta"]["total"]  # the page says how much it is part of
    assert (page.headers["x-total-count"], page.headers["x-limit"]) == (str(total), "2")
    for row in rows:  # lists as JSON, not Python's repr
        assert isinstance(json.loads(row["elements"]), list)
        assert all("paper" in source for source in json.loads(row["sources"]))


def test_papers_are_listed(api: TestClient, reader: dict[str, str]) -> None:
    response = api.get("/api/v1/literature/papers", headers=reader)
    assert response.json()["meta"]["total"] == 2
    assert {p["doi"] for p in response.json()["data"]} == {"10.1/a", "10.1/bb"}
    # UTC and marked so, like every other timestamp the API gives
    assert all(p["ingested_at"].endswith("Z") for p in response.json()["data"])


def test_search_finds_sentences_by_meaning_with_filters(
    api: TestClient, reader: dict[str, str]
) -> None:
    # The stored embeddings are stand-ins; the query is embedded by the real MiniLM encoder,
    # so only the filters and the shape of the answer are checked here.
    hits = api.get(
        "/api/v1/literature/search", params={"q": "cuprate", "element": "Cu"}, headers=reader
    )
    assert hits.status_code == 200, hits.text
    assert [h["text"] for h in hits.json()] == ["La1.85Sr0.15CuO4 has Tc = 38 K."]
    assert hits.headers["X-Matloop-Unembedded"] == "0"
    PassageDocument.objects(text="La1.85Sr0.15CuO4 has Tc = 38 K.").update(unset__embedding=1)
    missed = api.get(
        "/api/v1/literature/search", params={"q": "cuprate", "element": "Cu"}, headers=reader
    )  # ingested without embeddings beside embedded ones: counted, not searched
    assert missed.json() == [] and missed.headers["X-Matloop-Unembedded"] == "1"
    in_range = api.get(
        "/api/v1/literature/search",
        params={"q": "superconductor", "property": "tc", "min": 38.5, "k": 10},
        headers=reader,
    )
    assert {h["paper_key"] for h in in_range.json()} == {"doi:10.1/a", "doi:10.1/bb"}
    assert {h["text"] for h in in_range.json()} == {"MgB2 superconducts at 39 K."}
    bad = api.get("/api/v1/literature/search", params={"q": "x", "element": "Qq"}, headers=reader)
    assert bad.status_code == 422 and "element: 'Qq'" in bad.text
    anonymous = api.get("/api/v1/literature/search", params={"q": "x"})
    assert anonymous.status_code == 401


def test_a_property_no_record_may_have_is_refused_not_an_empty_page(
    api: TestClient, reader: dict[str, str]
) -> None:
    records = "/api/v1/literature/records"
    for text in ('property="bandgap"', 'value>1 AND (property="tc" OR property="bandgap")'):
        bad = api.get(records, params={"filter": text}, headers=reader)
        assert bad.status_code == 400, bad.text
        assert bad.json()["detail"] == (
            "filter: property: 'bandgap' is not a record property; use tc"
        )
    tc = api.get(records, params={"filter": 'property="TC"'}, headers=reader)
    assert tc.status_code == 200 and tc.json()["meta"]["total"] > 0  # any case
    search = api.get(
        "/api/v1/literature/search", params={"q": "x", "property": "bandgap"}, headers=reader
    )
    assert search.status_code == 422, search.text
    assert "property: 'bandgap' is not a record property" in search.json()["detail"]


def test_a_search_with_nothing_embedded_is_a_409_saying_so(
    mongodb_uri: str, literature_samples: SimpleNamespace, reader: dict[str, str]
) -> None:
    extraction = literature_samples.extraction("10.1/c", ["MgB2"])
    extraction.embeddings.clear()  # as `literature ingest --no-embeddings` stores it
    LiteratureStore().ingest(extraction)
    with TestClient(create_app()) as client:
        found = client.get("/api/v1/literature/search", params={"q": "x"}, headers=reader)
    assert found.status_code == 409, found.text  # not [], which means "nothing matched"
    assert found.headers["X-Matloop-Reason"] == "no-embeddings"
    assert "no stored sentence has an embedding" in found.json()["detail"]


def test_a_models_record_ids_look_up_their_records(api: TestClient, reader: dict[str, str]) -> None:
    rows = api.get("/api/v1/literature/records", headers=reader).json()["data"]
    wanted = {row["id"]: row["material"] for row in rows if row["material"] != "MgB2"}
    text = " OR ".join(f'id="{record_id}"' for record_id in wanted)
    found = api.get("/api/v1/literature/records", params={"filter": text}, headers=reader)
    assert found.status_code == 200, found.text
    assert {row["id"]: row["material"] for row in found.json()["data"]} == wanted
    bad = api.get("/api/v1/literature/records", params={"filter": 'id="6b13"'}, headers=reader)
    assert bad.status_code == 400 and "id: '6b13' is not an id" in bad.json()["detail"]


def test_a_formula_and_property_in_any_spelling_find_their_records(
    api: TestClient, reader: dict[str, str]
) -> None:
    def materials(text: str) -> list[str]:
        response = api.get("/api/v1/literature/records", params={"filter": text}, headers=reader)
        assert response.status_code == 200, response.text
        return sorted(r["material"] for r in response.json()["data"])

    assert materials('chemical_formula_reduced="MgB2"') == ["MgB2"]
    assert materials('chemical_formula_reduced!="MgB2"') == ["La1.85Sr0.15CuO4", "NbSe2"]
    assert materials('property="Tc" AND value>38.5') == ["MgB2"]
    wrong = api.get(
        "/api/v1/literature/records",
        params={"filter": 'chemical_formula_reduced<"MgB2"'},
        headers=reader,
    )
    assert wrong.status_code == 400 and "has no order" in wrong.json()["detail"]


def test_a_trials_formula_finds_the_records_of_its_composition(
    api: TestClient, reader: dict[str, str]
) -> None:
    # a composition campaign's trial names La1.85Sr0.15CuO4 by whole atoms, as made
    space = CompositionSpace(("La", "Sr", "Cu", "O"), max_elements=4).search_space()
    fractions = Composition("La1.85Sr0.15CuO4").fractional_composition.get_el_amt_dict()
    trial = formula_of(space, fractions)
    assert trial == "Sr3La37Cu20O80"

    def records(text: str) -> list[dict]:
        response = api.get("/api/v1/literature/records", params={"filter": text}, headers=reader)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    for spelling in (trial, "La1.85Sr0.15CuO4", "La3.7Sr0.3Cu2O8"):  # any order or multiple
        (found,) = records(f'chemical_formula_reduced="{spelling}"')
        assert found["material"] == "La1.85Sr0.15CuO4"
    # what users see: the formula as written; the reduced one as materials spell theirs
    assert (found["formula"], found["formula_reduced"]) == ("La1.85Sr0.15CuO4", "Cu20La37O80Sr3")
    assert records('chemical_formula_descriptive="La1.85Sr0.15CuO4"') == [found]
    assert records(f'chemical_formula_descriptive="{trial}"') == []  # as written only


def test_a_sources_material_sentence_is_in_json_and_csv_pages_alike(
    api: TestClient, reader: dict[str, str]
) -> None:
    text = "MgB2 is a binary boride. It superconducts at 39.5 K."
    paper = replace(parse_paper(text.encode(), "earlier.txt"), doi="10.1/earlier")
    pieces = [("material", "MgB2"), ("tcValue", "39.5 K")]
    extractor = Extractor(SpansOf(pieces), "tagger-test:0")  # type: ignore[arg-type]
    LiteratureStore().ingest(extractor.extract(paper))
    params = {"filter": "value=39.5"}
    (row,) = api.get("/api/v1/literature/records", params=params, headers=reader).json()["data"]
    (source,) = row["sources"]
    assert source["text"] == "It superconducts at 39.5 K."
    assert source["material_sentence_text"] == "MgB2 is a binary boride."
    page = api.get("/api/v1/literature/records", params={**params, "format": "csv"}, headers=reader)
    (cells,) = csv.DictReader(io.StringIO(page.text))
    assert json.loads(cells["sources"]) == row["sources"]
    # a page whose sources name the material beside the value: the same columns and keys
    other = api.get(
        "/api/v1/literature/records",
        params={"filter": 'material="NbSe2"', "format": "csv"},
        headers=reader,
    )
    assert other.text.splitlines()[0] == page.text.splitlines()[0]
    (nbse2,) = csv.DictReader(io.StringIO(other.text))
    (beside,) = json.loads(nbse2["sources"])
    assert list(beside) == list(source) and beside["material_sentence_text"] is None


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("Value>3", "names are lower case"),
        ("property='tc'", "double quotes"),
        ("value > 3 AND", "a dangling AND"),
    ],
)
def test_a_filter_that_does_not_parse_is_a_400_that_says_why(
    api: TestClient, reader: dict[str, str], text: str, hint: str
) -> None:
    response = api.get("/api/v1/literature/records", params={"filter": text}, headers=reader)
    assert response.status_code == 400 and hint in response.json()["detail"]


def test_the_model_listing_gives_each_taggers_held_out_f1(
    api: TestClient, reader: dict[str, str]
) -> None:
    store = LiteratureStore()
    metrics = tagger_metrics({"micro": 0.71, "material": 0.8, "tcValue": 0.0})
    weak = store.save_tagger(ModelArtifact("tagger-supermat", "a" * 64, metrics, b"w"))
    response = api.get("/api/v1/models", params={"kind": "tagger"}, headers=reader)
    assert response.status_code == 200, response.text
    (listed,) = response.json()
    assert listed["version"] == weak
    assert listed["metrics"] == {
        "train_sentences": 900,
        "test_micro_f1": 0.71,
        "test_f1_material": 0.8,
        "test_f1_tcValue": 0.0,
    }
    shown = api.get(f"/api/v1/models/{weak}", headers=reader).json()
    assert shown["metrics"]["test"]["tcValue"]["f1"] == 0.0  # the stored scores, whole


RECORDS = "/api/v1/literature/records"


def test_an_admin_rejects_a_record_and_restores_it(literature_api: TestClient) -> None:
    admin = {"Authorization": f"Bearer {create_token('curator', 'admin')[0]}"}
    reader = {"Authorization": f"Bearer {create_token('reader-r', 'researcher')[0]}"}
    rows = literature_api.get(RECORDS, headers=reader).json()["data"]
    wrong = next(r for r in rows if r["material"] == "NbSe2")
    url = f"{RECORDS}/{wrong['id']}/rejection"
    body = {"reason": "tantalum's Tc"}
    assert literature_api.post(url, json=body, headers=reader).status_code == 403
    rejected = literature_api.post(url, json=body, headers=admin)
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["rejection"]["by"] == "curator"
    left = literature_api.get(RECORDS, headers=reader).json()["data"]
    assert len(left) == len(rows) - 1
    only = literature_api.get(RECORDS, params={"rejected": "only"}, headers=reader).json()
    assert [r["id"] for r in only["data"]] == [wrong["id"]]
    bad = literature_api.get(RECORDS, params={"rejected": "maybe"}, headers=reader)
    assert bad.status_code == 422 and "rejected" in bad.text
    empty = literature_api.post(url, json={"reason": ""}, headers=admin)
    assert empty.status_code == 422 and "reason" in empty.text
    missing = literature_api.post(f"{RECORDS}/{'0' * 24}/rejection", json=body, headers=admin)
    assert missing.status_code == 404 and "no record" in missing.text
    restored = literature_api.delete(url, headers=admin)
    assert restored.status_code == 200 and restored.json()["rejection"] is None
    assert len(literature_api.get(RECORDS, headers=reader).json()["data"]) == len(rows)
