"""Formulas are read as their writers meant them; the registry keeps them as written."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest
from pymatgen.core import Lattice, Structure

from db.documents import MaterialDocument
from db.materials import (
    add_material,
    known_formulas,
    page_materials,
    reread_written_formulas,
    set_aside_unservable_structures,
)
from db.query import optimade_to_mongo
from literature.formulas import read_formula


@pytest.mark.parametrize("formula", ["Fe(III)2O3", "Cu(II)O", "Mn (IV)O2"])
def test_a_roman_numeral_oxidation_state_is_refused(mongodb_uri: str, formula: str) -> None:
    # pymatgen reads Fe(III)2O3 as Fe(I2O)3: iodine atoms from the numeral
    with pytest.raises(ValueError, match=r"^formula: .*Roman numerals"):
        add_material(read_formula(formula))
    assert MaterialDocument.objects.count() == 0
    assert not known_formulas(["Fe", "Cu", "Mn", "I", "V", "O"])


@pytest.mark.parametrize(
    ("formula", "why"),
    [
        ("YBCO", r"abbreviation of YBa2Cu3O7-δ, in which δ is not fixed"),
        ("LSCO", r"abbreviation of La2-xSrxCuO4, in which x is not fixed"),
        ("Bi2212", r"abbreviation of Bi2Sr2CaCu2O8\+δ"),  # pymatgen: Bi
        ("YBCO6.7", r"'YBCO' is the abbreviation of YBa2Cu3O7-δ"),  # pymatgen: Y B C O6.7
        ("BSCCO", r"CC where a formula writes C2"),  # not in the table; pymatgen: B S C2 O
        ("ITO", r"T as hydrogen"),  # pymatgen: I H O
    ],
)
def test_an_abbreviation_without_one_exact_formula_is_refused(
    mongodb_uri: str, formula: str, why: str
) -> None:
    with pytest.raises(ValueError, match=rf"^formula: '{formula}'.*{why}"):
        add_material(read_formula(formula))
    assert MaterialDocument.objects.count() == 0


@pytest.mark.parametrize(
    ("formula", "resolved", "elements"),
    [
        ("STO", "SrTiO3", ("O", "Sr", "Ti")),  # pymatgen: S H O
        ("Y124", "YBa2Cu4O8", ("Ba", "Cu", "O", "Y")),  # pymatgen: Y
        ("YBCO 6.7", "YBa2Cu3O6.7", ("Ba", "Cu", "O", "Y")),
    ],
)
def test_an_abbreviation_with_one_exact_formula_resolves_to_it(
    mongodb_uri: str, formula: str, resolved: str, elements: tuple[str, ...]
) -> None:
    material, created = add_material(read_formula(formula))
    assert created
    assert material.elements == elements
    assert material.formula_descriptive == resolved  # element symbols, as OPTIMADE asks


@pytest.mark.parametrize(
    ("formula", "elements"),
    [
        ("CO", ("C", "O")),
        ("NO", ("N", "O")),
        ("BN", ("B", "N")),
        ("SiC", ("C", "Si")),
        ("KSCN", ("C", "K", "N", "S")),
        ("HNO3", ("H", "N", "O")),
        ("Ca(IO3)2", ("Ca", "I", "O")),  # a group of iodate, not a Roman numeral
    ],
)
def test_formulas_written_in_capitals_still_register(
    mongodb_uri: str, formula: str, elements: tuple[str, ...]
) -> None:
    material, created = add_material(read_formula(formula))
    assert created and material.elements == elements
    assert material.formula_descriptive == formula


def test_the_descriptive_formula_is_kept_as_written_and_found_by_it(mongodb_uri: str) -> None:
    material, _ = add_material("La1.85Sr0.15CuO4")
    assert material.formula_descriptive == "La1.85Sr0.15CuO4"
    assert material.formula == "Sr3La37Cu20O80"  # the key: whole amounts, no brackets
    assert material.elements == ("Cu", "La", "O", "Sr")
    assert material.formula_alphabetical == "Cu20La37O80Sr3"
    found, total = page_materials({"formula_descriptive": "La1.85Sr0.15CuO4"}, 10, 0)
    assert total == 1 and found[0].id == material.id
    spaced, _ = add_material("  (H2O)2\tNa ")
    assert spaced.formula_descriptive == "(H2O)2 Na"  # whitespace collapsed, not removed


def test_another_spelling_of_a_known_composition_returns_it_as_first_written(
    mongodb_uri: str,
) -> None:
    first, created = add_material("La1.85Sr0.15CuO4")
    assert created
    for spelling in ("La37Sr3Cu20O80", "La1.85Sr0.15CuO4", " La1.85 Sr0.15 Cu O4"):
        again, created = add_material(spelling)
        assert not created and again == first
    assert MaterialDocument.objects.count() == 1


def test_a_document_saved_directly_keeps_its_formula_as_written(mongodb_uri: str) -> None:
    document = MaterialDocument(formula="Fe4O6").save()
    assert (document.formula, document.formula_descriptive) == ("Fe2O3", "Fe4O6")


def test_materials_stored_before_the_descriptive_formula_get_it_on_connect(
    mongodb_uri: str,
) -> None:
    from db.connection import SCHEMA_COLLECTION, SCHEMA_ID, connect, database

    add_material("Fe2O3")
    MaterialDocument._get_collection().update_many({}, {"$unset": {"formula_descriptive": ""}})
    database()[SCHEMA_COLLECTION].update_one({"_id": SCHEMA_ID}, {"$set": {"version": 2}})
    assert page_materials({"formula_descriptive": "Fe2O3"}, 10, 0)[1] == 0  # as stored before
    connect(mongodb_uri)  # a new process
    found, total = page_materials({"formula_descriptive": "Fe2O3"}, 10, 0)
    assert total == 1 and found[0].formula == "Fe2O3"


def test_a_material_is_keyed_by_its_plain_formula_and_keeps_a_fine_dopant(
    mongodb_uri: str,
) -> None:
    lithium_ferrite, _ = add_material("Li5Fe6O9")
    assert lithium_ferrite.formula == "Li5Fe6O9"  # pymatgen's reduced formula: Li5(Fe2O3)3
    host, _ = add_material("ZnO")
    doped, new = add_material("Zn0.9999Ga0.0001O")
    assert new and doped.formula == "Zn0.9999Ga0.0001O" != host.formula
    again, new = add_material("Zn1.9998Ga0.0002O2")  # another spelling of the same
    assert not new and again.formula == doped.formula
    query = optimade_to_mongo('chemical_formula_reduced="Zn0.9999Ga0.0001O"', "materials")
    assert [m.formula for m in page_materials(query, 10, 0)[0]] == [doped.formula]


def test_materials_stored_with_bracketed_formulas_get_plain_ones_on_connect(
    mongodb_uri: str,
) -> None:
    from db.connection import SCHEMA_COLLECTION, SCHEMA_ID, connect, database

    add_material("Li5Fe6O9")
    add_material("Fe2O3")
    collection = MaterialDocument._get_collection()
    collection.update_one({"formula": "Li5Fe6O9"}, {"$set": {"formula": "Li5(Fe2O3)3"}})
    database()[SCHEMA_COLLECTION].update_one({"_id": SCHEMA_ID}, {"$set": {"version": 3}})
    connect(mongodb_uri)  # a new process
    stored = MaterialDocument._get_collection().find()
    assert sorted(d["formula"] for d in stored) == ["Fe2O3", "Li5Fe6O9"]
    assert add_material("Li10Fe12O18")[1] is False  # found under its plain formula


def test_a_stored_structure_reads_back_as_plain_data(mongodb_uri: str) -> None:
    # mongoengine's BaseDict/BaseList, left nested in it, break dataclasses.asdict
    rock_salt = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    stored, created = add_material("NaCl", rock_salt.as_dict())
    [listed], _ = page_materials({}, limit=10, offset=0)
    again, known = add_material("NaCl", rock_salt.as_dict())
    assert created and not known
    for material in (stored, listed, again):
        assert material.structure is not None and _plain(material.structure)
        assert asdict(material)["structure"] == material.structure
        assert Structure.from_dict(material.structure) == rock_salt


def _plain(data: Any) -> bool:
    """Whether ``data`` holds builtin dicts and lists only, all the way down."""
    if type(data) is dict:
        return all(_plain(v) for v in data.values())
    if type(data) is list:
        return all(_plain(v) for v in data)
    return not isinstance(data, dict | list | tuple)


def test_an_unservable_structure_stored_before_the_check_is_set_aside_on_upgrade(
    mongodb_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    # before check_structure, a NaN could be stored, and it broke every /materials listing
    from db.connection import SCHEMA_COLLECTION, SCHEMA_ID, connect, database

    add_material("Cu", _copper())
    add_material("NaCl")
    broken = _copper() | {"lattice": {"a": float("nan")}}
    collection = MaterialDocument._get_collection()
    collection.update_one({"formula": "NaCl"}, {"$set": {"structure": broken}})
    database()[SCHEMA_COLLECTION].update_one({"_id": SCHEMA_ID}, {"$set": {"version": 6}})
    connect(mongodb_uri)  # a new process upgrades
    collection = MaterialDocument._get_collection()
    listed = {m.formula: m.structure for m in page_materials({}, limit=10, offset=0)[0]}
    assert listed["NaCl"] is None
    assert Structure.from_dict(listed["Cu"]) == Structure.from_dict(_copper())
    aside = collection.find_one({"formula": "NaCl"})["unservable_structure"]
    assert aside["reason"] == "structure.lattice.a: nan is not a finite number"
    assert json.loads(aside["json"])["sites"] == broken["sites"]
    assert [r.getMessage() for r in caplog.records if r.name == "db.materials"] == [
        "material NaCl: its stored structure cannot be served "
        "(structure.lattice.a: nan is not a finite number); it is kept in "
        "unservable_structure and the material has no structure"
    ]
    caplog.clear()
    set_aside_unservable_structures()  # again: nothing is left to move
    assert (
        collection.find_one({"formula": "NaCl"})["unservable_structure"]["reason"]
        == aside["reason"]
    )
    assert not caplog.records
    assert collection.find_one({"formula": "Cu"}).get("unservable_structure") is None


def _copper() -> dict[str, Any]:
    return Structure(Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]]).as_dict()


def test_a_structure_with_a_dollar_key_is_set_aside_as_text(mongodb_uri: str) -> None:
    # written back as a field name, the key would make the upgrade's own update fail
    add_material("NaCl")
    collection = MaterialDocument._get_collection()
    stored = {"lattice": {"$a": 5.64}, "sites": []}
    try:
        collection.update_one({"formula": "NaCl"}, {"$set": {"structure": stored}})
    except Exception as refused:  # a server that never stored one has nothing to set aside
        pytest.skip(f"this server refuses a $ key: {refused}")
    set_aside_unservable_structures()
    aside = collection.find_one({"formula": "NaCl"})["unservable_structure"]
    assert json.loads(aside["json"]) == stored
    assert (
        aside["reason"]
        == "structure.lattice: key '$a' cannot be stored (it starts with $ or holds NUL)"
    )
    assert page_materials({}, limit=10, offset=0)[0][0].structure is None


def _stored_as_before_hydrates(mongodb_uri: str) -> None:
    """Mark the database as stored before step 8 and connect again, as a new process."""
    from db.connection import SCHEMA_COLLECTION, SCHEMA_ID, connect, database

    database()[SCHEMA_COLLECTION].update_one({"_id": SCHEMA_ID}, {"$set": {"version": 7}})
    connect(mongodb_uri)


def test_a_hydrate_keyed_as_pymatgen_misread_it_is_keyed_as_written_on_upgrade(
    mongodb_uri: str,
) -> None:
    old, _ = add_material("CuSO4.5H2O")  # as stored before: Cu S O4.5 H2 O
    assert old.formula == "Cu2H4S2O11"
    _stored_as_before_hydrates(mongodb_uri)
    (material,), total = page_materials({}, limit=10, offset=0)
    assert total == 1
    assert (material.id, material.formula, material.formula_descriptive) == (
        old.id,
        "CuH10SO9",
        "CuH10SO9",
    )
    assert material.elements == ("Cu", "H", "O", "S")
    assert add_material(read_formula("CuSO4.5H2O")) == (material, False)  # no second one


def test_a_hydrate_stored_twice_is_merged_into_the_one_read_as_written_on_upgrade(
    mongodb_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    from bson import ObjectId

    from db.documents import CandidateDocument

    caplog.set_level("INFO", logger="db.materials")
    misread, _ = add_material("CuSO4.5H2O")
    meant, _ = add_material(read_formula("CuSO4.5H2O"))
    CandidateDocument._get_collection().insert_one(
        {"campaign": ObjectId(), "index": 0, "parameters": {}, "material": ObjectId(misread.id)}
    )
    add_material("NaCl")
    _stored_as_before_hydrates(mongodb_uri)
    candidate = CandidateDocument._get_collection()  # the new connection's
    assert [m.formula for m in page_materials({}, limit=10, offset=0)[0]] == [
        "CuH10SO9",
        "NaCl",
    ]
    assert page_materials({}, limit=10, offset=0)[0][0].id == meant.id
    assert candidate.find_one({})["material"] == ObjectId(meant.id)
    assert [r.getMessage() for r in caplog.records if r.name == "db.materials"] == [
        "material Cu2H4S2O11 (written 'CuSO4.5H2O') is CuH10SO9, already stored: merged into it"
    ]
    caplog.clear()
    reread_written_formulas()  # again: nothing is left to change
    assert not caplog.records
    assert MaterialDocument.objects.count() == 2


def test_a_material_today_s_reader_refuses_or_with_a_structure_is_left_with_a_warning(
    mongodb_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    collection = MaterialDocument._get_collection()
    add_material("YBa2Cu3O7")
    collection.update_one({}, {"$set": {"formula_descriptive": "YBCO"}})  # refused today
    add_material("CuSO4.5H2O")
    collection.update_one({"formula": "Cu2H4S2O11"}, {"$set": {"structure": _copper()}})
    before = sorted(collection.find({}), key=lambda row: row["formula"])
    _stored_as_before_hydrates(mongodb_uri)
    collection = MaterialDocument._get_collection()
    assert sorted(collection.find({}), key=lambda row: row["formula"]) == before
    warned = [r.getMessage() for r in caplog.records if r.name == "db.materials"]
    assert warned == [
        "material Ba2YCu3O7: formula: 'YBCO' is the abbreviation of YBa2Cu3O7-δ, in which δ "
        "is not fixed; write the formula with its amounts; left as stored",
        "material Cu2H4S2O11: written 'CuSO4.5H2O', which reads as CuH10SO9 today, but its "
        "structure is Cu2H4S2O11's; left as stored",
    ]
