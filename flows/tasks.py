"""Thin Prefect tasks over the loop's layers: each one reads or writes the database, or computes.

Retry policy (DESIGN.md convention 4): only tasks whose work is database I/O retry, and
only on transient connection failures (:func:`transient_failure`); every write they make
is idempotent (measurements by idempotency key, models by data hash), so a retry after a
lost acknowledgement stores nothing twice. Pure computation never retries. Proposing is
computation followed by a write made idempotent by the task run's id (a retry after its
batch was stored gets that batch back, not a second one), so :func:`propose_batch`
retries too: a short database outage does not fail a scheduled run.

No task caches its result (``NO_CACHE``): the same inputs meet a different database state
every time.

Every database task takes the MongoDB URI and connects its own process on first use
(:func:`campaign_store`), so tasks also run on Dask workers in other processes or hosts.
Flows take the URI as an optional parameter and default it to the settings
(:func:`database_uri`): a deployment carries none, since a flow run's parameters are shown
to whoever can read the Prefect server, and a URI may hold a password. Task arguments are
not sent to the server.
"""

from __future__ import annotations

import threading
from typing import Any

import pymongo.errors
from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from agents import CampaignAgent, LookupOracle, ObserveReport
from agents.training import TrainingData, fit_surrogate, training_data
from agents.training import trained_version as agents_trained_version
from db import CampaignStore, connect
from db.campaigns import CLOSED
from db.connection import database, database_name
from discovery.domain import Measurement, ModelArtifact, Trial

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,  # db.connect: no server answered
    pymongo.errors.ConnectionFailure,  # AutoReconnect, NetworkTimeout, ServerSelectionTimeout
)
"""Failures worth retrying: the database was unreachable, not the request wrong."""

DB_RETRIES = 3
DB_RETRY_DELAYS: list[float] = [1.0, 4.0, 10.0]

_lock = threading.Lock()
_connected: str | None = None


def database_uri(uri: str | None = None) -> str:
    """``uri``, or the database this process is configured for (``MATLOOP_*`` settings).

    A served run executes in ``flows serve``'s process or a child of it, which inherits
    its environment: it connects to the database the server was started for.

    Raises:
        ValueError: naming the variable when the configured URI is not a MongoDB URI.
    """
    if uri is not None:
        return uri
    from matloop.settings import Settings  # the face's settings: read where flows run

    return Settings().uri


#: Parameters a served run takes from its deployment alone: whoever may trigger a run (the
#: Prefect UI, ``prefect deployment run -p``) may not point it at another campaign or
#: other files. A URI it refuses outright (:func:`refuse_redirected`).
PINNED_PARAMETERS = ("campaign", "paths")


def refuse_redirected(given: dict[str, Any]) -> None:
    """Refuse a served run whose parameters point it away from its own deployment's.

    A served run connects to the database its ``flows serve`` was started for: a ``uri``
    given to it would send the campaign's round to another server (and show the URI,
    password and all, to every reader of the Prefect server). Its campaign, and a
    literature watch's folders, are the deployment's own (:data:`PINNED_PARAMETERS`). A
    run in-process (``flows run``, a test) is not served and takes any.

    Args:
        given: The flow's parameters, by name, as the run received them.

    Raises:
        ValueError: naming the parameter and what the deployment holds.
    """
    from prefect.runtime import deployment

    deployment_id = deployment.id
    if deployment_id is None:
        return
    if given.get("uri") is not None:
        raise ValueError(
            "uri: a served run uses the database its `matloop flows serve` was started "
            "for; run it without a uri (or with `matloop flows run` for another database)"
        )
    own = deployment_parameters(deployment_id)
    for name in PINNED_PARAMETERS:
        if name in given and given[name] != own.get(name):
            raise ValueError(
                f"{name}: {given[name]!r} is not this deployment's ({own.get(name)!r}); a "
                "served run works on its own deployment's, so trigger that deployment instead"
            )


def deployment_parameters(deployment_id: str) -> dict[str, Any]:
    """The parameters a deployment was served with, read from the Prefect server."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return dict(client.read_deployment(UUID(deployment_id)).parameters or {})


def transient_failure(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn``: retry only when the database was unreachable.

    A missing campaign, an invalid result or too few measurements fail at once.
    """
    return isinstance(state.data, TRANSIENT_ERRORS)


def campaign_store(uri: str) -> CampaignStore:
    """Connect this process to ``uri`` (once, thread-safe) and return a campaign store.

    Reconnects when the process is connected elsewhere or the connection was closed.

    Raises:
        ConnectionError: if no server answers.

    """
    global _connected
    with _lock:
        if _connected != uri or not _alive(uri):
            connect(uri)
            _connected = uri
    return CampaignStore()


def _alive(uri: str) -> bool:
    try:
        db = database()
        db.command("ping")
    except Exception:
        return False
    return bool(db.name == database_name(uri))


_io: dict[str, Any] = {
    "retries": DB_RETRIES,
    "retry_delay_seconds": DB_RETRY_DELAYS,
    "retry_condition_fn": transient_failure,
    "cache_policy": NO_CACHE,
}


# -- campaign rounds ------------------------------------------------------------------
@task(name="unclaimed-trials", task_run_name="unclaimed-{campaign}", **_io)
def unclaimed_trials(campaign: str, uri: str) -> list[Trial]:
    """Proposed trials no instrument has claimed (database read; see ``unclaimed``)."""
    return CampaignAgent(campaign_store(uri), campaign).unclaimed()


@task(name="lookup-oracle", task_run_name="oracle-{campaign}", **_io)
def lookup_oracle(campaign: str, uri: str) -> LookupOracle:
    """The campaign's lookup oracle, built from its pool's reference values (database read).

    Raises:
        ValueError: if the pool has no reference values (not a measured data set).

    """
    return LookupOracle.from_candidates(campaign_store(uri).candidates(campaign))


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate(oracle: LookupOracle, trials: list[Trial]) -> list[Measurement]:
    """Measure trials with the oracle (computation; no retries)."""
    return oracle.evaluate(trials)


@task(name="propose", task_run_name="propose-{campaign}", **_io)
def propose_batch(
    campaign: str, uri: str, n: int | None = None, rounds: int | None = None
) -> list[Trial]:
    """Plan and store the campaign's next batch (computation, then an idempotent write).

    The proposal carries the task run's id, the same across its retries: a retry after
    the batch was stored (the acknowledgement lost) gets that batch back instead of a
    second one (``request`` of :meth:`agents.CampaignAgent.propose`).

    Args:
        campaign: The campaign.
        uri: MongoDB URI.
        n: Batch size (default: the campaign's settings).
        rounds: Propose only below this many rounds, counted as the batch is stored:
            another run reaching it meanwhile (a ``campaign run`` by hand) stops this one.

    Returns:
        The stored trials; empty when the pool or budget is spent, the model waits for
        the initial design's results (:func:`no_work_reason` says which), or ``rounds``
        are reached.

    """
    from prefect.runtime import task_run  # None outside a task run (``.fn`` in tests)

    request = f"task-run:{task_run.id}" if task_run.id else None
    return CampaignAgent(campaign_store(uri), campaign).propose(n, rounds=rounds, request=request)


@task(name="observe", task_run_name="observe-{campaign}", **_io)
def observe_results(campaign: str, uri: str, results: list[Measurement]) -> ObserveReport:
    """Store results and complete their trials (database write, idempotent by key)."""
    return CampaignAgent(campaign_store(uri), campaign).observe(results)


@task(name="campaign-summary", task_run_name="summary-{campaign}", **_io)
def campaign_summary(campaign: str, uri: str) -> dict[str, Any]:
    """A small JSON-able snapshot of a campaign's progress (database read).

    Returns:
        ``campaign``, ``batches`` (initial design included), ``rounds`` (after it),
        ``initial_left`` (experiments the initial design still needs),
        ``measurements``, ``pending``, ``trials`` (count by status), ``objective`` (the
        first), ``objectives`` (how many), ``best`` (best value so far or None),
        ``best_trial`` and ``closed`` (the campaign hands out no new trials).

    """
    status = CampaignAgent(campaign_store(uri), campaign).status()
    objective = status.campaign.objectives[0].name
    best = status.best
    return {
        "campaign": campaign,
        "batches": status.batches,
        "rounds": status.rounds,
        "initial_left": status.initial_left,
        "measurements": status.measurements,
        "pending": status.trials["proposed"] + status.trials["running"],
        "trials": dict(status.trials),
        "objective": objective,
        "objectives": len(status.campaign.objectives),
        "best": None if best is None else best.measurement.values[objective],
        "best_trial": None if best is None else best.trial.id,
        "closed": status.campaign.status == CLOSED,
    }


@task(name="no-work", task_run_name="no-work-{campaign}", **_io)
def no_work_reason(campaign: str, uri: str) -> str:
    """Why the campaign proposes nothing now, in words (database read).

    Its budget or pool spent or handed out, or its model waiting for the initial design's
    results (:meth:`agents.CampaignAgent.no_work`).
    """
    return CampaignAgent(campaign_store(uri), campaign).no_work().why


@task(name="work-ended", task_run_name="work-ended-{campaign}", **_io)
def work_ended(campaign: str, uri: str) -> bool:
    """Whether the campaign's budget or pool is spent for good, none of its trials out."""
    return not CampaignAgent(campaign_store(uri), campaign).no_work().ask_again


# -- training -------------------------------------------------------------------------
@task(name="training-data", task_run_name="training-data-{campaign}", **_io)
def load_training_data(campaign: str, uri: str) -> TrainingData:
    """The campaign's completed measurements, encoded (database read).

    Raises:
        ValueError: with fewer than 3 measurements (not retried).

    """
    return training_data(campaign_store(uri), campaign)


@task(name="trained-version", task_run_name="trained-version-{campaign}", **_io)
def trained_version(campaign: str, uri: str, data: TrainingData) -> str | None:
    """The registered version of ``data``'s surrogate, if already trained (database read)."""
    return agents_trained_version(campaign_store(uri), data)


@task(name="fit-surrogate", task_run_name="fit-{data.campaign}", cache_policy=NO_CACHE)
def fit_model(data: TrainingData) -> ModelArtifact:
    """Fit the GP with leave-one-out diagnostics (computation; no retries)."""
    return fit_surrogate(data)


@task(name="register-model", task_run_name="register-{campaign}", **_io)
def register_model(campaign: str, uri: str, artifact: ModelArtifact) -> str:
    """Register a trained model (database write, idempotent by data hash); returns its version."""
    return campaign_store(uri).save_model(campaign, artifact)


__all__ = [
    "DB_RETRIES",
    "TRANSIENT_ERRORS",
    "campaign_store",
    "campaign_summary",
    "database_uri",
    "evaluate",
    "fit_model",
    "load_training_data",
    "lookup_oracle",
    "observe_results",
    "propose_batch",
    "register_model",
    "trained_version",
    "transient_failure",
    "unclaimed_trials",
]
