"""``matloop flows``: run's checks and quiet temporary server, serve-literature's paths,
train-many."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prefect import task
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import ThreadPoolTaskRunner
from typer.testing import CliRunner

from agents import CampaignAgent, LookupOracle
from agents.training import TrainingData, fit_surrogate
from db import CampaignStore
from db.documents import ModelRecord
from db.server import free_port
from discovery.datasets import PoolDataset
from discovery.domain import CampaignSettings, ModelArtifact
from flows.training import TrainingFailed, train_many
from matloop.flows_cli import ANALYTICS_ENV, flows_app


def _one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def test_flows_run_refuses_a_prefect_server_that_does_not_answer(
    random_campaign: CampaignAgent, mongodb_uri: str
) -> None:
    down = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings({PREFECT_API_URL: down}):
        result = CliRunner().invoke(
            flows_app, ["run", random_campaign.name], env={"MATLOOP_MONGODB_URI": mongodb_uri}
        )
    assert result.exit_code == 1
    line = _one_error_line(result.output)  # not Prefect's 136-line traceback
    assert line.startswith(f"error: the Prefect server at {down} does not answer (ConnectError")
    assert random_campaign.status().batches == 0


@pytest.mark.parametrize(("given", "expected"), [(None, "False"), ("true", "True")])
def test_flows_run_turns_the_temporary_servers_analytics_off_unless_set(
    given: str | None, expected: str, tmp_path: Path
) -> None:
    # in a fresh process: set before Prefect loads its settings, which it hands to the
    # temporary server and to Dask workers (whose own temporary servers read them)
    code = (
        "import sys, matloop.cli\n"
        "assert 'prefect' not in sys.modules  # the commands can still set it first\n"
        "from matloop.flows_cli import _quiet_temporary_server\n"
        "_quiet_temporary_server()\n"
        "from prefect.settings import get_current_settings\n"
        "print(get_current_settings().server.analytics_enabled)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MATLOOP_"))}
    env["PREFECT_HOME"] = str(tmp_path)
    if given is not None:
        env[ANALYTICS_ENV] = given  # the user's say
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == expected


def test_serve_literature_refuses_paths_that_are_not_there(
    mongodb_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[Any] = []
    monkeypatch.setattr("flows.deployments.serve_literature", lambda *a, **kw: served.append(a))
    typo, gone = tmp_path / "papres", tmp_path / "gone" / "x.pdf"
    args = ["serve-literature", str(tmp_path), str(typo), str(gone), "--interval", "60"]
    result = CliRunner().invoke(flows_app, args, env={"MATLOOP_MONGODB_URI": mongodb_uri})
    assert result.exit_code == 1
    line = _one_error_line(" ".join(result.output.split()))
    assert line == f"error: PATHS: no such file or folder: {typo}, {gone}"
    assert served == []


@task(name="fit-surrogate")
def _fit_or_fail(data: TrainingData) -> ModelArtifact:
    """``fit_model``, except for the campaign named ``broken``."""
    if data.campaign == "broken":
        raise RuntimeError("the GP blew up")
    return fit_surrogate(data)


@pytest.fixture
def in_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """train-many on threads, with a fit that fails for ``broken`` (no Dask cluster)."""
    monkeypatch.setattr("flows.training.dask_task_runner", lambda: ThreadPoolTaskRunner())
    monkeypatch.setattr("flows.training.fit_model", _fit_or_fail)


def _measured(store: CampaignStore, dataset: PoolDataset, name: str) -> CampaignAgent:
    """A random campaign on ``dataset`` with its 10-trial initial design measured."""
    settings = CampaignSettings("random", initial=10, batch_size=4, seed=1)
    agent = CampaignAgent.from_dataset(store, name, dataset, settings)
    agent.observe(LookupOracle.from_candidates(store.candidates(name)).evaluate(agent.propose()))
    return agent


@pytest.mark.usefixtures("in_threads")
def test_train_many_prints_each_campaigns_outcome_and_names_failures(
    store: CampaignStore, photo_pce10_dataset: PoolDataset, mongodb_uri: str
) -> None:
    _measured(store, photo_pce10_dataset, "good")
    _measured(store, photo_pce10_dataset, "broken")
    CampaignAgent.from_dataset(store, "empty", photo_pce10_dataset, CampaignSettings())
    cli, env = CliRunner(), {"MATLOOP_MONGODB_URI": mongodb_uri}
    done = cli.invoke(flows_app, ["train-many", "good", "empty"], env=env)
    assert done.exit_code == 0, done.output
    lines = done.output.strip().splitlines()
    assert lines[0].startswith("empty: skipped (") and "at least 3" in done.output
    assert lines[1] == f"good: trained {ModelRecord.objects.get().version}"
    assert store.load_model(ModelRecord.objects.get().version).metrics["n_train"] == 10
    assert lines[-1] == "trained 1, skipped 1 (empty)"
    failed = cli.invoke(flows_app, ["train-many", "good", "broken"], env=env)
    assert failed.exit_code == 1
    assert "broken: failed (RuntimeError: the GP blew up)" in failed.output
    assert "good: trained " in failed.output
    assert failed.output.strip().splitlines()[-1] == "error: training failed for broken"
    unknown = cli.invoke(flows_app, ["train-many", "good", "nope"], env=env)
    assert unknown.exit_code == 1 and "no campaign named 'nope'" in unknown.output


@pytest.mark.usefixtures("in_threads")
def test_train_many_fails_its_run_naming_the_failed_campaigns(
    store: CampaignStore, photo_pce10_dataset: PoolDataset, mongodb_uri: str
) -> None:
    _measured(store, photo_pce10_dataset, "good")
    _measured(store, photo_pce10_dataset, "broken")
    flow = train_many.with_options(task_runner=ThreadPoolTaskRunner())
    state = flow(["good", "broken"], mongodb_uri, return_state=True)
    assert state.is_failed()
    assert state.message == "training failed for broken (broken: RuntimeError: the GP blew up)"
    with pytest.raises(TrainingFailed, match="training failed for broken") as raised:
        flow(["good", "broken"], mongodb_uri)
    assert set(raised.value.trained) == {"good"} and set(raised.value.failed) == {"broken"}
    ok = flow(["good"], mongodb_uri, return_state=True)
    assert ok.is_completed() and ok.message == "trained 1, skipped 0"
