"""OPTIMADE filters to MongoDB queries, over a whitelist of fields per resource.

The filter is parsed by the ``optimade`` package's grammar and turned into a query by
its MongoDB transformer, so user text never becomes a raw MongoDB operator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from bson import ObjectId
from pymatgen.core.periodic_table import Element

from discovery.domain import TrialStatus

#: The trial statuses a filter may name.
STATUSES = frozenset(status.value for status in TrialStatus)

# OPTIMADE name -> stored field, per resource.
FIELDS: dict[str, dict[str, str]] = {
    "materials": {
        "elements": "elements",
        "nelements": "nelements",
        "chemical_formula_reduced": "formula_alphabetical",
        "chemical_formula_descriptive": "formula",
        "chemsys": "chemsys",
    },
    "trials": {
        "id": "_id",
        "status": "status",
        "batch": "batch",
        "strategy": "strategy",
        "model_version": "model_version",
        "candidate": "candidate",
        "acquisition_value": "acquisition_value",
        "claimed_by": "claimed_by",
    },
    "measurements": {
        "trial_id": "trial",
        "source": "source",
        "idempotency_key": "idempotency_key",
    },
    "records": {
        "elements": "elements",
        "nelements": "nelements",
        "chemical_formula_reduced": "formula_reduced",
        "chemical_formula_descriptive": "formula",
        "material": "material",
        "property": "property",
        "value": "value",
        "low": "low",
        "high": "high",
        "qualifier": "qualifier",
        "unit": "unit",
        "confidence": "confidence",
        "n_papers": "n_papers",
        "paper": "papers",  # the key of a paper it was read in (records list them all)
    },
    "papers": {
        "key": "key",
        "doi": "doi",
        "title": "title",
        "year": "year",
        "journal": "journal",
    },
}

#: What each filterable name holds, where it is not text: a filter that compares it with
#: anything else is refused instead of silently matching nothing.
KINDS: dict[str, str] = {
    **dict.fromkeys(
        (
            "nelements",
            "candidate",
            "acquisition_value",
            "value",
            "low",
            "high",
            "confidence",
            "n_papers",
            "year",
        ),
        "number",
    ),
    "elements": "element",
    "status": "status",
    "id": "id",
    "trial_id": "id",
}

#: Text fields stored in lower case whose values are case-insensitive (DOIs, and paper
#: keys: ``doi:`` + the DOI, or ``sha256:`` + hex): a filter's operands, patterns
#: included, are lower-cased to match.
CASELESS = frozenset({"doi", "key", "paper"})

#: List fields whose length a collection also stores, always in step: ``LENGTH`` filters
#: compare the count (indexed). Records are not here: theirs is null when a record has no
#: elements, and records stored before it existed lack it.
COUNTS: dict[str, dict[str, str]] = {"materials": {"elements": "nelements"}}

#: Operators whose operand is not a value of the field (presence, array size, a pattern).
_NOT_VALUES = frozenset({"$exists", "$size", "$regex", "$options"})


class FilterError(ValueError):
    """An OPTIMADE filter that does not parse or names a field that cannot be filtered."""


@lru_cache(maxsize=1)
def _parser_and_transformer() -> tuple[Any, Any]:
    from optimade.filterparser import LarkParser
    from optimade.filtertransformers.mongo import MongoTransformer

    class Transformer(MongoTransformer):
        """The optimade transformer, leaving ``LENGTH`` comparisons to :func:`_length`."""

        def length_op_rhs(self, arg: list[Any]) -> dict[str, Any]:
            if len(arg) == 3 and arg[1] == "!=":  # not implemented upstream
                return {"$not": {"$size": arg[-1]}}
            return dict(super().length_op_rhs(arg))

        def _apply_length_operators(self, filter_: dict[str, Any]) -> dict[str, Any]:
            # upstream (optimade 1.5) rewrites "LENGTH >= 4" as "entry 4 exists", one off
            return filter_

    return LarkParser(version=(1, 2, 0)), Transformer()


def optimade_to_mongo(text: str, resource: str) -> dict[str, Any]:
    """Translate an OPTIMADE filter for ``resource`` into a MongoDB query.

    Example:
        >>> optimade_to_mongo('elements HAS ALL "Cu","O" AND nelements<=4', "materials")
        {'$and': [{'elements': {'$all': ['Cu', 'O']}}, {'nelements': {'$lte': 4}}]}

    Raises:
        FilterError: naming the problem (syntax, or a field and the fields allowed).
    """
    if not text.strip():
        return {}
    parser, transformer = _parser_and_transformer()
    try:
        query = transformer.transform(parser.parse(text))
    except Exception as error:
        first = str(error).split("\n", 1)[0]
        raise FilterError(f"filter: cannot parse {text!r}: {first}") from None
    return _rename(query, FIELDS[resource], resource)


def _literal_pattern(pattern: str) -> str:
    anchored_start, anchored_end = pattern.startswith("^"), pattern.endswith("$")
    core = pattern[int(anchored_start) : len(pattern) - int(anchored_end)]
    return ("^" if anchored_start else "") + re.escape(core) + ("$" if anchored_end else "")


def _rename(node: Any, fields: Mapping[str, str], resource: str) -> Any:
    if isinstance(node, bool):
        return node
    if isinstance(node, int) and not -(2**63) <= node < 2**63:
        raise FilterError(f"filter: {node} is outside the 64-bit integer range")
    if isinstance(node, list):
        return [_rename(item, fields, resource) for item in node]
    if not isinstance(node, dict):
        return node
    renamed: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$regex":
            # CONTAINS / STARTS WITH / ENDS WITH: the user's text is literal, never a pattern.
            renamed[key] = _literal_pattern(value)
        elif key.startswith("$"):
            renamed[key] = _rename(value, fields, resource)
        elif key in fields and _is_length(value):
            renamed.update(_length(key, fields[key], value, COUNTS.get(resource, {})))
        elif key in fields:
            value = _lowered(value) if key in CASELESS else value
            renamed[fields[key]] = _typed(key, _rename(value, fields, resource))
        elif (head := key.partition(".")[0]) in fields and key[len(head) + 1 :].isdigit():
            # an array position the grammar writes itself (HAS ONLY: "elements.0" exists)
            renamed[fields[head] + key[len(head) :]] = _rename(value, fields, resource)
        else:
            raise FilterError(
                f"filter: {key!r} cannot be filtered on for {resource}; use one of {sorted(fields)}"
            )
    return renamed


def _lowered(node: Any) -> Any:
    """``node`` with every string in it lower-cased."""
    if isinstance(node, str):
        return node.lower()
    if isinstance(node, dict):
        return {op: _lowered(v) for op, v in node.items()}
    if isinstance(node, list):
        return [_lowered(item) for item in node]
    return node


def _is_length(node: Any) -> bool:
    """Whether a field's test is a ``LENGTH`` comparison, negated or not."""
    while isinstance(node, dict) and set(node) == {"$not"}:
        node = node["$not"]
    return isinstance(node, dict) and set(node) == {"$size"}


_FLIP = {"$eq": "$ne", "$ne": "$eq", "$lt": "$gte", "$gte": "$lt", "$gt": "$lte", "$lte": "$gt"}


def _length(name: str, field: str, node: Any, counts: Mapping[str, str]) -> dict[str, Any]:
    """A ``LENGTH`` test (``{"$size": n}``, ``{"$size": {op: n}}``, maybe under ``$not``).

    Returns:
        A query on the stored count where there is one, else on the list's entries.

    Raises:
        FilterError: for a length that is not a count (negative, or past 64 bits).
    """
    negated = False
    while set(node) == {"$not"}:
        negated, node = not negated, node["$not"]
    size = node["$size"]
    op, n = next(iter(size.items())) if isinstance(size, dict) else ("$eq", size)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < 2**63:
        raise FilterError(f"filter: {name} LENGTH: {n!r} is not a count (0 to 2**63-1)")
    op = _FLIP[op] if negated else op
    if name in counts:
        return {counts[name]: {op: n}}
    return _entries(field, op, n)


def _entries(field: str, op: str, n: int) -> dict[str, Any]:
    """``field``'s length compared with ``n``, as tests of which entries exist."""
    if op == "$eq":
        return {field: {"$size": n}}
    if op == "$ne":
        return {field: {"$not": {"$size": n}}}
    if op in ("$gt", "$gte"):  # at least `least` entries: entry least-1 exists
        least = n + 1 if op == "$gt" else n
        return {f"{field}.{least - 1}": {"$exists": True}} if least else {field: {"$nin": []}}
    most = n - 1 if op == "$lt" else n  # at most `most` entries: entry `most` does not
    return {f"{field}.{most}": {"$exists": False}} if most >= 0 else {field: {"$in": []}}


def _typed(name: str, node: Any) -> Any:
    """``node`` (a field's operators and operands) with each operand checked, ids as ObjectIds.

    Raises:
        FilterError: naming the field and the operand it cannot hold.
    """
    kind = KINDS.get(name, "text")
    if isinstance(node, dict):
        if "$regex" in node and kind not in ("text", "element"):
            raise FilterError(f"filter: {name} is not text: CONTAINS, STARTS and ENDS do not apply")
        return {op: v if op in _NOT_VALUES else _typed(name, v) for op, v in node.items()}
    if isinstance(node, list):
        return [_typed(name, item) for item in node]
    if node is None:  # IS KNOWN / IS UNKNOWN
        return node
    return _operand(name, kind, node)


def _operand(name: str, kind: str, value: Any) -> Any:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "number":
        if not number:
            raise FilterError(f"filter: {name}: {value!r} is not a number")
        return value
    if not isinstance(value, str):
        raise FilterError(f"filter: {name}: {value!r} is not a string")
    if kind == "element" and not Element.is_valid_symbol(value):
        raise FilterError(f"filter: {name}: {value!r} is not an element symbol (case matters)")
    if kind == "status" and value not in STATUSES:
        raise FilterError(f"filter: {name}: {value!r} is not one of {sorted(STATUSES)}")
    if kind == "id":
        if not ObjectId.is_valid(value):
            raise FilterError(f"filter: {name}: {value!r} is not an id")
        return ObjectId(value)
    return value
