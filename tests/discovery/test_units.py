"""Unit conversion with pint: converted magnitudes without binary noise."""

from __future__ import annotations

import math

import pytest

from discovery import units
from discovery.units import SIGNIFICANT_DIGITS, convert, convertible, significant


def test_a_conversion_leaves_no_floating_point_noise() -> None:
    assert convert(-250.0, "degC", "K") == 23.15  # 273.15 - 250 is 23.149999999999977
    assert convert(50.0, "degC", "K") == 323.15
    assert convert(1500.0, "meV", "eV") == 1.5
    assert convert(-20.0, "degR", "K") == -11.1111111111  # 12 significant digits


def test_a_value_in_its_own_unit_is_returned_exactly() -> None:
    value = 0.1 + 0.2  # 0.30000000000000004
    assert convert(value, "K", "K") == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (23.149999999999977, 23.15),
        (-0.0030000000000000005, -0.003),
        (1.234567890123456e30, 1.23456789012e30),
        (0.0, 0.0),
    ],
)
def test_significant_rounds_to_twelve_digits(value: float, expected: float) -> None:
    assert SIGNIFICANT_DIGITS == 12
    assert significant(value) == expected


def test_significant_leaves_infinities_and_nan() -> None:
    assert significant(math.inf) == math.inf and math.isnan(significant(math.nan))


@pytest.mark.parametrize(
    "label",
    [
        "9**9**8",
        "(9)^99",
        "(9**99)**99",
        "((99) )**((99) )**((99) )",  # brackets and spaces in any mix
        "m**(9**99)",  # an exponent that is an expression
        "10**10**10 m",
        "1234567 m",
        "m" * 65,
    ],
)
def test_a_unit_pint_would_compute_for_minutes_is_no_unit_and_never_reaches_it(
    label: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def pint_reached() -> None:
        raise AssertionError(f"{label!r} reached pint")  # which would hold every request

    monkeypatch.setattr(units, "registry", pint_reached)
    assert not convertible(label)


@pytest.mark.parametrize(
    "label", ["kg*m**2/s**2", "(m/s)**2", "K^-1", "m**(-1)", "g/cm^3", "mA/cm2"]
)
def test_powers_of_units_still_read(label: str) -> None:
    assert convertible(label)
