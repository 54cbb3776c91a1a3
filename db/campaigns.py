"""Campaign repository: everything the agent stores and reads, as domain objects.

Writes that touch several documents (a campaign with its pool, a batch of trials, a batch
of measurements with their trials' status, closing a campaign with its waiting trials)
run in one transaction: all or nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from mongoengine import Document, NotUniqueError, ValidationError
from pymongo import UpdateOne
from pymongo.client_session import ClientSession
from pymongo.collection import Collection, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from db import connection
from db.convert import (
    campaign_from_document,
    campaign_to_document,
    candidate_from_raw,
    candidate_to_document,
    correction_to_raw,
    measurement_from_raw,
    measurement_to_document,
    part_to_raw,
    trial_from_document,
    trial_from_raw,
    trial_to_document,
)
from db.documents import (
    CampaignDocument,
    CandidateDocument,
    MeasurementDocument,
    MetricsDocument,
    ModelRecord,
    TrialDocument,
    check_name,
    utcnow,
)
from db.models import FIT_METRIC, load_model_record, model_digest, register_model
from db.query import DEFAULT_ORDERS, FilterError, SortKey, identifier, optimade_to_mongo
from discovery.compositions import element_fractions, present_elements
from discovery.domain import (
    ALLOWED_TRANSITIONS,
    Campaign,
    Candidate,
    Correction,
    Handoff,
    Measurement,
    ModelArtifact,
    PoolRecipe,
    Trial,
    TrialStatus,
    canonical_strategy,
    key_trial,
    merged_parts,
    same_reading,
)
from discovery.spaces import SearchSpace

T = TypeVar("T")
#: Proposal requests a campaign remembers with their batches (CampaignStore.proposed_for):
#: enough for the retries of every flow and runner proposing at one time.
REMEMBERED_REQUESTS = 32
PROPOSED = TrialStatus.PROPOSED.value
PENDING = [s.value for s in TrialStatus if s.is_pending]
RecordCheck = Callable[[dict[str, Trial], dict[str, Measurement]], None]
#: A campaign's status (``CampaignDocument.status``): a closed one hands out no trials.
ACTIVE, CLOSED = "active", "closed"
#: The reason stored on the trials that closing a campaign abandons.
CLOSED_REASON = "campaign closed"
#: The moves that give a trial up: no result will come.
GIVE_UPS = frozenset({TrialStatus.FAILED, TrialStatus.ABANDONED})
#: Tests of results (``values.<outcome>``, ``feasible``) one trials filter may hold: each
#: reads the measurements and lists the trials it matches (:meth:`CampaignStore.trial_query`).
MAX_RESULT_TESTS = 3
#: Who gave a trial up (its ``given_up_by``) when no instrument is named: an operator (an
#: admin token), a caller naming none on a trial no instrument held, the campaign's close.
#: In parentheses, which no instrument name (``SOURCE_REGEX``) holds: never mistaken for one.
GIVEN_UP_BY_OPERATOR = "(operator)"
GIVEN_UP_BY_UNNAMED = "(unnamed)"
GIVEN_UP_BY_CLOSE = "(close)"
#: An instrument's lease on a trial when it asks for none (s).
DEFAULT_LEASE_SECONDS = 600.0
#: Trials an upgrade step writes per request.
UPGRADE_BATCH = 1000


class CampaignNotFoundError(LookupError):
    """No campaign of that name."""


class CampaignExistsError(ValueError):
    """A campaign of that name already exists."""


class TrialNotFoundError(LookupError):
    """No such trial in the campaign."""


class TrialStateError(ValueError):
    """The trial is not in a state that allows this (no longer pending, leased to another)."""


def _check_filter_names(names: Sequence[str], field: str, prefix: str) -> None:
    """Refuse names that filters and sorts could not tell apart (``values.band_gap``).

    Args:
        names: Outcome or parameter names.
        field: Where they were given, for the message (``objectives and constraints``).
        prefix: How a filter names them (``values``, ``parameters``).

    Raises:
        ValueError: naming both and the identifier they share.
    """
    seen: dict[str, str] = {}
    for name in names:
        spelled = identifier(name)
        if spelled is not None and spelled in seen:
            raise ValueError(
                f"{field}: {seen[spelled]!r} and {name!r} are both {prefix}.{spelled} in "
                "filters and sorts, which could not tell them apart; rename one"
            )
        if spelled is not None:
            seen[spelled] = name


#: The most candidates a campaign's pool may hold (proposals score the whole pool).
MAX_POOL_SIZE = 100_000
#: Candidates written per transaction. One transaction must fit the database's cache:
#: the embedded one (1 GiB) stalls for good on one of ~90,000 candidates, and MongoDB
#: ends a transaction after 60 s; chunks of this size commit in about a second each.
POOL_CHUNK = 5_000


def _named(names: Iterable[str] | None) -> dict[str, Any]:
    """The campaign query keeping those ``names`` (None: all)."""
    return {} if names is None else {"name__in": sorted(names)}


def _with_status(status: str | None) -> dict[str, Any]:
    """The campaign query of a listing's ``status``: any, or :data:`ACTIVE` or :data:`CLOSED`.

    Raises:
        ValueError: ``status: ...`` for another one.
    """
    if status is None:
        return {}
    if status not in (ACTIVE, CLOSED):
        raise ValueError(f"status: {status!r} is not one of {ACTIVE}, {CLOSED}")
    return {"status": CLOSED} if status == CLOSED else {"status__ne": CLOSED}  # also unset


def _giver(instrument: str | None, operator: bool) -> str:
    """What a give-up records as who did it (``given_up_by``)."""
    if instrument is not None:
        return instrument
    return GIVEN_UP_BY_OPERATOR if operator else GIVEN_UP_BY_UNNAMED


def _who(giver: str) -> str:
    """A ``given_up_by`` in words."""
    return {
        GIVEN_UP_BY_OPERATOR: "an operator naming no instrument",
        GIVEN_UP_BY_UNNAMED: "a caller naming no instrument",
        GIVEN_UP_BY_CLOSE: "the campaign's close",
    }.get(giver, f"instrument {giver!r}")


class ConcurrentProposalError(RuntimeError):
    """Another proposal took a candidate first (retry the proposal)."""


class CampaignClosedError(ValueError):
    """The campaign is closed: it hands out no new trials (running ones may still report)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"campaign {name!r} is closed: it hands out no new trials (results of its "
            "running trials are still accepted)"
        )
        self.name = name

    def __reduce__(self) -> tuple[type[CampaignClosedError], tuple[str]]:
        # rebuilt from the name, not the message, where it is pickled (Prefect, Dask)
        return type(self), (self.name,)


@dataclass(frozen=True)
class CloseReport:
    """Outcome of :meth:`CampaignStore.close`.

    Attributes:
        already_closed: The campaign was closed before this call.
        abandoned: Proposed trials abandoned now (no instrument had claimed them).
        running: Trials still running: their instruments may report their results.
    """

    already_closed: bool
    abandoned: int
    running: int


@dataclass(frozen=True)
class RecordReport:
    """Outcome of :meth:`CampaignStore.record`: how many were new, how many repeats.

    ``completed`` counts the trials whose result was stored: each new whole result's,
    and each whose parts are now complete (a new part alone completes none).
    """

    stored: int
    duplicates: int
    completed: int = 0


@dataclass(frozen=True)
class CorrectionReport:
    """Outcome of :meth:`CampaignStore.correct`.

    Attributes:
        measurement: The result as now stored.
        duplicate: Whether the correction repeated one stored under its key.
    """

    measurement: Measurement
    duplicate: bool


def _trials() -> Collection[Any]:
    return TrialDocument._get_collection()


def _sequence(row: dict[str, Any]) -> int:
    return int(row["sequence"])


def _space_elements(space: Any) -> list[str] | None:
    """The element symbols of a stored space's molar fractions; None where it has none.

    Also None for a space stored under older rules, which no longer reads as a space.
    """
    try:
        return element_fractions(SearchSpace.from_dict(space, check_room=False))
    except ValueError:
        return None


def _composition_of(campaign: ObjectId) -> list[str] | None:
    """The element symbols of a stored campaign's molar fractions (:func:`_space_elements`)."""
    row = CampaignDocument._get_collection().find_one({"_id": campaign}, {"space": 1})
    return None if row is None else _space_elements(row.get("space"))


def fill_trial_elements() -> None:
    """Give composition campaigns' trials their ``elements`` and ``nelements`` (upgrade step).

    Trials stored before they were kept lack them, and filters would read those trials'
    compositions from their fraction parameters, scanning (:meth:`CampaignStore.trial_query`).
    Each gets them as a new trial does (:func:`db.convert.trial_to_document`); other
    campaigns' trials get none. Idempotent and safe beside a concurrent run: only trials
    without them are read, and each update is filtered on the count still missing (a
    trial's parameters never change).
    """
    for row in CampaignDocument._get_collection().find({}, {"space": 1}):
        composition = _space_elements(row.get("space"))
        if composition is None:
            continue
        lacking = {"campaign": row["_id"], "nelements": {"$exists": False}}
        updates = [
            UpdateOne(
                {"_id": trial["_id"], "nelements": {"$exists": False}},
                {"$set": _elements_fields(composition, trial.get("parameters") or {})},
            )
            for trial in _trials().find(lacking, {"parameters": 1})
        ]
        for start in range(0, len(updates), UPGRADE_BATCH):
            _trials().bulk_write(updates[start : start + UPGRADE_BATCH], ordered=False)


def canonical_campaign_strategies() -> None:
    """Store each campaign's strategy as its trials name it (upgrade step).

    Campaigns stored before strategies were stored in one order keep theirs as written
    (``gp+warp+qucb``) while their trials record ``gp+qucb+warp``, so a filter on the
    trials' ``strategy`` with the campaign's finds none
    (:func:`discovery.domain.canonical_strategy`). Idempotent: each update is filtered on
    the strategy it replaces.
    """
    campaigns = CampaignDocument._get_collection()
    for row in campaigns.find({}, {"settings.strategy": 1}):
        written = (row.get("settings") or {}).get("strategy")
        if isinstance(written, str) and canonical_strategy(written) != written:
            campaigns.update_one(
                {"_id": row["_id"], "settings.strategy": written},
                {"$set": {"settings.strategy": canonical_strategy(written)}},
            )


def _elements_fields(composition: Sequence[str], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's ``elements`` and ``nelements``, from its fraction parameters."""
    present = present_elements(composition, parameters)
    return {"elements": present, "nelements": len(present)}


#: A trial with no partial result (``parts.0`` absent: the field absent, or empty).
_NO_PART = {"$exists": False}
#: A trial whose sample is not known to exist: no part reported, never handed on. Only
#: such a trial goes back to the queue (or is abandoned on close) when its lease runs out.
_NO_SAMPLE = {"parts.0": _NO_PART, "handoffs.0": _NO_PART}


class _TrialsMoved(Exception):
    """A reported trial changed between the read and the write (its status, holder, parts)."""


def _handed_on(trial: Trial, instrument: str | None, to: str) -> bool:
    """Whether this hand-off is a retry of one done: ``instrument`` (None: an operator) to ``to``.

    A holder asking never retries (robot -> xrd -> robot -> xrd is a fresh hand-off each
    time); an operator retries only its latest hand-off, if it was the trial's last.
    """
    if instrument is None:
        return bool(trial.handoffs) and trial.handoffs[-1].operator and trial.handoffs[-1].to == to
    held = trial.status is TrialStatus.RUNNING and trial.claimed_by == instrument
    return not held and any(h.to == to and h.holder == instrument for h in trial.handoffs)


def _part_stored(measurement: Measurement, trials: Mapping[str, Trial]) -> bool:
    """Whether a partial result's key is among its trial's stored parts (a repeat)."""
    trial = trials.get(measurement.trial_id)
    keys = {p.idempotency_key for p in trial.parts} if trial else set()
    return measurement.partial and measurement.idempotency_key in keys


def _add_parts(
    trial: Trial,
    parts: Sequence[Measurement],
    completes: bool,
    now: datetime,
    session: ClientSession,
) -> bool:
    """Append partial results to a trial as read (same parts, holder, status); whether it was.

    ``completes``: they give its last outcomes, so it completes too.
    """
    count = len(trial.parts)
    as_read: dict[str, Any] = {
        "_id": ObjectId(trial.id),
        "status": TrialStatus.RUNNING.value,
        "claimed_by": trial.claimed_by,
        f"parts.{count}": {"$exists": False},
    }
    if count:
        as_read[f"parts.{count - 1}"] = {"$exists": True}
    change: dict[str, Any] = {
        "$push": {"parts": {"$each": [part_to_raw(p, now) for p in parts]}},
        "$set": {"updated_at": now},
    }
    if completes:
        change["$set"]["status"] = TrialStatus.COMPLETED.value
        change["$unset"] = {"lease_expires_at": ""}
    return bool(_trials().update_one(as_read, change, session=session).matched_count)


def _transaction(work: Callable[[ClientSession], T]) -> T:
    with connection.client().start_session() as session:
        return session.with_transaction(work)


def _insert(documents: Sequence[Document], session: ClientSession) -> None:
    """Validate and insert documents of one class with ids assigned beforehand."""
    if not documents:
        return
    for document in documents:
        document.validate()
    collection = type(documents[0])._get_collection()
    try:
        collection.insert_many([d.to_mongo().to_dict() for d in documents], session=session)
    except BulkWriteError as error:
        duplicate = next(
            (e for e in error.details.get("writeErrors", []) if e.get("code") == 11000), None
        )
        if duplicate is None:
            raise
        raise DuplicateKeyError(duplicate["errmsg"], 11000) from None


def _as_first_reported(measurement: Measurement) -> Measurement:
    """A result with the values its lab first reported, before any correction."""
    if not measurement.corrections:
        return measurement
    first = measurement.corrections[0]
    return replace(measurement, values=first.values, units=first.units, reported=first.reported)


def _corrected_values(stored: Measurement, corrected: Measurement) -> Measurement:
    """The stored result with the outcomes ``corrected`` names replaced (all, if whole)."""
    if not corrected.partial:
        return corrected
    named = corrected.values.keys()
    return replace(
        corrected,
        values=stored.values | corrected.values,
        units={k: u for k, u in stored.units.items() if k not in named} | corrected.units,
        reported={k: r for k, r in stored.reported.items() if k not in named} | corrected.reported,
        partial=False,
    )


def _repeated(stored: Measurement, corrected: Measurement) -> Measurement:
    """``stored``, when ``corrected`` repeats the correction stored under its key.

    Raises:
        ValueError: naming ``idempotency_key``, when the key corrected another trial or
            gave other values (the values a correction gave are those the next one
            replaced, or the stored ones after the last).
    """
    keys = [c.idempotency_key for c in stored.corrections]
    at = keys.index(corrected.idempotency_key)
    after = stored.corrections[at + 1] if at + 1 < len(keys) else stored
    done = stored.corrections[at].outcomes  # None: stored before kept, every outcome
    named = corrected.values.keys()
    after = replace(  # what it left in the outcomes it named, to compare with the request
        after,
        values={k: v for k, v in after.values.items() if k in named},
        units={k: u for k, u in after.units.items() if k in named},
    )
    if (
        stored.trial_id != corrected.trial_id
        or set(done if done is not None else stored.values) != set(named)
        or not same_reading(after, corrected)
    ):
        raise ValueError(
            f"idempotency_key: {corrected.idempotency_key!r} was already used for another "
            f"correction (trial {stored.trial_id}, values {after.values})"
        )
    return stored


def remembered(request: dict[str, str]) -> dict[str, Any]:
    """The ``$push`` term adding ``request`` to a campaign's recent ones, keeping the last."""
    return {"$each": [request], "$slice": -REMEMBERED_REQUESTS}


def _metrics_row(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored metrics row as read: ``{"measurements": n, **values}``."""
    return {"measurements": stored["measurements"], **stored["values"]}


def _campaign_of(document: CampaignDocument) -> Campaign:
    """Document -> domain campaign, with the recipe of a pool matloop generated.

    Raises:
        ValueError: naming the campaign, when what is stored breaks a rule.
    """
    campaign = campaign_from_document(document)
    if not document.pool_recipe:  # older campaigns, and pools from a file or the API
        return campaign
    try:
        return replace(campaign, pool_recipe=PoolRecipe.from_dict(document.pool_recipe))
    except (TypeError, ValueError) as error:  # a missing field is a TypeError
        raise ValueError(f"campaign {document.name!r} as stored: {error}") from None


def parse_id(text: str, field: str = "trial_id") -> ObjectId:
    """Parse a document id, raising ``ValueError`` naming ``field`` when malformed."""
    try:
        return ObjectId(text)
    except (InvalidId, TypeError):
        raise ValueError(f"{field}: {text!r} is not a valid id") from None


class CampaignStore:
    """Persistence of campaigns, pools, trials, measurements and models (connected MongoDB)."""

    def __init__(self) -> None:
        # A pool never changes after its campaign is created, and every proposal and
        # every stored result (live metrics) reads it: keep it, keyed by campaign id.
        self._pools: dict[ObjectId, list[Candidate]] = {}

    # -- campaigns -----------------------------------------------------------------
    def create(
        self,
        campaign: Campaign,
        candidates: Sequence[Candidate] = (),
        results: Sequence[tuple[Trial, Measurement]] = (),
    ) -> Campaign:
        """Store a new campaign with its pool and earlier results, never half of it.

        A pool of up to :data:`POOL_CHUNK` candidates is stored with the campaign in one
        transaction. A larger one is written first, :data:`POOL_CHUNK` at a time, and
        the campaign last: until then no campaign names its candidates, so no one sees
        them, and a failure removes them. (A process killed between the two leaves
        candidates no campaign names, unseen.)

        ``results`` are measurements the lab made before the campaign, each with the
        completed trial it completes (its ``trial_id`` is ignored): they are stored with
        the campaign, in its transaction, as its first batch.

        Raises:
            CampaignExistsError: if the name is taken.
            ValueError: if a document fails validation (message names the field), two
                outcomes or two parameters share the name a filter writes (``band gap``,
                ``band_gap``), or the pool holds more than :data:`MAX_POOL_SIZE`.

        """
        check_name(campaign.name)
        _check_filter_names(campaign.outcome_names, "objectives and constraints", "values")
        names = [parameter.name for parameter in campaign.space.parameters]
        _check_filter_names(names, "space.parameters", "parameters")
        if len(candidates) > MAX_POOL_SIZE:
            raise ValueError(
                f"candidates: {len(candidates)}, more than the {MAX_POOL_SIZE} a pool may hold"
            )
        document = campaign_to_document(campaign)
        document.pool_size = len(candidates)
        recipe = campaign.pool_recipe
        document.pool_recipe = None if recipe is None else recipe.to_dict()
        document.next_sequence = document.queue_floor = document.next_batch = 0
        document.id = ObjectId()
        pool = [candidate_to_document(c, document) for c in candidates]
        for candidate in pool:
            candidate.id = ObjectId()
        trials, measurements = self._earlier_results(campaign, document, results)

        alone = len(pool) <= POOL_CHUNK  # with the campaign, in its transaction
        chunks = (
            [] if alone else [pool[i : i + POOL_CHUNK] for i in range(0, len(pool), POOL_CHUNK)]
        )

        def work(session: ClientSession) -> None:
            _insert([document], session)
            if alone:
                _insert(pool, session)
            _insert(trials, session)
            _insert(measurements, session)

        taken = CampaignExistsError(f"campaign {campaign.name!r} already exists")
        if chunks and self.exists(campaign.name):  # before minutes of writing
            raise taken
        try:
            for chunk in chunks:
                _transaction(partial(_insert, chunk))
            _transaction(work)
        except BaseException as error:
            if chunks:  # nothing half-written: no campaign names them, so remove them
                CandidateDocument._get_collection().delete_many({"campaign": document.id})
            if isinstance(error, DuplicateKeyError | NotUniqueError):
                raise taken from None
            if isinstance(error, ValidationError):
                raise ValueError(f"campaign {campaign.name!r}: {error}") from None
            raise
        return _campaign_of(CampaignDocument.objects.get(id=document.id))

    @staticmethod
    def _earlier_results(
        campaign: Campaign,
        document: CampaignDocument,
        results: Sequence[tuple[Trial, Measurement]],
    ) -> tuple[list[TrialDocument], list[MeasurementDocument]]:
        """The documents of a new campaign's earlier results; its counters count them.

        Raises:
            ValueError: ``results: ...`` for two results under one idempotency key.
        """
        keys = [measurement.idempotency_key for _, measurement in results]
        if len(set(keys)) < len(keys):
            raise ValueError("results: two results share an idempotency key")
        composition = element_fractions(campaign.space)
        trials = [
            trial_to_document(trial, document, sequence, composition)
            for sequence, (trial, _) in enumerate(results)
        ]
        measurements = []
        for trial, (_, measurement) in zip(trials, results, strict=True):
            trial.id = ObjectId()
            measurements.append(measurement_to_document(measurement, document, trial))
            measurements[-1].id = ObjectId()
        document.next_sequence = document.queue_floor = len(trials)
        document.next_batch = len({t.batch for t in trials})
        return trials, measurements

    def exists(self, name: str) -> bool:
        """Whether a campaign of this name is stored (:meth:`create` still refuses a race)."""
        return CampaignDocument.objects(name=name).only("id").first() is not None

    def _document(self, name: str) -> CampaignDocument:
        document = CampaignDocument.objects(name=name).first()
        if document is None:
            raise CampaignNotFoundError(f"no campaign named {name!r}")
        return document

    def _queue(self, name: str) -> dict[str, Any]:
        """The campaign's id and queue bookkeeping, read raw (hot paths: no mongoengine)."""
        row = CampaignDocument._get_collection().find_one(
            {"name": name},
            {
                "_id": 1,
                "next_sequence": 1,
                "queue_floor": 1,
                "status": 1,
                "next_batch": 1,
                "recent_requests": 1,
            },
        )
        if row is None:
            raise CampaignNotFoundError(f"no campaign named {name!r}")
        return row

    def proposed_for(self, name: str, request: str) -> list[Trial] | None:
        """The batch a recent proposal stored for ``request``, or None if it stored none.

        A proposal retried after a lost acknowledgement (its batch may be stored) asks
        this first, so that it hands out the same batch, not a second one; so may one
        retried after other proposals stored theirs (the last
        :data:`REMEMBERED_REQUESTS` are remembered).
        """
        queue = self._queue(name)
        batch = next(
            (r["batch"] for r in queue.get("recent_requests", []) if r.get("id") == request),
            None,
        )
        if batch is None:
            return None
        rows = _trials().find({"campaign": queue["_id"], "batch": batch})
        return [trial_from_raw(row, name) for row in sorted(rows, key=_sequence)]

    def batches_stored(self, name: str) -> int | None:
        """How many batches were stored (None for a campaign older than the counter).

        Read it before the trials a batch is planned on, and pass it to
        :meth:`add_trials`: a batch stored in between then refuses the stale one.
        """
        count = self._queue(name).get("next_batch")
        return None if count is None else int(count)

    def _id(self, name: str) -> ObjectId:
        campaign: ObjectId = self._queue(name)["_id"]
        return campaign

    def get(self, name: str) -> Campaign:
        """Load a campaign by name (raises :class:`CampaignNotFoundError`)."""
        return _campaign_of(self._document(name))

    def campaigns(
        self,
        offset: int = 0,
        limit: int | None = None,
        status: str | None = None,
        names: Iterable[str] | None = None,
    ) -> list[Campaign]:
        """Campaigns, oldest first: all, or the page of ``limit`` after ``offset``.

        The page is cut by the database, so a listing reads no more than it shows.
        ``status`` (:data:`ACTIVE` or :data:`CLOSED`) keeps those alone, and ``names``
        those named.
        """
        found = CampaignDocument.objects(**_with_status(status), **_named(names))
        found = found.order_by("created_at", "id").skip(offset)
        if limit is not None:
            found = found.limit(limit) if limit > 0 else found.none()  # MongoDB: 0 is all
        return [_campaign_of(d) for d in found]

    def campaign_names(self) -> set[str]:
        """The names of all campaigns, read without loading any (cheap, and never refused)."""
        return {d["name"] for d in CampaignDocument.objects.only("name").as_pymongo()}

    def campaign_count(self, status: str | None = None, names: Iterable[str] | None = None) -> int:
        """How many campaigns there are, open and closed, or of one ``status``, or named."""
        return CampaignDocument.objects(**_with_status(status), **_named(names)).count()

    def ensure_open(self, name: str) -> None:
        """Refuse new work on a closed campaign.

        Raises:
            CampaignNotFoundError: if there is no such campaign.
            CampaignClosedError: if it is closed.
        """
        if self._queue(name).get("status") == CLOSED:
            raise CampaignClosedError(name)

    def set_budget(self, name: str, budget: int | None) -> None:
        """Set a campaign's ``settings.budget`` (None: open-ended); the caller checks it.

        Raises:
            CampaignNotFoundError: if there is no such campaign.
        """
        change = (
            {"$set": {"settings.budget": budget}}
            if budget is not None
            else {"$unset": {"settings.budget": ""}}
        )
        if not CampaignDocument._get_collection().update_one({"name": name}, change).matched_count:
            raise CampaignNotFoundError(f"no campaign named {name!r}")

    def close(self, name: str) -> CloseReport:
        """Close a campaign and abandon the trials nobody runs, in one transaction.

        Abandoned: proposed trials, and running ones whose lease has run out (their
        instrument stopped; the queue they would go back to is shut), but not one whose
        sample exists (partly measured or handed on). Trials still leased keep running,
        and their results are accepted. A proposal storing a batch
        meanwhile writes the campaign's sequence counter in its own transaction
        (:meth:`add_trials`), so the two conflict and one goes first: the batch lands
        before the close, which abandons it, or it is refused. Closing a closed campaign
        is harmless (``already_closed``) and sweeps again: leases that ran out since.

        Raises:
            CampaignNotFoundError: if there is no such campaign.
        """
        campaigns = CampaignDocument._get_collection()

        def work(session: ClientSession) -> CloseReport:
            before = campaigns.find_one_and_update(
                {"name": name},
                {"$set": {"status": CLOSED}},
                projection={"status": 1},
                session=session,
            )
            if before is None:
                raise CampaignNotFoundError(f"no campaign named {name!r}")
            abandoned = self._sweep(before["_id"], session=session)
            running = _trials().find(
                {"campaign": before["_id"], "status": TrialStatus.RUNNING.value},
                {"_id": 1},
                session=session,
            )
            return CloseReport(
                already_closed=before.get("status") == CLOSED,
                abandoned=abandoned,
                running=len(list(running)),
            )

        return _transaction(work)

    @staticmethod
    def _sweep(
        campaign: ObjectId, session: ClientSession | None = None, token: str | None = None
    ) -> int:
        """Abandon a closed campaign's proposed trials and lapsed leases; how many.

        With ``token``, also the trials a claim leased under it after the close.
        """
        running = TrialStatus.RUNNING.value
        idle: list[dict[str, Any]] = [
            {"status": PROPOSED},  # and a lapsed lease, but not one whose sample exists
            {"status": running, "lease_expires_at": {"$lt": utcnow()}, **_NO_SAMPLE},
        ]
        if token is not None:
            idle.append({"status": running, "claim_token": token})
        result = _trials().update_many(
            {"campaign": campaign, "$or": idle},
            {  # as set_status abandons one: its candidate and lease are freed
                "$set": {
                    "status": TrialStatus.ABANDONED.value,
                    "reason": CLOSED_REASON,
                    "given_up_by": GIVEN_UP_BY_CLOSE,
                    "updated_at": utcnow(),
                },
                "$unset": {"active_candidate": "", "lease_expires_at": ""},
            },
            session=session,
        )
        return result.modified_count

    def delete(self, name: str) -> None:
        """Delete a campaign and everything that hangs off it (pool, trials, results, models)."""
        document = self._document(name)
        for record in ModelRecord.objects(campaign=document):
            record.weights.delete()
        for cls in (
            MeasurementDocument,
            TrialDocument,
            CandidateDocument,
            ModelRecord,
            MetricsDocument,
        ):
            cls.objects(campaign=document).delete()
        document.delete()

    # -- pool ------------------------------------------------------------------------
    def candidates(self, name: str) -> list[Candidate]:
        """The campaign's pool, ordered by index."""
        document = self._document(name)
        if document.id not in self._pools:
            query = CandidateDocument.objects(campaign=document).order_by("index")
            # Raw documents: building mongoengine objects costs ~1 ms each on large pools.
            raws = query.only("index", "parameters", "reference", "label").as_pymongo()
            self._pools[document.id] = [candidate_from_raw(raw) for raw in raws]
        return list(self._pools[document.id])

    # -- trials ----------------------------------------------------------------------
    def trials(self, name: str, statuses: Iterable[TrialStatus] | None = None) -> list[Trial]:
        """Trials in proposal order, optionally only those with one of ``statuses``."""
        query: dict[str, Any] = {"campaign": self._id(name)}
        if statuses is not None:
            query["status"] = {"$in": [s.value for s in statuses]}
        # Raw documents: a mongoengine object costs ~1 ms, and proposals read every trial.
        return [trial_from_raw(r, name) for r in _trials().find(query).sort("sequence", 1)]

    def trial(self, name: str, trial_id: str) -> Trial:
        """One trial of the campaign (raises :class:`TrialNotFoundError`)."""
        return trial_from_raw(self._trial_row(name, trial_id), name)

    def _trial_row(self, name: str, trial_id: str) -> dict[str, Any]:
        """One trial of the campaign, its raw document (raises :class:`TrialNotFoundError`)."""
        # _id first: SecantusDB serves the first clause it can from an index, and
        # campaign first would read every trial of the campaign.
        row = _trials().find_one({"_id": parse_id(trial_id), "campaign": self._id(name)})
        if row is None:
            raise TrialNotFoundError(f"trial {trial_id} not found in campaign {name!r}")
        return row

    def _trials_by_id(self, campaign: ObjectId, name: str, ids: Iterable[str]) -> dict[str, Trial]:
        valid = [ObjectId(i) for i in set(ids) if ObjectId.is_valid(i)]
        # By _id alone (the campaign is checked here): it keeps the _id index in use.
        found = _trials().find({"_id": {"$in": valid}})
        return {str(r["_id"]): trial_from_raw(r, name) for r in found if r["campaign"] == campaign}

    def add_trials(
        self,
        name: str,
        trials: Sequence[Trial],
        batches: int | None = None,
        request: str | None = None,
    ) -> list[Trial]:
        """Store a batch of new trials atomically; returns them with ids and timestamps.

        Args:
            name: The campaign.
            trials: One batch.
            batches: The number of batches stored when the batch was planned (its name
                and seed came from it): it is stored only if no other batch was since.
            request: The proposal's request id, remembered with the batch (the last
                :data:`REMEMBERED_REQUESTS` are) so that a retry of the request gets it
                back (:meth:`proposed_for`).

        Raises:
            CampaignClosedError: if the campaign is closed (nothing is stored).
            ConcurrentProposalError: if another proposal took one of the candidates, or
                stored a batch after ``batches`` were counted.
        """
        if not trials:
            return []
        campaign = self._id(name)
        composition = _composition_of(campaign)  # a composition's trials store their elements

        def work(session: ClientSession) -> list[TrialDocument]:
            # The sequences are taken in the transaction: a close (which writes the same
            # campaign document) then commits wholly before or after this batch.
            remembered = None if request is None else {"id": request, "batch": trials[0].batch}
            start = self._allocate(campaign, name, len(trials), session, batches, remembered)
            documents = [
                trial_to_document(t, campaign, start + i, composition) for i, t in enumerate(trials)
            ]
            for document in documents:
                document.id = ObjectId()
            _insert(documents, session)
            return documents

        try:
            documents = _transaction(work)
        except DuplicateKeyError:
            raise ConcurrentProposalError(
                f"campaign {name!r}: another proposal took some of these candidates; propose again"
            ) from None
        return [trial_from_document(d, name) for d in documents]

    def _allocate(
        self,
        campaign: ObjectId,
        name: str,
        n: int,
        session: ClientSession,
        batches: int | None = None,
        request: dict[str, str] | None = None,
    ) -> int:
        """Reserve ``n`` consecutive trial sequences and one batch, atomically; the first.

        ``request`` (id and batch name) is remembered among the recent proposal requests.

        Replaces "last sequence + 1", which SecantusDB answers by reading and sorting
        every trial of the campaign (0.6 s at 20,000 trials). With ``batches``, the batch
        counter must still be that: two proposals planned on the same trials cannot both
        be stored.

        Raises:
            CampaignClosedError: if the campaign is closed.
            CampaignNotFoundError: if it was deleted.
            ConcurrentProposalError: if a batch was stored after ``batches`` were counted.
        """
        campaigns = CampaignDocument._get_collection()
        counted = {"$exists": True} if batches is None else batches
        for _ in range(2):
            before = campaigns.find_one_and_update(
                {
                    "_id": campaign,
                    "status": {"$ne": CLOSED},
                    "next_sequence": {"$exists": True},
                    "next_batch": counted,
                },
                {"$inc": {"next_sequence": n, "next_batch": 1}}
                | ({} if request is None else {"$push": {"recent_requests": remembered(request)}}),
                projection={"next_sequence": 1},
                session=session,
            )
            if before is not None:
                return int(before["next_sequence"])
            row = campaigns.find_one(
                {"_id": campaign},
                {"status": 1, "next_sequence": 1, "next_batch": 1},
                session=session,
            )
            if row is None:
                break
            if row.get("status") == CLOSED:
                raise CampaignClosedError(name)
            if "next_sequence" in row and "next_batch" in row:
                raise ConcurrentProposalError(
                    f"campaign {name!r}: another proposal stored a batch first; propose again"
                )
            self._start_counters(campaign, row, session)
        raise CampaignNotFoundError(f"campaign {name!r} was deleted")

    @staticmethod
    def _start_counters(campaign: ObjectId, row: dict[str, Any], session: ClientSession) -> None:
        """Counters for a campaign stored before they existed: from its trials, once."""
        campaigns = CampaignDocument._get_collection()
        if "next_sequence" not in row:  # after its last trial
            last = _trials().find({"campaign": campaign}, {"sequence": 1}, session=session)
            start = next((t["sequence"] + 1 for t in last.sort("sequence", -1).limit(1)), 0)
            campaigns.update_one(
                {"_id": campaign, "next_sequence": {"$exists": False}},
                {"$set": {"next_sequence": start}},
                session=session,
            )
        if "next_batch" not in row:  # one per batch name stored
            named = _trials().distinct("batch", {"campaign": campaign}, session=session)
            campaigns.update_one(
                {"_id": campaign, "next_batch": {"$exists": False}},
                {"$set": {"next_batch": len(named)}},
                session=session,
            )

    # -- leases ----------------------------------------------------------------------
    def release_expired(self, name: str) -> int:
        """Return the running trials whose lease ran out to the queue; how many.

        Claims do so first; an oracle that measures what no instrument holds does too. On
        a closed campaign they are abandoned instead, as a claim there abandons them.
        """
        queue = self._queue(name)
        if queue.get("status") == CLOSED:
            return self._sweep(queue["_id"])
        return self._release_expired(queue["_id"])

    def _release_expired(self, campaign: ObjectId) -> int:
        expired = {
            "campaign": campaign,
            "status": TrialStatus.RUNNING.value,
            "lease_expires_at": {"$lt": utcnow()},
            **_NO_SAMPLE,  # partly measured or handed on: its sample exists, it stays
        }
        # A read first: it matches nothing almost always, and costs less than a write.
        if _trials().find_one(expired, {"_id": 1}) is None:
            return 0
        result = _trials().update_many(
            expired,
            {
                "$set": {"status": PROPOSED, "updated_at": utcnow()},
                "$unset": {"claimed_by": "", "claim_token": "", "lease_expires_at": ""},
            },
        )
        return result.modified_count

    def release(self, name: str, trial_ids: Iterable[str], instrument: str) -> int:
        """Return trials an instrument holds to ``proposed`` (a claim that failed); how many.

        On a campaign closed meanwhile they are abandoned instead.
        """
        queue = self._queue(name)
        result = _trials().update_many(
            {
                "_id": {"$in": [parse_id(t) for t in trial_ids]},
                "campaign": queue["_id"],
                "status": TrialStatus.RUNNING.value,
                "claimed_by": instrument,
            },
            {
                "$set": {"status": PROPOSED, "updated_at": utcnow()},
                "$unset": {"claimed_by": "", "claim_token": "", "lease_expires_at": ""},
            },
        )
        if self._queue(name).get("status") == CLOSED:  # read after: a close may be newer
            self._sweep(queue["_id"])
        return result.modified_count

    def _waiting(self, queue: dict[str, Any], count: int) -> tuple[list[ObjectId], int]:
        """Ids of the ``count`` oldest proposed trials, and the queue floor after them.

        SecantusDB decodes every document an index lookup matches, whatever the limit,
        so "proposed, sorted by sequence, limit n" reads the whole queue (~30 us per
        trial: 0.1-0.3 s at a queue 2,000 deep). Instead this reads sequence windows of
        the (campaign, status, sequence) index, each costing what it matches: first
        ``[0, floor + count)``, which also catches trials that expired leases returned
        below the floor, then windows twice as wide each time, the last one open.

        The floor (``queue_floor``) is a hint, never a correctness condition: every read
        starts at sequence 0, so a trial below it is still found, only more slowly.
        """
        end, floor = queue.get("next_sequence"), queue.get("queue_floor", 0)
        query = {"campaign": queue["_id"], "status": PROPOSED}
        found: list[dict[str, Any]] = []
        low, high, width = 0, floor + count, count
        while True:
            last = end is None or high >= end
            window = {"$gte": low} if last else {"$gte": low, "$lt": high}
            found += _trials().find({**query, "sequence": window}, {"sequence": 1})
            if last or len(found) >= count:
                break
            width *= 2
            low, high = high, high + width
        found.sort(key=_sequence)
        chosen, rest = found[:count], found[count:]
        if rest:  # the oldest trial left waiting
            floor = rest[0]["sequence"]
        elif not last:  # nothing waits below the window read
            floor = high
        else:
            floor = chosen[-1]["sequence"] + 1 if chosen else low
        return [row["_id"] for row in chosen], floor

    def _raise_floor(self, queue: dict[str, Any], floor: int) -> None:
        # $max: racing claims never move it back; trials returned below it are still
        # found by the window that starts at 0.
        if floor > queue.get("queue_floor", 0):
            CampaignDocument._get_collection().update_one(
                {"_id": queue["_id"]}, {"$max": {"queue_floor": floor}}
            )

    def has_waiting(self, name: str) -> bool:
        """Whether proposed trials wait for an instrument (another claim may take them)."""
        queue = self._queue(name)
        ids, floor = self._waiting(queue, 1)
        self._raise_floor(queue, floor)
        return bool(ids)

    def claim(
        self,
        name: str,
        instrument: str,
        count: int,
        lease_seconds: float,
        token: str | None = None,
    ) -> list[Trial]:
        """Lease up to ``count`` proposed trials to an instrument, oldest first.

        Reads the oldest waiting ids from a narrow window of the queue (see
        :meth:`_waiting`), takes them with one update conditioned on
        ``status == proposed`` that stamps a claim token (``token``, else a unique one),
        and reads back what this claim got. Each trial's update is atomic, so two
        instruments claiming at once never receive the same trial (one may get fewer).

        Raises:
            CampaignClosedError: if the campaign is closed: it leases nothing.
        """
        queue = self._queue(name)
        if queue.get("status") == CLOSED:
            self._sweep(queue["_id"])  # what a lease returned while it closed
            raise CampaignClosedError(name)
        self._release_expired(queue["_id"])
        ids, floor = self._waiting(queue, count)
        if not ids:
            self._raise_floor(queue, floor)
            return []
        collection = _trials()
        token, now = token or uuid.uuid4().hex, utcnow()
        collection.update_many(
            {"_id": {"$in": ids}, "status": PROPOSED},
            {
                "$set": {
                    "status": TrialStatus.RUNNING.value,
                    "claimed_by": instrument,
                    "claim_token": token,
                    "lease_expires_at": now + timedelta(seconds=lease_seconds),
                    "lease_seconds": lease_seconds,
                    "updated_at": now,
                }
            },
        )
        # Read back by _id (point lookups) and keep what this claim leased.
        rows = collection.find({"_id": {"$in": ids}})
        taken = sorted(
            (
                r
                for r in rows
                if r.get("claim_token") == token
                and r["status"] == TrialStatus.RUNNING.value
                and r.get("claimed_by") == instrument
            ),
            key=_sequence,
        )
        self._raise_floor(queue, floor)
        if taken and self._queue(name).get("status") == CLOSED:  # closed while leasing
            self._sweep(queue["_id"], token=token)  # handed out to nobody yet
            raise CampaignClosedError(name)
        return [trial_from_raw(row, name) for row in taken]

    def leaseholders(self, name: str, trial_ids: Iterable[str]) -> dict[str, str]:
        """The instrument holding each of ``trial_ids`` that is running.

        Ids not of the campaign, or not trial ids, are left out: the results naming them
        are refused later, naming the field.
        """
        ids = [ObjectId(i) for i in set(trial_ids) if ObjectId.is_valid(i)]
        if not ids:
            return {}
        rows = _trials().find(
            {"_id": {"$in": ids}, "campaign": self._id(name), "status": TrialStatus.RUNNING.value},
            {"claimed_by": 1},
        )
        return {str(row["_id"]): row["claimed_by"] for row in rows if row.get("claimed_by")}

    def claimed(self, name: str, instrument: str, token: str) -> list[Trial]:
        """The trials an instrument still runs under a claim's token, in queue order.

        A lease that ran out is not returned: its trial goes back to the queue first.
        """
        queue = self._queue(name)
        campaign = queue["_id"]
        if queue.get("status") == CLOSED:
            self._sweep(campaign)  # lapsed leases: the queue is shut
        else:
            self._release_expired(campaign)
        rows = _trials().find(
            {
                "campaign": campaign,
                "status": TrialStatus.RUNNING.value,
                "claimed_by": instrument,
                "claim_token": token,
            }
        )
        return [trial_from_raw(row, name) for row in sorted(rows, key=_sequence)]

    def heartbeat(
        self, name: str, trial_id: str, instrument: str, lease_seconds: float | None = None
    ) -> Trial:
        """Extend an instrument's lease on a running trial, from now.

        Args:
            name: The campaign.
            trial_id: The trial.
            instrument: The leaseholder.
            lease_seconds: The lease from now on (s); None renews it for as long as the
                claim or last heartbeat asked (:data:`DEFAULT_LEASE_SECONDS` for trials
                leased before that was kept), so that a bare heartbeat never shortens it.

        Raises:
            ValueError: if the trial is not running under this instrument's lease.
        """
        leased = {  # _id first: see trial()
            "_id": parse_id(trial_id),
            "campaign": self._id(name),
            "status": TrialStatus.RUNNING.value,
            "claimed_by": instrument,
        }
        if lease_seconds is None:
            row = _trials().find_one(leased, {"lease_seconds": 1}) or {}
            lease_seconds = row.get("lease_seconds") or DEFAULT_LEASE_SECONDS
        now = utcnow()
        expires = now + timedelta(seconds=lease_seconds)
        updated = _trials().update_one(
            leased,
            {
                "$set": {
                    "lease_expires_at": expires,
                    "lease_seconds": lease_seconds,
                    "updated_at": now,
                }
            },
        )
        if not updated.matched_count:
            trial = self.trial(name, trial_id)
            held = trial.status is TrialStatus.RUNNING and trial.claimed_by
            raise TrialStateError(
                f"trial {trial_id} is {trial.status.value}"
                + (f", leased to {trial.claimed_by!r}" if held else "")
                + f"; {instrument!r} holds no lease on it"
            )
        return self.trial(name, trial_id)

    def hand_off(
        self,
        name: str,
        trial_id: str,
        instrument: str | None,
        to: str,
        lease_seconds: float | None = None,
        attempts: int = 5,
    ) -> Trial:
        """Pass a running trial's lease to another instrument (the sample moves on).

        The new holder's lease runs from now; it alone may report the trial's results,
        heartbeat or give it up. The hand-off is kept (``handoffs``): the trial's sample
        exists, so it is not handed out again when a lease runs out. Asked again after it
        was done (:func:`_handed_on`: by an instrument that no longer holds it, wherever
        the trial went since; by an operator, while its hand-off is the trial's last), it
        changes nothing and returns the trial as it now is: a retry after a lost answer
        succeeds. A hand-off to the holder changes nothing (a heartbeat renews a lease).

        Args:
            name: The campaign.
            trial_id: The trial.
            instrument: The leaseholder handing it over; None for an operator, who may
                hand over whoever holds it (a holder gone for good).
            to: The instrument that takes it.
            lease_seconds: The new lease (s); None: as long as the last one asked.
            attempts: Tries while the trial changes hands or status at the same time.

        Raises:
            TrialStateError: if the trial is not running, or runs under another's lease.
        """
        row = self._trial_row(name, trial_id)
        trial = trial_from_raw(row, name)
        if _handed_on(trial, instrument, to):
            return trial  # a retry: it was handed on as asked
        if trial.status is not TrialStatus.RUNNING:
            raise TrialStateError(
                f"trial {trial_id} is {trial.status.value}; only a running trial is handed on"
            )
        if instrument not in (None, trial.claimed_by):
            raise TrialStateError(
                f"instrument: trial {trial_id} is leased to {trial.claimed_by!r}, not to "
                f"{instrument!r}: only its holder (or an admin token) hands it on"
            )
        if trial.claimed_by == to:  # nothing moves, no sample is implied (a heartbeat renews)
            return trial
        lease_seconds = lease_seconds or row.get("lease_seconds") or DEFAULT_LEASE_SECONDS
        now = utcnow()
        updated = _trials().update_one(
            {"_id": row["_id"], "status": row["status"], "claimed_by": trial.claimed_by},
            {
                "$set": {
                    "claimed_by": to,
                    "lease_expires_at": now + timedelta(seconds=lease_seconds),
                    "lease_seconds": lease_seconds,
                    "updated_at": now,
                },
                "$unset": {"claim_token": ""},  # its claim's retry is not the new holder's
                "$push": {
                    "handoffs": asdict(Handoff(trial.claimed_by, to, instrument is None, now))
                },
            },
        )
        if not updated.matched_count:  # handed on or given up meanwhile: read it again
            if attempts <= 1:
                raise TrialStateError(f"trial {trial_id} kept changing hands; nothing moved")
            return self.hand_off(name, trial_id, instrument, to, lease_seconds, attempts - 1)
        return self.trial(name, trial_id)

    def set_status(
        self,
        name: str,
        trial_id: str,
        status: TrialStatus,
        instrument: str | None = None,
        reason: str | None = None,
        operator: bool = True,
    ) -> Trial:
        """Move a trial along its life cycle.

        Giving a trial up (failed, abandoned) records who did (``given_up_by``): the
        instrument named, else an operator, else a caller naming none. It is idempotent:
        the same give-up asked again (same target status, by the same one; a client's
        retry after a lost answer) returns the trial as stored and changes nothing, so
        the first reason stays and no second failure is counted. Any other move of a
        trial given up is refused, naming who gave it up and how. The move is one update
        conditioned on the status and lease read before: of two identical requests
        racing, one moves the trial and both get it back.

        Args:
            name: The campaign.
            trial_id: The trial.
            status: Where it goes.
            instrument: Who asks; a running trial leased to another instrument is refused.
            reason: Why (kept on the trial), for a failed or given-up one.
            operator: Whether an operator asks, who may move a running trial without
                naming its instrument, and give up one no instrument claimed; anyone else
                must name the leaseholder.

        Raises:
            TrialNotFoundError: if the campaign has no such trial.
            TrialStateError: on a forbidden move, another instrument's lease, a trial
                given up otherwise or by another, or a change made meanwhile.
        """
        row = self._trial_row(name, trial_id)
        current = TrialStatus(row["status"])
        giver = _giver(instrument, operator)
        if status in GIVE_UPS and current in GIVE_UPS:
            return self._given_up(name, trial_id, row, status, giver)
        if status not in ALLOWED_TRANSITIONS[current]:
            raise TrialStateError(f"trial {trial_id}: cannot go from {current} to {status}")
        if status in GIVE_UPS and current is TrialStatus.PROPOSED and not operator:
            # a failure counts against the candidate: only one who ran it, or an operator
            raise TrialStateError(
                f"trial {trial_id} is proposed, not running: an instrument gives up only a "
                "trial it claimed (an admin token may give up one that waits)"
            )
        holder = row.get("claimed_by")
        held = current is TrialStatus.RUNNING and holder is not None
        if held and instrument is None and not operator:
            raise TrialStateError(
                f"trial {trial_id} is running, leased to {holder!r}: "
                "instrument: name the instrument that holds the lease"
            )
        if held and instrument is not None and instrument != holder:
            raise TrialStateError(
                f"trial {trial_id} is leased to {holder!r}; {instrument!r} holds no lease on it"
            )
        changes: dict[str, Any] = {"$set": {"status": status.value, "updated_at": utcnow()}}
        if status in GIVE_UPS:  # its candidate and its place in the budget are free again
            changes["$set"]["given_up_by"] = giver
            changes["$unset"] = {"active_candidate": "", "lease_expires_at": ""}
        if reason is not None:
            changes["$set"]["reason"] = reason
        # the status and lease read above must still hold: a reclaim, or an identical
        # request, in between matches nothing
        after = _trials().find_one_and_update(
            {"_id": row["_id"], "status": current.value, "claimed_by": holder},
            changes,
            return_document=ReturnDocument.AFTER,
        )
        if after is not None:
            return trial_from_raw(after, name)
        row = self._trial_row(name, trial_id)
        if status in GIVE_UPS and TrialStatus(row["status"]) in GIVE_UPS:
            return self._given_up(name, trial_id, row, status, giver)  # who came first
        raise TrialStateError(f"trial {trial_id}: its status changed meanwhile, try again")

    @staticmethod
    def _given_up(
        name: str, trial_id: str, row: dict[str, Any], status: TrialStatus, giver: str
    ) -> Trial:
        """A trial already given up, asked to be given up as ``status`` by ``giver``.

        Returns:
            The trial as stored, when this repeats the give-up (same status and giver).

        Raises:
            TrialStateError: naming who gave it up and how, when it does not.
        """
        done, by = TrialStatus(row["status"]), row.get("given_up_by")
        if done is status and by == giver:
            return trial_from_raw(row, name)
        how = f"{done.value} by {_who(by)}" if by is not None else done.value
        why = f" ({row['reason']})" if row.get("reason") else ""
        if done is not status:
            raise TrialStateError(
                f"trial {trial_id}: cannot go from {done} to {status}: it was {how}{why}"
            )
        if by is None:  # given up before who did was recorded
            raise TrialStateError(
                f"trial {trial_id} was already {how}{why}; who did is not recorded, so "
                "this cannot be taken for a repeat"
            )
        hint = (
            f" (an admin token repeats it by naming instrument {by!r})"
            if giver == GIVEN_UP_BY_OPERATOR and _who(by).startswith("instrument ")
            else ""
        )
        raise TrialStateError(
            f"trial {trial_id} was already {how}{why}; {_who(giver)} did not give it up, "
            f"so this is not a repeat{hint}"
        )

    def trial_query(self, campaign: Campaign, text: str) -> dict[str, Any]:
        """The MongoDB query of OPTIMADE filter ``text`` on ``campaign``'s trials.

        A test of results (``values.<outcome>``, ``feasible``) holds for the trials
        whose result it matches, read from the measurements: one query per test, whose
        trial ids the query then lists (a test matching some hundred thousand results
        makes a query of megabytes; MongoDB's limit is 16 MB). So at most
        :data:`MAX_RESULT_TESTS` of them in one filter: ten, each listing every trial of a
        large campaign, kept the embedded database busy for minutes.
        A composition campaign's ``elements`` and ``nelements`` are tested where its
        trials store them (every trial does, once :func:`fill_trial_elements` has run):
        an index serves them. Else they are read from the trials' fraction parameters,
        which reads every trial of the campaign (a count of elements sums one term per
        element of the space for each).

        Raises:
            db.query.FilterError: naming the problem (:func:`db.query.optimade_to_mongo`).
        """
        space = campaign.space
        composition = element_fractions(space)
        # asked only where a filter may name them: one read, not one per listing
        stored = bool(text.strip()) and composition is not None

        def measured(query: dict[str, Any]) -> list[Any]:  # a test of results: their trials
            mine = {"campaign": self._id(campaign.name)}
            return MeasurementDocument._get_collection().distinct("trial", {"$and": [mine, query]})

        elements_stored = stored and self.elements_stored(campaign.name)  # read once

        def translated(results: Callable[[dict[str, Any]], list[Any]]) -> dict[str, Any]:
            return optimade_to_mongo(
                text,
                "trials",
                campaign.outcome_names,
                parameters=space.parameters,
                constraints=campaign.constraints,
                composition=composition,
                elements_stored=elements_stored,
                results=results,
            )

        tests: list[dict[str, Any]] = []

        def counted(query: dict[str, Any]) -> list[Any]:  # counted first, nothing read
            tests.append(query)
            return []

        query = translated(counted)
        if len(tests) > MAX_RESULT_TESTS:
            raise FilterError(
                f"filter: at most {MAX_RESULT_TESTS} tests of results (values.<outcome>, "
                "feasible) in one trials filter; for more, filter the measurements and "
                "then the trials by id"
            )
        return translated(measured) if tests else query

    def elements_stored(self, name: str) -> bool:
        """Whether every trial of campaign ``name`` stores its ``elements`` and ``nelements``.

        A composition campaign's trials do, but for those an older matloop stored that the
        upgrade has not reached (a reader's credentials cannot run it); other campaigns'
        trials store neither. One indexed read.
        """
        lacking = {"campaign": self._id(name), "nelements": None}  # None: missing too
        return _trials().find_one(lacking, {"_id": 1}) is None

    def page_trials(
        self,
        name: str,
        query: dict[str, Any],
        limit: int,
        offset: int,
        sort: Sequence[SortKey] = DEFAULT_ORDERS["trials"],
    ) -> tuple[list[Trial], int]:
        """Trials matching a MongoDB query (from an OPTIMADE filter), and how many match.

        Args:
            name: The campaign.
            query: MongoDB filter (:func:`db.query.optimade_to_mongo`).
            limit: Page size.
            offset: Trials skipped.
            sort: Stored fields and directions (:func:`db.query.mongo_sort`), ending in a
                unique one; by default proposal order.
        """
        found = TrialDocument.objects(campaign=self._document(name), __raw__=query)
        order = [f"-{key}" if way < 0 else str(key) for key, way in sort]
        page = found.order_by(*order).skip(offset).limit(limit).no_dereference()
        return [trial_from_document(d, name) for d in page], found.count()

    # -- measurements ----------------------------------------------------------------
    def measurements(self, name: str) -> list[Measurement]:
        """All measurements of the campaign, in the order they were received."""
        rows = MeasurementDocument._get_collection().find({"campaign": self._id(name)})
        return [measurement_from_raw(r) for r in rows.sort([("received_at", 1), ("_id", 1)])]

    def page_measurements(
        self,
        name: str,
        query: dict[str, Any],
        limit: int,
        offset: int,
        sort: Sequence[SortKey] = DEFAULT_ORDERS["measurements"],
    ) -> tuple[list[Measurement], int]:
        """Measurements matching a MongoDB query, and how many match.

        Args:
            name: The campaign.
            query: MongoDB filter (:func:`db.query.optimade_to_mongo`).
            limit: Page size.
            offset: Measurements skipped.
            sort: Stored fields or expressions, and directions (:func:`db.query.mongo_sort`),
                ending in a unique one; by default the order received.
        """
        campaign = {"campaign": self._id(name)}
        match = {"$and": [campaign, query]} if query else campaign
        collection = MeasurementDocument._get_collection()
        # an outcome whose name holds a dot has no path: sorted on a computed field
        computed = {f"_sort{i}": key for i, (key, _) in enumerate(sort) if isinstance(key, dict)}
        order = {
            f"_sort{i}" if isinstance(key, dict) else key: way for i, (key, way) in enumerate(sort)
        }
        if computed:
            stages = [
                {"$addFields": computed},
                {"$sort": order},
                {"$skip": offset},
                {"$limit": limit},
            ]
            rows = collection.aggregate([{"$match": match}, *stages])
        else:
            rows = collection.find(match).sort(list(order.items())).skip(offset).limit(limit)
        return [measurement_from_raw(r) for r in rows], collection.count_documents(match)

    def _parts_by_key(
        self, campaign: ObjectId, name: str, keys: set[str]
    ) -> dict[str, Measurement]:
        """The partial results stored under ``keys``, on any trial (a key is the campaign's)."""
        # the key first: its sparse index holds only the trials measured in parts. Unique on
        # read, not by the index: two reports racing with one custom key on two trials
        # could both be stored (default keys name their trial, so they never clash)
        rows = _trials().find({"parts.idempotency_key": {"$in": list(keys)}, "campaign": campaign})
        found = [p for row in rows for p in trial_from_raw(row, name).parts]
        return {p.idempotency_key: p for p in found if p.idempotency_key in keys}

    def _measurements_by_key(
        self, campaign: ObjectId, keys: Iterable[str]
    ) -> dict[str, Measurement]:
        """The results stored under ``keys``, as first reported: what a retry repeats."""
        query = {"campaign": campaign, "idempotency_key": {"$in": list(set(keys))}}
        rows = MeasurementDocument._get_collection().find(query)
        return {r["idempotency_key"]: _as_first_reported(measurement_from_raw(r)) for r in rows}

    def correct(self, name: str, corrected: Measurement, reason: str, by: str) -> CorrectionReport:
        """Replace a stored result's values, keeping those replaced, in one transaction.

        The trial stays completed and the result keeps its key, source and time: a retry
        of the lab's first report is still a repeat. Asked again with its key and the
        same values, a correction is a repeat and changes nothing.

        Args:
            name: The campaign.
            corrected: The trial and its right values, in the outcomes' declared units
                (:meth:`~discovery.domain.Measurement.in_units_of`); its
                ``idempotency_key`` is the correction's. Partial: it replaces the outcomes
                it names, and the others keep their values.
            reason: Why the values are replaced.
            by: Who replaces them.

        Raises:
            TrialNotFoundError: if the campaign has no such trial.
            TrialStateError: if the trial has no result to correct.
            ValueError: naming ``idempotency_key`` used for another correction, or
                ``values`` that are those stored.
        """
        campaign, trial = self._id(name), parse_id(corrected.trial_id)
        key = corrected.idempotency_key
        measurements = MeasurementDocument._get_collection()

        def work(session: ClientSession) -> CorrectionReport:
            used = measurements.find_one(
                {"campaign": campaign, "corrections.idempotency_key": key}, session=session
            )
            if used is not None:
                return CorrectionReport(_repeated(measurement_from_raw(used), corrected), True)
            raw = measurements.find_one({"campaign": campaign, "trial": trial}, session=session)
            if raw is None:
                status = self.trial(name, corrected.trial_id).status.value  # or not found
                raise TrialStateError(
                    f"trial {corrected.trial_id} is {status}: it has no result to correct"
                )
            stored = measurement_from_raw(raw)
            right = _corrected_values(stored, corrected)
            if same_reading(stored, right):
                raise ValueError(
                    f"values: {stored.values} are the values stored; nothing to correct"
                )
            was = (stored.values, stored.units, stored.reported, stored.source)
            named = tuple(corrected.values)
            replaced = Correction(key, *was, reason=reason, by=by, at=utcnow(), outcomes=named)
            new = {"values": right.values, "units": right.units}
            new["reported"] = {k: dict(r) for k, r in right.reported.items()}
            after = measurements.find_one_and_update(
                {"_id": raw["_id"]},
                {"$set": new, "$push": {"corrections": correction_to_raw(replaced)}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            return CorrectionReport(measurement_from_raw(after), False)

        try:
            return _transaction(work)
        except DuplicateKeyError:  # the key corrected another trial meanwhile: say which
            return _transaction(work)

    # -- live metrics ----------------------------------------------------------------
    def save_metrics(self, name: str, measurements: int, values: dict[str, Any]) -> None:
        """Store the campaign's metrics after ``measurements`` results.

        A row of the same count is replaced, so a repeated report or a resumed agent
        writes it once.
        """
        MetricsDocument._get_collection().update_one(
            {"campaign": self._id(name), "measurements": measurements},
            {"$set": {"values": values, "recorded_at": utcnow()}},
            upsert=True,
        )

    def metrics_history(self, name: str, after: int = -1) -> list[dict[str, Any]]:
        """Stored metrics rows after ``after`` results, by number of measurements.

        Each row is ``{"measurements": n, **values}``.
        """
        query = {"campaign": self._id(name), "measurements": {"$gt": after}}
        rows = MetricsDocument._get_collection().find(query).sort("measurements", 1)
        return [_metrics_row(r) for r in rows]

    def latest_metrics(self, name: str, count: int, measured: int) -> list[dict[str, Any]]:
        """The last ``count`` rows of :meth:`metrics_history`, oldest first.

        Read through a window of result counts below ``measured`` (the campaign's results
        now) that widens until it holds ``count`` rows, not by sorting every row: a long
        campaign records tens of thousands, and the embedded server reads each one it
        sorts (0.5 s for 20,000).
        """
        if count <= 0:
            return []
        collection = MetricsDocument._get_collection()
        width = count
        while True:
            query = {"campaign": self._id(name), "measurements": {"$gt": measured - width}}
            rows = list(collection.find(query).sort("measurements", 1))
            if len(rows) >= count or measured - width < 0:
                return [_metrics_row(r) for r in rows[-count:]]
            width *= 4

    def page_metrics(
        self, name: str, limit: int, offset: int = 0, latest_first: bool = False
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of the stored metrics rows (as :meth:`metrics_history`), and how many there are.

        A long campaign records a row per stored batch, tens of thousands of them: readers
        take a page of ``limit`` (at least 1) rows, ``latest_first`` for the latest rows.
        """
        campaign = {"campaign": self._id(name)}
        collection = MetricsDocument._get_collection()
        rows = collection.find(campaign).sort("measurements", -1 if latest_first else 1)
        page = [_metrics_row(r) for r in rows.skip(offset).limit(limit)]
        return page, collection.count_documents(campaign)

    def record(
        self,
        name: str,
        measurements: Sequence[Measurement],
        check: RecordCheck | None = None,
        outcomes: Iterable[str] = (),
        attempts: int = 5,
    ) -> RecordReport:
        """Store new measurements and complete their trials, all in one transaction.

        Measurements whose idempotency key is already stored (or repeated within the
        batch) are counted as duplicates and not written again. Callers validate first,
        in ``check`` (:meth:`agents.CampaignAgent.observe`); this enforces integrity only.

        A partial result (:attr:`~discovery.domain.Measurement.partial`) is added to its
        running trial's ``parts``, where its key also counts as stored. The one that brings
        them to every name in ``outcomes`` stores the trial's result, their union
        (:func:`~discovery.domain.merged_parts`), and completes the trial.

        Args:
            name: The campaign.
            measurements: The results to store, all or none.
            check: Called with the reported trials that belong to the campaign (by id)
                and the measurements already stored under the batch's keys (by key),
                before anything is written; raises to refuse the batch. It runs again on
                the fresh state if a concurrent writer stored some of these keys first.
            outcomes: Every outcome a result gives: what completes a trial's parts.
            attempts: Tries while other writers add parts to the same trials at once.

        Raises:
            TrialNotFoundError: if a new result's trial is not in the campaign.
            TrialStateError: if a new result's trial is no longer pending (a part's: not
                running); nothing is written.

        """
        campaign, wanted = self._id(name), set(outcomes)
        if not wanted and any(m.partial for m in measurements):
            raise ValueError("outcomes: needed to tell when a trial's parts are complete")
        # and the trials a key names (SOURCE:TRIAL_ID), which the check holds it against
        named = [t for m in measurements if (t := key_trial(m.idempotency_key))]
        trials = self._trials_by_id(campaign, name, [*(m.trial_id for m in measurements), *named])
        keys = {m.idempotency_key for m in measurements}
        # a part's key is taken as a result's is: for one trial, one reading
        stored = self._parts_by_key(campaign, name, keys)
        stored |= self._measurements_by_key(campaign, keys)
        if check is not None:
            check(trials, stored)
        fresh: dict[str, Measurement] = {}
        for measurement in measurements:
            if measurement.idempotency_key not in stored and not _part_stored(measurement, trials):
                fresh.setdefault(measurement.idempotency_key, measurement)
        for measurement in fresh.values():
            trial = trials.get(measurement.trial_id)
            if trial is None:
                raise TrialNotFoundError(
                    f"trial {measurement.trial_id} not found in campaign {name!r}"
                )
            if not trial.status.is_pending:  # also ends the retry below
                raise TrialStateError(
                    f"trial {trial.id} is {trial.status.value}; "
                    "only proposed or running trials accept results"
                )
            if measurement.partial and trial.status is not TrialStatus.RUNNING:
                raise TrialStateError(
                    f"trial {trial.id} is {trial.status.value}; a partial result needs a lease"
                )
        parts: dict[str, list[Measurement]] = {}
        for measurement in fresh.values():
            if measurement.partial:
                parts.setdefault(measurement.trial_id, []).append(measurement)
        completed = {  # trial -> its result, where its parts now give every outcome
            trial_id: merged_parts([*trials[trial_id].parts, *new])
            for trial_id, new in parts.items()
            if wanted <= {k for p in (*trials[trial_id].parts, *new) for k in p.values}
        }
        whole = [m for m in fresh.values() if not m.partial]
        ids = [ObjectId(m.trial_id) for m in whole]
        now = utcnow()
        documents = [
            measurement_to_document(m, campaign, ObjectId(m.trial_id))
            for m in [*whole, *completed.values()]
        ]
        for document in documents:
            document.id = ObjectId()
            document.received_at = now

        # By _id (membership was checked on the read): the status must still be pending
        # and the lease with the same instrument, so that a racing report, an abandon or
        # a reclaim in between aborts the batch. One update per holder: SecantusDB reads
        # every trial for an $or, but uses the _id index for an $in.
        by_holder: dict[str | None, list[ObjectId]] = {}
        for i in ids:
            by_holder.setdefault(trials[str(i)].claimed_by, []).append(i)

        def work(session: ClientSession) -> None:
            _insert(documents, session)
            for trial_id, new in parts.items():
                trial = trials[trial_id]
                if not _add_parts(trial, new, trial_id in completed, now, session):
                    raise _TrialsMoved
            matched = 0
            for holder, held in by_holder.items():
                matched += (
                    _trials()
                    .update_many(
                        {  # a part stored since the read: the whole result is refused
                            "_id": {"$in": held},
                            "claimed_by": holder,
                            "status": {"$in": PENDING},
                            "parts.0": _NO_PART,
                        },
                        {
                            "$set": {"status": TrialStatus.COMPLETED.value, "updated_at": utcnow()},
                            "$unset": {"lease_expires_at": ""},
                        },
                        session=session,
                    )
                    .matched_count
                )
            if matched != len(ids):  # the transaction aborts as a whole
                raise _TrialsMoved

        if documents or parts:
            try:
                _transaction(work)
            except DuplicateKeyError:
                # A concurrent writer stored some of these first: read and check again.
                return self.record(name, measurements, check, wanted, attempts)
            except _TrialsMoved:  # given up, handed on, or a part came first: check again
                if attempts <= 1:
                    raise TrialStateError(
                        f"trials {', '.join(sorted({*parts, *map(str, ids)}))}: they "
                        "kept changing (status, lease or parts) as this was stored; nothing "
                        "stored (send it again)"
                    ) from None
                return self.record(name, measurements, check, wanted, attempts - 1)
        new = len(whole) + sum(map(len, parts.values()))
        return RecordReport(new, len(measurements) - new, len(whole) + len(completed))

    # -- models ----------------------------------------------------------------------
    @staticmethod
    def model_version(
        name: str, kind: str, data_hash: str, fit: Mapping[str, Any] | None = None
    ) -> str:
        """The version of campaign ``name``'s model of ``kind`` fitted as ``fit`` on ``data_hash``.

        ``"{name}:{kind}:{digest[:12]}"`` with :func:`db.models.model_digest` of the data
        hash and the fit's description, so that two models fitted differently on the same
        data (with and without input warping) are two versions. Without a description the
        digest is the data hash, as every version was before fits were described: models
        registered then keep their versions.
        """
        return f"{name}:{kind}:{model_digest(data_hash, fit)[:12]}"

    @staticmethod
    def has_model(version: str, metric: str | None = None) -> bool:
        """Whether ``version`` is registered (with ``metric`` among its metrics, if named)."""
        query = ModelRecord.objects(version=version)
        if metric is not None:
            query = query.filter(**{f"metrics__{metric}__exists": True})
        return query.count() > 0

    def plugin_origin(self, name: str, kind: str) -> dict[str, Any] | None:
        """The surrogate plugin that fitted the campaign's latest model of ``kind``, if any.

        Returns:
            Its recorded origin (``source``, ``distribution``, ``version``), or None.
        """
        record = (
            ModelRecord.objects(campaign=self._document(name), kind=kind)
            .only("metrics")
            .order_by("-created_at")
            .first()
        )
        origin = None if record is None else record.metrics.get("surrogate_plugin")
        return dict(origin) if isinstance(origin, dict) else None

    def save_model(self, name: str, artifact: ModelArtifact) -> str:
        """Register a trained model; the same model on the same data keeps one version.

        The version is :meth:`model_version` of the artifact's kind, data hash and fit
        (its :data:`db.models.FIT_METRIC` metric): registering it again writes no weights
        and only adds the metrics the record lacks (idempotent).
        """
        fit = artifact.metrics.get(FIT_METRIC)
        version = self.model_version(name, artifact.kind, artifact.data_hash, fit)
        return register_model(
            artifact, version, self._document(name), "application/x-torch-state-dict"
        )

    def load_model(self, version: str) -> ModelArtifact:
        """Load a registered model's weights and metadata by version."""
        return load_model_record(version)

    def counts(self, name: str) -> dict[str, Any]:
        """Trial counts by status and the number of measurements."""
        campaign = self._document(name)
        by_status = {s.value: 0 for s in TrialStatus}
        for row in TrialDocument.objects(campaign=campaign).aggregate(
            [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
        ):
            by_status[row["_id"]] = row["n"]
        return {
            "trials": by_status,
            "measurements": MeasurementDocument.objects(campaign=campaign).count(),
        }


__all__ = [
    "ACTIVE",
    "CLOSED",
    "CLOSED_REASON",
    "DEFAULT_LEASE_SECONDS",
    "GIVEN_UP_BY_CLOSE",
    "GIVEN_UP_BY_OPERATOR",
    "GIVEN_UP_BY_UNNAMED",
    "GIVE_UPS",
    "MAX_POOL_SIZE",
    "CampaignClosedError",
    "CampaignExistsError",
    "CampaignNotFoundError",
    "CampaignStore",
    "CloseReport",
    "ConcurrentProposalError",
    "CorrectionReport",
    "RecordReport",
    "TrialNotFoundError",
    "TrialStateError",
    "parse_id",
]
