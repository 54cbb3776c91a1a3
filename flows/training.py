"""Flows that train campaign surrogates: one campaign, or many in parallel on Dask.

Scaling out
-----------
``train_many`` maps its tasks over campaigns with prefect-dask's ``DaskTaskRunner``. By
default each run starts a throw-away ``distributed.LocalCluster`` on this machine (worker
processes with one thread each, loopback only, no dashboard; ``MATLOOP_DASK_WORKERS``
sets how many workers, default one per core). To use an existing Dask cluster instead
(more machines, GPUs), start a scheduler and workers where the code and database are
reachable::

    dask scheduler --host 0.0.0.0 --port 8786          # on the scheduler host
    dask worker tcp://scheduler-host:8786               # on each worker host (matloop installed)
    export MATLOOP_DASK_ADDRESS=tcp://scheduler-host:8786
    matloop flows train-many opv moduli                 # runs train_many once

``matloop flows train-many`` reads both variables when it runs. ``flows serve`` deploys
no ``train-many``: run it from that command or from Python. ``MATLOOP_DASK_ADDRESS`` is
read when this module is imported (the flow's default task runner is fixed then); to
choose at call time use
``train_many.with_options(task_runner=dask_task_runner(address))(campaigns)``.
Workers need the MongoDB URI to be reachable from them (each task connects its own worker
process; the flow passes them the URI it was given, or the settings' of the process that
runs it) and a Prefect API to report to (``PREFECT_API_URL``).
"""

from __future__ import annotations

import os
from typing import Any, cast

from prefect import flow, get_run_logger, unmapped
from prefect.futures import PrefectFuture
from prefect.states import Completed, Failed
from prefect.task_runners import TaskRunner
from prefect_dask import DaskTaskRunner

from flows.tasks import (
    database_uri,
    fit_model,
    load_training_data,
    refuse_redirected,
    register_model,
)

DASK_ADDRESS_ENV = "MATLOOP_DASK_ADDRESS"
"""Environment variable: address of an existing Dask scheduler (``tcp://host:8786``)."""

DASK_WORKERS_ENV = "MATLOOP_DASK_WORKERS"
"""Environment variable: number of worker processes of the local cluster."""


def _env_workers() -> int | None:
    """``$MATLOOP_DASK_WORKERS`` as a positive count, or None when unset."""
    raw = os.environ.get(DASK_WORKERS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{DASK_WORKERS_ENV}: expected a positive integer, got {raw!r}")
    return int(raw)


def dask_task_runner(address: str | None = None, n_workers: int | None = None) -> DaskTaskRunner:
    """A Dask task runner: an existing scheduler if one is named, else a local cluster.

    Args:
        address: Scheduler address; default ``$MATLOOP_DASK_ADDRESS``; if neither, a
            ``LocalCluster`` is started per flow run.
        n_workers: Worker processes of the local cluster; default
            ``$MATLOOP_DASK_WORKERS``, else Dask's default (one per core).

    """
    address = address or os.environ.get(DASK_ADDRESS_ENV) or None
    if address:
        return DaskTaskRunner(address=address)
    workers = n_workers or _env_workers()
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": workers,
            "threads_per_worker": 1,
            "processes": True,
            "host": "127.0.0.1",
            "dashboard_address": None,
        }
    )


@flow(name="train-surrogate", flow_run_name="{campaign}-train")
def train_surrogate(campaign: str, uri: str | None = None) -> dict[str, Any]:
    """Fit a campaign's GP on its completed measurements and register it.

    The three steps of :func:`agents.training.train_surrogate` as tasks: read (retries on
    connection failures), fit with leave-one-out diagnostics (no retries), register
    (retries; idempotent by data hash).

    Args:
        campaign: Campaign name.
        uri: MongoDB URI (default: the settings', :func:`flows.tasks.database_uri`).

    Returns:
        ``campaign``, ``model_version``, ``n_train``, ``cv_mae`` and ``cv_rmse``
        (original units).

    Raises:
        ValueError: with fewer than 3 completed measurements.

    """
    refuse_redirected({"campaign": campaign, "uri": uri})
    uri = database_uri(uri)
    artifact = fit_model(load_training_data(campaign, uri))
    version = register_model(campaign, uri, artifact)
    summary = {
        "campaign": campaign,
        "model_version": version,
        "n_train": artifact.metrics["n_train"],
        "cv_mae": artifact.metrics["cv_mae"],
        "cv_rmse": artifact.metrics["cv_rmse"],
    }
    get_run_logger().info(  # the other flows say what they did in one line too
        "%s: registered %s on %d results (leave-one-out MAE %.4g, RMSE %.4g)",
        campaign,
        version,
        summary["n_train"],
        summary["cv_mae"],
        summary["cv_rmse"],
    )
    return summary


class TrainingFailed(RuntimeError):
    """Training failed for some campaigns (not for too few results: those are skipped).

    Attributes:
        trained: Campaign -> model version, for those trained.
        skipped: Campaign -> why it was skipped.
        failed: Campaign -> the error, for those that failed.
    """

    def __init__(
        self, trained: dict[str, str], skipped: dict[str, str], failed: dict[str, str]
    ) -> None:
        """Name the failed campaigns and their errors in the message."""
        errors = "; ".join(f"{name}: {error}" for name, error in sorted(failed.items()))
        super().__init__(f"training failed for {', '.join(sorted(failed))} ({errors})")
        self.trained, self.skipped, self.failed = trained, skipped, failed

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled with the run's result: rebuilt from the outcomes, not the message
        return (type(self), (self.trained, self.skipped, self.failed))


_DEFAULT_RUNNER: TaskRunner[Any] = dask_task_runner()


@flow(name="train-many", task_runner=_DEFAULT_RUNNER)
def train_many(campaigns: list[str], uri: str | None = None) -> dict[str, Any]:
    """Train several campaigns' surrogates in parallel on Dask (see the module docstring).

    A campaign with too few measurements (or several objectives) is skipped, not an
    error; any other failure fails the flow run after every campaign has finished. The
    run's final state says what it did (``trained 2, skipped 1 (empty)``), as the
    campaign flows' do.

    Args:
        campaigns: Campaign names.
        uri: MongoDB URI, reachable from the Dask workers (default: the settings' of the
            process that runs the flow, :func:`flows.tasks.database_uri`).

    Returns:
        ``trained`` (campaign -> model version) and ``skipped`` (campaign -> reason).

    Raises:
        TrainingFailed: a ``RuntimeError`` naming the campaigns whose training failed
            otherwise, with every campaign's outcome.

    """
    uri = database_uri(uri)
    data = load_training_data.map(campaigns, unmapped(uri))
    artifacts = fit_model.map(data)
    versions = register_model.map(campaigns, unmapped(uri), artifacts)
    versions.wait()
    trained: dict[str, str] = {}
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    for name, stages in zip(campaigns, zip(data, artifacts, versions, strict=True), strict=True):
        error = _first_error(stages)
        if error is None:
            trained[name] = stages[-1].result()
        elif isinstance(error, ValueError):
            skipped[name] = str(error)
        else:
            failed[name] = f"{type(error).__name__}: {error}"
    return _ended(trained, skipped, failed)


def _ended(
    trained: dict[str, str], skipped: dict[str, str], failed: dict[str, str]
) -> dict[str, Any]:
    """The run's final state: Completed with the outcomes, or Failed naming the failures.

    A returned Failed state fails the run without a traceback in its log (the failures
    are task errors, logged where they happened); a caller still gets the exception.
    """
    logger = get_run_logger()
    if failed:
        error = TrainingFailed(trained, skipped, failed)
        logger.error("%s", error)
        return cast(dict[str, Any], Failed(message=str(error), data=error))
    message = f"trained {len(trained)}, skipped {len(skipped)}"
    if skipped:
        message += f" ({', '.join(sorted(skipped))})"
    logger.info("%s", message)
    return cast(
        dict[str, Any], Completed(message=message, data={"trained": trained, "skipped": skipped})
    )


def _first_error(stages: tuple[PrefectFuture[Any], ...]) -> BaseException | None:
    """The exception of the first stage that did not complete (None if all did)."""
    for future in stages:
        future.wait()
        state = future.state
        if state.is_completed():
            continue
        result = state.result(raise_on_failure=False)
        if isinstance(result, BaseException):
            return result
        return RuntimeError(f"task run ended {state.type.value}: {state.message}")
    return None


__all__ = [
    "DASK_ADDRESS_ENV",
    "DASK_WORKERS_ENV",
    "TrainingFailed",
    "dask_task_runner",
    "train_many",
    "train_surrogate",
]
