"""Semantic search through the literature service and the CLI, when nothing can be found.

A search over sentences that have no embeddings (papers ingested with --no-embeddings)
used to return an empty list, as if nothing matched; it now says why.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from agents.literature import NO_EMBEDDINGS, NO_SENTENCES, embed_stored, search_sentences
from db.literature import LiteratureStore
from discovery.domain import ModelArtifact
from matloop.cli import app


class Encoder:
    """A stand-in sentence encoder that records what it was asked."""

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector
        self.asked: list[str] = []

    def __call__(self, text: str) -> np.ndarray:
        self.asked.append(text)
        return self.vector


def without_embeddings(extraction: Any) -> Any:
    """``extraction`` as ``ingest --no-embeddings`` stores it."""
    extraction.embeddings.clear()
    return extraction


def test_an_empty_store_says_nothing_is_stored_and_encodes_nothing(
    mongodb_uri: str, literature_samples: SimpleNamespace
) -> None:
    encode = Encoder(literature_samples.unit(0))
    result = search_sentences(LiteratureStore(), "superconductivity", encode)
    assert (result.hits, result.reason) == ([], NO_SENTENCES)
    assert result.message is not None and "matloop literature ingest" in result.message
    assert encode.asked == []  # the encoder (MiniLM) is not even loaded


def test_sentences_without_embeddings_say_so_and_how_to_embed_them(
    mongodb_uri: str, literature_samples: SimpleNamespace
) -> None:
    store = LiteratureStore()
    store.ingest(without_embeddings(literature_samples.extraction("10.1/a", ["MgB2", "LSCO"])))
    encode = Encoder(literature_samples.unit(0))
    result = search_sentences(store, "superconductivity", encode)
    assert (result.hits, result.reason) == ([], NO_EMBEDDINGS)
    assert encode.asked == []  # nothing to compare with: the encoder is not loaded
    assert result.message is not None
    assert "no stored sentence has an embedding" in result.message
    assert "`matloop literature embed`" in result.message


def test_embedded_sentences_are_found_and_no_match_is_no_failure(
    mongodb_uri: str, literature_samples: SimpleNamespace
) -> None:
    store = LiteratureStore()
    doi = "10.1/b"
    store.ingest(literature_samples.extraction(doi, ["MgB2", "LSCO"]))
    # sentence j of the paper is embedded as unit(j + len(doi)): ask for the second one
    result = search_sentences(store, "LSCO", Encoder(literature_samples.unit(1 + len(doi))), k=1)
    assert result.reason is None and result.message is None
    assert [hit.text for hit in result.hits] == [literature_samples.sentences["LSCO"]]
    filtered = search_sentences(store, "LSCO", Encoder(literature_samples.unit(0)), elements=["Au"])
    assert (filtered.hits, filtered.reason) == ([], None)  # the filter matched nothing


@pytest.fixture
def cli(
    mongodb_uri: str, untrained_tagger_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    tagger = ModelArtifact("tagger-supermat", "2" * 64, {}, untrained_tagger_bytes)
    LiteratureStore().save_tagger(tagger)
    # no MiniLM in these tests: the stored sentences have no embedding to compare with
    monkeypatch.setattr(
        "matloop.literature_cli._encode", lambda text: np.zeros(384, dtype=np.float32)
    )
    return CliRunner()


@pytest.mark.parametrize("as_json", [False, True])
def test_cli_search_without_embeddings_explains_and_fails(
    cli: CliRunner, tmp_path: Path, as_json: bool
) -> None:
    paper = tmp_path / "a.txt"
    paper.write_text("MgB2 superconductors\n\nMgB2 becomes superconducting at 39 K.")
    ingested = cli.invoke(app, ["literature", "ingest", str(paper), "--no-embeddings"])
    assert ingested.exit_code == 0, ingested.output
    result = cli.invoke(app, ["literature", "search", "MgB2", *(["--json"] if as_json else [])])
    assert result.exit_code == 1
    assert "no stored sentence has an embedding" in result.stderr
    assert "matloop literature embed" in result.stderr
    if as_json:
        assert result.stdout.strip() == "[]"  # still JSON on stdout


class BatchEncoder:
    """A stand-in for MiniLM's batch ``encode``: sentence i of all it saw is unit(i)."""

    def __init__(self, unit: Any) -> None:
        self.unit = unit
        self.batches: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        seen = sum(len(b) for b in self.batches)
        self.batches.append(list(texts))
        return np.stack([self.unit(seen + i) for i in range(len(texts))])


def test_stored_sentences_without_embeddings_are_embedded_once_in_batches(
    mongodb_uri: str, literature_samples: SimpleNamespace
) -> None:
    store = LiteratureStore()
    materials = ["MgB2", "LSCO", "NbSe2"]
    store.ingest(without_embeddings(literature_samples.extraction("10.1/a", materials)))
    store.ingest(literature_samples.extraction("10.1/e", ["MgB2"]))  # embedded at ingest
    missing = [text for _, text in store.unembedded(100)]
    assert sorted(missing) == sorted(literature_samples.sentences[m] for m in materials)
    # another run embedded the first sentence meanwhile: it keeps that embedding
    first = store.unembedded(1)[0][0]
    assert store.store_embeddings({first: literature_samples.unit(99).tobytes()}) == 1
    encoder = BatchEncoder(literature_samples.unit)
    progress: list[int] = []
    done = embed_stored(store, encoder.encode, batch=2, on_batch=progress.append)
    assert done == len(missing) - 1 and store.unembedded(100) == []
    assert [len(b) for b in encoder.batches] == [2] * (done // 2) + [done % 2] * (done % 2)
    assert progress[-1] == done
    assert embed_stored(store, encoder.encode) == 0  # nothing left: a second run is a no-op
    # the sentence embedded as unit(0) is now what a search for unit(0) finds first
    found = search_sentences(store, "x", Encoder(literature_samples.unit(0)), k=1)
    assert [hit.text for hit in found.hits] == [encoder.batches[0][0]]


def test_cli_embeds_what_was_ingested_without_and_search_then_finds_it(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paper = tmp_path / "a.txt"
    paper.write_text("MgB2 superconductors\n\nMgB2 becomes superconducting at 39 K.")
    assert cli.invoke(app, ["literature", "ingest", str(paper), "--no-embeddings"]).exit_code == 0
    unit = np.zeros(384, dtype=np.float32)
    unit[0] = 1.0
    encoder = SimpleNamespace(encode=lambda texts: np.tile(unit, (len(texts), 1)))
    monkeypatch.setattr("matloop.literature_cli._encoder", lambda: encoder)
    embedded = cli.invoke(app, ["literature", "embed"])
    assert embedded.exit_code == 0, embedded.output
    assert embedded.stdout.strip().startswith("embedded ") and "sentences" in embedded.stdout
    again = cli.invoke(app, ["literature", "embed"])
    assert "every sentence has an embedding" in again.stdout
    monkeypatch.setattr("matloop.literature_cli._encode", lambda text: unit)
    found = cli.invoke(app, ["literature", "search", "MgB2", "--json"])
    assert found.exit_code == 0, found.output
    assert "MgB2 becomes superconducting at 39 K." in {
        hit["text"] for hit in json.loads(found.stdout)
    }
    nothing = cli.invoke(app, ["literature", "search", "MgB2", "--element", "Au"])
    assert nothing.exit_code == 0 and nothing.stdout == ""  # searched: the filters matched none
    assert "no sentence matches the filters" in nothing.stderr
