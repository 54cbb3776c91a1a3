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
from discovery.domain import Campaign, Direction, ModelArtifact, Objective
from discovery.spaces import ContinuousParameter, SearchSpace

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
