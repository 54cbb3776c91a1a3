"""``matloop lineage``: from a measurement back to the papers, and from a paper forward.

Registered in :mod:`matloop.cli`. Reads :mod:`db.lineage`, which answers the HTTP API's
``.../lineage`` routes too: ``--json`` prints what they answer. The database loads only
when a command runs.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer

lineage_app = typer.Typer(
    help="Lineage both ways: paper -> record -> model -> proposal -> measurement.",
    no_args_is_help=True,
)

JSON_HELP = "Print the lineage as JSON (what the API's .../lineage route answers)."
LIMIT_HELP = (
    "Most trials listed (their counts are always whole). Default: 20, or with --json 100, "
    "as the API's route."
)
#: Trials listed unless --limit says: a screenful, or with --json the API's default page.
SHOWN_TRIALS, API_PAGE = 20, 100
OFFSET_HELP = "Trials skipped first (oldest first: the order proposed)."
#: Most record ids a human-readable answer prints in one list (--json gives them all).
SHOWN_IDS = 10


def _page(limit: int | None, as_json: bool) -> int:
    """Trials to list: ``--limit``, else a screenful, or the API's page with ``--json``."""
    return limit if limit is not None else API_PAGE if as_json else SHOWN_TRIALS


def _json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _say(text: str, indent: int = 0) -> None:
    """One line as written: no Rich markup (titles may hold brackets), never wrapped."""
    from rich.markup import escape

    from matloop.cli import console

    console.print(escape(" " * indent + text), highlight=False, soft_wrap=True)


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    return f"{value:.6g}" if math.isfinite(value) else str(value)


def stated_reading(record: Mapping[str, Any]) -> str:
    """A record's reading as its paper stated it: ``< 2``, ``~39``, ``87 to 90``."""
    low, high = record.get("low"), record.get("high")
    if low is not None and high is not None and low != high:
        return f"{_number(low)} to {_number(high)}"
    qualifier = record.get("qualifier")
    stated = "" if qualifier in (None, "", "=") else f"{qualifier} "
    return f"{stated}{_number(record['value'])}"


def _under(conditions: Mapping[str, Any] | None) -> str:
    """`` at pressure_gpa=10``: the conditions a reading was made under; "" for none."""
    return f" at {named_values(conditions)}" if conditions else ""


def _sample(trial: Mapping[str, Any]) -> str:
    """What a trial made: its formula, and the pool's label for it (``Nb3Si (A15)``)."""
    formula, label = trial.get("formula"), trial.get("label")
    if formula and label and label != formula:
        return f"{formula} ({label})"
    return str(formula or label or "")


def named_values(
    values: Mapping[str, Any],
    units: Mapping[str, str] | None = None,
    reported: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """``tc=85 K (sent as -188.15 degC), cost=3``: each value, unit and value as sent.

    A value has its unit where it has one, and what the lab sent where it was converted.
    """
    units, reported = units or {}, reported or {}
    said = (
        f"{name}={_number(value)}"
        + (f" {units[name]}" if units.get(name) else "")
        + (
            f" (sent as {_number(reported[name]['value'])} {reported[name]['unit']})"
            if name in reported
            else ""
        )
        for name, value in values.items()
    )
    return ", ".join(said) or "-"


def _reading(result: Mapping[str, Any]) -> str:
    """A result's or part's values as :func:`named_values` gives them."""
    return named_values(result["values"], result.get("units"), result.get("reported"))


def _prior_mean(fitted: Mapping[str, Any]) -> str:
    """The prior mean a campaign's model took, with the scale its fit gave the prior.

    A scale of 0 is said as such: the measurements gave the prior no weight, and the
    model's proposals owe it nothing.
    """
    said = f"prior mean: {fitted['prior_model']}"
    scale = fitted.get("prior_scale")
    if scale is None:  # fitted before scales were recorded
        return said
    if scale == 0:
        return f"{said} (scale 0: the measurements gave it no weight in this fit)"
    return f"{said} (scale {_number(scale)})"


def _ids(ids: Sequence[str], total: int) -> str:
    shown = ", ".join(ids[:SHOWN_IDS])
    more = total - min(len(ids), SHOWN_IDS)
    return shown + (f" and {more} more (--json lists them)" if more > 0 else "")


@lineage_app.command("trial")
def lineage_trial(
    campaign: Annotated[str, typer.Argument(help="The campaign's name.")],
    trial_id: Annotated[str, typer.Argument(help="The trial's id (`campaign propose --json`).")],
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """A trial back to the papers: its measurement, model, prior model, records, papers.

    API: GET /api/v1/campaigns/CAMPAIGN/trials/TRIAL_ID/lineage.
    """
    from db.lineage import lineage_of_trial
    from matloop.cli import errors, store

    with errors({"trial_id": "TRIAL_ID"}):
        store()
        found = lineage_of_trial(campaign, trial_id)
    _backward(found, as_json)


@lineage_app.command("measurement")
def lineage_measurement(
    campaign: Annotated[str, typer.Argument(help="The campaign's name.")],
    key: Annotated[str, typer.Argument(help="The result's idempotency key (or a correction's).")],
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """A measurement back to the papers, found by its idempotency key, as `lineage trial`.

    API: GET /api/v1/campaigns/CAMPAIGN/measurements/KEY/lineage.
    """
    from db.lineage import lineage_of_measurement
    from matloop.cli import errors, store

    with errors():
        store()
        found = lineage_of_measurement(campaign, key)
    _backward(found, as_json)


@lineage_app.command("paper")
def lineage_paper(
    key: Annotated[
        str,
        typer.Argument(
            help="The paper's key or DOI, any case (doi:10.1/abc, 10.1/abc, a doi.org link)."
        ),
    ],
    limit: Annotated[int | None, typer.Option(min=1, max=1000, help=LIMIT_HELP)] = None,
    offset: Annotated[int, typer.Option(min=0, help=OFFSET_HELP)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """A paper forward: its records, models trained on them, campaigns, trials, results.

    A paper removed since (`literature remove`) is still followed through the models
    whose lineage names it. API: GET /api/v1/literature/papers/KEY/lineage.
    """
    from db.lineage import lineage_of_paper
    from matloop.cli import errors, store

    with errors():
        store()
        found = lineage_of_paper(key, _page(limit, as_json), offset)
    if as_json:
        _json(found)
        return
    paper = found["paper"]
    if paper["stored"]:
        year = f" ({paper['year']})" if paper.get("year") else ""
        _say(f"paper {paper['key']}: {paper.get('title') or 'no title'}{year}")
    else:
        title = f" ({paper['title']})" if paper.get("title") else ""
        _say(f"paper {paper['key']}{title}: no longer stored (`literature remove`)")
    records = found["records"]
    rejected = f", {records['rejected']} rejected by a curator" if records["rejected"] else ""
    _say(f"records read in it: {records['total']}{rejected}")
    if records["removed_total"]:
        _say(f"records read in it alone, removed with it: {records['removed_total']}")
    for gone in records["removed"][: 2 * SHOWN_IDS]:
        value = f"{stated_reading(gone)} {gone['unit']}"
        _say(f"{gone['id']}  {gone['material']}  {gone['property']} {value}", 2)
    for record in records["items"][: 2 * SHOWN_IDS]:
        flag = "  (rejected)" if record["rejected"] else ""
        value = f"{stated_reading(record)} {record['unit']}{_under(record.get('conditions'))}"
        _say(f"{record['id']}  {record['material']}  {record['property']} {value}{flag}", 2)
    if records["total"] > 2 * SHOWN_IDS:
        _say(f"... and {records['total'] - 2 * SHOWN_IDS} more (--json lists them)", 2)
    _say(f"property models trained on its records: {len(found['models'])}")
    for model in found["models"]:
        via = "" if model["names_paper"] else ", by its records (its lineage lists no papers)"
        _say(
            f"{model['version']} ({model['kind']}, {model['source']}, "
            f"{model['records_used']} records, {model['created_at']}{via})",
            2,
        )
    _forward(found, "campaigns whose models took them as their prior mean")


@lineage_app.command("model")
def lineage_model(
    version: Annotated[str, typer.Argument(help="A model version (`model list`).")],
    limit: Annotated[int | None, typer.Option(min=1, max=1000, help=LIMIT_HELP)] = None,
    offset: Annotated[int, typer.Option(min=0, help=OFFSET_HELP)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """A model both ways: the records and papers it learned from, the trials it fed.

    A property model feeds the campaigns whose models took it as their prior mean; a
    campaign's model, the trials it proposed. API: GET /api/v1/models/VERSION/lineage.
    """
    from db.lineage import lineage_of_model
    from matloop.cli import errors, store

    with errors():
        store()
        found = lineage_of_model(version, _page(limit, as_json), offset)
    if as_json:
        _json(found)
        return
    _model(found["model"], "model")
    fitted = found["fitted"]
    if fitted is not None:  # a campaign's model: what it was fitted on, and its prior
        trained = fitted["trained_on_trials"]
        _say(f"fitted on {trained if trained is not None else 'its'} trial(s) of its campaign", 2)
        if fitted["prior_model"] is not None:
            _say(_prior_mean(fitted), 2)
    if found["prior"] is not None:
        _model(found["prior"], "prior model")
    own = fitted is not None
    _forward(found, "its campaign" if own else "campaigns whose models took it as their prior mean")


@lineage_app.command("material")
def lineage_material(
    formula: Annotated[
        str, typer.Argument(help="A formula, any spelling or multiple (Fe4O6 is Fe2O3; STO).")
    ],
    limit: Annotated[int | None, typer.Option(min=1, max=1000, help=LIMIT_HELP)] = None,
    offset: Annotated[int, typer.Option(min=0, help="Trials skipped first (oldest first).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Everything stored of a composition: registered, read in papers, made in campaigns.

    Its registered materials, its literature records (per property: how many, from how
    many papers, their range) and the trials of every composition campaign that proposed
    it, with their results. API: GET /api/v1/materials/FORMULA/lineage.
    """
    from db.lineage import lineage_of_material
    from matloop.cli import errors, store

    with errors():
        store()
        found = lineage_of_material(formula, _page(limit, as_json), offset)
    if as_json:
        _json(found)
        return
    material = found["material"]
    stored = material["reduced"] or "a name, no formula"
    _say(f"material {material['formula']} (stored as {stored})")
    registered = found["registered"]
    _say(f"registered: {', '.join(m['formula'] for m in registered) if registered else 'no'}")
    records = found["records"]
    rejected = f", {records['rejected']} rejected by a curator" if records["rejected"] else ""
    _say(f"literature records: {records['total']}{rejected}")
    for summary in records["properties"]:
        stated = []
        if summary["min"] is not None:
            spread = _number(summary["min"])
            if summary["max"] != summary["min"]:
                spread += f" to {_number(summary['max'])}"
            stated.append(spread)
        bounds = [*summary["upper_bounds"], *summary["lower_bounds"]]
        stated += [f"{b['qualifier']} {_number(b['value'])}" for b in bounds]
        _say(
            f"{summary['property']}{_under(summary['conditions'])}: {summary['records']} "
            f"record(s) from {summary['papers']} paper(s), {', '.join(stated)} {summary['unit']}",
            2,
        )
    _say(f"campaigns that proposed it: {len(found['campaigns'])}")
    for campaign in found["campaigns"]:
        statuses = ", ".join(f"{n} {status}" for status, n in campaign["by_status"].items())
        _say(f"{campaign['name']} ({campaign['status']}): {statuses}", 2)
    _trial_lines(found["trials"], "trials of it")
    for note in found["notes"]:
        _say(f"note: {note}")


def _backward(found: Mapping[str, Any], as_json: bool) -> None:
    """Print a trial's lineage (:func:`db.lineage.lineage_of_trial`)."""
    if as_json:
        _json(found)
        return
    campaign, trial = found["campaign"], found["trial"]
    prior = f", prior model {campaign['prior_model']}" if campaign.get("prior_model") else ""
    _say(
        f"campaign {campaign['name']} ({campaign['status']}), strategy "
        f"{campaign['strategy']}{prior}"
    )
    made = f"{sample}, " if (sample := _sample(trial)) else ""
    _say(
        f"trial {trial['id']}: {made}batch {trial['batch']} (#{trial['sequence']}), "
        f"{trial['status']}"
    )
    _say(
        f"strategy {trial['strategy']}, model {trial['model_version'] or '-'}, "
        f"acquisition {_number(trial['acquisition_value'])}, "
        f"claimed by {trial['claimed_by'] or '-'}",
        2,
    )
    for handoff in trial.get("handoffs") or ():
        by = " by an operator" if handoff["operator"] else ""
        _say(f"handed from {handoff['holder']} to {handoff['to']}{by}, {handoff['at']}", 2)
    for part in trial.get("parts") or ():  # who measured which outcomes
        _say(
            f"part: {_reading(part)} (source {part['source']}, "
            f"key {part['idempotency_key']}, received {part['received_at']})",
            2,
        )
    if not found["measurements"]:
        _say("measurement: none yet" + (" (not every outcome is in)" if trial.get("parts") else ""))
    for result in found["measurements"]:
        corrected = len(result.get("corrections") or ())
        also = f", corrected {corrected} time(s)" if corrected else ""
        _say(
            f"measurement: {_reading(result)} (source "
            f"{result['source']}, key "
            f"{result['idempotency_key']}, received {result['received_at']}{also})"
        )
    model = found["model"]
    if model is not None and model["stored"]:
        trained = model["trained_on_trials"]
        fitted = f", fitted on {trained} trial(s)" if trained is not None else ""
        _say(f"proposed by model {model['version']} ({model['kind']}{fitted})")
        if model["prior_model"] is not None:
            _say(_prior_mean(model), 2)
    if found["prior"] is not None:
        _model(found["prior"], "prior model")
    for note in found["notes"]:
        _say(f"note: {note}")


def _model(model: Mapping[str, Any], what: str) -> None:
    """Print what a model learned from (:func:`db.lineage.property_model_lineage`)."""
    if not model["stored"]:
        _say(f"{what} {model['version']}: not in the registry")
        return
    about = ", ".join(
        str(part)
        for part in (
            model["kind"],
            model["source"],
            model["unit"] and f"unit {model['unit']}",
            model["campaign"] and f"campaign {model['campaign']}",
            model["created_at"],
        )
        if part
    )
    _say(f"{what} {model['version']} ({about})")
    records = model["records"]
    if records is None:
        return
    if not records["listed"]:
        _say(f"trained on {records['used']} records (its metrics list only their count)", 2)
        _papers(model)
        return
    since = [
        f"{records['merged']} merged into others" if records["merged"] else "",
        f"{records['rejected']} rejected by a curator since" if records["rejected"] else "",
    ]
    kept = f" ({', '.join(part for part in since if part)})" if any(since) else ""
    _say(
        f"trained on {records['used']} records: {records['stored']} still stored{kept}, "
        f"{records['gone']} gone",
        2,
    )
    if records["ids"]:
        _say(f"ids: {_ids(records['ids'], records['used'])}", 4)
    if records["rejected"]:
        _say(f"rejected: {_ids(records['rejected_ids'], records['rejected'])}", 4)
    if records["gone"]:
        _say(f"gone: {_ids(records['gone_ids'], records['gone'])}", 4)
    _papers(model)


def _papers(model: Mapping[str, Any]) -> None:
    """Print the papers a model's records were read in."""
    _say(f"papers ({model['papers_used']}):", 2)
    for paper in model["papers"]:
        if not paper["stored"]:
            _say(f"{paper['key']}  (no longer stored)", 4)
            continue
        year = f" ({paper['year']})" if paper.get("year") else ""
        doi = f", doi {paper['doi']}" if paper.get("doi") else ""
        _say(f"{paper['key']}  {paper.get('title') or 'no title'}{year}{doi}", 4)
    if model["papers_since"]:
        _say(f"its records were read since in: {', '.join(model['papers_since'])}", 2)


def _forward(found: Mapping[str, Any], heading: str) -> None:
    """Print the campaigns and trials a paper or model fed, under ``heading``."""
    _say(f"{heading}: {len(found['campaigns'])}")
    for campaign in found["campaigns"]:
        statuses = ", ".join(f"{n} {status}" for status, n in campaign["by_status"].items())
        _say(
            f"{campaign['name']} ({campaign['status']}): {campaign['models']} model(s), "
            f"{campaign['trials']} trial(s){f' ({statuses})' if statuses else ''}",
            2,
        )
    _trial_lines(found["trials"], "trials they proposed")
    for note in found["notes"]:
        _say(f"note: {note}")


def _trial_lines(trials: Mapping[str, Any], heading: str) -> None:
    """Print a page of listed trials with their results, under ``heading``."""
    items = trials["items"]
    where = (
        f"; showing {trials['offset'] + 1}-{trials['offset'] + len(items)}"
        if items and len(items) < trials["total"]
        else ""
    )
    if not items and trials["total"]:
        where = f"; none past --offset {trials['offset']}"
    _say(f"{heading}: {trials['total']}, {trials['measured']} measured{where}")
    for item in items:
        result = item["measurement"]
        measured = "-" if result is None else _reading(result)
        made = _sample(item) or "-"
        _say(
            f"{item['campaign']} {item['batch']} {item['id']}  {made}  {item['strategy']}  "
            f"{item['status']}  {measured}",
            2,
        )
    if len(items) < trials["total"] and items:
        _say("page with --offset/--limit", 2)


__all__ = ["lineage_app"]
