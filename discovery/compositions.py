"""Composition search spaces and candidate generation.

A :class:`CompositionSpace` says which compositions a campaign may propose: the allowed
elements, at most ``k`` of them at once, molar fractions on a stoichiometry grid
(multiples of ``1 / grid``), and optionally charge balance: some assignment of
pymatgen's oxidation states sums to zero, each element all cations or all anions, and
anions more electronegative than cations (:func:`is_charge_balanced`).

Candidates come from two generators, both deduplicated by reduced formula:

* :func:`enumerate_compositions`: every composition of the chemical system that the space
  allows;
* :func:`substitution_candidates`: known materials with elements swapped by pymatgen's
  data-mined substitution probabilities (Hautier et al., Inorg. Chem. 50, 656, 2011),
  kept when the result lies in the space.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from pymatgen.core import Composition, Element

from discovery.spaces import ContinuousParameter, SearchSpace, SimplexConstraint

#: Isotope symbols pymatgen accepts as elements but writes as hydrogen.
ISOTOPES = {"D": "deuterium", "T": "tritium"}
#: Grid steps at most (a ternary grid of 1000 is already half a million compositions).
MAX_GRID = 1000
#: Atoms at most in the whole-atom formula behind a charge-balance test: past MAX_GRID, so a
#: known material's own stoichiometry off the grid is still tested as whole atoms.
MAX_DENOMINATOR = 10 * MAX_GRID
#: Atoms at most in a written whole-atom formula: every grid point has one (fractions
#: ``c / grid``, ``grid <= MAX_GRID``). A finer composition (a dopant at 1e-4) is written
#: with fractional amounts, as a chemist writes it, never rounded onto a coarser ratio.
MAX_FORMULA_ATOMS = MAX_GRID
#: Relative tolerance within which a written formula gives back every molar fraction: far
#: above float64 noise (1e-16 after normalising), far below what any lab can weigh out.
FORMULA_RTOL = 1e-9
#: Whole amounts tried for the element a fractional formula is scaled by (``O3`` in
#: ``La0.7Sr0.3MnO3``); the formula with the fewest digits wins.
_ANCHOR_AMOUNTS = range(1, 13)
#: Significant digits of a fractional amount: rounding stays far inside FORMULA_RTOL.
_DIGITS = 12
#: An amount in a written formula.
_NUMBER = re.compile(r"[\d.]+")


@dataclass(frozen=True)
class CompositionSpace:
    """Which compositions may be proposed.

    Attributes:
        elements: Allowed element symbols.
        max_elements: Largest number of distinct elements in one composition (``k``).
        grid: Stoichiometry grid: every molar fraction is a multiple of ``1 / grid``.
        charge_balanced: Require a charge-neutral assignment of oxidation states.
        min_elements: Smallest number of distinct elements; None for :attr:`fewest`'s
            default.

    """

    elements: tuple[str, ...]
    max_elements: int = 3
    grid: int = 10
    charge_balanced: bool = False
    min_elements: int | None = None

    @property
    def fewest(self) -> int:
        """The smallest number of elements: ``min_elements``, else a default.

        The default is 2 when charge balanced (an ionic compound has a cation and an
        anion; Fe or O2 is none) and compounds fit in the space, else 1.
        """
        if self.min_elements is not None:
            return self.min_elements
        if not self.charge_balanced:
            return 1
        return max(1, min(2, self.max_elements, len(self.elements), self.grid))

    def __post_init__(self) -> None:
        if not self.elements:
            raise ValueError("elements: at least one element is needed")
        for symbol in self.elements:
            if not Element.is_valid_symbol(symbol):
                raise ValueError(f"elements: {symbol!r} is not an element symbol")
            if symbol in ISOTOPES:  # pymatgen reads them as H: formulas would lose them
                raise ValueError(
                    f"elements: {symbol!r} is {ISOTOPES[symbol]}, which pymatgen's "
                    "compositions count as H; give H"
                )
        if len(set(self.elements)) != len(self.elements):
            raise ValueError(f"elements: listed twice in {list(self.elements)}")
        if not isinstance(self.grid, int) or isinstance(self.grid, bool):
            raise ValueError(f"grid: must be a whole number of steps, got {self.grid!r}")
        if not 1 <= self.grid <= MAX_GRID:
            raise ValueError(f"grid: must be in [1, {MAX_GRID}], got {self.grid}")
        if self.max_elements < 1:
            raise ValueError(f"max_elements: must be at least 1, got {self.max_elements}")
        if not 1 <= self.fewest <= self.max_elements:
            raise ValueError(
                f"min_elements: must be in [1, max_elements = {self.max_elements}], "
                f"got {self.fewest}"
            )
        most = min(len(self.elements), self.grid)  # each element present takes a grid step
        if self.fewest > most:
            raise ValueError(
                f"min_elements: {self.fewest} elements cannot be present with "
                f"{len(self.elements)} elements and a grid of {self.grid}"
            )

    def violations(
        self, fractions: Mapping[str, float], tol: float = 1e-6, on_grid: bool = True
    ) -> list[str]:
        """Every way ``fractions`` breaks the space's rules (empty when it is allowed).

        Args:
            fractions: Element symbol to molar fraction (zeros allowed).
            tol: Tolerance on the sum, the grid and non-negativity.
            on_grid: Whether the fractions must be multiples of ``1 / grid`` (a known
                material's substitution keeps its own stoichiometry).

        """
        problems = []
        if not all(math.isfinite(f) for f in fractions.values()):
            return ["fractions are not all finite numbers"]
        present = {el: f for el, f in fractions.items() if f > tol}
        if any(f < -tol for f in fractions.values()):
            problems.append("negative fraction")
        unknown = sorted(set(present) - set(self.elements))
        if unknown:
            problems.append(f"elements {unknown} not allowed")
        if abs(sum(fractions.values()) - 1.0) > tol:
            problems.append(f"fractions sum to {sum(fractions.values()):.6g}, not 1")
        if not self.fewest <= len(present) <= self.max_elements:
            problems.append(
                f"{len(present)} elements, outside [{self.fewest}, {self.max_elements}]"
            )
        off_grid = [
            el
            for el, f in present.items()
            if on_grid and abs(f * self.grid - round(f * self.grid)) > tol * self.grid
        ]
        if off_grid:
            problems.append(f"fractions of {off_grid} are not multiples of 1/{self.grid}")
        if self.charge_balanced and present and not unknown and not is_charge_balanced(present):
            problems.append("no charge-balanced oxidation states")
        return problems

    def allows(self, fractions: Mapping[str, float], on_grid: bool = True) -> bool:
        """Whether ``fractions`` satisfies every rule of the space (``on_grid``: the grid too)."""
        return not self.violations(fractions, on_grid=on_grid)

    def search_space(self) -> SearchSpace:
        """The campaign search space: one molar-fraction parameter per element, sum 1.

        Surrogates read it as chemistry (:mod:`discovery.campaign_models`); the pool of
        candidates from the generators below carries the grid, ``k`` and charge rules.
        """
        parameters = tuple(ContinuousParameter(el, 0.0, 1.0) for el in self.elements)
        return SearchSpace(parameters, (SimplexConstraint(self.elements, 1.0),))


@lru_cache(maxsize=100_000)
def _balanced(formula: str) -> bool:
    """Whether ``formula``'s atoms can take oxidation states that make an ionic compound.

    Each element's atoms are all cations or all anions, each atom in one of that sign's
    states (:func:`_states`; mixed valence, as Fe2+ Fe3+2 O4, is one sign), every anion
    is more electronegative (Pauling) than every cation, as SMACT's test has it, and the
    charges sum to zero. An element both cation and anion at once (S7O3 as S2- and S6+)
    would make nearly any composition of a nonmetal "balanced".

    The charges an element's atoms can carry together are the set bits of an integer
    (:func:`_carried`), so each choice of signs is a sumset test (:func:`_sums_to_zero`):
    a grid of thousands of compositions takes milliseconds.
    """
    choices = []
    for element, amount in Composition(formula).items():
        count = round(amount)
        if abs(amount - count) > 1e-8:
            return False  # not whole atoms
        signs = [(sign, str(element), count) for sign in (1, -1) if _states(str(element), sign)]
        if not signs:
            return False  # no known oxidation state (noble gases)
        choices.append(signs)
    for chosen in itertools.product(*choices):
        cations = [_electronegativity(symbol) for sign, symbol, _ in chosen if sign > 0]
        anions = [_electronegativity(symbol) for sign, symbol, _ in chosen if sign < 0]
        if not cations or not anions or max(cations) >= min(anions):
            continue
        if _sums_to_zero([_carried(symbol, sign, count) for sign, symbol, count in chosen]):
            return True
    return False


def _electronegativity(symbol: str) -> float:
    """Pauling electronegativity; an element without one (Rf) orders below every other."""
    value = Element(symbol).X
    return value if math.isfinite(value) else -math.inf


def _sums_to_zero(carried: list[tuple[int, int]]) -> bool:
    """Whether one total of each element's ``(lowest, bits)`` charges sums to zero."""
    carried = sorted(carried, key=lambda charges: charges[1].bit_count())  # widest last
    (lowest, bits), (last_lowest, last_bits) = (0, 1), carried.pop()
    for low, more in carried:
        lowest, bits = lowest + low, _sumset(bits, more)
    # zero: lowest + i + last_lowest + j = 0 for set bits i of bits and j of last_bits
    width = last_bits.bit_length()
    mirrored = int(f"{last_bits:b}"[::-1], 2)  # bit width - 1 - j for bit j
    shift = -(lowest + last_lowest) - (width - 1)  # i = shift + (width - 1 - j)
    aligned = mirrored << shift if shift >= 0 else mirrored >> -shift
    return bool(aligned & bits)


#: Atom counts up to which each element's carried charges are kept (a grid's counts).
_CARRIED_CACHE_COUNT = MAX_GRID
#: (element, sign) -> the charges 0, 1, 2, ... of its atoms can carry (bits, from the lowest).
_CARRIED: dict[tuple[str, int], list[int]] = {}
#: Held while a table grows: API requests generate pools in threads, and two appending
#: at once would shift every later count's entry.
_CARRIED_LOCK = threading.Lock()


def _carried(symbol: str, sign: int, count: int) -> tuple[int, int]:
    """The total charges ``count`` atoms of ``symbol``, all of one sign, can carry.

    Returns:
        ``(lowest, bits)``: bit ``i`` of ``bits`` is set when a total of ``lowest + i``
        can be carried, each atom in one of ``_states(symbol, sign)``.
    """
    states = _states(symbol, sign)
    shifts = [s - states[0] for s in states]
    kept = min(count, _CARRIED_CACHE_COUNT)
    with _CARRIED_LOCK:
        table = _CARRIED.setdefault((symbol, sign), [1])
        while len(table) <= kept:
            table.append(_or_shifts(table[-1], shifts))
        bits = table[kept]
    for _ in range(count - kept):  # a known material's own stoichiometry: rare, not kept
        bits = _or_shifts(bits, shifts)
    return count * states[0], bits


@cache
def _states(symbol: str, sign: int) -> tuple[int, ...]:
    """An element's oxidation states of one sign, sorted: pymatgen's ICSD and common ones.

    Both lists, as each misses states the other has: the ICSD's chlorine is only Cl-,
    which would drop every chlorate (NaClO3), and the common list lacks Mn3+ (Mn2O3).
    """
    element = Element(symbol)
    known = {*element.icsd_oxidation_states, *element.common_oxidation_states}
    return tuple(sorted(state for state in known if state * sign > 0))


def _sumset(bits: int, more: int) -> int:
    """The sums of one member of each set (set bits, offsets added by the caller)."""
    if bits.bit_count() < more.bit_count():
        bits, more = more, bits
    return _or_shifts(bits, [i for i in range(more.bit_length()) if more >> i & 1])


def _or_shifts(bits: int, shifts: list[int]) -> int:
    combined = 0
    for shift in shifts:
        combined |= bits << shift
    return combined


def is_charge_balanced(fractions: Mapping[str, float]) -> bool:
    """Whether the composition can be an ionic compound with charges summing to zero.

    Each element all cations or all anions, in pymatgen's oxidation states (ICSD and
    common), anions more electronegative than cations (:func:`_balanced`): it drops
    intermetallics (no anion), peroxides and superoxides (O in -1 or -1/2) and
    sub-oxides of nonmetals (S7O3, I4O), keeps mixed valence (Fe3O4, LiMn2O4) and
    oxyanions (NaClO3, K3IO), and keeps a single element (oxidation state 0).

    Args:
        fractions: Element symbol to amount (fractions or counts; scaled to integers).

    """
    present = {el: f for el, f in fractions.items() if f > 0}
    if len(present) == 1:
        return True  # an element: oxidation state 0
    atoms = _whole_atoms(_normalised(present), MAX_DENOMINATOR)
    return atoms is not None and _balanced(_written(atoms))  # no whole atoms: no states


def element_fractions(space: SearchSpace) -> list[str] | None:
    """The element symbols of a space's molar-fraction simplex, or None when it has none.

    Parameters named like elements (T, P, S) outside such a simplex are not chemistry.

    Args:
        space: Any search space.

    Returns:
        The names of the first simplex constraint whose names are all element symbols
        (its parameters are molar fractions, summing to 1), or None.
    """
    for simplex in space.simplex:
        if all(Element.is_valid_symbol(name) for name in simplex.names):
            return list(simplex.names)
    return None


#: The largest molar fraction that is no element: stored float noise (``1 - 0.7 - 0.3``
#: is 5.6e-17) is far below it, and any dopant a lab weighs out far above it.
ZERO_FRACTION = 1e-12


def formula_of(space: SearchSpace, parameters: Mapping[str, Any]) -> str | None:
    """The reduced formula of a point of a composition space (``Mg5Si6``), else None.

    What a lab makes, where the parameters are dozens of molar fractions, mostly 0; a
    fraction of float noise (at most :data:`ZERO_FRACTION`) is none.
    """
    names = element_fractions(space)
    if names is None:
        return None
    fractions = {name: float(parameters[name]) for name in names}
    held = {name: f for name, f in fractions.items() if f > ZERO_FRACTION}
    return reduced_formula(held) if held else None


def present_elements(names: Sequence[str], parameters: Mapping[str, Any]) -> list[str]:
    """The elements a point of a composition space holds, alphabetical.

    Those of ``names`` whose fraction is above :data:`ZERO_FRACTION` (float noise is no
    element), as :func:`formula_of` reads them: what a composition campaign's trial stores
    as its ``elements``. A fraction missing or not a number is none.

    Example:
        >>> present_elements(["Li", "Fe", "O"], {"Li": 4e-17, "Fe": 0.3, "O": 0.7})
        ['Fe', 'O']

    Args:
        names: The space's element symbols (:func:`element_fractions`).
        parameters: The point: symbol -> molar fraction.
    """
    return sorted(
        name
        for name in names
        if isinstance(fraction := parameters.get(name), int | float)
        and not isinstance(fraction, bool)
        and fraction > ZERO_FRACTION
    )


def reduced_formula(fractions: Mapping[str, float]) -> str:
    """The formula a lab makes of a composition, every element at its own amount.

    Elements in pymatgen's order (by electronegativity), amount 1 left out, no brackets
    (``Li5Fe6O9``, never pymatgen's ``Li5(Fe2O3)3``). Whole atoms when the composition is
    a ratio of at most :data:`MAX_FORMULA_ATOMS` atoms (every grid point is), else
    fractional amounts with the fewest digits (``Zn0.9998Ga0.0002O``): either way
    pymatgen reads it back to the same fractions (within :data:`FORMULA_RTOL`), so no
    dopant is dropped or moved. pymatgen's names of the elements as molecules stay
    (``O2``, ``Li2O2``).

    Args:
        fractions: Element symbol to amount (molar fractions or counts; zeros ignored).

    Raises:
        ValueError: when no amount is positive or one is not finite.

    Example:
        >>> reduced_formula({"Fe": 0.4, "O": 0.6}), reduced_formula({"Li": 5, "Fe": 6, "O": 9})
        ('Fe2O3', 'Li5Fe6O9')
    """
    present = _normalised(fractions)
    atoms = _whole_atoms(present, MAX_FORMULA_ATOMS)
    if atoms is None:
        return _fractional_formula(present)
    written = _written(atoms)
    return Composition.special_formulas.get(written, written)


def canonical_composition(composition: Composition) -> Composition:
    """The one composition every spelling of a material reads as.

    Whole atoms when they give back its fractions (``Fe0.5O0.75`` and ``Fe4O6`` are
    ``Fe2O3``), else its molar fractions, so that a dopant finer than
    :data:`MAX_FORMULA_ATOMS` atoms (``Zn0.9999Ga0.0001O``) is never rounded onto its
    host (pymatgen's integer formula takes it for noise): :func:`reduced_formula`, read
    back.
    """
    return Composition(reduced_formula(composition.as_dict()))


def _normalised(amounts: Mapping[str, float]) -> dict[str, float]:
    """The positive amounts as molar fractions (sum 1)."""
    if not all(math.isfinite(a) for a in amounts.values()):
        raise ValueError(f"fractions: not all finite numbers: {dict(amounts)}")
    present = {el: float(a) for el, a in amounts.items() if a > 0}
    if not present:
        raise ValueError("fractions: no element has a positive amount")
    total = math.fsum(present.values())
    return {el: a / total for el, a in present.items()}


def _whole_atoms(fractions: Mapping[str, float], most: int) -> dict[str, int] | None:
    """The smallest whole atom counts of ``fractions``, at most ``most`` atoms in all.

    None when no such counts give back every fraction within :data:`FORMULA_RTOL`:
    rounding would drop or move an element (pymatgen's own integer formula takes a
    fraction below ``1 / max_denominator`` for noise).
    """
    found: dict[str, tuple[int, int]] = {}
    for el, f in fractions.items():
        if (ratio := _ratio(f, most)) is None:
            return None
        found[el] = ratio
    common = math.lcm(*(q for _, q in found.values()))
    counts = {el: p * (common // q) for el, (p, q) in found.items()}
    divisor = math.gcd(*counts.values())
    counts = {el: c // divisor for el, c in counts.items()}
    if sum(counts.values()) > most or not _gives_back(counts, fractions):
        return None
    return counts


def _ratio(fraction: float, most: int) -> tuple[int, int] | None:
    """The first convergent ``p / q <= 1`` of ``fraction`` within tolerance, ``q <= most``.

    By continued fractions: ``c / N`` in lowest terms is found whatever float noise it
    carries. ``Fraction.limit_denominator`` would do too, several times slower over a grid.
    """
    p0, q0, p, q = 0, 1, 1, 0
    rest = fraction
    while True:
        whole = math.floor(rest)
        p0, q0, p, q = p, q, whole * p + p0, whole * q + q0
        if q > most:
            return None
        if abs(p / q - fraction) <= FORMULA_RTOL * fraction:
            return p, q
        left = rest - whole
        if left * (most + 1) < 1:  # the next term alone takes q past most (and 1 / 0 fails)
            return None
        rest = 1.0 / left


def _gives_back(amounts: Mapping[str, float], fractions: Mapping[str, float]) -> bool:
    """Whether ``amounts`` are ``fractions`` within :data:`FORMULA_RTOL`, element by element."""
    total = math.fsum(amounts.values())
    return amounts.keys() == fractions.keys() and all(
        abs(amounts[el] / total - f) <= FORMULA_RTOL * f for el, f in fractions.items()
    )


def _fractional_formula(fractions: Mapping[str, float]) -> str:
    """The formula of ``fractions`` with the fewest digits, one element at a whole amount or none.

    A doped compound reads as its host (``Zn0.9998Ga0.0002O``, ``Sr0.3La0.7Mn0.999Fe0.001O3``),
    other compositions as their fractions (``Fe0.4123O0.5877``). A scaling past
    :data:`MAX_FORMULA_ATOMS` atoms is the long whole-atom formula again (``Zn4999GaO5000``).
    """
    order = _order(frozenset(fractions))
    scales = [amount / fractions[anchor] for anchor in order for amount in _ANCHOR_AMOUNTS]
    written = [
        _written({el: fractions[el] * scale for el in order})
        for scale in (*scales, 1.0)  # the host readings first: they win ties
        if scale <= MAX_FORMULA_ATOMS  # the fractions sum to 1: the scale is the atoms
    ]
    return min(written, key=_digits)  # the first of the fewest: deterministic


def _digits(formula: str) -> int:
    """Significant digits of a formula's amounts (``Zn0.9998Ga0.0002O``: 5)."""
    return sum(len(n.replace(".", "").lstrip("0")) for n in _NUMBER.findall(formula))


def _written(amounts: Mapping[str, float]) -> str:
    """``amounts`` as a plain formula: pymatgen's element order, amount 1 left out."""
    return "".join(f"{el}{_amount(amounts[el])}" for el in _order(frozenset(amounts)))


def _amount(value: float) -> str:
    """An amount as a formula writes it: ``""`` for 1, ``3``, ``0.9998``; never ``1e-05``."""
    whole = round(value)
    if abs(value - whole) <= FORMULA_RTOL * value:
        return "" if whole == 1 else str(whole)
    decimals = max(0, _DIGITS - 1 - math.floor(math.log10(value)))
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


@lru_cache(maxsize=4096)
def _order(symbols: frozenset[str]) -> tuple[str, ...]:
    """Element symbols in pymatgen's formula order (electronegativity, then symbol)."""
    with warnings.catch_warnings():  # noble gases have none: pymatgen orders them last
        warnings.filterwarnings("ignore", "No Pauling electronegativity", UserWarning)
        formula = Composition(dict.fromkeys(symbols, 1)).formula  # "Li1 Fe1 O1"
    return tuple(part.rstrip("0123456789") for part in formula.split())


def _partitions(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    """Positive integer tuples of length ``parts`` summing to ``total``."""
    for cuts in itertools.combinations(range(1, total), parts - 1):
        bounds = (0, *cuts, total)
        yield tuple(b - a for a, b in itertools.pairwise(bounds))


class TooManyCompositionsError(ValueError):
    """A space allows more compositions than the caller will take."""


def enumerate_compositions(
    space: CompositionSpace, exclude: Iterable[str] = (), limit: int | None = None
) -> list[dict[str, float]]:
    """Every composition the space allows, one per reduced formula.

    Args:
        space: The composition space.
        exclude: Formulas already known (in the database, say); their reduced formulas are
            left out.
        limit: The most compositions wanted (None: all). Enumeration stops once past it,
            so a space too large to hold is refused without being made whole.

    Returns:
        Element-to-fraction dicts over all of ``space.elements`` (zeros included), sorted
        by number of elements and then formula, so the result is deterministic.

    Raises:
        TooManyCompositionsError: the space allows more than ``limit`` compositions
            besides ``exclude``.

    """
    found = dict(
        itertools.islice(_compositions(space, exclude), None if limit is None else limit + 1)
    )
    if limit is not None and len(found) > limit:
        raise TooManyCompositionsError(f"more than {limit} compositions")
    return [found[f] for f in sorted(found, key=lambda f: (len(Composition(f)), f))]


def _compositions(
    space: CompositionSpace, exclude: Iterable[str]
) -> Iterator[tuple[str, dict[str, float]]]:
    """The reduced formula and fractions of each composition the space allows, lazily."""
    seen = {reduced_formula(Composition(f).fractional_composition.as_dict()) for f in exclude}
    most = min(space.max_elements, len(space.elements), space.grid)  # no empty loops past it
    for n in range(space.fewest, most + 1):
        for subset in itertools.combinations(sorted(space.elements), n):
            for counts in _partitions(space.grid, n):
                fractions = {el: c / space.grid for el, c in zip(subset, counts, strict=True)}
                formula = reduced_formula(fractions)
                if formula in seen:
                    continue
                if space.charge_balanced and not is_charge_balanced(fractions):
                    continue
                seen.add(formula)
                yield formula, {el: fractions.get(el, 0.0) for el in space.elements}


def substitution_candidates(
    known: Sequence[str],
    space: CompositionSpace,
    threshold: float = 1e-3,
    exclude: Iterable[str] = (),
) -> list[dict[str, float]]:
    """Known materials with elements substituted by pymatgen's substitution predictor.

    Each known formula is decorated with its most likely oxidation states, the predictor
    proposes ionic substitutions with probability above ``threshold``, each ion is swapped
    at its own amount (a mixed-valence material's ions apart: Zn2+ for the Fe2+ of Fe3O4
    gives ZnFe2O4), and a proposal is kept when it is charge balanced (an ionic
    substitution keeps neutrality: Li+ for Fe3+ in Fe2O3 does not), lies in ``space``
    (elements, ``k``, charge; it keeps the known material's stoichiometry, so not
    necessarily the grid) and is not in ``known`` or ``exclude``.

    Args:
        known: Formulas of known materials (``LiFePO4``).
        space: Where the candidates must lie.
        threshold: Smallest substitution probability kept.
        exclude: Further formulas to leave out.

    Returns:
        Element-to-fraction dicts over ``space.elements``, most probable first.

    Raises:
        ValueError: naming a known formula and why it cannot be used: pymatgen cannot
            read it, or would read it as another composition (:func:`misread_formula`),
            finds no ions in it, or its substitution model knows none of them. Nothing is
            left out quietly: a pool from some of the known materials would pass for all.

    """
    from pymatgen.analysis.structure_prediction.substitution_probability import (
        SubstitutionPredictor,
    )

    ions = {formula: _ions(formula) for formula in known}  # every refusal before any work
    predictor = SubstitutionPredictor(threshold=threshold)
    taken = {reduced_formula(Composition(f).as_dict()) for f in (*known, *exclude)}
    scored: dict[str, tuple[float, dict[str, float]]] = {}
    for formula, decorated in ions.items():
        try:
            predictions = predictor.list_prediction(list(decorated))
        except ValueError as error:  # an ion the probability model does not know
            raise ValueError(f"known: {formula!r}: {error}") from None
        for prediction in predictions:
            amounts = _normalised(_substituted(decorated, prediction["substitutions"]))
            new_formula = reduced_formula(amounts)
            if new_formula in taken or not space.allows(amounts, on_grid=False):
                continue
            if not is_charge_balanced(amounts):
                continue
            best = scored.get(new_formula)
            if best is None or prediction["probability"] > best[0]:
                fractions = {el: amounts.get(el, 0.0) for el in space.elements}
                scored[new_formula] = (float(prediction["probability"]), fractions)
    ranked = sorted(scored.items(), key=lambda item: (-item[1][0], item[0]))
    return [fractions for _, (_, fractions) in ranked]


def _substituted(ions: Composition, substitutions: Mapping[Any, Any]) -> dict[str, float]:
    """Element amounts of ``ions`` once each ion is swapped as ``substitutions`` says.

    Ion by ion, not element by element: in Fe3O4 (Fe2+ Fe3+2 O2-4) Zn2+ for Fe2+ gives
    ZnFe2O4, where swapping every Fe would give Zn3O4.

    Args:
        ions: An oxidation-state-decorated composition (species to amount).
        substitutions: New ion to the ion of ``ions`` it replaces, as pymatgen's
            ``SubstitutionPredictor.list_prediction`` gives them (each new ion once).
    """
    replacing = {old: new for new, old in substitutions.items()}
    amounts: dict[str, float] = {}
    for ion, amount in ions.items():
        element = str(replacing.get(ion, ion).element)
        amounts[element] = amounts.get(element, 0.0) + float(amount)
    return amounts


def _ions(formula: str) -> Composition:
    """The ions of a known material and their amounts, by pymatgen's likeliest states.

    Returns:
        ``formula`` decorated with oxidation states, one species per charge of an element
        (Fe3O4: Fe2+ 1, Fe3+ 2, O2- 4).

    Raises:
        ValueError: naming ``formula`` and why it has none that the substitution
            predictor can use.
    """
    if problem := misread_formula(formula):
        raise ValueError(f"known: {formula!r}: {problem}")
    try:
        composition = Composition(formula)
    except ValueError as error:  # pymatgen's message names neither the input nor its role
        raise ValueError(f"known: {formula!r} is not a formula ({error})") from None
    if any(abs(a - round(a)) > Composition.amount_tolerance for a in composition.values()):
        parent = _integer_parent(composition)
        raise ValueError(
            f"known: {formula!r}: no oxidation states fit a non-integer composition; give an"
            f" integer formula{f' such as {parent}' if parent else ''}"
        )
    try:
        decorated = composition.add_charges_from_oxi_state_guesses()
    except ValueError as error:
        raise ValueError(
            f"known: {formula!r}: pymatgen finds no oxidation states ({error})"
        ) from None
    # pymatgen puts every element at 0 when no assignment is charge balanced
    if not any(getattr(s, "oxi_state", None) for s in decorated):
        raise ValueError(
            f"known: {formula!r}: pymatgen finds no ions in it (an element or an"
            " intermetallic?); substitutions swap the ions of an ionic compound"
        )
    return decorated


def _integer_parent(composition: Composition) -> str | None:
    """``composition`` with amounts rounded, if charge balanced (``La0.7Sr0.3MnO3``: ``LaMnO3``).

    None when rounding gives no ionic compound or is a toss-up (``La0.5Sr0.5MnO3``).
    """
    if any(0.4 <= a % 1 <= 0.6 for a in composition.values()):
        return None
    rounded = {str(el): round(a) for el, a in composition.items()}
    present = {el: n for el, n in rounded.items() if n > 0}
    if len(present) < 2 or not is_charge_balanced(present):
        return None
    return reduced_formula(present)


#: A Roman-numeral oxidation state after an element ("Fe(III)2O3"), which pymatgen silently
#: reads as iodine and vanadium atoms (Fe1 I6 O3). Amounts inside the parentheses
#: ("Cs(I3)") or other elements ("Ca(IO3)2") make it a genuine group.
ROMAN_OXIDATION_STATE = re.compile(r"[A-Z][a-z]?\s*\([IV]+\)")

#: One-letter element symbols one after another ("YBCO", "SCCO" in "BSCCO"), only the last
#: with an amount: pymatgen reads each capital as an atom, which is where abbreviations hide.
_LETTER_RUN = re.compile(r"(?:[A-Z](?![a-z]))+")

#: Letters that pymatgen reads as hydrogen isotopes: in a run of capitals, a T is far more
#: likely titanium's or tin's initial (ITO, BTO) than tritium.
_ISOTOPES = frozenset("DT")


def roman_oxidation_state(formula: str) -> str | None:
    """Why ``formula`` would be misread for a Roman-numeral oxidation state, if it has one.

    Args:
        formula: A formula as written (``"Fe(III)2O3"``).

    Returns:
        The reason (naming the oxidation state), or ``None`` when there is none.
    """
    if roman := ROMAN_OXIDATION_STATE.search(formula):
        return (
            f"{roman.group()!r} gives an oxidation state in Roman numerals, which would be"
            " read as I/V atoms; leave it out"
        )
    return None


#: How many formula units follow an adduct's dot: 7 in ``·7H2O``, 0.5 in ``·0.5H2O``.
_COUNT = r"\d+(?:\.\d+)?|\.\d+"

#: The dot between the formula units of a hydrate or other adduct, with the count after it.
#: ``·``, ``•``, ``∙``, ``⋅`` and ``*`` are never anything else. A ``.`` is a decimal point
#: too (``La1.85Sr0.15CuO4``), so it is read as a dot only before a capital
#: (``MgSO4.H2O``) or before a count and water or ammonia (``MgSO4.7H2O``,
#: ``CoCl3.6NH3``, which pymatgen reads as O4.7 and Cl3.6), never after an amount 0
#: (``Y0.5H2O`` is a decimal).
ADDUCT_DOT = re.compile(
    rf"\s*[·•∙⋅*]\s*(?P<count>{_COUNT})?"
    r"|(?<![A-Za-z]0)\.(?P<dotted>\d+(?:\.\d+)?)?(?=(?:H2O|NH3)(?![a-z\d]))"
    r"|\.(?=[A-Z])"
)


def adduct_units(formula: str) -> list[tuple[float, str]]:
    """The formula units of a hydrate or other adduct, each with its count.

    Args:
        formula: A formula as written.

    Returns:
        ``(count, unit)`` pairs in order, ``[(1.0, formula)]`` when it has no adduct dot
        (:data:`ADDUCT_DOT`).

    Example:
        >>> adduct_units("MgSO4.7H2O"), adduct_units("La1.85Sr0.15CuO4")
        ([(1.0, 'MgSO4'), (7.0, 'H2O')], [(1.0, 'La1.85Sr0.15CuO4')])
    """
    units: list[tuple[float, str]] = []
    start, count = 0, 1.0
    for dot in ADDUCT_DOT.finditer(formula):
        units.append((count, formula[start : dot.start()]))
        written = dot.group("count") or dot.group("dotted")
        count, start = (float(written) if written else 1.0), dot.end()
    units.append((count, formula[start:]))
    return units


def written_out(units: Sequence[tuple[float, str]]) -> str:
    """One plain formula for an adduct's units, their amounts added.

    Args:
        units: ``(count, unit)`` pairs (:func:`adduct_units`), each unit as meant.

    Returns:
        The amounts of one formula unit of the whole, in pymatgen's element order, not
        reduced.

    Raises:
        ValueError: for a unit that is missing, counted 0 times, or not a formula.

    Example:
        >>> written_out([(1.0, "MgSO4"), (7.0, "H2O")])
        'MgH14SO11'
    """
    amounts: dict[str, float] = {}
    for count, unit in units:
        if not unit.strip():
            raise ValueError("a formula unit is missing beside a dot")
        if count <= 0:
            raise ValueError(f"{unit!r} is counted {count:g} times")
        for element, amount in _unit(unit).items():
            amounts[element] = amounts.get(element, 0.0) + count * amount
    return _written(amounts)


def _unit(unit: str) -> dict[str, float]:
    """The element amounts of one formula unit of an adduct.

    Raises:
        ValueError: naming ``unit`` when pymatgen cannot read it, or reads a symbol that
            is no element.
    """
    try:
        composition = Composition(unit)
    except (ValueError, KeyError) as error:
        raise ValueError(f"{unit!r} is not a formula ({error})") from None
    if composition.num_atoms <= 0 or not all(isinstance(el, Element) for el in composition):
        raise ValueError(f"{unit!r} is not a formula of elements")
    return {str(el): float(amount) for el, amount in composition.items()}


def adduct_misread(formula: str) -> str | None:
    """Why pymatgen would misread ``formula`` as a hydrate or other adduct, if it would.

    pymatgen reads one formula unit: ``MgSO4.7H2O`` as Mg H2 S O5.7 and ``CuSO4·5H2O``
    not at all. A dot it reads right (``MgSO4.H2O``: Mg H2 S O5) passes.

    Args:
        formula: A formula as written.

    Returns:
        The reason, with the formula written out when it can be, or ``None``.
    """
    units = adduct_units(formula)
    if len(units) == 1:
        return None
    try:
        meant = written_out(units)
    except ValueError as error:
        return f"{formula!r} looks like a hydrate or adduct, but {error}"
    try:
        read: Composition | None = Composition(formula)
    except (ValueError, KeyError):
        read = None
    if read is not None and read.almost_equals(Composition(meant), rtol=FORMULA_RTOL, atol=0):
        return None
    reading = f"would read as {read.formula}" if read is not None else "cannot read"
    return (
        f"{formula!r} is a hydrate or adduct ({' + '.join(_counted(units))}), which"
        f" pymatgen {reading}; write it out: {meant}"
    )


def _counted(units: Sequence[tuple[float, str]]) -> list[str]:
    """Each unit with its count (``["MgSO4", "7 H2O"]``)."""
    return [unit if count == 1 else f"{count:g} {unit}" for count, unit in units]


def letter_runs(formula: str) -> list[str]:
    """Runs of three or more one-letter element symbols, amounts only after the last.

    Args:
        formula: A formula as written.

    Example:
        >>> letter_runs("YBCO6.7"), letter_runs("NaHCO3"), letter_runs("SiC")
        (['YBCO'], ['HCO'], [])
    """
    return [m.group() for m in _LETTER_RUN.finditer(formula) if len(m.group()) >= 3]


def misread_formula(formula: str) -> str | None:
    """Why pymatgen would read ``formula`` as another composition than its writer meant.

    Refused: a Roman-numeral oxidation state (:func:`roman_oxidation_state`), a hydrate
    or other adduct that pymatgen would read as one formula unit (:func:`adduct_misread`:
    ``"MgSO4.7H2O"`` as O4.7; the literature layer's ``read_formula`` writes it out),
    a run of one-letter symbols (:func:`letter_runs`) that repeats an element
    (``"BSCCO"``: a formula writes ``C2``) or holds ``T`` or ``D``, which pymatgen reads
    as hydrogen (``"ITO"``), and deuterium or tritium anywhere (``"D3S"`` is not H3S).
    Formulas written in capitals (``"CO"``, ``"KSCN"``, ``"HNO3"``) pass; a
    semi-structural ``"HCOOH"`` does not (write ``CH2O2``).

    Args:
        formula: A formula as written.

    Returns:
        The reason, or ``None`` when pymatgen's reading can be taken as meant.

    Example:
        >>> misread_formula("KSCN") is None, misread_formula("BSCCO") is None
        (True, False)
    """
    if roman := roman_oxidation_state(formula):
        return roman
    for run in letter_runs(formula):
        twice = next((a for a, b in itertools.pairwise(run) if a == b), None)
        if twice is not None:
            return (
                f"{run!r} reads as one atom per capital, with {twice * 2} where a formula"
                f" writes {twice}2: an abbreviation? write the formula with element symbols"
                " and amounts"
            )
        if isotope := next((c for c in run if c in _ISOTOPES), None):
            return (
                f"{run!r} reads as one atom per capital, {isotope} as hydrogen (an isotope):"
                " an abbreviation? write the formula with element symbols and amounts"
            )
    # symbols as pymatgen's parser reads them: D3S would be H3S, LaD10 LaH10
    if isotopes := sorted(set(re.findall(r"[A-Z][a-z]*", formula)) & _ISOTOPES):
        named = ", ".join(f"{symbol} ({ISOTOPES[symbol]})" for symbol in isotopes)
        return (
            f"holds {named}, which pymatgen reads as hydrogen: it would be taken for its"
            " hydrogen compound; write H where hydrogen is meant, or leave it out"
        )
    return adduct_misread(formula)


__all__ = [
    "ADDUCT_DOT",
    "CompositionSpace",
    "TooManyCompositionsError",
    "adduct_misread",
    "adduct_units",
    "element_fractions",
    "enumerate_compositions",
    "formula_of",
    "is_charge_balanced",
    "letter_runs",
    "misread_formula",
    "reduced_formula",
    "roman_oxidation_state",
    "substitution_candidates",
    "written_out",
]
