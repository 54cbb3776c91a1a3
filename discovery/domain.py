"""Domain objects of a discovery campaign: plain dataclasses, no storage, no torch.

The storage layer converts these to and from its documents; the science and the agent
only ever see these.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict, TypeGuard

import numpy as np

from discovery.spaces import Parameters, SearchSpace, few
from discovery.units import check_physical, convert


class Direction(StrEnum):
    """Whether an objective is to be maximised or minimised."""

    MAXIMIZE = "max"
    MINIMIZE = "min"

    @classmethod
    def parse(cls, text: str) -> Direction:
        """Read ``max``/``maximize``/``min``/``minimize`` (any case)."""
        key = text.strip().lower()
        if key in {"max", "maximize", "maximise"}:
            return cls.MAXIMIZE
        if key in {"min", "minimize", "minimise"}:
            return cls.MINIMIZE
        raise ValueError(f"direction must be 'max' or 'min', got {text!r}")

    @property
    def sign(self) -> float:
        """+1 for maximisation, -1 for minimisation (turns any goal into a maximum)."""
        return 1.0 if self is Direction.MAXIMIZE else -1.0


@dataclass(frozen=True)
class Objective:
    """A measured quantity the campaign optimises."""

    name: str
    direction: Direction
    unit: str | None = None


#: Relative distance from a constraint's bound within which a value counts as on it.
BOUND_TOLERANCE = 1e-12


@dataclass(frozen=True)
class OutcomeConstraint:
    """A measured quantity that must fall in a range for a result to count (feasibility).

    Example: ``OutcomeConstraint("band_gap", 1.1, 1.7, "eV")`` for a photovoltaic absorber.

    Attributes:
        name: The measured quantity (reported with every result, like an objective).
        lower: Smallest acceptable value, or None for no lower bound.
        upper: Largest acceptable value, or None for no upper bound.
        unit: Optional unit label.

    """

    name: str
    lower: float | None = None
    upper: float | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.lower is None and self.upper is None:
            raise ValueError(f"constraint {self.name!r}: give a lower or an upper bound")
        for bound in (self.lower, self.upper):
            if bound is not None and not math.isfinite(bound):
                raise ValueError(f"constraint {self.name!r}: bounds must be finite")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(
                f"constraint {self.name!r}: lower bound {self.lower} exceeds upper {self.upper}"
            )

    def satisfied(self, value: float) -> bool:
        """Whether a measured value is within the bounds.

        A value within a relative 1e-12 of a bound is on it: one converted from another
        unit carries float noise (1400 meV is 1.4000000000000001 eV).
        """
        low = self.lower if self.lower is not None else -math.inf
        high = self.upper if self.upper is not None else math.inf
        on_bound = any(
            bound is not None and math.isclose(value, bound, rel_tol=BOUND_TOLERANCE)
            for bound in (self.lower, self.upper)
        )
        return low <= value <= high or on_bound

    def describe(self) -> str:
        """The range in words: ``band_gap in [1.1, 1.7] eV``; one bound: ``gap <= 2``."""
        unit = f" {self.unit}" if self.unit else ""  # bounds as given, to 12 digits
        if self.lower is None:
            return f"{self.name} <= {self.upper:.12g}{unit}"
        if self.upper is None:
            return f"{self.name} >= {self.lower:.12g}{unit}"
        return f"{self.name} in [{self.lower:.12g}, {self.upper:.12g}]{unit}"


class TrialStatus(StrEnum):
    """Life cycle of a trial: proposed -> running -> completed | failed | abandoned."""

    PROPOSED = "proposed"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    ABANDONED = "abandoned"

    @property
    def is_pending(self) -> bool:
        """Proposed or running: work handed out whose result has not come back."""
        return self in (TrialStatus.PROPOSED, TrialStatus.RUNNING)

    @property
    def spends_budget(self) -> bool:
        """Handed out or measured; failed and abandoned trials give their place back."""
        return self.is_pending or self is TrialStatus.COMPLETED


ALLOWED_TRANSITIONS: dict[TrialStatus, frozenset[TrialStatus]] = {
    TrialStatus.PROPOSED: frozenset(
        {TrialStatus.RUNNING, TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.ABANDONED}
    ),
    TrialStatus.RUNNING: frozenset(
        {TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.ABANDONED}
    ),
    TrialStatus.COMPLETED: frozenset(),
    TrialStatus.FAILED: frozenset(),
    TrialStatus.ABANDONED: frozenset(),
}


#: The largest campaign seed: round seeds (:func:`round_seed`) must stay within the
#: signed 64 bits that ``torch.manual_seed`` takes, for 10^17 rounds and more.
MAX_SEED = 2**43 - 1


def round_seed(seed: int, round_: int) -> int:
    """The seed a campaign plans its round ``round_`` (0 first) with: one per round.

    Stored campaigns (:mod:`agents.campaign`) and simulated ones (:mod:`discovery.simulate`)
    derive their rounds' seeds alike.
    """
    return seed * 1_000_003 + round_


#: What the name of an outcome or parameter may be: any non-empty text ("band gap",
#: "PCE (AM1.5)") but a leading ``$``, which MongoDB reads as an operator in stored
#: results, and a NUL character, which no BSON key holds (results key values by name).
OUTCOME_NAME = r"^[^$\x00][^\x00]*$"

#: Flags of a ``surrogate[+acquisition][+flags]`` strategy name, in the order names give them.
STRATEGY_FLAGS = ("iwarp", "warp", "endgame", "believer")
#: The acquisition a strategy name leaves out (``gp`` is ``gp+qlognei``).
DEFAULT_ACQUISITION = "qlognei"


def canonical_strategy(name: str) -> str:
    """A strategy name with its parts in one order, the one its planner's name has.

    ``gp+warp+qucb`` is ``gp+qucb+warp``, ``gp+qlognei`` is ``gp``: the surrogate, the
    acquisition unless the default, then the flags in :data:`STRATEGY_FLAGS` order
    (``discovery.planners.GPPlanner.name`` is built with it). Told without loading any
    planner, so stored campaigns are read and upgraded in the storage layer. A name of one
    word (``botorch``, ``random``), a policy (``rl:...``) and text that is no strategy are
    kept as written.
    """
    surrogate, *options = name.split("+")
    acquisitions = [o for o in options if o not in STRATEGY_FLAGS]
    if not options or name.startswith("rl:") or len(set(options)) < len(options):
        return name
    if len(acquisitions) > 1 or "" in options:
        return name
    flags = [f for f in STRATEGY_FLAGS if f in options]
    chosen = [a for a in acquisitions if a != DEFAULT_ACQUISITION]
    return "+".join([surrogate, *chosen, *flags])


#: The strategy to choose for one objective over a pool, as benchmarks/acquisition.py
#: measured it (chosen on development tasks, benchmarks/acquisition_synthetic.py). Not
#: the default: ``gp`` serves every campaign, with several objectives and constraints too.
RECOMMENDED_STRATEGY = "gp+top+iwarp+warp+believer"


@dataclass(frozen=True)
class CampaignSettings:
    """How a campaign chooses experiments.

    Attributes:
        strategy: Planner name (``gp``, ``random``, :data:`RECOMMENDED_STRATEGY`, ...).
        initial: Number of random experiments before the model takes over.
        batch_size: Experiments proposed per round.
        seed: Seed from which every round's randomness is derived (so resumes repeat).
        prior_model: Registered property model whose predictions are the surrogate's
            prior mean (literature records, another database); None for no prior.
        budget: Experiments the campaign means to run in all, failed and abandoned ones
            not counted; no proposal goes past it, and planners plan towards it (``top``'s
            endgame, the learned policy's budget left). None: open-ended.

    """

    strategy: str = "gp"
    initial: int = 10
    batch_size: int = 4
    seed: int = 0
    prior_model: str | None = None
    budget: int | None = None

    def __post_init__(self) -> None:
        if self.initial < 1:
            raise ValueError(f"settings.initial must be >= 1, got {self.initial}")
        if self.batch_size < 1:
            raise ValueError(f"settings.batch_size must be >= 1, got {self.batch_size}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"settings.seed must be in [0, {MAX_SEED}], got {self.seed}")
        if self.budget is not None and self.budget < 1:
            raise ValueError(f"settings.budget must be >= 1 experiment, got {self.budget}")

    @property
    def budget_note(self) -> str | None:
        """What to say of a budget the random initial design spends whole, else None."""
        if self.budget is None or self.budget > self.initial or self.strategy == "random":
            return None
        return (
            f"budget: {self.budget} experiments, and the random initial design takes "
            f"{self.initial}: the model never chooses one (lower --initial, or raise the budget)"
        )


@dataclass(frozen=True)
class PoolRecipe:
    """How matloop generated a campaign's pool of compositions (``--elements``).

    Kept with the campaign so that a chemist can tell later what the pool holds and
    what it leaves out (was it charge balanced? which known materials were substituted?).

    Attributes:
        elements: Element symbols the compositions are made of.
        max_elements: The most elements in one candidate.
        min_elements: The fewest, as applied (the default, when none was given).
        charge_balanced: Whether every candidate has charge-balanced common oxidation
            states (always so for substitutions).
        grid: Molar fractions are multiples of ``1 / grid``; None for substitutions,
            which keep the known materials' stoichiometry.
        substitute_from: Known formulas whose substitutions make the pool, as read
            (``STO`` is ``SrTiO3``); empty for a grid.
        threshold: The smallest substitution probability kept; None for a grid.
        known_left_out: Compositions already known (materials, literature records,
            measured ones) that the rules allow but the pool leaves out.

    """

    elements: tuple[str, ...]
    max_elements: int
    min_elements: int
    charge_balanced: bool
    grid: int | None = None
    substitute_from: tuple[str, ...] = ()
    threshold: float | None = None
    known_left_out: int = 0

    def __post_init__(self) -> None:
        if (self.grid is None) == (not self.substitute_from):
            raise ValueError("pool_recipe: give a grid or the formulas substituted, not both")

    def describe(self) -> str:
        """The rules in words: elements, how many, grid or substitutions, charge.

        Example:
            >>> PoolRecipe(("Ti", "O"), 2, 1, True, grid=10, known_left_out=1).describe()
            'Ti,O, at most 2 elements, grid 10, charge balanced; 1 known left out'
        """
        most, fewest = self.max_elements, self.min_elements
        count = f"at most {most}" if fewest == 1 else f"{fewest} to {most}"
        count = str(most) if 1 < fewest == most else count
        made = f"grid {self.grid}"
        if self.grid is None:
            made = f"substitutions of {', '.join(self.substitute_from)}"
            made += "" if self.threshold is None else f" (probability above {self.threshold:g})"
        charge = "charge balanced" if self.charge_balanced else "not charge balanced"
        return (
            f"{','.join(self.elements)}, {count} elements, {made}, {charge}; "
            f"{self.known_left_out} known left out"
        )

    def to_dict(self) -> dict[str, Any]:
        """The recipe as JSON-ready data (tuples as lists)."""
        data = asdict(self)
        return data | {k: list(data[k]) for k in ("elements", "substitute_from")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PoolRecipe:
        """A recipe from :meth:`to_dict`'s data; keys a later matloop may add are ignored."""
        known = {f.name for f in fields(cls)} & set(data)
        given = {k: data[k] for k in known}
        for key in ("elements", "substitute_from"):
            given[key] = tuple(given.get(key, ()))
        return cls(**given)


@dataclass(frozen=True)
class Campaign:
    """A discovery campaign: what may be tried, what is measured, and how to choose.

    Attributes:
        name: Unique campaign name.
        space: The search space every proposal satisfies.
        objectives: Measured quantities with their directions (at least one).
        settings: Strategy, initial design and batch size.
        pool_size: Number of candidates in the campaign's discrete pool (0 for an open space).
        status: ``active`` or ``closed``.
        source: Where the campaign's data came from (file, data set name).
        source_sha256: SHA-256 (hex) of that file as read, when it was one
            (:attr:`discovery.datasets.PoolDataset.source_sha256`).
        constraints: Measured quantities that must fall in a range (feasibility); each
            result reports them alongside the objectives.
        pool_recipe: How matloop generated the pool, when it did (``--elements``); None
            for a pool read from a file (``source`` names it) or given to the API.

    """

    name: str
    space: SearchSpace
    objectives: tuple[Objective, ...]
    settings: CampaignSettings = field(default_factory=CampaignSettings)
    pool_size: int = 0
    status: str = "active"
    source: str | None = None
    created_at: datetime | None = None
    constraints: tuple[OutcomeConstraint, ...] = ()
    pool_recipe: PoolRecipe | None = None
    source_sha256: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise ValueError("campaign name must not be empty")
        if not self.objectives:
            raise ValueError("a campaign needs at least one objective")
        names = self.outcome_names
        if len(set(names)) != len(names):
            raise ValueError(f"objectives and constraints: names appear twice in {names}")
        clash = set(names) & set(self.space.names)
        if clash:
            raise ValueError(f"objective names clash with parameter names: {sorted(clash)}")
        for name in [*names, *self.space.names]:
            if not re.match(OUTCOME_NAME, name):
                raise ValueError(
                    f"name {name!r}: an outcome or parameter name must be non-empty, not "
                    "start with '$' and hold no NUL character"
                )

    @property
    def objective_names(self) -> list[str]:
        """Names of the objectives, in order."""
        return [o.name for o in self.objectives]

    @property
    def outcome_names(self) -> list[str]:
        """Everything a result reports: the objectives, then the constrained quantities."""
        return self.objective_names + [c.name for c in self.constraints]

    def feasible(self, values: Mapping[str, float]) -> bool:
        """Whether a result satisfies every outcome constraint."""
        return all(c.satisfied(values[c.name]) for c in self.constraints)


@dataclass(frozen=True)
class Candidate:
    """One member of a campaign's discrete pool.

    Attributes:
        index: Position in the pool (0-based, stable).
        parameters: The candidate's point in the search space.
        reference: Known values of the objectives (a measured data set used as an
            oracle); never shown to the planner.
        label: The candidate as its pool names it (a sample id ``P001``, a formula as
            written, ``K3C60``, which the composition's formula reduces to ``KC20``), or
            None; never shown to the planner.

    """

    index: int
    parameters: Parameters
    reference: dict[str, float] | None = None
    label: str | None = None


#: The strategy of a trial whose result the lab had before its campaign began (and the
#: source of that result, unless the lab names one): the campaign's first batch.
IMPORTED = "imported"


@dataclass
class Trial:
    """One proposed experiment and what became of it.

    ``reason`` says why it failed or was given up, as its instrument or operator said;
    ``label`` is its pool candidate's (:attr:`Candidate.label`).
    """

    campaign: str
    parameters: Parameters
    batch: str
    status: TrialStatus = TrialStatus.PROPOSED
    candidate: int | None = None
    label: str | None = None
    model_version: str | None = None
    acquisition_value: float | None = None
    strategy: str | None = None
    claimed_by: str | None = None
    lease_expires_at: datetime | None = None
    reason: str | None = None
    id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    parts: tuple[Measurement, ...] = ()
    handoffs: tuple[Handoff, ...] = ()

    @property
    def partly_measured(self) -> bool:
        """Some outcomes reported (partial results), the rest still to come."""
        return bool(self.parts) and self.status.is_pending

    @property
    def sample_made(self) -> bool:
        """Partly measured or handed on, and pending: its sample exists.

        Such a trial is never handed out again, even when its lease runs out.
        """
        return bool(self.parts or self.handoffs) and self.status.is_pending


@dataclass(frozen=True)
class Handoff:
    """A running trial passed on to the next instrument, and its lease with it.

    Attributes:
        holder: The instrument that held it.
        to: The instrument that took it.
        operator: Handed on by an operator (an admin token naming no instrument).
        at: When (naive UTC).
    """

    holder: str | None
    to: str
    operator: bool = False
    at: datetime | None = None


def _is_number(value: object) -> TypeGuard[float]:
    """A real number, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


#: The largest magnitude a measured value may have: squares of values beyond ~1e154
#: overflow double precision, and a surrogate's standardisation squares them.
MAX_ABS_VALUE = 1e100


class Reported(TypedDict):
    """A value as a lab reported it, before it was converted to its outcome's unit."""

    value: float
    unit: str


@dataclass(frozen=True)
class Correction:
    """A measurement's values replaced: what they were, and who replaced them, when and why.

    Attributes:
        idempotency_key: The correction's key: asked again, it is stored once.
        values: The result's values before it, in the outcomes' declared units.
        units: Their units.
        reported: What the lab had sent for the values converted (see ``Measurement``).
        source: Who had measured them.
        reason: Why they were replaced ("MeV typed for meV").
        by: Who replaced them (an operator, a token's name).
        at: When.
        outcomes: The outcomes it corrected (the others kept their values); None for a
            correction stored before they were kept, which corrected every outcome.
    """

    idempotency_key: str
    values: dict[str, float]
    units: dict[str, str]
    reported: dict[str, Reported]
    source: str
    reason: str
    by: str
    at: datetime | None = None
    outcomes: tuple[str, ...] | None = None

    @property
    def replaced(self) -> dict[str, float]:
        """The values it replaced: those of the outcomes it corrected."""
        named = self.values.keys() if self.outcomes is None else self.outcomes
        return {k: v for k, v in self.values.items() if k in named}


@dataclass(frozen=True)
class Measurement:
    """A result reported for a trial.

    Attributes:
        trial_id: The trial measured.
        values: Objective name -> measured value (all objectives, finite).
        units: Objective name -> unit label, where the source gives one.
        source: Who measured it (instrument id, ``lookup``, a user).
        idempotency_key: Repeated reports with the same key are stored once.
        reported: Outcome name -> the value and unit as reported, for each value
            :meth:`in_units_of` converted to its outcome's declared unit; empty when
            every value was given in it (or was stored before this was kept).
        received_at: Set by the store when first received.
        recorded_by: The API token that stored it (its name); None from the command line
            or a flow, and on results stored before it was kept.
        corrections: The values this result replaced, oldest first (an operator's
            corrections of a wrong report); empty when it is as first reported.
        partial: Some of the outcomes only (one instrument's share of a trial measured
            by several): the trial completes when its parts give every outcome.

    """

    trial_id: str
    values: dict[str, float]
    idempotency_key: str
    source: str = "manual"
    units: dict[str, str] = field(default_factory=dict)
    reported: dict[str, Reported] = field(default_factory=dict)
    received_at: datetime | None = None
    recorded_by: str | None = None
    corrections: list[Correction] = field(default_factory=list)
    partial: bool = False

    def in_units_of(
        self, outcomes: Sequence[Objective | OutcomeConstraint], strict: bool = True
    ) -> Measurement:
        """This result with every value in its outcome's declared unit.

        A value reported in another unit of the same quantity is converted by pint
        (``degC`` to ``K``, ``MPa`` to ``GPa``) and labelled with the declared unit, so
        that best values, traces and exports compare like with like; what was reported
        is kept in ``reported``, so that the stored value can be traced back to the
        lab's report (a result converted before keeps its own). A value given
        without a unit is in the declared one, and is labelled so. A unit given for an
        outcome without a declared unit is refused: with nothing to convert to, ``meV``
        and ``eV`` values would be stored side by side.

        Args:
            outcomes: The campaign's objectives and constrained quantities.
            strict: False keeps a unit given for an outcome without a declared one, as
                results stored before that was refused have it.

        Raises:
            ValueError: naming the name in ``units`` that is not an outcome, or
                ``units.<name>`` for a unit that pint cannot convert to the declared one or
                (``strict``) of an outcome without a declared unit; naming the field for a
                temperature in degC or degF below absolute zero.
        """
        declared = {o.name: o.unit for o in outcomes}
        values, units, reported = dict(self.values), dict(self.units), dict(self.reported)
        unknown = sorted(self.units.keys() - declared.keys())
        if unknown:
            raise ValueError(  # quoted: an outcome's name may hold spaces ("band gap")
                f"trial {self.trial_id}: units: {unknown[0]!r} is not an outcome; the "
                f"outcomes are {list(declared)}"
            )
        for name, target in declared.items():
            value, unit = values.get(name), self.units.get(name, target)
            if strict and target is None and unit is not None:
                raise ValueError(
                    f"trial {self.trial_id}: units.{name}: the campaign declares no unit for "
                    f"{name!r}, so {unit!r} cannot be converted; report the value without a "
                    "unit, in the unit of the campaign's other values"
                )
            if target is None or not _is_number(value):
                continue  # nothing to convert to, or check() refuses the value
            try:  # a unit of another quantity first: its value's sign is beside the point
                values[name] = convert(float(value), str(unit), target)
                check_physical(float(value), str(unit))
            except ValueError as error:
                field = f"units.{name}" if name in self.units else f"values.{name}"
                raise ValueError(f"trial {self.trial_id}: {field}: {error}") from None
            if unit != target:  # converted: keep what the lab sent
                reported[name] = Reported(value=float(value), unit=str(unit))
            units[name] = target  # unlabelled means the declared unit: say so
        return replace(self, values=values, units=units, reported=reported)

    def check(self, objectives: Sequence[Objective | OutcomeConstraint]) -> None:
        """Raise a ValueError naming the field if a value is missing, not finite or too large.

        Too large: beyond ``MAX_ABS_VALUE`` in magnitude. A partial result may leave
        outcomes out, but must give one.

        Args:
            objectives: Every outcome a result must report: objectives and constrained
                quantities.
        """
        if not self.idempotency_key:
            raise ValueError("idempotency_key must not be empty")
        names = {o.name for o in objectives}
        kind = "objective" if all(isinstance(o, Objective) for o in objectives) else "outcome"
        unknown = sorted(set(self.values) - names)
        if unknown:  # first: a misspelt name ("Tc" for "tc") is also a missing one
            raise ValueError(
                f"trial {self.trial_id}: values: unknown {kind}(s) {few(unknown)}; the "
                f"campaign's are {[o.name for o in objectives]}"
            )
        missing = sorted(names - set(self.values))
        if missing and not self.partial:
            raise ValueError(
                f"trial {self.trial_id}: values: missing {kind} value(s) {missing} (a result "
                f"gives every {kind}; one sent as partial, with more to come, may give some)"
            )
        if not self.values:
            raise ValueError(f"trial {self.trial_id}: values: a partial result gives at least one")
        for name in self.units.keys() - self.values.keys():  # would label another part's value
            raise ValueError(f"trial {self.trial_id}: units.{name}: this result gives no {name}")
        for name, value in self.values.items():
            if not _is_number(value):
                raise ValueError(f"trial {self.trial_id}: values.{name} is not a number: {value!r}")
            try:
                finite = math.isfinite(value)
            except OverflowError:
                finite = False
            if not finite:
                raise ValueError(f"trial {self.trial_id}: values.{name} is not finite ({value})")
            if abs(value) > MAX_ABS_VALUE:
                raise ValueError(
                    f"trial {self.trial_id}: values.{name} = {value} is beyond +-{MAX_ABS_VALUE:g}"
                    " (no measurement in any unit; a model could not fit it)"
                )


#: A result's default idempotency key, ``SOURCE:TRIAL_ID`` (``xrd-2:6571c0...``), and a
#: partial result's, ``SOURCE:TRIAL_ID:OUTCOMES`` (``xrd-2:6571c0...:gap+phase``).
_DEFAULT_KEY = re.compile(r"(?P<source>.+):(?P<trial>[0-9a-f]{24})(?::[^:]+)?")


def default_key(source: str, trial_id: str, values: Iterable[str] | None = None) -> str:
    """A result's default idempotency key; a partial one's also names its outcomes.

    Args:
        source: Who measured it.
        trial_id: The trial.
        values: A partial result's outcome names; None for a whole result.
    """
    key = f"{source}:{trial_id}"
    return key if values is None else f"{key}:{'+'.join(sorted(values))}"


def key_trial(key: str) -> str | None:
    """The trial id a key of a default form (:func:`default_key`) names, else None.

    A campaign refuses such a key on another of its trials' results: taken first, it would
    have that trial's own result refused as a reused key.
    """
    named = _DEFAULT_KEY.fullmatch(key)
    return named["trial"] if named else None


def merged_parts(parts: Sequence[Measurement]) -> Measurement:
    """A trial's result from its partial results, in the order they came.

    Its values, units and reported values are the parts' together; its key, source and
    token are the last part's: the one that completed it.

    Args:
        parts: The trial's partial results (at least one), each giving other outcomes.
    """
    last = parts[-1]
    return replace(
        last,
        values={k: v for p in parts for k, v in p.values.items()},
        units={k: p.units[k] for p in parts for k in p.values if k in p.units},
        reported={k: p.reported[k] for p in parts for k in p.values if k in p.reported},
        received_at=None,
        partial=False,
    )


def same_reading(a: Measurement | Correction, b: Measurement | Correction) -> bool:
    """Whether two results say the same: values (to rounding) in the same units."""
    return (
        a.units == b.units
        and a.values.keys() == b.values.keys()
        and all(
            math.isclose(a.values[k], b.values[k], rel_tol=1e-11, abs_tol=0.0) for k in a.values
        )
    )


@dataclass(frozen=True)
class Material:
    """A material by its canonical reduced formula (pymatgen), optionally with a structure.

    Attributes:
        formula: Reduced formula, pymatgen order (``Fe2O3``, ``LiFePO4``).
        elements: Element symbols, sorted.
        nelements: Number of distinct elements.
        chemsys: Chemical system (``Fe-O``).
        formula_alphabetical: OPTIMADE ``chemical_formula_reduced`` (``FeLiO4P``).
        formula_descriptive: OPTIMADE ``chemical_formula_descriptive``: the formula as it
            was registered, whitespace collapsed (``La1.85Sr0.15CuO4``).
        structure: pymatgen ``Structure.as_dict()``, if known.
        id: Its database id, once stored.
        created_at: When it was registered (UTC), once stored.
    """

    formula: str
    elements: tuple[str, ...]
    nelements: int
    chemsys: str
    formula_alphabetical: str
    formula_descriptive: str | None = None
    structure: dict[str, Any] | None = None
    id: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class ModelArtifact:
    """A trained surrogate ready to be registered.

    Attributes:
        kind: Model family (``gp``, ...).
        data_hash: SHA-256 of the training inputs and targets.
        metrics: Scalar diagnostics (training size, fitted noise, ...).
        weights: Serialised state (``torch.save`` bytes of the state dict).
        version: Registry version, set once stored.
        featurizer_version: Version of the featurization the model reads, if any.

    """

    kind: str
    data_hash: str
    metrics: Mapping[str, Any]
    weights: bytes
    version: str | None = None
    featurizer_version: str | None = None
