"""A registered tagger says which papers and settings made it (lineage of its records)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import agents.literature
from agents.literature import train_and_register
from db.literature import LiteratureStore
from literature.ner import TrainConfig, TrainReport
from literature.text import AnnotatedText
from literature.training import CorpusSplit, TrainedTagger


def test_a_taggers_metrics_name_its_corpus_papers_and_settings(
    mongodb_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def text(document: str) -> AnnotatedText:
        return AnnotatedText(document, f"{document} is a superconductor.", ())

    split = CorpusSplit(
        "supermat", ("material",), [text("p2"), text("p1"), text("p2")], [text("p3")], [], ["p4"]
    )
    trained = TrainedTagger(SimpleNamespace(to_bytes=lambda: b"w"), TrainReport(), {}, split)  # type: ignore[arg-type]
    monkeypatch.setattr(agents.literature, "load_corpus", lambda corpus, root: split)
    monkeypatch.setattr(agents.literature, "train_on_corpus", lambda data, config: trained)
    store = LiteratureStore()
    version, _ = train_and_register(store, "supermat", tmp_path, TrainConfig(epochs=2, seed=7))
    metrics = store.load_tagger(version).metrics
    assert metrics["corpus_root"] == str(tmp_path.resolve())
    assert (metrics["train_documents"], metrics["validation_documents"]) == (["p1", "p2"], ["p3"])
    assert metrics["test_documents"] == ["p4"]
    assert metrics["settings"]["epochs"] == 2 and metrics["settings"]["seed"] == 7
    assert "device" not in metrics["settings"]  # where it ran is not what made it
