"""OPTIMADE filters to MongoDB queries: field kinds and LENGTH, without a database."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

import pytest
from bson import ObjectId

from db.documents import MaterialDocument
from db.literature import canonical_reduced_formula
from db.query import FilterError, identifier, material_query, mongo_sort, optimade_to_mongo
from discovery.domain import OutcomeConstraint
from discovery.spaces import CategoricalParameter, ContinuousParameter
from literature.formulas import read_formula
from literature.normalize import normalize_material


@pytest.mark.parametrize(
    ("resource", "field"), [("materials", "formula_descriptive"), ("records", "formula")]
)
def test_the_descriptive_formula_is_each_resources_formula_as_written(
    resource: str, field: str
) -> None:
    query = optimade_to_mongo('chemical_formula_descriptive="YBa2Cu3O7"', resource)
    assert query == {field: {"$eq": "YBa2Cu3O7"}}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'label = "Q \"quoted\" 1"', 'Q "quoted" 1'),
        (r'label = "\"x\""', '"x"'),  # quotes at the ends of the text itself
        (r'label = "a\\b"', "a\\b"),
        ('label = "plain"', "plain"),
        (r'label = "C:\temp"', "C:\\temp"),  # no escape: kept as written
    ],
)
def test_a_strings_escaped_quotes_and_backslashes_are_read_as_the_characters(
    text: str, value: str
) -> None:
    assert optimade_to_mongo(text, "trials") == {"label": {"$eq": value}}


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ('label CONTAINS "^P"', r"\^P"),  # the text's own ^, not an anchor
        ('label STARTS "$"', r"^\$"),
        ('label ENDS WITH "^"', r"\^$"),
        ('label STARTS WITH "a.b"', r"^a\.b"),
    ],
)
def test_contains_starts_and_ends_read_their_text_literally(text: str, pattern: str) -> None:
    assert optimade_to_mongo(text, "trials") == {"label": {"$regex": pattern}}


def test_a_text_too_long_to_match_is_a_filter_error_not_the_databases() -> None:
    fits = "a" * 999
    assert optimade_to_mongo(f'label STARTS "{fits}"', "trials") == {
        "label": {"$regex": "^" + fits}
    }
    with pytest.raises(FilterError, match=r"^filter: the text after CONTAINS is too long .*1980"):
        optimade_to_mongo(f'label CONTAINS "{"a" * 1980}"', "trials")
    with pytest.raises(FilterError, match="at most 1000"):  # escaped, each . counts twice
        optimade_to_mongo(f'label ENDS "{"." * 600}"', "trials")
    with pytest.raises(FilterError, match="material is too long to match"):
        optimade_to_mongo(f'material = "{"Xq" * 600}"', "records")


def test_batch_is_text_as_trials_store_it() -> None:
    assert optimade_to_mongo('batch="b0001"', "trials") == {"batch": {"$eq": "b0001"}}
    with pytest.raises(FilterError, match="batch: 1 is not a string"):
        optimade_to_mongo("batch=1", "trials")


@pytest.mark.parametrize(
    ("resource", "field"),
    [
        ("materials", "created_at"),
        ("trials", "created_at"),
        ("trials", "updated_at"),
        ("measurements", "received_at"),
        ("records", "created_at"),
        ("records", "updated_at"),
        ("papers", "ingested_at"),
    ],
)
def test_times_are_read_as_stored_utc_without_an_offset(resource: str, field: str) -> None:
    """A date is its midnight, a time without an offset UTC, one with an offset converted."""
    query = optimade_to_mongo(
        f'{field} >= "2026-12-07" AND {field} < "2026-12-07T09:30:00+02:00" '
        f'OR {field} = "2026-12-07T03:00:00Z"',
        resource,
    )
    window = [
        {field: {"$gte": datetime(2026, 12, 7)}},
        {field: {"$lt": datetime(2026, 12, 7, 7, 30)}},
    ]
    assert query == {"$or": [{"$and": window}, {field: {"$eq": datetime(2026, 12, 7, 3)}}]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('created_at > "yesterday"', "created_at: 'yesterday' is not a time; write an ISO 8601"),
        ('created_at > "07/12/2026"', "created_at: '07/12/2026' is not a time"),
        ("created_at > 2026", "created_at: 2026 is not a time"),
        ('created_at > "0001-01-01T00:30:00+01:00"', "is not a time"),  # before year 1 in UTC
        ('created_at CONTAINS "2026"', "created_at is not text: CONTAINS"),
    ],
)
def test_a_time_that_is_no_iso_8601_text_is_refused_naming_the_field(
    text: str, message: str
) -> None:
    with pytest.raises(FilterError, match=re.escape(message)):
        optimade_to_mongo(text, "records")


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


@pytest.mark.parametrize(
    ("text", "resource"),
    [
        ('label HAS ALL "P","Q"', "trials"),
        ('label HAS ONLY "P"', "trials"),
        ('NOT label HAS ALL "P","Q"', "trials"),
        ("label LENGTH 3", "trials"),
        ("candidate LENGTH >= 1", "trials"),
        ('title HAS ALL "x","y"', "papers"),
        ('property HAS ONLY "tc"', "records"),
        ("chemsys LENGTH 2", "materials"),
    ],
)
def test_a_list_test_on_a_field_of_one_value_is_refused_naming_it(text: str, resource: str) -> None:
    name = text.removeprefix("NOT ").split()[0]
    with pytest.raises(FilterError, match=f"{name} holds one value, not a list: HAS ALL"):
        optimade_to_mongo(text, resource)


def test_has_any_on_a_field_of_one_value_is_one_of_and_lists_take_every_test() -> None:
    assert optimade_to_mongo('label HAS ANY "P1","P2"', "trials") == {
        "label": {"$in": ["P1", "P2"]}
    }
    assert optimade_to_mongo('paper HAS ALL "10.1/k1","10.1/k2"', "records") == {
        "papers": {"$all": ["doi:10.1/k1", "doi:10.1/k2"]}
    }
    assert optimade_to_mongo('elements HAS ALL "Fe","O"', "materials") == {
        "elements": {"$all": ["Fe", "O"]}
    }
    assert optimade_to_mongo("paper LENGTH >= 2", "records") == {"papers.1": {"$exists": True}}


def test_a_doi_matches_whatever_its_case() -> None:
    query = optimade_to_mongo('doi="10.1103/PhysRevB.77.020503"', "papers")
    assert query == {"doi": {"$eq": "10.1103/physrevb.77.020503"}}  # stored lower-cased
    keyed = optimade_to_mongo('paper="doi:10.1103/PhysRevB.1"', "records")
    assert keyed == {"papers": {"$eq": "doi:10.1103/physrevb.1"}}
    prefix = optimade_to_mongo('doi STARTS WITH "10.1103/PhysRev"', "papers")
    assert prefix == {"doi": {"$regex": "^10\\.1103/physrev"}}


def test_records_materials_and_papers_are_found_by_id() -> None:
    one, two = "6b1396fb11088fdb855c9453", "6b1396fb11088fdb855c9454"
    for resource in ("materials", "papers"):
        assert optimade_to_mongo(f'id="{one}"', resource) == {"_id": {"$eq": ObjectId(one)}}

    def record(id_: str) -> dict[str, object]:  # its own id, or one merged into it
        test = {"$eq": ObjectId(id_)}
        return {"$or": [{"_id": test}, {"merged_ids": test}]}

    assert optimade_to_mongo(f'id="{one}"', "records") == record(one)
    # a model's record_ids, several at once
    several = optimade_to_mongo(f'id="{one}" OR id="{two}"', "records")
    assert several == {"$or": [record(one), record(two)]}
    with pytest.raises(FilterError, match=r"id: '6b1396fb' is not an id \(24 hex digits\)"):
        optimade_to_mongo('id="6b1396fb"', "records")


@pytest.mark.parametrize(
    ("text", "resource", "query"),
    [
        # OPTIMADE spells a reduced formula alphabetically, a chemical system sorted
        ('chemical_formula_reduced="MgB2"', "materials", {"formula_alphabetical": {"$eq": "B2Mg"}}),
        (
            'chemical_formula_reduced="Fe4O6"',
            "materials",
            {"formula_alphabetical": {"$eq": "Fe2O3"}},
        ),
        ('chemsys="Mg-B"', "materials", {"chemsys": {"$eq": "B-Mg"}}),
        (
            'chemical_formula_reduced="YBa2Cu3O7"',
            "records",
            {"formula_reduced": {"$eq": "Ba2Cu3O7Y"}},
        ),
        # materials and records store whole-number amounts where they fit
        (
            'chemical_formula_reduced="Fe0.5O0.75"',
            "materials",
            {"formula_alphabetical": {"$eq": "Fe2O3"}},
        ),
        (
            'chemical_formula_reduced="La1.85Sr0.15CuO4"',
            "records",
            {"formula_reduced": {"$eq": "Cu20La37O80Sr3"}},
        ),
        ('property="Tc"', "records", {"property": {"$eq": "tc"}}),
    ],
)
def test_formulas_systems_and_properties_are_read_in_their_stored_spelling(
    text: str, resource: str, query: dict
) -> None:
    assert optimade_to_mongo(text, resource) == query


@pytest.mark.parametrize(
    "spelling",
    [
        "La1.64Eu0.2Sr0.16CuO4",  # as a paper wrote it
        "Sr4La41Eu5Cu25O100",  # as a campaign's trial names it (formula_of)
        "La3.28Eu0.4Sr0.32Cu2O8",  # a multiple
        "Cu25Eu5La41O100Sr4",  # as stored
    ],
)
def test_a_records_formula_in_any_spelling_or_multiple_is_the_stored_one(spelling: str) -> None:
    stored = canonical_reduced_formula("La1.64Eu0.2Sr0.16CuO4")
    query = optimade_to_mongo(f'chemical_formula_reduced="{spelling}"', "records")
    assert query == {"formula_reduced": {"$eq": stored}} and stored == "Cu25Eu5La41O100Sr4"


def test_a_dopant_too_fine_for_whole_atoms_is_kept_in_a_records_formula() -> None:
    kept = canonical_reduced_formula("Zn0.9999Ga0.0001O")
    assert kept == canonical_reduced_formula("Zn1.9998Ga0.0002O2") == "Ga0.0001OZn0.9999"
    assert canonical_reduced_formula("LSCO") is None  # a name: no formula
    query = optimade_to_mongo('chemical_formula_reduced="Zn1.9998Ga0.0002O2"', "records")
    assert query == {"formula_reduced": {"$eq": kept}}


def test_a_formula_excluded_is_the_one_selected() -> None:
    excluded = optimade_to_mongo('chemical_formula_reduced!="MgB2"', "records")
    assert {"formula_reduced": {"$ne": "B2Mg"}} in excluded["$and"]
    excluded = optimade_to_mongo('chemsys!="O-Fe-O"', "materials")
    assert {"chemsys": {"$ne": "Fe-O"}} in excluded["$and"]


@pytest.mark.parametrize(
    ("text", "resource", "message"),
    [
        ('chemical_formula_reduced="mgb2"', "records", "'mgb2' is not a chemical formula"),
        ('chemical_formula_reduced="Qq2"', "materials", "'Qq' in 'Qq2' is not an element"),
        ('chemical_formula_reduced="Xx2O"', "materials", "'Xx' in 'Xx2O' is not an element"),
        ('chemical_formula_reduced="Ba1-xKxFe2As2"', "records", "has an amount that is a var"),
        ('chemical_formula_reduced="KxC60"', "records", "'KxC60' has an amount that is a var"),
        ('chemical_formula_reduced="Fe0O3"', "records", "'Fe0O3' gives Fe the amount 0"),
        ('chemical_formula_reduced="xyz"', "records", "'xyz' is not a chemical formula"),
        ('chemical_formula_reduced="La2-xSrxCuO4"', "records",
         "'La2-xSrxCuO4' has an amount that is a variable (x, y, z, δ)"),
        ('chemical_formula_reduced="Fe1+yTe"', "materials", "'Fe1+yTe' has an amount that is"),
        ("chemical_formula_reduced=2", "materials", "chemical_formula_reduced: 2 is not a string"),
        ('chemsys="Mg-b"', "materials", "chemsys: 'b' in 'Mg-b' is not an element symbol"),
        ('chemical_formula_reduced<"MgB2"', "records", "has no order: < does not apply"),
        ('chemsys>="B-Mg"', "materials", "chemsys has no order: >= does not apply"),
        ('status<="proposed"', "trials", "status has no order: <= does not apply; use = or !="),
        ('chemical_formula_reduced STARTS WITH "Mg"', "materials", "STARTS and ENDS do not"),
        ('chemsys CONTAINS "Mg-B"', "materials", "chemsys: CONTAINS, STARTS and ENDS do not"),
    ],
)  # fmt: skip
def test_a_formula_or_system_that_is_none_is_refused(
    text: str, resource: str, message: str
) -> None:
    with pytest.raises(FilterError, match=re.escape(message)):
        optimade_to_mongo(text, resource)


def registered_as(written: str) -> str:
    """The ``chemical_formula_reduced`` of a material registered (POST) as ``written``."""
    document = MaterialDocument(formula=read_formula(written))
    document.clean()
    return str(document.formula_alphabetical)


#: Formulas pymatgen alone misreads: an abbreviation (S, T, O), hydrates (O4.5 and H2O).
MISREAD = ("STO", "CuSO4.5H2O", "MgSO4·7H2O", "CuSO4 · 5H2O")


@pytest.mark.parametrize("written", [*MISREAD, "La1.85Sr0.15CuO4"])
def test_a_formula_is_read_as_writing_a_material_reads_it(written: str) -> None:
    # a filter for the way a material was written finds it
    query = optimade_to_mongo(f'chemical_formula_reduced="{written}"', "materials")
    assert query == {"formula_alphabetical": {"$eq": registered_as(written)}}


@pytest.mark.parametrize("written", MISREAD)
def test_a_records_formula_is_read_as_a_paper_is(written: str) -> None:
    stored = canonical_reduced_formula(str(normalize_material(written).formula))
    query = optimade_to_mongo(f'chemical_formula_reduced="{written}"', "records")
    assert query == {"formula_reduced": {"$eq": stored}}
    assert stored != canonical_reduced_formula(written)  # not as pymatgen alone reads it


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("YBCO", "'YBCO' is the abbreviation of YBa2Cu3O7-δ, in which δ is not fixed"),
        ("YBCO6.7", "'YBCO' is the abbreviation of YBa2Cu3O7-δ"),
        ("Fe(III)2O3", "'Fe(III)' gives an oxidation state in Roman numerals"),
        ("D2O", "holds D (deuterium)"),
    ],
)
def test_a_formula_writing_refuses_is_refused_naming_the_field(written: str, why: str) -> None:
    for resource in ("materials", "records"):
        with pytest.raises(FilterError, match=re.escape(why)) as refused:
            optimade_to_mongo(f'chemical_formula_reduced="{written}"', resource)
        assert str(refused.value).startswith(f"filter: chemical_formula_reduced: '{written}'")


@pytest.mark.parametrize(
    "written",
    [
        "10.1103/PhysRevB.1",  # bare
        "doi:10.1103/physrevb.1",  # as a key spells it
        "DOI: 10.1103/PhysRevB.1",
        "https://doi.org/10.1103/PhysRevB.1",  # a link
        "http://dx.doi.org/10.1103/physrevb.1",
    ],
)
def test_a_doi_however_written_is_compared_as_stored(written: str) -> None:
    # as `matloop literature papers --doi` reads it: an empty page would say "no such paper"
    doi = optimade_to_mongo(f'doi="{written}"', "papers")
    assert doi == {"doi": {"$eq": "10.1103/physrevb.1"}}
    key = optimade_to_mongo(f'key="{written}"', "papers")
    assert key == {"key": {"$eq": "doi:10.1103/physrevb.1"}}
    paper = optimade_to_mongo(f'paper="{written}"', "records")
    assert paper == {"papers": {"$eq": "doi:10.1103/physrevb.1"}}


def test_a_text_hash_key_is_compared_as_written_in_lower_case() -> None:
    assert optimade_to_mongo('key="SHA256:AB12CD34"', "papers") == {
        "key": {"$eq": "sha256:ab12cd34"}
    }
    assert optimade_to_mongo('paper="ab12cd34"', "records") == {
        "papers": {"$eq": "sha256:ab12cd34"}
    }


@pytest.mark.parametrize("written", ["garbage", "sha256:ab12", "ab12cd3", "sha256:xyz12345"])
def test_a_text_that_can_be_no_papers_key_is_refused_naming_the_field(written: str) -> None:
    # an empty page would say "this paper gave no records"
    with pytest.raises(FilterError, match=rf"filter: paper: '{written}' is no paper's key"):
        optimade_to_mongo(f'paper="{written}"', "records")


def test_a_material_that_reads_as_a_formula_is_its_composition_in_any_spelling() -> None:
    fe2o3 = {"$or": [{"formula_reduced": "Fe2O3"}, {"material": "Fe4O6"}]}
    assert optimade_to_mongo('material="Fe4O6"', "records") == fe2o3
    sto = optimade_to_mongo('material="STO"', "records")  # read as written: SrTiO3
    assert sto == {"$or": [{"formula_reduced": "O3SrTi"}, {"material": "STO"}]}
    # case-sensitive as in chemistry: cobalt is not carbon monoxide
    assert material_query("Co")["$or"][0] == {"formula_reduced": "Co"}
    assert material_query("CO")["$or"][0] == {"formula_reduced": "CO"}
    excluded = optimade_to_mongo('material!="Fe4O6"', "records")  # what = selects, not more
    assert {"formula_reduced": {"$ne": "Fe2O3"}, "material": {"$ne": "Fe4O6"}} in excluded["$and"]


@pytest.mark.parametrize("written", ["C60", "O3", "O2", "S1050"])
def test_one_element_with_an_amount_is_matched_as_written_not_as_the_element(
    written: str,
) -> None:
    # fullerene is not graphite, ozone not oxygen, a steel grade not sulfur
    as_written = [{"formula": written}, {"material": written}]
    assert optimade_to_mongo(f'material="{written}"', "records") == {"$or": as_written}
    excluded = {"formula": {"$ne": written}, "material": {"$ne": written}}
    assert material_query(written, negated=True) == excluded
    assert material_query("C") == {"$or": [{"formula_reduced": "C"}, {"material": "C"}]}
    assert material_query("O")["$or"][0] == {"formula_reduced": "O2"}  # every form of oxygen
    spaced = [{"formula": "C60"}, {"material": "C 60"}]  # set apart, as PDFs may write it
    assert material_query("C 60") == {"$or": spaced}


@pytest.mark.parametrize("written", ["mgb2", "LSCO", "YBCO", "Co-1212", "magnesium diboride"])
def test_a_material_that_is_no_formula_is_a_name_in_any_case(written: str) -> None:
    # "mgb2": no element symbols spell it, so it is a name, and finds the records of MgB2
    name = {"$regex": f"^{re.escape(written)}$", "$options": "i"}
    as_written = [{"material": name}, {"sources.material_text": name}]  # YBCO: YBa2Cu3O7
    assert optimade_to_mongo(f'material="{written}"', "records") == {"$or": as_written}
    excluded = {"material": {"$not": name}, "sources.material_text": {"$not": name}}
    assert material_query(written, negated=True) == excluded


def test_a_material_takes_the_other_tests_of_text() -> None:
    assert optimade_to_mongo('material CONTAINS "Mg"', "records") == {"material": {"$regex": "Mg"}}
    with pytest.raises(FilterError, match="material: 3 is not a string"):
        optimade_to_mongo("material=3", "records")


@pytest.mark.parametrize(
    ("text", "where", "hint"),
    [
        ("Value>3", "at column 1 ('Value')", "names are lower case ('value', not 'Value')"),
        ("property='tc'", "at column 10", "text values take plain double quotes"),
        ("value > 3 AND", "it ends where", "a dangling AND: a comparison must follow it"),
        ("nelements=2 OR", "it ends where", "a dangling OR"),
        ("parameters.Fe>0.4", "at column 12 ('Fe')", "names are lower case ('fe', not 'Fe')"),
        ("material = MgB2", "at column 12 ('MgB2')", 'text values take double quotes ("MgB2")'),
        ("value==3", "at column 7 ('=')", "the comparisons are =, !=, <, <=, >, >="),
        ("value>3 and nelements<2", "at column 13", "upper case (AND, not and)"),
        ("(value>3", "it ends where AND, OR or ) should follow", "a ( is not closed"),
        ("value>3)", "at column 8 (')')", "no ( is open"),
    ],
)
def test_a_filter_that_does_not_parse_says_where_and_why(text: str, where: str, hint: str) -> None:
    with pytest.raises(FilterError) as refused:
        optimade_to_mongo(text, "records")
    message = str(refused.value)
    assert message.startswith(f"filter: cannot parse {text!r}") and "Lark" not in message
    assert where in message and hint in message


def test_a_filter_the_translation_does_not_support_says_so() -> None:
    with pytest.raises(FilterError, match="is not supported: Comparing strings"):
        optimade_to_mongo('"a"="b"', "records")


@pytest.mark.parametrize(
    ("outcome", "written"),
    [
        ("tc", "tc"),
        ("Tc", "tc"),
        ("band gap", "band_gap"),
        ("PCE (AM1.5)", "pce_am1_5"),
        ("E_g", "e_g"),
        ("2theta", None),  # a digit first: no identifier
        ("Δ", None),
    ],
)
def test_an_outcome_is_written_as_a_lower_case_identifier(
    outcome: str, written: str | None
) -> None:
    assert identifier(outcome) == written


OUTCOMES = ["PCE (AM1.5)", "Tc", "band gap", "2theta"]


def test_an_outcomes_value_is_compared_at_its_stored_name() -> None:
    query = optimade_to_mongo("values.tc >= 30 AND values.band_gap < 1.5", "measurements", OUTCOMES)
    assert query == {"$and": [{"values.Tc": {"$gte": 30}}, {"values.band gap": {"$lt": 1.5}}]}


def test_an_outcome_whose_name_holds_a_dot_is_compared_by_expression() -> None:
    value = {"$getField": {"field": {"$literal": "PCE (AM1.5)"}, "input": "$values"}}
    query = optimade_to_mongo("values.pce_am1_5 > 9", "measurements", OUTCOMES)
    assert query == {"$expr": {"$and": [{"$isNumber": value}, {"$gt": [value, 9]}]}}


@pytest.mark.parametrize(
    ("text", "outcomes", "message"),
    [
        ('values.tc="high"', OUTCOMES, "filter: values.tc: 'high' is not a number"),
        ('values.tc CONTAINS "1"', OUTCOMES, "CONTAINS, STARTS and ENDS do not apply"),
        (
            "values.theta > 1",
            OUTCOMES,
            "filter: values.theta is not an outcome of this campaign; its outcomes are "
            "values.pce_am1_5 ('PCE (AM1.5)'), values.tc ('Tc'), values.band_gap ('band gap'); "
            "'2theta' cannot be named",
        ),
        (
            "values.tc > 1",
            ["Tc", "tc"],
            "filter: values.tc names several outcomes ('Tc', 'tc'): their names differ only",
        ),
        ("values.tc > 1", [], "its outcomes are none a filter can name"),
    ],
)
def test_a_filter_on_an_outcome_it_cannot_name_or_compare_is_refused(
    text: str, outcomes: list[str], message: str
) -> None:
    with pytest.raises(FilterError, match=re.escape(message)):
        optimade_to_mongo(text, "measurements", outcomes)


def test_values_are_filtered_on_measurements_only() -> None:
    with pytest.raises(
        FilterError, match=re.escape("'values.tc' cannot be filtered on for trials")
    ):
        optimade_to_mongo("values.tc > 1", "trials", OUTCOMES)


@pytest.mark.parametrize(
    ("text", "resource", "expected"),
    [
        ("", "measurements", [("received_at", 1), ("_id", 1)]),
        ("-values.tc", "measurements", [("values.Tc", -1), ("received_at", 1), ("_id", 1)]),
        ("-received_at", "measurements", [("received_at", -1), ("_id", -1)]),  # reversed
        (
            "source, values.band_gap",
            "measurements",
            [("source", 1), ("values.band gap", 1), ("received_at", 1), ("_id", 1)],
        ),
        ("", "trials", [("sequence", 1)]),
        ("-created_at", "trials", [("sequence", -1)]),
        (
            "batch,-acquisition_value",
            "trials",
            [("batch", 1), ("acquisition_value", -1), ("sequence", 1)],
        ),
    ],
)
def test_a_sort_ends_in_the_listings_own_order(
    text: str, resource: str, expected: list[tuple[str, int]]
) -> None:
    assert mongo_sort(text, resource, OUTCOMES) == expected


def test_a_sort_on_an_outcome_whose_name_holds_a_dot_is_an_expression() -> None:
    value = {"$getField": {"field": {"$literal": "PCE (AM1.5)"}, "input": "$values"}}
    assert mongo_sort("-values.pce_am1_5", "measurements", OUTCOMES)[0] == (value, -1)


def test_an_unknown_sort_names_sort_and_the_keys_allowed() -> None:
    with pytest.raises(FilterError, match=re.escape("sort: 'value' is not a field to sort")):
        mongo_sort("value", "measurements", OUTCOMES)
    with pytest.raises(FilterError, match=re.escape("sort: values.voc is not an outcome")):
        mongo_sort("values.voc", "measurements", OUTCOMES)


@pytest.mark.parametrize(
    ("text", "resource", "twice"),
    [
        ("-values.band_gap,values.band_gap", "measurements", "values.band_gap"),
        ("batch,-batch", "trials", "batch"),
        ("source,source", "measurements", "source"),
        ("-values.pce_am1_5,values.pce_am1_5", "measurements", "values.pce_am1_5"),
    ],
)
def test_a_sort_key_named_twice_is_refused_naming_it(text: str, resource: str, twice: str) -> None:
    # the database would keep the last: "-x,x" would sort ascending, silently
    with pytest.raises(FilterError, match=re.escape(f"sort: {twice!r} is named twice in")):
        mongo_sort(text, resource, OUTCOMES)


#: A campaign's parameters: a name people write, a categorical, an element's fraction.
PARAMETERS = (
    ContinuousParameter("Temperature (C)", 0, 300),
    CategoricalParameter("solvent", ("water", "ethanol")),
    ContinuousParameter("Fe", 0, 1),
    ContinuousParameter("2theta", 0, 90),
)
SPELLED = (
    "parameters.temperature_c ('Temperature (C)'), parameters.solvent ('solvent'), "
    "parameters.fe ('Fe'); '2theta' cannot be named"
)


def _trials(text: str) -> dict[str, Any]:
    return optimade_to_mongo(text, "trials", parameters=PARAMETERS)


@pytest.mark.parametrize(
    ("text", "query"),
    [
        (
            'parameters.temperature_c > 50 AND status="completed"',
            {
                "$and": [
                    {"parameters.Temperature (C)": {"$gt": 50}},
                    {"status": {"$eq": "completed"}},
                ]
            },
        ),
        ('parameters.solvent = "water"', {"parameters.solvent": {"$eq": "water"}}),
        ('parameters.solvent STARTS WITH "eth"', {"parameters.solvent": {"$regex": "^eth"}}),
        ("parameters.fe >= 0.25", {"parameters.Fe": {"$gte": 0.25}}),  # as a composition's
    ],
)
def test_a_parameter_is_compared_at_its_stored_name(text: str, query: dict) -> None:
    assert _trials(text) == query


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "parameters.pressure > 1",
            f"filter: parameters.pressure is not a parameter of this campaign; its parameters "
            f"are {SPELLED}",
        ),
        ("parameters.a.b = 1", "filter: parameters.a.b is not a parameter of this campaign"),
        ("parameters.fe.x = 1", "filter: parameters.fe.x is not a parameter of this campaign"),
        ("parameters.$where = 1", "cannot parse 'parameters.$where = 1' at column 12 ('$')"),
        ('parameters."$where" = 1', "cannot parse"),
        ("parameters = 1", "filter: parameters holds a value per parameter: compare one"),
        (
            "parameters.solvent = 1",
            "filter: parameters.solvent: 1 is not one of ['water', 'ethanol']",
        ),
        ('parameters.solvent != "$ne"', "filter: parameters.solvent: '$ne' is not one of"),
        ('parameters.solvent = "Water"', "'Water' is not one of ['water', 'ethanol']"),
        (
            'parameters.solvent > "a"',
            "filter: parameters.solvent is one of ['water', 'ethanol']: <, <=, > and >= do not",
        ),
        (
            'parameters.solvent HAS "water"',
            "parameters.solvent is one of ['water', 'ethanol']: HAS",
        ),
        (
            'parameters.temperature_c = "hot"',
            "filter: parameters.temperature_c: 'hot' is not a number",
        ),
        ("parameters.fe = TRUE", "filter: parameters.fe: True is not a number"),
        ("parameters.fe LENGTH 1", "filter: parameters.fe is a number: LENGTH does not apply"),
        ('parameters.fe CONTAINS "1"', "parameters.fe is a number: CONTAINS, STARTS and ENDS do"),
    ],
)
def test_a_filter_on_a_parameter_it_cannot_name_or_compare_is_refused(
    text: str, message: str
) -> None:
    with pytest.raises(FilterError, match=re.escape(message)):
        _trials(text)


def test_a_parameter_is_named_only_on_trials_and_of_the_campaign_given() -> None:
    with pytest.raises(FilterError, match="its parameters are none a filter can name"):
        optimade_to_mongo("parameters.fe > 0", "trials")
    with pytest.raises(
        FilterError, match=re.escape("'parameters.fe' cannot be filtered on for measurements")
    ):
        optimade_to_mongo("parameters.fe > 0", "measurements", parameters=PARAMETERS)
    with pytest.raises(
        FilterError, match=re.escape("'strategy', 'updated_at', 'parameters.<parameter>']")
    ):
        _trials("temperature > 1")


def test_a_sort_on_a_parameter_is_its_stored_field() -> None:
    sort = mongo_sort(
        "-parameters.temperature_c,parameters.solvent", "trials", parameters=PARAMETERS
    )
    assert sort == [("parameters.Temperature (C)", -1), ("parameters.solvent", 1), ("sequence", 1)]
    with pytest.raises(FilterError, match=re.escape("sort: parameters.a.b is not a parameter")):
        mongo_sort("parameters.a.b", "trials", parameters=PARAMETERS)
    with pytest.raises(
        FilterError, match=re.escape("claimed_by, label, parameters.<parameter>, with")
    ):
        mongo_sort("parameters", "trials", parameters=PARAMETERS)


#: The outcome constraints of the feasibility tests: a name with a dot, a lower bound only.
CONSTRAINTS = (OutcomeConstraint("band gap", 1.1, 1.7), OutcomeConstraint("E.g", lower=0.0))


def _measurements(text: str) -> dict[str, Any]:
    return optimade_to_mongo(text, "measurements", constraints=CONSTRAINTS)


def _edges(query: dict[str, Any]) -> dict[str, float]:
    """The bounds of ``band gap`` that a feasibility query compares with, by operator."""
    clauses = query.get("$and") or query["$or"]
    return {op: v for c in clauses for op, v in c.get("values.band gap", {}).items()}


@pytest.mark.parametrize("text", ["feasible = TRUE", "feasible = true", 'feasible = "true"'])
def test_feasible_results_meet_every_constraint(text: str) -> None:
    query = _measurements(text)
    gap = _edges(query)
    assert set(gap) == {"$gte", "$lte"} and gap["$gte"] < 1.1 < 1.7 < gap["$lte"]
    assert query["$and"][1] == {
        "$expr": {
            "$and": [
                {"$isNumber": {"$getField": {"field": {"$literal": "E.g"}, "input": "$values"}}},
                {"$gte": [{"$getField": {"field": {"$literal": "E.g"}, "input": "$values"}}, 0.0]},
            ]
        }
    }


@pytest.mark.parametrize("text", ["feasible = FALSE", "feasible=false", "feasible != TRUE"])
def test_infeasible_results_fail_a_constraint(text: str) -> None:
    query = _measurements(text)
    failed = query["$and"][0] if "$and" in query else query  # != also asks for a value
    assert len(failed["$or"]) == 3 and set(_edges(failed)) == {"$lt", "$gt"}


def test_not_infeasible_is_feasible() -> None:
    known = {"_id": {"$exists": True}}  # NOT x = v also asks for a value: every result has one
    assert _measurements("NOT feasible = false") == {
        "$and": [_measurements("feasible=TRUE"), known]
    }


@pytest.mark.parametrize(
    "constraint",
    [
        OutcomeConstraint("band gap", 1.1, 1.7),
        OutcomeConstraint("x", -2.5, -1e-300),
        OutcomeConstraint("x", 0.0, 3e8),
    ],
)
def test_feasible_is_tested_as_the_constraint_itself_tells(constraint: OutcomeConstraint) -> None:
    """A value a relative 1e-12 past a bound is on it (unit conversion): the query agrees."""
    query = optimade_to_mongo("feasible = true", "measurements", constraints=[constraint])
    test = query["$and"][0][f"values.{constraint.name}"]
    assert set(test) == {"$gte", "$lte"}
    for op, edge in test.items():
        outward = -math.inf if op == "$gte" else math.inf
        assert constraint.satisfied(edge)  # the last value accepted, and the next is not
        assert not constraint.satisfied(math.nextafter(edge, outward))


@pytest.mark.parametrize(
    ("text", "matches"),
    [("feasible IS KNOWN", True), ("feasible IS UNKNOWN", False)],
)
def test_every_result_is_feasible_or_not(text: str, matches: bool) -> None:
    assert {"_id": {"$exists": matches}} in _measurements(text)["$" + ("and" if matches else "or")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_version = null", 'text is written "null" (a missing value: model_version IS '
         "UNKNOWN)"),
        ("status=completed", 'filter: status: completed is not quoted, so it names a field'),
        ('label HAS ANY "a", b', 'label: b is not quoted'),
        ("parameters.solvent CONTAINS water", 'text is written "water"'),
    ],
)  # fmt: skip
def test_a_bare_name_as_a_value_is_refused_not_read_as_text(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=re.escape(message)):
        optimade_to_mongo(text, "trials", parameters=["solvent"])
    assert optimade_to_mongo('status = "completed"', "trials") == {"status": {"$eq": "completed"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('feasible = "yes"', "filter: feasible: 'yes' is not true or false (write feasible = true"),
        ("feasible = 1", "filter: feasible: 1 is not true or false"),
        ("feasible = maybe", "filter: feasible: maybe is not quoted, so it names a field"),
        ("feasible > FALSE", "filter: feasible is true or false: <, <=, > and >= do not apply"),
        ("feasible HAS TRUE", "filter: feasible is true or false: HAS does not apply"),
        ('feasible CONTAINS "t"', "feasible is true or false: CONTAINS, STARTS and ENDS do not"),
    ],
)
def test_feasible_takes_true_or_false(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=re.escape(message)):
        _measurements(text)


def test_feasible_needs_outcome_constraints_and_a_result() -> None:
    with pytest.raises(FilterError, match="feasible: this campaign has no outcome constraints"):
        optimade_to_mongo("feasible = true", "measurements", ["tc"])
    with pytest.raises(
        FilterError, match=re.escape("'feasible' cannot be filtered on for trials; use one of")
    ) as refused:
        optimade_to_mongo("feasible = false", "trials", constraints=CONSTRAINTS)
    assert str(refused.value).endswith("feasible is a result's: filter measurements")


def test_true_and_false_are_values_that_other_fields_refuse() -> None:
    with pytest.raises(FilterError, match="filter: status: True is not a string"):
        optimade_to_mongo("status = TRUE", "trials")
    with pytest.raises(FilterError, match="filter: nelements: False is not a number"):
        optimade_to_mongo("nelements = FALSE", "materials")


@pytest.mark.parametrize("text", ["1=1", 'status="running" OR 1=1', "2.5 = 2"])
def test_a_test_of_two_constants_is_a_filter_error(text: str) -> None:
    # the first thing a security scan tries; it was an AttributeError (a bare 500)
    with pytest.raises(FilterError, match=r"^filter: a test compares two constants"):
        optimade_to_mongo(text, "trials")


def test_records_trials_and_papers_take_the_fields_researchers_ask_for() -> None:
    unknown = [{"conditions.field_t": {"$exists": False}}, {"conditions.field_t": {"$eq": None}}]
    assert optimade_to_mongo("field_t IS UNKNOWN AND uncertainty < 1", "records") == {
        "$and": [{"$or": unknown}, {"uncertainty": {"$lt": 1}}]
    }
    assert optimade_to_mongo('reason = "campaign closed"', "trials") == {
        "reason": {"$eq": "campaign closed"}
    }
    assert optimade_to_mongo('source ENDS WITH ".pdf"', "papers") == {
        "source": {"$regex": "\\.pdf$"}
    }
    with pytest.raises(FilterError, match="field_t: 'high' is not a number"):
        optimade_to_mongo('field_t > "high"', "records")
