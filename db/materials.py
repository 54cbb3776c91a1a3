"""Materials repository: canonical records keyed by reduced formula, queried by filter.

Formulas from outside are read as their writers meant them before they reach here
(:func:`literature.formulas.read_formula`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mongoengine import NotUniqueError, ValidationError

from db.documents import MaterialDocument
from discovery.domain import Material


def material_from_document(document: MaterialDocument) -> Material:
    """Document -> domain material."""
    return Material(
        formula=document.formula,
        elements=tuple(document.elements),
        nelements=document.nelements,
        chemsys=document.chemsys,
        formula_alphabetical=document.formula_alphabetical,
        # stored before formulas were kept as written: the canonical one is what was shown
        formula_descriptive=document.formula_descriptive or document.formula,
        structure=dict(document.structure) if document.structure else None,
        id=str(document.id),
    )


def add_material(formula: str, structure: dict[str, Any] | None = None) -> tuple[Material, bool]:
    """Store a material (idempotent by reduced formula); returns it and whether it is new.

    The formula is kept as written (whitespace collapsed) as the descriptive formula. A
    material already known under another spelling of its composition (``Fe4O6`` for
    ``Fe2O3``) is returned as first stored.

    Args:
        formula: The formula as the user meant it (``"La1.85Sr0.15CuO4"``; see
            :func:`literature.formulas.read_formula` for text from outside).
        structure: pymatgen ``Structure.as_dict()`` of the material, if known.

    Raises:
        ValueError: naming the field when the formula or structure is invalid.
    """
    document = MaterialDocument(formula=formula, structure=structure)
    try:
        document.clean()  # the caller's fields only: formula and structure
        document.validate()
    except ValidationError as error:
        raise ValueError(str(error.message)) from None
    existing = MaterialDocument.objects(formula=document.formula).first()
    if existing is not None:
        return material_from_document(existing), False
    try:
        document.save(validate=False)
    except NotUniqueError:  # stored meanwhile by a concurrent writer
        return material_from_document(MaterialDocument.objects.get(formula=document.formula)), False
    return material_from_document(document), True


def upgrade_materials() -> None:
    """Give materials stored before it existed their descriptive formula (idempotent).

    They showed their canonical formula as the descriptive one, so filters on
    ``chemical_formula_descriptive`` find them by it.
    """
    collection = MaterialDocument._get_collection()
    for row in collection.find({"formula_descriptive": {"$exists": False}}, {"formula": 1}):
        collection.update_one(
            {"_id": row["_id"], "formula_descriptive": {"$exists": False}},
            {"$set": {"formula_descriptive": row["formula"]}},
        )


def plain_material_formulas() -> None:
    """Rewrite stored canonical formulas in the plain form (idempotent).

    Materials stored before were keyed by pymatgen's reduced formula, which invents
    polyanion brackets (``Li5(Fe2O3)3``); they now read ``Li5Fe6O9``
    (:func:`discovery.compositions.reduced_formula`), as new ones are stored and as trials
    and pools write them. Each update is filtered on the old value, so a concurrent run
    changes nothing twice. A doped material stored before was already merged into its
    host, whose record it shares: that cannot be undone here.
    """
    from pymatgen.core import Composition

    from discovery.compositions import reduced_formula

    collection = MaterialDocument._get_collection()
    for row in collection.find({}, {"formula": 1}):
        plain = reduced_formula(Composition(row["formula"]).as_dict())
        if plain != row["formula"]:
            collection.update_one(
                {"_id": row["_id"], "formula": row["formula"]}, {"$set": {"formula": plain}}
            )


def page_materials(query: dict[str, Any], limit: int, offset: int) -> tuple[list[Material], int]:
    """Materials matching a MongoDB query (from :func:`db.query.optimade_to_mongo`)."""
    found = MaterialDocument.objects(__raw__=query).order_by("formula")
    return [material_from_document(d) for d in found.skip(offset).limit(limit)], found.count()


def known_formulas(elements: Sequence[str]) -> set[str]:
    """Formulas the database already knows within a chemical system.

    Materials, literature property records and compositions measured in campaigns over
    molar fractions, whose elements all lie in ``elements``; candidate generators leave
    these out.

    Args:
        elements: Element symbols of the chemical system.

    """
    from db.literature import PropertyRecordDocument  # it imports this package

    allowed = list(elements)
    outside = {"elements": {"$not": {"$elemMatch": {"$nin": allowed}}}}
    formulas = {
        d["formula"] for d in MaterialDocument.objects(__raw__=outside).only("formula").as_pymongo()
    }
    records = PropertyRecordDocument.objects(__raw__=outside | {"formula": {"$ne": None}})
    formulas |= {d["formula"] for d in records.only("formula").as_pymongo() if d.get("formula")}
    return formulas | measured_formulas(allowed)


def measured_formulas(elements: Sequence[str]) -> set[str]:
    """Reduced formulas of compositions within ``elements`` that a campaign has measured.

    The compositions are the molar fractions of a campaign's simplex over element symbols
    (generated pools, ``--composition`` tables), read from its completed trials; its
    other parameters (a temperature, a solvent) are not chemistry.
    """
    from db.documents import CampaignDocument, TrialDocument
    from discovery.compositions import element_fractions, reduced_formula
    from discovery.domain import TrialStatus
    from discovery.spaces import SearchSpace

    fractions: dict[Any, list[str]] = {}
    for campaign in CampaignDocument.objects.only("space").as_pymongo():
        try:
            names = element_fractions(SearchSpace.from_dict(campaign["space"]))
        except ValueError:  # a space stored under older rules: not one this reads
            continue
        if names is not None:
            fractions[campaign["_id"]] = names
    trials = TrialDocument.objects(
        campaign__in=list(fractions), status=TrialStatus.COMPLETED.value
    ).only("campaign", "parameters")
    allowed, found = set(elements), set()
    for trial in trials.as_pymongo():
        parameters = trial["parameters"]
        present = {
            el: float(parameters[el])
            for el in fractions[trial["campaign"]]
            if isinstance(parameters.get(el), int | float) and parameters[el] > 0
        }
        if present and present.keys() <= allowed:
            found.add(reduced_formula(present))
    return found
