"""Literature mining: papers to structured material-property records.

Parse (:mod:`~literature.parsing`) -> tag (:mod:`~literature.ner`) -> normalise
(:mod:`~literature.normalize`) -> link (:mod:`~literature.linking`) -> records
(:mod:`~literature.pipeline`); corpora and training recipes in :mod:`~literature.corpora`
and :mod:`~literature.training`. Science layer: text in, records out; never imports the
database, Prefect or HTTP code.
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
    "MaterialName": "normalize",
    "QuantityValue": "normalize",
    "normalize_material": "normalize",
    "parse_quantity": "normalize",
    "resolve_doping": "normalize",
    "Tagger": "ner",
    "TrainConfig": "ner",
    "entity_scores": "ner",
    "evaluate": "ner",
    "train_tagger": "ner",
    "DictionaryTagger": "baseline",
    "SentenceEncoder": "embeddings",
    "link_values": "linking",
    "Mention": "records",
    "PaperExtraction": "records",
    "PropertyRecord": "records",
    "Extractor": "pipeline",
    "load_corpus": "training",
    "train_on_corpus": "training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'literature' has no attribute {name!r}")
    return getattr(importlib.import_module(f"literature.{_EXPORTS[name]}"), name)
