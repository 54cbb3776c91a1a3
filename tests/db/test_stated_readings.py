"""A value stated exactly ("Tc = 39 K") and approximately ("Tc ~ 39 K") is one record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from db.connection import SCHEMA_COLLECTION, SCHEMA_ID, UPGRADE_STEPS, connect, database
from db.literature import (
    LiteratureStore,
    PaperDocument,
    PropertyRecordDocument,
    merge_stated_readings,
    record_key,
    record_qualifier,
)
from literature.parsing import parse_paper
from literature.pipeline import Extractor
from literature.records import PaperExtraction
from tests.stand_ins import SpansOf

STEP = next(s for s in UPGRADE_STEPS if s.target == "db.literature:merge_stated_readings")


@pytest.fixture
def literature(mongodb_uri: str) -> LiteratureStore:
    return LiteratureStore()


def read(doi: str, text: str, value: str) -> PaperExtraction:
    """``text`` read as paper ``doi:<doi>``: MgB2 and the Tc ``value`` tagged in it."""
    paper = replace(parse_paper(text.encode(), f"{doi}.txt"), doi=doi)
    tagger = SpansOf([("material", "MgB2"), ("tcValue", value)])
    return Extractor(tagger, "tagger-test:0").extract(paper)  # type: ignore[arg-type]


EXACT = read("10.1/exact", "MgB2 has Tc = 39 K.", "39 K")
ABOUT = read("10.1/about", "MgB2 has Tc ~39 K.", "~39 K")
BELOW = read("10.1/below", "MgB2 has Tc below 39 K.", "below 39 K")


def rows(literature: LiteratureStore) -> list[dict[str, object]]:
    found, _ = literature.records({}, sort="value", rejected="include")
    return found


def qualifiers(row: dict[str, object]) -> dict[object, object]:
    """Each source's paper and the qualifier it states."""
    return {s["paper"]: s["qualifier"] for s in row["sources"]}  # type: ignore[attr-defined]


def test_the_readings_differ_in_their_qualifier_only() -> None:
    (exact,), (about,), (below,) = EXACT.records, ABOUT.records, BELOW.records
    assert [r.qualifier for r in (exact, about, below)] == ["=", "~", "<"]
    assert record_key(exact) == record_key(about) != record_key(below)  # a bound is its own


@pytest.mark.parametrize("first", [EXACT, ABOUT])
def test_a_value_stated_exactly_and_approximately_is_one_record_of_two_papers(
    literature: LiteratureStore, first: PaperExtraction
) -> None:
    then = ABOUT if first is EXACT else EXACT
    literature.ingest(first)
    assert literature.ingest(then).records_merged == 1
    literature.ingest(BELOW)
    bound, value = rows(literature)  # the bound stays a claim of its own
    assert (bound["qualifier"], bound["n_papers"]) == ("<", 1)
    assert (value["value"], value["n_papers"], value["n_sources"]) == (39.0, 2, 2)
    assert value["qualifier"] == "="  # one paper states it exactly
    assert qualifiers(value) == {"doi:10.1/exact": "=", "doi:10.1/about": "~"}
    papers = {p["key"]: p["records"] for p in literature.papers({})[0]}
    assert papers == {"doi:10.1/exact": 1, "doi:10.1/about": 1, "doi:10.1/below": 1}


def test_the_qualifier_follows_the_sources_as_papers_are_removed_and_read_again(
    literature: LiteratureStore,
) -> None:
    literature.ingest(ABOUT)
    assert [r["qualifier"] for r in rows(literature)] == ["~"]  # every source approximates
    literature.ingest(EXACT)
    assert [r["qualifier"] for r in rows(literature)] == ["="]
    literature.remove_paper("doi:10.1/exact")
    (row,) = rows(literature)
    assert (row["qualifier"], row["n_papers"], qualifiers(row)) == ("~", 1, {"doi:10.1/about": "~"})
    literature.ingest(EXACT)  # read again
    literature.remove_paper("doi:10.1/about")
    (row,) = rows(literature)
    assert (row["qualifier"], qualifiers(row)) == ("=", {"doi:10.1/exact": "="})


def test_a_rejected_record_stays_rejected_when_a_paper_states_it_otherwise(
    literature: LiteratureStore,
) -> None:
    literature.ingest(ABOUT)
    (row,) = rows(literature)
    literature.reject_record(str(row["id"]), "tantalum's Tc", "curator")
    literature.ingest(EXACT)
    (row,) = rows(literature)
    assert row["qualifier"] == "=" and row["n_papers"] == 2
    assert row["rejection"]["reason"] == "tantalum's Tc"  # type: ignore[index]
    restored = literature.restore_record(str(row["id"]))
    assert restored["rejection"] is None and restored["qualifier"] == "="


def test_a_records_qualifier_is_approximate_only_while_every_source_says_so() -> None:
    def said(*qualifiers: str | None) -> list[dict[str, str]]:
        return [{} if q is None else {"qualifier": q} for q in qualifiers]

    assert record_qualifier(said("~", "~"), "=") == "~"
    assert record_qualifier(said("~", "=", "~"), "~") == "="
    assert record_qualifier(said("<"), "<") == "<"
    assert record_qualifier(said(None, "~"), "=") == "~"  # stored before: says nothing
    assert record_qualifier(said(None), "~") == "~"  # no source says: as stored


def stored_before(literature: LiteratureStore) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two records "~ 39 K" and "= 39 K" were, as stored before they were one.

    Returns:
        The approximate record and the exact one, as stored.
    """
    records = PropertyRecordDocument._get_collection()
    literature.ingest(ABOUT)
    about = records.find_one()
    assert about is not None
    old_key = about["key"].replace("|=39[", "|~39[")  # the key held the qualifier
    unqualified = {"sources.0.qualifier": ""}  # sources did not keep theirs
    records.update_one({"_id": about["_id"]}, {"$set": {"key": old_key}, "$unset": unqualified})
    literature.ingest(EXACT)  # keyed "=": misses the record keyed "~"
    exact = records.find_one({"key": {"$ne": old_key}})
    assert exact is not None and records.count_documents({}) == 2
    records.update_one({"_id": exact["_id"]}, {"$unset": unqualified})
    literature.ingest(BELOW)  # a bound: its key stays
    below = records.find_one({"qualifier": "<"})
    assert below is not None
    records.update_one({"_id": below["_id"]}, {"$unset": unqualified})
    about, exact = (records.find_one({"_id": raw["_id"]}) for raw in (about, exact))
    assert about is not None and exact is not None
    return about, exact


def test_records_stored_apart_by_their_qualifier_are_merged_on_upgrade(
    literature: LiteratureStore, mongodb_uri: str
) -> None:
    about, exact = stored_before(literature)
    literature.reject_record(str(about["_id"]), "a substrate's Tc", "curator")
    database()[SCHEMA_COLLECTION].update_one(
        {"_id": SCHEMA_ID}, {"$set": {"version": STEP.version - 1}}
    )
    connect(mongodb_uri)
    bound, value = rows(literature)
    assert value["id"] == str(exact["_id"]) and value["merged_ids"] == [str(about["_id"])]
    assert (value["qualifier"], value["n_papers"], value["n_sources"]) == ("=", 2, 2)
    assert qualifiers(value) == {"doi:10.1/about": "~", "doi:10.1/exact": "="}
    # the curator said the claim is wrong: it stays so, however a paper stated it
    assert value["rejection"]["reason"] == "a substrate's Tc"  # type: ignore[index]
    assert (bound["qualifier"], bound["n_papers"], qualifiers(bound)) == (
        "<",
        1,
        {"doi:10.1/below": "<"},  # its key held it: every source stated it
    )
    # lineage naming the merged record (a model's record_ids) finds the one it joined
    query = literature.records_query(ids=[str(about["_id"])])
    assert [r["id"] for r in literature.records(query, rejected="include")[0]] == [value["id"]]
    papers = {p["key"]: p["records"] for p in literature.papers({})[0]}
    assert papers == {"doi:10.1/exact": 1, "doi:10.1/about": 1, "doi:10.1/below": 1}
    records = PropertyRecordDocument._get_collection()
    before = list(records.find())
    merge_stated_readings()  # again: nothing to do
    assert list(records.find()) == before
    literature.remove_paper("doi:10.1/exact")
    (row,) = [r for r in rows(literature) if r["qualifier"] != "<"]
    assert (row["qualifier"], row["n_papers"]) == ("~", 1)  # the merged source's own


def about_stored_under(literature: LiteratureStore, old_key: Callable[[str], str]) -> str:
    """Store ABOUT as an older matloop did; return the key matloop gives it today.

    It is stored under ``old_key`` of that key, its source without a qualifier.
    """
    records = PropertyRecordDocument._get_collection()
    literature.ingest(ABOUT)
    about = records.find_one()
    assert about is not None
    change = {"$set": {"key": old_key(about["key"])}, "$unset": {"sources.0.qualifier": ""}}
    records.update_one({"_id": about["_id"]}, change)
    return str(about["key"])


def test_an_approximate_record_alone_takes_the_stated_key_and_keeps_its_qualifier(
    literature: LiteratureStore,
) -> None:
    records = PropertyRecordDocument._get_collection()
    key = about_stored_under(literature, lambda key: key.replace("|=39[", "|~39["))
    merge_stated_readings()
    (raw,) = records.find()
    assert (raw["key"], raw["qualifier"], raw["merged_ids"]) == (key, "~", [])
    assert raw["sources"][0]["qualifier"] == "~"
    assert literature.ingest(EXACT).records_merged == 1  # read today, it joins the record
    assert [r["qualifier"] for r in rows(literature)] == ["="]


def test_sources_of_a_record_keyed_before_its_reading_are_left_without_a_qualifier(
    literature: LiteratureStore,
) -> None:
    """A record keyed by its value alone (before 6021fb4) merged bounds and values."""
    records = PropertyRecordDocument._get_collection()
    oldest = "B2Mg|tc|39|K|"
    about_stored_under(literature, lambda _: oldest)
    merge_stated_readings()
    (raw,) = records.find()
    assert raw["key"] == oldest and "qualifier" not in raw["sources"][0]
    assert raw["qualifier"] == "~"  # as stored


def test_a_rejection_of_records_merged_is_the_latest_said(literature: LiteratureStore) -> None:
    from db.literature import _merge_records

    about, exact = stored_before(literature)
    records = PropertyRecordDocument._get_collection()
    for raw, reason, day in ((about, "later", 2), (exact, "earlier", 1)):
        rejection = {"reason": reason, "by": "curator", "at": datetime(2026, 12, day)}
        records.update_one({"_id": raw["_id"]}, {"$set": {"rejection": rejection}})
    _merge_records(str(exact["key"]), [about["_id"]], None)  # type: ignore[arg-type]
    merged = records.find_one({"_id": exact["_id"]})
    assert merged is not None and merged["rejection"]["reason"] == "later"
    assert PaperDocument.objects.count() == 3
