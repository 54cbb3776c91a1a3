"""OPTIMADE filters to MongoDB queries, over a whitelist of fields per resource.

The filter is parsed by the ``optimade`` package's grammar and turned into a query by
its MongoDB transformer, so user text never becomes a raw MongoDB operator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from bson import ObjectId
from pymatgen.core import Composition
from pymatgen.core.periodic_table import Element

from db.documents import alphabetical_formula
from discovery.compositions import canonical_composition
from discovery.domain import TrialStatus

#: The trial statuses a filter may name.
STATUSES = frozenset(status.value for status in TrialStatus)

# OPTIMADE name -> stored field, per resource.
FIELDS: dict[str, dict[str, str]] = {
    "materials": {
        "id": "_id",
        "elements": "elements",
        "nelements": "nelements",
        "chemical_formula_reduced": "formula_alphabetical",
        "chemical_formula_descriptive": "formula_descriptive",  # as registered
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
        "id": "_id",  # what a model's record_ids name
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
        "id": "_id",
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
    "chemical_formula_reduced": "formula",
    "chemsys": "chemsys",
}

#: Resources whose reduced formulas have whole-number amounts: a material Fe0.5O0.75 is
#: stored as Fe2O3. Records keep the proportions a paper wrote (CuLa1.85O4Sr0.15).
WHOLE_FORMULAS = frozenset({"materials"})

#: Kinds with no order: ``<``, ``<=``, ``>``, ``>=`` on them are refused, not compared as text.
UNORDERED = frozenset({"formula", "chemsys"})

#: Text fields stored in lower case whose values are case-insensitive (DOIs, and paper
#: keys: ``doi:`` + the DOI, or ``sha256:`` + hex; property names, ``tc``): a filter's
#: operands, patterns included, are lower-cased to match.
CASELESS = frozenset({"doi", "key", "paper", "property"})

#: List fields whose length a collection also stores, always in step: ``LENGTH`` filters
#: compare the count (indexed). Records are not here: theirs is null when a record has no
#: elements, and records stored before it existed lack it.
COUNTS: dict[str, dict[str, str]] = {"materials": {"elements": "nelements"}}

#: Resources whose documents hold measured values by outcome name, in this dict field: a
#: filter or sort names outcome ``x`` as ``values.<x as an identifier>`` (:func:`identifier`).
OUTCOME_FIELDS: dict[str, str] = {"measurements": "values"}

#: What a listing may be sorted by, per resource: sort name -> stored field. Trials'
#: ``created_at`` is their proposal order (``sequence``: unique, where times may tie).
ORDERS: dict[str, dict[str, str]] = {
    "trials": {
        "created_at": "sequence",
        "updated_at": "updated_at",
        "batch": "batch",
        "status": "status",
        "strategy": "strategy",
        "candidate": "candidate",
        "acquisition_value": "acquisition_value",
        "claimed_by": "claimed_by",
    },
    "measurements": {"received_at": "received_at", "source": "source", "trial_id": "trial"},
}

#: Each resource's listing order, which also breaks every sort's ties: unique at the end,
#: so pages neither repeat nor skip rows.
DEFAULT_ORDERS: dict[str, tuple[tuple[str, int], ...]] = {
    "trials": (("sequence", 1),),
    "measurements": (("received_at", 1), ("_id", 1)),
}

#: One sort key: a stored field's path, or an expression (an outcome whose name holds a
#: dot, which no path can reach), and 1 (ascending) or -1 (descending).
SortKey = tuple[str | dict[str, Any], int]

#: The only tests a measured value takes: comparisons with a number, IS KNOWN / UNKNOWN.
_VALUE_TESTS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$exists", "$not"})

#: Operators whose operand is not a value of the field (presence, array size, a pattern).
_NOT_VALUES = frozenset({"$exists", "$size", "$regex", "$options"})


class FilterError(ValueError):
    """An OPTIMADE filter that does not parse or names a field that cannot be filtered.

    Also a ``sort`` that names no field a listing can be sorted by.
    """


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


def optimade_to_mongo(text: str, resource: str, outcomes: Sequence[str] = ()) -> dict[str, Any]:
    """Translate an OPTIMADE filter for ``resource`` into a MongoDB query.

    Example:
        >>> optimade_to_mongo('elements HAS ALL "Cu","O" AND nelements<=4', "materials")
        {'$and': [{'elements': {'$all': ['Cu', 'O']}}, {'nelements': {'$lte': 4}}]}
        >>> optimade_to_mongo("values.pce > 9", "measurements", ["PCE"])
        {'values.PCE': {'$gt': 9}}

    Args:
        text: The filter.
        resource: A key of :data:`FIELDS`.
        outcomes: The campaign's outcome names, which a measurements filter compares as
            ``values.<name>`` (see :func:`identifier`).

    Raises:
        FilterError: naming the problem (syntax, or a field and the fields allowed).
    """
    if not text.strip():
        return {}
    parser, transformer = _parser_and_transformer()
    try:
        query = transformer.transform(parser.parse(text))
    except Exception as error:
        raise _syntax_error(text, error.__cause__ or error) from None
    return _rename(query, FIELDS[resource], resource, outcomes)


def compared_texts(query: Any, field: str) -> set[str]:
    """The texts a MongoDB query compares ``field`` with (``=``, ``!=``, ``IN``), at any depth.

    Example:
        >>> sorted(compared_texts({"$or": [{"p": {"$eq": "tc"}}, {"p": "a"}]}, "p"))
        ['a', 'tc']
    """
    found: set[str] = set()
    if isinstance(query, list):
        for part in query:
            found |= compared_texts(part, field)
    elif isinstance(query, dict):
        for key, value in query.items():
            if key != field:
                found |= compared_texts(value, field)
            elif isinstance(value, str):
                found.add(value)
            elif isinstance(value, dict):
                for op in ("$eq", "$ne", "$in", "$nin"):
                    operand = value.get(op)
                    found |= {operand} if isinstance(operand, str) else set()
                    if isinstance(operand, list):
                        found |= {o for o in operand if isinstance(o, str)}
    return found


def identifier(outcome: str) -> str | None:
    """How a filter or sort writes an outcome's name: an OPTIMADE identifier.

    The name in lower case, each run of characters other than ``a-z`` and ``0-9`` one
    ``_``, none at either end: ``Tc`` -> ``tc``, ``band gap`` -> ``band_gap``,
    ``PCE (AM1.5)`` -> ``pce_am1_5``.

    Returns:
        The identifier, or None where the name has none (no letter or digit, a digit
        first): such an outcome cannot be filtered or sorted on.
    """
    spelled = re.sub(r"[^a-z0-9]+", "_", outcome.lower()).strip("_")
    return spelled if re.fullmatch(r"[a-z][a-z0-9_]*", spelled) else None


def _outcome(name: str, outcomes: Sequence[str], parameter: str) -> str:
    """The outcome that ``values.<name>`` names.

    Args:
        name: The identifier after ``values.``.
        outcomes: The campaign's outcome names.
        parameter: ``filter`` or ``sort``, for messages.

    Raises:
        FilterError: for a name that is no outcome's, or several outcomes'.
    """
    found = [outcome for outcome in outcomes if identifier(outcome) == name]
    if len(found) == 1:
        return found[0]
    if found:
        raise FilterError(
            f"{parameter}: values.{name} names several outcomes ({', '.join(map(repr, found))}): "
            f"their names differ only in case or punctuation, which a {parameter} cannot tell apart"
        )
    spelled = [f"values.{identifier(o)} ({o!r})" for o in outcomes if identifier(o)]
    unwritable = [repr(o) for o in outcomes if not identifier(o)]
    raise FilterError(
        f"{parameter}: values.{name} is not an outcome of this campaign; its outcomes are "
        + (", ".join(spelled) or "none a filter can name")
        + (
            f"; {', '.join(unwritable)} cannot be named (no identifier spells it: "
            "a letter first, then letters, digits or _)"
            if unwritable
            else ""
        )
    )


def mongo_sort(text: str, resource: str, outcomes: Sequence[str] = ()) -> list[SortKey]:
    """The MongoDB sort for a listing's ``sort``, ties broken by the listing's own order.

    Example:
        >>> mongo_sort("-values.pce", "measurements", ["PCE"])
        [('values.PCE', -1), ('received_at', 1), ('_id', 1)]

    Args:
        text: Comma-separated keys, each a name of :data:`ORDERS` or (measurements)
            ``values.<outcome>``, ``-`` first for descending; empty: the listing's order.
        resource: ``trials`` or ``measurements``.
        outcomes: The campaign's outcome names.

    Raises:
        FilterError: naming ``sort`` and the keys allowed, for a key that is none of them.
    """
    keys: list[SortKey] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name = part.removeprefix("-")
        keys.append((_sort_field(name, resource, outcomes), -1 if part.startswith("-") else 1))
    default = DEFAULT_ORDERS[resource]
    # the listing's own order reversed ("-received_at") is reversed down to the last tie
    flip = -1 if keys and keys[0] == (default[0][0], -1) else 1
    taken = [key for key, _ in keys]
    return keys + [(key, way * flip) for key, way in default if key not in taken]


def _sort_field(name: str, resource: str, outcomes: Sequence[str]) -> str | dict[str, Any]:
    """The stored field (or expression) that sort key ``name`` names."""
    orders, values = ORDERS[resource], OUTCOME_FIELDS.get(resource)
    if name in orders:
        return orders[name]
    head, _, rest = name.partition(".")
    if values is not None and head == values and rest:
        return _outcome_path(values, _outcome(rest, outcomes, "sort"))
    allowed = [*orders, *([f"{values}.<outcome>"] if values else [])]
    raise FilterError(
        f"sort: {name!r} is not a field to sort {resource} by; use one of {', '.join(allowed)}"
        ", with - first for descending (several: comma-separated)"
    )


def _outcome_path(field: str, outcome: str) -> str | dict[str, Any]:
    """Where an outcome's value is: a path, or (a name with a dot) an expression."""
    if "." not in outcome:
        return f"{field}.{outcome}"
    return {"$getField": {"field": {"$literal": outcome}, "input": f"${field}"}}


def _outcome_query(field: str, outcome: str, test: dict[str, Any]) -> dict[str, Any]:
    """A query applying ``test`` (a field's operators) to an outcome's value."""
    path = _outcome_path(field, outcome)
    if isinstance(path, str):
        return {path: test}
    return {"$expr": _value_expression(path, test)}


def _value_expression(value: dict[str, Any], test: dict[str, Any]) -> dict[str, Any]:
    """``test`` as an aggregation expression on ``value``, matching what the query would.

    Stored values are numbers, so "known" is "a number": SecantusDB's ``$getField`` gives
    the whole dict, not "missing", for a key it lacks, so ``$type`` cannot tell.
    """
    number = {"$isNumber": value}
    clauses: list[dict[str, Any]] = []
    for op, operand in test.items():
        if op == "$not":
            clauses.append({"$not": [_value_expression(value, operand)]})
        elif op == "$exists" or operand is None:  # IS KNOWN / IS UNKNOWN
            known = bool(operand) if op == "$exists" else op == "$ne"
            clauses.append(number if known else {"$not": [number]})
        elif op == "$ne":  # as in a query, a value that is not a number differs too
            clauses.append({"$not": [{"$and": [number, {"$eq": [value, operand]}]}]})
        else:  # a query's comparison with a number matches numbers only
            clauses.append({"$and": [number, {op: [value, operand]}]})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _value_tests(name: str, node: Any) -> None:
    """Refuse the tests a number does not take (``HAS``, ``LENGTH``) on outcome ``name``."""
    if isinstance(node, dict):
        if refused := sorted(set(node) - _VALUE_TESTS):
            words = {"$size": "LENGTH does", "$regex": "CONTAINS, STARTS and ENDS do"}
            word = words.get(refused[0], "HAS does")
            raise FilterError(f"filter: {name} is a number: {word} not apply")
        for value in node.values():
            _value_tests(name, value)


#: The grammar's tokens in words, in the order messages list them; None: not worth naming.
_TOKENS: dict[str, str | None] = {
    "IDENTIFIER": "a lower-case name",
    "NESTED_IDENTIFIER": "a lower-case name",
    "ESCAPED_STRING": 'a "double-quoted" string',
    "SIGNED_INT": "a number",
    "SIGNED_FLOAT": "a number",
    "OPERATOR": "a comparison (=, !=, <, <=, >, >=)",
    "HAS": "HAS",
    "CONTAINS": "CONTAINS",
    "STARTS": "STARTS WITH",
    "ENDS": "ENDS WITH",
    "IS": "IS KNOWN/UNKNOWN",
    "LENGTH": "LENGTH",
    "_AND": "AND",
    "_OR": "OR",
    "NOT": "NOT",
    "LPAR": "(",
    "RPAR": ")",
    "COMMA": ",",
    "TRUE": None,
    "FALSE": None,
    "DOT": None,
    "COLON": None,
}

#: The filter language's upper-case words.
_KEYWORDS = frozenset(
    {"AND", "OR", "NOT", "HAS", "ALL", "ANY", "ONLY", "CONTAINS", "STARTS", "ENDS", "WITH"}
    | {"IS", "KNOWN", "UNKNOWN", "LENGTH", "TRUE", "FALSE"}
)


def _syntax_error(text: str, error: BaseException) -> FilterError:
    """A message for a filter the grammar refuses: where, what was expected, and a hint.

    Args:
        text: The filter.
        error: Lark's exception (``UnexpectedInput``, or ``VisitError`` from the transformer).
    """
    from lark.exceptions import UnexpectedInput, VisitError

    if isinstance(error, VisitError):  # it parses, but the translation has no such query
        return FilterError(f"filter: {text!r} is not supported: {error.orig_exc}")
    if not isinstance(error, UnexpectedInput):
        return FilterError(f"filter: cannot parse {text!r}: {str(error).partition(chr(10))[0]}")
    # UnexpectedCharacters names what it allowed; UnexpectedToken and UnexpectedEOF expected
    allowed = getattr(error, "allowed", None) or getattr(error, "expected", None) or ()
    token = getattr(error, "token", None)
    if error.column < 1 or (token is not None and token.type == "$END"):
        return FilterError(
            f"filter: cannot parse {text!r}: it ends where {_expected(allowed)} should follow"
            + _end_hint(text)
        )
    position = error.pos_in_stream if error.pos_in_stream is not None else error.column - 1
    found = re.match(r"\w+|\S", text[position:])
    word = found.group() if found else text[position : position + 1]
    line = f"line {error.line}, " if error.line > 1 else ""
    return FilterError(
        f"filter: cannot parse {text!r} at {line}column {error.column} ({word!r}): "
        f"expected {_expected(allowed)}{_hint(text[:position], word, allowed)}"
    )


def _expected(tokens: Any) -> str:
    """The tokens the grammar expected, in words and in a stable order."""
    words: list[str] = []
    order = list(_TOKENS)
    for token in sorted(tokens or (), key=lambda t: (order.index(t) if t in order else 99, t)):
        word = _TOKENS.get(token, token.strip("_"))
        if word and word not in words:
            words.append(word)
    if len(words) < 3:
        return " or ".join(words) or "something else"
    return ", ".join(words[:-1]) + " or " + words[-1]


def _hint(before: str, word: str, allowed: Any) -> str:
    """Why ``word``, after ``before``, is probably wrong ("" when there is no good guess)."""
    if word in ("'", "`") or word in ("\u2018", "\u2019", "\u201c", "\u201d"):
        return "; text values take plain double quotes (\"tc\", not 'tc')"
    if word in "=<>!" and before.rstrip()[-1:] in ("=", "<", ">", "!"):
        return "; the comparisons are =, !=, <, <=, >, >="
    if word in ("AND", "OR"):
        return f"; {word} goes between two comparisons"
    if word == ")" and before.count("(") <= before.count(")"):
        return "; no ( is open"
    previous = before.split()[-1:]
    if lowered := [w for w in (*previous, word) if w.upper() in _KEYWORDS and not w.isupper()]:
        return f"; the filter's own words are upper case ({lowered[0].upper()}, not {lowered[0]})"
    if not word[:1].isalpha() or word in _KEYWORDS or word.islower():
        return ""
    last = before.rstrip().rsplit(None, 1)[-1] if before.strip() else ""
    value_expected = last[-1:] in ("=", "<", ">", ",") or last in _KEYWORDS - {"AND", "OR", "NOT"}
    if value_expected and "ESCAPED_STRING" in set(allowed or ()):
        return f'; text values take double quotes ("{word}")'
    return f"; names are lower case ({word.lower()!r}, not {word!r})"


def _end_hint(text: str) -> str:
    """Why ``text`` ends too early, where there is a likely reason."""
    words = text.split()
    last = words[-1] if words else ""
    if last in ("AND", "OR", "NOT"):
        return f"; a dangling {last}: a comparison must follow it"
    if text.count("(") > text.count(")"):
        return "; a ( is not closed"
    if last[-1:] in ("=", "<", ">"):
        return "; a value must follow the comparison"
    return ""


def _literal_pattern(pattern: str) -> str:
    anchored_start, anchored_end = pattern.startswith("^"), pattern.endswith("$")
    core = pattern[int(anchored_start) : len(pattern) - int(anchored_end)]
    return ("^" if anchored_start else "") + re.escape(core) + ("$" if anchored_end else "")


def _rename(
    node: Any, fields: Mapping[str, str], resource: str, outcomes: Sequence[str] = ()
) -> Any:
    """``node`` with each filter name its stored field's, and each operand checked.

    Args:
        node: The transformer's query, or a part of it.
        fields: Filter name -> stored field (:data:`FIELDS`).
        resource: The resource, for messages and kinds.
        outcomes: The campaign's outcome names (measurements).
    """
    if isinstance(node, bool):
        return node
    if isinstance(node, int) and not -(2**63) <= node < 2**63:
        raise FilterError(f"filter: {node} is outside the 64-bit integer range")
    if isinstance(node, list):
        return [_rename(item, fields, resource, outcomes) for item in node]
    if not isinstance(node, dict):
        return node
    renamed: dict[str, Any] = {}
    values = OUTCOME_FIELDS.get(resource)
    for key, value in node.items():
        if key == "$regex":
            # CONTAINS / STARTS WITH / ENDS WITH: the user's text is literal, never a pattern.
            renamed[key] = _literal_pattern(value)
        elif key.startswith("$"):
            renamed[key] = _rename(value, fields, resource, outcomes)
        elif values is not None and key.partition(".")[0] == values:
            renamed.update(_outcome_test(key, value, values, fields, resource, outcomes))
        elif key in fields and _is_length(value):
            renamed.update(_length(key, fields[key], value, COUNTS.get(resource, {})))
        elif key in fields:
            value = _lowered(value) if key in CASELESS else value
            renamed[fields[key]] = _typed(key, _rename(value, fields, resource), resource)
        elif (head := key.partition(".")[0]) in fields and key[len(head) + 1 :].isdigit():
            # an array position the grammar writes itself (HAS ONLY: "elements.0" exists)
            renamed[fields[head] + key[len(head) :]] = _rename(value, fields, resource)
        else:
            allowed = [*sorted(fields), *([f"{values}.<outcome>"] if values else [])]
            raise FilterError(
                f"filter: {key!r} cannot be filtered on for {resource}; use one of {allowed}"
            )
    return renamed


def _outcome_test(
    key: str,
    value: Any,
    field: str,
    fields: Mapping[str, str],
    resource: str,
    outcomes: Sequence[str],
) -> dict[str, Any]:
    """The query for a filter's test of ``values.<outcome>`` (``key``): numbers only."""
    name = key.partition(".")[2]
    if not name:  # "values" alone
        raise FilterError(
            f"filter: {field} holds a value per outcome: compare one, {field}.<outcome>"
        )
    outcome = _outcome(name, outcomes, "filter")
    test = _rename(value, fields, resource, outcomes)
    _value_tests(key, test)
    return _outcome_query(field, outcome, _typed(key, test, resource, "number"))


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


_ORDERINGS = {"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}


def _typed(name: str, node: Any, resource: str, kind: str | None = None) -> Any:
    """``node`` (a field's operators and operands) with each operand checked and stored-form.

    Ids become ObjectIds, formulas and chemical systems their canonical spelling.

    Args:
        name: The field, as the filter names it.
        node: Its operators and operands.
        resource: The resource.
        kind: What the field holds; None: as :data:`KINDS` says (text where it is silent).

    Raises:
        FilterError: naming the field and the operand it cannot hold.
    """
    kind = kind or KINDS.get(name, "text")
    if isinstance(node, dict):
        if "$regex" in node and kind in UNORDERED:  # patterns would miss other spellings
            raise FilterError(f"filter: {name}: CONTAINS, STARTS and ENDS do not apply; use =")
        if "$regex" in node and kind not in ("text", "element"):
            raise FilterError(f"filter: {name} is not text: CONTAINS, STARTS and ENDS do not apply")
        if kind in UNORDERED and (ordering := next((op for op in node if op in _ORDERINGS), "")):
            raise FilterError(
                f"filter: {name} has no order: {_ORDERINGS[ordering]} does not apply; use = or !="
            )
        return {
            op: v if op in _NOT_VALUES else _typed(name, v, resource, kind)
            for op, v in node.items()
        }
    if isinstance(node, list):
        return [_typed(name, item, resource, kind) for item in node]
    if node is None:  # IS KNOWN / IS UNKNOWN
        return node
    if kind == "formula":
        return _formula(name, node, resource in WHOLE_FORMULAS)
    return _operand(name, kind, node)


def _formula(name: str, value: Any, whole: bool) -> str:
    """A formula as OPTIMADE's ``chemical_formula_reduced`` spells it, as it is stored.

    Any spelling of the composition is read as the canonical one (``MgB2``, ``Fe4O6`` ->
    ``B2Mg``, ``Fe2O3``) rather than refused: it names one composition whatever its order
    or multiple, so a researcher gets that composition's rows instead of a lesson in
    OPTIMADE's alphabetical order, and ``!=`` excludes exactly what ``=`` selects.

    Args:
        name: The field, for messages.
        value: The filter's operand.
        whole: Whether amounts are stored as whole numbers (materials: Fe0.5O0.75 is Fe2O3).

    Raises:
        FilterError: for an operand that is not a formula of known elements.
    """
    if not isinstance(value, str):
        raise FilterError(f"filter: {name}: {value!r} is not a string")
    try:
        composition = Composition(value)
        if whole:  # as materials store it: Fe0.5O0.75 is Fe2O3, a 1e-4 dopant stays
            composition = canonical_composition(composition)
    except Exception:
        composition = None
    if composition is None or not composition.valid or composition.num_atoms <= 0:
        raise FilterError(
            f"filter: {name}: {value!r} is not a chemical formula (element symbols are "
            'case-sensitive: "MgB2")'
        )
    return alphabetical_formula(composition)


def _chemsys(name: str, value: str) -> str:
    """A chemical system as stored: distinct element symbols, alphabetical (``Mg-B`` -> ``B-Mg``).

    Raises:
        FilterError: naming a part that is not an element symbol.
    """
    symbols = value.split("-")
    for symbol in symbols:
        if not Element.is_valid_symbol(symbol):
            raise FilterError(
                f"filter: {name}: {symbol!r} in {value!r} is not an element symbol "
                '(case matters: "B-Mg")'
            )
    return "-".join(sorted(set(symbols)))


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
            raise FilterError(f"filter: {name}: {value!r} is not an id (24 hex digits)")
        return ObjectId(value)
    if kind == "chemsys":
        # the same reasoning as for formulas: Mg-B names B-Mg's system
        return _chemsys(name, value)
    return value
