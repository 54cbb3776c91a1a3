"""ingest-literature reports what failed: a warning per file, counts in its state message."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agents.literature import missing_paths, paper_files
from db.literature import FailedFileDocument, LiteratureStore, PaperDocument
from discovery.domain import ModelArtifact
from flows.ingestion import ingest_literature
from literature.pipeline import Extractor
from literature.text import Paper
from tests.stand_ins import GERMAN

MGB2 = "Superconductivity in MgB2\n\nMgB2 becomes superconducting at 39 K. It is cheap."


@pytest.fixture
def registered_tagger(mongodb_uri: str, untrained_tagger_bytes: bytes) -> str:
    # An untrained head: the flow's reporting, not the tagger's quality, is under test here.
    artifact = ModelArtifact("tagger-supermat", "1" * 64, {}, untrained_tagger_bytes)
    return LiteratureStore().save_tagger(artifact)


def test_paper_files_refuses_paths_that_are_not_there(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    typo = tmp_path / "papres"
    assert paper_files([tmp_path]) == [tmp_path / "a.txt"]
    assert missing_paths([tmp_path, typo, str(typo)]) == [typo, typo]
    with pytest.raises(FileNotFoundError, match=f"paths: no such file or folder: {typo}$"):
        paper_files([tmp_path, typo])  # not taken for a file, to fail as a bad paper


def test_paper_files_leave_out_hidden_and_lock_files_of_a_folder(tmp_path: Path) -> None:
    for name in ("a.txt", ".DS_Store", "~$draft.docx", ".git/HEAD", "sub/b.xml", ".hid/c.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert paper_files([tmp_path]) == [tmp_path / "a.txt", tmp_path / "sub" / "b.xml"]
    named = tmp_path / ".DS_Store"
    assert paper_files([named]) == [named]  # named on its own: read, and refused if junk


def test_ingest_literature_warns_of_each_failed_file_and_counts_in_its_state(
    registered_tagger: str,
    mongodb_uri: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    papers, gone = tmp_path / "papers", tmp_path / "unmounted"
    papers.mkdir()
    (papers / "mgb2.txt").write_text(MGB2)
    (papers / "junk.pdf").write_bytes(b"%PDF-1.4\n\x00\x01 truncated")
    caplog.set_level(logging.INFO)
    state = ingest_literature(
        [str(papers), str(gone)], mongodb_uri, embeddings=False, return_state=True
    )
    assert state.is_completed()  # bad files fail alone: the run goes on
    assert state.message == (
        "1 stored, 0 skipped (stored before), 2 failed, 0 failed before (unchanged), "
        "0 left for a later run"
    )
    result = state.result()
    assert (result["stored"], result["failed"]) == (1, 2)
    assert PaperDocument.objects.count() == 1
    warned = [  # the run's log (not pypdf's own warning about the junk)
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "prefect.flow_runs"
    ]
    assert f"{gone} failed: no such file or folder" in warned
    junk = [w for w in warned if w.startswith(f"{papers / 'junk.pdf'} failed: ")]
    assert len(junk) == 1 and len(warned) == 2
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert state.message in logged
    again = ingest_literature([str(papers)], mongodb_uri, embeddings=False, return_state=True)
    assert again.message == (  # the junk failed before: not read nor warned about again
        "0 stored, 1 skipped (stored before), 0 failed, 1 failed before (unchanged), "
        "0 left for a later run"
    )


def test_a_watched_file_that_failed_is_not_read_again_while_it_is_unchanged(
    registered_tagger: str,
    mongodb_uri: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    papers = tmp_path / "papers"
    papers.mkdir()
    junk = papers / "junk.pdf"
    junk.write_bytes(b"%PDF-1.4\n\x00\x01 truncated")

    def run() -> tuple[str, list[str]]:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            state = ingest_literature(
                [str(papers)], mongodb_uri, embeddings=False, return_state=True
            )
        warned = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING and r.name == "prefect.flow_runs"
        ]
        return str(state.message), warned

    message, warned = run()
    assert message.startswith("0 stored, 0 skipped (stored before), 1 failed, 0 failed before")
    assert len(warned) == 1 and FailedFileDocument.objects.count() == 1
    message, warned = run()  # the same file: no second warning, counted apart
    assert message == (
        "0 stored, 0 skipped (stored before), 0 failed, 1 failed before (unchanged), "
        "0 left for a later run"
    )
    assert warned == []
    assert any(f"not read again: {junk}" in r.getMessage() for r in caplog.records)
    monkeypatch.setattr("flows.ingestion.READER", "matloop 99.0")  # an upgrade reads it again
    assert run()[0].startswith("0 stored, 0 skipped (stored before), 1 failed, 0 failed before")
    junk.write_bytes(b"%PDF-1.4\n\x00\x01 truncated, copied again")  # changed: read again
    message, warned = run()
    assert ", 1 failed, 0 failed before" in message and len(warned) == 1
    junk.write_text(MGB2)  # mended: stored, and the failure forgotten
    assert run()[0].startswith("1 stored, 0 skipped (stored before), 0 failed, 0 failed before")
    assert FailedFileDocument.objects.count() == 0


def test_a_file_whose_extraction_fails_is_read_again_next_run(
    registered_tagger: str, mongodb_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mgb2.txt").write_text(MGB2)

    def refuse(self: Extractor, paper: Paper) -> None:
        raise ValueError("a sentence the tagger cannot take")

    with monkeypatch.context() as patch:
        patch.setattr(Extractor, "extract", refuse)
        first = ingest_literature([str(tmp_path)], mongodb_uri, embeddings=False)
    assert first["failed"] == 1
    assert first["files"][0]["error"] == "ValueError: a sentence the tagger cannot take"
    assert FailedFileDocument.objects.count() == 0  # the tagger or the database: may pass
    again = ingest_literature([str(tmp_path)], mongodb_uri, embeddings=False)
    assert again["stored"] == 1 and PaperDocument.objects.count() == 1


def test_ingest_literature_warns_of_a_paper_not_in_english(
    registered_tagger: str, mongodb_uri: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "de.txt").write_text(GERMAN)
    with caplog.at_level(logging.WARNING):
        result = ingest_literature([str(tmp_path)], mongodb_uri, embeddings=False)
    (outcome,) = result["files"]
    assert outcome["status"] == "stored" and "does not read as English" in outcome["note"]
    assert outcome["note"] in [r.getMessage() for r in caplog.records]
