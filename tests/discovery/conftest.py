"""Fixtures for the science package: Olympus data folders and small planning problems."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from discovery.datasets import PoolDataset, load_olympus
from discovery.spaces import (
    CategoricalParameter,
    ContinuousParameter,
    SearchSpace,
    SimplexConstraint,
)

REPO = Path(__file__).resolve().parents[2]
PACKAGED_OLYMPUS = REPO / "matloop" / "data" / "olympus"
#: The shared data checked out beside the repository (``../shared`` from its root).
SHARED_OLYMPUS = REPO.parent / "shared" / "data" / "optimization" / "olympus"


def find_olympus_folder(name: str) -> Path:
    """The folder of an Olympus data set: the shared copy, else the packaged one, else skip."""
    for root in (SHARED_OLYMPUS, PACKAGED_OLYMPUS):
        folder = root / name
        if (folder / "data.csv").is_file() and (folder / "config.json").is_file():
            return folder
    pytest.skip(f"Olympus data set {name!r} is not available on this machine")


@pytest.fixture(scope="session")
def olympus_folder() -> Callable[[str], Path]:
    """Look up an Olympus data set folder by name (skips the test when it is absent)."""
    return find_olympus_folder


@pytest.fixture(scope="session")
def photo_pce10_dataset() -> PoolDataset:
    """The packaged photo_pce10 pool (1040 four-component blends, degradation to minimise)."""
    return load_olympus(PACKAGED_OLYMPUS / "photo_pce10")


@pytest.fixture(scope="session")
def colors_bob_dataset() -> PoolDataset:
    """colors_bob: config.json declares a simplex that its measured points violate."""
    return load_olympus(find_olympus_folder("colors_bob"))


@pytest.fixture(scope="session")
def alkox_dataset() -> PoolDataset:
    """alkox: measured points lie outside the configured bounds."""
    return load_olympus(find_olympus_folder("alkox"))


@pytest.fixture
def mixture_space() -> SearchSpace:
    """Three mixture fractions on the unit simplex plus a free temperature."""
    return SearchSpace(
        (
            ContinuousParameter("a", 0.0, 1.0),
            ContinuousParameter("b", 0.0, 1.0),
            ContinuousParameter("c", 0.0, 1.0),
            ContinuousParameter("temperature", 20.0, 80.0, unit="degC"),
        ),
        (SimplexConstraint(("a", "b", "c"), 1.0),),
    )


@pytest.fixture
def solvent_space() -> SearchSpace:
    """One continuous parameter and one three-way categorical (encoded dimension 4)."""
    return SearchSpace(
        (
            ContinuousParameter("x", -1.0, 2.0),
            CategoricalParameter("solvent", ("water", "ethanol", "toluene")),
        )
    )


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
