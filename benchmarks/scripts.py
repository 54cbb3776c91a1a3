"""Benchmark scripts import one another by path (``benchmarks`` is not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

FOLDER = Path(__file__).resolve().parent


def sibling(name: str) -> ModuleType:
    """``benchmarks/NAME.py``, imported as a module (its ``main`` is not run)."""
    spec = importlib.util.spec_from_file_location(name, FOLDER / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
