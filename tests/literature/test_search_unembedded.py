"""Search beside sentences without embeddings: they are counted, not silently missed.

Once any sentence is embedded, search compares embedded sentences only; those of papers
ingested with --no-embeddings matched the filters and were out of reach, and the CLI
said "no sentence matches the filters".
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from agents.literature import search_sentences
from db.literature import LiteratureStore
from matloop.cli import app


def without_embeddings(extraction: Any) -> Any:
    """``extraction`` as ``ingest --no-embeddings`` stores it."""
    extraction.embeddings.clear()
    return extraction


@pytest.fixture
def mixed(mongodb_uri: str, literature_samples: SimpleNamespace) -> LiteratureStore:
    """MgB2 embedded (10.1/a); LSCO (Tc 38 K) and NbSe2 (7.2 K) not (10.1/b)."""
    store = LiteratureStore()
    store.ingest(literature_samples.extraction("10.1/a", ["MgB2"]))
    store.ingest(without_embeddings(literature_samples.extraction("10.1/b", ["LSCO", "NbSe2"])))
    return store


def test_sentences_matching_the_filters_without_embeddings_are_counted(
    mixed: LiteratureStore, literature_samples: SimpleNamespace
) -> None:
    def encode(text: str) -> np.ndarray:  # MgB2's sentence, the only embedded one
        return literature_samples.unit(len("10.1/a"))

    found = search_sentences(mixed, "x", encode, elements=["Cu"])
    assert (found.hits, found.reason, found.unembedded) == ([], None, 1)
    assert found.note is not None
    assert found.note.startswith("1 sentence matching the filters has no embedding")
    assert "`matloop literature embed`" in found.note
    everything = search_sentences(mixed, "x", encode)
    assert [h.text for h in everything.hits] == [literature_samples.sentences["MgB2"]]
    assert everything.unembedded == 2 and "2 sentences" in str(everything.note)
    # the property filter too: only LSCO's sentence holds a Tc of at least 30 K unembedded
    assert mixed.count_unembedded(property="tc", minimum=30) == 1
    assert mixed.count_unembedded(property="tc", maximum=5) == 0
    assert mixed.count_unembedded(["Mg"]) == 0  # MgB2's sentence is embedded


def test_nothing_unembedded_gives_no_note(
    mongodb_uri: str, literature_samples: SimpleNamespace
) -> None:
    store = LiteratureStore()
    store.ingest(literature_samples.extraction("10.1/a", ["MgB2", "LSCO"]))
    found = search_sentences(store, "x", lambda text: literature_samples.unit(0), elements=["Au"])
    assert (found.unembedded, found.note) == (0, None)


@pytest.fixture
def cli(mixed: LiteratureStore, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    # no MiniLM: any query is the first basis vector
    unit = np.zeros(384, dtype=np.float32)
    unit[0] = 1.0
    monkeypatch.setattr("matloop.literature_cli._encode", lambda text: unit)
    return CliRunner()


def test_cli_search_says_how_many_sentences_it_could_not_compare(cli: CliRunner) -> None:
    result = cli.invoke(app, ["literature", "search", "cuprate", "--element", "Cu"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "no embedded sentence matches the filters" in said
    assert "1 sentence matching the filters has no embedding" in said
    assert "`matloop literature embed`" in said
    as_json = cli.invoke(app, ["literature", "search", "cuprate", "--element", "Cu", "--json"])
    assert json.loads(as_json.stdout) == []  # stdout stays JSON; the note is on stderr
    assert "1 sentence matching the filters" in " ".join(as_json.stderr.split())
    found = cli.invoke(app, ["literature", "search", "boride", "--element", "Mg"])
    assert found.exit_code == 0 and "MgB2" in found.stdout and "note" not in found.stderr


def test_cli_search_loads_its_encoder_without_transformers_bars(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers.utils import logging as transformers_logging

    bars: list[bool] = []
    unit = np.zeros(384, dtype=np.float32)

    def encode(text: str) -> np.ndarray:  # where the real one loads MiniLM's weights
        bars.append(transformers_logging.is_progress_bar_enabled())
        return unit

    monkeypatch.setattr("matloop.literature_cli._encode", encode)
    assert cli.invoke(app, ["literature", "search", "boride"]).exit_code == 0
    assert bars == [False]  # no "Loading weights" bar over the hits
    assert transformers_logging.is_progress_bar_enabled()  # restored after the command
