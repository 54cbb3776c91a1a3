"""Composition pools that matloop generates: the rules, the candidates and their recipe.

The command line (``campaign create --elements``) and the HTTP API (``POST /campaigns``
with ``compositions``) both make their pools here, so that one set of rules gives one
pool: every composition the rules allow (or the substitutions of known materials),
less the compositions already known, with a :class:`~discovery.domain.PoolRecipe` that
says how it was made.

Example:
    >>> rules = CompositionRules(("Li", "Fe", "O"), charge_balanced=True)
    >>> pool = generate_pool(rules, known=lambda elements: {"Fe2O3"})
    >>> pool.recipe.known_left_out, len(pool.points) > 0
    (1, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from pymatgen.core import Composition

from discovery.compositions import (
    CompositionSpace,
    TooManyCompositionsError,
    adduct_units,
    enumerate_compositions,
    is_charge_balanced,
    reduced_formula,
    substitution_candidates,
)
from discovery.domain import PoolRecipe
from discovery.spaces import SearchSpace
from literature.formulas import read_formula as literature_formula

#: The smallest substitution probability a ``substitute_from`` pool keeps (pymatgen's
#: predictor threshold); recorded in the campaign's pool recipe.
SUBSTITUTION_THRESHOLD = 1e-3
#: Grid steps when none are given: molar fractions in tenths.
DEFAULT_GRID = 10
#: The most grid points a charge-balanced pool tests (pymatgen's oxidation states, one
#: composition at a time): about 10 s on one core here. Beyond, the rules are refused
#: at once, before any is tested, where a request would otherwise run for hours.
MAX_TESTED_POINTS = 300_000

#: Formulas already known within a chemical system (its element symbols).
KnownFormulas = Callable[[tuple[str, ...]], Iterable[str]]


class PoolTooLargeError(ValueError):
    """The rules allow more compositions than a pool may hold."""


@dataclass(frozen=True)
class CompositionRules:
    """How a pool of compositions is generated.

    Attributes:
        elements: Element symbols the compositions are made of.
        max_elements: The most elements in one composition (``k``).
        grid: Molar fractions are multiples of ``1 / grid``; None for
            :data:`DEFAULT_GRID`. Not with ``substitute_from``, whose substitutions keep
            the known materials' stoichiometry.
        charge_balanced: Keep charge-balanced ionic compositions only, by pymatgen's
            common oxidation states.
        min_elements: The fewest elements in one composition; None for
            :attr:`CompositionSpace.fewest`'s default (2 when charge balanced).
        substitute_from: Known formulas whose pymatgen substitutions make the pool instead
            of the grid (written as a chemist writes them: ``STO`` is ``SrTiO3``).

    """

    elements: tuple[str, ...]
    max_elements: int = 3
    grid: int | None = None
    charge_balanced: bool = False
    min_elements: int | None = None
    substitute_from: tuple[str, ...] = ()

    def space(self) -> CompositionSpace:
        """The composition space of these rules.

        Raises:
            ValueError: naming the field that breaks the space's rules (``grid: ...``,
                ``elements: ...``), or ``grid`` given with ``substitute_from``.
        """
        if self.substitute_from and self.grid is not None:
            raise ValueError(
                "grid: cannot go with substitute_from: substitutions keep their own stoichiometry"
            )
        grid = DEFAULT_GRID if self.grid is None else self.grid
        return CompositionSpace(
            tuple(self.elements), self.max_elements, grid, self.charge_balanced, self.min_elements
        )


@dataclass(frozen=True)
class GeneratedPool:
    """A generated pool: where its candidates lie, the candidates and how they were made.

    Attributes:
        space: The campaign's search space: one molar fraction per element, summing to 1.
        points: Element-to-fraction dicts over every element (zeros included).
        recipe: The rules, the formulas substituted and the known compositions left out.

    """

    space: SearchSpace
    points: list[dict[str, float]]
    recipe: PoolRecipe


def generate_pool(
    rules: CompositionRules,
    known: KnownFormulas,
    *,
    read_formula: Callable[[str], str] = literature_formula,
    limit: int | None = None,
) -> GeneratedPool:
    """The pool of compositions that ``rules`` make, leaving out those already known.

    Every refusal that needs no database comes before ``known`` is called.

    Args:
        rules: How the pool is generated.
        known: Formulas already known within a chemical system
            (:func:`db.materials.known_formulas`); called once, with ``rules.elements``.
        read_formula: How a ``substitute_from`` formula is read as its writer meant it
            (:func:`literature.formulas.read_formula`); a ValueError refuses it.
        limit: The most candidates the pool may hold (None: no limit). A grid is counted,
            and refused once past it, before its compositions are made.

    Returns:
        The search space, the candidates and the recipe.

    Raises:
        ValueError: whose message starts with the field of ``rules`` at fault
            (``grid: ...``, ``substitute_from: ...``, ``elements: no composition
            satisfies these rules``).
        PoolTooLargeError: a ValueError, for more than ``limit`` candidates.

    """
    space = rules.space()
    meant = _read_all(rules.substitute_from, read_formula)  # before any work
    taken = set(known(space.elements))
    if meant:  # the pool is the substitutions: likely chemistry, not every grid point
        points, dropped = _substitutions(rules, space, meant, taken)
        recipe = _pool_recipe(space, meant, taken, dropped)
    else:  # Ti0.33333333O0.66666667, written with floats, is the grid's TiO2
        taken = {_on_the_grid(space, formula) for formula in taken}
        recipe = _pool_recipe(space, meant, taken)
        points = _grid(space, taken, recipe.known_left_out, limit)
    if not points:
        left_out = recipe.known_left_out
        why = f" but the {left_out} already known, left out" if left_out else ""
        raise ValueError(f"elements: no composition satisfies these rules{why}")
    if limit is not None and len(points) > limit:
        raise PoolTooLargeError(_too_many(space, limit))
    return GeneratedPool(space.search_space(), points, recipe)


def _read_all(formulas: Sequence[str], read: Callable[[str], str]) -> list[str]:
    """``substitute_from`` formulas as meant: ``STO`` resolved, misreadings refused.

    A hydrate is refused too: the substitution predictor would take its water for ions
    of one compound (S2- for the O2- of CuSO4.5H2O's water, Cu+ for its H+).
    """
    for formula in formulas:
        units = adduct_units(formula)
        if len(units) > 1:
            raise ValueError(
                f"substitute_from: {formula!r} is a hydrate or adduct; substitutions swap "
                f"the ions of one compound: give its first unit ({units[0][1].strip()})"
            )
    try:
        return [read(formula) for formula in formulas]
    except ValueError as error:  # "formula: ..." names read_formula's field, not ours
        raise ValueError(f"substitute_from: {str(error).removeprefix('formula: ')}") from None


def _substitutions(
    rules: CompositionRules, space: CompositionSpace, meant: list[str], taken: set[str]
) -> tuple[list[dict[str, float]], int]:
    """The charge-balanced substitutions of ``meant`` in ``space``, none of ``taken``.

    Returns:
        The substitutions kept, and how many were left out as known.
    """
    try:
        made = substitution_candidates(meant, space, SUBSTITUTION_THRESHOLD)
    except ValueError as error:  # a known formula that cannot be used: all or nothing
        said = str(error).removeprefix("known: ")  # the generator's argument, not the option
        raise ValueError(f"substitute_from: {said}") from None
    known = {_formula(Composition(f).fractional_composition.as_dict()) for f in taken}
    points = [point for point in made if _formula(point) not in known]
    if not points:
        raise ValueError(
            f"substitute_from: no charge-balanced substitution of {list(rules.substitute_from)} "
            f"lies in {','.join(rules.elements)} with at most {rules.max_elements} elements"
            + (f" that is not known ({len(made)} are)" if made else "")
        )
    return points, len(made) - len(points)


def _formula(fractions: dict[str, float]) -> str:
    return reduced_formula({el: f for el, f in fractions.items() if f > 0})


def _too_many(space: CompositionSpace, limit: int) -> str:
    return (
        f"these rules make more than {limit} compositions, the most a pool may hold: "
        + _narrower(space)
    )


def _narrower(space: CompositionSpace) -> str:
    """How rules that make too much can be narrowed."""
    narrower = "fewer elements, a smaller max_elements or grid"
    return narrower if space.charge_balanced else narrower + ", or charge_balanced"


def _grid(
    space: CompositionSpace, taken: set[str], known_left_out: int, limit: int | None
) -> list[dict[str, float]]:
    """The grid's compositions, none of ``taken``; refused past ``limit`` before it is made.

    Without charge balance the grid's size is exact, so a pool too large is refused at
    once; with it the grid's size only bounds the pool, and enumeration stops once past
    ``limit``.
    """
    size = _grid_size(space)
    if space.charge_balanced and size > MAX_TESTED_POINTS:  # each is tested, made or not
        raise PoolTooLargeError(
            f"these rules make {size} grid points to test for charge balance, more than the "
            f"{MAX_TESTED_POINTS} tested at most: {_narrower(space)}"
        )
    if limit is not None and size - known_left_out <= limit:
        limit = None  # it cannot be past it
    if limit is not None and not space.charge_balanced:
        raise PoolTooLargeError(_too_many(space, limit))
    try:
        return enumerate_compositions(space, taken, limit)
    except TooManyCompositionsError:
        raise PoolTooLargeError(_too_many(space, limit or 0)) from None


def _grid_size(space: CompositionSpace) -> int:
    """How many grid points have ``fewest`` to ``max_elements`` elements (charge aside).

    Each is its own composition: ``C(elements, n)`` element sets times ``C(grid - 1,
    n - 1)`` ways to share the grid's steps among ``n`` elements, each taking one at least.
    """
    most = min(space.max_elements, len(space.elements), space.grid)
    counts = range(space.fewest, most + 1)
    return sum(math.comb(len(space.elements), n) * math.comb(space.grid - 1, n - 1) for n in counts)


def _pool_recipe(
    space: CompositionSpace, meant: list[str], known: set[str], dropped: int = 0
) -> PoolRecipe:
    """How ``space`` made a pool: its rules, the formulas substituted, the known left out.

    Args:
        space: The pool's composition space.
        meant: The formulas substituted (none: the grid).
        known: The formulas known in the chemical system.
        dropped: How many substitutions were known, and left out.
    """
    substituted = bool(meant)
    # the grid leaves out every known composition it holds; substitutions, those they
    # made, and the formulas substituted (at their own stoichiometry, where balanced)
    left_out = (
        dropped + _known_allowed(space, set(meant), substituted=True)
        if substituted
        else _known_allowed(space, known, substituted=False)
    )
    return PoolRecipe(
        space.elements,
        min(space.max_elements, len(space.elements)),  # as applied: 5 of Li, Fe, O is 3
        space.fewest,
        space.charge_balanced or substituted,  # a substitution keeps only balanced ones
        grid=None if substituted else space.grid,
        substitute_from=tuple(meant),
        threshold=SUBSTITUTION_THRESHOLD if substituted else None,
        known_left_out=left_out,
    )


def _known_allowed(space: CompositionSpace, known: Iterable[str], substituted: bool) -> int:
    """How many distinct compositions of ``known`` a pool generated in ``space`` could hold.

    These are the known compositions the pool leaves out: the grid would hold each of
    them, and a substitution that made one would be dropped (substitutions keep their
    own stoichiometry, off the grid, and are always charge balanced).
    """
    allowed = set()
    for formula in known:  # on a grid, each as its grid point (:func:`_on_the_grid`)
        fractions = Composition(formula).fractional_composition.as_dict()
        if not space.allows(fractions, on_grid=not substituted):
            continue
        if not substituted or is_charge_balanced(fractions):
            allowed.add(reduced_formula(fractions))
    return len(allowed)


def _on_the_grid(space: CompositionSpace, formula: str) -> str:
    """``formula``'s reduced formula at the nearest grid point (itself when off any).

    On the grid as the space reads it, charge balance aside: Ti0.33333333O0.66666667 has
    no whole atoms to balance, its grid point TiO2 has.
    """
    fractions = Composition(formula).fractional_composition.as_dict()
    if not replace(space, charge_balanced=False).allows(fractions):
        return formula
    steps = {element: round(share * space.grid) for element, share in fractions.items()}
    return reduced_formula({element: n for element, n in steps.items() if n})
