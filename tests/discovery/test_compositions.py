"""Composition spaces and candidate generators: every candidate obeys its space."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymatgen.core import Composition, Element

import discovery.compositions as compositions
from discovery.compositions import (
    CompositionSpace,
    TooManyCompositionsError,
    adduct_units,
    enumerate_compositions,
    formula_of,
    is_charge_balanced,
    misread_formula,
    reduced_formula,
    substitution_candidates,
    written_out,
)

ELEMENTS = ("Li", "Na", "Mg", "Fe", "Cu", "O", "S", "Cl")


@st.composite
def composition_spaces(draw: st.DrawFn) -> CompositionSpace:
    elements = draw(st.lists(st.sampled_from(ELEMENTS), min_size=1, max_size=4, unique=True))
    k = draw(st.integers(1, min(3, len(elements))))
    return CompositionSpace(
        tuple(elements),
        max_elements=k,
        grid=draw(st.integers(1, 6)),
        charge_balanced=draw(st.booleans()),
        min_elements=draw(st.sampled_from([None, 1])),
    )


@settings(max_examples=40, deadline=None)
@given(space=composition_spaces())
def test_every_enumerated_composition_obeys_its_space(space: CompositionSpace) -> None:
    candidates = enumerate_compositions(space)
    formulas = [reduced_formula(c) for c in candidates]
    assert len(formulas) == len(set(formulas))  # one per reduced formula
    for fractions in candidates:
        assert set(fractions) == set(space.elements)
        assert space.violations(fractions) == []
        present = [f for f in fractions.values() if f > 0]
        assert space.fewest <= len(present) <= space.max_elements
        assert sum(fractions.values()) == pytest.approx(1.0)
        if space.charge_balanced and len(present) > 1:
            assert is_charge_balanced(fractions)


def test_fe_o_on_a_fifths_grid_is_complete_and_charge_balanced() -> None:
    everything = CompositionSpace(("Fe", "O"), max_elements=2, grid=5)
    balanced = CompositionSpace(("Fe", "O"), max_elements=2, grid=5, charge_balanced=True)
    formulas = {reduced_formula(c) for c in enumerate_compositions(everything)}
    assert formulas == {"Fe", "O2", "Fe4O", "Fe3O2", "Fe2O3", "FeO4"}  # FeO is off the grid
    # Fe4O, Fe3O2 and FeO4 need oxidation states iron does not have; Fe and O2 are no
    # ionic compounds, unless asked for
    assert {reduced_formula(c) for c in enumerate_compositions(balanced)} == {"Fe2O3"}
    elements_too = CompositionSpace(("Fe", "O"), 2, 5, charge_balanced=True, min_elements=1)
    assert {reduced_formula(c) for c in enumerate_compositions(elements_too)} == {
        "Fe",
        "O2",
        "Fe2O3",
    }


def test_violations_name_each_broken_rule() -> None:
    space = CompositionSpace(("Li", "Fe", "O"), max_elements=2, grid=10, charge_balanced=True)
    problems = space.violations({"Li": 0.25, "Fe": 0.25, "O": 0.45, "S": 0.05})
    text = "; ".join(problems)
    assert "['S'] not allowed" in text
    assert "4 elements" in text
    assert "multiples of 1/10" in text
    assert space.violations({"Li": 0.4, "O": 0.6}) == ["no charge-balanced oxidation states"]
    assert space.allows({"Li": 2 / 3, "O": 1 / 3}) is False  # off the grid
    assert CompositionSpace(("Li", "O"), grid=3, charge_balanced=True).allows(
        {"Li": 2 / 3, "O": 1 / 3}
    )


def test_known_formulas_are_left_out() -> None:
    space = CompositionSpace(("Na", "Cl"), max_elements=2, grid=2)
    assert "NaCl" in {reduced_formula(c) for c in enumerate_compositions(space)}
    assert "NaCl" not in {reduced_formula(c) for c in enumerate_compositions(space, ["Na2Cl2"])}


def test_bad_spaces_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="elements: 'Xx' is not an element symbol"):
        CompositionSpace(("Fe", "Xx"))
    with pytest.raises(ValueError, match="max_elements: must be at least 1, got 0"):
        CompositionSpace(("Fe",), max_elements=0)
    with pytest.raises(ValueError, match=r"min_elements: must be in \[1, max_elements = 2\]"):
        CompositionSpace(("Fe", "O"), max_elements=2, min_elements=3)
    with pytest.raises(ValueError, match="grid"):
        CompositionSpace(("Fe",), grid=0)
    with pytest.raises(ValueError, match=r"grid: must be a whole number of steps, got 2.5"):
        CompositionSpace(("Fe", "O"), grid=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"grid: must be in \[1, 1000\]"):
        CompositionSpace(("Fe", "O"), grid=1001)
    with pytest.raises(ValueError, match="min_elements: 2 elements cannot be present"):
        CompositionSpace(("Fe",), min_elements=2, max_elements=2)
    assert CompositionSpace(("Fe", "O")).violations({"Fe": math.nan, "O": 1.0}) == [
        "fractions are not all finite numbers"
    ]


def test_a_trials_formula_leaves_out_float_noise_but_keeps_a_dopant() -> None:
    space = CompositionSpace(("Li", "Fe", "O"), max_elements=3).search_space()
    noisy = {"Li": 4e-17, "Fe": 0.30000000000000004, "O": 0.7}  # 1 - 0.7 - 0.3 is not 0
    assert formula_of(space, noisy) == "Fe3O7"
    doped = {"Li": 1e-6, "Fe": 0.3 - 1e-6, "O": 0.7}
    assert formula_of(space, doped) == "Li0.00001Fe2.99999O7"
    assert formula_of(space, {"Li": 1e-17, "Fe": 0.0, "O": 0.0}) is None


def test_a_fine_grid_keeps_every_element() -> None:
    # at pymatgen's default precision a fraction of 1/1000 was noise: Li vanished
    assert reduced_formula({"Li": 0.001, "Fe": 0.023, "O": 0.976}) == "LiFe23O976"
    space = CompositionSpace(("Li", "O"), max_elements=2, grid=1000)
    assert len(list(enumerate_compositions(space))) == 1001


def test_substitutions_of_known_materials_lie_in_the_space_and_are_new() -> None:
    space = CompositionSpace(
        ("Li", "Na", "Fe", "Mn", "Co", "Ni", "O"), max_elements=3, grid=4, charge_balanced=True
    )
    candidates = substitution_candidates(["LiCoO2"], space, exclude=["NaCoO2"])
    formulas = [reduced_formula(c) for c in candidates]
    assert formulas and "LiCoO2" not in formulas and "NaCoO2" not in formulas
    assert {"LiNiO2", "LiMnO2"} & set(formulas)
    assert all(space.allows(c) for c in candidates)


def test_substitutions_keep_the_known_stoichiometry_and_charge_balance() -> None:
    space = CompositionSpace(("Li", "Na", "Fe", "Mn", "P", "O"), max_elements=4, grid=10)
    formulas = [reduced_formula(c) for c in substitution_candidates(["LiFePO4"], space)]
    assert {"NaFePO4", "LiMnPO4"} & set(formulas)  # sevenths: off the grid of 10
    lithium_iron = CompositionSpace(("Li", "Fe", "O"), max_elements=3, grid=10)
    from_hematite = substitution_candidates(["Fe2O3"], lithium_iron)
    assert "Li2O3" not in [reduced_formula(c) for c in from_hematite]  # Li+ for Fe3+


def test_a_mixed_valence_materials_ions_are_swapped_each_at_its_own_amount() -> None:
    # Fe3O4 is Fe2+ Fe3+2 O4: Zn2+ for the Fe2+ alone is the spinel ZnFe2O4, never Zn3O4
    space = CompositionSpace(("Fe", "Ni", "Zn", "Co", "O"), max_elements=3, grid=10)
    formulas = {reduced_formula(c) for c in substitution_candidates(["Fe3O4"], space)}
    assert {"ZnFe2O4", "Fe2NiO4", "Fe2CoO4", "FeNi2O4", "FeCo2O4"} <= formulas
    assert not {"Ni3O4", "Zn3O4", "Co3O4"} & formulas  # pymatgen predicts none of them
    # LiMn2O4 is Li+ Mn3+ Mn4+ O4: Fe3+ for the Mn3+ alone, the Mn4+ kept
    wider = CompositionSpace(("Li", "Mn", "Fe", "Ni", "O"), max_elements=4, grid=10)
    assert [reduced_formula(c) for c in substitution_candidates(["LiMn2O4"], wider)] == ["LiMnFeO4"]


def _ionic_by_brute_force(formula: str) -> bool:
    """The rule spelled out: every atom's state enumerated, each element of one sign."""
    amounts = {str(e): round(n) for e, n in Composition(formula).items()}
    options = []
    for symbol in amounts:
        element = Element(symbol)
        states = {*element.icsd_oxidation_states, *element.common_oxidation_states} - {0}
        by_sign = {sign: [s for s in states if s * sign > 0] for sign in (1, -1)}
        options.append([(symbol, sign, signed) for sign, signed in by_sign.items() if signed])
    for chosen in itertools.product(*options):
        cations = [Element(sym).X for sym, sign, _ in chosen if sign > 0]
        anions = [Element(sym).X for sym, sign, _ in chosen if sign < 0]
        if not cations or not anions or max(cations) >= min(anions):
            continue
        totals = [
            {sum(c) for c in itertools.combinations_with_replacement(states, amounts[sym])}
            for sym, _, states in chosen
        ]
        if 0 in {sum(t) for t in itertools.product(*totals)}:
            return True
    return False


@pytest.mark.parametrize(
    ("elements", "grid"), [(("Li", "Fe", "P", "O"), 8), (("Na", "Cl", "S", "O"), 6)]
)
def test_charge_balance_agrees_with_the_rule_spelled_out_atom_by_atom(
    elements: tuple[str, ...], grid: int
) -> None:
    space = CompositionSpace(elements, max_elements=len(elements), grid=grid)
    for point in enumerate_compositions(space):
        formula = reduced_formula(point)
        single = sum(f > 0 for f in point.values()) == 1  # an element: state 0
        assert is_charge_balanced(point) == (single or _ionic_by_brute_force(formula)), formula


@pytest.mark.parametrize(
    ("formula", "ionic"),
    [
        ("S7O3", False),  # S2- and S6+ at once: not a compound
        ("I4O", False),
        ("CuS9", False),
        ("Na2O2", False),  # a peroxide: O- is no state of oxygen here
        ("Fe3Al", False),  # an intermetallic: no anion
        ("NaClO3", True),  # Cl5+: the ICSD lists only Cl-
        ("Na3ClO", True),  # an antiperovskite: Cl- and O2- both anions
        ("Fe3O4", True),  # Fe2+ Fe3+2: mixed valence of one sign
        ("LiMn2O4", True),
        ("NH4Cl", True),
    ],
)
def test_charge_balance_keeps_ionic_compounds_only(formula: str, ionic: bool) -> None:
    assert is_charge_balanced(Composition(formula).fractional_composition.as_dict()) is ionic


@pytest.mark.parametrize(
    ("amounts", "formula"),
    [
        ({"Li": 5, "Fe": 6, "O": 9}, "Li5Fe6O9"),  # pymatgen: Li5(Fe2O3)3
        ({"Li": 1, "Fe": 6, "O": 8}, "LiFe6O8"),  # pymatgen: Li(Fe3O4)2
        ({"Mn": 1, "Fe": 3, "O": 6}, "MnFe3O6"),  # pymatgen: Mn(FeO2)3
        ({"Fe": 0.4, "O": 0.6}, "Fe2O3"),
        ({"Li": 1, "Fe": 1, "P": 1, "O": 4}, "LiFePO4"),
        ({"Sr": 0.2, "Ti": 0.2, "O": 0.6}, "SrTiO3"),
        ({"Mg": 5, "Si": 6}, "Mg5Si6"),
        ({"O": 1}, "O2"),
    ],
)
def test_reduced_formulas_are_plain_with_no_polyanion_brackets(
    amounts: dict[str, float], formula: str
) -> None:
    assert reduced_formula(amounts) == formula
    written = Composition(formula).fractional_composition
    assert written.almost_equals(Composition(amounts).fractional_composition)


@pytest.mark.parametrize(
    ("amounts", "formula"),
    [
        ({"Zn": 0.4999, "Ga": 0.0001, "O": 0.5}, "Zn0.9998Ga0.0002O"),  # pymatgen: ZnO
        ({"Zn": 0.4997, "Ga": 0.0003, "O": 0.5}, "Zn0.9994Ga0.0006O"),  # Zn2499(GaO1250)2
        ({"Zn": 1, "Ga": 1e-7, "O": 1}, "ZnGa0.0000001O"),
        ({"Fe": 0.4123, "O": 0.5877}, "Fe0.4123O0.5877"),  # no whole-atom ratio on the grid
    ],
)
def test_a_dopant_finer_than_the_grid_is_written_with_fractions(
    amounts: dict[str, float], formula: str
) -> None:
    assert reduced_formula(amounts) == formula


@settings(max_examples=200, deadline=None)
@given(
    amounts=st.dictionaries(
        st.sampled_from(ELEMENTS),
        st.floats(1e-6, 1.0) | st.integers(1, 12).map(float),
        min_size=1,
        max_size=4,
    )
)
def test_a_formula_gives_back_every_fraction(amounts: dict[str, float]) -> None:
    # the lab makes what the formula says: no element dropped, none moved past 1e-9
    formula = reduced_formula(amounts)
    assert "(" not in formula
    read = Composition(formula).fractional_composition
    total = sum(amounts.values())
    assert {str(el) for el in read} == set(amounts)
    for element, amount in amounts.items():
        assert read[element] == pytest.approx(amount / total, rel=1e-9)


def test_measured_dopings_are_told_apart_from_their_host() -> None:
    doped = {"Zn": 0.4999, "Ga": 0.0001, "O": 0.5}
    space = CompositionSpace(("Zn", "Ga", "O"), max_elements=3, grid=2)
    # ZnO stays in the pool: the doped sample measured is another composition
    assert "ZnO" in {
        reduced_formula(c) for c in enumerate_compositions(space, [reduced_formula(doped)])
    }


@pytest.mark.parametrize(
    ("known", "why"),
    [
        (
            "La0.7Sr0.3MnO3",
            "known: 'La0.7Sr0.3MnO3': no oxidation states fit a non-integer composition; "
            "give an integer formula such as LaMnO3",
        ),
        ("Fe(III)2O3", "known: 'Fe(III)2O3': 'Fe(III)' gives an oxidation state in Roman"),
        ("STO", "known: 'STO': 'STO' reads as one atom per capital, T as hydrogen"),
        ("Mg5Si6", "known: 'Mg5Si6': pymatgen finds no ions in it"),
        (
            "CuSO4.5H2O",
            "known: 'CuSO4.5H2O': 'CuSO4.5H2O' is a hydrate or adduct (CuSO4 + 5 H2O), which"
            " pymatgen would read as Cu1 H2 S1 O5.5; write it out: CuH10SO9",
        ),
    ],
)
def test_a_known_formula_that_cannot_be_used_is_refused_by_name(known: str, why: str) -> None:
    space = CompositionSpace(
        ("Li", "Na", "Co", "Ni", "La", "Sr", "Mn", "Fe", "O"), max_elements=4, grid=10
    )
    with pytest.raises(ValueError) as refused:
        substitution_candidates(["LiCoO2", known], space)  # not a pool of LiCoO2 alone
    assert str(refused.value).startswith(why)


def test_enumeration_stops_past_its_limit_and_keeps_the_order() -> None:
    space = CompositionSpace(("Li", "Fe", "O"), max_elements=3, grid=10, charge_balanced=True)
    every = enumerate_compositions(space)
    assert enumerate_compositions(space, limit=len(every)) == every  # sorted as without one
    with pytest.raises(TooManyCompositionsError, match=f"more than {len(every) - 1} "):
        enumerate_compositions(space, limit=len(every) - 1)
    with pytest.raises(TooManyCompositionsError):
        enumerate_compositions(space, limit=0)
    known = enumerate_compositions(space, exclude=["Fe2O3"], limit=len(every) - 1)
    assert len(known) == len(every) - 1  # the known one does not count


@pytest.mark.parametrize(
    ("formula", "balanced"),
    [
        ("Fe1001O1501", True),  # 1000 Fe3+ and one Fe2+: past the counts kept per element
        ("Li1001O500", False),  # one Li+ too many
        ("Li1000O500", True),
        ("Fe999O1499", False),  # 2 * 1499 > 3 * 999
    ],
)
def test_charge_balance_of_whole_atoms_past_a_grids_counts(formula: str, balanced: bool) -> None:
    fractions = Composition(formula).fractional_composition.as_dict()
    assert is_charge_balanced(fractions) is balanced


@pytest.mark.parametrize(
    ("written", "units", "meant"),
    [
        ("MgSO4.7H2O", [(1, "MgSO4"), (7, "H2O")], "MgH14SO11"),  # pymatgen: O4.7
        ("MgSO4·7H2O", [(1, "MgSO4"), (7, "H2O")], "MgH14SO11"),  # pymatgen: unreadable
        ("MgSO4 • 7H2O", [(1, "MgSO4"), (7, "H2O")], "MgH14SO11"),
        ("Na2CO3*10H2O", [(1, "Na2CO3"), (10, "H2O")], "Na2H20CO13"),
        ("KAl(SO4)2.12H2O", [(1, "KAl(SO4)2"), (12, "H2O")], "KAlH24S2O20"),
        ("CaSO4·0.5H2O", [(1, "CaSO4"), (0.5, "H2O")], "CaHSO4.5"),
        ("CaSO4.0.5H2O", [(1, "CaSO4"), (0.5, "H2O")], "CaHSO4.5"),
        ("CoCl3.6NH3", [(1, "CoCl3"), (6, "NH3")], "CoH18N6Cl3"),  # pymatgen: Cl3.6
    ],
)
def test_a_hydrate_is_its_units_added_and_refused_as_pymatgen_would_misread_it(
    written: str, units: list[tuple[float, str]], meant: str
) -> None:
    assert adduct_units(written) == units
    assert written_out(units) == meant
    assert Composition(meant) == sum(
        (Composition(unit) * count for count, unit in units), Composition()
    )
    problem = misread_formula(written)
    assert problem is not None and problem.endswith(f"write it out: {meant}"), problem


@pytest.mark.parametrize(
    "formula", ["La1.85Sr0.15CuO4", "Ba0.6K0.4Fe2As2", "YBa2Cu3O6.5", "Na0.3CoO2", "Y0.5H2O"]
)
def test_decimal_points_are_no_hydrate_dots(formula: str) -> None:
    assert adduct_units(formula) == [(1.0, formula)]
    assert misread_formula(formula) is None


def test_a_hydrate_dot_pymatgen_reads_right_passes() -> None:
    # "O4." is O4 to pymatgen, and H2O follows: Mg H2 S O5 as meant
    assert adduct_units("MgSO4.H2O") == [(1.0, "MgSO4"), (1.0, "H2O")]
    assert written_out(adduct_units("MgSO4.H2O")) == "MgH2SO5"
    assert misread_formula("MgSO4.H2O") is None


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("MgSO4·", "a formula unit is missing beside a dot"),
        ("MgSO4·0H2O", "'H2O' is counted 0 times"),
        ("MgSO4·Xx", "'Xx' is not a formula of elements"),
    ],
)
def test_a_hydrate_with_a_unit_that_cannot_be_read_is_refused_naming_it(
    written: str, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        written_out(adduct_units(written))
    assert misread_formula(written) == f"{written!r} looks like a hydrate or adduct, but {why}"


@pytest.mark.parametrize("formula", ["D3S", "LaD10", "T2O", "LiOD"])
def test_deuterium_and_tritium_are_misreadings_wherever_a_formula_is_read(formula: str) -> None:
    """pymatgen reads D and T as H: D3S would be merged with and predicted as H3S."""
    assert "which pymatgen reads as hydrogen" in (misread_formula(formula) or "")


@pytest.mark.parametrize("formula", ["DyTe", "TaS2", "SrTiO3", "TbTe3"])
def test_elements_starting_with_d_or_t_are_no_isotopes(formula: str) -> None:
    assert misread_formula(formula) is None


def test_noble_gases_take_their_place_in_a_formula_without_a_warning(
    recwarn: pytest.WarningsRecorder,
) -> None:
    compositions._order.cache_clear()  # a cached order would warn nothing either way
    assert compositions._order(frozenset({"He", "Li", "O"})) == ("Li", "O", "He")
    assert not [w for w in recwarn if "Pauling" in str(w.message)]
