"""A campaign over candidates some of which the lab measured before it began."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agents import CampaignAgent
from db import CampaignStore
from db.documents import CandidateDocument, TrialDocument
from db.lineage import lineage_of_trial
from discovery.domain import (
    IMPORTED,
    Campaign,
    CampaignSettings,
    Candidate,
    Direction,
    Measurement,
    Objective,
    OutcomeConstraint,
    Trial,
    TrialStatus,
)
from discovery.spaces import ContinuousParameter, SearchSpace

SPACE = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
GOALS = (Objective("y", Direction.MAXIMIZE, "eV"),)
POOL = [{"x": i / 19} for i in range(20)]
LABELS = [f"S{i:02d}" for i in range(20)]


def _earlier(values: dict[str, float], **units: str) -> Measurement:
    """A result the lab had before the campaign."""
    return Measurement("", values, "", "import:lab.csv", units)


def _campaign(
    store: CampaignStore, name: str, results: dict[int, Measurement], **settings: int
) -> CampaignAgent:
    return CampaignAgent.from_candidates(
        store, name, SPACE, GOALS, POOL, CampaignSettings("gp", **settings), "lab.csv",
        labels=LABELS, results=results,
    )  # fmt: skip


def test_earlier_results_are_the_first_batch_and_count_as_experiments_done(
    store: CampaignStore,
) -> None:
    results = {3: _earlier({"y": 2.0}), 7: _earlier({"y": 5000.0}, y="meV")}
    agent = _campaign(store, "earlier", results, initial=4, budget=6)
    imported = agent.store.trials("earlier")
    assert [(t.candidate, t.label, t.batch, t.strategy, t.status) for t in imported] == [
        (3, "S03", "b0000", IMPORTED, TrialStatus.COMPLETED),
        (7, "S07", "b0000", IMPORTED, TrialStatus.COMPLETED),
    ]
    best = agent.best()
    assert best is not None and best.measurement.values == {"y": 5.0}
    assert best.measurement.source == "import:lab.csv" and best.measurement.units == {"y": "eV"}
    assert agent.metrics_history()[-1]["best"] == 5.0  # live metrics from the start
    status = agent.status()
    assert (status.initial_left, status.rounds) == (2, 0)
    design = agent.propose()
    assert len(design) == 2 and {t.strategy for t in design} == {"random"}
    assert not {t.candidate for t in design} & {3, 7}  # never proposed again
    assert design[0].batch == "b0001"
    lineage = lineage_of_trial("earlier", str(imported[0].id))
    assert lineage["measurements"][0]["source"] == "import:lab.csv"
    assert (
        "began: its result came with the campaign's pool (source 'import:lab.csv')"
        in (lineage["notes"][0])
    )
    agent.observe([Measurement(str(t.id), {"y": 1.0}, f"r-{t.id}") for t in design])
    chosen = agent.propose()
    assert len(chosen) == 2 and {t.strategy for t in chosen} == {"gp"}
    assert agent.propose() == []  # the budget of 6, two of it spent before the campaign


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ({20: {"y": 1.0, "gap": 1.2}}, r"results: candidate 20 is not one of the 20"),
        ({4: {"y": 1.0, "gap": float("nan")}}, r"results: candidate 4 \(S04\): .*gap"),
        ({4: {"y": 1.0}}, r"results: candidate 4 \(S04\): .*gap"),
        (
            {4: {"y": 1.0, "gap": 1.2, "Tc": 3.0}},
            r"candidate 4 \(S04\): values: unknown outcome\(s\) \['Tc'\]",
        ),
    ],
)
def test_an_earlier_result_without_every_outcome_stores_nothing(
    store: CampaignStore, results: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CampaignAgent.from_candidates(
            store, "gapped", SPACE, GOALS, POOL, CampaignSettings("gp"),
            constraints=[OutcomeConstraint("gap", 1.1, 1.7, "eV")], labels=LABELS,
            results={i: _earlier(values) for i, values in results.items()},
        )  # fmt: skip
    assert not store.exists("gapped")


def test_earlier_results_are_stored_with_a_pool_written_in_chunks(
    store: CampaignStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("db.campaigns.POOL_CHUNK", 6)  # 20 candidates: four chunks first
    results = {0: _earlier({"y": 1.0}), 19: _earlier({"y": 3.0})}
    agent = _campaign(store, "chunked", results, initial=2)
    assert len(store.candidates("chunked")) == 20
    assert [t.candidate for t in store.trials("chunked")] == [0, 19]
    assert {t.strategy for t in agent.propose()} == {"gp"}  # the design is done


def test_trials_are_filtered_on_their_results(store: CampaignStore) -> None:
    constrained = CampaignAgent.from_candidates(
        store, "gapped", SPACE, GOALS, POOL, CampaignSettings("gp", initial=4),
        constraints=[OutcomeConstraint("gap", 1.1, 1.7, "eV")], labels=LABELS,
        results={i: _earlier({"y": float(i), "gap": 1.0 + i / 10}) for i in (2, 5, 9)},
    )  # fmt: skip
    waiting = constrained.propose(1)  # a trial without a result: it meets no test of one
    campaign = store.get("gapped")

    def labels(text: str) -> list[str | None]:
        found, _ = store.page_trials("gapped", store.trial_query(campaign, text), 100, 0)
        return sorted(t.label for t in found)

    assert labels("values.y > 3") == ["S05", "S09"]
    assert labels('values.y > 3 AND parameters.x < 0.4 OR label = "S02"') == ["S02", "S05"]
    assert labels("feasible = true") == ["S02", "S05"]  # gap 1.2 and 1.5; 1.9 misses
    assert labels("NOT values.y > 3") == ["S02"]  # a test of results: measured trials only
    assert labels("values.y > 3 AND values.gap < 1.6") == ["S05"]
    assert labels('status = "proposed"') == [waiting[0].label]
    with pytest.raises(ValueError, match=r"values.tc.* not an outcome|outcome"):
        store.trial_query(campaign, "values.tc > 1")


@pytest.mark.parametrize("chunk", [None, 6])
def test_a_campaign_whose_earlier_result_fails_to_store_leaves_nothing(
    store: CampaignStore, monkeypatch: pytest.MonkeyPatch, chunk: int | None
) -> None:
    if chunk is not None:  # the pool written in chunks before the campaign
        monkeypatch.setattr("db.campaigns.POOL_CHUNK", chunk)
    campaign = Campaign("broken", SPACE, GOALS, CampaignSettings("gp"), pool_size=len(POOL))
    candidates = [Candidate(i, point, label=LABELS[i]) for i, point in enumerate(POOL)]
    trial = Trial("broken", POOL[0], "b0000", TrialStatus.COMPLETED, 0, strategy=IMPORTED)
    unkeyed = Measurement("", {"y": 1.0}, "", "import:lab.csv")  # a key is required
    with pytest.raises(ValueError, match=r"campaign 'broken'.*idempotency_key"):
        store.create(campaign, candidates, [(trial, unkeyed)])
    assert not store.exists("broken")
    assert CandidateDocument.objects.count() == TrialDocument.objects.count() == 0
    keyed = replace(unkeyed, idempotency_key="k")
    with pytest.raises(ValueError, match="results: two results share an idempotency key"):
        store.create(campaign, candidates, [(trial, keyed), (replace(trial, candidate=1), keyed)])
    assert not store.exists("broken")
