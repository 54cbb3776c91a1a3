from __future__ import annotations

import numpy as np
import pytest

from db.literature import (
    LiteratureStore,
    MentionDocument,
    PaperDocument,
    PassageDocument,
    PropertyRecordDocument,
)
from discovery.domain import ModelArtifact
from literature.pipeline import build_records, normalize_mentions
from literature.records import Mention, PaperExtraction
from literature.text import Paper, Section, Sentence
from literature.vectors import to_bytes

VERSION = "tagger-supermat:abc"


def unit(i: int) -> np.ndarray:
    vector = np.zeros(384, dtype=np.float32)
    vector[i] = 1.0
    return vector


def extraction(doi: str, sentences: list[tuple[str, list[tuple[str, str]]]]) -> PaperExtraction:
    """A paper of one section; each sentence with its (label, text) mentions."""
    text, spans, mentions = "", [], []
    for j, (sentence, found) in enumerate(sentences):
        start = len(text) + (1 if text else 0)
        text = f"{text} {sentence}" if text else sentence
        spans.append(Sentence(start, start + len(sentence)))
        for label, piece in found:
            at = sentence.index(piece)
            mentions.append(Mention(label, piece, 0, j, at, at + len(piece), confidence=0.9))
    paper = Paper(f"{doi}.xml", "tei", f"Paper {doi}", doi=doi,
                  sections=(Section("body", text, tuple(spans)),))  # fmt: skip
    normalized = normalize_mentions(paper, mentions)
    embeddings = {(0, j): to_bytes(unit(j + len(doi))) for j in range(len(sentences))}
    return PaperExtraction(paper, normalized, build_records(normalized), VERSION, embeddings)


MGB2 = ("MgB2 superconducts at 39 K.", [("material", "MgB2"), ("tcValue", "39 K")])
LSCO = ("La1.85Sr0.15CuO4 has Tc = 38 K.", [("material", "La1.85Sr0.15CuO4"), ("tcValue", "38 K")])
NBSE2 = (
    "NbSe2 becomes superconducting below 7.2 K.",
    [("material", "NbSe2"), ("tcValue", "7.2 K")],
)


@pytest.fixture
def literature(mongodb_uri: str) -> LiteratureStore:
    return LiteratureStore()


def counts() -> dict[str, int]:
    return {d.__name__: d.objects.count() for d in
            (PaperDocument, PassageDocument, MentionDocument, PropertyRecordDocument)}  # fmt: skip


def test_ingest_stores_provenance_and_reingesting_adds_nothing(literature: LiteratureStore) -> None:
    first = literature.ingest(extraction("10.1/a", [MGB2, LSCO]))
    assert first.new and first.passages == 2 and first.mentions == 4 and first.records_new == 2
    before = counts()
    again = literature.ingest(extraction("10.1/a", [MGB2, LSCO]))
    assert not again.new and counts() == before
    rows, total = literature.records(literature.records_query(property="tc"))
    assert total == 2
    mgb2 = next(r for r in rows if r["material"] == "MgB2")
    (source,) = mgb2["sources"]
    assert source["paper"] == "doi:10.1/a" and source["model_version"] == VERSION
    passage = PassageDocument.objects.get(paper=PaperDocument.objects.get(key="doi:10.1/a"),
                                          sentence=source["sentence"])  # fmt: skip
    start, end = source["value_span"]
    assert passage.text[start:end] == "39 K" and passage.elements == ["B", "Mg"]


def test_the_same_reading_from_two_papers_is_one_record_with_two_sources(
    literature: LiteratureStore,
) -> None:
    literature.ingest(extraction("10.1/a", [MGB2]))
    literature.ingest(extraction("10.1/b", [MGB2, NBSE2]))
    rows, total = literature.records(literature.records_query(material="MgB2"))
    assert total == 1
    assert rows[0]["n_papers"] == 2 and rows[0]["n_sources"] == 2
    assert {s["paper"] for s in rows[0]["sources"]} == {"doi:10.1/a", "doi:10.1/b"}


def test_records_by_element_and_value_range(literature: LiteratureStore) -> None:
    literature.ingest(extraction("10.1/a", [MGB2, LSCO, NBSE2]))

    def materials(**query: object) -> list[str]:
        rows, _ = literature.records(literature.records_query(**query))  # type: ignore[arg-type]
        return sorted(r["material"] for r in rows)

    assert materials(elements=["Cu", "O"]) == ["La1.85Sr0.15CuO4"]
    assert materials(property="tc", minimum=10, maximum=38.5) == ["La1.85Sr0.15CuO4"]
    assert materials(property="tc", minimum=5) == ["La1.85Sr0.15CuO4", "MgB2", "NbSe2"]
    assert materials(elements=["Nb"], maximum=7.2) == ["NbSe2"]
    with pytest.raises(ValueError, match="elements: 'Xx'"):
        literature.records_query(elements=["Xx"])
    with pytest.raises(ValueError, match="minimum"):
        literature.records_query(minimum=5, maximum=1)


def test_search_ranks_by_cosine_within_filters(literature: LiteratureStore) -> None:
    literature.ingest(extraction("10.1/a", [MGB2, LSCO, NBSE2]))  # sentence j has unit(j + 6)
    hits = literature.search(unit(7), k=2)
    assert hits[0].text == LSCO[0] and hits[0].score == pytest.approx(1.0)
    assert len(hits) == 2 and hits[1].score == pytest.approx(0.0)
    (only,) = literature.search(unit(7), k=5, elements=["Nb"])
    assert only.text == NBSE2[0]
    in_range = literature.search(unit(6), k=5, property="tc", minimum=30)
    assert {h.text for h in in_range} == {MGB2[0], LSCO[0]}
    assert hits[0].paper_key == "doi:10.1/a" and hits[0].title == "Paper 10.1/a"


def test_tagger_registry_round_trip(literature: LiteratureStore) -> None:
    artifact = ModelArtifact("tagger-supermat", "f" * 64, {"test": {"micro": 0.8}}, b"\x00weights")
    version = literature.save_tagger(artifact)
    assert literature.save_tagger(artifact) == version  # idempotent
    loaded = literature.load_tagger()
    assert loaded.version == version and loaded.weights == b"\x00weights"
    assert loaded.metrics["test"] == {"micro": 0.8}
    with pytest.raises(LookupError, match="no version"):
        literature.load_tagger("nope")
