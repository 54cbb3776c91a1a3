"""Formulas as people write them: hydrates written out, decimals read as before."""

from __future__ import annotations

import pytest
from pymatgen.core import Composition

from literature.formulas import read_formula

#: Epsom salt, MgSO4 and seven waters: Mg S O11 H14.
EPSOM = Composition("MgSO11H14")


@pytest.mark.parametrize(
    "written", ["MgSO4.7H2O", "MgSO4·7H2O", "MgSO4•7H2O", "MgSO4*7H2O", "MgSO4 · 7H2O"]
)
def test_a_hydrate_is_read_with_its_waters_in_any_dot(written: str) -> None:
    # pymatgen reads MgSO4.7H2O as Mg H2 S O5.7 (Mg10H20S10O57) and MgSO4·7H2O not at all
    meant = read_formula(written)
    assert meant == "MgH14SO11"
    assert Composition(meant) == EPSOM


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("CuSO4.5H2O", "CuH10SO9"),  # pymatgen: Cu H2 S O5.5 (Cu2H4S2O11)
        ("CaSO4·0.5H2O", "CaHSO4.5"),  # a hemihydrate: a count of 0.5
        ("KAl(SO4)2.12H2O", "KAlH24S2O20"),
        ("STO·H2O", "SrTiH2O4"),  # each unit as meant: STO is SrTiO3
    ],
)
def test_each_unit_is_read_as_meant_and_their_amounts_added(written: str, meant: str) -> None:
    assert read_formula(written) == meant


@pytest.mark.parametrize(
    "formula", ["La1.85Sr0.15CuO4", "Ba0.6K0.4Fe2As2", "YBa2Cu3O6.5", "Na0.3CoO2"]
)
def test_decimal_amounts_read_as_before(formula: str) -> None:
    assert read_formula(formula) == formula


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("YBCO·H2O", "'YBCO' is the abbreviation of YBa2Cu3O7-δ, in which δ is not fixed"),
        ("Fe(III)2O3·H2O", "'Fe(III)' gives an oxidation state in Roman numerals"),
        ("MgSO4·", "a formula unit is missing beside a dot"),
        ("MgSO4·Qq", "'Qq' is not a formula of elements"),
    ],
)
def test_a_hydrate_whose_unit_cannot_be_read_is_refused_naming_the_whole(
    written: str, why: str
) -> None:
    with pytest.raises(ValueError) as refused:
        read_formula(written)
    assert str(refused.value).startswith(f"formula: {written!r}: ")
    assert why in str(refused.value)


@pytest.mark.parametrize("formula", ["C60", "C70", "B12", "S8", "P4", "K3C60"])
def test_one_element_molecules_read_as_written(formula: str) -> None:
    # the normaliser takes "S50" for a sample label; real molecules are no abbreviation
    assert read_formula(formula) == formula


@pytest.mark.parametrize(
    ("written", "meant"),
    [("Fe₂O₃", "Fe2O3"), ("La₁.₈₅Sr₀.₁₅CuO₄", "La1.85Sr0.15CuO4"), ("CuSO₄·5H₂O", "CuH10SO9")],
)
def test_subscript_digits_read_as_digits(written: str, meant: str) -> None:
    assert read_formula(written) == meant
