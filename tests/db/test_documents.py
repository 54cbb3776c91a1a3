from __future__ import annotations

import re
from pathlib import Path

import pytest
from mongoengine import Document, NotUniqueError, ValidationError

import db.documents
import db.literature
import db.tokens
from db.connection import SCHEMA_COLLECTION
from db.documents import MaterialDocument


def test_material_formula_is_canonicalised_by_pymatgen(mongodb_uri: str) -> None:
    material = MaterialDocument(formula="Fe4O6").save()
    assert material.formula == "Fe2O3"
    assert material.elements == ["Fe", "O"]
    assert material.nelements == 2
    assert material.chemsys == "Fe-O"
    stored = MaterialDocument.objects.get(formula="Fe2O3")
    assert stored.id == material.id


def test_same_material_in_another_notation_is_rejected_as_duplicate(mongodb_uri: str) -> None:
    MaterialDocument(formula="LiFePO4").save()
    with pytest.raises(NotUniqueError):
        MaterialDocument(formula="Li2Fe2P2O8").save()


def test_material_with_unparseable_formula_names_the_field(mongodb_uri: str) -> None:
    with pytest.raises(ValidationError, match="formula"):
        MaterialDocument(formula="Xx9Qq").save()
    assert MaterialDocument.objects.count() == 0


def test_material_queries_by_element_and_count(mongodb_uri: str) -> None:
    for formula in ("Fe2O3", "CuO", "YBa2Cu3O7", "NaCl"):
        MaterialDocument(formula=formula).save()
    with_cu_o = MaterialDocument.objects(elements__all=["Cu", "O"], nelements__lte=3)
    assert sorted(m.formula for m in with_cu_o) == ["CuO"]
    assert MaterialDocument.objects(elements="Cu").count() == 2


def test_material_keeps_a_structure_that_matches_its_formula(mongodb_uri: str) -> None:
    from pymatgen.core import Lattice, Structure

    rock_salt = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    stored = MaterialDocument(formula="NaCl", structure=rock_salt.as_dict()).save()
    loaded = Structure.from_dict(MaterialDocument.objects.get(id=stored.id).structure)
    assert loaded.composition.reduced_formula == "NaCl"
    assert len(loaded) == 8
    with pytest.raises(ValidationError, match="does not match"):
        MaterialDocument(formula="KCl", structure=rock_salt.as_dict()).save()


def test_the_readme_describes_every_collection_matloop_writes() -> None:
    """Researchers join collections by the README's table: a new one must be described."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### The database, for queries of your own")[1].split("\n### ")[0]
    described = set(re.findall(r"^\| `(\w+)`(?:, `(\w+)`)?", section, re.MULTILINE))
    named = {name for pair in described for name in pair if name}
    modules = (db.documents, db.literature, db.tokens)
    written = {
        cls._meta["collection"]
        for module in modules
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, Document) and "collection" in cls._meta
    }
    assert "measurements" in written and "property_records" in written  # the scan finds them
    assert named == written | {SCHEMA_COLLECTION}
