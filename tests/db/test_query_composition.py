"""Composition filters translated: a composition campaign's trials by elements and formula
(tests of their fraction parameters), and ``fraction.<element>`` on every resource.
"""

from __future__ import annotations

import re

import pytest

from db.query import FilterError, optimade_to_mongo
from discovery.compositions import FORMULA_RTOL, ZERO_FRACTION
from discovery.spaces import ContinuousParameter

ELEMENTS = ["Li", "Fe", "O"]
PARAMETERS = [ContinuousParameter(symbol, 0.0, 1.0) for symbol in ELEMENTS]
PRESENT = {"$gt": ZERO_FRACTION}
ABSENT = {"$not": {"$gt": ZERO_FRACTION}}


def trials(text: str, composition: list[str] | None = ELEMENTS) -> dict:
    return optimade_to_mongo(text, "trials", parameters=PARAMETERS, composition=composition)


def test_an_element_is_present_where_its_fraction_is_above_float_noise() -> None:
    assert ZERO_FRACTION == 1e-12  # far above 1 - 0.7 - 0.3, far below any dopant
    assert trials('elements HAS "Fe"') == {"parameters.Fe": PRESENT}
    assert trials('elements HAS ALL "Fe","O"') == {
        "$and": [{"parameters.Fe": PRESENT}, {"parameters.O": PRESENT}]
    }
    assert trials('elements HAS ANY "Li","Fe"') == {
        "$or": [{"parameters.Li": PRESENT}, {"parameters.Fe": PRESENT}]
    }
    some = {"$or": [{f"parameters.{e}": PRESENT} for e in ELEMENTS]}  # NOT's "is known"
    assert trials('NOT elements HAS "Li"') == {"$and": [{"parameters.Li": ABSENT}, some]}


def test_a_count_of_elements_is_of_those_present() -> None:
    count = {
        "$add": [{"$cond": [{"$gt": [f"$parameters.{e}", ZERO_FRACTION]}, 1, 0]} for e in ELEMENTS]
    }
    assert trials("elements LENGTH 2") == {"$expr": {"$eq": [count, 2]}}
    assert trials("nelements <= 2") == {"$expr": {"$lte": [count, 2]}}
    assert trials("elements LENGTH != 2") == {"$nor": [{"$expr": {"$eq": [count, 2]}}]}
    only = trials('elements HAS ONLY "Fe","O"')  # nothing else, and something
    assert only == {
        "$and": [{"$nor": [{"parameters.Li": PRESENT}]}, {"$expr": {"$gt": [count, 0]}}]
    }


@pytest.mark.parametrize("spelling", ["Fe2O3", "O3Fe2", "Fe4O6", "FeO1.5", "Fe0.4O0.6"])
def test_a_formula_is_each_of_its_elements_fractions_and_no_other_element(spelling: str) -> None:
    assert trials(f'chemical_formula_reduced = "{spelling}"') == {
        "$and": [
            {"parameters.Fe": {"$gte": 0.4 - 0.4 * FORMULA_RTOL, "$lte": 0.4 + 0.4 * FORMULA_RTOL}},
            {"parameters.O": {"$gte": 0.6 - 0.6 * FORMULA_RTOL, "$lte": 0.6 + 0.6 * FORMULA_RTOL}},
            {"parameters.Li": ABSENT},
        ]
    }


def test_a_formula_excluded_is_the_one_selected_among_known_compositions() -> None:
    selected = trials('chemical_formula_reduced = "Fe2O3"')
    some = {"$or": [{f"parameters.{e}": PRESENT} for e in ELEMENTS]}
    assert trials('chemical_formula_reduced != "Fe2O3"') == {"$and": [{"$nor": [selected]}, some]}


def test_a_formula_on_a_trial_is_read_as_on_the_other_resources() -> None:
    hydrate = ["Mg", "S", "O", "H"]
    query = trials('chemical_formula_reduced = "MgSO4·7H2O"', hydrate)  # MgH14SO11
    bounds = {next(iter(clause)): clause[next(iter(clause))] for clause in query["$and"]}
    assert bounds["parameters.Mg"]["$gte"] == pytest.approx(1 / 27)
    assert bounds["parameters.H"]["$lte"] == pytest.approx(14 / 27)
    with pytest.raises(FilterError, match=r"^filter: chemical_formula_reduced: 'YBCO' is the "):
        trials('chemical_formula_reduced = "YBCO"')


def test_a_trials_fraction_is_its_elements_parameter() -> None:
    assert trials("fraction.fe >= 0.1 AND fraction.fe < 0.3") == trials(
        "parameters.fe >= 0.1 AND parameters.fe < 0.3"
    )


def test_a_stored_fraction_is_compared_where_stored_and_zero_where_absent() -> None:
    for resource in ("materials", "records"):
        assert optimade_to_mongo("fraction.sr >= 0.02", resource) == {
            "fractions.Sr": {"$gte": 0.02}
        }
    zero = {"fractions": {"$type": "object"}, "fractions.Sr": {"$exists": False}}
    assert optimade_to_mongo("fraction.sr < 0.03", "records") == {
        "$or": [{"fractions.Sr": {"$lt": 0.03}}, zero]
    }
    unknown = optimade_to_mongo("fraction.sr IS UNKNOWN", "records")
    assert {"fractions": None} in unknown["$or"][0]["$or"]  # a name's: no fractions


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fraction.xx > 0.1", "filter: fraction.xx: 'xx' is not an element symbol (write it "
         "in lower case: fraction.fe for Fe)"),
        ("fraction > 0.1", "filter: fraction holds a value per element: compare one, "
         "fraction.<element>"),
        ('fraction.fe > "0.1"', "filter: fraction.fe: '0.1' is not a number"),
        ("fraction.fe > fraction.o", "fraction.fe: fraction.o is not quoted, so it names a field"),
        ("fraction.fe HAS 0.1", "filter: fraction.fe is a number: HAS does not apply"),
        ('fraction.fe CONTAINS "1"', "filter: fraction.fe is a number: CONTAINS"),
        ("fraction.Fe > 0.1", "names are lower case ('fe', not 'Fe')"),
    ],
)  # fmt: skip
def test_a_fraction_of_no_element_or_of_no_number_is_refused_naming_it(
    text: str, message: str
) -> None:
    for resource in ("materials", "records"):
        with pytest.raises(FilterError, match=re.escape(message)):
            optimade_to_mongo(text, resource)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('elements HAS "fe"', "filter: elements: 'fe' is not an element symbol (case matters)"),
        ('elements CONTAINS "F"', "filter: elements: only HAS, HAS ALL, HAS ANY, HAS ONLY, "
         "LENGTH and IS KNOWN apply to a trial's elements"),
        ("nelements HAS 2", "filter: nelements is a number: HAS does not apply"),
        ('nelements > "2"', "filter: nelements: '2' is not a number"),
        ("elements LENGTH -1", "filter: elements LENGTH: -1 is not a count"),
        ('chemical_formula_reduced < "Fe2O3"', "filter: chemical_formula_reduced has no order: "
         "< does not apply; use = or !="),
        ('chemical_formula_reduced STARTS "Fe"', "filter: chemical_formula_reduced: CONTAINS, "
         "STARTS and ENDS do not apply; use ="),
        ('chemical_formula_reduced = "mgb2"', "filter: chemical_formula_reduced: 'mgb2' is not "
         "a chemical formula"),
    ],
)  # fmt: skip
def test_a_composition_test_a_campaign_cannot_hold_is_refused_naming_it(
    text: str, message: str
) -> None:
    with pytest.raises(FilterError, match=re.escape(message)):
        trials(text)


@pytest.mark.parametrize(
    "text",
    ['elements HAS "Fe"', "elements LENGTH 2", "nelements > 1", 'chemical_formula_reduced = "FeO"',
     "fraction.fe > 0.1"],
)  # fmt: skip
def test_composition_names_on_a_campaign_without_a_composition_are_refused_naming_them(
    text: str,
) -> None:
    name = text.split()[0]
    message = f"filter: {name}: this campaign's space is not a composition"
    with pytest.raises(FilterError, match=re.escape(message)):
        trials(text, composition=None)


def test_the_names_a_trial_filter_takes_include_a_compositions() -> None:
    with pytest.raises(FilterError) as refused:
        trials("formula = 1")
    allowed = str(refused.value)
    assert "'chemical_formula_reduced', " in allowed and "'nelements', " in allowed
    assert allowed.endswith("'parameters.<parameter>', 'fraction.<element>']")
    with pytest.raises(FilterError) as refused:
        trials("formula = 1", composition=None)
    assert "elements" not in str(refused.value) and "fraction" not in str(refused.value)


@pytest.mark.parametrize("text", ['elements HAS "Fe"', "fraction.fe > 0.1"])
def test_a_measurements_composition_points_to_its_trials(text: str) -> None:
    with pytest.raises(FilterError, match="a result's composition is its trial's: filter the"):
        optimade_to_mongo(text, "measurements")


def test_papers_have_no_fractions() -> None:
    with pytest.raises(
        FilterError, match=re.escape("'fraction.fe' cannot be filtered on for papers")
    ):
        optimade_to_mongo("fraction.fe > 0.1", "papers")
