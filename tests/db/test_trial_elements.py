"""A composition campaign's trials store the elements they hold and how many, which trial
filters test: on every trial created, and on those stored before (an upgrade step).
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.collection import Collection

import db.campaigns
from agents import CampaignAgent
from db import CampaignStore, connect
from db.connection import SCHEMA_COLLECTION, SCHEMA_ID, UPGRADE_STEPS, UpgradeStep, database
from db.documents import CampaignDocument, TrialDocument
from db.query import optimade_to_mongo
from discovery.compositions import CompositionSpace
from discovery.domain import CampaignSettings, Direction, Objective
from discovery.spaces import ContinuousParameter, SearchSpace

#: Li-Fe-O candidates; the last is Fe3O7 as float arithmetic leaves it, with a 4e-17 of Li
#: that no lab weighed out.
POOL = [
    {"Li": 0.0, "Fe": 0.4, "O": 0.6},
    {"Li": 0.2, "Fe": 0.2, "O": 0.6},
    {"Li": 4e-17, "Fe": 0.1 + 0.2, "O": 0.7},
]
#: What each candidate's trial stores: its elements and their count.
STORED = {0: (["Fe", "O"], 2), 1: (["Fe", "Li", "O"], 3), 2: (["Fe", "O"], 2)}
ELEMENTS = ["Li", "Fe", "O"]
PARAMETERS = [ContinuousParameter(symbol, 0.0, 1.0) for symbol in ELEMENTS]
NONE = {"_id": {"$exists": False}}
SOME = {"nelements": {"$gt": 0}}
GOALS = (Objective("gap", Direction.MAXIMIZE),)


@pytest.fixture
def campaigns(store: CampaignStore) -> CampaignStore:
    """Campaign ``lfo`` with each POOL candidate claimed (and so proposed), and ``process``
    (no composition) with one trial proposed."""
    space = CompositionSpace(("Li", "Fe", "O"), max_elements=3, grid=10).search_space()
    settings = CampaignSettings("random", initial=len(POOL), batch_size=len(POOL), seed=0)
    lfo = CampaignAgent.from_candidates(store, "lfo", space, GOALS, POOL, settings)
    assert len(lfo.claim("xrd-1", count=len(POOL))) == len(POOL)
    process = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
    one = CampaignSettings("random", initial=1, batch_size=1, seed=0)
    agent = CampaignAgent.from_candidates(store, "process", process, GOALS, [{"x": 0.5}], one)
    assert len(agent.propose()) == 1
    return store


def rows(name: str) -> list[dict[str, Any]]:
    """The campaign's trials as stored."""
    campaign = CampaignDocument.objects.get(name=name).id
    return list(TrialDocument._get_collection().find({"campaign": campaign}))


def stored(name: str) -> dict[int, tuple[Any, Any]]:
    """Each trial's stored ``elements`` and ``nelements`` (None: absent), by candidate."""
    return {r["candidate"]: (r.get("elements"), r.get("nelements")) for r in rows(name)}


def step() -> UpgradeStep:
    """The upgrade step that fills trials' elements."""
    return next(s for s in UPGRADE_STEPS if s.target == "db.campaigns:fill_trial_elements")


def without_elements() -> None:
    """Every trial as stored before trials kept their elements."""
    TrialDocument._get_collection().update_many({}, {"$unset": {"elements": "", "nelements": ""}})


def trials(text: str) -> dict[str, Any]:
    return optimade_to_mongo(
        text, "trials", parameters=PARAMETERS, composition=ELEMENTS, elements_stored=True
    )


def test_proposed_and_claimed_trials_store_their_elements_and_no_float_noise(
    campaigns: CampaignStore,
) -> None:
    assert stored("lfo") == STORED
    assert {r["status"] for r in rows("lfo")} == {"running"}
    assert [("elements" in r, "nelements" in r) for r in rows("process")] == [(False, False)]


def test_the_upgrade_fills_trials_stored_before_once_and_no_other_campaigns(
    campaigns: CampaignStore, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_elements()
    monkeypatch.setattr(db.campaigns, "UPGRADE_BATCH", 2)  # three trials: two batches
    database()[SCHEMA_COLLECTION].update_one(
        {"_id": SCHEMA_ID}, {"$set": {"version": step().version - 1}}
    )
    connect(mongodb_uri)  # a new process runs the step
    assert stored("lfo") == STORED
    assert [("elements" in r, "nelements" in r) for r in rows("process")] == [(False, False)]
    writes: list[str] = []
    for method in ("bulk_write", "update_one", "update_many", "replace_one"):
        real = getattr(Collection, method)
        monkeypatch.setattr(Collection, method, _counted(real, method, writes))
    step().run()  # again, as a concurrent process may
    assert writes == []
    assert stored("lfo") == STORED


def _counted(real: Any, name: str, writes: list[str]) -> Any:
    def counted(*args: Any, **kwargs: Any) -> Any:
        writes.append(name)
        return real(*args, **kwargs)

    return counted


def test_filters_test_the_stored_elements_where_every_trial_has_them(
    campaigns: CampaignStore,
) -> None:
    lfo = campaigns.get("lfo")
    assert campaigns.elements_stored("lfo")
    assert campaigns.trial_query(lfo, "nelements <= 2") == {"nelements": {"$lte": 2}}
    assert campaigns.trial_query(lfo, 'elements HAS "Fe"') == {"elements": "Fe"}
    found, total = campaigns.page_trials("lfo", campaigns.trial_query(lfo, "nelements = 2"), 9, 0)
    assert (sorted(t.candidate or 0 for t in found), total) == ([0, 2], 2)
    # one trial stored by an older matloop: the parameters are read, and as right
    TrialDocument._get_collection().update_one(
        {"candidate": 1}, {"$unset": {"elements": "", "nelements": ""}}
    )
    assert not campaigns.elements_stored("lfo")
    assert "$expr" in campaigns.trial_query(lfo, "nelements <= 2")
    for text, expected in [("nelements = 2", [0, 2]), ('elements HAS "Li"', [1])]:
        found, _ = campaigns.page_trials("lfo", campaigns.trial_query(lfo, text), 9, 0)
        assert sorted(t.candidate or 0 for t in found) == expected


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ('elements HAS "Fe"', {"elements": "Fe"}),
        ('elements HAS ALL "Fe","O"', {"elements": {"$all": ["Fe", "O"]}}),
        ('elements HAS ANY "Li","Fe"', {"elements": {"$in": ["Li", "Fe"]}}),
        ('elements HAS ANY "Cu","Li"', {"elements": "Li"}),  # no trial holds Cu
        ('elements HAS "Cu"', NONE),
        ('elements HAS ALL "Cu","Li"', NONE),
        ('NOT elements HAS "Li"', {"$and": [{"elements": {"$nin": ["Li"]}}, SOME]}),
        ('elements HAS ONLY "Fe","O"', {"$and": [{"$nor": [{"elements": "Li"}]}, SOME]}),
        ("elements LENGTH 3", {"nelements": {"$eq": 3}}),
        ("elements LENGTH != 2", {"$nor": [{"nelements": {"$eq": 2}}]}),
        ("nelements <= 2", {"nelements": {"$lte": 2}}),
        # the grammar writes IS KNOWN as two tests (present, not null): one each
        ("nelements IS KNOWN", {"$and": [SOME, SOME]}),
        ("elements IS UNKNOWN", {"$or": [{"nelements": {"$eq": 0}}] * 2}),
    ],
)
def test_elements_and_counts_stored_are_tested_as_materials_are(
    text: str, query: dict[str, Any]
) -> None:
    assert trials(text) == query


def test_a_formula_and_a_fraction_stay_tests_of_the_parameters() -> None:
    for text in ('chemical_formula_reduced = "Fe2O3"', "fraction.fe > 0.3"):
        assert trials(text) == optimade_to_mongo(
            text, "trials", parameters=PARAMETERS, composition=ELEMENTS
        )
