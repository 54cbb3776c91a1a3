"""Learned policies in the registry and in campaigns; the portfolio through the agent."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from agents import CampaignAgent, LookupOracle, run
from agents.api import create_app
from agents.policies import full_policy_version, load_policy, policy_planner, register_policy
from db import CampaignStore, connect, disconnect
from db.connection import SCHEMA_COLLECTION, SCHEMA_ID, UPGRADE_STEPS, database
from db.documents import CampaignDocument
from db.models import describe_model_record, list_model_records, register_model
from db.tokens import create_token
from discovery.datasets import PoolDataset
from discovery.domain import CampaignSettings, ModelArtifact
from discovery.policy import PolicyTrainingConfig, TrainedPolicy, train_policy, training_pool
from matloop.cli import app

pytestmark = pytest.mark.usefixtures("single_torch_thread")

TINY = PolicyTrainingConfig(iterations=4, tasks=2, rollouts=2, pool=40, horizon=6)
OLYMPUS = Path(__file__).resolve().parents[2] / "matloop" / "data" / "olympus" / "photo_pce10"


@pytest.fixture(scope="module")
def trained() -> TrainedPolicy:
    return train_policy(TINY)


def test_a_policy_is_registered_once_and_reads_back_the_same(
    mongodb_uri: str, trained: TrainedPolicy
) -> None:
    version = register_policy(trained)
    assert re.fullmatch(r"policy:rl-policy:[0-9a-f]{12}", version)
    assert register_policy(trained) == version
    assert [r["version"] for r in list_model_records("rl-policy")] == [version]
    policy, horizon = load_policy(version)
    assert horizon == TINY.horizon
    assert policy.to_bytes() == trained.policy.to_bytes()
    # the version names the configuration; the digest tells two trainings of it apart
    digest = describe_model_record(version)["metrics"]["weights_sha256"]
    assert digest == hashlib.sha256(policy.to_bytes()).hexdigest()


def test_a_policy_trained_on_development_pools_is_its_own_version(
    mongodb_uri: str, trained: TrainedPolicy
) -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(60, 2))
    pool = training_pool("bowl", X, -((X - 0.3) ** 2).sum(1), maximise=True)
    with_pool = train_policy(TINY, pools=[pool], pool_share=1.0)
    version = register_policy(with_pool)
    assert version != register_policy(trained)  # the same configuration, other tasks
    assert version == f"policy:rl-policy:{with_pool.tasks_digest()[:12]}"
    metrics = describe_model_record(version)["metrics"]
    assert [p["name"] for p in metrics["training_pools"]] == ["bowl"]
    assert load_policy(version)[0].to_bytes() == with_pool.policy.to_bytes()


def test_a_model_that_is_not_a_policy_is_refused(
    store: CampaignStore, photo_pce10_campaign: CampaignAgent
) -> None:
    run(photo_pce10_campaign, LookupOracle.from_candidates(store.candidates("photo-pce10")), 1)
    gp_version = store.trials("photo-pce10")[-1].model_version
    assert gp_version is not None
    with pytest.raises(ValueError, match="not an acquisition policy"):
        policy_planner(f"rl:{gp_version}")
    with pytest.raises(LookupError):
        policy_planner("rl:policy:rl-policy:000000000000")


def test_a_campaign_runs_on_a_registered_policy(
    store: CampaignStore, photo_pce10_dataset: PoolDataset, trained: TrainedPolicy
) -> None:
    version = register_policy(trained)
    short = f"rl:{version.rpartition(':')[2][:6]}"  # as a script might name it
    settings = CampaignSettings(short, initial=6, batch_size=3, seed=2)
    agent = CampaignAgent.from_dataset(store, "opv-rl", photo_pce10_dataset, settings)
    assert store.get("opv-rl").settings.strategy == f"rl:{version}"  # stored in full
    status = run(agent, LookupOracle.from_candidates(store.candidates("opv-rl")), 2)
    strategies = [t.strategy for t in store.trials("opv-rl")]
    assert strategies == ["random"] * 6 + [f"rl:{version}"] * 6
    assert status.measurements == 12


def test_the_portfolio_records_the_arm_behind_each_trial(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    settings = CampaignSettings("portfolio", initial=6, batch_size=2, seed=0)
    agent = CampaignAgent.from_dataset(store, "opv-hedge", photo_pce10_dataset, settings)
    run(agent, LookupOracle.from_candidates(store.candidates("opv-hedge")), 2)
    arms = [t.strategy for t in store.trials("opv-hedge")][6:]
    assert len(arms) == 4
    assert all(a in {"portfolio:qlognei", "portfolio:qucb", "portfolio:qsr"} for a in arms)
    assert arms[0] == arms[1] and arms[2] == arms[3]  # one arm per round


def test_a_campaign_hunting_the_top_runs_and_records_its_strategy(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    settings = CampaignSettings("gp+top+iwarp+warp", initial=6, batch_size=2, seed=0)
    agent = CampaignAgent.from_dataset(store, "opv-top", photo_pce10_dataset, settings)
    status = run(agent, LookupOracle.from_candidates(store.candidates("opv-top")), 2)
    strategies = [t.strategy for t in store.trials("opv-top")]
    assert strategies == ["random"] * 6 + ["gp+top+iwarp+warp"] * 4
    assert status.measurements == 10


def test_a_strategy_written_in_any_order_is_stored_as_its_trials_name_it(
    store: CampaignStore, photo_pce10_dataset: PoolDataset
) -> None:
    settings = CampaignSettings("gp+warp+top+iwarp", initial=6, batch_size=2, seed=0)
    agent = CampaignAgent.from_dataset(store, "opv-order", photo_pce10_dataset, settings)
    campaign = store.get("opv-order")
    assert campaign.settings.strategy == "gp+top+iwarp+warp"
    run(agent, LookupOracle.from_candidates(store.candidates("opv-order")), 2)
    query = store.trial_query(campaign, 'strategy = "gp+top+iwarp+warp"')
    guided, total = store.page_trials("opv-order", query, 100, 0)
    assert total == 4 and all(t.strategy == "gp+top+iwarp+warp" for t in guided)


def test_a_campaign_stored_with_its_strategy_as_written_is_upgraded_to_its_trials_name(
    store: CampaignStore, photo_pce10_dataset: PoolDataset, mongodb_uri: str
) -> None:
    for name in ("written", "rl", "unknown"):
        CampaignAgent.from_dataset(store, name, photo_pce10_dataset, CampaignSettings("gp"))
    stored_as = {"written": "gp+warp+qlognei+iwarp", "rl": "rl:policy:x", "unknown": "gp+magic+x"}
    campaigns = CampaignDocument._get_collection()
    for name, strategy in stored_as.items():  # as stored before 2026-12-07
        campaigns.update_one({"name": name}, {"$set": {"settings.strategy": strategy}})
    (step,) = [s for s in UPGRADE_STEPS if s.target.endswith(":canonical_campaign_strategies")]
    meta = database()[SCHEMA_COLLECTION]
    meta.update_one({"_id": SCHEMA_ID}, {"$set": {"version": step.version - 1}})
    connect(mongodb_uri)  # a new process runs the step
    upgraded = {name: store.get(name).settings.strategy for name in stored_as}
    assert upgraded == {"written": "gp+iwarp+warp", "rl": "rl:policy:x", "unknown": "gp+magic+x"}


def test_the_command_line_trains_a_policy_and_a_campaign_uses_it(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    cli = CliRunner()
    trained = cli.invoke(
        app, ["model", "train-policy", "--iterations", "3", "--horizon", "5", "--seed", "1"]
    )
    assert trained.exit_code == 0, trained.output
    version = re.search(r"registered (\S+)", trained.output)
    assert version is not None
    strategy, digest = f"rl:{version.group(1)}", version.group(1).rpartition(":")[2]
    disconnect()  # each command is a fresh process: it must connect before reading the policy
    create = ["campaign", "create", "opv", "--from-olympus", str(OLYMPUS), "--initial", "5"]
    made = cli.invoke(app, [*create, "--acquisition", f"rl:{digest[:6]}"])  # its hash's start
    assert made.exit_code == 0, made.output
    assert CampaignStore().get("opv").settings.strategy == strategy  # stored in full
    ran = cli.invoke(app, ["campaign", "run", "opv", "--rounds", "1"])
    assert ran.exit_code == 0, ran.output
    switch = ["--acquisition", f"rl:rl-policy:{digest}"]
    again = cli.invoke(app, ["campaign", "run", "opv", "--rounds", "2", *switch])
    assert again.exit_code == 0, again.output
    trials = CampaignStore().trials("opv")
    assert [t.strategy for t in trials][-8:] == [strategy] * 8


def test_a_policy_is_named_by_its_hash_or_its_start_while_that_is_one_policy_s(
    mongodb_uri: str,
) -> None:
    for digest in ("abcd12000000", "abcd34000000"):
        artifact = ModelArtifact("rl-policy", digest[:4] * 16, {}, b"w")
        register_model(artifact, f"policy:rl-policy:{digest}")
    assert full_policy_version("abcd12") == "policy:rl-policy:abcd12000000"
    assert full_policy_version("rl-policy:ABCD34000000") == "policy:rl-policy:abcd34000000"
    with pytest.raises(LookupError, match=r"'abcd' is the start of 2 policies' versions"):
        full_policy_version("abcd")
    with pytest.raises(LookupError, match="no model version 'abc': see `matloop model list"):
        full_policy_version("abc")  # too short to name one
    with pytest.raises(LookupError, match="no model version 'ffff12'"):
        full_policy_version("ffff12")


def test_an_unknown_acquisition_is_refused_by_name(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    cli = CliRunner()
    create = ["campaign", "create", "opv", "--from-olympus", str(OLYMPUS)]
    disconnect()
    for acquisition, message in (("qfancy", "unknown strategy"), ("rl:nope", "no model version")):
        result = cli.invoke(app, [*create, "--acquisition", acquisition])
        assert result.exit_code != 0
        assert "--acquisition" in result.output and message in result.output
    assert CampaignStore().campaigns() == []


def test_an_open_space_campaign_on_a_policy_is_refused_when_created(
    photo_pce10_campaign: CampaignAgent, trained: TrainedPolicy
) -> None:
    from fastapi.testclient import TestClient

    from agents.api import create_app
    from db.tokens import create_token

    secret, _ = create_token("admin-rl", "admin")
    admin = {"Authorization": f"Bearer {secret}"}
    strategy = f"rl:{register_policy(trained)}"
    body = {
        "name": "open-rl",
        "space": {"parameters": [{"name": "x", "type": "continuous", "lower": 0, "upper": 1}]},
        "objectives": [{"name": "f", "direction": "max"}],
        "settings": {"strategy": strategy, "initial": 2, "batch_size": 1},
    }
    with TestClient(create_app()) as api:
        refused = api.post("/api/v1/campaigns", json=body, headers=admin)
        assert refused.status_code == 422, refused.text
        assert "settings.strategy" in refused.text and "open space" in refused.text
        pool = body | {"candidates": [{"x": 0.2}, {"x": 0.7}]}
        assert api.post("/api/v1/campaigns", json=pool, headers=admin).status_code == 201
    assert [c.name for c in CampaignStore().campaigns()] == ["photo-pce10", "open-rl"]


def test_switching_acquisition_for_some_rounds_keeps_the_surrogate_and_flags(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    cli = CliRunner()
    disconnect()
    create = ["campaign", "create", "opv", "--from-olympus", str(OLYMPUS), "--initial", "4"]
    top = [*create, "--strategy", "gp+top+iwarp+warp+endgame", "--batch", "2", "--budget", "40"]
    assert cli.invoke(app, top).exit_code == 0
    ran = cli.invoke(app, ["campaign", "run", "opv", "--rounds", "2", "--acquisition", "qucb"])
    assert ran.exit_code == 0, ran.output
    said = " ".join(ran.output.split())
    assert "choose with gp+qucb+iwarp+warp instead of gp+top+iwarp+warp+endgame" in said
    trials = CampaignStore().trials("opv")
    assert [t.strategy for t in trials] == ["random"] * 4 + ["gp+qucb+iwarp+warp"] * 4


@pytest.mark.parametrize(
    ("strategy", "acquisition"),
    [
        ("random", "portfolio"),
        ("gp", "portfolio"),  # typed, not the default: it would be dropped
        ("bayesgp+top", "rl:policy:rl-policy:000000000000"),
        ("botorch", "qucb"),
        ("gp+top+endgame", "qucb"),
    ],
)
def test_a_created_strategy_is_never_silently_replaced(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch, strategy: str, acquisition: str
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    create = ["campaign", "create", "opv", "--from-olympus", str(OLYMPUS)]
    refused = CliRunner().invoke(
        app, [*create, "--strategy", strategy, "--acquisition", acquisition]
    )
    assert refused.exit_code != 0
    assert f"--acquisition {acquisition}" in refused.output
    assert f"--strategy {strategy}" in refused.output
    assert CampaignStore().campaigns() == []


def test_policy_training_settings_are_checked_before_training(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    with pytest.raises(ValueError, match=r"horizon: at most 195 "):
        PolicyTrainingConfig(horizon=196)
    cli = CliRunner()
    for option, value, said in (
        ("--horizon", "196", "error: --horizon:"),
        ("--seed", str(2**70), "Invalid value for '--seed'"),  # bounded as every seed is
        ("--iterations", "0", "error: --iterations:"),
    ):
        refused = cli.invoke(app, ["model", "train-policy", option, value])
        assert refused.exit_code != 0
        assert said in " ".join(refused.output.split()), refused.output


def test_training_a_registered_policy_again_reports_the_stored_one(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    disconnect()
    cli = CliRunner()
    command = ["model", "train-policy", "--iterations", "2", "--horizon", "4", "--seed", "5"]
    first = cli.invoke(app, command)
    assert first.exit_code == 0, first.output
    assert "held-out regret" in first.output and "expected improvement's" in first.output

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained again")

    monkeypatch.setattr("discovery.policy.train_policy", never)
    again = cli.invoke(app, command)
    assert again.exit_code == 0, again.output
    version = re.search(r"registered (\S+) \(trained", first.output)
    assert version is not None
    assert f"already registered {version.group(1)} (same settings" in again.output


def test_the_command_line_trains_a_policy_on_measured_data_sets_too(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    disconnect()
    rng = np.random.default_rng(0)
    table = tmp_path / "furnace.csv"
    x = rng.uniform(size=(40, 2))
    table.write_text("a,b,loss\n" + "".join(f"{a},{b},{(a - 0.3) ** 2 + b}\n" for a, b in x))
    cli = CliRunner()
    command = ["model", "train-policy", "--iterations", "2", "--horizon", "4", "--seed", "5"]
    pools = ["--pool", "photo_pce10", "--pool", f"{table}:loss:min"]  # a shipped set, a CSV
    trained = cli.invoke(app, [*command, *pools])
    assert trained.exit_code == 0, trained.output
    version = re.search(r"registered (\S+) \(trained", trained.output)
    assert version is not None
    metrics = describe_model_record(version.group(1))["metrics"]
    assert [p["name"] for p in metrics["training_pools"]] == ["photo_pce10", "furnace"]
    assert metrics["training_pools"][1]["rows"] == 40
    alone = cli.invoke(app, command)  # GP samples only: another policy
    assert alone.exit_code == 0 and version.group(1) not in alone.output
    again = cli.invoke(app, [*command, *pools])
    assert f"already registered {version.group(1)} (same settings" in again.output
    shared = cli.invoke(app, [*command, *pools, "--pool-share", "1"])  # other tasks
    assert shared.exit_code == 0 and version.group(1) not in shared.output
    unused = cli.invoke(app, [*command, "--pool-share", "0.3"])
    assert unused.exit_code != 0 and "error: --pool-share: " in unused.output


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("{table}", "a file needs the objective after it, as FILE.csv:NAME:max|min"),
        ("{table}:loss:up", "'loss:up': the direction must be max or min"),
        ("{table}:gain:max", "gain"),
        ("{missing}:loss:max", "no such file"),
        ("{tmp}", "config.json"),  # a folder, but no Olympus set
        ("no-such-set", "does not exist, and no set of that name is shipped"),
        ("{small}:loss:max", "6 rows, fewer than a training episode measures (5 initial + 4"),
    ],
)
def test_a_training_pool_the_command_line_cannot_use_is_refused_by_name(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spec: str, problem: str
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    table, small = tmp_path / "t.csv", tmp_path / "small.csv"
    table.write_text("a,loss\n" + "".join(f"{i},{i * i % 7}\n" for i in range(30)))
    small.write_text("a,loss\n" + "".join(f"{i},{i * i % 7}\n" for i in range(6)))
    given = spec.format(table=table, small=small, missing=tmp_path / "none.csv", tmp=tmp_path)
    command = ["model", "train-policy", "--iterations", "2", "--horizon", "4", "--pool", given]
    refused = CliRunner().invoke(app, command)
    assert refused.exit_code != 0
    assert f"error: --pool {given!r}: " in " ".join(refused.output.split()), refused.output
    assert problem in " ".join(refused.output.split()), refused.output
    assert list_model_records("rl-policy") == []


def test_the_api_stores_a_shortened_policy_in_full(
    mongodb_uri: str, trained: TrainedPolicy
) -> None:
    version = register_policy(trained)
    secret, _ = create_token("boss", "admin")
    body = {
        "name": "rl-api",
        "space": {"parameters": [{"name": "x", "type": "continuous", "lower": 0, "upper": 1}]},
        "objectives": [{"name": "y", "direction": "max"}],
        "candidates": [{"x": x / 10} for x in range(10)],
        "settings": {"strategy": f"rl:{version.rpartition(':')[2][:5]}", "initial": 2},
    }
    with TestClient(create_app()) as api:
        auth = {"Authorization": f"Bearer {secret}"}
        created = api.post("/api/v1/campaigns", json=body, headers=auth)
        assert created.status_code == 201, created.text
        unknown = body | {"name": "rl-bad", "settings": {"strategy": "rl:ffff0"}}
        refused = api.post("/api/v1/campaigns", json=unknown, headers=auth)
    assert CampaignStore().get("rl-api").settings.strategy == f"rl:{version}"
    assert refused.status_code == 422
    assert "settings.strategy: no model version 'ffff0'" in refused.text
