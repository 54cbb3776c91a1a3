"""Explicit conversions between domain dataclasses and mongoengine documents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

from bson import DBRef, ObjectId

from db.documents import (
    CampaignDocument,
    CandidateDocument,
    MeasurementDocument,
    ObjectiveEmbedded,
    SettingsEmbedded,
    TrialDocument,
)
from discovery.compositions import present_elements
from discovery.domain import (
    Campaign,
    CampaignSettings,
    Candidate,
    Correction,
    Direction,
    Handoff,
    Measurement,
    Objective,
    OutcomeConstraint,
    Reported,
    Trial,
    TrialStatus,
)
from discovery.spaces import SearchSpace


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC to the millisecond, marked ``Z``, or None.

    MongoDB stores UTC to the millisecond and returns naive datetimes; an aware one is
    converted to UTC first. Always three decimals (``...:01.000Z``), so that a column of
    times reads alike, whether a time was read back or not stored yet.

    Example:
        >>> iso(datetime(2026, 12, 6, 18, 48, 1)), iso(datetime(2026, 12, 6, 18, 48, 0, 942123))
        ('2026-12-06T18:48:01.000Z', '2026-12-06T18:48:00.942Z')
    """
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def campaign_to_document(campaign: Campaign) -> CampaignDocument:
    """Domain campaign -> document (not saved)."""
    settings = campaign.settings
    return CampaignDocument(
        name=campaign.name,
        space=campaign.space.to_dict(),
        objectives=[
            ObjectiveEmbedded(name=o.name, direction=o.direction.value, unit=o.unit)
            for o in campaign.objectives
        ],
        constraints=[{"type": "simplex", **c} for c in campaign.space.to_dict()["simplex"]]
        + [{"type": "outcome", **asdict(c)} for c in campaign.constraints],
        settings=SettingsEmbedded(
            strategy=settings.strategy,
            initial=settings.initial,
            batch_size=settings.batch_size,
            seed=settings.seed,
            prior_model=settings.prior_model,
            budget=settings.budget,
        ),
        pool_size=campaign.pool_size,
        status=campaign.status,
        source=campaign.source,
        source_sha256=campaign.source_sha256,
    )


def campaign_from_document(document: CampaignDocument) -> Campaign:
    """Document -> domain campaign.

    Raises:
        ValueError: naming the campaign, when what is stored breaks a rule added since it
            was created (delete it, or fix the document).
    """
    try:
        return _campaign(document)
    except ValueError as error:
        raise ValueError(f"campaign {document.name!r} as stored: {error}") from None


def _campaign(document: CampaignDocument) -> Campaign:
    settings = document.settings
    return Campaign(
        name=document.name,
        space=SearchSpace.from_dict(document.space, check_room=False),
        objectives=tuple(
            Objective(o.name, Direction(o.direction), o.unit) for o in document.objectives
        ),
        settings=CampaignSettings(
            strategy=settings.strategy,
            initial=settings.initial,
            batch_size=settings.batch_size,
            seed=settings.seed,
            prior_model=settings.prior_model,
            budget=settings.budget,
        ),
        pool_size=document.pool_size,
        status=document.status,
        source=document.source,
        source_sha256=document.source_sha256,
        created_at=document.created_at,
        constraints=tuple(
            OutcomeConstraint(c["name"], c.get("lower"), c.get("upper"), c.get("unit"))
            for c in document.constraints or ()
            if c.get("type") == "outcome"
        ),
    )


def candidate_to_document(candidate: Candidate, campaign: CampaignDocument) -> CandidateDocument:
    """Domain candidate -> document (not saved)."""
    return CandidateDocument(
        campaign=campaign,
        index=candidate.index,
        parameters=dict(candidate.parameters),
        reference=dict(candidate.reference) if candidate.reference is not None else None,
        label=candidate.label,
    )


def candidate_from_raw(raw: dict[str, Any]) -> Candidate:
    """Raw candidate document (``as_pymongo``: pools are large) -> domain candidate."""
    return Candidate(raw["index"], dict(raw["parameters"]), raw.get("reference"), raw.get("label"))


def trial_to_document(
    trial: Trial,
    campaign: CampaignDocument | ObjectId,
    sequence: int,
    composition: Sequence[str] | None = None,
) -> TrialDocument:
    """Domain trial -> document (not saved).

    Args:
        trial: The trial.
        campaign: Its campaign.
        sequence: Its place among the campaign's trials.
        composition: The element symbols of the campaign's molar fractions
            (:func:`discovery.compositions.element_fractions` of its space): the document
            stores the elements the trial holds, and how many; None (a space without
            them): neither.
    """
    present = None if composition is None else present_elements(composition, trial.parameters)
    return TrialDocument(
        campaign=campaign,
        sequence=sequence,
        batch=trial.batch,
        parameters=dict(trial.parameters),
        elements=present,
        nelements=None if present is None else len(present),
        candidate=trial.candidate,
        label=trial.label,
        status=trial.status.value,
        strategy=trial.strategy,
        model_version=trial.model_version,
        acquisition_value=trial.acquisition_value,
        claimed_by=trial.claimed_by,
        lease_expires_at=trial.lease_expires_at,
        reason=trial.reason,
        active_candidate=trial.candidate if trial.status is not TrialStatus.FAILED else None,
    )


def trial_from_document(document: TrialDocument, campaign_name: str) -> Trial:
    """Document -> domain trial."""
    return trial_from_raw(document.to_mongo().to_dict(), campaign_name)


def trial_from_raw(raw: dict[str, Any], campaign_name: str) -> Trial:
    """Raw trial document (pymongo: no mongoengine object, ~50x cheaper) -> domain trial."""
    return Trial(
        campaign=campaign_name,
        parameters=dict(raw["parameters"]),
        batch=raw["batch"],
        status=TrialStatus(raw["status"]),
        candidate=raw.get("candidate"),
        label=raw.get("label"),
        model_version=raw.get("model_version"),
        acquisition_value=raw.get("acquisition_value"),
        strategy=raw.get("strategy"),
        claimed_by=raw.get("claimed_by"),
        lease_expires_at=raw.get("lease_expires_at"),
        reason=raw.get("reason"),
        id=str(raw["_id"]),
        created_at=raw.get("created_at"),
        updated_at=raw.get("updated_at"),
        parts=tuple(part_from_raw(p, str(raw["_id"])) for p in raw.get("parts") or ()),
        handoffs=tuple(Handoff(**h) for h in raw.get("handoffs") or ()),
    )


def _reading_raw(reading: Measurement | Correction) -> dict[str, Any]:
    """A result's (or replaced values') ``values``, ``units`` and ``reported``, as stored."""
    return {
        "values": {k: float(v) for k, v in reading.values.items()},
        "units": dict(reading.units),
        "reported": {
            k: {"value": float(r["value"]), "unit": r["unit"]} for k, r in reading.reported.items()
        },
    }


def part_to_raw(part: Measurement, received_at: datetime) -> dict[str, Any]:
    """A partial result -> the dict a trial's ``parts`` list stores."""
    return {
        **_reading_raw(part),
        "source": part.source,
        "idempotency_key": part.idempotency_key,
        "recorded_by": part.recorded_by,
        "received_at": received_at,
    }


def part_from_raw(raw: Mapping[str, Any], trial_id: str) -> Measurement:
    """A stored partial result of the trial ``trial_id`` -> domain measurement."""
    return replace(measurement_from_raw({**raw, "trial": ObjectId(trial_id)}), partial=True)


def measurement_to_document(
    measurement: Measurement,
    campaign: CampaignDocument | ObjectId,
    trial: TrialDocument | ObjectId,
) -> MeasurementDocument:
    """Domain measurement -> document (not saved); references as documents or ids."""
    return MeasurementDocument(
        campaign=campaign,
        trial=trial,
        **_reading_raw(measurement),
        source=measurement.source,
        idempotency_key=measurement.idempotency_key,
        recorded_by=measurement.recorded_by,
    )


def measurement_from_document(document: MeasurementDocument) -> Measurement:
    """Document -> domain measurement."""
    return measurement_from_raw(document.to_mongo().to_dict())


def measurement_from_raw(raw: dict[str, Any]) -> Measurement:
    """Raw measurement document (pymongo) -> domain measurement."""
    return Measurement(
        trial_id=str(reference_id(raw["trial"])),
        values={k: float(v) for k, v in raw["values"].items()},
        idempotency_key=raw["idempotency_key"],
        source=raw["source"],
        units=dict(raw.get("units") or {}),
        reported=_reported(raw.get("reported")),
        received_at=raw.get("received_at"),
        recorded_by=raw.get("recorded_by"),
        corrections=[correction_from_raw(c) for c in raw.get("corrections") or ()],
    )


def correction_to_raw(correction: Correction) -> dict[str, Any]:
    """Domain correction -> the dict a measurement's ``corrections`` list stores."""
    raw = asdict(correction) | _reading_raw(correction)
    raw["outcomes"] = None if correction.outcomes is None else list(correction.outcomes)
    return raw


def correction_from_raw(raw: Mapping[str, Any]) -> Correction:
    """A stored correction -> domain correction."""
    return Correction(
        idempotency_key=raw["idempotency_key"],
        values={k: float(v) for k, v in raw["values"].items()},
        units=dict(raw.get("units") or {}),
        reported=_reported(raw.get("reported")),
        source=raw["source"],
        reason=raw["reason"],
        by=raw["by"],
        at=raw.get("at"),
        outcomes=None if raw.get("outcomes") is None else tuple(raw["outcomes"]),
    )


def _reported(stored: Mapping[str, Any] | None) -> dict[str, Reported]:
    """A stored ``reported`` field; none (a result stored before it was kept) is empty."""
    return {
        k: Reported(value=float(r["value"]), unit=str(r["unit"])) for k, r in (stored or {}).items()
    }


def reference_id(value: Any) -> ObjectId:
    """The id behind a reference field, whether dereferenced, a DBRef or a bare id."""
    if isinstance(value, DBRef):
        return value.id
    return value.pk if hasattr(value, "pk") else value
