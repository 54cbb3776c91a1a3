"""JSON views of campaigns, trials and measurements (shared by the API, dashboard and CLI)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from db.convert import iso
from discovery.compositions import formula_of
from discovery.domain import Campaign, Handoff, Material, Measurement, Trial
from discovery.spaces import SearchSpace

if TYPE_CHECKING:  # `campaign list` reads no torch: agents.campaign loads BoTorch
    from agents.campaign import CampaignStatus, Observation


def trial_json(trial: Trial, space: SearchSpace | None = None) -> dict[str, Any]:
    """A trial as JSON (timestamps ISO 8601, UTC).

    With the campaign's ``space``, a composition's trial also names its ``formula``
    (``Mg5Si6``: what to make), after its molar fractions.
    """
    data = asdict(trial)
    formula = None if space is None else formula_of(space, trial.parameters)
    if formula is not None:
        at = list(data).index("parameters") + 1
        items = list(data.items())
        data = dict([*items[:at], ("formula", formula), *items[at:]])
    data["status"] = trial.status.value
    for key in ("created_at", "updated_at", "lease_expires_at"):
        data[key] = iso(data[key])
    data["parts"] = [part_json(p) for p in trial.parts]
    data["handoffs"] = [handoff_json(h) for h in trial.handoffs]
    return data


def handoff_json(handoff: Handoff) -> dict[str, Any]:
    """A trial's hand-off as JSON: from which instrument to which, when (ISO 8601, UTC)."""
    return asdict(handoff) | {"at": iso(handoff.at)}


def part_json(part: Measurement) -> dict[str, Any]:
    """A trial's partial result as JSON: what one instrument reported of its outcomes."""
    data = measurement_json(part)
    del data["trial_id"], data["corrections"]
    return data


def measurement_json(measurement: Measurement) -> dict[str, Any]:
    """A measurement as JSON.

    ``values`` are in ``units``, the outcomes' declared units; ``reported`` holds, for each
    value converted to its declared unit, the value and unit the lab sent
    (``{"tc": {"value": -250.0, "unit": "degC"}}``), and is empty when none was;
    ``corrections`` the values an operator replaced, oldest first.
    """
    data = asdict(measurement)
    del data["partial"]  # a stored result is whole: its trial keeps the parts
    data["received_at"] = iso(measurement.received_at)
    data["corrections"] = corrections_json(measurement)
    return data


def material_json(material: Material) -> dict[str, Any]:
    """A material as JSON (``created_at`` ISO 8601, UTC)."""
    return asdict(material) | {"created_at": iso(material.created_at)}


def corrections_json(measurement: Measurement) -> list[dict[str, Any]]:
    """The values an operator replaced in a result, oldest first, as JSON."""
    return [asdict(c) | {"at": iso(c.at)} for c in measurement.corrections]


def outcomes_json(campaign: Campaign) -> dict[str, Any]:
    """A campaign's objectives and constraints, with their units."""
    return {
        "objectives": [
            {"name": o.name, "direction": o.direction.value, "unit": o.unit}
            for o in campaign.objectives
        ],
        "constraints": [asdict(c) for c in campaign.constraints],
    }


def campaign_summary_json(campaign: Campaign) -> dict[str, Any]:
    """A campaign as listed (``GET /campaigns``, ``campaign list --json``)."""
    return {
        "name": campaign.name,
        "status": campaign.status,
        "pool_size": campaign.pool_size,
        **outcomes_json(campaign),
        "settings": asdict(campaign.settings),
        "created_at": iso(campaign.created_at),
    }


def observation_json(observation: Observation, space: SearchSpace) -> dict[str, Any]:
    """A measured trial as JSON: ``{"trial": ..., "values": {outcome: value}}``."""
    return {
        "trial": trial_json(observation.trial, space),
        "values": observation.measurement.values,
    }


def as_seen_by(campaign: Campaign, reads_all: bool) -> Campaign:
    """``campaign`` as a caller sees it.

    A token limited to its own campaigns (an instrument's) gets the pool file's name as
    its ``source``, not where the file lies on the server.
    """
    if reads_all or campaign.source is None:
        return campaign
    name = re.split(r"[\\/]", campaign.source.rstrip("\\/"))[-1]  # a Windows path too
    return replace(campaign, source=name)


def hypervolume_reference_json(status: CampaignStatus) -> dict[str, float] | None:
    """The hypervolume's reference point by objective name; None before there is one."""
    point = status.metrics.hypervolume_reference
    if point is None:
        return None
    return {o.name: v for o, v in zip(status.campaign.objectives, point, strict=True)}


def status_json(status: CampaignStatus) -> dict[str, Any]:
    """A campaign's progress as JSON.

    ``settings.prior_model`` names the prior model, if any; ``source`` where the pool
    came from (a file, ``generated``, ``api``), ``source_sha256`` the SHA-256 of that file
    as read (None for a pool not read from a file), and ``pool_recipe`` how matloop
    generated it (:class:`discovery.domain.PoolRecipe`), None when it did not.
    A campaign with several objectives also has ``pareto``: its measured feasible
    results on the Pareto front, each as ``best`` is, in the order they arrived. A
    single-objective campaign has no ``pareto`` key. ``hypervolume_reference`` is the
    point the hypervolume is measured above, by objective (None until there is one).
    """
    campaign = status.campaign
    best, recipe = status.best, campaign.pool_recipe
    data: dict[str, Any] = {
        "name": campaign.name,
        "status": campaign.status,
        "space": campaign.space.to_dict(),
        **outcomes_json(campaign),
        "settings": asdict(campaign.settings),
        "pool_size": campaign.pool_size,
        "source": campaign.source,
        "source_sha256": campaign.source_sha256,
        "pool_recipe": None if recipe is None else recipe.to_dict(),
        "trials": status.trials,
        "expired_leases": status.expired,  # of the running ones: the next claim frees them
        # running, their lease run out, but kept: their sample exists (parts, hand-offs)
        "stalled": status.stalled,
        "measurements": status.measurements,
        "feasible": status.feasible,  # None without outcome constraints
        "rounds": status.rounds,
        "initial_left": status.initial_left,  # experiments the random design still needs
        "best": None if best is None else observation_json(best, campaign.space),
        "best_so_far": [finite(v) for v in status.best_so_far.tolist()],
        "metrics": status.metrics.as_dict(),
        "hypervolume_reference": hypervolume_reference_json(status),
    }
    if len(campaign.objectives) > 1:
        data["pareto"] = [observation_json(o, campaign.space) for o in status.pareto]
    if status.efficiency is not None:
        eff = status.efficiency
        data["efficiency"] = {
            "enhancement_factor": finite(eff.enhancement_factor),
            "acceleration_factor": finite(eff.acceleration_factor),
            "top_fraction": eff.top_fraction.tolist(),
            "pool_best": eff.pool_best,
        }
    return data


def finite(value: float) -> float | None:
    """The value, or None for NaN and infinities (JSON has neither)."""
    return value if value == value and abs(value) != float("inf") else None


#: Dicts whose keys the campaign fixes (its parameters and outcomes), the same in every
#: row: dotted columns (``parameters.x``) that a spreadsheet reads.
DOTTED = ("parameters", "values")


#: What a spreadsheet reads, at the start of a cell, as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as written, never runs as a formula.

    Text starting as a formula does (``=HYPERLINK(...)``, from a reason or a key any write
    token sends) gets a leading ``'``. Only text that could be one: a number (``-0.5``,
    also as text: a choice ``"-1"``) and a lone sign (a record's qualifier ``=``) stay
    as they are.
    """
    if isinstance(value, str) and len(value) > 1 and value.startswith(FORMULA_STARTS):
        return value if _is_number(value) else "'" + value
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_cells(row: dict[str, Any]) -> dict[str, Any]:
    """A row's CSV cells: :data:`DOTTED` dicts dotted; other lists and dicts as JSON text.

    Every page of a listing then has the same columns, whatever keys the other dicts
    (a record's ``conditions``, a result's ``units``) hold. Text cells are
    :func:`csv_safe`.
    """
    cells: dict[str, Any] = {}
    for key, value in row.items():
        if key in DOTTED and isinstance(value, dict):
            cells.update({f"{key}.{name}": csv_safe(v) for name, v in value.items()})
        elif isinstance(value, list | tuple | dict):
            cells[key] = json.dumps(value, default=str)  # starts with [ or {: no formula
        else:
            cells[key] = csv_safe(value)
    return cells


class DuplicateKeyError(ValueError):
    """A JSON object that gives a key twice: which of its values was meant is unknown."""


def read_json(text: str | bytes) -> Any:
    """JSON read strictly: a key given twice in one object raises :class:`DuplicateKeyError`.

    Python's reader keeps the last, silently: a result ``{"value": 1.2, "value": 0.8}``
    from a client's merging bug would be stored as 0.8.
    """
    return json.loads(text, object_pairs_hook=_unique_keys)


def row_giving_a_key_twice(text: str) -> int | None:
    """The index of the first item of a JSON list ``text`` that gives a key twice.

    JSON's reader tells a key's hook no position: each item is read alone to find it.
    None when ``text`` is no list, or no item does.
    """
    strict, at, row = json.JSONDecoder(object_pairs_hook=_unique_keys), 0, 0
    at = _blank_end(text, at)
    if not text.startswith("[", at):
        return None
    at = _blank_end(text, at + 1)
    while at < len(text) and text[at] != "]":
        try:
            at = strict.raw_decode(text, at)[1]
        except DuplicateKeyError:
            return row
        except ValueError:  # no JSON: the whole reading says where
            return None
        at = _blank_end(text, at)
        at = _blank_end(text, at + 1) if text.startswith(",", at) else at
        row += 1
    return None


def _blank_end(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\n\r":
        at += 1
    return at


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(f"the key {json.dumps(key)} is given twice in one object")
            seen.add(key)
    return found
