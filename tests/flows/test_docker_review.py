"""docker/: the Prefect server's database settings and analytics, and the README's
variables (no Docker engine here: read the files, and ask Prefect what it makes of them)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

DOCKER = Path(__file__).resolve().parents[2] / "docker"
PASSWORD = "p@ss:w/rd#%"


def _prefect_server_env() -> dict[str, str]:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return {k: str(v) for k, v in compose["services"]["prefect-server"]["environment"].items()}


def _interpolated(value: str, variables: dict[str, str]) -> str:
    """``${NAME:-default}`` as compose substitutes it."""

    def one(found: re.Match[str]) -> str:
        return variables.get(found[1], found[2] or "")

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", one, value)


def test_a_database_password_with_url_characters_reaches_postgres_intact(
    tmp_path: Path,
) -> None:
    env = _prefect_server_env()
    assert not any("PREFECT_DB_PASSWORD" in v and "://" in v for v in env.values())
    prefect = {k: _interpolated(v, {"PREFECT_DB_PASSWORD": PASSWORD}) for k, v in env.items()}
    code = (
        "from prefect.settings import get_current_settings as s\n"
        "print(s().server.database.connection_url.get_secret_value())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", "PREFECT_HOME": str(tmp_path), **prefect},
        capture_output=True,
        text=True,
        check=True,
    )
    url = make_url(out.stdout.strip())
    assert (url.drivername, url.host, url.port) == ("postgresql+asyncpg", "prefect-db", 5432)
    assert (url.username, url.password, url.database) == ("prefect", PASSWORD, "prefect")
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    postgres = compose["services"]["prefect-db"]["environment"]
    assert postgres["POSTGRES_PASSWORD"] == env["PREFECT_SERVER_DATABASE_PASSWORD"]


def test_the_prefect_server_sends_no_analytics() -> None:
    assert _prefect_server_env()["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


def test_the_readme_documents_the_variables_compose_reads() -> None:
    readme = (DOCKER / "README.md").read_text()
    compose = (DOCKER / "compose.yaml").read_text()
    read = set(re.findall(r"\$\{(\w+)", compose))
    assert {"PREFECT_DB_PASSWORD", "PREFECT_PORT", "MATLOOP_API_PORT"} <= read
    for variable in read:
        assert f"`{variable}`" in readme, variable
    copy = next(line for line in readme.splitlines() if "matloop_demo-output:/from" in line)
    block = readme[readme.index(copy) :].split("```")[0]
    assert '"matloop:${TORCH_VARIANT:-cpu}"' in block
