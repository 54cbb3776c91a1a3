"""Embedding vectors as bytes, and cosine top-k: numpy only, so storage can use it."""

from __future__ import annotations

import numpy as np

DIMENSION = 384  # all-MiniLM-L6-v2


def to_bytes(vector: np.ndarray) -> bytes:
    """A float32 vector as little-endian bytes (compact storage)."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    """Inverse of :func:`to_bytes`."""
    return np.frombuffer(data, dtype="<f4")


def top_k(query: np.ndarray, vectors: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Indices and cosine scores of the ``k`` rows of ``vectors`` nearest ``query``.

    Args:
        query: ``d`` unit vector.
        vectors: ``n x d`` unit vectors.
        k: How many to return.

    Returns:
        ``(row, score)`` pairs, best first.
    """
    if len(vectors) == 0 or k <= 0:
        return []
    scores = vectors @ query
    k = min(k, len(scores))
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(i), float(scores[i])) for i in best]
