"""Each element's molar fraction, stored with materials and records and filtered as
``fraction.<element>``, on every write path and for documents stored before it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pymatgen.core import Composition

from db.connection import SCHEMA_COLLECTION, SCHEMA_ID, UPGRADE_STEPS, connect, database
from db.documents import MaterialDocument, molar_fractions
from db.literature import (
    LiteratureStore,
    PropertyRecordDocument,
    fill_record_fractions,
    reread_adduct_records,
)
from db.materials import (
    add_material,
    fill_material_fractions,
    page_materials,
    reread_written_formulas,
)
from db.query import optimade_to_mongo
from literature.formulas import read_formula
from literature.parsing import parse_paper
from literature.pipeline import Extractor
from literature.records import PaperExtraction
from tests.stand_ins import SpansOf

#: La1.85Sr0.15CuO4: 7 atoms a formula unit, stored as Cu20La37O80Sr3 (140 atoms).
LSCO = {"Cu": 20 / 140, "La": 37 / 140, "O": 80 / 140, "Sr": 3 / 140}
#: MgSO4·7H2O with its water written out: MgH14SO11, 27 atoms.
EPSOMITE = {"H": 14 / 27, "Mg": 1 / 27, "O": 11 / 27, "S": 1 / 27}


def read(doi: str, text: str, materials: list[str], values: list[str]) -> PaperExtraction:
    """``text`` read as paper ``doi:<doi>`` with these material and Tc mentions."""
    pieces = [("material", m) for m in materials] + [("tcValue", v) for v in values]
    paper = replace(parse_paper(text.encode(), f"{doi}.txt"), doi=doi)
    return Extractor(SpansOf(pieces), "tagger-test:0").extract(paper)  # type: ignore[arg-type]


def step_version(target: str) -> int:
    """The schema version of the upgrade step that runs ``target``."""
    return next(step.version for step in UPGRADE_STEPS if step.target == target)


def stored_before(target: str, mongodb_uri: str) -> None:
    """Mark the documents as stored before ``target``'s step, and connect as a new process."""
    version = step_version(target) - 1
    database()[SCHEMA_COLLECTION].update_one({"_id": SCHEMA_ID}, {"$set": {"version": version}})
    connect(mongodb_uri)


def same_fractions(found: Any, expected: dict[str, float]) -> bool:
    return (
        isinstance(found, dict)
        and found.keys() == expected.keys()
        and all(found[symbol] == pytest.approx(expected[symbol], rel=1e-12) for symbol in expected)
    )


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("La1.85Sr0.15CuO4", LSCO),
        ("Sr3La37Cu20O80", LSCO),
        (read_formula("MgSO4·7H2O"), EPSOMITE),
        ("Fe2O3", {"Fe": 0.4, "O": 0.6}),
    ],
)
def test_molar_fractions_are_of_the_atoms_in_a_formula_unit(
    formula: str, expected: dict[str, float]
) -> None:
    assert same_fractions(molar_fractions(Composition(formula)), expected)
    assert molar_fractions(Composition("La1.85Sr0.15CuO4"))["Sr"] == pytest.approx(0.15 / 7)


def test_materials_store_their_fractions_and_are_filtered_by_a_range_of_one(
    mongodb_uri: str,
) -> None:
    for written in ("Fe2O3", "Fe3O4", "FeO", "MgB2", "La1.85Sr0.15CuO4", "MgSO4·7H2O"):
        add_material(read_formula(written))
    stored = {d.formula: d.fractions for d in MaterialDocument.objects}
    assert same_fractions(stored["Sr3La37Cu20O80"], LSCO)
    assert same_fractions(stored["MgH14SO11"], EPSOMITE)

    def found(text: str) -> list[str]:
        rows, _ = page_materials(optimade_to_mongo(text, "materials"), limit=100, offset=0)
        return sorted(m.formula for m in rows)

    assert found("fraction.fe >= 0.4 AND fraction.fe < 0.5") == ["Fe2O3", "Fe3O4"]  # 0.4, 3/7
    assert found("fraction.fe > 0.4") == ["Fe3O4", "FeO"]
    assert found("fraction.fe < 0.3") == ["MgB2", "MgH14SO11", "Sr3La37Cu20O80"]  # none: 0
    assert found("fraction.sr > 0.02 AND fraction.sr < 0.03") == ["Sr3La37Cu20O80"]
    assert found("fraction.mg > 0.03 AND fraction.mg < 0.04") == ["MgH14SO11"]  # 1/27
    assert found("fraction.h IS KNOWN") == found("")  # every material's composition is known


def test_records_store_their_formulas_fractions_and_a_name_has_none(mongodb_uri: str) -> None:
    literature = LiteratureStore()
    literature.ingest(
        read(
            "10.1/f",
            "La1.85Sr0.15CuO4 has Tc 38 K. MgSO4.7H2O has Tc 5 K. LSCO has Tc 30 K.",
            ["La1.85Sr0.15CuO4", "MgSO4.7H2O", "LSCO"],
            ["38 K", "5 K", "30 K"],
        )
    )
    stored = {
        r["material"]: r.get("fractions") for r in PropertyRecordDocument.objects.as_pymongo()
    }
    assert same_fractions(stored["La1.85Sr0.15CuO4"], LSCO)
    assert same_fractions(stored["MgH14SO11"], EPSOMITE)
    assert stored["LSCO"] is None  # its strontium is open: no fractions

    def found(text: str) -> list[str]:
        rows, _ = literature.records(literature.records_filter(text))
        return sorted(r["material"] for r in rows)

    assert found("fraction.sr > 0.02 AND fraction.sr < 0.03") == ["La1.85Sr0.15CuO4"]
    assert found("fraction.sr = 0") == ["MgH14SO11"]  # LSCO's Sr is not known to be 0
    assert found("fraction.sr IS UNKNOWN") == ["LSCO"]
    assert found("fraction.fe != 0.5") == ["La1.85Sr0.15CuO4", "MgH14SO11"]
    assert "fractions" not in literature.records({})[0][0]  # a filter's, not a column


def test_a_materials_fractions_follow_its_formula_when_an_upgrade_rereads_it(
    mongodb_uri: str,
) -> None:
    add_material("CuSO4.5H2O")  # as stored before hydrates were read: Cu S O4.5 H2 O
    reread_written_formulas()
    (material,) = MaterialDocument.objects
    assert material.formula == "CuH10SO9"
    assert material.fractions == molar_fractions(Composition("CuH10SO9"))


def test_a_records_fractions_follow_its_formula_when_an_upgrade_rereads_a_hydrate(
    mongodb_uri: str,
) -> None:
    LiteratureStore().ingest(read("10.1/h", "MgSO4.7H2O has Tc 5 K.", ["MgSO4.7H2O"], ["5 K"]))
    records = PropertyRecordDocument._get_collection()
    misread = {"material": "MgSO5.7H2", "formula": "MgSO5.7H2", "formula_reduced": "H20Mg10O57S10"}
    misread["fractions"] = molar_fractions(Composition("H20Mg10O57S10"))
    records.update_one({}, {"$set": misread})  # as it was read before hydrates
    reread_adduct_records()
    (record,) = records.find({})
    assert record["formula_reduced"] == "H14MgO11S"
    assert same_fractions(record["fractions"], EPSOMITE)


def test_materials_and_records_stored_before_fractions_get_them_on_upgrade(
    mongodb_uri: str,
) -> None:
    for formula in ("Fe2O3", "La1.85Sr0.15CuO4"):
        add_material(formula)
    literature = LiteratureStore()
    doped = "La1.85Sr0.15CuO4"
    literature.ingest(read("10.1/u", f"{doped} has Tc 38 K.", [doped], ["38 K"]))
    literature.ingest(read("10.1/n", "LSCO has Tc 30 K.", ["LSCO"], ["30 K"]))
    materials = MaterialDocument._get_collection()
    records = PropertyRecordDocument._get_collection()
    for collection in (materials, records):  # the old shape: no fractions
        collection.update_many({}, {"$unset": {"fractions": ""}})
    records.update_one({"material": "LSCO"}, {"$set": {"fractions": None}})
    assert not literature.records(literature.records_filter("fraction.sr > 0"))[0]

    stored_before("db.materials:fill_material_fractions", mongodb_uri)
    materials = MaterialDocument._get_collection()  # the new connection's
    records = PropertyRecordDocument._get_collection()
    by_formula = {row["formula"]: row["fractions"] for row in materials.find({})}
    assert by_formula["Fe2O3"] == {"Fe": 0.4, "O": 0.6}
    assert same_fractions(by_formula["Sr3La37Cu20O80"], LSCO)
    by_material = {row["material"]: row.get("fractions") for row in records.find({})}
    assert same_fractions(by_material["La1.85Sr0.15CuO4"], LSCO)
    assert by_material["LSCO"] is None
    rows, _ = literature.records(literature.records_filter("fraction.sr > 0"))
    assert [row["material"] for row in rows] == ["La1.85Sr0.15CuO4"]

    before = [sorted(c.find({}), key=lambda row: str(row["_id"])) for c in (materials, records)]
    fill_material_fractions()  # again: nothing to change
    fill_record_fractions()
    after = [sorted(c.find({}), key=lambda row: str(row["_id"])) for c in (materials, records)]
    assert after == before


def test_a_records_stale_fractions_are_those_of_its_formula_after_the_upgrade(
    mongodb_uri: str,
) -> None:
    LiteratureStore().ingest(read("10.1/s", "MgB2 has Tc 39 K.", ["MgB2"], ["39 K"]))
    records = PropertyRecordDocument._get_collection()
    records.update_one({}, {"$set": {"fractions": {"Mg": 0.5, "B": 0.5}}})  # not B2Mg's
    stored_before("db.literature:fill_record_fractions", mongodb_uri)
    (record,) = PropertyRecordDocument._get_collection().find({})
    assert same_fractions(record["fractions"], {"B": 2 / 3, "Mg": 1 / 3})
