"""Parity and calibration plots: PNG files written, bad input refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from discovery.plots import calibration_plot, parity_plot

# tiny models: on a busy machine, intra-op threads only wait on each other
pytestmark = pytest.mark.usefixtures("single_torch_thread")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def predictions() -> dict[str, np.ndarray]:
    """50 noisy Gaussian predictions of bulk moduli (GPa)."""
    rng = np.random.default_rng(0)
    observed = rng.uniform(20.0, 300.0, size=50)
    std = rng.uniform(5.0, 30.0, size=50)
    mean = observed + std * rng.standard_normal(50)
    return {"observed": observed, "mean": mean, "std": std}


def assert_png(path: Path) -> None:
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert path.stat().st_size > 1000


def test_parity_plot_writes_png(predictions: dict[str, np.ndarray], tmp_path: Path) -> None:
    target = tmp_path / "figures" / "parity.png"  # parent folder does not exist yet
    written = parity_plot(**predictions, path=target, title="bulk modulus", unit="GPa")
    assert written == target
    assert_png(written)


def test_calibration_plot_writes_png(predictions: dict[str, np.ndarray], tmp_path: Path) -> None:
    written = calibration_plot(**predictions, path=str(tmp_path / "calibration.png"), title="val")
    assert isinstance(written, Path)
    assert_png(written)


def test_plots_accept_a_single_point_and_lists(tmp_path: Path) -> None:
    assert_png(parity_plot([1.0], [1.0], [0.1], tmp_path / "one.png"))
    assert_png(calibration_plot([1.0], [1.5], [0.1], tmp_path / "one_cal.png"))


def test_plots_close_their_figures(predictions: dict[str, np.ndarray], tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    parity_plot(**predictions, path=tmp_path / "a.png")
    calibration_plot(**predictions, path=tmp_path / "b.png")
    assert len(plt.get_fignums()) == before


PLOTS: list[Callable[..., Path]] = [parity_plot, calibration_plot]


@pytest.mark.parametrize("plot", PLOTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("observed", "mean", "std", "message"),
    [
        (np.ones(3), np.ones(2), np.ones(3), "same length, got 3, 2, 3"),
        (np.ones(3), np.ones(3), np.ones(4), "same length, got 3, 3, 4"),
        (np.ones(0), np.ones(0), np.ones(0), "empty"),
        (np.ones(2), np.ones(2), np.array([1.0, 0.0]), "std must be positive"),
        (np.array([1.0, np.nan]), np.ones(2), np.ones(2), "observed must be finite"),
        (np.ones(2), np.array([np.inf, 1.0]), np.ones(2), "mean must be finite"),
    ],
)
def test_plots_reject_bad_input(
    plot: Callable[..., Path],
    observed: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    message: str,
    tmp_path: Path,
) -> None:
    target = tmp_path / "bad.png"
    with pytest.raises(ValueError, match=message):
        plot(observed, mean, std, target)
    assert not target.exists()
