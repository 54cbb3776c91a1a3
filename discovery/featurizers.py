"""Compositions as element sets, Magpie-style descriptor vectors and Roost-style graphs.

A composition is stored as a padded set: the atomic numbers of its elements and their
molar fractions (``N x K``, zero padded, fractions sum to 1). From that one form come

* the descriptor vector of the deep ensemble (:func:`composition_features`): for each
  element property of :mod:`discovery.elements` the fraction-weighted mean, mean absolute
  deviation, minimum, maximum and range (Ward et al., npj Comput. Mater. 2, 16028, 2016),
  the stoichiometric p-norms, and the fraction of every element (ElemNet's input);
* the element graph of the composition GNN (Goodall & Lee, Nat. Commun. 11, 6280, 2020):
  one node per element, weighted by its fraction, fully connected.

Both are computed with tensor operations, so a campaign can featurize candidates inside
a BoTorch posterior call, and both are deterministic and batched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from pymatgen.core import Composition
from pymatgen.core.periodic_table import DummySpecies

from discovery.compositions import misread_formula
from discovery.elements import COLUMNS, MAX_Z, element_table, table_version

#: Statistics of each element property, in feature order.
STATISTICS: tuple[str, ...] = ("mean", "mean_abs_dev", "min", "max", "range")

#: Stoichiometric p-norms of the fraction vector (Magpie's stoichiometry attributes).
P_NORMS: tuple[int, ...] = (2, 3, 5, 7, 10)


def feature_names() -> list[str]:
    """Names of the :func:`composition_features` columns, in order."""
    stats = [f"{stat}:{prop}" for prop in COLUMNS for stat in STATISTICS]
    norms = ["n_elements", *(f"p{p}_norm" for p in P_NORMS)]
    fractions = [f"fraction:{z}" for z in range(1, MAX_Z + 1)]
    return [*stats, *norms, *fractions]


def featurizer_version() -> str:
    """Version of the composition featurization (changes when the element table does)."""
    return f"composition:{len(feature_names())}:{table_version()}"


@dataclass(frozen=True)
class CompositionBatch:
    """A batch of compositions as zero-padded element sets.

    Attributes:
        elements: ``B x K`` atomic numbers (long), 0 where padded.
        fractions: ``B x K`` molar fractions (float), 0 where padded; rows sum to 1.

    """

    elements: torch.Tensor
    fractions: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """``B x K`` boolean: which slots hold an element."""
        return self.elements > 0

    def to(self, device: torch.device) -> CompositionBatch:
        """The batch on ``device``."""
        return CompositionBatch(self.elements.to(device), self.fractions.to(device))

    def __len__(self) -> int:
        return int(self.elements.shape[0])


#: An element written with amount 0 ("Fe0O"), which pymatgen silently drops.
_ZERO_AMOUNT = re.compile(r"[A-Za-z]0(?![.\d])")


@lru_cache(maxsize=200_000)
def _parse(formula: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    if _ZERO_AMOUNT.search(formula):
        raise ValueError("an element has amount 0")
    # pymatgen reads Fe(III) as Fe I3 and STO as S, tritium and O: refuse, never guess
    if problem := misread_formula(formula):
        raise ValueError(problem)
    composition = Composition(formula)
    if composition.num_atoms <= 0:
        raise ValueError("it has no atoms")
    unknown = [str(el.symbol) for el in composition if isinstance(el, DummySpecies)]
    if unknown:  # pymatgen reads an unknown symbol as a placeholder species
        raise ValueError(f"{unknown[0]!r} is not an element")
    fractions = composition.fractional_composition
    pairs = sorted((el.Z, float(amount)) for el, amount in fractions.items())
    for z, _ in pairs:
        if not 1 <= z <= MAX_Z:
            raise ValueError(f"element Z={z} is outside H..Lr")
    return tuple(z for z, _ in pairs), tuple(f for _, f in pairs)


def parse_formula(
    formula: str, where: str = "formula"
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Atomic numbers and molar fractions of a formula, sorted by atomic number.

    Raises:
        ValueError: naming ``where`` and the formula when pymatgen cannot read it, or
            would read it as another composition than its writer meant
            (:func:`discovery.compositions.misread_formula`: ``Fe(III)2O3``, ``STO``,
            ``MgSO4.7H2O``, whose message gives the hydrate written out).

    """
    try:
        return _parse(formula.strip())
    except Exception as error:  # pymatgen raises ValueError, KeyError, ...
        raise ValueError(f"{where}: cannot read formula {formula!r}: {error}") from None


@dataclass(frozen=True)
class Compositions:
    """Many compositions as padded element sets (numpy), ready to batch.

    Attributes:
        elements: ``N x K`` atomic numbers, 0 padded.
        fractions: ``N x K`` molar fractions, 0 padded.

    """

    elements: np.ndarray
    fractions: np.ndarray

    @classmethod
    def from_formulas(
        cls, formulas: Sequence[str], max_elements: int | None = None
    ) -> Compositions:
        """Parse formulas with pymatgen.

        Args:
            formulas: Chemical formulas (``Fe2O3``, ``Li0.5CoO2``, ``Ag1Al1``).
            max_elements: Width ``K`` of the padded sets; default the largest composition.

        Raises:
            ValueError: naming the row and formula that cannot be read, or that has more
                than ``max_elements`` elements.

        """
        parsed = [parse_formula(f, f"row {i}") for i, f in enumerate(formulas)]
        width = max((len(z) for z, _ in parsed), default=1)
        k = max_elements or width
        if width > k:
            row = next(i for i, (z, _) in enumerate(parsed) if len(z) > k)
            raise ValueError(f"row {row}: {formulas[row]!r} has more than {k} elements")
        elements = np.zeros((len(parsed), k), dtype=np.int64)
        fractions = np.zeros((len(parsed), k), dtype=np.float32)
        for i, (zs, fs) in enumerate(parsed):
            elements[i, : len(zs)] = zs
            fractions[i, : len(fs)] = fs
        return cls(elements, fractions)

    def __len__(self) -> int:
        return int(self.elements.shape[0])

    def batch(self, index: np.ndarray) -> CompositionBatch:
        """The compositions at ``index`` as a tensor batch (CPU), as narrow as it can be."""
        elements, fractions = self.elements[index], self.fractions[index]
        width = max(int((elements > 0).sum(1).max(initial=1)), 1)
        return CompositionBatch(
            torch.from_numpy(elements[:, :width]), torch.from_numpy(fractions[:, :width])
        )

    def features(self, chunk: int = 4096) -> np.ndarray:
        """:func:`composition_features` of every composition, ``N x F`` float32."""
        parts = [
            composition_features(self.batch(np.arange(start, min(start + chunk, len(self)))))
            for start in range(0, len(self), chunk)
        ]
        return (
            torch.cat(parts).numpy() if parts else np.zeros((0, len(feature_names())), np.float32)
        )


@lru_cache(maxsize=4)
def _table(device: torch.device) -> torch.Tensor:
    values, _ = element_table()
    return torch.as_tensor(values, dtype=torch.float32, device=device)


def composition_features(batch: CompositionBatch) -> torch.Tensor:
    """Magpie-style descriptors and element fractions of a batch of compositions.

    Args:
        batch: ``B`` compositions as padded element sets.

    Returns:
        ``B x F`` float32 features, ``F = len(feature_names())``: per element property the
        fraction-weighted mean, mean absolute deviation, min, max and range (in the
        property's pymatgen units), then the element count and p-norms, then the 103
        element fractions.

    """
    table = _table(batch.elements.device)
    w = batch.fractions.float().unsqueeze(-1)  # B x K x 1
    mask = batch.mask.unsqueeze(-1)
    props = table[batch.elements]  # B x K x C
    mean = (w * props).sum(1)
    mad = (w * (props - mean.unsqueeze(1)).abs()).sum(1)
    big = torch.finfo(torch.float32).max
    low = torch.where(mask, props, big).amin(1)
    high = torch.where(mask, props, -big).amax(1)
    stats = torch.stack([mean, mad, low, high, high - low], dim=-1).flatten(1)  # B x (C*5)
    fractions = batch.fractions.float()
    norms = [batch.mask.sum(1, keepdim=True).float()]
    norms += [fractions.pow(p).sum(1, keepdim=True).pow(1.0 / p) for p in P_NORMS]
    dense = torch.zeros(len(batch), MAX_Z + 1, device=fractions.device)
    dense.scatter_add_(1, batch.elements, fractions)
    return torch.cat([stats, *norms, dense[:, 1:]], dim=1)


def fractions_to_batch(X: torch.Tensor, atomic_numbers: torch.Tensor, k: int) -> CompositionBatch:
    """Element sets from dense fraction vectors (a campaign's encoded compositions).

    Args:
        X: ``B x E`` non-negative amounts of ``E`` components (need not sum to 1).
        atomic_numbers: ``E`` long, the atomic number (or component id) of each column.
        k: Largest number of components with a non-zero amount in any row.

    Returns:
        The ``B`` compositions with fractions normalised to sum to 1.

    """
    amounts = X.clamp_min(0.0)
    top, columns = amounts.topk(min(k, amounts.shape[-1]), dim=-1)
    total = top.sum(-1, keepdim=True).clamp_min(1e-12)
    present = top > 0
    elements = torch.where(present, atomic_numbers.to(X.device)[columns], 0)
    return CompositionBatch(elements, torch.where(present, top / total, 0.0))


__all__ = [
    "STATISTICS",
    "CompositionBatch",
    "Compositions",
    "composition_features",
    "feature_names",
    "featurizer_version",
    "fractions_to_batch",
    "parse_formula",
]
