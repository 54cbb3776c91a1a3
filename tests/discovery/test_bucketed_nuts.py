"""Padding the NUTS data to buckets of sizes leaves the hyperparameter posterior unchanged."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
import torch
from botorch.models.fully_bayesian import MaternPyroModel
from numpyro.handlers import seed, trace
from numpyro.infer.util import log_density

from discovery import bucketed_nuts
from discovery.bucketed_nuts import BucketedMaternModel, bucket_rows, make_room_for


def test_buckets_hold_every_size_with_little_padding_and_few_shapes() -> None:
    sizes = range(1, 2001)
    rows = [bucket_rows(n) for n in sizes]
    assert all(n <= m <= n + max(15, n // 4) for n, m in zip(sizes, rows, strict=True))
    assert rows == sorted(rows)
    assert len(set(rows)) <= 30  # against 2,000 programs without buckets
    assert [bucket_rows(n) for n in (10, 14, 16, 17, 70, 100)] == [16, 16, 16, 32, 80, 112]


def hyperparameter_draws(model: MaternPyroModel, count: int) -> list[dict[str, jax.Array]]:
    """Hyperparameter values drawn from the model's priors (the observed site left out)."""
    draws = []
    for key in range(count):
        sites = trace(seed(model.sample, jax.random.PRNGKey(key))).get_trace()
        draws.append({k: s["value"] for k, s in sites.items() if not s["is_observed"]})
    return draws


@pytest.mark.parametrize("n", [5, 16, 21])
def test_padded_rows_shift_the_log_likelihood_by_a_constant(n: int) -> None:
    generator = torch.Generator().manual_seed(n)
    X = torch.rand(n, 3, generator=generator, dtype=torch.float64)
    Y = torch.randn(n, 1, generator=generator, dtype=torch.float64)
    plain, padded = MaternPyroModel(use_input_warping=True), BucketedMaternModel(True)
    plain.set_inputs(X, Y)
    padded.set_inputs(X, Y)
    padding = bucket_rows(n) - n
    assert padded.train_X_jax.shape == (n + padding, 3)

    shifts = [
        float(
            log_density(padded.sample, (), {}, draw)[0] - log_density(plain.sample, (), {}, draw)[0]
        )
        for draw in hyperparameter_draws(plain, 4)
    ]
    # float32 (JAX's default) rounding only
    np.testing.assert_allclose(shifts, -padding * math.log(2 * math.pi) / 2, atol=2e-3)


@pytest.fixture
def clears(monkeypatch: pytest.MonkeyPatch) -> list[None]:
    """JAX's cache clears, counted instead of done, from an empty cache."""
    cleared: list[None] = []
    monkeypatch.setattr(bucketed_nuts, "_cache", bucketed_nuts._CompileCache())
    monkeypatch.setattr(jax, "clear_caches", lambda: cleared.append(None))
    return cleared


def test_compiled_samplers_are_cleared_beyond_the_shape_bound(clears: list[None]) -> None:
    for rows in range(bucketed_nuts.MAX_COMPILED_SHAPES):
        make_room_for((rows, 2, True))
    assert not clears
    make_room_for((99, 2, True))
    assert len(clears) == 1
    assert bucketed_nuts._cache.shapes == {(99, 2, True)}


def test_a_process_clears_after_a_bounded_number_of_fits_of_one_shape(clears: list[None]) -> None:
    for _ in range(bucketed_nuts.MAX_FITS_BETWEEN_CLEARS):
        make_room_for((16, 2, True))
    assert not clears
    make_room_for((16, 2, True))
    assert len(clears) == 1
    assert bucketed_nuts._cache.fits == 1
