"""Crystal graphs and a CGCNN-style graph network for property regression on structures.

A crystal becomes a graph whose nodes are the atoms of its unit cell and whose directed
edges join each atom to its ``max_neighbors`` nearest neighbours within ``cutoff``
(periodic images included), following Xie & Grossman, *Crystal Graph Convolutional
Neural Networks for an Accurate and Interpretable Prediction of Material Properties*,
PRL 120, 145301 (2018).

:class:`CrystalGraphFeaturizer` computes the neighbour lists once, with pymatgen, and keeps
them as small per-crystal numpy arrays (:class:`CrystalGraphs`); :meth:`CrystalGraphs.batch`
concatenates a few of them into a :class:`CrystalBatch` of tensors. The Gaussian expansion
of the edge distances happens inside :class:`CrystalGraphNet`, so that batches stay small;
both sides share the centres and width of :func:`gaussian_basis`.

The network uses no batch normalisation (batches may hold a single crystal): the gated
convolutions are normalised with ``LayerNorm`` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from pymatgen.core import Structure
from torch import nn
from torch.nn import functional as F

from discovery.elements import MAX_Z, standardized_element_table, table_version

#: Decimal places (angstrom) to which distances are rounded when ordering neighbours, so that
#: floating-point noise between symmetry-equivalent neighbours never decides their order.
_TIE_DECIMALS = 6

#: Range to which the predicted log-variance is clamped (standardized target units squared).
LOG_VAR_RANGE: tuple[float, float] = (-10.0, 10.0)


def gaussian_basis(
    cutoff: float, n_gaussians: int, width: float | None = None
) -> tuple[np.ndarray, float]:
    """Centres and width of the Gaussian distance expansion.

    Args:
        cutoff: Largest distance expanded (angstrom); the last centre sits on it.
        n_gaussians: Number of centres, evenly spaced on ``[0, cutoff]`` (at least 2).
        width: Width of each Gaussian (angstrom); ``None`` for the centre spacing.

    Returns:
        ``(centres, width)``: ``(n_gaussians,)`` float32 centres (angstrom) and the width.

    Raises:
        ValueError: On a non-positive cutoff or width, or fewer than 2 centres.

    """
    if cutoff <= 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    if n_gaussians < 2:
        raise ValueError(f"n_gaussians must be at least 2, got {n_gaussians}")
    centres = np.linspace(0.0, cutoff, n_gaussians, dtype=np.float64)
    resolved = float(centres[1] - centres[0]) if width is None else float(width)
    if resolved <= 0:
        raise ValueError(f"width must be positive, got {resolved}")
    return centres.astype(np.float32), resolved


@dataclass(frozen=True)
class CrystalBatch:
    """Several crystal graphs concatenated into one disconnected graph.

    Attributes:
        atomic_numbers: ``(n_atoms,)`` long, atomic number ``Z`` of every atom.
        edge_index: ``(2, n_edges)`` long, ``[centre, neighbour]`` indices into the batch's
            atoms; messages flow from neighbour to centre.
        distances: ``(n_edges,)`` float32, centre-neighbour distance of every edge (angstrom).
        graph_index: ``(n_atoms,)`` long, the crystal (``0..n_graphs-1``) each atom belongs to.
        n_graphs: Number of crystals in the batch.

    """

    atomic_numbers: torch.Tensor
    edge_index: torch.Tensor
    distances: torch.Tensor
    graph_index: torch.Tensor
    n_graphs: int

    @property
    def n_atoms(self) -> int:
        """Number of atoms in the batch."""
        return int(self.atomic_numbers.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of directed edges in the batch."""
        return int(self.edge_index.shape[1])

    def to(self, device: torch.device) -> CrystalBatch:
        """The same batch with every tensor on ``device``.

        Args:
            device: Target device.

        """
        return replace(
            self,
            atomic_numbers=self.atomic_numbers.to(device),
            edge_index=self.edge_index.to(device),
            distances=self.distances.to(device),
            graph_index=self.graph_index.to(device),
        )


class CrystalGraphs:
    """Precomputed neighbour lists of many crystals, one set of numpy arrays per crystal.

    Args:
        atomic_numbers: Per crystal, ``(n_atoms,)`` int64 atomic numbers.
        edge_index: Per crystal, ``(2, n_edges)`` int64 ``[centre, neighbour]`` indices into
            that crystal's own atoms.
        distances: Per crystal, ``(n_edges,)`` float32 edge lengths (angstrom).
        version: Version of the featurizer that built them (see
            :attr:`CrystalGraphFeaturizer.version`).

    Raises:
        ValueError: When the three sequences differ in length or an array is malformed.

    """

    def __init__(
        self,
        atomic_numbers: Sequence[np.ndarray],
        edge_index: Sequence[np.ndarray],
        distances: Sequence[np.ndarray],
        version: str = "",
    ) -> None:
        if not len(atomic_numbers) == len(edge_index) == len(distances):
            raise ValueError(
                "atomic_numbers, edge_index and distances must hold one entry per crystal, got "
                f"{len(atomic_numbers)}, {len(edge_index)} and {len(distances)}"
            )
        self.atomic_numbers: tuple[np.ndarray, ...] = tuple(
            np.asarray(z, dtype=np.int64).reshape(-1) for z in atomic_numbers
        )
        self.edge_index: tuple[np.ndarray, ...] = tuple(
            np.asarray(e, dtype=np.int64).reshape(2, -1) for e in edge_index
        )
        self.distances: tuple[np.ndarray, ...] = tuple(
            np.asarray(d, dtype=np.float32).reshape(-1) for d in distances
        )
        self.version = version
        for i, (z, e, d) in enumerate(
            zip(self.atomic_numbers, self.edge_index, self.distances, strict=True)
        ):
            if e.shape[1] != d.shape[0]:
                raise ValueError(f"crystal {i}: {e.shape[1]} edges but {d.shape[0]} distances")
            if e.size and (e.min() < 0 or e.max() >= z.shape[0]):
                raise ValueError(f"crystal {i}: edge index outside its {z.shape[0]} atoms")
        self.n_atoms: np.ndarray = np.array([z.shape[0] for z in self.atomic_numbers], np.int64)
        """``(n_crystals,)`` int64, atoms per crystal."""

    def __len__(self) -> int:
        return len(self.atomic_numbers)

    def __repr__(self) -> str:
        return f"CrystalGraphs({len(self)} crystals, version={self.version!r})"

    def batch(self, index: np.ndarray | Sequence[int]) -> CrystalBatch:
        """Concatenate the chosen crystals into one batch, offsetting their edge indices.

        Args:
            index: ``(k,)`` integer indices of the crystals, in batch order (repeats allowed).

        Returns:
            A :class:`CrystalBatch` on CPU with ``n_graphs == k``; crystal ``i`` of the batch
            is crystal ``index[i]`` of this collection.

        Raises:
            IndexError: On an index outside ``[-len(self), len(self))``.

        """
        chosen = np.asarray(index, dtype=np.int64).reshape(-1)
        n = len(self)
        if chosen.size and (chosen.min() < -n or chosen.max() >= n):
            raise IndexError(f"crystal index out of range for {n} crystals")
        chosen = np.where(chosen < 0, chosen + n, chosen)
        sizes = self.n_atoms[chosen]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        if chosen.size:
            numbers = np.concatenate([self.atomic_numbers[i] for i in chosen])
            edges = np.concatenate(
                [self.edge_index[i] + off for i, off in zip(chosen, offsets, strict=True)], axis=1
            )
            distances = np.concatenate([self.distances[i] for i in chosen])
        else:
            numbers = np.zeros(0, np.int64)
            edges = np.zeros((2, 0), np.int64)
            distances = np.zeros(0, np.float32)
        graph_index = np.repeat(np.arange(chosen.size, dtype=np.int64), sizes)
        return CrystalBatch(
            atomic_numbers=torch.from_numpy(numbers),
            edge_index=torch.from_numpy(edges),
            distances=torch.from_numpy(distances),
            graph_index=torch.from_numpy(graph_index),
            n_graphs=int(chosen.size),
        )


@dataclass(frozen=True)
class CrystalGraphFeaturizer:
    """Neighbour-list featurizer of periodic structures for :class:`CrystalGraphNet`.

    Attributes:
        cutoff: Neighbour search radius (angstrom).
        max_neighbors: Most neighbours kept per atom, nearest first.
        n_gaussians: Gaussian centres of the distance expansion, evenly spaced on
            ``[0, cutoff]``; the network must be built with the same value.
        width: Gaussian width (angstrom); ``None`` for the centre spacing.

    """

    cutoff: float = 8.0
    max_neighbors: int = 12
    n_gaussians: int = 40
    width: float | None = None

    def __post_init__(self) -> None:
        gaussian_basis(self.cutoff, self.n_gaussians, self.width)  # validates the three
        if self.max_neighbors < 1:
            raise ValueError(f"max_neighbors must be at least 1, got {self.max_neighbors}")

    @property
    def version(self) -> str:
        """Identifies the featurization: settings and element-table hash."""
        width = "" if self.width is None else f"w{self.width}:"
        return (
            f"crystal-graph:{self.cutoff}:{self.max_neighbors}:{self.n_gaussians}:"
            f"{width}{table_version()}"
        )

    @property
    def gaussian_width(self) -> float:
        """Resolved Gaussian width (angstrom)."""
        return gaussian_basis(self.cutoff, self.n_gaussians, self.width)[1]

    def neighbors(self, structure: Structure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Atomic numbers and nearest-neighbour edges of one structure.

        Edges are ordered by centre atom, then distance, then neighbour index, then periodic
        image; at most :attr:`max_neighbors` are kept per centre. An atom with no neighbour
        inside the cutoff has no edges.

        Args:
            structure: An ordered periodic structure.

        Returns:
            ``(atomic_numbers, edge_index, distances)``: ``(n_atoms,)`` int64,
            ``(2, n_edges)`` int64 ``[centre, neighbour]`` and ``(n_edges,)`` float32
            (angstrom).

        Raises:
            ValueError: On a disordered structure or an element outside H..Lr.

        """
        if not structure.is_ordered:
            raise ValueError(f"{structure.formula}: disordered structures are not supported")
        numbers = np.array([site.specie.Z for site in structure], dtype=np.int64)
        if numbers.size and (numbers.min() < 1 or numbers.max() > MAX_Z):
            raise ValueError(f"{structure.formula}: atomic numbers must lie in 1..{MAX_Z}")
        centre, neighbour, images, distance = structure.get_neighbor_list(self.cutoff)
        centre = np.asarray(centre, dtype=np.int64).reshape(-1)
        neighbour = np.asarray(neighbour, dtype=np.int64).reshape(-1)
        distance = np.asarray(distance, dtype=np.float64).reshape(-1)
        images = np.asarray(images, dtype=np.int64).reshape(-1, 3)
        order = np.lexsort(
            (
                images[:, 2],
                images[:, 1],
                images[:, 0],
                neighbour,
                np.round(distance, _TIE_DECIMALS),
                centre,
            )
        )
        centre, neighbour, distance = centre[order], neighbour[order], distance[order]
        rank = np.arange(centre.size) - np.searchsorted(centre, centre, side="left")
        keep = rank < self.max_neighbors
        edges = np.stack([centre[keep], neighbour[keep]]).astype(np.int64)
        return numbers, edges, distance[keep].astype(np.float32)

    def featurize(self, structures: Sequence[Structure]) -> CrystalGraphs:
        """Neighbour lists of many structures, one after the other.

        Args:
            structures: Ordered periodic structures.

        Returns:
            Their :class:`CrystalGraphs`, in input order, stamped with :attr:`version`.

        """
        numbers, edges, distances = [], [], []
        for structure in structures:
            z, e, d = self.neighbors(structure)
            numbers.append(z)
            edges.append(e)
            distances.append(d)
        return CrystalGraphs(numbers, edges, distances, version=self.version)


class GaussianExpansion(nn.Module):
    """Expands distances on Gaussians: ``exp(-(d - mu_k)^2 / width^2)``.

    Args:
        cutoff: Last centre (angstrom).
        n_gaussians: Number of centres on ``[0, cutoff]``.
        width: Gaussian width (angstrom); ``None`` for the centre spacing.

    """

    centres: torch.Tensor

    def __init__(self, cutoff: float, n_gaussians: int, width: float | None = None) -> None:
        super().__init__()
        centres, resolved = gaussian_basis(cutoff, n_gaussians, width)
        self.register_buffer("centres", torch.from_numpy(centres))
        self.width = resolved

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        """Expand distances.

        Args:
            distances: ``(n_edges,)`` distances (angstrom).

        Returns:
            ``(n_edges, n_gaussians)`` expansion, values in ``(0, 1]``.

        """
        diff = distances.unsqueeze(-1) - self.centres
        return torch.exp(-((diff / self.width) ** 2))


class GatedConvolution(nn.Module):
    """One CGCNN convolution, with ``LayerNorm`` where the original has batch norm.

    For ``z_ij = [v_i, v_j, e_ij]``:
    ``v_i <- softplus(v_i + LN(sum_j sigmoid(LN(z_ij W_f + b_f)) * softplus(LN(z_ij W_s + b_s))))``.

    Args:
        hidden: Atom feature width.
        edge_features: Edge feature width (the number of Gaussians).

    """

    def __init__(self, hidden: int, edge_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(2 * hidden + edge_features, 2 * hidden)
        self.message_norm = nn.LayerNorm(2 * hidden)
        self.update_norm = nn.LayerNorm(hidden)

    def forward(
        self, atoms: torch.Tensor, edge_index: torch.Tensor, edges: torch.Tensor
    ) -> torch.Tensor:
        """Update atom features from their neighbours.

        Args:
            atoms: ``(n_atoms, hidden)`` atom features.
            edge_index: ``(2, n_edges)`` long ``[centre, neighbour]``.
            edges: ``(n_edges, edge_features)`` edge features.

        Returns:
            ``(n_atoms, hidden)`` updated atom features.

        """
        centre, neighbour = edge_index[0], edge_index[1]
        z = torch.cat([atoms[centre], atoms[neighbour], edges], dim=-1)
        gate, core = self.message_norm(self.linear(z)).chunk(2, dim=-1)
        messages = torch.sigmoid(gate) * F.softplus(core)
        summed = torch.zeros_like(atoms).index_add_(0, centre, messages)
        return F.softplus(atoms + self.update_norm(summed))


class CrystalGraphNet(nn.Module):
    """CGCNN-style regressor with a Gaussian mean and log-variance per crystal.

    Atom features are the standardized element descriptors of
    :func:`discovery.elements.standardized_element_table` (a fixed buffer) projected to
    ``hidden``, plus a learned per-element embedding; ``n_conv`` gated convolutions follow,
    then a mean over each crystal's atoms and a two-output MLP head.

    Args:
        hidden: Width of the atom features and of the head.
        n_conv: Number of gated convolutions.
        n_gaussians: Gaussian centres of the distance expansion; must match the featurizer.
        cutoff: Last Gaussian centre (angstrom); must match the featurizer.
        dropout: Dropout probability in the head.
        width: Gaussian width (angstrom); ``None`` for the centre spacing, as the featurizer.

    """

    element_table: torch.Tensor

    def __init__(
        self,
        hidden: int = 64,
        n_conv: int = 3,
        n_gaussians: int = 40,
        cutoff: float = 8.0,
        dropout: float = 0.0,
        width: float | None = None,
    ) -> None:
        super().__init__()
        table = torch.from_numpy(standardized_element_table().copy())
        self.register_buffer("element_table", table)
        self.descriptor = nn.Linear(table.shape[1], hidden)
        self.embedding = nn.Embedding(table.shape[0], hidden)
        self.expansion = GaussianExpansion(cutoff, n_gaussians, width)
        self.convolutions = nn.ModuleList(
            GatedConvolution(hidden, n_gaussians) for _ in range(n_conv)
        )
        self.head = nn.Sequential(
            nn.Linear(hidden, hidden),
            nn.Softplus(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 2),
        )

    def embed(self, batch: CrystalBatch) -> torch.Tensor:
        """Crystal embeddings: atom features after the convolutions, mean-pooled per crystal.

        Args:
            batch: Crystal graphs, on the network's device.

        Returns:
            ``(n_graphs, hidden)`` embeddings; a crystal with no atoms gets zeros.

        """
        z = batch.atomic_numbers
        atoms = self.descriptor(self.element_table[z]) + self.embedding(z)
        edges = self.expansion(batch.distances)
        for convolution in self.convolutions:
            atoms = convolution(atoms, batch.edge_index, edges)
        pooled = atoms.new_zeros(batch.n_graphs, atoms.shape[1])
        pooled = pooled.index_add(0, batch.graph_index, atoms)
        counts = torch.bincount(batch.graph_index, minlength=batch.n_graphs).clamp(min=1)
        return pooled / counts.unsqueeze(-1).to(pooled.dtype)

    def forward(self, batch: CrystalBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict each crystal's target.

        Args:
            batch: Crystal graphs, on the network's device.

        Returns:
            ``(mean, log_var)``, each ``(n_graphs,)``, in standardized target units;
            ``log_var`` is clamped to :data:`LOG_VAR_RANGE`.

        """
        out = self.head(self.embed(batch))
        mean, log_var = out[:, 0], out[:, 1]
        return mean, log_var.clamp(*LOG_VAR_RANGE)


__all__ = [
    "LOG_VAR_RANGE",
    "CrystalBatch",
    "CrystalGraphFeaturizer",
    "CrystalGraphNet",
    "CrystalGraphs",
    "GatedConvolution",
    "GaussianExpansion",
    "gaussian_basis",
]
