"""Unit conversion of reported values with pint, so that a campaign compares like with like."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any


@functools.cache
def registry() -> Any:
    """The project's one pint registry (built on first use): it knows eV/atom and eV/fu."""
    import pint  # lazy: building the registry takes about a second

    units: Any = pint.UnitRegistry()
    # per atom and per formula unit, as materials databases quote energies (eV/atom):
    # dimensions of their own, so that meV/atom converts to eV/atom but never to eV
    units.define("atom = [atom]")
    units.define("formula_unit = [formula_unit] = fu")
    return units


#: Lab labels that pint would misread (``at%`` as percent x technical atmosphere, ``a.u.``
#: as atomic mass unit x year, ``mass%`` as milliarcsecond x percent, ``appm`` as
#: atto-ppm): fractions of different kinds and arbitrary units, which convert to nothing
#: and so match only themselves.
_BASIS = r"(at|wt|mole?|vol|mass|[awvm]|[wvm]/[wvm])"  # atomic, weight, w/w, ...
OPAQUE = re.compile(
    rf"{_BASIS}\.?\s*(%|ppm|ppb)|%\s*\(?{_BASIS}\.?\)?|a\.\s*u\.?|arb\.?\s*u(nits?)?\.?",
    re.IGNORECASE,
)
#: A power written without a caret, as labs write areas and volumes (``mA/cm2``, ``m2/g``).
_BARE_POWER = re.compile(r"(?<=[A-Za-z])([23])\b")


#: The longest unit label read (``kg*m**2/(s**3*A)`` is 16 characters).
MAX_UNIT_LENGTH = 64
# What pint would compute at full precision, holding the interpreter meanwhile: a number
# raised to a power ("9**9**8", "( (9) )^99"), an exponent that is an expression
# ("m**(9**99)"; "m**(-1)" is one number), or a number of more than six digits.
_COSTLY = re.compile(r"[\d.][\s)]*(\*\*|\^)|(\*\*|\^)\s*\((?!\s*[-+]?\d{1,2}\s*\))|\d{7}")


def _parsed(label: str) -> Any | None:
    """The unit pint reads in ``label``, or None (unknown, :data:`OPAQUE`, or costly).

    A label longer than :data:`MAX_UNIT_LENGTH`, or one with arithmetic that no unit
    needs (:data:`_COSTLY`), is read as no unit before pint sees it: an instrument's
    ``"9**9**8"`` would otherwise hold every request of the server for minutes.
    """
    if OPAQUE.fullmatch(label.strip()) or len(label) > MAX_UNIT_LENGTH or _COSTLY.search(label):
        return None
    try:  # pint's parser raises many kinds of error
        return registry().parse_units(_BARE_POWER.sub(r"^\1", label))
    except Exception:
        return None


def convertible(label: str) -> bool:
    """Whether pint reads ``label`` as a unit :func:`convert` can convert (not :data:`OPAQUE`)."""
    return _parsed(label) is not None


def unknown_unit_notes(quantities: Sequence[tuple[str, str | None]]) -> list[str]:
    """A note for each declared unit pint does not know: results in others cannot convert.

    Not refused: a label such as ``at%`` or ``a.u.`` (:data:`OPAQUE`) is meant to match
    only itself; but a misspelt ``pecent`` would leave every result given in ``%`` refused.

    Args:
        quantities: Each objective's or constrained quantity's name and declared unit.
    """
    return [
        f"{name}'s unit {unit!r} is not one pint knows: results must be given in it or "
        "without a unit, none converts to it (check its spelling)"
        for name, unit in quantities
        if unit and not convertible(unit) and not OPAQUE.fullmatch(unit.strip())
    ]


def check_physical(value: float, unit: str) -> None:
    """Refuse a temperature on an offset scale below its absolute zero (``-300 degC``).

    Only offset scales (degC, degF) are sure to be absolute temperatures: a value in
    kelvin may be a difference (a Tc shift of -5 K), and other quantities may be
    negative (energies, potentials). A label pint does not know is left to
    :func:`convert`.

    Args:
        value: The magnitude, in ``unit``.
        unit: Its unit (pint's syntax).

    Raises:
        ValueError: naming the value, the unit and absolute zero in that unit.
    """
    units, parsed = registry(), _parsed(unit)
    if parsed is None or parsed.dimensionality != units.kelvin.dimensionality:
        return
    zero = float(units.Quantity(0.0, "kelvin").to(parsed).magnitude)
    if zero != 0 and value < zero:  # zero == 0: kelvin, rankine, delta_degC
        raise ValueError(f"{value:g} {unit} is below absolute zero ({zero:g} {unit})")


def absolute_zero_at_zero(unit: str) -> bool:
    """Whether ``unit`` is a temperature scale starting at absolute zero: K, degR.

    A negative value in it is no temperature, though it may be a difference (a Tc shift
    of -5 K): :func:`check_physical` lets it be, a caller may say so.
    """
    units, parsed = registry(), _parsed(unit)
    if parsed is None or parsed.dimensionality != units.kelvin.dimensionality:
        return False
    if "delta" in str(parsed):  # delta_degC: a difference by name
        return False
    return float(units.Quantity(0.0, "kelvin").to(parsed).magnitude) == 0


#: Significant digits of a converted value: floating-point noise beyond them is dropped.
SIGNIFICANT_DIGITS = 12


def convert(value: float, unit: str, target: str) -> float:
    """``value`` given in ``unit``, expressed in ``target``.

    Offset scales convert as temperatures (50 degC is 323.15 K); equal labels are
    returned unchanged without asking pint. A converted magnitude is rounded to
    :data:`SIGNIFICANT_DIGITS` significant digits, far below any measurement's precision,
    to drop binary noise (-250 degC is 23.15 K, not 23.149999999999977).

    Args:
        value: The magnitude, in ``unit``.
        unit: The unit it was given in (pint's syntax: ``K``, ``degC``, ``GPa``, ``mAh/g``).
        target: The unit wanted.

    Returns:
        The magnitude in ``target``: ``value`` itself for equal labels, else rounded.

    Raises:
        ValueError: when either unit is blank, unknown to pint or :data:`OPAQUE`, or the
            two measure different things.
    """
    if unit == target:
        return value
    if not unit.strip() or not target.strip():
        raise ValueError("a unit must not be blank; give none instead")
    import pint

    to, given = _parsed(target), _parsed(unit)
    if to is None:
        raise ValueError(
            f"the campaign declares {target!r}, a unit pint does not convert: report the "
            f"value in {target!r} or without a unit"
        )
    if given is None:
        raise ValueError(f"{unit!r} is not a unit pint converts")
    try:
        magnitude = float(registry().Quantity(value, given).to(to).magnitude)
    except pint.errors.DimensionalityError:
        raise ValueError(f"{unit!r} cannot be converted to {target!r}") from None
    return significant(magnitude)


def significant(value: float, digits: int | None = None) -> float:
    """``value`` rounded to ``digits`` significant digits (default :data:`SIGNIFICANT_DIGITS`).

    Infinities and NaN are returned as they are.
    """
    return float(f"{value:.{digits or SIGNIFICANT_DIGITS}g}")
