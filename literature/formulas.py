"""Formulas as people write them, read as they meant them before pymatgen reads them.

pymatgen reads any run of capitals as one atom per letter: ``YBCO`` as Y B C O,
``Fe(III)2O3`` as iron and iodine. A known abbreviation resolves through the
normaliser's table when that gives one exact formula (``STO`` is ``SrTiO3``) and is
refused otherwise (``YBCO``: its oxygen is not fixed); Roman-numeral oxidation states and
runs of capitals pymatgen would misread (``BSCCO``) are refused
(:func:`discovery.compositions.misread_formula`). A hydrate or other adduct, which
pymatgen reads as one formula unit (``MgSO4.7H2O`` as O4.7), is written out with its
units' amounts added (``MgSO4·7H2O``, ``MgSO4.7H2O``: ``MgH14SO11``).
"""

from __future__ import annotations

import re
import unicodedata

from discovery.compositions import adduct_units, letter_runs, misread_formula, written_out
from literature.normalize import MaterialName, normalize_material

#: Three lower-case letters: a word ("magnesium diboride", "carbon nanotubes"), never an
#: abbreviation or a formula; names are not resolved here (the normaliser's rule too).
_WORDY = re.compile(r"[a-z]{3}")


def read_formula(text: str) -> str:
    """A formula as its writer meant it: whitespace collapsed, a known abbreviation resolved.

    Args:
        text: The formula as written.

    Returns:
        ``text`` with whitespace collapsed and subscript digits written as digits
        (``Fe₂O₃`` is ``Fe2O3``: Unicode's compatibility form, NFKC), the exact formula of
        the abbreviation it is, or a hydrate's (an adduct's) formula written out
        (:func:`_adduct`).

    Raises:
        ValueError: naming ``formula``, for an abbreviation without one exact formula, a
            Roman-numeral oxidation state, capitals pymatgen would misread, or an adduct
            with a unit missing or unreadable.

    Example:
        >>> read_formula("STO"), read_formula("CuSO4.5H2O"), read_formula("La1.85Sr0.15CuO4")
        ('SrTiO3', 'CuH10SO9', 'La1.85Sr0.15CuO4')
    """
    written = " ".join(unicodedata.normalize("NFKC", text).split())
    units = adduct_units(written)
    if len(units) > 1:
        return _adduct(written, units)
    if not _WORDY.search(written):
        if (name := _abbreviation(written)) is not None:
            return _exact(name, written)
        for run in letter_runs(written):  # "YBCO6.7": pymatgen reads Y B C O6.7
            if (part := _abbreviation(run)) is not None:
                raise ValueError(
                    f"formula: {written!r}: {run!r} is the abbreviation of {part.template},"
                    " which pymatgen would read as one atom per capital; write the formula"
                )
    if problem := misread_formula(written):
        raise ValueError(f"formula: {written!r}: {problem}")
    return written


def _adduct(written: str, units: list[tuple[float, str]]) -> str:
    """A hydrate or other adduct (``MgSO4·7H2O``) as one plain formula (``MgH14SO11``).

    Each unit is read as meant first (``STO·H2O``: SrTiO3 and water), then their amounts
    are added (:func:`discovery.compositions.written_out`).

    Raises:
        ValueError: naming ``formula``, for a unit that cannot be read as meant.
    """
    try:
        return written_out([(count, read_formula(unit)) for count, unit in units])
    except ValueError as error:  # a unit's own "formula: ..." would hide the whole
        raise ValueError(f"formula: {written!r}: {str(error).removeprefix('formula: ')}") from None


def _abbreviation(text: str) -> MaterialName | None:
    """The normaliser's reading of ``text`` if its table names it, else ``None``."""
    name = normalize_material(text)
    # a formula reads as itself (template "Fe2O3" for "Fe2O3"); an abbreviation does not
    return None if name.template is None or name.template == name.name else name


def _exact(name: MaterialName, written: str) -> str:
    """The formula of an abbreviation, when the table gives one exact formula.

    Raises:
        ValueError: naming ``formula`` and the amounts left open (``YBCO``: its oxygen;
            ``LSCO``: its strontium).
    """
    open_ = (*name.unresolved, *name.assumed)
    if name.formula is None or open_:
        raise ValueError(
            f"formula: {written!r} is the abbreviation of {name.template}, in which"
            f" {' and '.join(open_)} is not fixed; write the formula with its amounts"
        )
    return name.formula


__all__ = ["read_formula"]
