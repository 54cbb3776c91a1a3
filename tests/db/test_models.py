"""The campaign-free model registry: GridFS weights, idempotent versions, listing."""

from __future__ import annotations

import pytest

from db import (
    CampaignStore,
    describe_model_record,
    list_model_records,
    load_model_record,
    save_model_record,
)
from db.documents import ModelRecord
from db.literature import LiteratureStore
from db.models import headline_metrics
from discovery.domain import Campaign, Direction, ModelArtifact, Objective
from discovery.spaces import ContinuousParameter, SearchSpace
from tests.stand_ins import tagger_metrics

WEIGHTS = bytes(range(256)) * 40  # 10 KiB, every byte value


def artifact(hash_digit: str = "a", kind: str = "ensemble", **metrics: object) -> ModelArtifact:
    return ModelArtifact(
        kind=kind,
        data_hash=hash_digit * 64,
        metrics={"n_train": 36, "val_mae": 1.5, "members": [{"epochs": 3.0}], **metrics},
        weights=WEIGHTS,
        featurizer_version="composition:145:v1",
    )


def gridfs_files() -> int:
    return ModelRecord._get_db()["model_weights.files"].count_documents({})


def test_save_and_load_round_trip_bytes_and_featurizer_version(mongodb_uri: str) -> None:
    version = save_model_record(artifact())
    assert version == "model:ensemble:" + "a" * 12
    loaded = load_model_record(version)
    assert loaded.weights == WEIGHTS
    assert loaded.featurizer_version == "composition:145:v1"
    assert loaded.version == version and loaded.kind == "ensemble"
    assert loaded.data_hash == "a" * 64
    assert loaded.metrics["members"] == [{"epochs": 3.0}]
    assert ModelRecord.objects.get(version=version).campaign is None


def test_saving_the_same_model_again_writes_nothing(mongodb_uri: str) -> None:
    first = save_model_record(artifact())
    again = save_model_record(artifact(val_mae=99.0))
    assert again == first
    assert ModelRecord.objects.count() == 1 and gridfs_files() == 1
    assert load_model_record(first).metrics["val_mae"] == 1.5
    other = save_model_record(artifact(), prefix="bulk")
    assert other == "bulk:ensemble:" + "a" * 12 and gridfs_files() == 2


def test_missing_version_is_a_lookup_error_naming_it(mongodb_uri: str) -> None:
    with pytest.raises(LookupError, match=r"no model version 'model:gp:000000000000'"):
        load_model_record("model:gp:000000000000")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data_hash": "xyz"}, "data_hash"),
        ({"kind": "a:b"}, "kind"),
        ({"prefix": "bad prefix"}, "prefix"),
    ],
)
def test_malformed_artifacts_are_refused_and_store_nothing(
    mongodb_uri: str, change: dict[str, str], message: str
) -> None:
    fields = {"kind": "gp", "data_hash": "b" * 64}
    prefix = change.pop("prefix", "model")
    fields.update(change)
    bad = ModelArtifact(fields["kind"], fields["data_hash"], {}, WEIGHTS)
    with pytest.raises(ValueError, match=message):
        save_model_record(bad, prefix)
    assert ModelRecord.objects.count() == 0 and gridfs_files() == 0


def test_unencodable_metrics_leave_no_orphaned_weights(mongodb_uri: str) -> None:
    with pytest.raises(Exception, match="encode"):
        save_model_record(artifact(bad=object()))
    assert ModelRecord.objects.count() == 0 and gridfs_files() == 0


def test_list_shows_every_registered_model_with_its_campaign(
    mongodb_uri: str, store: CampaignStore
) -> None:
    space = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
    store.create(Campaign("demo", space, (Objective("y", Direction.MAXIMIZE),)))
    bound = store.save_model(
        "demo",
        ModelArtifact("gp", "c" * 64, {"cv_mae": 0.1, "cv_trials": ["t1"]}, b"w", None, "fv-1"),
    )
    assert store.load_model(bound).featurizer_version == "fv-1"
    free = save_model_record(artifact())
    tagger = LiteratureStore().save_tagger(ModelArtifact("tagger-supermat", "d" * 64, {}, b"t"))
    rows = list_model_records()
    assert [r["version"] for r in rows] == [bound, free, tagger]
    by_version = {r["version"]: r for r in rows}
    assert by_version[bound]["campaign"] == "demo"
    assert by_version[bound]["metrics"] == {"cv_mae": 0.1}  # lists are left out
    assert by_version[free]["campaign"] is None
    assert by_version[free]["featurizer_version"] == "composition:145:v1"
    assert by_version[free]["metrics"] == {"n_train": 36, "val_mae": 1.5}
    assert isinstance(by_version[free]["created_at"], str)
    assert [r["version"] for r in list_model_records(kind="ensemble")] == [free]
    assert list_model_records(kind="gnn") == []
    # in any case, and a family before a "-" (the CLI's --kind, the API's kind=)
    assert [r["version"] for r in list_model_records(kind="GP")] == [bound]
    assert [r["version"] for r in list_model_records(kind="tagger")] == [tagger]
    assert list_model_records(kind="tag") == []


def test_list_gives_a_taggers_held_out_f1_from_its_nested_scores(mongodb_uri: str) -> None:
    scores = {"micro": 0.71, "material": 0.8, "tcValue": 0.0, "pressure": 0.4, "class": 0.5}
    metrics = tagger_metrics(scores)
    # as an earlier tagger is stored: the nested scores only, nothing derived at write time
    tagger = LiteratureStore().save_tagger(
        ModelArtifact("tagger-supermat", "d" * 64, metrics, b"t")
    )
    assert "test_micro_f1" not in ModelRecord.objects.get(version=tagger).metrics
    unscored = LiteratureStore().save_tagger(ModelArtifact("tagger-supermat", "e" * 64, {}, b"t"))
    rows = {row["version"]: row for row in list_model_records(kind="tagger-supermat")}
    assert rows[tagger]["metrics"] == {
        "train_sentences": 900,
        "test_micro_f1": 0.71,  # the score the default tagger is chosen by
        "test_f1_material": 0.8,  # the entities records are read from
        "test_f1_tcValue": 0.0,
    }  # no lists, no dicts, no scores of entities that make no record
    assert rows[unscored]["metrics"] == {}  # not scored: nothing derived
    assert LiteratureStore().load_tagger().version == tagger  # the best by test_micro_f1


@pytest.mark.parametrize(
    ("kind", "metrics", "expected"),
    [
        ("tagger-supermat", {"test": {"micro": 0.8}}, {}),  # not a per-entity dict
        ("tagger-supermat", {"test": {"micro": {"f1": float("nan")}}}, {}),
        ("tagger-synthesis", tagger_metrics({"micro": 0.5, "target": 0.2}), {"test_micro_f1": 0.5}),
        ("gp", {"test": {"micro": {"f1": 0.9}}, "cv_mae": 0.1}, {}),  # taggers only
        ("ensemble", {"members": [{"best_val_mae_std_units": 0.3}]}, {}),
    ],
)
def test_headline_metrics_are_derived_only_from_a_taggers_held_out_scores(
    kind: str, metrics: dict[str, object], expected: dict[str, float]
) -> None:
    assert headline_metrics(kind, metrics) == expected


def test_a_stored_scalar_wins_over_a_derived_one(mongodb_uri: str) -> None:
    metrics = {**tagger_metrics({"micro": 0.7}), "test_micro_f1": 0.6}
    LiteratureStore().save_tagger(ModelArtifact("tagger-supermat", "d" * 64, metrics, b"t"))
    assert list_model_records()[0]["metrics"]["test_micro_f1"] == 0.6


def test_describe_gives_every_metric_and_the_weights_size(mongodb_uri: str) -> None:
    version = save_model_record(artifact())
    described = describe_model_record(version)
    assert described["metrics"]["members"] == [{"epochs": 3.0}]
    assert described["weights_bytes"] == len(WEIGHTS)
    assert described["campaign"] is None and described["kind"] == "ensemble"
    with pytest.raises(LookupError, match="no model version 'nope'"):
        describe_model_record("nope")


def test_campaign_models_keep_a_featurizer_version_given_later(store: CampaignStore) -> None:
    space = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
    store.create(Campaign("demo", space, (Objective("y", Direction.MAXIMIZE),)))
    version = store.save_model("demo", ModelArtifact("gp", "f" * 64, {}, b"w"))
    assert store.load_model(version).featurizer_version is None
    again = store.save_model("demo", ModelArtifact("gp", "f" * 64, {}, b"w", None, "fv-2"))
    assert again == version and store.load_model(version).featurizer_version == "fv-2"
