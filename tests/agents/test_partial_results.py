"""A trial measured by several instruments: partial results and lease hand-offs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import db.campaigns
from agents import CampaignAgent
from agents.api import create_app
from db import CampaignStore
from db.lineage import lineage_of_measurement
from db.tokens import create_token
from discovery.datasets import load_csv
from discovery.domain import Direction, Measurement, OutcomeConstraint, TrialStatus
from matloop.cli import app

GAP = OutcomeConstraint("gap", 1.1, 1.7, "eV")


@pytest.fixture
def agent(store: CampaignStore, tmp_path: Path) -> CampaignAgent:
    """A pool campaign with two outcomes: efficiency (a robot's) and gap (UV-Vis's)."""
    axis = np.linspace(0.0, 1.0, 6)
    x, z = (a.ravel() for a in np.meshgrid(axis, axis))
    path = tmp_path / "absorbers.csv"
    pd.DataFrame({"x": x, "z": z, "efficiency": x + 0.2 * z, "gap": 0.5 + 1.5 * z}).to_csv(
        path, index=False
    )
    columns = [("efficiency", Direction.MAXIMIZE), ("gap", Direction.MAXIMIZE)]
    return CampaignAgent.from_dataset(store, "pv", load_csv(path, columns), constraints=[GAP])


def part(trial_id: str | None, key: str, source: str, **values: float) -> Measurement:
    return Measurement(trial_id or "", values, key, source, partial=True)


def test_parts_from_two_instruments_complete_the_trial_with_both(agent: CampaignAgent) -> None:
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    assert agent.observe([part(trial.id, "r1", "robot", efficiency=0.4)]).stored == 1
    stored = agent.store.trial(agent.name, trial.id or "")
    assert stored.status is TrialStatus.RUNNING and stored.partly_measured
    assert [p.values for p in stored.parts] == [{"efficiency": 0.4}]
    assert agent.status().measurements == 0  # no result until every outcome is in
    with pytest.raises(ValueError, match="leased to 'robot'; a result from 'uvvis'"):
        agent.observe([part(trial.id, "u1", "uvvis", gap=1.3)])
    agent.hand_off(trial.id or "", "robot", "uvvis")
    assert agent.observe([part(trial.id, "u1", "uvvis", gap=1.3)]).stored == 1
    done = agent.store.trial(agent.name, trial.id or "")
    assert done.status is TrialStatus.COMPLETED and not done.partly_measured
    assert [p.source for p in done.parts] == ["robot", "uvvis"]
    [result] = agent.store.measurements(agent.name)
    assert result.values == {"efficiency": 0.4, "gap": 1.3}
    assert (result.idempotency_key, result.source) == ("u1", "uvvis")
    assert agent.status().feasible == 1


def test_a_part_sent_again_is_a_repeat_before_and_after_the_trial_completes(
    agent: CampaignAgent,
) -> None:
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    first = part(trial.id, "r1", "robot", efficiency=0.4)
    assert agent.observe([first]).stored == 1
    assert (agent.observe([first]).stored, agent.observe([first]).duplicates) == (0, 1)
    with pytest.raises(ValueError, match="'r1' was already used for a different result"):
        agent.observe([part(trial.id, "r1", "robot", efficiency=0.5)])
    last = part(trial.id, "r2", "robot", gap=1.2)
    assert agent.observe([last]).stored == 1
    assert agent.observe([first, last]).duplicates == 2  # both, once it completed
    assert len(agent.store.measurements(agent.name)) == 1


def test_a_part_may_not_give_an_outcome_twice_nor_a_whole_result_follow_parts(
    agent: CampaignAgent,
) -> None:
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    agent.observe([part(trial.id, "r1", "robot", efficiency=0.4)])
    with pytest.raises(ValueError, match=r"has efficiency already \(from robot\)"):
        agent.observe([part(trial.id, "r2", "robot", efficiency=0.5, gap=1.2)])
    whole = Measurement(trial.id or "", {"efficiency": 0.5, "gap": 1.2}, "w", "robot")
    with pytest.raises(ValueError, match="is partly measured \\(efficiency from robot\\)"):
        agent.observe([whole])
    twice = [part(trial.id, "a", "robot", gap=1.2), part(trial.id, "b", "robot", gap=1.3)]
    with pytest.raises(ValueError, match="has gap already \\(earlier in this report\\)"):
        agent.observe(twice)
    assert len(agent.store.trial(agent.name, trial.id or "").parts) == 1  # nothing written


def test_one_report_may_carry_every_part_of_a_trial(agent: CampaignAgent) -> None:
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    whole = Measurement(trial.id or "", {"efficiency": 0.5, "gap": 1.2}, "w", "robot")
    with pytest.raises(ValueError, match="a whole and a partial result for trial"):
        agent.observe([whole, part(trial.id, "a", "robot", gap=1.2)])
    both = [part(trial.id, "a", "robot", gap=1.2), part(trial.id, "b", "robot", efficiency=0.3)]
    assert agent.observe(both).stored == 2
    [result] = agent.store.measurements(agent.name)
    assert result.values == {"gap": 1.2, "efficiency": 0.3} and result.idempotency_key == "b"


def test_a_part_needs_a_lease_and_an_unknown_or_empty_part_is_refused(
    agent: CampaignAgent,
) -> None:
    [waiting] = agent.propose(1)
    with pytest.raises(ValueError, match="is proposed; a partial result needs a lease"):
        agent.observe([part(waiting.id, "k", "robot", gap=1.2)])
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    with pytest.raises(ValueError, match=r"unknown outcome\(s\) \['Gap'\]"):
        agent.observe([part(trial.id, "k", "robot", Gap=1.2)])
    with pytest.raises(ValueError, match="a partial result gives at least one"):
        agent.observe([part(trial.id, "k", "robot")])


def test_a_partly_measured_trial_is_not_handed_out_again_when_its_lease_runs_out(
    agent: CampaignAgent,
) -> None:
    made, untouched = agent.claim("robot", count=2, lease_seconds=0.2)
    agent.observe([part(made.id, "r1", "robot", efficiency=0.4)])
    time.sleep(0.4)
    assert agent.status().expired == 1  # the untouched one only: the next claim frees it
    again = agent.claim("robot-2", count=5, lease_seconds=600)
    assert untouched.id in {t.id for t in again} and made.id not in {t.id for t in again}
    kept = agent.store.trial(agent.name, made.id or "")
    assert kept.status is TrialStatus.RUNNING and kept.claimed_by == "robot"
    agent.hand_off(made.id or "", None, "uvvis")  # an operator moves it on
    agent.observe([part(made.id, "u1", "uvvis", gap=1.3)])
    assert agent.store.trial(agent.name, made.id or "").status is TrialStatus.COMPLETED


def test_only_the_holder_or_an_operator_hands_a_running_trial_over(agent: CampaignAgent) -> None:
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    with pytest.raises(ValueError, match=r"instrument: .* leased to 'robot', not to 'xrd'"):
        agent.hand_off(trial.id or "", "xrd", "uvvis")
    moved = agent.hand_off(trial.id or "", "robot", "xrd", lease_seconds=30)
    assert moved.claimed_by == "xrd" and moved.lease_expires_at is not None
    assert agent.hand_off(trial.id or "", "robot", "xrd").claimed_by == "xrd"  # a retry
    with pytest.raises(ValueError, match="leased to 'xrd'"):
        agent.heartbeat(trial.id or "", "robot")
    waiting = next(t for t in agent.store.trials(agent.name) if t.status.value == "proposed")
    with pytest.raises(ValueError, match="is proposed; only a running trial is handed on"):
        agent.hand_off(waiting.id or "", None, "xrd")


@pytest.fixture
def api(agent: CampaignAgent) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def _auth(role: str, instrument: str | None = None) -> dict[str, str]:
    campaigns = ["pv"] if role == "instrument" else None
    secret, _ = create_token(f"{role}-{time.monotonic_ns()}", role, campaigns, instrument)
    return {"Authorization": f"Bearer {secret}"}


def test_robot_then_uvvis_through_the_api(api: TestClient) -> None:
    robot, uvvis = _auth("instrument", "robot-1"), _auth("instrument", "uvvis-1")
    base = "/api/v1/campaigns/pv"
    [trial] = api.post(f"{base}/claims", json={"count": 1}, headers=robot).json()["trials"]
    assert trial["parts"] == []
    first = {"trial_id": trial["id"], "values": {"efficiency": 0.4}, "partial": True}
    answer = api.post(f"{base}/results", json=first, headers=robot)
    assert answer.status_code == 200
    assert answer.json() == {"stored": 1, "duplicates": 0, "completed": 0}  # gap to come
    shown = api.get(f"{base}/trials/{trial['id']}", headers=robot).json()
    [stored] = shown["parts"]
    assert stored["values"] == {"efficiency": 0.4} and stored["source"] == "robot-1"
    assert stored["idempotency_key"] == f"robot-1:{trial['id']}:efficiency"
    rest = {"trial_id": trial["id"], "values": {"gap": 1.25}, "partial": True}
    refused = api.post(f"{base}/results", json=rest, headers=uvvis)
    assert refused.status_code == 409 and "leased to 'robot-1'" in refused.text
    page = api.get("/dashboard/campaigns/pv", headers=robot).text
    row = next(r for r in page.split("<tr>") if trial["id"] in r)
    assert "partly measured" in row and '<td class="n">0.4</td><td class="n">—</td>' in row
    handoff = f"{base}/trials/{trial['id']}/handoff"
    stolen = api.post(handoff, json={"to": "uvvis-1"}, headers=uvvis)
    assert stolen.status_code == 409 and "not to 'uvvis-1'" in stolen.text
    moved = api.post(handoff, json={"to": "uvvis-1", "lease_seconds": 60}, headers=robot)
    assert moved.status_code == 200 and moved.json()["claimed_by"] == "uvvis-1"
    assert api.post(f"{base}/results", json=rest, headers=uvvis).json()["stored"] == 1
    [result] = api.get(f"{base}/measurements", headers=robot).json()["data"]
    assert result["values"] == {"efficiency": 0.4, "gap": 1.25} and "partial" not in result
    done = api.get(f"{base}/trials/{trial['id']}", headers=robot).json()
    assert done["status"] == "completed" and len(done["parts"]) == 2
    assert api.post(f"{base}/results", json=first, headers=robot).json()["duplicates"] == 1


def test_a_handoff_names_its_fields_when_wrong(api: TestClient) -> None:
    admin, unbound = _auth("admin"), _auth("instrument")
    base = "/api/v1/campaigns/pv"
    [trial] = api.post(
        f"{base}/claims", json={"count": 1, "instrument": "robot-1"}, headers=admin
    ).json()["trials"]
    handoff = f"{base}/trials/{trial['id']}/handoff"
    missing = api.post(handoff, json={}, headers=admin)
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "to"]
    nameless = api.post(handoff, json={"to": "xrd-1"}, headers=unbound)
    assert nameless.status_code == 422 and "instrument: required" in nameless.text
    by_operator = api.post(handoff, json={"to": "xrd-1"}, headers=admin)  # whoever holds it
    assert by_operator.status_code == 200 and by_operator.json()["claimed_by"] == "xrd-1"


def test_parts_sent_at_once_are_all_kept_and_complete_the_trial_once(
    agent: CampaignAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    trials = agent.claim("robot", count=3, lease_seconds=600)
    add, record = db.campaigns._add_parts, CampaignStore.record
    first_writes: set[int] = set()
    records: list[int] = []

    def after_both_read(*args: Any, **kwargs: Any) -> bool:
        if threading.get_ident() not in first_writes:  # each thread's first write waits
            first_writes.add(threading.get_ident())
            both_read.wait()
        return add(*args, **kwargs)

    def counted(*args: Any, **kwargs: Any) -> Any:
        records.append(threading.get_ident())
        return record(*args, **kwargs)

    monkeypatch.setattr("db.campaigns._add_parts", after_both_read)
    monkeypatch.setattr(CampaignStore, "record", counted)
    errors: list[BaseException] = []
    for trial in trials:
        both_read, first_writes = threading.Barrier(2, timeout=30), set()

        def send(values: dict[str, float], trial_id: str = trial.id or "") -> None:
            try:  # a fresh agent: each reporter reads the campaign for itself
                CampaignAgent(agent.store, agent.name).observe(
                    [Measurement(trial_id, values, f"{trial_id}:{values}", "robot", partial=True)]
                )
            except BaseException as error:
                errors.append(error)

        threads = [
            threading.Thread(target=send, args=({"efficiency": 0.4},)),
            threading.Thread(target=send, args=({"gap": 1.3},)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        done = agent.store.trial(agent.name, trial.id or "")
        assert done.status is TrialStatus.COMPLETED and len(done.parts) == 2
    assert len(records) > 2 * len(trials)  # the part that lost the race was read again
    results = agent.store.measurements(agent.name)
    assert sorted(r.trial_id for r in results) == sorted(t.id or "" for t in trials)
    assert all(r.values == {"efficiency": 0.4, "gap": 1.3} for r in results)


def test_the_command_line_reports_parts_and_hands_a_trial_on(
    agent: CampaignAgent, cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    made, other = agent.claim("robot", count=2, lease_seconds=600)
    observe = ["campaign", "observe", "pv", "--partial"]
    robot = [*observe, "--source", "robot", "--trial", made.id, "--value", "efficiency=0.4"]
    first = cli.invoke(app, robot)
    assert first.exit_code == 0 and "stored 1" in first.output, first.output
    again = cli.invoke(app, robot)
    assert "already stored 1" in again.output  # its default key names the outcome
    refused = cli.invoke(app, ["campaign", "handoff", "pv", made.id, "--to", "uvvis", "--as", "x"])
    assert refused.exit_code != 0 and "not to 'x'" in refused.output
    moved = cli.invoke(app, ["campaign", "handoff", "pv", made.id, "--to", "uvvis"])
    assert moved.exit_code == 0 and f"trial {made.id} leased to uvvis until" in moved.output
    rows = tmp_path / "uvvis.csv"
    rows.write_text(f"trial_id,gap\n{made.id},1.3\n{other.id},1.2\n")
    lost = cli.invoke(app, [*observe, "--from-file", str(rows), "--source", "uvvis"])
    assert lost.exit_code != 0 and "data row 2: source: trial" in lost.output  # robot holds it
    rows.write_text(f"trial_id,gap\n{made.id},1.3\n")
    done = cli.invoke(app, [*observe, "--from-file", str(rows), "--source", "uvvis"])
    assert done.exit_code == 0, done.output
    [result] = agent.store.measurements(agent.name)
    assert result.values == {"efficiency": 0.4, "gap": 1.3}
    # the robot's sheet: a blank cell is an outcome not given, a trial may have two rows
    rows.write_text(f"trial_id,efficiency,gap\n{other.id},0.2,\n{other.id},,1200\n")
    sheet = [*observe, "--from-file", str(rows), "--source", "robot", "--unit", "gap=meV"]
    assert cli.invoke(app, sheet).exit_code == 0
    second = agent.store.measurements(agent.name)[1]
    assert second.values == {"efficiency": 0.2, "gap": pytest.approx(1.2)}


def test_a_part_labels_only_its_own_values_and_converts_them(agent: CampaignAgent) -> None:
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    stray = part(trial.id, "r1", "robot", efficiency=0.4)
    with pytest.raises(ValueError, match=r"units\.gap: this result gives no gap"):
        agent.observe([replace(stray, units={"gap": "meV"})])  # it would label UV-Vis's gap
    agent.observe([stray])
    in_mev = replace(part(trial.id, "r2", "robot", gap=1300.0), units={"gap": "meV"})
    agent.observe([in_mev])
    [result] = agent.store.measurements(agent.name)
    assert result.values == {"efficiency": 0.4, "gap": pytest.approx(1.3)}
    assert result.units == {"gap": "eV"} and result.reported["gap"]["unit"] == "meV"


def test_a_part_key_is_the_campaigns_like_a_results(agent: CampaignAgent) -> None:
    first, second = agent.claim("robot", count=2, lease_seconds=600)
    agent.observe([part(first.id, "k", "robot", efficiency=0.4)])
    with pytest.raises(ValueError, match="'k' was already used for a different result"):
        agent.observe([part(second.id, "k", "robot", efficiency=0.4)])  # another trial's key
    whole = Measurement(second.id or "", {"efficiency": 0.4, "gap": 1.2}, "k", "robot")
    with pytest.raises(ValueError, match="'k' was already used for a different result"):
        agent.observe([whole])


def test_closing_keeps_a_partly_measured_trial_whose_lease_ran_out(agent: CampaignAgent) -> None:
    made, idle = agent.claim("robot", count=2, lease_seconds=0.2)
    agent.observe([part(made.id, "r1", "robot", efficiency=0.4)])
    time.sleep(0.4)
    agent.close()
    assert agent.store.trial(agent.name, idle.id or "").status is TrialStatus.ABANDONED
    kept = agent.store.trial(agent.name, made.id or "")
    assert kept.status is TrialStatus.RUNNING and kept.partly_measured
    agent.observe([part(made.id, "r2", "robot", gap=1.2)])  # its last outcome still counts
    assert agent.store.trial(agent.name, made.id or "").status is TrialStatus.COMPLETED


def test_a_whole_result_racing_a_part_is_refused_not_stored_beside_it(
    agent: CampaignAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    checked = CampaignAgent._check

    def part_lands_meanwhile(self: CampaignAgent, *args: Any, **kwargs: Any) -> None:
        checked(self, *args, **kwargs)  # the whole result read the trial without parts...
        monkeypatch.setattr(CampaignAgent, "_check", checked)
        self.observe([part(trial.id, "p", "robot", gap=1.2)])  # ...then a part is stored

    monkeypatch.setattr(CampaignAgent, "_check", part_lands_meanwhile)
    whole = Measurement(trial.id or "", {"efficiency": 0.5, "gap": 1.6}, "w", "robot")
    with pytest.raises(ValueError, match="is partly measured"):  # read again, then refused
        agent.observe([whole])
    stored = agent.store.trial(agent.name, trial.id or "")
    assert stored.status is TrialStatus.RUNNING and [p.values for p in stored.parts] == [
        {"gap": 1.2}
    ]
    assert agent.store.measurements(agent.name) == []


def test_lineage_finds_a_trial_by_any_parts_key_and_names_every_part(
    agent: CampaignAgent,
) -> None:
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    agent.observe([part(trial.id, "r1", "robot", efficiency=0.4)])
    agent.hand_off(trial.id or "", "robot", "uvvis")
    agent.observe([part(trial.id, "u1", "uvvis", gap=1.3)])
    for key in ("r1", "u1"):
        found = lineage_of_measurement("pv", key)
        assert found["trial"]["id"] == trial.id
        assert [(p["source"], p["values"]) for p in found["trial"]["parts"]] == [
            ("robot", {"efficiency": 0.4}),
            ("uvvis", {"gap": 1.3}),
        ]
        assert "partial" not in found["measurements"][0]


def test_a_part_alone_triggers_no_retraining(agent: CampaignAgent) -> None:
    told: list[tuple[str, int]] = []
    token, _ = create_token(f"robot-{time.monotonic_ns()}", "instrument", ["pv"], "robot-1")
    robot = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(on_results=lambda name, n: told.append((name, n)))) as api:
        [trial] = api.post("/api/v1/campaigns/pv/claims", json={"count": 1}, headers=robot).json()[
            "trials"
        ]
        for values in ({"efficiency": 0.4}, {"gap": 1.3}):
            body = {"trial_id": trial["id"], "values": values, "partial": True}
            assert api.post("/api/v1/campaigns/pv/results", json=body, headers=robot).is_success
    assert told == [("pv", 1)]  # once: when the last part completed the trial


def test_a_handoff_to_a_bound_instrument_takes_its_tokens_spelling(api: TestClient) -> None:
    robot, uvvis = _auth("instrument", "robot-1"), _auth("instrument", "uvvis-1")
    base = "/api/v1/campaigns/pv"
    [trial] = api.post(f"{base}/claims", json={"count": 1}, headers=robot).json()["trials"]
    handoff = f"{base}/trials/{trial['id']}/handoff"
    moved = api.post(handoff, json={"to": "UVVIS-1"}, headers=robot)
    assert moved.status_code == 200 and moved.json()["claimed_by"] == "uvvis-1"
    beat = api.post(f"{base}/trials/{trial['id']}/heartbeat", json={}, headers=uvvis)
    assert beat.status_code == 200, beat.text


def test_a_trial_handed_on_is_kept_past_its_lease_and_counted_as_stalled(
    agent: CampaignAgent, api: TestClient
) -> None:
    made, idle = agent.claim("robot", count=2, lease_seconds=600)
    agent.hand_off(made.id or "", "robot", "xrd", lease_seconds=0.2)  # no part: a sample
    agent.heartbeat(idle.id or "", "robot", 0.2)
    time.sleep(0.4)
    status = agent.status()
    assert (status.expired, status.stalled) == (1, 1)
    again = agent.claim("robot-2", count=5, lease_seconds=600)
    assert idle.id in {t.id for t in again} and made.id not in {t.id for t in again}
    kept = agent.store.trial(agent.name, made.id or "")
    assert kept.claimed_by == "xrd" and kept.sample_made
    [handoff] = kept.handoffs
    assert (handoff.holder, handoff.to, handoff.operator) == ("robot", "xrd", False)
    admin = _auth("admin")
    shown = api.get("/api/v1/campaigns/pv", headers=admin).json()
    assert (shown["expired_leases"], shown["stalled"]) == (0, 1)
    stuck = api.get(
        "/api/v1/campaigns/pv/trials",
        params={"filter": f'status="running" AND lease_expires_at < "{datetime.now(UTC)}"'},
        headers=admin,
    ).json()["data"]
    assert [t["id"] for t in stuck] == [made.id] and stuck[0]["handoffs"][0]["to"] == "xrd"
    page = api.get("/dashboard/campaigns/pv", headers=admin).text
    assert "1 stalled trial" in page and 'class="pill stalled"' in page


def test_a_handoff_retried_after_the_trial_moved_on_is_still_done(agent: CampaignAgent) -> None:
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    agent.hand_off(trial.id or "", "robot", "xrd")
    agent.hand_off(trial.id or "", "xrd", "uvvis")
    assert agent.hand_off(trial.id or "", "robot", "xrd").claimed_by == "uvvis"  # lost answer
    with pytest.raises(ValueError, match="robot handed it on: report a part before"):
        agent.observe([part(trial.id, "late", "robot", efficiency=0.3)])
    agent.observe([part(trial.id, "u", "uvvis", efficiency=0.3, gap=1.2)])
    assert agent.hand_off(trial.id or "", "xrd", "uvvis").status is TrialStatus.COMPLETED
    with pytest.raises(ValueError, match="is completed; only a running trial is handed on"):
        agent.hand_off(trial.id or "", "xrd", "robot")  # not asked before: refused


def test_a_result_without_partial_on_a_partly_measured_trial_says_so(
    agent: CampaignAgent,
) -> None:
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    agent.observe([part(trial.id, "r1", "robot", efficiency=0.4)])
    rest = Measurement(trial.id or "", {"gap": 1.2}, "g", "robot")  # "partial" forgotten
    with pytest.raises(ValueError, match=r"is partly measured \(efficiency from robot\)"):
        agent.observe([rest])


def test_lineage_text_names_each_part_and_hand_off(
    agent: CampaignAgent, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    agent.observe([part(trial.id, "r1", "robot", efficiency=0.4)])
    agent.hand_off(trial.id or "", "robot", "uvvis")
    waiting = cli.invoke(app, ["lineage", "measurement", "pv", "r1"])
    assert "measurement: none yet (not every outcome is in)" in waiting.output, waiting.output
    in_mev = replace(part(trial.id, "u1", "uvvis", gap=1300.0), units={"gap": "meV"})
    agent.observe([in_mev])
    said = cli.invoke(app, ["lineage", "measurement", "pv", "u1"]).output
    assert "handed from robot to uvvis, " in said
    assert "part: efficiency=0.4 (source robot, key r1" in said
    assert "part: gap=1.3 eV (sent as 1300 meV) (source uvvis, key u1" in said  # converted
    assert "measurement: efficiency=0.4, gap=1.3 eV (sent as 1300 meV) (source uvvis" in said


def test_a_sample_sent_back_and_forth_is_handed_on_each_time(agent: CampaignAgent) -> None:
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    for holder, to in [("robot", "xrd"), ("xrd", "robot"), ("robot", "xrd")]:  # anneal, again
        assert agent.hand_off(trial.id or "", holder, to).claimed_by == to
    assert len(agent.hand_off(trial.id or "", "xrd", "xrd").handoffs) == 3  # nothing moved
    with pytest.raises(ValueError, match="not to 'uvvis'"):  # its holder's to give, or none
        agent.hand_off(trial.id or "", "uvvis", "xrd")
    agent.hand_off(trial.id or "", None, "uvvis")  # an operator's
    agent.hand_off(trial.id or "", "uvvis", "xrd")
    assert agent.hand_off(trial.id or "", None, "uvvis").claimed_by == "uvvis"  # not a retry


def test_the_command_line_hands_on_to_a_bound_instruments_spelling_and_says_where(
    agent: CampaignAgent, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    create_token(f"uv-{time.monotonic_ns()}", "instrument", ["pv"], "uvvis-1")
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    moved = cli.invoke(app, ["campaign", "handoff", "pv", trial.id, "--to", "UVVIS-1"])
    assert f"trial {trial.id} leased to uvvis-1 until" in moved.output, moved.output
    agent.observe([part(trial.id, "u", "uvvis-1", efficiency=0.3, gap=1.2)])
    again = cli.invoke(app, ["campaign", "handoff", "pv", trial.id, "--to", "uvvis-1"])
    assert again.exit_code == 0 and again.output.strip() == f"trial {trial.id} is completed"


def test_an_empty_claim_names_the_stalled_trials_an_admin_must_move(
    store: CampaignStore, tmp_path: Path
) -> None:
    axis = np.linspace(0.0, 1.0, 12)
    path = tmp_path / "few.csv"
    pd.DataFrame({"x": axis, "efficiency": axis, "gap": axis + 1}).to_csv(path, index=False)
    columns = [("efficiency", Direction.MAXIMIZE), ("gap", Direction.MAXIMIZE)]
    few = CampaignAgent.from_dataset(store, "few", load_csv(path, columns), constraints=[GAP])
    [trial] = few.claim("robot", count=1, lease_seconds=600)
    few.hand_off(trial.id or "", "robot", "xrd", lease_seconds=0.1)
    time.sleep(0.3)
    waiting = few.no_work()  # the initial design is out: its results would come
    assert "initial design is out" in waiting.why
    assert "pending, 1 stalled: partly measured or handed on" in waiting.why
    few.store.set_budget("few", 1)
    why = CampaignAgent(store, "few").no_work()  # its budget handed out
    assert why.ask_again and "(1 stalled: partly measured" in why.why and "admin" in why.why


def test_one_instruments_misread_value_is_corrected_alone(agent: CampaignAgent) -> None:
    [trial] = agent.claim("robot", count=1, lease_seconds=600)
    agent.observe([part(trial.id, "r", "robot", efficiency=0.4)])
    agent.hand_off(trial.id or "", "robot", "uvvis")
    agent.observe([replace(part(trial.id, "u", "uvvis", gap=1300.0), units={"gap": "meV"})])
    fix = Measurement(trial.id or "", {"efficiency": 0.35}, "fix-1", "admin")
    report = agent.correct(fix, "the robot misread its balance", "ops")
    assert report.measurement.values == {"efficiency": 0.35, "gap": pytest.approx(1.3)}
    assert report.measurement.reported["gap"]["unit"] == "meV"  # UV-Vis's report stays
    assert report.measurement.corrections[0].values == {"efficiency": 0.4, "gap": 1.3}
    again = agent.correct(fix, "the robot misread its balance", "ops")
    assert again.duplicate and again.measurement.values["efficiency"] == 0.35
    for other in ({"efficiency": 0.3}, {"gap": 1.3}, {"efficiency": 0.35, "gap": 1.3}):
        with pytest.raises(ValueError, match="'fix-1' was already used for another correction"):
            agent.correct(replace(fix, values=other), "the key again", "ops")  # other outcomes
    with pytest.raises(ValueError, match="are the values stored; nothing to correct"):
        agent.correct(replace(fix, idempotency_key="fix-2"), "the same", "ops")
    with pytest.raises(ValueError, match="values: name at least one outcome"):
        agent.correct(replace(fix, idempotency_key="fix-3", values={}), "nothing", "ops")
    [done] = agent.store.measurements(agent.name)
    assert done.corrections[0].replaced == {"efficiency": 0.4}  # what the dashboard names
