"""``POST /campaigns``: the ``space`` format, documented in the OpenAPI schema and enforced."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from agents.api import create_app
from db import CampaignStore
from db.documents import CampaignDocument, CandidateDocument
from db.materials import add_material
from db.tokens import create_token
from discovery.compositions import reduced_formula
from discovery.spaces import SearchSpace
from matloop.cli import app as cli_app

X = {"name": "x", "type": "continuous", "lower": 0, "upper": 1}


@pytest.fixture
def api(mongodb_uri: str) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


@pytest.fixture
def admin(mongodb_uri: str) -> dict[str, str]:
    secret, _ = create_token(f"admin-{time.monotonic_ns()}", "admin")
    return {"Authorization": f"Bearer {secret}"}


def _body(name: str, space: Any) -> dict[str, Any]:
    return {"name": name, "space": space, "objectives": [{"name": "y", "direction": "max"}]}


def _space_schema(api: TestClient) -> dict[str, Any]:
    schema = api.get("/openapi.json").json()
    return schema["components"]["schemas"]["CampaignIn"]["properties"]["space"]


def test_an_unknown_space_key_is_a_422_naming_it_and_nothing_is_stored(
    api: TestClient, admin: dict[str, str]
) -> None:
    space = {"parameters": [X], "linear_constraints": [{"terms": {"x": 1}, "upper": 0.5}]}
    answer = api.post("/api/v1/campaigns", json=_body("unsafe", space), headers=admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == (
        "space.linear_constraints: unknown key (a space has parameters, simplex, linear)"
    )
    assert CampaignDocument.objects(name="unsafe").count() == 0
    assert api.get("/api/v1/campaigns", headers=admin).json() == []


@pytest.mark.parametrize(
    ("space", "detail"),
    [
        ({"parameters": {"x": [0, 1]}}, "space.parameters: must be a list, got {'x': [0, 1]}"),
        ({"parameters": [{"name": "x", "low": 0, "high": 1}]}, "space.parameters[0].low: unknown"),
        ({"parameters": [X], "simplex": [["x"]]}, "space.simplex[0]: must be an object"),
        ({"parameters": [X | {"units": "degC"}]}, "space.parameters[0].units: unknown key"),
    ],
)
def test_a_wrongly_shaped_space_is_a_422_with_a_path_not_a_python_error(
    api: TestClient, admin: dict[str, str], space: dict[str, Any], detail: str
) -> None:
    answer = api.post("/api/v1/campaigns", json=_body("shaped", space), headers=admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(detail), answer.text
    assert "Error" not in answer.text and "malformed" not in answer.text


def test_the_openapi_schema_describes_the_space_and_its_example_creates_a_campaign(
    api: TestClient, admin: dict[str, str]
) -> None:
    schema = _space_schema(api)
    for word in ("parameters", "continuous", "categorical", "simplex", "linear", "unknown key"):
        assert word in schema["description"], word
    [example] = schema["examples"]
    kinds = {p.get("type", "continuous") for p in example["parameters"]}
    assert kinds == {"continuous", "categorical"} and example["simplex"] and example["linear"]
    assert any(p.get("unit") for p in example["parameters"])
    created = api.post("/api/v1/campaigns", json=_body("documented", example), headers=admin)
    assert created.status_code == 201, created.text
    assert CampaignStore().get("documented").space == SearchSpace.from_dict(example)


# -- a pool holds each candidate once --------------------------------------------------------
def _oxides(candidates: list[dict[str, Any]], name: str = "ferrites") -> dict[str, Any]:
    elements = ("Li", "Fe", "O")
    space = {
        "parameters": [{"name": e, "lower": 0, "upper": 1} for e in elements],
        "simplex": [{"names": list(elements), "total": 1}],
    }
    return _body(name, space) | {"candidates": candidates}


@pytest.mark.parametrize(
    "again",
    [
        {"Li": 0, "Fe": 0.4, "O": 0.6},  # the same fractions
        {"O": 0.6, "Fe": 0.4, "Li": 0.0},  # in another order
        {"Li": 0, "Fe": 0.4 + 1e-12, "O": 0.6 - 1e-12},  # within the tolerance
    ],
)
def test_a_composition_pool_holding_one_composition_twice_is_a_422_naming_both(
    api: TestClient, admin: dict[str, str], again: dict[str, float]
) -> None:
    fe2o3 = {"Li": 0, "Fe": 0.4, "O": 0.6}
    body = _oxides([fe2o3, {"Li": 0.5, "Fe": 0.5, "O": 0}, again])
    answer = api.post("/api/v1/campaigns", json=body, headers=admin)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith("candidates[2]: ") and "composition Fe2O3 of candidates[0]" in detail
    assert CampaignDocument.objects.count() == 0  # nothing stored


def test_compositions_that_differ_or_differ_elsewhere_make_a_pool(
    api: TestClient, admin: dict[str, str]
) -> None:
    oxides = [{"Li": 0, "Fe": 0.4, "O": 0.6}, {"Li": 0, "Fe": 0.5, "O": 0.5}]
    created = api.post("/api/v1/campaigns", json=_oxides(oxides), headers=admin)
    assert created.status_code == 201, created.text
    # one composition at two temperatures is two experiments
    body = _oxides([o | {"T": 300} for o in oxides[:1]] + [oxides[0] | {"T": 600}], "fired")
    body["space"]["parameters"].append({"name": "T", "lower": 200, "upper": 900})
    assert api.post("/api/v1/campaigns", json=body, headers=admin).status_code == 201


def test_a_pool_of_other_parameters_holding_one_point_twice_is_a_422(
    api: TestClient, admin: dict[str, str]
) -> None:
    body = _body("cube", {"parameters": [X]}) | {"candidates": [{"x": 0.5}, {"x": 1}, {"x": 1.0}]}
    answer = api.post("/api/v1/campaigns", json=body, headers=admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith("candidates[2]: {'x': 1.0} is the candidate of ")
    assert "candidates[1] again" in answer.json()["detail"]


def test_an_endgame_without_a_budget_is_a_422_naming_the_budget(
    api: TestClient, admin: dict[str, str]
) -> None:
    settings = {"strategy": "gp+top+iwarp+warp+endgame", "initial": 2}
    body = _body("late", {"parameters": [X]}) | {"settings": settings}
    answer = api.post("/api/v1/campaigns", json=body, headers=admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(
        "settings.budget: strategy gp+top+iwarp+warp+endgame believes its last 3 batches"
    )
    assert CampaignDocument.objects.count() == 0
    budgeted = body | {"settings": settings | {"budget": 20}}
    assert api.post("/api/v1/campaigns", json=budgeted, headers=admin).status_code == 201


def test_a_given_pool_keeps_known_materials_as_a_csv_pool_does_and_says_so(
    api: TestClient, admin: dict[str, str]
) -> None:
    add_material("Fe2O3")  # known: a generated pool (--elements) would leave it out
    oxides = [{"Li": 0, "Fe": 0.4, "O": 0.6}, {"Li": 0, "Fe": 0.5, "O": 0.5}]
    created = api.post("/api/v1/campaigns", json=_oxides(oxides), headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["pool_size"] == 2
    described = api.get("/openapi.json").json()["paths"]["/api/v1/campaigns"]["post"]
    assert "known materials" in described["description"] and "are kept" in described["description"]


# -- a pool generated from composition rules (`compositions`) -------------------------------
PHOSPHATES = {"elements": ["Li", "Fe", "P", "O"], "max_elements": 3, "charge_balanced": True}


def _generated(name: str, compositions: dict[str, Any], **more: Any) -> dict[str, Any]:
    body = {"name": name, "objectives": [{"name": "gap", "direction": "max"}]}
    return body | {"compositions": compositions} | more


def _formulas(name: str) -> set[str]:
    return {reduced_formula(c.parameters) for c in CampaignStore().candidates(name)}


def test_generated_compositions_over_http_are_the_command_lines_pool(
    api: TestClient, admin: dict[str, str], mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_material("Fe2O3")  # known: both leave it out
    add_material("LiFePO4")  # known, but four elements: not in these pools anyway
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    args = ["campaign", "create", "by-cli", "--elements", "Li,Fe,P,O", "--max-elements", "3"]
    made = CliRunner().invoke(cli_app, [*args, "--charge-balanced", "--objective", "gap:max"])
    assert made.exit_code == 0, made.output
    answer = api.post("/api/v1/campaigns", json=_generated("by-http", PHOSPHATES), headers=admin)
    assert answer.status_code == 201, answer.text
    shown = api.get("/api/v1/campaigns/by-http", headers=admin).json()
    by_cli = CampaignStore().get("by-cli")
    assert shown["pool_size"] == by_cli.pool_size == answer.json()["pool_size"] > 0
    assert by_cli.pool_recipe is not None
    assert shown["pool_recipe"] == by_cli.pool_recipe.to_dict()
    assert shown["pool_recipe"]["grid"] == 10 and shown["pool_recipe"]["min_elements"] == 2
    assert shown["pool_recipe"]["known_left_out"] == 1  # Fe2O3
    assert shown["source"] == "generated"
    assert _formulas("by-http") == _formulas("by-cli")
    assert "Fe2O3" not in _formulas("by-http") and "FePO3" in _formulas("by-http")
    assert CampaignStore().get("by-http").space == by_cli.space


def test_a_generated_pool_leaves_known_compositions_out(
    api: TestClient, admin: dict[str, str]
) -> None:
    ferrites = {"elements": ["Li", "Fe", "O"], "grid": 20, "charge_balanced": True}
    first = api.post("/api/v1/campaigns", json=_generated("before", ferrites), headers=admin)
    assert first.status_code == 201, first.text
    assert "Fe2O3" in _formulas("before")
    add_material("Fe4O6")  # Fe2O3, as written otherwise
    answer = api.post("/api/v1/campaigns", json=_generated("after", ferrites), headers=admin)
    assert answer.status_code == 201, answer.text
    assert _formulas("after") == _formulas("before") - {"Fe2O3"}
    assert answer.json()["pool_recipe"]["known_left_out"] == 1


def test_substitutions_of_known_formulas_make_a_pool_over_http(
    api: TestClient, admin: dict[str, str]
) -> None:
    rules = {"elements": ["Sr", "Ba", "Ti", "O"], "substitute_from": ["STO"]}
    answer = api.post("/api/v1/campaigns", json=_generated("titanates", rules), headers=admin)
    assert answer.status_code == 201, answer.text
    recipe = answer.json()["pool_recipe"]
    assert recipe["substitute_from"] == ["SrTiO3"] and recipe["grid"] is None
    assert recipe["threshold"] == 1e-3 and recipe["charge_balanced"]
    assert "BaTiO3" in _formulas("titanates") and "SrTiO3" not in _formulas("titanates")


SEVEN = ["Li", "Na", "K", "Fe", "Mn", "P", "O"]
BALANCED = {"charge_balanced": True}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            _generated("both", PHOSPHATES, space={"parameters": [X]}),
            "space: leave it out with `compositions`, which generates it",
        ),
        (
            _generated("given", PHOSPHATES, candidates=[{"Li": 0.5, "O": 0.5}]),
            "candidates: leave them out with `compositions`, which generates them",
        ),
        (_generated("coarse", PHOSPHATES | {"grid": 0}), "compositions.grid: must be in [1, 1000]"),
        (
            _generated("alien", {"elements": ["Fe", "Xx"]}),
            "compositions.elements: 'Xx' is not an element symbol",
        ),
        (
            _generated(
                "swaps", {"elements": ["Li", "Co", "O"], "grid": 10, "substitute_from": ["LiCoO2"]}
            ),
            "compositions.grid: cannot go with substitute_from",
        ),
        (
            _generated(
                "cuprates", {"elements": ["Y", "Ba", "Cu", "O"], "substitute_from": ["YBCO"]}
            ),
            "compositions.substitute_from: 'YBCO' is the abbreviation of YBa2Cu3O7",
        ),
        (
            _generated("huge", {"elements": SEVEN, "max_elements": 5, "grid": 1000}),
            "compositions: these rules make more than 100000 compositions, the most a pool "
            "may hold",
        ),
        (
            {"name": "nowhere", "objectives": [{"name": "gap", "direction": "max"}]},
            "space: required (or `compositions`, which generates it)",
        ),
        (  # 1.6e10 grid points: refused before one is tested for charge balance
            _generated("balanced", {"elements": SEVEN, "max_elements": 4, "grid": 1000} | BALANCED),
            "compositions: these rules make 5815865979 grid points to test for charge balance",
        ),
        (
            _generated("heavy", {"elements": ["D", "O"]}),
            "compositions.elements: 'D' is deuterium, which pymatgen's compositions count as H",
        ),
        (
            _generated("typo", PHOSPHATES, settings={"strategy": "gp+qucbb"}),
            "settings.strategy: unknown strategy 'gp+qucbb'",
        ),
    ],
)
def test_conflicting_or_invalid_compositions_are_a_422_naming_the_field_and_store_nothing(
    api: TestClient, admin: dict[str, str], body: dict[str, Any], detail: str
) -> None:
    started = time.perf_counter()
    answer = api.post("/api/v1/campaigns", json=body, headers=admin)
    assert time.perf_counter() - started < 30  # a huge grid is counted, never made
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(detail), answer.text
    assert CampaignDocument.objects.count() == 0 and CandidateDocument.objects.count() == 0
    assert api.get("/api/v1/campaigns", headers=admin).json() == []


@pytest.mark.parametrize(
    ("rule", "field", "kind"),
    [
        ({"grid": True}, "grid", "int_type"),  # pydantic's lax mode: a grid of 1
        ({"grid": "10"}, "grid", "int_type"),
        ({"grid": 10.0}, "grid", "int_type"),
        ({"max_elements": 2.0}, "max_elements", "int_type"),
        ({"min_elements": "2"}, "min_elements", "int_type"),
        ({"charge_balanced": "true"}, "charge_balanced", "bool_type"),
        ({"charge_balanced": 1}, "charge_balanced", "bool_type"),
    ],
)
def test_a_composition_rule_of_a_loose_type_is_a_422_naming_it_and_stores_nothing(
    api: TestClient, admin: dict[str, str], rule: dict[str, Any], field: str, kind: str
) -> None:
    rules = {"elements": ["Li", "Fe", "O"]} | rule
    answer = api.post("/api/v1/campaigns", json=_generated("loose", rules), headers=admin)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "compositions", field], kind)
    assert CampaignDocument.objects.count() == 0 and CandidateDocument.objects.count() == 0


@pytest.mark.parametrize(
    ("more", "loc"),
    [
        ({"settings": {"seed": "1"}}, ["settings", "seed"]),
        ({"settings": {"batch_size": 4.0}}, ["settings", "batch_size"]),
        ({"settings": {"budget": "40"}}, ["settings", "budget"]),
        (
            {"constraints": [{"name": "cost", "lower": "1.1"}]},
            ["constraints", 0, "lower"],
        ),
    ],
)
def test_a_campaign_setting_of_a_loose_type_is_a_422_naming_it_and_stores_nothing(
    api: TestClient, admin: dict[str, str], more: dict[str, Any], loc: list[Any]
) -> None:
    body = _generated("loose", {"elements": ["Li", "Fe", "O"]}, **more)
    answer = api.post("/api/v1/campaigns", json=body, headers=admin)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", *loc], error
    assert CampaignDocument.objects.count() == 0 and CandidateDocument.objects.count() == 0


def test_the_openapi_schema_documents_compositions_and_space_is_optional(
    api: TestClient, admin: dict[str, str]
) -> None:
    schema = api.get("/openapi.json").json()["components"]["schemas"]
    body = schema["CampaignIn"]
    assert "space" not in body["required"] and "compositions" in body["properties"]
    rules = schema["CompositionsIn"]["properties"]
    assert set(rules) == {
        "elements", "max_elements", "min_elements", "grid", "charge_balanced", "substitute_from"
    }  # fmt: skip
    assert rules["grid"].get("default") is None and "default 10" in rules["grid"]["description"]
    assert rules["max_elements"]["default"] == 3
    [example] = body["properties"]["compositions"]["examples"]
    created = api.post("/api/v1/campaigns", json=_generated("documented", example), headers=admin)
    assert created.status_code == 201, created.text


def test_every_field_sent_at_its_documented_default_means_leaving_it_out(
    api: TestClient, admin: dict[str, str]
) -> None:
    # generated clients send every field: grid at its default goes with substitute_from
    schema = api.get("/openapi.json").json()["components"]["schemas"]["CompositionsIn"]
    defaults = {k: v["default"] for k, v in schema["properties"].items() if "default" in v}
    sent = defaults | {"grid": None, "min_elements": None}  # nullable: null, as clients send
    rules = sent | {"elements": ["Sr", "Ba", "Ti", "O"], "substitute_from": ["SrTiO3"]}
    answer = api.post("/api/v1/campaigns", json=_generated("sent", rules), headers=admin)
    assert answer.status_code == 201, answer.text


def test_a_taken_name_or_a_bad_strategy_is_refused_before_the_pool_is_made(
    api: TestClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.post("/api/v1/campaigns", json=_generated("pv", PHOSPHATES), headers=admin)
    monkeypatch.setattr("agents.api.generate_pool", _never_made)
    again = api.post("/api/v1/campaigns", json=_generated("pv", PHOSPHATES), headers=admin)
    assert again.status_code == 409 and again.json()["detail"] == "campaign 'pv' already exists"
    typo = _generated("pw", PHOSPHATES, settings={"strategy": "gp+qucbb"})
    assert api.post("/api/v1/campaigns", json=typo, headers=admin).status_code == 422


def _never_made(*args: object, **kwargs: object) -> None:
    raise AssertionError("the pool was made before the request was refused")


def test_a_substitution_pool_counts_the_known_compositions_it_left_out(
    api: TestClient, admin: dict[str, str]
) -> None:
    add_material("Fe2O3")  # no substitution of LiCoO2 (1:1:2) makes it
    add_material("FeO")
    rules = {"elements": ["Li", "Fe", "Mn", "Ni", "O"], "substitute_from": ["LiCoO2"]}
    plain = api.post("/api/v1/campaigns", json=_generated("sw", rules), headers=admin)
    assert plain.status_code == 201, plain.text
    assert plain.json()["pool_recipe"]["known_left_out"] == 0
    made = _formulas("sw")
    known = sorted(made)[0]
    add_material(known)  # now one the substitutions make is known
    again = api.post("/api/v1/campaigns", json=_generated("sw2", rules), headers=admin)
    assert again.status_code == 201, again.text
    assert again.json()["pool_recipe"]["known_left_out"] == 1
    assert _formulas("sw2") == made - {known}


#: Anneal temperature and five dopants of at most 0.5, 0.2 in all: a small corner of the box.
DOPANTS = {
    "parameters": [{"name": "anneal_T", "lower": 300, "upper": 900}]
    + [{"name": f"d{i}", "lower": 0, "upper": 0.5} for i in range(1, 6)],
    "linear": [{"terms": {f"d{i}": 1 for i in range(1, 6)}, "upper": 0.2}],
}


def test_a_small_corner_of_the_box_gets_its_first_experiments(
    api: TestClient, admin: dict[str, str]
) -> None:
    created = api.post("/api/v1/campaigns", json=_body("dopants", DOPANTS), headers=admin)
    assert created.status_code == 201, created.text
    claim = {"instrument": "furnace", "count": 6}
    answer = api.post("/api/v1/campaigns/dopants/claims", json=claim, headers=admin)
    assert answer.status_code == 200, answer.text
    trials = answer.json()["trials"]
    assert len(trials) == 6
    for trial in trials:
        assert sum(trial["parameters"][f"d{i}"] for i in range(1, 6)) <= 0.2 + 1e-9


def test_linear_constraints_no_point_meets_are_a_422_and_nothing_is_stored(
    api: TestClient, admin: dict[str, str]
) -> None:
    space = {**DOPANTS, "linear": [*DOPANTS["linear"], {"terms": {"d1": -1}, "upper": -0.3}]}
    answer = api.post("/api/v1/campaigns", json=_body("impossible", space), headers=admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(
        "space: linear constraints 1*d1 + 1*d2 + 1*d3 + 1*d4 + 1*d5 <= 0.2; -1*d1 <= -0.3: "
        "together they cannot all hold within the parameters' bounds"
    ), answer.text
    assert CampaignDocument.objects(name="impossible").count() == 0
