"""Search spaces: parameter checks, validation, encoding, sampling and (de)serialisation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from discovery.spaces import (
    CategoricalParameter,
    ContinuousParameter,
    LinearConstraint,
    SearchSpace,
    SimplexConstraint,
)

# -- ContinuousParameter -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lower", "upper"), [(math.nan, 1.0), (0.0, math.inf), (-math.inf, 0.0), (0.0, math.nan)]
)
def test_continuous_parameter_rejects_non_finite_bounds(lower: float, upper: float) -> None:
    with pytest.raises(ValueError, match=r"'t'.*finite"):
        ContinuousParameter("t", lower, upper)


def test_continuous_parameter_rejects_lower_above_upper() -> None:
    with pytest.raises(ValueError, match=r"'t'.*lower bound 2.0 exceeds upper 1.0"):
        ContinuousParameter("t", 2.0, 1.0)


def test_continuous_parameter_allows_a_single_point_interval() -> None:
    p = ContinuousParameter("t", 3.0, 3.0)
    assert p.validate(3) == 3.0
    with pytest.raises(ValueError, match="outside"):
        p.validate(3.0000001)


def test_continuous_validate_coerces_ints_and_numpy_numbers_to_float() -> None:
    p = ContinuousParameter("t", 0.0, 10.0)
    for value in (4, np.int64(4), np.float32(4.0), 4.0):
        out = p.validate(value)
        assert type(out) is float
        assert out == 4.0


@pytest.mark.parametrize("value", [True, False, "1.0", None, [1.0], np.bool_(True)])
def test_continuous_validate_rejects_non_numbers_naming_the_parameter(value: object) -> None:
    with pytest.raises(ValueError, match=r"parameter 't': expected a number"):
        ContinuousParameter("t", 0.0, 10.0).validate(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_continuous_validate_rejects_non_finite_values(value: float) -> None:
    with pytest.raises(ValueError, match="not finite"):
        ContinuousParameter("t", -1e9, 1e9).validate(value)


@pytest.mark.parametrize("value", [-0.01, 10.01, 1e6])
def test_continuous_validate_rejects_values_outside_the_interval(value: float) -> None:
    with pytest.raises(ValueError, match=r"'t'.*outside \[0.0, 10.0\]"):
        ContinuousParameter("t", 0.0, 10.0).validate(value)


def test_continuous_validate_tolerates_rounding_at_the_bounds_only() -> None:
    p = ContinuousParameter("t", 0.0, 10.0)
    # 1e-9 of the span either side is accepted as given (not clipped) ...
    assert p.validate(10.0 + 5e-9) == 10.0 + 5e-9
    assert p.validate(-5e-9) == -5e-9
    # ... but anything beyond that is rejected
    with pytest.raises(ValueError):
        p.validate(10.0 + 1e-7)
    with pytest.raises(ValueError):
        p.validate(-1e-7)


# -- CategoricalParameter ------------------------------------------------------------------


def test_categorical_needs_two_choices() -> None:
    with pytest.raises(ValueError, match=r"'s'.*at least 2"):
        CategoricalParameter("s", ("water",))


def test_categorical_rejects_duplicate_choices() -> None:
    with pytest.raises(ValueError, match=r"'s'.*not unique"):
        CategoricalParameter("s", ("water", "ethanol", "water"))


def test_categorical_choices_must_be_text() -> None:
    # a choice 1 validated to "1" and then was not one of [1, 2]: the campaign stalled
    with pytest.raises(ValueError, match=r"'n': choices must be text, got \[1, 2\]"):
        CategoricalParameter("n", (1, 2))  # type: ignore[arg-type]


def test_categorical_validate_accepts_only_listed_choices() -> None:
    p = CategoricalParameter("s", ("water", "ethanol"))
    assert p.validate("ethanol") == "ethanol"
    with pytest.raises(ValueError, match=r"parameter 's': 'Water' is not one of"):
        p.validate("Water")
    with pytest.raises(ValueError, match="is not one of"):
        p.validate(1)


# -- SearchSpace construction --------------------------------------------------------------


def test_space_needs_a_parameter() -> None:
    with pytest.raises(ValueError, match="at least one parameter"):
        SearchSpace(())


def test_space_rejects_duplicate_names_and_lists_them() -> None:
    with pytest.raises(ValueError, match=r"\['x'\]"):
        SearchSpace((ContinuousParameter("x", 0, 1), CategoricalParameter("x", ("a", "b"))))


def test_names_may_not_hold_the_one_hot_separator() -> None:
    # "s=water" would read as the one-hot column of choice water of a categorical s
    with pytest.raises(ValueError, match=r"'s=water': must be non-empty text without"):
        SearchSpace(
            (ContinuousParameter("s=water", 0, 1), CategoricalParameter("s", ("water", "ethanol")))
        )


def test_a_parameter_belongs_to_one_simplex_at_most() -> None:
    params = tuple(ContinuousParameter(n, 0, 1) for n in "abc")
    for simplex in ((SimplexConstraint(("a", "b")), SimplexConstraint(("b", "c"))),
                    (SimplexConstraint(("a", "a", "b")),)):  # fmt: skip
        with pytest.raises(ValueError, match=r"\['(a|b)'\] appear more than once"):
            SearchSpace(params, simplex)


def test_simplex_must_name_continuous_parameters_of_the_space() -> None:
    params = (ContinuousParameter("a", 0, 1), CategoricalParameter("s", ("u", "v")))
    with pytest.raises(ValueError, match="'s' is not a continuous parameter"):
        SearchSpace(params, (SimplexConstraint(("a", "s")),))
    with pytest.raises(ValueError, match="'zz' is not a continuous parameter"):
        SearchSpace(params, (SimplexConstraint(("a", "zz")),))


def test_columns_dim_and_bounds_follow_parameter_order(solvent_space: SearchSpace) -> None:
    assert solvent_space.names == ["x", "solvent"]
    assert solvent_space.columns == ["x", "solvent=water", "solvent=ethanol", "solvent=toluene"]
    assert solvent_space.dim == 4
    np.testing.assert_array_equal(
        solvent_space.bounds(), [[-1.0, 0.0, 0.0, 0.0], [2.0, 1.0, 1.0, 1.0]]
    )
    assert solvent_space.bounds().shape == (2, solvent_space.dim)


# -- validate ----------------------------------------------------------------------------


def test_validate_returns_coerced_values_in_parameter_order(mixture_space: SearchSpace) -> None:
    point = {"temperature": 25, "c": 0.5, "b": 0.25, "a": 0.25}
    clean = mixture_space.validate(point)
    assert list(clean) == ["a", "b", "c", "temperature"]
    assert clean["temperature"] == 25.0
    assert type(clean["temperature"]) is float


def test_validate_reports_unknown_parameters(mixture_space: SearchSpace) -> None:
    point = {"a": 0.2, "b": 0.3, "c": 0.5, "temperature": 30.0, "pressure": 1.0}
    with pytest.raises(ValueError, match=r"unknown parameters \['pressure'\]"):
        mixture_space.validate(point)


def test_validate_reports_the_missing_parameter(mixture_space: SearchSpace) -> None:
    with pytest.raises(ValueError, match="parameter 'temperature' is missing"):
        mixture_space.validate({"a": 0.2, "b": 0.3, "c": 0.5})


def test_validate_enforces_the_simplex_sum(mixture_space: SearchSpace) -> None:
    with pytest.raises(ValueError, match=r"\['a', 'b', 'c'\] must sum to 1.0, got 0.9"):
        mixture_space.validate({"a": 0.2, "b": 0.2, "c": 0.5, "temperature": 30.0})
    # within the 1e-6 tolerance passes
    mixture_space.validate({"a": 0.2, "b": 0.3, "c": 0.5 + 5e-7, "temperature": 30.0})


def test_validate_scales_simplex_tolerance_with_a_large_total() -> None:
    space = SearchSpace(
        (ContinuousParameter("a", 0, 100), ContinuousParameter("b", 0, 100)),
        (SimplexConstraint(("a", "b"), 100.0),),
    )
    space.validate({"a": 40.0, "b": 60.0 + 5e-5})  # 5e-7 relative
    with pytest.raises(ValueError, match=r"must sum to 100\.0"):
        space.validate({"a": 40.0, "b": 60.01})


# -- encode / decode -----------------------------------------------------------------------


def test_encode_matches_the_documented_example() -> None:
    space = SearchSpace(
        (ContinuousParameter("x", 0, 1), CategoricalParameter("solvent", ("water", "ethanol")))
    )
    assert space.encode([{"x": 0.5, "solvent": "ethanol"}]).tolist() == [[0.5, 0.0, 1.0]]


def test_encode_one_hot_blocks_and_continuous_columns(solvent_space: SearchSpace) -> None:
    X = solvent_space.encode([{"x": 1.5, "solvent": "toluene"}, {"solvent": "water", "x": -1.0}])
    np.testing.assert_array_equal(X, [[1.5, 0, 0, 1], [-1.0, 1, 0, 0]])


def test_encode_of_no_points_has_shape_zero_by_d(solvent_space: SearchSpace) -> None:
    assert solvent_space.encode([]).shape == (0, 4)


def test_decode_takes_argmax_of_soft_one_hot_blocks(solvent_space: SearchSpace) -> None:
    points = solvent_space.decode(np.array([[0.0, 0.2, 0.7, 0.1], [0.0, 0.3, 0.3, 0.4]]))
    assert [p["solvent"] for p in points] == ["ethanol", "toluene"]


def test_decode_clips_continuous_values_into_bounds(solvent_space: SearchSpace) -> None:
    points = solvent_space.decode(np.array([[5.0, 1, 0, 0], [-3.0, 1, 0, 0], [0.5, 1, 0, 0]]))
    assert [p["x"] for p in points] == [2.0, -1.0, 0.5]


def test_decode_accepts_a_single_row_vector(solvent_space: SearchSpace) -> None:
    assert solvent_space.decode(np.array([0.25, 0, 1, 0])) == [{"x": 0.25, "solvent": "ethanol"}]


# -- sample --------------------------------------------------------------------------------


def test_sample_points_validate_and_lie_on_the_simplex(mixture_space: SearchSpace) -> None:
    points = mixture_space.sample(200, np.random.default_rng(0))
    assert len(points) == 200
    for point in points:
        assert list(point) == mixture_space.names
        mixture_space.validate(point)
        assert sum(float(point[n]) for n in "abc") == pytest.approx(1.0, abs=1e-12)


def test_sample_covers_every_category(solvent_space: SearchSpace) -> None:
    points = solvent_space.sample(100, np.random.default_rng(1))
    assert {p["solvent"] for p in points} == {"water", "ethanol", "toluene"}


def test_sample_is_reproducible_from_the_seed(mixture_space: SearchSpace) -> None:
    first = mixture_space.sample(5, np.random.default_rng(7))
    assert first == mixture_space.sample(5, np.random.default_rng(7))
    assert first != mixture_space.sample(5, np.random.default_rng(8))


def test_sample_of_zero_points_is_empty(mixture_space: SearchSpace) -> None:
    assert mixture_space.sample(0, np.random.default_rng(0)) == []


def test_sample_respects_bounds_of_simplex_components() -> None:
    space = SearchSpace(
        (ContinuousParameter("a", 0.0, 0.4), ContinuousParameter("b", 0.0, 1.0)),
        (SimplexConstraint(("a", "b"), 1.0),),
    )
    for point in space.sample(50, np.random.default_rng(0)):
        space.validate(point)


@pytest.mark.parametrize(
    "bounds",
    [
        [(0.0, 1.0), (0.0, 1.0), (0.2, 0.2)],  # a part fixed: no Dirichlet draw hits it
        [(0.0, 0.15)] * 8,  # tight: the parts can sum to 1.2 at most
    ],
)
def test_sample_reaches_every_feasible_simplex(bounds: list[tuple[float, float]]) -> None:
    params = tuple(ContinuousParameter(f"p{i}", lo, hi) for i, (lo, hi) in enumerate(bounds))
    space = SearchSpace(params, (SimplexConstraint(tuple(p.name for p in params)),))
    points = space.sample(30, np.random.default_rng(0))
    for point in points:
        space.validate(point)
    assert len({round(float(point["p0"]), 9) for point in points}) == 30  # spread, not one point


# -- to_dict / from_dict -------------------------------------------------------------------


def test_to_dict_is_json_ready_and_round_trips(mixture_space: SearchSpace) -> None:
    data = json.loads(json.dumps(mixture_space.to_dict()))
    assert data["parameters"][3] == {
        "name": "temperature",
        "type": "continuous",
        "lower": 20.0,
        "upper": 80.0,
        "unit": "degC",
    }
    assert data["simplex"] == [{"names": ["a", "b", "c"], "total": 1.0}]
    assert SearchSpace.from_dict(data) == mixture_space


def test_categorical_round_trips_through_dict(solvent_space: SearchSpace) -> None:
    data = solvent_space.to_dict()
    assert data["parameters"][1] == {
        "name": "solvent",
        "type": "categorical",
        "choices": ["water", "ethanol", "toluene"],
    }
    assert SearchSpace.from_dict(data) == solvent_space


def test_from_dict_defaults_to_continuous_and_total_one() -> None:
    space = SearchSpace.from_dict(
        {
            "parameters": [
                {"name": "a", "lower": 0, "upper": 1},
                {"name": "b", "lower": 0, "upper": 1},
            ],
            "simplex": [{"names": ["a", "b"]}],
        }
    )
    assert space.parameters == (ContinuousParameter("a", 0.0, 1.0), ContinuousParameter("b", 0, 1))
    assert space.simplex == (SimplexConstraint(("a", "b"), 1.0),)


def test_from_dict_names_the_parameter_with_an_unknown_type() -> None:
    data = {
        "parameters": [
            {"name": "a", "type": "continuous", "lower": 0, "upper": 1},
            {"name": "n", "type": "integer", "lower": 0, "upper": 9},
        ]
    }
    with pytest.raises(ValueError, match=r"parameters\[1\].type: unknown parameter type 'integer'"):
        SearchSpace.from_dict(data)


def test_from_dict_validates_as_it_builds() -> None:
    with pytest.raises(ValueError, match="exceeds upper"):
        SearchSpace.from_dict({"parameters": [{"name": "a", "lower": 2, "upper": 1}]})
    with pytest.raises(ValueError, match="at least one parameter"):
        SearchSpace.from_dict({"parameters": []})
    with pytest.raises(ValueError, match=r"^space\.parameters: required"):
        SearchSpace.from_dict({})


def test_decode_snaps_optimiser_noise_onto_the_bounds_only_when_asked() -> None:
    space = SearchSpace((ContinuousParameter("T", 20.0, 80.0), ContinuousParameter("a", 0.0, 1.0)))
    X = np.array([[79.99999999990574, 2.0136274140054294e-23], [79.9, 0.5]])
    assert space.decode(X, snap=1e-9) == [{"T": 80.0, "a": 0.0}, {"T": 79.9, "a": 0.5}]
    assert space.decode(X)[0] == {"T": 79.99999999990574, "a": 2.0136274140054294e-23}


def test_decode_snaps_nothing_that_would_break_a_linear_constraint() -> None:
    # y's range is 1e6: within 1e-9 of it, 5e-4 would go to 0 and break x - y <= 0
    space = SearchSpace(
        (ContinuousParameter("x", 0.0, 1.0), ContinuousParameter("y", 0.0, 1e6)),
        linear=(LinearConstraint((("x", 1.0), ("y", -1.0)), 0.0),),
    )
    X = np.array([[5e-4, 5e-4], [1.0 - 1e-12, 5e5]])
    assert space.decode(X, snap=1e-9) == [{"x": 5e-4, "y": 5e-4}, {"x": 1.0, "y": 5e5}]
