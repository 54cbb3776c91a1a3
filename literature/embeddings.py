"""Sentence embeddings with the packaged MiniLM encoder, for semantic search.

``all-MiniLM-L6-v2`` embeds a sentence as the attention-masked mean of its token states,
L2-normalised, so cosine similarity is a dot product.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from literature.ner import encoder_path, pick_device
from literature.vectors import DIMENSION


class SentenceEncoder:
    """Embeds texts as unit vectors.

    Args:
        path: Encoder folder; the packaged MiniLM when ``None``.
        device: ``"cpu"``, ``"cuda"``, or ``None`` for the best available.
        max_length: Tokens kept per text (MiniLM was trained with 256).
    """

    def __init__(
        self, path: str | Path | None = None, device: str | None = None, max_length: int = 256
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        folder = str(path or encoder_path())
        self.tokenizer: Any = AutoTokenizer.from_pretrained(folder)
        self.model: Any = AutoModel.from_pretrained(folder).to(pick_device(device)).eval()
        self.max_length = max_length

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-norm embeddings.

        Args:
            texts: ``n`` texts.
            batch_size: Texts per forward pass.

        Returns:
            ``n x 384`` float32 array; each row has norm 1.
        """
        device = next(self.model.parameters()).device
        # Batches of similar length (by characters) waste little compute on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            batch = self.tokenizer(
                [texts[i] for i in chosen],
                max_length=self.max_length,
                truncation=True,
                padding=True,
                return_tensors="pt",
            ).to(device)
            states = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            mean = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
            out[chosen] = torch.nn.functional.normalize(mean, dim=-1).float().cpu().numpy()
        return out
