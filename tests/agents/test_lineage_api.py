"""The lineage routes: a real chain walked both ways over HTTP, and their 404s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from agents.api import create_app
from db import CampaignStore
from db.lineage import (
    lineage_of_material,
    lineage_of_model,
    lineage_of_paper,
    lineage_of_trial,
)
from db.literature import LiteratureStore
from db.tokens import create_token
from tests.lineage_chain import CAMPAIGN, PAPER_A, PAPER_B, Chain, build_chain

pytestmark = pytest.mark.usefixtures("single_torch_thread")

API = "/api/v1"
TRIALS = f"{API}/campaigns/{CAMPAIGN}/trials"


@pytest.fixture
def chain(store: CampaignStore, tmp_path: Path) -> Chain:
    return build_chain(store, tmp_path)


@pytest.fixture
def api(chain: Chain) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def test_a_trial_and_its_measurement_answer_their_lineage(
    api: TestClient, chain: Chain, reader: dict[str, str]
) -> None:
    response = api.get(f"{TRIALS}/{chain.guided.id}/lineage", headers=reader)
    assert response.status_code == 200, response.text
    found = response.json()
    assert found == lineage_of_trial(CAMPAIGN, str(chain.guided.id))  # JSON as the db gives it
    assert found["trial"]["strategy"] == "gp+prior" and found["model"]["version"] == chain.model
    assert found["prior"]["version"] == chain.prior
    assert [p["title"] for p in found["prior"]["papers"]] == [PAPER_A[1], PAPER_B[1]]
    key = quote(f"lookup:{chain.guided.id}", safe="")
    by_key = api.get(f"{API}/campaigns/{CAMPAIGN}/measurements/{key}/lineage", headers=reader)
    assert by_key.status_code == 200, by_key.text
    assert by_key.json() == found


def test_an_instrument_reads_its_trial_s_lineage_without_the_prior_behind_it(
    api: TestClient, chain: Chain
) -> None:
    LiteratureStore().reject_record(chain.record("NbN"), "a film's Tc", "curator")
    secret, _ = create_token("robot", "instrument", [CAMPAIGN])
    robot = {"Authorization": f"Bearer {secret}"}
    response = api.get(f"{TRIALS}/{chain.guided.id}/lineage", headers=robot)
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["prior"] is None and found["model"]["version"] == chain.model
    full = lineage_of_trial(CAMPAIGN, str(chain.guided.id))  # what a researcher reads
    assert full["prior"] is not None and any("rejected" in note for note in full["notes"])
    assert found["notes"] == [
        "the prior model's own lineage is withheld: this token reads its campaigns alone"
    ]
    assert "papers" not in response.text and PAPER_A[1] not in response.text
    key = quote(f"lookup:{chain.guided.id}", safe="")
    by_key = api.get(f"{API}/campaigns/{CAMPAIGN}/measurements/{key}/lineage", headers=robot)
    assert by_key.json() == found


@pytest.mark.parametrize(
    "spelled",
    [PAPER_A[0], PAPER_A[0].upper(), quote(f"doi:{PAPER_A[0]}", safe=""), f"doi:{PAPER_A[0]}"],
)
def test_a_paper_answers_its_forward_lineage_by_key_or_doi(
    api: TestClient, chain: Chain, reader: dict[str, str], spelled: str
) -> None:
    response = api.get(f"{API}/literature/papers/{spelled}/lineage", headers=reader)
    assert response.status_code == 200, response.text
    found = response.json()
    assert found == lineage_of_paper(PAPER_A[0])
    assert found["paper"]["key"] == f"doi:{PAPER_A[0]}" and found["records"]["total"] == 4
    assert [m["version"] for m in found["models"]] == [chain.prior]
    assert [c["name"] for c in found["campaigns"]] == [CAMPAIGN]
    assert [t["id"] for t in found["trials"]["items"]] == [chain.guided.id]


def test_a_model_answers_its_lineage_a_page_of_trials_at_a_time(
    api: TestClient, chain: Chain, reader: dict[str, str]
) -> None:
    url = f"{API}/models/{chain.prior}/lineage"
    response = api.get(url, params={"limit": 1, "offset": 0}, headers=reader)
    assert response.status_code == 200, response.text
    assert response.json() == lineage_of_model(chain.prior, limit=1)
    assert response.json()["trials"]["limit"] == 1
    past = api.get(url, params={"offset": 5}, headers=reader).json()["trials"]
    assert past["items"] == [] and past["total"] == 1
    assert api.get(url, params={"limit": 0}, headers=reader).status_code == 422
    unknown = api.get(url, params={"limt": 5}, headers=reader)  # a misspelt option
    assert unknown.status_code == 422 and "unknown query parameter 'limt'" in unknown.text


def test_a_removed_paper_and_a_rejected_record_are_said_not_failed(
    api: TestClient, chain: Chain, reader: dict[str, str]
) -> None:
    literature = LiteratureStore()
    literature.reject_record(chain.record("NbN"), "a film's Tc, not the bulk", "curator")
    literature.remove_paper(PAPER_B[0])
    back = api.get(f"{TRIALS}/{chain.guided.id}/lineage", headers=reader).json()
    records = back["prior"]["records"]
    assert (records["rejected"], records["gone"]) == (1, 3)
    assert records["rejected_ids"] == [chain.record("NbN")]
    assert [p["stored"] for p in back["prior"]["papers"]] == [True, False]
    forward = api.get(f"{API}/literature/papers/{PAPER_B[0]}/lineage", headers=reader)
    assert forward.status_code == 200, forward.text
    assert forward.json()["paper"]["stored"] is False
    assert forward.json()["trials"]["total"] == 1


def test_unknown_campaigns_trials_results_papers_and_models_are_404s_naming_them(
    api: TestClient, chain: Chain, reader: dict[str, str]
) -> None:
    answers = {
        f"{API}/campaigns/nope/trials/{chain.guided.id}/lineage": "no campaign named 'nope'",
        f"{TRIALS}/{'0' * 24}/lineage": f"trial {'0' * 24} not found in campaign '{CAMPAIGN}'",
        f"{API}/campaigns/{CAMPAIGN}/measurements/k1/lineage": (
            f"measurement: no result with idempotency key 'k1' in campaign '{CAMPAIGN}'"
        ),
        f"{API}/literature/papers/10.1/none/lineage": "paper: no paper '10.1/none'",
        f"{API}/models/model:gp:000000000000/lineage": "no model version 'model:gp:000000000000'",
    }
    for url, message in answers.items():
        response = api.get(url, headers=reader)
        assert response.status_code == 404, (url, response.text)
        assert message in response.json()["detail"], url
    malformed = api.get(f"{TRIALS}/xyz/lineage", headers=reader)
    assert malformed.status_code == 422
    assert malformed.json()["detail"] == "trial_id: 'xyz' is not a valid id"
    assert api.get(f"{TRIALS}/{chain.guided.id}/lineage").status_code == 401


def test_the_schema_declares_the_lineage_routes(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/campaigns/{name}/trials/{trial_id}/lineage",
        "/api/v1/campaigns/{name}/measurements/{key}/lineage",
        "/api/v1/literature/papers/{key}/lineage",
        "/api/v1/models/{version}/lineage",
    ):
        assert {"401", "403", "404", "422"} <= set(paths[path]["get"]["responses"]), path


def test_a_material_answers_its_lineage(
    api: TestClient, chain: Chain, reader: dict[str, str]
) -> None:
    formula = quote(str(chain.guided.label), safe="")
    response = api.get(f"{API}/materials/{formula}/lineage", headers=reader)
    assert response.status_code == 200, response.text
    assert response.json() == lineage_of_material(str(chain.guided.label))
    assert response.json()["trials"]["items"][0]["id"] == chain.guided.id
    missing = api.get(f"{API}/materials/Fe2O3/lineage", headers=reader)
    assert missing.status_code == 404 and "material: nothing stored of 'Fe2O3'" in missing.text
    vague = api.get(f"{API}/materials/YBCO/lineage", headers=reader)
    assert vague.status_code == 422 and "formula: 'YBCO'" in vague.text
