"""What a serving process (``flows serve``, ``serve-literature``) checks and cleans up.

Served deployments are executed only by the process that serves them: a run is picked
up, submitted (``Pending``) and run (``Running``) by it, in a child process it starts.
When that process is killed (``SIGKILL``, or ``SIGTERM`` from ``docker stop``, which
Prefect 3.8's runner answers without cancelling its runs), its runs stay ``Pending`` or
``Running`` for ever, and the deployment concurrency slot each holds stays taken until
Prefect's lease on it expires (300 s): ``run-campaign``'s next runs are then cancelled
("Deployment concurrency limit reached"). So a serving process, when it starts and when
it stops, settles the runs of its deployments that no process runs any more
(:func:`settle_stopped_runs`). Prefect releases a run's slot on its way out of
``Pending``/``Running``/``Cancelling`` into any other state, ``Crashed`` included.
What ran inside such a run goes with it: its subflows (``campaign-round``, which have no
deployment of their own, so no deployment filter finds them) and its task runs that were
still pending or running are marked ``Crashed`` too (:func:`settle_leftovers`), also
those of a run that crashed on its own.

Scheduled runs (late ones too) are left alone: they never started, hold no slot, and
the restarted process runs them (unless made with other parameters than those now
served: :func:`flows.deployments.drop_stale_runs`). So is a run whose process still
lives on this machine (:func:`local_flow_runs`). A serving process killed alone
(``kill -9`` of its pid, not of its process group) does not leave its runs' processes
working on: each writes its output to a pipe that the serving process read, and at its
next log line it finds the pipe broken and exits (Rich's console handler raises
``SystemExit``), so Prefect marks it and its running subflow ``Crashed`` ("Execution was
aborted by Python system exit call."), usually within seconds. The restarted process
then finds a crashed run, not a running one, and :func:`flows.deployments.catch_up`
starts another. A run whose own process crashed while the serve goes on leaves its
subflows running: the deployment's next run ends them
(:func:`settle_crashed_leftovers`). A run's process
elsewhere (the serving process moved to another machine or container) cannot be seen:
it is taken for gone; were it alive, Prefect's engine ends it at its next renewal of the
slot's lease, which marking the run released.

One serving process per deployment at a time: Prefect's runner polls the server for its
deployments' runs every few seconds (``PREFECT_RUNNER_POLL_FREQUENCY``, 10 s), which
marks them ``READY`` with the time (``last_polled``), and it pauses them when it stops
(Ctrl-C, ``SIGTERM``). A deployment that is not paused, ``READY`` and polled within
Prefect's timeout (60 s; then Prefect marks it ``NOT_READY``) is being served by another
process, and serving it again is refused (:func:`check_not_served`): a second process
would apply its own parameters over the first's, take the first's runs for stopped
ones, and pause the deployments on its way out, leaving the first serving nothing. A
serving process killed without stopping (``SIGKILL``, the OOM killer) leaves its
deployments so until 60 s after its last poll: a restart within that is refused,
unless told to take them over.

It also refuses a working directory whose folders would be imported in place of
matloop's packages (:func:`check_working_directory`): Prefect starts each run with
``python -m prefect.engine`` in the serving process's working directory, which is then
the first entry of the run's ``sys.path``.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    TaskRunFilter,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import DeploymentStatus, FlowRun, StateType, TaskRun
from prefect.client.schemas.responses import SetStateStatus
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.logging import get_logger
from prefect.settings import get_current_settings
from prefect.states import Cancelled, Crashed, State

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.deployments.runner import RunnerDeployment

#: matloop's top-level packages (the distribution's ``top_level.txt``).
PACKAGES = ("agents", "db", "discovery", "flows", "literature", "matloop")
#: Where the installed packages are (the folder holding ``flows/``).
PACKAGE_ROOT = Path(__file__).resolve().parents[1]

#: States of a run that only a serving process moves on: it holds a concurrency slot.
IN_FLIGHT = (StateType.PENDING, StateType.RUNNING, StateType.CANCELLING)
#: States of a task run that only the process of its flow run moves on.
TASK_IN_FLIGHT = (StateType.PENDING, StateType.RUNNING)
#: How many of a deployment's latest crashed runs :func:`settle_runs` looks into for
#: subflows and task runs left in flight (a crashed run's are settled once, then none).
RECENT_CRASHES = 20
#: The most runs one read returns (Prefect's API allows 200).
READ_LIMIT = 200
#: Why :func:`settle_stopped_runs` settles a run found when serving starts.
STOPPED_BEFORE = (
    "the serving process (`matloop flows serve`) that ran it stopped before it finished "
    "(killed or restarted); found when serving started again"
)
#: What names a flow run in the environment of the process that runs it.
FLOW_RUN_VARIABLE = b"PREFECT__FLOW_RUN_ID="
#: Why :func:`settle_stopped_runs` settles a run when serving stops.
STOPPING = "the serving process (`matloop flows serve`) that ran it stopped before it finished"

#: Why :func:`settle_crashed_leftovers` ends a subflow or task run.
PARENT_CRASHED = (
    "the flow run it belonged to crashed (its process ended); found by the next run of its "
    "deployment"
)

logger = get_logger("matloop.flows")


class ShadowedPackageError(ValueError):
    """The working directory holds something a run would import as a matloop package."""


class DeploymentServedError(ValueError):
    """Another process serves the deployment right now (:func:`check_not_served`)."""


def check_working_directory(cwd: Path | None = None) -> None:
    """Refuse to serve from a directory whose contents shadow matloop's packages.

    Args:
        cwd: The directory runs would start in (the current one by default).

    Raises:
        ShadowedPackageError: naming each folder or module, and what to do.
    """
    where = Path.cwd() if cwd is None else cwd
    shadows = shadowing_paths(where)
    if shadows:
        found = ", ".join(f"{path} (as package {name!r})" for name, path in shadows.items())
        raise ShadowedPackageError(
            f"the working directory {where} holds {found}: every flow run, started in "
            "this directory, would import it in place of matloop's and fail. Start "
            "serving from another directory (or rename it)"
        )


def shadowing_paths(cwd: Path) -> dict[str, Path]:
    """The matloop packages that a run started in ``cwd`` would import from ``cwd`` instead.

    Looks each package up as a ``python -m`` process started in ``cwd`` would (``cwd``
    first on the path, then this interpreter's path and import hooks), so that only
    what would win counts: a plain folder shadows an editable install (the install's
    hook comes after the path), not a regular one; a folder or module with an
    ``__init__.py`` or ``.py`` shadows both. ``cwd`` being the source tree itself is
    fine.

    Returns:
        Package name to the folder or module in ``cwd`` that would be imported.
    """
    here = cwd.resolve()
    shadows: dict[str, Path] = {}
    for name in PACKAGES:
        found = _location(_find_spec(name, [str(here), *sys.path]))
        if found is not None and found.parent == here and found != PACKAGE_ROOT / name:
            shadows[name] = found
    return shadows


def _find_spec(name: str, path: list[str]) -> ModuleSpec | None:
    """The spec the import system would give ``name`` with ``path`` as ``sys.path``."""
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        # only the path-based finder reads sys.path; the others (an editable install's
        # hook) are asked as `import` asks them
        spec = find_spec(name, path if finder is PathFinder else None)
        if spec is not None:
            return spec
    return None


def _location(spec: ModuleSpec | None) -> Path | None:
    """The folder (a package) or file (a module) a spec imports."""
    if spec is None:
        return None
    if spec.origin is not None and spec.has_location:
        origin = Path(spec.origin).resolve()
        return origin.parent if spec.submodule_search_locations is not None else origin
    locations = list(spec.submodule_search_locations or [])  # a namespace package
    return Path(locations[0]).resolve() if locations else None


def poll_timeout() -> int:
    """Seconds without a poll after which Prefect marks a deployment ``NOT_READY`` (60).

    Prefect's ``PREFECT_SERVER_SERVICES_FOREMAN_DEPLOYMENT_LAST_POLLED_TIMEOUT_SECONDS``,
    as this process reads it: the server's own, unless it was set differently there.
    """
    return get_current_settings().server.services.foreman.deployment_last_polled_timeout_seconds


def check_not_served(names: Iterable[str], now: datetime.datetime | None = None) -> None:
    """Refuse to serve deployments that another process is serving right now.

    A deployment is being served when it is not paused (a runner pauses its deployments
    when it stops), Prefect has it ``READY`` and it was polled within
    :func:`poll_timeout`. Call it before anything is applied: applying would replace the
    serving process's parameters and schedule.

    Args:
        names: Deployment names (``run-campaign/opv``); those the server lacks are free.
        now: The current time (UTC; now by default).

    Raises:
        DeploymentServedError: naming the first such deployment, how long ago it was
            polled, and what to do.
    """
    when = datetime.datetime.now(datetime.UTC) if now is None else now
    timeout = poll_timeout()
    with get_client(sync_client=True) as client:
        for name in names:
            age = _served_since(client, name, when)
            if age is not None and age < timeout:
                raise DeploymentServedError(
                    f"{name} is being served by another process (Prefect has it READY, "
                    f"last polled {age:.0f} s ago): stop that one first. If it was killed "
                    f"and is gone, Prefect marks the deployment NOT_READY {timeout} s after "
                    "its last poll and serving can start then, or take it over now with "
                    "--take-over"
                )


def _served_since(client: SyncPrefectClient, name: str, now: datetime.datetime) -> float | None:
    """Seconds since a runner polled deployment ``name``; None if it is not served.

    Not served: not on the server, paused (its runner stopped), or not ``READY``.
    """
    try:
        deployment = client.read_deployment_by_name(name)
    except ObjectNotFound:
        return None
    polled = deployment.last_polled
    if deployment.paused or deployment.status != DeploymentStatus.READY or polled is None:
        return None
    return max((now - polled).total_seconds(), 0.0)


def deployment_ids(
    client: SyncPrefectClient, deployments: Iterable[RunnerDeployment]
) -> list[UUID]:
    """The ids of those deployments the server has (a new one has none yet)."""
    ids = []
    for deployment in deployments:
        try:
            ids.append(
                client.read_deployment_by_name(f"{deployment.flow_name}/{deployment.name}").id
            )
        except ObjectNotFound:
            continue
    return ids


def in_flight_runs(client: SyncPrefectClient, deployments: Sequence[UUID]) -> list[FlowRun]:
    """The runs of these deployments that are submitted, running or being cancelled."""
    return deployment_runs(client, deployments, IN_FLIGHT, FlowRunSort.EXPECTED_START_TIME_ASC)


def deployment_runs(
    client: SyncPrefectClient,
    deployments: Sequence[UUID],
    states: Sequence[StateType],
    sort: FlowRunSort,
    limit: int = READ_LIMIT,
) -> list[FlowRun]:
    """The runs of these deployments in one of ``states``, in ``sort`` order."""
    if not deployments:
        return []
    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=list(deployments))),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(states)))
        ),
        sort=sort,  # the sync client sends no default
        limit=limit,
    )


def settle_runs(
    client: SyncPrefectClient,
    deployments: Sequence[UUID],
    why: str,
    alive: Collection[UUID] = (),
) -> list[FlowRun]:
    """Mark the in-flight runs of ``deployments`` as ended: no process runs them any more.

    A ``Pending`` or ``Running`` run becomes ``Crashed``; a ``Cancelling`` one, whose
    cancellation its process did not finish, ``Cancelled``. Either move releases the
    deployment concurrency slot the run held (Prefect's ``ReleaseFlowConcurrencySlots``).
    Then what those runs, and the deployments' latest crashed ones, left in flight
    goes too (:func:`settle_leftovers`). Only for runs whose process is gone: see the
    module docstring.

    Args:
        client: Prefect client.
        deployments: Deployment ids.
        why: The states' message: why the runs ended.
        alive: Runs whose process still lives (:func:`local_flow_runs`): left alone.

    Returns:
        The runs settled (as read before), then the subflows settled with them.
    """
    settled = []
    for run in in_flight_runs(client, deployments):
        if run.id in alive:
            logger.warning(
                "flow run %s (%s) is %s and its process still lives on this machine: left "
                "to finish (it holds its deployment's concurrency slot until then)",
                run.name,
                run.id,
                run.state_name,
            )
        elif _settle(client, run, why):
            settled.append(run)
    crashed = {run.id for run in crashed_runs(client, deployments)}
    ended = [run.id for run in settled] + sorted(crashed - {run.id for run in settled})
    return settled + settle_leftovers(client, [i for i in ended if i not in alive], why)


def settle_crashed_leftovers(deployment: UUID | str | None) -> list[FlowRun]:
    """End what the deployment's recent crashed runs left in flight, as a run of it starts.

    A run whose process crashed (``kill -9`` of it, the OOM killer) is marked ``Crashed``
    by the serve, which goes on serving; its ``campaign-round`` subflow and their task
    runs stayed ``Running`` until the serve stopped. A failure is logged, not raised: the
    run's own work comes first.

    Args:
        deployment: The starting run's deployment (None: a run not served, nothing done).

    Returns:
        The subflow runs settled.
    """
    if deployment is None:
        return []
    try:
        with get_client(sync_client=True) as client:
            crashed = [run.id for run in crashed_runs(client, [UUID(str(deployment))])]
            return settle_leftovers(client, crashed, PARENT_CRASHED)
    except Exception as error:
        logger.warning(
            "what crashed runs left in flight not marked (%s: %s)", type(error).__name__, error
        )
        return []


def _settle(client: SyncPrefectClient, run: FlowRun, why: str) -> bool:
    """Move ``run`` to its ended state; False if it moved on meanwhile (it is alive)."""
    result = client.set_flow_run_state(run.id, _ended(run, why))
    if result.status != SetStateStatus.ACCEPT:
        logger.warning("flow run %s (%s) left as it is: %s", run.name, run.id, result.details)
    return result.status == SetStateStatus.ACCEPT


def crashed_runs(client: SyncPrefectClient, deployments: Sequence[UUID]) -> list[FlowRun]:
    """The latest :data:`RECENT_CRASHES` crashed runs of these deployments."""
    latest = FlowRunSort.EXPECTED_START_TIME_DESC
    return deployment_runs(client, deployments, [StateType.CRASHED], latest, RECENT_CRASHES)


def settle_leftovers(client: SyncPrefectClient, runs: Sequence[UUID], why: str) -> list[FlowRun]:
    """End what ended flow runs left in flight: their subflows, then all their task runs.

    A subflow (``campaign-round``) runs in its parent's process, so it stopped with it,
    but it has no deployment: the parent's settling does not find it, and Prefect does
    not end it with its parent. Nor does it end their task runs. Subflows of subflows
    are followed down. A child run with a deployment of its own (``run_deployment``)
    has a process of its own, and is left to whoever serves that deployment.

    Args:
        client: Prefect client.
        runs: Flow runs that ended (settled, or crashed on their own).
        why: The states' message.

    Returns:
        The subflow runs settled (as read before).
    """
    settled: list[FlowRun] = []
    parents = list(runs)
    while parents:
        children = [
            run for run in _in_flight_subflows(client, parents) if _settle(client, run, why)
        ]
        settled += children
        parents = [run.id for run in children]
    flow_runs = [*runs, *(run.id for run in settled)]
    for task_run in in_flight_task_runs(client, flow_runs):
        client.set_task_run_state(task_run.id, Crashed(message=why))
    return settled


def _in_flight_subflows(client: SyncPrefectClient, parents: Sequence[UUID]) -> list[FlowRun]:
    """In-flight subflow runs (no deployment of their own) of these flow runs."""
    children = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=list(parents)),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(IN_FLIGHT))),
        ),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        limit=READ_LIMIT,
    )
    return [run for run in children if run.deployment_id is None]


def in_flight_task_runs(client: SyncPrefectClient, flow_runs: Sequence[UUID]) -> list[TaskRun]:
    """The pending or running task runs of these flow runs."""
    if not flow_runs:
        return []
    return client.read_task_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(flow_runs))),
        task_run_filter=TaskRunFilter(
            state=TaskRunFilterState(type=TaskRunFilterStateType(any_=list(TASK_IN_FLIGHT)))
        ),
        limit=READ_LIMIT,
    )


def local_flow_runs(proc: Path = Path("/proc")) -> set[UUID]:
    """The flow runs that a live process on this machine runs (Linux; none elsewhere).

    A serving process starts each run in a process whose environment names the run
    (``PREFECT__FLOW_RUN_ID``); processes of other users cannot be read, and are not
    counted.

    Args:
        proc: The proc file system.
    """
    runs: set[UUID] = set()
    for environ in proc.glob("[0-9]*/environ"):
        try:
            run = _flow_run_in(environ.read_bytes())
        except OSError:  # gone meanwhile, or another user's
            continue
        if run is not None:
            runs.add(run)
    return runs


def _flow_run_in(environ: bytes) -> UUID | None:
    """The flow run named in a process's environment (``/proc/PID/environ``), if any."""
    for variable in environ.split(b"\0"):
        if variable.startswith(FLOW_RUN_VARIABLE):
            with contextlib.suppress(ValueError):  # not a run id: not Prefect's
                return UUID(variable[len(FLOW_RUN_VARIABLE) :].decode())
    return None


def _ended(run: FlowRun, why: str) -> State:
    if run.state_type == StateType.CANCELLING:  # Prefect allows only Cancelled from there
        return Cancelled(message=why)
    return Crashed(message=why)


def settle_stopped_runs(deployments: Iterable[RunnerDeployment], starting: bool = True) -> None:
    """:func:`settle_runs` for these deployments, logging each run settled.

    Called when serving starts (before the runner picks anything up, and before
    :func:`flows.deployments.catch_up` looks for a recent run) and when it stops.

    Args:
        deployments: The deployments served.
        starting: Serving starts (:data:`STOPPED_BEFORE`), or stops (:data:`STOPPING`).
    """
    why, moment = (STOPPED_BEFORE, "started") if starting else (STOPPING, "stopped")
    alive = local_flow_runs()
    with get_client(sync_client=True) as client:
        settled = settle_runs(client, deployment_ids(client, deployments), why, alive)
    for run in settled:
        logger.warning(
            "flow run %s (%s) was %s when serving %s: marked %s",
            run.name,
            run.id,
            run.state_name,
            moment,
            _ended(run, why).name,
        )


#: Seconds a serving process told to stop (``SIGTERM``) may take to pause its schedules and
#: settle its runs before it ends regardless (compose gives the worker 40 s before SIGKILL).
STOP_GRACE_SECONDS = 30.0
#: Seconds a serving process that ends regardless waits for its runs to be settled: the
#: Prefect server may be what hangs.
SETTLE_WAIT_SECONDS = 8.0


@contextlib.contextmanager
def sigterm_as_ctrl_c(
    on_overrun: Callable[[], None],
    grace: float = STOP_GRACE_SECONDS,
    end: Callable[[int], None] = os._exit,
    settle_wait: float = SETTLE_WAIT_SECONDS,
) -> Iterator[None]:
    """Within, Prefect's runner answers ``SIGTERM`` (``docker stop``) as it does Ctrl-C.

    Prefect 3.8's runner answers ``SIGTERM`` with ``sys.exit`` from inside the signal
    handler, without awaiting its own stop: landing while a run was being submitted, that
    exit was swallowed, and the process served on half-stopped, its schedules neither
    paused nor picked up, holding the next run's slot, until a second ``SIGTERM``. Ctrl-C
    takes asyncio's road instead: the runner's task is cancelled, and it pauses its
    schedules on the way out. So ``SIGTERM`` raises ``SIGINT`` (answered even where it
    was ignored, as in a background job of a script). Should stopping take longer than
    ``grace`` seconds, or a second ``SIGTERM`` come, ``on_overrun`` (settling the runs) is
    given ``settle_wait`` seconds and the process ends (``end(1)``). On leaving, the
    signal handlers are those before.
    """
    from prefect.runner import Runner

    stopping = threading.Event()
    watchdogs: list[threading.Timer] = []

    def give_up(why: str) -> None:
        logger.error("%s: settling its runs and ending it", why)
        settler = threading.Thread(target=on_overrun, name="settle-on-overrun", daemon=True)
        settler.start()
        settler.join(settle_wait)
        end(1)

    def stop(runner: Runner, *args: Any, **kwargs: Any) -> None:
        if stopping.is_set():
            give_up("SIGTERM again while serving stopped")
            return
        stopping.set()
        runner._logger.info("SIGTERM received: stopping as on Ctrl-C")
        why = f"serving did not stop within {grace:g} s of SIGTERM"
        watchdog = threading.Timer(grace, give_up, (why,))
        watchdog.daemon = True
        watchdog.start()
        watchdogs.append(watchdog)
        signal.raise_signal(signal.SIGINT)

    main = threading.current_thread() is threading.main_thread()  # signals are its alone
    handlers = {n: signal.getsignal(n) for n in (signal.SIGTERM, signal.SIGINT)} if main else {}
    if main and handlers[signal.SIGINT] is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # for asyncio to take over
    original = Runner.handle_sigterm
    Runner.handle_sigterm = stop  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Runner.handle_sigterm = original  # type: ignore[method-assign]
        for number, handler in handlers.items():  # the runner left its own on SIGTERM
            signal.signal(number, handler)
        for watchdog in watchdogs:  # stopped in time
            watchdog.cancel()


def settle_on_exit(deployments: Sequence[RunnerDeployment]) -> None:
    """:func:`settle_stopped_runs` as serving stops; a failure is logged, not raised.

    Prefect's runner stops without ending its runs (on ``SIGTERM`` it exits at once,
    and its child processes go with it): marking them now spares the next start the
    wait, and shows the truth to whoever looks before then.
    """
    try:
        settle_stopped_runs(deployments, starting=False)
    except Exception as error:  # the Prefect server is gone too: the next start settles them
        logger.warning(
            "runs left in flight not marked on exit (%s: %s)", type(error).__name__, error
        )


__all__ = [
    "PACKAGES",
    "PARENT_CRASHED",
    "SETTLE_WAIT_SECONDS",
    "STOPPED_BEFORE",
    "STOPPING",
    "STOP_GRACE_SECONDS",
    "DeploymentServedError",
    "ShadowedPackageError",
    "check_not_served",
    "check_working_directory",
    "crashed_runs",
    "in_flight_runs",
    "in_flight_task_runs",
    "local_flow_runs",
    "poll_timeout",
    "settle_crashed_leftovers",
    "settle_leftovers",
    "settle_on_exit",
    "settle_runs",
    "settle_stopped_runs",
    "shadowing_paths",
    "sigterm_as_ctrl_c",
]
