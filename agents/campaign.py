"""The campaign agent: an ask/tell facade over a planner, persisted in MongoDB.

Every proposal and measurement is stored before it is returned or acknowledged, and the
agent keeps no state of its own beyond the campaign name: a new agent on the same
database resumes exactly where the last one stopped.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any

import numpy as np

from db import CampaignStore, ConcurrentProposalError, TrialStateError
from db.campaigns import (
    CLOSED,
    DEFAULT_LEASE_SECONDS,
    CampaignClosedError,
    CloseReport,
    CorrectionReport,
)
from db.documents import utcnow
from db.models import FIT_METRIC
from db.tokens import UNNAMED_SOURCE, bound_to
from discovery.acquisition import LOOKAHEAD
from discovery.campaign_models import (
    check_surrogate_space,
    fitting_code,
    surrogate_origin,
    surrogates,
)
from discovery.datasets import PoolDataset
from discovery.domain import (
    IMPORTED,
    Campaign,
    CampaignSettings,
    Candidate,
    Measurement,
    ModelArtifact,
    Objective,
    OutcomeConstraint,
    PoolRecipe,
    Trial,
    TrialStatus,
    canonical_strategy,
    key_trial,
    round_seed,
    same_reading,
)
from discovery.metrics import (
    acceleration_factor,
    best_so_far,
    enhancement_factor,
    hypervolume,
    pareto_mask,
    pareto_top_mask,
    simple_regret,
    top_fraction_trace,
    top_mask,
)
from discovery.planners import (
    GPPlanner,
    Planner,
    PlanningProblem,
    PolicyPlanner,
    PortfolioPlanner,
    RandomPlanner,
    check_campaign_shape,
    make_planner,
)
from discovery.priors import NamedPrior, composition_formulas, prior_label
from discovery.spaces import SearchSpace
from discovery.units import convert


def batch_name(index: int) -> str:
    """The label of a campaign's ``index``-th batch (``b0000`` is the first)."""
    return f"b{index:04d}"


def batch_order(label: str) -> tuple[int, str]:
    """Sort key of batch labels in the order they were proposed (``b9999`` < ``b10000``)."""
    return len(label), label


#: The source of a result that does not say who measured it (the API's default). It is
#: accepted whoever holds the trial's lease: it cannot be told apart from the holder's
#: (so no token may be bound to it: :data:`db.tokens.UNNAMED_SOURCE`).
UNNAMED = UNNAMED_SOURCE
#: A pool candidate that failed this many times is not proposed again: a sample that
#: cannot be made would otherwise come back in every batch.
MAX_FAILURES = 2
#: Results a model needs before it chooses experiments (a GP fits no fewer).
MIN_RESULTS = 2
#: Most trial ids a model's ``train_trials`` lists (a MongoDB document holds 16 MB);
#: beyond, ``n_train`` and ``train_trials_hash`` still identify the set.
MAX_LINEAGE_TRIALS = 20_000
#: Surrogates whose fit does not draw on the round's seed: an exact GP is fitted to the
#: maximum of its marginal likelihood, so the same data give the same model in any
#: round. NUTS samples (bayesgp) and ensemble members and splits depend on the seed, and
#: so may a registered surrogate's fit: its seed is recorded.
SEEDLESS_SURROGATES = ("gp",)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObserveReport:
    """How many results (or parts) were stored, how many were repeats of stored ones.

    ``completed`` counts the trials whose result was stored (a part alone completes none).
    """

    stored: int
    duplicates: int
    completed: int = 0


@dataclass(frozen=True)
class BudgetChange:
    """A campaign's budget before and after :meth:`CampaignAgent.set_budget` (None: none).

    Attributes:
        before: The budget it had.
        after: The budget it has.
        spent: Experiments done or out when it changed (failed and abandoned not counted).
    """

    before: int | None
    after: int | None
    spent: int


@dataclass(frozen=True)
class NoWork:
    """Why a campaign handed out nothing (:meth:`CampaignAgent.no_work`).

    Attributes:
        why: In words, for people and logs.
        ask_again: Whether asking later may get work (trials still out may free their
            place, results may let the model start); False when the budget or pool is
            spent for good.
    """

    why: str
    ask_again: bool


@dataclass(frozen=True)
class Observation:
    """A completed trial with its measurement."""

    trial: Trial
    measurement: Measurement


@dataclass(frozen=True)
class PoolReference:
    """What a pool with known values holds.

    Attributes:
        values: ``N x m`` objective values; infeasible members carry the worst of each.
        feasible: ``N`` mask of the members that meet the outcome constraints.
    """

    values: np.ndarray
    feasible: np.ndarray


@dataclass(frozen=True)
class Efficiency:
    """Campaign efficiency on a pool with known values (see :mod:`discovery.metrics`).

    Attributes:
        top_fraction: Top% found after each experiment, shape ``n``.
        enhancement_factor: EF against random sampling at the current budget.
        acceleration_factor: AF against random sampling for the Top% reached.
        pool_best: Best known value of the pool's feasible members.

    """

    top_fraction: np.ndarray
    enhancement_factor: float
    acceleration_factor: float
    pool_best: float


@dataclass(frozen=True)
class CampaignMetrics:
    """Live metrics after ``measurements`` results; None where they are not defined.

    Attributes:
        measurements: Results stored.
        best: Best value of the first objective.
        simple_regret: Distance of ``best`` from the pool's best (pools with known values);
            negative when a result beats it (the lab's values and the pool's disagree).
        enhancement_factor: EF against random for the top 5% (pools with known values;
            with several objectives the pool's first Pareto layers holding 5% of it,
            :func:`discovery.metrics.pareto_top_mask`).
        acceleration_factor: AF against random for the same top set.
        hypervolume: Hypervolume of the measured feasible points (several objectives),
            above a reference 10% of the range below the worst values: the pool's when
            known, else those of the first results (as many as the initial design), so
            that it stays put; a Pareto point below it in any objective adds nothing.
        hypervolume_fraction: ``hypervolume`` over that of the whole pool (known pools).
        hypervolume_reference: That reference, one value per objective, in its units and
            direction; not a stored metric (:meth:`as_dict` leaves it out).

    """

    measurements: int
    best: float | None = None
    simple_regret: float | None = None
    enhancement_factor: float | None = None
    acceleration_factor: float | None = None
    hypervolume: float | None = None
    hypervolume_fraction: float | None = None
    hypervolume_reference: tuple[float, ...] | None = None

    def as_dict(self) -> dict[str, float | None]:
        """The metrics except the count, NaN as None (JSON and BSON ready)."""
        values = asdict(self)
        del values["measurements"], values["hypervolume_reference"]
        return {
            k: None if v is None or not math.isfinite(v) else float(v) for k, v in values.items()
        }


@dataclass(frozen=True)
class CampaignStatus:
    """A snapshot of a campaign's progress.

    ``best_so_far`` has one entry per experiment, in the order results arrived; with
    outcome constraints it is NaN until the first feasible result. ``rounds`` counts the
    batches proposed after the initial design, ``initial_left`` the experiments that
    design still needs, ``feasible`` the results that meet the outcome constraints (None
    without constraints). ``pareto`` holds, with several objectives, the measured feasible
    results no other one dominates (:func:`pareto_front`), in the order they arrived; it
    is empty for a single objective, whose best result is ``best``. ``expired`` counts
    the running trials whose lease ran out: still ``running`` in ``trials`` (their
    results are accepted), the next claim hands them out again. ``stalled`` counts those
    whose sample exists (partly measured or handed on, :attr:`Trial.sample_made`): they
    stay with their holder, who may be gone for good (an operator hands them on).
    """

    campaign: Campaign
    trials: dict[str, int]
    measurements: int
    batches: int
    best: Observation | None
    best_so_far: np.ndarray
    efficiency: Efficiency | None
    metrics: CampaignMetrics
    rounds: int = 0
    initial_left: int = 0
    feasible: int | None = None
    pareto: tuple[Observation, ...] = ()
    expired: int = 0
    stalled: int = 0


def pareto_front(campaign: Campaign, observed: Sequence[Observation]) -> list[Observation]:
    """The feasible observations on the Pareto front over every objective, in order.

    Each objective counts in its own direction; an infeasible result (outcome
    constraints) is on no front, and equal results are all kept.

    Args:
        campaign: The campaign whose objectives and constraints apply.
        observed: Measured trials, in any order (the front keeps it).

    Returns:
        The observations no other feasible one dominates.
    """
    feasible = [o for o in observed if campaign.feasible(o.measurement.values)]
    if not feasible:
        return []
    objectives = campaign.objectives
    signs = np.array([o.direction.sign for o in objectives])
    Y = np.array([[o.measurement.values[x.name] for x in objectives] for o in feasible])
    mask = pareto_mask(signs * Y)
    return [o for o, on_front in zip(feasible, mask, strict=True) if on_front]


def _refuse_an_infeasible_pool(
    dataset: PoolDataset, constraints: Sequence[OutcomeConstraint]
) -> None:
    """Refuse constraints that no row of a measured pool meets: nothing could be found."""
    if not constraints:
        return
    columns = [o.name for o in dataset.objectives]
    table = np.asarray(dataset.values, dtype=float)
    meets = np.ones(len(table), dtype=bool)
    for constraint in constraints:
        values = table[:, columns.index(constraint.name)]
        kept = np.array([constraint.satisfied(float(v)) for v in values], dtype=bool)
        if not kept.any():
            raise ValueError(
                f"constraint {constraint.name!r}: no pool row has {constraint.describe()}"
                f" (the pool's {constraint.name} spans {values.min():.6g} to "
                f"{values.max():.6g}), so no result could be feasible"
            )
        meets &= kept
    if not meets.any():
        raise ValueError(
            "constraints: no pool row meets them all together ("
            + "; ".join(c.describe() for c in constraints)
            + "), so no result could be feasible"
        )


#: How many bad results one refusal names; the rest are counted.
LISTED_PROBLEMS = 20


def refused(problems: Sequence[str], total: int) -> ValueError:
    """One error naming a batch's bad results: a problem alone as it is, several a line each."""
    if len(problems) == 1:
        return ValueError(problems[0])
    shown = list(problems[:LISTED_PROBLEMS])
    if len(problems) > LISTED_PROBLEMS:
        shown.append(f"... and {len(problems) - LISTED_PROBLEMS} more")
    head = f"{len(problems)} of {total} results are refused, and none is stored:"
    return ValueError("\n".join([head, *shown]))


def _lapsed(trials: Iterable[Trial]) -> list[Trial]:
    """The running trials whose lease ran out (by now, naive UTC as leases are stamped)."""
    now = utcnow()
    return [
        t
        for t in trials
        if t.status is TrialStatus.RUNNING
        and t.lease_expires_at is not None
        and t.lease_expires_at < now
    ]


def _why_not_held(trial: Trial, source: str) -> str:
    """Why ``source`` does not hold the trial, and what to do (for a refused result)."""
    if any(h.holder == source for h in trial.handoffs):
        return (
            f"{source} handed it on: report a part before handing the trial on, or have an "
            "admin token hand it back (POST .../handoff)"
        )
    return "its lease ran out, or it never held one"


def _parts_text(parts: Sequence[Measurement]) -> str:
    """``gap from uvvis-1, phase from xrd-1``: what a trial's parts gave, and who."""
    return ", ".join(f"{'+'.join(p.values)} from {p.source}" for p in parts)


def _check_part(i: int, result: Measurement, trial: Trial, given: set[str]) -> None:
    """Refuse a new partial result its trial cannot take: unleased, or outcomes reported.

    Args:
        i: Its place in the report.
        result: The partial result.
        trial: Its trial, as stored.
        given: The outcomes the batch's earlier parts gave this trial (added to here).
    """
    if trial.status is not TrialStatus.RUNNING:
        raise TrialStateError(
            f"results[{i}]: trial {result.trial_id} is {trial.status.value}; a partial result "
            "needs a lease (claim the trial first)"
        )
    before = {k: p for p in trial.parts for k in p.values}
    again = sorted(set(result.values) & (set(before) | given))
    if again:
        sources = sorted({before[k].source for k in again if k in before})
        raise TrialStateError(
            f"results[{i}].values: trial {result.trial_id} has {', '.join(again)} already ("
            + (f"from {', '.join(sources)}" if sources else "earlier in this report")
            + "); a part gives outcomes not yet reported (a wrong value is corrected once the "
            "trial completes)"
        )
    given.update(result.values)


class CampaignAgent:
    """Propose experiments, observe results, report the best: all through the database.

    Example:
        >>> agent = CampaignAgent(CampaignStore(), "photo-pce10")
        >>> trials = agent.propose(4)
        >>> agent.observe([Measurement(t.id, {"degradation": 0.1}, f"lab:{t.id}") for t in trials])
        >>> agent.best().measurement.values

    """

    def __init__(self, store: CampaignStore, name: str, planner: Planner | None = None) -> None:
        """Act for campaign ``name``, with its own planner or ``planner`` (some rounds').

        Raises:
            CampaignNotFoundError: if there is no such campaign.
            ValueError: for a ``planner`` whose endgame the campaign has no budget for
                (:func:`check_budget`): its trials would name an endgame never played.
        """
        self.store = store
        self.campaign = store.get(name)
        if planner is not None:
            check_budget(planner, self.campaign.settings.budget)
        self._planner = planner

    @property
    def planner(self) -> Planner:
        """The campaign's planner, built on first use: status requests never read a model."""
        if self._planner is None:
            try:
                self._planner = campaign_planner(self.campaign, stored=True)
            except ValueError as error:
                raise ValueError(f"{error}{self._missing_plugin()}") from error
        return self._planner

    def _missing_plugin(self) -> str:
        """Which package to install, where the strategy names a surrogate plugin not here.

        Read from the campaign's models, which record the plugin that fitted them.
        """
        surrogate = self.campaign.settings.strategy.split("+")[0]
        if surrogate in surrogates():
            return ""
        origin = self.store.plugin_origin(self.name, surrogate)
        if origin is None:
            return ""
        package = origin.get("distribution") or origin.get("source")
        version = f" {origin['version']}" if origin.get("version") else ""
        return (
            f"; this campaign's models were fitted by surrogate plugin {surrogate!r} from "
            f"{package}{version}: install it where the campaign runs"
        )

    @property
    def name(self) -> str:
        """The campaign's name."""
        return self.campaign.name

    @classmethod
    def from_dataset(
        cls,
        store: CampaignStore,
        name: str,
        dataset: PoolDataset,
        settings: CampaignSettings | None = None,
        constraints: Sequence[OutcomeConstraint] = (),
    ) -> CampaignAgent:
        """Create a pool campaign over a measured data set (values kept as lookup reference).

        Args:
            store: Where the campaign is kept.
            name: Campaign name.
            dataset: The measured pool.
            settings: Strategy and batch settings.
            constraints: Ranges on some of the data set's measured columns; those columns
                become constrained quantities instead of objectives.
        """
        constrained = {c.name for c in constraints}
        missing = constrained - {o.name for o in dataset.objectives}
        if missing:
            raise ValueError(f"constraints: {sorted(missing)} are not measured columns")
        _refuse_an_infeasible_pool(dataset, constraints)
        campaign = Campaign(
            name=name,
            space=dataset.space,
            objectives=tuple(o for o in dataset.objectives if o.name not in constrained),
            settings=settings or CampaignSettings(),
            pool_size=len(dataset.points),
            source=dataset.source,
            constraints=tuple(constraints),
            source_sha256=dataset.source_sha256,
        )
        names = [o.name for o in dataset.objectives]
        labels = dataset.labels or (None,) * len(dataset.points)
        candidates = [
            Candidate(i, point, dict(zip(names, map(float, row), strict=True)), label)
            for i, (point, row, label) in enumerate(
                zip(dataset.points, dataset.values, labels, strict=True)
            )
        ]
        campaign = with_stored_strategy(campaign)  # rl:3f2a: the policy's version in full
        planner = campaign_planner(campaign)  # refused before anything is stored
        store.create(campaign, candidates)
        return cls(store, name, planner)

    @classmethod
    def from_candidates(
        cls,
        store: CampaignStore,
        name: str,
        space: SearchSpace,
        objectives: tuple[Objective, ...],
        points: Sequence[Mapping[str, Any]],
        settings: CampaignSettings | None = None,
        source: str = "generated",
        constraints: Sequence[OutcomeConstraint] = (),
        pool_recipe: PoolRecipe | None = None,
        labels: Sequence[str | None] = (),
        results: Mapping[int, Measurement] | None = None,
        source_sha256: str | None = None,
    ) -> CampaignAgent:
        """Create a campaign over a pool of unmeasured candidates (a lab measures them).

        ``constraints`` are ranges on quantities the lab reports with every result
        (a band gap between 1.1 and 1.7 eV); ``pool_recipe`` says how the pool was
        generated, when matloop generated it; ``labels``, one per candidate or none, what
        the lab names each by (a sample id).

        ``results`` are what the lab measured before the campaign (candidate index ->
        its result, :func:`earlier_results`). Each is stored with the campaign as a
        completed trial of its first batch (strategy :data:`IMPORTED`), so the model
        learns from them: they count towards the initial design and the budget, as
        experiments done. ``source_sha256``: the SHA-256 of the file ``source`` names, when
        the pool was read from one.

        Raises:
            ValueError: for no candidates (that would be an open space), or naming the
                candidate that is outside ``space``, or the result that names no
                candidate or lacks an outcome.

        """
        if not points:
            raise ValueError("candidates: none given; a pool campaign needs at least one")
        if labels and len(labels) != len(points):
            raise ValueError(f"labels: {len(labels)} given for {len(points)} candidates")
        checked = []
        for i, point in enumerate(points):
            try:
                checked.append(space.validate(point))
            except ValueError as error:
                raise ValueError(f"candidate {i}: {error}") from None
        campaign = Campaign(
            name=name,
            space=space,
            objectives=objectives,
            settings=settings or CampaignSettings(),
            pool_size=len(checked),
            source=source,
            constraints=tuple(constraints),
            pool_recipe=pool_recipe,
            source_sha256=source_sha256,
        )
        campaign = with_stored_strategy(campaign)  # rl:3f2a: the policy's version in full
        planner = campaign_planner(campaign)  # refused before anything is stored
        named = labels or (None,) * len(checked)
        candidates = [
            Candidate(i, p, label=label)
            for i, (p, label) in enumerate(zip(checked, named, strict=True))
        ]
        earlier = earlier_results(campaign, candidates, results or {})
        store.create(campaign, candidates, earlier)
        agent = cls(store, name, planner)
        if earlier:
            agent.record_metrics_after_commit()
        return agent

    # -- ask -------------------------------------------------------------------------
    def propose(
        self,
        n: int | None = None,
        attempts: int = 3,
        rounds: int | None = None,
        request: str | None = None,
    ) -> list[Trial]:
        """Choose and store the next batch of ``n`` experiments.

        The first ``settings.initial`` experiments are drawn at random; after that the
        campaign's planner chooses, with every pending trial passed as pending. A batch
        is stored only if no other was since the trials it was planned on were read
        (another process proposing at the same time): else it is planned again.

        Args:
            n: Batch size; default what the initial design still needs (``settings.initial``
                at first), then ``settings.batch_size``.
            attempts: Tries when agents in other processes propose at the same time.
            rounds: Propose only while the campaign has fewer model-guided rounds than
                this (or its initial design is unfinished), as counted when the batch is
                stored: two runners bringing it to ``rounds`` never overshoot.
            request: An id for this proposal: asked again with it (a retry after a lost
                acknowledgement), it returns the batch it stored instead of a second one
                (the campaign remembers its last 32 requests).

        Returns:
            The stored trials: fewer than ``n`` when the pool or the campaign's budget
            runs out, or the initial design needs fewer (random trials never go past
            it); none when either is spent, the model waits for the design's results
            (:meth:`no_work` says which), or ``rounds`` are reached.

        Raises:
            CampaignClosedError: if the campaign is closed.
            ConcurrentProposalError: if other agents kept proposing first.
        """
        self.ensure_open()  # before planning: a closed campaign fits no model
        if request is not None and (stored := self.store.proposed_for(self.name, request)):
            return stored
        for attempt in range(attempts):
            try:
                return self._propose_once(n, rounds, request)
            except ConcurrentProposalError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def claim(
        self,
        instrument: str,
        count: int = 1,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        request_id: str | None = None,
    ) -> list[Trial]:
        """Lease the next ``count`` trials to an instrument, proposing more when none wait.

        A lease that expires returns its trial to the queue for another instrument. A
        claim that fails (proposing the missing trials raised) leases nothing: the trials it
        had taken go back to the queue before the error propagates. A claim repeated with
        the same ``request_id`` (a client's retry after a timeout) gets the trials the first
        one leased while they still run, not new ones.

        Raises:
            CampaignClosedError: if the campaign is closed (:meth:`CampaignStore.claim`
                refuses it). A retry still gets what the first claim leased, and one
                closed while this claim proposes returns the trials already leased: they
                run, and their results are accepted.
        """
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be > 0, got {lease_seconds}")
        earlier = self.repeated_claim(instrument, request_id)
        if earlier:
            return earlier
        token = None if request_id is None else _claim_token(instrument, request_id)
        # by id: a lease shorter than the proposal below runs out meanwhile, and the next
        # pass leases that trial again (with a fresh lease): it is one trial, not two
        claimed: dict[str, Trial] = {}
        try:
            for _ in range(5):  # another instrument may take some of the trials read for it
                taken = self.store.claim(
                    self.name, instrument, count - len(claimed), lease_seconds, token
                )
                claimed.update((str(t.id), t) for t in taken)
                missing = count - len(claimed)
                if missing == 0:
                    break
                if not self.pending_unclaimed():
                    batch = self.campaign.settings.batch_size
                    try:
                        if not self.propose(None if missing <= batch else missing, attempts=1):
                            break  # pool or budget spent
                    except ConcurrentProposalError:
                        continue  # another instrument's batch came first: claim from it
        except CampaignClosedError:
            if claimed:  # leased before the close: running trials, which it leaves be
                return list(claimed.values())
            raise
        except Exception:
            # the instrument never learns these ids: leased, they would sit until expiry
            if claimed:
                self.store.release(self.name, list(claimed), instrument)
            raise
        return list(claimed.values())

    def repeated_claim(self, instrument: str, request_id: str | None) -> list[Trial]:
        """What a claim with ``request_id`` leased before and still runs: a retry's answer.

        Empty for a request id not used before by ``instrument`` (or none), and once none
        of its trials runs any more.
        """
        if request_id is None:
            return []
        return self.store.claimed(self.name, instrument, _claim_token(instrument, request_id))

    def no_work(self, batch: Sequence[Trial] = ()) -> NoWork:
        """Why a proposal or claim came back empty or short, and whether asking again may.

        Trials still out may fail, be cancelled or lose their lease, which frees their
        place in the budget and their candidate; results let the model start. Only a
        spent budget or pool with nothing out is final. (An open space has no pool to run
        out: there, other instruments took what waited.)

        Args:
            batch: What the short proposal gave: random trials alone, with the model to
                choose next, were the end of the initial design.
        """
        budget = self.campaign.settings.budget
        trials = self.store.trials(self.name)
        spent = sum(t.status.spends_budget for t in trials)
        out = sum(t.status.is_pending for t in trials)
        stalled = sum(t.sample_made for t in _lapsed(trials))  # only an operator moves them
        later = (
            f"; {out} trial{'s are' if out != 1 else ' is'} still out (a failure, a "
            "cancel or a lost lease frees its place): ask again later"
            if out
            else ""
        )
        held = ""  # said after the trials out, in either message
        if stalled:
            held = (
                f"{stalled} stalled: partly measured or handed on with their lease run out, "
                "an admin token hands them on or gives them up"
            )
            later += f" ({held})"
        if budget is not None and spent >= budget:
            state = "handed out" if out else "spent"
            return NoWork(f"its budget of {budget} experiments is {state}{later}", bool(out))
        measured = _measured(trials)
        if self._random_left(spent, measured) == 0:
            return NoWork(
                f"the model needs {MIN_RESULTS} results to choose and has {measured}: its "
                f"initial design is out ({out} pending{f', {held}' if held else ''}); ask "
                "again when results are in",
                True,
            )
        problem = self._problem(trials)[0] if self.campaign.pool_size else None
        if problem is not None and problem.available_indices().size == 0:
            state = "measured, out or failed" if out else "measured or failed"
            return NoWork(f"every candidate of its pool is {state}{later}", bool(out))
        model_led = self.campaign.settings.strategy != RandomPlanner.name
        if model_led and batch and all(t.strategy == RandomPlanner.name for t in batch):
            return NoWork(
                "the last batch ended the initial design (random experiments never go past "
                "it); the model chooses the next batch: ask again",
                True,
            )
        return NoWork("other instruments took the trials that were waiting; ask again", True)

    def ensure_open(self) -> None:
        """Refuse a proposal on a closed campaign (the store refuses claims itself).

        Reads the database, not :attr:`campaign`: another process may have closed it.

        Raises:
            CampaignClosedError: naming the campaign.
        """
        self.store.ensure_open(self.name)

    def set_budget(self, budget: int | None) -> BudgetChange:
        """Give the campaign another budget (more funding, a cap), or none (open-ended).

        Planners plan towards it from their next batch: ``top``'s endgame moves, the
        learned policy sees another budget left. A proposal or claim already under way
        keeps the budget it read, so one racing this change may end past a budget just
        lowered.

        Raises:
            ValueError: naming ``budget``: below 1, below the experiments done or out
                (proposed ones included: cancel them, or close the campaign), or none
                for a strategy with an endgame.
            CampaignClosedError: if the campaign is closed.
        """
        if budget is not None and budget < 1:
            raise ValueError(f"budget: must be >= 1 experiment, got {budget}")
        self.ensure_open()
        strategy = self.campaign.settings.strategy
        if {"endgame", *LOOKAHEAD} & set(strategy.split("+")):  # no prior or policy read
            check_budget(strategy_planner(strategy), budget)
        statuses = self.store.counts(self.name)["trials"]
        spent = sum(n for status, n in statuses.items() if TrialStatus(status).spends_budget)
        if budget is not None and budget < spent:
            waiting = statuses[TrialStatus.PROPOSED.value]
            free = (  # only waiting trials give their places back
                f"{waiting} of them proposed and waiting: cancel those to free their places "
                f"(`matloop campaign cancel {self.name} --waiting`, or POST "
                ".../trials/{id}/cancel), or close the campaign to stop it"
                if waiting
                else "none of them waiting: those done or running stay counted; close the "
                "campaign to stop it"
            )
            raise ValueError(
                f"budget: {budget} is below the {spent} experiments done or out, {free}"
            )
        before = self.campaign.settings.budget
        self.store.set_budget(self.name, budget)
        settings = replace(self.campaign.settings, budget=budget)
        self.campaign = replace(self.campaign, settings=settings)
        return BudgetChange(before, budget, spent)

    def close(self) -> CloseReport:
        """Close the campaign: it hands out no more trials.

        Proposed trials no instrument claimed, and running ones whose lease ran out, are
        abandoned (reason ``campaign closed``), atomically with the status; running trials
        keep their leases, and their results are still accepted. Closing a closed
        campaign is not an error (``already_closed``): it abandons the leases that ran
        out since.
        """
        report = self.store.close(self.name)
        self.campaign = replace(self.campaign, status=CLOSED)
        return report

    def pending_unclaimed(self) -> bool:
        """Whether proposed trials wait for an instrument (another claim may take them)."""
        return self.store.has_waiting(self.name)

    def heartbeat(
        self, trial_id: str, instrument: str, lease_seconds: float | None = None
    ) -> Trial:
        """Extend an instrument's lease on a trial it is running (None: by its last length)."""
        return self.store.heartbeat(self.name, trial_id, instrument, lease_seconds)

    def hand_off(
        self,
        trial_id: str,
        instrument: str | None,
        to: str,
        lease_seconds: float | None = None,
    ) -> Trial:
        """Pass a running trial's lease to the instrument that measures it next.

        ``instrument`` None: an operator's hand-off, from whoever holds it. ``to`` is
        spelt as a token bound to it spells it (``UVVIS-1`` would be no one's to act
        for). See :meth:`db.campaigns.CampaignStore.hand_off`.
        """
        to, _ = bound_to([to]).get(to.casefold(), (to, None))
        return self.store.hand_off(self.name, trial_id, instrument, to, lease_seconds)

    def _propose_once(
        self, n: int | None, rounds: int | None = None, request: str | None = None
    ) -> list[Trial]:
        settings = self.campaign.settings
        stored = self.store.batches_stored(self.name)  # first: a batch stored after the
        trials = self.store.trials(self.name)  # read refuses this one (add_trials)
        if rounds is not None:
            progress = _design_progress(trials, settings)
            if not progress["initial_left"] and progress["rounds"] >= rounds:
                return []
        batches = len({t.batch for t in trials}) if stored is None else stored
        active = sum(t.status.spends_budget for t in trials)
        if n is not None and n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if settings.budget is not None and active >= settings.budget:
            return []  # the budget is spent (or handed out): no pool read, no fit
        random_left = self._random_left(active, _measured(trials))
        if random_left == 0:
            return []  # the model waits for the results it needs to choose: no pool read
        observed = self.observations(trials)
        problem, candidates = self._problem(trials, observed)
        planner: Planner = self.planner if random_left is None else RandomPlanner()
        if random_left is not None:  # the rest of the design (whoever began it), no more
            n = random_left if n is None else min(n, random_left)
        elif n is None:
            n = settings.initial - active if active < settings.initial else settings.batch_size
        if settings.budget is not None:
            n = min(n, settings.budget - active)
        seed = round_seed(settings.seed, batches)
        plan = planner.plan(problem, n, seed=seed)
        version = None
        if plan.model is not None:  # registered as the model it is, with its training set
            trained_on = [str(o.trial.id) for o in observed]
            model = described(plan.model, fit_settings(planner, seed), trained_on)
            modelled = ", ".join(self.campaign.outcome_names)  # what `model list` names
            model = replace(model, metrics={**model.metrics, "objective": modelled})
            version = self.store.save_model(self.name, model)
        batch = batch_name(batches)
        new = []
        for suggestion in plan.suggestions:
            parameters = (
                candidates[suggestion.candidate].parameters
                if suggestion.candidate is not None
                else self.campaign.space.validate(suggestion.parameters)
            )
            new.append(
                Trial(
                    campaign=self.name,
                    parameters=parameters,
                    batch=batch,
                    candidate=suggestion.candidate,
                    label=(
                        None
                        if suggestion.candidate is None
                        else candidates[suggestion.candidate].label
                    ),
                    model_version=version,
                    acquisition_value=suggestion.acquisition_value,
                    strategy=suggestion.strategy or planner.name,
                )
            )
        return self.store.add_trials(self.name, new, batches, request) if new else []

    def _random_left(self, active: int, measured: int) -> int | None:
        """Random experiments the design still needs before the model chooses.

        The first ``settings.initial`` experiments are random, and so is a second one
        where ``initial`` is 1 (a model needs 2 results). Random trials past them would
        spend the budget on chance while results are on their way: the model waits.

        Args:
            active: Experiments done or pending (that spend the budget).
            measured: Results the model may learn from.

        Returns:
            How many random experiments to propose; 0 while the model waits for
            results; None once it chooses (always, for the random strategy).
        """
        initial = self.campaign.settings.initial
        if self.campaign.settings.strategy == RandomPlanner.name:
            return None
        if active < initial:
            return initial - active
        if measured >= MIN_RESULTS:
            return None
        return max(0, MIN_RESULTS - active)

    def _problem(
        self, trials: list[Trial], observed: list[Observation] | None = None
    ) -> tuple[PlanningProblem, list[Candidate]]:
        """The planner's view of ``trials`` (and their :meth:`observations`, if read)."""
        space, constraints = self.campaign.space, self.campaign.constraints
        observed = self.observations(trials) if observed is None else observed
        pending = [t for t in trials if t.status.is_pending]
        candidates = self.store.candidates(self.name) if self.campaign.pool_size else []
        pool = available = None
        if candidates:
            pool = space.encode([c.parameters for c in candidates])
            available = np.ones(len(candidates), dtype=bool)
            taken = [o.trial.candidate for o in observed] + [t.candidate for t in pending]
            failures = Counter(t.candidate for t in trials if t.status is TrialStatus.FAILED)
            taken += [i for i, n in failures.items() if n >= MAX_FAILURES]
            available[[i for i in taken if i is not None]] = False
        problem = PlanningProblem(
            space=space,
            objectives=self.campaign.objectives,
            X=space.encode([o.trial.parameters for o in observed]),
            Y=np.array(
                [
                    [o.measurement.values[name] for name in self.campaign.objective_names]
                    for o in observed
                ],
                dtype=float,
            ).reshape(len(observed), len(self.campaign.objectives)),
            X_pending=space.encode([t.parameters for t in pending]),
            pool=pool,
            available=available,
            strategies=tuple(o.trial.strategy for o in observed),
            budget=self.campaign.settings.budget,
            initial=self.campaign.settings.initial,
            constraints=constraints,
            C=np.array(
                [[o.measurement.values[c.name] for c in constraints] for o in observed],
                dtype=float,
            ).reshape(len(observed), len(constraints)),
        )
        return problem, candidates

    # -- tell ------------------------------------------------------------------------
    def observe(self, results: Sequence[Measurement]) -> ObserveReport:
        """Validate and store results, completing their trials, atomically.

        A result whose idempotency key is already stored (with the same trial, values and
        units) is acknowledged again and not stored twice. Values reported in another unit
        than the outcome's declared one are converted to it first
        (:meth:`Measurement.in_units_of`).

        Raises:
            ValueError: naming the result and field (unknown trial, missing objective,
                NaN/inf, a unit that does not convert, trial not pending, key reused for
                another result); nothing is written when any result is invalid.

        """
        if not results:
            return ObserveReport(0, 0)
        # not strict yet: a retry of a result stored with a since-refused label is a repeat
        problems: dict[int, str] = {}  # by result: the checks below add theirs
        results = [self._in_campaign_units(i, r, problems) for i, r in enumerate(results)]
        # One read of the trials and the stored keys, shared by the checks and the store.
        check = partial(self._check, results, problems=problems)
        outcomes = [o.name for o in self.outcomes]
        report = self.store.record(self.name, results, check, outcomes)
        if report.completed:
            self.record_metrics_after_commit()
        return ObserveReport(report.stored, report.duplicates, report.completed)

    def record_metrics_after_commit(self) -> None:
        """Record the live metrics of results just committed, logging a failure instead.

        The results are stored: the caller must hear so, or its retry would be a
        duplicate (a campaign created twice) and nothing downstream would learn of them.
        The metrics are derived data; the next report records them again.
        """
        try:
            self.record_metrics()
        except Exception:
            logger.exception("results stored in %s; its live metrics were not", self.name)

    @property
    def outcomes(self) -> list[Objective | OutcomeConstraint]:
        """What every result reports: the objectives, then the constrained quantities."""
        return [*self.campaign.objectives, *self.campaign.constraints]

    def _in_campaign_units(
        self,
        i: int,
        result: Measurement,
        problems: dict[int, str] | None = None,
        strict: bool = False,
    ) -> Measurement:
        """``result`` in the outcomes' units; a problem is put in ``problems[i]``, or raised."""
        try:
            return result.in_units_of(self.outcomes, strict)
        except ValueError as error:
            if problems is None:
                raise ValueError(f"results[{i}]: {error}") from None
            problems[i] = f"results[{i}]: {error}"
            return result

    def record_metrics(self, since: str | None = None) -> CampaignMetrics:
        """Compute the live metrics and store them under the current measurement count.

        Args:
            since: A trial whose result changed (corrected): the rows stored at counts
                from its result's place on are computed again, from the results as they
                now are.
        """
        metrics = self.status().metrics
        self.store.save_metrics(self.name, metrics.measurements, metrics.as_dict())
        if since is not None:
            self._record_metrics_again(since)
        return metrics

    def _record_metrics_again(self, trial_id: str) -> None:
        observed = self.observations()
        place = next((i for i, o in enumerate(observed) if o.trial.id == trial_id), None)
        if place is None:
            return
        pool = self._pool_reference()
        reference = None if pool is None else pool.values
        for row in self.store.metrics_history(self.name, after=place):
            count = row["measurements"]
            if count < len(observed):  # the current row is recorded above
                first = observed[:count]
                metrics = self._metrics(first, reference, self._efficiency(first, pool))
                self.store.save_metrics(self.name, count, metrics.as_dict())

    def metrics_history(self) -> list[dict[str, Any]]:
        """Stored live metrics, one row per measurement count at which they were recorded."""
        return self.store.metrics_history(self.name)

    def latest_metrics(self, count: int, status: CampaignStatus) -> list[dict[str, Any]]:
        """The last ``count`` rows of :meth:`metrics_history`, oldest first."""
        return self.store.latest_metrics(self.name, count, status.measurements)

    def _check(
        self,
        results: Sequence[Measurement],
        trials: dict[str, Trial],
        stored: dict[str, Measurement],
        problems: Mapping[int, str] | None = None,
    ) -> None:
        """Refuse the batch with a ValueError naming its bad results (see observe).

        Every result that is no trial's, or whose units or values are invalid, is named at
        once (``problems``: those its units had): a lab fixes its file in one go. Then the
        first result refused by the state of its trial or key, a 409 or a 422 of its own.
        """
        outcomes = self.outcomes
        found = dict(problems or {})
        for i, result in enumerate(results):
            if i in found:
                continue
            if result.trial_id not in trials:
                found[i] = (
                    f"results[{i}].trial_id: {result.trial_id!r} is not a trial of "
                    f"campaign {self.name!r}"
                )
                continue
            named = key_trial(result.idempotency_key)
            if named not in (None, result.trial_id) and named in trials:
                found[i] = (
                    f"results[{i}].idempotency_key: {result.idempotency_key!r} is of the "
                    f"default form that names trial {named} (SOURCE:TRIAL_ID, and :OUTCOMES "
                    f"for a part), kept for that trial's own results, not trial "
                    f"{result.trial_id}'s: name this trial in it, or give a key of another form"
                )
                continue
            if not result.partial and trials[result.trial_id].parts:
                continue  # refused below as partly measured, not as missing its parts' outcomes
            try:
                result.check(outcomes)
            except ValueError as error:
                found[i] = f"results[{i}]: {error}"
        if found:
            raise refused([found[i] for i in sorted(found)], len(results))
        seen: dict[str, Measurement] = {}
        reported: set[str] = set()
        given: dict[str, set[str]] = {}  # by trial: the outcomes its parts gave
        for i, result in enumerate(results):
            key = result.idempotency_key
            trial = trials[result.trial_id]
            parts = {p.idempotency_key: p for p in trial.parts}
            earlier = parts.get(key) or stored.get(key) or seen.get(key)
            if earlier is not None:
                # stored before unlabelled values were labelled: read it the same way
                earlier = earlier.in_units_of(outcomes, strict=False)
                if (
                    earlier.trial_id != result.trial_id
                    or earlier.partial != result.partial  # a part's key on a whole result
                    or not same_reading(earlier, result)
                ):
                    raise ValueError(
                        f"results[{i}].idempotency_key: {key!r} was already used for a "
                        "different result"
                    )
                continue
            self._in_campaign_units(i, result, strict=True)  # a new result: no stray units
            if not trial.status.is_pending:
                why = f" ({trial.reason})" if trial.reason else ""  # "campaign closed"
                fix = (  # a second result under another key or source
                    " (its result is stored under another idempotency key; to replace it: "
                    "`campaign correct` or POST .../trials/{id}/correction)"
                    if trial.status is TrialStatus.COMPLETED
                    else ""
                )
                raise TrialStateError(
                    f"results[{i}]: trial {result.trial_id} is {trial.status.value}{why}; "
                    f"only proposed or running trials accept results{fix}"
                )
            holder = trial.claimed_by if trial.status is TrialStatus.RUNNING else None
            if holder is not None and result.source not in (holder, UNNAMED):
                raise TrialStateError(
                    f"results[{i}].source: trial {result.trial_id} is leased to {holder!r}; "
                    f"a result from {result.source!r} is refused ("
                    + _why_not_held(trial, result.source)
                    + ")"
                )
            if result.partial and result.trial_id in reported.difference(given):
                raise ValueError(f"results[{i}]: a whole and a partial result for trial {trial.id}")
            if result.partial:
                _check_part(i, result, trial, given.setdefault(result.trial_id, set()))
            elif trial.parts:
                raise TrialStateError(
                    f"results[{i}]: trial {result.trial_id} is partly measured "
                    f"({_parts_text(trial.parts)}): report its other outcomes as a partial "
                    "result"
                )
            elif result.trial_id in reported:
                raise ValueError(f"results[{i}]: two different results for trial {result.trial_id}")
            seen[key] = result
            reported.add(result.trial_id)

    def correct(self, corrected: Measurement, reason: str, by: str) -> CorrectionReport:
        """Replace a wrong result's values (a typed unit, a misread sample), keeping the old.

        The values are converted and checked as a report's are; the trial stays
        completed. Models fitted from now on learn the right values (a new data hash,
        so a new model version), and the live metrics are recorded again: every stored
        row from the result's place on, so that the history agrees with the best-so-far.

        Args:
            corrected: The trial, its right values (and their units), and the correction's
                idempotency key: asked again with the same values, it is stored once. The
                outcomes it names are replaced, the others keep their values (one
                instrument's misread value is corrected alone).
            reason: Why (kept with the values replaced).
            by: Who corrects it.

        Raises:
            ValueError: naming the field: a value or unit refused as a report's would be,
                an empty reason, a key used for another correction, values as stored.
            TrialNotFoundError: if the campaign has no such trial.
            TrialStateError: if the trial has no result to correct.
        """
        if not reason.strip():
            raise ValueError("reason: say why the values are replaced")
        if not corrected.values:
            raise ValueError("values: name at least one outcome and its right value")
        corrected = replace(corrected, partial=True).in_units_of(self.outcomes)
        corrected.check(self.outcomes)  # as a part: some outcomes, at least one
        report = self.store.correct(self.name, corrected, reason.strip(), by)
        if not report.duplicate:
            try:
                self.record_metrics(since=corrected.trial_id)
            except Exception:  # stored: as for observe, the next report records them
                logger.exception("result corrected in %s; its live metrics were not", self.name)
        return report

    def start(self, trial_id: str) -> Trial:
        """Mark a proposed trial running (an instrument has begun it)."""
        return self.store.set_status(self.name, trial_id, TrialStatus.RUNNING)

    def fail(
        self,
        trial_id: str,
        instrument: str | None = None,
        reason: str | None = None,
        operator: bool = True,
    ) -> Trial:
        """Mark a trial failed: its candidate is proposed again, up to :data:`MAX_FAILURES`.

        Safe to retry: failing a trial again, as the same instrument (or, naming none, as
        an operator again), returns it as stored and changes nothing: no second failure
        counts against its candidate, and the first reason stays. A trial another gave
        up, or abandoned, is refused naming who did (:meth:`CampaignStore.set_status`).

        Args:
            trial_id: The trial.
            instrument: Who reports it; a trial leased to another instrument is refused.
            reason: Why, kept on the trial (``furnace fault``).
            operator: Whether an operator asks, who may fail a running trial without
                naming its instrument (an instrument must name itself), or one no
                instrument claimed.

        Raises:
            TrialStateError: on a trial completed, given up otherwise or by another, or
                leased to another instrument.
        """
        return self.store.set_status(
            self.name, trial_id, TrialStatus.FAILED, instrument, reason, operator
        )

    def abandon(
        self,
        trial_id: str,
        instrument: str | None = None,
        reason: str | None = None,
        operator: bool = True,
    ) -> Trial:
        """Mark a trial abandoned: never run, no result will come.

        Arguments and retries as :meth:`fail`: abandoning it again, as the same one,
        returns it unchanged; a trial failed, or abandoned by another, is refused.
        """
        return self.store.set_status(
            self.name, trial_id, TrialStatus.ABANDONED, instrument, reason, operator
        )

    # -- read ------------------------------------------------------------------------
    def pending(self) -> list[Trial]:
        """Trials handed out whose results have not come back."""
        return self.store.trials(self.name, [TrialStatus.PROPOSED, TrialStatus.RUNNING])

    def unclaimed(self) -> list[Trial]:
        """Proposed trials that no instrument has claimed: what an oracle may measure.

        A runner that stopped mid-round leaves these; a running trial is an instrument's
        to report, and an oracle's value in its place would refuse the real one. One whose
        lease ran out goes back to the queue first, as for a claim: the oracle measures it
        (a scheduled round would otherwise count it done, unmeasured, for good).
        """
        self.store.release_expired(self.name)
        proposed = self.store.trials(self.name, [TrialStatus.PROPOSED])
        return [trial for trial in proposed if trial.claimed_by is None]

    def observations(self, trials: list[Trial] | None = None) -> list[Observation]:
        """Completed trials with their measurements, in the order the results arrived.

        A lab may report a later batch first: best-so-far and the Top% trace count
        experiments as they were measured, not as they were proposed.
        """
        trials = self.store.trials(self.name) if trials is None else trials
        by_id = {t.id: t for t in trials}
        return [
            Observation(by_id[m.trial_id], m)
            for m in self.store.measurements(self.name)
            if m.trial_id in by_id
        ]

    def best(self) -> Observation | None:
        """The best observation on the first objective, or None before any result."""
        return self._best(self.observations())

    def _best(self, observed: list[Observation]) -> Observation | None:
        """The best feasible observation on the first objective."""
        objective = self.campaign.objectives[0]
        observed = self._feasible(observed)
        if not observed:
            return None
        sign = objective.direction.sign
        return max(observed, key=lambda o: sign * o.measurement.values[objective.name])

    def _feasible(self, observed: list[Observation]) -> list[Observation]:
        return [o for o in observed if self.campaign.feasible(o.measurement.values)]

    def status(
        self, trials: list[Trial] | None = None, observed: list[Observation] | None = None
    ) -> CampaignStatus:
        """Counts, best result, best-so-far trace and (on a known pool) EF and AF.

        With outcome constraints, the best result and the metrics count feasible results
        only; the trace has one entry per experiment, NaN until the first feasible one.
        With several objectives, ``pareto`` is the measured feasible front.

        Args:
            trials: The campaign's trials, when the caller read them already.
            observed: Their :meth:`observations`, read with them: a page that draws its
                own figures from these passes both, so that a result stored meanwhile
                cannot make the status disagree with them.
        """
        trials = self.store.trials(self.name) if trials is None else trials
        observed = self.observations(trials) if observed is None else observed
        objective = self.campaign.objectives[0]
        values = [  # an infeasible result is an experiment, but not a candidate for best
            o.measurement.values[objective.name]
            if self.campaign.feasible(o.measurement.values)
            else math.nan
            for o in observed
        ]
        counts = {s.value: 0 for s in TrialStatus}
        for trial in trials:
            counts[trial.status.value] += 1
        lapsed = _lapsed(trials)
        stalled = sum(t.sample_made for t in lapsed)  # kept: its sample exists
        pool = self._pool_reference() if observed else None
        efficiency = self._efficiency(observed, pool)
        reference = None if pool is None else pool.values
        return CampaignStatus(
            campaign=self.campaign,
            trials=counts,
            measurements=len(observed),
            batches=len({t.batch for t in trials}),
            best=self._best(observed),
            best_so_far=best_so_far(values, objective.direction),
            efficiency=efficiency,
            metrics=self._metrics(observed, reference, efficiency),
            **_design_progress(trials, self.campaign.settings),
            feasible=len(self._feasible(observed)) if self.campaign.constraints else None,
            pareto=self._pareto(observed),
            expired=len(lapsed) - stalled,
            stalled=stalled,
        )

    def _pareto(self, observed: list[Observation]) -> tuple[Observation, ...]:
        """The measured feasible front with several objectives; empty with one."""
        if len(self.campaign.objectives) < 2:
            return ()
        return tuple(pareto_front(self.campaign, observed))

    def _pool_reference(self) -> PoolReference | None:
        """The pool's known objective values, or None when any is unknown.

        Infeasible members (outcome constraints) get the worst value of each objective.
        """
        if not self.campaign.pool_size:
            return None
        names = self.campaign.outcome_names
        reference = [c.reference for c in self.store.candidates(self.name)]
        if any(r is None or any(n not in r for n in names) for r in reference):
            return None
        rows = [r for r in reference if r is not None]
        values = np.array([[r[o.name] for o in self.campaign.objectives] for r in rows])
        feasible = np.array([self.campaign.feasible(r) for r in rows])
        if not feasible.all():
            signs = np.array([o.direction.sign for o in self.campaign.objectives])
            worst = signs * (signs * values).min(0)
            values[~feasible] = worst
        return PoolReference(values, feasible)

    def _metrics(
        self,
        observed: list[Observation],
        reference: np.ndarray | None,
        efficiency: Efficiency | None,
    ) -> CampaignMetrics:
        metrics = CampaignMetrics(len(observed))
        if efficiency is not None:  # defined from the first result, feasible or not
            metrics = replace(
                metrics,
                enhancement_factor=efficiency.enhancement_factor,
                acceleration_factor=efficiency.acceleration_factor,
            )
        objectives = self.campaign.objectives
        signs = np.array([o.direction.sign for o in objectives])

        def oriented(found: list[Observation]) -> np.ndarray:
            values = [[o.measurement.values[x.name] for x in objectives] for o in found]
            return signs * np.array(values).reshape(len(found), len(objectives))

        initial = max(self.campaign.settings.initial, 1)
        first = oriented(observed[:initial])  # feasible or not: the hypervolume's reference
        observed = self._feasible(observed)
        if not observed:
            return metrics
        Y = oriented(observed)
        best = float(signs[0] * Y[:, 0].max())
        metrics = replace(metrics, best=best)
        if efficiency is not None:
            regret = simple_regret(best, efficiency.pool_best, objectives[0].direction)
            metrics = replace(metrics, simple_regret=regret)
        if len(objectives) > 1:
            pool = None if reference is None else signs * reference
            # the pool's extent when it is known; else the first results, feasible or
            # not (as many as the initial design), so that the reference stays put and
            # the recorded hypervolumes compare from then on, however rare feasible ones
            if pool is None and len(first) < initial:
                return metrics  # no reference until the initial design is all measured
            ref = _reference_point(first if pool is None else pool)
            volume = hypervolume(Y, ref)
            fraction = volume / hypervolume(pool, ref) if pool is not None else None
            metrics = replace(
                metrics,
                hypervolume=volume,
                hypervolume_fraction=fraction,
                hypervolume_reference=tuple(float(v) for v in signs * ref),
            )
        return metrics

    def _efficiency(
        self, observed: list[Observation], pool: PoolReference | None
    ) -> Efficiency | None:
        if pool is None or not observed or not pool.feasible.any():
            return None  # no top set: nothing in the pool meets the constraints
        objectives = self.campaign.objectives
        objective = objectives[0]
        pool_values = pool.values[:, 0]
        order = [o.trial.candidate for o in observed if o.trial.candidate is not None]
        # the top set is feasible: with fewer feasible members than its size, all of them
        if len(objectives) > 1:  # the pool's first Pareto layers
            signs = np.array([o.direction.sign for o in objectives])
            top = pareto_top_mask(signs * pool.values) & pool.feasible
        else:
            top = top_mask(pool_values, objective.direction) & pool.feasible
        trace = top_fraction_trace(order, top)
        pool_best = float(best_so_far(pool_values[pool.feasible], objective.direction)[-1])
        return Efficiency(
            trace,
            enhancement_factor(trace, len(pool_values)),
            acceleration_factor(trace, len(pool_values)),
            pool_best,
        )


def _reference_point(spread: np.ndarray) -> np.ndarray:
    """A hypervolume reference below ``n x m`` values (every objective maximised).

    The margin (a tenth of each objective's range, or of its magnitude when the values
    agree) lets a Pareto point that is worst in one objective still add volume.
    """
    low, width = spread.min(0), np.ptp(spread, 0)
    scale = np.where(width > 0, width, np.maximum(np.abs(low), 1e-12))
    return low - 0.1 * scale


def earlier_results(
    campaign: Campaign, candidates: Sequence[Candidate], results: Mapping[int, Measurement]
) -> list[tuple[Trial, Measurement]]:
    """The completed trials, and their results, of candidates measured before ``campaign``.

    Args:
        campaign: The new campaign.
        candidates: Its pool.
        results: Candidate index -> its result (``trial_id`` and ``idempotency_key`` are
            set here: ``imported-<index>``); values in another unit than their
            outcome's are converted, as a report's are.

    Raises:
        ValueError: ``results: candidate ...``, naming the index that is no candidate's,
            or the candidate (and its label) whose result lacks an outcome, holds one not
            finite or gives a unit that does not convert.
    """
    outcomes: list[Objective | OutcomeConstraint] = [*campaign.objectives, *campaign.constraints]
    earlier = []
    for i in sorted(results):
        if not 0 <= i < len(candidates):
            raise ValueError(f"results: candidate {i} is not one of the {len(candidates)}")
        candidate = candidates[i]
        result = replace(results[i], trial_id="", idempotency_key=f"{IMPORTED}-{i}")
        try:
            result.check(outcomes)
            result = result.in_units_of(outcomes)
        except ValueError as error:
            named = f" ({candidate.label})" if candidate.label else ""
            why = str(error).removeprefix("trial : ")  # it has no trial yet
            raise ValueError(f"results: candidate {i}{named}: {why}") from None
        trial = Trial(
            campaign=campaign.name,
            parameters=candidate.parameters,
            batch=batch_name(0),
            status=TrialStatus.COMPLETED,
            candidate=i,
            label=candidate.label,
            strategy=IMPORTED,
        )
        earlier.append((trial, result))
    return earlier


def _measured(trials: Sequence[Trial]) -> int:
    """Results the model may learn from: completed trials (each stored with its result)."""
    return sum(t.status is TrialStatus.COMPLETED for t in trials)


def _design_progress(trials: Sequence[Trial], settings: CampaignSettings) -> dict[str, int]:
    """Batches the model proposed after the initial design, and experiments it still needs.

    The initial design may take several batches (a lab proposing a few at a time), and a
    failed trial of it is drawn again at random, so a round is a batch the campaign's
    planner chose: its trials are recorded as neither ``random`` nor :data:`IMPORTED`. A
    random campaign's rounds are the batches handed out after its first ``initial``
    trials, failed ones included (as they were when proposed), so that a later failure
    does not undo a round.
    """
    initial_left = max(0, settings.initial - sum(t.status.spends_budget for t in trials))
    if settings.strategy != RandomPlanner.name:
        not_chosen = (RandomPlanner.name, IMPORTED)
        rounds = len({t.batch for t in trials if t.strategy not in not_chosen})
        return {"rounds": rounds, "initial_left": initial_left}
    per_batch = Counter(t.batch for t in trials)
    handed_out = rounds = 0
    for batch in sorted(per_batch, key=batch_order):
        rounds += handed_out >= settings.initial
        handed_out += per_batch[batch]
    return {"rounds": rounds, "initial_left": initial_left}


def strategy_planner(strategy: str) -> Planner:
    """The planner of a stored strategy: a registered name, or ``rl:VERSION``.

    Raises:
        ValueError: for an unknown strategy or a version that is not a policy.
        LookupError: for an unknown policy version.
    """
    from agents.policies import STRATEGY_PREFIX, policy_planner  # the model registry

    if strategy.startswith(STRATEGY_PREFIX):
        return policy_planner(strategy)
    return make_planner(strategy)


def stored_strategy(strategy: str) -> str:
    """A strategy as a campaign stores it: the name its trials record.

    That is its planner's name: its parts in one order
    (:func:`discovery.domain.canonical_strategy`: ``gp+warp+qucb`` is ``gp+qucb+warp``),
    so the campaign and a filter on its trials' ``strategy`` name it alike; ``rl:`` takes
    its policy's version in full.

    Raises:
        LookupError: for an unknown or ambiguous policy version.
    """
    from agents.policies import STRATEGY_PREFIX, full_policy_version  # the model registry

    if strategy.startswith(STRATEGY_PREFIX):
        return STRATEGY_PREFIX + full_policy_version(strategy.removeprefix(STRATEGY_PREFIX))
    return canonical_strategy(strategy)


def with_stored_strategy(campaign: Campaign) -> Campaign:
    """``campaign`` with its strategy as stored (:func:`stored_strategy`).

    Raises:
        LookupError: for an unknown or ambiguous policy version.
    """
    strategy = stored_strategy(campaign.settings.strategy)
    return replace(campaign, settings=replace(campaign.settings, strategy=strategy))


#: LookupErrors that are bugs, not a campaign, trial or model version that is not there.
INTERNAL_ERRORS = (IndexError, KeyError)


def campaign_planner(campaign: Campaign, stored: bool = False) -> Planner:
    """The planner of a campaign's settings: its strategy, with its prior model if any.

    Args:
        campaign: The campaign, new (refused when its settings do not hold together) or
            ``stored``.
        stored: Whether the campaign is already stored: one stored before endgames
            needed a budget keeps proposing, without the endgame it never played
            (:func:`without_idle_endgame`), so that its trials name what chose them.

    Raises:
        ValueError: for an unknown strategy, one that cannot serve the campaign's objectives
            and constraints, a prior the strategy or space cannot take, an endgame
            without a budget (``budget: ...``, :func:`check_budget`), or, for a new
            campaign, a surrogate its space cannot feed (:func:`check_surrogate_space`).
        LookupError: for an unknown policy or prior model version.
    """
    planner = strategy_planner(campaign.settings.strategy)
    if stored:
        planner = without_idle_endgame(planner, campaign)
    if campaign.settings.prior_model is not None:
        unit = campaign.objectives[0].unit
        try:
            planner = with_prior(planner, campaign.settings.prior_model, campaign.space, unit)
        except (ValueError, LookupError) as error:
            if isinstance(error, INTERNAL_ERRORS):
                raise  # a bug, not a refusal of the prior
            raise type(error)(f"prior_model: {error}") from error
    shape = len(campaign.objectives), len(campaign.constraints)
    check_campaign_shape(planner, *shape, pool=campaign.pool_size > 0)
    check_budget(planner, campaign.settings.budget)
    if isinstance(planner, GPPlanner) and not stored:  # gnn on an open space: refused
        check_surrogate_space(planner.surrogate, campaign.space)  # before its design is spent
    return planner


def trial_strategy(campaign: Campaign) -> str:
    """The strategy a campaign's model-guided trials name, told without reading any model.

    The settings' strategy, with ``+prior`` when a prior model shapes it, as
    ``GPPlanner.name`` names a planner with a prior (a labelled one, ``botorch``, keeps
    its label): a status agrees with the trials without loading the prior.
    """
    settings = campaign.settings
    if settings.prior_model is None:
        return settings.strategy
    try:
        planner = make_planner(settings.strategy)
    except ValueError:  # a strategy no longer known: as stored
        return settings.strategy
    if not isinstance(planner, GPPlanner) or planner.label:
        return planner.name
    return f"{planner.name}+prior"


def check_budget(planner: Planner, budget: int | None) -> None:
    """Refuse a planner that plans towards a budget for a campaign without one.

    The endgame changes a budget's last batches (``GPPlanner.endgame_batches``), and
    ``ens`` looks ahead to the experiments the budget has left; with no budget the
    strategy would choose exactly as it does without ``+endgame``, or as ``top``, while
    every trial named it.

    Args:
        planner: The planner a campaign is created with, or switched to for some rounds.
        budget: The campaign's ``settings.budget`` (None: open-ended).

    Raises:
        ValueError: starting ``budget:``, naming the strategy and how to fix it.
    """
    if budget is not None or not isinstance(planner, GPPlanner):
        return
    if planner.acquisition in LOOKAHEAD:
        raise ValueError(
            f"budget: strategy {planner.name} looks ahead to the experiments the budget has "
            "left and needs one: --budget N at creation, `matloop campaign budget NAME N` "
            "after (settings.budget, PUT .../budget in the API), or hunt with top"
        )
    if not planner.endgame_batches:
        return
    raise ValueError(
        f"budget: strategy {planner.name} believes its last {planner.endgame_batches} batches "
        "differently and needs a budget to know which they are: --budget N at creation, "
        "`matloop campaign budget NAME N` after (settings.budget, PUT .../budget in the API), "
        "or drop +endgame"
    )


def without_idle_endgame(planner: Planner, campaign: Campaign) -> Planner:
    """``planner`` without its endgame when ``campaign`` has no budget to play it in.

    For campaigns stored before an endgame needed a budget (:func:`check_budget`): they
    chose as if without it all along, and their next trials should say so.
    """
    if campaign.settings.budget is not None or not isinstance(planner, GPPlanner):
        return planner
    if not planner.endgame_batches:
        return planner
    played = replace(planner, endgame_batches=0)
    logger.warning(
        "campaign %r: strategy %s has no budget to play its endgame in; proposing as %s",
        campaign.name,
        planner.name,
        played.name,
    )
    return played


def fit_settings(planner: Planner, seed: int) -> dict[str, Any]:
    """What, besides its training data, decides the model ``planner`` fits.

    Part of the model's registry version (:data:`db.models.FIT_METRIC`,
    :func:`db.models.model_digest`), so that a trial names the model that chose it:
    models fitted another way on the same data (with input warping, on Yeo-Johnson-warped
    values, around a prior, with NUTS at another seed) are other versions, while the same
    model on the same data keeps one (:func:`agents.training.train_surrogate` registers
    the plain ``gp`` planner's model, so both describe it alike). The acquisition is
    left out: it chooses with the model, it does not change it. The fitting code is in
    (:func:`discovery.campaign_models.fitting_code`), and so is a registered surrogate's
    origin (its package's name and version): another release of matloop, of its fitting
    libraries or of the plugin may fit another model on the same data, and the registry
    keeps the first weights stored under a version.

    Args:
        planner: The planner that fitted the model.
        seed: The seed it planned with (it reaches the fit of seeded surrogates only).

    Returns:
        JSON-ready settings: ``surrogate``, ``input_warp``, ``outcome_warp``
        (``yeo-johnson`` or None), ``prior`` (its label, ``anonymous``, or None),
        ``seed`` (None where the surrogate's fit ignores it) and ``code`` (the fitting
        code's digest), and for a registered surrogate ``plugin``, its origin
        (:func:`discovery.campaign_models.surrogate_origin`: ``source``,
        ``distribution``, ``version``); for a planner of another kind, its ``planner``
        name and ``code``.
    """
    if isinstance(planner, PortfolioPlanner):
        planner = planner.base  # each arm fits the base's model; only the acquisition varies
    if isinstance(planner, PolicyPlanner):
        planner = GPPlanner(warp=planner.warp)  # it fits the plain gp on its values
    if not isinstance(planner, GPPlanner):
        return {"planner": planner.name, "code": fitting_code()}
    prior = None if planner.prior is None else prior_label(planner.prior) or "anonymous"
    seeded = planner.surrogate not in SEEDLESS_SURROGATES
    settings: dict[str, Any] = {
        "surrogate": planner.surrogate,
        "input_warp": planner.input_warp,
        "outcome_warp": "yeo-johnson" if planner.warp else None,
        "prior": prior,
        "seed": seed if seeded else None,
        "code": fitting_code(),
    }
    origin = surrogate_origin(planner.surrogate)
    if origin is not None:  # absent for the built-ins: their versions stay as they were
        settings["plugin"] = dict(origin)
    return settings


def trial_lineage(trial_ids: Sequence[str]) -> dict[str, Any]:
    """Which measured trials a model was trained on, for its metrics.

    Returns:
        ``train_trials``: the ids in the order of the training rows (None past
        :data:`MAX_LINEAGE_TRIALS`), and ``train_trials_hash``, SHA-256 of them.
    """
    digest = hashlib.sha256("\n".join(trial_ids).encode()).hexdigest()
    listed = list(trial_ids) if len(trial_ids) <= MAX_LINEAGE_TRIALS else None
    return {"train_trials": listed, "train_trials_hash": digest}


def described(
    artifact: ModelArtifact, fit: Mapping[str, Any], trial_ids: Sequence[str]
) -> ModelArtifact:
    """``artifact`` with how it was fitted (its version's part) and what it was trained on."""
    metrics = {**artifact.metrics, FIT_METRIC: dict(fit), **trial_lineage(trial_ids)}
    return replace(artifact, metrics=metrics)


def with_prior(
    planner: Planner, version: str, space: SearchSpace, unit: str | None = None
) -> Planner:
    """``planner`` with a registered property model's predictions as its prior mean.

    Args:
        planner: A GP planner.
        version: The property model's registry version.
        space: The campaign's composition space.
        unit: The objective's declared unit: the predictions are converted to it.

    Returns:
        The planner with a :class:`~discovery.priors.NamedPrior` labelled ``version``:
        each model it fits names the prior in its ``prior_model`` metric.

    Raises:
        ValueError: for a planner without a surrogate (random), a space that is not a
            composition space, a model whose predictions are not finite, one that
            predicts in a unit of another quantity, or one that records no unit for an
            objective that declares one.
        LookupError: for an unknown model version.

    """
    from agents.models import load_property_model  # torch and the model registry
    from db.models import describe_model_record

    if not isinstance(planner, GPPlanner):
        raise ValueError(f"strategy {planner.name!r} has no surrogate to give a prior mean")
    model = load_property_model(version)
    offset, factor = _unit_change(version, describe_model_record(version)["metrics"], unit)
    probe = composition_formulas(space, np.zeros((1, space.dim)))  # refuses other spaces now
    mean = model.predict(probe).mean
    if not np.isfinite(mean).all():  # a NaN prior mean would fail every proposal
        raise ValueError(f"prior model {version!r} predicts {mean[0]} for {probe[0]}; not finite")

    def prior(X: np.ndarray) -> np.ndarray:
        return offset + factor * model.predict(composition_formulas(space, X)).mean

    return replace(planner, prior=NamedPrior(prior, version))  # its models name the version


def _unit_change(version: str, metrics: Mapping[str, Any], unit: str | None) -> tuple[float, float]:
    """``(a, b)`` with ``a + b * x`` a prior's prediction ``x`` in the objective's unit.

    The identity when the objective declares no unit, or both declare the same. A prior
    in K on an objective in mK would otherwise be scaled by the fit, whose scale is
    clipped, so it would be mis-scaled; so would a prior that records no unit at all (a
    bulk modulus in GPa on an objective in MPa), which is therefore refused for an
    objective with a unit: nothing could tell that its predictions are of the quantity.

    Raises:
        ValueError: when the model records no unit and the objective declares one, or the
            units measure different things or pint cannot convert them.
    """
    own = metrics.get("unit")
    if not unit or own == unit:
        return 0.0, 1.0
    if not own:
        raise ValueError(
            f"prior model {version!r} records no unit, and the objective is in {unit!r}: its "
            "predictions can be neither converted nor checked; retrain it with its unit "
            "(`matloop model train ... --unit UNIT`) and use that version"
        )
    try:
        offset = convert(0.0, own, unit)  # affine: offset scales (degC) included
        return offset, convert(1.0, own, unit) - offset
    except ValueError as error:
        raise ValueError(
            f"prior model {version!r} predicts in {own!r}, the objective is in {unit!r}: {error}"
        ) from None


def _claim_token(instrument: str, request_id: str) -> str:
    """What the trials a claim leases keep of it, so that its retry finds them."""
    return f"request:{instrument}:{request_id}"
