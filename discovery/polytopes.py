"""Points of a box cut by linear constraints: a feasibility test and a uniform sampler.

A search space's continuous parameters with linear inequalities (``a + b <= 0.2``) and
simplex totals (``a + b + c = 1``) form a polytope. Drawing in the box and rejecting misses
fails when the polytope is a small corner of it (five dopants of at most 0.5 summing to
at most 0.2 keep 1 draw in 10,000); hit-and-run (Smith, Operations Research 1984) walks
inside it instead: from an interior point found by linear programming, each move goes a
uniform distance along a random direction, within the polytope, in its equality plane.

Pure numpy and scipy (no torch): spaces are (de)serialised by the storage layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Slack (in units of each parameter's range) under which a polytope is taken as flat.
FLAT = 1e-9


@dataclass(frozen=True)
class Polytope:
    """``{u in [0, 1]^m : A u <= b, E u = f}``: ``u`` is each parameter's share of its range.

    Attributes:
        A: ``k x m`` inequality coefficients.
        b: ``k`` upper limits.
        E: ``e x m`` equality coefficients.
        f: ``e`` totals.

    """

    A: np.ndarray
    b: np.ndarray
    E: np.ndarray
    f: np.ndarray

    @property
    def dim(self) -> int:
        """Number of coordinates ``m``."""
        return self.A.shape[1]

    def _limits(self) -> tuple[np.ndarray, np.ndarray]:
        """Every inequality, bounds included, as ``rows @ u <= limits``."""
        eye = np.eye(self.dim)
        return np.vstack([self.A, eye, -eye]), np.concatenate(
            [self.b, np.ones(self.dim), np.zeros(self.dim)]
        )

    def slack(self) -> tuple[float, np.ndarray] | None:
        """How deep inside the polytope its most central point lies, and that point.

        The largest ``s`` (at most 0.5) for which some ``u`` in the equality plane keeps
        every inequality and bound at least ``s`` from its limit, the rows measured in
        their own norm (a linear program).

        Returns:
            ``(s, u)``, or None when no point meets every constraint.
        """
        from scipy.optimize import linprog  # only spaces with linear constraints need it

        m = self.dim
        rows, limits = self._limits()
        depth = np.concatenate([np.linalg.norm(self.A, axis=1), np.ones(2 * m)])
        objective = np.zeros(m + 1)
        objective[-1] = -1.0  # maximise s
        result = linprog(
            objective,
            A_ub=np.hstack([rows, depth[:, None]]),
            b_ub=limits,
            A_eq=np.hstack([self.E, np.zeros((len(self.E), 1))]) if len(self.E) else None,
            b_eq=self.f if len(self.E) else None,
            bounds=[(None, None)] * m + [(None, 0.5)],
            method="highs",
        )
        if result.status != 0 or result.x[-1] < -FLAT:
            return None
        return float(result.x[-1]), np.clip(result.x[:m], 0.0, 1.0)

    def sample(self, n: int, rng: np.random.Generator, moves: int | None = None) -> np.ndarray:
        """``n`` near-uniform points by hit-and-run, ``n`` chains walked side by side.

        Args:
            n: Points wanted.
            rng: Random generator.
            moves: Moves per chain; default ``20 m + 100``, which forgets the start.

        Returns:
            ``n x m`` points (shares of each range).

        Raises:
            ValueError: when no point meets every constraint.
        """
        found = self.slack()
        if found is None:
            raise ValueError("no point meets every constraint")
        m = self.dim
        # directions stay in the equality plane: the null space of E
        basis = np.eye(m) if not len(self.E) else _null_space(self.E)
        rows, limits = self._limits()
        u = np.repeat(found[1][None, :], n, axis=0)
        if basis.shape[1] == 0:  # the equalities pin a single point
            return u
        free = basis.shape[1]
        for _ in range(moves if moves is not None else 20 * m + 100):
            # half the chains move along a basis vector: in a long thin polytope a random
            # direction hits the near wall at once, and the long axis would barely mix
            direction = rng.standard_normal((n, free))
            along_axis = rng.random(n) < 0.5
            direction[along_axis] = np.eye(free)[rng.integers(free, size=int(along_axis.sum()))]
            direction = direction @ basis.T
            along = direction @ rows.T  # n x rows: how fast each limit nears
            room = np.maximum(limits - u @ rows.T, 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                reach = np.where(along > 1e-12, room / along, np.inf).min(axis=1)
                back = np.where(along < -1e-12, room / along, -np.inf).max(axis=1)
            step = rng.uniform(np.minimum(back, 0.0), np.maximum(reach, 0.0))
            u = np.clip(u + step[:, None] * direction, 0.0, 1.0)
        return u


def _null_space(E: np.ndarray) -> np.ndarray:
    """``m x r`` orthonormal basis of ``{x : E x = 0}``."""
    _, singular, vt = np.linalg.svd(E)
    rank = int((singular > 1e-10 * max(singular.max(initial=0.0), 1.0)).sum())
    return vt[rank:].T


__all__ = ["FLAT", "Polytope"]
