"""The stored schema version: upgrade steps run once per database, never on every connect."""

from __future__ import annotations

import importlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, OperationFailure

import db.connection
import db.literature
from db.backup import dump, restore
from db.connection import (
    SCHEMA_COLLECTION,
    SCHEMA_ID,
    SCHEMA_VERSION,
    UPGRADE_STEPS,
    UpgradeStep,
    client,
    connect,
    database,
    raise_schema_version,
    schema_version,
    upgrade_documents,
)
from db.documents import MaterialDocument
from db.literature import LiteratureStore, PaperDocument, count_readings
from db.materials import add_material

STEP_FUNCTIONS = [step.target.split(":")[1] for step in UPGRADE_STEPS]
NOT_AUTHORIZED = OperationFailure("not authorized on test to execute command", code=13)


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the upgrade functions run since the fixture started (they still run)."""
    ran: list[str] = []
    for step in UPGRADE_STEPS:
        module_name, name = step.target.split(":")
        module = importlib.import_module(module_name)
        monkeypatch.setattr(module, name, _counted(getattr(module, name), name, ran))
    return ran


def _counted(real: Callable[[], None], name: str, ran: list[str]) -> Callable[[], None]:
    def counted() -> None:
        ran.append(name)
        real()

    return counted


def _refused(*args: Any) -> None:
    raise NOT_AUTHORIZED


@pytest.fixture
def other_uri(mongodb_server: str) -> Iterator[str]:
    """URI of a database not created yet on the session server; dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield f"{mongodb_server}/{name}"
    client().drop_database(name)


def stored_at(version: int | None) -> None:
    """Mark the stored documents as of ``version`` (``None``: stored before versions)."""
    if version is None:  # no collection, as in a dump written then
        database().drop_collection(SCHEMA_COLLECTION)
    else:
        database()[SCHEMA_COLLECTION].update_one(
            {"_id": SCHEMA_ID}, {"$set": {"version": version}}, upsert=True
        )


def an_old_material() -> None:
    """Fe2O3 as stored before the descriptive formula (what upgrade step 3 changes)."""
    add_material("Fe2O3")
    MaterialDocument._get_collection().update_many({}, {"$unset": {"formula_descriptive": ""}})


def descriptive_formula() -> str | None:
    found = MaterialDocument._get_collection().find_one({"formula": "Fe2O3"})
    assert found is not None
    return found.get("formula_descriptive")


def test_every_step_is_numbered_in_order_and_names_a_function() -> None:
    assert [step.version for step in UPGRADE_STEPS] == list(range(1, len(UPGRADE_STEPS) + 1))
    assert len(UPGRADE_STEPS) == SCHEMA_VERSION
    assert len({step.name for step in UPGRADE_STEPS}) == len(UPGRADE_STEPS)
    for step in UPGRADE_STEPS:
        module, function = step.target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), step


def test_a_fresh_database_is_stamped_current_without_running_a_step(
    mongodb_uri: str, other_uri: str, runs: list[str]
) -> None:
    connect(other_uri)
    assert runs == []
    assert schema_version() == SCHEMA_VERSION


def test_a_second_connect_reads_the_version_and_writes_nothing(
    mongodb_uri: str,
    runs: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    an_old_material()
    monkeypatch.setattr(db.connection, "raise_schema_version", _refused)  # a reader, say
    connect(mongodb_uri)
    assert runs == []
    assert descriptive_formula() is None  # step 3 would have set it
    assert not [r for r in caplog.records if r.name == "db.connection"]


def test_a_database_stored_before_versions_runs_every_step_once(
    mongodb_uri: str, runs: list[str]
) -> None:
    an_old_material()
    stored_at(None)
    connect(mongodb_uri)
    assert runs == STEP_FUNCTIONS
    assert descriptive_formula() == "Fe2O3"
    assert schema_version() == SCHEMA_VERSION
    an_old_material()  # after the upgrade: left as it is
    MaterialDocument._get_collection().update_many({}, {"$unset": {"formula_descriptive": ""}})
    connect(mongodb_uri)
    assert runs == STEP_FUNCTIONS
    assert descriptive_formula() is None


def test_a_step_added_later_runs_alone_on_a_database_at_the_previous_version(
    mongodb_uri: str, runs: list[str]
) -> None:
    an_old_material()
    added = UpgradeStep(SCHEMA_VERSION + 1, "a later step", "db.materials:upgrade_materials")
    upgrade_documents((*UPGRADE_STEPS, added))
    assert runs == ["upgrade_materials"]
    assert schema_version() == SCHEMA_VERSION + 1


def test_each_step_is_recorded_so_a_failed_upgrade_resumes_at_the_failed_step(
    mongodb_uri: str, runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stored_at(0)
    real = db.literature.count_readings

    monkeypatch.setattr(db.literature, "count_readings", _refused)
    connect(mongodb_uri)
    assert (runs, schema_version()) == (["unset_open_bound_ends"], 1)
    monkeypatch.setattr(db.literature, "count_readings", real)
    connect(mongodb_uri)
    assert runs == STEP_FUNCTIONS  # step 1 once: resumed at step 2
    assert schema_version() == SCHEMA_VERSION


@pytest.mark.parametrize("stored", [None, "fresh"])
def test_read_only_credentials_warn_and_change_nothing(
    mongodb_uri: str,
    other_uri: str,
    stored: str | None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for step in UPGRADE_STEPS:  # a reader may not write: every write is refused
        module, name = step.target.split(":")
        monkeypatch.setattr(importlib.import_module(module), name, _refused)
    monkeypatch.setattr(db.connection, "raise_schema_version", _refused)
    if stored is None:  # an old database
        an_old_material()
        stored_at(None)
    else:
        connect(other_uri)
    connect(mongodb_uri if stored is None else other_uri)  # no exception
    assert schema_version() is None
    assert "not upgraded" in caplog.text and "write access" in caplog.text


def test_a_newer_database_warns_and_is_neither_upgraded_nor_lowered(
    mongodb_uri: str, runs: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    an_old_material()
    stored_at(SCHEMA_VERSION + 1)
    with caplog.at_level(logging.WARNING, logger="db.connection"):
        connect(mongodb_uri)
    assert runs == [] and descriptive_formula() is None
    assert schema_version() == SCHEMA_VERSION + 1
    assert f"schema version {SCHEMA_VERSION + 1}, newer than this matloop's" in caplog.text


def test_the_stored_version_is_only_ever_raised(mongodb_uri: str) -> None:
    meta = database()[SCHEMA_COLLECTION]
    raise_schema_version(meta, SCHEMA_VERSION + 2)
    raise_schema_version(meta, 1)  # an older process, late
    assert schema_version() == SCHEMA_VERSION + 2


class _RacedCollection:
    """The version's collection, where another process inserts the document first."""

    def __init__(self, real: Collection) -> None:
        self.real = real

    def update_one(self, query: dict, update: dict, upsert: bool = False) -> Any:
        if upsert:
            self.real.insert_one({"_id": SCHEMA_ID, "version": 1})
            raise DuplicateKeyError("E11000 duplicate key error", code=11000)
        return self.real.update_one(query, update)


def test_a_first_version_write_raced_by_another_process_becomes_an_update(
    mongodb_uri: str,
) -> None:
    stored_at(None)
    raced = _RacedCollection(database()[SCHEMA_COLLECTION])
    raise_schema_version(cast(Collection, raced), 2)
    assert schema_version() == 2


def test_two_processes_upgrading_an_old_database_at_once_both_succeed(
    mongodb_uri: str, literature_samples: SimpleNamespace
) -> None:
    LiteratureStore().ingest(literature_samples.extraction("10.1/a", ["MgB2", "LSCO"]))
    PaperDocument._get_collection().update_many({}, {"$unset": {"readings": ""}})
    an_old_material()
    stored_at(None)
    barrier, errors = threading.Barrier(2), []

    def upgrade() -> None:
        barrier.wait()
        try:
            upgrade_documents()
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=upgrade) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert schema_version() == SCHEMA_VERSION
    assert descriptive_formula() == "Fe2O3"
    paper = PaperDocument._get_collection().find_one()
    assert paper is not None and (paper["readings"], paper["records"]) == (2, 2)


def test_counting_readings_leaves_a_paper_another_process_counted_meanwhile(
    mongodb_uri: str, literature_samples: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    LiteratureStore().ingest(literature_samples.extraction("10.1/a", ["MgB2"]))
    papers = PaperDocument._get_collection()
    papers.update_many({}, {"$unset": {"readings": ""}})
    real = db.literature._records_citing

    def meanwhile(keys: list[str]) -> dict[str, int]:
        # another process upgrades the paper, then an ingest reads it twice more
        papers.update_many({}, {"$set": {"readings": 3, "records": 1}})
        return real(keys)

    monkeypatch.setattr(db.literature, "_records_citing", meanwhile)
    count_readings()
    paper = papers.find_one()
    assert paper is not None and paper["readings"] == 3


def test_a_dump_carries_its_version_into_a_connected_empty_database(
    mongodb_uri: str, other_uri: str, tmp_path: Path
) -> None:
    add_material("Fe2O3")
    stored_at(SCHEMA_VERSION + 1)  # written by a newer matloop, say
    dump(database(), tmp_path / "dump")
    connect(other_uri)  # stamps the empty target with this code's version
    restore(database(), tmp_path / "dump")  # no --drop needed for the stamp
    assert schema_version() == SCHEMA_VERSION + 1


def test_a_dump_from_before_versions_is_upgraded_on_the_next_connect(
    mongodb_uri: str, other_uri: str, tmp_path: Path, runs: list[str]
) -> None:
    an_old_material()
    stored_at(None)
    dump(database(), tmp_path / "dump")
    connect(other_uri)
    restore(database(), tmp_path / "dump")
    assert schema_version() is None  # not the target's stamp: its documents are older
    connect(other_uri)
    assert runs == STEP_FUNCTIONS and descriptive_formula() == "Fe2O3"


def test_a_backup_connection_copies_documents_as_stored_without_upgrading(
    mongodb_uri: str, runs: list[str]
) -> None:
    """`matloop db dump` must be able to back up a database before this matloop upgrades it."""
    an_old_material()
    stored_at(2)
    connect(mongodb_uri, prepare=False)
    assert runs == []
    assert descriptive_formula() is None
    assert schema_version() == 2
