from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError

import db.campaigns
from db import CampaignExistsError, CampaignNotFoundError, CampaignStore, ConcurrentProposalError
from db.campaigns import CLOSED, CLOSED_REASON, CampaignClosedError, CloseReport
from db.convert import measurement_from_document
from db.documents import (
    CampaignDocument,
    CandidateDocument,
    MeasurementDocument,
    TrialDocument,
    utcnow,
)
from discovery.domain import (
    Campaign,
    CampaignSettings,
    Candidate,
    Direction,
    Measurement,
    ModelArtifact,
    Objective,
    PoolRecipe,
    Trial,
    TrialStatus,
)
from discovery.spaces import (
    CategoricalParameter,
    ContinuousParameter,
    SearchSpace,
    SimplexConstraint,
)


def _campaign(name: str = "blend") -> Campaign:
    space = SearchSpace(
        (
            ContinuousParameter("a", 0.0, 1.0),
            ContinuousParameter("b", 0.0, 1.0),
            CategoricalParameter("solvent", ("water", "ethanol")),
        ),
        (SimplexConstraint(("a", "b")),),
    )
    return Campaign(
        name,
        space,
        (Objective("yield", Direction.MAXIMIZE, "%"),),
        CampaignSettings("random", initial=3, batch_size=2, seed=7),
    )


def _pool() -> list[Candidate]:
    return [
        Candidate(i, {"a": i / 4, "b": 1 - i / 4, "solvent": "water"}, {"yield": float(i)})
        for i in range(5)
    ]


def test_campaign_round_trips_through_the_database(store: CampaignStore) -> None:
    created = store.create(_campaign(), _pool())
    assert created.space == _campaign().space
    assert created.objectives == _campaign().objectives
    assert created.settings == _campaign().settings
    assert created.pool_size == 5
    assert store.get("blend").created_at is not None
    assert [c.reference for c in store.candidates("blend")] == [
        {"yield": float(i)} for i in range(5)
    ]


def test_campaigns_are_read_a_page_at_a_time_oldest_first(store: CampaignStore) -> None:
    for name in ("c1", "c2", "c3"):
        store.create(_campaign(name), _pool())
    assert [c.name for c in store.campaigns()] == ["c1", "c2", "c3"]
    assert [c.name for c in store.campaigns(1, 1)] == ["c2"]
    assert [c.name for c in store.campaigns(offset=1)] == ["c2", "c3"]
    assert store.campaigns(0, 0) == [] and store.campaigns(7) == []  # 0 is no page, not all
    assert store.campaign_count() == 3


def test_a_stored_campaign_that_breaks_a_newer_rule_is_named_when_loaded(
    store: CampaignStore,
) -> None:
    store.create(_campaign(), _pool())
    CampaignDocument.objects(name="blend").update(set__settings__seed=2**60)  # before the limit
    with pytest.raises(ValueError, match=r"campaign 'blend' as stored: settings\.seed"):
        store.get("blend")
    store.delete("blend")  # and it can still be removed
    assert store.campaigns() == []


def test_a_campaign_stored_before_linear_constraints_needed_room_still_loads(
    store: CampaignStore,
) -> None:
    # created when the room check did not exist: listing, showing and tokens must not fail
    store.create(_campaign(), _pool())
    store.create(_campaign("other"), _pool())
    no_room = {"terms": {"a": 1.0, "b": 1.0}, "upper": 0.5}  # a + b = 1 on the simplex
    CampaignDocument.objects(name="blend").update(push__space__linear=no_room)
    assert store.get("blend").space.linear[0].describe() == "1*a + 1*b <= 0.5"
    assert [c.name for c in store.campaigns()] == ["blend", "other"]
    assert store.campaign_names() == {"blend", "other"}
    with pytest.raises(ValueError, match=r"space\.linear\[0\]: 1\*a \+ 1\*b <= 0\.5 cannot"):
        SearchSpace.from_dict(CampaignDocument.objects.get(name="blend").space)  # a new one


def test_a_generated_pool_keeps_its_recipe_and_older_campaigns_load_without_one(
    store: CampaignStore,
) -> None:
    recipe = PoolRecipe(("Ti", "Zr", "O"), 3, 2, True, grid=10, known_left_out=4)
    store.create(replace(_campaign(), pool_recipe=recipe), _pool())
    assert store.get("blend").pool_recipe == recipe
    assert [c.pool_recipe for c in store.campaigns()] == [recipe]
    stored = CampaignDocument.objects.get(name="blend").pool_recipe
    assert stored["elements"] == ["Ti", "Zr", "O"] and stored["charge_balanced"] is True
    swaps = PoolRecipe(("Sr", "Ba", "Ti", "O"), 3, 2, True, None, ("SrTiO3",), 1e-3, 1)
    store.create(replace(_campaign("swaps"), pool_recipe=swaps), _pool())
    assert store.get("swaps").pool_recipe == swaps
    CampaignDocument._get_collection().update_one({"name": "blend"}, {"$unset": {"pool_recipe": 1}})
    assert store.get("blend").pool_recipe is None  # stored before recipes were kept
    store.create(_campaign("file"), _pool())
    assert store.get("file").pool_recipe is None


def test_duplicate_campaign_name_fails_and_writes_nothing(store: CampaignStore) -> None:
    store.create(_campaign(), _pool())
    with pytest.raises(CampaignExistsError, match="blend"):
        store.create(_campaign(), _pool() + _pool())
    assert CampaignDocument.objects.count() == 1
    assert CandidateDocument.objects.count() == 5


def test_invalid_campaign_name_is_rejected_before_anything_is_stored(store: CampaignStore) -> None:
    with pytest.raises(ValueError, match="name"):
        store.create(_campaign("bad name with spaces/$"), _pool())
    assert CampaignDocument.objects.count() == 0
    assert CandidateDocument.objects.count() == 0


def test_unknown_campaign_is_a_clear_lookup_error(store: CampaignStore) -> None:
    with pytest.raises(CampaignNotFoundError, match="nope"):
        store.get("nope")


def test_trials_get_sequential_order_and_status_follows_the_life_cycle(
    store: CampaignStore,
) -> None:
    store.create(_campaign(), _pool())
    point = {"a": 0.5, "b": 0.5, "solvent": "water"}
    first = store.add_trials("blend", [Trial("blend", point, "b0000") for _ in range(2)])
    second = store.add_trials("blend", [Trial("blend", point, "b0001")])
    assert [t.id for t in store.trials("blend")] == [t.id for t in first + second]
    assert sorted(TrialDocument.objects.distinct("sequence")) == [0, 1, 2]
    trial_id = first[0].id
    assert trial_id is not None
    assert store.set_status("blend", trial_id, TrialStatus.RUNNING).status is TrialStatus.RUNNING
    store.set_status("blend", trial_id, TrialStatus.FAILED)
    with pytest.raises(ValueError, match="cannot go from failed to running"):
        store.set_status("blend", trial_id, TrialStatus.RUNNING)


def test_model_weights_round_trip_through_gridfs(store: CampaignStore) -> None:
    store.create(_campaign(), _pool())
    artifact = ModelArtifact("gp", "ab" * 32, {"n_train": 3}, bytes(range(256)) * 4000)
    version = store.save_model("blend", artifact)
    assert store.save_model("blend", artifact) == version  # same data, same version
    loaded = store.load_model(version)
    assert loaded.weights == artifact.weights
    assert loaded.metrics == {"n_train": 3}
    assert loaded.version == version


def test_delete_removes_the_campaign_and_everything_hanging_off_it(store: CampaignStore) -> None:
    store.create(_campaign(), _pool())
    store.add_trials("blend", [Trial("blend", {"a": 1.0, "b": 0.0, "solvent": "water"}, "b0")])
    store.save_model("blend", ModelArtifact("gp", "cd" * 32, {}, b"weights"))
    store.delete("blend")
    assert CampaignDocument.objects.count() == 0
    assert CandidateDocument.objects.count() == 0
    assert TrialDocument.objects.count() == 0
    with pytest.raises(LookupError):
        store.load_model("blend:gp:cdcdcdcdcdcd")


# -- the queue: claims read windows of it, guided by a floor that is only a hint ----------
def _queued(store: CampaignStore, n: int) -> list[Trial]:
    store.create(_campaign(), _pool())
    point = {"a": 0.5, "b": 0.5, "solvent": "water"}
    return store.add_trials("blend", [Trial("blend", point, "b0000") for _ in range(n)])


def test_claims_take_the_oldest_waiting_trials_and_the_floor_follows(
    store: CampaignStore,
) -> None:
    queued = _queued(store, 30)
    first = store.claim("blend", "robot-a", 4, 60)
    second = store.claim("blend", "robot-b", 4, 60)
    assert [t.id for t in first + second] == [t.id for t in queued[:8]]
    assert CampaignDocument.objects.get(name="blend").queue_floor == 8
    store.set_status("blend", queued[8].id or "", TrialStatus.ABANDONED)
    assert [t.id for t in store.claim("blend", "robot-c", 2, 60)] == [
        queued[9].id,
        queued[10].id,
    ]


def test_a_trial_returned_below_the_floor_is_claimed_first(store: CampaignStore) -> None:
    queued = _queued(store, 12)
    [early] = store.claim("blend", "robot-a", 1, 0.05)  # its lease runs out
    store.claim("blend", "robot-b", 5, 60)
    TrialDocument.objects(id=early.id).update(set__lease_expires_at=utcnow() - timedelta(1))
    again = store.claim("blend", "robot-c", 2, 60)
    assert [t.id for t in again] == [queued[0].id, queued[6].id]


def test_a_floor_that_is_too_high_costs_time_but_hides_nothing(store: CampaignStore) -> None:
    queued = _queued(store, 10)
    CampaignDocument.objects(name="blend").update(set__queue_floor=7)
    assert [t.id for t in store.claim("blend", "robot-a", 3, 60)] == [t.id for t in queued[:3]]
    assert store.has_waiting("blend")
    assert len(store.claim("blend", "robot-a", 100, 60)) == 7
    assert not store.has_waiting("blend")
    assert store.claim("blend", "robot-a", 1, 60) == []


def test_a_campaign_stored_before_the_sequence_counter_continues_after_its_last_trial(
    store: CampaignStore,
) -> None:
    _queued(store, 3)
    CampaignDocument.objects(name="blend").update(
        unset__next_sequence=True, unset__queue_floor=True
    )
    point = {"a": 0.5, "b": 0.5, "solvent": "water"}
    store.add_trials("blend", [Trial("blend", point, "b0001") for _ in range(2)])
    assert sorted(TrialDocument.objects.distinct("sequence")) == [0, 1, 2, 3, 4]
    assert len(store.claim("blend", "robot-a", 10, 60)) == 5


def test_a_batch_planned_before_another_was_stored_is_refused(store: CampaignStore) -> None:
    store.create(_campaign(), _pool())
    point = {"a": 0.5, "b": 0.5, "solvent": "water"}
    counted = store.batches_stored("blend")
    assert counted == 0
    store.add_trials("blend", [Trial("blend", point, "b0000")], counted)
    with pytest.raises(ConcurrentProposalError, match="another proposal stored a batch first"):
        store.add_trials("blend", [Trial("blend", point, "b0000")], counted)  # stale count
    store.add_trials("blend", [Trial("blend", point, "b0001")], counted + 1)
    assert [t.batch for t in store.trials("blend")] == ["b0000", "b0001"]
    assert store.batches_stored("blend") == 2


def test_a_campaign_stored_before_the_batch_counter_counts_its_batch_names(
    store: CampaignStore,
) -> None:
    _queued(store, 3)  # one batch, b0000
    CampaignDocument.objects(name="blend").update(unset__next_batch=True)
    assert store.batches_stored("blend") is None
    point = {"a": 0.5, "b": 0.5, "solvent": "water"}
    with pytest.raises(ConcurrentProposalError):
        store.add_trials("blend", [Trial("blend", point, "b0000")], 0)
    store.add_trials("blend", [Trial("blend", point, "b0001")], 1)
    assert store.batches_stored("blend") == 2


# -- closing: no new trials; waiting ones abandoned with the status, in one transaction ----
def test_closing_abandons_waiting_trials_keeps_running_ones_and_is_idempotent(
    store: CampaignStore,
) -> None:
    queued = _queued(store, 5)
    running = store.claim("blend", "robot-a", 2, 60)
    report = store.close("blend")
    assert report == CloseReport(already_closed=False, abandoned=3, running=2)
    assert store.get("blend").status == CLOSED
    by_id = {t.id: t for t in store.trials("blend")}
    assert [by_id[t.id].status for t in queued] == [TrialStatus.RUNNING] * 2 + [
        TrialStatus.ABANDONED
    ] * 3
    assert {by_id[t.id].reason for t in queued[2:]} == {CLOSED_REASON}
    assert {by_id[t.id].claimed_by for t in running} == {"robot-a"}  # leases kept
    assert store.close("blend") == CloseReport(already_closed=True, abandoned=0, running=2)
    with pytest.raises(CampaignNotFoundError, match="'nope'"):
        store.close("nope")


def test_a_closed_campaign_stores_no_new_trials_and_leases_none(store: CampaignStore) -> None:
    _queued(store, 1)
    store.close("blend")
    point = {"a": 0.5, "b": 0.5, "solvent": "water"}
    with pytest.raises(CampaignClosedError, match="campaign 'blend' is closed"):
        store.add_trials("blend", [Trial("blend", point, "b0001")])
    with pytest.raises(CampaignClosedError, match="campaign 'blend' is closed"):
        store.claim("blend", "robot-a", 1, 60)
    with pytest.raises(CampaignClosedError, match="campaign 'blend' is closed"):
        store.ensure_open("blend")
    assert len(store.trials("blend")) == 1  # nothing half-written


def test_a_close_during_a_proposal_abandons_its_batch_never_leaves_it_waiting(
    store: CampaignStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import db.campaigns

    _queued(store, 1)
    insert, closing = db.campaigns._insert, []

    def slow_insert(documents: list[Any], session: Any) -> None:
        if documents and isinstance(documents[0], TrialDocument) and not closing:
            # the batch's sequences are taken: an operator closes before it is written
            closing.append(threading.Thread(target=store.close, args=("blend",)))
            closing[0].start()
            time.sleep(0.5)
        insert(documents, session)

    monkeypatch.setattr(db.campaigns, "_insert", slow_insert)
    point = {"a": 0.5, "b": 0.5, "solvent": "water"}
    # the batch holds the campaign's counter: the close waits for it, then abandons it
    batch = store.add_trials("blend", [Trial("blend", point, "b0001") for _ in range(2)])
    closing[0].join(timeout=60)
    assert store.get("blend").status == CLOSED
    by_id = {t.id: t.status for t in store.trials("blend")}
    assert [by_id[t.id] for t in batch] == [TrialStatus.ABANDONED] * 2, by_id
    assert set(by_id.values()) == {TrialStatus.ABANDONED}


def test_outcomes_that_filters_could_not_tell_apart_are_refused_at_creation(
    store: CampaignStore,
) -> None:
    goals = (Objective("band gap", Direction.MAXIMIZE), Objective("band_gap", Direction.MINIMIZE))
    with pytest.raises(ValueError, match=r"'band gap' and 'band_gap' are both values\.band_gap"):
        store.create(replace(_campaign("gaps"), objectives=goals))
    assert not CampaignDocument.objects(name="gaps")  # nothing stored
    apart = (Objective("band gap", Direction.MAXIMIZE), Objective("2theta", Direction.MINIMIZE))
    store.create(replace(_campaign("apart"), objectives=apart))  # 2theta: no filter name


def test_parameters_that_filters_could_not_tell_apart_are_refused_at_creation(
    store: CampaignStore,
) -> None:
    celsius = ContinuousParameter("Temperature (C)", 0.0, 500.0)
    oven = SearchSpace((celsius, ContinuousParameter("temperature_c", 0.0, 1.0)))
    match = r"space.parameters: 'Temperature \(C\)' and 'temperature_c' are both parameters\."
    with pytest.raises(ValueError, match=match):
        store.create(replace(_campaign("oven"), space=oven))
    assert not CampaignDocument.objects(name="oven")


def test_a_pool_larger_than_a_transaction_holds_is_refused_before_anything_is_stored(
    store: CampaignStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("db.campaigns.MAX_POOL_SIZE", 4)
    with pytest.raises(ValueError, match=r"^candidates: 5, more than the 4 a pool may hold$"):
        store.create(_campaign("wide"), _pool())
    assert not CampaignDocument.objects(name="wide")
    assert not store.exists("wide")
    store.create(_campaign("narrow"), _pool()[:4])
    assert store.exists("narrow")


def test_a_large_pool_is_written_in_chunks_and_seen_only_once_whole(
    store: CampaignStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("db.campaigns.POOL_CHUNK", 2)  # five candidates: three chunks
    created = store.create(_campaign(), _pool())
    assert created.pool_size == 5 and len(store.candidates("blend")) == 5
    with pytest.raises(CampaignExistsError):  # refused before any chunk is written
        store.create(_campaign(), _pool())
    assert CandidateDocument.objects.count() == 5

    def broken(documents: Any, session: Any) -> None:  # the database fails mid-way
        if documents[0].index == 4:
            raise ConnectionError("the database went away")
        insert(documents, session)

    insert = db.campaigns._insert
    monkeypatch.setattr("db.campaigns._insert", broken)
    with pytest.raises(ConnectionError):
        store.create(_campaign("other"), _pool())
    assert not store.exists("other")
    assert CandidateDocument.objects.count() == 5  # the chunks written were removed


# -- measurements: what the lab reported, where a value was converted ---------------------
def _measured(store: CampaignStore, units: dict[str, str]) -> Measurement:
    """One trial of ``blend`` reported (``yield`` in %) with ``units``; the stored result."""
    [trial] = _queued(store, 1)
    result = Measurement(trial.id or "", {"yield": 5000.0}, "k", units=units)
    store.record("blend", [result.in_units_of(_campaign().objectives)])
    [stored] = store.measurements("blend")
    return stored


def test_a_converted_result_is_stored_with_what_the_lab_reported(store: CampaignStore) -> None:
    stored = _measured(store, {"yield": "ppm"})
    assert (stored.values, stored.units) == ({"yield": 0.5}, {"yield": "%"})
    assert stored.reported == {"yield": {"value": 5000.0, "unit": "ppm"}}
    assert MeasurementDocument.objects.get().reported == stored.reported
    assert measurement_from_document(MeasurementDocument.objects.get()) == stored
    assert store.page_measurements("blend", {}, 10, 0)[0] == [stored]


def test_a_result_in_the_declared_unit_reports_nothing_more(store: CampaignStore) -> None:
    assert _measured(store, {}).reported == {}


def test_a_result_stored_before_reported_values_were_kept_still_loads(
    store: CampaignStore,
) -> None:
    stored = _measured(store, {"yield": "ppm"})
    MeasurementDocument._get_collection().update_many({}, {"$unset": {"reported": ""}})
    assert "reported" not in MeasurementDocument._get_collection().find_one({})
    [old] = store.measurements("blend")
    assert old == replace(stored, reported={})
    assert measurement_from_document(MeasurementDocument.objects.get()) == old


def test_a_result_corrected_twice_keeps_each_correction_and_repeats_each_key(
    store: CampaignStore,
) -> None:
    first = _measured(store, {"yield": "ppm"})  # 5000 ppm: 0.5 %
    fix = replace(first, values={"yield": 50.0}, units={"yield": "%"}, idempotency_key="fix-1")
    assert not store.correct("blend", fix, "ppm for %", "ann").duplicate
    refix = replace(fix, values={"yield": 55.0}, idempotency_key="fix-2")
    now = store.correct("blend", refix, "misread", "bob").measurement
    assert now.values == {"yield": 55.0}
    assert [(c.idempotency_key, c.values, c.by) for c in now.corrections] == [
        ("fix-1", {"yield": 0.5}, "ann"), ("fix-2", {"yield": 50.0}, "bob")]  # fmt: skip
    again = store.correct("blend", replace(fix, values={"yield": 50.0 * (1 + 1e-13)}), "x", "y")
    assert again.duplicate and again.measurement == now  # what fix-1 set, to rounding
    with pytest.raises(ValueError, match="idempotency_key: 'fix-1' was already used"):
        store.correct("blend", replace(fix, values={"yield": 60.0}), "x", "y")
    # the lab's first report, retried, is still read as it first was
    assert store.record("blend", [first]).duplicates == 1


def test_a_correction_key_names_one_correction_in_its_campaign(store: CampaignStore) -> None:
    _measured(store, {})
    [trial] = store.add_trials(
        "blend", [Trial("blend", {"a": 0.5, "b": 0.5, "solvent": "water"}, "b1")]
    )
    store.record("blend", [Measurement(trial.id or "", {"yield": 1.0}, "k2")])
    documents = MeasurementDocument._get_collection()
    pushed = {"$push": {"corrections": {"idempotency_key": "fix"}}}
    documents.update_one({"idempotency_key": "k"}, pushed)
    with pytest.raises(DuplicateKeyError):  # two trials, one key: refused by the index
        documents.update_one({"idempotency_key": "k2"}, pushed)


def test_a_models_version_is_of_its_data_and_its_fit(store: CampaignStore) -> None:
    store.create(_campaign(), _pool())
    fit = {"surrogate": "gp", "input_warp": False, "outcome_warp": None}
    plain = ModelArtifact("gp", "ab" * 32, {"fit": fit}, b"plain")
    warped = ModelArtifact("gp", "ab" * 32, {"fit": fit | {"input_warp": True}}, b"warped")
    version = store.save_model("blend", plain)
    assert store.save_model("blend", warped) != version  # same data, another model
    assert store.load_model(store.save_model("blend", warped)).weights == b"warped"
    reordered = ModelArtifact("gp", "ab" * 32, {"fit": dict(reversed(fit.items()))}, b"again")
    assert store.save_model("blend", reordered) == version  # the same model: idempotent
    assert store.load_model(version).weights == b"plain"
    # described by nothing, as before fits were: the data hash alone, as stored versions are
    legacy = store.save_model("blend", ModelArtifact("gp", "ab" * 32, {}, b"old"))
    assert legacy == "blend:gp:abababababab" != version
