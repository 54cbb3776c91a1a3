"""Literature service: train and register taggers, ingest papers, answer queries.

Wires the science (:mod:`literature`) to storage (:mod:`db.literature`); the CLI, the
flows and the HTTP API all go through here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pymongo.errors import ConnectionFailure

from db.literature import IngestReport, LiteratureStore, SearchHit, canonical_reduced_formula
from db.models import describe_model_record, headline_metrics
from discovery.domain import ModelArtifact
from literature.ner import ENCODER_NAME, Tagger, TrainConfig
from literature.parsing import MAX_SENTENCES
from literature.pipeline import Extractor
from literature.records import VALUE_PROPERTIES
from literature.text import AnnotatedText, Paper, numbers_digest
from literature.training import CorpusSplit, TrainedTagger, load_corpus, train_on_corpus
from literature.vectors import to_bytes

if TYPE_CHECKING:
    import pandas as pd

#: :attr:`SearchResult.reason` when no paper is stored at all.
NO_SENTENCES = "no-sentences"
#: :attr:`SearchResult.reason` when sentences are stored but none has an embedding.
NO_EMBEDDINGS = "no-embeddings"
_REASONS = {
    NO_SENTENCES: (
        "no sentences are stored yet: ingest papers with `matloop literature ingest PATHS` "
        "(it embeds their sentences for search by default)"
    ),
    NO_EMBEDDINGS: (
        "no stored sentence has an embedding, so semantic search has nothing to compare "
        "the query with (the papers were ingested with --no-embeddings): embed them with "
        "`matloop literature embed`"
    ),
}


@dataclass(frozen=True)
class StoredMatch:
    """A file skipped as already stored, and the stored paper it was taken for.

    A paper without a DOI is keyed by a hash of its words, so another file with the same
    words (a TEI file's plain-text twin, a copy) is the same paper; naming the stored
    one shows which.

    Attributes:
        path: The file skipped, as given.
        key: The stored paper's key (``doi:...`` or ``sha256:...``).
        title: The stored paper's title (``""`` when it has none).
        source: The file the stored paper was read from, ``None`` when not stored.
        same_file: Whether that is this file, read again.
        tagger: The tagger version the stored paper was read with (its records are
            that tagger's; ``""`` when not stored).
        near: Whether the file's words are not the stored paper's but a near twin's
            (:meth:`db.literature.LiteratureStore.twin_key`: a few left out, none changed,
            the same title and numbers).
        differs: Whether the file is a paper with a DOI, found by it, whose numbers are
            not the stored one's (a corrected version, most likely: another format of the
            same article keeps its numbers, if not every word); it was not read.
    """

    path: str
    key: str
    title: str
    source: str | None
    same_file: bool
    tagger: str = ""
    near: bool = False
    differs: bool = False

    @property
    def description(self) -> str:
        """Which stored paper the file was taken for, in words."""
        title = f" {self.title!r}" if self.title else " (no title)"
        source = f", read from {self.source}" if self.source else ", source not stored"
        near = " (nearly: a few words more or fewer, its title and numbers the same)" * self.near
        differs = (
            f"; its numbers differ from the stored one's (a corrected version?), and it was "
            f"not read: to read it instead, `matloop literature remove {self.key}` and "
            "ingest it again (a curator's rejections stay)"
        ) * self.differs
        return f"{self.path} is stored paper {self.key}{near}{title}{source}{differs}"


@dataclass
class IngestSummary:
    """What a batch of files came to.

    Attributes:
        papers: Papers stored for the first time.
        skipped: Papers already stored (re-ingested: nothing written).
        matched: For each file skipped, the stored paper it was taken for.
        revised: ``(path, keys)`` of each file stored as a new paper while papers read
            from the same file under the same title are stored too (an edited file:
            both count).
        failed: ``(path, message)`` of each file that could not be read.
        not_english: ``(path, share)`` of each paper stored that is not in English, with
            its share of English function words (:attr:`literature.text.Paper.english_share`):
            the tagger reads English, so few or no records come out of it.
        sentences: Sentences tagged.
        records_new: New property records.
        records_merged: Readings added to existing records.
        records_rejected: Readings not stored: impossible (a Tc below 0 K or at 0 K), under a
            pressure that does not read as one, or of no material ("x = 0.05").
        records_curator_rejected: Readings stored (new or merged) in records a curator
            rejected, which stay rejected: left out of listings and training.
        seconds: Wall time.
        tagger: Registry version of the tagger the papers were read with.
        tagger_scores: Its held-out F1 scores (:func:`db.models.headline_metrics`:
            ``test_micro_f1``, ``test_f1_tcValue``, ...), read when no record came out
            of the sentences tagged; empty otherwise or when it was not scored.
    """

    papers: int = 0
    skipped: int = 0
    matched: list[StoredMatch] = field(default_factory=list)
    revised: list[tuple[str, list[str]]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    not_english: list[tuple[str, float]] = field(default_factory=list)
    sentences: int = 0
    records_new: int = 0
    records_merged: int = 0
    records_rejected: int = 0
    records_curator_rejected: int = 0
    seconds: float = 0.0
    tagger: str | None = None
    tagger_scores: dict[str, float] = field(default_factory=dict)

    @property
    def no_records(self) -> bool:
        """Whether sentences were tagged but no reading came out of them."""
        readings = self.records_new + self.records_merged + self.records_rejected
        return self.sentences > 0 and readings == 0

    @property
    def hint(self) -> str | None:
        """When :attr:`no_records`: the tagger, its held-out value F1 and what to do."""
        if not self.no_records:
            return None
        scored = [
            f"{label} F1 {self.tagger_scores[f'test_f1_{label}']:.2f}"
            for label in VALUE_PROPERTIES
            if f"test_f1_{label}" in self.tagger_scores
        ]
        held_out = (
            f"scored {', '.join(scored)} on its held-out papers"
            if scored
            else f"has no held-out {'/'.join(VALUE_PROPERTIES)} score"
        )
        kind = (self.tagger or "tagger-supermat").partition(":")[0]  # "{kind}:{hash}"
        return (
            f"no record came out of {self.sentences} sentences: tagger {self.tagger} "
            f"{held_out}. If these papers state values, train a better tagger with "
            "`matloop literature train` or pick one with `--version` (`matloop model list "
            f"--kind {kind}` lists each one's held-out F1). The papers stored now are "
            "skipped when ingested again: `matloop literature remove KEY` each first (the "
            "keys: `matloop literature papers`)"
        )

    @property
    def papers_per_second(self) -> float:
        """Files read per second (stored, skipped or failed)."""
        total = self.papers + self.skipped + len(self.failed)
        return total / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            **asdict(self),
            "papers_per_second": round(self.papers_per_second, 3),
            "hint": self.hint,
        }


@dataclass(frozen=True)
class SearchResult:
    """What a semantic search found, and why it found nothing when it cannot succeed.

    Attributes:
        hits: Sentences nearest the query, best first.
        reason: ``None`` when the search ran over embedded sentences (no hits then means
            no embedded sentence matched the filters); :data:`NO_SENTENCES` or
            :data:`NO_EMBEDDINGS` when no query could have found anything.
        unembedded: Sentences matching the filters that the search could not compare,
            having no embedding (papers ingested with ``--no-embeddings`` beside
            embedded ones); 0 when :attr:`reason` is set, which says it already.
    """

    hits: list[SearchHit]
    reason: str | None = None
    unembedded: int = 0

    @property
    def message(self) -> str | None:
        """For a :attr:`reason`, what it means and how to fix it, in words; else ``None``."""
        return None if self.reason is None else _REASONS[self.reason]

    @property
    def note(self) -> str | None:
        """For :attr:`unembedded` sentences, that they were left out and how to add them."""
        n = self.unembedded
        if not n:
            return None
        were = (
            "sentence matching the filters has" if n == 1 else "sentences matching the filters have"
        )
        return (
            f"{n} {were} no embedding and {'was' if n == 1 else 'were'} not searched (papers "
            "ingested with --no-embeddings): embed them with `matloop literature embed`"
        )


def search_sentences(
    store: LiteratureStore,
    query: str,
    encode: Callable[[str], np.ndarray],
    k: int = 10,
    elements: Iterable[str] = (),
    property: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> SearchResult:
    """Sentences nearest ``query`` by meaning (cosine of embeddings), with filters.

    Args:
        store: Where the sentences are.
        query: Free text.
        encode: Text to its ``384`` unit embedding, with the encoder the sentences were
            embedded with; not called when no sentence has an embedding.
        k: How many hits.
        elements: Sentences mentioning materials with all of these elements.
        property: With ``minimum``/``maximum``: sentences that are the source of a record
            of this property in the value range.
        minimum: Smallest record value.
        maximum: Largest record value.

    Returns:
        The hits; the reason when there are none because nothing can be searched; and
        how many sentences matching the filters have no embedding, so were not searched.
    """
    if not store.has_embeddings():  # one lookup, before the encoder (MiniLM) loads
        return SearchResult([], NO_EMBEDDINGS if store.has_passages() else NO_SENTENCES)
    elements = tuple(elements)
    hits = store.search(
        encode(query),
        k,
        elements=elements,
        property=property,
        minimum=minimum,
        maximum=maximum,
    )
    missed = store.count_unembedded(elements, property, minimum, maximum)
    return SearchResult(hits, unembedded=missed)


def embed_stored(
    store: LiteratureStore,
    encode: Callable[[list[str]], np.ndarray],
    batch: int = 256,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Embed the stored sentences that have no embedding (papers ingested without).

    Resumable and safe beside another run: each batch is stored as it is encoded, and
    an embedding stored meanwhile is kept.

    Args:
        store: Where the sentences are.
        encode: ``n`` texts to their ``n x 384`` unit embeddings, with the encoder that
            embeds ingested papers (:class:`literature.embeddings.SentenceEncoder`).
        batch: Sentences read and encoded at a time.
        on_batch: Called after each batch with the sentences embedded so far.

    Returns:
        How many sentences this call embedded.
    """
    embedded, after = 0, None
    while rows := store.unembedded(batch, after):
        vectors = encode([text for _, text in rows])
        ids = [passage for passage, _ in rows]
        embedded += store.store_embeddings(dict(zip(ids, map(to_bytes, vectors), strict=True)))
        after = ids[-1]
        if on_batch is not None:
            on_batch(embedded)
    return embedded


def corpus_hash(data: CorpusSplit, config: TrainConfig) -> str:
    """SHA-256 of the training data, labels and settings: the tagger's identity."""
    digest = hashlib.sha256(json.dumps([data.corpus, data.labels]).encode())
    for block in (*data.train, *data.validation):
        spans = [(s.start, s.end, s.label) for s in block.spans]
        digest.update(json.dumps([block.document, block.text, spans]).encode())
    digest.update(json.dumps(_settings(config), sort_keys=True).encode())
    return digest.hexdigest()


def _settings(config: TrainConfig) -> dict[str, Any]:
    """The settings that shape a tagger (not where or how visibly it trained)."""
    return {k: v for k, v in asdict(config).items() if k not in ("device", "progress")}


def _documents(blocks: Sequence[AnnotatedText]) -> list[str]:
    """The documents ``blocks`` come from, sorted, each once."""
    return sorted({block.document for block in blocks})


def train_and_register(
    store: LiteratureStore, corpus: str, root: str | Path, config: TrainConfig
) -> tuple[str, TrainedTagger]:
    """Fine-tune a tagger on ``corpus``, score it on held-out papers, register it.

    Returns:
        The registry version and the trained tagger with its scores.
    """
    data = load_corpus(corpus, root)
    trained = train_on_corpus(data, config)
    metrics = {
        "test": {k: asdict(v) for k, v in trained.test_scores.items()},
        "test_documents": data.test_documents,
        # lineage: which papers and settings made it (the data hash digests them)
        "corpus_root": str(Path(root).resolve()),
        "train_documents": _documents(data.train),
        "validation_documents": _documents(data.validation),
        "settings": _settings(config),
        "train_sentences": len(data.train),
        "training": asdict(trained.report),
    }
    artifact = ModelArtifact(
        kind=f"tagger-{corpus}",
        data_hash=corpus_hash(data, config),
        metrics=metrics,
        weights=trained.tagger.to_bytes(),
        featurizer_version=ENCODER_NAME,
    )
    return store.save_tagger(artifact), trained


def load_tagger(store: LiteratureStore, version: str | None = None) -> tuple[Tagger, str]:
    """A registered tagger (by default the SuperMat one best on held-out papers), its version."""
    artifact = store.load_tagger(version)
    assert artifact.version is not None  # set by the registry
    return Tagger.from_bytes(artifact.weights), artifact.version


def make_extractor(
    store: LiteratureStore, version: str | None = None, embeddings: bool = True
) -> Extractor:
    """An extractor with a registered tagger and, optionally, the sentence encoder."""
    tagger, version = load_tagger(store, version)
    encoder = None
    if embeddings:
        from literature.embeddings import SentenceEncoder

        encoder = SentenceEncoder()
    return Extractor(tagger, version, encoder)


def ingest_paths(
    store: LiteratureStore,
    extractor: Extractor,
    paths: Iterable[str | Path],
    on_file: Callable[[Path, IngestReport | str], None] | None = None,
    max_sentences: int = MAX_SENTENCES,
) -> IngestSummary:
    """Read, extract and store every file; a bad file is reported and the batch goes on.

    A paper's stored ``source`` is its file's absolute, resolved path
    (:func:`literature.parsing.read_paper`), whatever directory the paths are relative to,
    so it names the file from anywhere. Papers stored before keep the path as it was
    typed, relative to where that ingest ran: no upgrade can know that directory.

    Args:
        store: Where to store.
        extractor: Tagger and encoder to read with.
        paths: Files and folders (folders are searched recursively).
        on_file: Called after each file with its report or its error message.
        max_sentences: A file with more sentences fails, unread
            (:data:`literature.parsing.MAX_SENTENCES`).

    Returns:
        Counts of what was stored, skipped and failed, the stored paper each skipped file
        was taken for, the tagger's version and, when no record came out of the
        sentences tagged, its held-out scores (for :attr:`IngestSummary.hint`).
    """
    from literature.parsing import ParseError, read_papers

    summary = IngestSummary(tagger=extractor.model_version)
    began = time.perf_counter()
    for path, paper in read_papers(paper_files(paths), max_sentences):
        outcome: IngestReport | str
        if isinstance(paper, ParseError):
            outcome = str(paper)
            summary.failed.append((str(path), outcome))
        elif (stored := store.stored_key(paper)) is not None:
            store.forget_failure(paper.source)  # a watch's failure, stored since as a twin
            outcome = IngestReport(stored, new=False)
            summary.skipped += 1
            summary.matched.append(stored_match(store, path, paper, stored))
        else:
            try:
                outcome = store.ingest(extractor.extract(paper))
            except ConnectionFailure:
                raise  # the database is gone: every later paper would fail too
            except Exception as error:  # this paper only (a passage over 16 MB, ...)
                outcome = f"{path}: {type(error).__name__}: {error}"
                summary.failed.append((str(path), outcome))
            else:
                if outcome.new:
                    summary.papers += 1
                    older = store.earlier_versions(paper.source, paper.title, outcome.paper_key)
                    if older:
                        summary.revised.append((str(path), older))
                    if not paper.in_english:
                        summary.not_english.append((str(path), paper.english_share or 0.0))
                    summary.sentences += outcome.passages
                    summary.records_new += outcome.records_new
                    summary.records_merged += outcome.records_merged
                    summary.records_rejected += outcome.records_rejected
                    summary.records_curator_rejected += outcome.records_curator_rejected
                else:  # a concurrent writer stored it meanwhile
                    summary.skipped += 1
                    summary.matched.append(stored_match(store, path, paper, outcome.paper_key))
        if on_file is not None:
            on_file(path, outcome)
    summary.seconds = time.perf_counter() - began
    if summary.no_records:
        summary.tagger_scores = tagger_scores(extractor.model_version)
    return summary


def not_english(path: str | Path, share: float) -> str:
    """What is said of a paper that is not in English.

    Args:
        path: Its file.
        share: Its share of English function words
            (:attr:`literature.text.Paper.english_share`).
    """
    return (
        f"{path} does not read as English ({share:.0%} of its words are English function "
        "words, against 16% or more in English papers): the tagger reads English, so "
        "expect few or no records from it"
    )


def stored_match(store: LiteratureStore, path: str | Path, paper: Paper, key: str) -> StoredMatch:
    """The stored paper keyed ``key`` that ``paper``, read from the file ``path``, matched."""
    stored = store.paper_brief(key)
    differs = False  # a text-hash key is the same words by construction
    if key == paper.key and paper.doi and stored.get("numbers") is not None:
        differs = stored["numbers"] != numbers_digest(paper.word_counts())
    return StoredMatch(
        path=str(path),
        key=key,
        title=stored.get("title") or "",
        source=stored.get("source"),
        same_file=stored.get("source") == paper.source,
        tagger=stored.get("model_version") or "",
        near=key not in (paper.key, *paper.earlier_keys),
        differs=differs,
    )


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Silence libraries' chatter while papers are read, restoring it afterwards.

    Loading the tagger and the encoder draws transformers' "Loading weights" bars, and
    pypdf warns of each quirk it repairs ("EOF marker not found"): on stderr they bury
    matloop's own per-file messages, and a file pypdf cannot read still fails with a
    :class:`~literature.parsing.ParseError` naming it.
    """
    from transformers.utils import logging as transformers_logging

    pypdf = logging.getLogger("pypdf")
    level = pypdf.level
    verbosity = transformers_logging.get_verbosity()
    bars = transformers_logging.is_progress_bar_enabled()
    pypdf.setLevel(logging.ERROR)
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        pypdf.setLevel(level)
        transformers_logging.set_verbosity(verbosity)
        if bars:
            transformers_logging.enable_progress_bar()


def tagger_scores(version: str) -> dict[str, float]:
    """A registered tagger's held-out F1 scores (:func:`db.models.headline_metrics`).

    Returns:
        ``test_micro_f1``, ``test_f1_tcValue``, ...; empty when it was not scored or is
        not registered (an extractor built around an unregistered tagger).
    """
    try:
        described = describe_model_record(version)
    except LookupError:
        return {}
    return headline_metrics(described["kind"], described["metrics"])


def records_dataframe(
    store: LiteratureStore, *, sentences: bool = False, rejected: str = "exclude", **query: Any
) -> pd.DataFrame:
    """Property records as a DataFrame, one row each, for analysis or as campaign priors.

    Example:
        A model's records, back to their papers and sentences::

            metrics = describe_model_record(version)["metrics"]
            ids = metrics["record_ids"] or []  # None past 20,000 records (a hash only)
            frame = records_dataframe(LiteratureStore(), ids=ids, rejected="include")

    Args:
        store: Where the records are.
        sentences: Give each source its sentence's ``text`` (and
            ``material_sentence_text``), as the API's listing does (a query or two more).
        **query: Arguments of :meth:`db.literature.LiteratureStore.records_query`
            (``property``, ``elements``, ``minimum``, ``maximum``, ``min_confidence``,
            ``material``, ``ids``, ``paper``).
        rejected: Records a curator rejected: ``exclude`` (default), ``include`` (a
            model's records: it learned from them) or ``only``.

    Returns:
        Columns ``id, material, formula, formula_reduced, property, value, low, high,
        unit, qualifier, conditions, confidence, n_papers, n_sources, elements, papers,
        sources``: ``id`` is the record's (a model's ``record_ids``, the API's ``id``
        filter), ``formula_reduced`` OPTIMADE's ``chemical_formula_reduced``, canonical
        (``B2Mg``, ``Cu20La37O80Sr3`` for La1.85Sr0.15CuO4; None for a name),
        ``conditions`` a dict (``{"pressure_gpa": 5.0}``, or
        ``pressure_gpa_low``/``pressure_gpa_high`` for a range or bound; ``{}`` at
        ambient), ``papers`` the paper keys, ``sources`` the API's list of dicts (paper,
        passage, spans, tagger version). Keep only ``qualifier`` ``=``/``~`` rows with
        empty ``conditions`` for the material's plain value.
    """
    import pandas as pd

    found = store.records_query(**query)
    rows, _ = store.records(found, limit=10**9, sentences=sentences, rejected=rejected)
    columns = [
        "id", "material", "formula", "formula_reduced", "property", "value", "low", "high",
        "uncertainty", "unit", "qualifier", "conditions", "confidence", "n_papers", "n_sources",
        "elements",
    ]  # fmt: skip
    frame = pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns)
    frame["formula_reduced"] = [_formula_reduced(row) for row in rows]
    frame["conditions"] = [dict(row.get("conditions") or {}) for row in rows]
    frame["papers"] = [sorted({s["paper"] for s in row["sources"]}) for row in rows]
    frame["sources"] = [row["sources"] for row in rows]
    return frame


def _formula_reduced(row: dict[str, Any]) -> str | None:
    """The stored reduced formula, or one made from ``formula`` where it is not stored.

    Made as ingestion stores it (:func:`db.literature.canonical_reduced_formula`), for
    records stored before the field whose database was not upgraded (read-only access).
    """
    if row.get("formula_reduced") or not row.get("formula"):
        return row.get("formula_reduced")
    return canonical_reduced_formula(row["formula"])


def missing_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The paths that name no file or folder (a typo, an unmounted share), in order."""
    return [path for path in map(Path, paths) if not path.exists()]


def paper_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files under ``paths``: files as given, folders searched recursively, sorted.

    A folder's hidden files and folders (``.DS_Store``, ``.git``) and office lock files
    (``~$paper.docx``, written beside a document open in an editor) are no papers and are
    left out; a file named on its own is read whatever its name.

    Raises:
        FileNotFoundError: naming the paths that name no file or folder (read as a file
            it would only fail later, as if it were a bad paper).
    """
    paths = list(paths)
    if missing := missing_paths(paths):
        raise FileNotFoundError(f"paths: no such file or folder: {', '.join(map(str, missing))}")
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and _paper(p, path)))
        else:
            found.append(path)
    return found


def _paper(path: Path, folder: Path) -> bool:
    """Whether a file found under ``folder`` may be a paper: not hidden, not a lock file."""
    parts = path.relative_to(folder).parts
    return not any(part.startswith(".") for part in parts) and not path.name.startswith("~$")


@dataclass(frozen=True)
class Unsettled:
    """A file modified too recently to read: it may still be being written.

    Attributes:
        path: The file.
        age: Seconds since it was last modified (negative: modified in the future, as
            a clock ahead of this one wrote it).
        settle: Seconds a file must go unmodified before it is read.
    """

    path: Path
    age: float
    settle: float

    @property
    def reason(self) -> str:
        """Why it was left, in words."""
        return (
            f"modified {max(self.age, 0.0):.0f} s ago, less than the {self.settle:g} s "
            "settle time: it may still be being written; a later run reads it"
        )


def settled_files(
    files: Iterable[Path], settle: float, now: float | None = None
) -> tuple[list[Path], list[Unsettled]]:
    """Split files into those unmodified for ``settle`` seconds and those modified since.

    A watched folder's file that is still being copied in would be stored as a paper of
    its own (its key is a hash of its text so far), and the whole file later as a second
    one: such files wait for a later run instead. A file that cannot be looked at is
    passed on, for reading to report.

    Args:
        files: Files, as :func:`paper_files` lists them.
        settle: Seconds since the last modification a file needs (0: every file).
        now: The time to measure from (``time.time()``).

    Returns:
        The files to read, in order, and those left for later.
    """
    if settle <= 0:
        return list(files), []
    now = time.time() if now is None else now
    ready: list[Path] = []
    waiting: list[Unsettled] = []
    for path in files:
        try:
            age = now - path.stat().st_mtime
        except OSError:
            ready.append(path)
            continue
        if age < settle:
            waiting.append(Unsettled(path, age, settle))
        else:
            ready.append(path)
    return ready, waiting
