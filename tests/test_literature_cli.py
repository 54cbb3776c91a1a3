"""``matloop literature`` commands against a real SecantusDB (an untrained tagger head)."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from mongoengine import disconnect_all
from typer.testing import CliRunner

from agents.api import create_app
from db.literature import RECORD_COLUMNS, RECORD_ORDERS, LiteratureStore, PaperDocument
from db.models import register_model
from db.tokens import create_token
from discovery.domain import ModelArtifact
from literature.ner import Tagger
from literature.pipeline import Extractor
from literature.records import PaperExtraction
from literature.text import Paper
from matloop.cli import app
from matloop.literature_cli import SORT_HELP
from tests.stand_ins import GERMAN, SpansOf, tagger_metrics


@pytest.fixture
def cli(
    mongodb_uri: str, untrained_tagger_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    tagger = ModelArtifact("tagger-supermat", "2" * 64, {}, untrained_tagger_bytes)
    LiteratureStore().save_tagger(tagger)
    return CliRunner()


def test_ingest_reports_bad_files_and_goes_on_then_adds_nothing(
    cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("MgB2 superconductors\n\nMgB2 becomes superconducting at 39 K.")
    (tmp_path / "broken.xml").write_text("<article><front><article-meta><title-group>")
    (tmp_path / "empty.pdf").write_bytes(b"")
    result = cli.invoke(app, ["literature", "ingest", str(tmp_path), "--no-embeddings"])
    assert result.exit_code == 0, result.output
    assert "1 papers stored, 0 already there, 2 failed" in result.output
    assert "broken.xml" in result.output and "empty.pdf" in result.output
    again = cli.invoke(app, ["literature", "ingest", str(tmp_path / "a.txt"), "--no-embeddings"])
    assert "0 papers stored, 1 already there" in again.output
    # off a terminal, no progress bar: a line a paper says how far a long ingest has come
    said = " ".join(result.output.split())
    assert f"1/3 {tmp_path / 'a.txt'}: stored as sha256:" in said
    assert f"1/1 {tmp_path / 'a.txt'}: already there as sha256:" in " ".join(again.output.split())


def test_a_paper_with_a_doi_whose_text_changed_is_named_not_silently_skipped(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    paper = tmp_path / "p.txt"
    text = (
        "Pnictide superconductors\n\ndoi: 10.1000/xyz123\n\nLaFeAsO becomes superconducting at {}."
    )
    paper.write_text(text.format("8.5 K"))
    ingest = ["literature", "ingest", str(paper), "--no-embeddings"]
    assert "1 papers stored" in cli.invoke(app, ingest).output
    same = " ".join(cli.invoke(app, ingest).output.split())
    assert "0 papers stored, 1 already there" in same and "differ" not in same
    paper.write_text(text.format("8.5 K") + " Indeed.")  # a converter's word more: the same
    worded = " ".join(cli.invoke(app, ingest).output.split())
    assert "0 papers stored, 1 already there" in worded and "differ" not in worded
    paper.write_text(text.format("9.4 K"))  # corrected in place: the same file, the same DOI
    said = " ".join(cli.invoke(app, ingest).output.split())
    assert "0 papers stored, 1 already there" in said
    assert (
        f"{paper} is stored paper doi:10.1000/xyz123 'Pnictide superconductors', read from "
        f"{paper}; its numbers differ from the stored one's (a corrected version?), and it "
        "was not read: to read it instead, `matloop literature remove doi:10.1000/xyz123`"
    ) in said


def test_an_edited_paper_s_old_version_can_be_removed(cli: CliRunner, tmp_path: Path) -> None:
    paper = tmp_path / "lf.txt"
    paper.write_text("MgB2 superconductors\n\nMgB2 becomes superconducting at 39 K.")
    _ = cli.invoke(app, ["literature", "ingest", str(paper), "--no-embeddings"])
    listed = cli.invoke(app, ["literature", "papers", "--format", "json"])
    (old,) = json.loads(listed.output)
    paper.write_text("MgB2 superconductors\n\nMgB2 becomes superconducting at 39.5 K.")
    edited = cli.invoke(app, ["literature", "ingest", str(paper), "--no-embeddings"])
    said = " ".join(edited.output.split())
    assert f"note: {paper} was stored before as paper {old['key']}, whose text differs" in said
    assert f"`matloop literature remove {old['key']}` removes the older one" in said
    asked = cli.invoke(app, ["literature", "remove", old["key"]])  # off a terminal
    assert asked.exit_code == 1 and "pass --yes to confirm" in asked.output
    lineage = {"record_papers": [old["key"]]}  # a model trained on its records, as written
    register_model(ModelArtifact("tc-gp", "3" * 64, lineage, b"w"), "tc-gp:333")
    removed = cli.invoke(app, ["literature", "remove", old["key"].upper(), "--yes"])
    assert removed.exit_code == 0, removed.output
    said = " ".join(removed.output.split())
    assert f"removed paper {old['key']} (MgB2 superconductors): " in said
    assert "note: 1 model(s) were trained on records read in it: tc-gp:333;" in said
    (left,) = json.loads(cli.invoke(app, ["literature", "papers", "--format", "json"]).output)
    assert left["key"] != old["key"]
    missing = cli.invoke(app, ["literature", "remove", old["key"], "--yes"])
    assert missing.exit_code == 1 and "no paper" in missing.output
    paper.write_text("Nb3Ge films\n\nNb3Ge becomes superconducting at 23 K.")  # name reused
    other = cli.invoke(app, ["literature", "ingest", str(paper), "--no-embeddings"])
    assert "1 papers stored" in other.output and "stored before" not in other.output


def test_a_file_with_more_sentences_than_a_paper_is_refused_unread(
    cli: CliRunner, tmp_path: Path
) -> None:
    import inspect

    from literature.parsing import MAX_SENTENCES
    from matloop.literature_cli import literature_ingest

    (tmp_path / "a.txt").write_text("MgB2\n\nMgB2 becomes superconducting at 39 K.")
    (tmp_path / "book.txt").write_text("A book\n\n" + "MgB2 is a metal. " * 25)
    args = ["literature", "ingest", str(tmp_path), "--no-embeddings", "--max-sentences", "10"]
    result = cli.invoke(app, args)
    said = " ".join(result.output.split())
    assert "1 papers stored, 0 already there, 1 failed" in said
    assert "book.txt: 26 sentences, more than the 10 a paper may have" in said  # title too
    default = inspect.signature(literature_ingest).parameters["max_sentences"].default
    assert default == MAX_SENTENCES  # the option's default is the parser's


def test_a_paper_that_fails_after_parsing_is_reported_and_the_batch_goes_on(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # parsed fine, then refused later (e.g. a passage over MongoDB's 16 MB document limit)
    extract = Extractor.extract

    def refuses_a(self: Extractor, paper: Paper) -> PaperExtraction:
        if paper.source.endswith("a.txt"):
            raise RuntimeError("document too large")
        return extract(self, paper)

    monkeypatch.setattr(Extractor, "extract", refuses_a)
    for name in ("a", "b"):
        (tmp_path / f"{name}.txt").write_text(f"Paper {name}\n\nMgB2 superconducts at 39 K.")
    result = cli.invoke(app, ["literature", "ingest", str(tmp_path), "--no-embeddings"])
    assert result.exit_code == 0, result.output
    assert "1 papers stored, 0 already there, 1 failed" in result.output
    assert "RuntimeError: document too large" in result.output


def test_ingest_that_reads_sentences_but_makes_no_record_names_the_tagger_and_its_score(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the default: the best micro F1 on held-out papers, though it never finds a Tc value
    metrics = tagger_metrics({"micro": 0.9, "material": 0.95, "tcValue": 0.0})
    blind = LiteratureStore().save_tagger(ModelArtifact("tagger-supermat", "3" * 64, metrics, b"w"))

    def reads_as(tagger: SpansOf) -> None:  # whichever tagger is loaded finds these pieces
        monkeypatch.setattr(Tagger, "from_bytes", lambda data, device=None: tagger)

    reads_as(SpansOf([("material", "MgB2")]))
    (tmp_path / "a.txt").write_text("MgB2 superconductors\n\nMgB2 becomes superconducting at 39 K.")
    result = cli.invoke(app, ["literature", "ingest", str(tmp_path), "--no-embeddings"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "1 papers stored" in said and "0 new records" in said
    assert f"no record came out of 2 sentences: tagger {blind} scored tcValue F1 0.00" in said
    assert "`matloop literature train`" in said and "`--version`" in said
    assert (
        "The papers stored now are skipped when ingested again: `matloop literature remove" in said
    )
    # a tagger that was never scored says so; one whose records come out gives no hint
    unscored = "tagger-supermat:" + "2" * 12
    (tmp_path / "b.txt").write_text("NbSe2 superconductors\n\nNbSe2 is superconducting at 7 K.")
    result = cli.invoke(
        app, ["literature", "ingest", str(tmp_path / "b.txt"), "--no-embeddings",
              "--version", unscored],
    )  # fmt: skip
    said = " ".join(result.output.split())
    assert f"tagger {unscored} has no held-out tcValue score" in said, said
    reads_as(SpansOf([("material", "FeSe"), ("tcValue", "8 K")]))
    (tmp_path / "c.txt").write_text("FeSe superconductors\n\nFeSe is superconducting at 8 K.")
    result = cli.invoke(app, ["literature", "ingest", str(tmp_path / "c.txt"), "--no-embeddings"])
    assert "1 new records" in result.output and "no record came out" not in result.output


@pytest.mark.parametrize(
    ("sentences", "merged", "rejected", "hinted"),
    [
        (4, 0, 0, True),
        (0, 0, 0, False),  # nothing read: nothing to explain
        (4, 1, 0, False),
        (4, 0, 1, False),  # values found, impossible ones
    ],
)
def test_the_ingest_hint_is_given_only_when_sentences_were_read_and_nothing_came_out(
    sentences: int, merged: int, rejected: int, hinted: bool
) -> None:
    from agents.literature import IngestSummary

    summary = IngestSummary(
        sentences=sentences,
        records_merged=merged,
        records_rejected=rejected,
        tagger="tagger-supermat:abc",
        tagger_scores={"test_micro_f1": 0.9, "test_f1_tcValue": 0.123},
    )
    assert (summary.hint is not None) == hinted
    assert summary.to_dict()["hint"] == summary.hint
    if hinted:
        assert "tagger tagger-supermat:abc scored tcValue F1 0.12" in str(summary.hint)


def test_ingest_of_nothing_but_bad_files_fails(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "junk.bin").write_bytes(bytes(range(256)) * 8)
    result = cli.invoke(app, ["literature", "ingest", str(tmp_path), "--no-embeddings"])
    assert result.exit_code == 1
    missing = cli.invoke(app, ["literature", "ingest", str(tmp_path / "empty-dir")])
    assert missing.exit_code == 1


def test_records_export_validates_its_arguments(cli: CliRunner) -> None:
    result = cli.invoke(app, ["literature", "records", "--element", "Xx"])
    assert result.exit_code == 1 and "--element: 'Xx' is not an element symbol" in result.output
    result = cli.invoke(app, ["literature", "records", "--sort", "-tc"])
    assert result.exit_code == 1 and "--sort: '-tc' is not a record field" in result.output
    result = cli.invoke(app, ["literature", "records", "--format", "xml"])
    assert result.exit_code == 1 and "--format" in result.output
    empty = cli.invoke(app, ["literature", "records", "--property", "tc"])
    assert empty.exit_code == 0
    assert next(csv.reader(io.StringIO(empty.output))) == list(RECORD_COLUMNS)
    result = cli.invoke(app, ["literature", "records", "--property", "bandgap"])
    assert result.exit_code == 1
    assert "--property: 'bandgap' is not a record property; use tc" in result.output
    as_json = cli.invoke(app, ["literature", "records", "--format", "json"])
    assert json.loads(as_json.output) == []


def test_the_sort_help_names_every_field_records_sort_by() -> None:
    assert all(field in SORT_HELP for field in RECORD_ORDERS)


def test_a_supermat_article_as_tei_and_text_is_stored_once(cli: CliRunner, tmp_path: Path) -> None:
    base = Path(
        os.environ.get("MATLOOP_CORPORA") or Path(__file__).parents[2] / "shared/data/corpora"
    )
    article = base / "supermat/batch-1/1609.04957-CC"
    if not Path(f"{article}.txt").is_file():
        pytest.skip(f"SuperMat corpus not found at {base}")
    for suffix in (".superconductors.tei.xml", ".txt"):  # the TEI file and its plain text
        shutil.copy(f"{article}{suffix}", tmp_path)
    result = cli.invoke(app, ["literature", "ingest", str(tmp_path), "--no-embeddings"])
    assert result.exit_code == 0, result.output
    assert "1 papers stored, 1 already there, 0 failed" in result.output
    assert "readings not stored (impossible, under an unread pressure" in result.output
    rows, _ = LiteratureStore().records({}, limit=1000)
    assert all(row["n_papers"] == 1 for row in rows)
    again = cli.invoke(app, ["literature", "ingest", str(tmp_path), "--no-embeddings"])
    assert "0 papers stored, 2 already there" in again.output


def api_csv(route: str, api_filter: str) -> str:
    """The API's CSV page of ``route`` with ``filter=api_filter``, as a researcher reads it."""
    secret, _ = create_token("reader-cli", "researcher")
    with TestClient(create_app()) as client:
        response = client.get(
            route,
            params={"format": "csv", "filter": api_filter},
            headers={"Authorization": f"Bearer {secret}"},
        )
    assert response.status_code == 200, response.text
    return response.text


@pytest.mark.parametrize(
    ("options", "api_filter"),
    [
        ([], ""),
        (["--property", "Tc", "--min", "38.5"], 'property="tc" AND value>=38.5'),
        (["--element", "Cu", "--max", "38"], 'elements HAS "Cu" AND value<=38'),
        (["--paper", "DOI:10.1/bb"], 'paper="doi:10.1/bb"'),  # keys in any case, as the API
    ],
)
def test_records_export_is_the_api_csv(
    cli: CliRunner, literature_samples: SimpleNamespace, options: list[str], api_filter: str
) -> None:
    store = LiteratureStore()
    store.ingest(literature_samples.extraction("10.1/a", ["MgB2", "LSCO", "NbSe2"]))
    store.ingest(literature_samples.extraction("10.1/bb", ["MgB2"]))
    api_text = api_csv("/api/v1/literature/records", api_filter)
    result = cli.invoke(app, ["literature", "records", *options])
    assert result.exit_code == 0, result.output
    # the same columns, order and cells (elements as ["Cu", "La", "O", "Sr"]), byte for byte
    assert result.stdout_bytes.decode() == api_text
    assert len(api_text.splitlines()) > 1  # rows, not a header alone


def test_records_of_a_paper_that_is_not_there_are_refused_not_an_empty_page(
    cli: CliRunner, literature_samples: SimpleNamespace
) -> None:
    LiteratureStore().ingest(literature_samples.extraction("10.1/a", ["MgB2"]))
    found = cli.invoke(app, ["literature", "records", "--paper", "https://doi.org/10.1/A"])
    assert found.exit_code == 0 and "MgB2" in found.output
    result = cli.invoke(app, ["literature", "records", "--paper", "10.1/nonexistent"])
    assert result.exit_code == 1
    assert "--paper: no paper '10.1/nonexistent'" in " ".join(result.output.split())


def test_records_export_selects_a_models_records_by_id(
    cli: CliRunner, literature_samples: SimpleNamespace
) -> None:
    store = LiteratureStore()
    store.ingest(literature_samples.extraction("10.1/a", ["MgB2", "LSCO", "NbSe2"]))
    ids = {row["material"]: row["id"] for row in store.records({})[0]}
    wanted = [ids["NbSe2"], ids["MgB2"]]  # a model's record_ids, say
    api_text = api_csv("/api/v1/literature/records", " OR ".join(f'id="{i}"' for i in wanted))
    result = cli.invoke(app, ["literature", "records", "--id", wanted[0], "--id", wanted[1]])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.decode() == api_text
    rows = list(csv.DictReader(io.StringIO(api_text)))
    assert sorted((r["id"], r["material"]) for r in rows) == sorted(
        (i, m) for m, i in ids.items() if i in wanted
    )
    as_json = cli.invoke(app, ["literature", "records", "--id", ids["MgB2"], "--format", "json"])
    assert [row["id"] for row in json.loads(as_json.output)] == [ids["MgB2"]]
    bad = cli.invoke(app, ["literature", "records", "--id", ids["MgB2"], "--id", "6b13"])
    assert bad.exit_code == 1
    assert "--id: '6b13' is not a record id (24 hex digits)" in " ".join(bad.output.split())


@pytest.mark.parametrize(
    ("options", "api_filter"),
    [
        (["--filter", 'elements HAS ALL "Cu","O"'], 'elements HAS ALL "Cu","O"'),
        (["--filter", 'property="Tc" AND value>=38'], 'property="tc" AND value>=38'),
        # options and --filter combine (AND), as in `literature papers`
        (["--property", "tc", "--filter", "n_papers>=2"], 'property="tc" AND n_papers>=2'),
        (["--element", "Se", "--filter", 'NOT elements HAS "O"'], 'elements HAS "Se"'),
    ],
)
def test_records_filter_is_the_apis(
    cli: CliRunner, literature_samples: SimpleNamespace, options: list[str], api_filter: str
) -> None:
    store = LiteratureStore()
    store.ingest(literature_samples.extraction("10.1/a", ["MgB2", "LSCO", "NbSe2"]))
    store.ingest(literature_samples.extraction("10.1/bb", ["MgB2"]))
    api_text = api_csv("/api/v1/literature/records", api_filter)
    result = cli.invoke(app, ["literature", "records", *options])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.decode() == api_text
    assert 1 < len(api_text.splitlines()) < 4  # some records, not every one


def test_records_filter_is_refused_as_the_api_refuses_it(
    cli: CliRunner, literature_samples: SimpleNamespace
) -> None:
    LiteratureStore().ingest(literature_samples.extraction("10.1/a", ["MgB2"]))
    for text, said in (
        ("sources=1", "--filter: 'sources' cannot be filtered on for records"),
        ("value >", "--filter: cannot parse"),
        ('id="6b13"', "--filter: id: '6b13' is not an id (24 hex digits)"),
        ('property="gap"', "--filter: property: 'gap' is not a record property; use tc"),
    ):
        bad = cli.invoke(app, ["literature", "records", "--filter", text])
        assert bad.exit_code == 1 and said in " ".join(bad.output.split()), (text, bad.output)
        assert not bad.stdout  # nothing written


def test_records_page_with_offset_and_say_on_stderr_when_records_are_left_out(
    cli: CliRunner, literature_samples: SimpleNamespace, tmp_path: Path
) -> None:
    store = LiteratureStore()
    store.ingest(literature_samples.extraction("10.1/a", ["MgB2", "LSCO", "NbSe2"]))
    every = [r["material"] for r in store.records({}, limit=10)[0]]
    assert len(every) == 3
    first = cli.invoke(app, ["literature", "records", "--format", "json", "--limit", "2"])
    assert first.exit_code == 0, first.output
    assert [r["material"] for r in json.loads(first.stdout)] == every[:2]  # stdout: JSON only
    assert "showing 2 of 3 records (1-2; page with --offset/--limit)" in first.stderr
    rest = cli.invoke(app, ["literature", "records", "--offset", "2", "--format", "csv"])
    assert rest.exit_code == 0, rest.output
    assert [r["material"] for r in csv.DictReader(io.StringIO(rest.stdout))] == every[2:]
    assert "showing 1 of 3 records (3-3;" in rest.stderr
    past = cli.invoke(app, ["literature", "records", "--offset", "5"])
    assert next(csv.reader(io.StringIO(past.stdout))) == list(RECORD_COLUMNS)  # a header only
    assert "showing 0 of 3 records (none past --offset 5;" in past.stderr
    whole = cli.invoke(app, ["literature", "records", "--limit", "3"])
    assert whole.exit_code == 0 and whole.stderr == ""  # nothing left out: no note
    written = tmp_path / "records.csv"
    out = cli.invoke(app, ["literature", "records", "--limit", "1", "--output", str(written)])
    assert "showing 1 of 3 records" in out.stderr
    assert len(list(csv.DictReader(written.open()))) == 1
    negative = cli.invoke(app, ["literature", "records", "--offset", "-1"])
    assert negative.exit_code == 2 and "--offset" in negative.output


def test_records_of_a_model_are_its_record_ids(
    cli: CliRunner, literature_samples: SimpleNamespace
) -> None:
    store = LiteratureStore()
    store.ingest(literature_samples.extraction("10.1/a", ["MgB2", "LSCO", "NbSe2"]))
    ids = {row["material"]: row["id"] for row in store.records({})[0]}
    trained_on = [ids["NbSe2"], ids["MgB2"]]
    metrics = {"record_ids": trained_on, "records_used": 2}
    version = register_model(ModelArtifact("ensemble", "e" * 64, metrics, b"w"), "model:e")
    result = cli.invoke(app, ["literature", "records", "--model", version, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert sorted(r["id"] for r in json.loads(result.stdout)) == sorted(trained_on)
    narrowed = cli.invoke(
        app, ["literature", "records", "--model", version, "--element", "Se", "--format", "json"]
    )
    assert [r["material"] for r in json.loads(narrowed.stdout)] == ["NbSe2"]
    table = register_model(ModelArtifact("gp", "f" * 64, {"n_train": 9}, b"w"), "model:gp")
    none = cli.invoke(app, ["literature", "records", "--model", table, "--format", "json"])
    assert none.exit_code == 0 and json.loads(none.stdout) == []
    assert f"model {table} was trained on no literature records" in none.stderr
    unknown = cli.invoke(app, ["literature", "records", "--model", "model:gp:nope"])
    assert unknown.exit_code == 1
    assert "--model: no model version 'model:gp:nope'" in " ".join(unknown.output.split())


def test_ingest_stores_each_papers_absolute_path_whatever_directory_it_ran_in(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "a.txt").write_text("MgB2 superconductors\n\nMgB2 is at 39 K.")
    monkeypatch.chdir(tmp_path)
    result = cli.invoke(app, ["literature", "ingest", "papers", "--no-embeddings"])
    assert result.exit_code == 0, result.output
    (paper,), _ = LiteratureStore().papers({})
    assert paper["source"] == str((tmp_path / "papers" / "a.txt").resolve())
    monkeypatch.chdir(tmp_path / "papers")  # another directory still finds it
    assert Path(paper["source"]).read_text().startswith("MgB2 superconductors")
    short = paper["key"][: len("sha256:") + 12]  # as the table shows it, at any width
    monkeypatch.setenv("COLUMNS", "80")
    table = cli.invoke(app, ["literature", "papers"]).stdout
    assert short in table and paper["key"] not in table
    disconnect_all()  # as a fresh `matloop` process: the short key is read once connected
    found = cli.invoke(app, ["literature", "papers", "--key", short, "--format", "json"])
    assert [p["key"] for p in json.loads(found.stdout)] == [paper["key"]], found.output
    traced = cli.invoke(app, ["lineage", "paper", short])
    assert traced.exit_code == 0 and paper["key"] in traced.stdout


def test_papers_read_before_with_another_tagger_are_said_to_keep_its_records(
    cli: CliRunner, tmp_path: Path, tiny_encoder: Path
) -> None:
    (tmp_path / "a.txt").write_text("MgB2 superconductors\n\nMgB2 becomes superconducting at 39 K.")
    ingest = ["literature", "ingest", str(tmp_path / "a.txt"), "--no-embeddings"]
    assert cli.invoke(app, ingest).exit_code == 0
    tagger = Tagger.from_encoder(("material", "tcValue"), tiny_encoder, seed=1)
    newer = LiteratureStore().save_tagger(
        ModelArtifact("tagger-supermat", "3" * 64, {}, tagger.to_bytes())
    )
    again = cli.invoke(app, [*ingest, "--version", newer])
    said = " ".join(again.output.split())
    assert f"1 of the papers already there were read with another tagger than {newer}" in said
    assert "`matloop literature remove KEY` and ingest them again to read them with" in said
    first = PaperDocument.objects.get().model_version  # the tagger that read it
    same = " ".join(cli.invoke(app, [*ingest, "--version", first]).output.split())
    assert "0 papers stored, 1 already there" in same and "another tagger" not in same


def test_a_skipped_file_names_the_stored_paper_it_was_taken_for(
    cli: CliRunner, tmp_path: Path
) -> None:
    text = "MgB2 superconductors\n\nMgB2 becomes superconducting at 39 K."
    (tmp_path / "a.txt").write_text(text)
    assert cli.invoke(app, ["literature", "ingest", str(tmp_path / "a.txt"), "--no-embeddings"])
    (paper,), _ = LiteratureStore().papers({})
    (tmp_path / "copy.txt").write_text(text)  # another file, the same words: the same paper
    result = cli.invoke(app, ["literature", "ingest", str(tmp_path), "--no-embeddings"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "0 papers stored, 2 already there" in said
    assert (
        f"already there {tmp_path / 'copy.txt'} is stored paper {paper['key']} "
        f"{paper['title']!r}, read from {tmp_path / 'a.txt'}"
    ) in said
    assert "1 more already there, each read before from the same path" in said
    assert f"{tmp_path / 'a.txt'} is stored paper" not in said  # the same file: counted only


def test_texts_whose_words_differ_only_in_a_numbers_digits_are_two_papers(
    cli: CliRunner, tmp_path: Path
) -> None:
    # "2.3" and "3.2" were the words 2, 3 and 3, 2: the same sorted words, one key
    (tmp_path / "a.txt").write_text("The Tc of CeCoIn5 is 2.3 K.")
    (tmp_path / "b.txt").write_text("The Tc of CeCoIn5 is 3.2 K.")
    result = cli.invoke(app, ["literature", "ingest", str(tmp_path), "--no-embeddings"])
    assert result.exit_code == 0, result.output
    assert "2 papers stored, 0 already there" in result.output


def test_ingest_keeps_library_chatter_off_stderr(
    cli: CliRunner, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a.txt").write_text("MgB2 superconductors\n\nMgB2 becomes superconducting at 39 K.")
    (tmp_path / "cut.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << >> endobj\n")  # no %%EOF
    with caplog.at_level(logging.WARNING):  # pypdf warns through logging, not stderr
        result = cli.invoke(app, ["literature", "ingest", str(tmp_path), "--no-embeddings"])
    assert "1 papers stored, 0 already there, 1 failed" in result.output, result.output
    assert "cut.pdf" in result.stderr  # matloop's own message names the file
    assert "Loading weights" not in result.stderr  # transformers' bar, as the tagger loads
    assert "EOF marker" not in caplog.text
    assert logging.getLogger("pypdf").level == logging.NOTSET  # restored after the command


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--min", "nan"], "--min: expected a finite number, got nan"),
        (["--max", "inf"], "--max: expected a finite number, got inf"),
        (["--min", "50", "--max", "10"], "--min: 50 is larger than --max 10"),
    ],
)
def test_records_refuse_a_bound_that_is_no_number_or_reversed(
    cli: CliRunner, options: list[str], said: str
) -> None:
    result = cli.invoke(app, ["literature", "records", *options])
    assert result.exit_code == 1 and said in " ".join(result.output.split())
    found = cli.invoke(app, ["literature", "search", "x", *options])  # the same bounds
    assert found.exit_code == 1 and said in " ".join(found.output.split())


def test_train_without_the_corpus_names_data_and_the_variable(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MATLOOP_CORPORA", raising=False)
    # an installed matloop: no checkout beside it, so the default finds nothing
    monkeypatch.setattr("matloop.settings.DEFAULT_CORPORA", tmp_path / "corpora")
    result = cli.invoke(app, ["literature", "train"])
    said = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "--data" in said and "MATLOOP_CORPORA" in said
    assert f"(from the default {tmp_path / 'corpora'}, beside the checkout)" in said
    monkeypatch.setenv("MATLOOP_CORPORA", str(tmp_path / "nowhere"))
    said = " ".join(cli.invoke(app, ["literature", "eval"]).output.split())
    assert f"MATLOOP_CORPORA={tmp_path / 'nowhere'}" in said and "--data" in said
    missing = cli.invoke(app, ["literature", "train", "--data", str(tmp_path / "none")])
    assert missing.exit_code == 1
    assert f"--data: {tmp_path / 'none'} is not a folder" in " ".join(missing.output.split())


@pytest.mark.parametrize(
    ("options", "api_filter"),
    [
        ([], ""),
        (["--doi", "https://doi.org/10.1/A"], 'doi="10.1/a"'),  # a link, in any case
        (["--doi", "doi:10.1/bb"], 'doi="10.1/bb"'),
        (["--key", "DOI:10.1/BB"], 'key="doi:10.1/bb"'),
        # the API's spellings: a link without its scheme, www., a bare DOI as a key
        (["--doi", "doi.org/10.1/A"], 'doi="https://www.doi.org/10.1/a"'),
        (["--key", "10.1/BB"], 'key="https://doi.org/10.1/bb"'),
        (["--filter", 'title="Paper 10.1/a"'], 'title="Paper 10.1/a"'),
    ],
)
def test_papers_export_is_the_api_csv(
    cli: CliRunner, literature_samples: SimpleNamespace, options: list[str], api_filter: str
) -> None:
    store = LiteratureStore()
    store.ingest(literature_samples.extraction("10.1/a", ["MgB2", "LSCO"]))
    store.ingest(literature_samples.extraction("10.1/bb", ["MgB2"]))
    api_text = api_csv("/api/v1/literature/papers", api_filter)
    result = cli.invoke(app, ["literature", "papers", "--format", "csv", *options])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.decode() == api_text
    assert len(api_text.splitlines()) > 1  # rows, not a header alone


def test_papers_show_a_record_sources_paper_and_refuse_bad_options(
    cli: CliRunner,
    literature_samples: SimpleNamespace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # the file's path, however long, in one piece
    store = LiteratureStore()
    store.ingest(literature_samples.extraction("10.1/a", ["MgB2", "LSCO"]))
    store.ingest(literature_samples.extraction("10.1/bb", ["MgB2"]))
    (record,), _ = store.records(store.records_query(elements=["Cu"]))  # LSCO: in 10.1/a
    key = record["sources"][0]["paper"]
    table = cli.invoke(app, ["literature", "papers", "--key", key])
    assert table.exit_code == 0, table.output
    for shown in (key, "Paper 10.1/a", "10.1/a.xml"):  # key, title, source path
        assert shown in table.stdout
    assert "10.1/bb" not in table.stdout
    rows = json.loads(
        cli.invoke(
            app, ["literature", "papers", "--title", "paper 10.1/B", "--format", "json"]
        ).stdout
    )
    assert [(r["key"], r["readings"], r["records"]) for r in rows] == [("doi:10.1/bb", 1, 1)]
    (paper_id,) = [r["id"] for r in rows]
    by_id = cli.invoke(app, ["literature", "papers", "--id", paper_id, "--format", "json"])
    assert [r["id"] for r in json.loads(by_id.stdout)] == [paper_id]
    limited = cli.invoke(app, ["literature", "papers", "--limit", "1", "--format", "json"])
    assert len(json.loads(limited.stdout)) == 1 and "1 of 2 papers" in limited.stderr
    none = cli.invoke(app, ["literature", "papers", "--year", "1900"])
    assert none.exit_code == 0 and "no paper matches" in none.stderr
    written = tmp_path / "papers.csv"
    out = cli.invoke(
        app, ["literature", "papers", "--format", "CSV", "--output", str(written)]
    )  # any case
    assert out.exit_code == 0 and f"wrote 2 papers to {written}" in " ".join(out.output.split())
    assert len(list(csv.DictReader(written.open()))) == 2
    for options, said in (
        (["--id", "6b13"], "--id: '6b13' is not a paper id (24 hex digits)"),
        (["--format", "xml"], "--format: expected table, json or csv, got 'xml'"),
        (["--filter", "yeer>2000"], "--filter: 'yeer' cannot be filtered on for papers"),
    ):
        bad = cli.invoke(app, ["literature", "papers", *options])
        assert bad.exit_code == 1 and said in " ".join(bad.output.split()), bad.output


def test_ingest_notes_a_paper_that_is_not_in_english(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "de.txt").write_text(GERMAN)
    (tmp_path / "en.txt").write_text("MgB2\n\n" + "MgB2 becomes superconducting at 39 K. " * 9)
    result = cli.invoke(app, ["literature", "ingest", str(tmp_path), "--no-embeddings"])
    said = " ".join(result.output.split())
    assert "2 papers stored" in said
    assert f"note: {tmp_path / 'de.txt'} does not read as English (0% of its words" in said
    assert "en.txt does not read" not in said


def test_records_of_a_model_say_how_many_are_gone(
    cli: CliRunner, literature_samples: SimpleNamespace
) -> None:
    store = LiteratureStore()
    store.ingest(literature_samples.extraction("10.1/a", ["MgB2"]))
    (row,) = store.records({})[0]
    lineage = {"record_ids": [row["id"]], "records_used": 1}
    register_model(ModelArtifact("ensemble", "4" * 64, lineage, b"w"), "model:ensemble:444")
    store.remove_paper("doi:10.1/a")
    result = cli.invoke(app, ["literature", "records", "--model", "model:ensemble:444"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "1 of the 1 records model model:ensemble:444 was trained on are gone" in said


def test_a_near_twin_is_named_and_an_edit_of_the_same_file_is_another_paper(
    cli: CliRunner, tmp_path: Path
) -> None:
    body = "MgB2 becomes superconducting at 39 K, as the resistivity and susceptibility show. "
    paper, twin = tmp_path / "mgb2.txt", tmp_path / "mgb2-converted.txt"
    paper.write_text("MgB2 superconductors\n\n" + body * 3 + "It is cheap and light.")
    _ = cli.invoke(app, ["literature", "ingest", str(paper), "--no-embeddings"])
    twin.write_text("MgB2 superconductors\n\n" + body * 3 + "It is cheap.")  # "and light" lost
    again = cli.invoke(app, ["literature", "ingest", str(twin), "--no-embeddings"])
    said = " ".join(again.output.split())
    assert "0 papers stored, 1 already there" in said
    assert f"already there {twin} is stored paper sha256:" in said
    assert "(nearly: a few words more or fewer, its title and numbers the same)" in said
    paper.write_text("MgB2 superconductors\n\n" + body * 3 + "It is not cheap and light.")
    edited = cli.invoke(app, ["literature", "ingest", str(paper), "--no-embeddings"])
    assert "1 papers stored" in edited.output  # its own file edited: another text


def test_a_curator_rejects_a_misread_record_and_restores_it(
    cli: CliRunner, literature_samples: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a table's rows on one line each
    LiteratureStore().ingest(literature_samples.extraction("10.1/a", ["MgB2", "NbSe2"]))
    rows = json.loads(cli.invoke(app, ["literature", "records", "--format", "json"]).output)
    wrong = next(r for r in rows if r["material"] == "NbSe2")
    asked = cli.invoke(app, ["literature", "reject", wrong["id"]])
    assert asked.exit_code == 1 and "give --reason to reject the record" in asked.output
    rejected = cli.invoke(app, ["literature", "reject", wrong["id"], "--reason", "a substrate"])
    assert rejected.exit_code == 0, rejected.output
    assert f"rejected record {wrong['id']} (NbSe2 tc" in " ".join(rejected.output.split())
    listed = json.loads(cli.invoke(app, ["literature", "records", "--format", "json"]).output)
    assert "NbSe2" not in [r["material"] for r in listed]
    only = cli.invoke(app, ["literature", "records", "--format", "json", "--rejected", "only"])
    (row,) = json.loads(only.output)
    assert row["id"] == wrong["id"] and row["rejection"]["reason"] == "a substrate"
    by_id = cli.invoke(app, ["literature", "records", "--format", "json", "--id", wrong["id"]])
    assert json.loads(by_id.stdout) == []  # stdout stays the records alone
    assert "1 record(s) of these ids were rejected by a curator: --rejected include" in (
        " ".join(by_id.stderr.split())
    )
    reason = ["--reason", "no Tc: a Curie point"]
    twice = cli.invoke(app, ["literature", "reject", wrong["id"], *reason])
    said = " ".join(twice.output.split())
    assert twice.exit_code == 0 and "was rejected already, by" in said and "(a substrate)" in said
    both = cli.invoke(app, ["literature", "reject", wrong["id"], "--undo", "--reason", "x"])
    assert both.exit_code == 1 and "--reason: a reason is for a rejection" in both.output
    restored = cli.invoke(app, ["literature", "reject", wrong["id"], "--undo"])
    assert restored.exit_code == 0 and "restored record" in restored.output
    again = json.loads(cli.invoke(app, ["literature", "records", "--format", "json"]).output)
    assert len(again) == len(rows)
    cli.invoke(app, ["literature", "reject", wrong["id"], "--reason", "a substrate"])
    table = cli.invoke(app, ["literature", "records", "--format", "TABLE", "--rejected", "include"])
    assert table.exit_code == 0, table.output
    lines = [line.replace("│", " ").replace("┃", " ").split() for line in table.output.splitlines()]
    header = ["id", "material", "property", "value", "unit", "conditions", "conf", "papers"]
    assert lines[1] == [*header, "rejected"]
    assert [wrong["id"], "NbSe2", "tc", "7.2", "K", "0.76", "1", "yes"] in lines
    listed = cli.invoke(app, ["literature", "records", "--format", "table"]).output
    assert "rejected" not in listed and wrong["id"] not in listed
    cli.invoke(app, ["literature", "reject", wrong["id"], "--undo"])
    idle = cli.invoke(app, ["literature", "reject", wrong["id"], "--undo"])
    assert idle.exit_code == 0 and "was not rejected: nothing to restore" in " ".join(
        idle.output.split()
    )
    unknown = cli.invoke(app, ["literature", "reject", "0" * 24, "--reason", "x"])
    assert unknown.exit_code == 1 and "no record" in unknown.output
