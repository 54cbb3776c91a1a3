"""Ensemble members: networks that predict a mean and a log-variance per sample.

Every member maps a batch to ``(mean, log_var)``, both of shape ``B``, in standardised
target units; :mod:`discovery.ensembles` trains several with different seeds and turns
their spread plus their predicted noise into a BoTorch posterior.

* :class:`MLPNet` - a residual MLP on a descriptor vector (composition features, or a
  campaign's encoded parameters);
* :class:`RoostNet` - message passing over the fully connected element graph of a
  composition with fraction-weighted soft attention (Goodall & Lee, Nat. Commun. 11, 6280,
  2020), dense over the padded element sets so that it needs no graph library;
* :class:`ElementTransformerNet` - a transformer encoder over the same element sets, with
  the fractions as sinusoidal encodings (CrabNet: Wang et al., npj Comput. Mater. 7, 77,
  2021).

The crystal-graph member lives in :mod:`discovery.crystal`.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from discovery.elements import MAX_Z, standardized_element_table
from discovery.featurizers import CompositionBatch

#: Bounds on the predicted log-variance (standardised units): keeps the NLL finite.
LOG_VAR_RANGE = (-10.0, 6.0)

#: Steps of CrabNet's fraction scale (:func:`fraction_encoding`).
FRACTION_RESOLUTION = 5000


def _head_output(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean, log_var = out.float().unbind(-1)
    return mean, log_var.clamp(*LOG_VAR_RANGE)


def _mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [nn.SiLU(), nn.Dropout(dropout)] if dropout else [nn.SiLU()]
    return nn.Sequential(*layers)


class _Residual(nn.Module):
    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.body = nn.Sequential(
            nn.Linear(width, width), nn.SiLU(), nn.Dropout(dropout), nn.Linear(width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(self.norm(x))


class MLPNet(nn.Module):
    """Residual MLP with a mean and a log-variance output.

    Inputs are standardised inside the network with the training set's column statistics
    (buffers), so a stored member needs nothing else to predict.

    Args:
        n_features: Width ``F`` of the input vectors.
        hidden: Width of the hidden layers.
        depth: Number of residual blocks.
        dropout: Dropout inside the blocks.

    """

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self, n_features: int, hidden: int = 256, depth: int = 3, dropout: float = 0.1):
        super().__init__()
        self.register_buffer("shift", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.stem = nn.Linear(n_features, hidden)
        self.blocks = nn.Sequential(*(_Residual(hidden, dropout) for _ in range(depth)))
        self.head = nn.Sequential(nn.LayerNorm(hidden), nn.SiLU(), nn.Linear(hidden, 2))

    def fit_input_scaling(self, features: torch.Tensor) -> None:
        """Set the input standardisation from training features (``n x F``)."""
        self.shift.copy_(features.mean(0))
        self.scale.copy_(features.std(0, unbiased=False).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict from ``B x F`` features: ``(mean, log_var)``, each ``B``."""
        z = ((x.float() - self.shift) / self.scale).clamp(-10.0, 10.0)
        return _head_output(self.head(self.blocks(self.stem(z))))


class _PairAttention(nn.Module):
    """Multi-head fraction-weighted soft attention between the elements of a composition.

    Roost's message ``a_ij m_ij`` with ``a_ij ∝ w_j^p exp(g(h_i, h_j))`` (Goodall & Lee,
    eq. 2-3). The first layer of the gate and message networks is linear in ``[h_i, h_j]``,
    so it is computed once per node and broadcast over pairs; the heads run as one batch.
    """

    def __init__(self, width: int, hidden: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads, self.hidden = n_heads, hidden
        self.first_i = nn.Linear(width, 2 * n_heads * hidden)
        self.first_j = nn.Linear(width, 2 * n_heads * hidden, bias=False)
        self.gate_out = nn.Parameter(torch.randn(n_heads, hidden) / hidden**0.5)
        self.message_out = nn.Parameter(torch.randn(n_heads, hidden, width) / hidden**0.5)
        self.power = nn.Parameter(torch.ones(n_heads))

    def forward(self, h: torch.Tensor, weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Messages to every node from every node of its composition.

        Args:
            h: ``B x K x W`` node features.
            weights: ``B x K`` fractions.
            mask: ``B x K`` which slots hold an element.

        Returns:
            ``B x K x W`` mean over heads of the attention-weighted messages.

        """
        b, k, _ = h.shape
        first = self.first_i(h).unsqueeze(2) + self.first_j(h).unsqueeze(1)  # B x K x K x 2NH
        first = nn.functional.silu(first).view(b, k, k, 2, self.n_heads, self.hidden)
        logits = torch.einsum("bijnh,nh->bijn", first[:, :, :, 0], self.gate_out).float()
        logits = logits + self.power * weights.clamp_min(1e-12).log()[:, None, :, None]
        logits = logits.masked_fill(~mask[:, None, :, None], float("-inf"))
        attention = torch.softmax(logits, dim=2)  # over j
        pooled = torch.einsum("bijn,bijnh->binh", attention.to(first.dtype), first[:, :, :, 1])
        return torch.einsum("binh,nhw->biw", pooled, self.message_out) / self.n_heads


class _PoolAttention(nn.Module):
    """Multi-head fraction-weighted attention pooling of the nodes into one vector."""

    def __init__(self, width: int, hidden: int, n_heads: int) -> None:
        super().__init__()
        self.gate = _mlp([width, hidden, n_heads])
        self.message = _mlp([width, hidden, width])
        self.power = nn.Parameter(torch.ones(n_heads))

    def forward(self, h: torch.Tensor, weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``B x K x W`` nodes to ``B x W`` graph features."""
        logits = self.gate(h).float() + self.power * weights.clamp_min(1e-12).log().unsqueeze(-1)
        logits = logits.masked_fill(~mask.unsqueeze(-1), float("-inf"))
        attention = torch.softmax(logits, dim=1).mean(-1, keepdim=True)  # B x K x 1
        return (attention.to(h.dtype) * self.message(h)).sum(1)


class RoostNet(nn.Module):
    """Composition GNN: message passing over the element graph of each composition.

    Node features are the standardised pymatgen descriptors of the element
    (:func:`discovery.elements.standardized_element_table`) projected to ``hidden`` plus a
    learned per-element embedding, concatenated with the element's fraction. Each layer
    updates every node by multi-head attention over all nodes of its composition (itself
    included, so unary compositions work); a weighted attention pool reads the graph out.

    Args:
        hidden: Node feature width.
        n_layers: Message-passing layers.
        n_heads: Attention heads per layer and in the pool.
        dropout: Dropout in the output head.
        n_components: Size of the learned embedding table (``MAX_Z + 1`` for elements; a
            mixture space uses its number of components + 1 and no element descriptors).
        element_descriptors: Whether to use the element descriptor table (elements only).

    """

    table: torch.Tensor

    def __init__(
        self,
        hidden: int = 64,
        n_layers: int = 3,
        n_heads: int = 3,
        dropout: float = 0.1,
        n_components: int = MAX_Z + 1,
        element_descriptors: bool = True,
    ) -> None:
        super().__init__()
        self.element_descriptors = element_descriptors
        if element_descriptors:
            table = torch.as_tensor(standardized_element_table())
            self.register_buffer("table", table)
            self.project = nn.Linear(table.shape[1], hidden - 1)
        self.embedding = nn.Embedding(n_components, hidden - 1)
        self.layers = nn.ModuleList(
            _PairAttention(hidden, hidden, n_heads) for _ in range(n_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(n_layers))
        self.pool = _PoolAttention(hidden, 2 * hidden, n_heads)
        self.head = nn.Sequential(
            _mlp([hidden, 4 * hidden, 2 * hidden, hidden], dropout), nn.SiLU(), nn.Linear(hidden, 2)
        )

    def forward(self, batch: CompositionBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict from ``B`` element sets: ``(mean, log_var)``, each ``B``."""
        elements, weights, mask = batch.elements, batch.fractions.float(), batch.mask
        nodes = self.embedding(elements)
        if self.element_descriptors:
            nodes = nodes + self.project(self.table[elements])
        h = torch.cat([nodes, weights.unsqueeze(-1)], dim=-1)  # B x K x H
        keep = mask.unsqueeze(-1)
        for attend, norm in zip(self.layers, self.norms, strict=True):
            h = (h + attend(norm(h), weights, mask)) * keep
        pooled = self.pool(h, weights, mask)
        return _head_output(self.head(pooled))


def fraction_encoding(fractions: torch.Tensor, width: int, log: bool = False) -> torch.Tensor:
    """CrabNet's sinusoidal encoding of element fractions.

    The fraction (or, with ``log``, ``0.0025 log2(x)^2`` capped at 1, which spreads out
    the small fractions of dopants) is read as a position on a 5,000-step scale and encoded
    like a token position in a transformer, so that nearby fractions get similar codes.

    Args:
        fractions: ``B x K`` element fractions in (0, 1] (0 in padded slots).
        width: Even encoding width ``E``.
        log: Encode the log-scaled fraction instead.

    Returns:
        ``B x K x E`` encodings.

    """
    if width % 2:
        raise ValueError(f"width must be even (sine and cosine pairs), got {width}")
    x = fractions.float()
    if log:
        x = (0.0025 * torch.log2(x.clamp_min(1e-6)) ** 2).clamp(max=1.0)
    position = x.clamp_min(1.0 / FRACTION_RESOLUTION) * FRACTION_RESOLUTION - 1.0
    pairs = torch.arange(0, width, 2, device=x.device, dtype=torch.float32)
    angle = position.unsqueeze(-1) / 50.0 ** (2.0 * pairs / width)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)


class _ResidualHead(nn.Module):
    """Roost's and CrabNet's output network: LeakyReLU layers with linear skips."""

    def __init__(self, sizes: list[int], n_out: int) -> None:
        super().__init__()
        pairs = list(itertools.pairwise(sizes))
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairs)
        self.skips = nn.ModuleList(
            nn.Identity() if a == b else nn.Linear(a, b, bias=False) for a, b in pairs
        )
        self.out = nn.Linear(sizes[-1], n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer, skip in zip(self.layers, self.skips, strict=True):
            x = nn.functional.leaky_relu(layer(x)) + skip(x)
        return self.out(x)


class ElementTransformerNet(nn.Module):
    """Composition transformer: self-attention over the elements of each composition.

    CrabNet's design (Wang et al., 2021): each element is a token, its vector the element
    descriptors (:func:`discovery.elements.standardized_element_table`) projected to
    ``width`` plus a learned per-element embedding, to which sinusoidal codes of its
    fraction and log-fraction (:func:`fraction_encoding`) are added, each half of the
    width with a learned scale. A transformer encoder lets every element attend to the
    others; a residual head then predicts, per element, a contribution to the mean, a
    log-variance and a gate, which are averaged over the composition's elements.

    Args:
        width: Token width: a multiple of 4 (two even halves of fraction codes) and of
            ``n_heads``.
        n_layers: Transformer encoder layers.
        n_heads: Attention heads.
        feedforward: Width of each encoder layer's feed-forward network.
        dropout: Dropout inside the encoder.
        head: Hidden widths of the residual output network.

    """

    table: torch.Tensor

    def __init__(
        self,
        width: int = 256,
        n_layers: int = 3,
        n_heads: int = 4,
        feedforward: int = 1024,
        dropout: float = 0.1,
        head: tuple[int, ...] = (512, 256, 128),
    ) -> None:
        super().__init__()
        if width % 4 or width % n_heads:
            raise ValueError(f"width must be a multiple of 4 and of n_heads, got {width}")
        table = torch.as_tensor(standardized_element_table())
        self.register_buffer("table", table)
        self.project = nn.Linear(table.shape[1], width)
        self.embedding = nn.Embedding(MAX_Z + 1, width)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.scales = nn.Parameter(torch.ones(3))  # element vector, fraction, log-fraction
        layer = nn.TransformerEncoderLayer(width, n_heads, feedforward, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = _ResidualHead([width, *head], 3)

    def forward(self, batch: CompositionBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict from ``B`` element sets: ``(mean, log_var)``, each ``B``."""
        elements, fractions, mask = batch.elements, batch.fractions, batch.mask
        half = self.embedding.embedding_dim // 2
        tokens = (self.project(self.table[elements]) + self.embedding(elements)) * self.scales[0]
        codes = torch.cat(
            [
                fraction_encoding(fractions, half) * self.scales[1],
                fraction_encoding(fractions, half, log=True) * self.scales[2],
            ],
            dim=-1,
        )
        h = self.encoder(tokens + codes, src_key_padding_mask=~mask)
        out = self.head(h).masked_fill(~mask.unsqueeze(-1), 0.0)
        mean, log_var, gate = (out.sum(1) / mask.sum(1, keepdim=True)).unbind(-1)
        return _head_output(torch.stack([mean * torch.sigmoid(gate), log_var], dim=-1))


__all__ = [
    "LOG_VAR_RANGE",
    "ElementTransformerNet",
    "MLPNet",
    "RoostNet",
    "fraction_encoding",
]
