from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure

import db.backup
from agents import CampaignAgent, LookupOracle, run
from db.backup import FORMAT, RAW, dump, restore
from db.connection import client, connect, database
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


def test_a_database_restored_over_itself_takes_the_next_connection(
    photo_pce10_campaign: CampaignAgent, mongodb_uri: str, tmp_path: Path
) -> None:
    """connect() asks for every index again: the restored ones must be the same indexes."""
    agent = photo_pce10_campaign
    agent.observe(
        LookupOracle.from_candidates(agent.store.candidates(agent.name)).evaluate(agent.propose())
    )
    dump(database(), tmp_path / "dump")
    restore(database(), tmp_path / "dump", drop=True)
    connect(mongodb_uri)
    assert CampaignAgent(agent.store, agent.name).status().measurements == 10
    # a dump from before it kept every option: its indexes are rebuilt as declared
    manifest = tmp_path / "dump" / "manifest.json"
    old = json.loads(manifest.read_text())
    for entry in old["collections"].values():
        for index in entry["indexes"]:
            index.pop("background", None)
    manifest.write_text(json.dumps(old))
    restore(database(), tmp_path / "dump", drop=True)
    connect(mongodb_uri)
    assert CampaignAgent(agent.store, agent.name).status().measurements == 10
    assert "campaign_1_sequence_1" in database()["trials"].index_information()


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


def test_a_dump_copies_documents_byte_for_byte_whatever_their_types(
    mongodb_uri: str, tmp_path: Path
) -> None:
    # a UUID written by another client (subtype 4): decoding and re-encoding it with
    # bson's default codec fails, and a copy that re-encodes could also change bytes
    source = database()
    source["notes"].insert_one({"_id": uuid.UUID(int=7), "when": datetime(2026, 1, 2)})
    raw = source["notes"].with_options(codec_options=RAW).find_one().raw
    dump(source, tmp_path / "dump")
    target = client()[source.name + "_restored"]
    try:
        restore(target, tmp_path / "dump")
        assert target["notes"].with_options(codec_options=RAW).find_one().raw == raw
    finally:
        client().drop_database(target.name)


def test_a_failed_dump_leaves_no_folder_behind(
    mongodb_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database()["notes"].insert_one({"x": 1})
    written = db.backup._write

    def fails_at_the_end(db_: Database, folder: Path) -> dict[str, int]:
        written(db_, folder)
        raise OSError("disk full")

    monkeypatch.setattr(db.backup, "_write", fails_at_the_end)
    with pytest.raises(OSError, match="disk full"):
        dump(database(), tmp_path / "dump")
    assert list(tmp_path.iterdir()) == []  # neither the dump nor a partial one
    monkeypatch.undo()
    assert dump(database(), tmp_path / "dump").counts["notes"] == 1  # a retry works


def test_a_dump_is_one_point_in_time_while_others_write(
    mongodb_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result stored while the dump runs (its measurement written after the dump read the
    measurements, its trial before the dump reads the trials) is in neither collection."""
    source = database()
    source["measurements"].insert_one({"trial": 1, "idempotency_key": "k1"})
    source["trials"].insert_one({"_id": 1, "sequence": 1, "status": "completed"})
    written = db.backup._write_collection
    other = MongoClient(mongodb_uri)[source.name]  # another process, as an instrument's

    def reported_meanwhile(db_: Database, name: str, *args: Any) -> tuple[int, str]:
        done = written(db_, name, *args)
        if name == "measurements":
            other["measurements"].insert_one({"trial": 2, "idempotency_key": "k2"})
            other["trials"].insert_one({"_id": 2, "sequence": 2, "status": "completed"})
        return done

    monkeypatch.setattr(db.backup, "_write_collection", reported_meanwhile)
    try:
        report = dump(source, tmp_path / "dump")
    finally:
        other.client.close()
    assert (report.counts["measurements"], report.counts["trials"]) == (1, 1)
    assert source["trials"].count_documents({}) == 2  # the write went through


def test_restore_with_drop_makes_the_target_the_dump(mongodb_uri: str, tmp_path: Path) -> None:
    source = database()
    source["trials"].insert_one({"x": 1})
    dump(source, tmp_path / "dump")
    target = client()[source.name + "_restored"]
    try:
        target["trials"].insert_many([{"x": 2}, {"x": 3}])
        target["model_weights.files"].insert_one({"length": 6128})  # not in the dump
        report = restore(target, tmp_path / "dump", drop=True)
        assert report.dropped == ("model_weights.files",)
        assert sorted(target.list_collection_names()) == sorted(report.counts)
        assert [d["x"] for d in target["trials"].find()] == [1]
    finally:
        client().drop_database(target.name)


def test_a_restore_that_fails_while_writing_says_it_is_half_done_and_what_to_do(
    mongodb_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = database()
    source["trials"].insert_many([{"_id": i, "sequence": i} for i in (1, 2)])  # unique
    dump(source, tmp_path / "dump")
    target = client()[source.name + "_restored"]
    real = target.create_collection

    def written_meanwhile(name: str, **options: Any) -> Any:  # a serve proposes a trial
        created = real(name, **options)
        if name == "trials":
            created.insert_one({"_id": 2, "sequence": 3})
        return created

    monkeypatch.setattr(target, "create_collection", written_meanwhile)
    try:
        with pytest.raises(db.backup.RestoreInterruptedError) as stopped:
            restore(target, tmp_path / "dump", drop=True)
        said = str(stopped.value)
        assert said.startswith("restore stopped at collection 'trials' (BulkWriteError: ")
        assert said.endswith(
            "the database now holds part of the dump and whatever was written meanwhile. "
            "Stop everything that writes to it (matloop serve, flows serve, instruments) and "
            "restore again with drop=True (--drop)"
        )
        monkeypatch.undo()  # nothing writes any more
        restore(target, tmp_path / "dump", drop=True)
        assert [d["_id"] for d in target["trials"].find(sort=[("_id", 1)])] == [1, 2]
    finally:
        client().drop_database(target.name)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("[1, 2]", "format 'list' is not"),
        ("{not json", "not a JSON manifest"),
        (json.dumps({"format": FORMAT}), "collections must be an object"),
        (json.dumps({"format": FORMAT, "collections": []}), "collections must be an object"),
        (
            json.dumps({"format": FORMAT, "collections": {"../outside": {"sha256": "0"}}}),
            "'../outside' is not a collection name",
        ),
        (json.dumps({"format": FORMAT, "collections": {"trials": {}}}), "trials.sha256"),
        (
            json.dumps(
                {
                    "format": FORMAT,
                    "collections": {"t": {"sha256": "0", "indexes": [{"name": "i"}]}},
                }
            ),
            r"t\.indexes must be a list of \{keys",
        ),
    ],
)
def test_a_bad_manifest_is_refused_naming_it(
    mongodb_uri: str, tmp_path: Path, manifest: str, message: str
) -> None:
    (tmp_path / "manifest.json").write_text(manifest)
    target = client()[database().name + "_restored"]
    with pytest.raises(ValueError, match=message) as error:
        restore(target, tmp_path)
    assert "manifest.json" in str(error.value)
    assert target.list_collection_names() == []


def test_a_snapshot_the_server_ended_is_a_clear_error_and_leaves_nothing(
    mongodb_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database()["notes"].insert_one({"x": 1})

    def ended(*args: Any) -> tuple[int, str]:  # MongoDB: past transactionLifetimeLimitSeconds
        raise OperationFailure("transaction aborted", code=290)

    monkeypatch.setattr(db.backup, "_write_collection", ended)
    with pytest.raises(ValueError, match="could not be read at one point in time"):
        dump(database(), tmp_path / "dump")
    assert list(tmp_path.iterdir()) == []


def test_a_collection_created_while_the_dump_ran_fails_the_dump(
    mongodb_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = database()
    source["models"].insert_one({"version": "v1"})
    written = db.backup._write_collection

    def first_weights_meanwhile(db_: Database, name: str, *args: Any) -> tuple[int, str]:
        source["model_weights.files"].insert_one({"length": 1})  # its bucket, new
        return written(db_, name, *args)

    monkeypatch.setattr(db.backup, "_write_collection", first_weights_meanwhile)
    with pytest.raises(ValueError, match=r"\['model_weights.files'\] were created while"):
        dump(source, tmp_path / "dump")
    assert list(tmp_path.iterdir()) == []
