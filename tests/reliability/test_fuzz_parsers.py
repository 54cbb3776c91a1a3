"""Hypothesis on the parsers and validators that take outside input.

Formulas (``add_material``), measured values (``Measurement.check``), points
(``SearchSpace.validate``), spaces (``SearchSpace.from_dict``), CSV tables
(``load_csv``), Olympus folders (``load_olympus``) and the CLI's
``campaign observe --from-file``: bad input raises ``ValueError`` (the CLI: exit 1 with
one line, no traceback), never another exception, and stores nothing.

A bug found here gets an explicit ``xfail(strict=True)`` test naming the place and a
reproduction, and the property keeps away from its inputs until it is fixed, so that it
guards everything else meanwhile.
"""

from __future__ import annotations

import json
import math
import numbers
from collections import Counter
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pymatgen.core import Element
from typer.testing import CliRunner

from agents import CampaignAgent
from db.documents import MaterialDocument
from db.materials import add_material
from discovery.datasets import load_csv, load_olympus
from discovery.domain import Direction, Measurement, Objective
from discovery.spaces import (
    CategoricalParameter,
    ContinuousParameter,
    SearchSpace,
    SimplexConstraint,
)
from matloop.cli import app

PYMATGEN_WARNINGS = pytest.mark.filterwarnings("ignore:No Pauling electronegativity:UserWarning")
UNSHRUNK = (Phase.explicit, Phase.generate)  # stop at the first failure, unshrunk
SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


class Tried:
    """Counts the examples a property ran, for the closing "fuzz cases tried" number."""

    def __init__(self, cases: Counter[str], name: str) -> None:
        self.cases, self.name = cases, name

    def __call__(self) -> None:
        self.cases[f"hypothesis {self.name}"] += 1


@pytest.fixture
def tried(fuzz_cases: Counter[str], request: pytest.FixtureRequest) -> Tried:
    return Tried(fuzz_cases, request.node.name)


# -- formulas ---------------------------------------------------------------------------
SYMBOLS = [e.symbol for e in Element]
AMOUNTS = st.one_of(
    st.just(""),
    st.integers(0, 10**6).map(str),
    st.floats(0, 1e6, allow_nan=False).map(lambda x: f"{x:g}"),
    st.sampled_from(["0", "-1", "1e5", "1e-9", "0.5", ".", "1.2.3", "nan", "inf", "e", "+2"]),
)
TOKENS = st.one_of(
    st.tuples(st.sampled_from([*SYMBOLS, "X", "Xx", "D", "T", "Ee", "h", "fe"]), AMOUNTS).map(
        "".join
    ),
    st.sampled_from(["(", ")", "[", "]", "{", "}", "·", "*", " ", "+", "-", ",", "$", "\x00"]),
)
FORMULA_TEXT = st.one_of(st.text(max_size=30), st.lists(TOKENS, max_size=8).map("".join))


@PYMATGEN_WARNINGS
def test_add_material_raises_only_value_error(mongodb_uri: str, tried: Tried) -> None:
    @settings(max_examples=300, **SETTINGS)
    @given(text=FORMULA_TEXT)
    def prop(text: str) -> None:
        tried()
        try:
            material, _ = add_material(text)
        except ValueError as error:
            assert str(error)
            return
        assert material.formula and material.nelements == len(material.elements) >= 1

    prop()


@pytest.mark.parametrize("formula", ["H1e400", "Fe2O1e309"])
def test_an_overflowing_amount_is_a_value_error(mongodb_uri: str, formula: str) -> None:
    with pytest.raises(ValueError, match="formula"):
        add_material(formula)


COMPOSITIONS = st.dictionaries(
    st.sampled_from(SYMBOLS[:94]), st.integers(1, 40), min_size=1, max_size=4
).map(lambda c: "".join(f"{el}{n}" for el, n in c.items()))


@PYMATGEN_WARNINGS
def test_valid_formulas_canonicalise_idempotently(mongodb_uri: str, tried: Tried) -> None:
    @settings(max_examples=120, **SETTINGS)
    @given(text=COMPOSITIONS)
    def prop(text: str) -> None:
        tried()
        first, _ = add_material(text)
        again, created = add_material(first.formula)
        assert not created and again.id == first.id
        assert again.formula == first.formula
        document = MaterialDocument(formula=first.formula)
        document.validate()
        assert document.formula == first.formula
        assert document.formula_alphabetical == first.formula_alphabetical
        assert first.chemsys == "-".join(first.elements)

    prop()


@pytest.mark.parametrize("scaled", ["Fe1O1.5", "Fe0.5O0.75"])
def test_scaled_formulas_are_the_same_material(mongodb_uri: str, scaled: str) -> None:
    first, _ = add_material("Fe2O3")
    again, created = add_material(scaled)
    assert not created and again.id == first.id


# -- measured values --------------------------------------------------------------------
OBJECTIVES = (Objective("degradation", Direction.MINIMIZE), Objective("yield", Direction.MAXIMIZE))
NAMES = [o.name for o in OBJECTIVES]
VALUES = st.one_of(
    st.floats(),
    st.floats(width=32).map(np.float32),
    st.floats().map(np.float64),
    st.integers(-(10**300), 10**300),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
    st.booleans(),
    st.booleans().map(np.bool_),
    st.fractions(max_denominator=10**6).filter(lambda f: abs(f) < 10**300),
    st.decimals(allow_nan=True),
    st.complex_numbers(),
    st.text(max_size=4),
    st.none(),
    st.lists(st.floats(), max_size=2),
)


def test_measurement_check_raises_only_value_error(tried: Tried) -> None:
    @settings(max_examples=400, **SETTINGS)
    @given(
        values=st.dictionaries(
            st.one_of(st.sampled_from(NAMES), st.text(max_size=4)), VALUES, max_size=4
        ),
        key=st.text(max_size=3),
    )
    def prop(values: dict[str, Any], key: str) -> None:
        tried()
        try:
            Measurement("t", values, key).check(OBJECTIVES)
        except ValueError as error:
            assert str(error)
            return
        assert key and set(values) == set(NAMES)
        for value in values.values():
            assert isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
            assert math.isfinite(value)

    prop()


@pytest.mark.parametrize("value", [10**400, Fraction(10**400, 3)], ids=["int", "fraction"])
def test_a_value_beyond_float_range_is_a_value_error(value: Any) -> None:
    with pytest.raises(ValueError, match="degradation"):
        Measurement("t", {"degradation": value, "yield": 1.0}, "k").check(OBJECTIVES)


# -- points in a search space -----------------------------------------------------------
SPACE = SearchSpace(
    (
        ContinuousParameter("x", -1.0, 1.0),
        CategoricalParameter("solvent", ("water", "ethanol")),
        ContinuousParameter("a", 0.0, 1.0),
        ContinuousParameter("b", 0.0, 1.0),
    ),
    (SimplexConstraint(("a", "b"), 1.0),),
)
POINT_VALUES = st.one_of(
    st.sampled_from(["water", "ethanol", "Water", ""]),
    st.floats(-2, 2),
    st.just(0.5),
    VALUES,
)


def test_search_space_validate_raises_only_value_error(tried: Tried) -> None:
    @settings(max_examples=400, **SETTINGS)
    @given(
        point=st.dictionaries(
            st.one_of(st.sampled_from(SPACE.names), st.text(max_size=3)), POINT_VALUES, max_size=5
        )
    )
    def prop(point: dict[str, Any]) -> None:
        tried()
        try:
            clean = SPACE.validate(point)
        except ValueError as error:
            assert str(error)
            return
        assert list(clean) == SPACE.names
        assert -1.0 <= clean["x"] <= 1.0 and clean["solvent"] in ("water", "ethanol")
        assert abs(float(clean["a"]) + float(clean["b"]) - 1.0) <= 1e-6
        assert SPACE.encode([clean]).shape == (1, SPACE.dim)

    prop()


def test_an_integer_beyond_float_range_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="'x'"):
        SPACE.validate({"x": 10**400, "solvent": "water", "a": 0.5, "b": 0.5})


JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
PARAMETER_KEYS = ["name", "type", "lower", "upper", "choices", "unit", "low", "high"]
SPACE_JSON = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {
            "parameters": st.lists(
                st.dictionaries(
                    st.sampled_from(PARAMETER_KEYS),
                    st.one_of(JSON, st.sampled_from(["continuous", "categorical", "x"])),
                ),
                max_size=3,
            )
        },
        optional={"simplex": st.lists(st.dictionaries(st.sampled_from(["names", "total"]), JSON))},
    ),
)


def test_space_from_dict_raises_only_value_error(tried: Tried) -> None:
    @settings(max_examples=200, phases=UNSHRUNK, **SETTINGS)
    @given(data=SPACE_JSON)
    def prop(data: Any) -> None:
        tried()
        try:
            space = SearchSpace.from_dict(data)
        except ValueError:
            return
        assert SearchSpace.from_dict(space.to_dict()) == space

    prop()


# -- CSV tables -------------------------------------------------------------------------
CELLS = st.one_of(
    st.integers(-(10**15), 10**15).map(str),
    st.sampled_from(["9" * 30, "-" + "9" * 400]),  # past 64 bits, past float range
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "nan", "inf", "-inf", "NA", "x", "water", "True", '"', '""', "a b"]),
    st.text(max_size=4),
)
HEADERS = st.lists(
    st.sampled_from(["a", "b", "y", "", "y.1", "Unnamed: 0", "ö", '"y"']), max_size=4
)


@st.composite
def csv_bytes(draw: st.DrawFn) -> bytes:
    header = draw(HEADERS)
    width = len(header)
    rows = draw(
        st.lists(st.lists(CELLS, min_size=max(width - 1, 0), max_size=width + 1), max_size=5)
    )
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(",".join(row) for row in [header, *rows])
    data = text.encode(draw(st.sampled_from(["utf-8", "utf-16", "latin-1"])), errors="replace")
    cut = draw(st.integers(0, len(data)))
    return data[: cut if draw(st.booleans()) else len(data)]


def test_load_csv_raises_only_value_error(tmp_path: Path, tried: Tried) -> None:
    path = tmp_path / "table.csv"

    @settings(max_examples=300, **SETTINGS)
    @given(
        data=st.one_of(st.binary(max_size=200), csv_bytes()),
        direction=st.sampled_from(Direction),
        params=st.one_of(st.none(), st.lists(st.sampled_from(["a", "b", "y", "z"]), max_size=2)),
    )
    def prop(data: bytes, direction: Direction, params: list[str] | None) -> None:
        tried()
        path.write_bytes(data)
        try:
            pool = load_csv(path, [("y", direction)], params)
        except (ValueError, FileNotFoundError) as error:
            assert str(error)
            return
        assert len(pool) == pool.values.shape[0] >= 1
        assert np.isfinite(pool.values).all()
        for point in pool.points:  # the space holds its own points
            pool.space.validate(point)

    prop()


def test_load_csv_of_a_missing_file_or_a_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_csv(tmp_path / "missing.csv", [("y", Direction.MAXIMIZE)])
    with pytest.raises(FileNotFoundError, match="not found"):
        load_csv(tmp_path, [("y", Direction.MAXIMIZE)])


HUGE = "9" * 400  # an integer beyond float range


@pytest.mark.parametrize(
    ("text", "column"),
    [(f"a,y\n1,1\n2,{HUGE}\n", "'y'"), (f"a,y\n1,1\n-{HUGE},2\n", "'a'")],
    ids=["objective", "parameter"],
)
def test_load_csv_with_a_huge_integer_names_the_column(
    tmp_path: Path, text: str, column: str
) -> None:
    path = tmp_path / "huge.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"{column} is .*not a finite number in data row 2"):
        load_csv(path, [("y", Direction.MAXIMIZE)])


def test_load_csv_keeps_integers_past_64_bits_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text(f"a,y\n1,1\n{10**30},2\n")
    pool = load_csv(path, [("y", Direction.MAXIMIZE)])
    assert pool.space.parameters == (ContinuousParameter("a", 1.0, 1e30),)
    for point in pool.points:
        pool.space.validate(point)


@pytest.mark.parametrize(
    ("text", "line"),
    [("a,y\n1,2,3\n4,5,6\n", "data row 1"), ("a,y\n1,2\n4,5,6\n", "line 3")],
    ids=["first-row", "later-row"],
)
def test_load_csv_refuses_rows_wider_than_the_header(tmp_path: Path, text: str, line: str) -> None:
    # pandas would read the first case as "column 1 is the index" and shift a and y.
    path = tmp_path / "ragged.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"ragged\.csv: .*{line}"):
        load_csv(path, [("y", Direction.MAXIMIZE)])


@pytest.mark.parametrize(
    "data", [b"", b"\xff\xfe\x00y", b'a,y\n"1,2\n'], ids=["empty", "utf16", "quote"]
)
def test_load_csv_errors_name_the_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=r"bad\.csv"):
        load_csv(path, [("y", Direction.MAXIMIZE)])


OLYMPUS_CONFIGS = [
    pytest.param({}, "parameters", id="empty"),
    pytest.param([], "expected an object", id="list"),
    pytest.param("x", "expected an object", id="text"),
    pytest.param({"parameters": {}, "measurements": []}, "parameters", id="parameters-object"),
    pytest.param(
        {"parameters": [5], "measurements": [{"name": "y"}]}, r"parameters\[0\]", id="int"
    ),
    pytest.param(
        {"parameters": [{"name": "x"}], "measurements": [{"name": "y"}]},
        r"parameters\[0\] \('x'\): lower/upper",
        id="no-bounds",
    ),
    pytest.param(
        {
            "parameters": [{"name": "x", "lower": 0, "upper": int(HUGE)}],
            "measurements": [{"name": "y"}],
        },
        "lower/upper",
        id="huge-bound",
    ),
    pytest.param(
        {"parameters": [{"lower": 0, "upper": 1}], "measurements": []},
        r"parameters\[0\]: .*name",
        id="no-name",
    ),
    pytest.param(
        {"parameters": [{"name": "x", "lower": 0, "upper": 1}], "measurements": []},
        "measurements",
        id="no-measurements",
    ),
    pytest.param(
        {"parameters": [{"name": "x", "lower": 0, "upper": 1}], "measurements": [{"name": "x"}]},
        "unique",
        id="duplicate-name",
    ),
    pytest.param(
        {
            "parameters": [{"name": "x", "lower": 0, "upper": 1}],
            "measurements": [{"name": "y"}],
            "default_goal": 1,
        },
        "default_goal",
        id="goal-int",
    ),
    pytest.param(
        {
            "parameters": [{"name": "x", "lower": 0, "upper": 1}],
            "measurements": [{"name": "y"}],
            "constraints": ["simplex"],
        },
        "constraints",
        id="constraints-list",
    ),
]


@pytest.mark.parametrize(("config", "field"), OLYMPUS_CONFIGS)
def test_load_olympus_with_a_malformed_config_names_the_field(
    tmp_path: Path, config: Any, field: str
) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "data.csv").write_text("0.5,1.0\n")
    with pytest.raises(ValueError, match=rf"config\.json: .*{field}"):
        load_olympus(tmp_path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"0.5,1.0\n0.5,1.0,3\n", "line 2"),
        (b"", "the file is empty"),
        (b"\xff\xfe0,1", r"line 1 is not UTF-8 \(byte 0xff"),
    ],
    ids=["ragged", "empty", "utf16"],
)
def test_load_olympus_with_a_bad_table_names_the_file(
    tmp_path: Path, data: bytes, message: str
) -> None:
    config = {"parameters": [{"name": "x", "low": 0, "high": 1}], "measurements": [{"name": "y"}]}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "data.csv").write_bytes(data)
    with pytest.raises(ValueError, match=rf"data\.csv: .*{message}"):
        load_olympus(tmp_path)


# -- the CLI: campaign observe --from-file ----------------------------------------------
@pytest.fixture
def observe(
    photo_pce10_campaign: CampaignAgent,
    mongodb_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    counts: Callable[[], dict[str, int]],
) -> Iterator[Callable[..., tuple[int, str]]]:
    """Write a file, run ``campaign observe photo-pce10 --from-file``; check the outcome.

    Returns the exit code and output. Asserts: no exception but SystemExit, on failure
    one line starting with ``error:``, and nothing stored (on failure, or unless
    ``may_store``: a random file may happen to hold a valid result for the real trial).
    """
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    trial = photo_pce10_campaign.propose(2)[0].id
    assert trial is not None
    runner = CliRunner()

    def run(name: str, data: bytes, may_store: bool = False) -> tuple[int, str]:
        path = tmp_path / name
        path.write_bytes(data.replace(b"{trial}", trial.encode()))
        before = counts()
        result = runner.invoke(
            app, ["campaign", "observe", "photo-pce10", "--from-file", str(path)]
        )
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{type(result.exception).__name__}: {result.exception}"
        )
        output = result.output.strip()
        if result.exit_code != 0:
            assert result.exit_code == 1, result.output
            assert len(output.splitlines()) == 1 and output.startswith("error:"), output
        if result.exit_code != 0 or not may_store:
            assert counts() == before, output
        return result.exit_code, output

    yield run


def _json(rows: Any) -> bytes:
    return json.dumps(rows).encode()


GOOD_ROW = {"trial_id": "{trial}", "values": {"degradation": 0.1}}
JUNK_FILES = [
    ("a.json", b"[{", "Expecting"),
    ("b.json", b"{}", "JSON list"),
    ("c.json", b'"text"', "JSON list"),
    ("d.json", _json([{**GOOD_ROW, "values": {"degradation": "x"}}]), "degradation: Input"),
    ("e.json", _json([{**GOOD_ROW, "values": {"degradation": True}}]), "valid number, got True"),
    ("f.json", _json([{**GOOD_ROW, "values": {"$gt": 0}}]), "objective"),
    (
        "g.json",
        _json([{**GOOD_ROW, "trial_id": {"$ne": None}}]),
        "results[0]: trial_id: Input should be a valid string",
    ),
    ("h.json", _json([{**GOOD_ROW, "values": [1, 2]}]), "values: Input should be a valid dict"),
    ("i.json", b'[{"trial_id": "{trial}", "values": {"degradation": NaN}}]', "not finite"),
    ("j.csv", b"trial_id,degradation\n,1\n", "no trial_id"),
    ("k.csv", b"trial_id,degradation\n{trial},abc\n", "not a number"),
    ("l.csv", b"trial_id,degradation\n{trial},nan\n", "not finite"),
    ("m.csv", b"trial_id,degradation,$where\n{trial},1,2\n", "['$where'] are not outcomes"),
    ("n.csv", b"trial_id,degradation\n{trial}\n", "data row 1 has fewer cells"),
    ("n2.csv", b"trial_id,degradation\n{trial},1,2\n", "data row 1 has more cells"),
    ("o.csv", bytes(range(256)), "utf-8"),
    ("p.json", b"\xff\xfe[1]", "utf-8"),
    ("q.csv", b"trial_id,degradation\n" + b"0" * 24 + b",1\n", "not a trial"),
    (
        "r.json",
        b'[{"trial_id": "{trial}", "values": {"degradation": 1' + b"0" * 400 + b"}}]",
        "degradation: Input should be a valid number",
    ),
    ("list-of-numbers.json", b"[1, 2]", "results[0]: expected an object"),
    (
        "values-null.json",
        _json([{**GOOD_ROW, "values": None}]),
        "results[0]: values: Input should be a valid dict",
    ),
    (
        "units-list.json",
        _json([{**GOOD_ROW, "units": [1]}]),
        "results[0]: units: Input should be a valid dict",
    ),
    (
        "units-operator.json",
        _json([{**GOOD_ROW, "units": {"$where": "1"}}]),
        "results[0]: units.$where.[key]: String should match",
    ),
    (
        "source-object.json",
        _json([{**GOOD_ROW, "source": {"$ne": 1}}]),
        "results[0]: source: Input should be a valid string",
    ),
    ("extra-field.json", _json([{**GOOD_ROW, "note": "x"}]), "results[0]: note: Extra inputs"),
    ("deep.json", b"[" * 100_000 + b"]" * 100_000, "too deeply nested"),
    ("huge-field.csv", b"trial_id,degradation\n" + b"x" * 200_000 + b",1\n", "field limit"),
    ("no-trial-id-column.csv", b"\x00\x01\x02\n", "no trial_id column"),
    ("empty.csv", b"", "no results"),
    ("blank.json", b" \n", "no results"),
    ("empty-list.json", b"[]", "no results"),
    ("header-only.csv", b"trial_id,degradation\n", "no results"),
]


@pytest.mark.parametrize(
    ("name", "data", "fragment"), JUNK_FILES, ids=[n for n, _, _ in JUNK_FILES]
)
def test_observe_junk_file_fails_with_one_line(
    observe: Callable[..., tuple[int, str]], name: str, data: bytes, fragment: str
) -> None:
    code, output = observe(name, data)
    assert code == 1 and fragment in output, output
    assert name in output, output  # the message names the file


def test_observe_a_missing_file(observe: Callable[..., tuple[int, str]], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["campaign", "observe", "photo-pce10", "--from-file", str(tmp_path / "nope.csv")]
    )
    assert result.exit_code == 1 and "no such file" in result.output.lower()


def test_observe_a_folder_is_an_error_not_a_traceback(
    observe: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    (tmp_path / "folder").mkdir()
    result = CliRunner().invoke(
        app, ["campaign", "observe", "photo-pce10", "--from-file", str(tmp_path / "folder")]
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "folder: Is a directory" in result.output, result.output


ROWS = st.lists(
    st.dictionaries(
        st.sampled_from(["trial_id", "values", "idempotency_key", "source", "units"]),
        st.one_of(
            JSON,
            st.just("{trial}"),
            st.dictionaries(
                st.sampled_from(["degradation", "x"]), st.floats() | st.integers(-9, 9)
            ),
        ),
    ),
    max_size=3,
)


def test_observe_random_json_rows_never_trace_back(
    observe: Callable[..., tuple[int, str]], tried: Tried
) -> None:
    @settings(max_examples=40, **SETTINGS)
    @given(rows=st.one_of(ROWS, JSON))
    def prop(rows: Any) -> None:
        tried()
        observe("rows.json", json.dumps(rows).encode(), True)

    prop()


CSV_TEXT = st.lists(
    st.lists(st.sampled_from(["trial_id", "degradation", "{trial}", "1", "x", "", '"', "nan"])),
    max_size=4,
).map(lambda rows: "\n".join(",".join(r) for r in rows))


def test_observe_random_csv_never_traces_back(
    observe: Callable[..., tuple[int, str]], tried: Tried
) -> None:
    @settings(max_examples=40, **SETTINGS)
    @given(text=st.one_of(CSV_TEXT, st.text(alphabet="ab,\n\"'", max_size=30)))
    def prop(text: str) -> None:
        tried()
        observe("rows.csv", text.encode(), True)

    prop()
