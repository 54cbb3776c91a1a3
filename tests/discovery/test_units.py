"""Unit conversion with pint: converted magnitudes without binary noise."""

from __future__ import annotations

import math

import pytest

from discovery.units import SIGNIFICANT_DIGITS, convert, significant


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
