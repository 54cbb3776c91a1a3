"""``matloop flows serve`` against a full Prefect server: a schedule fires, an event triggers.

The test harness's server runs no scheduler, so this module starts a complete Prefect
server (scheduler included, tightened loops) on a loopback port with its own SQLite file,
serves a campaign's deployments with the real command in a subprocess, and waits (at
most 60 s) for a scheduled ``run-campaign`` run or an event-triggered ``results-reported``
run to complete.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import DeploymentStatus, FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.events.worker import EventsWorker
from prefect.settings import PREFECT_API_URL, temporary_settings
from typer.testing import CliRunner

from agents import CampaignAgent, LookupOracle
from db.documents import ModelRecord
from db.server import free_port
from discovery.domain import Campaign
from discovery.spaces import SearchSpace
from flows.deployments import (
    CATCH_UP_TAG,
    SCHEDULE_ANCHOR,
    campaign_deployments,
    catch_up,
    literature_deployment,
    schedule_window,
)
from flows.events import SETTLE_SECONDS, emit_results_reported
from matloop.flows_cli import flows_app

DEADLINE_S = 150.0


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MATLOOP_"))}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", **extra)
    return env


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop a process started here, and its children (its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """API URL of a full Prefect server on loopback (scheduler every 2 s)."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = _env(
        home,
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        PREFECT_UI_ENABLED="false",
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
        PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS="1",
    )
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "error",
    ]  # fmt: skip
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            assert process.poll() is None, (home / "server.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        else:
            pytest.fail("the Prefect server did not start within 60 s")
        yield url
    finally:
        _stop(process)
        log.close()


def _serve_env(api: str, uri: str, home: Path) -> dict[str, str]:
    """The environment of a ``flows serve`` process against ``api`` and ``uri``."""
    return _env(
        home, PREFECT_API_URL=api, PREFECT_RUNNER_POLL_FREQUENCY="1", MATLOOP_MONGODB_URI=uri
    )


@pytest.fixture
def serving(
    prefect_server: str, mongodb_uri: str, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``python -m matloop.flows_cli serve ...`` against the server; stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        env = _serve_env(prefect_server, mongodb_uri, tmp_path / "serve-home")
        log = (tmp_path / "serve.log").open("wb")
        # --take-over: the tests serve one campaign name in turn, and a serve killed when
        # it did not stop in time leaves its deployments READY for a minute
        process = subprocess.Popen(
            [sys.executable, "-m", "matloop.flows_cli", "serve", "--take-over", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        _stop(process, signal.SIGINT)  # serve pauses its schedules on the way out


@pytest.fixture
def started() -> datetime.datetime:
    """When the test started: the runs it made were created since (the server outlives it)."""
    return datetime.datetime.now(datetime.UTC)


def _completed_runs(api: str, flow_name: str | None, since: datetime.datetime) -> list[FlowRun]:
    """Completed runs of a flow (of every flow: None) created since ``since``."""
    named = None if flow_name is None else FlowFilter(name=FlowFilterName(any_=[flow_name]))
    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as c:
        runs = c.read_flow_runs(
            flow_filter=named,
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED]))
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=200,
        )
    return [run for run in runs if run.created is not None and run.created >= since]


def _wait_for(
    check: Callable[[], list[Any]], process: subprocess.Popen[bytes], log: Path, what: str
) -> list[Any]:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve exited:\n{log.read_text()[-4000:]}"
        found = check()
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"no {what} within {DEADLINE_S:.0f} s:\n{log.read_text()[-4000:]}")


@pytest.mark.slow
def test_a_served_campaign_runs_on_its_interval_schedule(
    prefect_server: str,
    serving: Callable[..., subprocess.Popen[bytes]],
    random_campaign: CampaignAgent,
    tmp_path: Path,
    started: datetime.datetime,
) -> None:
    name = random_campaign.name
    process = serving("--campaign", name, "--rounds", "1", "--interval", "3")
    runs = _wait_for(
        lambda: [
            run
            for run in _completed_runs(prefect_server, "run-campaign", started)
            if run.auto_scheduled  # created by the server's scheduler from the interval
        ],
        process,
        tmp_path / "serve.log",
        "scheduled run",
    )
    # no database URI (it may hold a password): the runs read serve's MATLOOP_MONGODB_URI
    assert runs[0].parameters == {"campaign": name, "rounds": 1, "per_run": None}
    # a catch-up run may have started first (nothing was due), unless the server's
    # scheduler had a slot due within the 3 s before serving began: catch_up's own test
    first = _completed_runs(prefect_server, "run-campaign", started)[0]
    assert first.auto_scheduled or CATCH_UP_TAG in first.tags
    status = random_campaign.status()  # so they ran on the database serve was started for
    assert (status.rounds, status.measurements) == (1, 14)  # initial 10 + one round of 4
    every = [  # this campaign's, campaign-round subflows too
        r
        for r in _completed_runs(prefect_server, None, started)
        if r.parameters["campaign"] == name
    ]
    assert {r.flow_id for r in every} != {first.flow_id}
    assert all(r.parameters.get("uri") is None for r in every), [r.parameters for r in every]


@pytest.mark.slow
def test_a_results_reported_event_runs_the_served_campaign_deployment(
    prefect_server: str,
    serving: Callable[..., subprocess.Popen[bytes]],
    random_campaign: CampaignAgent,
    tmp_path: Path,
    started: datetime.datetime,
) -> None:
    name = random_campaign.name
    oracle = LookupOracle.from_candidates(random_campaign.store.candidates(name))
    random_campaign.observe(oracle.evaluate(random_campaign.propose()))  # a lab reported 10
    process = serving("--campaign", name, "--cron", "0 0 1 1 *")  # no scheduled run due
    log = tmp_path / "serve.log"
    _wait_for(lambda: ["up"] if "being served" in log.read_text() else [], process, log, "serve")
    EventsWorker.drain_all()  # a process's events worker keeps the API it first sent to
    with temporary_settings(updates={PREFECT_API_URL: prefect_server}):
        assert emit_results_reported(name, 10) is not None
        EventsWorker.drain_all()
    runs = _wait_for(
        lambda: _completed_runs(prefect_server, "results-reported", started),
        process,
        log,
        "triggered run",
    )
    assert not runs[0].auto_scheduled
    assert runs[0].parameters["campaign"] == name and str(runs[0].parameters["count"]) == "10"
    assert runs[0].parameters["rounds"] == 15  # serve's default target for a scheduled one
    assert runs[0].parameters.get("uri") is None
    assert len(random_campaign.pending()) == 4  # the next batch handed out
    records = ModelRecord.objects  # and the surrogate retrained on the 10 results
    assert records.count() == 1 and records.first().metrics["n_train"] == 10
    assert _completed_runs(prefect_server, "run-campaign", started) == []


@pytest.mark.slow
def test_a_second_serve_of_a_served_campaign_is_refused_and_changes_nothing(
    prefect_server: str,
    serving: Callable[..., subprocess.Popen[bytes]],
    random_campaign: CampaignAgent,
    mongodb_uri: str,
    tmp_path: Path,
) -> None:
    name = random_campaign.name
    first = serving("--campaign", name, "--rounds", "1", "--interval", "3600")
    log = tmp_path / "serve.log"
    _wait_for(lambda: ["up"] if "being served" in log.read_text() else [], first, log, "serve")

    def deployment() -> Any:
        with (
            temporary_settings({PREFECT_API_URL: prefect_server}),
            get_client(sync_client=True) as client,
        ):
            return client.read_deployment_by_name(f"run-campaign/{name}")

    ready = DeploymentStatus.READY  # polled by the first one's runner
    _wait_for(lambda: [1] if deployment().status == ready else [], first, log, "READY")
    env = _serve_env(prefect_server, mongodb_uri, tmp_path / "second-home")
    for args, message in [
        (["--interval", "1e12"], "error: --interval: must be from 1 to 31622400 seconds"),
        (["--rounds", "25", "--interval", "60"], f"error: run-campaign/{name} is being served"),
    ]:
        second = subprocess.run(
            [sys.executable, "-m", "matloop.flows_cli", "serve", "--campaign", name, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
        )
        assert second.returncode == 1, second.stdout + second.stderr
        errors = [line for line in second.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith(message), second.stderr
        assert "Traceback" not in second.stderr
    served = deployment()  # the first one's, as it applied it, and still served
    assert served.parameters["rounds"] == 1 and not served.paused
    assert served.schedules[0].schedule.interval == datetime.timedelta(seconds=3600)
    assert first.poll() is None
    # docker stop: SIGTERM stops it as Ctrl-C does, its schedule paused on the way out
    os.killpg(first.pid, signal.SIGTERM)
    assert first.wait(timeout=60) == 0, log.read_text()[-4000:]
    assert "SIGTERM received: stopping as on Ctrl-C" in log.read_text()
    assert deployment().paused


def test_serve_rejects_bad_options_before_serving(mongodb_uri: str) -> None:
    cli = CliRunner()
    env = {"MATLOOP_MONGODB_URI": mongodb_uri}
    both = ["serve", "--campaign", "x", "--cron", "* * * * *", "--interval", "5"]
    for args, message in [
        (["serve", "--campaign", "x"], "no campaign named 'x'"),
        (both, "exactly one schedule"),
        (["serve", "--campaign", "x", "--interval", "0"], "--interval: must be from 1 to"),
        (["serve", "--campaign", "x", "--interval", "5", "--rounds", "-1"], "must be >= 0"),
        (["serve", "--campaign", "x", "--interval", "5", "--per-run", "0"], "must be >= 1"),
        (["serve", "--campaign", "x", "--interval", "5", "--settle", "5"], "must be >= 10"),
        (["serve", "--campaign", "nope", "--interval", "5"], "no campaign named 'nope'"),
    ]:
        result = cli.invoke(flows_app, args, env=env)
        assert result.exit_code == 1, result.output
        assert message in result.output
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = cli.invoke(flows_app, ["serve", "--campaign", "x", "--interval", "5"], env=env)
    assert result.exit_code == 1 and "PREFECT_API_URL is not set" in result.output
    cron = cli.invoke(flows_app, ["serve", "--campaign", "x", "--cron", "every hour"], env=env)
    assert cron.exit_code == 1 and "--cron 'every hour': not a cron expression" in cron.output
    down = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings({PREFECT_API_URL: down}):
        result = cli.invoke(flows_app, ["serve", "--campaign", "x", "--interval", "5"], env=env)
    assert result.exit_code == 1, result.output
    assert f"the Prefect server at {down} does not answer (ConnectError" in result.output


def test_serve_schedules_only_campaigns_its_oracle_can_measure(
    random_campaign: CampaignAgent, lab_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    cli, env = CliRunner(), {"MATLOOP_MONGODB_URI": mongodb_uri}
    measured = cli.invoke(flows_app, ["serve", "--campaign", random_campaign.name], env=env)
    assert measured.exit_code == 1 and "exactly one schedule" in measured.output
    lab = cli.invoke(flows_app, ["serve", "--campaign", "lab", "--interval", "60"], env=env)
    assert lab.exit_code == 1 and "'lab': it has no pool with reference values" in lab.output
    space = {"parameters": [{"name": "x", "type": "continuous", "lower": 0, "upper": 1}]}
    goals = lab_campaign.campaign.objectives
    lab_campaign.store.create(Campaign("box", SearchSpace.from_dict(space), goals), [])
    box = cli.invoke(flows_app, ["serve", "--campaign", "box", "--interval", "60"], env=env)
    assert box.exit_code == 1 and "'box': it has no pool" in box.output  # an open space
    paced = cli.invoke(flows_app, ["serve", "--campaign", "box", "--per-run", "1"], env=env)
    assert paced.exit_code == 1 and "--per-run paces a schedule" in paced.output
    deployments = campaign_deployments("lab", 0, oracle=False)
    assert [d.flow_name for d in deployments] == ["train-surrogate", "results-reported"]
    assert {t.within.total_seconds() for t in deployments[1].triggers} == {SETTLE_SECONDS}
    slow = campaign_deployments("lab", 0, oracle=False, settle=120)[1]
    assert {t.within.total_seconds() for t in slow.triggers} == {120}


def test_serving_a_closed_campaign_pauses_its_schedule_and_keeps_serving_results(
    random_campaign: CampaignAgent, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "flows.deployments.serve_campaign", lambda *a, **kw: served.append({"args": a, **kw})
    )
    name = random_campaign.name
    random_campaign.close()
    args = ["serve", "--campaign", name, "--interval", "60"]
    result = CliRunner().invoke(flows_app, args, env={"MATLOOP_MONGODB_URI": mongodb_uri})
    # no exit: compose's `restart: unless-stopped` would loop, and late results go unserved
    assert result.exit_code == 0, result.output
    assert f"campaign {name!r} is closed: run-campaign/{name} is paused" in result.output
    assert served[0]["closed"] is True and served[0]["interval"] == 60
    assert served[0]["settle"] == SETTLE_SECONDS
    settled = CliRunner().invoke(
        flows_app, [*args, "--settle", "90"], env={"MATLOOP_MONGODB_URI": mongodb_uri}
    )
    assert settled.exit_code == 0 and served[1]["settle"] == 90
    run, train, reported = campaign_deployments(name, 3, interval=60, closed=True)
    assert run.paused is True and not train.paused and not reported.paused
    assert campaign_deployments(name, 3, interval=60)[0].paused is False


def test_interval_schedules_keep_their_times_across_restarts() -> None:
    def anchor(deployment: Any) -> datetime.datetime:
        return deployment.schedules[0].schedule.anchor_date

    first = campaign_deployments("opv", 6, interval=600, per_run=1)[0]
    time.sleep(0.01)  # a later `flows serve` start
    again = campaign_deployments("opv", 6, interval=600, per_run=1)[0]
    assert anchor(first) == anchor(again) == SCHEDULE_ANCHOR
    assert first.schedules[0].schedule.interval == datetime.timedelta(seconds=600)
    papers = literature_deployment(["papers"], interval=3600)
    assert anchor(papers) == SCHEDULE_ANCHOR
    cron = campaign_deployments("opv", 6, cron="0 * * * *")[0]
    assert cron.schedules[0].schedule.cron == "0 * * * *"


def _runs_of(deployment_id: uuid.UUID) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=50,
        )


def _hour_ago() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)


def test_catch_up_starts_one_run_when_none_was_due_within_the_interval() -> None:
    # not served: the runs stay scheduled; a campaign name no other test deploys
    run = campaign_deployments(f"catch-up-{uuid.uuid4().hex[:8]}", 2, interval=3600)[0]
    started = catch_up(run, _hour_ago())
    assert started is not None
    assert catch_up(run, _hour_ago()) is None  # a restart right after: the run is there
    runs = _runs_of(run.apply())
    assert [r.id for r in runs] == [started] and CATCH_UP_TAG in runs[0].tags
    assert not runs[0].auto_scheduled


def test_a_cron_schedule_catches_up_a_missed_run_but_a_new_one_waits_for_its_time() -> None:
    run = campaign_deployments(f"catch-up-{uuid.uuid4().hex[:8]}", 2, cron="0 2 * * *")[0]
    assert catch_up(run, _hour_ago(), missed_only=True) is None  # new: waits for 02:00
    # served, stopped (Prefect then deletes the runs it made), and its 02:00 passed since
    missed = datetime.datetime.now(datetime.UTC)
    started = catch_up(run, missed, missed_only=True)  # applied again: created stays
    assert started is not None
    assert catch_up(run, missed, missed_only=True) is None  # one catch-up at most


@pytest.mark.parametrize(
    ("cron", "interval", "timezone", "since", "upcoming"),
    [
        (None, 3600, None, "2026-12-07T05:45:30", "2026-12-07T07:00:00"),  # on the hour
        (None, 60, None, "2026-12-07T06:44:30", "2026-12-07T06:46:00"),
        ("* * * * *", None, None, "2026-12-07T06:44:59", "2026-12-07T06:46:00"),
        # 02:00 in Berlin is 01:00 UTC in winter; a second before it, so that it counts
        ("0 2 * * *", None, "Europe/Berlin", "2026-12-07T00:59:59", "2026-12-08T01:00:00"),
    ],
)
def test_a_schedules_window_is_since_its_last_run_time_and_until_its_next(
    cron: str | None, interval: float | None, timezone: str | None, since: str, upcoming: str
) -> None:
    now = datetime.datetime(2026, 12, 7, 6, 45, 30, tzinfo=datetime.UTC)
    window = schedule_window(cron, interval, timezone, now)
    utc = [
        datetime.datetime.fromisoformat(t).replace(tzinfo=datetime.UTC) for t in (since, upcoming)
    ]
    assert window == tuple(utc)


@pytest.mark.parametrize(
    ("now", "since"),
    [
        ("2026-03-29T01:15:00", "2026-03-29T01:15:00"),  # 02:30 never came: clocks jumped
        ("2026-10-25T01:15:00", "2026-10-24T00:29:59"),  # 02:15 for the second time
    ],
)
def test_around_a_daylight_saving_change_the_next_run_is_taken_as_due_now(
    now: str, since: str
) -> None:
    """No catch-up where croniter's times are in doubt (the next within the grace)."""
    moment = datetime.datetime.fromisoformat(now).replace(tzinfo=datetime.UTC)
    window = schedule_window("30 2 * * *", None, "Europe/Berlin", moment)
    start = datetime.datetime.fromisoformat(since).replace(tzinfo=datetime.UTC)
    assert window == (start, moment)
