from __future__ import annotations

from pathlib import Path

import pytest

from agents import CampaignAgent, LookupOracle, run
from db.backup import dump, restore
from db.connection import client, database
from db.tokens import create_token


def _snapshot(db) -> dict[str, list]:
    return {n: list(db[n].find(sort=[("_id", 1)])) for n in sorted(db.list_collection_names())}


def _indexes(collection) -> dict:
    return {
        name: (info["key"], info.get("unique"), info.get("partialFilterExpression"))
        for name, info in collection.index_information().items()
    }


def test_dump_and_restore_round_trip_a_populated_database(
    photo_pce10_campaign: CampaignAgent, tmp_path: Path
) -> None:
    agent = photo_pce10_campaign
    run(agent, LookupOracle.from_candidates(agent.store.candidates(agent.name)), rounds=1)
    create_token("robot", "instrument", [agent.name])
    source = database()
    before = _snapshot(source)
    assert before["model_weights.files"] and before["model_weights.chunks"]  # GridFS too
    report = dump(source, tmp_path / "dump")
    assert report.total == sum(len(v) for v in before.values())

    target = client()[source.name + "_restored"]
    try:
        restored = restore(target, tmp_path / "dump")
        assert restored.counts == report.counts
        assert _snapshot(target) == before  # every document, byte for byte equal
        for name in ("trials", "measurements", "candidates"):
            assert _indexes(target[name]) == _indexes(source[name])
        with pytest.raises(ValueError, match="not empty"):
            restore(target, tmp_path / "dump")
        assert restore(target, tmp_path / "dump", drop=True).total == report.total
    finally:
        client().drop_database(target.name)


def test_an_altered_dump_is_refused_before_anything_is_written(
    photo_pce10_campaign: CampaignAgent, tmp_path: Path
) -> None:
    dump(database(), tmp_path / "dump")
    trials = tmp_path / "dump" / "candidates.bson"
    trials.write_bytes(trials.read_bytes()[:-10])  # truncated
    target = client()[database().name + "_restored"]
    try:
        with pytest.raises(ValueError, match="checksum"):
            restore(target, tmp_path / "dump")
        assert target.list_collection_names() == []
    finally:
        client().drop_database(target.name)


def test_dump_refuses_a_folder_that_is_not_empty(mongodb_uri: str, tmp_path: Path) -> None:
    (tmp_path / "old.bson").write_bytes(b"")
    with pytest.raises(ValueError, match="not empty"):
        dump(database(), tmp_path)
