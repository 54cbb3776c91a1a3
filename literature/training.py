"""Recipes that train and evaluate the project's taggers on its corpora.

One place decides the data, the document-level split and the sentence units, so the
CLI, the flows and the benchmark all train and score the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from literature.corpora import (
    SUPERMAT_LABELS,
    SYNTHESIS_LABELS,
    brat_split,
    document_split,
    load_brat,
    load_supermat,
    sentence_blocks,
)
from literature.ner import Scores, Tagger, TrainConfig, TrainReport, evaluate, train_tagger
from literature.text import AnnotatedText, Sentence

CORPORA = ("supermat", "synthesis")


@dataclass(frozen=True)
class CorpusSplit:
    """Sentence-level blocks of a corpus, split by document.

    Attributes:
        corpus: ``"supermat"`` or ``"synthesis"``.
        labels: Entity types annotated in the corpus.
        train: Training sentences.
        validation: Sentences for early stopping.
        test: Held-out sentences (whole documents never seen in training).
        test_documents: Names of the held-out documents.
    """

    corpus: str
    labels: tuple[str, ...]
    train: list[AnnotatedText]
    validation: list[AnnotatedText]
    test: list[AnnotatedText]
    test_documents: list[str]


@dataclass(frozen=True)
class TrainedTagger:
    """A trained tagger, how it was trained, and its held-out scores."""

    tagger: Tagger
    report: TrainReport
    test_scores: dict[str, Scores]
    split: CorpusSplit


def load_corpus(
    corpus: str, root: str | Path, split: Callable[[str], Sequence[Sentence]] | None = None
) -> CorpusSplit:
    """Sentences of ``corpus`` under ``root``, split by document.

    SuperMat is split by a hash of the paper name (:func:`document_split`); the synthesis
    procedures use their authors' train/dev/test lists.

    Args:
        corpus: ``"supermat"`` or ``"synthesis"``.
        root: The corpus folder.
        split: Sentence splitter; :func:`literature.sentences.split_sentences` by default.

    Raises:
        ValueError: ``corpus`` is unknown or ``root`` holds none of its files.
    """
    if split is None:
        from literature.sentences import split_sentences

        split = split_sentences
    names: tuple[list[str], ...]
    labels: tuple[str, ...]
    if corpus == "supermat":
        papers = load_supermat(root)
        if not papers:
            raise ValueError(f"{root}: no SuperMat TEI files (batch-*/*.tei.xml)")
        names = document_split(list(papers))
        parts = [[b for n in part for b in papers[n]] for part in names]
        labels = SUPERMAT_LABELS
        test_documents = names[2]
    elif corpus == "synthesis":
        names = tuple(brat_split(root, s) for s in ("train", "dev", "test"))
        parts = [load_brat(root, part) for part in names]
        labels = SYNTHESIS_LABELS
        test_documents = names[2]
    else:
        raise ValueError(f"corpus: {corpus!r} is not one of {', '.join(CORPORA)}")
    train, validation, test = (sentence_blocks(part, split) for part in parts)
    return CorpusSplit(corpus, labels, train, validation, test, list(test_documents))


def train_on_corpus(
    data: CorpusSplit,
    config: TrainConfig,
    on_best: Callable[[Tagger, TrainReport], None] | None = None,
) -> TrainedTagger:
    """Fine-tune a tagger on ``data.train`` and score it on ``data.test``.

    Args:
        data: The corpus, split by document.
        config: Optimisation settings.
        on_best: Called after each epoch that improves validation F1 (to checkpoint).
    """
    tagger, report = train_tagger(data.train, data.validation, data.labels, config, on_best=on_best)
    return TrainedTagger(tagger, report, evaluate(tagger, data.test), data)
