"""Lineage both ways: paper -> record -> property model -> campaign model -> trial -> result.

Every link is stored where it is made: a result names its trial; a trial the campaign
model that proposed it (``model_version``), its strategy and batch; a campaign model the
property model its GP took as a prior mean (its ``prior_model`` metric: the label of the
:class:`discovery.priors.NamedPrior` it was fitted with); a property model trained on
literature records their ids and the papers they had been read in then (``record_ids``,
``record_papers``: :func:`agents.models.prepare_records`); a record its papers. Each
function here walks them in one call:

- :func:`lineage_of_trial` (and :func:`lineage_of_measurement`, from a result's
  idempotency key): backward, from a trial to its result, the model that proposed it,
  that model's prior, the records the prior learned from and their papers.
- :func:`lineage_of_paper` and :func:`lineage_of_model`: forward, from a paper (or a
  model version) to the property models trained on its records, the campaigns whose
  models took those as a prior, and the trials they proposed with their results: counts
  in full, the trials a page at a time (a paper may feed thousands).

What changed since is said, never an error: a record a curator rejected since counts as
rejected, one merged into another is found as that one (its ``merged_ids``), one read only
in papers removed since (``literature remove``) is gone; a removed paper is listed with
``stored: false`` while a model's lineage names it, and its forward lineage still
answers.

Trials go by ``model_version`` and their results by ``trial``, both indexed; records by
id and ``merged_ids`` (past :data:`db.models.IDS_LOOKED_UP` ids, one pass over the
records' ids, as :func:`db.models.records_among` does), models by version, papers by key.
A forward walk also reads four filters no index holds, each once per call, never per
trial: a paper's records by their ``papers`` (as the records filter ``paper="..."`` finds
them), the property models naming a paper by ``metrics.record_papers`` (as ``literature
remove`` finds them), the campaign models naming a prior by ``metrics.prior_model`` and
the campaigns set to take it (``settings.prior_model``). Imports no torch.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from bson import ObjectId

from db.campaigns import CampaignNotFoundError, TrialNotFoundError, parse_id
from db.convert import iso, measurement_from_raw, reference_id
from db.documents import (
    CampaignDocument,
    MaterialDocument,
    MeasurementDocument,
    ModelRecord,
    TrialDocument,
)
from db.literature import (
    PaperDocument,
    PropertyRecordDocument,
    RemovedPaperDocument,
    is_hash_start,
    key_starting,
    resolve_paper_key,
)
from db.models import IDS_LOOKED_UP
from db.query import FilterError, optimade_to_mongo
from discovery.compositions import element_fractions, formula_of
from discovery.domain import IMPORTED
from discovery.spaces import SearchSpace
from literature.records import LOWER_BOUNDS, UPPER_BOUNDS

#: Most ids (records, papers) one answer lists; its counts are always whole. A model's
#: records in full: ``GET /models/{version}/records``, ``literature records --model``.
MAX_LISTED = 1000

#: The fields of a trial an answer gives (parameters only for one trial, backward).
_TRIAL_FIELDS = {
    name: 1
    for name in (
        "campaign", "sequence", "batch", "parameters", "candidate", "label", "status",
        "strategy", "model_version", "acquisition_value", "claimed_by", "reason",
        "created_at", "updated_at", "parts", "handoffs",
    )
}  # fmt: skip

#: A campaign model's fields the backward lineage reads (its trial ids only to count them).
_CAMPAIGN_MODEL_FIELDS = {
    name: 1
    for name in (
        "version", "kind", "campaign", "created_at", "metrics.prior_model",
        "metrics.prior_scale", "metrics.fit", "metrics.train_trials", "metrics.n_train",
    )
}  # fmt: skip

#: A property model's fields: what it predicts and its literature lineage.
_PROPERTY_FIELDS = {
    name: 1
    for name in (
        "version", "kind", "campaign", "created_at", "metrics.source", "metrics.target",
        "metrics.unit", "metrics.min_confidence", "metrics.record_ids",
        "metrics.records_used", "metrics.record_papers", "metrics.papers_used",
        "metrics.table_sha256",
    )
}  # fmt: skip

#: A property model's fields in a paper's forward lineage (no ids).
_MODEL_BRIEF = {
    name: 1
    for name in (
        "version", "kind", "campaign", "created_at", "metrics.source", "metrics.target",
        "metrics.unit", "metrics.records_used", "metrics.papers_used",
    )
}  # fmt: skip

#: A record's fields in a paper's forward lineage.
_RECORD_FIELDS = {
    name: 1
    for name in (
        "material", "formula", "property", "value", "low", "high", "unit", "qualifier",
        "conditions", "rejection", "merged_ids",
    )
}  # fmt: skip


# -- backward ------------------------------------------------------------------------------


def lineage_of_trial(campaign: str, trial_id: str, with_prior: bool = True) -> dict[str, Any]:
    """A trial's lineage back to the papers: its result, model, prior, records and papers.

    Args:
        campaign: The campaign's name.
        trial_id: The trial's id.
        with_prior: False leaves out the prior model's lineage and its notes (``prior``
            None, a note saying so): for a reader of this campaign alone, as the prior's
            data may be another campaign's.

    Returns:
        A JSON-ready dict: ``campaign`` (name, status, strategy, settings' ``prior_model``),
        ``trial`` (id, sequence, batch, status, parameters, formula, strategy,
        model_version, acquisition_value, claimed_by, ...), ``measurements`` (its result,
        if any: a list of one), ``model`` (the campaign model that proposed it, None for a
        trial drawn without one: ``stored``, kind, ``prior_model``, ``prior_scale``,
        ``trained_on_trials``), ``prior`` (the property model that model took as its
        prior mean, None without one: see :func:`property_model_lineage`) and ``notes``
        (what is missing or changed since, in words).

    Raises:
        CampaignNotFoundError: for an unknown campaign.
        TrialNotFoundError: for a trial not in the campaign.
        ValueError: naming ``trial_id``, for text that is no id.
    """
    found = _campaign(campaign)
    # _id first: SecantusDB serves the first clause it can from an index
    row = TrialDocument._get_collection().find_one(
        {"_id": parse_id(trial_id), "campaign": found["_id"]}, _TRIAL_FIELDS
    )
    if row is None:
        raise TrialNotFoundError(f"trial {trial_id} not found in campaign {campaign!r}")
    return _backward(found, row, with_prior)


def lineage_of_measurement(campaign: str, key: str, with_prior: bool = True) -> dict[str, Any]:
    """:func:`lineage_of_trial` of the trial whose result was stored under ``key``.

    Args:
        campaign: The campaign's name.
        key: The result's idempotency key, a correction's of it, or a partial result's.
        with_prior: As for :func:`lineage_of_trial`.

    Raises:
        CampaignNotFoundError: for an unknown campaign.
        LookupError: ``measurement: ...`` when no result of the campaign has that key.
    """
    found = _campaign(campaign)
    results, trials = MeasurementDocument._get_collection(), TrialDocument._get_collection()
    raw = None
    for field in ("idempotency_key", "corrections.idempotency_key"):  # each indexed
        raw = results.find_one({"campaign": found["_id"], field: key}, {"trial": 1})
        if raw is not None:
            break
    if raw is None:  # a partial result's key: its trial's (the key's index first)
        part_of = trials.find_one({"parts.idempotency_key": key, "campaign": found["_id"]})
        raw = None if part_of is None else {"trial": part_of["_id"]}
    if raw is None:
        raise LookupError(
            f"measurement: no result with idempotency key {key!r} in campaign {campaign!r}"
        )
    trial = trials.find_one({"_id": reference_id(raw["trial"])}, _TRIAL_FIELDS)
    if trial is None:  # a result outlives no trial (a campaign's are deleted together)
        raise TrialNotFoundError(f"measurement {key!r}: its trial is not stored")
    return _backward(found, trial, with_prior)


#: The note of a lineage given without its prior model's (``with_prior=False``).
PRIOR_WITHHELD = "the prior model's own lineage is withheld: this token reads its campaigns alone"


def _backward(
    campaign: Mapping[str, Any], row: Mapping[str, Any], with_prior: bool = True
) -> dict[str, Any]:
    """The lineage of trial ``row`` (raw) of ``campaign`` (raw, :func:`_campaign`)."""
    notes: list[str] = []
    result = MeasurementDocument._get_collection().find_one({"trial": row["_id"]})
    version = row.get("model_version")
    model = prior = None
    if version is None and row.get("strategy") == IMPORTED:
        source = (result or {}).get("source")
        notes.append(
            f"trial {row['_id']} was measured before the campaign began: its result came "
            f"with the campaign's pool (source {source!r}), and no model proposed it"
        )
    elif version is None:
        notes.append(
            f"trial {row['_id']} was proposed by no model (strategy {row.get('strategy')!r}: "
            "a random draw, such as the initial design's)"
        )
    else:
        model = _campaign_model(version)
        if not model["stored"]:
            notes.append(f"model {version} that proposed it is not in the registry")
        elif model["prior_model"] is not None and not with_prior:
            notes.append(PRIOR_WITHHELD)
        elif model["prior_model"] is not None:
            prior = property_model_lineage(model["prior_model"])
            notes += prior.pop("notes")
        elif model["anonymous_prior"]:
            notes.append(
                f"model {version} took a prior mean that is no registered model (anonymous)"
            )
    settings = campaign.get("settings") or {}
    return {
        "campaign": {
            "name": campaign["name"],
            "status": campaign.get("status"),
            "strategy": settings.get("strategy"),
            "prior_model": settings.get("prior_model"),
        },
        "trial": _trial(row, _space(campaign), campaign["name"], parameters=True),
        "measurements": [] if result is None else [_measurement(result)],
        "model": model,
        "prior": prior,
        "notes": notes,
    }


def _campaign_model(version: str) -> dict[str, Any]:
    """The campaign model ``version``: kind, prior, how many trials it was fitted on."""
    row = ModelRecord._get_collection().find_one({"version": version}, _CAMPAIGN_MODEL_FIELDS)
    if row is None:
        return {
            "version": version,
            "stored": False,
            "kind": None,
            "campaign": None,
            "created_at": None,
            "surrogate": None,
            "prior_model": None,
            "prior_scale": None,
            "anonymous_prior": False,
            "trained_on_trials": None,
        }
    metrics = row.get("metrics") or {}
    fit: Mapping[str, Any] = metrics["fit"] if isinstance(metrics.get("fit"), Mapping) else {}
    trained = metrics.get("train_trials")
    return {
        "version": version,
        "stored": True,
        "kind": row.get("kind"),
        "campaign": _campaign_names([row.get("campaign")]).get(row.get("campaign")),
        "created_at": iso(row.get("created_at")),
        "surrogate": fit.get("surrogate"),
        "prior_model": metrics.get("prior_model"),
        "prior_scale": metrics.get("prior_scale"),
        "anonymous_prior": fit.get("prior") == "anonymous",
        "trained_on_trials": len(trained) if isinstance(trained, list) else metrics.get("n_train"),
    }


def property_model_lineage(version: str) -> dict[str, Any]:
    """What model ``version`` learned from: its records, their state now, and their papers.

    Args:
        version: A registered model version (a property model's; any model reads).

    Returns:
        A JSON-ready dict: ``version``, ``stored`` (False for a version not registered:
        everything else None or empty), ``kind``, ``created_at``, ``campaign`` (its name
        for a campaign's model), ``source`` (``records:tc``, ``table:...``,
        ``campaign:...``), ``table_sha256`` (of the table's bytes, for a table's),
        ``target``, ``unit``; ``records`` (None for a model trained on
        no literature records): ``used`` (how many), ``listed`` (whether its metrics list
        their ids: past 20,000 only the count), ``ids`` (the first :data:`MAX_LISTED`),
        ``stored``, ``merged`` (found as the record they were merged into),
        ``merged_into`` (id -> that record's id), ``rejected`` and ``rejected_ids`` (by a
        curator, since), ``gone`` and ``gone_ids`` (read only in papers removed since);
        ``papers``: those its records had been read in when it trained (its
        ``record_papers``; else those they are read in now), each ``key``, ``title``,
        ``year``, ``doi``, ``stored``; ``papers_used``; ``papers_since`` (keys of papers
        its records were read in after it trained); ``notes`` (in words).
    """
    row = ModelRecord._get_collection().find_one({"version": version}, _PROPERTY_FIELDS)
    described: dict[str, Any] = {
        "version": version,
        "stored": row is not None,
        "kind": None,
        "created_at": None,
        "campaign": None,
        "source": None,
        "table_sha256": None,
        "target": None,
        "unit": None,
        "records": None,
        "papers": [],
        "papers_used": 0,
        "papers_since": [],
        "notes": [],
    }
    if row is None:
        described["notes"].append(f"prior model {version} is not in the registry")
        return described
    metrics = row.get("metrics") or {}
    described.update(
        kind=row.get("kind"),
        created_at=iso(row.get("created_at")),
        campaign=_campaign_names([row.get("campaign")]).get(row.get("campaign")),
        source=metrics.get("source"),
        table_sha256=metrics.get("table_sha256"),
        target=metrics.get("target"),
        unit=metrics.get("unit"),
    )
    ids, used = metrics.get("record_ids"), metrics.get("records_used")
    if ids is None and not used:
        if metrics.get("source"):  # a table's, a campaign's: no literature records
            sha256 = metrics.get("table_sha256")
            read = f" (sha256 {sha256[:12]}...)" if sha256 else ""
            described["notes"].append(
                f"model {version} was trained on {metrics['source']}{read}, not literature records"
            )
        return described
    notes = described["notes"]
    if ids is None:  # past 20,000: their state is not known, nor are their ids
        states: dict[str, Any] = dict.fromkeys(_UNLISTED) | {"ids": []}
        papers_now: set[str] = set()
        notes.append(
            f"model {version} learned from {used} records, more than its metrics list: only "
            "their count and hash are stored, so which were rejected or are gone is not known"
        )
    else:
        states, papers_now = _record_states([str(i) for i in ids])
    records = {
        "used": int(used) if isinstance(used, int) else len(ids or ()),
        "listed": ids is not None,
        **states,
    }
    described["records"] = records
    if records["rejected"]:  # None when not listed
        notes.append(
            f"{records['rejected']} of the {records['used']} records model {version} was "
            "trained on were rejected by a curator since (`literature reject`)"
        )
    if records["gone"]:
        notes.append(
            f"{records['gone']} of the {records['used']} records model {version} was trained "
            "on are gone: read only in papers removed since (`literature remove`)"
        )
    named = metrics.get("record_papers")
    if named is None:
        keys = sorted(papers_now)
        if ids is not None:
            notes.append(
                f"model {version} lists no papers of its own: those its records are read "
                "in now are given"
            )
    else:
        keys = [str(k) for k in named]
        described["papers_since"] = sorted(papers_now - set(keys))[:MAX_LISTED]
    described["papers_used"] = metrics.get("papers_used", len(keys))
    described["papers"] = _paper_rows(keys[:MAX_LISTED])
    removed = sum(not paper["stored"] for paper in described["papers"])
    if removed:
        notes.append(
            f"{removed} of the {len(described['papers'])} papers model {version} learned from "
            "are no longer stored (`literature remove`)"
        )
    return described


#: The record counts and lists of a model whose metrics do not list its records' ids.
_UNLISTED = ("stored", "merged", "merged_into", "rejected", "rejected_ids", "gone", "gone_ids")


def _record_states(ids: Sequence[str]) -> tuple[dict[str, Any], set[str]]:
    """Where each record of ``ids`` (a model's ``record_ids``) is now, and their papers now.

    A record is stored under its id, or merged into another (that one's ``merged_ids``
    names it), or gone; a stored one may be rejected. Up to :data:`IDS_LOOKED_UP` ids
    are looked up by index; past that, one pass reads every record's id (the embedded
    database checks an ``$in`` id by id against each record it reads).

    Returns:
        The ``records`` counts and ids of :func:`property_model_lineage` (without
        ``used`` and ``listed``), and the keys of the papers the held records cite now.
    """
    wanted = {ObjectId(i): i for i in ids if ObjectId.is_valid(i)}
    fields = {"rejection": 1, "papers": 1, "merged_ids": 1}
    records = PropertyRecordDocument._get_collection()
    if len(wanted) <= IDS_LOOKED_UP:
        chosen = list(wanted)
        found: Iterable[Mapping[str, Any]] = [
            *records.find({"_id": {"$in": chosen}}, fields),
            *records.find({"merged_ids": {"$in": chosen}}, fields),  # indexed
        ]
    else:
        found = records.find({}, fields)
    held: dict[ObjectId, tuple[Mapping[str, Any], bool]] = {}  # id -> (holder, merged)
    for raw in found:
        if raw["_id"] in wanted:
            held[raw["_id"]] = (raw, False)
        for merged in raw.get("merged_ids") or ():
            if merged in wanted and merged not in held:
                held[merged] = (raw, True)
    rejected = [wanted[i] for i, (raw, _) in held.items() if raw.get("rejection")]
    merged_into = {wanted[i]: str(raw["_id"]) for i, (raw, merged) in held.items() if merged}
    gone = [i for i in ids if not ObjectId.is_valid(i) or ObjectId(i) not in held]
    papers_now = {str(p) for raw, _ in held.values() for p in raw.get("papers") or ()}
    order = {text: n for n, text in enumerate(ids)}  # as the model lists them
    rejected.sort(key=order.__getitem__)
    return {
        "ids": list(ids[:MAX_LISTED]),
        "stored": len(held),
        "merged": len(merged_into),
        "merged_into": dict(sorted(merged_into.items(), key=lambda kv: order[kv[0]])[:MAX_LISTED]),
        "rejected": len(rejected),
        "rejected_ids": rejected[:MAX_LISTED],
        "gone": len(gone),
        "gone_ids": gone[:MAX_LISTED],
    }, papers_now


def _paper_rows(keys: Sequence[str]) -> list[dict[str, Any]]:
    """Each paper of ``keys`` cited (key, title, year, doi), in order; ``stored`` False if gone."""
    found = {
        row["key"]: row
        for row in PaperDocument._get_collection().find(
            {"key": {"$in": list(keys)}}, {"key": 1, "title": 1, "year": 1, "doi": 1}
        )
    }
    return [
        {
            "key": key,
            "title": found[key].get("title") if key in found else None,
            "year": found[key].get("year") if key in found else None,
            "doi": found[key].get("doi") if key in found else None,
            "stored": key in found,
        }
        for key in keys
    ]


# -- forward -------------------------------------------------------------------------------


def lineage_of_paper(text: str, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """What a paper fed: its records, the models trained on them, their campaigns and trials.

    Args:
        text: The paper's key or DOI, in any spelling
            :func:`db.literature.resolve_paper_key` reads (``doi:10.1/ABC``,
            ``10.1/abc``, a doi.org link, a start of a file's hash).
        limit: Most trials listed (counts are whole).
        offset: Trials skipped first (in the order proposed: oldest first).

    Returns:
        A JSON-ready dict: ``paper`` (``key``, ``stored``, ``title``, ``year``, ``doi``,
        ``journal``; a removed paper's as it was); ``records`` (``total`` read in it,
        ``rejected``, ``items``: the first :data:`MAX_LISTED`, each ``id``, material,
        formula, property, value, unit, qualifier, ``rejected``; ``removed``: for a
        removed paper, the first :data:`MAX_LISTED` records read in it alone that went
        with it, each ``id``, material, property, value, low, high, qualifier, unit;
        ``removed_total``: how many went); ``models``: the property models trained on its
        records (their lineage names the paper, as ``literature remove`` finds them; or,
        for a model whose lineage lists no papers, one of its records), oldest first;
        then, as :func:`lineage_of_model` gives them, ``campaigns``, ``trials`` and
        ``notes``.

    Raises:
        LookupError: ``paper: ...`` when no paper has that key and no model's lineage
            names it.
    """
    key = resolve_paper_key(text)
    models = ModelRecord._get_collection()
    if is_hash_start(key):  # no stored paper's: a removed one's that a model names?
        key = _named_paper(models, key, text)
    if is_hash_start(key):  # or one a tombstone keeps
        key = key_starting(RemovedPaperDocument._get_collection(), key, text)
    cited = {"key": 1, "title": 1, "year": 1, "doi": 1, "journal": 1}
    paper = PaperDocument._get_collection().find_one({"key": key}, cited)
    # a removed paper: what it was, and the records that went with it
    removed = None if paper else RemovedPaperDocument._get_collection().find_one({"key": key})
    collection = PropertyRecordDocument._get_collection()
    ordered = [("material", 1), ("value", 1), ("_id", 1)]
    records = list(collection.find({"papers": key}, _RECORD_FIELDS).sort(ordered))
    newest = [("created_at", 1), ("version", 1)]
    named = list(models.find({"metrics.record_papers": key}, _MODEL_BRIEF).sort(newest))
    ids = [str(i) for raw in records for i in (raw["_id"], *(raw.get("merged_ids") or ()))]
    unnamed: list[dict[str, Any]] = []
    if ids:  # models whose lineage lists no papers (registered before, or past 20,000)
        query = {"metrics.record_papers": None, "metrics.record_ids": {"$in": ids}}
        unnamed = list(models.find(query, _MODEL_BRIEF).sort(newest))
    if paper is None and removed is None and not named and not unnamed:
        raise LookupError(
            f"paper: no paper {text!r} (`matloop literature papers` lists them), and no "
            "model's lineage names it"
        )
    notes = []
    if paper is None:
        went = (removed or {}).get("n_deleted") or 0
        since = f" on {removed['removed_at']:%Y-%m-%d}" if removed else ""
        gone = f"; {went} records read in it alone went with it" if went else ""
        notes.append(
            f"paper {key} is no longer stored (`literature remove`{since}){gone}: the "
            "models whose lineage names it are followed"
        )
    rejected = sum(bool(raw.get("rejection")) for raw in records)
    trained = [_model_brief(row, names_paper=True) for row in named]
    trained += [_model_brief(row, names_paper=False) for row in unnamed]
    forward = _downstream([m["version"] for m in trained], [], limit, offset)
    notes += forward.pop("notes")
    return {
        "paper": {
            "key": key,
            "stored": paper is not None,
            **{f: (paper or removed or {}).get(f) for f in ("title", "year", "doi", "journal")},
        },
        "records": {
            "total": len(records),
            "rejected": rejected,
            "items": [_record(raw) for raw in records[:MAX_LISTED]],
            # read in it alone, deleted with it (a removed paper's; empty for a stored one)
            "removed": list((removed or {}).get("records_deleted") or [])[:MAX_LISTED],
            "removed_total": int((removed or {}).get("n_deleted") or 0),
        },
        "models": trained,
        **forward,
        "notes": notes,
    }


def _named_paper(models: Any, start: str, text: str) -> str:
    """The one paper key that starts with ``start`` among those models' lineage names.

    Raises:
        LookupError: ``paper: ...`` when several such keys start so.
    """
    query = {"metrics.record_papers": {"$regex": f"^{re.escape(start)}"}}
    named = {
        key
        for row in models.find(query, {"metrics.record_papers": 1})
        for key in row["metrics"]["record_papers"]
        if key.startswith(start)
    }
    if len(named) > 1:
        raise LookupError(f"paper: {text!r} starts the keys of several papers: give more of it")
    return named.pop() if named else start


def lineage_of_material(formula: str, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Everything stored of one composition: registered, read in papers, made in campaigns.

    The formula is read as the filter ``chemical_formula_reduced = "..."`` reads it
    (:func:`db.query.optimade_to_mongo`): any spelling or multiple of the composition
    (``Fe4O6`` is Fe2O3, ``STO`` SrTiO3), on registered materials, literature records and
    the trials of every composition campaign whose elements hold it.

    Args:
        formula: A chemical formula.
        limit: Most trials listed (counts are whole).
        offset: Trials skipped first (oldest first, across campaigns).

    Returns:
        A JSON-ready dict: ``material`` (``formula`` as given, ``reduced``: the canonical
        formula records store); ``registered``: the materials registered with it (``id``,
        ``formula`` as written, ``structure``: whether one is stored); ``records``:
        ``total``, ``rejected``, ``properties`` (per property, unit and
        ``conditions``, rejected records left out: ``records``, ``papers``, ``min`` and
        ``max`` of the stated values and ranges' ends, ``upper_bounds`` and
        ``lower_bounds`` as stated: :func:`_property_summary`) and ``items`` (the
        first :data:`MAX_LISTED`, as :func:`lineage_of_paper` lists them, each with its
        ``low``, ``high``, ``qualifier`` and ``conditions``, and ``papers``);
        ``campaigns``: those that proposed it, each ``name``, ``status``, ``trials``,
        ``by_status`` and ``measured``; ``trials`` (``total``,
        ``measured``, ``limit``, ``offset``, ``items`` as :func:`lineage_of_model`
        lists them); ``notes``.

    Raises:
        ValueError: naming ``formula``, for text that is no formula with fixed amounts.
        LookupError: ``material: ...`` when nothing of the composition is stored.
    """
    test = f"chemical_formula_reduced = {json.dumps(formula, ensure_ascii=False)}"
    try:
        records_query = optimade_to_mongo(test, "records")
        materials_query = optimade_to_mongo(test, "materials")
    except FilterError as error:
        said = str(error).removeprefix("filter: chemical_formula_reduced: ")
        named = _named_material(formula, said, limit, offset)
        if named is None:
            raise ValueError(f"formula: {said}") from None
        return named
    reduced = records_query["formula_reduced"]["$eq"]
    registered = MaterialDocument._get_collection().find(
        materials_query, {"formula": 1, "formula_descriptive": 1, "structure": 1}
    )
    materials = [
        {
            "id": str(row["_id"]),
            "formula": row.get("formula_descriptive") or row["formula"],  # as registered
            "structure": bool(row.get("structure")),
        }
        for row in registered.sort("formula", 1)
    ]
    records = _material_records_found(records_query)
    made = _composition_trials(test, limit, offset)
    if not (materials or records or made["trials"]["total"]):
        raise LookupError(
            f"material: nothing stored of {formula!r} ({reduced}): no registered material, "
            "literature record or campaign trial of that composition"
        )
    return {
        "material": {"formula": formula, "reduced": reduced},
        "registered": materials,
        "records": _material_records(records),
        **made,
        "notes": [],
    }


def _material_records_found(query: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The records a material's lineage lists, with their papers, by property and value."""
    fields = {**_RECORD_FIELDS, "papers": 1}
    ordered = [("property", 1), ("value", 1), ("_id", 1)]
    return list(PropertyRecordDocument._get_collection().find(query, fields).sort(ordered))


def _material_records(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``records`` part of :func:`lineage_of_material`'s answer."""
    return {
        "total": len(records),
        "rejected": sum(bool(raw.get("rejection")) for raw in records),
        "properties": _property_summary(records),
        "items": [
            _record(raw) | {"papers": list(raw.get("papers") or ())} for raw in records[:MAX_LISTED]
        ],
    }


def _named_material(name: str, why: str, limit: int, offset: int) -> dict[str, Any] | None:
    """:func:`lineage_of_material` for a name no formula reads (``LSCO``, ``LYSCO``).

    The literature stores records under such names when it cannot read a composition
    (the filter ``material = "LSCO"`` finds them): their lineage is theirs alone, as a
    name has no composition to register or to propose. Only records stored without a
    formula are the name's (``mgb2`` is MgB2 miswritten, not a name). None when no such
    record has the name: the formula's error (``why``) stands.
    """
    test = f"material = {json.dumps(name, ensure_ascii=False)}"
    try:
        query = {"$and": [optimade_to_mongo(test, "records"), {"formula_reduced": None}]}
    except FilterError:  # no name either (too long to match): the formula's error stands
        return None
    records = _material_records_found(query)
    if not records:
        return None
    nothing = {"total": 0, "measured": 0, "limit": limit, "offset": offset, "items": []}
    return {
        "material": {"formula": name, "reduced": None},
        "registered": [],
        "records": _material_records(records),
        "campaigns": [],
        "trials": nothing,
        "notes": [
            f"{name!r} is read as the name the papers gave it, not a formula ({why}): its "
            "records stored without a composition alone (none to register or propose)"
        ],
    }


def _property_summary(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per property, unit and conditions, of the records a curator did not reject.

    A reading under a condition (10 GPa, 1 T) is summed up apart from those under none,
    and a bound ("below 2 K") apart from values and ranges: ``min`` and ``max`` span the
    stated values and the ends of stated ranges, ``upper_bounds`` and ``lower_bounds``
    list the bounds as stated (``{"qualifier": "<", "value": 2.0}``).
    """
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for raw in records:
        if not raw.get("rejection"):
            conditions = json.dumps(raw.get("conditions") or {}, sort_keys=True)
            groups[(str(raw.get("property")), str(raw.get("unit")), conditions)].append(raw)
    summary = []
    plain_first = sorted(groups, key=lambda k: (k[0], k[1], k[2] != "{}", k[2]))
    for (name, unit, conditions), rows in ((k, groups[k]) for k in plain_first):
        spans = [r for r in rows if r.get("low") is not None and r.get("high") is not None]
        summary.append(
            {
                "property": name,
                "unit": unit,
                "conditions": json.loads(conditions),
                "records": len(rows),
                "papers": len({p for r in rows for p in r.get("papers") or ()}),
                "min": min((float(r["low"]) for r in spans), default=None),
                "max": max((float(r["high"]) for r in spans), default=None),
                "upper_bounds": _bounds(rows, UPPER_BOUNDS),
                "lower_bounds": _bounds(rows, LOWER_BOUNDS),
            }
        )
    return summary


def _bounds(rows: Sequence[Mapping[str, Any]], qualifiers: frozenset[str]) -> list[dict[str, Any]]:
    """The bounds among ``rows`` stated with one of ``qualifiers``, by value."""
    stated = {
        (str(r["qualifier"]), float(r["value"])) for r in rows if r.get("qualifier") in qualifiers
    }
    return [{"qualifier": q, "value": v} for q, v in sorted(stated, key=lambda b: (b[1], b[0]))]


def _composition_trials(test: str, limit: int, offset: int) -> dict[str, Any]:
    """``campaigns`` and ``trials`` of :func:`lineage_of_material`: trials filtered by ``test``.

    Each composition campaign reads ``test`` over its own elements; one without an element
    of the formula holds no such trial (the filter refuses it) and is passed over.
    """
    queries, campaigns = [], {}
    for row in CampaignDocument._get_collection().find({}, {"name": 1, "status": 1, "space": 1}):
        space = _space(row)
        elements = None if space is None else element_fractions(space)
        if space is None or elements is None:
            continue
        try:
            query = optimade_to_mongo(
                test, "trials", parameters=space.parameters, composition=elements
            )
        except FilterError:  # an element of the formula is not the campaign's
            continue
        queries.append({"$and": [{"campaign": row["_id"]}, query]})
        campaigns[row["_id"]] = row
    trials = TrialDocument._get_collection()
    match: dict[str, Any] = {"$or": queries} if queries else _NO_TRIAL
    counts: dict[Any, dict[str, int]] = defaultdict(dict)
    for group in trials.aggregate(
        [
            {"$match": match},
            {"$group": {"_id": {"c": "$campaign", "s": "$status"}, "n": {"$sum": 1}}},
        ]
    ):
        counts[group["_id"]["c"]][str(group["_id"]["s"])] = int(group["n"])
    ordered = trials.find(match, _TRIAL_FIELDS).sort([("created_at", 1), ("_id", 1)])
    page = list(ordered.skip(offset).limit(limit))
    results = _results_of(page)
    items = []
    for row in page:
        campaign = campaigns[row["campaign"]]
        item = _trial(row, _space(campaign), campaign["name"])
        result = results.get(row["_id"])
        item["measurement"] = None if result is None else _measurement_brief(result)
        items.append(item)
    rows = [
        {
            "name": campaigns[c]["name"],
            "status": campaigns[c].get("status"),
            "trials": sum(by_status.values()),
            "by_status": dict(sorted(by_status.items())),
            "measured": by_status.get("completed", 0),
        }
        for c, by_status in counts.items()
    ]
    rows.sort(key=lambda r: r["name"])
    return {
        "campaigns": rows,
        "trials": {
            "total": sum(r["trials"] for r in rows),
            "measured": sum(r["measured"] for r in rows),
            "limit": limit,
            "offset": offset,
            "items": items,
        },
    }


#: A query no trial matches (no composition campaign could hold the formula).
_NO_TRIAL: dict[str, Any] = {"_id": {"$exists": False}}


def _results_of(page: Sequence[Mapping[str, Any]]) -> dict[Any, Mapping[str, Any]]:
    """The results of a page of raw trials, by trial id (the unique index on ``trial``)."""
    if not page:
        return {}
    wanted = {"trial": {"$in": [row["_id"] for row in page]}}
    found = MeasurementDocument._get_collection().find(wanted)
    return {reference_id(raw["trial"]): raw for raw in found}


def lineage_of_model(version: str, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """What model ``version`` learned from, and what it fed: campaigns, trials, results.

    A property model feeds the campaigns whose models took it as their prior mean (their
    ``prior_model``); a campaign's model feeds the trials it proposed itself.

    Args:
        version: A registered model version.
        limit: Most trials listed (counts are whole).
        offset: Trials skipped first (in the order proposed: oldest first).

    Returns:
        A JSON-ready dict: ``model`` (:func:`property_model_lineage`: its records and
        papers); for a campaign's model, ``fitted`` (how many of its trials it was fitted
        on, the prior mean it took: as :func:`lineage_of_trial`'s ``model``) and ``prior``
        (that property model's records and papers), else None; ``campaigns``, each
        ``name``, ``status``, ``prior_model`` (its settings'), ``models`` (of its models
        that took the prior, or proposed), ``trials``,
        ``by_status`` and ``measured`` (trials with a result); ``trials``: ``total``,
        ``measured``, ``limit``, ``offset`` and ``items``, each trial's campaign, id,
        sequence, batch, status, strategy, model_version, ``prior_model``, claimed_by,
        formula (a composition's), label, candidate, acquisition_value, created_at and
        ``measurement`` (values, units, source, idempotency_key, received_at,
        ``corrected``: how many times; None without one); ``notes``.

    Raises:
        LookupError: when no model has that version.
    """
    row = ModelRecord._get_collection().find_one({"version": version}, {"campaign": 1})
    if row is None:
        raise LookupError(f"no model version {version!r}: see `matloop model list`")
    model = property_model_lineage(version)
    notes = model.pop("notes")
    fitted = prior = None
    if row.get("campaign") is not None:  # a campaign's: its trials, and the prior it took
        fitted = _campaign_model(version)
        if fitted["prior_model"] is not None:
            prior = property_model_lineage(fitted["prior_model"])
            notes += prior.pop("notes")
    direct = [version] if fitted is not None else []
    forward = _downstream([version], direct, limit, offset)
    notes += forward.pop("notes")
    return {"model": model, "fitted": fitted, "prior": prior, **forward, "notes": notes}


def _downstream(
    priors: Sequence[str], direct: Sequence[str], limit: int, offset: int
) -> dict[str, Any]:
    """The campaigns and trials of the models that took ``priors``, and of ``direct`` ones.

    Returns:
        ``campaigns``, ``trials`` and ``notes`` of :func:`lineage_of_model`.
    """
    models = ModelRecord._get_collection()
    fields = {"version": 1, "campaign": 1, "metrics.prior_model": 1}
    users = (
        list(models.find({"metrics.prior_model": {"$in": list(priors)}}, fields)) if priors else []
    )
    proposers = {row["version"]: row for row in users}
    if direct:  # a campaign's model: the trials it proposed itself
        proposers |= {
            row["version"]: row for row in models.find({"version": {"$in": list(direct)}}, fields)
        }
    versions = list(proposers)
    prior_of = {v: (row.get("metrics") or {}).get("prior_model") for v, row in proposers.items()}
    owners = {v: row.get("campaign") for v, row in proposers.items()}
    trials = TrialDocument._get_collection()
    match = {"model_version": {"$in": versions}}  # indexed
    counts: dict[Any, dict[str, int]] = defaultdict(dict)
    if versions:
        grouped = trials.aggregate(
            [
                {"$match": match},
                {"$group": {"_id": {"c": "$campaign", "s": "$status"}, "n": {"$sum": 1}}},
            ]
        )
        for group in grouped:
            counts[group["_id"]["c"]][str(group["_id"]["s"])] = int(group["n"])
    fitted: dict[Any, int] = defaultdict(int)
    for owner in owners.values():
        if owner is not None:
            fitted[owner] += 1
    # campaigns set to take it that fitted no model yet (their initial design) too
    chosen = (
        CampaignDocument._get_collection().find(
            {"settings.prior_model": {"$in": list(priors)}}, {"_id": 1}
        )
        if priors
        else []
    )
    campaign_ids = [c for c in {*counts, *fitted, *(row["_id"] for row in chosen)} if c is not None]
    found = CampaignDocument._get_collection().find(
        {"_id": {"$in": campaign_ids}},
        {"name": 1, "status": 1, "space": 1, "settings.prior_model": 1},
    )
    campaigns = {row["_id"]: row for row in found}
    page: list[Mapping[str, Any]] = []
    if versions:  # oldest first, as proposed
        ordered = trials.find(match, _TRIAL_FIELDS).sort([("created_at", 1), ("_id", 1)])
        page = list(ordered.skip(offset).limit(limit))
    results = _results_of(page)  # the page's results alone
    spaces = {c: _space(row) for c, row in campaigns.items()}
    items = []
    for row in page:
        name = campaigns.get(row["campaign"], {}).get("name")
        item = _trial(row, spaces.get(row["campaign"]), name)
        item["prior_model"] = prior_of.get(row.get("model_version"))
        result = results.get(row["_id"])
        item["measurement"] = None if result is None else _measurement_brief(result)
        items.append(item)
    rows = []
    for campaign_id, campaign in campaigns.items():
        by_status = counts.get(campaign_id, {})
        rows.append(
            {
                "name": campaign["name"],
                "status": campaign.get("status"),
                "prior_model": (campaign.get("settings") or {}).get("prior_model"),
                "models": fitted.get(campaign_id, 0),
                "trials": sum(by_status.values()),
                "by_status": dict(sorted(by_status.items())),
                "measured": by_status.get("completed", 0),
            }
        )
    rows.sort(key=lambda r: r["name"])
    total = sum(sum(c.values()) for c in counts.values())
    notes = []
    if priors and not users and not direct:
        notes.append(f"no campaign model took {', '.join(priors)} as its prior mean")
    return {
        "campaigns": rows,
        "trials": {
            "total": total,
            "measured": sum(c.get("completed", 0) for c in counts.values()),
            "limit": limit,
            "offset": offset,
            "items": items,
        },
        "notes": notes,
    }


# -- rows ----------------------------------------------------------------------------------


def _campaign(name: str) -> dict[str, Any]:
    """A campaign's id, name, status, settings and space, raw; else CampaignNotFoundError."""
    row = CampaignDocument._get_collection().find_one(
        {"name": name}, {"name": 1, "status": 1, "settings": 1, "space": 1}
    )
    if row is None:
        raise CampaignNotFoundError(f"no campaign named {name!r}")
    return dict(row)


def _campaign_names(ids: Iterable[Any]) -> dict[Any, str]:
    """Campaign id -> name for ``ids`` (None left out)."""
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    found = CampaignDocument._get_collection().find({"_id": {"$in": wanted}}, {"name": 1})
    return {row["_id"]: row["name"] for row in found}


def _space(campaign: Mapping[str, Any]) -> SearchSpace | None:
    """A raw campaign's search space; None when it does not read (its trials keep no formula)."""
    try:
        return SearchSpace.from_dict(campaign["space"])
    except (KeyError, TypeError, ValueError):
        return None


def _trial(
    row: Mapping[str, Any],
    space: SearchSpace | None,
    campaign: str | None,
    parameters: bool = False,
) -> dict[str, Any]:
    """A raw trial as JSON: what a lineage says of it (its ``parameters`` if asked)."""
    formula = None
    if space is not None:
        try:
            formula = formula_of(space, row.get("parameters") or {})
        except (KeyError, TypeError, ValueError):  # parameters the space does not name
            formula = None
    described = {
        "campaign": campaign,
        "id": str(row["_id"]),
        "sequence": row.get("sequence"),
        "batch": row.get("batch"),
        "status": row.get("status"),
        "strategy": row.get("strategy"),
        "model_version": row.get("model_version"),
        "claimed_by": row.get("claimed_by"),
        "formula": formula,
        "label": row.get("label"),
        "candidate": row.get("candidate"),
        "acquisition_value": row.get("acquisition_value"),
        "created_at": iso(row.get("created_at")),
    }
    if parameters:
        described |= {
            "parameters": dict(row.get("parameters") or {}),
            "reason": row.get("reason"),
            "updated_at": iso(row.get("updated_at")),
            "parts": [_part_brief(part) for part in row.get("parts") or ()],
            "handoffs": [
                {**handoff, "at": iso(handoff.get("at"))} for handoff in row.get("handoffs") or ()
            ],
        }
    return described


def _part_brief(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's partial result: what one instrument measured of it, and when."""
    brief = _measurement_brief(raw)
    del brief["corrected"]  # a part is never corrected: its trial's result is
    return brief


def _measurement(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A raw result as JSON, as the API's listing gives it (corrections included)."""
    measurement = measurement_from_raw(dict(raw))
    data = asdict(measurement)
    del data["partial"]  # a stored result is whole (its trial keeps the parts)
    data["received_at"] = iso(measurement.received_at)
    data["corrections"] = [asdict(c) | {"at": iso(c.at)} for c in measurement.corrections]
    return data


def _measurement_brief(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A raw result's values and where they came from, for a listed trial."""
    return {
        "values": dict(raw.get("values") or {}),
        "units": dict(raw.get("units") or {}),
        "reported": dict(raw.get("reported") or {}),  # as sent, where converted
        "source": raw.get("source"),
        "idempotency_key": raw.get("idempotency_key"),
        "received_at": iso(raw.get("received_at")),
        "corrected": len(raw.get("corrections") or ()),
    }


def _model_brief(row: Mapping[str, Any], names_paper: bool) -> dict[str, Any]:
    """A raw property model in a paper's forward lineage."""
    metrics = row.get("metrics") or {}
    return {
        "version": row["version"],
        "kind": row.get("kind"),
        "created_at": iso(row.get("created_at")),
        "source": metrics.get("source"),
        "target": metrics.get("target"),
        "unit": metrics.get("unit"),
        "records_used": metrics.get("records_used"),
        "papers_used": metrics.get("papers_used"),
        "names_paper": names_paper,
    }


def _record(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A raw record in a paper's forward lineage: what it states, as stated."""
    fields = ("material", "formula", "property", "value", "low", "high", "unit", "qualifier")
    return {
        "id": str(raw["_id"]),
        **{f: raw.get(f) for f in fields},
        "conditions": dict(raw.get("conditions") or {}),
        "rejected": bool(raw.get("rejection")),
    }


__all__ = [
    "MAX_LISTED",
    "lineage_of_material",
    "lineage_of_measurement",
    "lineage_of_model",
    "lineage_of_paper",
    "lineage_of_trial",
    "property_model_lineage",
]
