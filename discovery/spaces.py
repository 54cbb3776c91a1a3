"""Search spaces: what a campaign may propose, and how it is encoded for a model.

Pure numpy: the storage layer imports these types to (de)serialise campaigns, so
nothing here may pull in torch.

Encoding: continuous parameters are one column each, in their own units; a categorical
parameter becomes one one-hot column per choice. Models normalise inputs themselves.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any

import numpy as np

from discovery.polytopes import FLAT, Polytope

ParameterValue = float | str
Parameters = dict[str, ParameterValue]

_SIMPLEX_TOL = 1e-6


def few(names: Sequence[str], most: int = 10) -> str:
    """``names`` as a message lists them: the first ``most``, then how many more.

    A request naming 60,000 unknown fields gets an error of one line, not of 600 kB.

    >>> few(["a", "b", "c"], most=2)
    "['a', 'b', ... and 1 more]"
    """
    shown = repr(list(names[:most]))
    return shown if len(names) <= most else f"{shown[:-1]}, ... and {len(names) - most} more]"


@dataclass(frozen=True)
class ContinuousParameter:
    """A real-valued parameter on a closed interval.

    Attributes:
        name: Column name, unique in the space.
        lower: Lower bound, in the parameter's unit.
        upper: Upper bound, in the parameter's unit.
        unit: Optional unit label (for display and export only).

    """

    name: str
    lower: float
    upper: float
    unit: str | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)):
            raise ValueError(f"parameter {self.name!r}: bounds must be finite")
        if self.lower > self.upper:
            raise ValueError(
                f"parameter {self.name!r}: lower bound {self.lower} exceeds upper {self.upper}"
            )

    def validate(self, value: Any) -> float:
        """Return ``value`` as a float, or raise naming the parameter and the problem."""
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise ValueError(f"parameter {self.name!r}: expected a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"parameter {self.name!r}: {value!r} is too large") from None
        if not math.isfinite(number):
            raise ValueError(f"parameter {self.name!r}: {number} is not finite")
        span = self.upper - self.lower
        if not (self.lower - 1e-9 * span <= number <= self.upper + 1e-9 * span):
            raise ValueError(
                f"parameter {self.name!r}: {number} is outside [{self.lower}, {self.upper}]"
            )
        return number


def _hit_and_run(
    room: np.ndarray, free: float, rng: np.random.Generator, steps: int = 100
) -> np.ndarray:
    """A near-uniform point of ``{0 <= y <= room, sum(y) = free}`` by hit-and-run.

    Starts from the point that gives every part the same share of its room (inside the
    polytope), then takes ``steps`` moves along random directions within the plane.

    Args:
        room: Upper bound of each part, shape ``m``; every entry > 0.
        free: What the parts add up to, in ``[0, sum(room)]``.
        rng: Random generator.
        steps: Moves; the walk forgets its start in a few times ``m`` moves.
    """
    y = room * (free / room.sum())
    for _ in range(steps):
        direction = rng.standard_normal(len(room))
        direction -= direction.mean()  # stay on sum(y) = free
        moving = np.abs(direction) > 1e-12
        d, to_low, to_high = direction[moving], -y[moving], room[moving] - y[moving]
        # how far along the direction each bound allows, forwards and backwards
        ahead = np.where(d > 0, to_high, to_low) / d
        behind = np.where(d > 0, to_low, to_high) / d
        y = np.clip(y + rng.uniform(behind.max(), ahead.min()) * direction, 0.0, room)
    return y


@dataclass(frozen=True)
class CategoricalParameter:
    """A parameter taking one of a fixed set of labels (solvent, precursor, ...)."""

    name: str
    choices: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.choices) < 2:
            raise ValueError(f"parameter {self.name!r}: a categorical needs at least 2 choices")
        labels = [c for c in self.choices if not isinstance(c, str)]
        if labels:  # 1 and "1" would be told apart by validate but not by the database
            raise ValueError(
                f'parameter {self.name!r}: choices must be text, got {labels!r} (write "1")'
            )
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"parameter {self.name!r}: choices are not unique")

    def validate(self, value: Any) -> str:
        """Return ``value`` if it is one of the choices, else raise naming the parameter."""
        if value not in self.choices:
            raise ValueError(
                f"parameter {self.name!r}: {value!r} is not one of {list(self.choices)}"
            )
        return str(value)


Parameter = ContinuousParameter | CategoricalParameter


@dataclass(frozen=True)
class SimplexConstraint:
    """Mixture fractions that must add up to ``total`` (for example polymer-blend ratios)."""

    names: tuple[str, ...]
    total: float = 1.0


@dataclass(frozen=True)
class LinearConstraint:
    """A linear inequality over continuous parameters: ``sum(c_i * x_i) <= upper``.

    Example: at most 1.5 mol of the two salts together, ``LinearConstraint((("salt_a",
    1.0), ("salt_b", 1.0)), 1.5)``; a lower limit is the same with negated terms.
    """

    terms: tuple[tuple[str, float], ...]
    upper: float

    def value(self, point: Mapping[str, Any]) -> float:
        """``sum(c_i * x_i)`` at a point."""
        return sum(c * float(point[name]) for name, c in self.terms)

    def describe(self) -> str:
        """Readable form, e.g. ``1*salt_a + 1*salt_b <= 1.5``."""
        return " + ".join(f"{c:g}*{name}" for name, c in self.terms) + f" <= {self.upper:g}"


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of parameters with optional simplex (mixture) constraints.

    Example:
        >>> space = SearchSpace((ContinuousParameter("x", 0, 1), CategoricalParameter(
        ...     "solvent", ("water", "ethanol"))))
        >>> space.encode([{"x": 0.5, "solvent": "ethanol"}]).tolist()
        [[0.5, 0.0, 1.0]]

    """

    parameters: tuple[Parameter, ...]
    simplex: tuple[SimplexConstraint, ...] = field(default=())
    linear: tuple[LinearConstraint, ...] = field(default=())
    #: Refuse linear constraints that leave no room (:meth:`_check_room`); False for a
    #: space read back from storage, created before that rule: it still loads and shows.
    check_room: InitVar[bool] = True

    def __post_init__(self, check_room: bool) -> None:
        if not self.parameters:
            raise ValueError("a search space needs at least one parameter")
        names = [p.name for p in self.parameters]
        for name in names:
            # "." and "$": MongoDB field paths; "=": one-hot columns are "name=choice"
            if not isinstance(name, str) or not name or name.startswith("$") or {*".="} & {*name}:
                raise ValueError(
                    f"parameter name {name!r}: must be non-empty text without '.', '=' "
                    "or a leading '$'"
                )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameter names appear twice: {duplicates}")
        by_name = self.by_name
        mixed = [name for c in self.simplex for name in c.names]
        shared = sorted({n for n in mixed if mixed.count(n) > 1})
        if shared:  # each mixture is sampled on its own: a shared member cannot satisfy both
            raise ValueError(f"simplex constraints: {shared} appear more than once")
        for constraint in self.simplex:
            members = [by_name.get(name) for name in constraint.names]
            for name, member in zip(constraint.names, members, strict=True):
                if not isinstance(member, ContinuousParameter):
                    raise ValueError(f"simplex constraint: {name!r} is not a continuous parameter")
            low = sum(m.lower for m in members if isinstance(m, ContinuousParameter))
            high = sum(m.upper for m in members if isinstance(m, ContinuousParameter))
            if not low - _SIMPLEX_TOL <= constraint.total <= high + _SIMPLEX_TOL:
                raise ValueError(
                    f"simplex constraint {list(constraint.names)}: total {constraint.total} "
                    f"is outside the bounds' range [{low}, {high}]"
                )
        for i, linear in enumerate(self.linear):
            if not linear.terms or not math.isfinite(linear.upper):
                raise ValueError(f"linear[{i}]: needs terms and a finite upper limit")
            for name, coefficient in linear.terms:
                if not isinstance(by_name.get(name), ContinuousParameter):
                    raise ValueError(f"linear[{i}]: {name!r} is not a continuous parameter")
                if not math.isfinite(coefficient):
                    raise ValueError(f"linear[{i}]: coefficient of {name!r} is not finite")
        if self.linear and check_room:
            self._check_room()

    def _check_room(self) -> None:
        """Refuse linear constraints that no point meets, or only points on an edge.

        A space that is flat without them (a simplex pinned by its members' bounds) is
        left as it was.
        """
        found = self._polytope(self.linear)[1].slack()
        if found is not None and found[0] > FLAT:
            return
        unconstrained = self._polytope(())[1].slack()
        if found is not None and (unconstrained is None or unconstrained[0] <= FLAT):
            return
        within = "within the parameters' bounds" + (" and simplex totals" if self.simplex else "")
        for i, linear in enumerate(self.linear):
            alone = self._polytope((linear,))[1].slack()
            if alone is None:
                raise ValueError(f"linear[{i}]: {linear.describe()} cannot hold {within}")
            if alone[0] <= FLAT:
                raise ValueError(
                    f"linear[{i}]: {linear.describe()} leaves no room {within}: only points "
                    "on an edge meet it (loosen it, or fix the parameters by their bounds)"
                )
        together = "; ".join(linear.describe() for linear in self.linear)
        what = "cannot all hold" if found is None else "leave no room (only an edge meets them)"
        raise ValueError(f"linear constraints {together}: together they {what} {within}")

    def _polytope(
        self, linear: Sequence[LinearConstraint]
    ) -> tuple[list[ContinuousParameter], Polytope]:
        """The constrained continuous parameters free to vary, and their polytope.

        The parameters are those of the space's linear constraints and simplexes; the rows
        are ``linear`` and the simplex totals. A fixed parameter's value moves to the
        limits.
        """
        continuous = [p for p in self.parameters if isinstance(p, ContinuousParameter)]
        # the same coordinates whichever rows are asked for; the others are drawn on their
        # own, uniformly
        bound = {name for c in self.linear for name, _ in c.terms} | {
            name for c in self.simplex for name in c.names
        }
        free = [p for p in continuous if p.upper > p.lower and p.name in bound]
        column = {p.name: i for i, p in enumerate(free)}
        value = {p.name: p.lower for p in continuous}
        room = np.array([p.upper - p.lower for p in free])

        def row(terms: Sequence[tuple[str, float]], limit: float) -> tuple[np.ndarray, float]:
            coefficients = np.zeros(len(free))
            for name, c in terms:
                if name in column:
                    coefficients[column[name]] += c
            # sum c x = sum c (lower + room u): the lower ends (and fixed values) move right
            return coefficients * room, limit - sum(c * value[name] for name, c in terms)

        def stack(rows: list[tuple[np.ndarray, float]]) -> tuple[np.ndarray, np.ndarray]:
            return np.array([r for r, _ in rows]).reshape(len(rows), len(free)), np.array(
                [limit for _, limit in rows], dtype=float
            )

        A, b = stack([row(c.terms, c.upper) for c in linear])
        totals = [row([(n, 1.0) for n in c.names], c.total) for c in self.simplex]
        # a simplex with no member free to vary was checked, to its tolerance, on creation
        E, f = stack([(r, total) for r, total in totals if r.any()])
        return free, Polytope(A, b, E, f)

    @property
    def names(self) -> list[str]:
        """Parameter names in order."""
        return [p.name for p in self.parameters]

    @property
    def by_name(self) -> dict[str, Parameter]:
        """Parameters keyed by name."""
        return {p.name: p for p in self.parameters}

    @property
    def columns(self) -> list[str]:
        """Names of the encoded columns (``name=choice`` for one-hot columns)."""
        cols: list[str] = []
        for p in self.parameters:
            if isinstance(p, CategoricalParameter):
                cols.extend(f"{p.name}={c}" for c in p.choices)
            else:
                cols.append(p.name)
        return cols

    @property
    def dim(self) -> int:
        """Number of encoded columns ``d``."""
        return len(self.columns)

    def bounds(self) -> np.ndarray:
        """Bounds of the encoded space, shape ``2 x d`` (row 0 lower, row 1 upper)."""
        lower: list[float] = []
        upper: list[float] = []
        for p in self.parameters:
            if isinstance(p, CategoricalParameter):
                lower.extend([0.0] * len(p.choices))
                upper.extend([1.0] * len(p.choices))
            else:
                lower.append(p.lower)
                upper.append(p.upper)
        return np.array([lower, upper], dtype=float)

    def validate(self, parameters: Mapping[str, Any]) -> Parameters:
        """Check one point against the space.

        Returns:
            The point with values coerced to float / str, in parameter order.

        Raises:
            ValueError: naming the missing, unknown or invalid parameter.

        """
        unknown = sorted(set(parameters) - set(self.names))
        if unknown:
            raise ValueError(f"unknown parameters {few(unknown)}; the space has {self.names}")
        clean: Parameters = {}
        for p in self.parameters:
            if p.name not in parameters:
                raise ValueError(f"parameter {p.name!r} is missing")
            clean[p.name] = p.validate(parameters[p.name])
        for constraint in self.simplex:
            total = sum(float(clean[n]) for n in constraint.names)
            if abs(total - constraint.total) > _SIMPLEX_TOL * max(1.0, abs(constraint.total)):
                raise ValueError(
                    f"parameters {list(constraint.names)} must sum to {constraint.total}, "
                    f"got {total:.6g}"
                )
        for linear in self.linear:
            value = linear.value(clean)
            if value > linear.upper + _SIMPLEX_TOL * max(1.0, abs(linear.upper)):
                raise ValueError(f"constraint {linear.describe()} fails: {value:.6g}")
        return clean

    def encode(self, points: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Encode points to a float matrix of shape ``n x d``."""
        out = np.zeros((len(points), self.dim), dtype=float)
        for i, point in enumerate(points):
            col = 0
            for p in self.parameters:
                if isinstance(p, CategoricalParameter):
                    out[i, col + p.choices.index(p.validate(point[p.name]))] = 1.0
                    col += len(p.choices)
                else:
                    out[i, col] = float(point[p.name])
                    col += 1
        return out

    def decode(self, X: np.ndarray, snap: float = 0.0) -> list[Parameters]:
        """Decode an ``n x d`` matrix back to points (argmax for one-hot blocks).

        Args:
            X: Encoded points.
            snap: Values within this share of their range from a bound are put on it: an
                optimiser's ``79.99999999990574`` of an upper bound 80, ``2e-23`` of 0. Not
                where that would break a linear constraint or a simplex total the point
                keeps (ranges of different sizes: the point is then decoded as it is).
        """
        points = []
        for row in np.atleast_2d(X):
            point = self._decoded(row, snap)
            if snap and (self.linear or self.simplex) and not self.contains(point):
                point = self._decoded(row, 0.0)
            points.append(point)
        return points

    def _decoded(self, row: np.ndarray, snap: float) -> Parameters:
        point: Parameters = {}
        col = 0
        for p in self.parameters:
            if isinstance(p, CategoricalParameter):
                block = row[col : col + len(p.choices)]
                point[p.name] = p.choices[int(np.argmax(block))]
                col += len(p.choices)
            else:
                value = float(np.clip(row[col], p.lower, p.upper))
                near = snap * (p.upper - p.lower)
                if value - p.lower <= near or p.upper - value <= near:
                    value = p.lower if value - p.lower <= p.upper - value else p.upper
                point[p.name] = value
                col += 1
        return point

    def contains(self, point: Parameters) -> bool:
        """Whether ``point`` is in the space: bounds, choices, simplex totals, constraints."""
        try:
            self.validate(point)
        except ValueError:
            return False
        return True

    def sample(self, n: int, rng: np.random.Generator, tries: int = 1_000) -> list[Parameters]:
        """Draw ``n`` points uniformly (mixtures uniformly on their simplex, by Dirichlet).

        Linear inequalities are met by rejection while draws in the box land often
        enough; after ``tries`` misses in a row (the constraints keep a small corner of
        the box) the continuous parameters are drawn inside them by hit-and-run
        (:class:`~discovery.polytopes.Polytope`), near-uniformly.
        """
        points: list[Parameters] = []
        misses = 0
        while len(points) < n:
            point = self._sample_one(rng)
            if all(c.value(point) <= c.upper for c in self.linear):
                points.append(point)
                misses = 0
                continue
            misses += 1
            if misses >= tries:
                return points + self._sample_inside(n - len(points), rng)
        return points

    def _sample_inside(self, n: int, rng: np.random.Generator) -> list[Parameters]:
        """``n`` points whose continuous parameters are drawn inside the polytope."""
        free, polytope = self._polytope(self.linear)
        points = []
        for shares in polytope.sample(n, rng):
            point = self._sample_one(rng)  # the categories; fixed values; the rest replaced
            for p, share in zip(free, shares, strict=True):
                point[p.name] = float(p.lower + (p.upper - p.lower) * share)
            points.append(point)
        return points

    def _sample_one(self, rng: np.random.Generator) -> Parameters:
        in_simplex = {name for c in self.simplex for name in c.names}
        point: Parameters = {}
        for p in self.parameters:
            if isinstance(p, CategoricalParameter):
                point[p.name] = p.choices[int(rng.integers(len(p.choices)))]
            elif p.name not in in_simplex:
                point[p.name] = float(rng.uniform(p.lower, p.upper))
        for c in self.simplex:
            point.update(self._sample_simplex(c, rng))
        return {name: point[name] for name in self.names}

    def _sample_simplex(
        self, constraint: SimplexConstraint, rng: np.random.Generator, tries: int = 200
    ) -> dict[str, float]:
        """A point of ``{sum = total, lower <= x <= upper}``, uniform or nearly so.

        A shifted Dirichlet draw is uniform on the simplex above the lower bounds; one that
        also keeps the upper bounds is returned. When the upper bounds are tight (eight
        parts of at most 0.15 each: few draws keep them) it walks by hit-and-run instead.
        Members whose bounds coincide are fixed there.
        """
        params = [self.by_name[n] for n in constraint.names]
        lower = np.array([p.lower for p in params], dtype=np.float64)  # type: ignore[union-attr]
        upper = np.array([p.upper for p in params], dtype=np.float64)  # type: ignore[union-attr]
        free = constraint.total - lower.sum()
        room = upper - lower
        moving = room > _SIMPLEX_TOL
        shares = lower.copy()
        if moving.any():
            draws = free * rng.dirichlet(np.ones(int(moving.sum())), size=tries)
            kept = np.flatnonzero(np.all(draws <= room[moving], axis=1))
            if len(kept):
                shares[moving] += draws[kept[0]]
            else:
                shares[moving] += _hit_and_run(room[moving], free, rng)
        return {n: float(v) for n, v in zip(constraint.names, shares, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the space (inverse of :meth:`from_dict`)."""
        params: list[dict[str, Any]] = []
        for p in self.parameters:
            if isinstance(p, CategoricalParameter):
                params.append({"name": p.name, "type": "categorical", "choices": list(p.choices)})
            else:
                params.append(
                    {
                        "name": p.name,
                        "type": "continuous",
                        "lower": p.lower,
                        "upper": p.upper,
                        "unit": p.unit,
                    }
                )
        simplex = [{"names": list(c.names), "total": c.total} for c in self.simplex]
        linear = [{"terms": dict(c.terms), "upper": c.upper} for c in self.linear]
        return {"parameters": params, "simplex": simplex, "linear": linear}

    @classmethod
    def from_dict(cls, data: Any, check_room: bool = True) -> SearchSpace:
        """Build a space from :meth:`to_dict` output (or a request body), strictly.

        The format, keys in brackets optional::

            {"parameters": [
                 {"name": "T", ["type": "continuous",] "lower": 20, "upper": 80,
                  ["unit": "degC"]},
                 {"name": "solvent", "type": "categorical", "choices": ["water", "ethanol"]}],
             ["simplex": [{"names": ["a", "b"], ["total": 1.0]}],]
             ["linear": [{"terms": {"a": 1.0, "T": 0.01}, "upper": 1.5}]]}

        A linear constraint has no lower limit: write one as an upper limit of the
        negated terms.

        Args:
            data: The space as a mapping.
            check_room: Whether linear constraints must leave room (False when reading
                a stored campaign back).

        Raises:
            ValueError: the first problem, with its path from ``space`` (``space.simplex[0]
                .names: required``); an unknown key is refused, listing the keys allowed.
        """
        root = _object(data, "space", "a space", _SPACE_KEYS, required=("parameters",))
        parameters = tuple(
            _parameter(raw, f"space.parameters[{i}]")
            for i, raw in enumerate(_list(root["parameters"], "space.parameters"))
        )
        simplex = tuple(
            _simplex(raw, f"space.simplex[{i}]")
            for i, raw in enumerate(_list(root.get("simplex", []), "space.simplex"))
        )
        linear = tuple(
            _linear(raw, f"space.linear[{i}]")
            for i, raw in enumerate(_list(root.get("linear", []), "space.linear"))
        )
        try:
            return cls(parameters, simplex, linear, check_room)
        except ValueError as error:  # the space's own rules; "linear[0]: ..." is a path
            dot = re.match(r"\w+\[\d+\]: ", str(error)) is not None
            raise ValueError(f"space{'.' if dot else ': '}{error}") from None


# -- from_dict: every level names its keys, and refuses others ----------------------------
_SPACE_KEYS = ("parameters", "simplex", "linear")
_CONTINUOUS_KEYS = ("name", "type", "lower", "upper", "unit")
_CATEGORICAL_KEYS = ("name", "type", "choices")
_SIMPLEX_KEYS = ("names", "total")
_LINEAR_KEYS = ("terms", "upper")
_PARAMETER_TYPES = ("continuous", "categorical")


def _show(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _child(path: str, key: Any) -> str:
    """``path.key``, or ``path['key']`` where the key is not a plain word."""
    return f"{path}.{key}" if isinstance(key, str) and key.isidentifier() else f"{path}[{key!r}]"


def _object(
    data: Any,
    path: str,
    what: str,
    allowed: Sequence[str],
    required: Sequence[str],
    hint: str = "",
) -> Mapping[str, Any]:
    """``data`` as a JSON object holding every ``required`` key and no key not ``allowed``.

    Args:
        data: The value to check.
        path: Where it is (``space.parameters[0]``), for the messages.
        what: What it is, with its article (``a space``), for the messages.
        allowed: Keys it may have, in the order the messages list them.
        required: Keys it must have.
        hint: Appended to the list of keys (``; ...``).

    Raises:
        ValueError: naming the first unknown or missing key, and listing ``allowed``.
    """
    keys = f"{what} has {', '.join(allowed)}{hint}"
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: must be an object ({keys}), got {_show(data)}")
    for key in data:
        if key not in allowed:
            raise ValueError(f"{_child(path, key)}: unknown key ({keys})")
    for key in required:
        if key not in data:
            raise ValueError(f"{_child(path, key)}: required ({keys})")
    return data


def _list(data: Any, path: str) -> list[Any] | tuple[Any, ...]:
    """``data`` if it is a JSON list, else raise naming ``path``."""
    if not isinstance(data, list | tuple):
        raise ValueError(f"{path}: must be a list, got {_show(data)}")
    return data


def _text(value: Any, path: str) -> str:
    """``value`` if it is text, else raise naming ``path``."""
    if not isinstance(value, str):
        raise ValueError(f"{path}: must be text, got {_show(value)}")
    return value


def _number(value: Any, path: str) -> float:
    """``value`` as a finite float, else raise naming ``path`` (true and false are not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{path}: must be a number, got {_show(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{path}: {_show(value)} is too large") from None
    if not math.isfinite(number):
        raise ValueError(f"{path}: must be finite, got {number}")
    return number


def _parameter(raw: Any, path: str) -> Parameter:
    """One parameter of :meth:`SearchSpace.to_dict`; ``type`` defaults to continuous."""
    if not isinstance(raw, Mapping):
        raise ValueError(
            f"{path}: must be an object (a continuous parameter has "
            f"{', '.join(_CONTINUOUS_KEYS)}; a categorical one {', '.join(_CATEGORICAL_KEYS)}), "
            f"got {_show(raw)}"
        )
    kind = raw.get("type", "continuous")
    if kind == "categorical":
        data = _object(raw, path, "a categorical parameter", _CATEGORICAL_KEYS, ("name", "choices"))
        name = _text(data["name"], f"{path}.name")
        choices = _list(data["choices"], f"{path}.choices")
        labels = tuple(_text(c, f"{path}.choices[{i}]") for i, c in enumerate(choices))
        return _built(path, lambda: CategoricalParameter(name, labels))
    if kind != "continuous":  # not `in`: a list or object is no type either
        raise ValueError(
            f"{path}.type: unknown parameter type {_show(kind)} "
            f"(one of {', '.join(_PARAMETER_TYPES)})"
        )
    data = _object(
        raw, path, "a continuous parameter", _CONTINUOUS_KEYS, ("name", "lower", "upper")
    )
    name = _text(data["name"], f"{path}.name")
    lower = _number(data["lower"], f"{path}.lower")
    upper = _number(data["upper"], f"{path}.upper")
    unit = data.get("unit")
    unit = None if unit is None else _text(unit, f"{path}.unit")
    return _built(path, lambda: ContinuousParameter(name, lower, upper, unit))


def _built(path: str, build: Callable[[], Parameter]) -> Parameter:
    """``build()``, its own rules' refusals (bounds, choices) prefixed with ``path``."""
    try:
        return build()
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _simplex(raw: Any, path: str) -> SimplexConstraint:
    """One simplex constraint of :meth:`SearchSpace.to_dict`; ``total`` defaults to 1."""
    data = _object(raw, path, "a simplex constraint", _SIMPLEX_KEYS, required=("names",))
    names = _list(data["names"], f"{path}.names")
    return SimplexConstraint(
        tuple(_text(name, f"{path}.names[{i}]") for i, name in enumerate(names)),
        _number(data.get("total", 1.0), f"{path}.total"),
    )


def _linear(raw: Any, path: str) -> LinearConstraint:
    """One linear constraint of :meth:`SearchSpace.to_dict`: ``sum(terms) <= upper``."""
    data = _object(
        raw,
        path,
        "a linear constraint",
        _LINEAR_KEYS,
        required=_LINEAR_KEYS,
        hint="; it means sum(coefficient * parameter) <= upper, so negate the terms "
        "for a lower limit",
    )
    terms = data["terms"]
    if not isinstance(terms, Mapping) or not terms:
        raise ValueError(
            f"{path}.terms: must be a non-empty object of parameter name: coefficient, "
            f"got {_show(terms)}"
        )
    return LinearConstraint(
        tuple(
            (_text(name, f"{path}.terms"), _number(c, _child(f"{path}.terms", name)))
            for name, c in terms.items()
        ),
        _number(data["upper"], f"{path}.upper"),
    )
