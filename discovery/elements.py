"""Element descriptors from pymatgen's periodic table, for composition and crystal features.

One table, built once per process, feeds every featurizer: the Magpie-style statistics of
:mod:`discovery.featurizers`, the node features of the element graphs and of the crystal
graphs. Values come from pymatgen's ``periodic_table.json``; missing entries (noble-gas
electronegativity, say) are imputed with the column median and flagged in a companion
mask so that models can tell imputed from measured.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from functools import cache

import numpy as np
from pymatgen.core import Element

#: Elements covered: hydrogen to lawrencium (Z = 1..103).
MAX_Z = 103

#: pymatgen ``Element`` attributes used as numeric descriptors, in column order.
NUMERIC_PROPERTIES: tuple[str, ...] = (
    "Z",
    "atomic_mass",
    "row",
    "group",
    "X",
    "atomic_radius",
    "atomic_radius_calculated",
    "average_ionic_radius",
    "van_der_waals_radius",
    "mendeleev_no",
    "melting_point",
    "boiling_point",
    "molar_volume",
    "density_of_solid",
    "ionization_energy",
    "electron_affinity",
    "thermal_conductivity",
    "bulk_modulus",
    "youngs_modulus",
    "max_oxidation_state",
    "min_oxidation_state",
)

#: Columns derived from the valence configuration and block.
VALENCE_COLUMNS: tuple[str, ...] = (
    "valence_s",
    "valence_p",
    "valence_d",
    "valence_f",
    "valence_total",
    "block_s",
    "block_p",
    "block_d",
    "block_f",
    "is_metal",
)

#: Every column of :func:`element_table`, in order.
COLUMNS: tuple[str, ...] = NUMERIC_PROPERTIES + VALENCE_COLUMNS

_ORBITAL = re.compile(r"(\d+)([spdf])(\d+)")


def _number(element: Element, name: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns for each missing entry
        try:
            value = getattr(element, name)
        except (AttributeError, KeyError, ValueError, TypeError):
            return float("nan")
    try:
        return float(value) if value is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def _valence(element: Element) -> list[float]:
    """Electrons in the s, p, d, f orbitals outside the noble-gas core, and their sum."""
    counts = dict.fromkeys("spdf", 0.0)
    for _, orbital, electrons in _ORBITAL.findall(element.electronic_structure.split(".", 1)[-1]):
        counts[orbital] += float(electrons)
    values = [counts[o] for o in "spdf"]
    return [*values, sum(values)]


def _row(element: Element) -> list[float]:
    block = element.block
    return [
        *(_number(element, name) for name in NUMERIC_PROPERTIES),
        *_valence(element),
        *(float(block == b) for b in "spdf"),
        float(element.is_metal),
    ]


@cache
def element_table() -> tuple[np.ndarray, np.ndarray]:
    """Raw descriptor table of the elements H..Lr, with missing values imputed.

    Returns:
        ``(values, missing)``: ``values`` is ``(MAX_Z + 1) x len(COLUMNS)`` float64 in
        pymatgen's units (K, angstrom, amu, eV, GPa...), row ``Z`` for element ``Z`` and
        row 0 all zeros (padding); ``missing`` is the boolean mask of imputed cells.

    """
    rows = np.array([_row(Element.from_Z(z)) for z in range(1, MAX_Z + 1)], dtype=np.float64)
    missing = ~np.isfinite(rows)
    medians = np.nanmedian(np.where(missing, np.nan, rows), axis=0)
    rows = np.where(missing, medians, rows)
    pad = np.zeros((1, rows.shape[1]))
    return np.vstack([pad, rows]), np.vstack([np.zeros((1, rows.shape[1]), bool), missing])


@cache
def standardized_element_table() -> np.ndarray:
    """:func:`element_table` scaled to zero mean, unit variance over the real elements.

    Returns:
        ``(MAX_Z + 1) x len(COLUMNS)`` float32; row 0 (padding) stays zero.

    """
    values, _ = element_table()
    real = values[1:]
    scale = real.std(axis=0)
    scale[scale == 0] = 1.0
    out = (values - real.mean(axis=0)) / scale
    out[0] = 0.0
    return out.astype(np.float32)


@cache
def table_version() -> str:
    """Short hash of the element table: part of every featurizer version."""
    values, _ = element_table()
    digest = hashlib.sha256(values.tobytes())
    digest.update(",".join(COLUMNS).encode())
    return digest.hexdigest()[:12]


__all__ = [
    "COLUMNS",
    "MAX_Z",
    "element_table",
    "standardized_element_table",
    "table_version",
]
