"""The literature flow under Prefect's engine, against a real SecantusDB."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agents.literature import settled_files
from db.literature import LiteratureStore, PaperDocument, PassageDocument
from discovery.domain import ModelArtifact
from flows.deployments import WATCH_SETTLE_SECONDS, literature_deployment, watch_name
from flows.ingestion import ingest_literature
from literature.ner import Tagger
from matloop.flows_cli import flows_app

PAPERS = {
    "mgb2.txt": "Superconductivity in MgB2\n\nMgB2 becomes superconducting at 39 K. It is cheap.",
    "nbse2.txt": "Charge order in NbSe2\n\nNbSe2 has a Tc of 7.2 K. Its CDW sets in at 33 K.",
}


@pytest.fixture
def registered_tagger(mongodb_uri: str, untrained_tagger_bytes: bytes) -> str:
    # An untrained head: the flow's plumbing, not the tagger's quality, is under test here.
    artifact = ModelArtifact("tagger-supermat", "1" * 64, {}, untrained_tagger_bytes)
    return LiteratureStore().save_tagger(artifact)


def test_ingest_literature_stores_each_paper_once_and_skips_bad_files(
    registered_tagger: str, mongodb_uri: str, tmp_path: Path
) -> None:
    for name, text in PAPERS.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "junk.pdf").write_bytes(b"%PDF-1.4\n\x00\x01 truncated")
    first = ingest_literature([str(tmp_path)], mongodb_uri, embeddings=True)
    assert (first["stored"], first["skipped"], first["failed"]) == (2, 0, 1)
    failed = next(o for o in first["files"] if o["status"] == "failed")
    assert "junk.pdf" in failed["error"]
    assert PaperDocument.objects.count() == 2
    passages = PassageDocument.objects.count()
    assert passages == 6 and all(p.embedding for p in PassageDocument.objects)
    assert {p.model_version for p in PaperDocument.objects} == {registered_tagger}
    again = ingest_literature([str(tmp_path)], mongodb_uri)
    assert (again["stored"], again["skipped"], again["failed_before"]) == (0, 2, 1)
    assert PassageDocument.objects.count() == passages


def test_literature_deployment_is_scheduled_over_its_folders() -> None:
    deployment = literature_deployment(["/papers"], interval=3600)
    assert deployment.name == watch_name(["/papers"])
    assert deployment.parameters == {  # no database URI: the runs read the settings
        "paths": ["/papers"],
        "version": None,
        "settle": WATCH_SETTLE_SECONDS,  # a watched folder's files may be half-copied
    }
    eager = literature_deployment(["/papers"], interval=3600, settle=0)
    assert eager.parameters["settle"] == 0
    assert len(deployment.schedules) == 1
    with pytest.raises(ValueError, match="exactly one schedule"):
        literature_deployment(["/papers"])
    with pytest.raises(ValueError, match="paths"):
        literature_deployment([], cron="0 * * * *")
    with pytest.raises(ValueError, match="settle must be >= 0"):
        literature_deployment(["/papers"], interval=60, settle=-1)


def test_each_watch_has_a_deployment_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two serve-literature processes on one Prefect server: a restart of one must not
    # settle the other's runs, nor take its one-run slot
    monkeypatch.chdir(tmp_path)
    lab, other = tmp_path / "lab papers", tmp_path / "other"
    name = watch_name(["lab papers"])
    assert re.fullmatch(r"lab-papers-[0-9a-f]{8}", name)
    assert watch_name([str(lab)]) == name  # relative or absolute: one watch
    assert watch_name([str(other)]) != name
    both = watch_name([str(lab), str(other)])
    assert watch_name([str(other), str(lab), f"{lab}/"]) == both  # order, repeats, slashes
    assert both not in (name, watch_name([str(other)]))
    applied = {
        literature_deployment([str(folder)], interval=3600).apply() for folder in (lab, other, lab)
    }
    assert len(applied) == 2
    assert watch_name(["/"]).startswith("root-")


def _age(path: Path, seconds: float) -> None:
    """Set the file's modification time ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_file_still_being_copied_into_a_watched_folder_waits_for_a_later_run(
    registered_tagger: str, mongodb_uri: str, tmp_path: Path
) -> None:
    done, copying = tmp_path / "mgb2.txt", tmp_path / "nbse2.txt"
    done.write_text(PAPERS["mgb2.txt"])
    _age(done, 600)
    text = PAPERS["nbse2.txt"]
    copying.write_text(text[: len(text) // 2])  # half of it so far
    first = ingest_literature([str(tmp_path)], mongodb_uri, embeddings=False, settle=60)
    assert (first["stored"], first["skipped"], first["failed"], first["unsettled"]) == (1, 0, 0, 1)
    left = next(o for o in first["files"] if o["status"] == "unsettled")
    assert left["path"] == str(copying)
    assert "s ago, less than the 60 s settle time" in left["reason"]
    copying.write_text(text)  # the copy completes, and settles
    _age(copying, 120)
    second = ingest_literature([str(tmp_path)], mongodb_uri, embeddings=False, settle=60)
    assert (second["stored"], second["skipped"], second["unsettled"]) == (1, 1, 0)
    assert PaperDocument.objects.count() == 2  # one paper each: no half of NbSe2's


def test_settled_files_leaves_files_modified_within_the_settle_time(tmp_path: Path) -> None:
    old, new, gone = tmp_path / "old.txt", tmp_path / "new.txt", tmp_path / "gone.txt"
    for path in (old, new):
        path.write_text("x")
    _age(old, 61)
    now = time.time()
    ready, waiting = settled_files([old, new, gone], 60, now=now)
    assert ready == [old, gone]  # a file that is not there is for reading to report
    assert [(w.path, w.settle) for w in waiting] == [(new, 60)]
    assert 0 <= waiting[0].age < 60
    assert settled_files([old, new], 0) == ([old, new], [])  # one-shot: every file
    (ahead,) = settled_files([new], 60, now=now - 3600)[1]  # a clock ahead wrote it
    assert ahead.reason.startswith("modified 0 s ago, less than the 60 s settle time")


TEI = """<?xml version="1.0" encoding="UTF-8"?>
<tei xmlns="http://www.tei-c.org/ns/1.0"><teiHeader><fileDesc><titleStmt>
<title>Superconductivity in <rs type="material">{material}</rs></title></titleStmt>
</fileDesc></teiHeader><text><body><p>We find that <rs type="material" xml:id="m1">{material}</rs>
becomes superconducting at <rs type="tcValue" corresp="#m1">{tc} K</rs>.</p></body></text></tei>
"""


def test_train_tagger_flow_registers_a_tagger(mongodb_uri: str, tmp_path: Path) -> None:
    from flows.ingestion import train_tagger

    batch = tmp_path / "batch-1"
    batch.mkdir()
    for i, material in enumerate(["MgB2", "NbSe2", "Nb3Sn", "FeSe", "CeCoIn5", "Hg", "Pb", "Nb"]):
        text = TEI.format(material=material, tc=10 + i)
        (batch / f"P{i}.superconductors.tei.xml").write_text(text)
    version = train_tagger(mongodb_uri, str(tmp_path), epochs=1)
    artifact = LiteratureStore().load_tagger(version)
    assert artifact.kind == "tagger-supermat"
    assert artifact.metrics["train_sentences"] > 0
    assert Tagger.from_bytes(artifact.weights).labels[:2] == ("material", "class")


def test_serve_literature_leaves_files_a_settle_time_to_be_copied_in(
    registered_tagger: str, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr("flows.deployments.serve_literature", lambda *a, **kw: served.append(kw))
    cli, env = CliRunner(), {"MATLOOP_MONGODB_URI": mongodb_uri}
    args = ["serve-literature", str(tmp_path), "--interval", "60"]
    for extra, settle in [([], WATCH_SETTLE_SECONDS), (["--settle", "0"], 0)]:
        result = cli.invoke(flows_app, [*args, *extra], env=env)
        assert result.exit_code == 0, result.output
        assert served[-1]["settle"] == settle
    refused = cli.invoke(flows_app, [*args, "--settle=-1"], env=env)
    assert refused.exit_code == 1 and "--settle: must be >= 0 seconds" in refused.output
