"""What serving does around Prefect's ``serve``: runs a stopped serve left, its directory.

Against the session's Prefect test server (no scheduler, no runner): runs are moved
through their states by hand, as a serving process would, so no test waits on one.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prefect import get_client, task
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import FlowRun, StateType, TaskRun
from prefect.client.schemas.responses import SetStateStatus
from prefect.client.schemas.schedules import IntervalSchedule
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.states import (
    AwaitingRetry,
    Cancelled,
    Cancelling,
    Crashed,
    Failed,
    Pending,
    Running,
    Scheduled,
)
from typer.testing import CliRunner

import flows
from agents import CampaignAgent
from flows.campaigns import campaign_round, run_campaign
from flows.deployments import (
    CATCH_UP_TAG,
    campaign_deployments,
    catch_up,
    did_or_will_run,
    drop_stale_runs,
    pause_finished,
    paused_by_run,
    schedule_paused,
    schedules_added_by_hand,
    serve_campaign,
    set_schedule_active,
    watch_next_slot,
)
from flows.serving import (
    PACKAGE_ROOT,
    PACKAGES,
    PARENT_CRASHED,
    STOPPED_BEFORE,
    STOPPING,
    ShadowedPackageError,
    check_working_directory,
    local_flow_runs,
    settle_crashed_leftovers,
    settle_runs,
    settle_stopped_runs,
    shadowing_paths,
    sigterm_as_ctrl_c,
)
from matloop.flows_cli import flows_app

EDITABLE = "site-packages" not in Path(flows.__file__).resolve().parts


def _deployed(interval: float = 3600) -> tuple[str, list[RunnerDeployment], list[uuid.UUID]]:
    """A campaign's deployments, applied (named for this test only; nothing serves them)."""
    name = f"serving-{uuid.uuid4().hex[:8]}"
    deployments = campaign_deployments(name, 2, interval=interval)
    ids = [deployment.apply() for deployment in deployments]
    assert all(isinstance(i, uuid.UUID) for i in ids)
    return name, deployments, ids  # type: ignore[return-value]


def _started(client: SyncPrefectClient, deployment: uuid.UUID) -> FlowRun:
    """A run submitted and running, as a serving process moves it (it takes the slot)."""
    run = client.create_flow_run_from_deployment(deployment)
    assert client.set_flow_run_state(run.id, Pending()).status == SetStateStatus.ACCEPT
    assert client.set_flow_run_state(run.id, Running()).status == SetStateStatus.ACCEPT
    return run


def _state(client: SyncPrefectClient, run: FlowRun) -> Any:
    state = client.read_flow_run(run.id).state
    assert state is not None
    return state


def test_runs_a_stopped_serve_left_in_flight_are_ended_and_free_their_slot() -> None:
    _, _, (run_campaign, _, reported) = _deployed()
    with get_client(sync_client=True) as client:
        orphan = _started(client, run_campaign)  # its serve process was killed
        cancelling = _started(client, reported)
        client.set_flow_run_state(cancelling.id, Cancelling())
        waiting = client.create_flow_run_from_deployment(run_campaign)  # scheduled: kept
        settled = settle_runs(client, [run_campaign, reported], STOPPED_BEFORE)
        assert {run.id for run in settled} == {orphan.id, cancelling.id}
        crashed = _state(client, orphan)
        assert crashed.type == StateType.CRASHED and crashed.message == STOPPED_BEFORE
        assert _state(client, cancelling).type == StateType.CANCELLED
        assert _state(client, waiting).type == StateType.SCHEDULED
        # the slot is free: the next run is submitted, not cancelled for the limit
        submitted: Any = client.set_flow_run_state(waiting.id, Pending())
        assert submitted.status == SetStateStatus.ACCEPT, submitted.details


@task
def _placeholder() -> None:
    """A task in a run (what Prefect creates for each subflow call, and for each task)."""


def _task_run(client: SyncPrefectClient, flow_run: uuid.UUID, key: str = "0") -> TaskRun:
    """A running task run of ``flow_run``, as its process moves it."""
    run = client.create_task_run(_placeholder, flow_run, key, state=Pending())
    assert client.set_task_run_state(run.id, Running()).status == SetStateStatus.ACCEPT
    return run


def _subflow(client: SyncPrefectClient, parent: uuid.UUID, key: str = "0") -> FlowRun:
    """A running ``campaign-round`` subflow of ``parent``, with a running task of its own.

    As ``run-campaign`` calls it: the parent's task run stands for the call, and the
    subflow's run names it (``parent_task_run_id``); it has no deployment.
    """
    call = _task_run(client, parent, key)
    child = client.create_flow_run(campaign_round, parent_task_run_id=call.id)
    assert client.set_flow_run_state(child.id, Running()).status == SetStateStatus.ACCEPT
    _task_run(client, child.id, "own")
    return child


def _task_states(client: SyncPrefectClient, *flow_runs: uuid.UUID) -> list[StateType | None]:
    runs = client.read_task_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(flow_runs)))
    )
    return [run.state_type for run in runs]


def test_a_stopped_run_s_subflows_and_task_runs_are_ended_with_it() -> None:
    # the serve process group was killed mid-round: the run, its round and their tasks
    _, _, (deployment, *_) = _deployed()
    with get_client(sync_client=True) as client:
        parent = _started(client, deployment)
        child = _subflow(client, parent.id)
        grandchild = _subflow(client, child.id, key="1")  # subflows of subflows too
        settled = settle_runs(client, [deployment], STOPPED_BEFORE)
        assert [run.id for run in settled] == [parent.id, child.id, grandchild.id]
        for run in (parent, child, grandchild):
            state = _state(client, run)
            assert state.type == StateType.CRASHED and state.message == STOPPED_BEFORE
        ids = (parent.id, child.id, grandchild.id)
        assert _task_states(client, *ids) == [StateType.CRASHED] * 4  # one a call each
        assert settle_runs(client, [deployment], STOPPED_BEFORE) == []  # settled once


def test_subflows_a_crashed_run_left_running_are_ended_when_serving_starts() -> None:
    # a run marked Crashed before its subflows were (by hand, or an older matloop)
    _, deployments, (deployment, *_) = _deployed()
    with get_client(sync_client=True) as client:
        parent = _started(client, deployment)
        child = _subflow(client, parent.id)
        client.set_flow_run_state(parent.id, Crashed(message="gone"))
        settle_stopped_runs(deployments)
        state = _state(client, child)
        assert state.type == StateType.CRASHED and state.message == STOPPED_BEFORE
        assert _state(client, parent).message == "gone"  # left as it was
        assert _task_states(client, parent.id, child.id) == [StateType.CRASHED] * 2


def test_the_next_run_ends_what_a_run_that_crashed_on_its_own_left_running() -> None:
    # kill -9 of a run's process: Prefect marks it Crashed, its round is left running
    _, _, (deployment, *_) = _deployed()
    with get_client(sync_client=True) as client:
        parent = _started(client, deployment)
        child = _subflow(client, parent.id)
        client.set_flow_run_state(parent.id, Crashed(message="Process exited with -9"))
        assert [run.id for run in settle_crashed_leftovers(str(deployment))] == [child.id]
        state = _state(client, child)
        assert state.type == StateType.CRASHED and state.message == PARENT_CRASHED
        assert _task_states(client, parent.id, child.id) == [StateType.CRASHED] * 2
        assert settle_crashed_leftovers(deployment) == []  # once
    assert settle_crashed_leftovers(None) == []  # a run not served: nothing to look for


def test_a_subflow_with_its_own_deployment_is_left_to_its_own_process() -> None:
    _, _, (deployment, train, _) = _deployed()
    with get_client(sync_client=True) as client:
        parent = _started(client, deployment)
        call = _task_run(client, parent.id)
        deployed = client.create_flow_run_from_deployment(train, parent_task_run_id=call.id)
        client.set_flow_run_state(deployed.id, Pending())
        client.set_flow_run_state(deployed.id, Running())
        settled = settle_runs(client, [deployment], STOPPED_BEFORE)
        assert [run.id for run in settled] == [parent.id]
        assert _state(client, deployed).type == StateType.RUNNING


def test_a_run_whose_process_still_lives_is_left_to_finish() -> None:
    # `kill -9` of the serving process alone: its run's process goes on, and reports
    _, _, (deployment, *_) = _deployed()
    with get_client(sync_client=True) as client:
        running = _started(client, deployment)
        assert settle_runs(client, [deployment], STOPPED_BEFORE, alive={running.id}) == []
        assert _state(client, running).type == StateType.RUNNING


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")
def test_local_flow_runs_are_those_a_live_process_here_runs(tmp_path: Path) -> None:
    run = uuid.uuid4()
    env = {**os.environ, "PREFECT__FLOW_RUN_ID": str(run)}
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    try:
        # the child shows its environment once it has exec'd: not at once on a loaded machine
        deadline = time.monotonic() + 10
        while run not in local_flow_runs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run in local_flow_runs()
    finally:
        process.kill()
        process.wait()
    assert run not in local_flow_runs()
    fake = tmp_path / "proc"
    for pid, environ in [("7", f"A=1\0PREFECT__FLOW_RUN_ID={run}\0"), ("8", "A=1\0")]:
        (fake / pid).mkdir(parents=True)
        (fake / pid / "environ").write_bytes(environ.encode())
    (fake / "9" / "environ").mkdir(parents=True)  # unreadable: skipped
    (fake / "10").mkdir()
    (fake / "10" / "environ").write_bytes(b"PREFECT__FLOW_RUN_ID=not-a-run\0")
    assert local_flow_runs(fake) == {run}


def test_catch_up_does_not_count_a_run_that_never_finished_the_interval() -> None:
    _, (run, *_), (deployment, *_) = _deployed()
    with get_client(sync_client=True) as client:
        orphan = _started(client, deployment)
        settle_runs(client, [deployment], STOPPED_BEFORE)  # crashed: no recent run
        hour_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
        started = catch_up(run, hour_ago)
        assert started is not None
        assert catch_up(run, hour_ago) is None  # the catch-up, not run yet, counts
        client.set_flow_run_state(started, Cancelled(), force=True)  # the limit cancelled it
        again = catch_up(run, hour_ago)
        assert again is not None and CATCH_UP_TAG in client.read_flow_run(again).tags
        assert _state(client, orphan).type == StateType.CRASHED


def test_a_run_counts_for_catch_up_when_it_did_will_or_does_run() -> None:
    def run(state: Any, started: bool = False) -> FlowRun:
        when = state.timestamp if started else None
        return FlowRun(flow_id=uuid.uuid4(), state=state, start_time=when)

    assert did_or_will_run(run(Running(), started=True))
    assert did_or_will_run(run(Failed(), started=True))  # ran, and failed: not retried
    assert not did_or_will_run(run(Failed()))  # failed before it ran
    assert not did_or_will_run(run(Crashed(), started=True))
    assert not did_or_will_run(run(Cancelled()))
    assert did_or_will_run(FlowRun(flow_id=uuid.uuid4()))  # scheduled


def test_serve_campaign_ends_stopped_runs_before_catching_up_and_on_its_way_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name, _, (deployment, *_) = _deployed()
    seen: dict[str, Any] = {}
    with get_client(sync_client=True) as client:
        orphan = _started(client, deployment)  # left by a serve process killed before

        def serving(*deployments: RunnerDeployment) -> None:
            seen["orphan"] = _state(client, orphan).type
            seen["in flight"] = _started(client, deployment)  # got the slot: it was freed
            raise SystemExit(0)  # Prefect's runner on SIGTERM (docker stop)

        monkeypatch.setattr("flows.deployments.serve", serving)
        # whatever the clock: within a minute of the hour no catch-up starts (the grace)
        monkeypatch.setattr("flows.deployments.CATCH_UP_GRACE", datetime.timedelta(0))
        with pytest.raises(SystemExit):
            serve_campaign(name, 2, interval=3600)
        assert seen["orphan"] == StateType.CRASHED
        runs = client.read_flow_runs(limit=200)
        assert any(r.deployment_id == deployment and CATCH_UP_TAG in r.tags for r in runs)
        left = _state(client, seen["in flight"])
        assert left.type == StateType.CRASHED and left.message == STOPPING


def _runs_of(client: SyncPrefectClient, deployment: uuid.UUID) -> list[FlowRun]:
    return [r for r in client.read_flow_runs(limit=200) if r.deployment_id == deployment]


def test_a_slot_served_moments_before_it_that_brings_no_run_gets_one_late(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("flows.deployments.SLOT_WATCH", datetime.timedelta(seconds=1))
    _, (deployment, *_), (deployment_id, *_) = _deployed()
    now = datetime.datetime.now(datetime.UTC)
    stopped = watch_next_slot(deployment, now + datetime.timedelta(seconds=1))
    stopped.cancel()  # serving stopped before the slot: nothing is started for it
    watch_next_slot(deployment, now).join(timeout=30)  # Prefect made no run for the slot
    stopped.join(timeout=30)
    with get_client(sync_client=True) as client:
        (late,) = _runs_of(client, deployment_id)
        assert CATCH_UP_TAG in late.tags
    paused, (deployment, *_), (deployment_id, *_) = _deployed()
    watch = watch_next_slot(deployment, datetime.datetime.now(datetime.UTC))
    set_schedule_active(f"run-campaign/{paused}", False)  # paused before the watch looks
    watch.join(timeout=30)
    with get_client(sync_client=True) as client:
        assert _runs_of(client, deployment_id) == []  # no run is owed to a paused schedule


def test_a_slot_that_brings_its_run_gets_no_other(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("flows.deployments.SLOT_WATCH", datetime.timedelta(seconds=0.5))
    _, (deployment, *_), (deployment_id, *_) = _deployed()
    slot = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)
    watch = watch_next_slot(deployment, slot)
    with get_client(sync_client=True) as client:  # the scheduler's run for the slot
        scheduled = client.create_flow_run_from_deployment(
            deployment_id, state=Scheduled(scheduled_time=slot)
        )
        watch.join(timeout=30)
        assert [r.id for r in _runs_of(client, deployment_id)] == [scheduled.id]


def test_serving_within_the_grace_of_a_slot_watches_it(monkeypatch: pytest.MonkeyPatch) -> None:
    name, _, _ = _deployed()
    watched: list[datetime.datetime] = []
    monkeypatch.setattr("flows.deployments.CATCH_UP_GRACE", datetime.timedelta(hours=2))
    monkeypatch.setattr(
        "flows.deployments.watch_next_slot",
        lambda deployment, slot: watched.append(slot) or SimpleNamespace(cancel=lambda: None),
    )

    def serving(*deployments: RunnerDeployment) -> None:
        raise SystemExit(0)

    monkeypatch.setattr("flows.deployments.serve", serving)
    with pytest.raises(SystemExit):
        serve_campaign(name, 2, interval=3600)
    (slot,) = watched  # the next full hour: no catch-up now, that slot watched instead
    assert (slot.minute, slot.second) == (0, 0) and slot > datetime.datetime.now(datetime.UTC)


def test_waiting_runs_of_old_settings_are_deleted_and_hand_made_ones_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said: list[str] = []
    monkeypatch.setattr(
        "flows.deployments.logger.warning", lambda text, *args: said.append(text % args)
    )
    name, old, (run_campaign, *_) = _deployed()  # served with --rounds 2 before
    new = campaign_deployments(name, 3, interval=3600)  # now served with --rounds 3
    late = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    with get_client(sync_client=True) as client:

        def waiting(tags: list[str], parameters: dict[str, Any] | None = None) -> FlowRun:
            return client.create_flow_run_from_deployment(
                run_campaign, parameters=parameters, state=Scheduled(scheduled_time=late), tags=tags
            )

        stale = waiting([CATCH_UP_TAG])  # an earlier serve's catch-up run, not run yet
        scheduled = [waiting([CATCH_UP_TAG]) for _ in range(2)]  # and earlier ones'
        current = waiting([CATCH_UP_TAG], new[0].parameters)
        by_hand = waiting([], {"rounds": 7})
        retrying = client.create_flow_run_from_deployment(  # it ran, and waits to retry
            run_campaign, state=AwaitingRetry(scheduled_time=late), tags=[CATCH_UP_TAG]
        )
        assert stale.parameters["rounds"] == 2 and current.parameters["rounds"] == 3
        assert {run.id for run in drop_stale_runs(new)} == {stale.id, *(r.id for r in scheduled)}
        (line,) = said  # one line for the three
        assert line.startswith(f"3 flow run(s) of run-campaign/{name} waiting with other ")
        with pytest.raises(ObjectNotFound):
            client.read_flow_run(stale.id)
        for kept in (current, by_hand, retrying):
            assert _state(client, kept).type == StateType.SCHEDULED
        # served with --rounds 2 again: the catch-up run made for 3 waits with other ones
        assert [run.id for run in drop_stale_runs(old)] == [current.id]


def test_a_schedule_paused_in_prefect_stays_paused_when_serving_restarts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name, _, (run_campaign, *_) = _deployed()
    deployment_name = f"run-campaign/{name}"
    with get_client(sync_client=True) as client:
        client.pause_deployment(run_campaign)  # as a serve that stops does: not by hand
        assert not schedule_paused(deployment_name)
        [scheduled] = client.read_deployment_schedules(run_campaign)
        client.update_deployment_schedule(run_campaign, scheduled.id, active=False)
        assert schedule_paused(deployment_name)
        # serving applies the deployments (Prefect's runner does, as it starts)
        monkeypatch.setattr("flows.deployments.serve", lambda *ds: [d.apply() for d in ds])
        serve_campaign(name, 2, interval=60)  # no catch-up run either
        [again] = client.read_deployment_schedules(run_campaign)
        assert again.active is False
        assert not client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[run_campaign]))
        )
    assert not schedule_paused("run-campaign/never-deployed")


def test_flows_pause_and_resume_a_campaign_s_schedule_while_it_is_served() -> None:
    name, _, (run_campaign, *_) = _deployed(interval=600)
    late = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    with get_client(sync_client=True) as client:
        caught_up, by_hand = (  # a catch-up run, late (its serve busy): it would still start
            client.create_flow_run_from_deployment(
                run_campaign, state=Scheduled(scheduled_time=late), tags=tags
            )
            for tags in ([CATCH_UP_TAG], [])
        )
        paused = CliRunner().invoke(flows_app, ["pause", name])
        assert paused.exit_code == 0, paused.output
        assert " ".join(paused.output.split()) == (
            f"run-campaign/{name}: paused (every 600 s); `matloop flows resume {name}` undoes it"
        )
        assert schedule_paused(f"run-campaign/{name}")
        with pytest.raises(ObjectNotFound):
            client.read_flow_run(caught_up.id)
        assert _state(client, by_hand).type == StateType.SCHEDULED  # made by hand: kept
        again = CliRunner().invoke(flows_app, ["pause", name])
        assert "its schedule was paused already" in again.output
        resumed = CliRunner().invoke(flows_app, ["resume", name])
        assert resumed.exit_code == 0, resumed.output
        assert not schedule_paused(f"run-campaign/{name}")
        [schedule] = client.read_deployment_schedules(run_campaign)
        assert schedule.active is True
    missing = CliRunner().invoke(flows_app, ["pause", "never-served"])
    assert missing.exit_code == 1
    assert "error: run-campaign/never-served: no such deployment; serve it first" in (
        " ".join(missing.output.split())
    )


def test_resuming_a_closed_campaign_s_schedule_says_its_deployment_stays_paused() -> None:
    name = f"serving-{uuid.uuid4().hex[:8]}"
    campaign_deployments(name, 2, interval=600, closed=True)[0].apply()  # as serve deploys it
    assert CliRunner().invoke(flows_app, ["pause", name]).exit_code == 0
    resumed = CliRunner().invoke(flows_app, ["resume", name])
    assert resumed.exit_code == 0, resumed.output
    said = " ".join(resumed.output.split())
    assert f"warning: run-campaign/{name} itself is paused: a closed campaign's is" in said
    assert f"run-campaign/{name}: resumed (every 600 s)" in said


def test_flows_pause_says_a_lab_s_campaign_is_served_without_a_schedule() -> None:
    name = f"serving-{uuid.uuid4().hex[:8]}"
    for deployment in campaign_deployments(name, None, oracle=False):  # results events only
        deployment.apply()
    result = CliRunner().invoke(flows_app, ["pause", name])
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert f"{name} is served for its instruments' results only (its run-campaign" in said
    assert "serve it again with --cron or --interval" in said


def test_sigterm_stops_serving_as_ctrl_c_and_a_stop_that_hangs_ends_the_process() -> None:
    from prefect.runner import Runner

    interrupted: list[int] = []
    settled: list[bool] = []
    ended: list[int] = []

    def serving(grace: float = 0.3) -> Any:
        return sigterm_as_ctrl_c(lambda: settled.append(True), grace, ended.append, 1.0)

    original = Runner.handle_sigterm
    previous = signal.signal(signal.SIGINT, lambda number, frame: interrupted.append(number))
    try:
        with serving():
            Runner().handle_sigterm()  # what Prefect's runner calls on SIGTERM
            assert interrupted == [signal.SIGINT]  # asyncio cancels the runner's task on it
            assert not ended  # its grace to stop in
            deadline = time.monotonic() + 10
            while not ended and time.monotonic() < deadline:  # a stop that hangs
                time.sleep(0.05)
        assert settled == [True] and ended == [1]
        assert Runner.handle_sigterm is original
        with serving():
            Runner().handle_sigterm()  # a stop in time: the watchdog is called off
        time.sleep(0.6)
        assert settled == [True] and ended == [1]
        with serving(grace=60):
            runner = Runner()
            runner.handle_sigterm()
            runner.handle_sigterm()  # docker stop twice: no more waiting
            assert settled == [True, True] and ended == [1, 1]
        assert len(interrupted) == 3  # not a second Ctrl-C mid-stop
    finally:
        signal.signal(signal.SIGINT, previous)


def test_sigterm_is_answered_where_sigint_was_ignored_and_handlers_are_put_back() -> None:
    # a serve started in the background by a script ignores SIGINT: asyncio then takes
    # no Ctrl-C, and raising it would do nothing
    before = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with sigterm_as_ctrl_c(lambda: None):
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
            signal.signal(signal.SIGTERM, lambda number, frame: None)  # as the runner does
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is before[signal.SIGTERM]
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


def test_packages_are_those_the_distribution_installs() -> None:
    top_level = importlib.metadata.distribution("matloop").read_text("top_level.txt")
    assert top_level is not None and set(PACKAGES) == set(top_level.split())


def test_folders_named_like_a_package_in_the_working_directory_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as in `matloop flows serve`: the source tree is not on the path (pytest puts it)
    outside = [p for p in sys.path if Path(p or ".").resolve() != PACKAGE_ROOT]
    monkeypatch.setattr(sys, "path", outside)
    (tmp_path / "papers").mkdir()
    (tmp_path / "literature.txt").write_text("not a module")
    assert shadowing_paths(tmp_path) == {}
    assert shadowing_paths(PACKAGE_ROOT) == {}  # the source tree itself
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "__init__.py").write_text("")  # shadows any install
    (tmp_path / "discovery.py").write_text("")
    (tmp_path / "db").mkdir()  # a plain folder: a namespace package
    expected = {"agents": tmp_path / "agents", "discovery": tmp_path / "discovery.py"}
    if EDITABLE:  # the editable install's import hook comes after the path
        expected["db"] = tmp_path / "db"
    assert shadowing_paths(tmp_path) == {k: v.resolve() for k, v in expected.items()}
    with pytest.raises(ShadowedPackageError, match="Start serving from another directory"):
        check_working_directory(tmp_path)


def test_serve_refuses_to_start_where_runs_would_import_the_wrong_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    for args in (
        ["serve", "--campaign", "opv", "--interval", "60"],
        ["serve-literature", "papers", "--interval", "60"],
    ):
        result = CliRunner().invoke(flows_app, args)
        assert result.exit_code == 1, result.output
        assert f"error: the working directory {tmp_path} holds" in result.output
        assert "(as package 'flows')" in result.output


def _served_to_zero_rounds(name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Serve ``name`` to 0 rounds every minute, its runs here as that deployment's: its name."""
    ids = [d.apply() for d in campaign_deployments(name, 0, interval=60)]
    monkeypatch.setattr("flows.campaigns.deployment", SimpleNamespace(id=str(ids[0])))
    return f"run-campaign/{name}"


def test_a_served_run_with_nothing_left_pauses_its_schedule_and_serving_again_resumes_it(
    random_campaign: CampaignAgent, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = random_campaign.name
    deployed = _served_to_zero_rounds(name, monkeypatch)

    def down(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Prefect's API is down")

    with monkeypatch.context() as broken:  # the work is stored: the run does not fail
        broken.setattr("flows.deployments.set_schedule_active", down)
        assert run_campaign(name, 0, mongodb_uri)["batches_run"] == 1
    assert not schedule_paused(deployed)
    done = run_campaign(name, 0, mongodb_uri)  # its next run: the target of 0 rounds is there
    assert done["batches_run"] == 0 and schedule_paused(deployed)
    assert paused_by_run(deployed) == "target reached: rounds 0 of 0"
    monkeypatch.setattr("flows.deployments.serve", lambda *ds: [d.apply() for d in ds])
    serve_campaign(name, 2, interval=60)  # a higher target: served again, it runs again
    assert not schedule_paused(deployed) and paused_by_run(deployed) is None
    run_campaign(name, 2, mongodb_uri, per_run=1)  # a round of two: not finished
    assert not schedule_paused(deployed)
    random_campaign.close()
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    closed = run_campaign(name, 2, mongodb_uri)
    assert closed["batches_run"] == 0 and schedule_paused(deployed)
    resumed = CliRunner().invoke(flows_app, ["resume", name])
    assert resumed.exit_code == 0, resumed.output
    warned = (
        f"campaign {name!r} is closed: its runs hand out no new batches, and the next one "
        "pauses this schedule again"
    )
    assert warned in " ".join(resumed.output.split())
    serve_campaign(name, 2, interval=60, closed=True)  # closed: its schedule's pause is kept
    assert paused_by_run(deployed) is None


def test_a_schedule_paused_by_hand_is_not_marked_paused_by_a_run_that_finds_nothing_to_do(
    random_campaign: CampaignAgent, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = random_campaign.name
    deployed = _served_to_zero_rounds(name, monkeypatch)
    run_campaign(name, 0, mongodb_uri)
    set_schedule_active(deployed, False)  # by hand, while a run was waiting
    run_campaign(name, 0, mongodb_uri)  # that run: nothing to do
    # a marker would have the next serve resume what its operator paused
    assert schedule_paused(deployed) and paused_by_run(deployed) is None
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    monkeypatch.setenv("COLUMNS", "1000")
    shown = CliRunner().invoke(flows_app, ["status", name])  # what the database holds
    assert shown.output.splitlines()[-1] == (
        f"in the database ({mongodb_uri}): rounds 0 (1 batch), 10 results, 0 pending"
    )


def test_serving_again_says_it_removes_a_schedule_added_by_hand_to_train_surrogate(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    name, _, (_, train, _) = _deployed()
    assert schedules_added_by_hand(name) == []
    with get_client(sync_client=True) as client:
        client.create_deployment_schedules(
            train, [(IntervalSchedule(interval=datetime.timedelta(minutes=5)), True)]
        )
    assert schedules_added_by_hand(name) == [f"train-surrogate/{name} (every 300 s)"]
    monkeypatch.setattr("flows.deployments.serve", lambda *ds: [d.apply() for d in ds])
    serve_campaign(name, 2, interval=3600)
    said = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert f"serving removes the schedules added in Prefect to train-surrogate/{name} " in said
    assert schedules_added_by_hand(name) == []  # as the warning said


def test_flows_status_shows_each_deployment_its_schedule_and_last_runs(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)  # this test's, not the machine's
    name, _, (run_campaign_id, *_) = _deployed(interval=600)
    with get_client(sync_client=True) as client:
        by_hand = client.create_flow_run_from_deployment(run_campaign_id)
    assert not pause_finished(str(run_campaign_id), name, 5, "a run by hand aims for 5")
    assert pause_finished(str(run_campaign_id), name, 2, "target reached: rounds 2 of 2")
    shown = CliRunner().invoke(flows_app, ["status", name])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == (
        f"run-campaign/{name}: not served now; every 600 s, paused by its run (target "
        "reached: rounds 2 of 2)"
    )
    assert lines[1].endswith("  Scheduled")  # the run made by hand, kept by the pause
    assert lines[2] == (
        f"train-surrogate/{name}: not served now; no schedule (on demand or on results); "
        "no runs yet"
    )
    as_json = json.loads(CliRunner().invoke(flows_app, ["status", name, "--json"]).output)
    assert [d["name"] for d in as_json] == [
        f"run-campaign/{name}",
        f"train-surrogate/{name}",
        f"results-reported/{name}",
    ]
    assert as_json[0]["runs"][0]["name"] == by_hand.name
    assert as_json[0]["schedules"] == [{"schedule": "every 600 s", "active": False}]
    assert as_json[0]["next"] is None  # paused: no run made ahead
    resumed = CliRunner().invoke(flows_app, ["resume", name])
    assert resumed.exit_code == 0, resumed.output
    [again] = json.loads(CliRunner().invoke(flows_app, ["status", name, "--json"]).output)[:1]
    assert [r["name"] for r in again["runs"]] == [by_hand.name]  # runs made ahead: not "last"
    assert again["paused_by_run"] is None
    assert lines[-1].startswith("in the database: not read (CampaignNotFoundError")  # none
    missing = CliRunner().invoke(flows_app, ["status", "never-served"])
    assert missing.exit_code == 1
    assert "never-served: no deployment in Prefect; serve it first" in missing.output
