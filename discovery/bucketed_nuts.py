"""A fully Bayesian GP whose NUTS program is compiled once per bucket of data sizes.

NumPyro compiles the sampler for the exact shape of the training data. In a campaign the
number of observations grows every round, so each fit recompiled: about 9 s of a 12 s fit
on one CPU core, and each compiled sampler holds about 250 MB and 1,000 memory maps until
JAX's caches are cleared. Here the data are padded to a bucket of rows (a multiple of 16
up to 128 rows, then four buckets per doubling), and the padded rows are masked out of the
likelihood exactly, so one compiled sampler serves every size in its bucket until the
caches are next cleared (:func:`make_room_for`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as numpyro_dist
import torch
from botorch.models.fully_bayesian import FullyBayesianSingleTaskGP, MaternPyroModel

#: Smallest step between buckets (rows).
BUCKET_STEP = 16
#: Compiled samplers one process keeps before it clears JAX's caches (memory, see above).
MAX_COMPILED_SHAPES = 6
#: Fits between clears: each fit also compiles a few small programs around the sampler
#: (about 600 memory maps and 30 MB) that are never reused, and a process that passes
#: its limit of 65,530 maps dies in the middle of a compile.
MAX_FITS_BETWEEN_CLEARS = 16


@dataclass
class _CompileCache:
    shapes: set[tuple[int, ...]] = field(default_factory=set)
    fits: int = 0


_cache = _CompileCache()


def bucket_rows(n: int) -> int:
    """Rows ``n`` observations are padded to: at most 25% (or 15 rows) more than ``n``."""
    step = max(BUCKET_STEP, 1 << max(0, (n - 1).bit_length() - 3))
    return -(-n // step) * step


def make_room_for(shape: tuple[int, ...]) -> None:
    """Clear JAX's compiled programs before the next fit would pass the memory bounds."""
    new_shape = shape not in _cache.shapes
    if _cache.fits >= MAX_FITS_BETWEEN_CLEARS or (
        new_shape and len(_cache.shapes) >= MAX_COMPILED_SHAPES
    ):
        jax.clear_caches()
        _cache.shapes.clear()
        _cache.fits = 0
    _cache.shapes.add(shape)
    _cache.fits += 1


class BucketedMaternModel(MaternPyroModel):
    """BoTorch's Matern model, on data padded to :func:`bucket_rows` rows.

    Padded rows get covariance zero with every other row, variance 1 and observation 0,
    so they add ``-log(2 pi) / 2`` each to the log likelihood, whatever the
    hyperparameters: the posterior over hyperparameters is that of the unpadded data.
    """

    def set_inputs(
        self,
        train_X: torch.Tensor,
        train_Y: torch.Tensor,
        train_Yvar: torch.Tensor | None = None,
        task_feature: int | None = None,
        task_rank: int | None = None,
    ) -> None:
        """Set the ``n x d`` inputs and ``n x 1`` targets, padded on the JAX side only."""
        super().set_inputs(train_X, train_Y, train_Yvar, task_feature, task_rank)
        n, d = self.train_X_jax.shape
        padding = bucket_rows(n) - n
        self.observed = jnp.arange(n + padding) < n
        # inside the unit cube, so the input warp stays finite on the padded rows
        fill_X = jnp.full((padding, d), 0.5, self.train_X_jax.dtype)
        self.train_X_jax = jnp.concatenate([self.train_X_jax, fill_X])
        self.train_Y_jax = jnp.concatenate(
            [self.train_Y_jax, jnp.zeros((padding, 1), self.train_Y_jax.dtype)]
        )
        if self.train_Yvar_jax is not None:
            self.train_Yvar_jax = jnp.concatenate(
                [self.train_Yvar_jax, jnp.ones((padding, 1), self.train_Yvar_jax.dtype)]
            )

    def sample_observations(
        self, mean: jax.Array, K_noiseless: jax.Array, noise: jax.Array
    ) -> None:
        """The observed rows' Gaussian likelihood, padded rows independent standard normals."""
        if self._prior_mode:
            raise ValueError("prior mode: sample from MaternPyroModel, unpadded")
        rows = self.observed.shape[0]
        noise_diagonal = jnp.reshape(noise, (-1,)) * jnp.ones(rows)
        both = self.observed[:, None] & self.observed[None, :]
        covariance = jnp.where(both, K_noiseless + jnp.diag(noise_diagonal), jnp.eye(rows))
        numpyro.sample(
            "Y",
            numpyro_dist.MultivariateNormal(
                loc=jnp.where(self.observed, jnp.reshape(mean, (-1,)), 0.0),
                covariance_matrix=covariance,
            ),
            obs=jnp.squeeze(self.train_Y_jax, axis=-1),
        )


class BucketedBayesianGP(FullyBayesianSingleTaskGP):
    """``FullyBayesianSingleTaskGP`` whose NUTS fit reuses compiled code across data sizes.

    Only the sampler sees the padding; the fitted model conditions on the real data.
    """

    _pyro_model_class = BucketedMaternModel
