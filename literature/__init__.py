"""Literature mining: papers to structured material-property records (issue 5).

Science layer: text in, records out; never imports the database, Prefect or HTTP code.
Submodules load lazily, so ``import literature`` stays cheap (no lxml, pypdf or torch).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AnnotatedText": "text",
    "Paper": "text",
    "Section": "text",
    "Sentence": "text",
    "Span": "text",
    "split_sentences": "sentences",
    "ParseError": "parsing",
    "parse_paper": "parsing",
    "read_paper": "parsing",
    "read_papers": "parsing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'literature' has no attribute {name!r}")
    return getattr(importlib.import_module(f"literature.{_EXPORTS[name]}"), name)
