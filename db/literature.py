"""Literature repository: papers, passages, mentions and property records, with provenance.

Lineage: PaperDocument -> PassageDocument (one sentence, its embedding) -> MentionDocument
(tagger version) -> PropertyRecordDocument.sources (paper, passage, offsets, version).
A paper is stored once (its key is the DOI or a hash of its text): ingesting it again
writes nothing, nor does ingesting a near twin of it (its title and numbers, its words but a
few that another converter left out). The same material, property, value and conditions read
in several places is one record whose sources are counted, whether each states the value
exactly or approximately ("Tc = 39 K", "Tc ~ 39 K"; :func:`record_qualifier`).

Documents stored by earlier versions are brought up to date when the database is
connected (upgrade steps of :mod:`db.connection`, idempotent): a bound's open end is unset
(:func:`unset_open_bound_ends`; it was stored equal to its number), a paper's
``records`` becomes the records that cite it (:func:`count_readings`; it counted its
readings, now ``readings``), a record's ``formula_reduced`` becomes its composition's
canonical one (:func:`canonical_record_formulas`; it kept a paper's fractions), and
records are keyed by that composition, those that become one merged
(:func:`merge_records_by_composition`; La1.85Sr0.15CuO4 and La3.7Sr0.3Cu2O8 were two),
a paper gets its word count from its sentences (:func:`count_paper_words`; near twins of
it were not found), and a value's records stated exactly and approximately are merged
(:func:`merge_stated_readings`; the key held the qualifier).
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, cast

import numpy as np
from bson import ObjectId
from mongoengine import (
    CASCADE,
    BinaryField,
    DateTimeField,
    DictField,
    Document,
    EmbeddedDocument,
    EmbeddedDocumentListField,
    FloatField,
    IntField,
    ListField,
    ObjectIdField,
    ReferenceField,
    StringField,
)
from pymatgen.core import Composition
from pymongo import ReturnDocument, UpdateOne
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from db.campaigns import _insert, _transaction
from db.connection import find_in
from db.convert import iso
from db.documents import ModelRecord, alphabetical_formula, molar_fractions, utcnow
from db.models import headline_metrics, register_model
from db.query import (
    HASH_DIGITS,
    FilterError,
    compared_texts,
    material_query,
    optimade_to_mongo,
    paper_key,
    with_compared_texts,
)
from discovery.compositions import canonical_composition
from discovery.domain import ModelArtifact
from literature.records import (
    LOWER_BOUNDS,
    PROPERTIES,
    UPPER_BOUNDS,
    Mention,
    PaperExtraction,
    PropertyRecord,
)
from literature.text import NEAR_TWIN_SHARE, Paper, near_twin, numbers_digest, word_counts
from literature.vectors import from_bytes, top_k

logger = logging.getLogger(__name__)


class PaperDocument(Document):
    """A paper read once, keyed by DOI or text hash."""

    key = StringField(required=True, unique=True)
    doi = StringField(null=True)
    title = StringField()
    authors = ListField(StringField())
    journal = StringField(null=True)
    year = IntField(null=True)
    # the file's absolute, resolved path; papers stored before it was resolved keep the
    # path as typed, relative to where that ingest ran (no upgrade: the cwd is unknown)
    source = StringField()
    format = StringField()
    sections = ListField(StringField())
    model_version = StringField(required=True)
    sentences = IntField(min_value=0)
    mentions = IntField(min_value=0)
    readings = IntField(min_value=0)  # values linked to materials (several may be one record)
    records = IntField(min_value=0)  # distinct records citing the paper (`paper="<key>"`)
    # readings not stored: impossible (a Tc at or below 0 K), under an unread pressure, no material
    records_rejected = IntField(min_value=0)
    ingested_at = DateTimeField(default=utcnow)
    # what finds a near twin's candidates without reading their sentences: the count of
    # its words and a digest of its numbers (papers stored before get them from their
    # sentences: count_paper_words)
    words = IntField(min_value=0)
    numbers = StringField()

    meta: dict[str, Any] = {
        "collection": "papers",
        "indexes": ["doi", "ingested_at", "source", ["title", "numbers"]],  # near twins
    }


class PassageDocument(Document):
    """One sentence of a paper, its embedding and what was found in it."""

    paper = ReferenceField(PaperDocument, required=True, reverse_delete_rule=CASCADE)
    section = IntField(required=True, min_value=0)
    section_name = StringField()
    sentence = IntField(required=True, min_value=0)
    text = StringField(required=True)
    embedding = BinaryField(null=True)  # float32 little-endian, unit norm
    elements = ListField(StringField())
    labels = ListField(StringField())

    meta: dict[str, Any] = {
        "collection": "passages",
        "indexes": [
            {"fields": ["paper", "section", "sentence"], "unique": True},
            "elements",
            "labels",
        ],
    }


class MentionDocument(Document):
    """An entity the tagger found, where and with which model version."""

    paper = ReferenceField(PaperDocument, required=True, reverse_delete_rule=CASCADE)
    passage = ReferenceField(PassageDocument, required=True)
    label = StringField(required=True)
    text = StringField(required=True)
    start = IntField(required=True, min_value=0)
    end = IntField(required=True, min_value=0)
    confidence = FloatField(min_value=0, max_value=1)
    normalized = DictField()
    model_version = StringField(required=True)

    meta: dict[str, Any] = {
        "collection": "mentions",
        "indexes": [
            {"fields": ["passage", "start", "end", "label", "model_version"], "unique": True},
            "label",
        ],
    }


class RecordSource(EmbeddedDocument):
    """Where a record was read: paper, sentence, both mentions and the tagger version."""

    paper = ReferenceField(PaperDocument, required=True)
    paper_key = StringField(required=True)
    passage = ReferenceField(PassageDocument, required=True)
    section = IntField(required=True)
    sentence = IntField(required=True)
    material_span = ListField(IntField())  # [sentence, start, end] of the material mention
    value_span = ListField(IntField())  # [start, end] in the value's sentence
    material_text = StringField()
    value_text = StringField()
    # the pressure the value was read at, as written, and [start, end] in its sentence;
    # absent at ambient pressure, and on sources stored before it was kept
    condition_text = StringField()
    condition_span = ListField(IntField())
    uncertainty = FloatField(null=True)  # stated with the value there, in the record's unit
    # as stated there: "=" or "~" (one record: see PropertyRecordDocument.qualifier), or
    # the record's bound; absent on sources stored before it was kept, where unknown
    qualifier = StringField()
    confidence = FloatField()
    model_version = StringField(required=True)


class PropertyRecordDocument(Document):
    """A material's property value, with every place it was read."""

    key = StringField(required=True, unique=True)
    material = StringField(required=True)
    formula = StringField(null=True)  # as the first paper wrote it
    # OPTIMADE chemical_formula_reduced, canonical (canonical_reduced_formula): B2Mg, and
    # Cu20La37O80Sr3 for La1.85Sr0.15CuO4, so any spelling or multiple finds the record
    formula_reduced = StringField(null=True)
    elements = ListField(StringField())
    nelements = IntField(null=True)
    # symbol -> molar fraction of formula_reduced (db.documents.molar_fractions), what
    # filters' fraction.<element> compare; null for a name ("LSCO": its amounts are open)
    fractions = DictField(default=None, null=True)
    property = StringField(required=True)
    value = FloatField(required=True)  # the stated number: a point, a bound's, a range's middle
    low = FloatField()  # absent for an upper bound ("<", "<="): it says nothing of how low
    high = FloatField()  # absent for a lower bound (">", ">=")
    # the largest uncertainty its sources state (14.5 ± 0.3 K: 0.3), absent if none does
    uncertainty = FloatField()
    unit = StringField(required=True)
    # a bound's ("<", "<=", ">", ">="), or for a stated value "=", or "~" while every
    # source says approximately (record_qualifier): "Tc = 39 K" and "Tc ~ 39 K" are one
    qualifier = StringField()
    conditions = DictField()
    confidence = FloatField(min_value=0, max_value=1)  # the best of its sources
    papers = ListField(StringField())  # distinct paper keys
    n_papers = IntField(min_value=0)
    n_sources = IntField(min_value=0)
    sources = EmbeddedDocumentListField(RecordSource)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    # ids of records merged into this one (merge_records_by_composition): lineage that
    # names them, a model's record_ids, still finds this record by them
    merged_ids = ListField(ObjectIdField())
    # a curator's word that the record is wrong ("tantalum's Tc, not MgB2's"): {"reason",
    # "by", "at"}. Listings leave it out unless asked (REJECTED), and so does training; a
    # paper that states it again adds a source to it, and it stays rejected.
    rejection = DictField(default=None, null=True)

    meta: dict[str, Any] = {
        "collection": "property_records",
        "indexes": [
            "elements",
            ["property", "value"],
            "formula",
            "formula_reduced",
            "nelements",
            "merged_ids",
            # a paper's records (its lineage, paper= filters, removal): 4.4 s -> 0.0 s on
            # 100,000 records of the embedded server
            "papers",
            "sources.model_version",  # what one tagger read
        ],
    }


class FailedFileDocument(Document):
    """A watched file that could not be read into a paper, as it was when it failed.

    A file that did not parse: a watch (``flows serve-literature``) does not read it
    again, nor warn again, while its size and modification time and matloop's parsers
    stay the same: the same file fails the same way. Storing a paper from the path, or
    finding it stored, forgets it.
    """

    path = StringField(required=True, unique=True)  # absolute, resolved
    size = IntField(required=True, min_value=0)  # bytes
    modified_ns = IntField(required=True)  # st_mtime_ns
    reader = StringField(required=True)  # flows.ingestion.READER: other parsers read it again
    error = StringField(required=True)
    failed_at = DateTimeField(default=utcnow)

    meta: dict[str, Any] = {"collection": "failed_files"}


class RejectedClaimDocument(Document):
    """A rejected record whose papers were all removed: its rejection, until read again.

    Removing a record's last paper deletes the record; a curator's word that the claim is
    wrong must not go with it, or ingesting the paper again would bring the misreading
    back. The record read again (the same :func:`record_key`) takes back its rejection and
    its ids, so models that name them find it again; the claim is then forgotten. A
    change of :func:`record_key` must rekey these claims too (its upgrade step).
    """

    key = StringField(required=True, unique=True)  # the record's record_key
    record_id = ObjectIdField(required=True)  # its id, and those merged into it
    merged_ids = ListField(ObjectIdField())
    rejection = DictField(required=True)
    removed_at = DateTimeField(default=utcnow)
    # what the record said, for a curator who lifts the rejection while it is gone
    material = StringField()
    property = StringField()
    value = FloatField()
    unit = StringField()

    meta: dict[str, Any] = {
        "collection": "rejected_claims",
        "indexes": ["record_id", "merged_ids"],
    }


class RemovedRecordDocument(Document):
    """A record whose papers were all removed: its ids, until a paper states it again.

    Models name the records they learned from by id (``record_ids``). The record read
    again (the same :func:`record_key`) takes its ids back, so that a paper removed and
    ingested again leaves their lineage whole instead of counting its records gone. A
    rejected record keeps its ids with its rejection instead (:class:`RejectedClaimDocument`).
    A change of :func:`record_key` must rekey these too.
    """

    key = StringField(required=True, unique=True)  # the record's record_key
    record_id = ObjectIdField(required=True)
    merged_ids = ListField(ObjectIdField())
    removed_at = DateTimeField(default=utcnow)

    meta: dict[str, Any] = {"collection": "removed_records"}


class RemovedPaperDocument(Document):
    """A paper removed (``literature remove``): what it was, and the records that went with it.

    Lineage of a model trained on its records still names the paper; this says which
    paper that was, and what it alone gave. Ingested again, the paper forgets it.
    """

    key = StringField(required=True, unique=True)
    title = StringField(null=True)
    year = IntField(null=True)
    doi = StringField(null=True)
    journal = StringField(null=True)
    removed_at = DateTimeField(default=utcnow)
    # the records read in it alone, deleted with it: id and reading (_REMEMBERED), the
    # first MAX_REMEMBERED; n_deleted counts them all
    records_deleted = ListField(DictField())
    n_deleted = IntField(default=0)
    records_kept = IntField(default=0)

    meta: dict[str, Any] = {"collection": "removed_papers"}


LITERATURE_DOCUMENTS: tuple[type[Document], ...] = (
    PaperDocument,
    PassageDocument,
    MentionDocument,
    PropertyRecordDocument,
    FailedFileDocument,
    RejectedClaimDocument,
    RemovedRecordDocument,
    RemovedPaperDocument,
)


@dataclass(frozen=True)
class IngestReport:
    """What ingesting one paper wrote."""

    paper_key: str
    new: bool
    passages: int = 0
    mentions: int = 0
    records_new: int = 0
    records_merged: int = 0
    records_rejected: int = 0  # readings not stored (literature.pipeline.rejection)
    # readings, new or merged, of records a curator rejected: stored, and left out
    records_curator_rejected: int = 0


@dataclass(frozen=True)
class SearchHit:
    """A passage found by semantic search."""

    score: float
    text: str
    paper_key: str
    title: str
    section: int
    sentence: int
    elements: list[str]
    labels: list[str]


#: Qualifiers of a stated value, exactly (``=``) or approximately (``~``): one claim,
#: keyed ``=`` (:func:`record_key`); a bound's qualifier is a claim of its own.
STATED_QUALIFIERS: frozenset[str] = frozenset({"=", "~"})


def record_key(record: PropertyRecord) -> str:
    """Identity of a record: material, property, reading (6 significant digits), conditions.

    A formula counts as its canonical composition (:func:`canonical_reduced_formula`),
    so ``MgB2`` and ``B2Mg``, and La1.85Sr0.15CuO4 and La3.7Sr0.3Cu2O8, are one material;
    a name counts lower-cased with single spaces. The reading is the value with its
    qualifier and range: "below 39 K", "39 K" and "30-48 K" are three claims, not three
    papers agreeing; "Tc = 39 K" and "Tc ~ 39 K" are one (both keyed ``=``: the record's
    qualifier says which its sources state, :func:`record_qualifier`). A bound's open end
    counts as its number, as it was stored before bounds had one end ("< 39 K":
    ``<39[39,39]``), so a bound read again joins its record.
    """
    material = canonical_reduced_formula(record.formula) if record.formula else None
    if material is None:
        material = " ".join(record.material.lower().split())
    conditions = ",".join(f"{k}={v:.6g}" for k, v in sorted(record.conditions.items()))
    low = record.value if record.low is None else record.low
    high = record.value if record.high is None else record.high
    qualifier = "=" if record.qualifier in STATED_QUALIFIERS else record.qualifier
    reading = f"{qualifier}{record.value:.6g}[{low:.6g},{high:.6g}]"
    return f"{material}|{record.property}|{reading}|{record.unit}|{conditions}"


def record_qualifier(sources: Iterable[Mapping[str, Any]], stored: str | None) -> str | None:
    """A record's qualifier, from its sources' (stored ``RecordSource`` dicts).

    The sources of one record share their reading (:func:`record_key`): one bound, or a
    value each states exactly or approximately. The record is approximate (``~``) only
    while every source says so: one paper's exact statement makes it exact (``=``).

    Example:
        >>> record_qualifier([{"qualifier": "~"}, {"qualifier": "="}], "~")
        '='

    Args:
        sources: The record's sources; one stored before sources kept their qualifier
            (none) says nothing.
        stored: The record's qualifier as stored, kept where no source says one.
    """
    said = {source["qualifier"] for source in sources if source.get("qualifier")}
    if said and said <= STATED_QUALIFIERS:
        return "=" if "=" in said else "~"
    return said.pop() if len(said) == 1 else stored


def canonical_reduced_formula(formula: str) -> str | None:
    """A record's ``formula_reduced``: OPTIMADE's ``chemical_formula_reduced``, canonical.

    The composition as materials store it (:func:`~discovery.compositions.canonical_composition`:
    whole atoms where at most 1000 give back its fractions, else the fractions), elements
    in alphabetical order: every spelling and multiple of one composition is one formula,
    which is what the records filter ``chemical_formula_reduced`` compares.

    Example:
        >>> canonical_reduced_formula("La1.64Eu0.2Sr0.16CuO4")
        'Cu25Eu5La41O100Sr4'
        >>> canonical_reduced_formula("Sr4La41Eu5Cu25O100"), canonical_reduced_formula("MgB2")
        ('Cu25Eu5La41O100Sr4', 'B2Mg')

    Returns:
        The formula, or None for text pymatgen cannot read as one (a name: "LSCO").
    """
    try:
        composition = canonical_composition(Composition(formula))
    except Exception:  # pymatgen raises many kinds on text that is not a formula
        return None
    if not composition.valid or composition.num_atoms <= 0:
        return None
    return alphabetical_formula(composition)


def record_fractions(formula_reduced: str | None) -> dict[str, float] | None:
    """A record's ``fractions``: each element's molar fraction in its ``formula_reduced``.

    Example:
        >>> record_fractions("Cu20La37O80Sr3")["Sr"] == 3 / 140  # La1.85Sr0.15CuO4: 0.15 / 7
        True

    Returns:
        Symbol -> fraction, or None for a record without a formula (a name, "LSCO").
    """
    if formula_reduced is None:
        return None
    return molar_fractions(Composition(formula_reduced))


def record_ids(ids: str | Iterable[str], where: str = "ids") -> list[ObjectId]:
    """Record ids (a model's ``record_ids``, a row's ``id``) as stored.

    Args:
        ids: Ids, 24 hex digits each; one id alone may be given as a string.
        where: The argument or option they came from, for messages.

    Raises:
        ValueError: naming ``where`` and the first text that is not an id.
    """
    found = []
    for text in [ids] if isinstance(ids, str) else ids:
        if not isinstance(text, str) or not ObjectId.is_valid(text):
            raise ValueError(f"{where}: {text!r} is not a record id (24 hex digits)")
        found.append(ObjectId(text))
    return found


#: Which records a listing gives (``rejected=``): those not rejected (the default), all,
#: or the rejected ones alone (:meth:`LiteratureStore.reject_record`).
REJECTED: dict[str, dict[str, Any]] = {
    "exclude": {"rejection": None},
    "include": {},
    "only": {"rejection": {"$ne": None}},
}
#: The longest reason a rejection keeps.
MAX_REASON = 1000


def with_rejected(query: dict[str, Any], rejected: str) -> dict[str, Any]:
    """``query`` narrowed to the records ``rejected`` (a key of :data:`REJECTED`) selects.

    Raises:
        ValueError: naming ``rejected``, for another word.
    """
    if rejected not in REJECTED:
        raise ValueError(f"rejected: {rejected!r} is not one of {', '.join(REJECTED)}")
    narrowed = REJECTED[rejected]
    if not narrowed:
        return query
    return {"$and": [query, narrowed]} if query else narrowed


#: Documents written, or sentences looked up, per request: far below MongoDB's 16 MB.
_BATCH = 1000

#: Stored record fields a :meth:`LiteratureStore.records` row leaves out (``sources``
#: comes back summarised, last).
_RECORD_LEFT_OUT = ("id", "key", "papers", "sources", "fractions")

#: The fields of :meth:`LiteratureStore.records` rows, in order: a CSV page's columns, on
#: a page without rows too (tests/agents/test_api_literature.py checks them).
RECORD_COLUMNS = (
    *(f for f in PropertyRecordDocument._fields_ordered if f not in _RECORD_LEFT_OUT),
    "id",
    "papers",  # the keys of the papers it was read in: a join with the papers listing
    "sources",
)
#: The fields of :meth:`LiteratureStore.papers` rows, in order.
PAPER_COLUMNS = (*(f for f in PaperDocument._fields_ordered if f != "id"), "id")
#: Record fields a listing may be sorted by (``-field`` for descending). A bound's open
#: end is not stored (``low`` of "up to 40 K"): such records come first ascending.
RECORD_ORDERS = (
    "material",
    "formula",
    "value",
    "low",
    "high",
    "confidence",
    "n_papers",
    "n_sources",
    "created_at",
    "updated_at",
)


def record_order(order: str) -> tuple[str, ...]:
    """Sort keys for ``order``, ties broken so pages are stable.

    ``order`` is comma-separated fields of :data:`RECORD_ORDERS`, each ``-`` first for
    descending, as trials and measurements are sorted (:func:`db.query.mongo_sort`):
    ``-value,material``. Ties left go by confidence (highest first) where ``n_papers`` is
    named, then by material and value, then by the unique key; empty: by material.

    Raises:
        FilterError: naming ``sort``, for a field not in :data:`RECORD_ORDERS` or one
            named twice (a 400 from the API, as the other listings' sorts).
    """
    keys = [part for part in (p.strip() for p in order.split(",")) if part] or ["material"]
    fields = [key.removeprefix("-") for key in keys]
    for key, field in zip(keys, fields, strict=True):
        if field not in RECORD_ORDERS:
            raise FilterError(
                f"sort: {key!r} is not a record field to sort by; use one of "
                f"{', '.join(RECORD_ORDERS)}, with - first for descending (several: "
                "comma-separated)"
            )
        if fields.count(field) > 1:  # which way would it go?
            raise FilterError(f"sort: {field!r} is named twice in {order!r}")
    # the most read first, and of those the surest (the dashboard's "most read" table)
    surest = ["-confidence"] if "n_papers" in fields and "confidence" not in fields else []
    ties = [k for k in ("material", "value") if k not in fields]
    return (*keys, *surest, *ties, "key")


class LiteratureStore:
    """Stores what the pipeline read and answers researchers' queries about it."""

    def has_paper(self, key: str) -> bool:
        """Whether a paper with this key was ingested."""
        return PaperDocument.objects(key=key).count() > 0

    def stored_key(self, paper: Paper) -> str | None:
        """The key ``paper`` is stored under, or ``None`` when it is not stored.

        A paper stored under an older key (:attr:`~literature.text.Paper.earlier_keys`:
        before its text-hash key ignored format, or before its printed DOI was read) is
        found by it, so re-ingesting the same file stays a no-op in an existing database.
        A near twin of a stored paper is that paper (:meth:`twin_key`).
        """
        for key in (paper.key, *paper.earlier_keys):
            if self.has_paper(key):
                return key
        return self.twin_key(paper)

    def twin_key(self, paper: Paper) -> str | None:
        """The key of a stored paper that ``paper`` is a near twin of, or ``None``.

        A near twin has the stored paper's title and numbers, and its words but for some
        left out (:func:`literature.text.near_twin`): the same article from another
        converter, which dropped a keywords line or a word. Without a title there is no
        near twin (untitled files say nothing of being one article), nor with another DOI,
        nor from the stored paper's own file (an edit, however small, is another text), nor
        of a paper without a stored word count (one stored before twins were looked for
        gets it on upgrade, :func:`count_paper_words`, unless its sentences are not all
        there). Candidates are found by title, numbers and word count: only theirs are read.
        """
        if not paper.title:
            return None
        words = paper.word_counts()
        total = words.total()
        candidates = PaperDocument.objects(
            title=paper.title,
            numbers=numbers_digest(words),
            words__gte=NEAR_TWIN_SHARE * total,
            words__lte=total / NEAR_TWIN_SHARE,
            source__ne=paper.source,
        )
        for row in candidates.only("key", "doi").as_pymongo():
            if paper.doi and row.get("doi") and row["doi"] != paper.doi:
                continue  # two DOIs are two papers, whatever their words
            if near_twin(words, _stored_words(row["_id"])):
                return str(row["key"])
        return None

    def ingest(self, extraction: PaperExtraction) -> IngestReport:
        """Store a paper's passages, mentions and records in one transaction.

        Idempotent: a paper already stored (ingested before, from any format, or by a
        concurrent writer; see :meth:`stored_key`) is skipped and nothing is written.
        """
        stored = self.stored_key(extraction.paper)
        if stored is not None:
            return IngestReport(stored, new=False)
        try:
            return _transaction(lambda session: self._ingest(extraction, session))
        except DuplicateKeyError:
            stored = self.stored_key(extraction.paper)
            if stored is not None:
                return IngestReport(stored, new=False)
            raise

    def _ingest(self, extraction: PaperExtraction, session: ClientSession) -> IngestReport:
        paper = _paper_document(extraction)
        _insert([paper], session)
        passages = _passage_documents(extraction, paper)
        _insert(list(passages.values()), session)
        mentions = [
            MentionDocument(
                id=ObjectId(),
                paper=paper,
                passage=passages[(m.section, m.sentence)],
                label=m.label,
                text=m.text,
                start=m.start,
                end=m.end,
                confidence=m.confidence,
                normalized=m.normalized,
                model_version=extraction.model_version,
            )
            for m in extraction.mentions
        ]
        _insert(mentions, session)
        FailedFileDocument._get_collection().delete_one({"path": paper.source}, session=session)
        # stored again: no longer removed, under its key nor one it had (a file's hash
        # before its DOI was read)
        keys = [paper.key, *extraction.paper.earlier_keys]
        RemovedPaperDocument._get_collection().delete_many({"key": {"$in": keys}}, session=session)
        new = merged = curator_rejected = 0
        collection = PropertyRecordDocument._get_collection()
        for record in extraction.records:
            source = _source(record, paper, passages, extraction.model_version)
            largest = {"confidence": record.confidence}
            if record.uncertainty is not None:  # the most cautious statement stands
                largest["uncertainty"] = record.uncertainty
            found = collection.find_one_and_update(  # the record after the update
                {"key": record_key(record)},
                {
                    "$push": {"sources": source.to_mongo().to_dict()},
                    "$addToSet": {"papers": paper.key},
                    "$inc": {"n_sources": 1},
                    "$max": largest,
                    "$set": {"updated_at": utcnow()},
                },
                session=session,
                return_document=ReturnDocument.AFTER,
            )
            if found is None:
                document = _with_remembered_rejection(
                    _record_document(record, source, paper.key), session
                )
                _insert([document], session)
                new += 1
                curator_rejected += bool(document.rejection)
            else:
                merged += 1
                curator_rejected += bool(found.get("rejection"))
                completed = _completed(found, record)
                if completed:
                    collection.update_one(
                        {"_id": found["_id"]}, {"$set": completed}, session=session
                    )
        return IngestReport(
            paper.key,
            new=True,
            passages=len(passages),
            mentions=len(mentions),
            records_new=new,
            records_merged=merged,
            records_rejected=extraction.records_rejected,
            records_curator_rejected=curator_rejected,
        )

    def reject_record(self, record_id: str, reason: str, by: str) -> dict[str, Any]:
        """Mark a record wrong: listings and training leave it out from now on.

        For a value the pipeline misread (another element's Tc, a substrate taken for the
        material, a measurement's limit). The record keeps its sources, and a paper that
        states it again adds one: a rejection stands until :meth:`restore_record`, even
        through the removal of every paper stating it (:class:`RejectedClaimDocument`).
        Rejecting again replaces the reason.

        Args:
            record_id: The record's id (a row's ``id``; a merged record's old id finds
                the record it was merged into).
            reason: Why it is wrong, kept with it.
            by: Who says so (a login or token name).

        Returns:
            The record's row, its ``rejection`` set (``reason``, ``by``, ``at``), and
            ``previous_rejection``: the one it replaced, or None.

        Raises:
            ValueError: naming ``reason`` (empty, or over :data:`MAX_REASON` characters)
                or ``id``.
            LookupError: ``record: no record ...`` when none has that id.
        """
        said = " ".join(reason.split())
        if not said:
            raise ValueError("reason: say why the record is wrong")
        if len(said) > MAX_REASON:
            raise ValueError(f"reason: {len(said)} characters, more than {MAX_REASON}")
        rejection = {"reason": said, "by": by, "at": utcnow()}
        return self._set_rejection(record_id, {"$set": {"rejection": rejection}})

    def restore_record(self, record_id: str) -> dict[str, Any]:
        """Undo :meth:`reject_record`: the record is listed and trained on again.

        A record gone with its last paper keeps its rejection for when a paper states it
        again (:class:`RejectedClaimDocument`): undone, that is forgotten, and its row
        says ``gone``. The row's ``previous_rejection`` is the rejection lifted: None
        when the record was not rejected (nothing changed).

        Raises:
            ValueError: naming ``id``, for text that is no record id.
            LookupError: ``record: no record ...`` when none has that id.
        """
        try:
            return self._set_rejection(record_id, {"$unset": {"rejection": ""}})
        except LookupError:
            (wanted,) = record_ids(record_id, "id")
            claim = _transaction(partial(_lift_claim, wanted))
            if claim is None:
                raise
        said = {field: claim.get(field) for field in ("material", "property", "value", "unit")}
        lifted = {**claim["rejection"], "at": iso(claim["rejection"].get("at"))}
        return {
            "id": str(claim["record_id"]),
            **said,
            "rejection": None,
            "previous_rejection": lifted,
            "gone": True,
        }

    def _set_rejection(self, record_id: str, change: dict[str, Any]) -> dict[str, Any]:
        (wanted,) = record_ids(record_id, "id")
        records = PropertyRecordDocument._get_collection()
        by_id = {"$or": [{"_id": wanted}, {"merged_ids": wanted}]}
        lifting = "$unset" in change
        found = records.find_one_and_update(  # as it was: what the change replaced
            {**by_id, "rejection": {"$ne": None}} if lifting else by_id,
            {**change, "$set": {**change.get("$set", {}), "updated_at": utcnow()}},
            projection={"_id": 1, "rejection": 1},
        )
        if found is None and lifting:  # not rejected: nothing to lift, nothing written
            found = records.find_one(by_id, {"_id": 1})
        if found is None:
            raise LookupError(
                f"record: no record {record_id!r} (`matloop literature records` lists them)"
            )
        rows, _ = self.records({"_id": found["_id"]}, limit=1, rejected="include")
        before = found.get("rejection")
        previous = {**before, "at": iso(before.get("at"))} if before else None
        return {**rows[0], "previous_rejection": previous}

    def failed_before(
        self, path: str, size: int, modified_ns: int, reader: str
    ) -> FailedFileDocument | None:
        """How the file at ``path`` failed, if it did as it is now (size, time, reader)."""
        found = FailedFileDocument.objects(
            path=path, size=size, modified_ns=modified_ns, reader=reader
        )
        return found.first()

    def remember_failure(
        self, path: str, size: int, modified_ns: int, reader: str, error: str
    ) -> None:
        """Remember that the file at ``path``, as it is now, failed with ``error``."""
        FailedFileDocument.objects(path=path).update_one(
            upsert=True,
            set__size=size,
            set__modified_ns=modified_ns,
            set__reader=reader,
            set__error=error,
            set__failed_at=utcnow(),
        )

    def forget_failure(self, path: str) -> None:
        """Forget a failure at ``path`` (its paper is stored, or stored before)."""
        found = FailedFileDocument.objects(path=path)
        # read first: a watch asks this of every stored file on every run, and a write
        # waits for the disk (--sync-on-commit) even when it deletes nothing
        if found.only("id").first() is not None:
            found.delete()

    def earlier_versions(self, source: str, title: str, other_than: str) -> list[str]:
        """Keys of other papers read from the file ``source`` under ``title``, oldest first.

        An edited file is another text, so another paper: its earlier versions remain. A
        reused file name holding another paper (``scan0001.pdf``) has another title.
        """
        found = PaperDocument.objects(source=source, key__ne=other_than).order_by("ingested_at")
        rows = found.only("key", "title").as_pymongo()
        same = " ".join(title.split()).lower()
        return [
            str(d["key"]) for d in rows if " ".join(str(d.get("title", "")).split()).lower() == same
        ]

    def remove_paper(self, key: str) -> RemovedPaper:
        """Remove a paper, its sentences and mentions, and what its records took from it.

        For a paper stored by mistake, or an old version of an edited file (a changed
        text is another paper). A record read in it alone goes; one also read elsewhere
        keeps its other sources, its papers and confidence recounted from them. All or
        nothing, in one transaction.

        Args:
            key: The paper's key, in any spelling :func:`resolve_paper_key` reads.

        Raises:
            LookupError: ``paper: no paper ...`` when none has that key.
        """
        return _transaction(partial(_remove_paper, resolve_paper_key(key)))

    # --- queries ----------------------------------------------------------------------

    def records_query(
        self,
        property: str | None = None,
        elements: Sequence[str] = (),
        minimum: float | None = None,
        maximum: float | None = None,
        min_confidence: float | None = None,
        material: str | None = None,
        ids: str | Iterable[str] | None = None,
        paper: str | None = None,
    ) -> dict[str, Any]:
        """A MongoDB filter for property records.

        ``minimum`` and ``maximum`` compare the stated number, ``value``, as the records
        filter ``value>=40`` of the HTTP API does: "up to 40 K" (``<=``) is 40, "over
        45 K" (``>``) 45, "30-48 K" 39. What a record is known to be lies between
        ``low`` and ``high`` (a bound has one of them only): filter on those for "at
        least 40 for sure" (``low>=40``).

        Args:
            property: Property name, e.g. ``"tc"``, in any case (``"Tc"``).
            elements: Records whose material contains all of these elements (records
                whose elements are unknown, such as "Co-1212", never match).
            minimum: Smallest ``value``, in the record's unit.
            maximum: Largest ``value``, in the record's unit.
            min_confidence: Smallest confidence.
            material: A formula, matched by composition in any spelling or multiple
                (``B2Mg`` finds MgB2's records), or a name, matched whole in any case
                (``lsco``), as the API filter ``material="..."`` reads it
                (:func:`db.query.material_query`).
            ids: Only these records (rows' ``id``, a model's ``record_ids``), as the API
                filter ``id="..." OR id="..."``; an empty list selects none, None all.
                A record merged into another is found as that one (its ``merged_ids``).
            paper: Only records read in the paper with this key (``doi:10.1/abc``, any
                case; its bare DOI or doi.org link too), as the API filter ``paper="..."``.

        Raises:
            ValueError: naming the argument, for an unknown element, a reversed range or
                an id that is none.
            LookupError: ``paper: ...`` for a start of a hash that several papers' keys
                share (:func:`resolve_paper_key`).

        Example:
            >>> LiteratureStore().records_query(ids=["6650f0c0a1b2c3d4e5f60718"])["$or"][0]
            {'_id': {'$in': [ObjectId('6650f0c0a1b2c3d4e5f60718')]}}
        """
        from pymatgen.core import Element

        query: dict[str, Any] = {}
        if property:
            query["property"] = str(property).lower()  # stored lower case: "tc"
        if elements:
            for symbol in elements:
                if not Element.is_valid_symbol(symbol):
                    raise ValueError(f"elements: {symbol!r} is not an element symbol")
            query["elements"] = {"$all": [str(e) for e in elements]}
        if minimum is not None and maximum is not None and minimum > maximum:
            raise ValueError(f"minimum: {minimum} is larger than maximum {maximum}")
        bounds = {"$gte": minimum, "$lte": maximum}
        if minimum is not None or maximum is not None:
            query["value"] = {op: float(b) for op, b in bounds.items() if b is not None}
        if min_confidence is not None:
            query["confidence"] = {"$gte": float(min_confidence)}
        if material:
            query.update(material_query(str(material)))
        if ids is not None:
            wanted = {"$in": record_ids(ids)}  # by its id, or one merged into it
            by_id = [{"_id": wanted}, {"merged_ids": wanted}]
            if "$or" in query:
                query["$and"] = [{"$or": query.pop("$or")}, {"$or": by_id}]
            else:
                query["$or"] = by_id
        if paper:
            query["papers"] = resolve_paper_key(str(paper))  # lower case, "doi:" and the DOI
        return query

    def properties(self) -> list[str]:
        """Property names records may have: those read (:data:`PROPERTIES`) and stored."""
        stored = PropertyRecordDocument._get_collection().aggregate(
            [{"$group": {"_id": "$property"}}]
        )
        return sorted({*PROPERTIES, *(str(row["_id"]) for row in stored)})

    def records_filter(self, text: str) -> dict[str, Any]:
        """A records ``filter`` (OPTIMADE, as the API takes it) as a MongoDB query.

        Raises:
            FilterError: ``filter: ...``, for a filter that does not parse, names a field
                records do not have, or compares a property no record may have.
        """
        query = optimade_to_mongo(text, "records")
        for name in sorted(compared_texts(query, "property")):
            self.check_property(name, "filter: property", FilterError)
        return _with_paper_keys(query, "papers")

    def papers_filter(self, text: str) -> dict[str, Any]:
        """A papers ``filter`` (OPTIMADE, as the API takes it) as a MongoDB query.

        A key may be given as the start of its hash, as the papers table shows it.

        Raises:
            FilterError: ``filter: ...``, for a filter that does not parse, names a field
                papers do not have, or a hash's start that several papers' keys share.
        """
        return _with_paper_keys(optimade_to_mongo(text, "papers"), "key")

    def check_property(self, name: str, where: str, error: type[ValueError] = ValueError) -> None:
        """Refuse a property no record may have (any case: ``Tc`` is ``tc``).

        One indexed lookup when it is known; the names records may have are read only to
        say so.

        Raises:
            ValueError: (``error``) naming ``where``, the property and those records may have.
        """
        wanted = name.lower()
        records = PropertyRecordDocument._get_collection()
        if wanted in PROPERTIES or records.find_one({"property": wanted}, {"_id": 1}):
            return
        known = ", ".join(self.properties())
        raise error(f"{where}: {name!r} is not a record property; use {known}")

    def records(
        self,
        query: dict[str, Any],
        limit: int = 100,
        offset: int = 0,
        sort: str = "material",
        sentences: bool = True,
        rejected: str = "exclude",
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of records (JSON-ready dicts, sources summarised) and the total count.

        Args:
            query: MongoDB filter (from :meth:`records_query` or an OPTIMADE filter).
            limit: Page size.
            offset: Records skipped.
            sort: Fields of :data:`RECORD_ORDERS`, comma-separated, each ``-`` first
                for descending: ``"-value"`` (largest first; compare values of one
                property, whose unit is one), ``"-n_papers"`` (most read first, the
                surest of them first), ``"material,-value"``; see :func:`record_order`.
            sentences: Give each source the ``text`` of its sentence and, when the
                material was named in an earlier sentence, that sentence's text as
                ``material_sentence_text`` (a query or two more); each source always
                names its ``passage``.
            rejected: ``exclude`` the records a curator rejected (what the literature
                says, as far as anyone checked), ``include`` them, or ``only`` them
                (:data:`REJECTED`).

        Raises:
            FilterError: naming ``sort``, for an order :func:`record_order` refuses.
            ValueError: naming ``rejected``, for a word not of :data:`REJECTED`.
        """
        query = with_rejected(query, rejected)
        # ties by material and value, then the unique key: pages neither repeat nor skip
        found = PropertyRecordDocument.objects(__raw__=query).order_by(*record_order(sort))
        page = list(found.skip(offset).limit(limit).as_pymongo())
        sources = [s for raw in page for s in raw.get("sources", [])]
        texts = _sentences(s["passage"] for s in sources) if sentences else {}
        earlier = _material_sentences(sources) if sentences else {}
        cited = _paper_briefs({s["paper_key"] for s in sources}) if sentences else {}
        return [_record_row(raw, texts, earlier, cited) for raw in page], found.count()

    def papers(
        self, query: dict[str, Any], limit: int = 100, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of papers (newest first) as JSON-ready dicts, and the total count.

        A paper's ``records`` are the records that cite it (those the records filter
        ``paper="<key>"`` finds); its ``readings`` the values linked to materials in it,
        several of which may be one record ("Tc = 39 K" read twice).
        """
        found = PaperDocument.objects(__raw__=query).order_by("-ingested_at", "key")
        rows = []
        for raw in found.skip(offset).limit(limit).as_pymongo():
            row = {k: v for k, v in raw.items() if k != "_id"}
            row["id"] = str(raw["_id"])
            row["ingested_at"] = iso(raw.get("ingested_at"))
            rows.append(row)
        return rows, found.count()

    def timeline(self) -> dict[str, list[Any]]:
        """When papers were ingested and records first read (for plots over time).

        Each record is ``(created_at, property, value, confidence, qualifier)``; the
        qualifier (``<=`` for "up to 40 K") is ``""`` for a point or a range. Records a
        curator rejected are left out, as listings leave them out.
        """
        papers = PaperDocument._get_collection().find({}, {"ingested_at": 1, "records": 1})
        fields = {"created_at": 1, "property": 1, "value": 1, "confidence": 1, "qualifier": 1}
        kept = REJECTED["exclude"]
        records = PropertyRecordDocument._get_collection().find(kept, fields)
        return {
            "papers": sorted(p["ingested_at"] for p in papers if p.get("ingested_at")),
            "records": sorted(
                (
                    r["created_at"],
                    r["property"],
                    r["value"],
                    r.get("confidence", 0.0),
                    r.get("qualifier") or "",
                )
                for r in records
                if r.get("created_at")
            ),
        }

    def counts(self) -> dict[str, int]:
        """Documents per literature collection."""
        return {d._meta["collection"]: d.objects.count() for d in LITERATURE_DOCUMENTS}

    def unembedded(self, limit: int, after: ObjectId | None = None) -> list[tuple[ObjectId, str]]:
        """Stored sentences without an embedding (ingested with ``--no-embeddings``).

        Args:
            limit: At most this many.
            after: Only those with a larger id (pages through them once, in id order).

        Returns:
            ``(passage id, text)`` pairs, in id order.
        """
        wanted: dict[str, Any] = {"embedding": None}  # null, or stored before the field
        if after is not None:
            wanted["_id"] = {"$gt": after}
        rows = PassageDocument._get_collection().find(wanted, {"text": 1})
        return [(r["_id"], r["text"]) for r in rows.sort("_id", 1).limit(limit)]

    def store_embeddings(self, embeddings: Mapping[ObjectId, bytes]) -> int:
        """Store sentences' embeddings where they have none; returns how many were stored.

        Args:
            embeddings: Passage id -> ``384`` float32 unit vector as bytes
                (:func:`literature.vectors.to_bytes`). One a concurrent run stored
                meanwhile is kept.
        """
        updates = [
            UpdateOne({"_id": passage, "embedding": None}, {"$set": {"embedding": vector}})
            for passage, vector in embeddings.items()
        ]
        if not updates:
            return 0
        return PassageDocument._get_collection().bulk_write(updates, ordered=False).modified_count

    def has_passages(self) -> bool:
        """Whether any sentence is stored."""
        return PassageDocument._get_collection().find_one({}, {"_id": 1}) is not None

    def has_embeddings(self) -> bool:
        """Whether any stored sentence has an embedding (search only compares those)."""
        found = PassageDocument._get_collection().find_one({"embedding": {"$ne": None}}, {"_id": 1})
        return found is not None

    def count_unembedded(
        self,
        elements: Sequence[str] = (),
        property: str | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> int:
        """How many sentences match :meth:`search`'s filters but have no embedding.

        Search compares embedded sentences only: those of papers ingested without
        embeddings, beside embedded ones, are out of its reach until embedded.
        """
        filters = self._passage_filters(elements, (), property, minimum, maximum)
        filters["embedding"] = None  # null, or stored before the field
        return int(PassageDocument._get_collection().count_documents(filters))

    def paper_brief(self, key: str) -> dict[str, Any]:
        """A stored paper's title, source, tagger, word count and numbers; {} if none.

        Keys: ``title``, ``source`` (its file), ``model_version`` (the tagger), ``words``
        and ``numbers`` (:func:`~literature.text.numbers_digest`).
        """
        fields = ("title", "source", "model_version", "words", "numbers")
        found = PaperDocument._get_collection().find_one({"key": key}, dict.fromkeys(fields, 1))
        return {k: found.get(k) for k in fields} if found else {}

    def _passage_filters(
        self,
        elements: Sequence[str],
        labels: Sequence[str],
        property: str | None,
        minimum: float | None,
        maximum: float | None,
    ) -> dict[str, Any]:
        """The passage filter of :meth:`search`'s arguments (embedding aside)."""
        filters: dict[str, Any] = {}
        if elements:
            filters["elements"] = {"$all": list(elements)}
        if labels:
            filters["labels"] = {"$all": list(labels)}
        if property or minimum is not None or maximum is not None:
            records = self.records_query(property=property, minimum=minimum, maximum=maximum)
            records = with_rejected(records, "exclude")  # a misread value finds no sentence
            # SecantusDB's distinct does not reach into arrays of documents: group instead.
            grouped = PropertyRecordDocument._get_collection().aggregate(
                [
                    {"$match": records},
                    {"$unwind": "$sources"},
                    {"$group": {"_id": "$sources.passage"}},
                ]
            )
            filters["_id"] = {"$in": [row["_id"] for row in grouped]}
        return filters

    def search(
        self,
        query_vector: np.ndarray,
        k: int = 10,
        elements: Sequence[str] = (),
        labels: Sequence[str] = (),
        property: str | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> list[SearchHit]:
        """Passages nearest ``query_vector`` by cosine, among those matching the filters.

        Args:
            query_vector: ``384`` unit vector from the same encoder as the passages.
            k: How many hits.
            elements: Passages mentioning materials with all of these elements.
            labels: Passages with mentions of all of these entity types.
            property: With ``minimum``/``maximum``: passages that are the source of a
                record of this property in the value range.
            minimum: Smallest record value.
            maximum: Largest record value.
        """
        filters = self._passage_filters(elements, labels, property, minimum, maximum)
        filters["embedding"] = {"$ne": None}
        rows = list(
            PassageDocument._get_collection().find(
                filters,
                {
                    "embedding": 1,
                    "text": 1,
                    "paper": 1,
                    "section": 1,
                    "sentence": 1,
                    "elements": 1,
                    "labels": 1,
                },
            )
        )
        if not rows:
            return []
        vectors = np.stack([from_bytes(r["embedding"]) for r in rows])
        best = top_k(np.asarray(query_vector, dtype=np.float32), vectors, k)
        papers = {
            p["_id"]: p
            for p in PaperDocument._get_collection().find(
                {"_id": {"$in": [rows[i]["paper"] for i, _ in best]}}, {"key": 1, "title": 1}
            )
        }
        return [
            SearchHit(
                score=score,
                text=rows[i]["text"],
                paper_key=papers[rows[i]["paper"]]["key"],
                title=papers[rows[i]["paper"]].get("title", ""),
                section=rows[i]["section"],
                sentence=rows[i]["sentence"],
                elements=rows[i].get("elements", []),
                labels=rows[i].get("labels", []),
            )
            for i, score in best
        ]

    # --- tagger registry --------------------------------------------------------------

    def save_tagger(self, artifact: ModelArtifact) -> str:
        """Register a trained tagger (weights in GridFS); idempotent by kind and data hash."""
        version = f"{artifact.kind}:{artifact.data_hash[:12]}"
        return register_model(artifact, version, content_type="application/gzip")

    def load_tagger(
        self, version: str | None = None, kind: str = "tagger-supermat"
    ) -> ModelArtifact:
        """A registered tagger by version, or the best of ``kind``.

        The best scores the highest micro F1 on its held-out papers, the newest of equals:
        a tagger trained for a minute to try a setting does not become every ingest's.
        Only scores on the same papers compare: the best is taken among the taggers held
        out on the largest set of papers (one trained on a part of the corpus is scored on
        fewer, and its F1 on 4 papers says little against another's on 12; of two sets of
        one size, the newest tagger's).

        Raises:
            LookupError: No such version, or no tagger of ``kind`` yet.
        """
        found = (
            ModelRecord.objects(version=version).first()
            if version
            else _best_held_out(
                list(ModelRecord.objects(kind=kind).order_by("-created_at", "-id"))  # newest first
            )
        )
        if found is None:
            what = f"version {version!r}" if version else f"{kind} model"
            raise LookupError(f"no {what}: train one with `matloop literature train`")
        return ModelArtifact(
            found.kind, found.data_hash, dict(found.metrics), found.weights.read(), found.version
        )


def _best_held_out(taggers: list[ModelRecord]) -> ModelRecord | None:
    """The best by micro F1 among ``taggers`` (newest first) held out on the largest set.

    Taggers scored on other papers are not compared with them; the first of equals wins.
    """

    def held_out(record: ModelRecord) -> frozenset[str]:
        return frozenset((record.metrics or {}).get("test_documents") or [])

    if not taggers:
        return None
    largest = max((held_out(r) for r in taggers), key=len)  # the newest of one size
    comparable = [r for r in taggers if held_out(r) == largest]
    return max(
        comparable,
        key=lambda r: headline_metrics(r.kind, r.metrics or {}).get("test_micro_f1", -1.0),
    )


# --- conversions --------------------------------------------------------------------------


def _paper_document(extraction: PaperExtraction) -> PaperDocument:
    paper = extraction.paper
    words = paper.word_counts()
    return PaperDocument(
        id=ObjectId(),
        key=paper.key,
        doi=paper.doi,
        title=paper.title,
        authors=list(paper.authors),
        journal=paper.journal,
        year=paper.year,
        source=paper.source,
        format=paper.format,
        sections=[s.name for s in paper.sections],
        model_version=extraction.model_version,
        sentences=sum(len(s.sentences) for s in paper.sections),
        mentions=len(extraction.mentions),
        readings=len(extraction.records),
        records=len({record_key(record) for record in extraction.records}),
        records_rejected=extraction.records_rejected,
        words=words.total(),
        numbers=numbers_digest(words),
    )


def _paper_briefs(keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Title, year and DOI of each paper of ``keys``: what a citation needs."""
    fields = {"key": 1, "title": 1, "year": 1, "doi": 1}
    found = find_in(PaperDocument._get_collection(), "key", sorted(keys), fields)
    return {row["key"]: row for row in found}


def _stored_words(paper: ObjectId) -> Counter[str]:
    """The word counts of a stored paper: its sentences hold every word of its text.

    Sentence boundaries are whitespace (:mod:`literature.sentences`): the sentences of a
    section partition its non-whitespace characters, and every sentence is stored.
    """
    passages = PassageDocument._get_collection().find({"paper": paper}, {"text": 1})
    return word_counts(str(passage["text"]) for passage in passages)


def _passage_documents(
    extraction: PaperExtraction, paper: PaperDocument
) -> dict[tuple[int, int], PassageDocument]:
    found: dict[tuple[int, int], list[Mention]] = {}
    for mention in extraction.mentions:
        found.setdefault((mention.section, mention.sentence), []).append(mention)
    passages = {}
    for section_index, sentence_index, text in extraction.paper.sentences():
        where = (section_index, sentence_index)
        mentions = found.get(where, [])
        passages[where] = PassageDocument(
            id=ObjectId(),
            paper=paper,
            section=section_index,
            section_name=extraction.paper.sections[section_index].name,
            sentence=sentence_index,
            text=text,
            embedding=extraction.embeddings.get(where),
            elements=sorted({e for m in mentions for e in m.normalized.get("elements", [])}),
            labels=sorted({m.label for m in mentions}),
        )
    return passages


def _source(
    record: PropertyRecord,
    paper: PaperDocument,
    passages: dict[tuple[int, int], PassageDocument],
    model_version: str,
) -> RecordSource:
    value, material, pressure = (
        record.value_mention,
        record.material_mention,
        record.pressure_mention,
    )
    where = {}
    if pressure is not None and record.conditions:  # not "at ambient pressure", "0 GPa"
        where = {"condition_text": pressure.text, "condition_span": [pressure.start, pressure.end]}
    return RecordSource(
        **where,
        paper=paper,
        paper_key=paper.key,
        passage=passages[(value.section, value.sentence)],
        section=value.section,
        sentence=value.sentence,
        material_span=[material.sentence, material.start, material.end],
        value_span=[value.start, value.end],
        material_text=material.text,
        value_text=value.text,
        uncertainty=record.uncertainty,
        qualifier=record.qualifier,
        confidence=record.confidence,
        model_version=model_version,
    )


def _elements(record: PropertyRecord) -> list[str]:
    """The elements of a record's material, sorted; ``[]`` when they are not known."""
    return sorted(record.material_mention.normalized.get("elements", []))


def _completed(found: dict[str, Any], record: PropertyRecord) -> dict[str, Any]:
    """Fields a merged record lacks: papers' count, qualifier, elements now known ("LSCO").

    Its qualifier becomes ``=`` when the source added states exactly the value the others
    state approximately (:func:`record_qualifier`).
    """
    completed: dict[str, Any] = {}
    if found.get("n_papers") != len(found["papers"]):
        completed["n_papers"] = len(found["papers"])
    qualifier = record_qualifier(found["sources"], found.get("qualifier"))
    if qualifier != found.get("qualifier"):
        completed["qualifier"] = qualifier
    elements = _elements(record)
    if elements and not found.get("elements"):  # stored before names had elements
        completed.update(elements=elements, nelements=len(elements))
    return completed


def _record_document(record: PropertyRecord, source: RecordSource, paper_key: str) -> Any:
    elements = _elements(record)
    reduced = canonical_reduced_formula(record.formula) if record.formula else None
    return PropertyRecordDocument(
        id=ObjectId(),
        key=record_key(record),
        material=record.material,
        formula=record.formula,
        formula_reduced=reduced,
        fractions=record_fractions(reduced),
        elements=elements,
        nelements=len(elements) or None,
        property=record.property,
        value=record.value,
        low=record.low,
        high=record.high,
        uncertainty=record.uncertainty,
        unit=record.unit,
        qualifier=record.qualifier,
        conditions=record.conditions,
        confidence=record.confidence,
        papers=[paper_key],
        n_papers=1,
        n_sources=1,
        sources=[source],
    )


def unset_open_bound_ends() -> None:
    """Unset the open end of bounds stored with both ends (upgrade step; idempotent).

    "up to 40 K" was stored with ``low`` 40 too, so ``low>=40`` found it.
    """
    records = PropertyRecordDocument._get_collection()
    for end, qualifiers in (("low", UPPER_BOUNDS), ("high", LOWER_BOUNDS)):
        records.update_many(
            {"qualifier": {"$in": sorted(qualifiers)}, end: {"$exists": True}},
            {"$unset": {end: ""}},
        )


def count_readings() -> None:
    """Give papers stored when ``records`` counted readings their ``readings`` (upgrade step).

    Their ``records`` becomes the number of records that cite them. Idempotent: only
    papers without ``readings`` are read, and each is updated only while it has none.
    """
    papers = PaperDocument._get_collection()
    old = list(papers.find({"readings": {"$exists": False}}, {"key": 1, "records": 1}))
    if not old:
        return
    cited = _records_citing([paper["key"] for paper in old])
    for paper in old:
        counts = {"readings": paper.get("records", 0), "records": cited.get(paper["key"], 0)}
        papers.update_one({"_id": paper["_id"], "readings": {"$exists": False}}, {"$set": counts})


#: Papers whose sentences :func:`count_paper_words` reads at once: a few thousand
#: sentences, not every sentence of a large database.
_PAPERS_PER_BATCH = 100
#: A paper without its word count or numbers digest (:attr:`PaperDocument.words`), as
#: stored before near twins were looked for.
_UNCOUNTED: dict[str, Any] = {"$or": [{"words": None}, {"numbers": None}]}


def count_paper_words() -> None:
    """Give papers stored before near twins were looked for their words (upgrade step).

    Their ``words`` and ``numbers`` are counted from their stored sentences, which hold
    every word of the text (:func:`_stored_words`; for every file of the SuperMat corpus
    the counts of its sentences are those of its text), so a near twin of such a paper is
    found at ingest (:meth:`LiteratureStore.twin_key`). A paper whose stored sentences
    are fewer than its ``sentences`` count says less than its text: it is left without,
    and named in a warning. Batched by :data:`_PAPERS_PER_BATCH` papers; idempotent and
    safe beside a concurrent run: each update is filtered on a missing field.
    """
    papers = PaperDocument._get_collection()
    after: ObjectId | None = None
    incomplete: list[str] = []
    while True:
        page = _UNCOUNTED if after is None else {"$and": [_UNCOUNTED, {"_id": {"$gt": after}}]}
        batch = list(
            papers.find(page, {"key": 1, "sentences": 1}).sort("_id", 1).limit(_PAPERS_PER_BATCH)
        )
        if not batch:
            break
        after = batch[-1]["_id"]
        incomplete += _count_words_of(batch)
    if incomplete:
        logger.warning(
            "%d papers not given a word count (their stored sentences are not all there, "
            "so near twins of them are not found): %s",
            len(incomplete),
            ", ".join(incomplete[:10]) + (" ..." if len(incomplete) > 10 else ""),
        )


def _count_words_of(batch: list[dict[str, Any]]) -> list[str]:
    """Store the ``words`` and ``numbers`` of the papers ``batch`` from their sentences.

    Args:
        batch: Papers' ``_id``, ``key`` and ``sentences`` (how many were stored).

    Returns:
        The keys of those left without: fewer sentences stored than they had.
    """
    wanted = [paper["_id"] for paper in batch]
    passages = PassageDocument._get_collection().find(
        {"paper": {"$in": wanted}}, {"paper": 1, "text": 1}
    )
    words: dict[ObjectId, Counter[str]] = defaultdict(Counter)
    stored: Counter[ObjectId] = Counter()
    for passage in passages:
        words[passage["paper"]].update(word_counts([str(passage["text"])]))
        stored[passage["paper"]] += 1
    updates, incomplete = [], []
    for paper in batch:
        counted = words[paper["_id"]]
        if stored[paper["_id"]] != paper.get("sentences"):
            incomplete.append(str(paper["key"]))
            continue
        shape = {"words": counted.total(), "numbers": numbers_digest(counted)}
        updates.append(UpdateOne({"_id": paper["_id"], **_UNCOUNTED}, {"$set": shape}))
    if updates:
        PaperDocument._get_collection().bulk_write(updates, ordered=False)
    return incomplete


def canonical_record_formulas() -> None:
    """Store each record's ``formula_reduced`` canonically (upgrade step; idempotent).

    It kept the fractions a paper wrote (``CuLa1.85O4Sr0.15``), so the same composition
    written otherwise (``Sr3La37Cu20O80``, as a campaign's trial names it) found nothing;
    it becomes :func:`canonical_reduced_formula`'s (``Cu20La37O80Sr3``), and records
    stored before the field existed get it. ``formula`` (as written) stays. Each update
    is filtered on the value read, so a concurrent run's write is not undone.
    """
    records = PropertyRecordDocument._get_collection()
    found = records.find({"formula": {"$ne": None}}, {"formula": 1, "formula_reduced": 1})
    updates = []
    for raw in found:
        wanted = canonical_reduced_formula(raw["formula"]) if raw["formula"] else None
        stored = raw.get("formula_reduced")
        if wanted is not None and wanted != stored:
            old = {"_id": raw["_id"], "formula_reduced": stored}  # None: null or missing
            updates.append(UpdateOne(old, {"$set": {"formula_reduced": wanted}}))
    for start in range(0, len(updates), _BATCH):
        records.bulk_write(updates[start : start + _BATCH], ordered=False)


def merge_records_by_composition() -> None:
    """Key records by canonical composition, merging those that become one (upgrade step).

    A formula counted as pymatgen's reduced one, which keeps a paper's fractions, so
    La1.85Sr0.15CuO4 and La3.7Sr0.3Cu2O8 (one composition) were two records; keys now
    use :func:`canonical_reduced_formula` (:func:`record_key`). A record that merges with
    none only changes its key (in batches); records whose keys meet merge into the one
    created first, in one transaction each: it takes their sources,
    papers and best confidence, and their ids go to its ``merged_ids``, so lineage that
    names them (a model's ``record_ids``) still finds it. The papers they cite are
    recounted (``records``). Idempotent, and safe beside a concurrent run: each merge
    reads its records again inside its transaction.
    """
    records = PropertyRecordDocument._get_collection()
    groups: dict[str, list[tuple[ObjectId, str]]] = defaultdict(list)
    for raw in records.find({"formula": {"$ne": None}}, {"key": 1, "formula": 1}):
        canonical = canonical_reduced_formula(raw["formula"])
        if canonical is not None:  # a formula never holds "|": the key's first field
            groups[f"{canonical}|{raw['key'].split('|', 1)[1]}"].append((raw["_id"], raw["key"]))
    merging = {key: [i for i, _ in members] for key, members in groups.items() if len(members) > 1}
    alone = [(key, *members[0]) for key, members in groups.items() if len(members) == 1]
    merging |= _rekeyed([(key, i, old) for key, i, old in alone if old != key])
    _merge_and_recount(merging)


def merge_stated_readings() -> None:
    """Make a value stated exactly and approximately one record (upgrade step; idempotent).

    The record key held the qualifier, so "Tc = 39 K" in one paper and "Tc ~ 39 K" in
    another were two records of one claim; both are keyed ``=`` now (:func:`record_key`).
    First each source stored without its qualifier gets its record's, which its key held
    (:func:`_qualify_sources`); then each record keyed ``~`` takes the ``=`` key (in
    batches), and where a record is keyed so already, the two merge, as
    :func:`merge_records_by_composition` merges: into the one keyed so, the other's id in
    its ``merged_ids``, its qualifier ``=`` (a source states the value exactly), rejected
    if either was (:func:`_merge_records`). The papers they cite are recounted. Safe
    beside a concurrent run: updates are filtered on the key or sources read, and merges
    read their records again inside their transaction.
    """
    _qualify_sources()
    records = PropertyRecordDocument._get_collection()
    moves = []
    for raw in records.find({}, {"key": 1}):
        stated = _stated_key(raw["key"])
        if stated != raw["key"]:
            moves.append((stated, raw["_id"], raw["key"]))
    _merge_and_recount(_rekeyed(moves))


#: The reading of a record key (:func:`record_key`): qualifier, value, ``[low,high]``.
_KEY_READING = re.compile(r"(<=|>=|<|>|=|~)([^\[\]]*\[[^\]]*\])")


def _key_reading(key: str) -> re.Match[str] | None:
    """The reading a record key holds (qualifier, then the rest), or None.

    Keys stored before the reading joined them (``6021fb4``) hold the value alone. The
    material is the one field that may hold ``|``: the reading is third from the end.
    """
    fields = key.rsplit("|", 4)
    return _KEY_READING.fullmatch(fields[2]) if len(fields) == 5 else None


def _stated_key(key: str) -> str:
    """``key`` as :func:`record_key` now writes it: a value stated approximately as ``=``."""
    reading = _key_reading(key)
    if reading is None or reading[1] != "~":
        return key
    fields = key.rsplit("|", 4)
    fields[2] = f"={reading[2]}"
    return "|".join(fields)


def _key_qualifier(key: str) -> str | None:
    """The qualifier a record key holds (``=`` for a stated value, read now), else None."""
    reading = _key_reading(key)
    return None if reading is None else reading[1]


def _qualify_sources() -> None:
    """Give sources stored without their qualifier their record's, where its key held it.

    Before ``=`` and ``~`` were one reading, the key held the qualifier: every source of a
    record read it. A record whose key holds none (stored before the reading joined the
    key) merged bounds and values: its sources are left without. Each update is filtered
    on the record's key and qualifier, its number of sources and those still without.
    """
    records = PropertyRecordDocument._get_collection()
    found = records.find(
        {"sources": {"$elemMatch": {"qualifier": {"$exists": False}}}},
        {"key": 1, "qualifier": 1, "sources.qualifier": 1},
    )
    updates = []
    for raw in found:
        qualifier = raw.get("qualifier")
        if not qualifier or _key_qualifier(raw["key"]) != qualifier:
            continue
        sources = raw.get("sources", [])
        missing = [f"sources.{i}.qualifier" for i, s in enumerate(sources) if "qualifier" not in s]
        old = {"_id": raw["_id"], "key": raw["key"], "qualifier": qualifier}
        old |= {"sources": {"$size": len(sources)}}  # a removal meanwhile moves them
        old |= {path: {"$exists": False} for path in missing}
        updates.append(UpdateOne(old, {"$set": dict.fromkeys(missing, qualifier)}))
    for start in range(0, len(updates), _BATCH):
        records.bulk_write(updates[start : start + _BATCH], ordered=False)


def _merge_and_recount(merging: Mapping[str, list[ObjectId]]) -> None:
    """Merge each group of records into one keyed so, then recount the papers they cite.

    Args:
        merging: Key -> ids of the records to merge under it (with any keyed so).
    """
    papers: set[str] = set()
    for key, ids in merging.items():
        papers |= _transaction(partial(_merge_records, key, ids))
    cited = _records_citing(sorted(papers))
    for paper in papers:
        PaperDocument._get_collection().update_one(
            {"key": paper}, {"$set": {"records": cited.get(paper, 0)}}
        )


def reread_adduct_records() -> None:
    """Records read from a hydrate before hydrates were written out get its water (upgrade).

    ``MgSO4.7H2O`` was read as pymatgen reads it (O4.7 and H2: ``MgSO5.7H2``), so the same
    claim read today (``MgH14SO11``) became a second record. A record whose source
    mention is a hydrate or other adduct (:func:`literature.normalize.adduct_formula`)
    gets today's formula, then records are keyed and merged again
    (:func:`merge_records_by_composition`) when a record's key is not its formula's: also
    when a run stopped between the two, its formulas read and keys not yet merged.
    Idempotent: each update is filtered on the formula read, and a record already so read
    changes nothing.
    """
    from literature.normalize import adduct_formula

    records = PropertyRecordDocument._get_collection()
    fields = {"formula": 1, "key": 1, "sources.material_text": 1}
    rekey = False
    for raw in records.find({"formula": {"$ne": None}}, fields):
        stored = canonical_reduced_formula(raw["formula"])
        texts = (source.get("material_text") or "" for source in raw.get("sources", []))
        meant = next((f for f in map(adduct_formula, texts) if f is not None), None)
        wanted = canonical_reduced_formula(meant) if meant else stored
        rekey |= raw["key"].split("|", 1)[0] != wanted
        if meant is None or wanted is None or wanted == stored:
            continue
        elements = sorted(str(element) for element in Composition(meant).elements)
        update: dict[str, Any] = {"material": meant, "formula": meant, "formula_reduced": wanted}
        update |= {"elements": elements, "nelements": len(elements)}
        update["fractions"] = record_fractions(wanted)
        records.update_one({"_id": raw["_id"], "formula": raw["formula"]}, {"$set": update})
    if rekey:
        merge_records_by_composition()


def fill_record_fractions() -> None:
    """Give each record the molar fractions of its ``formula_reduced`` (upgrade step).

    Records stored before ``fractions`` existed lack it, and filters' ``fraction.<element>``
    would miss them; a record whose fractions are not its formula's (a rewrite that
    changed the formula alone) gets them right. Idempotent, and safe beside a concurrent
    run: each update is filtered on the formula read, and a record already right is not
    written.
    """
    records = PropertyRecordDocument._get_collection()
    found = records.find({"formula_reduced": {"$ne": None}}, {"formula_reduced": 1, "fractions": 1})
    updates = []
    for raw in found:
        try:
            wanted = record_fractions(raw["formula_reduced"])
        except Exception:  # pymatgen raises many kinds; step 5 writes none it cannot read
            continue
        if raw.get("fractions") != wanted:
            old = {"_id": raw["_id"], "formula_reduced": raw["formula_reduced"]}
            updates.append(UpdateOne(old, {"$set": {"fractions": wanted}}))
    for start in range(0, len(updates), _BATCH):
        records.bulk_write(updates[start : start + _BATCH], ordered=False)


def _rekeyed(moves: list[tuple[str, ObjectId, str]]) -> dict[str, list[ObjectId]]:
    """Give records that merge with none their new key, in batches (most records).

    Args:
        moves: New key, record id and the key it has.

    Returns:
        The moves a record keyed so meanwhile refused (a concurrent ingest): new key ->
        the record to merge into it instead.
    """
    records = PropertyRecordDocument._get_collection()
    refused: dict[str, list[ObjectId]] = {}
    for start in range(0, len(moves), _BATCH):
        batch = moves[start : start + _BATCH]
        updates = [UpdateOne({"_id": i, "key": old}, {"$set": {"key": k}}) for k, i, old in batch]
        try:
            records.bulk_write(updates, ordered=False)
        except BulkWriteError as error:
            for failure in error.details.get("writeErrors", []):
                if failure.get("code") != 11000:
                    raise
                key, record_id, _ = batch[failure["index"]]
                refused[key] = [record_id]
    return refused


def _merge_records(key: str, ids: list[ObjectId], session: ClientSession) -> set[str]:
    """Merge the records ``ids`` (and any keyed ``key``) into one keyed ``key``.

    Returns:
        The keys of the papers the merged records cite, to recount.
    """
    records = PropertyRecordDocument._get_collection()
    found = list(records.find({"$or": [{"_id": {"$in": ids}}, {"key": key}]}, session=session))
    if not found:
        return set()
    # the one already keyed so (a concurrent run's), else the first read
    found.sort(key=lambda r: (r["key"] != key, r.get("created_at") or utcnow(), r["_id"]))
    survivor, merged = found[0], found[1:]
    update: dict[str, Any] = {"key": key}
    if merged:
        sources = [s for r in found for s in _qualified_sources(r)]
        papers = list(dict.fromkeys(p for r in found for p in r.get("papers", [])))
        confidences = [r["confidence"] for r in found if r.get("confidence") is not None]
        update.update(
            sources=sources,
            n_sources=len(sources),
            papers=papers,
            n_papers=len(papers),
            merged_ids=[
                *survivor.get("merged_ids", []),
                *(i for r in merged for i in (r["_id"], *r.get("merged_ids", []))),
            ],
            updated_at=max(r.get("updated_at") or utcnow() for r in found),
        )
        if confidences:
            update["confidence"] = max(confidences)
        uncertainties = [r["uncertainty"] for r in found if r.get("uncertainty") is not None]
        if uncertainties:
            update["uncertainty"] = max(uncertainties)
        qualifier = record_qualifier(sources, survivor.get("qualifier"))
        if qualifier is not None:
            update["qualifier"] = qualifier
        # a curator's word that the claim is wrong stands for every statement of it, as
        # it does for a paper stating it again; the latest word, where several were said
        rejections = [r["rejection"] for r in found if r.get("rejection")]
        if rejections:
            update["rejection"] = max(rejections, key=lambda said: said.get("at") or datetime.min)
        records.delete_many({"_id": {"$in": [r["_id"] for r in merged]}}, session=session)
    records.update_one({"_id": survivor["_id"]}, {"$set": update}, session=session)
    return {p for r in found for p in r.get("papers", [])} if merged else set()


def _qualified_sources(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A stored record's sources, each with its qualifier (a merge moves them elsewhere).

    A source stored without one gets the record's, where its key held it
    (:func:`_qualify_sources`).
    """
    held = _key_qualifier(record["key"])
    if held is None or held != record.get("qualifier"):
        return list(record.get("sources", []))
    return [{"qualifier": held, **source} for source in record.get("sources", [])]


@dataclass(frozen=True)
class RemovedPaper:
    """What :meth:`LiteratureStore.remove_paper` removed.

    Attributes:
        key: The paper's key.
        title: Its title.
        records_deleted: Records read in it alone, deleted.
        records_kept: Records also read in other papers, which keep those sources.
        models: Versions of the models trained on records read in it (their lineage's
            ``record_papers`` name it), oldest first: their lineage keeps naming it.
    """

    key: str
    title: str
    records_deleted: int
    records_kept: int
    models: tuple[str, ...] = ()


def resolve_paper_key(text: str) -> str:
    """A paper's key as stored, from any spelling or from the start of its hash.

    Spellings are those :func:`db.query.paper_key` reads. A start of a file's hash
    (``sha256:895c3fc8``, at least 8 hex digits, ``sha256:`` optional) names the one
    stored key that starts so, as git reads a commit's; else the key is as read.

    Raises:
        LookupError: ``paper: ...`` for a start that several papers' keys share.
    """
    key = paper_key(text)
    if HASH_DIGITS.fullmatch(key):
        key = f"sha256:{key}"  # the table's 12 hex digits, copied without their prefix
    if _HASH_START.fullmatch(key) is None:
        return key
    papers = PaperDocument._get_collection()
    if papers.find_one({"key": key}, {"_id": 1}) is not None:
        return key
    return key_starting(papers, key, text)


def key_starting(collection: Collection, start: str, text: str) -> str:
    """The one ``key`` in ``collection`` that starts with ``start``, else ``start``.

    Raises:
        LookupError: ``paper: ...`` (naming ``text``) when several keys start so.
    """
    starting = {"key": {"$regex": f"^{re.escape(start)}"}}
    found = [row["key"] for row in collection.find(starting, {"key": 1}).limit(2)]
    if len(found) > 1:
        raise LookupError(f"paper: {text!r} starts the keys of several papers: give more of it")
    return found[0] if found else start


#: The start of a file key's hash that may name its paper: 8 hex digits or more.
_HASH_START = re.compile(r"sha256:[0-9a-f]{8,63}")


def _with_paper_keys(query: dict[str, Any], field: str) -> dict[str, Any]:
    """``query`` with each hash's start it compares ``field`` with read as its paper's key."""

    def resolved(key: str) -> str:
        try:
            return resolve_paper_key(key) if is_hash_start(key) else key
        except LookupError as error:  # a start several keys share
            raise FilterError(f"filter: {error}") from None

    return cast(dict[str, Any], with_compared_texts(query, field, resolved))


def is_hash_start(key: str) -> bool:
    """Whether ``key`` (as :func:`resolve_paper_key` returns it) is only a hash's start."""
    return _HASH_START.fullmatch(key) is not None


def _remove_paper(key: str, session: ClientSession) -> RemovedPaper:
    papers = PaperDocument._get_collection()
    described = {"title": 1, "year": 1, "doi": 1, "journal": 1}
    paper = papers.find_one({"key": key}, described, session=session)
    if paper is None:
        raise LookupError(f"paper: no paper {key!r} (`matloop literature papers` lists them)")
    records = PropertyRecordDocument._get_collection()
    deleted: list[dict[str, Any]] = []
    kept = 0
    for raw in records.find({"papers": key}, session=session):
        sources = [s for s in raw.get("sources", []) if s.get("paper_key") != key]
        if not sources:
            records.delete_one({"_id": raw["_id"]}, session=session)
            if raw.get("rejection"):
                _remember_rejection(raw, session)
            else:
                _remember_ids(raw["key"], raw["_id"], raw.get("merged_ids"), session)
            deleted.append({"id": str(raw["_id"]), **{f: raw.get(f) for f in _REMEMBERED}})
            continue
        cited = list(dict.fromkeys(s["paper_key"] for s in sources))
        update: dict[str, Any] = {"sources": sources, "n_sources": len(sources)}
        update |= {"papers": cited, "n_papers": len(cited), "updated_at": utcnow()}
        qualifier = record_qualifier(sources, raw.get("qualifier"))
        if qualifier is not None:  # "~" again when the removed paper stated it exactly
            update["qualifier"] = qualifier
        change: dict[str, Any] = {"$set": update}
        for field in ("confidence", "uncertainty"):  # the best, the most cautious: of those left
            stated = [s[field] for s in sources if s.get(field) is not None]
            if stated:
                update[field] = max(stated)
            else:
                change["$unset"] = {**change.get("$unset", {}), field: ""}
        records.update_one({"_id": raw["_id"]}, change, session=session)
        kept += 1
    for documents in (MentionDocument, PassageDocument):
        documents._get_collection().delete_many({"paper": paper["_id"]}, session=session)
    papers.delete_one({"_id": paper["_id"]}, session=session)
    tombstone = {f: paper.get(f) for f in described} | {"removed_at": utcnow()}
    # the first MAX_REMEMBERED listed (one document holds them), all counted
    listed = deleted[:MAX_REMEMBERED]
    tombstone |= {"records_deleted": listed, "n_deleted": len(deleted), "records_kept": kept}
    RemovedPaperDocument._get_collection().update_one(
        {"key": key}, {"$set": tombstone}, upsert=True, session=session
    )
    trained = ModelRecord._get_collection().find(
        {"metrics.record_papers": key}, {"version": 1}, session=session
    )
    models = tuple(row["version"] for row in trained.sort("created_at", 1))
    return RemovedPaper(key, str(paper.get("title") or ""), len(deleted), kept, models)


#: What a removed paper's tombstone keeps of each record read in it alone: its reading as
#: stated (a bound, a range) as well as its value.
_REMEMBERED = ("material", "property", "value", "low", "high", "qualifier", "unit")
#: Most records a tombstone lists (``n_deleted`` counts them all).
MAX_REMEMBERED = 1000


def _remember_rejection(raw: Mapping[str, Any], session: ClientSession) -> None:
    """Keep the rejection of record ``raw`` (raw, deleted now) for when it is read again."""
    claim = {
        "record_id": raw["_id"],
        "merged_ids": list(raw.get("merged_ids") or ()),
        "rejection": raw["rejection"],
        "removed_at": utcnow(),
        **{field: raw.get(field) for field in ("material", "property", "value", "unit")},
    }
    RejectedClaimDocument._get_collection().update_one(
        {"key": raw["key"]}, {"$set": claim}, upsert=True, session=session
    )


def _lift_claim(record_id: ObjectId, session: ClientSession) -> dict[str, Any] | None:
    """Forget the rejection of a record gone with its papers, keeping its ids; the claim."""
    claims = RejectedClaimDocument._get_collection()
    by_id = {"$or": [{"record_id": record_id}, {"merged_ids": record_id}]}
    claim = claims.find_one_and_delete(by_id, session=session)
    if claim is not None:
        _remember_ids(claim["key"], claim["record_id"], claim.get("merged_ids"), session)
    return claim


def _remember_ids(
    key: str,
    record_id: ObjectId,
    merged_ids: Sequence[ObjectId] | None,
    session: ClientSession | None = None,
) -> None:
    """Keep the ids of a record deleted with its last paper for when it is read again."""
    ids = {"record_id": record_id, "merged_ids": list(merged_ids or ()), "removed_at": utcnow()}
    RemovedRecordDocument._get_collection().update_one(
        {"key": key}, {"$set": ids}, upsert=True, session=session
    )


def _with_remembered_rejection(document: Any, session: ClientSession) -> Any:
    """A new record ``document``, rejected again if its claim was (then forgotten).

    It takes back the ids of the record removed with its last paper, rejected or not, so
    models that name them (``record_ids``) find it again.
    """
    # read first: a write for every new record would cost even where none is remembered
    for memory in (RejectedClaimDocument, RemovedRecordDocument):
        remembered = memory._get_collection()
        found = remembered.find_one({"key": document.key}, session=session)
        if found is not None:
            remembered.delete_one({"_id": found["_id"]}, session=session)
            document.id = found["record_id"]
            document.merged_ids = list(found.get("merged_ids") or ())
            document.rejection = found.get("rejection")  # None for a record not rejected
            return document
    return document


def _records_citing(keys: list[str]) -> dict[str, int]:
    """How many records cite each paper of ``keys`` (list it in ``papers``)."""
    grouped = PropertyRecordDocument._get_collection().aggregate(
        [
            {"$match": {"papers": {"$in": keys}}},
            {"$unwind": "$papers"},
            {"$group": {"_id": "$papers", "n": {"$sum": 1}}},
        ]
    )
    return {row["_id"]: row["n"] for row in grouped}


def _sentences(passages: Iterable[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    """Each passage's ``text`` and ``section_name``, looked up by id."""
    fields = {"text": 1, "section_name": 1}
    found = find_in(PassageDocument._get_collection(), "_id", passages, fields)
    return {p["_id"]: p for p in found}


#: Where a sentence is: paper id, section, sentence.
_Place = tuple[ObjectId, int, int]


def _material_place(source: Mapping[str, Any]) -> _Place | None:
    """Where a source's material was named, when not in the value's sentence; else None.

    The linker looks back within the value's section only, so the section is the value's.
    """
    span = source.get("material_span") or []
    if not span or span[0] == source["sentence"]:
        return None
    return (source["paper"], source["section"], span[0])


def _material_sentences(sources: Iterable[Mapping[str, Any]]) -> dict[_Place, str]:
    """The text of each sentence an earlier-sentence link named its material in.

    Only those sources need it (most name the material beside the value); the unique
    ``(paper, section, sentence)`` index answers each batch.
    """
    wanted = sorted({place for s in sources if (place := _material_place(s)) is not None})
    found: dict[_Place, str] = {}
    passages = PassageDocument._get_collection()
    for start in range(0, len(wanted), _BATCH):
        batch = wanted[start : start + _BATCH]
        match = [{"paper": p, "section": section, "sentence": n} for p, section, n in batch]
        fields = {"paper": 1, "section": 1, "sentence": 1, "text": 1}
        for row in passages.find({"$or": match}, fields):
            found[(row["paper"], row["section"], row["sentence"])] = row["text"]
    return found


def _record_row(
    raw: dict[str, Any],
    sentences: Mapping[ObjectId, Mapping[str, Any]],
    material_sentences: Mapping[_Place, str] | None = None,
    papers: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A record as a JSON-ready dict; each source names its passage and sentence text.

    Every row has the :data:`RECORD_COLUMNS`, in order: a field not stored (a bound's
    open end, a name's formula) is ``None``. Sources: see :func:`_source_row`.
    """
    row = {k: raw.get(k) for k in RECORD_COLUMNS}
    row["id"] = str(raw["_id"])
    row["papers"] = sorted(raw.get("papers") or [])
    row["merged_ids"] = [str(merged) for merged in raw.get("merged_ids", [])]
    if row["rejection"]:
        row["rejection"] = {**row["rejection"], "at": iso(row["rejection"].get("at"))}
    for stamp in ("created_at", "updated_at"):
        if raw.get(stamp) is not None:
            row[stamp] = iso(raw[stamp])
    row["sources"] = [
        _source_row(s, sentences, material_sentences or {}, papers or {})
        for s in raw.get("sources", [])
    ]
    return row


def _source_row(
    source: Mapping[str, Any],
    sentences: Mapping[ObjectId, Mapping[str, Any]],
    material_sentences: Mapping[_Place, str],
    papers: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """A record's source as a JSON-ready dict; every source has the same keys.

    ``paper_title``, ``paper_year`` and ``paper_doi`` cite the paper (a researcher needs
    no second query to say where a value was read); ``text`` is the value's sentence;
    ``section_name`` its section's heading or role as the parser named it (``"title"``,
    ``"abstract"``, ``"caption"`` for a figure or table caption, a body heading such as
    ``"2. Experimental"``); ``material_sentence_text`` the sentence the material was named
    in when that is an earlier one (the same section; see ``material_span``), else
    ``None``. Each is ``None`` when sentences were not read.
    """
    place = _material_place(source)
    passage = sentences.get(source["passage"], {})
    paper = papers.get(source["paper_key"], {})
    return {
        "paper": source["paper_key"],
        "paper_title": paper.get("title"),
        "paper_year": paper.get("year"),
        "paper_doi": paper.get("doi"),
        # lineage down to the sentence: the passage and what it says
        "passage": str(source["passage"]),
        "text": passage.get("text"),
        "section": source["section"],
        # a caption reads otherwise than body text: say which the sentence is in
        "section_name": passage.get("section_name"),
        "sentence": source["sentence"],
        "material_text": source.get("material_text"),
        # [sentence, start, end]: a material linked from an earlier sentence is there
        "material_span": source.get("material_span"),
        "material_sentence_text": None if place is None else material_sentences.get(place),
        "value_text": source.get("value_text"),
        "value_span": source.get("value_span"),
        # as stated there ("=", "~", a bound); None on sources stored before it was kept
        "qualifier": source.get("qualifier"),
        # the pressure it was read at, in the same sentence (None at ambient pressure)
        "condition_text": source.get("condition_text"),
        "condition_span": source.get("condition_span") or None,
        "uncertainty": source.get("uncertainty"),
        "confidence": source.get("confidence"),
        "model_version": source["model_version"],
    }
