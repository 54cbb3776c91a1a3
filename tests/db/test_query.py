"""OPTIMADE filters to MongoDB queries: field kinds and LENGTH, without a database."""

from __future__ import annotations

import pytest

from db.query import FilterError, optimade_to_mongo


def test_batch_is_text_as_trials_store_it() -> None:
    assert optimade_to_mongo('batch="b0001"', "trials") == {"batch": {"$eq": "b0001"}}
    with pytest.raises(FilterError, match="batch: 1 is not a string"):
        optimade_to_mongo("batch=1", "trials")


@pytest.mark.parametrize(
    ("op", "query"),
    [
        ("=", {"nelements": {"$eq": 4}}),
        ("!=", {"nelements": {"$ne": 4}}),
        ("<", {"nelements": {"$lt": 4}}),
        ("<=", {"nelements": {"$lte": 4}}),
        (">", {"nelements": {"$gt": 4}}),
        (">=", {"nelements": {"$gte": 4}}),
    ],
)
def test_material_length_compares_the_stored_count(op: str, query: dict) -> None:
    assert optimade_to_mongo(f"elements LENGTH {op} 4", "materials") == query


@pytest.mark.parametrize(
    ("op", "query"),
    [
        ("=", {"elements": {"$size": 4}}),
        ("!=", {"elements": {"$not": {"$size": 4}}}),
        ("<", {"elements.3": {"$exists": False}}),  # no 4th entry
        ("<=", {"elements.4": {"$exists": False}}),
        (">", {"elements.4": {"$exists": True}}),  # a 5th entry
        (">=", {"elements.3": {"$exists": True}}),
    ],
)
def test_record_length_tests_the_right_entry(op: str, query: dict) -> None:
    # records' nelements is null or absent on some records, so the list itself is tested
    assert optimade_to_mongo(f"elements LENGTH {op} 4", "records") == query


def test_negated_length_is_the_opposite_comparison() -> None:
    negated = optimade_to_mongo("NOT elements LENGTH >= 4", "records")
    assert {"elements.3": {"$exists": False}} in negated["$and"]
    assert optimade_to_mongo("NOT elements LENGTH != 2", "materials") == {"nelements": {"$eq": 2}}


def test_length_bounds_that_every_or_no_list_meets() -> None:
    assert optimade_to_mongo("elements LENGTH >= 0", "records") == {"elements": {"$nin": []}}
    assert optimade_to_mongo("elements LENGTH < 0", "records") == {"elements": {"$in": []}}
    for count in (-1, 2**63):
        with pytest.raises(FilterError, match=f"LENGTH: {count} is not a count"):
            optimade_to_mongo(f"elements LENGTH > {count}", "materials")


def test_a_doi_matches_whatever_its_case() -> None:
    query = optimade_to_mongo('doi="10.1103/PhysRevB.77.020503"', "papers")
    assert query == {"doi": {"$eq": "10.1103/physrevb.77.020503"}}  # stored lower-cased
    keyed = optimade_to_mongo('paper="doi:10.1103/PhysRevB.1"', "records")
    assert keyed == {"papers": {"$eq": "doi:10.1103/physrevb.1"}}
    prefix = optimade_to_mongo('doi STARTS WITH "10.1103/PhysRev"', "papers")
    assert prefix == {"doi": {"$regex": "^10\\.1103/physrev"}}
