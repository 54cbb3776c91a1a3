"""``matloop literature``: train the tagger, ingest papers, search and export records.

Registered in :mod:`matloop.cli`. Models and torch load only when a command runs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

literature_app = typer.Typer(
    help="Literature mining: papers to material-property records.", no_args_is_help=True
)

DEFAULT_CORPORA = Path("../shared/data/corpora")


def _corpus_root(corpus: str, data: Path | None) -> Path:
    if data is not None:
        return data
    base = Path(os.environ.get("MATLOOP_CORPORA", DEFAULT_CORPORA))
    return base / ("supermat" if corpus == "supermat" else "synthesis-procedures")


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
SORT_HELP = "material, formula, value, confidence, n_papers or updated_at; -value: largest first."
ID_HELP = "This record's id (a row's id, a model's record_ids; API: id=...); repeatable."
PAPER_HELP = "Records read in the paper with this key, e.g. doi:10.1/abc (API: paper=...)."


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
    seed: int = 0,
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
        store = _store()
        config = TrainConfig(
            seed=seed, device=device, **{k: v for k, v in given.items() if v is not None}
        )
        version, trained = train_and_register(store, corpus, _corpus_root(corpus, data), config)
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
        tagger, version = load_tagger(_store(), version)
        split = load_corpus(corpus, _corpus_root(corpus, data))
        scores = evaluate(tagger, split.test)
    _print_scores(scores, f"{version} on held-out {corpus} papers ({len(split.test_documents)})")


@literature_app.command("ingest")
def literature_ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders of papers.")],
    version: Annotated[str | None, typer.Option(help=TAGGER_HELP)] = None,
    embeddings: Annotated[bool, typer.Option(help="Embed sentences for search.")] = True,
) -> None:
    """Read papers into records; bad files are reported and skipped, the batch goes on."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agents.literature import ingest_paths, make_extractor, paper_files
    from matloop.cli import console, err, errors

    with errors():
        store = _store()
        extractor = make_extractor(store, version, embeddings=embeddings)
        files = paper_files(paths)
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
                if isinstance(outcome, str):
                    err.print(f"[yellow]skipped[/yellow] {outcome}", highlight=False)
                elapsed = progress.tasks[0].elapsed or 1e-9
                done = progress.tasks[0].completed + 1
                progress.update(task, advance=1, rate=f"{done / elapsed:.2f} papers/s")

            summary = ingest_paths(store, extractor, files, on_file)
    console.print(
        f"{summary.papers} papers stored, {summary.skipped} already there, "
        f"{len(summary.failed)} failed; {summary.sentences} sentences, "
        f"{summary.records_new} new records, {summary.records_merged} merged, "
        f"{summary.records_rejected} impossible readings dropped; "
        f"{summary.papers_per_second:.2f} papers/s"
    )
    if summary.hint is not None:
        err.print(f"[yellow]hint[/yellow] {summary.hint}", highlight=False)
    if summary.failed and not (summary.papers or summary.skipped):
        raise typer.Exit(1)


@literature_app.command("embed")
def literature_embed(
    batch: Annotated[int, typer.Option(min=1, help="Sentences encoded at a time.")] = 256,
) -> None:
    """Embed stored sentences that have none, for search (ingested with --no-embeddings).

    Resumable: run it again after an interruption.
    """
    from agents.literature import embed_stored
    from matloop.cli import console, errors

    with errors():
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
    """
    from dataclasses import asdict

    from rich.markup import escape

    from agents.literature import search_sentences
    from matloop.cli import console, err, errors

    with errors():
        _check_elements(element)
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
    if as_json:
        return
    if not hits:
        err.print("no sentence matches the filters")
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
    format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    limit: Annotated[int, typer.Option(min=1)] = 100_000,
    output: Annotated[Path | None, typer.Option(help="File to write (default stdout).")] = None,
    sort: Annotated[str, typer.Option(help=SORT_HELP)] = "material",
    record_id: Annotated[list[str] | None, typer.Option("--id", help=ID_HELP)] = None,
    paper: Annotated[str | None, typer.Option(help=PAPER_HELP)] = None,
) -> None:
    """Export property records with their provenance as CSV or JSON, as the API gives them.

    `--property tc --element Cu --sort=-value --limit 10`: the ten highest Tc with copper.
    `--id ID --id ID`: the records a model learned from (its `record_ids`).
    The CSV has the columns of `GET /api/v1/literature/records?format=csv`, in its order,
    lists and dicts as JSON text.
    """
    from matloop.cli import CommandError, console, errors

    with errors():
        if format not in {"csv", "json"}:
            raise CommandError(f"--format: expected csv or json, got {format!r}")
        _check_elements(element)
        _check_sort(sort)
        _check_ids(record_id)
        store = _store()
        if property is not None:
            store.check_property(property, "--property")
        query = store.records_query(
            property,
            element or (),
            minimum,
            maximum,
            min_confidence,
            ids=record_id or None,
            paper=paper,
        )
        rows, _ = store.records(query, limit=limit, sort=sort)
    text = json.dumps(rows, indent=2, default=str) if format == "json" else records_csv(rows)
    if output is None:
        sys.stdout.write(text)
    else:
        with errors():  # an OSError names the file
            output.write_text(text)
        console.print(f"wrote {len(rows)} records to {output}")


def _encode(text: str) -> Any:
    """``text``'s sentence embedding, with the encoder that embedded the stored sentences."""
    return _encoder().encode([text])[0]


def _encoder() -> Any:
    """The sentence encoder that embeds ingested papers (loads torch and MiniLM)."""
    from literature.embeddings import SentenceEncoder

    return SentenceEncoder()


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
