"""Diagnostic figures of probabilistic predictions: parity and calibration plots.

Both functions take the observed targets and the predictive means and standard deviations
of a held-out split (one value per material), draw with matplotlib's non-interactive Agg
backend, write a PNG and return its path. matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from discovery.diagnostics import calibration

#: Half-width, in standard deviations, of the error bars of :func:`parity_plot` (95%).
Z_95 = 1.959963984540054


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (set before the first pyplot import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _validated(
    observed: ArrayLike, mean: ArrayLike, std: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three inputs as flat float arrays, checked for equal length, finiteness, ``std > 0``."""
    arrays = [np.asarray(a, dtype=float).reshape(-1) for a in (observed, mean, std)]
    y, mu, sigma = arrays
    if not y.size == mu.size == sigma.size:
        raise ValueError(
            f"observed, mean and std must have the same length, got {y.size}, {mu.size}, "
            f"{sigma.size}"
        )
    if y.size == 0:
        raise ValueError("nothing to plot: observed, mean and std are empty")
    for name, values in zip(("observed", "mean", "std"), arrays, strict=True):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} must be finite")
    if not np.all(sigma > 0):
        raise ValueError("std must be positive")
    return y, mu, sigma


def _save(figure: Any, plt: Any, path: str | Path) -> Path:
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target, format="png", dpi=150)
    finally:
        plt.close(figure)
    return target


def parity_plot(
    observed: ArrayLike,
    mean: ArrayLike,
    std: ArrayLike,
    path: str | Path,
    title: str = "",
    unit: str = "",
) -> Path:
    """Predicted against observed values with 95% error bars and the ``y = x`` line.

    Args:
        observed: Measured targets, shape ``n`` (target units).
        mean: Predictive means, shape ``n`` (target units).
        std: Predictive standard deviations, shape ``n`` (target units, ``> 0``); the error
            bars span ``mean ± 1.96 std``.
        path: PNG file to write (parent folders are created).
        title: Figure title; MAE and 95% coverage are appended.
        unit: Target unit for the axis labels and the MAE (e.g. ``"GPa"``).

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: on inputs of different lengths, empty or non-finite inputs, or a
            non-positive ``std``.

    """
    y, mu, sigma = _validated(observed, mean, std)
    stats = calibration(y, mu, sigma)
    suffix = f" ({unit})" if unit else ""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.0, 5.0))
    axes.errorbar(
        y,
        mu,
        yerr=Z_95 * sigma,
        fmt="none",
        ecolor="tab:blue",
        elinewidth=0.5,
        alpha=0.25,
        zorder=1,
    )
    axes.scatter(y, mu, s=8, color="tab:blue", alpha=0.8, zorder=2, label="predictions")
    low = float(min(y.min(), (mu - Z_95 * sigma).min()))
    high = float(max(y.max(), (mu + Z_95 * sigma).max()))
    pad = 0.02 * (high - low) or 1.0
    limits = (low - pad, high + pad)
    axes.plot(limits, limits, color="black", linewidth=1.0, zorder=3, label="y = x")
    axes.set_xlim(limits)
    axes.set_ylim(limits)
    axes.set_aspect("equal")
    axes.set_xlabel(f"observed{suffix}")
    axes.set_ylabel(f"predicted{suffix}")
    metrics = (
        f"MAE {stats.mae:.3g}{' ' + unit if unit else ''}, 95% coverage {stats.coverage_95:.2f}"
    )
    axes.set_title(f"{title}\n{metrics}" if title else metrics, fontsize=10)
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    return _save(figure, plt, path)


def calibration_plot(
    observed: ArrayLike,
    mean: ArrayLike,
    std: ArrayLike,
    path: str | Path,
    title: str = "",
) -> Path:
    """Observed against expected coverage of the central Gaussian prediction intervals.

    The curve comes from :func:`discovery.diagnostics.calibration`: for each nominal level
    ``p`` the fraction of observations inside ``mean ± z_p std``; a calibrated model lies on
    the diagonal, an over-confident one below it.

    Args:
        observed: Measured targets, shape ``n`` (target units).
        mean: Predictive means, shape ``n`` (target units).
        std: Predictive standard deviations, shape ``n`` (target units, ``> 0``).
        path: PNG file to write (parent folders are created).
        title: Figure title; the miscalibration area is appended.

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: on inputs of different lengths, empty or non-finite inputs, or a
            non-positive ``std``.

    """
    y, mu, sigma = _validated(observed, mean, std)
    stats = calibration(y, mu, sigma)
    expected = np.concatenate([[0.0], stats.levels, [1.0]])
    fraction = np.concatenate([[0.0], stats.observed, [1.0]])
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.0, 5.0))
    axes.plot([0, 1], [0, 1], color="black", linewidth=1.0, linestyle="--", label="ideal")
    axes.fill_between(expected, expected, fraction, color="tab:orange", alpha=0.2)
    axes.plot(expected, fraction, color="tab:orange", marker="o", markersize=3, label="model")
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(0.0, 1.0)
    axes.set_aspect("equal")
    axes.set_xlabel("expected coverage of the central interval")
    axes.set_ylabel("observed coverage")
    metrics = f"miscalibration area {stats.miscalibration_area:.3f} (n = {y.size})"
    axes.set_title(f"{title}\n{metrics}" if title else metrics, fontsize=10)
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    return _save(figure, plt, path)


__all__ = ["calibration_plot", "parity_plot"]
