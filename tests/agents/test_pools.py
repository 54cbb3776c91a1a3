"""Generated composition pools (``agents.pools``): rules, candidates, recipe, refusals."""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest

import agents.pools as pools
import discovery.compositions as compositions
from agents.pools import (
    SUBSTITUTION_THRESHOLD,
    CompositionRules,
    PoolTooLargeError,
    generate_pool,
)
from discovery.compositions import CompositionSpace, enumerate_compositions, reduced_formula

FERRITES = ("Li", "Fe", "O")


def _none_known(elements: tuple[str, ...]) -> set[str]:
    return set()


def _unreachable(elements: tuple[str, ...]) -> set[str]:
    raise AssertionError("the database was asked before the rules were checked")


def test_a_grid_pool_is_every_allowed_composition_less_the_known_ones() -> None:
    asked: list[tuple[str, ...]] = []

    def known(elements: tuple[str, ...]) -> Iterable[str]:
        asked.append(elements)
        return {"Fe2O3", "Fe4O6", "LiO2", "CoO"}  # one composition twice; a peroxide; outside

    pool = generate_pool(CompositionRules(FERRITES, grid=20, charge_balanced=True), known)
    space = CompositionSpace(FERRITES, 3, 20, charge_balanced=True)
    assert asked == [FERRITES]
    assert pool.points == enumerate_compositions(space, {"Fe2O3"})
    assert pool.space == space.search_space()
    formulas = {reduced_formula(p) for p in pool.points}
    assert "Fe2O3" not in formulas and "LiFeO2" in formulas
    recipe = pool.recipe
    assert (recipe.elements, recipe.max_elements, recipe.min_elements) == (FERRITES, 3, 2)
    assert recipe.charge_balanced and recipe.grid == 20 and recipe.substitute_from == ()
    assert recipe.threshold is None
    assert recipe.known_left_out == 1  # Fe2O3 once; LiO2 is not balanced, CoO not Li-Fe-O


def test_a_known_composition_written_with_floats_is_its_grid_point() -> None:
    # a CSV's Ti0.33333333O0.66666667 is the grid's TiO2: left out once, and counted so
    floats = {"Ti0.33333333O0.66666667", "Ti0.9999O0.0001"}  # the second on no grid's point
    rules = CompositionRules(("Ti", "O"), grid=3, min_elements=1)
    for written in (floats, {*floats, "TiO2"}):
        pool = generate_pool(rules, lambda elements, written=written: written)
        assert sorted(reduced_formula(p) for p in pool.points) == ["O2", "Ti", "Ti2O"]
        assert pool.recipe.known_left_out == 1
    # charge balanced: the floats have no whole atoms to balance, their grid point has
    balanced = CompositionRules(("Ti", "O"), grid=3, charge_balanced=True)
    with pytest.raises(ValueError, match="but the 1 already known, left out"):
        generate_pool(balanced, lambda elements: floats)  # TiO2 was the only one


def test_substitutions_make_the_pool_with_formulas_read_as_meant() -> None:
    rules = CompositionRules(("Sr", "Ba", "Ti", "O"), substitute_from=("STO",))
    pool = generate_pool(rules, _none_known)
    formulas = {reduced_formula(p) for p in pool.points}
    assert "BaTiO3" in formulas and "SrTiO3" not in formulas  # the known one is left out
    recipe = pool.recipe
    assert recipe.substitute_from == ("SrTiO3",) and recipe.grid is None
    assert recipe.threshold == SUBSTITUTION_THRESHOLD and recipe.charge_balanced
    assert recipe.known_left_out == 1  # SrTiO3 itself


def test_a_hydrate_is_not_substituted_as_one_compound() -> None:
    rules = CompositionRules(("Cu", "Zn", "S", "O", "H"), substitute_from=("CuSO4.5H2O",))
    with pytest.raises(ValueError, match=r"'CuSO4.5H2O' is a hydrate .* its first unit \(CuSO4\)"):
        generate_pool(rules, _unreachable)


def test_the_formula_reader_may_be_injected() -> None:
    def strict(formula: str) -> str:
        raise ValueError(f"formula: {formula!r} is not in my notebook")

    rules = CompositionRules(FERRITES, substitute_from=("LiFeO2",))
    with pytest.raises(ValueError, match=r"^substitute_from: 'LiFeO2' is not in my notebook$"):
        generate_pool(rules, _unreachable, read_formula=strict)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (CompositionRules(FERRITES, grid=0), "grid: must be in [1, 1000], got 0"),
        (CompositionRules(("Fe", "Xx")), "elements: 'Xx' is not an element symbol"),
        (CompositionRules(()), "elements: at least one element is needed"),
        (CompositionRules(FERRITES, max_elements=0), "max_elements: must be at least 1"),
        (CompositionRules(("Li", "O"), min_elements=3), "min_elements: "),
        (
            CompositionRules(FERRITES, grid=20, substitute_from=("LiCoO2",)),
            "grid: cannot go with substitute_from: substitutions keep their own stoichiometry",
        ),
        (
            CompositionRules(FERRITES, substitute_from=("YBCO",)),
            "substitute_from: 'YBCO' is the abbreviation of YBa2Cu3O7",
        ),
    ],
)
def test_rules_that_make_no_space_are_refused_naming_the_field_before_the_database(
    rules: CompositionRules, message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        generate_pool(rules, _unreachable)
    assert str(refused.value).startswith(message), refused.value


def test_no_composition_left_is_refused_naming_the_elements() -> None:
    rules = CompositionRules(("Li", "O"), grid=3, charge_balanced=True)  # Li2O alone
    assert len(generate_pool(rules, _none_known).points) == 1
    with pytest.raises(ValueError, match=r"^elements: no composition satisfies these rules$"):
        generate_pool(CompositionRules(("Li", "Na"), grid=3, charge_balanced=True), _none_known)
    known = r"^elements: no composition satisfies these rules but the 1 already known, left out$"
    with pytest.raises(ValueError, match=known):  # Li2O was: say so, not "no composition"
        generate_pool(rules, lambda elements: {"Li2O"})
    swaps = CompositionRules(("Li", "Co", "O"), max_elements=3, substitute_from=("LiCoO2",))
    with pytest.raises(ValueError, match=r"^substitute_from: no charge-balanced substitution"):
        generate_pool(swaps, lambda elements: set())  # none of LiCoO2's lies in Li-Co-O
    unreadable = CompositionRules(FERRITES, substitute_from=("Fe2O3x",))
    with pytest.raises(ValueError, match=r"^substitute_from: 'Fe2O3x' is not a formula"):
        generate_pool(unreadable, _none_known)


def test_the_limit_is_exact_and_counts_only_the_compositions_not_known() -> None:
    rules = CompositionRules(FERRITES, grid=20, charge_balanced=True)
    size = len(generate_pool(rules, _none_known).points)
    assert len(generate_pool(rules, _none_known, limit=size).points) == size
    with pytest.raises(PoolTooLargeError, match=f"more than {size - 1} compositions"):
        generate_pool(rules, _none_known, limit=size - 1)
    fewer = generate_pool(rules, lambda elements: {"Fe2O3"}, limit=size - 1)  # one known
    assert len(fewer.points) == size - 1
    open_grid = CompositionRules(FERRITES, grid=20)  # every grid point: counted, not made
    size = len(generate_pool(open_grid, _none_known).points)
    assert len(generate_pool(open_grid, lambda elements: {"FeO"}, limit=size - 1).points)
    with pytest.raises(PoolTooLargeError, match=r"or charge_balanced$"):
        generate_pool(open_grid, _none_known, limit=size - 1)


def test_a_huge_grid_is_refused_without_making_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object) -> list[dict[str, float]]:
        raise AssertionError("the pool was made before it was refused")

    monkeypatch.setattr(pools, "enumerate_compositions", never)
    huge = CompositionRules(("Li", "Na", "K", "Fe", "Mn", "P", "O"), max_elements=5, grid=1000)
    started = time.perf_counter()
    with pytest.raises(PoolTooLargeError, match=r"^these rules make more than 200000 "):
        generate_pool(huge, _none_known, limit=200_000)  # about 10**13 grid points
    assert time.perf_counter() - started < 5


def test_a_charge_balanced_grid_is_counted_only_until_past_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tested = 0
    balanced = compositions.is_charge_balanced

    def counted(fractions: dict[str, float]) -> bool:
        nonlocal tested
        tested += 1
        return balanced(fractions)

    monkeypatch.setattr(compositions, "is_charge_balanced", counted)
    rules = CompositionRules(FERRITES, grid=300, charge_balanced=True)  # 45 451 grid points
    with pytest.raises(PoolTooLargeError):
        generate_pool(rules, _none_known, limit=50)
    assert 51 <= tested < 5000


def test_max_elements_past_the_elements_is_the_same_pool_quickly() -> None:
    many = CompositionRules(FERRITES, max_elements=10**9, charge_balanced=True)
    started = time.perf_counter()
    pool = generate_pool(many, _none_known, limit=200_000)
    assert time.perf_counter() - started < 5
    assert (
        pool.points
        == generate_pool(CompositionRules(FERRITES, charge_balanced=True), _none_known).points
    )
    assert pool.recipe.max_elements == 3  # as applied: three elements, no more in one
