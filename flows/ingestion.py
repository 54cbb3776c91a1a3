"""Flows that read papers into property records, and train the tagger.

Not named ``literature.py``: Prefect's runner puts a flow file's folder on ``sys.path``,
where a ``literature`` module would shadow the ``literature`` package.

``ingest_literature`` maps one task per file: read, extract, store. A bad file fails
its own task only (reported in the flow's result and logged as a warning with its
error), never the batch; so does a watched path that is gone. A file that did not
parse is remembered: unchanged, it is not read nor warned about again (``failed_before``). The
run's final state message counts what it did (``2 stored, 1 skipped (stored before), 1
failed, ...``), as the campaign flows' do. Storing is idempotent by paper key, so a
retried task or a re-run flow adds nothing. Each worker process loads the tagger and
the sentence encoder once. With ``settle`` (what the scheduled deployment over watched
folders passes), files modified within the last ``settle`` seconds are left for a later
run: one still being copied in would otherwise be stored half-written, as a paper of
its own.

Scaling out: like ``train_many`` (:mod:`flows.training`), run it with a Dask task runner,
``ingest_literature.with_options(task_runner=dask_task_runner(address))(paths, uri)``:
each Dask worker process loads its own models and connects to the database itself.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, cast

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, wait
from prefect.states import Completed

from agents.literature import (
    make_extractor,
    missing_paths,
    not_english,
    paper_files,
    settled_files,
    train_and_register,
)
from db.convert import iso
from db.literature import LiteratureStore
from flows.tasks import TRANSIENT_ERRORS, _io, campaign_store, database_uri, refuse_redirected
from literature.ner import TrainConfig
from literature.pipeline import Extractor

_lock = threading.Lock()
_extractors: dict[tuple[str | None, bool], Extractor] = {}


def extractor(uri: str, version: str | None, embeddings: bool) -> Extractor:
    """This process's extractor for a tagger version (loaded once, thread-safe)."""
    with _lock:
        key = (version, embeddings)
        if key not in _extractors:
            campaign_store(uri)  # connects this process
            _extractors[key] = make_extractor(LiteratureStore(), version, embeddings)
        return _extractors[key]


def _reader() -> str:
    """What reads a watched file: matloop's version and a digest of its parsers' code.

    A file that failed is read again by other parsers: an upgrade, or a fix deployed from
    git under the same version number.
    """
    import literature.parsing

    code = hashlib.sha256()
    for module in sorted(Path(literature.parsing.__file__).parent.glob("*.py")):
        code.update(module.read_bytes())
    return f"matloop {package_version('matloop')} parsers {code.hexdigest()[:12]}"


#: What reads a watched file (:func:`_reader`), part of what a failure is remembered by.
READER = _reader()


@task(name="ingest-file", task_run_name="ingest-{path}", **_io)
def ingest_file(
    path: str, uri: str, version: str | None = None, embeddings: bool = True
) -> dict[str, Any]:
    """Read, extract and store one paper (idempotent by paper key).

    A file that did not parse, and is unchanged since (its size and modification time,
    and the parsers' code), is not read again, nor warned about again: the same file
    fails the same way. It is reported as ``failed_before``, with its error. A failure
    past parsing (the tagger, the database) may not recur: it is reported, not remembered.

    Returns:
        ``{"path", "status": "stored"|"skipped"|"failed"|"failed_before", ...}``; a file
        that cannot be parsed is reported as ``failed`` with the parser's message, not
        raised.
    """
    from literature.parsing import ParseError, read_paper

    campaign_store(uri)  # connects this process
    store = LiteratureStore()
    try:
        where, size, modified_ns = _file_stamp(path)
        earlier = store.failed_before(where, size, modified_ns, READER)
        if earlier is not None:
            return {
                "path": path,
                "status": FAILED_BEFORE,
                "error": earlier.error,
                "failed_at": iso(earlier.failed_at),
            }
        paper = read_paper(path)
    except OSError as error:  # unreadable, or gone since it was listed: not remembered
        return {"path": path, "status": "failed", "error": str(error)}
    except ParseError as error:
        store.remember_failure(where, size, modified_ns, READER, str(error))
        return {"path": path, "status": "failed", "error": str(error)}
    stored = store.stored_key(paper)  # before tagging: a stored paper costs nothing
    if stored is not None:
        store.forget_failure(where)
        return {"path": path, "status": "skipped", "paper": stored}
    report = store.ingest(extractor(uri, version, embeddings).extract(paper))
    english = {} if paper.in_english else {"note": not_english(path, paper.english_share or 0)}
    return english | {
        "path": path,
        "status": "stored" if report.new else "skipped",
        "paper": report.paper_key,
        "sentences": report.passages,
        "records_new": report.records_new,
        "records_merged": report.records_merged,
        "records_rejected": report.records_rejected,
        "records_curator_rejected": report.records_curator_rejected,
    }


def _file_stamp(path: str) -> tuple[str, int, int]:
    """A file's absolute, resolved path, size (bytes) and modification time (ns)."""
    info = Path(path).stat()
    return str(Path(path).resolve()), info.st_size, info.st_mtime_ns


#: Status of a file left for a later run: modified within the settle time.
UNSETTLED = "unsettled"
#: Status of a file not read again: it failed before and is unchanged.
FAILED_BEFORE = "failed_before"
STATUSES = ("stored", "skipped", "failed", FAILED_BEFORE, UNSETTLED)


@flow(name="ingest-literature")
def ingest_literature(
    paths: list[str],
    uri: str | None = None,
    version: str | None = None,
    embeddings: bool = True,
    settle: float = 0.0,
) -> dict[str, Any]:
    """Ingest every file under ``paths`` (files or folders); bad files are listed, skipped.

    Args:
        paths: Files and folders of papers (one that is not there is reported as
            failed, and the others are read).
        uri: MongoDB URI (default: the settings', :func:`flows.tasks.database_uri`).
        version: Tagger version (the newest SuperMat tagger when ``None``).
        embeddings: Embed sentences for semantic search.
        settle: Leave files modified less than this many seconds ago for a later run
            (they may still be being written); 0 reads every file. The scheduled
            deployment passes :data:`flows.deployments.WATCH_SETTLE_SECONDS`.

    Returns:
        Counts by status (``stored``, ``skipped`` (stored before), ``failed``,
        ``failed_before`` (unchanged since it failed: not read again), ``unsettled``
        (left for a later run)) and each file's outcome (a failed one with its
        ``error``).
    """
    refuse_redirected({"paths": paths, "uri": uri})
    uri = database_uri(uri)
    missing = missing_paths(paths)  # a watched folder gone (unmounted): the rest go on
    gone = [
        {"path": str(p), "status": "failed", "error": "no such file or folder"} for p in missing
    ]
    present = [p for p in paths if Path(p) not in missing]
    files, waiting = settled_files(paper_files(present), settle)
    futures = ingest_file.map(
        [str(p) for p in files], uri=uri, version=version, embeddings=embeddings
    )
    wait(futures)
    left = [{"path": str(u.path), "status": UNSETTLED, "reason": u.reason} for u in waiting]
    outcomes = gone + [_outcome(p, f) for p, f in zip(files, futures, strict=True)] + left
    counts = {s: sum(o["status"] == s for o in outcomes) for s in STATUSES}
    _log_failed(outcomes)
    _log_failed_before(outcomes)
    _log_unsettled(left)
    message = _ingest_message(counts)
    get_run_logger().info("%s", message)
    return cast(dict[str, Any], Completed(message=message, data={**counts, "files": outcomes}))


def _outcome(path: Path, future: PrefectFuture[dict[str, Any]]) -> dict[str, Any]:
    """A file's outcome; one whose task raised (its extraction) failed.

    Raises:
        Exception: a :data:`flows.tasks.TRANSIENT_ERRORS` error, the database unreachable
            through the task's retries (every file would fail alike: the run fails).
    """
    state = future.state
    if state.is_completed():
        return future.result()
    error = state.result(raise_on_failure=False)
    if isinstance(error, TRANSIENT_ERRORS):
        raise error
    why = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else state.message
    return {"path": str(path), "status": "failed", "error": str(why)}


def _ingest_message(counts: dict[str, int]) -> str:
    """What a run did, e.g. ``"2 stored, 1 skipped (stored before), 1 failed, ..."``."""
    return (
        f"{counts['stored']} stored, {counts['skipped']} skipped (stored before), "
        f"{counts['failed']} failed, {counts[FAILED_BEFORE]} failed before (unchanged), "
        f"{counts[UNSETTLED]} left for a later run"
    )


def _log_failed(outcomes: list[dict[str, Any]]) -> None:
    """A warning per file that failed, with its error, and per paper not in English."""
    logger = get_run_logger()
    for outcome in outcomes:
        if outcome["status"] == "failed":
            logger.warning("%s failed: %s", outcome["path"], outcome["error"])
        elif "note" in outcome:
            logger.warning("%s", outcome["note"])


def _log_failed_before(outcomes: list[dict[str, Any]]) -> None:
    """One line for the files not read again, which were warned about when they failed."""
    paths = [o["path"] for o in outcomes if o["status"] == FAILED_BEFORE]
    if paths:
        get_run_logger().info(
            "%d file(s) failed before and are unchanged, not read again: %s "
            "(`matloop literature ingest PATH` reads one now)",
            len(paths),
            ", ".join(paths),
        )


def _log_unsettled(left: list[dict[str, Any]]) -> None:
    if not left:
        return
    logger = get_run_logger()
    for outcome in left:
        logger.info("%s left for a later run: %s", outcome["path"], outcome["reason"])
    logger.info("%d file(s) left for a later run (modified within the settle time)", len(left))


@task(name="train-tagger", cache_policy=NO_CACHE)
def train_tagger_task(uri: str, corpus: str, root: str, config: TrainConfig) -> str:
    """Fine-tune and register a tagger (computation, then an idempotent write)."""
    campaign_store(uri)
    version, _ = train_and_register(LiteratureStore(), corpus, Path(root), config)
    return version


@flow(name="train-tagger")
def train_tagger(
    uri: str, root: str, corpus: str = "supermat", epochs: int | None = None, seed: int = 0
) -> str:
    """Train the literature tagger on a corpus and register it; returns its version.

    ``epochs`` defaults to the recipe's (:class:`literature.ner.TrainConfig`).
    """
    config = TrainConfig(seed=seed, progress=False)
    if epochs is not None:
        config = replace(config, epochs=epochs)
    return train_tagger_task(uri, corpus, root, config)
