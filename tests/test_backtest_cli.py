"""``matloop backtest``: strategies replayed on a measured table, against a real SecantusDB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from db import CampaignStore
from matloop.cli import app

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture
def table(tmp_path: Path) -> Path:
    """40 measured points of a smooth curve: its best rows lie near x = 0.7."""
    path = tmp_path / "measured.csv"
    rows = "".join(f"{i / 40},{-((i / 40 - 0.7) ** 2):.6f}\n" for i in range(40))
    path.write_text("x,y\n" + rows)
    return path


def backtest(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, ["backtest", *args])
    assert result.exit_code == code, result.output
    return result.output


SMALL = ("--seeds", "2", "--initial", "4", "--batch", "2", "--rounds", "3")


def test_strategies_are_compared_and_their_campaigns_deleted(
    cli: CliRunner, table: Path, store: CampaignStore
) -> None:
    source = ("--from-csv", str(table), "--objective", "y:max")
    said = backtest(cli, *source, *SMALL, "--strategy", "random", "--strategy", "gp", "--json")
    found = json.loads(said[said.index("{") :])  # a line on stderr says what runs first
    assert found["pool"] == 40
    first, second = found["strategies"]
    assert (first["strategy"], second["strategy"]) == ("random", "gp")  # random: named once
    assert first["seeds"] == second["seeds"] == 2
    assert [(r["strategy"], r["seed"]) for r in found["runs"]] == [
        ("random", 0), ("random", 1), ("gp", 0), ("gp", 1),
    ]  # fmt: skip
    af = {(r["strategy"], r["seed"]): r["acceleration_factor"] for r in found["runs"]}
    paired = [s for s in (0, 1) if af[("gp", s)] is not None and af[("random", s)] is not None]
    assert second["af_ratio_seeds"] == len(paired)  # seeds where both found a top row
    if paired:
        ratio = sum(af[("gp", s)] for s in paired) / sum(af[("random", s)] for s in paired)
        assert second["af_ratio"] == pytest.approx(ratio)
    assert all(r["campaign"] is None for r in found["runs"])
    assert store.campaigns() == []  # throw-away: nothing left behind
    table_said = backtest(cli, *source, *SMALL, "--strategy", "gp", "--keep")
    assert "AF / gp (n)" in " ".join(table_said.split()) and "best y: 0" in table_said
    assert "gp seed 1: EF" in table_said and "random seed 0: EF" in table_said  # as each ends
    kept = sorted(c.name for c in store.campaigns())  # random runs as a reference
    assert [name.split("-", 2)[2] for name in kept] == ["gp-s0", "gp-s1", "random-s0", "random-s1"]
    assert f"campaigns kept: {kept[0].removesuffix('-gp-s0')}-*" in table_said


def test_two_spellings_of_one_strategy_run_once(
    cli: CliRunner, table: Path, store: CampaignStore
) -> None:
    source = ("--from-csv", str(table), "--objective", "y:max", "--json")
    said = backtest(cli, *source, *SMALL, "--strategy", "gp", "--strategy", "gp+qlognei")
    assert "note: gp, gp+qlognei are one strategy, gp: run once" in said
    found = json.loads(said[said.index("{") :])
    assert [s["strategy"] for s in found["strategies"]] == ["gp", "random"]


def test_a_backtest_is_refused_before_anything_runs(
    cli: CliRunner, table: Path, store: CampaignStore
) -> None:
    source = ("--from-csv", str(table), "--objective", "y:max")
    two = table.with_name("two.csv")  # two objectives: y up, z down
    two.write_text("x,y,z\n" + "".join(f"{i / 40},{i % 7},{i % 5}\n" for i in range(40)))
    pareto = ("--from-csv", str(two), "--objective", "y:max", "--objective", "z:min")
    for args, message in (
        ((*source, "--strategy", "gp+magic"), "--strategy: "),
        # a strategy the objectives refuse, before the first strategy runs
        ((*pareto, *SMALL, "--strategy", "gp", "--strategy", "gp+qucb"), "strategy gp+qucb: "),
        ((*source, "--rounds", "20", "--batch", "2"), "--rounds: 50 experiments (10 + 20 x 2)"),
        (("--objective", "y:max"), "give exactly one of --from-csv FILE or --from-olympus DIR"),
        (("--from-csv", str(table)), "--objective NAME:max|min is required"),
        ((*source, "--from-olympus", "photo_pce10"), "give exactly one of"),
        (("--from-olympus", "photo_pce10", "--param", "x"), "--param and --composition"),
    ):
        said = " ".join(backtest(cli, *args, code=1).split())
        assert message in said, said
    assert store.campaigns() == []
