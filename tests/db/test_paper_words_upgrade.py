"""Papers stored before near twins were looked for get their words from their sentences."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from db.connection import SCHEMA_COLLECTION, SCHEMA_ID, UPGRADE_STEPS, connect, database
from db.literature import (
    IngestReport,
    LiteratureStore,
    PaperDocument,
    PassageDocument,
    count_paper_words,
)
from literature.parsing import parse_paper, read_paper
from literature.pipeline import Extractor
from literature.records import PaperExtraction
from tests.stand_ins import SpansOf

STEP = next(s for s in UPGRADE_STEPS if s.target == "db.literature:count_paper_words")
ABSTRACT = (
    "We report that MgB2 becomes superconducting at 39 K, found by resistivity and "
    "magnetization measurements on dense polycrystalline samples sintered at 950 C under "
    "argon; the transition is sharp and the upper critical field reaches 14 T."
)
TITLE = "Superconductivity in MgB2"
READER = Extractor(SpansOf([]), "tagger-test:0")  # type: ignore[arg-type]


@pytest.fixture
def literature(mongodb_uri: str) -> LiteratureStore:
    return LiteratureStore()


def text_paper(text: str, source: str, doi: str | None = None) -> PaperExtraction:
    """A plain-text file's paper titled :data:`TITLE`, read by a tagger finding nothing."""
    return READER.extract(replace(parse_paper(f"{TITLE}\n\n{text}".encode(), source), doi=doi))


def as_stored_before() -> None:
    """Papers as stored before their words were (no ``words``, no ``numbers``)."""
    unset = {"$unset": {"words": "", "numbers": ""}}
    PaperDocument._get_collection().update_many({}, unset)
    database()[SCHEMA_COLLECTION].update_one(
        {"_id": SCHEMA_ID}, {"$set": {"version": STEP.version - 1}}
    )


def shapes() -> dict[str, tuple[int | None, str | None]]:
    found = PaperDocument._get_collection().find({}, {"key": 1, "words": 1, "numbers": 1})
    return {p["key"]: (p.get("words"), p.get("numbers")) for p in found}


def test_a_near_twin_of_a_paper_stored_before_words_were_counted_is_that_paper(
    literature: LiteratureStore, mongodb_uri: str
) -> None:
    stored = literature.ingest(text_paper(ABSTRACT, "/papers/lf.txt")).paper_key
    counted = shapes()
    as_stored_before()
    twin = text_paper(ABSTRACT.replace(" and magnetization", ""), "/papers/lf-grobid.txt")
    assert literature.twin_key(twin.paper) is None  # no word count: no candidate
    connect(mongodb_uri)
    assert shapes() == counted  # as the ingest counted the file's text
    assert literature.ingest(twin) == IngestReport(stored, new=False)
    edit = text_paper(ABSTRACT.replace("39 K", "39.5 K"), "/papers/lf-grobid.txt")
    assert literature.ingest(edit).new  # a value changed: another paper, as for any


def test_words_of_every_supermat_file_counted_from_its_sentences_are_its_texts(
    literature: LiteratureStore, supermat_root: Path
) -> None:
    files = sorted(supermat_root.rglob("*.superconductors.tei.xml"))
    files += [tei.with_name(tei.name.replace(".superconductors.tei.xml", ".txt")) for tei in files]
    for i, path in enumerate(files):  # a DOI each: each file is a paper, twins too
        paper = replace(read_paper(path), doi=f"10.0/{i}")
        assert literature.ingest(READER.extract(paper)).new, path
    counted = shapes()  # from each file's text, at ingest
    assert len(counted) == 240 and all(words and numbers for words, numbers in counted.values())
    as_stored_before()
    count_paper_words()
    assert shapes() == counted


def test_a_paper_whose_sentences_are_not_all_stored_is_left_without_and_named(
    literature: LiteratureStore, caplog: pytest.LogCaptureFixture
) -> None:
    whole = literature.ingest(text_paper(ABSTRACT, "/papers/a.txt", "10.1/whole")).paper_key
    cut = literature.ingest(text_paper(ABSTRACT, "/papers/b.txt", "10.1/cut")).paper_key
    counted = shapes()
    as_stored_before()
    paper = PaperDocument.objects.get(key=cut)
    PassageDocument._get_collection().delete_one({"paper": paper.id, "sentence": 0})
    with caplog.at_level(logging.WARNING, logger="db.literature"):
        count_paper_words()
    assert shapes() == {whole: counted[whole], cut: (None, None)}
    assert "1 papers not given a word count" in caplog.text and cut in caplog.text


def test_counting_again_or_beside_another_run_changes_nothing_counted(
    literature: LiteratureStore,
) -> None:
    key = literature.ingest(text_paper(ABSTRACT, "/papers/a.txt")).paper_key
    as_stored_before()
    papers = PaperDocument._get_collection()
    papers.update_one({"key": key}, {"$set": {"words": 7, "numbers": "a concurrent run's"}})
    count_paper_words()  # the paper is not of the old shape any more: left as it is
    assert shapes() == {key: (7, "a concurrent run's")}


def test_papers_are_counted_in_batches_of_a_few_papers_sentences(
    literature: LiteratureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import db.literature

    for i in range(5):
        literature.ingest(text_paper(f"{ABSTRACT} Sample {i}.", f"/papers/{i}.txt"))
    counted = shapes()
    as_stored_before()
    read: list[int] = []
    real = db.literature._count_words_of

    def counting(batch: list[dict[str, object]]) -> list[str]:
        read.append(len(batch))
        return real(batch)

    monkeypatch.setattr(db.literature, "_PAPERS_PER_BATCH", 2)
    monkeypatch.setattr(db.literature, "_count_words_of", counting)
    count_paper_words()
    assert read == [2, 2, 1] and shapes() == counted
