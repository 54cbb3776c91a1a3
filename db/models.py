"""Model registry for campaign-free surrogates: weights in GridFS, metadata in ``models``.

A property model trained on a table, on literature records or on a campaign's data is
registered once under ``"{prefix}:{kind}:{digest[:12]}"``, the digest of its data hash and
of how it was fitted (:func:`model_digest`): registering the same model again returns the
stored version and writes nothing. Campaign-bound models (``CampaignStore.save_model``)
and literature taggers (``LiteratureStore.save_tagger``) live in the same collection;
:func:`load_model_record` and :func:`list_model_records` read them all.

Imports no torch: the weights are opaque bytes here.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from mongoengine import NotUniqueError, ValidationError

from db.connection import find_in
from db.convert import iso
from db.documents import CampaignDocument, ModelRecord
from discovery.domain import ModelArtifact
from literature.records import VALUE_PROPERTIES

PREFIX_REGEX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
"""Allowed version prefixes: a name without ``:`` (it separates the version's parts)."""

#: Tagger entities that become property records: the material and each value label.
RECORD_ENTITIES: tuple[str, ...] = ("material", *VALUE_PROPERTIES)

#: The metrics entry that describes how a model was fitted besides its data (its
#: surrogate, input and outcome warps, prior, seed): part of its version (:func:`model_digest`).
FIT_METRIC = "fit"


def model_digest(data_hash: str, fit: Mapping[str, Any] | None = None) -> str:
    """What a model's version is derived from: its training data and how it was fitted.

    The registry keeps the first weights stored under a version and only adds metrics
    to it later, so two different models must never share one: a GP with input warping
    and one without, fitted on the same data, are two models. The same model on the same
    data gives the same digest, so registering it again stays idempotent.

    Args:
        data_hash: SHA-256 of the training inputs and targets (64 hex digits).
        fit: JSON-ready description of the fit (:data:`FIT_METRIC`); None or empty for
            the data alone, as every version was derived before fits were described
            (models registered then keep their versions, and still read).

    Returns:
        64 lower-case hex digits: ``data_hash`` itself when there is no ``fit``.

    Example:
        >>> model_digest("ab" * 32) == "ab" * 32
        True

    """
    if not fit:
        return data_hash
    described = json.dumps(dict(fit), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{data_hash}|fit:{described}".encode()).hexdigest()


def model_version(artifact: ModelArtifact, prefix: str = "model") -> str:
    """The registry version of ``artifact``: ``"{prefix}:{kind}:{digest[:12]}"``.

    The digest is :func:`model_digest` of its data hash and its ``fit`` metric, if any.

    Raises:
        ValueError: naming the field, for a malformed prefix, kind or data hash.

    """
    if not PREFIX_REGEX.match(prefix):
        raise ValueError(f"prefix: {prefix!r} must be letters, digits, '_', '.' or '-'")
    if not artifact.kind or ":" in artifact.kind:
        raise ValueError(f"kind: {artifact.kind!r} must be non-empty and contain no ':'")
    if not re.fullmatch(r"[0-9a-f]{64}", artifact.data_hash or ""):
        raise ValueError(f"data_hash: {artifact.data_hash!r} is not 64 lower-case hex digits")
    digest = model_digest(artifact.data_hash, artifact.metrics.get(FIT_METRIC))
    return f"{prefix}:{artifact.kind}:{digest[:12]}"


def register_model(
    artifact: ModelArtifact,
    version: str,
    campaign: CampaignDocument | None = None,
    content_type: str = "application/x-torch",
) -> str:
    """Store ``artifact`` under ``version`` once: weights in GridFS, metadata in ``models``.

    The one write path of the registry (campaign models, campaign-free models, taggers).

    Args:
        artifact: The trained model.
        version: Its registry version (unique).
        campaign: The campaign it belongs to, if any.
        content_type: MIME type of the GridFS weights file.

    Returns:
        ``version``. When it is already registered, no second GridFS file is written; the
        record only gains the metrics keys and the featurizer version it lacked (a model
        registered by the planner first, completed by training's cross-validation).

    Raises:
        ValueError: naming the model, when the record does not validate.

    """
    existing = ModelRecord.objects(version=version).first()
    if existing is not None:
        new = {f"metrics.{k}": v for k, v in artifact.metrics.items() if k not in existing.metrics}
        if artifact.featurizer_version and not existing.featurizer_version:
            new["featurizer_version"] = artifact.featurizer_version
        if new:
            ModelRecord._get_collection().update_one({"version": version}, {"$set": new})
        return version
    record = ModelRecord(
        kind=artifact.kind,
        version=version,
        campaign=campaign,
        metrics=dict(artifact.metrics),
        data_hash=artifact.data_hash,
        featurizer_version=artifact.featurizer_version,
    )
    try:
        record.validate()  # before the GridFS write: a refused record leaves no file behind
    except ValidationError as error:
        raise ValueError(f"model {version}: {error}") from None
    record.weights.put(artifact.weights, content_type=content_type)
    try:
        record.save()
    except NotUniqueError:
        record.weights.delete()  # a concurrent writer registered it first
    except Exception:
        record.weights.delete()  # e.g. metrics BSON cannot encode: no orphaned weights
        raise
    return version


def save_model_record(artifact: ModelArtifact, prefix: str = "model") -> str:
    """Register a model that belongs to no campaign; idempotent by kind, data and fit.

    Args:
        artifact: The trained model: kind, SHA-256 data hash (64 hex digits), metrics
            (BSON-encodable: str keys, numbers, strings, lists, dicts), weights (bytes,
            stored in GridFS) and the featurizer version it reads.
        prefix: First part of the version, e.g. ``"model"``.

    Returns:
        The version, ``"{prefix}:{kind}:{digest[:12]}"`` (:func:`model_version`). When that
        version is already registered it is returned as it is: no second GridFS file,
        stored metrics kept.

    Raises:
        ValueError: naming the field, for a malformed prefix, kind, data hash or metrics.

    Example:
        >>> version = save_model_record(ModelArtifact("gp", "ab" * 32, {}, b"..."))
        >>> version
        'model:gp:abababababab'

    """
    return register_model(artifact, model_version(artifact, prefix))


def load_model_record(version: str) -> ModelArtifact:
    """A registered model (campaign-bound or not) by version.

    Returns:
        Its artifact with ``version`` and ``featurizer_version`` set and the weights read
        from GridFS.

    Raises:
        LookupError: when no model has that version.

    """
    record = ModelRecord.objects(version=version).first()
    if record is None:
        raise LookupError(f"no model version {version!r}: see `matloop model list`")
    return ModelArtifact(
        kind=record.kind,
        data_hash=record.data_hash,
        metrics=dict(record.metrics),
        weights=record.weights.read(),
        version=record.version,
        featurizer_version=record.featurizer_version,
    )


def describe_model_record(version: str) -> dict[str, Any]:
    """A registered model's metadata, without reading its weights.

    Returns:
        A JSON-ready dict: ``version``, ``kind``, ``created_at`` (ISO 8601, UTC),
        ``campaign`` (its name, or None), ``featurizer_version``, ``data_hash``,
        ``weights_bytes`` (size of the GridFS file) and every stored ``metrics`` entry.

    Raises:
        LookupError: when no model has that version.

    """
    row = ModelRecord._get_collection().find_one({"version": version})
    if row is None:
        raise LookupError(f"no model version {version!r}: see `matloop model list`")
    described = _describe(row, _campaign_names([row]))
    described["metrics"] = dict(row.get("metrics") or {})
    files = ModelRecord._get_db()["model_weights.files"]
    stored = files.find_one({"_id": row["weights"]}, {"length": 1}) if row.get("weights") else None
    described["weights_bytes"] = stored["length"] if stored else None
    return described


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def headline_metrics(kind: str, metrics: Mapping[str, Any]) -> dict[str, float]:
    """The held-out scores a model is compared by that its metrics store nested.

    Derived when read, so models registered before still get them. Only literature
    taggers (``tagger-*``) nest theirs: ``metrics["test"]`` holds per-entity precision,
    recall and F1 on the held-out papers, plus ``"micro"``, pooled. Property models,
    campaign GPs and policies store theirs top level (``val_mae``, ``cv_mae``,
    ``held_out_regret``), so nothing is derived for them.

    Args:
        kind: The model's kind.
        metrics: Its stored metrics.

    Returns:
        For a tagger scored on held-out papers: ``test_micro_f1`` (the score the default
        tagger is chosen by, :meth:`db.literature.LiteratureStore.load_tagger`) and
        ``test_f1_{entity}`` for each of :data:`RECORD_ENTITIES` it was scored on
        (``test_f1_tcValue``); otherwise ``{}``.

    Example:
        >>> headline_metrics("tagger-supermat", {"test": {"micro": {"f1": 0.8}}})
        {'test_micro_f1': 0.8}

    """
    test = metrics.get("test")
    if not kind.startswith("tagger-") or not isinstance(test, Mapping):
        return {}
    found = {"micro": "test_micro_f1"} | {e: f"test_f1_{e}" for e in RECORD_ENTITIES}
    scores = {}
    for entity, name in found.items():
        score = test.get(entity)
        f1 = score.get("f1") if isinstance(score, Mapping) else None
        if isinstance(f1, int | float) and not isinstance(f1, bool) and math.isfinite(f1):
            scores[name] = float(f1)
    return scores


#: The stored fields a listing reads of each model (never its weights).
_LISTED = {
    name: 1
    for name in (
        "version", "kind", "campaign", "metrics", "data_hash", "featurizer_version", "created_at"
    )
}  # fmt: skip


def list_model_records(kind: str | None = None) -> list[dict[str, Any]]:
    """Registered models, oldest first, without their weights.

    Args:
        kind: Only models of this kind (``gp``, ``ensemble``, ``tagger-supermat``, ...), in
            any case; a family before a ``-`` matches each of its kinds (``tagger``: every
            ``tagger-*``).

    Returns:
        One JSON-ready dict per model: ``version``, ``kind``, ``created_at`` (ISO 8601,
        UTC), ``campaign`` (its name, or None), ``featurizer_version``, ``data_hash`` and
        ``metrics``: the top-level scalar metrics (lists and dicts, such as per-trial
        predictions, are left out) and the held-out scores derived from nested ones
        (:func:`headline_metrics`: a tagger's ``test_micro_f1`` and ``test_f1_tcValue``).

    """
    rows = list(
        ModelRecord._get_collection()
        .find(_kind_query(kind), _LISTED)
        .sort([("created_at", 1), ("version", 1)])
    )
    names = _campaign_names(rows)
    return [_describe(row, names) for row in rows]


def page_model_records(
    kind: str | None = None, campaign: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """A page of registered models, newest first, and how many match.

    Every campaign round may register a model, so the registry grows without bound: the
    newest are the ones asked for, and a page holds at most ``limit`` of them.

    Args:
        kind: As for :func:`list_model_records` (any case, a family before a ``-``).
        campaign: Only the models of the campaign of this name (the rows' ``campaign``:
            its surrogates; a property model trained on its data with ``model train
            --campaign`` belongs to none, and names it in its ``source``).
        limit: The most models returned.
        offset: Models skipped first.

    Returns:
        The page's rows, as :func:`list_model_records` gives them, and the number of
        models matching ``kind`` and ``campaign``. Ties in ``created_at`` go by version,
        descending, so pages neither repeat nor skip a model.

    Raises:
        LookupError: naming ``campaign``, for a campaign that does not exist.

    """
    query = _kind_query(kind)
    if campaign is not None:
        found = CampaignDocument._get_collection().find_one({"name": campaign}, {"_id": 1})
        if found is None:
            raise LookupError(f"campaign: no campaign named {campaign!r}")
        query["campaign"] = found["_id"]
    collection = ModelRecord._get_collection()
    rows = list(
        collection.find(query, _LISTED)
        .sort([("created_at", -1), ("version", -1)])
        .skip(offset)
        .limit(limit)
    )
    names = _campaign_names(rows)
    return [_describe(row, names) for row in rows], collection.count_documents(query)


class UnlistedRecordsError(LookupError):
    """A model learned from literature records but lists only their count and hash.

    A model's metrics list at most 20,000 record ids (a MongoDB document holds 16 MB):
    past that, ``records_used`` and ``records_hash`` identify the set, and no listing of
    its records can be given.
    """


def model_record_ids(version: str) -> list[str]:
    """The ids of the literature records a model version learned from (``record_ids``).

    Reads that one metric, however large the model's other metrics are.

    Args:
        version: A registered model version.

    Returns:
        The ids in the order the model lists them; ``[]`` for a model trained on no
        literature records (a campaign's surrogate, a model of a table).

    Raises:
        LookupError: when no model has that version.
        UnlistedRecordsError: for a model that learned from more records than its
            metrics list (their count and hash only).

    """
    row = ModelRecord._get_collection().find_one(
        {"version": version}, {"metrics.record_ids": 1, "metrics.records_used": 1}
    )
    if row is None:
        raise LookupError(f"no model version {version!r}: see `matloop model list`")
    metrics = row.get("metrics") or {}
    ids = metrics.get("record_ids")
    if ids is None and metrics.get("records_used"):
        raise UnlistedRecordsError(
            f"model {version!r} learned from {metrics['records_used']} literature records, "
            "more than its metrics list: only their count and hash (records_used, "
            "records_hash) are stored, so they cannot be listed"
        )
    return [str(i) for i in ids or ()]


#: Up to this many ids, and with no other filter, a model's records are looked up by id;
#: else found in one ordered pass over the records the filter selects. The embedded
#: database checks an ``$in`` against each record it reads, id by id, and reads every
#: record for one combined with another test: 20,000 ids over 5,000 records took 30 s,
#: 400 ids in ``id="..." OR ...`` 11 s, the pass 0.5 s.
IDS_LOOKED_UP = 500


def records_among(
    store: Any,
    ids: Sequence[str],
    query: Mapping[str, Any] | None = None,
    limit: int = 100,
    offset: int = 0,
    sort: str = "material",
) -> tuple[list[dict[str, Any]], int]:
    """A page of the records with these ids (a model's ``record_ids``), and how many there are.

    The rows, order and count of :meth:`db.literature.LiteratureStore.records` for the
    filter ``id HAS ANY ...`` and ``query``, for any number of ids: a record merged into
    another is found as that one (its ``merged_ids``), once.

    Args:
        store: The :class:`~db.literature.LiteratureStore`.
        ids: Record ids, 24 hex digits each; none selects no record.
        query: A MongoDB filter the records must match too (an OPTIMADE filter's).
        limit: Page size.
        offset: Records skipped.
        sort: As for :meth:`~db.literature.LiteratureStore.records`.

    Raises:
        ValueError: naming ``ids``, for one that is no record id; or naming ``sort``.

    """
    from db.literature import PropertyRecordDocument, record_ids, record_order

    wanted = record_ids(ids)
    given = dict(query or {})
    order = record_order(sort)  # a bad sort is refused whichever way the records are found
    if len(wanted) <= IDS_LOOKED_UP and not given:  # each id looked up (the _id index)
        records = PropertyRecordDocument._get_collection()
        found = {raw["_id"] for raw in records.find({"_id": {"$in": wanted}}, {"_id": 1})}
        merged = records.find({"merged_ids": {"$in": wanted}}, {"_id": 1})  # indexed
        found |= {raw["_id"] for raw in merged}
        return store.records(
            {"_id": {"$in": sorted(found)}}, limit, offset, sort, rejected="include"
        )
    chosen = set(wanted)
    ordered = (
        PropertyRecordDocument.objects(__raw__=given)
        .order_by(*order)  # the listing's order, ties and all
        .only("merged_ids")
        .as_pymongo()
    )
    found_in_order = [
        raw["_id"]
        for raw in ordered
        if raw["_id"] in chosen or not chosen.isdisjoint(raw.get("merged_ids") or ())
    ]
    page = found_in_order[offset : offset + limit]
    if not page:  # past the last record
        return [], len(found_in_order)
    # by id, in order; rejected records too: the model learned from them
    rows, _ = store.records({"_id": {"$in": page}}, len(page), 0, sort, rejected="include")
    return rows, len(found_in_order)


def records_gone(ids: Sequence[str]) -> int:
    """How many of these records (a model's ``record_ids``) are no longer stored.

    A record read only in a paper since removed (``literature remove``) is gone; one
    merged into another is not (that one holds it, in its ``merged_ids``).

    Raises:
        ValueError: naming ``ids``, for one that is no record id.
    """
    from db.literature import PropertyRecordDocument, record_ids

    wanted = set(record_ids(ids))
    records = PropertyRecordDocument._get_collection()
    found = {raw["_id"] for raw in find_in(records, "_id", wanted, {"_id": 1})}
    holding = find_in(records, "merged_ids", wanted - found, {"merged_ids": 1})
    found |= {merged for raw in holding for merged in raw["merged_ids"]}
    return len(wanted - found)


def _kind_query(kind: str | None) -> dict[str, Any]:
    """Models of ``kind`` or of its family (``tagger``: ``tagger-*``), in any case."""
    if kind is None:
        return {}
    return {"kind": {"$regex": f"^{re.escape(kind)}(-|$)", "$options": "i"}}


def _campaign_names(rows: list[dict[str, Any]]) -> dict[Any, str]:
    """Campaign id -> name for the campaigns that ``rows`` (raw model records) belong to."""
    ids = list({row["campaign"] for row in rows if row.get("campaign") is not None})
    if not ids:
        return {}
    found = CampaignDocument._get_collection().find({"_id": {"$in": ids}}, {"name": 1})
    return {raw["_id"]: raw["name"] for raw in found}


def _describe(row: dict[str, Any], names: dict[Any, str]) -> dict[str, Any]:
    """A raw model record as a JSON-ready dict: scalar and headline metrics only."""
    metrics = row.get("metrics") or {}
    scalars = {k: v for k, v in metrics.items() if _scalar(v)}
    return {
        "version": row["version"],
        "kind": row["kind"],
        "created_at": iso(row.get("created_at")),
        "campaign": names.get(row.get("campaign")),
        "featurizer_version": row.get("featurizer_version"),
        "data_hash": row.get("data_hash"),
        "metrics": headline_metrics(row["kind"], metrics) | scalars,  # stored ones win
    }


__all__ = [
    "FIT_METRIC",
    "IDS_LOOKED_UP",
    "PREFIX_REGEX",
    "RECORD_ENTITIES",
    "UnlistedRecordsError",
    "describe_model_record",
    "headline_metrics",
    "list_model_records",
    "load_model_record",
    "model_digest",
    "model_record_ids",
    "model_version",
    "page_model_records",
    "records_among",
    "register_model",
    "save_model_record",
]
