"""OPTIMADE filters to MongoDB queries, over a whitelist of fields per resource.

The filter is parsed by the ``optimade`` package's grammar and turned into a query by
its MongoDB transformer, so user text never becomes a raw MongoDB operator. Beyond the
fixed fields, a campaign's filters name its outcomes (``values.<outcome>``), its
parameters (``parameters.<parameter>``) and whether a result meets its outcome
constraints (``feasible = true``), each checked against the campaign. An element's molar
fraction is ``fraction.<element>`` on every resource with a composition (``fraction.fe >=
0.1 AND fraction.fe < 0.3``), and a composition campaign's trials take the composition
names materials take (``elements HAS "Fe"``, ``nelements``, ``chemical_formula_reduced``):
its elements and their count as the trials store them, where they do, else as tests of
their fraction parameters, as a formula is. Operands are read as writes read them: a
formula as a material is registered
(:func:`literature.formulas.read_formula`: ``STO`` is SrTiO3), a DOI or paper key in any
of its spellings (a doi.org link, a bare DOI) as papers store it.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import Any

from bson import ObjectId
from pymatgen.core import Composition
from pymatgen.core.periodic_table import Element

from db.documents import alphabetical_formula, molar_fractions
from discovery.compositions import FORMULA_RTOL, ZERO_FRACTION, canonical_composition
from discovery.domain import BOUND_TOLERANCE, OutcomeConstraint, TrialStatus
from discovery.spaces import CategoricalParameter, Parameter
from literature.formulas import read_formula

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
        "created_at": "created_at",  # when it was registered
    },
    "trials": {
        "id": "_id",
        "status": "status",
        "batch": "batch",
        "strategy": "strategy",
        "model_version": "model_version",
        "candidate": "candidate",
        "label": "label",
        "acquisition_value": "acquisition_value",
        "claimed_by": "claimed_by",
        "reason": "reason",  # why it failed or was given up ("campaign closed")
        "created_at": "created_at",  # when it was proposed
        "updated_at": "updated_at",  # its last change of status or lease
        "lease_expires_at": "lease_expires_at",  # a running trial's: a stalled one is past it
    },
    "measurements": {
        "trial_id": "trial",
        "source": "source",
        "idempotency_key": "idempotency_key",
        "received_at": "received_at",
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
        "n_sources": "n_sources",
        "paper": "papers",  # the key of a paper it was read in (records list them all)
        "model_version": "sources.model_version",  # a tagger that read it (any source's)
        # the pressure it was read at (GPa): a point, or a range's or a bound's ends;
        # none of them at ambient pressure
        "pressure_gpa": "conditions.pressure_gpa",
        "pressure_gpa_low": "conditions.pressure_gpa_low",
        "pressure_gpa_high": "conditions.pressure_gpa_high",
        "field_t": "conditions.field_t",  # the field it was read in (T); none in zero field
        "uncertainty": "uncertainty",
        "created_at": "created_at",  # first read
        "updated_at": "updated_at",  # a source added or removed, a rejection set or lifted
    },
    "papers": {
        "id": "_id",
        "key": "key",
        "doi": "doi",
        "title": "title",
        "year": "year",
        "journal": "journal",
        "source": "source",  # the file it was read from
        "model_version": "model_version",  # the tagger that read it
        "ingested_at": "ingested_at",
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
            "n_sources",
            "year",
            "pressure_gpa",
            "pressure_gpa_low",
            "pressure_gpa_high",
            "field_t",
            "uncertainty",
        ),
        "number",
    ),
    **dict.fromkeys(
        ("created_at", "updated_at", "received_at", "ingested_at", "lease_expires_at"), "time"
    ),
    "elements": "element",
    "status": "status",
    "id": "id",
    "trial_id": "id",
    "chemical_formula_reduced": "formula",
    "chemsys": "chemsys",
    "doi": "doi",
    "key": "paper",
    "paper": "paper",
}

#: Resources whose reduced formulas are canonical: whole-number amounts where they fit
#: (:func:`~discovery.compositions.canonical_composition`). A material Fe0.5O0.75 is
#: stored as Fe2O3, a record of La1.85Sr0.15CuO4 as Cu20La37O80Sr3 (the formula as the
#: paper wrote it is its chemical_formula_descriptive), so a campaign trial's formula
#: (Sr3La37Cu20O80) finds the records of its composition.
WHOLE_FORMULAS = frozenset({"materials", "records"})

#: Resources whose documents keep the ids of those merged into them (``merged_ids``;
#: :func:`db.literature.merge_records_by_composition`): an ``id`` test matches those too,
#: so a model's ``record_ids`` still find their records.
MERGED_IDS = frozenset({"records"})

#: Resources whose ``material`` is a record's material (a formula, or a name such as
#: ``LSCO``): an ``=`` or ``!=`` test reads its operand as :func:`material_query` does.
MATERIAL_NAMES = frozenset({"records"})

#: Kinds with no order: ``<``, ``<=``, ``>``, ``>=`` on them are refused, not compared as text
#: (a trial's status in the alphabet's order means nothing).
UNORDERED = frozenset({"formula", "chemsys", "status"})

#: Text fields stored in lower case whose values are case-insensitive (DOIs, and paper
#: keys: ``doi:`` + the DOI, or ``sha256:`` + hex; property names, ``tc``): a filter's
#: operands, patterns included, are lower-cased to match.
CASELESS = frozenset({"doi", "key", "paper", "property"})

#: List fields whose length a collection also stores, always in step: ``LENGTH`` filters
#: compare the count (indexed). Records are not here: theirs is null when a record has no
#: elements, and records stored before it existed lack it.
COUNTS: dict[str, dict[str, str]] = {"materials": {"elements": "nelements"}}

#: The filter names that hold lists, per resource: only they take ``HAS ALL``, ``HAS ONLY``
#: and ``LENGTH``. On a field of one value those are refused rather than matching nothing
#: (``label HAS ALL "P","Q"``), while ``HAS`` and ``HAS ANY`` read as "one of", as MongoDB
#: reads ``$in``: ``id HAS ANY "a","b"`` selects records by id. A composition campaign's
#: trials take ``elements`` too (:data:`COMPOSITION_NAMES`).
LISTS: dict[str, frozenset[str]] = {
    "materials": frozenset({"elements"}),
    "records": frozenset({"elements", "paper"}),
}

#: The operators the grammar writes for ``HAS ALL``, ``HAS ONLY`` and ``LENGTH``.
_LIST_TESTS = frozenset({"$all", "$elemMatch", "$size"})

#: Resources whose documents hold measured values by outcome name, in this dict field: a
#: filter or sort names outcome ``x`` as ``values.<x as an identifier>`` (:func:`identifier`).
OUTCOME_FIELDS: dict[str, str] = {"measurements": "values"}

#: Resources whose documents hold their parameters by name, in this dict field: a filter
#: or sort names parameter ``x`` as ``parameters.<x as an identifier>`` (:func:`identifier`).
PARAMETER_FIELDS: dict[str, str] = {"trials": "parameters"}

#: How a filter names an element's molar fraction, on every resource with a composition:
#: ``fraction.<symbol in lower case>`` (``fraction.fe``; the grammar's names are lower
#: case, and no two symbols differ in case only), as ``values.<outcome>`` names an outcome.
#: A number from 0 to 1, 0 for an element the composition lacks.
FRACTION = "fraction"

#: Resources that store each element's molar fraction, in this dict field: symbol ->
#: fraction (:func:`db.documents.molar_fractions`), null where the composition is not
#: known (a record of a name: ``LSCO``, whose strontium is open). An element it lacks
#: has fraction 0. No index: a range of one element's fraction scans, as a ``value``
#: range without a property does.
FRACTION_FIELDS: dict[str, str] = {"materials": "fractions", "records": "fractions"}

#: Resources whose composition is their campaign's molar-fraction parameters (a
#: composition space's, :func:`discovery.compositions.element_fractions`): these names,
#: as materials take them, are tests of the parameters, and ``fraction.<element>`` is the
#: element's parameter; but ``elements`` and ``nelements`` are tests of the elements and
#: count the documents store beside them (:data:`STORED_ELEMENTS`), where they do.
COMPOSITION_RESOURCES = frozenset({"trials"})
COMPOSITION_NAMES = ("elements", "nelements", "chemical_formula_reduced")
#: Where a composition resource's documents store the symbols of the elements present
#: (alphabetical, :func:`discovery.compositions.present_elements`) and how many.
STORED_ELEMENTS = ("elements", "nelements")


#: Resources a filter may test with ``feasible = true`` / ``false``: whether a result
#: meets every outcome constraint. Computed from the values, as the listing shows it: no
#: document stores it (a trial's is its measurement's).
FEASIBLE = "feasible"
FEASIBLE_RESOURCES = frozenset({"measurements"})

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
        "label": "label",
    },
    "measurements": {"received_at": "received_at", "source": "source", "trial_id": "trial"},
    "materials": {
        "formula": "formula",  # as matloop names it (pymatgen's order: Fe2O3, LiFePO4)
        "chemical_formula_reduced": "formula_alphabetical",
        "nelements": "nelements",
        "chemsys": "chemsys",
        "created_at": "created_at",
    },
}

#: Each resource's listing order, which also breaks every sort's ties: unique at the end,
#: so pages neither repeat nor skip rows.
DEFAULT_ORDERS: dict[str, tuple[tuple[str, int], ...]] = {
    "trials": (("sequence", 1),),
    "measurements": (("received_at", 1), ("_id", 1)),
    "materials": (("formula", 1),),  # unique
}

#: One sort key: a stored field's path, or an expression (an outcome whose name holds a
#: dot, which no path can reach), and 1 (ascending) or -1 (descending).
SortKey = tuple[str | dict[str, Any], int]

#: The only tests a measured value takes: comparisons with a number, IS KNOWN / UNKNOWN.
_VALUE_TESTS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$exists", "$not"})

#: The tests a categorical parameter takes: =, !=, CONTAINS / STARTS / ENDS, IS KNOWN.
_CHOICE_TESTS = frozenset({"$eq", "$ne", "$exists", "$not", "$regex", "$options"})

#: The tests ``feasible`` takes: =, != and IS KNOWN / UNKNOWN.
_TRUTH_TESTS = frozenset({"$eq", "$ne", "$exists", "$not"})

#: Operators whose operand is not a value of the field (presence, array size, a pattern).
_NOT_VALUES = frozenset({"$exists", "$size", "$regex", "$options"})


class FilterError(ValueError):
    """An OPTIMADE filter that does not parse or names a field that cannot be filtered.

    Also a ``sort`` that names no field a listing can be sorted by.
    """


#: The longest regular expression a filter builds: the embedded database refuses longer
#: patterns (a 500 where the filter is the caller's mistake).
MAX_PATTERN = 1000


def bounded_pattern(pattern: str, what: str) -> str:
    """``pattern`` unless it is longer than :data:`MAX_PATTERN` characters.

    Raises:
        FilterError: naming ``what`` (a text's special characters count twice, escaped).
    """
    if len(pattern) > MAX_PATTERN:
        raise FilterError(
            f"filter: {what} is too long to match: {len(pattern)} characters as a pattern, "
            f"at most {MAX_PATTERN}"
        )
    return pattern


@dataclass(frozen=True)
class _Scope:
    """What a campaign's filter may name beyond a resource's fixed fields.

    Attributes:
        outcomes: Outcome names (``values.<outcome>``).
        parameters: The search space's parameters (``parameters.<parameter>``).
        constraints: Outcome constraints (``feasible``).
        composition: The element symbols of the space's molar fractions (``elements``,
            ``fraction.<element>`` ...); None where the space has none.
        elements_stored: Whether every trial stores its elements and their count
            (:data:`STORED_ELEMENTS`), which ``elements`` and ``nelements`` then test.
        results: The ids of the trials whose result a measurements query matches: a
            trials filter then tests ``values.<outcome>`` and ``feasible`` on results.
    """

    outcomes: Sequence[str] = ()
    parameters: Sequence[Parameter] = ()
    constraints: Sequence[OutcomeConstraint] = ()
    composition: Sequence[str] | None = None
    elements_stored: bool = False
    results: Callable[[dict[str, Any]], list[Any]] | None = None


@dataclass(frozen=True)
class _Elements:
    """A composition campaign's elements, and whether its trials store those they hold.

    Iterating and ``in`` are over ``symbols``.

    Attributes:
        symbols: The element symbols of the space's molar fractions.
        stored: Whether every trial stores its elements and count (:data:`STORED_ELEMENTS`).
    """

    symbols: tuple[str, ...]
    stored: bool = False

    def __iter__(self) -> Iterator[str]:
        return iter(self.symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.symbols


#: A backslash and the character it escapes in a filter's string (OPTIMADE: ``"`` or ``\``);
#: any other backslash is kept as written (``"C:\temp"``).
_ESCAPE = re.compile(r'\\(["\\])')


@lru_cache(maxsize=1)
def _parser_and_transformer() -> tuple[Any, Any]:
    from lark import v_args
    from optimade.filterparser import LarkParser
    from optimade.filtertransformers.mongo import MongoTransformer

    class Transformer(MongoTransformer):
        """The optimade transformer, leaving ``LENGTH`` comparisons to :func:`_length`."""

        @v_args(inline=True)
        def string(self, token: Any) -> str:
            r"""A string's text: quotes off, ``\"`` and ``\\`` read as ``"`` and ``\``.

            Upstream strips every quote at the ends and keeps the backslashes, so
            ``label = "Q \"1\""`` could match no label at all.
            """
            return _ESCAPE.sub(r"\1", str(token)[1:-1])

        def fuzzy_string_op_rhs(self, arg: list[Any]) -> dict[str, Any]:
            """CONTAINS, STARTS [WITH], ENDS [WITH]: the user's text literal, never a pattern.

            Escaped here, where STARTS and ENDS are still known: upstream anchors the text
            first, so a ``^`` or ``$`` of the text itself could not be told from its anchors.
            """
            op, text = str(arg[0]), str(arg[-1])
            literal = re.escape(text)
            pattern = ("^" if op == "STARTS" else "") + literal + ("$" if op == "ENDS" else "")
            return {"$regex": bounded_pattern(pattern, f"the text after {op}")}

        def length_op_rhs(self, arg: list[Any]) -> dict[str, Any]:
            if len(arg) == 3 and arg[1] == "!=":  # not implemented upstream
                return {"$not": {"$size": arg[-1]}}
            return dict(super().length_op_rhs(arg))

        def _apply_length_operators(self, filter_: dict[str, Any]) -> dict[str, Any]:
            # upstream (optimade 1.5) rewrites "LENGTH >= 4" as "entry 4 exists", one off
            return filter_

        def bool(self, arg: list[Any]) -> bool:
            """TRUE or FALSE (upstream has no translation)."""
            return str(arg[0]) == "TRUE"

    parser = LarkParser(version=(1, 2, 0))
    parser.lark = _lark_keeping_truths(parser.version)
    return parser, Transformer()


def _lark_keeping_truths(version: tuple[int, int, int]) -> Any:
    """The grammar's parser, with ``bool`` keeping its token.

    Upstream's ``bool: ( "TRUE" | "FALSE" )`` drops the anonymous token, so the tree
    cannot tell TRUE from FALSE; ``!`` keeps it.
    """
    from lark import Lark
    from optimade.filterparser.lark_parser import AVAILABLE_PARSERS

    grammar = AVAILABLE_PARSERS[version]["default"].read_text()
    if grammar.count("\nbool:") != 1:  # a new grammar: this patch needs a look
        raise RuntimeError(f"OPTIMADE grammar {version}: no single bool rule to patch")
    return Lark(grammar.replace("\nbool:", "\n!bool:"), maybe_placeholders=False)


def optimade_to_mongo(
    text: str,
    resource: str,
    outcomes: Sequence[str] = (),
    *,
    parameters: Sequence[Parameter] = (),
    constraints: Sequence[OutcomeConstraint] = (),
    composition: Sequence[str] | None = None,
    elements_stored: bool = False,
    results: Callable[[dict[str, Any]], list[Any]] | None = None,
) -> dict[str, Any]:
    """Translate an OPTIMADE filter for ``resource`` into a MongoDB query.

    Example:
        >>> optimade_to_mongo('elements HAS ALL "Cu","O" AND nelements<=4', "materials")
        {'$and': [{'elements': {'$all': ['Cu', 'O']}}, {'nelements': {'$lte': 4}}]}
        >>> optimade_to_mongo("values.pce > 9", "measurements", ["PCE"])
        {'values.PCE': {'$gt': 9}}
        >>> from discovery.spaces import ContinuousParameter as Continuous
        >>> optimade_to_mongo("parameters.t > 50", "trials", parameters=[Continuous("T", 0, 99)])
        {'parameters.T': {'$gt': 50}}
        >>> from discovery.domain import OutcomeConstraint as Constraint
        >>> gap = Constraint("g", lower=0.0)
        >>> optimade_to_mongo("feasible = false", "measurements", constraints=[gap])
        {'$or': [{'values.g': {'$lt': 0.0}}]}
        >>> optimade_to_mongo('elements HAS "Fe"', "trials", composition=["Fe", "O"])
        {'parameters.Fe': {'$gt': 1e-12}}
        >>> optimade_to_mongo(
        ...     "nelements <= 2", "trials", composition=["Fe", "O"], elements_stored=True
        ... )
        {'nelements': {'$lte': 2}}
        >>> optimade_to_mongo("fraction.sr >= 0.02", "records")
        {'fractions.Sr': {'$gte': 0.02}}

    Args:
        text: The filter.
        resource: A key of :data:`FIELDS`.
        outcomes: The campaign's outcome names, which a measurements filter compares as
            ``values.<name>`` (see :func:`identifier`).
        parameters: The campaign's parameters (``space.parameters``), which a trials
            filter compares as ``parameters.<name>``: numbers, or one of a categorical's
            choices.
        constraints: The campaign's outcome constraints, which a measurements filter's
            ``feasible = true`` (or ``false``) tests as the listing's ``feasible`` does.
        composition: The element symbols of the campaign's molar fractions
            (:func:`discovery.compositions.element_fractions` of its space), which a
            trials filter tests as ``elements``, ``nelements``,
            ``chemical_formula_reduced`` and ``fraction.<element>``; None (a space
            without them): those names are refused.
        elements_stored: Whether every trial of the campaign stores its elements and
            their count (:data:`STORED_ELEMENTS`;
            :meth:`db.campaigns.CampaignStore.elements_stored`): ``elements`` and
            ``nelements`` are then tests of those, else of the fraction parameters.
        results: For trials, the ids of the trials whose result a measurements query
            matches (:meth:`db.campaigns.CampaignStore.trial_query`): a trials filter
            then also tests results, ``values.<outcome>`` and ``feasible`` as a
            measurements filter does, each test holding for the trials that have a
            result it matches (so a trial not measured yet meets none, and its NOT).

    Raises:
        FilterError: naming the problem (syntax, or a field and the fields allowed).
    """
    if not text.strip():
        return {}
    parser, transformer = _parser_and_transformer()
    try:
        tree = parser.parse(text)
        _refuse_bare_names(tree)
        query = transformer.transform(tree)
    except FilterError:
        raise
    except Exception as error:
        raise _syntax_error(text, error.__cause__ or error) from None
    scope = _Scope(outcomes, parameters, constraints, composition, elements_stored, results)
    return _rename(query, FIELDS[resource], resource, scope)


#: Bare words a filter may compare with: ``feasible = true`` reads as the boolean.
_BARE_WORDS = frozenset({"true", "false"})


def _refuse_bare_names(tree: Any) -> None:
    """Refuse a value written as a bare name (``status = completed``), naming it.

    OPTIMADE reads an unquoted name as another field, which no listing compares with;
    the transformer would take it as text, so a slip (``model_version = null``) would
    quietly match nothing.

    Raises:
        FilterError: naming the field and the word, with how to write it.
    """
    for comparison in tree.find_data("property_first_comparison"):
        field, rhs = comparison.children[0], comparison.children[-1]
        for value in rhs.find_data("value"):
            named = value.children[0] if value.children else None
            if getattr(named, "data", None) != "property":
                continue
            word = _dotted(named)
            if word in _BARE_WORDS:
                continue
            missing = f" (a missing value: {_dotted(field)} IS UNKNOWN)" if word == "null" else ""
            raise FilterError(
                f"filter: {_dotted(field)}: {word} is not quoted, so it names a field, and "
                f'a field is compared with values, not fields: text is written "{word}"{missing}'
            )


def _dotted(name: Any) -> str:
    """A ``property`` node of the grammar as the filter wrote it (``values.gap``)."""
    return ".".join(str(token) for token in name.children)


def with_compared_texts(query: Any, field: str, read: Callable[[str], str]) -> Any:
    """``query`` with each text it compares ``field`` with read, at any depth.

    The texts of ``=``, ``!=``, ``HAS ANY``, ``HAS ALL`` and ``HAS ONLY`` (whose
    ``$elemMatch`` holds a ``$nin``) alike.

    Example:
        >>> with_compared_texts({"$or": [{"p": {"$in": ["a"]}}, {"p": "b"}]}, "p", str.upper)
        {'$or': [{'p': {'$in': ['A']}}, {'p': 'B'}]}
    """
    if isinstance(query, list):
        return [with_compared_texts(part, field, read) for part in query]
    if not isinstance(query, dict):
        return query
    return {
        key: (
            _operands_read(value, read) if key == field else with_compared_texts(value, field, read)
        )
        for key, value in query.items()
    }


def _operands_read(test: Any, read: Callable[[str], str]) -> Any:
    """A field's test with each text it compares read (inside ``$not``, ``$elemMatch`` too)."""
    if isinstance(test, str):
        return read(test)
    if isinstance(test, list):
        return [read(v) if isinstance(v, str) else v for v in test]
    if isinstance(test, dict):
        return {
            op: operand
            if op in ("$regex", "$options", "$exists", "$size", "$type")
            else _operands_read(operand, read)
            for op, operand in test.items()
        }
    return test


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
    """The outcome that ``values.<name>`` names (see :func:`_named`)."""
    return _named(name, outcomes, parameter, "values", "outcome")


def _parameter(name: str, parameters: Sequence[Parameter], parameter: str) -> Parameter:
    """The campaign parameter that ``parameters.<name>`` names (see :func:`_named`)."""
    by_name = {p.name: p for p in parameters}
    return by_name[_named(name, list(by_name), parameter, "parameters", "parameter")]


def _named(name: str, names: Sequence[str], parameter: str, field: str, what: str) -> str:
    """The campaign's name (an outcome's, a parameter's) that ``<field>.<name>`` names.

    Whatever the user wrote after ``<field>.`` is only compared with the identifiers of
    the campaign's own names: it never becomes a field path itself.

    Args:
        name: The identifier after ``<field>.`` (more dots: no name's).
        names: The campaign's names.
        parameter: ``filter`` or ``sort``, for messages.
        field: ``values`` or ``parameters``, for messages.
        what: ``outcome`` or ``parameter``, for messages.

    Raises:
        FilterError: for a name that is none of the campaign's, or several.
    """
    found = [each for each in names if identifier(each) == name]
    if len(found) == 1:
        return found[0]
    if found:
        raise FilterError(
            f"{parameter}: {field}.{name} names several {what}s ({', '.join(map(repr, found))}): "
            f"their names differ only in case or punctuation, which a {parameter} cannot tell apart"
        )
    spelled = [f"{field}.{identifier(o)} ({o!r})" for o in names if identifier(o)]
    unwritable = [repr(o) for o in names if not identifier(o)]
    article = "an" if what[0] in "aeiou" else "a"
    raise FilterError(
        f"{parameter}: {field}.{name} is not {article} {what} of this campaign; its {what}s are "
        + (", ".join(spelled) or "none a filter can name")
        + (
            f"; {', '.join(unwritable)} cannot be named (no identifier spells it: "
            "a letter first, then letters, digits or _)"
            if unwritable
            else ""
        )
    )


def mongo_sort(
    text: str,
    resource: str,
    outcomes: Sequence[str] = (),
    *,
    parameters: Sequence[Parameter] = (),
) -> list[SortKey]:
    """The MongoDB sort for a listing's ``sort``, ties broken by the listing's own order.

    Example:
        >>> mongo_sort("-values.pce", "measurements", ["PCE"])
        [('values.PCE', -1), ('received_at', 1), ('_id', 1)]

    Args:
        text: Comma-separated keys, each a name of :data:`ORDERS`, (measurements)
            ``values.<outcome>`` or (trials) ``parameters.<parameter>``, ``-`` first for
            descending; empty: the listing's order.
        resource: ``trials``, ``measurements`` or ``materials``.
        outcomes: The campaign's outcome names.
        parameters: The campaign's parameters (``space.parameters``).

    Raises:
        FilterError: naming ``sort`` and the keys allowed, for a key that is none of them,
            or naming a key given twice (``values.pce`` and ``-values.PCE`` too).
    """
    scope = _Scope(outcomes, parameters)
    keys: list[SortKey] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name = part.removeprefix("-")
        field = _sort_field(name, resource, scope)
        if any(field == taken for taken, _ in keys):  # the database would keep the last
            raise FilterError(f"sort: {name!r} is named twice in {text!r}")
        keys.append((field, -1 if part.startswith("-") else 1))
    default = DEFAULT_ORDERS[resource]
    # the listing's own order reversed ("-received_at") is reversed down to the last tie
    flip = -1 if keys and keys[0] == (default[0][0], -1) else 1
    taken = [key for key, _ in keys]
    return keys + [(key, way * flip) for key, way in default if key not in taken]


def _sort_field(name: str, resource: str, scope: _Scope) -> str | dict[str, Any]:
    """The stored field (or expression) that sort key ``name`` names."""
    orders, values = ORDERS[resource], OUTCOME_FIELDS.get(resource)
    stored = PARAMETER_FIELDS.get(resource)
    if name in orders:
        return orders[name]
    head, _, rest = name.partition(".")
    if values is not None and head == values and rest:
        return _outcome_path(values, _outcome(rest, scope.outcomes, "sort"))
    if stored is not None and head == stored and rest:
        return _outcome_path(stored, _parameter(rest, scope.parameters, "sort").name)
    allowed = [*orders, *_patterns(resource)]
    raise FilterError(
        f"sort: {name!r} is not a field to sort {resource} by; use one of {', '.join(allowed)}"
        ", with - first for descending (several: comma-separated)"
    )


def _patterns(resource: str) -> list[str]:
    """How a filter or sort of ``resource`` names a campaign's outcomes and parameters."""
    values, stored = OUTCOME_FIELDS.get(resource), PARAMETER_FIELDS.get(resource)
    return [f"{values}.<outcome>"] * bool(values) + [f"{stored}.<parameter>"] * bool(stored)


def _outcome_path(field: str, outcome: str) -> str | dict[str, Any]:
    """Where an outcome's (or parameter's) value is: a path, or (a dot) an expression.

    Parameter names hold no dot (:class:`discovery.spaces.SearchSpace`): always a path.
    """
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


def _value_tests(
    name: str, node: Any, allowed: frozenset[str] = _VALUE_TESTS, what: str = "a number"
) -> None:
    """Refuse the tests ``name`` does not take (a number: ``HAS``, ``LENGTH``).

    Args:
        name: The field, as the filter names it.
        node: Its operators and operands.
        allowed: The operators it takes.
        what: What it holds, for messages.
    """
    if isinstance(node, dict):
        if refused := sorted(set(node) - allowed):
            words = {
                "$size": "LENGTH does",
                "$regex": "CONTAINS, STARTS and ENDS do",
                **dict.fromkeys(_ORDERINGS, "<, <=, > and >= do"),
            }
            word = words.get(refused[0], "HAS does")
            raise FilterError(f"filter: {name} is {what}: {word} not apply")
        for value in node.values():
            _value_tests(name, value, allowed, what)


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

    if isinstance(error, VisitError) and isinstance(error.orig_exc, FilterError):
        return error.orig_exc  # the translation's own words, which name the field
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


def _rename(node: Any, fields: Mapping[str, str], resource: str, scope: _Scope = _Scope()) -> Any:
    """``node`` with each filter name its stored field's, and each operand checked.

    Args:
        node: The transformer's query, or a part of it.
        fields: Filter name -> stored field (:data:`FIELDS`).
        resource: The resource, for messages and kinds.
        scope: What the campaign adds: outcomes, parameters, constraints.
    """
    if isinstance(node, bool):
        return node
    if isinstance(node, int) and not -(2**63) <= node < 2**63:
        raise FilterError(f"filter: {node} is outside the 64-bit integer range")
    if isinstance(node, list):
        return [_rename(item, fields, resource, scope) for item in node]
    if not isinstance(node, dict):
        return node
    renamed: dict[str, Any] = {}
    values, stored = OUTCOME_FIELDS.get(resource), PARAMETER_FIELDS.get(resource)
    for key, value in node.items():
        if not isinstance(key, str):  # `1=1`: the transformer keys the test by the constant
            raise FilterError(
                "filter: a test compares two constants (such as 1=1); each test names a "
                f"field, one of {sorted(fields)}"
            )
        head = key.partition(".")[0]
        if head in fields and head not in LISTS.get(resource, ()):
            _refuse_list_tests(head, key, value)
        if key == "$regex":  # literal already (the transformer's fuzzy_string_op_rhs)
            renamed[key] = value
        elif key.startswith("$"):
            renamed[key] = _rename(value, fields, resource, scope)
        elif scope.results is not None and _tests_a_result(resource, head):
            measured = _rename({key: value}, FIELDS["measurements"], "measurements", scope)
            _add_clause(renamed, {fields["id"]: {"$in": scope.results(measured)}})
        elif values is not None and head == values:
            renamed.update(_outcome_test(key, value, values, fields, resource, scope))
        elif stored is not None and head == stored:
            renamed.update(_parameter_test(key, value, stored, fields, resource, scope))
        elif head == FRACTION and _has_fractions(resource):
            _add_clause(renamed, _fraction_test(key, value, fields, resource, scope))
        elif head in COMPOSITION_NAMES and resource in COMPOSITION_RESOURCES:
            _add_clause(renamed, _composition_test(key, value, scope))
        elif key == FEASIBLE and resource in FEASIBLE_RESOURCES:
            renamed.update(_feasible_test(_rename(value, fields, resource), scope.constraints))
        elif key in fields and _is_length(value):
            renamed.update(_length(key, fields[key], value, COUNTS.get(resource, {})))
        elif key == "id" and resource in MERGED_IDS:
            test = _typed(key, _rename(value, fields, resource), resource)
            _add_clause(renamed, _with_merged_ids(fields[key], test))
        elif key == "material" and resource in MATERIAL_NAMES and _material_test(value):
            ((op, operand),) = value.items()
            _add_clause(renamed, material_query(operand, negated=op == "$ne"))
        elif key in fields:
            value = _lowered(value) if key in CASELESS else value
            renamed[fields[key]] = _typed(key, _rename(value, fields, resource), resource)
        elif head in fields and key[len(head) + 1 :].isdigit():
            # an array position the grammar writes itself (HAS ONLY: "elements.0" exists)
            renamed[fields[head] + key[len(head) :]] = _rename(value, fields, resource)
        else:
            raise _unknown_field(key, fields, resource, scope)
    return renamed


def _refuse_list_tests(name: str, key: str, node: Any) -> None:
    """Refuse ``HAS ALL``, ``HAS ONLY``, ``LENGTH`` or an array position on ``name``."""
    if key != name or _LIST_TESTS & _operators(node):
        raise FilterError(
            f"filter: {name} holds one value, not a list: HAS ALL, HAS ONLY and LENGTH do "
            "not apply (HAS ANY is one of its values, CONTAINS a part of a text)"
        )


def _operators(node: Any) -> set[str]:
    """Every operator in a field's test, under ``$not`` and in lists too."""
    if isinstance(node, list):
        return set().union(*map(_operators, node))
    if not isinstance(node, dict):
        return set()
    return {*node, *_operators(list(node.values()))}


def _tests_a_result(resource: str, head: str) -> bool:
    """Whether a trials filter's name ``head`` is a result's (``values``, ``feasible``)."""
    return resource == "trials" and head in (OUTCOME_FIELDS["measurements"], FEASIBLE)


def _add_clause(renamed: dict[str, Any], clause: dict[str, Any]) -> None:
    """Add ``clause`` to a query being built, under ``$and`` where its fields are taken."""
    if renamed.keys() & clause.keys():
        renamed.setdefault("$and", []).append(clause)
    else:
        renamed.update(clause)


def _material_test(test: Any) -> bool:
    """Whether a ``material`` test is ``=`` or ``!=`` with text: a material to read."""
    if not isinstance(test, dict) or len(test) != 1:
        return False
    ((op, operand),) = test.items()
    return op in ("$eq", "$ne") and isinstance(operand, str)


def material_query(text: str, negated: bool = False) -> dict[str, Any]:
    """The records of material ``text`` (or, ``negated``, the others), as a filter reads it.

    Text that reads as a formula (:func:`literature.formulas.read_formula`, as materials
    are written: ``STO`` is SrTiO3, ``CuSO4.5H2O`` written out) names its composition
    in any spelling or multiple, case-sensitively as in chemistry (``Co`` is cobalt,
    ``CO`` carbon monoxide), and the records whose material is ``text`` as written. One
    element with an amount (``C60``, ``O3``, ``S1050``) names a molecule, an allotrope or
    a grade, not the element, whose composition it shares: it is matched as written. Other
    text names a material, matched whole in any case as :meth:`records_query
    <db.literature.LiteratureStore.records_query>` always did: ``LSCO`` (its strontium is
    open), ``magnesium diboride``, and ``mgb2``, which no element symbols spell, so it
    finds the records of ``MgB2`` (a record of a formula is named by it); or as a paper
    wrote it (a source's ``material_text``): ``YBCO``, stored as YBa2Cu3O7.

    Example:
        >>> material_query("Fe4O6")
        {'$or': [{'formula_reduced': 'Fe2O3'}, {'material': 'Fe4O6'}]}
        >>> material_query("lsco")["$or"][0]
        {'material': {'$regex': '^lsco$', '$options': 'i'}}
        >>> material_query("C60")
        {'$or': [{'formula': 'C60'}, {'material': 'C60'}]}
    """
    written = " ".join(text.split())
    try:
        formula = _canonical(written, whole=True)
    except ValueError:  # refused by read_formula: an abbreviation with open amounts
        formula = None
    if formula is None:  # a name: the record's, or as a paper wrote it (YBCO, now YBa2Cu3O7)
        named = {"$regex": bounded_pattern(f"^{re.escape(written)}$", "material"), "$options": "i"}
        if negated:
            return {"material": {"$not": named}, "sources.material_text": {"$not": named}}
        return {"$or": [{"material": named}, {"sources.material_text": named}]}
    if written not in _ELEMENT_SYMBOLS and Composition(formula).is_element:  # C60, O2
        compact = written.replace(" ", "")  # "C 60", as a PDF may set it apart
        if negated:
            return {"formula": {"$ne": compact}, "material": {"$ne": written}}
        return {"$or": [{"formula": compact}, {"material": written}]}
    if negated:
        return {"formula_reduced": {"$ne": formula}, "material": {"$ne": written}}
    return {"$or": [{"formula_reduced": formula}, {"material": written}]}


#: Every element's symbol: the reduced formula of any amount of one element.
_ELEMENT_SYMBOLS = frozenset(element.symbol for element in Element)


def doi_text(text: str) -> str:
    """A DOI as papers store it: lower case, without ``doi:`` or a doi.org link's start.

    As ``matloop literature papers --doi`` reads one.

    Example:
        >>> doi_text("https://doi.org/10.1103/PhysRevB.64.020501"), doi_text("doi: 10.1/X")
        ('10.1103/physrevb.64.020501', '10.1/x')
    """
    return _DOI_START.sub("", text.strip().lower())


def paper_key(text: str) -> str:
    """A paper's key as stored: ``doi:`` and its DOI however written, else ``text`` lower-cased.

    A bare SHA-256 (64 hex digits, a file's hash as ``sha256sum`` prints it) is the key
    of the file it hashes: ``sha256:`` and the hash.

    Example:
        >>> paper_key("10.1/A"), paper_key("https://dx.doi.org/10.1/a"), paper_key("SHA256:AB")
        ('doi:10.1/a', 'doi:10.1/a', 'sha256:ab')
    """
    key = text.strip().lower()
    if _SHA256.fullmatch(key):
        return f"sha256:{key}"
    doi = doi_text(key)
    return f"doi:{doi}" if doi.startswith("10.") else key


#: A file's SHA-256, as hex.
_SHA256 = re.compile(r"[0-9a-f]{64}")


#: What may come before a DOI: ``doi:``, or a doi.org link's start.
_DOI_START = re.compile(r"^(?:doi:\s*|(?:https?://)?(?:dx\.|www\.)?doi\.org/)")


def _with_merged_ids(field: str, test: Any) -> dict[str, Any]:
    """An id test that holds for the ids merged into a document too (its ``merged_ids``).

    ``id="X"`` finds the record X was merged into; ``id!="X"`` leaves it out. Tests of
    no id (``IS KNOWN``, orderings) are the document's own id's.
    """
    if isinstance(test, dict) and len(test) == 1:
        ((op, operand),) = test.items()
        if op in ("$eq", "$in") and operand is not None:
            return {"$or": [{field: test}, {"merged_ids": test}]}
        if op in ("$ne", "$nin") and operand is not None:
            return {field: test, "merged_ids": test}  # an array: none of its ids is X
    return {field: test}


def _unknown_field(
    key: str, fields: Mapping[str, str], resource: str, scope: _Scope = _Scope()
) -> FilterError:
    """The error for a filter naming ``key``, which ``resource`` does not hold."""
    results = scope.results is not None and _tests_a_result(resource, FEASIBLE)
    feasible = [FEASIBLE] if resource in FEASIBLE_RESOURCES or results else []
    composed = resource in COMPOSITION_RESOURCES and scope.composition is not None
    names = [*fields, *feasible, *(COMPOSITION_NAMES if composed else ())]
    fraction = [f"{FRACTION}.<element>"] if resource in FRACTION_FIELDS or composed else []
    outcomes = [f"{OUTCOME_FIELDS['measurements']}.<outcome>"] if results else []
    allowed = [*sorted(set(names)), *_patterns(resource), *outcomes, *fraction]
    hint = ""
    if key == FEASIBLE and not feasible:  # a trial's is its measurement's
        hint = f"; {FEASIBLE} is a result's: filter {', '.join(sorted(FEASIBLE_RESOURCES))}"
    head = key.partition(".")[0]
    if resource == "measurements" and head in (*COMPOSITION_NAMES, FRACTION):
        hint = (  # no result stores its composition: its trial's parameters do
            f"; a result's composition is its trial's: filter the campaign's trials by "
            f"{key}, then measurements by trial_id"
        )
    return FilterError(
        f"filter: {key!r} cannot be filtered on for {resource}; use one of {allowed}{hint}"
    )


def _outcome_test(
    key: str,
    value: Any,
    field: str,
    fields: Mapping[str, str],
    resource: str,
    scope: _Scope,
) -> dict[str, Any]:
    """The query for a filter's test of ``values.<outcome>`` (``key``): numbers only."""
    name = key.partition(".")[2]
    if not name:  # "values" alone
        raise FilterError(
            f"filter: {field} holds a value per outcome: compare one, {field}.<outcome>"
        )
    outcome = _outcome(name, scope.outcomes, "filter")
    test = _rename(value, fields, resource, scope)
    _value_tests(key, test)
    return _outcome_query(field, outcome, _typed(key, test, resource, "number"))


def _parameter_test(
    key: str,
    value: Any,
    field: str,
    fields: Mapping[str, str],
    resource: str,
    scope: _Scope,
) -> dict[str, Any]:
    """The query for a filter's test of ``parameters.<parameter>`` (``key``).

    A continuous parameter takes comparisons with numbers; a categorical one ``=`` and
    ``!=`` with one of its choices, and ``CONTAINS`` / ``STARTS`` / ``ENDS``.
    """
    name = key.partition(".")[2]
    if not name:  # "parameters" alone
        raise FilterError(
            f"filter: {field} holds a value per parameter: compare one, {field}.<parameter>"
        )
    parameter = _parameter(name, scope.parameters, "filter")
    test = _rename(value, fields, resource, scope)
    if isinstance(parameter, CategoricalParameter):
        _value_tests(key, test, _CHOICE_TESTS, f"one of {list(parameter.choices)}")
        _choices(key, test, parameter.choices)  # first: a number is "not one of" them
        test = _typed(key, test, resource, "text")
    else:
        _value_tests(key, test)
        test = _typed(key, test, resource, "number")
    return {f"{field}.{parameter.name}": test}


def _choices(name: str, node: Any, choices: Sequence[str]) -> None:
    """Refuse a categorical's ``=`` or ``!=`` with a label that is none of its choices.

    Such a test would match nothing (or everything) because of a typo, not the data.
    """
    if not isinstance(node, dict):
        return
    for op, operand in node.items():
        if op in ("$eq", "$ne") and operand is not None and operand not in choices:
            raise FilterError(f"filter: {name}: {operand!r} is not one of {list(choices)}")
        _choices(name, operand, choices)


def _has_fractions(resource: str) -> bool:
    """Whether ``resource``'s filters take ``fraction.<element>``."""
    return resource in FRACTION_FIELDS or resource in COMPOSITION_RESOURCES


#: Every element's symbol by its name in a filter: the symbol in lower case.
_SYMBOLS = {element.symbol.lower(): element.symbol for element in Element}


def _fraction_symbol(key: str) -> str:
    """The element symbol that ``fraction.<name>`` (``key``) names: ``fraction.fe`` is Fe.

    Raises:
        FilterError: for ``fraction`` alone, or a name that is no element's symbol.
    """
    name = key.partition(".")[2]
    if not name:
        raise FilterError(
            f"filter: {FRACTION} holds a value per element: compare one, "
            f"{FRACTION}.<element>, its symbol in lower case ({FRACTION}.fe for Fe)"
        )
    if name not in _SYMBOLS:
        raise FilterError(
            f"filter: {key}: {name!r} is not an element symbol (write it in lower case: "
            f"{FRACTION}.fe for Fe)"
        )
    return _SYMBOLS[name]


def _fraction_test(
    key: str, value: Any, fields: Mapping[str, str], resource: str, scope: _Scope
) -> dict[str, Any]:
    """The query for a filter's test of ``fraction.<element>`` (``key``): numbers only.

    A trial's is its element's fraction parameter, as ``parameters.<element>`` compares
    it; a material's or record's its stored fraction (:func:`_stored_fraction`).
    """
    symbol = _fraction_symbol(key)
    trials = resource in COMPOSITION_RESOURCES
    space = _composition(key, scope) if trials else ()  # first: refused without, whatever the test
    test = _rename(value, fields, resource, scope)
    _value_tests(key, test)
    test = _typed(key, test, resource, "number")
    if not trials:
        return _stored_fraction(FRACTION_FIELDS[resource], symbol, test)
    if symbol not in space:  # no trial holds it: its fraction is 0 in each, as a material's
        return _EVERY if _accepts(test, 0.0) else _NONE
    return {f"{PARAMETER_FIELDS[resource]}.{symbol}": test}


def _stored_fraction(field: str, symbol: str, test: dict[str, Any]) -> dict[str, Any]:
    """``test`` of an element's stored fraction, 0 where a known composition lacks it.

    Only the elements present are stored: the test matches a document without ``symbol``
    (its fraction 0) where it accepts 0, and one whose composition is not known (no
    ``field``) where it accepts a missing value, as MongoDB would (``IS UNKNOWN``).

    Example:
        >>> _stored_fraction("fractions", "Fe", {"$lt": 0.3})["$or"][1]
        {'fractions': {'$type': 'object'}, 'fractions.Fe': {'$exists': False}}
    """
    path = f"{field}.{symbol}"
    stored: dict[str, Any] = {"$and": [{path: {"$exists": True}}, {path: test}]}
    branches: list[dict[str, Any]] = [stored if _accepts(test, None) else {path: test}]
    if _accepts(test, 0.0):
        branches.append({field: {"$type": "object"}, path: {"$exists": False}})
    if _accepts(test, None):
        branches.append({field: None})  # null or missing
    return branches[0] if len(branches) == 1 else {"$or": branches}


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def _accepts(test: Mapping[str, Any], value: float | None) -> bool:
    """Whether MongoDB's ``test`` (of :data:`_VALUE_TESTS`) matches ``value`` (None: missing)."""
    for op, operand in test.items():
        if op == "$not":
            accepted = not _accepts(operand, value)
        elif op == "$exists":
            accepted = (value is not None) == bool(operand)
        elif op in ("$eq", "$ne"):
            accepted = (value == operand) == (op == "$eq")
        else:  # an ordering matches numbers only
            accepted = value is not None and operand is not None and _COMPARE[op](value, operand)
        if not accepted:
            return False
    return True


def _composition(name: str, scope: _Scope) -> _Elements:
    """The elements of the campaign's molar fractions, which ``name`` tests.

    Raises:
        FilterError: naming ``name``, for a campaign whose space has none.
    """
    if scope.composition is None:
        raise FilterError(
            f"filter: {name}: this campaign's space is not a composition (no parameters "
            "that are molar fractions of elements, summing to 1), so its trials have no "
            "elements, formula or fractions; filter on its parameters (parameters.<parameter>)"
        )
    return _Elements(tuple(scope.composition), scope.elements_stored)


def _element_symbols(name: str, symbols: Sequence[Any]) -> list[str]:
    """``symbols``, each an element symbol (one the campaign lacks is in no trial).

    Raises:
        FilterError: naming ``name``, for text that is no element symbol.
    """
    return [_operand(name, "element", symbol) for symbol in symbols]


#: Queries that match every document, and none.
_EVERY: dict[str, Any] = {"_id": {"$exists": True}}
_NONE: dict[str, Any] = {"_id": {"$exists": False}}


def _present(symbol: str, space: _Elements) -> dict[str, Any]:
    """Trials whose composition holds ``symbol``: its fraction above :data:`ZERO_FRACTION`.

    None, for an element the campaign lacks.
    """
    if symbol not in space:
        return _NONE
    return {f"{PARAMETER_FIELDS['trials']}.{symbol}": {"$gt": ZERO_FRACTION}}


def _absent(symbol: str, space: _Elements) -> dict[str, Any]:
    """Trials whose composition lacks ``symbol`` (a fraction of noise, or none).

    All, for an element the campaign lacks.
    """
    if symbol not in space:
        return _EVERY
    return {f"{PARAMETER_FIELDS['trials']}.{symbol}": {"$not": {"$gt": ZERO_FRACTION}}}


def _any_present(symbols: Sequence[str], space: _Elements) -> dict[str, Any]:
    """Trials holding one of ``symbols`` at least (none listed, or none the campaign's: none)."""
    if not space.stored:
        return _any([_present(e, space) for e in symbols])
    held = [e for e in symbols if e in space]
    return _stored_elements("$in", held) if held else _NONE


def _all_present(symbols: Sequence[str], space: _Elements) -> dict[str, Any]:
    """Trials holding each of ``symbols`` (none listed: every trial)."""
    if not space.stored:
        return _all([_present(e, space) for e in symbols])
    if any(e not in space for e in symbols):
        return _NONE
    return _stored_elements("$all", symbols) if symbols else _EVERY


def _all_absent(symbols: Sequence[str], space: _Elements) -> dict[str, Any]:
    """Trials holding none of ``symbols`` (none listed, or none the campaign's: every trial)."""
    if not space.stored:
        return _all([_absent(e, space) for e in symbols])
    held = [e for e in symbols if e in space]
    return _stored_elements("$nin", held) if held else _EVERY


def _stored_elements(op: str, symbols: Sequence[str]) -> dict[str, Any]:
    """``op`` (``$in``, ``$all``, ``$nin``) of ``symbols`` on the elements trials store.

    One symbol's ``$in`` or ``$all`` is written as equality (``elements HAS "Fe"``): a
    plain lookup in the campaign's index of elements.
    """
    field = STORED_ELEMENTS[0]
    if len(symbols) == 1 and op != "$nin":
        return {field: symbols[0]}
    return {field: {op: list(symbols)}}


def _any(queries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Documents matching one of ``queries`` (none: no document)."""
    return _NONE if not queries else queries[0] if len(queries) == 1 else {"$or": list(queries)}


def _all(queries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Documents matching each of ``queries`` (none: every document)."""
    return _EVERY if not queries else queries[0] if len(queries) == 1 else {"$and": list(queries)}


def _count(space: _Elements, op: str, n: float) -> dict[str, Any]:
    """Trials whose number of elements present compares with ``n`` as ``op`` says.

    The count stored, else a sum over the space's elements of one where the element's
    fraction is present (SecantusDB evaluates it on every trial of the campaign: seconds
    for thousands of trials over dozens of elements).
    """
    if space.stored:
        return {STORED_ELEMENTS[1]: {op: n}}
    field = PARAMETER_FIELDS["trials"]
    present = [{"$cond": [{"$gt": [f"${field}.{e}", ZERO_FRACTION]}, 1, 0]} for e in space]
    return {"$expr": {op: [{"$add": present}, n]}}


def _known(space: _Elements, op: str, operand: Any) -> dict[str, Any]:
    """``IS KNOWN`` / ``IS UNKNOWN`` of a trial's composition: some element present, or none.

    Args:
        space: The campaign's elements.
        op: ``$exists``, ``$eq`` or ``$ne`` (with None: what the grammar writes).
        operand: ``$exists``'s truth, or None.
    """
    known = bool(operand) if op == "$exists" else op == "$ne"
    if space.stored:
        return _count(space, "$gt" if known else "$eq", 0)
    present = _any([_present(symbol, space) for symbol in space])
    return present if known else {"$nor": [present]}


def _composition_test(key: str, node: Any, scope: _Scope) -> dict[str, Any]:
    """The query for a trial filter's ``elements``, ``nelements`` or ``chemical_formula_reduced``.

    Each is read from the campaign's fraction parameters as a listing's ``formula`` is
    (:func:`discovery.compositions.formula_of`), but for float noise: an element is present
    when its fraction is above :data:`ZERO_FRACTION`, not merely above 0.

    Raises:
        FilterError: for a campaign without a composition, text that is no element, or a
            test the name does not take.
    """
    head, _, rest = key.partition(".")
    space = _composition(head, scope)
    if rest:  # HAS ONLY's "elements.0 exists": at least one element
        if head != "elements" or not rest.isdigit():
            raise _unknown_field(key, FIELDS["trials"], "trials", scope)
        clause = partial(_entry_clause, space, int(rest))
    else:
        clauses = {
            "elements": _element_clause,
            "nelements": _count_clause,
            "chemical_formula_reduced": _formula_clause,
        }
        clause = partial(clauses[head], head, space)
    return _tests(node, clause)


def _tests(node: Any, clause: Callable[[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """``node``'s tests (operator -> operand, ``$not`` of tests) as one query, each a ``clause``."""
    if not isinstance(node, dict):  # a bare value: equality
        node = {"$eq": node}
    parts = [
        {"$nor": [_tests(operand, clause)]} if op == "$not" else clause(op, operand)
        for op, operand in node.items()
    ]
    return _all(parts)


#: The tests of a trial's ``elements`` that name elements (HAS ONLY's aside).
_ELEMENT_TESTS = frozenset({"#only", "$in", "$eq", "$all", "$nin", "$ne"})


def _element_clause(name: str, space: _Elements, op: str, operand: Any) -> dict[str, Any]:
    """One test of a trial's ``elements``: HAS (ALL, ANY, ONLY), LENGTH, IS KNOWN."""
    if op == "$exists" or operand is None:
        return _known(space, op, operand)
    if op == "$size":
        return _count(space, *_size(name, operand))
    if op == "$elemMatch" and isinstance(operand, dict) and set(operand) == {"$nin"}:
        outside = set(space) - set(_element_symbols(name, operand["$nin"]))
        return _any_present([e for e in space if e in outside], space)  # HAS ONLY's opposite
    if op not in _ELEMENT_TESTS:
        raise FilterError(
            f"filter: {name}: only HAS, HAS ALL, HAS ANY, HAS ONLY, LENGTH and IS KNOWN "
            "apply to a trial's elements"
        )
    listed = _element_symbols(name, operand if isinstance(operand, list) else [operand])
    if op == "#only":  # HAS ONLY under NOT, which upstream leaves unexpanded
        return _all_absent([e for e in space if e not in listed], space)
    if op in ("$in", "$eq"):  # HAS, HAS ANY (= of a list holding it, as MongoDB reads it)
        return _any_present(listed, space)
    if op == "$all":
        return _all_present(listed, space)
    return _all_absent(listed, space)  # $nin, $ne: NOT HAS


def _entry_clause(space: _Elements, index: int, op: str, operand: Any) -> dict[str, Any]:
    """The grammar's own test that element ``index`` exists (or not): a count of elements."""
    if op != "$exists":
        raise FilterError(f"filter: elements.{index} cannot be filtered on for trials")
    return _count(space, "$gt" if operand else "$lte", index)


def _count_clause(name: str, space: _Elements, op: str, operand: Any) -> dict[str, Any]:
    """One test of a trial's ``nelements``: a comparison with a number, IS KNOWN."""
    _value_tests(name, {op: operand})
    if op == "$exists" or operand is None:
        return _known(space, op, operand)
    return _count(space, op, _operand(name, "number", operand))


def _formula_clause(name: str, space: _Elements, op: str, operand: Any) -> dict[str, Any]:
    """One test of a trial's ``chemical_formula_reduced``: ``=`` or ``!=`` a formula, IS KNOWN.

    A formula is read as the other resources read it (:func:`_formula_composition`), and
    matches the trials whose fraction of each of its elements is its own within
    :data:`~discovery.compositions.FORMULA_RTOL` (the listing's ``formula`` is then this
    formula's composition) and whose other elements are absent.
    """
    if op == "$exists" or operand is None:
        return _known(space, op, operand)
    if op == "$regex":  # as for materials: a pattern would miss other spellings
        raise FilterError(f"filter: {name}: CONTAINS, STARTS and ENDS do not apply; use =")
    if op not in ("$eq", "$ne"):
        refused = _ORDERINGS.get(op, "HAS")
        raise FilterError(f"filter: {name} has no order: {refused} does not apply; use = or !=")
    fractions = molar_fractions(_formula_composition(name, operand, whole=True))
    if set(fractions) - set(space):  # an element the campaign lacks: no trial is it
        return _NONE if op == "$eq" else _EVERY
    path = PARAMETER_FIELDS["trials"]
    within = [
        {f"{path}.{e}": {"$gte": f - FORMULA_RTOL * f, "$lte": f + FORMULA_RTOL * f}}
        for e, f in fractions.items()
    ]
    query = _all([*within, *(_absent(e, space) for e in space if e not in fractions)])
    return query if op == "$eq" else {"$nor": [query]}


def _feasible_test(test: Any, constraints: Sequence[OutcomeConstraint]) -> dict[str, Any]:
    """The query for a filter's test of ``feasible``: results that meet the constraints, or not.

    Args:
        test: The test's operators and operands (``{"$eq": True}``).
        constraints: The campaign's outcome constraints.

    Raises:
        FilterError: for a campaign without constraints, a value that is not true or
            false, or a test a truth does not take (``<``, ``HAS``, ``CONTAINS``).
    """
    if not constraints:
        raise FilterError(
            f"filter: {FEASIBLE}: this campaign has no outcome constraints, so its results "
            "are not told feasible or not; filter on their values (values.<outcome>)"
        )
    _value_tests(FEASIBLE, test, _TRUTH_TESTS, "true or false")
    truths = _truths(test)
    if len(truths) != 1:  # every result, or none: IS KNOWN, IS UNKNOWN, "= TRUE AND = FALSE"
        return {"_id": {"$exists": bool(truths)}}
    return _feasible_query(constraints, truths.pop())


def _truths(test: Any) -> set[bool]:
    """Which of true and false ``test`` (on a value always known) accepts."""
    accepted = {True, False}
    for op, operand in test.items():
        if op == "$not":
            accepted &= {True, False} - _truths(operand)
        elif op == "$exists" or operand is None:  # IS KNOWN, IS UNKNOWN
            known = bool(operand) if op == "$exists" else op == "$ne"
            accepted &= {True, False} if known else set()
        else:
            truth = _truth(operand)
            accepted &= {truth} if op == "$eq" else {not truth}
    return accepted


def _truth(operand: Any) -> bool:
    """A filter's true or false: OPTIMADE's TRUE and FALSE, or in lower case.

    The grammar reads a lower-case ``true`` as a name, which the transformer turns into
    that name's text: ``"true"`` (quoted) reads the same.

    Raises:
        FilterError: for anything else (``1``, ``"yes"``).
    """
    if isinstance(operand, bool):
        return operand
    if operand in ("true", "false"):
        return bool(operand == "true")
    raise FilterError(
        f"filter: {FEASIBLE}: {operand!r} is not true or false "
        f"(write {FEASIBLE} = true or {FEASIBLE} = false)"
    )


def _feasible_query(constraints: Sequence[OutcomeConstraint], truth: bool) -> dict[str, Any]:
    """Results that meet every constraint (``truth``), or fail one, as the listing tells."""
    clauses: list[dict[str, Any]] = []
    for constraint in constraints:
        low, high = _accepted(constraint)
        if truth:
            within = {op: b for op, b in (("$gte", low), ("$lte", high)) if b is not None}
            clauses.append(_outcome_query("values", constraint.name, within))
        else:
            for op, bound in (("$lt", low), ("$gt", high)):
                if bound is not None:
                    clauses.append(_outcome_query("values", constraint.name, {op: bound}))
    return {"$and": clauses} if truth else {"$or": clauses}


def _accepted(constraint: OutcomeConstraint) -> tuple[float | None, float | None]:
    """The least and greatest values ``constraint.satisfied`` accepts (None: no bound).

    Past its bounds by a relative :data:`~discovery.domain.BOUND_TOLERANCE`: a value
    converted from another unit carries float noise, and counts as on its bound.
    """
    low, high = constraint.lower, constraint.upper
    return (
        None if low is None else _edge(constraint, low, -math.inf),
        None if high is None else _edge(constraint, high, math.inf),
    )


def _edge(constraint: OutcomeConstraint, bound: float, outward: float) -> float:
    """The last float from ``bound`` towards ``outward`` that the constraint accepts.

    Estimated from the tolerance, then settled by single steps on ``satisfied`` itself,
    so that the query and the listing's ``feasible`` agree to the last bit.
    """
    edge = bound + math.copysign(abs(bound) * BOUND_TOLERANCE, outward)
    while not constraint.satisfied(edge):
        edge = math.nextafter(edge, bound)
    while constraint.satisfied(step := math.nextafter(edge, outward)):
        edge = step
    return edge


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
    op, n = _size(name, node["$size"])
    op = _FLIP[op] if negated else op
    if name in counts:
        return {counts[name]: {op: n}}
    return _entries(field, op, n)


def _size(name: str, size: Any) -> tuple[str, int]:
    """A ``LENGTH`` test's comparison and count (``2``, ``{"$gte": 2}``).

    Raises:
        FilterError: for a length that is not a count (negative, or past 64 bits).
    """
    op, n = next(iter(size.items())) if isinstance(size, dict) else ("$eq", size)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < 2**63:
        raise FilterError(f"filter: {name} LENGTH: {n!r} is not a count (0 to 2**63-1)")
    return op, n


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

#: Kinds that are text, which CONTAINS, STARTS and ENDS take (a pattern of a DOI or key is
#: compared as written, in lower case: only whole DOIs have spellings to read).
_TEXTS = frozenset({"text", "element", "doi", "paper"})


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
        if "$regex" in node and kind not in _TEXTS:
            raise FilterError(f"filter: {name} is not text: CONTAINS, STARTS and ENDS do not apply")
        if kind in UNORDERED and (ordering := next((op for op in node if op in _ORDERINGS), "")):
            raise FilterError(
                f"filter: {name} has no order: {_ORDERINGS[ordering]} does not apply; use = or !="
            )
        typed = {
            op: v if op in _NOT_VALUES else _typed(name, v, resource, kind)
            for op, v in node.items()
        }
        return _to_stored_milliseconds(typed) if kind == "time" else typed
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
    OPTIMADE's alphabetical order, and ``!=`` excludes exactly what ``=`` selects. It is
    read as materials are written (:func:`literature.formulas.read_formula`), so a filter
    for the way a material was written finds it: ``STO`` is SrTiO3, ``MgSO4·7H2O`` the
    hydrate written out (pymatgen alone reads ``MgSO4`` and ``O7``... as one formula).

    Args:
        name: The field, for messages.
        value: The filter's operand.
        whole: Whether formulas are stored canonically, in whole numbers where they fit
            (materials and records: Fe0.5O0.75 is Fe2O3, La1.85Sr0.15CuO4 Cu20La37O80Sr3).

    Raises:
        FilterError: for an operand that is not a formula of known elements, or one that
            writes may not take either (``YBCO``, whose oxygen is open; ``Fe(III)2O3``).
    """
    return alphabetical_formula(_formula_composition(name, value, whole))


def _formula_composition(name: str, value: Any, whole: bool) -> Composition:
    """A filter's formula operand read as writes read it (see :func:`_formula`).

    Args:
        name: The field, for messages.
        value: The filter's operand.
        whole: Canonical, in whole numbers where they fit (see :func:`_formula`).

    Raises:
        FilterError: for an operand that is not a formula of known elements, or one that
            writes may not take either (``YBCO``, whose oxygen is open; ``Fe(III)2O3``).
    """
    if not isinstance(value, str):
        raise FilterError(f"filter: {name}: {value!r} is not a string")
    try:
        composition = _composition_read(value, whole)
    except ValueError as error:  # "formula: 'YBCO' is the abbreviation of ..."
        raise FilterError(f"filter: {name}: {str(error).removeprefix('formula: ')}") from None
    if composition is None:
        unknown = [s for s in _SYMBOL.findall(value) if not _element_or_variable(s)]
        if value[:1].isupper() and unknown:  # a formula, of a symbol no element has
            raise FilterError(f"filter: {name}: {unknown[0]!r} in {value!r} is not an element")
        if value[:1].isupper() and _VARIABLE_AMOUNT.search(value):  # a formula's start
            raise FilterError(
                f"filter: {name}: {value!r} has an amount that is a variable (x, y, z, δ), "
                'which no stored formula has: write the amounts ("La1.85Sr0.15CuO4")'
            )
        raise FilterError(
            f"filter: {name}: {value!r} is not a chemical formula (element symbols are "
            'case-sensitive: "MgB2")'
        )
    return composition


#: An amount written as a variable: "La2-xSrxCuO4", "YBa2Cu3O7-δ", "Fe1+yTe". Not the y
#: of Dy, the one element symbol with a lower-case letter among x, y, z.
_VARIABLE_AMOUNT = re.compile(
    r"[-+]\s*[xyzδ](?![a-z])|(?<=[A-Za-z\d])[xzδ](?![a-z])|(?<!D)y(?![a-z])"
)


def _canonical(text: str, whole: bool) -> str | None:
    """``text`` read as a formula is written, alphabetical; None where pymatgen cannot read it.

    Args:
        text: The formula.
        whole: Canonical, in whole numbers where they fit (see :func:`_formula`).

    Raises:
        ValueError: from :func:`~literature.formulas.read_formula`, naming ``formula``,
            for text writes refuse (``YBCO``, ``Fe(III)2O3``, ``D2O``).
    """
    composition = _composition_read(text, whole)
    return None if composition is None else alphabetical_formula(composition)


def _composition_read(text: str, whole: bool) -> Composition | None:
    """``text`` read as a formula is written; None where pymatgen cannot read it as one.

    Args:
        text: The formula.
        whole: Canonical, in whole numbers where they fit (see :func:`_formula`).

    Raises:
        ValueError: from :func:`~literature.formulas.read_formula`, for text writes refuse;
            ``formula: ...`` for one that gives an element the amount 0 (``Fe0O3``).
    """
    written = read_formula(text)
    try:
        composition = Composition(written)
        if whole:  # as stored: Fe0.5O0.75 is Fe2O3, a 1e-4 dopant stays
            composition = canonical_composition(composition)
    except Exception:  # pymatgen raises many kinds on text that is not a formula
        return None
    if not composition.valid or composition.num_atoms <= 0:
        return None
    named = {symbol for symbol in _SYMBOL.findall(written) if Element.is_valid_symbol(symbol)}
    dropped = sorted(named - {element.symbol for element in composition.elements})
    if dropped:  # pymatgen drops an element of amount 0: Fe0O3 would read as O2
        raise ValueError(f"formula: {text!r} gives {dropped[0]} the amount 0")
    return composition


#: An element symbol as a formula writes it (a capital, then maybe a small letter).
_SYMBOL = re.compile(r"[A-Z][a-z]?")


def _element_or_variable(symbol: str) -> bool:
    """Whether ``symbol`` is an element's, or one's with a variable amount (``Kx``)."""
    if Element.is_valid_symbol(symbol):
        return True
    return symbol[1:] in ("x", "y", "z") and Element.is_valid_symbol(symbol[:1])


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
    if kind == "time":
        return _time(name, value)
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
    if kind == "doi":  # a doi.org link or doi: reads as the DOI, as `papers --doi` does
        return doi_text(value)
    if kind == "paper":  # a key, or a DOI however written: its paper's key
        return _paper_operand(name, value)
    return value


def _paper_operand(name: str, value: str) -> str:
    """A paper key operand as stored; a hash's start (the table's) is resolved later.

    Raises:
        FilterError: naming the field, for a text that can be no paper's key.
    """
    key = paper_key(value)
    if HASH_DIGITS.fullmatch(key):
        key = f"sha256:{key}"  # the table's hex digits, copied without their prefix
    if key.startswith("doi:10.") or _PAPER_HASH.fullmatch(key):
        return key
    raise FilterError(
        f"filter: {name}: {value!r} is no paper's key; write its key (sha256:<hash>, or "
        "the first 8 or more of its hex digits, as the papers table shows them) or its DOI"
    )


#: A file key, or a start of one long enough to name its paper (8 hex digits or more).
_PAPER_HASH = re.compile(r"sha256:[0-9a-f]{8,64}")
#: A start of a file's hash copied without its ``sha256:`` (the papers table's 12 digits).
HASH_DIGITS = re.compile(r"[0-9a-f]{8,63}")


def _to_stored_milliseconds(node: dict[str, Any]) -> dict[str, Any]:
    """Time comparisons that hold as written on times stored to the millisecond.

    BSON keeps whole milliseconds and drops the rest of a time sent to it, so a filter
    time ``t`` between two milliseconds (``m < t < m + 1 ms``) would be compared as ``m``:
    ``< t`` and ``>= t`` compare with ``m + 1 ms`` instead, ``= t`` holds for no stored
    time and ``!= t`` for every one, so ``t`` leaves ``HAS ANY``'s list (``> t`` and
    ``<= t`` hold as ``m`` answers them).
    """
    compared: dict[str, Any] = {}
    for op, value in node.items():
        if isinstance(value, list):  # HAS ANY, NOT ... HAS ANY: only times a stored one can be
            value = [v for v in value if not _below_milliseconds(v)]
        elif _below_milliseconds(value) and op in ("$lt", "$gte"):
            try:
                value += timedelta(microseconds=1000 - value.microsecond % 1000)
            except OverflowError:  # past 9999-12-31T23:59:59.999: < holds for all, >= for none
                op, value = ("$lte" if op == "$lt" else "$gt"), datetime.max
        elif _below_milliseconds(value) and op in ("$eq", "$ne"):
            op, value = ("$in" if op == "$eq" else "$nin"), []
        compared[op] = value
    return compared


def _below_milliseconds(value: Any) -> bool:
    """Whether ``value`` is a time with a part finer than a millisecond."""
    return isinstance(value, datetime) and value.microsecond % 1000 != 0


def _time(name: str, value: Any) -> datetime:
    """An ISO 8601 date or time as times are stored: UTC, without an offset.

    A time without an offset is UTC, as every stored time is; a date is its midnight, so
    ``received_at >= "2026-12-07" AND received_at < "2026-12-08"`` is one day's results.

    Raises:
        FilterError: naming the field, for an operand that is no ISO 8601 date or time.
    """
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        if moment is not None and moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):  # OverflowError: an offset past year 1 or 9999
        moment = None
    if moment is None:
        raise FilterError(
            f"filter: {name}: {value!r} is not a time; write an ISO 8601 date or time in "
            'double quotes, UTC unless an offset says: "2026-12-07", "2026-12-07T09:30:00Z"'
        )
    return moment
