"""Normalise entity mentions: material names to formulas, value mentions to quantities.

NER finds mentions as written in papers, often mangled by PDF extraction: formulas
with their subscripts split off (``"Cd 2 Re 2 O 7"``), Unicode minus signs and
subscripts, Elsevier glyph swaps (``"À"`` for a minus, ``"¼"`` for ``=``, ``":"`` for a
decimal point), doping variables whose values sit elsewhere in the sentence. This
module turns them into comparable values:

* :func:`normalize_material` reads one material mention into a :class:`MaterialName`:
  a formula string and element amounts when the composition is determined, the
  doping variables it used, and whether the mention names a class of materials.
* :func:`resolve_doping` pairs bare doping mentions (``"x = 0.10"``, ``"0.15"``) with
  the formula they refer to, within one paragraph.
* :func:`parse_quantity` reads a value mention (``"exceeds 45K"``, ``"1.5 kbar"``,
  ``"38.5(2) K"``) into a :class:`QuantityValue` in a canonical unit, using pint.

Conventions chosen here:

* ``formula`` keeps the author's element order with groups and hydrates flattened
  (``Ba(Fe0.9Co0.1)2As2`` -> ``BaFe1.8Co0.2As2``); it always parses with pymatgen's
  ``Composition``. :attr:`MaterialName.reduced_formula` gives pymatgen's canonical form.
* Oxygen/charge deficiency ``δ`` without a value, in the mention or the paragraph, is
  taken as its nominal ``0`` (``YBa2Cu3O7−δ`` -> ``YBa2Cu3O7``): ``variables`` records
  ``{"δ": 0.0}`` and ``assumed`` names it, so a caller that needs exact stoichiometry
  can refuse it. A value the paragraph states ("with δ = 0.4") wins: ``YBa2Cu3O6.6``.
  Other variables without a value (``x``, ``y``, ``z``) leave ``formula`` as ``None``
  and are listed in ``unresolved``.
* Abbreviations resolve only from a small documented table (``YBCO``, ``LSCO``,
  ``Bi-2212``, ``Hg-1201`` ... and ``R-123`` for a rare earth R); others stay names.
  Doping in an abbreviation stays a variable: ``"LSCO"`` alone has no formula.
* A dopant named beside the formula or abbreviation but absent from it
  (``"F-doped LaFeAsO"``, ``"Zn-substituted YBCO"``, ``"Zn-SLCO"``) leaves the amount
  unknown: no formula, not the parent's; its elements are the parent's and the dopant.
  So does "doped" before a formula of whole amounts (``"hole-doped La2CuO4"``,
  ``"optimally doped YBCO"``, ``"underdoped Bi2212"``): the parent's formula, not the
  doped material's. ``"undoped La2CuO4"`` is the parent, and a formula that writes its
  doping (``"underdoped YBa2Cu3O6.6"``) keeps it.
* A site symbol given its elements is never one of them: given one it is put into the
  formula (``"RuSr2RCu2O8 (R = Eu)"`` -> ``RuSr2EuCu2O8``); given several
  (``"M-1222 (M = Nb and Ta)"``) the mention names a family, a class; a label it cannot
  be put into (``"RE-1222 (RE = Eu)"``) stays a name without a formula.
  :func:`variables_only` tells a mention that only gives values (``"x = 0.05 to
  x = 0.44"``, ``"R = Gd"``) and names no material.
* A class is a mention with a class marker after any formula (``"MgB2-type"``,
  ``"Fe-based superconductors"``, ``"La1111 series"``), a class noun and no formula
  (``"cuprates"``, ``"Co oxide"``), or a formula with site symbols (``"AFe2As2"``,
  ``"LnOFeAs"``). Classes get no formula.
* One element with a whole count over 12 (``"S50"``, ``"N15"``) is a sample label, not a
  formula, unless it is a fullerene or borospherene (``C60``, ``C70``, ``B40``); a number
  with a unit after a formula (``"RbV3Sb5 0.92 K"``) is a value, never its amount.
* Quantities: a list (``"4.2 and 4.6 K"``) gives its first value; a bare ``"C"`` after
  a number is °C, never coulomb; ``"ambient pressure"`` is 1 atm when a pressure is
  asked for. A unit written but unknown to pint (``"0.5 Tesla"``, ``"3 emu"``) is not
  the default unit; a lower-case word (``"39 in MgB2"``) is prose, not a unit, unless it
  is a unit word pint does not know (``emu``, ``sccm``, ``oe``). A power split off a
  length unit (``"0.1 emu/cm 3"``, ``"cm^3"``, ``"cm -3"``), or a negative power split off
  any unit (``"5 cm 2 s -1"``, ``"mol L -1"``), belongs to the unit, so it is never read
  as a value (``"3 K"``, ``"-1 K"``). Pressure units are read in any case where that is
  unambiguous (``"8.9 Gpa"``, ``"17 Kbar"``, ``"1 ATM"``; not ``mbar``/``Mbar``). A
  mention without a qualifier takes one from the words just before it in its sentence
  (``parse_quantity(..., before=...)``: "Tc exceeds [45 K]" is ``>``, "Tc>[40 K]" too;
  "superconducts below [7.2 K]" is the Tc itself; "not superconducting down to [2 K]" or
  "no drop in resistivity down to [2 K]" is ``<``, the Tc below what the search reached;
  a comma may stand between the Tc and the comparison, "the highest Tc, above [11 K]"
  is ``>``). A mention whose unit the sentence goes on dividing (``after=``: "dTc/dP
  of [0.5 K]/GPa", "[2 K] min-1") is a rate, not a quantity of the kind asked. A
  pressure range "from ambient to 3 GPa" starts at 1 atm. Units are pint's, in the
  registry that :mod:`discovery.units` shares (``eV/atom`` and ``eV/fu`` are per atom,
  per formula unit).
* A formula is read whole or not at all: where an element or an amount beside the part
  that reads does not (``"Na z' CoO 2"``, ``"Sr 2 CuO 2+ Cl 1.2"``), the mention has no
  formula, never the smaller one (CoO2, Cl1.2). A refined amount with its uncertainty
  is its amount (``"Na 0.31(3) CoO 2"``: Na0.31CoO2). Deuterium and tritium, which
  pymatgen reads as hydrogen, are no elements here (as in
  :func:`discovery.compositions.misread_formula`: D3S is not H3S), so
  ``"Na0.3CoO2·1.3D2O"`` has no formula either.
* Nothing here raises on odd text: what cannot be read gives ``formula=None`` or
  ``None``.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pymatgen.core import Composition, Element

# The project's one pint registry, built on first use; it knows "eV/atom" and "eV/fu".
# Units are only read here, never defined: aliases and foreign words stay in the tables
# below, so discovery's conversions are the same whether or not a paper was read.
from discovery.compositions import ISOTOPES, adduct_units, written_out
from discovery.units import registry
from literature.records import LOWER_BOUNDS, UPPER_BOUNDS

__all__ = [
    "MaterialName",
    "QuantityValue",
    "normalize_material",
    "parse_quantity",
    "resolve_doping",
    "variables_only",
]

# --------------------------------------------------------------------------------------
# Text clean-up shared by both parsers
# --------------------------------------------------------------------------------------

# Glyphs that PDF extraction (notably of Elsevier papers) puts in place of the real ones.
_GLYPHS = str.maketrans(
    {
        "À": "-",  # minus
        "¼": "=",
        "$": "~",  # approximately
        "\uf02d": "-",  # Symbol-font minus
        "\uf064": "δ",  # Symbol-font delta
        "\uf0b1": "±",
        "\uf0bb": "~",
        "º": "°",  # masculine ordinal written for a degree sign
    }
)
_DASHES = str.maketrans(dict.fromkeys("−–—‐‑‒﹣－", "-"))
_DOTS = str.maketrans(dict.fromkeys("•·∙⋅", "·"))
_APPROX = str.maketrans(dict.fromkeys("∼≈≃≅", "~"))


def _clean(text: str) -> str:
    """Undo glyph swaps, fold Unicode (subscripts, ℃, fullwidth) and unify dashes."""
    text = unicodedata.normalize("NFKC", text.translate(_GLYPHS))
    return text.translate(_DASHES).translate(_DOTS).translate(_APPROX)


_NUMBER = r"\d+(?:\.\d+)?|\.\d+"
_NUMBER_RE = re.compile(_NUMBER)

# --------------------------------------------------------------------------------------
# Materials: data type
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaterialName:
    """A material mention, read.

    Attributes:
        text: The mention as written.
        name: Cleaned display name: the formula as written (``"LaFeAsO1-xHx"``), an
            abbreviation (``"YBCO"``), or the cleaned mention (``"iron-based pnictide"``).
        formula: Composition in the author's element order with all variables
            substituted (``"LaFeAsO0.9H0.1"``), or ``None`` when it is not determined.
        composition: Element symbol -> amount per formula unit, or ``None``.
        variables: Values of doping variables that were used or given
            (``{"x": 0.1}``); ``{"δ": 0.0}`` when δ was assumed nominal.
        is_class: ``True`` for a class or family of materials (``"cuprate"``,
            ``"MgB2-type"``, ``"AFe2As2"``) rather than one material.
        template: The formula with its variables (``"La2-xSrxCuO4"``) when the mention
            had one, for resolving doping later.
        unresolved: Variables without a value, and ``"site"`` for a mixed site with no
            amounts (``"(Ba,K)Fe2As2"``); non-empty means ``formula`` is ``None``.
        assumed: Variables set to a nominal value by convention (``("δ",)``).
        elements: Element symbols of the material, sorted, whenever they are known, even
            without the amounts: the composition's; a template's (``"LSCO"``: Cu, La, O,
            Sr); a named abbreviation's (``"BSCCO"``); a parent's and its named dopant's
            (``"Zn-substituted YBCO"``, ``"Zn-SLCO"``). Empty for a class, a site symbol
            (``"AFe2As2"``) or a doping whose element is not named (``"hole-doped
            La2CuO4"``).
    """

    text: str
    name: str
    formula: str | None = None
    composition: dict[str, float] | None = field(default=None, hash=False)
    variables: dict[str, float] = field(default_factory=dict, hash=False)
    is_class: bool = False
    template: str | None = None
    unresolved: tuple[str, ...] = ()
    assumed: tuple[str, ...] = ()
    elements: tuple[str, ...] = ()

    @property
    def reduced_formula(self) -> str | None:
        """Reduced formula as pymatgen writes it (electronegativity order), or ``None``."""
        return None if self.formula is None else Composition(self.formula).reduced_formula

    def with_variables(self, values: Mapping[str, float], text: str | None = None) -> MaterialName:
        """This material's template evaluated with ``values`` (they override known ones).

        Args:
            values: Variable name -> value, e.g. ``{"x": 0.15}``.
            text: Mention to record as ``text``; defaults to this one's.

        Returns:
            A new :class:`MaterialName`; itself (with ``text``) when it has no template.
        """
        text = self.text if text is None else text
        if self.template is None:
            return replace(self, text=text)
        given = {k: v for k, v in self.variables.items() if k not in self.assumed}
        return _evaluated(text, self.name, self.template, {**given, **values})


# --------------------------------------------------------------------------------------
# Materials: formula grammar
# --------------------------------------------------------------------------------------
#
#   formula := part ("·" part)*            hydrates: Na0.3CoO2·1.3H2O
#   part    := [linear] unit+              a leading coefficient only after "·"
#   unit    := (ELEMENT | PLACEHOLDER | "(" inner ")" | "[" inner "]") [linear]
#   inner   := unit+ ("," unit+)*          (Ba,K) is a mixed site
#   linear  := term (("+" | "-") term)*    1-x, 7-δ, 2-x-y, 2x
#   term    := NUMBER [VAR] | VAR

_ELEMENTS = frozenset(e.symbol for e in Element)
# Site symbols of families of compounds: AFe2As2, LnOFeAs, REBa2Cu3O7, CeMIn5, BiCh2.
_PLACEHOLDERS = frozenset({"A", "M", "R", "RE", "Ln", "X", "Q", "Ch", "Pn", "TM"})
_SYMBOLS = _ELEMENTS | _PLACEHOLDERS
_VARIABLES = frozenset("xyzδ")
_MAX_AMOUNT = 100.0  # "Bi2212", "Y123", "La214" are phase codes, not stoichiometry
_MAX_DEPTH = 4

_Linear = tuple[float, tuple[tuple[str, float], ...]]  # constant, ((variable, coefficient), ...)


@dataclass(frozen=True)
class _Node:
    """An element (``symbol``) or a bracketed group (``children``) with its amount."""

    amount: _Linear
    symbol: str | None = None
    children: tuple[_Node, ...] = ()
    mixed: bool = False  # comma-separated members without amounts: (Ba,K)


_ONE: _Linear = (1.0, ())


class _Parser:
    """Recursive-descent parser over a compact formula string; ``None`` on failure."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def parse(self) -> tuple[_Node, ...] | None:
        parts: list[_Node] = []
        first = True
        while True:
            part = self._part(allow_coefficient=not first)
            if part is None:
                return None
            parts.append(part)
            first = False
            if self.i < len(self.s) and self.s[self.i] == "·":
                self.i += 1
                continue
            break
        return tuple(parts) if self.i == len(self.s) else None

    def _part(self, allow_coefficient: bool) -> _Node | None:
        coefficient = self._linear() if allow_coefficient else None
        units = self._units(depth=0)
        if not units:
            return None
        return _Node(amount=coefficient or _ONE, children=tuple(units))

    def _units(self, depth: int) -> list[_Node]:
        units: list[_Node] = []
        while self.i < len(self.s):
            unit = self._unit(depth)
            if unit is None:
                break
            units.append(unit)
        return units

    def _unit(self, depth: int) -> _Node | None:
        start = self.i
        char = self.s[self.i]
        if char in "([" and depth < _MAX_DEPTH:
            group = self._group(depth)
            if group is None:
                self.i = start
            return group
        symbol = self._symbol()
        if symbol is None:
            return None
        return _Node(amount=self._linear() or _ONE, symbol=symbol)

    def _group(self, depth: int) -> _Node | None:
        close = ")" if self.s[self.i] == "(" else "]"
        self.i += 1
        members: list[list[_Node]] = []
        while True:
            units = self._units(depth + 1)
            if not units:
                return None
            members.append(units)
            if self.i < len(self.s) and self.s[self.i] == ",":
                self.i += 1
                continue
            break
        if self.i >= len(self.s) or self.s[self.i] != close:
            return None
        self.i += 1
        mixed = len(members) > 1 and any(
            u.symbol is not None and u.amount == _ONE for m in members for u in m
        )
        children = tuple(u for m in members for u in m)
        return _Node(amount=self._linear() or _ONE, children=children, mixed=mixed)

    def _symbol(self) -> str | None:
        # Two letters first: "Co" is cobalt, "Cs" caesium; "Hx" is H with amount x.
        for size in (2, 1):
            candidate = self.s[self.i : self.i + size]
            if len(candidate) == size and (candidate in _ELEMENTS or candidate in _PLACEHOLDERS):
                self.i += size
                return candidate
        return None

    def _linear(self) -> _Linear | None:
        start = self.i
        first = self._term(after_sign=False)
        if first is None:
            return None
        constant, terms = self._accumulate(0.0, [], first[0], first[1], 1.0)
        while self.i < len(self.s) and self.s[self.i] in "+-":
            mark = self.i
            sign = 1.0 if self.s[self.i] == "+" else -1.0
            self.i += 1
            term = self._term(after_sign=True)
            if term is None:
                self.i = mark
                break
            constant, terms = self._accumulate(constant, terms, term[0], term[1], sign)
        if not terms and constant <= 0.0:
            self.i = start
            return None
        return constant, tuple(terms)

    @staticmethod
    def _accumulate(
        constant: float, terms: list[tuple[str, float]], value: float, var: str | None, sign: float
    ) -> tuple[float, list[tuple[str, float]]]:
        if var is None:
            return constant + sign * value, terms
        return constant, [*terms, (var, sign * value)]

    def _term(self, after_sign: bool) -> tuple[float, str | None] | None:
        match = _NUMBER_RE.match(self.s, self.i)
        value = 1.0
        if match:
            digits = match.group()
            value = float(digits)
            # "06" and a literal 0 are extraction errors (CuO6 read as Cu06), not amounts.
            leading_zero = digits.startswith("0") and not digits.startswith("0.")
            if leading_zero or value == 0 or value >= _MAX_AMOUNT:
                return None
            self.i = match.end()
        var = self._variable(after_sign)
        if match is None and var is None:
            return None
        return value, var

    def _variable(self, after_sign: bool) -> str | None:
        char = self.s[self.i : self.i + 1]
        if char and char in _VARIABLES:
            self.i += 1
            return char
        # "1-d" is how some PDFs render 1-δ; a bare "d" elsewhere is not a variable.
        if char == "d" and after_sign and self.s[self.i - 1] in "+-":
            self.i += 1
            return "δ"
        return None


def _parse_formula(compact: str) -> tuple[_Node, ...] | None:
    """Parse a compact formula (no spaces) into nodes, or ``None``."""
    if not compact or not (compact[0].isupper() or compact[0] in "(["):
        return None
    return _Parser(compact).parse()


def _walk(nodes: Sequence[_Node]) -> Iterator[_Node]:
    for node in nodes:
        yield node
        yield from _walk(node.children)


def _variables_of(nodes: Sequence[_Node]) -> set[str]:
    return {var for node in _walk(nodes) for var, _ in node.amount[1]}


def _is_family(nodes: Sequence[_Node]) -> bool:
    return any(node.symbol in _PLACEHOLDERS for node in _walk(nodes))


def _elements_of(nodes: Sequence[_Node]) -> tuple[str, ...]:
    """The element symbols a formula names, sorted; none for a family (``AFe2As2``)."""
    if _is_family(nodes):
        return ()
    return tuple(sorted({node.symbol for node in _walk(nodes) if node.symbol is not None}))


def _evaluate_amount(amount: _Linear, values: Mapping[str, float]) -> float | None:
    constant, terms = amount
    total = constant
    for var, coefficient in terms:
        if var not in values:
            return None
        total += coefficient * values[var]
    return total


def _accumulate_elements(
    nodes: Sequence[_Node], values: Mapping[str, float], factor: float, out: dict[str, float]
) -> bool:
    """Add element amounts of ``nodes`` times ``factor`` to ``out``; ``False`` if undefined."""
    for node in nodes:
        amount = _evaluate_amount(node.amount, values)
        if amount is None or amount < -1e-9 or node.mixed:
            return False
        if node.symbol is not None:
            out[node.symbol] = out.get(node.symbol, 0.0) + factor * amount
        elif not _accumulate_elements(node.children, values, factor * amount, out):
            return False
    return True


def _format_amount(amount: float) -> str:
    if abs(amount - 1.0) < 1e-9:
        return ""
    return f"{amount:.6f}".rstrip("0").rstrip(".")


def _composition(
    nodes: Sequence[_Node], values: Mapping[str, float]
) -> tuple[str, dict[str, float]] | None:
    """Formula string and element amounts, or ``None`` if undetermined or invalid."""
    amounts: dict[str, float] = {}
    if _is_family(nodes) or not _accumulate_elements(nodes, values, 1.0, amounts):
        return None
    amounts = {el: round(a, 6) for el, a in amounts.items() if round(a, 6) > 0}
    if not amounts:
        return None
    formula = "".join(el + _format_amount(a) for el, a in amounts.items())
    try:  # a guard, not a path: every formula built here should parse
        Composition(formula)
    except Exception:
        return None
    return formula, amounts


def _evaluated(text: str, name: str, template: str, given: Mapping[str, float]) -> MaterialName:
    """A :class:`MaterialName` for ``template`` with variable values ``given``."""
    nodes = _parse_formula(template)
    if nodes is None:
        return MaterialName(text=text, name=name, variables=dict(given))
    needed = _variables_of(nodes)
    values = {k: v for k, v in given.items() if k in needed}
    assumed = tuple(sorted(v for v in needed - values.keys() if v == "δ"))
    values.update(dict.fromkeys(assumed, 0.0))
    unresolved = sorted(needed - values.keys())
    if any(node.mixed for node in _walk(nodes)):
        unresolved.append("site")
    family = _is_family(nodes)
    result = None if unresolved else _composition(nodes, values)
    elements = tuple(sorted(result[1])) if result else _elements_of(nodes)
    return MaterialName(
        text=text,
        name=name,
        formula=result[0] if result else None,
        composition=result[1] if result else None,
        variables={**dict(given), **values},
        is_class=family,
        template=template,
        unresolved=tuple(unresolved),
        assumed=assumed,
        elements=elements,
    )


# --------------------------------------------------------------------------------------
# Materials: finding the formula inside a mention
# --------------------------------------------------------------------------------------

# A variable assignment: "x = 0.1", "x≈0.35", "Sr x = 0.14", "1-y=0.80", "x = 1/8". A
# second value ("x = 0.05 and 0.055", "x = 0.1-0.2") makes it ambiguous: recorded, not
# used. A value with a unit ("d = 3 nm", "x = 7.5 %") is not a composition.
_ASSIGNMENT = re.compile(
    rf"(?:(?<![\w)])[A-Z][a-z]?\s+)?(?:(?<![\d.])(?P<minuend>\d+(?:\.\d+)?)\s*-\s*)?"
    rf"(?<![\w])(?P<var>[a-zδ])(?![\w(])\s*(?P<op>=|~)\s*(?P<value>\d+/[1-9]\d*|{_NUMBER})"
    rf"(?!\d|\.\d|\s*(?:[nμµmc]?m|K|[MG]Pa|T|Å|%|°)(?![A-Za-z]))"
    rf"(?P<more>\s*(?:,|and|or|-|to|~)\s*(?:{_NUMBER}))?"
)
_FORMULA_CHARS = re.compile(r"[A-Za-z0-9()\[\]+\-.,·δ]+")  # "/" is not one
_WORDY = re.compile(r"[a-z]{3}")  # three lower-case letters: a word, never a formula
# YBCO, PCCO, BSCCO, "(PCO)": abbreviations, not Y-B-C-O.
_ACRONYM = re.compile(r"[A-Z]{4}|\([A-Z]{3,}\)")
# Polytype and phase prefixes: 2H-NbSe2, 1T-TaS2, β-..., "g-Ti3O5" (γ lost in extraction).
_PREFIX = re.compile(r"(?<!\S)(?:\d[A-Z][a-z]?|[a-zα-ω])-(?=[A-Z])")


@dataclass(frozen=True)
class _Span:
    start: int  # character offsets into the cleaned text
    end: int
    compact: str
    nodes: tuple[_Node, ...]


def _assignments(text: str) -> tuple[dict[str, float], list[tuple[int, int]]]:
    """Unambiguous variable values in ``text`` and the spans of all assignments."""
    values: dict[str, float] = {}
    ambiguous: set[str] = set()
    spans: list[tuple[int, int]] = []
    for match in _ASSIGNMENT.finditer(text):
        if _unit_follows(text, match.end("value")):
            continue  # "δ = 0.4 meV" is a gap, not an oxygen deficiency
        spans.append(match.span())
        var = match["var"]
        numerator, _, denominator = match["value"].partition("/")  # "x = 1/8"
        value = _tidy(float(numerator) / float(denominator or 1))
        if match["minuend"]:
            value = _tidy(float(match["minuend"]) - value)
        if match["more"] or (var in values and not math.isclose(values[var], value)):
            ambiguous.add(var)
        values[var] = value
    return {k: v for k, v in values.items() if k not in ambiguous}, spans


def _unit_follows(text: str, pos: int) -> bool:
    """Whether the word at ``text[pos:]`` (after spaces) is a unit pint reads ("meV", "mK").

    :data:`_ASSIGNMENT` refuses the common units itself; this catches the rest, so that
    a value with any unit is never taken for a composition. Only a unit's own symbol
    counts: pint also reads words ("has": hectares), and prose is no unit.
    """
    word = re.match(r"\s*([A-Za-zμµΩÅ]+)", text[pos:])
    if word is None:
        return False
    units = _unit(word[1])
    return units is not None and f"{units:~}" == word[1]


# A site symbol given its elements: "M = Nb and Ta", "(RE = Eu)", "R=Ho-Lu", "A = Cs, Rb
# and K". The symbol stands for each element in turn: it is never one of them.
_MEMBER = r"[A-Z][a-z]?(?![a-z])"
_SITE_ASSIGNMENT = re.compile(
    rf"(?<![\w])(?P<site>{'|'.join(sorted(_PLACEHOLDERS, key=len, reverse=True))})"
    rf"\s*=\s*(?P<members>{_MEMBER}(?:\s*(?:,|-|/|&|\band\b|\bor\b)\s*(?:for\s+)?{_MEMBER})*)"
)

# A list of sites that goes on in words: "R=Y and various rare earths", "Ln = La, etc.".
_LIST_GOES_ON = re.compile(r"\s*(?:,|\band\b|\bor\b|&)\s*\w")


def _site_assignments(text: str) -> tuple[dict[str, tuple[str, ...]], list[tuple[int, int]]]:
    """Site symbols given their elements in ``text`` and the spans that give them.

    A range of elements ("R=Ho-Lu", "R = Pr-Gd") counts as several members whatever
    lies between its ends.

    Returns:
        ``({site: members}, spans)``; only symbols whose members are all elements.
    """
    sites: dict[str, tuple[str, ...]] = {}
    spans: list[tuple[int, int]] = []
    for match in _SITE_ASSIGNMENT.finditer(text):
        members = tuple(re.findall(_MEMBER, match["members"]))
        if not set(members) <= _ELEMENTS:
            continue
        # "R=Ho-Lu", "R=Y and various rare earth elements", "Ln = La, Sm, etc.": more
        ranged = "-" in match["members"] or _LIST_GOES_ON.match(text, match.end())
        sites[match["site"]] = members + (("...",) if ranged else ())
        spans.append(match.span())
    return sites, spans


def _tokens(text: str) -> list[tuple[int, int, str]]:
    """Whitespace tokens of ``text`` with offsets; ``/`` (Ni/Bi, PCO/SrTiO3) is its own."""
    return [(m.start(), m.end(), m.group()) for m in re.finditer(r"/|[^\s/]+", text)]


def _trim(compact: str) -> tuple[int, int]:
    """Offsets that drop edge punctuation and unbalanced brackets from ``compact``."""
    start, end = 0, len(compact)
    while True:
        before = (start, end)
        depth = _depth(compact[start:end])
        last, first = compact[end - 1 : end], compact[start : start + 1]
        if last and (last in ",;:.([" or (last in ")]" and depth < 0)):
            end -= 1
        if first and start < end and (first in ",;:.)]" or (first in "([" and depth > 0)):
            start += 1
        if (start, end) == before:
            return start, end


def _depth(text: str) -> int:
    return sum(text.count(c) for c in "([") - sum(text.count(c) for c in ")]")


def _span_at(
    text: str, run: Sequence[tuple[int, int, str]], i: int, j: int, has_next_digit: bool
) -> _Span | None:
    """The formula made of tokens ``run[i:j]`` joined without spaces, if it is one."""
    joined = "".join(tok for _, _, tok in run[i:j])
    lo, hi = _trim(joined)
    compact = joined[lo:hi]
    if not compact or _ACRONYM.search(compact):
        return None
    # "Cu 3 O 7" cut before "7" must not be read as CuO: an element needs its amount.
    if has_next_digit and re.search(r"[A-Za-z]$", compact) and compact[-1] not in _VARIABLES:
        return None
    nodes = _parse_formula(compact)
    if nodes is None:
        return None
    if _is_family(nodes) and not re.search(r"[\da-z]", compact):
        return None  # "AC", "TMO": acronyms, not site formulas
    if _sample_label(compact):
        return None  # "Sample S50 of Nb3Sn": a label, not fifty sulfur atoms
    start = run[i][0] + min(lo, len(run[i][2]))
    end = run[j - 1][1] - (len(joined) - hi)
    return _Span(start=start, end=end, compact=compact, nodes=nodes)


# One element with a whole count above this is a sample label ("S50", "N15", "A1-S13"),
# never a formula, unless it is a molecule of the element named below. Real one-element
# formulas in papers stop at 12 (N2, O3, P4, As4, S8, Se8, S12, B12: the icosahedron of
# boron carbides and borides); beyond it only cage molecules are common.
_LONE_ELEMENT_MAX = 12
#: Molecular allotropes with more than :data:`_LONE_ELEMENT_MAX` atoms: the fullerenes
#: (C20, the smallest cage, to C98; counts are even; "C60", "C70" in K3C60, Rb3C60) and
#: borospherene B40. Rings such as S18 and S20 exist but are rare beside sample labels
#: written the same way, so they are not listed.
_ALLOTROPES: dict[str, frozenset[int]] = {
    "C": frozenset(range(20, 100, 2)),
    "B": frozenset({40}),
}


def _sample_label(compact: str) -> bool:
    """Whether ``compact`` is one element symbol and a whole count over 12: a label ("S50").

    A sample name ("S50", "N15", "B13") parses as a formula of one element; a count that
    large is no molecule of it unless :data:`_ALLOTROPES` names it (C60, C70, B40).
    """
    label = re.fullmatch(r"(?P<symbol>[A-Z][a-z]?)(?P<count>[1-9]\d*)", compact)
    if label is None or int(label["count"]) <= _LONE_ELEMENT_MAX:
        return False
    return int(label["count"]) not in _ALLOTROPES.get(label["symbol"], frozenset())


def _formula_spans(text: str, max_tokens: int = 24) -> list[_Span]:
    """Every maximal formula in ``text``: longest first within each start, in order."""
    tokens = _tokens(text)
    spans: list[_Span] = []
    run: list[tuple[int, int, str]] = []
    value_end = -1  # where a value read after a formula ends ("0.92 K" after RbV3Sb5)
    for token in [*tokens, (len(text), len(text), "")]:
        if token[0] < value_end:
            continue  # the value's number or unit: no part of any formula
        formulaic = _FORMULA_CHARS.fullmatch(token[2]) and not _WORDY.search(token[2])
        if formulaic and run and (end := _value_after(text, run[-1][2], token[0])) is not None:
            formulaic, value_end = None, end
        if formulaic:
            run.append(token)
            continue
        spans.extend(_spans_in_run(text, run, max_tokens))
        run = []
    return spans


# What a value after a formula is measured in: a temperature, a pressure, an energy.
_VALUE_UNITS = ("K", "GPa", "eV")


def _value_after(text: str, previous: str, start: int) -> int | None:
    """Where the value starting at ``text[start:]`` ends, if it is one and not an amount.

    A formula and a value are both written with spaces ("Cd 2 Re 2 O 7", "RbV3Sb5 0.92
    K"), so a number after a formula token is its amount unless it is a value: a decimal
    number after a token ending in a digit ("Sb5 0.92" is no Sb50.92), or a number with a
    unit of temperature, pressure or energy (K, mK, GPa, kbar, meV). A unit that is also
    an element ("C", "S", "V", "Pa") is the element ("Mo 3 Al 2 C"), but for "K" after
    which the formula does not go on with an amount ("FeSe 8.5 K", not "Ba 0.6 K 0.4").

    Returns:
        The end of the number and its unit, or ``None`` when the number is an amount.
    """
    number = _NUMBER_RE.match(text, start)
    if number is None:
        return None
    if previous[-1:].isdigit() and "." in number.group():
        read = _read_unit(text, number.end())
        return read[1] if read is not None else number.end()
    read = _read_unit(text, number.end())
    if read is None:
        return None
    units, end = read
    written = text[number.end() : end].strip()
    amount_follows = re.match(r"\s*\.?\d", text[end:]) is not None
    if written in _ELEMENTS and (written != "K" or amount_follows):
        return None
    measured = {registry().parse_units(unit).dimensionality for unit in _VALUE_UNITS}
    return end if units.dimensionality in measured else None


def _spans_in_run(text: str, run: Sequence[tuple[int, int, str]], max_tokens: int) -> list[_Span]:
    """Formulas in one run of formula-like tokens, longest first, left to right."""
    # Right to left, so that whether a formula starts at j is known when a span ends there.
    longest: list[tuple[_Span, int] | None] = [None] * (len(run) + 1)
    for i in reversed(range(len(run))):
        if not re.match(r"[,;:.)\]]*[A-Z(\[]", run[i][2]):
            continue  # a formula starts with a capital or a bracket
        for j in range(min(len(run), i + max_tokens), i, -1):
            has_next_digit = j < len(run) and run[j][2][:1].isdigit()
            found = _span_at(text, run, i, j, has_next_digit)
            if found and not _cut_short(run, j, longest[j] is not None):
                longest[i] = (found, j)
                break
    spans: list[_Span] = []
    i = 0
    while i < len(run):
        entry = longest[i]
        if entry is None:
            i += 1
            continue
        spans.append(entry[0])
        i = entry[1]
    return spans


def _cut_short(run: Sequence[tuple[int, int, str]], j: int, formula_at_j: bool) -> bool:
    """Whether a span ending before ``run[j]`` stops inside a formula that failed to parse.

    "Bi 2 Sr 2 Cu0 6" must not give Bi2Sr2: what follows starts like a formula (a
    capital) yet no formula starts there, so the whole mention is corrupt.
    """
    if j >= len(run) or formula_at_j:
        return False
    return run[j][2].lstrip(",;:.)]")[:1].isupper()


# --------------------------------------------------------------------------------------
# Materials: names that are not formulas
# --------------------------------------------------------------------------------------

# A small documented set of abbreviations, matched with "-", ":" and spaces removed
# ("Bi-2212", "Y- 123", "Pr:123"). Doping stays a variable: "LSCO" needs its x.
_ABBREVIATIONS: dict[str, str] = {
    "YBCO": "YBa2Cu3O7-δ",
    "Y124": "YBa2Cu4O8",
    "LSCO": "La2-xSrxCuO4",
    "La214": "La2-xSrxCuO4",
    "LBCO": "La2-xBaxCuO4",
    "LCCO": "La2-xCexCuO4",
    "PCCO": "Pr2-xCexCuO4",
    "NCCO": "Nd2-xCexCuO4",
    "PLCCO": "Pr1-xLaCexCuO4",
    "SLCO": "Sr1-xLaxCuO2",
    "BKBO": "Ba1-xKxBiO3",
    "BSLCO": "Bi2Sr2-xLaxCuO6+δ",
    "Bi2201": "Bi2Sr2CuO6+δ",
    "Bi2212": "Bi2Sr2CaCu2O8+δ",
    "Bi2223": "Bi2Sr2Ca2Cu3O10+δ",
    "Hg1201": "HgBa2CuO4+δ",
    "Hg1212": "HgBa2CaCu2O6+δ",
    "Hg1223": "HgBa2Ca2Cu3O8+δ",
    "Tl2201": "Tl2Ba2CuO6+δ",
    "STO": "SrTiO3",
}
# Abbreviations of a family whose elements are known but not one formula: "BSCCO" is
# Bi2Sr2CaCu2O8+δ or Bi2Sr2Ca2Cu3O10+δ; either way Bi, Sr, Ca, Cu and O.
_ABBREVIATION_ELEMENTS: dict[str, tuple[str, ...]] = {
    "BSCCO": ("Bi", "Ca", "Cu", "O", "Sr"),
    "TBCCO": ("Ba", "Ca", "Cu", "O", "Tl"),
    "HBCCO": ("Ba", "Ca", "Cu", "Hg", "O"),
}
# "Y-123", "Gd123", "Pr:123": RBa2Cu3O7-δ for a rare earth R; "YBCO 6.7" gives O6.7.
_RARE_EARTHS = frozenset(e.symbol for e in Element if e.is_rare_earth and not e.is_actinoid)
# An abbreviation stands alone, or after an element and a hyphen: "Zn-SLCO" is SLCO with Zn.
_ALONE = r"(?:(?<![\w-])|(?<=(?<![\w-])[A-Z]-)|(?<=(?<![\w-])[A-Z][a-z]-))"
_ABBREVIATION = re.compile(
    _ALONE + r"(?P<key>[A-Z]{3,5}|[A-Z][a-z]?[-: ]{0,2}\d{3,4})(?![\w-])"
    r"(?:\s*(?P<oxygen>[67](?:\.\d+)?)(?![\w.]))?"
)


def _from_abbreviation(residual: str) -> tuple[str, str, dict[str, float]] | None:
    """``(name, template, values)`` for a known abbreviation in ``residual``, if any."""
    for match in _ABBREVIATION.finditer(residual):
        key = re.sub(r"[-: ]", "", match["key"])
        rare_earth = key[:-3] if key.endswith("123") and key[:-3] in _RARE_EARTHS else None
        template = _ABBREVIATIONS.get(key)
        if rare_earth or key == "YBCO":
            element = rare_earth or "Y"
            if match["oxygen"]:
                return key, f"{element}Ba2Cu3Oy", {"y": float(match["oxygen"])}
            template = f"{element}Ba2Cu3O7-δ"
        if template is not None:
            return key, template, {}
    return None


def _abbreviation_elements(residual: str) -> tuple[str, tuple[str, ...]] | None:
    """``(name, elements)`` for an abbreviation of :data:`_ABBREVIATION_ELEMENTS`, if any."""
    for match in _ABBREVIATION.finditer(residual):
        key = re.sub(r"[-: ]", "", match["key"])
        if key in _ABBREVIATION_ELEMENTS:
            return key, _ABBREVIATION_ELEMENTS[key]
    return None


_ELEMENT_ALIASES = {"aluminium": "Al", "sulphur": "S", "caesium": "Cs"}
_ANIONS = {
    "oxide": "O",
    "boride": "B",
    "carbide": "C",
    "nitride": "N",
    "hydride": "H",
    "fluoride": "F",
    "chloride": "Cl",
    "bromide": "Br",
    "iodide": "I",
    "sulfide": "S",
    "sulphide": "S",
    "selenide": "Se",
    "telluride": "Te",
    "phosphide": "P",
    "arsenide": "As",
    "silicide": "Si",
    "germanide": "Ge",
    "antimonide": "Sb",
}
_PREFIXES = {
    "mon": 1,
    "mono": 1,
    "di": 2,
    "tri": 3,
    "tetra": 4,
    "penta": 5,
    "hexa": 6,
    "hepta": 7,
    "octa": 8,
    "deca": 10,
    "dodeca": 12,
}
_PREFIX_WORDS = "|".join(sorted(_PREFIXES, key=len, reverse=True))
_CHEMICAL_NAME = re.compile(
    rf"\b(?P<cpre>{_PREFIX_WORDS})?(?P<cation>[a-z]+)\s+"
    rf"(?P<apre>{_PREFIX_WORDS})(?P<anion>{'|'.join(_ANIONS)})\b"
)
# A class marker after the formula (or with none): "MgB2-type", "Fe-based", "La1111 series".
_CLASS_MARKER = re.compile(
    r"(?:-\s*|\s)(?:type|based|like)\b|\b(?:family|families|series|systems?|class)\b"
)
_CLASS_NOUN = re.compile(
    r"cuprate|pnictide|chalcogenide|pyrochlore|perovskite|ruthenate|cobaltate|osmate|fermion"
    r"|oxyhydrate|oxychloride|oxyhalide|superhydrate|\boxides?\b|\bhydrates?\b|\bhydrated\b"
    r"|\bcompounds?\b|\bsuperconductors\b|\bmaterials\b|\borganics?\b|\bcarbides\b|\bborides\b"
    r"|\bnitrides\b|\bhydrides\b|borocarbide|dicalcogenide|dichalcogenide"
)
# Family codes: "1111", "122", "R-123", "RE:123", "M-1212" (a site symbol, not an element).
_PHASE_CODE = re.compile(r"^(?:(?:R|RE|M|Ln|A|TM)\s*[-:]?\s*)?\d{2,4}$")


@functools.cache
def _element_names() -> dict[str, str]:
    names = {e.long_name.lower(): e.symbol for e in Element}
    return {**names, **_ELEMENT_ALIASES}


def element_symbol(word: str) -> str | None:
    """The symbol of the element that one word names, by its symbol or its name.

    A symbol is written with its case ("Nb", "W"; "in" is no symbol); a name in any case,
    British spellings too, and a line break a PDF left in it closed ("Tantalum",
    "tungsten", "aluminium", "in- dium"). ``None`` for any other word.

    Args:
        word: One word as written.
    """
    if word in _ELEMENTS:
        return word
    return _element_names().get(re.sub(r"-\s+", "", word).lower())


def _from_chemical_name(cleaned: str) -> str | None:
    """Formula for "magnesium diboride", "silicon dioxide"; ``None`` if not that form."""
    lowered = cleaned.lower()
    names = _element_names()
    match = _CHEMICAL_NAME.search(lowered)
    if match and match["cation"] in names:
        cation_count = _PREFIXES.get(match["cpre"] or "", 1)
        anion_count = _PREFIXES[match["apre"]]
        cation, anion = names[match["cation"]], _ANIONS[match["anion"]]
        return f"{cation}{_format_amount(cation_count)}{anion}{_format_amount(anion_count)}"
    words = re.findall(r"[a-z]+", lowered)
    hits = [names[w] for w in words if w in names]
    # "mercury", "molecular hydrogen"; not "sulfur hydride" or "nickel borocarbide".
    compound = any(re.search(r"(?:ide|ate|ite)s?$", w) for w in words)
    return hits[0] if len(hits) == 1 and not compound else None


def _looks_like_class(cleaned: str, span: _Span | None) -> bool:
    """Whether the mention names a class or family rather than one material."""
    dehyphenated = re.sub(r"-\s+", "", cleaned).lower()
    markers = list(_CLASS_MARKER.finditer(cleaned))
    if markers and (span is None or span.start < markers[-1].end()):
        return True
    if span is None:
        return bool(_CLASS_NOUN.search(dehyphenated) or _PHASE_CODE.match(cleaned.strip()))
    # "Na oxide", "Co oxides": an element followed by a class noun is not the element.
    elements = [node for node in _walk(span.nodes) if node.symbol is not None]
    lone_element = len(elements) == 1 and elements[0].amount == _ONE
    after = cleaned[span.end :].strip().lower()
    return lone_element and bool(_CLASS_NOUN.match(after))


def _display(text: str) -> str:
    """Whitespace collapsed, line-break hyphens closed, edge punctuation removed."""
    text = re.sub(r"(?<=[A-Za-z])-\s+(?=[a-z0-9])", "-", text)
    return " ".join(text.split()).strip(" ,;:.")


# --------------------------------------------------------------------------------------
# Materials: public functions
# --------------------------------------------------------------------------------------


def normalize_material(mention: str, context: str = "") -> MaterialName:
    """Read a material mention into a formula, its doping variables and its kind.

    Variables take their values from the mention itself (``"La2−xSrxCuO4 (x = 0.15)"``)
    and otherwise from ``context`` when it gives one unambiguous value. A mention that
    is only an assignment (``"x = 0.10"``) is resolved against a formula in
    ``context`` that uses the variable, the one nearest before the mention if the
    mention occurs there.

    Args:
        mention: The mention as written.
        context: Sentence or paragraph around it (optional).

    Returns:
        A :class:`MaterialName`; ``formula`` is ``None`` when not determined. Never
        raises on odd text.

    Example:
        >>> normalize_material("LaFeAsO 1−x H x", "for x = 0.1").formula
        'LaFeAsO0.9H0.1'
    """
    cleaned = _clean_material(mention)
    given, assignment_spans = _assignments(cleaned)
    sites, site_spans = _site_assignments(cleaned)
    residual = _blank(cleaned, [*assignment_spans, *site_spans])
    residual = _PREFIX.sub(lambda m: " " * len(m.group()), residual)
    context_values = _assignments(_clean(context))[0] if context else {}
    result = _read_residual(mention, cleaned, residual, given)
    if sites:
        result = _with_sites(result, sites, residual, _display(cleaned))
    if result.template is None and assignment_spans and not result.is_class and context:
        base = _base_in_context(_clean(context), cleaned, set(given))
        if base is not None:
            resolved = base.with_variables({**context_values, **given}, text=mention)
            # "x ~ 0.03 for R = Zn" of Sr0.9La0.1Cu1-xRxO2: both the amount and the site
            return _with_sites(resolved, sites, residual, resolved.name) if sites else resolved
    open_variables = _free(result) | set(result.assumed)  # δ too, if the context gives it
    extra = {k: v for k, v in context_values.items() if k in open_variables}
    if result.template is not None and extra:
        return result.with_variables({**extra, **given})
    return result


def _with_sites(
    result: MaterialName, sites: Mapping[str, tuple[str, ...]], residual: str, display: str
) -> MaterialName:
    """``result`` read with the elements its site symbols stand for.

    "RuSr2RCu2O8 (R = Eu)" is RuSr2EuCu2O8. A site given several elements names a family
    ("M-1222 (M = Nb and Ta)", "A = Cs, Rb and K"): a class. A label the site cannot be
    put into ("RE-1222 (RE = Eu)") stays a name: never the site's element alone.
    """
    if result.template is not None and result.is_class:
        template = _substituted(result.template, sites)
        if template is not None:
            return _evaluated(result.text, template, template, result.variables)
    named = [site for site in sites if re.search(rf"(?<![A-Za-z]){site}(?![a-z])", residual)]
    if not named or result.is_class or result.formula is not None:
        return result  # the site is not this material's ("RE = Nd" dopants beside LSCO)
    several = any(len(sites[site]) > 1 for site in named)
    return MaterialName(
        text=result.text, name=display, variables=result.variables, is_class=several
    )


def _substituted(template: str, sites: Mapping[str, tuple[str, ...]]) -> str | None:
    """``template`` with each site symbol replaced by its one element, if that resolves it.

    Returns:
        The formula without site symbols, or ``None`` (a site of several elements, or one
        that ``sites`` does not give).
    """
    singles = {site: members[0] for site, members in sites.items() if len(members) == 1}
    pieces, i = [], 0
    while i < len(template):  # symbols as the parser reads them: "Re" is rhenium, not R e
        size = next((n for n in (2, 1) if template[i : i + n] in _SYMBOLS), 1)
        piece = template[i : i + size]
        pieces.append(singles.get(piece, piece))
        i += size
    formula = "".join(pieces)
    nodes = _parse_formula(formula)
    return formula if nodes is not None and not _is_family(nodes) else None


def variables_only(mention: str) -> bool:
    """Whether a material mention gives only values of variables, naming no material.

    ``"x = 0.05 to x = 0.44"``, ``"0.15"``, ``"x > 0.22"``, ``"R = Gd"``: read alone they
    are nothing (:func:`resolve_doping` gives such a mention its base formula when the
    paragraph has one). ``"sample A"`` or ``"undoped"`` still name something.

    Args:
        mention: The mention as written.

    Returns:
        True when nothing but assignments, numbers, variable letters, signs and
        connectives ("to", "and", "for" ...) is left.
    """
    cleaned = _clean_material(mention)
    spans = [*_assignments(cleaned)[1], *_site_assignments(cleaned)[1]]
    return not _CONNECTIVES.sub("", _blank(cleaned, spans))


# What a list or range of values is made of besides numbers: connectives, variable letters
# ("x > 0.22"), and any character that is not a Latin letter.
_CONNECTIVES = re.compile(
    r"\b(?:to|and|or|for|from|with|where|etc)\b|(?<![A-Za-z])[a-z](?![A-Za-z])|[^A-Za-z]"
)


def _clean_material(mention: str) -> str:
    """:func:`_clean` plus formula-specific PDF repairs, and a hydrate written out."""
    text = _repaired_material(mention)
    return _written_out_adduct(text) or text


def _repaired_material(mention: str) -> str:
    """:func:`_clean` plus formula-specific PDF repairs."""
    text = re.sub(r"(?<=\d):(?=\d)", ".", _clean(mention))  # Elsevier's "Li 0:6 FeAs"
    text = re.sub(r"(?<=\d)2d(?![\w.])", "-δ", text)  # "O 72d": "7−δ" with both glyphs lost
    text = _AMOUNT_UNCERTAINTY.sub(r"\1", text)  # a refined amount, "Na 0.31(3)": 0.31
    text = _SPACED_WATER.sub(r"\1·\2\3", text)  # "Na0.35CoO2 1.3H2O": its dot lost
    return re.sub(r"(?<=[a-z])- (?=[a-z])", "", text)  # "in- dium", "dodeca- boride"


# The space that stands for a hydrate's dot in a mention that is a formula and its water
# alone, an aside after it at most ("Na0.35CoO2 1.3H2O", "CuSO4 5 H2O", "NaxCoO2 yH2O
# (x = 0.35)"): the water would otherwise be dropped (Na0.35CoO2) or joined into the
# formula (O2y: O two times y). Not in longer text: "x=0.3 H2O", "H2O-intercalated".
_SPACED_WATER = re.compile(
    r"^([^\s=]*[A-Z][^\s=]*)\s+((?:\d+(?:\.\d+)?|[a-z])?)\s?([HD]2O)(?=\s*(?:\(.*\))?\s*$)"
)


# A decimal amount with its uncertainty in the last digits, "0.31(3)", "1.25(2)": a
# refinement's result, whose amount is the number before the parentheses.
_AMOUNT_UNCERTAINTY = re.compile(r"(\d\.\d+)\(\d{1,2}\)")


def adduct_formula(mention: str) -> str | None:
    """The plain formula of a hydrate or other adduct mention, as records store it.

    Example:
        >>> adduct_formula("MgSO4·7H2O"), adduct_formula("MgB2")
        ('MgH14SO11', None)
    """
    return _written_out_adduct(_repaired_material(mention))


def _written_out_adduct(text: str) -> str | None:
    """``MgSO4.7H2O`` as ``MgH14SO11`` (pymatgen reads O4.7); None for no adduct.

    Only an adduct of plain formula units is written out: one with doping variables
    (``NaxCoO2·yH2O``) is left to the variable reader (None). Nor is one with deuterium or
    tritium (``Na0.3CoO2·1.3D2O``): pymatgen reads them as hydrogen, and the project
    never does (:data:`discovery.compositions.ISOTOPES`: D3S is not H3S), so the parser,
    which knows no such element, refuses the formula.
    """
    units = adduct_units(text)
    if len(units) == 1 or any(_isotopes(unit) for _, unit in units):
        return None
    try:
        return written_out(units)
    except ValueError:
        return None


def _isotopes(formula: str) -> bool:
    """Whether ``formula`` holds a hydrogen isotope's symbol as pymatgen reads symbols."""
    return not ISOTOPES.keys().isdisjoint(re.findall(r"[A-Z][a-z]*", formula))


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with ``spans`` replaced by spaces (offsets stay valid)."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _read_residual(
    mention: str, cleaned: str, residual: str, given: dict[str, float]
) -> MaterialName:
    """Interpret what is left of a mention once assignments are removed."""
    spans = _formula_spans(residual)
    # The longest formula; a parenthetical aside ("(SLCO)", "(Ln = Ce, Pr)") only if alone.
    span = max(spans, key=lambda s: (not _aside(s), s.end - s.start, -s.start), default=None)
    if span is not None and _part_of_more(residual, span):
        span = None  # "Na z' CoO 2" is no CoO2: a formula with an amount not read
    display = _display(cleaned)
    if _looks_like_class(residual, span):
        return MaterialName(text=mention, name=display, variables=given, is_class=True)
    result = _read_named(mention, display, residual, span, given)
    dopants = _dopants(residual)
    # a dopant beside a template or a name is no amount of it either: "Ni-doped LSCO"
    if not dopants <= set(result.elements) or (
        result.composition is not None and _doped_parent(residual, result.composition)
    ):
        elements = _doped_elements(result, dopants)
        return MaterialName(text=mention, name=display, variables=given, elements=elements)
    return result


def _read_named(
    mention: str, display: str, residual: str, span: _Span | None, given: dict[str, float]
) -> MaterialName:
    """The material that the formula, abbreviation or chemical name in ``residual`` names."""
    if span is not None:
        return _evaluated(mention, span.compact, span.compact, given)
    abbreviation = _from_abbreviation(residual)
    if abbreviation:
        key, template, oxygen = abbreviation
        return _evaluated(mention, key, template, {**given, **oxygen})
    named = _from_chemical_name(residual)
    if named is not None:
        return _evaluated(mention, display, named, given)
    family = _abbreviation_elements(residual)
    if family:
        return MaterialName(text=mention, name=family[0], variables=given, elements=family[1])
    return MaterialName(text=mention, name=display, variables=given)


# A dopant named beside the formula: "Co-doped", "K doped", "Zn-substituted", "doped with F",
# or before an abbreviation: "Zn-SLCO", "Pb-BSCCO".
_DOPANT = re.compile(
    r"(?<![\w)])(?P<before>[A-Z][a-z]?)[-\s]+(?:doped|substituted|intercalated)\b"
    r"|\b(?:doped|substituted|intercalated)\s+(?:with|by)\s+(?P<after>[A-Z][a-z]?)\b"
    r"|(?<![\w-])(?P<prefix>[A-Z][a-z]?)-(?=[A-Z]{3,5}(?![\w-]))"
)


def _dopants(residual: str) -> set[str]:
    """Element symbols that ``residual`` names as dopants."""
    found = (m["before"] or m["after"] or m["prefix"] for m in _DOPANT.finditer(residual))
    return {symbol for symbol in found if symbol in _ELEMENTS}


def _doped_elements(parent: MaterialName, dopants: set[str]) -> tuple[str, ...]:
    """The elements of ``parent`` doped with ``dopants``, when the mention determines them.

    A named dopant beside the parent adds its element ("Zn-substituted YBCO": Y, Ba, Cu, O
    and Zn). A doping word alone ("underdoped Bi2212") keeps the parent's elements when
    the parent's template has the doping variable (``δ``, ``x``); otherwise what was
    added is not named ("hole-doped La2CuO4") and the elements are unknown: ``()``.
    """
    elements = set(parent.elements)
    if not elements:
        return ()
    if not dopants <= elements:
        return tuple(sorted(elements | dopants))
    return parent.elements if _template_variables(parent) else ()


# "doped" and the word glued or hyphened before it: "hole-doped", "underdoped", "undoped".
_DOPED = re.compile(r"([A-Za-z]*)[-\s]*doped\b", re.IGNORECASE)
_NOT_DOPED = frozenset({"un", "non", "not"})  # "undoped La2CuO4" is La2CuO4


def _doped_parent(residual: str, composition: Mapping[str, float]) -> bool:
    """Whether ``residual`` calls its material doped beyond what the formula writes.

    "F-doped LaFeAsO" (a dopant absent from the formula) and "hole-doped La2CuO4",
    "optimally doped YBCO", "underdoped Bi2212" (a doping word before a formula of whole
    amounts, the parent's) are not the parent, and how far they are doped is not
    written. "optimally doped La1.85Sr0.15CuO4" writes its doping: it keeps its formula.
    """
    if not _dopants(residual) <= composition.keys():
        return True
    doped = any(m[1].lower() not in _NOT_DOPED for m in _DOPED.finditer(residual))
    return doped and all(float(a).is_integer() for a in composition.values())


# What an amount no element took looks like as a word of its own: numbers and doping
# variables, with signs, primes and brackets ("0.31(3", "z'", "1-x"), but no other letter
# ("1212-type" is a class marker); or the dot of an adduct's next unit.
_LOOSE_AMOUNT = re.compile(r"(?:\d|\.\d|[xyzδ])[\d.,()\[\]'′″+\-xyzδ]*")
_NEXT_UNIT = re.compile(r"·.*")
_ENDS_WITH_ELEMENT = re.compile(rf"(?:{'|'.join(sorted(_ELEMENTS, key=len, reverse=True))})$")


def _part_of_more(text: str, span: _Span) -> bool:
    """Whether ``span`` is only the part that reads of a longer formula written around it.

    A formula set apart by spaces goes on past the span when an element and an amount
    that did not read come right before it ("Na z' CoO 2": CoO2 after Na and its z'), or
    right after it come the amount of its last element, which has none ("Na z'": the z'),
    or the dot of an adduct's next unit that did not read ("Na 0.31 CoO 2 ·1.25D 2 O":
    deuterium is no element here). The material is then none of its parts: a smaller
    formula would drop an element. A number before the formula alone is no amount of it
    ("11 B 4 C": boron-11), nor is one after an amount ("EuSr 2 RuCu 2 O 8 12": a
    reference) or one with a unit ("FeSe 8.5 K": a value, :func:`_value_after`).
    """
    before = re.search(r"(\S+)\s+(\S+)\s+$", text[: span.start])
    if before and _LOOSE_AMOUNT.fullmatch(before[2]) and _ENDS_WITH_ELEMENT.search(before[1]):
        return True
    after = re.match(r"\s+(\S+)", text[span.end :])
    if after is None:
        return False
    if _NEXT_UNIT.fullmatch(after[1]):
        return True
    no_amount = re.search(r"[A-Za-z]$", span.compact) and span.compact[-1] not in _VARIABLES
    start = span.end + after.start(1)
    return (
        bool(no_amount)
        and _LOOSE_AMOUNT.fullmatch(after[1]) is not None
        and _value_after(text, span.compact, start) is None  # "FeSe 8.5 K": a value
    )


def _aside(span: _Span) -> bool:
    return span.compact.startswith("(") and span.compact.endswith(")")


def _base_in_context(context: str, mention: str, variables: set[str]) -> MaterialName | None:
    """The formula in ``context`` that uses ``variables``, nearest before ``mention``."""
    if not variables:
        return None
    residual = _blank(context, _assignments(context)[1])
    candidates = [s for s in _formula_spans(residual) if variables <= _variables_of(s.nodes)]
    if not candidates:
        return None
    where = context.find(mention.strip())
    before = [s for s in candidates if where >= 0 and s.start <= where]
    chosen = before[-1] if before else candidates[0]
    return _evaluated(mention, chosen.compact, chosen.compact, {})


_BARE_NUMBER = re.compile(rf"\s*~?\s*(?P<value>{_NUMBER})\s*[,;)]?\s*")


def resolve_doping(
    mentions: Sequence[str], context: str = "", sentences: Sequence[str] = ()
) -> list[MaterialName]:
    """Normalise the material mentions of one paragraph, in order, pairing doping values.

    A mention with variables (``"La2−xSrxCuO4"``, ``"La2−xSrxCuO4 (x = 0.15)"``)
    becomes the base; a later assignment-only mention (``"x = 0.10"``) or, after one,
    a bare number (``"0.15"``) is read as a value of the base's variable. Mentions the
    sequence cannot place fall back on :func:`normalize_material` with their sentence,
    then with ``context``: "LaO1-xFxFeAs with x = 0.11 ... Ba(Fe1-xCox)2As2 is 22 K for
    x = 0.08" gives each formula its own sentence's x, where the paragraph's two are
    ambiguous.

    Args:
        mentions: Material mentions in reading order.
        context: The paragraph they come from (optional).
        sentences: Each mention's sentence, in the same order (optional).

    Returns:
        One :class:`MaterialName` per mention, in the same order.

    Example:
        >>> [m.formula for m in resolve_doping(["La2−xSrxCuO4", "x = 0.1", "0.2"])]
        [None, 'La1.9Sr0.1CuO4', 'La1.8Sr0.2CuO4']
    """
    results: list[MaterialName] = []
    base: MaterialName | None = None
    last: str | None = None  # the variable that the latest assignment gave a value to
    for i, mention in enumerate(mentions):
        sentence = sentences[i] if sentences else ""
        own = normalize_material(mention)
        given = set(own.variables) - set(own.assumed)
        if own.template is not None:
            if _template_variables(own):
                base, last = own, _single(given)
            # δ is assumed 0 only when no value is stated: "with δ = 0.4" in the paragraph wins
            open_ = _free(own) or own.assumed
            results.append(_in_context(mention, sentence, context) if open_ else own)
            continue
        bare = _BARE_NUMBER.fullmatch(_clean(mention))
        if base is not None and given and not own.is_class:
            usable = given <= _template_variables(base)
            last = _single(given) or last
            if usable:
                results.append(base.with_variables(own.variables, mention))
                continue
        elif base is not None and bare and last in _template_variables(base):
            results.append(base.with_variables({str(last): float(bare["value"])}, mention))
            continue
        results.append(_in_context(mention, sentence, context))
    return results


def _in_context(mention: str, sentence: str, paragraph: str) -> MaterialName:
    """``mention`` read with its sentence's doping values, else with its paragraph's."""
    if sentence:
        read = normalize_material(mention, sentence)
        if read.formula is not None and not read.assumed:  # δ = 0 by default: the paragraph
            return read  # may state it ("with δ = 0.4" wins)
    return normalize_material(mention, paragraph)


def _free(material: MaterialName) -> set[str]:
    """Variables of ``material`` without a value (mixed sites excluded)."""
    return set(material.unresolved) - {"site"}


def _template_variables(material: MaterialName) -> set[str]:
    """Variables that ``material``'s template uses (δ included)."""
    nodes = _parse_formula(material.template) if material.template else None
    return _variables_of(nodes) if nodes else set()


def _single(names: set[str]) -> str | None:
    return next(iter(names)) if len(names) == 1 else None


# --------------------------------------------------------------------------------------
# Quantities
# --------------------------------------------------------------------------------------

_CANONICAL_UNITS = {
    "temperature": "K",
    "pressure": "GPa",
    "energy": "eV",
    "time": "h",
    "mass": "g",
    "volume": "mL",
}
# pint would read these as the wrong thing (coulomb, picohenry, inch, year) or not at all.
_UNIT_ALIASES = {
    "C": "degC",
    "°C": "degC",
    "oC": "degC",
    "degC": "degC",
    "Kelvin": "kelvin",
    "%": "percent",
    "wt%": "percent",
    "wt.%": "percent",
    "at%": "percent",
    "at.%": "percent",
    "mol%": "percent",
    "vol%": "percent",
    "vol.%": "percent",
    "Torr": "torr",
    "mTorr": "millitorr",
    "mins": "minute",
    "hrs": "hour",
}
# Pressure units in any case, as papers write them ("8.9 Gpa", "17 Kbar", "1 ATM"): pint
# knows only the exact spelling, and reads "pa" as picoyears and "PA" as petaamperes.
# Each has one reading whatever its case; "mbar" and "Mbar" (milli-, mega-) differ, so
# they are not here. A spelling pint reads as a pressure ("mPa") keeps pint's reading.
_PRESSURE_UNITS = {unit.lower(): unit for unit in ("GPa", "MPa", "kPa", "Pa", "kbar", "bar", "atm")}
# English words pint also knows as units; after a number they are prose, not units.
_NOT_UNITS = frozenset(
    {"a", "an", "are", "as", "at", "in", "is", "it", "on", "or", "pi", "point", "pH", "ton"}
)
# Lower-case unit words pint cannot read ("3 emu", "20 sccm", "2 koe", "38 wt%"): a unit
# is written, so the default is not the number's. Any other lower-case word after a
# number is prose ("39 in MgB2", "92 mid", "40 sets"), and the default stands.
_FOREIGN_UNIT_WORDS = frozenset({"arb", "cgs", "emu", "koe", "oe", "sccm", "wt"})
_DELTA_CELSIUS = "delta_degree_Celsius"
# Each qualifier's words and its symbols apart: a word must not be glued to another word
# ("moreover" is no "over"), a symbol may be glued to anything ("Tc>40 K", "Tc≈93 K").
_QUALIFIER_WORDS: tuple[tuple[str, str, str], ...] = (
    # negated comparisons first: "no more than 30 K" is at most 30 K, not over it
    (
        r"(?:not|never)\s+(?:exceed(?:s|ing|ed)?|above|over)"
        r"|(?:not|no)\s+(?:more|higher|greater|larger)\s+than"
        r"|at\s+most|up\s+to|as\s+high\s+as",
        r"≤|<=|⩽",
        "<=",
    ),
    (
        r"at\s+least|(?:not|no)\s+(?:less|lower|smaller)\s+than|(?:not|never)\s+(?:below|under)",
        r"≥|>=|⩾",
        ">=",
    ),
    (r"exceed(?:s|ing|ed)?|above|over|beyond|(?:more|greater|higher)\s+than", r">", ">"),
    (r"below|(?:less|lower|smaller)\s+than", r"<", "<"),
    (r"about|around|approx(?:imately|\.)?|almost|nearly|roughly|close\s+to|ca\.|circa", r"~", "~"),
    (r"(?!)", r"=", "="),  # no word: "=" is only a sign
)


def _qualifier_pattern(words: str, symbols: str, end: str) -> re.Pattern[str]:
    """``words`` standing alone (no letter before them), or ``symbols`` anywhere, then ``end``."""
    return re.compile(rf"(?:(?<![A-Za-z])(?:{words}){end}|(?:{symbols}))", re.IGNORECASE)


_QUALIFIERS = tuple(
    (_qualifier_pattern(words, symbols, "(?![A-Za-z])"), qualifier)
    for words, symbols, qualifier in _QUALIFIER_WORDS
)
_FLIPPED = {"<=": ">=", "<": ">", ">=": "<=", ">": "<"}
# The same words, each anchored at the end of the text before a number (the sentence
# before a value mention): comparisons, hedges ("about", "~") and words that may stand
# between a comparison and its number ("up to only 5 K"). "as high as" says how high a
# value reaches, as "up to" does.
_COMPARISONS_BEFORE = tuple(
    (re.compile(rf"{_qualifier_pattern(words, symbols, '').pattern}\s*$", re.IGNORECASE), qualifier)
    for words, symbols, qualifier in _QUALIFIER_WORDS
    if qualifier in UPPER_BOUNDS | LOWER_BOUNDS
)
_HEDGE_BEFORE = next(
    re.compile(rf"{_qualifier_pattern(words, symbols, '').pattern}\s*$", re.IGNORECASE)
    for words, symbols, qualifier in _QUALIFIER_WORDS
    if qualifier == "~"
)
_FILLER_BEFORE = re.compile(r"(?<![A-Za-z])(?:a|an|even|just|only|some)\s*$", re.IGNORECASE)
# The Tc itself, a few words before "below"/"above": "Tc below 19 K", "the Tc of the films
# stays below", "the transition temperatures all lie slightly below". Without it the words
# describe where the material superconducts ("superconducts below 7.2 K", "zero
# resistance below 6.1 K"), and the number is the Tc, not a bound of it. So do they when
# another subject or clause comes between ("at Tc the resistivity drops below"). A comma
# may set the comparison apart from its subject: "the highest Tc, above 11 K".
_TC_SUBJECT = re.compile(
    r"(?:\bT\s?[cC](?![A-Za-z])|\b(?:critical|transition)\s+temperatures?\b)"
    r"(?:\s+(?!(?:and|but|while|whereas|which|resist|susceptib|signal|magneti[sz]|Meissner"
    r"|diamagnet|drop)[\w'()]*)[\w'().+-]+){0,6}\s*,?\s*$",  # words and formulas
    re.IGNORECASE,
)
# "not superconducting down to 2 K", "no superconductivity was observed in Bi2Se3 down to
# 0.4 K", "non-superconducting above 1.8 K": the temperature is how far the search went,
# so any Tc lies below it. So is it where the sign of superconductivity looked for was
# not seen: "no drops in resistivity are observed above 7 GPa down to 4.2 K", "no
# diamagnetic signal down to 2 K", "no zero resistance", "no superconducting transition".
# The negation and the words that reach the number stay in one clause: no comma or full
# stop (a decimal point is none), no Tc of its own and no "but" between them ("not
# superconducting but under 5 GPa its Tc rises above 20 K" is no bound).
_SIGN = (
    r"(?:(?:sharp|clear|abrupt|sudden|resistive|diamagnetic|superconducting)\s+)*"
    r"(?:drops?\s+(?:in|of)\s+(?:the\s+)?(?:electrical\s+)?(?:resistiv|resistan|suscepti)\w*"
    r"|(?:resistiv\w*|resistance|susceptibility)\s+drops?"
    r"|(?:superconducting|resistive|diamagnetic)\s+transitions?|(?:diamagnetic|Meissner)"
    r"\s+(?:signals?|signs?|effect|shielding|response)|diamagnetism|zero\s+resistance)"
)
_NOT_SUPERCONDUCTING = re.compile(
    r"(?:\b(?:not|non|no|never)[\s-]+(?:(?:sign|trace|evidence|indication)s?\s+of\s+)?"
    r"(?:bulk\s+)?superconduct\w*|\b(?:does|do|did)\s?n[o']t\s+superconduct\w*"
    r"|\babsence\s+of\s+(?:bulk\s+)?superconductivity"
    r"|\b(?:no|absence\s+of)\s+(?:(?:sign|trace|evidence|indication)s?\s+of\s+)?"
    rf"(?:an?\s+|the\s+)?{_SIGN})"
    r"(?:(?!\bT\s?[cC](?![A-Za-z])|\b(?:critical|transition)\s+temp|\b(?:but|while|whereas"
    r"|although|though|however|yet)\b)(?:[^,;.]|(?<=\d)\.(?=\d))){0,80}?"
    r"(?<![A-Za-z])(?:down\s+to|as\s+low\s+as|above|(?:cooled|cooling)\s+to)\s*$",
    re.IGNORECASE,
)
# "from 20 K up to 48 K": "up to" ends a range that the first number starts.
_RANGE_START = re.compile(r"\bfrom\s+(?:~\s*)?-?\d[^,;]*$", re.IGNORECASE)
_BEFORE_WINDOW = 120  # characters of the sentence read before a value mention
# A number, but not a power glued to a unit that no reading took in ("g-1" in "mA h g-1").
_SIGNED = re.compile(
    r"(?<![\w.])(?!(?<=[A-Za-zμµΩÅ]-)[123](?![\d.]))-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
)
_UNSIGNED = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# Bounded look-around keeps long texts linear: qualifiers sit just before a number, and
# a list of values ("4.2 and 4.6 K") shares one unit nearby.
_PREFIX_WINDOW = 40  # characters searched for "between", "up to", "~"
_LIST_WINDOW = 80  # characters searched for a list's unit
# "ambi- ent": a word a PDF broke at its line end
_AMBIENT = re.compile(r"\b(?:ambi-?\s?ent|atmospheric|normal)\b|^\s*AP\b")
# A range that starts at ambient pressure: "from ambient to 3.0 GPa", "between ambient
# pressure and 3 GPa", "from AP up to 2 GPa"; its low end is 1 atm, as "ambient pressure".
_FROM_AMBIENT = re.compile(
    r"(?:\bfrom|\bbetween)\s+(?:the\s+)?(?:ambi-?\s?ent|atmospheric|normal|AP)\b"
    r"(?:\s+pressures?)?(?:\s*\(\s*AP\s*\))?\s*(?P<link>-|to|up\s+to|and)\s*(?:~\s*)?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class QuantityValue:
    """A value mention, read.

    Attributes:
        value: The value in ``unit``: the number stated, the midpoint for a range.
        low: Lower end of a range, ``value`` for a point, ``None`` for an upper bound
            (``"<"``, ``"<="``: "up to 48 K" says nothing of how low).
        high: Upper end of a range, ``value`` for a point, ``None`` for a lower bound
            (``">"``, ``">="``: "exceeds 45 K").
        uncertainty: The ``±`` or parenthesised part in ``unit``, else ``None``.
        unit: Canonical unit of the kind (``"K"``, ``"GPa"``, ``"eV"``), or the written
            unit in pint's short form when no kind was asked (``"h"``, ``"°C"``, ``"ml"``);
            ``""`` for a bare number.
        qualifier: One of ``"="``, ``"<"``, ``">"``, ``"<="``, ``">="``, ``"~"``.
        text: The mention as written.
    """

    value: float
    low: float | None
    high: float | None
    uncertainty: float | None
    unit: str
    qualifier: str
    text: str


@functools.lru_cache(maxsize=4096)
def _unit(text: str) -> Any | None:
    """A pint unit for ``text`` as written after a number, or ``None``."""
    text = _UNIT_ALIASES.get(text, text)
    if text in _NOT_UNITS or not text:
        return None
    units = _pint_units(text)
    folded = _PRESSURE_UNITS.get(text.lower())
    if folded is not None and not _is_pressure(units):  # "Gpa", "KBar"; never "mPa"
        units = _pint_units(folded)
    return units


def _pint_units(text: str) -> Any | None:
    """What pint reads in ``text`` (powers without a caret: ``"cm-3"``), or ``None``."""
    expression = re.sub(r"(?<=[A-Za-zμµΩÅ])(-?\d+)(?![\d.])", r"**\1", text)
    expression = re.sub(r"\s*/\s*", "/", expression).replace(" ", "*")
    try:  # pint's parser raises a grab-bag of errors on junk
        return registry().parse_units(expression)
    except Exception:
        return None


def _is_pressure(units: Any | None) -> bool:
    return units is not None and units.dimensionality == registry().pascal.dimensionality


# A unit as written: a first token, then tokens that carry an exponent or follow "/"
# ("mol L-1", "degC min-1", "°C / min").
_UNIT_TEXT = re.compile(
    r"-?\s?(?P<unit>(?:°\s?[CF](?:-[123](?![\d.]))?|[A-Za-zμµΩÅ%][A-Za-zμµΩÅ%.]*(?:-?[123](?![\d.]))?)"
    r"(?:\s*/\s*[A-Za-zμµΩ°]+[A-Za-zμµΩ]*(?:-?\d)?|\s+[A-Za-zμµΩ]+-\d)*)"
)


def _read_unit(text: str, pos: int) -> tuple[Any, int] | None:
    """The unit written at ``text[pos:]`` (after spaces) and where it ends, or ``None``."""
    stripped = len(text) - len(text[pos:].lstrip())
    match = _UNIT_TEXT.match(text, stripped)
    if not match:
        return None
    written = match["unit"].replace("° ", "°").rstrip(".")
    for end in range(len(written), 0, -1):  # longest reading that pint accepts
        candidate = written[:end]
        if end < len(written) and written[end].isalpha() and candidate[-1].isalpha():
            continue  # never cut a word in two
        units = _unit(candidate.strip())
        if units is not None:
            return units, match.start("unit") + end
    return None


def unit_of_kind_at(text: str, pos: int, kind: str) -> int | None:
    """Where a unit of ``kind`` written at ``text[pos:]`` (after spaces) ends, or ``None``.

    ``kind`` as :func:`parse_quantity` takes it: ``" mK"`` is a temperature's unit,
    ``" in the film"`` (inches) is not.
    """
    found = _read_unit(text, pos)
    if found is None:
        return None
    unit, end = found
    target = registry().parse_units(_CANONICAL_UNITS[kind])
    return end if unit.dimensionality == target.dimensionality else None


# A power of a length unit, with a caret or split off by PDF extraction: "emu/cm 3",
# "cm^3", "cm -3", "Å 3", "m 2 /g" are cm3, cm-3, Å3, m2/g; the 3 is no value of its own.
_SPLIT_POWER = re.compile(
    r"(?<![A-Za-zμµ])([kcmdnμµ]?m|Å)(?:\s*\^\s*|\s+)(-[123]|[23])(?!\d|[.,]\d)"
)
_CARET_POWER = re.compile(r"(?<=[A-Za-zμµΩÅ])\s*\^\s*(?=-?\d)")  # "s^-1": s-1
# A negative power split off any unit by PDF extraction: "cm 2 s -1", "mol L -1",
# "W m -1 K -1", "°C -1". Joined only where the word is a unit pint reads, so that the
# "-1" is the unit's and never a value of its own ("-1 K" in "s -1 at 300 K").
_SPLIT_NEGATIVE_POWER = re.compile(r"(?<![\w.°])(°?[A-Za-zμµΩÅ]{1,5})\s+(-[123])(?![\d.,])")


def _join_negative_power(match: re.Match[str]) -> str:
    """``"s -1"`` as ``"s-1"`` when the word is a unit; the text unchanged otherwise."""
    word, power = match.groups()
    return word + power if _unit(word) is not None else match.group()


def _prepare(text: str, physical: bool) -> str:
    """Clean a value mention: glyphs, ±, scientific notation, split digits and powers."""
    text = _clean(text)
    text = _CARET_POWER.sub("", _SPLIT_POWER.sub(r"\1\2", text))
    text = _SPLIT_NEGATIVE_POWER.sub(_join_negative_power, text)
    text = re.sub(r"\+\s*/?\s*-", "±", text)
    text = re.sub(r"(?<=\d)\s*\.\s+(?=\d)|(?<=\d)\s+\.\s*(?=\d)", ".", text)  # "1 . 5"
    # "1.2 × 10^2", "1.2x10 2": 1.2e2; with a middle dot (or a dot operator) only where
    # the power is set off ("1.2·10^2", "2 · 10-3"): "9·105 K" is a decimal point, 9.105 K
    text = re.sub(r"(?<=\d)\s*[×xX*]\s*10\s*\^?\s*(?P<e>[-+]?\d{1,3})(?!\d)", r"e\g<e>", text)
    text = re.sub(
        r"(?<=\d)\s*[·⋅∙]\s*10\s*(?:\^\s*|(?=[-+])|\s+)(?P<e>[-+]?\d{1,3})(?!\d)",
        r"e\g<e>",
        text,
    )
    text = re.sub(r"(?<=\d)[·⋅∙](?=\d)", ".", text)
    # A bare power of ten with its caret, "10^3": 1e3, not 10. Without the caret "10 5"
    # may as well be 105 split by a PDF, so it is left to the rules below.
    text = re.sub(r"(?<![\d.,])10\s*\^\s*([-+]?\d{1,3})(?![\d.,])", r"1e\1", text)
    text = re.sub(r"(?<![\d.,])(\d{1,3})[ ,](\d{3})(?![\d.,])", r"\1\2", text)  # 15 000
    text = re.sub(r"(?<![\d.])(\d) (\d)(?![\d.])", r"\1\2", text)  # "9 0 K"
    if physical:  # Elsevier's "46:5 K"; never a ratio for a temperature or pressure
        text = re.sub(r"(?<=\d):(?=\d)", ".", text)
    text = re.sub(r"\b(?:deg(?:rees?)?\.?\s*C(?:elsius)?|Celsius)\b", "degC", text)
    text = re.sub(r"\b(?:wt|at|mol|vol)\s?\.?\s?%", "%", text)
    text = re.sub(r"(?<=[A-Za-z])-\s+(?=\d(?!\d))", "-", text)  # "min- 1": a broken exponent
    # "molar ratio" is a number of moles per mole, not a concentration.
    text = re.sub(r"\b(?:molar|mole|mass|weight|atomic|volume|cationic)\s+(?=ratios?\b)", "", text)
    return re.sub(r"(?<=[\d\s])o\s?C\b", "°C", text)


def _qualifier(prefix: str) -> str:
    """The comparison word or sign nearest the end of ``prefix``; ``"="`` if none."""
    best, best_end = "=", -1
    for pattern, qualifier in _QUALIFIERS:
        for match in pattern.finditer(prefix):
            if match.end() > best_end:
                best, best_end = qualifier, match.end()
    return best


def _stated_before(before: str, kind: str | None) -> str:
    """The qualifier that the words right before a value mention give it, else ``"="``.

    A tagger's value span often leaves out its qualifier ("Tc exceeds [45 K]"). Only a
    comparison that ends the text counts, or one separated from the number by hedges and
    fillers ("up to about 48 K": ``"<="``); anything else between them (a comma, a
    number, "the Tc above, 39 K") and the value is a plain one. A hedge alone gives
    ``"~"``. For a temperature, "below"/"above" bound the number only when the Tc is
    what is compared (:data:`_TC_SUBJECT`), and "up to" after "from <number>" ends a
    range (:data:`_RANGE_START`). A pressure's "below 20 GPa" is always a bound: it is
    the condition a value was read under. A temperature that a search for
    superconductivity reached without finding it ("not superconducting down to 2 K",
    "no superconductivity ... above 1.8 K": :data:`_NOT_SUPERCONDUCTING`) is an upper
    bound of the Tc: ``"<"``.

    Args:
        before: The sentence text before the mention, cleaned.
        kind: The quantity kind asked of :func:`parse_quantity`.

    Returns:
        One of the qualifiers of :class:`QuantityValue`.
    """
    if kind == "temperature" and searched_without_finding(before):
        return "<"  # "not superconducting down to 2 K": any Tc is below 2 K
    tail, hedged = before[-_BEFORE_WINDOW:].rstrip(), False
    while tail:
        for pattern, qualifier in _COMPARISONS_BEFORE:
            found = pattern.search(tail)
            if found:
                bound = _bounds_value(found.group(), tail[: found.start()], kind)
                return qualifier if bound else ("~" if hedged else "=")
        step = _HEDGE_BEFORE.search(tail) or _FILLER_BEFORE.search(tail)
        if step is None:
            break
        hedged = hedged or step.re is _HEDGE_BEFORE
        tail = tail[: step.start()].rstrip()
    return "~" if hedged else "="


def searched_without_finding(before: str) -> bool:
    """Whether the words before a temperature say a search for superconductivity reached it.

    "not superconducting down to [2 K]", "no superconductivity was observed in Bi2Se3 down
    to about [0.4 K]", "non-superconducting above [1.8 K]", "no drops in resistivity are
    observed above 7 GPa down to [4.2 K]", "no diamagnetic signal down to [2 K]"
    (:data:`_NOT_SUPERCONDUCTING`; hedges and fillers may stand before the number): the
    search found none, so any Tc is below the number, which :func:`parse_quantity` reads
    as ``"<"``.

    Args:
        before: The sentence's text before the number.
    """
    tail = _clean(before[-_BEFORE_WINDOW:]).rstrip()
    while tail:
        if _NOT_SUPERCONDUCTING.search(tail):
            return True
        step = _HEDGE_BEFORE.search(tail) or _FILLER_BEFORE.search(tail)
        if step is None:
            return False
        tail = tail[: step.start()].rstrip()
    return False


def _bounds_value(word: str, head: str, kind: str | None) -> bool:
    """Whether comparison ``word``, after the text ``head``, bounds the number after it."""
    word = " ".join(word.lower().split())
    if word in ("below", "above") and kind == "temperature":
        return _TC_SUBJECT.search(head) is not None
    if word == "up to":
        return _RANGE_START.search(head) is None
    return True


def _decimals(number: str) -> int:
    mantissa = re.split(r"[eE]", number)[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


@dataclass(frozen=True)
class _Reading:
    """Numbers read at one position, before unit conversion.

    ``direct`` is ``False`` when the unit was borrowed from later in a list; ``foreign``
    is ``True`` when a unit is written that pint cannot read (``"3 μΩcm"``); ``end`` is
    where the reading's numbers and unit end in the prepared text; ``from_ambient`` is
    ``True`` when the number ends a range that starts at ambient pressure ("from ambient
    to 3.0 GPa"): ``low`` is then 1 atm once the unit is known to be a pressure.
    """

    low: float
    high: float
    uncertainty: float | None
    unit: Any | None
    qualifier: str
    direct: bool = True
    foreign: bool = False
    end: int = 0
    from_ambient: bool = False


_PAREN_UNCERTAINTY = re.compile(rf"\(({_UNSIGNED})\)")
_PLUS_MINUS = re.compile(rf"\s*±\s*({_UNSIGNED})")
_CLOSING_BRACKET = re.compile(r"\s*\)")  # of a value and its ± opened before the value
# A ± written after the value's unit, in brackets or not: "14.5 K ± 0.3 K", "(± 300 mK)".
_PLUS_MINUS_AFTER_UNIT = re.compile(rf"\s*(\(\s*)?±\s*({_UNSIGNED})")
# The second number may be negative: "from -20 to -10 °C", "-10--5 °C".
_RANGE = re.compile(rf"\s*(?:-|to|~)\s*(-?{_UNSIGNED})")
_RANGE_BETWEEN = re.compile(rf"\s*(?:-|to|~|and)\s*(-?{_UNSIGNED})")
_TRAILING_COMPARISON = re.compile(r"\s*(≤|<=|<|≥|>=|>)")


def _read_at(
    text: str, match: re.Match[str], before: str = "", kind: str | None = None
) -> _Reading:
    """The value, range, uncertainty and unit starting at number ``match``.

    ``before`` (the cleaned sentence text before the mention) gives the qualifier when
    the mention states none (:func:`_stated_before`).
    """
    first = float(match.group())
    pos, uncertainty = match.end(), None
    paren = _PAREN_UNCERTAINTY.match(text, pos)
    if paren:  # 38.5(2): uncertainty in the last digits
        digits = paren.group(1)
        scale = 1.0 if "." in digits else 10.0 ** -_decimals(match.group())
        uncertainty, pos = float(digits) * scale, paren.end()
    plus_minus = _PLUS_MINUS.match(text, pos)
    if plus_minus:
        uncertainty, pos = float(plus_minus.group(1)), plus_minus.end()
        closing = _CLOSING_BRACKET.match(text, pos)
        if closing and re.search(r"\(\s*$", text[: match.start()]):  # "(2.7 ± 0.1) K"
            pos = closing.end()
    unit_read = _read_unit(text, pos)
    unit, end = unit_read if unit_read else (None, pos)
    if unit is not None and uncertainty is None:
        uncertainty, end = _uncertainty_after_unit(text, end, unit)
    prefix = text[max(0, match.start() - _PREFIX_WINDOW) : match.start()]  # words just before
    between = re.search(r"\bbetween\s*$", prefix, re.IGNORECASE)
    second = (_RANGE_BETWEEN if between else _RANGE).match(text, end)
    high = first
    second_read = _read_unit(text, second.end()) if second else None
    if second and unit is not None and second_read and second_read[0] != unit:
        # "1 bar to 3 GPa": the first end in the second's unit; "5 K to 3 GPa" is no range
        target = second_read[0]
        converted = _in_unit(first, unit, target)
        if converted is None:
            second = None
        else:  # its ± too, as a difference: "1 ± 0.5 bar to 3 GPa"
            if uncertainty is not None:
                uncertainty = float(registry().Quantity(first + uncertainty, unit).to(target).m)
                uncertainty -= converted
            first = converted
    if second:  # "20-30 K", "12 K to 9 K", "between 20 and 30 K"
        high = float(second.group(1))
        unit, end = second_read if second_read else (unit, second.end())
    qualifier = _qualifier(prefix)
    if second and qualifier != "~":  # a range is stated, or stated approximately ("≈ 1-2 K")
        qualifier = "="
    from_ambient = not second and _ranges_from_ambient(before + text[: match.start()])
    if from_ambient:  # "from ambient up to 3 GPa": a range, not "up to 3 GPa"
        qualifier = "="
    if qualifier == "=" and not second and not from_ambient:  # "Tc exceeds [45 K]"
        qualifier = _stated_before(before + text[: match.start()], kind)
    elif second and _stated_before(before + text[: match.start()], kind) == "~":
        qualifier = "~"  # "T c ≃ [1 ∼ 2 K]": a range stated approximately
    trailing = _TRAILING_COMPARISON.match(text, end)
    if trailing and not second and qualifier == "=" and not from_ambient:  # "30 ≤ Tc": Tc ≥ 30
        qualifier = _FLIPPED[_qualifier(trailing.group(1))]
    direct = unit is not None
    foreign = unit is None and _unreadable_unit(text, end)
    if unit is None and not foreign:  # "4.2 and 4.6 K", "39.21, 39.15 and 39.08(5)K"
        unit = _list_unit(text, end)
    low, high = min(first, high), max(first, high)
    return _Reading(low, high, uncertainty, unit, qualifier, direct, foreign, end, from_ambient)


def _uncertainty_after_unit(text: str, end: int, unit: Any) -> tuple[float | None, int]:
    """The ± written after a value's unit, in that unit, and where it ends; else ``end``.

    "14.5 K ± 0.3 K", "14.5 K ± 300 mK" and "14.5 K (± 0.3)" are 14.5 ± 0.3 K: the ±
    takes its own unit where it has one (a difference, so offsets cancel: "± 0.3 °C" on
    a value in K is 0.3 K), else the value's. A ± in a unit of another dimension is not
    read.
    """
    found = _PLUS_MINUS_AFTER_UNIT.match(text, end)
    if found is None:
        return None, end
    amount, after = float(found.group(2)), found.end()
    own = _read_unit(text, after)
    if own is not None:
        zero, moved = _in_unit(0.0, own[0], unit), _in_unit(amount, own[0], unit)
        if zero is None or moved is None:
            return None, end
        amount, after = moved - zero, own[1]
    if found.group(1):  # "(± 0.3 K)": its bracket closes too, or it is not this one's
        closing = _CLOSING_BRACKET.match(text, after)
        if closing is None:
            return None, end
        after = closing.end()
    return amount, after


def _in_unit(value: float, unit: Any, target: Any) -> float | None:
    """``value`` in ``unit`` converted to ``target``; ``None`` if they measure different things."""
    try:
        return float(registry().Quantity(value, unit).to(target).magnitude)
    except Exception:  # pint's DimensionalityError and offset-unit errors
        return None


def _ranges_from_ambient(lead: str) -> bool:
    """Whether the text before a number starts a range at ambient pressure ("from ambient to")."""
    return _FROM_AMBIENT.search(lead[-_PREFIX_WINDOW:]) is not None


# A unit that the text after a value mention divides its unit by: "/GPa", " / min",
# " per GPa", " GPa-1", " min−1", " GPa^-1".
_RATE_AFTER = re.compile(
    r"\s*(?:/|\bper\s)\s*(?:(?:at|wt|mol)\s?\.?\s?(?=%))?(?P<per>%|°?[A-Za-zμµ]+)"
    r"|\s+(?P<inverse>[A-Za-zμµ]{1,5})\s?\^?\s?-\s?1(?!\d|\.\d)"
)
_RATE_WINDOW = 20  # characters after a mention read for the unit it is divided by
# What a value's unit is divided by in a rate: pressure, time, field, temperature, %.
_RATE_UNITS = ("GPa", "s", "T", "Oe", "K", "percent")


def _rate(reading: _Reading, prepared: str, after: str) -> bool:
    """Whether ``reading`` ends its mention with a unit that ``after`` divides (a rate)."""
    ends = reading.end >= len(prepared.rstrip())  # nothing after its unit in the mention
    return reading.unit is not None and ends and _continues_as_rate(after)


def _continues_as_rate(after: str) -> bool:
    """Whether the text after a mention divides its unit by another: a rate ("/GPa").

    Args:
        after: The sentence text right after the mention, which ends with its unit.
    """
    match = _RATE_AFTER.match(_clean(after[:_RATE_WINDOW]))
    if match is None:
        return False
    word = match["per"] or match["inverse"]
    if word in _ELEMENTS:  # "39 K/Nb films", "/Ga": a material, not pint's gigayear
        return False
    units = _unit(_UNIT_ALIASES.get(word, word))
    return units is not None and any(
        units.dimensionality == registry().parse_units(unit).dimensionality for unit in _RATE_UNITS
    )


def _unreadable_unit(text: str, pos: int) -> bool:
    """Whether ``text[pos:]`` starts with a unit pint cannot read ("Tesla", "μΩcm", "emu").

    A lower-case word is prose ("and", "to", "in", "onset", "sets") unless it is one of
    the unit words pint does not know (:data:`_FOREIGN_UNIT_WORDS`: "3 emu", "20 sccm").
    """
    match = _UNIT_TEXT.match(text, len(text) - len(text[pos:].lstrip()))
    if match is None:
        return False
    written = match["unit"].rstrip(".")
    if re.fullmatch(r"[a-z]+", written) is None:
        return True
    return written in _FOREIGN_UNIT_WORDS


_UNCERTAINTY = re.compile(r"\(\d+\)|\s*±\s*[\d.]+")


def _list_unit(text: str, pos: int) -> Any | None:
    """The unit after the first later number in ``text[pos:]`` that has one.

    Only a short window is searched: a list of values shares one unit nearby.
    """
    for number in re.finditer(_UNSIGNED, text[pos : pos + _LIST_WINDOW]):
        end = pos + number.end()
        uncertainty = _UNCERTAINTY.match(text, end)
        found = _read_unit(text, uncertainty.end() if uncertainty else end)
        if found:
            return found[0]
    return None


#: A count inside a formula that a tagger took for a value, "A [3] C 60", "YBa 2 Cu [3] O 7":
#: a bare number with a symbol of the formula just before it and the formula's next
#: element, with its count, just after.
_BARE_COUNT = re.compile(r"\d+(?:\.\d+)?")
_SYMBOL_BEFORE = re.compile(  # not Tc: here the critical temperature, not technetium
    rf"(?:^|[\s(])(?:{'|'.join(sorted(_SYMBOLS - {'Tc'}, key=len, reverse=True))})\s*$"
)
_ELEMENT_AFTER = re.compile(rf"^\s*(?:{'|'.join(sorted(_ELEMENTS, key=len, reverse=True))})\s*\d")


def formula_count(text: str, before: str, after: str) -> bool:
    """Whether a value mention is a count inside a formula, not a quantity.

    >>> formula_count("3", "the superconductors A ", " C 60 are cubic")
    True
    >>> formula_count("3", "Tc = ", " K in A 3 C 60")
    False
    >>> formula_count("9", "samples with Tc ", " K 2")
    False
    """
    return bool(
        _BARE_COUNT.fullmatch(text.strip())
        and _SYMBOL_BEFORE.search(before)
        and _ELEMENT_AFTER.search(after)
    )


def parse_quantity(
    text: str,
    default_unit: str | None = None,
    kind: str | None = None,
    before: str = "",
    after: str = "",
) -> QuantityValue | None:
    """Read a value mention into a number, range, uncertainty and canonical unit.

    Handles qualifiers (``"exceeds 45K"``, ``"up to 48 K"``, ``"~20 K"``), ranges
    (``"between 20 and 30 K"``, ``"20–30 K"``, ``"12 K to 9 K"``), uncertainties
    (``"12 ± 0.5 K"``, ``"(12 ± 0.5) K"``, ``"38.5(2) K"``, ``"12 K ± 500 mK"``), scientific
    notation (``"1.2 × 10 3"``, ``"1.2·10^3"``, ``"10^3"``), Unicode minus and PDF
    artefacts (``"1 . 5 K"``, ``"46:5 K"``, ``"g/cm 3"``). A list (``"4.2 and 4.6 K"``)
    gives its first value. Units go through pint; a bare ``"C"`` is read as degrees
    Celsius, not coulomb.

    Args:
        text: The mention.
        default_unit: Unit to assume when the text has none (``"K"`` for SuperMat
            ``tcValue`` mentions, which often omit it).
        kind: ``"temperature"`` (K), ``"pressure"`` (GPa), ``"energy"`` (eV), ``"time"``
            (h), ``"mass"`` (g) or ``"volume"`` (mL): convert to that unit and skip
            numbers whose unit has another dimension or is written but unknown to pint
            (``"0.5 Tesla"``, ``"3 μΩcm"``, ``"3 emu"``). With ``None`` the written unit is
            kept (a heating rate in °C/min is given in K/min, the same numbers).
            ``"pressure"`` also reads ``"ambient pressure"``/``"AP"`` as 1 atm, and a
            range from it ("from ambient to 3.0 GPa") as starting there.
        before: The sentence text before the mention, whose last words give the
            qualifier when the mention has none: a tagged ``"45 K"`` after "Tc exceeds"
            is ``">"`` (:func:`_stated_before`).
        after: The sentence text after the mention. Where the mention ends with its
            unit and ``after`` goes on with a unit it is divided by ("dTc/dP of
            [0.5 K]/GPa", "[2 K] min-1", "[0.5 K] per GPa"), the number is a rate, not
            a quantity of ``kind``: ``None`` (:func:`_continues_as_rate`). A bare
            number between a formula's symbols ("A [3] C 60") is a count in the
            formula: ``None`` too (:func:`formula_count`).

    Returns:
        A :class:`QuantityValue`, or ``None`` when there is no number, or a ``kind`` was
        asked and no number carries (or defaults to) a unit of that dimension.

    Raises:
        ValueError: If ``kind`` is not one of the kinds above.

    Example:
        >>> parse_quantity("1.5 kbar", kind="pressure").value
        0.15
    """
    if kind is not None and kind not in _CANONICAL_UNITS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(_CANONICAL_UNITS)}")
    if kind is not None and formula_count(text, before, after):
        return None  # "A [3] C 60": the default unit would make it 3 K
    prepared = _prepare(text, physical=kind is not None)
    outside = _clean(before[-_BEFORE_WINDOW:]) if before else ""
    default = _unit(default_unit.strip()) if default_unit else None
    read_to = 0
    for match in _SIGNED.finditer(prepared):
        if match.start() < read_to:
            continue  # part of the reading before: "38.5(2) K", the power in "5 s-1"
        reading = _read_at(prepared, match, outside, kind)
        read_to = reading.end
        if _compared_material(reading, outside, after):  # "lower than the [39 K] of MgB2"
            reading = replace(reading, qualifier="=")  # MgB2's Tc, stated, not a bound
        # "0.5 Tesla", "3 emu": a unit is written, so the default is not this number's.
        fallback, fallback_name = (None, None) if reading.foreign else (default, default_unit)
        unit = reading.unit if reading.unit is not None else fallback
        found = _converted(reading, unit, kind, text, fallback_name)
        if found is None and not reading.direct and fallback is not None:
            found = _converted(reading, fallback, kind, text, fallback_name)  # list unit misfit
        if found is not None and kind is not None and _rate(reading, prepared, after):
            return None  # "dTc/dP of [0.5 K]/GPa": a rate, not a temperature
        if found is not None or kind is None:
            return found
    if kind == "pressure" and _AMBIENT.search(prepared):
        atm = registry().Quantity(1.0, "atm").to("GPa").magnitude
        return QuantityValue(_tidy(atm), _tidy(atm), _tidy(atm), None, "GPa", "~", text)
    return None


# A value another material is compared with, and that material named after it: "higher
# than the [23 K] of [Nb3Ge]" states Nb3Ge's Tc; the comparison is the subject's.
_THAN = re.compile(r"\bthan\s+(?:the\s+|that\s+of\s+)?$", re.IGNORECASE)
_OF_NAMED = re.compile(r"\s*of\s+(?:the\s+)?[A-Z(]")


def _compared_material(reading: _Reading, before: str, after: str) -> bool:
    """Whether a bound read from "than" before the value is another material's value."""
    return (
        reading.qualifier in (">", "<", ">=", "<=")
        and _THAN.search(before) is not None
        and _OF_NAMED.match(after) is not None
    )


def _converted(
    reading: _Reading, unit: Any | None, kind: str | None, text: str, default_unit: str | None
) -> QuantityValue | None:
    """``reading`` in the canonical unit of ``kind``; ``None`` if the unit does not fit."""
    if unit is None:
        if kind is not None:
            return None
        name = default_unit.strip() if default_unit else ""  # pint-unknown: kept as given
        return _quantity(reading, lambda v: v, name, text)
    units = registry()
    if reading.from_ambient and _is_pressure(unit):  # "from ambient to 3.0 GPa": from 1 atm
        ambient = float(units.Quantity(1.0, "atm").to(unit).magnitude)
        reading = replace(reading, low=min(ambient, reading.low), high=max(ambient, reading.high))

    def convert(value: float) -> float:
        return float(units.Quantity(value, unit).to(target).magnitude)

    try:  # pint fails in assorted ways on exotic units (dB, offsets inside compounds)
        if kind is not None:
            target = units.parse_units(_CANONICAL_UNITS[kind])
            if unit.dimensionality != target.dimensionality:
                return None
            name = _CANONICAL_UNITS[kind]
        else:
            target = _delta_free(unit)
            name = f"{target:~C}"
        return _quantity(reading, convert, name, text)
    except Exception:
        return None


def _delta_free(unit: Any) -> Any:
    """``unit`` with Δ°C replaced by K (a heating rate in K/min is the same number)."""
    if _DELTA_CELSIUS not in str(unit):
        return unit
    return registry().parse_units(str(unit).replace(_DELTA_CELSIUS, "kelvin"))


def _quantity(reading: _Reading, convert: Any, unit: str, text: str) -> QuantityValue | None:
    low, high = convert(reading.low), convert(reading.high)
    uncertainty = None
    if reading.uncertainty is not None:  # a difference: offsets (°C) cancel
        difference = abs(convert(reading.low + reading.uncertainty) - low)
        # its float noise is the value's (14.5 + 1e-4 - 14.5): rounded at the value's digits
        uncertainty = (
            round(difference, 11 - math.floor(math.log10(abs(low)))) if low else difference
        )
    values = [low, high, *([uncertainty] if uncertainty is not None else [])]
    if not all(math.isfinite(v) for v in values):
        return None
    low, high = min(low, high), max(low, high)
    value = low if low == high else (low + high) / 2
    return QuantityValue(
        value=_tidy(value),
        low=None if reading.qualifier in UPPER_BOUNDS else _tidy(low),  # a bound: one end
        high=None if reading.qualifier in LOWER_BOUNDS else _tidy(high),
        uncertainty=None if uncertainty is None else _tidy(uncertainty),
        unit=unit,
        qualifier=reading.qualifier,
        text=text,
    )


def _tidy(value: float) -> float:
    """Round away float noise from unit conversion (1.5 kbar -> 0.15, not 0.150...02)."""
    return float(f"{value:.12g}")
