"""``matloop literature``: train the tagger, ingest papers, search and export records.

Registered in :mod:`matloop.cli`. Models and torch load only when a command runs.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from matloop.pool_options import Seed

if TYPE_CHECKING:
    from agents.literature import StoredMatch

literature_app = typer.Typer(
    help="Literature mining: papers to material-property records.", no_args_is_help=True
)


def _corpus_root(corpus: str, data: Path | None) -> Path:
    """The corpus folder: ``--data``, else under the settings' ``corpora``.

    Raises:
        CommandError: naming ``--data`` and ``MATLOOP_CORPORA`` when the folder is not
            there (an installed matloop has no checkout beside it to find them in).
    """
    from matloop.cli import CommandError
    from matloop.settings import Settings

    if data is not None:
        if not data.is_dir():
            raise CommandError(f"--data: {data} is not a folder")
        return data
    given = os.environ.get("MATLOOP_CORPORA")
    base = Settings().corpora
    root = base / ("supermat" if corpus == "supermat" else "synthesis-procedures")
    if not root.is_dir():
        where = f"MATLOOP_CORPORA={given}" if given else f"the default {base}, beside the checkout"
        raise CommandError(
            f"--corpus {corpus}: no folder {root} (from {where}); give the corpus folder "
            "with --data, or set MATLOOP_CORPORA to the folder holding supermat/ and "
            "synthesis-procedures/"
        )
    return root


def _store() -> Any:
    from db.literature import LiteratureStore
    from matloop.cli import store

    store()  # connects, or explains how to start the database
    return LiteratureStore()


#: --min/--max compare a record's stated number, ``value``, as the API filter value>=x does.
MIN_HELP = "Records whose stated value is at least this ('up to 40 K' is 40; API: value>=x)."
MAX_HELP = "Records whose stated value is at most this (a range's middle; API: value<=x)."
PROPERTY_HELP = "e.g. tc (any case)."
TAGGER_HELP = "Tagger version (default: the registered one best on its held-out papers)."
SORT_HELP = (
    "material, formula, value, low, high, confidence, n_papers, n_sources, created_at or "
    "updated_at; -value: largest first; several comma-separated (-value,material)."
)
ID_HELP = "This record's id (a row's id, a model's record_ids; API: id=...); repeatable."
PAPER_HELP = "Records read in the paper with this key, e.g. doi:10.1/abc (API: paper=...)."
REJECTED_HELP = (
    "Records a curator rejected (`literature reject`): exclude (default), include, or only "
    "(API: rejected=...). A model's records (--model) include them: it learned from them."
)
RECORD_FILTER_HELP = (
    "OPTIMADE filter, as the API's /literature/records takes: "
    '\'property="tc" AND elements HAS ALL "Fe","As" AND value>=30\'; an element\'s molar '
    "fraction is fraction.<element>, its symbol in lower case: 'fraction.sr > 0.02 AND "
    "fraction.sr < 0.03'."
)
MODEL_HELP = (
    "The records this model version was trained on (its record_ids; API: /models/VERSION/records)."
)


@literature_app.command("train")
def literature_train(
    corpus: Annotated[str, typer.Option(help="supermat or synthesis.")] = "supermat",
    data: Annotated[Path | None, typer.Option(help="Corpus folder.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1)] = None,
    patience: Annotated[int | None, typer.Option(min=1, help="Epochs without progress.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1)] = None,
    learning_rate: Annotated[float | None, typer.Option(min=0)] = None,
    negative_fraction: Annotated[
        float | None, typer.Option(min=0, max=1, help="Entity-free sentences kept.")
    ] = None,
    seed: Seed = 0,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: best)")] = None,
) -> None:
    """Fine-tune the MiniLM tagger on a corpus and register it (weights in GridFS).

    Settings left out take the recipe's defaults (``literature.ner.TrainConfig``).
    """
    from agents.literature import train_and_register
    from literature.ner import TrainConfig
    from matloop.cli import console, errors

    given: dict[str, Any] = {
        "epochs": epochs,
        "patience": patience,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "negative_fraction": negative_fraction,
    }
    with errors():
        root = _corpus_root(corpus, data)  # before the database: a wrong folder says so first
        store = _store()
        config = TrainConfig(
            seed=seed, device=device, **{k: v for k, v in given.items() if v is not None}
        )
        version, trained = train_and_register(store, corpus, root, config)
    _print_scores(
        trained.test_scores, f"held-out {corpus} papers ({len(trained.split.test_documents)})"
    )
    console.print(
        f"registered [bold]{version}[/bold] "
        f"(best epoch {trained.report.best_epoch}, {trained.report.seconds:.0f} s "
        f"on {trained.report.device})"
    )


@literature_app.command("eval")
def literature_eval(
    version: Annotated[str | None, typer.Option(help=TAGGER_HELP)] = None,
    corpus: Annotated[str, typer.Option(help="supermat or synthesis.")] = "supermat",
    data: Annotated[Path | None, typer.Option(help="Corpus folder.")] = None,
) -> None:
    """Score a registered tagger on the corpus's held-out papers (strict span match)."""
    from agents.literature import load_tagger
    from literature.ner import evaluate
    from literature.training import load_corpus
    from matloop.cli import errors

    with errors():
        root = _corpus_root(corpus, data)
        tagger, version = load_tagger(_store(), version)
        split = load_corpus(corpus, root)
        scores = evaluate(tagger, split.test)
    _print_scores(scores, f"{version} on held-out {corpus} papers ({len(split.test_documents)})")


@literature_app.command("ingest")
def literature_ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders of papers.")],
    version: Annotated[str | None, typer.Option(help=TAGGER_HELP)] = None,
    embeddings: Annotated[bool, typer.Option(help="Embed sentences for search.")] = True,
    max_sentences: Annotated[
        int,
        typer.Option(
            min=1,
            help="A file with more sentences is refused unread (a book or a data dump: "
            "tagging reads about 10 a second on two cores).",
        ),
    ] = 20_000,
) -> None:
    """Read papers into records; bad files are reported and skipped, the batch goes on."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agents.literature import (
        ingest_paths,
        make_extractor,
        not_english,
        paper_files,
        quiet_libraries,
    )
    from matloop.cli import console, err, errors

    with errors(), quiet_libraries():
        store = _store()
        files = paper_files(paths)  # a path that is not there: before the tagger loads
        extractor = make_extractor(store, version, embeddings=embeddings)
        if not files:
            raise ValueError(f"paths: no files under {', '.join(map(str, paths))}")
        columns = (
            TextColumn("ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("ingest", total=len(files), rate="")

            def on_file(path: Path, outcome: Any) -> None:
                done = progress.tasks[0].completed + 1
                if isinstance(outcome, str):
                    err.print(f"[yellow]skipped[/yellow] {outcome}", highlight=False)
                elif not console.is_terminal:  # no progress bar: a line a paper, in a log
                    err.print(escape(f"{done}/{len(files)} {path}: {_read(outcome)}"))
                elapsed = progress.tasks[0].elapsed or 1e-9
                progress.update(task, advance=1, rate=f"{done / elapsed:.2f} papers/s")

            summary = ingest_paths(store, extractor, files, on_file, max_sentences)
    _print_matches(summary.matched)
    if read_otherwise := sum(m.tagger != summary.tagger for m in summary.matched):
        err.print(
            f"[yellow]{read_otherwise} of the papers already there were read with another "
            f"tagger than {summary.tagger}[/yellow]: their records stay as it read them "
            "(`matloop literature remove KEY` and ingest them again to read them with this "
            "one; a curator's rejections stay; or ingest into a fresh database)"
        )
    console.print(
        f"{summary.papers} papers stored, {summary.skipped} already there, "
        f"{len(summary.failed)} failed; {summary.sentences} sentences, "
        f"{summary.records_new} new records, {summary.records_merged} merged, "
        f"{summary.records_rejected} readings not stored (impossible, under an unread "
        "pressure, or of no material); "
        f"{summary.papers_per_second:.2f} papers/s"
    )
    if summary.records_curator_rejected:
        err.print(
            f"note: {summary.records_curator_rejected} of the readings are of records a "
            "curator rejected (`literature reject`): they stay rejected, left out of "
            "listings and training",
            highlight=False,
        )
    for path, older in summary.revised:
        err.print(
            escape(
                f"note: {path} was stored before as paper {', '.join(older)}, whose text "
                "differs: both are kept and count as two papers; `matloop literature remove "
                f"{older[-1]}` removes the older one"
            ),
            highlight=False,
        )
    for path, share in summary.not_english:
        err.print(escape(f"note: {not_english(path, share)}"), highlight=False)
    if summary.hint is not None:
        err.print(f"[yellow]hint[/yellow] {summary.hint}", highlight=False)
    if summary.failed and not (summary.papers or summary.skipped):
        raise typer.Exit(1)


def _read(report: Any) -> str:
    """What ingesting one paper did (an :class:`~db.literature.IngestReport`), in a few words."""
    if not report.new:
        return f"already there as {report.paper_key}"
    return (
        f"stored as {report.paper_key}, {report.records_new} new records, "
        f"{report.records_merged} merged"
    )


def _print_matches(matched: list[StoredMatch]) -> None:
    """Name the stored paper each skipped file was taken for, when it came from another file.

    A file read again from the same path is only counted: a folder ingested again would
    otherwise list every file. Another file is the surprise: a twin in another format,
    a copy, a text whose words are those of a stored one, or a near twin (a few words
    more or fewer); so is a paper with a DOI whose text changed, from any file.
    """
    from rich.markup import escape

    from matloop.cli import err

    others = [match for match in matched if not match.same_file or match.differs]
    for match in others:
        err.print(f"[yellow]already there[/yellow] {escape(match.description)}", highlight=False)
    again = len(matched) - len(others)
    if others and again:
        err.print(f"{again} more already there, each read before from the same path")


@literature_app.command("embed")
def literature_embed(
    batch: Annotated[int, typer.Option(min=1, help="Sentences encoded at a time.")] = 256,
) -> None:
    """Embed stored sentences that have none, for search (ingested with --no-embeddings).

    Resumable: run it again after an interruption.
    """
    from agents.literature import embed_stored, quiet_libraries
    from matloop.cli import console, errors

    with errors(), quiet_libraries():
        store = _store()
        with console.status("embedding sentences") as status:
            embedded = embed_stored(
                store,
                _encoder().encode,
                batch,
                lambda done: status.update(f"embedded {done} sentences"),
            )
    console.print(
        f"embedded {embedded} sentences" if embedded else "every sentence has an embedding"
    )


@literature_app.command("search")
def literature_search(
    query: str,
    k: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    element: Annotated[list[str] | None, typer.Option(help="Mentions this element.")] = None,
    property: Annotated[
        str | None, typer.Option(help="Source of a record of it, e.g. tc (any case).")
    ] = None,
    minimum: Annotated[float | None, typer.Option("--min", help=MIN_HELP)] = None,
    maximum: Annotated[float | None, typer.Option("--max", help=MAX_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Semantic search over sentences (MiniLM embeddings, cosine), with filters.

    When no stored sentence can be searched (none stored, or none embedded because the
    papers were ingested with --no-embeddings), says so and how to fix it, and exits 1.
    Sentences matching the filters that have no embedding (papers ingested with
    --no-embeddings beside embedded ones) are not searched: a note on stderr counts them
    and names `matloop literature embed`.
    """
    from dataclasses import asdict

    from rich.markup import escape

    from agents.literature import quiet_libraries, search_sentences
    from matloop.cli import console, err, errors

    with errors(), quiet_libraries():  # no "Loading weights" bar over the hits
        _check_elements(element)
        _check_range(minimum, maximum)
        store = _store()
        if property is not None:
            store.check_property(property, "--property")
        result = search_sentences(
            store, query, _encode, k, element or (), property, minimum, maximum
        )
    hits = result.hits
    if as_json:
        sys.stdout.write(json.dumps([asdict(h) for h in hits], indent=2) + "\n")
    if result.message is not None:  # an empty list alone reads as "nothing matched"
        err.print(f"[yellow]nothing to search:[/yellow] {escape(result.message)}", highlight=False)
        raise typer.Exit(1)
    if result.note is not None:  # without it, sentences left out read as "no match"
        err.print(f"[yellow]note:[/yellow] {escape(result.note)}", highlight=False)
    if as_json:
        return
    if not hits:
        embedded = " embedded" if result.unembedded else ""
        err.print(f"no{embedded} sentence matches the filters")
    for hit in hits:
        console.print(f"[bold]{hit.score:.3f}[/bold] {hit.text}", highlight=False)
        console.print(f"      [dim]{hit.paper_key} §{hit.section}.{hit.sentence} {hit.title}[/dim]")


@literature_app.command("records")
def literature_records(
    property: Annotated[str | None, typer.Option(help=PROPERTY_HELP)] = None,
    element: Annotated[
        list[str] | None, typer.Option(help="Contains this element (known elements only).")
    ] = None,
    minimum: Annotated[float | None, typer.Option("--min", help=MIN_HELP)] = None,
    maximum: Annotated[float | None, typer.Option("--max", help=MAX_HELP)] = None,
    min_confidence: Annotated[float | None, typer.Option(min=0, max=1)] = None,
    format: Annotated[
        str, typer.Option("--format", help="csv, json, or table (to read: no sources).")
    ] = "csv",
    limit: Annotated[int, typer.Option(min=1)] = 100_000,
    output: Annotated[Path | None, typer.Option(help="File to write (default stdout).")] = None,
    sort: Annotated[str, typer.Option(help=SORT_HELP)] = "material",
    record_id: Annotated[list[str] | None, typer.Option("--id", help=ID_HELP)] = None,
    paper: Annotated[str | None, typer.Option(help=PAPER_HELP)] = None,
    model: Annotated[str | None, typer.Option(help=MODEL_HELP)] = None,
    filter: Annotated[str, typer.Option("--filter", help=RECORD_FILTER_HELP)] = "",
    offset: Annotated[int, typer.Option(min=0, help="Records skipped first (pages).")] = 0,
    rejected: Annotated[str, typer.Option(help=REJECTED_HELP)] = "exclude",
) -> None:
    """Export property records with their provenance as CSV or JSON, as the API gives them.

    `--property tc --element Cu --sort=-value --limit 10`: the ten highest Tc with copper.
    `--model VERSION`: the records a model learned from (its `record_ids`; or `--id ID
    --id ID`). `--filter` takes the API's filter language; options and `--filter` combine
    (AND). The CSV has the columns of `GET /api/v1/literature/records?format=csv`, in its
    order, lists and dicts as JSON text; `--format table` shows each record on a line, to
    read (its id, reading, conditions, confidence and number of papers). When
    `--offset`/`--limit` leave records out, a note on stderr says how many of how many
    were written (stdout holds the records only).
    """
    from db.literature import resolve_paper_key
    from matloop.cli import CommandError, err, errors

    format = format.lower()  # CSV, as a file's extension may be written
    with errors():
        if format not in {"csv", "json", "table"}:
            raise CommandError(f"--format: expected csv, json or table, got {format!r}")
        _check_elements(element)
        _check_range(minimum, maximum)
        _check_sort(sort)
        _check_ids(record_id)
        store = _store()
        if property is not None:
            store.check_property(property, "--property")
        if paper is not None and not store.has_paper(resolve_paper_key(paper)):  # else: mute
            raise CommandError(
                f"--paper: no paper {paper!r} (`matloop literature papers` lists them)"
            )
        query = store.records_query(
            property,
            element or (),
            minimum,
            maximum,
            min_confidence,
            ids=record_id or None,
            paper=paper,
        )
        query = _all_of([query, _records_filter(store, filter)])
        hidden = 0  # records asked for by id that a curator rejected
        if model is None:
            trained_on = None
            rows, total = store.records(query, limit, offset, sort, rejected=rejected)
            if record_id and not total and rejected == "exclude":  # asked for by id
                hidden = store.records(query, 1, 0, sort, rejected="only")[1]
        else:  # any number of ids: one pass over the records' ids past a few hundred
            from db.models import records_among, records_gone

            trained_on = _model_records(model)
            rows, total = records_among(store, trained_on, query, limit, offset, sort)
    if format == "table":
        _print_records(rows, output)
    else:
        text = json.dumps(rows, indent=2, default=str) if format == "json" else records_csv(rows)
        _write(text, output, f"{len(rows)} records")
    if hidden:  # else an id asked for would seem not stored
        err.print(
            f"{hidden} record(s) of these ids were rejected by a curator: --rejected include "
            "lists them with their rejection",
            highlight=False,
        )
    if trained_on == []:  # else no rows would read as "none matched the other options"
        err.print(f"model {model} was trained on no literature records", highlight=False)
    elif trained_on and (gone := records_gone(trained_on)):
        err.print(
            f"{gone} of the {len(trained_on)} records model {model} was trained on are gone: "
            "read only in papers removed since (`literature remove`)",
            highlight=False,
        )
    if len(rows) < total:  # stdout stays the records alone: a CSV or JSON reader's input
        shown = f"{offset + 1}-{offset + len(rows)}" if rows else f"none past --offset {offset}"
        err.print(
            f"showing {len(rows)} of {total} records ({shown}; page with --offset/--limit)",
            highlight=False,
        )


def _records_filter(store: Any, text: str) -> dict[str, Any]:
    """``--filter`` as the API reads a records ``filter`` (:meth:`LiteratureStore.records_filter`).

    Raises:
        CommandError: naming ``--filter``, for a filter that does not parse, names a field
            records do not have, or a property no record may have.
    """
    from matloop.cli import CommandError

    try:
        return cast(dict[str, Any], store.records_filter(text))
    except ValueError as error:  # FilterError: "filter: " and the problem
        raise CommandError(f"--filter: {str(error).removeprefix('filter: ')}") from None


def _model_records(version: str) -> list[str]:
    """The ids of the records model ``version`` was trained on, naming ``--model`` if none.

    Raises:
        CommandError: naming ``--model``, for an unknown version or a model that lists
            only the count and hash of its records (past 20,000).
    """
    from db.models import model_record_ids
    from matloop.cli import CommandError

    try:
        return model_record_ids(version)
    except LookupError as error:  # UnlistedRecordsError too
        raise CommandError(f"--model: {error.args[0] if error.args else error}") from None


def _all_of(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One MongoDB query that holds where every one of ``parts`` (empty ones left out) does."""
    given = [part for part in parts if part]
    return {} if not given else given[0] if len(given) == 1 else {"$and": given}


#: What the papers table shows of each paper (``--format json``/``csv`` give every field).
PAPER_TABLE = ("key", "title", "year", "journal", "source", "readings", "records")
PAPER_FILTER_HELP = (
    "OPTIMADE filter on id, key, doi, title, year, journal, source, model_version (the "
    "tagger), ingested_at, as the API's "
    "/literature/papers takes: 'year>=2015 AND journal CONTAINS \"Phys\"'."
)


@literature_app.command("papers")
def literature_papers(
    key: Annotated[
        list[str] | None,
        typer.Option(help="This paper's key (a record source's paper), any case; repeatable."),
    ] = None,
    doi: Annotated[str | None, typer.Option(help="This DOI (any case, doi.org links too).")] = None,
    paper_id: Annotated[
        list[str] | None, typer.Option("--id", help="This paper's id (API: id=...); repeatable.")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title contains this (any case).")] = None,
    year: Annotated[int | None, typer.Option(help="Published this year.")] = None,
    journal: Annotated[str | None, typer.Option(help="Journal contains this (any case).")] = None,
    filter: Annotated[str, typer.Option("--filter", help=PAPER_FILTER_HELP)] = "",
    format: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    limit: Annotated[int, typer.Option(min=1)] = 100_000,
    output: Annotated[Path | None, typer.Option(help="File to write (default stdout).")] = None,
) -> None:
    """List ingested papers, newest first: what a record source's paper key is.

    `--key sha256:...` (a source's `paper`): its title, year, journal, the file it was
    read from (`source`), its readings and records. The table shows those; `--format
    json` or `csv` every field, as `GET /api/v1/literature/papers` gives them (the
    columns, order and cells of its CSV). Options and `--filter` combine (AND).
    """
    from matloop.cli import CommandError, err, errors

    format = format.lower()  # CSV, as a file's extension may be written
    with errors():
        if format not in {"table", "json", "csv"}:
            raise CommandError(f"--format: expected table, json or csv, got {format!r}")
        store = _store()  # first: a short key is resolved in the database
        query = _papers_query(store, key, doi, paper_id, title, year, journal, filter)
        rows, total = store.papers(query, limit=limit)
    if format == "table":
        _print_papers(rows, output)
    else:
        text = (
            json.dumps(rows, indent=2, default=str) + "\n" if format == "json" else papers_csv(rows)
        )
        _write(text, output, f"{len(rows)} papers")
    if total > len(rows):
        err.print(f"{len(rows)} of {total} papers (raise --limit for more)")
    elif not rows and format == "table":
        err.print("no paper matches the options")


@literature_app.command("remove")
def literature_remove(
    key: Annotated[str, typer.Argument(help="The paper's key (`literature papers`), any case.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask (needed off a terminal).")] = False,
) -> None:
    """Remove a paper: its sentences, mentions, and what its records took from it.

    For a paper stored by mistake, or the old version of an edited file (its new text is
    another paper, and both count as evidence until one goes). A record read in it alone
    is deleted; one also read elsewhere keeps its other sources, papers and confidence.
    Models trained on its records keep their lineage, which then names records no longer
    there: they are listed, to be trained again without it.
    """
    from rich.markup import escape

    from db.literature import resolve_paper_key
    from matloop.cli import CommandError, console, err, errors

    with errors():
        store = _store()
        found, _ = store.papers({"key": resolve_paper_key(key)}, limit=1)
        if not found:
            raise CommandError(f"no paper {key!r} (`matloop literature papers` lists them)")
        what = f"paper {found[0]['key']} ({found[0].get('title') or 'no title'})"
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError(f"removing {what}: pass --yes to confirm")
            typer.confirm(f"remove {what}?", abort=True)
        try:
            removed = store.remove_paper(key)
        except LookupError as error:  # removed meanwhile
            raise CommandError(str(error)) from None
    console.print(
        escape(
            f"removed {what}: {removed.records_deleted} record(s) read in it alone deleted, "
            f"{removed.records_kept} keep their other papers"
        ),
        highlight=False,
    )
    if removed.models:
        err.print(
            escape(
                f"note: {len(removed.models)} model(s) were trained on records read in it: "
                f"{', '.join(removed.models)}; their lineage still names it and records no "
                "longer there: train them again to leave it out"
            ),
            highlight=False,
        )


@literature_app.command("reject")
def literature_reject(
    record_id: Annotated[str, typer.Argument(help="The record's id (`literature records`).")],
    reason: Annotated[
        str | None, typer.Option(help="Why it is wrong, kept with it (needed to reject).")
    ] = None,
    undo: Annotated[bool, typer.Option("--undo", help="Restore a rejected record.")] = False,
) -> None:
    """Mark a record the pipeline misread as wrong: listings and training leave it out.

    For a value that is another material's (tantalum's Tc in a paper on MgB2), a
    substrate's, or no Tc at all (a measurement's limit, a Curie temperature). The record
    keeps its sources; a paper that states it again adds one, and it stays rejected.
    `--undo` restores it. `literature records --rejected only` lists the rejected ones,
    with who rejected them, when and why.
    """
    from rich.markup import escape

    from matloop.cli import CommandError, _login, console, errors

    with errors():
        if undo and reason is not None:
            raise CommandError("--reason: a reason is for a rejection; --undo takes none")
        if not undo and reason is None:
            raise CommandError("give --reason to reject the record, or --undo to restore it")
        store = _store()
        try:
            if undo:
                row = store.restore_record(record_id)
            else:
                assert reason is not None  # checked above
                row = store.reject_record(record_id, reason, _login())
        except LookupError as error:
            raise CommandError(str(error)) from None
    what = (
        f"record {row['id']} ({row['material']} {row['property']} {row['value']:g} {row['unit']})"
    )
    previous = row.get("previous_rejection")
    if undo and previous is None:
        console.print(escape(f"{what} was not rejected: nothing to restore"), highlight=False)
    elif undo and row.get("gone"):
        console.print(
            escape(
                f"restored {what}: gone with the papers that stated it; a paper stating it "
                "again brings it back, no longer rejected"
            ),
            highlight=False,
        )
    elif undo:
        console.print(escape(f"restored {what}: listed and trained on again"), highlight=False)
    elif previous is not None:
        console.print(
            escape(
                f"{what} was rejected already, by {previous['by']} ({previous['reason']}): "
                "its reason is now this one"
            ),
            highlight=False,
        )
    else:
        console.print(
            escape(
                f"rejected {what}: left out of listings and training from now on; "
                f"`matloop literature reject {row['id']} --undo` restores it"
            ),
            highlight=False,
        )


def _papers_query(
    store: Any,
    keys: list[str] | None,
    doi: str | None,
    ids: list[str] | None,
    title: str | None,
    year: int | None,
    journal: str | None,
    text: str,
) -> dict[str, Any]:
    """The MongoDB filter of ``matloop literature papers``'s options, all of them (AND).

    Raises:
        CommandError: naming the option, for an id or DOI that is none or a filter that
            does not parse.
    """
    from db.literature import resolve_paper_key
    from db.query import doi_text
    from matloop.cli import CommandError

    parts: list[dict[str, Any]] = []
    if keys:  # a key, or a DOI however written, or a start of a file's hash
        parts.append({"key": {"$in": [resolve_paper_key(k) for k in keys]}})
    if doi is not None:
        parts.append({"doi": doi_text(doi)})
    if ids:
        parts.append({"_id": {"$in": _paper_ids(ids)}})
    for field, contains in (("title", title), ("journal", journal)):
        if contains:
            parts.append({field: {"$regex": re.escape(contains), "$options": "i"}})
    if year is not None:
        parts.append({"year": year})
    try:
        parsed = store.papers_filter(text)
    except ValueError as error:  # FilterError: "filter: " and the problem, the fields allowed
        raise CommandError(f"--filter: {str(error).removeprefix('filter: ')}") from None
    parts.append(parsed)
    return _all_of(parts)


def _paper_ids(ids: list[str]) -> list[Any]:
    """--id values as stored ids; refuses one that is no id, naming the option."""
    from bson import ObjectId

    from matloop.cli import CommandError

    for text in ids:
        if not ObjectId.is_valid(text):
            raise CommandError(f"--id: {text!r} is not a paper id (24 hex digits)")
    return [ObjectId(text) for text in ids]


#: The columns of ``literature records --format table``.
#: ``rejected`` only where a listed record is (``--rejected include``).
RECORD_TABLE = (
    "id", "material", "property", "value", "unit", "conditions", "conf", "papers", "rejected"
)  # fmt: skip


def _print_records(rows: list[dict[str, Any]], output: Path | None) -> None:
    """Records as a table of :data:`RECORD_TABLE`, on the terminal or in ``output``.

    The value as its paper stated it (``< 2``, ``~39``, ``87 to 90``), conditions as
    ``pressure_gpa=10``, a rejected record marked (``--rejected include`` lists them).
    """
    from matloop.lineage_cli import named_values, stated_reading

    cells = [
        {
            "id": row["id"],
            "material": row["material"],
            "property": row["property"],
            "value": stated_reading(row),
            "unit": row["unit"] or "",
            "conditions": named_values(row["conditions"]) if row.get("conditions") else "",
            "conf": f"{row['confidence']:.2f}",
            "papers": str(row["n_papers"]),
            "rejected": "yes" if row.get("rejection") else "",
        }
        for row in rows
    ]
    shown = [c for c in RECORD_TABLE if c != "rejected" or any(r.get("rejection") for r in rows)]
    folded = [c for c in shown if c != "id"]  # an id on one line, to copy whole
    _print_table(shown, cells, output, f"{len(rows)} records", fold=folded)


def _print_table(
    columns: Sequence[str],
    rows: Sequence[Mapping[str, str | None]],
    output: Path | None,
    what: str,
    fold: Sequence[str] = (),
) -> None:
    """``rows`` as a table of ``columns``, on the terminal or in ``output`` (200 wide).

    Only the columns in ``fold`` wrap; the others stay whole on their line (an id or a
    key, to copy).
    """
    from rich.console import Console
    from rich.table import Table

    from matloop.cli import console, errors

    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column not in fold)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row[c]) for c in columns))
    if output is None:
        if rows:
            console.print(table, highlight=False)
        return
    with errors(), output.open("w") as handle:  # an OSError names the file
        Console(file=handle, width=200).print(table, highlight=False)
    console.print(f"wrote {what} to {output}")


def _print_papers(rows: list[dict[str, Any]], output: Path | None) -> None:
    """The papers as a table of :data:`PAPER_TABLE`, on the terminal or in ``output``."""
    cells = [{**row, "key": _short_key(str(row["key"]))} for row in rows]
    folded = [c for c in PAPER_TABLE if c != "key"]  # a key on one line, to copy whole
    _print_table(PAPER_TABLE, cells, output, f"{len(rows)} papers", fold=folded)


def _short_key(key: str) -> str:
    """A paper's key as a table shows it: a file's hash cut short, a DOI's in full.

    Twelve hex digits, as git shows a commit's, name the paper wherever a key is read
    (:func:`db.literature.resolve_paper_key`).
    """
    return key[: len(FILE_KEY) + SHORT_HASH] if key.startswith(FILE_KEY) else key


#: How a file's key starts, and the hex digits of its hash a table shows.
FILE_KEY, SHORT_HASH = "sha256:", 12


def papers_csv(rows: list[dict[str, Any]]) -> str:
    """Papers as the API's CSV pages write them, cell for cell.

    The columns are :data:`db.literature.PAPER_COLUMNS`, in order, then any other field a
    row holds (as the API's listing adds them); a list (``authors``, ``sections``) is JSON
    text, a missing value an empty cell.
    """
    from agents.serialize import csv_cells
    from db.literature import PAPER_COLUMNS

    flat = [csv_cells(row) for row in rows]
    header = list(dict.fromkeys([*PAPER_COLUMNS, *(k for row in flat for k in row)]))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header)
    writer.writeheader()
    writer.writerows(flat)
    return buffer.getvalue()


def _write(text: str, output: Path | None, what: str) -> None:
    """``text`` to stdout, or to ``output`` saying how much was written."""
    from matloop.cli import console, errors

    if output is None:
        sys.stdout.write(text)
        return
    with errors():  # an OSError names the file
        output.write_text(text)
    console.print(f"wrote {what} to {output}")


def _encode(text: str) -> Any:
    """``text``'s sentence embedding, with the encoder that embedded the stored sentences."""
    return _encoder().encode([text])[0]


def _encoder() -> Any:
    """The sentence encoder that embeds ingested papers (loads torch and MiniLM)."""
    from literature.embeddings import SentenceEncoder

    return SentenceEncoder()


def _check_range(minimum: float | None, maximum: float | None) -> None:
    """Refuse a --min/--max that is no finite number, or a --min above --max.

    NaN compares false with everything, so it would match no record and say nothing.
    """
    from matloop.cli import CommandError

    for option, bound in (("--min", minimum), ("--max", maximum)):
        if bound is not None and not math.isfinite(bound):
            raise CommandError(f"{option}: expected a finite number, got {bound}")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise CommandError(f"--min: {minimum:g} is larger than --max {maximum:g}")


def _check_sort(order: str) -> None:
    """Refuse a --sort that is no record field, naming the option."""
    from db.literature import record_order
    from matloop.cli import CommandError

    try:
        record_order(order)
    except ValueError as error:  # "sort: ..." names the library's argument
        raise CommandError(f"--{error}") from None


def _check_ids(ids: list[str] | None) -> None:
    """Refuse an --id that is no record id, naming the option."""
    from db.literature import record_ids
    from matloop.cli import CommandError

    try:
        record_ids(ids or (), "--id")
    except ValueError as error:
        raise CommandError(str(error)) from None


def _check_elements(symbols: list[str] | None) -> None:
    """Refuse an --element that is no element symbol, naming the option."""
    from pymatgen.core import Element

    from matloop.cli import CommandError

    for symbol in symbols or ():
        if not Element.is_valid_symbol(symbol):
            raise CommandError(f"--element: {symbol!r} is not an element symbol")


def records_csv(rows: list[dict[str, Any]]) -> str:
    """Records as the API's CSV pages write them: one row each, the same columns and cells.

    The columns are :data:`db.literature.RECORD_COLUMNS`, in order; a list or dict
    (``elements``, ``conditions``, ``sources``) is JSON text (``["Ag", "O"]``), a missing
    value (a bound's open end) an empty cell.
    """
    from agents.serialize import csv_cells
    from db.literature import RECORD_COLUMNS

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RECORD_COLUMNS)
    writer.writeheader()
    writer.writerows(csv_cells({k: row.get(k) for k in RECORD_COLUMNS}) for row in rows)
    return buffer.getvalue()


def _print_scores(scores: dict[str, Any], title: str) -> None:
    from rich.table import Table

    from matloop.cli import console

    table = Table(title=title)
    for column in ("entity", "precision", "recall", "F1", "gold", "predicted"):
        table.add_column(column, justify="left" if column == "entity" else "right")
    for label, s in scores.items():
        table.add_row(
            label, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", str(s.support),
            str(s.predicted),
        )  # fmt: skip
    console.print(table)
