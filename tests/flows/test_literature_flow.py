"""The literature flow under Prefect's engine, against a real SecantusDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.literature import LiteratureStore, PaperDocument, PassageDocument
from discovery.domain import ModelArtifact
from flows.deployments import literature_deployment
from flows.ingestion import ingest_literature
from literature.ner import Tagger

PAPERS = {
    "mgb2.txt": "Superconductivity in MgB2\n\nMgB2 becomes superconducting at 39 K. It is cheap.",
    "nbse2.txt": "Charge order in NbSe2\n\nNbSe2 has a Tc of 7.2 K. Its CDW sets in at 33 K.",
}


@pytest.fixture
def registered_tagger(mongodb_uri: str) -> str:
    # An untrained head: the flow's plumbing, not the tagger's quality, is under test here.
    tagger = Tagger.from_encoder(("material", "tcValue"), seed=0)
    artifact = ModelArtifact("tagger-supermat", "1" * 64, {}, tagger.to_bytes())
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
    assert (again["stored"], again["skipped"], again["failed"]) == (0, 2, 1)
    assert PassageDocument.objects.count() == passages


def test_literature_deployment_is_scheduled_over_its_folders(mongodb_uri: str) -> None:
    deployment = literature_deployment(["/papers"], mongodb_uri, interval=3600)
    assert deployment.name == "scheduled"
    assert deployment.parameters == {"paths": ["/papers"], "uri": mongodb_uri, "version": None}
    assert len(deployment.schedules) == 1
    with pytest.raises(ValueError, match="exactly one schedule"):
        literature_deployment(["/papers"], mongodb_uri)
    with pytest.raises(ValueError, match="paths"):
        literature_deployment([], mongodb_uri, cron="0 * * * *")


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
