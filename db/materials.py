"""Materials repository: canonical records keyed by reduced formula, queried by filter.

Formulas from outside are read as their writers meant them before they reach here
(:func:`literature.formulas.read_formula`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from mongoengine import NotUniqueError, ValidationError
from pymongo.errors import DuplicateKeyError

from db.documents import MaterialDocument
from db.query import DEFAULT_ORDERS, SortKey
from discovery.domain import Material

logger = logging.getLogger(__name__)


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
        structure=plain_data(document.structure) if document.structure else None,
        id=str(document.id),
        created_at=document.created_at,
    )


def plain_data(value: Any) -> Any:
    """A deep copy of stored data with plain dicts and lists only.

    mongoengine hands a ``DictField`` back as its ``BaseDict``/``BaseList`` all the way
    down; those cannot be rebuilt by :func:`dataclasses.asdict` (their constructors want
    the owning document), so every reader of a material gets plain data instead.

    Args:
        value: A stored value: a mapping, a list, or a scalar.
    """
    if isinstance(value, Mapping):
        return {str(key): plain_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(item) for item in value]
    return value


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
        ValueError: naming the field when the formula or structure is invalid, or the
            structure does not match the formula; nothing is stored then.
    """
    if structure is not None:
        check_structure(structure)
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


#: BSON's integers are 64-bit: a larger one cannot be stored.
_INT64 = range(-(2**63), 2**63)

#: Nesting deeper than any pymatgen structure (sites, species, properties) goes.
MAX_STRUCTURE_DEPTH = 32


def check_structure(structure: Mapping[str, Any]) -> None:
    """Refuse a structure the database could not store, or store but not give back.

    A pymatgen structure is checked as one (composition included) by
    :meth:`db.documents.MaterialDocument.clean`; this checks what it ignores, the data
    itself, so that a stored structure never breaks a later answer: a NaN read back is
    not JSON, a key starting with ``$`` or holding a NUL is not BSON.

    Args:
        structure: pymatgen ``Structure.as_dict()``, as sent.

    Raises:
        ValueError: ``structure...: ...``, naming where it is at fault.
    """
    if not structure:  # stored, it would read back as no structure at all
        raise ValueError("structure: empty; leave it out (null) when it is not known")
    fault = _unstorable(structure, "structure", 0)
    if fault is not None:
        raise ValueError(fault)


def _unstorable(value: Any, where: str, depth: int) -> str | None:
    """Why ``value`` (at ``where``) cannot be stored and read back as JSON, or None."""
    if depth > MAX_STRUCTURE_DEPTH:
        return f"{where}: nested deeper than {MAX_STRUCTURE_DEPTH} levels"
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, int):  # bool too
        return None if value in _INT64 else f"{where}: {value} does not fit 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where}: {value} is not a finite number"
    if isinstance(value, list | tuple):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    elif isinstance(value, Mapping):
        if bad := [k for k in value if not _storable_key(k)]:
            return f"{where}: key {bad[0]!r} cannot be stored (it starts with $ or holds NUL)"
        items = ((f"{where}.{k}", v) for k, v in value.items())
    else:
        return f"{where}: {type(value).__name__} is not JSON data"
    return next((f for w, v in items if (f := _unstorable(v, w, depth + 1))), None)


def _storable_key(key: Any) -> bool:
    """Whether BSON stores ``key`` as a field name (MongoDB reserves ``$`` for operators)."""
    return isinstance(key, str) and not key.startswith("$") and "\x00" not in key


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


def set_aside_unservable_structures() -> None:
    """Move structures that cannot be served out of the way (idempotent).

    Before :func:`check_structure` guarded writes, a structure holding NaN, infinity or a
    ``$`` key could be stored, and one such material broke every ``/materials`` listing.
    Each is moved to ``unservable_structure`` as JSON text (a ``$`` key written back as a
    field name would be refused by the update itself), beside the reason, and the
    material reads back with no structure; a warning names it. The update is filtered on
    the structure still being there, so a concurrent run moves it once.
    """
    collection = MaterialDocument._get_collection()
    for row in collection.find({"structure": {"$type": "object"}}, {"formula": 1, "structure": 1}):
        if not row["structure"]:
            continue  # an empty one already reads back as no structure
        try:
            check_structure(row["structure"])
            continue
        except ValueError as fault:
            reason = str(fault)
        moved = collection.update_one(
            {"_id": row["_id"], "structure": {"$type": "object"}},
            {
                "$set": {
                    "structure": None,
                    "unservable_structure": {
                        "json": json.dumps(row["structure"], default=str),
                        "reason": reason,
                    },
                }
            },
        )
        if moved.modified_count:
            logger.warning(
                "material %s: its stored structure cannot be served (%s); it is kept in "
                "unservable_structure and the material has no structure",
                row["formula"],
                reason,
            )


def reread_written_formulas() -> None:
    """Key each material by its written formula read as it is read today (idempotent).

    Before hydrates were written out, ``CuSO4.5H2O`` was keyed as pymatgen reads it (Cu S
    O4.5 H2 O: ``Cu2H4S2O11``), so the same formula registered today (``CuH10SO9``) became a
    second material. Each material's written formula is read again
    (:func:`literature.formulas.read_formula`) and the material stored as it would be
    today: its key, elements and descriptive formula change, or, when a material already
    has the new key, it is merged into that one (pool candidates naming it follow) and
    removed, with a log line. A written formula today's reader refuses (``YBCO``), or a
    material whose structure matches its old key, is left as stored, with a warning. Each
    write is filtered on the key read, so a concurrent run changes nothing twice.
    """
    from db.documents import CandidateDocument
    from literature.formulas import read_formula

    collection = MaterialDocument._get_collection()
    rows = collection.find({}, {"formula": 1, "formula_descriptive": 1, "structure": 1})
    for row in rows:
        written = row.get("formula_descriptive") or row["formula"]
        try:
            today = MaterialDocument(formula=read_formula(written))
            today.clean()
        except (ValueError, ValidationError) as refused:
            if str(refused).startswith("formula: "):  # a formula's, not a pymatgen crash
                logger.warning("material %s: %s; left as stored", row["formula"], refused)
            continue
        if today.formula == row["formula"]:
            continue
        if row.get("structure"):
            logger.warning(
                "material %s: written %r, which reads as %s today, but its structure is %s's;"
                " left as stored",
                row["formula"],
                written,
                today.formula,
                row["formula"],
            )
            continue
        fields = ("formula", "formula_alphabetical", "formula_descriptive", "elements")
        update = {name: today[name] for name in (*fields, "nelements", "chemsys", "fractions")}
        old = {"_id": row["_id"], "formula": row["formula"]}
        known = collection.find_one({"formula": today.formula}, {"_id": 1})
        if known is None:
            try:
                collection.update_one(old, {"$set": update})
                continue
            except DuplicateKeyError:  # registered meanwhile
                known = collection.find_one({"formula": today.formula}, {"_id": 1})
        CandidateDocument._get_collection().update_many(
            {"material": row["_id"]}, {"$set": {"material": known["_id"]}}
        )
        if collection.delete_one(old).deleted_count:
            logger.info(
                "material %s (written %r) is %s, already stored: merged into it",
                row["formula"],
                written,
                today.formula,
            )


def fill_material_fractions() -> None:
    """Give each material its elements' molar fractions, as stored today (idempotent).

    Materials stored before ``fractions`` existed lack it, and filters' ``fraction.<element>``
    would miss them (:func:`db.documents.molar_fractions` of the canonical formula). Each
    update is filtered on the formula read, so a concurrent run or a rekeying writes
    nothing stale; a material whose fractions are already right is not written.
    """
    from pymatgen.core import Composition

    from db.documents import molar_fractions

    collection = MaterialDocument._get_collection()
    for row in collection.find({}, {"formula": 1, "fractions": 1}):
        try:
            wanted = molar_fractions(Composition(row["formula"]))
        except Exception as refused:  # pymatgen raises many kinds: not a formula stored today
            logger.warning("material %s: no fractions (%s)", row["formula"], refused)
            continue
        if row.get("fractions") != wanted:
            collection.update_one(
                {"_id": row["_id"], "formula": row["formula"]}, {"$set": {"fractions": wanted}}
            )


def page_materials(
    query: dict[str, Any],
    limit: int,
    offset: int,
    order: Sequence[SortKey] = DEFAULT_ORDERS["materials"],
) -> tuple[list[Material], int]:
    """A page of the materials matching a query, and how many match.

    Args:
        query: A MongoDB query (from :func:`db.query.optimade_to_mongo`).
        limit: Most materials returned.
        offset: Materials skipped first.
        order: Stored fields and directions (:func:`db.query.mongo_sort`), ending in a
            unique one; by default by formula.
    """
    found = MaterialDocument.objects(__raw__=query)
    keys = [f"-{key}" if way < 0 else str(key) for key, way in order]
    page = found.order_by(*keys).skip(offset).limit(limit)
    return [material_from_document(d) for d in page], found.count()


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
            names = element_fractions(SearchSpace.from_dict(campaign["space"], check_room=False))
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
