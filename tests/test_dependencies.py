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
