"""Layering: the science package loads without storage, orchestration or HTTP code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import discovery

FORBIDDEN = ("mongoengine", "pymongo", "prefect", "fastapi", "starlette", "db", "agents", "flows")


def modules_after(statement: str) -> set[str]:
    """Top-level module names loaded by a fresh interpreter after running ``statement``."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return {name.split(".")[0] for name in json.loads(out.stdout.splitlines()[-1])}


def test_spaces_and_domain_do_not_load_torch_or_storage() -> None:
    loaded = modules_after("import discovery.spaces, discovery.domain")
    assert "torch" not in loaded
    assert not loaded & set(FORBIDDEN)


def test_the_whole_science_package_loads_no_storage_prefect_or_http() -> None:
    loaded = modules_after(
        "import discovery\n"
        "for name in discovery.__all__:\n"
        "    getattr(discovery, name)\n"
        "import discovery.metrics, discovery.surrogates, discovery.acquisition"
    )
    assert "torch" in loaded  # sanity: the planners really were imported
    assert not loaded & set(FORBIDDEN)


@pytest.mark.parametrize("name", discovery.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(discovery, name) is not None


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        discovery.Nope  # noqa: B018
