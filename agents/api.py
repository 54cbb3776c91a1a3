"""The HTTP API: instruments claim trials and report results; researchers read and export.

Every route declares who may call it (``@access``); ``tests/agents/test_api_access.py``
walks the app's route list, so a route without a rule fails the tests.

Errors: 400 bad filter, 401 no or unknown token, 403 wrong scope, 404 unknown campaign,
trial or model version, 409 conflict (lease, closed campaign, concurrent proposal, name
taken, a model's records not listed), 413 payload too large, 422 invalid input (the
message names the field), 503 database unavailable.
Nothing is written on any error. Every error body is ``{"detail": "message"}``, except a 422 from
request validation, whose ``detail`` lists the invalid fields; each route declares the
errors it can answer in the OpenAPI schema.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, fields, replace
from typing import Annotated, Any, Literal, TypeVar, cast

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.datastructures import Default, Headers
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from mongoengine import ValidationError as MongoValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)
from pymatgen.core import Element
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agents.campaign import (
    INTERNAL_ERRORS,
    UNNAMED,
    CampaignAgent,
    CampaignMetrics,
    campaign_planner,
    earlier_results,
    with_stored_strategy,
)
from agents.literature import search_sentences
from agents.pools import (
    DEFAULT_GRID,
    SUBSTITUTION_THRESHOLD,
    CompositionRules,
    GeneratedPool,
    PoolTooLargeError,
    generate_pool,
)
from agents.serialize import (
    DuplicateKeyError,
    as_seen_by,
    campaign_summary_json,
    csv_cells,
    material_json,
    measurement_json,
    read_json,
    status_json,
    trial_json,
)
from db import (
    CampaignExistsError,
    CampaignStore,
    ConcurrentProposalError,
    TrialStateError,
    connect,
)
from db.campaigns import DEFAULT_LEASE_SECONDS, MAX_POOL_SIZE, CampaignClosedError
from db.connection import client
from db.documents import NAME_REGEX, SOURCE_REGEX
from db.lineage import (
    lineage_of_material,
    lineage_of_measurement,
    lineage_of_model,
    lineage_of_paper,
    lineage_of_trial,
)
from db.literature import PAPER_COLUMNS, RECORD_COLUMNS, RECORD_ORDERS, LiteratureStore
from db.materials import add_material, known_formulas, page_materials
from db.models import (
    UnlistedRecordsError,
    describe_model_record,
    model_record_ids,
    page_model_records,
    records_among,
    records_gone,
)
from db.query import ORDERS, FilterError, mongo_sort, optimade_to_mongo
from db.tokens import Principal, acting_for, authenticate, bound_to, session_principal
from discovery.campaign_models import SurrogatePluginError
from discovery.compositions import MAX_GRID, element_fractions, formula_of
from discovery.domain import (
    IMPORTED,
    MAX_SEED,
    OUTCOME_NAME,
    Campaign,
    CampaignSettings,
    Candidate,
    Direction,
    Material,
    Measurement,
    Objective,
    OutcomeConstraint,
    Trial,
    default_key,
)
from discovery.spaces import SearchSpace
from discovery.units import unknown_unit_notes
from literature.formulas import read_formula

MAX_BODY_BYTES = 2 * 1024 * 1024
TOO_LARGE = f"request body over {MAX_BODY_BYTES} bytes"
SESSION_COOKIE = "matloop_session"
NAME = SOURCE_REGEX
F = TypeVar("F", bound=Callable[..., Any])

ResultsHook = Callable[[str, int], object]

logger = logging.getLogger(__name__)


def access(rule: Literal["public", "read", "write", "admin"]) -> Callable[[F], F]:
    """Declare who may call a route (checked by its dependencies, audited by the tests)."""

    def mark(endpoint: F) -> F:
        endpoint.__access__ = rule  # type: ignore[attr-defined]
        return endpoint

    return mark


# -- request and response bodies --------------------------------------------------------
class Body(BaseModel):
    """Strict request body: unknown fields and text that is not valid Unicode are errors."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        # JSON may escape a lone surrogate ("\\ud800"): valid JSON, but not text that
        # BSON (UTF-8) can store, so it would fail at the database with no field named.
        if (where := _lone_surrogate(data, "")) is not None:
            raise ValueError(f"{where or 'body'}: text is not valid Unicode (lone surrogate)")
        return data


def _lone_surrogate(data: Any, path: str) -> str | None:
    """The path of the first key or string in ``data`` holding a lone surrogate, or None.

    Walked with a stack of its own, not by recursion: a body nested as deep as the JSON
    reader takes would otherwise end in a RecursionError (a 500).
    """
    stack: list[tuple[Any, Any, str]] = [(None, data, path)]
    while stack:
        key, item, where = stack.pop()
        if isinstance(key, str) and _SURROGATE.search(key):
            return where
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return where
            continue
        items: list[tuple[Any, Any]] = []
        if isinstance(item, dict):
            items = list(item.items())
        elif isinstance(item, list | tuple):
            items = list(enumerate(item))
        for inner, value in reversed(items):  # reversed: popped in reading order
            stack.append((inner, value, f"{where}.{inner}" if where else str(inner)))
    return None


_SURROGATE = re.compile(r"[\ud800-\udfff]")

#: Said of each field naming an instrument (:func:`db.tokens.acting_for`).
RESERVED = (
    " An instrument a token is bound to is named only by that token or an admin one "
    "(another is a 403)."
)


class ClaimIn(Body):
    """Ask for work."""

    instrument: str | None = Field(
        default=None,
        pattern=NAME,
        description="Instrument id, e.g. `xrd-2`; required unless the token is bound to one."
        + RESERVED,
    )
    count: int = Field(default=1, ge=1, le=100, strict=True)
    lease_seconds: float = Field(default=DEFAULT_LEASE_SECONDS, gt=0, le=7 * 24 * 3600, strict=True)
    request_id: str | None = Field(
        default=None,
        pattern=NAME,
        description="Makes a retried claim safe: the same id gets the trials the first "
        "request leased while they run, not new ones.",
    )


class ResultIn(Body):
    """One measured result (also the rows of ``matloop campaign observe --from-file``)."""

    trial_id: str = Field(min_length=1, max_length=64)
    # Strict: `true` or "0.5" is a client bug, not a measured 1.0 or 0.5.
    values: dict[str, Annotated[float, Field(strict=True)]] = Field(
        description="Outcome name -> measured value: every objective and constraint, or "
        "with `partial` some of them."
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Default `<source>:<trial_id>`, and for a partial result "
        "`<source>:<trial_id>:<outcome>+<outcome>`. A key of either form naming another "
        "trial of the campaign is a 422: it would block that trial's own result.",
    )
    partial: bool = Field(
        default=False,
        strict=True,
        description="Some outcomes only: one instrument's share of a trial that several "
        "measure (hand the trial on with POST .../handoff). The trial must be running; a "
        "part may not give an outcome an earlier part gave; the part that gives the last "
        "outcome stores the trial's result and completes it. A trial with parts stays "
        "leased when its lease runs out (its sample exists).",
    )
    source: str | None = Field(
        default=None,
        pattern=NAME,
        description="Instrument or person (default: the token's instrument, else `api`). "
        "A result naming an instrument is refused when the trial is leased to another one "
        "(its lease ran out)." + RESERVED,
    )
    # any name an outcome may have ("band gap"); the campaign refuses one not its own
    units: dict[Annotated[str, Field(pattern=OUTCOME_NAME)], str] = Field(
        default_factory=dict, description="Outcome name -> the unit its value is given in."
    )

    def measurement(self, source: str, token: str | None = None) -> Measurement:
        """The result as a measurement; from ``source`` unless it names its own.

        Args:
            source: Who measured it, unless the result names its source.
            token: The name of the API token reporting it (``recorded_by``).
        """
        origin = self.source or source
        outcomes = self.values if self.partial else None
        return Measurement(
            trial_id=self.trial_id,
            values=dict(self.values),
            idempotency_key=self.idempotency_key or default_key(origin, self.trial_id, outcomes),
            source=origin,
            units=dict(self.units),
            recorded_by=token,
            partial=self.partial,
        )


class EarlierResultIn(Body):
    """A candidate the lab measured before the campaign, and its result."""

    candidate: int = Field(ge=0, strict=True, description="Its index in `candidates`.")
    values: dict[str, Annotated[float, Field(strict=True)]] = Field(
        description="Outcome name -> measured value: every objective and constraint."
    )
    units: dict[Annotated[str, Field(pattern=OUTCOME_NAME)], str] = Field(
        default_factory=dict, description="Outcome name -> the unit its value is given in."
    )
    source: str = Field(default=IMPORTED, pattern=NAME, description="Who measured it.")


class CorrectionIn(Body):
    """A stored result's right values, and why the stored ones are wrong."""

    values: dict[str, Annotated[float, Field(strict=True)]] = Field(
        description="The right values of the outcomes to replace (every outcome, or some: "
        "the others keep theirs), as a result gives them."
    )
    units: dict[Annotated[str, Field(pattern=OUTCOME_NAME)], str] = Field(
        default_factory=dict, description="Outcome name -> the unit its value is given in."
    )
    reason: str = Field(min_length=1, max_length=1000, description="Why: kept with the old values.")
    idempotency_key: str = Field(
        min_length=1, max_length=256, description="The correction's: asked again, stored once."
    )


class BudgetIn(Body):
    """A campaign's new budget."""

    budget: int | None = Field(
        ge=1,
        strict=True,
        description="Experiments in all, failed and abandoned ones not counted; null: open-ended.",
    )


class ResultsIn(Body):
    """Several results, stored all or nothing."""

    results: list[ResultIn] = Field(min_length=1, max_length=1000)


def _report_shape(data: Any) -> str:
    return "ResultsIn" if isinstance(data, dict) and "results" in data else "ResultIn"


#: A report is one result or ``{"results": [...]}``, told apart by the ``results`` key,
#: so that a malformed body's errors are those of the shape it was meant to have.
ReportIn = Annotated[
    Annotated[ResultsIn, Tag("ResultsIn")] | Annotated[ResultIn, Tag("ResultIn")],
    Discriminator(_report_shape),
]


class HeartbeatIn(Body):
    """Keep a lease alive."""

    instrument: str | None = Field(
        default=None,
        pattern=NAME,
        description="Required unless the token is bound to one." + RESERVED,
    )
    lease_seconds: float | None = Field(
        default=None,
        gt=0,
        strict=True,
        le=7 * 24 * 3600,
        description="The lease from now on; default: as long as the claim or the last "
        "heartbeat asked, so a bare heartbeat never shortens a lease.",
    )


class HandoffIn(Body):
    """Pass a running trial to the instrument that measures it next."""

    to: str = Field(pattern=NAME, description="The instrument that takes the trial's lease.")
    instrument: str | None = Field(
        default=None,
        pattern=NAME,
        description="The holder handing it over; required unless the token is bound to one. "
        "An admin token naming none hands it over from whoever holds it." + RESERVED,
    )
    lease_seconds: float | None = Field(
        default=None,
        gt=0,
        strict=True,
        le=7 * 24 * 3600,
        description="The new holder's lease from now; default: as long as the last one asked.",
    )


class RejectionIn(Body):
    """Why a literature record is wrong."""

    reason: str = Field(
        min_length=1,
        max_length=1000,
        description="Why the record is wrong (\"tantalum's Tc, not MgB2's\"): kept with it.",
    )


class GiveUpIn(Body):
    """Who gives a trial up, and why."""

    instrument: str | None = Field(
        default=None,
        pattern=NAME,
        description="The instrument holding the lease (default: the token's); required on a "
        "running trial, except for an admin token." + RESERVED,
    )
    reason: str | None = Field(default=None, min_length=1, max_length=1000)


#: A declared unit; a blank one is none. pint converts results reported in another unit
#: when it knows both; a label it does not know (wt%) matches only itself.
Unit = Annotated[str | None, AfterValidator(lambda u: (u or "").strip() or None)]


#: An objective's or constrained quantity's name: what the command line takes ("band gap").
OutcomeName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=OUTCOME_NAME,
        description="Any text of 1 to 128 characters (`band gap`) but a leading `$` or a "
        "NUL character; results name it in `values` and `units`.",
    ),
]


class ObjectiveIn(Body):
    """An objective of a new campaign."""

    name: OutcomeName
    direction: Literal["max", "min"]
    unit: Unit = None


class ConstraintIn(Body):
    """A measured quantity of a new campaign that must fall in a range."""

    name: OutcomeName
    lower: float | None = Field(default=None, strict=True)
    upper: float | None = Field(default=None, strict=True)
    unit: Unit = None


class SettingsIn(Body):
    """How the new campaign chooses experiments."""

    strategy: str = "gp"
    initial: int = Field(default=10, ge=1, le=10_000, strict=True)
    batch_size: int = Field(default=4, ge=1, le=1000, strict=True)
    seed: int = Field(default=0, ge=0, le=MAX_SEED, strict=True)
    prior_model: str | None = Field(
        default=None,
        max_length=200,
        description="Registered property model whose predictions are the GP's prior mean "
        "(a literature prior); composition spaces only.",
    )
    budget: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        strict=True,
        description="Experiments the campaign means to run in all (failed ones not counted): "
        "no proposal goes past it, and planners plan towards it. None: open-ended.",
    )


#: The most candidates a campaign's pool may hold, given or generated.
MAX_CANDIDATES = MAX_POOL_SIZE


class CompositionsIn(Body):
    """Rules that generate a pool of compositions, as `matloop campaign create --elements`.

    The counts and the flag are strict: `true`, `"10"` or `2.0` is a client bug, not a grid
    of 1, 10 or two elements.
    """

    elements: list[str] = Field(
        max_length=118,
        description='Element symbols the compositions are made of (`["Li", "Fe", "O"]`).',
    )
    max_elements: int = Field(
        default=3, strict=True, description="The most elements in one composition."
    )
    min_elements: int | None = Field(
        default=None,
        strict=True,
        description="The fewest elements in one composition; default 2 when "
        "`charge_balanced` (no pure elements), else 1.",
    )
    grid: int | None = Field(
        default=None,
        strict=True,
        description=f"Molar fractions are multiples of 1/grid (1 to {MAX_GRID}; default "
        f"{DEFAULT_GRID}). Not with `substitute_from`, whose substitutions keep their own "
        "stoichiometry.",
    )
    charge_balanced: bool = Field(
        default=False,
        strict=True,
        description="Keep compositions that can be ionic compounds only: pymatgen's "
        "oxidation states, each element of one sign, anions more electronegative than "
        "cations (no intermetallics, peroxides or pure elements).",
    )
    substitute_from: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list,
        max_length=50,
        description="Known formulas (`LiCoO2`; `STO` is SrTiO3) whose likely substitutions "
        f"(pymatgen's substitution probabilities, at least {SUBSTITUTION_THRESHOLD:g}) within "
        "`elements` make the pool instead of the grid; always charge balanced.",
    )

    def rules(self) -> CompositionRules:
        """The rules these fields give."""
        return CompositionRules(
            elements=tuple(self.elements),
            max_elements=self.max_elements,
            grid=self.grid,
            charge_balanced=self.charge_balanced,
            min_elements=self.min_elements,
            substitute_from=tuple(self.substitute_from),
        )


class CampaignIn(Body):
    """A new campaign over an open space, a pool of candidates or generated compositions."""

    name: str = Field(pattern=NAME_REGEX, description="Letters, digits, `_`, `.`, `-`.")
    space: dict[str, Any] | None = Field(
        default=None,
        description="The search space; required unless `compositions` is given (it then "
        "makes the space, and giving one too is a 422). `parameters` (required, at least "
        "one): continuous "
        '`{name, type: "continuous" (the default), lower, upper, unit (optional)}` or '
        'categorical `{name, type: "categorical", choices: [text, ...]}`. `simplex` '
        "(optional): `{names: [continuous parameters], total (default 1)}`, fractions that "
        "add up to `total`. `linear` (optional): `{terms: {parameter: coefficient}, upper}`, "
        "meaning sum(coefficient * parameter) <= upper (negate the terms for a lower "
        "limit). Any other key, at any level, is a 422 naming it (`space.linear_constraints: "
        "unknown key ...`).",
        examples=[
            {
                "parameters": [
                    {
                        "name": "temperature",
                        "type": "continuous",
                        "lower": 20,
                        "upper": 80,
                        "unit": "degC",
                    },
                    {"name": "solvent", "type": "categorical", "choices": ["water", "ethanol"]},
                    {"name": "salt_a", "type": "continuous", "lower": 0, "upper": 1},
                    {"name": "salt_b", "type": "continuous", "lower": 0, "upper": 1},
                    {"name": "additive", "type": "continuous", "lower": 0, "upper": 1},
                ],
                "simplex": [{"names": ["salt_a", "salt_b", "additive"], "total": 1}],
                "linear": [{"terms": {"salt_a": 1, "salt_b": 1}, "upper": 0.9}],
            }
        ],
    )
    objectives: list[ObjectiveIn] = Field(min_length=1, max_length=16)
    constraints: list[ConstraintIn] = Field(default_factory=list, max_length=16)
    settings: SettingsIn = SettingsIn()
    candidates: list[dict[str, Any]] | None = Field(
        default=None,
        max_length=MAX_CANDIDATES,
        description="The pool: points of `space`, each once (none: an open space). Not with "
        "`compositions`.",
    )
    labels: list[Annotated[str, StringConstraints(max_length=256)] | None] | None = Field(
        default=None,
        max_length=MAX_CANDIDATES,
        description="What the lab calls each candidate (a sample id, `P001`), in the order "
        "of `candidates` and as many: kept with its trials (`label`, found by "
        '`filter=label="P001"`), never a parameter. Null or blank for one without a name.',
        examples=[["P001", "P002", None]],
    )
    results: list[EarlierResultIn] | None = Field(
        default=None,
        max_length=MAX_CANDIDATES,
        description="Candidates the lab measured before the campaign, each once, with their "
        "results (as `matloop campaign create --unmeasured` reads the rows of its table "
        "that hold values): stored with the campaign as the completed trials of batch "
        "`b0000`, strategy `imported`, so the model learns from them. They count towards "
        "`settings.initial` and `settings.budget` as experiments done. A result that "
        "names no candidate or lacks an outcome is a 422 and nothing is stored.",
        examples=[[{"candidate": 2, "values": {"band_gap": 1.4}, "units": {"band_gap": "eV"}}]],
    )
    compositions: CompositionsIn | None = Field(
        default=None,
        description="Generate the pool, as `matloop campaign create --elements` does: every "
        "composition of `elements` on the grid that the rules allow (or the substitutions of "
        "`substitute_from`), less the compositions already known (registered materials, "
        "literature records, measured ones). The space is one molar fraction per element, "
        "summing to 1; `space` and `candidates` must be left out. A pool of more than "
        f"{MAX_CANDIDATES} compositions is a 422 (`compositions: ...`).",
        examples=[{"elements": ["Li", "Fe", "P", "O"], "grid": 10, "charge_balanced": True}],
    )


class MaterialIn(Body):
    """A material to register."""

    formula: str = Field(
        min_length=1,
        max_length=256,
        description="A chemical formula (`La1.85Sr0.15CuO4`), kept as written as "
        "`chemical_formula_descriptive`. An abbreviation resolves only to one exact formula "
        "(`STO`: SrTiO3); others (`YBCO`, `LSCO`: amounts not fixed), Roman-numeral "
        "oxidation states (`Fe(III)2O3`) and capitals read as atoms (`BSCCO`) are a 422.",
    )
    structure: dict[str, Any] | None = Field(
        default=None,
        description="The crystal structure, as pymatgen's `Structure.as_dict()` writes it, "
        "returned as given. Its composition must be the formula's; one that is not a "
        "structure, or holds a number JSON cannot carry back (NaN, infinity, an integer past "
        "64 bits), is a 422 naming `structure` and stores nothing.",
    )


class Problem(BaseModel):
    """An error answer (every 4xx and 5xx but a request-validation 422)."""

    detail: str = Field(description="What went wrong, naming the field where there is one.")


class FieldError(BaseModel):
    """One invalid field of a request, as FastAPI reports it."""

    loc: list[str | int]
    msg: str
    type: str


class Invalid(BaseModel):
    """A 422: a message from the handlers, or the invalid fields from request validation."""

    detail: str | list[FieldError]


class PartOut(BaseModel):
    """One instrument's share of a trial's outcomes (a partial result)."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, float] = Field(description="Outcome name -> value, in `units`.")
    idempotency_key: str
    source: str = Field(description="The instrument that reported it.")
    units: dict[str, str]
    reported: dict[str, dict[str, float | str]] = Field(
        description="Values converted to their declared units, as the lab sent them."
    )
    received_at: str | None = Field(description="ISO 8601, UTC.")
    recorded_by: str | None = Field(description="The API token that stored it.")


class HandoffOut(BaseModel):
    """A trial passed on to the next instrument (POST .../handoff)."""

    model_config = ConfigDict(extra="forbid")

    holder: str | None = Field(description="The instrument that held it.")
    to: str = Field(description="The instrument that took it.")
    operator: bool = Field(description="Handed on by an admin token naming no instrument.")
    at: str | None = Field(description="ISO 8601, UTC.")


class TrialOut(BaseModel):
    """A trial as the API gives it (:func:`agents.serialize.trial_json`)."""

    model_config = ConfigDict(extra="forbid")

    campaign: str
    parameters: dict[str, float | str] = Field(
        description="The experiment's settings: each parameter's value (a number, or a "
        "categorical's choice)."
    )
    formula: str | None = Field(
        default=None, description="A composition campaign's trials only: what to make."
    )
    batch: str
    status: Literal["proposed", "running", "completed", "failed", "abandoned"]
    candidate: int | None = Field(description="Its index in the campaign's pool, if any.")
    label: str | None = Field(description="What the pool names the candidate by.")
    model_version: str | None = Field(description="The model that chose it (null: random).")
    acquisition_value: float | None
    strategy: str | None
    claimed_by: str | None = Field(description="The instrument holding its lease.")
    lease_expires_at: str | None = Field(description="ISO 8601, UTC.")
    reason: str | None = Field(description="Why it failed or was given up.")
    id: str
    created_at: str
    updated_at: str
    parts: list[PartOut] = Field(
        description="Its partial results, in the order they came (empty: none)."
    )
    handoffs: list[HandoffOut] = Field(
        description="Its hand-offs between instruments, oldest first (empty: none)."
    )


class ClaimOut(BaseModel):
    """A claim's answer: the trials leased, and why fewer than asked came."""

    model_config = ConfigDict(extra="forbid")

    trials: list[TrialOut]
    why: str | None = Field(description="Why fewer trials than `count` came (null: all came).")
    ask_again: bool | None = Field(
        description="Whether work may still come (null: all came; false: budget or pool spent)."
    )


class ReportOut(BaseModel):
    """A report's answer: results newly stored, and repeats of ones stored before."""

    model_config = ConfigDict(extra="forbid")

    stored: int = Field(description="Results (or partial results) newly stored.")
    duplicates: int = Field(description="Repeats of ones stored before: stored once.")
    completed: int = Field(
        description="Trials whose result this stored: each new whole result's, and each "
        "whose parts are now complete (a part that leaves outcomes to come completes none)."
    )


#: Documented answers (OpenAPI only: the routes return plain dicts) of the routes that
#: instruments call, for clients generated from the spec.
ANSWER_MODELS: dict[str, type[BaseModel]] = {
    "claim": ClaimOut,
    "report": ReportOut,
    "heartbeat": TrialOut,
    "hand_off": TrialOut,
    "fail": TrialOut,
    "cancel": TrialOut,
    "show_trial": TrialOut,
}

ANSWERS = {
    201: "Registered: a new material (200: one already known, returned as is).",
    400: "Bad filter (OPTIMADE syntax, an unknown field, a value out of range), or a "
    "request body that cannot be read: not UTF-8, nested too deeply, or an object that "
    "gives a key twice.",
    401: "No token, or an unknown or revoked one.",
    403: "The token lacks the scope (or the campaign) the route needs, or a token bound to "
    "an instrument names another one.",
    404: "Unknown campaign, trial or model version.",
    409: "Conflict: trial state or lease, a closed campaign (no new trials), a concurrent "
    "proposal, a name taken; a model whose records are not listed (past 20,000: their count "
    "and hash only).",
    413: TOO_LARGE.capitalize() + ".",
    415: "A body sent as other than JSON: send `Content-Type: application/json`.",
    422: "Invalid input; the message names the field.",
    503: "Database unavailable: nothing was stored; retry (a write with its idempotency keys).",
}
CSV_PAGE = {"text/csv": {"schema": {"type": "string"}}}
PAGE = (
    "A page: JSON (`data`: the rows; `meta`: `total`, `limit`, `offset`, `returned`; the "
    "headers `X-Total-Count`, `X-Limit` and `X-Offset` say the same), or with `format=csv` "
    "CSV whose header row names the "
    "listing's columns, on a page with no rows too (`parameters.<name>` and "
    "`values.<name>`: the campaign's parameters and outcomes). A CSV text cell starting "
    "with `=`, `+`, `-`, `@`, a tab or a carriage return starts with `'`, so that a "
    "spreadsheet shows it instead of running it as a formula; numbers stay numbers."
)
#: A listing answered as a JSON list, its size in headers (campaigns, models).
COUNTED = (
    "A page of the listing, a JSON list; `X-Total-Count` gives the listing's size, "
    "`X-Limit` and `X-Offset` the page's."
)
#: What a CSV page, or a counted JSON list, says about the listing it is part of (JSON
#: pages carry it in ``meta``).
PAGE_HEADERS = {
    name: {"description": description, "schema": {"type": "integer"}}
    for name, description in (
        ("X-Total-Count", "Rows matching the filter, on every page."),
        ("X-Limit", "The page's limit."),
        ("X-Offset", "The page's offset."),
    )
}


def responses(
    answers: tuple[int, ...],
    csv_page: bool = False,
    counted: bool = False,
    model: type[BaseModel] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """A route's other OpenAPI responses: ``answers``, 503, text/csv pages if it lists.

    A ``counted`` listing is a JSON list whose size the page headers give; ``model`` is
    the schema of a 200's body.
    """
    declared: dict[int | str, dict[str, Any]] = {}
    if model is not None:
        declared[200] = {"description": "Successful Response", "model": model}
    for status in (*answers, 503):
        declared[status] = {"description": ANSWERS[status]}
        if status >= 400:
            declared[status]["model"] = Invalid if status == 422 else Problem
    if csv_page:
        declared[200] = {"description": PAGE, "content": CSV_PAGE, "headers": PAGE_HEADERS}
    elif counted:
        declared[200] = {"description": COUNTED, "headers": PAGE_HEADERS}
    return declared


# -- listings ---------------------------------------------------------------------------


def csv_columns(names: Iterable[str], dotted: Mapping[str, Sequence[str]]) -> list[str]:
    """A listing's columns known without rows: each field, a :data:`DOTTED` one dotted.

    Args:
        names: The fields of the listing's rows, in order.
        dotted: The keys each :data:`DOTTED` field's dicts hold (a trial's ``parameters``:
            the campaign's parameter names).
    """
    return [
        column
        for name in names
        for column in ([f"{name}.{key}" for key in dotted[name]] if name in dotted else [name])
    ]


SORT_RECORDS = (
    f"Fields, `-field` for descending, comma-separated: {', '.join(RECORD_ORDERS)}. Ties go "
    "by confidence where `n_papers` is named, then material, then value."
)
SORT_TRIALS = (
    f"Fields, `-field` for descending, comma-separated: {', '.join(ORDERS['trials'])} "
    "(`created_at`: proposal order, the default), or a parameter, `parameters.<name>`. "
    "Ties go in proposal order; a trial without an `acquisition_value` comes first "
    "ascending, last descending."
)
#: Header of a 409 from the search: why nothing can be searched (``no-embeddings``).
SEARCH_REASON = "X-Matloop-Reason"
#: Header of a search: sentences matching its filters that have no embedding (not searched).
SEARCH_UNEMBEDDED = "X-Matloop-Unembedded"
SORT_MEASUREMENTS = (
    f"Fields, `-field` for descending, comma-separated: {', '.join(ORDERS['measurements'])}, "
    "or an outcome, `values.<outcome>` (`-values.pce`: best first where larger is better). "
    "Default: the order received, which also breaks ties."
)
SORT_MATERIALS = (
    f"Fields, `-field` for descending, comma-separated: {', '.join(ORDERS['materials'])} "
    "(`formula`, the default, is unique and breaks ties): `nelements,formula`, `-created_at`."
)
MATERIAL_COLUMNS = tuple(f.name for f in fields(Material))


def trial_columns(campaign: Campaign) -> list[str]:
    """The CSV columns of a campaign's trials: ``parameters.<name>`` per parameter.

    A composition campaign's trials name their ``formula`` after their fractions.
    """
    names = [f.name for f in fields(Trial)]
    if element_fractions(campaign.space) is not None:
        names.insert(names.index("parameters") + 1, "formula")
    return csv_columns(names, {"parameters": campaign.space.names})


def measurement_columns(campaign: Campaign) -> list[str]:
    """The CSV columns of a campaign's measurements: ``values.<name>`` per outcome.

    ``units``, ``reported`` (what the lab sent, for converted values) and ``corrections``
    (the values an operator replaced) are JSON text.
    With outcome constraints, ``feasible`` comes last.
    """
    names = [f.name for f in fields(Measurement) if f.name != "partial"]  # stored: whole
    columns = csv_columns(names, {"values": campaign.outcome_names})
    return [*columns, "feasible"] if campaign.constraints else columns


def listing(
    rows: list[dict[str, Any]],
    total: int,
    limit: int,
    offset: int,
    fmt: str,
    columns: Sequence[str] = (),
) -> Response:
    """A page of rows as JSON (``data`` + ``meta``) or CSV.

    A CSV page writes lists and dicts as JSON text, so every page of a listing has the same
    columns, and gives the listing's size in ``X-Total-Count``, ``X-Limit`` and
    ``X-Offset`` (a JSON page in ``meta``). Its text cells starting as a formula
    (``=``, ``+``, ``-``, ``@``) start with ``'`` (:func:`agents.serialize.csv_safe`).

    Args:
        rows: The page's rows (JSON-ready dicts).
        total: Rows matching the filter, in all pages.
        limit: The page's limit.
        offset: The page's offset.
        fmt: ``json`` or ``csv``.
        columns: The listing's columns, known without rows (:func:`csv_columns`): a CSV
            page's header, in this order, before any other a row holds; a page with no rows
            has this header alone, so that a CSV reader still gets the columns.
    """
    headers = {"X-Total-Count": str(total), "X-Limit": str(limit), "X-Offset": str(offset)}
    if fmt == "csv":
        flat = [csv_cells(r) for r in rows]
        header = list(dict.fromkeys([*columns, *(k for r in flat for k in r)]))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=header)
        if header:  # no columns at all: an empty body, not a blank line
            writer.writeheader()
        writer.writerows(flat)
        return Response(buffer.getvalue(), media_type="text/csv", headers=headers)
    meta = {"total": total, "limit": limit, "offset": offset, "returned": len(rows)}
    return JSONResponse({"data": rows, "meta": meta}, headers=headers)  # as every listing


def counted(response: Response, total: int, limit: int, offset: int) -> None:
    """Give a listing answered as a JSON list its size and page, as CSV pages do."""
    response.headers.update(
        {"X-Total-Count": str(total), "X-Limit": str(limit), "X-Offset": str(offset)}
    )


# -- authentication ---------------------------------------------------------------------
_bearer = HTTPBearer(auto_error=False)


#: The methods the dashboard's cookie is taken for: reads. A browser sends the cookie with
#: a form another site's page posts here (same-site: another port of this host), so a
#: write by cookie would let that page close a campaign as the signed-in admin.
COOKIE_METHODS = frozenset({"GET", "HEAD"})


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller (bearer token, or for reads the dashboard's session); else 401."""
    secret = credentials.credentials if credentials else None
    session = request.cookies.get(SESSION_COOKIE)
    if secret is not None:
        principal = authenticate(secret)
    elif session and request.method in COOKIE_METHODS:
        principal = session_principal(session)
    else:
        principal = None
    if principal is None:
        said = "a valid token is required"
        if secret is None and session and request.method not in COOKIE_METHODS:
            said += " (the dashboard's sign-in reads only: send writes with Authorization: Bearer)"
        raise HTTPException(401, said, {"WWW-Authenticate": "Bearer"})
    return principal


Caller = Annotated[Principal, Depends(caller)]


def reader(principal: Caller) -> Principal:
    """Callers that read what is no campaign's (materials, literature, models); else 403."""
    _may_read(principal, None)
    return principal


def campaign_reader(name: str, principal: Caller) -> Principal:
    """Callers that read campaign ``name``: an instrument's token its own alone; else 403."""
    _may_read(principal, name)
    return principal


def lister(principal: Caller) -> Principal:
    """Callers with read access to any campaign (the listing keeps those they read)."""
    if not principal.can_read():
        raise HTTPException(403, f"token {principal.name!r} has no read scope")
    return principal


def _may_read(principal: Principal, campaign: str | None) -> None:
    if principal.reads(campaign):
        return
    if not principal.can_read():
        raise HTTPException(403, f"token {principal.name!r} has no read scope")
    own = sorted(principal.campaigns)
    what = f"campaign {campaign!r}" if campaign is not None else "what is no campaign's"
    raise HTTPException(
        403, f"token {principal.name!r} may not read {what}; it reads its campaigns {own} alone"
    )


def writer(name: str, principal: Caller) -> Principal:
    """Callers that may write to campaign ``name``; else 403."""
    if not principal.can_write(name):
        # its own campaigns named: a misspelt one ("OPV" for "opv") is seen at once
        own = f"; it writes to {sorted(principal.campaigns)}" if principal.campaigns else ""
        raise HTTPException(
            403, f"token {principal.name!r} may not write to campaign {name!r}{own}"
        )
    return principal


def admin(principal: Caller) -> Principal:
    """Administrators; else 403."""
    if not principal.is_admin():
        raise HTTPException(403, f"token {principal.name!r} is not an admin token")
    return principal


def _instrument(principal: Principal, named: str | None) -> str:
    """The instrument a claim or heartbeat acts for: the token's, else the one named."""
    instrument = acting_for(principal, {"instrument": named})["instrument"]
    if instrument is None:
        raise ValueError(f"instrument: required; token {principal.name!r} is not bound to one")
    return instrument


def _query_names(dependant: Any) -> set[str]:
    """The query parameters a route (its endpoint and dependencies) declares."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def _refuse_unasked_body(request: Request, dependant: Any) -> None:
    """Refuse a body sent to a route that reads none (``POST …/close``): 422.

    Ignored, ``{"dry_run": true}`` would close a campaign for good. An empty body, however
    framed (``Content-Length: 0``, chunked with no bytes, whitespace), is no body.
    """
    if dependant.body_params:
        return
    headers = request.headers
    if headers.get("content-length", "0").strip() in ("", "0") and (
        "transfer-encoding" not in headers
    ):
        return  # nothing sent: the body is not read
    if (await request.body()).strip():
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("body",),
                    "msg": "this route takes no request body; send none",
                    "input": None,
                }
            ]
        )


async def known_parameters(request: Request) -> None:
    """Refuse query parameters the route does not declare (422, naming each), and bodies.

    A body is refused where the route reads none (:func:`_refuse_unasked_body`).

    Without this a misspelt ``filtre=`` or ``elements=`` is ignored and the whole listing
    comes back, as if the caller had asked for it.
    """
    route = request.scope.get("route")
    if route is None:  # not reached through a route: nothing to check against
        return
    await _refuse_unasked_body(request, route.dependant)
    declared = _query_names(route.dependant)
    takes = ", ".join(sorted(declared)) or "none"
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in declared]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": f"unknown query parameter {name!r}; this route takes: {takes}",
                    "input": request.query_params[name],
                }
                for name in unknown
            ]
        )


def _check_unnamed(agent: CampaignAgent, principal: Principal, unnamed: dict[str, str]) -> None:
    """Refuse results naming no source for trials a bound instrument holds, but from it.

    An unnamed result is taken as the leaseholder's: from a token neither bound to that
    instrument nor an admin one, it would complete the trial in its place (one query for
    the holders, one for their tokens, and only then).

    Args:
        agent: The campaign's agent.
        principal: The caller.
        unnamed: Each result's ``source`` field that names none, with its trial id.

    Raises:
        PermissionError: naming the field, the trial, its holder and the holder's token.
    """
    if not unnamed or principal.instrument is not None or principal.is_admin():
        return
    holders = agent.store.leaseholders(agent.name, unnamed.values())
    bound = bound_to(holders.values())
    for field, trial_id in unnamed.items():
        holder = holders.get(trial_id)
        if holder is not None and (taken := bound.get(holder.casefold())) is not None:
            raise PermissionError(
                f"{field}: trial {trial_id} is leased to instrument {holder!r}, which only "
                f"token {taken[1]!r} (or an admin token) reports for"
            )


def _single_result_fields(message: str) -> str:
    """A batch's error message as one result sent alone reads it: ``results[0].x`` is ``x``."""
    return re.sub(r"^results\[0\](?:\.|: )", "", message)


def _give_up(
    agent: CampaignAgent, fail: bool, trial_id: str, principal: Principal, body: GiveUpIn | None
) -> dict[str, Any]:
    """Fail or abandon a trial as the caller: its instrument, and an admin as operator."""
    body = body or GiveUpIn()
    instrument = acting_for(principal, {"instrument": body.instrument})["instrument"]
    give_up = agent.fail if fail else agent.abandon
    trial = give_up(trial_id, instrument, body.reason, operator=principal.is_admin())
    return trial_json(trial, agent.campaign.space)


Reader = Depends(reader)
CampaignReader = Depends(campaign_reader)
Lister = Depends(lister)
Writer = Depends(writer)
Admin = Depends(admin)
Known = Depends(known_parameters)
Limit = Annotated[int, Query(ge=1, le=1000)]
#: The latest metrics rows ``GET /campaigns/{name}`` gives by default.
HISTORY = 100
#: A metrics listing's columns: the count of results, then each metric.
METRICS_COLUMNS = ("measurements", *CampaignMetrics(0).as_dict())
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
Format = Annotated[Literal["json", "csv"], Query(alias="format")]
#: The longest filter a listing takes (``filter=``).
MAX_FILTER = 2000
Filter = Annotated[
    str,
    Query(
        max_length=MAX_FILTER,
        description=f"OPTIMADE filter, at most {MAX_FILTER} characters: for many ids, "
        '`id HAS ANY "a","b"` (about 70 ids fit).',
    ),
]
RecordSort = Annotated[str, Query(max_length=200, description=SORT_RECORDS)]
Rejected = Annotated[
    Literal["exclude", "include", "only"],
    Query(
        description="Records a curator rejected (POST .../rejection): left out (exclude), "
        "listed too (include), or alone (only)."
    ),
]


# -- routes -----------------------------------------------------------------------------
def _candidate_key(space: SearchSpace, elements: Sequence[str], point: Mapping[str, Any]) -> Any:
    """What makes a candidate the same one: its parameters, its composition by formula.

    ``elements`` are a composition space's element symbols (empty for other spaces):
    their fractions count as the formula they make (:func:`formula_of`), so that Fe2O3
    and Fe4O6 are one composition, as matloop tells known compositions apart.
    """
    others = tuple(point[name] for name in space.names if name not in elements)
    return (formula_of(space, point), others) if elements else others


def _pool_labels(
    labels: Sequence[str | None] | None, pool_size: int, generating: bool
) -> list[str | None] | None:
    """Each candidate's label (None for none), as a CSV pool's ``--label`` cells read.

    Returns:
        One label per candidate, or None when none are given.

    Raises:
        ValueError: ``labels: ...`` for labels of a generated pool or an open space, or
            not one per candidate.
    """
    if labels is None:
        return None
    if generating or not pool_size:
        pool = "a generated pool" if generating else "an open space (no candidates)"
        raise ValueError(f"labels: {pool} has no candidates to name; leave labels out")
    if len(labels) != pool_size:
        raise ValueError(
            f"labels: {len(labels)} given for {pool_size} candidates; give one per "
            "candidate, in their order (null for one without a name)"
        )
    return [" ".join(label.split()) or None if label else None for label in labels]


def _earlier(
    results: Sequence[EarlierResultIn] | None, pool_size: int, generating: bool, token: str
) -> dict[int, Measurement]:
    """A new campaign's earlier ``results`` by candidate (:func:`earlier_results`).

    ``token`` is the name of the API token that sends them (their ``recorded_by``).

    Raises:
        ValueError: ``results...`` for results of a generated pool or an open space, or
            for a candidate twice.
    """
    if results and (generating or not pool_size):
        pool = "a generated pool" if generating else "an open space (no candidates)"
        raise ValueError(f"results: {pool} has no candidates measured before it")
    by_candidate: dict[int, Measurement] = {}
    for i, result in enumerate(results or ()):
        if result.candidate in by_candidate:
            raise ValueError(
                f"results[{i}].candidate: {result.candidate} has a result already; give "
                "one per candidate"
            )
        by_candidate[result.candidate] = Measurement(
            "", dict(result.values), "", result.source, dict(result.units), recorded_by=token
        )
    return by_candidate


def _refuse_repeated_candidates(space: SearchSpace, candidates: Sequence[Candidate]) -> None:
    """Refuse a pool that holds one candidate twice, naming both indices.

    Two copies would be handed out as two experiments, in one batch even.

    Raises:
        ValueError: ``candidates[j]: ... is candidates[i] again``, with the formula in a
            composition space.
    """
    elements = element_fractions(space) or []
    first: dict[Any, int] = {}
    for candidate in candidates:
        key = _candidate_key(space, elements, candidate.parameters)
        earlier = first.setdefault(key, candidate.index)
        if earlier == candidate.index:
            continue
        formula = key[0] if elements else None
        what = f"composition {formula}" if formula else "candidate"
        raise ValueError(
            f"candidates[{candidate.index}]: {dict(candidate.parameters)} is the {what} of "
            f"candidates[{earlier}] again; a pool holds each candidate once: drop one"
        )


def _given_space(body: CampaignIn) -> SearchSpace:
    """The space of a campaign without ``compositions``: ``space``, read and checked.

    Raises:
        ValueError: ``space: ...`` when it is missing or invalid (naming the key), or
            ``candidates: ...`` for an empty pool.
    """
    if body.space is None:
        raise ValueError("space: required (or `compositions`, which generates it)")
    space = SearchSpace.from_dict(body.space)  # a ValueError names `space...`: a 422
    if body.candidates is not None and not body.candidates:  # not an open space
        raise ValueError("candidates: none given; a pool campaign needs at least one")
    return space


def _composition_space(body: CampaignIn) -> SearchSpace | None:
    """The space ``body.compositions`` generates (its rules checked), or None without it.

    Cheap: the pool is made later (:func:`_generated_pool`), once everything else holds.

    Raises:
        ValueError: ``space: ...`` or ``candidates: ...`` when given too, and
            ``compositions.<field>: ...`` for a rule that does not hold.
    """
    if body.compositions is None:
        return None
    if body.space is not None:
        raise ValueError("space: leave it out with `compositions`, which generates it")
    if body.candidates is not None:
        raise ValueError("candidates: leave them out with `compositions`, which generates them")
    try:
        return body.compositions.rules().space().search_space()
    except ValueError as error:  # it names the rule at fault
        raise ValueError(f"compositions.{error}") from None


def _generated_pool(compositions: CompositionsIn) -> GeneratedPool:
    """The pool ``compositions`` generates, leaving out known compositions as the CLI does.

    Raises:
        ValueError: ``compositions.<field>: ...``, or ``compositions: ...`` for more than
            :data:`MAX_CANDIDATES` (or more grid points to test than
            :data:`agents.pools.MAX_TESTED_POINTS`).
    """
    rules = compositions.rules()
    try:
        return generate_pool(rules, known_formulas, read_formula=read_formula, limit=MAX_CANDIDATES)
    except PoolTooLargeError as error:
        raise ValueError(f"compositions: {error}") from None
    except ValueError as error:  # it names the rule at fault
        raise ValueError(f"compositions.{error}") from None


class Service:
    """The routes, with the store and the per-campaign proposal locks they share."""

    def __init__(self, on_results: ResultsHook | None = None) -> None:
        self.store = CampaignStore()
        self.literature = LiteratureStore()
        self._encoder: Any = None
        self.on_results = on_results
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, campaign: str) -> threading.Lock:
        """One proposal at a time per campaign within this process."""
        with self._guard:
            return self._locks.setdefault(campaign, threading.Lock())

    def agent(self, name: str) -> CampaignAgent:
        """The campaign's agent (404 if there is no such campaign)."""
        return CampaignAgent(self.store, name)

    def register(self, app: FastAPI) -> None:
        """Add every API route under ``/api/v1`` (directly, so ``app.routes`` lists them)."""
        r = APIRouter(prefix="/api/v1", route_class=StrictJSONRoute)
        campaign, trial = "/campaigns/{name}", "/campaigns/{name}/trials/{trial_id}"
        record = "/literature/records/{record_id}"
        # What each route answers besides its status (errors, 503 aside), for the schema.
        read, listed = (401, 403, 404, 422), (400, 401, 403, 404, 422)
        written = (400, 401, 403, 404, 409, 413, 415, 422)  # 400: a body that is unreadable
        created = (400, 401, 403, 409, 413, 415, 422)
        registered = (201, 400, 401, 403, 413, 415, 422)
        closed = (401, 403, 404, 413, 422)  # 413: any POST body over the limit
        routes: list[tuple[str, str, Callable[..., Any], Any, int, tuple[int, ...]]] = [
            ("GET", "/campaigns", self.list_campaigns, Lister, 200, (401, 403, 422)),
            ("POST", "/campaigns", self.create_campaign, Admin, 201, created),
            ("GET", campaign, self.show_campaign, CampaignReader, 200, read),
            ("GET", f"{campaign}/trials", self.list_trials, CampaignReader, 200, listed),
            ("GET", trial, self.show_trial, CampaignReader, 200, read),
            (
                "GET",
                f"{campaign}/measurements",
                self.list_measurements,
                CampaignReader,
                200,
                listed,
            ),
            ("GET", f"{campaign}/metrics", self.list_metrics, CampaignReader, 200, read),
            ("POST", f"{campaign}/close", self.close_campaign, Admin, 200, closed),
            ("PUT", f"{campaign}/budget", self.set_budget, Admin, 200, written),
            ("POST", f"{campaign}/claims", self.claim, Writer, 200, written),
            ("POST", f"{campaign}/results", self.report, Writer, 200, written),
            ("POST", f"{trial}/heartbeat", self.heartbeat, Writer, 200, written),
            ("POST", f"{trial}/handoff", self.hand_off, Writer, 200, written),
            ("POST", f"{trial}/fail", self.fail, Writer, 200, written),
            ("POST", f"{trial}/cancel", self.cancel, Writer, 200, written),
            ("POST", f"{trial}/correction", self.correct, Admin, 200, written),
            ("GET", f"{trial}/lineage", self.trial_lineage, CampaignReader, 200, read),
            (
                "GET",
                f"{campaign}/measurements/{{key:path}}/lineage",
                self.measurement_lineage,
                CampaignReader,
                200,
                read,
            ),
            ("GET", "/materials", self.list_materials, Reader, 200, (400, 401, 403, 422)),
            ("POST", "/materials", self.create_material, Admin, 200, registered),
            ("GET", "/materials/{formula}/lineage", self.material_lineage, Reader, 200, read),
            ("GET", "/literature/records", self.list_records, Reader, 200, (400, 401, 403, 422)),
            ("POST", f"{record}/rejection", self.reject_record, Admin, 200, written),
            ("DELETE", f"{record}/rejection", self.restore_record, Admin, 200, read),
            ("GET", "/literature/papers", self.list_papers, Reader, 200, (400, 401, 403, 422)),
            ("GET", "/literature/search", self.search, Reader, 200, (401, 403, 409, 422)),
            ("GET", "/literature/papers/{key:path}/lineage", self.paper_lineage, Reader, 200, read),
            ("GET", "/models", self.list_models, Reader, 200, read),
            ("GET", "/models/{version}", self.show_model, Reader, 200, read),
            ("GET", "/models/{version}/lineage", self.model_lineage, Reader, 200, read),
            (
                "GET",
                "/models/{version}/records",
                self.list_training_records,
                Reader,
                200,
                (400, 401, 403, 404, 409, 422),
            ),
        ]
        pages = {  # CSV too
            self.list_trials,
            self.list_measurements,
            self.list_metrics,
            self.list_materials,
            self.list_records,
            self.list_papers,
            self.list_training_records,
        }
        lists = {self.list_campaigns, self.list_models}  # JSON lists, sized in headers
        for method, path, endpoint, guard, status, answers in routes:
            model = ANSWER_MODELS.get(endpoint.__name__)
            r.add_api_route(
                path,
                endpoint,
                methods=[method],
                dependencies=[guard, Known],  # the token first: a 401 tells no route's params
                status_code=status,
                responses=responses(
                    answers, csv_page=endpoint in pages, counted=endpoint in lists, model=model
                ),
                # a documented model's schema alone, not merged with the annotation's dict
                response_model=Default(None) if model is None else None,
            )
        app.router.routes.extend(r.routes)

    @access("read")
    def list_campaigns(
        self,
        response: Response,
        principal: Caller,
        limit: Limit = 100,
        offset: Offset = 0,
        status: Annotated[
            Literal["active", "closed"] | None,
            Query(description="Only the campaigns still running (`active`) or `closed`."),
        ] = None,
    ) -> list[dict[str, Any]]:
        """Campaigns with their objectives and settings, oldest first, a page at a time.

        `X-Total-Count` gives how many campaigns there are (of `status`, where given);
        `X-Limit` and `X-Offset` the page. An instrument's token lists its own campaigns.
        """
        names = None if principal.reads(None) else principal.campaigns
        counted(response, self.store.campaign_count(status, names), limit, offset)
        listed = self.store.campaigns(offset, limit, status, names)
        return [campaign_summary_json(c) for c in listed]

    @access("admin")
    def create_campaign(self, body: CampaignIn, principal: Caller) -> dict[str, Any]:
        """Create a campaign over an open space, a pool of candidates or generated compositions.

        A pool holds each candidate once: a list that repeats one is a 422 naming both
        indices. In a composition space (a simplex over element symbols) two candidates
        of one composition are one (Fe2O3 written twice, or as Fe4O6: the same formula)
        unless their other parameters differ; in any other space,
        candidates with the same parameter values are.
        Candidates that are known materials (registered, in literature records, or
        measured in earlier campaigns) are kept: the list is the caller's choice, as a
        `--from-csv` pool's rows are; only pools matloop generates itself
        (`compositions`, or `campaign create --elements`) leave known compositions out.
        With `compositions` the pool and its space are generated by those rules (the same
        pool as the command line's), `pool_recipe` says how, and `space` or `candidates`
        given too is a 422 naming it, as is an invalid rule (`compositions.grid: ...`,
        `compositions.elements: 'Xx' is not an element symbol`) or a pool of more than
        100000 compositions (`compositions: ...`, refused before they are all made). A
        taken name or a bad strategy is refused before the pool is made. A strategy with
        `+endgame` needs `settings.budget`. The answer is the campaign's status, with
        `notes`: each unit pint does not know (results can then be given only in it, or
        without a unit: check its spelling), as the command line says them.
        """
        constraints = []
        for i, c in enumerate(body.constraints):
            try:
                constraints.append(OutcomeConstraint(c.name, c.lower, c.upper, c.unit))
            except ValueError as error:
                raise ValueError(f"constraints[{i}]: {error}") from None
        space = _composition_space(body) or _given_space(body)
        points = body.candidates or []
        generating = body.compositions is not None
        labels = _pool_labels(body.labels, len(points), generating)
        if body.settings.prior_model is not None and not (points or generating):
            raise ValueError("settings.prior_model: a prior mean needs a pool (candidates)")
        campaign = Campaign(
            name=body.name,
            space=space,
            objectives=tuple(
                Objective(o.name, Direction(o.direction), o.unit) for o in body.objectives
            ),
            settings=CampaignSettings(**body.settings.model_dump()),
            pool_size=1 if generating else len(points),  # a pool: its size once it is made
            source="generated" if generating else "api",
            constraints=tuple(constraints),
        )
        try:  # before anything is stored, not at the first model-guided batch; loads the
            campaign = with_stored_strategy(campaign)  # rl:3f2a: the version in full
            campaign_planner(campaign)  # prior model: a campaign never stores one it cannot use
        except (ValueError, LookupError) as error:
            if isinstance(error, INTERNAL_ERRORS):
                raise  # a bug, not a refusal of the settings
            # campaign_planner names these settings itself; the rest are the strategy's
            named = str(error).startswith(("prior_model: ", "budget: "))
            raise ValueError(f"settings.{'' if named else 'strategy: '}{error}") from None
        if body.compositions is not None:  # last: a large pool takes a while to make
            if self.store.exists(body.name):
                raise CampaignExistsError(f"campaign {body.name!r} already exists")
            generated = _generated_pool(body.compositions)
            points = generated.points
            campaign = replace(campaign, pool_size=len(points), pool_recipe=generated.recipe)
        candidates = []
        for i, point in enumerate(points):
            try:
                label = labels[i] if labels else None
                candidates.append(Candidate(i, space.validate(point), label=label))
            except ValueError as error:
                raise ValueError(f"candidates[{i}]: {error}") from None
        if not generating:  # a generated pool holds each formula once already
            _refuse_repeated_candidates(space, candidates)
        given = _earlier(body.results, len(points), generating, principal.name)
        earlier = earlier_results(campaign, candidates, given)
        self.store.create(campaign, candidates, earlier)
        agent = self.agent(body.name)
        if earlier:
            agent.record_metrics_after_commit()
        declared = [(o.name, o.unit) for o in campaign.objectives]
        declared += [(c.name, c.unit) for c in campaign.constraints]
        notes = [*unknown_unit_notes(declared), campaign.settings.budget_note or ""]
        return status_json(agent.status()) | {"notes": [note for note in notes if note]}

    @access("read")
    def show_campaign(
        self,
        name: str,
        principal: Caller,
        history: Annotated[
            int,
            Query(
                ge=0,
                le=1000,
                description="How many of the latest metrics rows `metrics_history` holds.",
            ),
        ] = HISTORY,
    ) -> dict[str, Any]:
        """A campaign's progress: trial counts, best result, best-so-far, EF/AF.

        ``metrics_history`` holds the live metrics recorded after the latest stored
        batches (`history` of them, 100 by default, oldest first; `GET .../metrics`
        pages through every one);
        ``rounds`` counts the batches the model chose, ``initial_left`` the experiments
        the random initial design still needs.
        `settings.prior_model` is the property model version whose predictions are the
        prior mean (null for none; model-guided trials then name their strategy with
        `+prior`). `pool_size` counts the candidates, `source` says where they came from
        (a file, `generated`, `api`), and `pool_recipe`, for a pool matloop generated
        (`campaign create --elements`), how: `elements`, `max_elements`,
        `min_elements`, `charge_balanced`, `grid` (null for substitutions),
        `substitute_from` (the known formulas, as read), `threshold` (the smallest
        substitution probability kept) and `known_left_out` (known compositions the
        rules allow that the pool leaves out); null for other pools. An instrument's
        token (one limited to its campaigns) gets the pool file's name as `source`, not
        its path on the server.
        """
        agent = self.agent(name)
        status = agent.status()
        status = replace(status, campaign=as_seen_by(status.campaign, principal.reads(None)))
        return status_json(status) | {"metrics_history": agent.latest_metrics(history, status)}

    @access("read")
    def list_metrics(
        self,
        name: str,
        limit: Limit = 100,
        offset: Offset = 0,
        fmt: Format = "json",
        latest_first: Annotated[
            bool, Query(description="The latest rows first (default: the earliest first).")
        ] = False,
    ) -> Response:
        """The live metrics recorded after each stored batch, one row per count of results.

        Each row: `measurements` (the results stored then), `best`, `simple_regret`
        (where the pool's best is known), `enhancement_factor` and
        `acceleration_factor` (against random on a known pool), `hypervolume` and
        `hypervolume_fraction` (several objectives); null where a metric does not apply.
        Paged as the other listings (`X-Total-Count`), `format=csv` for a spreadsheet.
        """
        rows, total = self.store.page_metrics(name, limit, offset, latest_first)
        return listing(rows, total, limit, offset, fmt, METRICS_COLUMNS)

    @access("admin")
    def close_campaign(self, name: str) -> dict[str, Any]:
        """Close a campaign: it hands out no more trials (claims answer 409).

        Proposed trials no instrument claimed, and running ones whose lease ran out, are
        abandoned (`abandoned` counts them; not those partly measured or handed on, whose
        sample exists); running ones keep their leases, and their
        results are still accepted. Closing a closed campaign answers 200 with
        `already_closed` true, abandoning the leases that ran out since.
        """
        report = self.agent(name).close()
        return {"name": name, "status": "closed", **asdict(report)}

    @access("read")
    def list_trials(
        self,
        name: str,
        filter: Filter = "",
        limit: Limit = 100,
        offset: Offset = 0,
        fmt: Format = "json",
        sort: Annotated[str, Query(max_length=200, description=SORT_TRIALS)] = "created_at",
    ) -> Response:
        """Trials, filtered with OPTIMADE (`status="running" AND claimed_by="xrd-2"`).

        Example: `filter=batch="b0003"&sort=-acquisition_value`, a batch's trials, the
        most promising first. Filterable: id, status, batch, strategy, model_version,
        candidate, label, acquisition_value, claimed_by, reason (why a trial failed or
        was given up: `reason = "campaign closed"`), created_at, updated_at and
        lease_expires_at (ISO 8601, UTC unless an offset says: `created_at >
        "2026-12-07T09:00:00Z"`) and each parameter's value. A parameter
        is `parameters.<name>`, its name written as an outcome's is (`Temperature (C)`:
        `parameters.temperature_c`, a composition's `Fe`: `parameters.fe`): a number,
        or one of a categorical's choices (`parameters.solvent = "water"`). It sorts
        too: `sort=-parameters.temperature_c`. A composition campaign's trials also
        take `elements` (`elements HAS ALL "Fe","O"`, an element present: its fraction
        above 1e-12), `nelements` (`nelements <= 2`), `chemical_formula_reduced`
        (`chemical_formula_reduced = "Fe2O3"`, in any spelling) and `fraction.<element>`
        (`fraction.fe >= 0.25`, as `parameters.fe`); an element outside the campaign's is
        in none of its trials (its fraction 0), and these names on other campaigns are a 400.
        A trial's result is tested as the measurements filter tests it:
        `values.hardness > 400`, `feasible = true`; such a test holds for the trials
        whose result it matches, so a trial not measured yet meets none of them (nor
        their `NOT`).
        """
        campaign = self.store.get(name)
        query = self.store.trial_query(campaign, filter)
        order = mongo_sort(sort, "trials", parameters=campaign.space.parameters)
        trials, total = self.store.page_trials(name, query, limit, offset, order)
        rows = [trial_json(t, campaign.space) for t in trials]
        return listing(rows, total, limit, offset, fmt, trial_columns(campaign))

    @access("read")
    def show_trial(self, name: str, trial_id: str) -> dict[str, Any]:
        """One trial, as the trials listing gives it (a JSON object, not a page).

        An instrument back from a restart reads here whether its lease still holds
        (`status`, `claimed_by`, `lease_expires_at`). Unknown trial: a 404; text that is
        no trial id: a 422.
        """
        campaign = self.store.get(name)
        return trial_json(self.store.trial(name, trial_id), campaign.space)

    @access("read")
    def list_measurements(
        self,
        name: str,
        filter: Filter = "",
        limit: Limit = 100,
        offset: Offset = 0,
        fmt: Format = "json",
        sort: Annotated[str, Query(max_length=300, description=SORT_MEASUREMENTS)] = "received_at",
    ) -> Response:
        """Measurements, filtered with OPTIMADE (`source="xrd-2" AND values.pce > 9`).

        Example: `sort=-values.pce&limit=10`, the ten best results. Filterable:
        trial_id, source, idempotency_key, received_at (ISO 8601, UTC unless an offset
        says: `received_at >= "2026-12-07"`) and each outcome's value. An outcome is
        `values.<name>`: its name in lower case, each run of characters other than a-z
        and 0-9 written `_` (`Tc`: `values.tc`, `band gap`: `values.band_gap`,
        `PCE (AM1.5)`: `values.pce_am1_5`); values are numbers. With outcome constraints
        each says whether it is ``feasible``, which filters too: `feasible = false`
        (or `true`), the results that miss a constraint.
        """
        campaign = self.store.get(name)
        outcomes = campaign.outcome_names
        query = optimade_to_mongo(
            filter, "measurements", outcomes, constraints=campaign.constraints
        )
        order = mongo_sort(sort, "measurements", outcomes)
        found, total = self.store.page_measurements(name, query, limit, offset, order)
        rows = [measurement_json(m) for m in found]
        if campaign.constraints:  # whether each result meets them: it counts only if so
            for row, m in zip(rows, found, strict=True):
                row["feasible"] = campaign.feasible(m.values)
        return listing(rows, total, limit, offset, fmt, measurement_columns(campaign))

    @access("write")
    def claim(self, name: str, principal: Caller, body: ClaimIn) -> dict[str, Any]:
        """Lease the next trial(s); proposes a new batch when none are waiting.

        Fewer `trials` than asked for (none, say) come with `why` (the budget or pool
        spent or handed out, the model waiting for the initial design's results) and
        `ask_again`: whether work may come later (trials still out may free their place,
        results let the model start); false only when the budget or pool is spent for
        good. Both are null when every trial asked for comes.
        """
        instrument = _instrument(principal, body.instrument)
        agent = self.agent(name)
        with self.lock(name):
            earlier = agent.repeated_claim(instrument, body.request_id)
            trials = earlier or agent.claim(
                instrument, body.count, body.lease_seconds, body.request_id
            )
        answer: dict[str, Any] = {"trials": [trial_json(t, agent.campaign.space) for t in trials]}
        if len(trials) == body.count:
            return answer | {"why": None, "ask_again": None}
        if earlier:  # not the state of the campaign: what this request id got before
            why = (
                f"a repeat of claim request {body.request_id!r}: the {len(earlier)} trial(s) "
                "it leased that still run; while any runs, that request id gets no new trials"
            )
            return answer | {"why": why, "ask_again": True}
        none = agent.no_work()
        return answer | {"why": none.why, "ask_again": none.ask_again}

    @access("write")
    def report(self, name: str, principal: Caller, body: ReportIn) -> dict[str, Any]:
        """Report one result or a list (`{"results": [...]}`); repeats are stored once.

        A token bound to an instrument reports as it: its results are checked against
        the trials' leases whether or not they name their source. No other token but an
        admin one may name that instrument as a `source`, or report for a trial it holds
        naming no source (or `api`, what naming none stores): a 403.
        """
        if isinstance(body, ResultsIn):
            named = {f"results[{i}].source": item for i, item in enumerate(body.results)}
        else:
            named = {"source": body}
        sources = acting_for(principal, {field: item.source for field, item in named.items()})
        agent = self.agent(name)
        # "api" written out is what naming none stores, and is checked alike
        unnamed = {f: item.trial_id for f, item in named.items() if sources[f] in (None, UNNAMED)}
        _check_unnamed(agent, principal, unnamed)
        measurements = [
            item.measurement(sources[f] or UNNAMED, principal.name) for f, item in named.items()
        ]
        try:
            report = agent.observe(measurements)
        except ValueError as error:
            if not isinstance(body, ResultsIn):  # name the fields as the request has them
                error.args = (_single_result_fields(str(error)), *error.args[1:])
            raise
        if self.on_results is not None and report.completed:  # a part alone: nothing to learn
            self.on_results(name, report.completed)
        return {
            "stored": report.stored,
            "duplicates": report.duplicates,
            "completed": report.completed,
        }

    @access("admin")
    def set_budget(self, name: str, body: BudgetIn) -> dict[str, Any]:
        """Give a campaign another budget (more funding, a cap), or `null` for none.

        Answers `{"budget", "previous", "spent"}` (experiments done or out). A budget
        below `spent` is a 422 saying how many of them wait unclaimed (cancel those, or
        close the campaign to stop it), as is none for a strategy with an endgame; a
        closed campaign is a 409. Planners plan towards it from their next batch.
        """
        change = self.agent(name).set_budget(body.budget)
        return {"budget": change.after, "previous": change.before, "spent": change.spent}

    @access("admin")
    def correct(
        self, name: str, trial_id: str, principal: Caller, body: CorrectionIn
    ) -> dict[str, Any]:
        """Replace a completed trial's wrong result (a unit mistyped, a sample misread).

        The outcomes named in `values` are replaced; the others keep theirs (one
        instrument's misread value is corrected alone). The values replaced stay with the
        result (`corrections`: values, units, source,
        `reason`, who corrected them, when), and the trial stays completed; models
        fitted from now on learn the right values. The same `idempotency_key` with the
        same values again is a 200 with `duplicate` true; with other values, a 422.
        Values equal to those stored are a 422; a trial without a result, a 409. Like
        results, a correction emits `matloop.results.reported` when Prefect is set up.
        """
        corrected = Measurement(
            trial_id=trial_id,
            values=dict(body.values),
            idempotency_key=body.idempotency_key,
            units=dict(body.units),
        )
        report = self.agent(name).correct(corrected, body.reason, principal.name)
        if self.on_results is not None and not report.duplicate:  # retrain, as for results
            self.on_results(name, 1)
        return {**measurement_json(report.measurement), "duplicate": report.duplicate}

    @access("write")
    def heartbeat(
        self, name: str, trial_id: str, principal: Caller, body: HeartbeatIn | None = None
    ) -> dict[str, Any]:
        """Extend the caller's lease on a running trial.

        No body at all reads as `{}`, as for `/fail` and `/cancel`.
        """
        body = body or HeartbeatIn()
        instrument = _instrument(principal, body.instrument)
        agent = self.agent(name)
        trial = agent.heartbeat(trial_id, instrument, body.lease_seconds)
        return trial_json(trial, agent.campaign.space)

    @access("write")
    def hand_off(
        self, name: str, trial_id: str, body: HandoffIn, principal: Caller
    ) -> dict[str, Any]:
        """Pass a running trial's lease to the instrument that measures it next.

        For a trial several instruments measure (a robot makes the sample, XRD and UV-Vis
        measure it): each reports its outcomes as a partial result, then hands the trial
        on; the new holder alone may report, heartbeat or give it up. Asked again after
        it was done (a lost answer), it is a 200 with the trial as it now is: wherever it
        went since, asked by an instrument that no longer holds it; by an admin token,
        while its hand-off is the trial's last (after that, a new hand-off). A hand-off
        to the holder changes nothing (a heartbeat renews a lease). A trial not running,
        or held by another instrument, is a 409. `to` is spelt as a token bound to it
        spells it, whatever the case given. A trial handed on is kept past its lease (its
        sample exists): stalled, until handed on again.
        """
        instrument = acting_for(principal, {"instrument": body.instrument})["instrument"]
        if instrument is None and not principal.is_admin():
            raise ValueError(f"instrument: required; token {principal.name!r} is not bound to one")
        agent = self.agent(name)
        trial = agent.hand_off(trial_id, instrument, body.to, body.lease_seconds)
        return trial_json(trial, agent.campaign.space)

    @access("write")
    def fail(
        self, name: str, trial_id: str, principal: Caller, body: GiveUpIn | None = None
    ) -> dict[str, Any]:
        """Mark a trial failed: no result will come; its candidate may come back (twice).

        A running trial is failed by the instrument holding its lease. Idempotent: the
        same request again (a retry after a lost answer) is a 200 with the trial as
        stored, unchanged: the first reason stays and no second failure counts. The same
        means from the instrument that failed it; an admin token naming no instrument
        repeats only a failure an admin token made naming none (naming the instrument, it
        repeats that instrument's). A trial cancelled, or failed by another, is a 409
        naming who gave it up and how.
        """
        return _give_up(self.agent(name), True, trial_id, principal, body)

    @access("write")
    def cancel(
        self, name: str, trial_id: str, principal: Caller, body: GiveUpIn | None = None
    ) -> dict[str, Any]:
        """Abandon a trial that was never run (running: by the instrument holding it).

        Idempotent as `/fail`: cancelling it again, as the one that cancelled it (same
        instrument; an admin token naming none, after one naming none), is a 200 with the
        trial as stored, unchanged. A trial failed, or cancelled by another, is a 409
        naming who gave it up and how.
        """
        return _give_up(self.agent(name), False, trial_id, principal, body)

    @access("read")
    def list_materials(
        self,
        filter: Filter = "",
        limit: Limit = 100,
        offset: Offset = 0,
        fmt: Format = "json",
        sort: Annotated[str, Query(max_length=200, description=SORT_MATERIALS)] = "formula",
    ) -> Response:
        """Materials, filtered with OPTIMADE (`elements HAS ALL "Cu","O" AND nelements<=4`).

        Filterable: id, elements, nelements, chemical_formula_reduced (one composition in
        any spelling: `"Fe4O6"` is Fe2O3), chemical_formula_descriptive (as registered),
        chemsys (`"Fe-O"`), created_at (when it was registered, ISO 8601: `created_at >=
        "2026-12-01"`) and each element's molar fraction, `fraction.<element>`, its symbol
        in lower case: `fraction.fe >= 0.1 AND fraction.fe < 0.3` (0 for a material
        without Fe).
        """
        query, order = optimade_to_mongo(filter, "materials"), mongo_sort(sort, "materials")
        found, total = page_materials(query, limit, offset, order)
        rows = [material_json(m) for m in found]
        return listing(rows, total, limit, offset, fmt, MATERIAL_COLUMNS)

    @access("read")
    def list_records(
        self,
        filter: Filter = "",
        limit: Limit = 100,
        offset: Offset = 0,
        fmt: Format = "json",
        sort: RecordSort = "material",
        rejected: Rejected = "exclude",
    ) -> Response:
        """Property records read from papers, with their sources, filtered with OPTIMADE.

        Example: `filter=property="tc" AND elements HAS ALL "Fe","As"&sort=-value&limit=10`,
        the ten highest Tc of iron arsenides. `chemical_formula_reduced` names one
        composition in any spelling or multiple (a trial's `Sr3La37Cu20O80` finds a
        paper's `La1.85Sr0.15CuO4`). `fraction.<element>` is an element's molar fraction
        (`fraction.sr > 0.02`: La1.85Sr0.15CuO4's is 0.15/7; 0 without Sr; a record of a
        name, `LSCO`, has none). Each source gives the sentence of the value (`text`)
        and, where the material was named in an earlier sentence, that sentence
        (`material_sentence_text`; null otherwise). Records a curator rejected are left
        out unless `rejected` asks for them; their `rejection` says who, when and why.

        Filterable: id (a model's `record_ids`), elements, nelements,
        chemical_formula_reduced, chemical_formula_descriptive (as the paper wrote it),
        material, property (any case), value, low, high, qualifier, unit, confidence,
        n_papers, n_sources, paper (a paper's key or DOI), model_version (a tagger that
        read it, in any of its sources), pressure_gpa, pressure_gpa_low
        and pressure_gpa_high (none at ambient pressure), field_t (T; none in zero field),
        uncertainty, created_at and updated_at (ISO 8601), and `fraction.<element>`.
        """
        rows, total = self.literature.records(
            self.literature.records_filter(filter), limit, offset, sort, rejected=rejected
        )
        return listing(rows, total, limit, offset, fmt, RECORD_COLUMNS)

    @access("admin")
    def reject_record(self, record_id: str, principal: Caller, body: RejectionIn) -> dict[str, Any]:
        """Mark a record the pipeline misread as wrong; listings and training leave it out.

        The record keeps its sources (a paper stating it again adds one) and its
        `rejection` (`reason`, `by`: the token's name, `at`). Rejecting again replaces the
        reason: `previous_rejection` is the one replaced (null: none). A merged record's old
        id finds the record it was merged into. Unknown id: a 404; text that is no id: a 422.
        """
        return self.literature.reject_record(record_id, body.reason, principal.name)

    @access("admin")
    def restore_record(self, record_id: str) -> dict[str, Any]:
        """Undo a rejection: the record is listed and trained on again.

        `previous_rejection` is the rejection lifted; null when the record was not rejected
        (nothing changed).
        """
        return self.literature.restore_record(record_id)

    @access("read")
    def list_papers(
        self, filter: Filter = "", limit: Limit = 100, offset: Offset = 0, fmt: Format = "json"
    ) -> Response:
        """Papers ingested, newest first, filtered with OPTIMADE (`year>=2015`).

        Filterable: id, key, doi, title, year, journal, source (the file it was read
        from: `source ENDS WITH ".pdf"`), model_version (the tagger that read it) and
        ingested_at (`ingested_at >= "2026-12-01"`).
        """
        rows, total = self.literature.papers(self.literature.papers_filter(filter), limit, offset)
        return listing(rows, total, limit, offset, fmt, PAPER_COLUMNS)

    @access("read")
    def list_models(
        self,
        response: Response,
        kind: Annotated[
            str | None,
            Query(
                max_length=64,
                description="Only this kind, in any case (gp, ensemble, tagger-supermat); a "
                "family before a '-' matches each of its kinds (tagger: every tagger-*).",
            ),
        ] = None,
        campaign: Annotated[
            str | None,
            Query(
                pattern=NAME_REGEX,
                description="Only this campaign's models (its surrogates; the rows' "
                "`campaign`). An unknown campaign is a 404.",
            ),
        ] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[dict[str, Any]]:
        """Registered models, newest first: the versions trials name in ``model_version``.

        A page at a time (every campaign round may register one): `X-Total-Count` gives
        how many match, `X-Limit` and `X-Offset` the page. No match is an empty list, as
        for any other listing.
        """
        rows, total = page_model_records(kind or None, campaign, limit, offset)
        counted(response, total, limit, offset)
        return rows

    @access("read")
    def show_model(self, version: str) -> dict[str, Any]:
        """A model version's kind, campaign, training data hash and every stored metric.

        A campaign's model also says how it was fitted (`fit`: surrogate, input and outcome
        warps, prior, seed; part of its version) and which trials trained it
        (`train_trials`, in the order of its training rows).
        """
        return describe_model_record(version)

    @access("read")
    def list_training_records(
        self,
        version: str,
        filter: Filter = "",
        limit: Limit = 100,
        offset: Offset = 0,
        fmt: Format = "json",
        sort: RecordSort = "material",
    ) -> Response:
        """The literature records a model version was trained on (its `record_ids`).

        The rows, sorting, paging and CSV of `/literature/records`, for any number of
        records (a `filter` naming ids holds about 70); `filter` narrows them further
        (`property="tc" AND value>30`). A record since merged into another is listed as
        that one, once. A model trained on no records (a campaign's surrogate, a table
        model) has none: an empty page. Unknown version: a 404; a model that learned from
        more records than its metrics list (past 20,000: their count and hash only): a 409.
        `X-Records-Gone` counts those no longer stored (read only in a paper removed since).
        """
        ids = model_record_ids(version)
        query = self.literature.records_filter(filter)
        rows, total = records_among(self.literature, ids, query, limit, offset, sort)
        page = listing(rows, total, limit, offset, fmt, RECORD_COLUMNS)
        page.headers["X-Records-Gone"] = str(records_gone(ids))
        return page

    @access("read")
    def trial_lineage(self, name: str, trial_id: str, principal: Caller) -> dict[str, Any]:
        """A trial's lineage back to the papers, in one answer.

        `measurements` (its result, a list of one once reported), `trial` (strategy,
        `model_version`, batch, `claimed_by`, parameters, formula), `model` (the campaign
        model that proposed it, null for a random draw: its `prior_model` and
        `prior_scale`), `prior` (the property model it took as its prior mean, null
        without one: `source`, `unit`, `records` it learned from: `used`, `stored`,
        `rejected` and `gone` since, with their ids, and `papers`, each `key`, `title`,
        `year`, `doi`, `stored`) and `notes` (what changed since, in words). Unknown
        campaign or trial: a 404 naming it. An instrument's token, which reads no models
        or literature, gets `prior` null, and a note saying so.
        """
        # an instrument's token reads its campaigns alone: not the prior's data and papers,
        # which may be another campaign's
        return lineage_of_trial(name, trial_id, with_prior=principal.reads(None))

    @access("read")
    def measurement_lineage(self, name: str, key: str, principal: Caller) -> dict[str, Any]:
        """The lineage of the trial whose result was stored under idempotency key `key`.

        As `GET .../trials/{trial_id}/lineage` answers it; a correction's key finds the
        result it corrected. No result with that key: a 404 naming it.
        """
        return lineage_of_measurement(name, key, with_prior=principal.reads(None))

    @access("read")
    def paper_lineage(self, key: str, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
        """What a paper fed: its records, the models trained on them, campaigns, trials.

        `key` is the paper's key or DOI in any spelling (`doi:10.1/abc`, `10.1/ABC`, a
        doi.org link; a DOI's `/` may stay as it is). `records` read in it (`total`,
        `rejected`, the first 1000 listed), `models` trained on them (their lineage names
        the paper), `campaigns` whose models took those as a prior mean (trials counted by
        status, `measured`), and `trials` those models proposed: `total` and `measured` in
        full, `items` a page (`limit`, `offset`, oldest first), each with its
        `measurement` (null before one). A paper removed since (`literature remove`) is
        `stored: false`, described as it was when removed (its title, and in
        `records.removed` the records read in it alone that went with it), and still
        followed through the models that name it; neither stored, removed nor named: a 404.
        """
        return lineage_of_paper(key, limit, offset)

    @access("read")
    def material_lineage(
        self, formula: str, limit: Limit = 100, offset: Offset = 0
    ) -> dict[str, Any]:
        """Everything stored of one composition: registered, read in papers, made in campaigns.

        `formula` in any spelling or multiple, read as the filter
        `chemical_formula_reduced="..."` reads it (`Fe4O6` is Fe2O3, `STO` SrTiO3; one with
        amounts not fixed, `YBCO`, is a 422 naming `formula`, unless records are stored
        under it as a name without a composition, `LSCO`: then those records alone).
        `registered` materials;
        `records` (`total`, `rejected`; `properties`, per property, unit and
        `conditions` (a reading at 10 GPa apart from those at none), of the records a
        curator did not reject: their count, papers, `min` and `max` of the stated values
        and ranges' ends, and the bounds as stated, `upper_bounds` and `lower_bounds`
        (`{"qualifier": "<", "value": 2}`); the first 1000 `items`, each with its `low`,
        `high`, `qualifier`, `conditions` and papers); the composition `campaigns` that
        proposed it and its `trials` (`total` and `measured` in full, `items` a page,
        oldest first, each with its `measurement`). Nothing stored of it: a 404.
        """
        return lineage_of_material(formula, limit, offset)

    @access("read")
    def model_lineage(self, version: str, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
        """A model version's lineage both ways: what it learned from, and what it fed.

        `model`: its records and papers, as a trial's `prior` gives them. Then the
        `campaigns` whose models took it as a prior mean (or, for a campaign's own model,
        its campaign) and the `trials` those models proposed, as the paper lineage
        gives them. Unknown version: a 404.
        """
        return lineage_of_model(version, limit, offset)

    @access("read")
    def search(
        self,
        q: Annotated[str, Query(min_length=1, max_length=1000, description="Free text.")],
        response: Response,
        k: Annotated[int, Query(ge=1, le=100)] = 10,
        element: Annotated[list[str] | None, Query(max_length=20)] = None,
        property: Annotated[str | None, Query(max_length=64)] = None,
        minimum: Annotated[float | None, Query(alias="min", allow_inf_nan=False)] = None,
        maximum: Annotated[float | None, Query(alias="max", allow_inf_nan=False)] = None,
    ) -> list[dict[str, Any]]:
        """Sentences nearest the query by meaning (MiniLM embeddings, cosine), filtered.

        Filters: sentences mentioning materials with every `element`, or sentences that
        are the source of a record of `property` with a value in [min, max]. A 409 when
        nothing can be searched (no sentence stored, or none embedded: papers ingested
        with `--no-embeddings`), saying so, with the reason in `X-Matloop-Reason`
        (`no-sentences`, `no-embeddings`); `[]` means no embedded sentence matched the
        filters. `X-Matloop-Unembedded` counts the sentences matching them that have no
        embedding, so were not searched (`matloop literature embed` adds them).
        """
        for symbol in element or ():
            if not Element.is_valid_symbol(symbol):
                raise ValueError(f"element: {symbol!r} is not an element symbol")
        if minimum is not None and maximum is not None and minimum > maximum:
            raise ValueError(f"min: {minimum} is larger than max {maximum}")
        if property is not None:
            self.literature.check_property(property, "property")
        result = search_sentences(
            self.literature,
            q,
            lambda text: self.encoder().encode([text])[0],
            k,
            element or (),
            property,
            minimum,
            maximum,
        )
        if result.message is not None:  # [] would read as "nothing matched the filters"
            raise HTTPException(409, result.message, {SEARCH_REASON: str(result.reason)})
        response.headers[SEARCH_UNEMBEDDED] = str(result.unembedded)
        return [asdict(hit) for hit in result.hits]

    def encoder(self) -> Any:
        """The sentence encoder, loaded on first use (torch and the MiniLM weights)."""
        with self._guard:
            if self._encoder is None:
                from literature.embeddings import SentenceEncoder

                self._encoder = SentenceEncoder()
            return self._encoder

    @access("admin")
    def create_material(self, body: MaterialIn, response: Response) -> dict[str, Any]:
        """Register a material (idempotent by reduced formula: 201 new, 200 known, as stored).

        The formula is read as its writer meant it first (``STO`` is SrTiO3; ``YBCO``,
        whose oxygen is open, is a 422): :func:`literature.formulas.read_formula`.
        """
        material, created = add_material(read_formula(body.formula), body.structure)
        response.status_code = 201 if created else 200
        return material_json(material)


@access("public")
def health() -> dict[str, str]:
    """Liveness: the service answers (no token needed), whether or not its database does."""
    return {"status": "ok"}


@access("public")
def ready() -> dict[str, str]:
    """Readiness: the service and its database answer (no token needed); else a 503."""
    client().admin.command("ping")  # ConnectionFailure: the 503 every route gives
    return {"status": "ready"}


def _error(status: int) -> Callable[[Request, Exception], Response]:
    def handler(request: Request, error: Exception) -> Response:
        if isinstance(error, INTERNAL_ERRORS):  # LookupErrors, but bugs, not "not found"
            logger.error("internal error on %s", request.url.path, exc_info=error)
            return JSONResponse({"detail": "internal server error"}, status_code=500)
        if status >= 500:  # the server's fault: the traceback is for its operators
            logger.error("%s on %s", type(error).__name__, request.url.path, exc_info=error)
        message = error.args[0] if error.args else str(error)
        return JSONResponse({"detail": str(message)}, status_code=status)

    return handler


#: Most characters of an input a 422 echoes (as JSON), and most errors it lists: a body of
#: 1,001 results must not come back whole.
ECHOED_INPUT = 200
LISTED_ERRORS = 20


def _invalid_request(request: Request, error: Exception) -> Response:
    # FastAPI's own answer, ASCII-escaped: the inputs it echoes may hold lone surrogates,
    # which no UTF-8 response body can carry
    errors = error.errors() if isinstance(error, RequestValidationError) else []
    if (not_json := _not_json(request, errors)) is not None:
        return not_json
    if (unreadable := _invalid_json(errors)) is not None:
        return unreadable
    errors = [_short_input(_finite_input(_long_filter_hint(e, request.url.path))) for e in errors]
    if len(errors) > LISTED_ERRORS:
        more = len(errors) - LISTED_ERRORS
        rest = {"type": "more_errors", "loc": [], "msg": f"... and {more} more errors"}
        errors = [*errors[:LISTED_ERRORS], rest]
    body = json.dumps({"detail": jsonable_encoder(errors)}, separators=(",", ":"))
    return Response(body, status_code=422, media_type="application/json")


def _invalid_json(errors: Sequence[Any]) -> Response | None:
    """400 for a body that is not JSON at all (cut short, a stray comma), as for others.

    FastAPI's 422 names a character offset as if it were a field.
    """
    for e in errors:
        if e.get("type") == "json_invalid":
            loc = e.get("loc", ())
            at = f" at character {loc[1]}" if len(loc) > 1 else ""
            why = e.get("ctx", {}).get("error", "invalid JSON")
            detail = f"body: cannot be read as JSON ({why}{at}); send one JSON object"
            return JSONResponse({"detail": detail}, status_code=400)
    return None


def _not_json(request: Request, errors: Sequence[Any]) -> Response | None:
    """415 for a body sent as other than JSON (a form, text), which FastAPI reads as text.

    Its 422 would say only that the body is no object (``model_attributes_type``).
    """
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if sent == "application/json" or sent.endswith("+json"):
        return None
    for e in errors:
        if e.get("loc", ())[:1] == ("body",) and isinstance(e.get("input"), (str, bytes)):
            said = f"{sent!r}" if sent else "none"
            detail = f"body: send JSON with Content-Type: application/json (the request's: {said})"
            return JSONResponse({"detail": detail}, status_code=415)
    return None


def _finite_input(error: Any) -> Any:
    """``error`` with an echoed NaN or infinity as text, so that its body is JSON.

    Python's JSON reader takes ``NaN`` in a request; no strict JSON reader takes it back
    in the answer. A field given one is told so, not that NaN is too large; an object or
    list holding one is echoed as its JSON text.
    """
    if not isinstance(error, dict) or "input" not in error:
        return error
    given = error["input"]
    if isinstance(given, float) and not math.isfinite(given):
        said = {} if error.get("type") == "extra_forbidden" else {"msg": "not a finite number"}
        return error | {"input": str(given)} | said  # a misspelt field is told so
    if isinstance(given, (dict, list, tuple)):
        text = json.dumps(jsonable_encoder(given), separators=(",", ":"))
        if _NOT_FINITE.search(text):
            return error | {"input": text}
    return error


# NaN or an infinity as Python's JSON writer writes them (a string holding one matches too:
# it is then echoed as text as well, which is harmless).
_NOT_FINITE = re.compile(r"(?<![\w\"])(?:-?Infinity|NaN)(?![\w\"])")


def _short_input(error: Any) -> Any:
    """``error`` with its echoed ``input`` cut to :data:`ECHOED_INPUT` characters of JSON."""
    if not isinstance(error, dict) or "input" not in error:
        return error
    text = json.dumps(jsonable_encoder(error["input"]), separators=(",", ":"))
    if len(text) <= ECHOED_INPUT:
        return error
    return error | {"input": f"{text[:ECHOED_INPUT]}... ({len(text)} characters)"}


def _long_filter_hint(error: Any, path: str) -> Any:
    """A too-long ``filter`` error saying how to ask for many ids in fewer characters.

    A filter of ``id="..." OR id="..."`` holds about 60 ids; ``id HAS ANY`` about 70, and
    a model's records, up to 20,000, have their own listing.
    """
    loc = tuple(error.get("loc", ())) if isinstance(error, dict) else ()
    if loc != ("query", "filter") or error.get("type") != "string_too_long":
        return error
    hint = (
        f"filter: at most {MAX_FILTER} characters; for many ids write "
        '`id HAS ANY "a","b"` (about 70 ids fit, where `id="a" OR id="b"` holds 60)'
    )
    if path.endswith("/literature/records"):
        hint += (
            ", and for the records a model was trained on (its record_ids) ask "
            "GET /api/v1/models/{version}/records, which pages through them all"
        )
    return error | {"msg": hint}


#: Methods that write: a retry of one resends its idempotency keys.
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _unavailable(request: Request, error: Exception) -> Response:
    """503 for a database down or restarting: nothing was acknowledged, so retry.

    A dashboard page gets the dashboard's HTML page, in words for a person; an API call
    gets JSON naming the error, and only a write (or a request with an
    ``Idempotency-Key``) is told to keep its idempotency keys: a read just retries.
    """
    path = request.url.path
    if path == "/dashboard" or path.startswith("/dashboard/"):
        from agents.dashboard import unavailable_page  # here: the dashboard imports this module

        return unavailable_page()
    keyed = request.method in WRITES or "idempotency-key" in request.headers
    retry = "retry" if not keyed else "retry with the same idempotency key"
    if request.method == "POST" and path.endswith("/claims"):  # a claim's key is its request_id
        retry = "retry with the same request_id"
    return JSONResponse(
        {"detail": f"database unavailable ({type(error).__name__}); {retry}"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


#: What FastAPI says of a JSON body it cannot read (not UTF-8, too deep, a key twice).
UNPARSED_BODY = "There was an error parsing the body"


async def _http_error(request: Request, error: Exception) -> Response:
    """FastAPI's answer to an HTTPException, but a body it could not read says why."""
    if (
        isinstance(error, StarletteHTTPException)
        and error.status_code == 400
        and error.detail == UNPARSED_BODY
    ):
        cause = error.__cause__  # what FastAPI's JSON reading raised
        if isinstance(cause, UnicodeDecodeError):
            said = "body: cannot be read as JSON in UTF-8; send the body encoded as UTF-8"
        elif isinstance(cause, RecursionError):
            said = "body: JSON nested too deeply to read"
        elif isinstance(cause, DuplicateKeyError):
            said = f"body: {cause}; send each key once"
        else:
            said = f"body: cannot be read as JSON ({type(cause).__name__})"
        return JSONResponse({"detail": said}, status_code=400)
    return await http_exception_handler(request, cast(StarletteHTTPException, error))


class StrictJSONRequest(Request):
    """A request whose JSON body is read by :func:`read_json`: no key given twice."""

    async def json(self) -> Any:
        """The body as JSON; a duplicate key raises, and FastAPI answers 400."""
        if not hasattr(self, "_json"):
            self._json = read_json(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """A route that reads its JSON body with :class:`StrictJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        """FastAPI's handler, given the strict request."""
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return cast(Response, await handler(StrictJSONRequest(request.scope, request.receive)))

        return strict


#: The documentation pages (fastapi-offline's routes), open to anyone.
DOCS_PAGES = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


def create_app(uri: str | None = None, on_results: ResultsHook | None = None) -> FastAPI:
    """Build the API (and dashboard) app.

    Args:
        uri: MongoDB URI to connect to at start-up; None when the caller has connected.
        on_results: Called with (campaign, stored count) after results are stored, e.g. to
            trigger a Prefect round; failures there never fail the request.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if uri is not None:
            connect(uri)
        yield

    # the docs pages' scripts come from the package, not a CDN: labs are often offline
    app = FastAPIOffline(
        title="matloop",
        version="0.1.0",
        summary="Closed-loop materials discovery: instruments claim work and report results.",
        lifespan=lifespan,
    )
    for route in app.routes:  # fastapi-offline's docs pages: public, as FastAPI's own are
        if isinstance(route, APIRoute) and route.path in DOCS_PAGES:
            access("public")(route.endpoint)
    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route("/ready", ready, methods=["GET"], responses=responses(()))
    service = Service(_safe(on_results))
    service.register(app)
    from agents.dashboard import register_dashboard  # here: the dashboard imports this module

    register_dashboard(app, service)
    app.add_exception_handler(ConnectionFailure, _unavailable)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for error, status in [
        (FilterError, 400),
        (PermissionError, 403),
        (LookupError, 404),
        (CampaignExistsError, 409),
        (CampaignClosedError, 409),
        (ConcurrentProposalError, 409),
        (TrialStateError, 409),
        (UnlistedRecordsError, 409),  # a LookupError, but the model is there
        (ValueError, 422),
        (MongoValidationError, 422),
        (SurrogatePluginError, 500),  # named, where a bare 500 would leave a lab guessing
    ]:
        app.add_exception_handler(error, _error(status))

    app.add_middleware(GZipMiddleware, minimum_size=4096)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    return app


class BodyLimit:
    """Answer 413 to a request body over ``limit`` bytes, before any route reads it all.

    A declared Content-Length is checked up front; a chunked body (no Content-Length) is
    counted as it arrives, and the read that passes the limit raises a 413
    ``HTTPException``, which FastAPI answers before the endpoint runs, so nothing is stored.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, with its body counted."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await JSONResponse({"detail": TOO_LARGE}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, counted, send)


def _safe(hook: ResultsHook | None) -> ResultsHook | None:
    if hook is None:
        return None

    def call(campaign: str, stored: int) -> None:
        try:
            hook(campaign, stored)
        except Exception:
            logger.exception("results hook failed for %s", campaign)

    return call
