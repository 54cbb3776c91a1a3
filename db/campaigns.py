"""Campaign repository: everything the agent stores and reads, as domain objects.

Writes that touch several documents (a campaign with its pool, a batch of trials, a batch
of measurements with their trials' status) run in one transaction: all or nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from mongoengine import Document, NotUniqueError, ValidationError
from pymongo.client_session import ClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError

from db import connection
from db.convert import (
    campaign_from_document,
    campaign_to_document,
    candidate_from_raw,
    candidate_to_document,
    measurement_from_document,
    measurement_to_document,
    reference_id,
    trial_from_document,
    trial_to_document,
)
from db.documents import (
    CampaignDocument,
    CandidateDocument,
    MeasurementDocument,
    ModelRecord,
    TrialDocument,
    utcnow,
)
from discovery.domain import (
    ALLOWED_TRANSITIONS,
    Campaign,
    Candidate,
    Measurement,
    ModelArtifact,
    Trial,
    TrialStatus,
)

T = TypeVar("T")


class CampaignNotFoundError(LookupError):
    """No campaign of that name."""


class CampaignExistsError(ValueError):
    """A campaign of that name already exists."""


class TrialNotFoundError(LookupError):
    """No such trial in the campaign."""


class TrialStateError(ValueError):
    """The trial is not in a state that allows this (no longer pending, leased to another)."""


class ConcurrentProposalError(RuntimeError):
    """Another proposal took a candidate first (retry the proposal)."""


@dataclass(frozen=True)
class RecordReport:
    """Outcome of :meth:`CampaignStore.record`: how many were new, how many repeats."""

    stored: int
    duplicates: int


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


def parse_id(text: str, field: str = "trial_id") -> ObjectId:
    """Parse a document id, raising ``ValueError`` naming ``field`` when malformed."""
    try:
        return ObjectId(text)
    except (InvalidId, TypeError):
        raise ValueError(f"{field}: {text!r} is not a valid id") from None


class CampaignStore:
    """Persistence of campaigns, pools, trials, measurements and models (connected MongoDB)."""

    # -- campaigns -----------------------------------------------------------------
    def create(self, campaign: Campaign, candidates: Sequence[Candidate] = ()) -> Campaign:
        """Store a new campaign with its pool, atomically.

        Raises:
            CampaignExistsError: if the name is taken.
            ValueError: if a document fails validation (message names the field).

        """
        document = campaign_to_document(campaign)
        document.pool_size = len(candidates)
        document.id = ObjectId()
        pool = [candidate_to_document(c, document) for c in candidates]
        for candidate in pool:
            candidate.id = ObjectId()

        def work(session: ClientSession) -> None:
            _insert([document], session)
            _insert(pool, session)

        try:
            _transaction(work)
        except (DuplicateKeyError, NotUniqueError):
            raise CampaignExistsError(f"campaign {campaign.name!r} already exists") from None
        except ValidationError as error:
            raise ValueError(f"campaign {campaign.name!r}: {error}") from None
        return campaign_from_document(CampaignDocument.objects.get(id=document.id))

    def _document(self, name: str) -> CampaignDocument:
        document = CampaignDocument.objects(name=name).first()
        if document is None:
            raise CampaignNotFoundError(f"no campaign named {name!r}")
        return document

    def get(self, name: str) -> Campaign:
        """Load a campaign by name (raises :class:`CampaignNotFoundError`)."""
        return campaign_from_document(self._document(name))

    def campaigns(self) -> list[Campaign]:
        """All campaigns, oldest first."""
        return [campaign_from_document(d) for d in CampaignDocument.objects.order_by("created_at")]

    def delete(self, name: str) -> None:
        """Delete a campaign and everything that hangs off it (pool, trials, results, models)."""
        document = self._document(name)
        for record in ModelRecord.objects(campaign=document):
            record.weights.delete()
        for cls in (MeasurementDocument, TrialDocument, CandidateDocument, ModelRecord):
            cls.objects(campaign=document).delete()
        document.delete()

    # -- pool ------------------------------------------------------------------------
    def candidates(self, name: str) -> list[Candidate]:
        """The campaign's pool, ordered by index."""
        query = CandidateDocument.objects(campaign=self._document(name)).order_by("index")
        # Raw documents: building mongoengine objects costs ~1 ms each on large pools.
        raws = query.only("index", "parameters", "reference").as_pymongo()
        return [candidate_from_raw(raw) for raw in raws]

    # -- trials ----------------------------------------------------------------------
    def trials(self, name: str, statuses: Iterable[TrialStatus] | None = None) -> list[Trial]:
        """Trials in proposal order, optionally only those with one of ``statuses``."""
        query = TrialDocument.objects(campaign=self._document(name))
        if statuses is not None:
            query = query.filter(status__in=[s.value for s in statuses])
        return [trial_from_document(d, name) for d in query.order_by("sequence").no_dereference()]

    def trial(self, name: str, trial_id: str) -> Trial:
        """One trial of the campaign (raises :class:`TrialNotFoundError`)."""
        document = (
            TrialDocument.objects(campaign=self._document(name), id=parse_id(trial_id))
            .no_dereference()
            .first()
        )
        if document is None:
            raise TrialNotFoundError(f"trial {trial_id} not found in campaign {name!r}")
        return trial_from_document(document, name)

    def trials_by_id(self, name: str, ids: Iterable[str]) -> dict[str, Trial]:
        """The campaign's trials among ``ids`` (malformed or foreign ids are left out)."""
        campaign = self._document(name)
        valid = [ObjectId(i) for i in set(ids) if ObjectId.is_valid(i)]
        # By _id alone (the campaign is checked here): it keeps the _id index in use.
        found = TrialDocument.objects(id__in=valid).no_dereference()
        return {
            str(d.id): trial_from_document(d, name)
            for d in found
            if reference_id(d.campaign) == campaign.id
        }

    def add_trials(self, name: str, trials: Sequence[Trial]) -> list[Trial]:
        """Store a batch of new trials atomically; returns them with ids and timestamps."""
        campaign = self._document(name)
        last = TrialDocument.objects(campaign=campaign).order_by("-sequence").first()
        start = 0 if last is None else last.sequence + 1
        documents = [trial_to_document(t, campaign, start + i) for i, t in enumerate(trials)]
        for document in documents:
            document.id = ObjectId()
        try:
            _transaction(lambda session: _insert(documents, session))
        except DuplicateKeyError:
            raise ConcurrentProposalError(
                f"campaign {name!r}: another proposal took some of these candidates; propose again"
            ) from None
        return [trial_from_document(d, name) for d in documents]

    # -- leases ----------------------------------------------------------------------
    def release_expired(self, name: str) -> int:
        """Return running trials whose lease has expired to ``proposed``; how many."""
        return TrialDocument.objects(
            campaign=self._document(name),
            status=TrialStatus.RUNNING.value,
            lease_expires_at__lt=utcnow(),
        ).update(
            set__status=TrialStatus.PROPOSED.value,
            unset__claimed_by=True,
            unset__lease_expires_at=True,
            set__updated_at=utcnow(),
        )

    def claim(self, name: str, instrument: str, count: int, lease_seconds: float) -> list[Trial]:
        """Lease up to ``count`` proposed trials to an instrument, oldest first.

        Three round trips whatever ``count``: read candidate ids, take them with one
        update conditioned on ``status == proposed`` that stamps a unique claim token,
        read back what this claim got. Each trial's update is atomic, so two instruments
        claiming at once never receive the same trial (one may get fewer).
        """
        campaign = self._document(name)
        self.release_expired(name)
        collection = TrialDocument._get_collection()
        waiting = (
            collection.find(
                {"campaign": campaign.id, "status": TrialStatus.PROPOSED.value}, {"_id": 1}
            )
            .sort("sequence", 1)
            .limit(count)
        )
        ids = [row["_id"] for row in waiting]
        if not ids:
            return []
        token, now = uuid.uuid4().hex, utcnow()
        collection.update_many(
            {"_id": {"$in": ids}, "status": TrialStatus.PROPOSED.value},
            {
                "$set": {
                    "status": TrialStatus.RUNNING.value,
                    "claimed_by": instrument,
                    "claim_token": token,
                    "lease_expires_at": now + timedelta(seconds=lease_seconds),
                    "updated_at": now,
                }
            },
        )
        taken = TrialDocument.objects(claim_token=token).order_by("sequence").no_dereference()
        return [trial_from_document(d, name) for d in taken]

    def heartbeat(self, name: str, trial_id: str, instrument: str, lease_seconds: float) -> Trial:
        """Extend an instrument's lease on a running trial.

        Raises:
            ValueError: if the trial is not running under this instrument's lease.
        """
        updated = TrialDocument.objects(
            campaign=self._document(name),
            id=parse_id(trial_id),
            status=TrialStatus.RUNNING.value,
            claimed_by=instrument,
        ).update(
            set__lease_expires_at=utcnow() + timedelta(seconds=lease_seconds),
            set__updated_at=utcnow(),
        )
        if not updated:
            trial = self.trial(name, trial_id)
            raise TrialStateError(
                f"trial {trial_id} is {trial.status.value}"
                + (f", leased to {trial.claimed_by!r}" if trial.claimed_by else "")
                + f"; {instrument!r} holds no lease on it"
            )
        return self.trial(name, trial_id)

    def set_status(self, name: str, trial_id: str, status: TrialStatus) -> Trial:
        """Move a trial along its life cycle (raises ``ValueError`` on a forbidden move)."""
        current = self.trial(name, trial_id)
        if status not in ALLOWED_TRANSITIONS[current.status]:
            raise TrialStateError(f"trial {trial_id}: cannot go from {current.status} to {status}")
        changes: dict[str, Any] = {"set__status": status.value, "set__updated_at": utcnow()}
        if status in (TrialStatus.FAILED, TrialStatus.ABANDONED):
            changes.update(unset__active_candidate=True, unset__lease_expires_at=True)
        updated = TrialDocument.objects(id=parse_id(trial_id), status=current.status.value).update(
            **changes
        )
        if not updated:
            raise ValueError(f"trial {trial_id}: its status changed meanwhile, try again")
        return self.trial(name, trial_id)

    def page_trials(
        self, name: str, query: dict[str, Any], limit: int, offset: int
    ) -> tuple[list[Trial], int]:
        """Trials matching a MongoDB query (from an OPTIMADE filter), in proposal order."""
        found = TrialDocument.objects(campaign=self._document(name), __raw__=query)
        page = found.order_by("sequence").skip(offset).limit(limit).no_dereference()
        return [trial_from_document(d, name) for d in page], found.count()

    # -- measurements ----------------------------------------------------------------
    def measurements(self, name: str) -> list[Measurement]:
        """All measurements of the campaign, in the order they were received."""
        query = MeasurementDocument.objects(campaign=self._document(name)).order_by("received_at")
        return [measurement_from_document(d) for d in query.no_dereference()]

    def page_measurements(
        self, name: str, query: dict[str, Any], limit: int, offset: int
    ) -> tuple[list[Measurement], int]:
        """Measurements matching a MongoDB query, in the order they were received."""
        found = MeasurementDocument.objects(campaign=self._document(name), __raw__=query)
        page = found.order_by("received_at", "id").skip(offset).limit(limit).no_dereference()
        return [measurement_from_document(d) for d in page], found.count()

    def find_measurements(self, name: str, keys: Iterable[str]) -> dict[str, Measurement]:
        """Stored measurements by idempotency key, for the given keys."""
        query = MeasurementDocument.objects(
            campaign=self._document(name), idempotency_key__in=list(keys)
        ).no_dereference()
        return {d.idempotency_key: measurement_from_document(d) for d in query}

    def record(self, name: str, measurements: Sequence[Measurement]) -> RecordReport:
        """Store new measurements and complete their trials, all in one transaction.

        Measurements whose idempotency key is already stored (or repeated within the
        batch) are counted as duplicates and not written again. Callers validate first
        (:meth:`agents.CampaignAgent.observe`); this enforces integrity only.

        Raises:
            ValueError: if a trial is no longer pending, naming the trial; nothing is written.

        """
        campaign = self._document(name)
        stored = self.find_measurements(name, (m.idempotency_key for m in measurements))
        fresh: dict[str, Measurement] = {}
        for measurement in measurements:
            if measurement.idempotency_key not in stored:
                fresh.setdefault(measurement.idempotency_key, measurement)
        trials = {
            str(t.id): t
            for t in TrialDocument.objects(
                id__in=[parse_id(m.trial_id) for m in fresh.values()]
            ).no_dereference()
        }
        missing = [m.trial_id for m in fresh.values() if m.trial_id not in trials]
        if missing:
            raise TrialNotFoundError(f"trial {missing[0]} not found in campaign {name!r}")
        documents = [
            measurement_to_document(m, campaign, trials[m.trial_id]) for m in fresh.values()
        ]
        for document in documents:
            document.id = ObjectId()
            document.received_at = utcnow()

        def work(session: ClientSession) -> None:
            _insert(documents, session)
            pending = [s.value for s in TrialStatus if s.is_pending]
            ids = [parse_id(m.trial_id) for m in fresh.values()]
            result = TrialDocument._get_collection().update_many(
                {"_id": {"$in": ids}, "status": {"$in": pending}},
                {
                    "$set": {"status": TrialStatus.COMPLETED.value, "updated_at": utcnow()},
                    "$unset": {"lease_expires_at": ""},
                },
                session=session,
            )
            if result.matched_count != len(ids):  # one update, aborted as a whole
                raise TrialStateError("a reported trial is no longer pending; nothing stored")

        try:
            _transaction(work)
        except DuplicateKeyError:
            # A concurrent writer stored some of these first: count again from the database.
            return self.record(name, measurements)
        return RecordReport(len(documents), len(measurements) - len(documents))

    # -- models ----------------------------------------------------------------------
    def save_model(self, name: str, artifact: ModelArtifact) -> str:
        """Register a trained model; the same kind and data give the same version (idempotent)."""
        campaign = self._document(name)
        version = f"{name}:{artifact.kind}:{artifact.data_hash[:12]}"
        existing = ModelRecord.objects(version=version).first()
        if existing is not None:
            # Same model, maybe registered by the planner first: keep its weights, add any
            # metrics it lacked (cross-validation from training, say).
            new = {
                f"metrics.{k}": v for k, v in artifact.metrics.items() if k not in existing.metrics
            }
            if new:
                ModelRecord._get_collection().update_one({"version": version}, {"$set": new})
        else:
            record = ModelRecord(
                kind=artifact.kind,
                version=version,
                campaign=campaign,
                metrics=dict(artifact.metrics),
                data_hash=artifact.data_hash,
            )
            record.weights.put(artifact.weights, content_type="application/x-torch-state-dict")
            try:
                record.save()
            except NotUniqueError:
                record.weights.delete()  # a concurrent writer registered it first
        return version

    def load_model(self, version: str) -> ModelArtifact:
        """Load a registered model's weights and metadata by version."""
        record = ModelRecord.objects(version=version).first()
        if record is None:
            raise LookupError(f"no model version {version!r}")
        return ModelArtifact(
            record.kind, record.data_hash, dict(record.metrics), record.weights.read(), version
        )

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
    "CampaignExistsError",
    "CampaignNotFoundError",
    "CampaignStore",
    "ConcurrentProposalError",
    "RecordReport",
    "TrialNotFoundError",
    "TrialStateError",
    "parse_id",
]
