"""Property tests for search spaces over randomly generated spaces and points."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from discovery.spaces import (
    CategoricalParameter,
    ContinuousParameter,
    LinearConstraint,
    Parameter,
    SearchSpace,
    SimplexConstraint,
)

PROPERTY = settings(max_examples=60, deadline=None, database=None)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def continuous_parameters(draw: st.DrawFn, name: str) -> ContinuousParameter:
    lower = draw(finite)
    width = draw(st.floats(min_value=0.0, max_value=1e6, allow_nan=False))
    return ContinuousParameter(name, lower, lower + width)


@st.composite
def categorical_parameters(draw: st.DrawFn, name: str) -> CategoricalParameter:
    labels = st.text(alphabet="abcxyz-_ 0123", min_size=1, max_size=6)
    choices = draw(st.lists(labels, min_size=2, max_size=5, unique=True))
    return CategoricalParameter(name, tuple(choices))


@st.composite
def search_spaces(draw: st.DrawFn, allow_simplex: bool = True) -> SearchSpace:
    """Spaces of 1-4 free continuous, 0-2 categorical and an optional 2-4 part mixture.

    Mixture components are bounded by ``[0, total]``: the feasible case that
    :meth:`SearchSpace.sample` is documented to cover.
    """
    params: list[Parameter] = []
    for i in range(draw(st.integers(min_value=0, max_value=3))):
        params.append(draw(continuous_parameters(f"x{i}")))
    for i in range(draw(st.integers(min_value=0, max_value=2))):
        params.append(draw(categorical_parameters(f"c{i}")))
    simplex: tuple[SimplexConstraint, ...] = ()
    if allow_simplex and draw(st.booleans()):
        total = draw(st.floats(min_value=0.1, max_value=100.0))
        names = tuple(f"m{i}" for i in range(draw(st.integers(min_value=2, max_value=4))))
        params.extend(ContinuousParameter(n, 0.0, total) for n in names)
        simplex = (SimplexConstraint(names, total),)
    if not params:
        params.append(draw(continuous_parameters("x0")))
    order = draw(st.permutations(params))
    return SearchSpace(tuple(order), simplex)


@st.composite
def linearly_constrained_spaces(draw: st.DrawFn) -> SearchSpace:
    """A space of :func:`search_spaces` with 1-3 linear constraints that a point meets.

    Each limit is a constraint's value at a sampled point plus a margin, up to a quarter of
    its range over the box: often a small corner of it.
    """
    space = draw(search_spaces())
    continuous = [p for p in space.parameters if isinstance(p, ContinuousParameter)]
    assume(continuous)
    inside = space.sample(1, np.random.default_rng(draw(st.integers(0, 2**32 - 1))))[0]
    coefficient = st.floats(min_value=-3.0, max_value=3.0).filter(lambda c: abs(c) > 0.1)
    linear = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        chosen = draw(st.lists(st.sampled_from(continuous), min_size=1, unique=True))
        terms = tuple((p.name, draw(coefficient)) for p in chosen)
        spread = sum(abs(c) * (p.upper - p.lower) for p, (_, c) in zip(chosen, terms, strict=True))
        margin = draw(st.floats(min_value=1e-3, max_value=0.25)) * max(spread, 1e-6)
        at = LinearConstraint(terms, 0.0).value(inside)
        linear.append(LinearConstraint(terms, at + margin))
    try:
        return SearchSpace(space.parameters, space.simplex, tuple(linear))
    except ValueError as error:  # a fixed parameter or a pinned simplex: nothing to vary
        assume("leaves no room" not in str(error) and "only an edge" not in str(error))
        raise


@PROPERTY
@given(space=linearly_constrained_spaces(), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_points_sampled_inside_linear_constraints_always_validate(
    space: SearchSpace, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    for tries in (1, 1_000):  # inside the polytope at the first miss; rejection first
        points = space.sample(8, rng, tries=tries)
        assert len(points) == 8
        for point in points:
            assert space.validate(point) == point


@PROPERTY
@given(space=search_spaces(), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_sampled_points_always_validate(space: SearchSpace, seed: int) -> None:
    points = space.sample(8, np.random.default_rng(seed))
    assert len(points) == 8
    for point in points:
        assert space.validate(point) == point
        for constraint in space.simplex:
            total = sum(float(point[n]) for n in constraint.names)
            assert abs(total - constraint.total) <= 1e-6 * max(1.0, constraint.total)


@PROPERTY
@given(space=search_spaces(), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_encode_then_decode_returns_the_same_points(space: SearchSpace, seed: int) -> None:
    points = space.sample(5, np.random.default_rng(seed))
    assert space.decode(space.encode(points)) == points


@PROPERTY
@given(space=search_spaces(), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_encoded_points_lie_in_bounds_with_exactly_one_hot_per_block(
    space: SearchSpace, seed: int
) -> None:
    encoded = space.encode(space.sample(6, np.random.default_rng(seed)))
    assert encoded.shape == (6, space.dim)
    lower, upper = space.bounds()
    assert (lower <= encoded).all()
    assert (encoded <= upper).all()
    col = 0
    for p in space.parameters:
        if isinstance(p, CategoricalParameter):
            block = encoded[:, col : col + len(p.choices)]
            np.testing.assert_array_equal(block.sum(axis=1), 1.0)
            assert set(np.unique(block)) <= {0.0, 1.0}
            col += len(p.choices)
        else:
            col += 1
    assert col == space.dim


@PROPERTY
@given(data=st.data(), space=search_spaces(allow_simplex=False))
def test_decode_of_any_finite_matrix_gives_valid_points(
    data: st.DataObject, space: SearchSpace
) -> None:
    X = data.draw(arrays(np.float64, (3, space.dim), elements=finite))
    points = space.decode(X)
    assert len(points) == 3
    for point in points:
        space.validate(point)


@PROPERTY
@given(space=search_spaces())
def test_to_dict_from_dict_round_trips_through_json(space: SearchSpace) -> None:
    restored = SearchSpace.from_dict(json.loads(json.dumps(space.to_dict())))
    assert restored == space
    assert restored.columns == space.columns
    np.testing.assert_array_equal(restored.bounds(), space.bounds())
