"""What the pinned third-party stack must do for matloop's parts to work together."""

from __future__ import annotations

from fastapi import Body, FastAPI
from fastapi.testclient import TestClient


def test_fastapi_takes_an_explicit_null_for_an_optional_body_field() -> None:
    # Prefect 3.8.8's client sends {"limit": null} to a server that declares
    # `limit: int = Body(None)`; FastAPI 0.151 and later answer 422, which breaks
    # `prefect deployment ls` and a served flow's cancellation polling (pyproject pin)
    app = FastAPI()

    @app.post("/filter")
    def read(limit: int = Body(None), offset: int = Body(0)) -> dict[str, int | None]:
        return {"limit": limit, "offset": offset}

    answer = TestClient(app).post("/filter", json={"limit": None, "offset": 0})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"limit": None, "offset": 0}


def test_the_constraints_pin_every_dependency_within_what_pyproject_allows() -> None:
    # make install and the Docker image both install with -c constraints.txt
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    pins: dict[str, str] = {}
    for line in (root / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name == "torch":  # installed first, its build by TORCH_VARIANT: not pinned here
            assert name not in pins
            continue
        assert name in pins, f"constraints.txt has no pin for {requirement.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (text, pins[name])
