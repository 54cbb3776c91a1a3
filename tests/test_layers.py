"""The layering of DESIGN.md, checked in fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("discovery", "agents", "literature", "db", "flows", "matloop")


def _loaded(imports: str) -> set[str]:
    code = f"import sys, json\n{imports}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in json.loads(out.stdout)}


#: Every module of the science layer (packages may load their submodules lazily, so
#: importing the package alone would prove nothing).
EVERY_SCIENCE_MODULE = (
    "import importlib, pkgutil, discovery, literature\n"
    "for package in (discovery, literature):\n"
    "    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
    "        importlib.import_module(info.name)"
)

#: Every module of the storage layer, which stays light: a CLI command or an API read
#: loads no model code.
EVERY_DB_MODULE = (
    "import importlib, pkgutil, db\n"
    "for info in pkgutil.walk_packages(db.__path__, 'db.'):\n"
    "    importlib.import_module(info.name)"
)

#: Every module of the loop layer (the package loads its names lazily).
EVERY_AGENTS_MODULE = (
    "import importlib, pkgutil, agents\n"
    "for info in pkgutil.walk_packages(agents.__path__, 'agents.'):\n"
    "    importlib.import_module(info.name)"
)


@pytest.mark.parametrize(
    ("imports", "forbidden"),
    [
        (
            EVERY_SCIENCE_MODULE,
            {"mongoengine", "pymongo", "prefect", "fastapi", "db", "agents", "flows", "matloop"},
        ),
        (EVERY_DB_MODULE, {"torch", "botorch", "transformers", "prefect"}),
        (EVERY_AGENTS_MODULE, {"prefect", "flows", "matloop"}),
        # `campaign list` and `export` serialise campaigns: no model code (seconds to load)
        ("import agents.serialize", {"torch", "botorch", "gpytorch"}),
    ],
)
def test_layers_import_only_downwards(imports: str, forbidden: set[str]) -> None:
    assert _loaded(imports) & forbidden == set()


def test_public_api_is_declared_and_importable() -> None:
    for name in PACKAGES:
        module = __import__(name)
        assert hasattr(module, "__all__"), name
        for symbol in module.__all__:
            assert getattr(module, symbol) is not None, f"{name}.{symbol}"


def test_no_text_search_anywhere() -> None:
    # SecantusDB has no $text indexes; search goes through embeddings or regex.
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            assert "$text" not in path.read_text(), path


def test_no_flow_module_shadows_a_package() -> None:
    # Prefect's runner puts a flow file's folder on sys.path: flows/literature.py would
    # then be imported as the `literature` package (a circular import in served runs).
    stems = {path.stem for path in (REPO / "flows").glob("*.py")}
    assert stems & set(PACKAGES) == set()
