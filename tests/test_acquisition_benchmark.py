"""The acquisition benchmark's bookkeeping (benchmarks/acquisition.py): journal keys, tables."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

#: sys.path as the tests found it
PATH = list(sys.path)


@pytest.fixture(scope="module")
def bench(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    """benchmarks/acquisition.py."""
    return benchmark_script("acquisition")


def jobs(
    bench: ModuleType,
    policy: bytes,
    prior: bytes | None,
    strategies: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    args = argparse.Namespace(
        sets=["snar"],
        strategies=strategies or ["botorch", "rl"],
        initial=10,
        batch=4,
        rounds=15,
        skip_composition=False,
        skip_multi=True,
        first_seed=0,
        seeds=1,
    )
    return {f"{j['task']} {j['strategy']}": j for j in bench.jobs_for(args, policy, prior)}


def test_a_retrained_model_reruns_its_campaigns_and_no_other(bench: ModuleType) -> None:
    before = jobs(bench, b"policy weights", b"prior weights")
    after = jobs(bench, b"retrained policy", b"prior weights")
    key = bench.job_key
    assert key(before["snar rl"]) != key(after["snar rl"])
    assert key(before["composition rl"]) != key(after["composition rl"])
    assert key(before["snar botorch"]) == key(after["snar botorch"])
    assert key(before["composition gp+prior"]) == key(after["composition gp+prior"])
    retrained_prior = jobs(bench, b"policy weights", b"another prior")
    assert key(before["composition gp+prior"]) != key(retrained_prior["composition gp+prior"])
    # a journal line written before the key held the model matches no rl job
    old_line = {k: v for k, v in before["snar rl"].items() if k != "model_digest"}
    assert key(old_line) != key(before["snar rl"])
    assert key({k: v for k, v in before["snar botorch"].items() if k != "model_digest"}) == key(
        before["snar botorch"]
    )


def test_the_table_names_the_policy_only_when_one_was_trained(bench: ModuleType) -> None:
    assert bench.policy_sentence({"version": None}) == ""
    trained = {
        "version": "policy:rl-policy:186b65976c28",
        "seconds": 95.4,
        "held_out_regret": 0.00359,
        "held_out_regret_ei": 0.00333,
    }
    assert "RL policy policy:rl-policy:186b65976c28: trained here in 95 s" in (
        bench.policy_sentence(trained)
    )
    digested = trained | {"weights_sha256": "0123456789abcdef" * 4}
    assert "policy:rl-policy:186b65976c28 (weights 0123456789ab): trained" in (
        bench.policy_sentence(digested)
    )


def test_a_new_release_of_a_plugin_reruns_its_campaigns(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from discovery.campaign_models import SURROGATE_PLUGIN_GROUP
    from tests.stand_ins import install_distribution

    def released(version: str) -> dict[str, dict[str, Any]]:
        site = tmp_path / version
        site.mkdir()
        entry = "mine = my_surrogates:fit"
        install_distribution(site, "my_surrogates", "", SURROGATE_PLUGIN_GROUP, entry, version)
        monkeypatch.setattr(sys, "path", [str(site), *PATH])
        return jobs(bench, b"policy weights", None, ["botorch", "mine+qucb"])

    first, second = released("0.1"), released("0.2")
    assert first["snar mine+qucb"]["plugins"] == "mine: my-surrogates 0.1"
    assert bench.job_key(first["snar mine+qucb"]) != bench.job_key(second["snar mine+qucb"])
    assert bench.job_key(first["snar botorch"]) == bench.job_key(second["snar botorch"])
    # journal lines of built-in strategies, written before plugins were in the key, match
    old_line = {k: v for k, v in first["snar botorch"].items() if k != "plugins"}
    assert bench.job_key(old_line) == bench.job_key(first["snar botorch"])


def test_the_table_names_plugins_and_leaves_out_ratios_without_botorch(
    bench: ModuleType,
) -> None:
    assert bench.plugin_sentence({}) == ""
    named = {"mine": "mine: my-surrogates 0.2", "mine+qucb": "mine: my-surrogates 0.2"}
    assert bench.plugin_sentence(named) == " Plugins: mine: my-surrogates 0.2."
    assert bench.vs_botorch(1.234) == " (1.23x)"
    assert bench.vs_botorch(float("nan")) == ""


def test_the_composition_prior_is_trained_on_materials_projects_table(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # literature_prior.train_prior takes the table itself; given a path, the run crashed
    seen: list[Any] = []

    class Trained:
        def to_bytes(self) -> bytes:
            return b"weights"

    def train(source: Any) -> tuple[Trained, float]:
        seen.append(source)
        return Trained(), 1.5

    monkeypatch.setattr(bench.LITERATURE_PRIOR, "train_prior", train)
    if not (bench.PROPERTY / "mp_bulk_modulus" / "train.csv").is_file():
        pytest.skip("the shared property data is not beside the repository")
    assert bench.train_prior() == (b"weights", {"train_seconds": 1.5})
    [source] = seen
    assert {"formula", "target"} <= set(source.columns) and len(source) > 1000
