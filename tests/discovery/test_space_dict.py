"""``SearchSpace.from_dict``: strict at every level, with the path and the problem named."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from discovery.spaces import (
    CategoricalParameter,
    ContinuousParameter,
    LinearConstraint,
    SearchSpace,
    SimplexConstraint,
)

X = {"name": "x", "type": "continuous", "lower": 0, "upper": 1}
CONTINUOUS = "(a continuous parameter has name, type, lower, upper, unit)"
CATEGORICAL = "(a categorical parameter has name, type, choices)"
LINEAR = "(a linear constraint has terms, upper; "


def _refused(data: Any) -> str:
    """The message of the ValueError ``from_dict`` raises on ``data``."""
    with pytest.raises(ValueError) as caught:
        SearchSpace.from_dict(data)
    return str(caught.value)


# -- unknown keys: refused where they are, naming the keys allowed ------------------------
MISSPELLED = {
    "linear_constraints": (
        {"parameters": [X], "linear_constraints": [{"terms": {"x": 1}, "upper": 0.5}]},
        "space.linear_constraints: unknown key (a space has parameters, simplex, linear)",
    ),
    "units": (
        {"parameters": [X | {"units": "degC"}]},
        f"space.parameters[0].units: unknown key {CONTINUOUS}",
    ),
    "log_scale": (
        {"parameters": [X | {"log_scale": True}]},
        f"space.parameters[0].log_scale: unknown key {CONTINUOUS}",
    ),
    "step": (
        {"parameters": [X, X | {"name": "y", "step": 0.1}]},
        f"space.parameters[1].step: unknown key {CONTINUOUS}",
    ),
    "low-high": (
        {"parameters": [{"name": "x", "low": 0, "high": 1}]},
        f"space.parameters[0].low: unknown key {CONTINUOUS}",
    ),
    "values": (
        {"parameters": [{"name": "c", "type": "categorical", "values": ["a", "b"]}]},
        f"space.parameters[0].values: unknown key {CATEGORICAL}",
    ),
    "categorical-unit": (
        {"parameters": [{"name": "c", "type": "categorical", "choices": ["a", "b"], "unit": "-"}]},
        f"space.parameters[0].unit: unknown key {CATEGORICAL}",
    ),
    "simplex-sum": (
        {"parameters": [X], "simplex": [{"names": ["x"], "sum": 1}]},
        "space.simplex[0].sum: unknown key (a simplex constraint has names, total)",
    ),
    "linear-max": (
        {"parameters": [X], "linear": [{"terms": {"x": 1}, "max": 0.5}]},
        f"space.linear[0].max: unknown key {LINEAR}",
    ),
    "linear-lower": (
        {"parameters": [X], "linear": [{"terms": {"x": 1}, "upper": 0.5, "lower": 0.1}]},
        f"space.linear[0].lower: unknown key {LINEAR}",
    ),
    "odd-key": (
        {"parameters": [X], "linear": [{"terms": {"x": 1}, "upper": 0.5, "upper ": 1}]},
        "space.linear[0]['upper ']: unknown key",
    ),
}


@pytest.mark.parametrize(("data", "message"), MISSPELLED.values(), ids=MISSPELLED.keys())
def test_an_unknown_key_is_refused_naming_its_path_and_the_keys_allowed(
    data: dict[str, Any], message: str
) -> None:
    assert _refused(data).startswith(message)


def test_the_linear_hint_says_how_to_write_a_lower_limit() -> None:
    message = _refused({"parameters": [X], "linear": [{"terms": {"x": 1}, "min": 0.1}]})
    assert "negate the terms for a lower limit" in message


# -- missing keys and wrong shapes: a path and a problem, never a Python exception --------
#: Two parameters in [0, 1].
AB = [{"name": "a", "lower": 0, "upper": 1}, {"name": "b", "lower": 0, "upper": 1}]

MALFORMED = {
    "parameters-object": ({"parameters": {"x": [0, 1]}}, "space.parameters: must be a list"),
    "parameter-text": ({"parameters": ["x"]}, "space.parameters[0]: must be an object"),
    "no-lower": (
        {"parameters": [{"name": "x", "upper": 1}]},
        f"space.parameters[0].lower: required {CONTINUOUS}",
    ),
    "no-name": ({"parameters": [{"lower": 0, "upper": 1}]}, "space.parameters[0].name: required"),
    "no-choices": (
        {"parameters": [{"name": "c", "type": "categorical"}]},
        f"space.parameters[0].choices: required {CATEGORICAL}",
    ),
    "no-parameters": ({"simplex": []}, "space.parameters: required"),
    "space-list": ([X], "space: must be an object (a space has parameters, simplex, linear)"),
    "simplex-list": (
        {"parameters": [X], "simplex": [["x"]]},
        "space.simplex[0]: must be an object (a simplex constraint has names, total), got ['x']",
    ),
    "simplex-object": ({"parameters": [X], "simplex": {"names": ["x"]}}, "space.simplex: must"),
    "simplex-no-names": (
        {"parameters": [X], "simplex": [{"total": 1}]},
        "space.simplex[0].names: required",
    ),
    "linear-no-upper": (
        {"parameters": [X], "linear": [{"terms": {"x": 1}}]},
        f"space.linear[0].upper: required {LINEAR}",
    ),
    "linear-terms-list": (
        {"parameters": [X], "linear": [{"terms": [["x", 1]], "upper": 1}]},
        "space.linear[0].terms: must be a non-empty object of parameter name: coefficient",
    ),
    "linear-no-terms": (
        {"parameters": [X], "linear": [{"terms": {}, "upper": 1}]},
        "space.linear[0].terms: must be a non-empty object",
    ),
    "type-unknown": (
        {"parameters": [X | {"type": "integer"}]},
        "space.parameters[0].type: unknown parameter type 'integer' "
        "(one of continuous, categorical)",
    ),
    "type-list": ({"parameters": [X | {"type": ["continuous"]}]}, "space.parameters[0].type"),
    "name-number": ({"parameters": [X | {"name": 3}]}, "space.parameters[0].name: must be text"),
    "lower-text": ({"parameters": [X | {"lower": "0"}]}, "space.parameters[0].lower: must be a"),
    "lower-bool": ({"parameters": [X | {"lower": False}]}, "space.parameters[0].lower: must be"),
    "lower-list": ({"parameters": [X | {"lower": [0]}]}, "space.parameters[0].lower: must be"),
    "lower-nan": ({"parameters": [X | {"lower": float("nan")}]}, "[0].lower: must be finite"),
    "upper-huge": ({"parameters": [X | {"upper": 10**400}]}, "[0].upper: 1000"),
    "unit-number": ({"parameters": [X | {"unit": 1}]}, "space.parameters[0].unit: must be text"),
    "choices-text": (
        {"parameters": [{"name": "c", "type": "categorical", "choices": "ab"}]},
        "space.parameters[0].choices: must be a list",
    ),
    "choice-number": (
        {"parameters": [{"name": "c", "type": "categorical", "choices": ["a", 1]}]},
        "space.parameters[0].choices[1]: must be text, got 1",
    ),
    "simplex-name-number": (
        {"parameters": [X], "simplex": [{"names": [1]}]},
        "space.simplex[0].names[0]: must be text",
    ),
    "simplex-total-text": (
        {"parameters": [X], "simplex": [{"names": ["x"], "total": "1"}]},
        "space.simplex[0].total: must be a number",
    ),
    "coefficient-text": (
        {"parameters": [X], "linear": [{"terms": {"x": "1"}, "upper": 1}]},
        "space.linear[0].terms.x: must be a number",
    ),
    "coefficient-of-a-spaced-name": (
        {"parameters": [X], "linear": [{"terms": {"band gap": None}, "upper": 1}]},
        "space.linear[0].terms['band gap']: must be a number",
    ),
    # the dataclasses' own rules, under the path of what broke them
    "bounds-reversed": (
        {"parameters": [X | {"lower": 2}]},
        "space.parameters[0]: parameter 'x': lower bound 2.0 exceeds upper 1.0",
    ),
    "one-choice": (
        {"parameters": [{"name": "c", "type": "categorical", "choices": ["a"]}]},
        "space.parameters[0]: parameter 'c': a categorical needs at least 2 choices",
    ),
    "linear-unknown-parameter": (
        {"parameters": [X], "linear": [{"terms": {"y": 1}, "upper": 1}]},
        "space.linear[0]: 'y' is not a continuous parameter",
    ),
    "no-parameter": ({"parameters": []}, "space: a search space needs at least one parameter"),
    # linear constraints that no point of the bounds and simplex totals meets
    "linear-beyond-a-simplex": (
        {
            "parameters": [AB[0], AB[1], {"name": "c", "lower": 0, "upper": 0.3}],
            "simplex": [{"names": ["a", "b", "c"]}],
            "linear": [{"terms": {"a": 1, "b": 1}, "upper": 0.5}],
        },
        "space.linear[0]: 1*a + 1*b <= 0.5 cannot hold within the parameters' bounds and "
        "simplex totals",
    ),
    "linear-on-an-edge": (
        {"parameters": AB, "linear": [{"terms": {"a": 1, "b": 1}, "upper": 0}]},
        "space.linear[0]: 1*a + 1*b <= 0 leaves no room within the parameters' bounds: only "
        "points on an edge meet it",
    ),
    "linear-against-each-other": (
        {
            "parameters": AB,
            "linear": [{"terms": {"a": 1}, "upper": 0.6}, {"terms": {"a": -1}, "upper": -0.7}],
        },
        "space: linear constraints 1*a <= 0.6; -1*a <= -0.7: together they cannot all hold "
        "within the parameters' bounds",
    ),
}


#: Spaces whose linear constraints leave room, however they look.
ROOMY = {
    # constant on the simplex's plane, and met everywhere on it: no edge
    "redundant-with-a-simplex": {
        "parameters": [AB[0], AB[1], {"name": "c", "lower": 0, "upper": 1}],
        "simplex": [{"names": ["a", "b", "c"]}],
        "linear": [{"terms": {"a": 1, "b": 1, "c": 1}, "upper": 1}],
    },
    # a simplex of fixed parts that meets its total only to its tolerance
    "fixed-simplex-to-tolerance": {
        "parameters": [
            *({"name": n, "lower": 0.3333333, "upper": 0.3333333} for n in ("p", "q", "r")),
            {"name": "x", "lower": 0, "upper": 1},
        ],
        "simplex": [{"names": ["p", "q", "r"]}],
        "linear": [{"terms": {"x": 1}, "upper": 0.5}],
    },
}


@pytest.mark.parametrize("data", ROOMY.values(), ids=ROOMY.keys())
def test_linear_constraints_that_leave_room_are_accepted_and_sampled(data: Any) -> None:
    space = SearchSpace.from_dict(data)
    for point in space.sample(20, np.random.default_rng(0), tries=1):
        space.validate(point)


@pytest.mark.parametrize(("data", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_space_names_the_path_and_the_problem(data: Any, message: str) -> None:
    refused = _refused(data)
    assert message in refused, refused
    assert refused.startswith("space"), refused
    assert not re.search(r"[A-Z][a-z]+Error|malformed", refused), refused  # no raw exception


# -- what to_dict writes: read back whole, and every level closed -------------------------
EVERY_KIND = SearchSpace(
    (
        ContinuousParameter("temperature", 20.0, 80.0, "degC"),
        CategoricalParameter("solvent", ("water", "ethanol", "toluene")),
        ContinuousParameter("salt_a", 0.0, 2.0),
        ContinuousParameter("salt_b", 0.0, 2.0),
        ContinuousParameter("water", 0.0, 2.0, "mL"),
    ),
    (SimplexConstraint(("salt_a", "salt_b", "water"), 2.0),),
    (
        LinearConstraint((("salt_a", 1.0), ("salt_b", 1.0)), 1.5),
        LinearConstraint((("salt_a", -1.0), ("temperature", -0.01)), -0.3),  # a lower limit
    ),
)


def _levels(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object of a ``to_dict`` output with its path (not ``terms``: names are keys)."""
    yield "space", data
    for key in ("parameters", "simplex", "linear"):
        for i, item in enumerate(data[key]):
            yield f"space.{key}[{i}]", item


def test_to_dict_round_trips_and_every_level_refuses_a_key_it_does_not_write() -> None:
    data = json.loads(json.dumps(EVERY_KIND.to_dict()))
    assert SearchSpace.from_dict(data) == EVERY_KIND
    assert data["parameters"][2]["unit"] is None  # written as null, read back as None
    levels = list(_levels(data))
    assert len(levels) == 1 + 5 + 1 + 2
    for i, (path, _) in enumerate(levels):
        spoilt = copy.deepcopy(data)
        list(_levels(spoilt))[i][1]["comment"] = "x"
        assert _refused(spoilt).startswith(f"{path}.comment: unknown key (")
    assert SearchSpace.from_dict(data) == EVERY_KIND  # the copies left it as it was


REQUIRED = [
    ("space", "parameters"),
    ("space.parameters[0]", "name"),
    ("space.parameters[0]", "lower"),
    ("space.parameters[0]", "upper"),
    ("space.parameters[1]", "name"),
    ("space.parameters[1]", "choices"),
    ("space.simplex[0]", "names"),
    ("space.linear[0]", "terms"),
    ("space.linear[0]", "upper"),
]


@pytest.mark.parametrize(("path", "key"), REQUIRED)
def test_a_required_key_left_out_is_named(path: str, key: str) -> None:
    data = EVERY_KIND.to_dict()
    del dict(_levels(data))[path][key]
    assert _refused(data).startswith(f"{path}.{key}: required (")


def test_unit_type_and_total_may_be_left_out_but_not_misspelled() -> None:
    data = EVERY_KIND.to_dict()
    del data["parameters"][0]["type"], data["parameters"][0]["unit"], data["simplex"][0]["total"]
    space = SearchSpace.from_dict(data)
    assert space.parameters[0] == ContinuousParameter("temperature", 20.0, 80.0)
    assert space.simplex == (SimplexConstraint(("salt_a", "salt_b", "water"), 1.0),)
    data["simplex"][0]["totl"] = 2.0  # left out by mistake: not read as the default
    assert _refused(data).startswith("space.simplex[0].totl: unknown key (")
