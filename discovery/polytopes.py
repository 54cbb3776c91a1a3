"""Points of a box cut by linear constraints: a feasibility test and a uniform sampler.

A search space's continuous parameters with linear inequalities (``a + b <= 0.2``) and
simplex totals (``a + b + c = 1``) form a polytope. Drawing in the box and rejecting misses
fails when the polytope is a small corner of it (five dopants of at most 0.5 summing to
at most 0.2 keep 1 draw in 10,000); hit-and-run (Smith, Operations Research 1984) walks
inside it instead: each move goes a uniform distance along a random direction, within the
polytope, in its equality plane. A long thin polytope (a simplex of four with two parts
at most 0.02 together) mixes slowly from one start, so the chains start at random mixtures
of its vertices (found by linear programming), and half the moves follow the vertices'
spread (a rounding of the polytope), half go anywhere in the plane.

Pure numpy and scipy (no torch): spaces are (de)serialised by the storage layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Slack (in units of each parameter's range) under which a polytope is taken as flat:
#: HiGHS meets constraints to 1e-7.
FLAT = 1e-6


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
        every inequality and bound at least ``s`` from its limit, distances measured within
        the plane (a row constant on it, ``a + b + c <= 1`` beside ``a + b + c = 1``, is
        only met or not); a linear program.

        Returns:
            ``(s, u)``, or None when no point meets every constraint.
        """
        m = self.dim
        rows, limits = self._limits()
        depth = np.linalg.norm(rows @ self._plane(), axis=1)
        depth[depth < 1e-12] = 0.0
        objective = np.zeros(m + 1)
        objective[-1] = -1.0  # maximise s
        result = self._solve(objective, np.hstack([rows, depth[:, None]]), limits, slack=True)
        if result is None or result[-1] < -FLAT:
            return None
        return float(result[-1]), np.clip(result[:m], 0.0, 1.0)

    def _solve(
        self, objective: np.ndarray, rows: np.ndarray, limits: np.ndarray, slack: bool = False
    ) -> np.ndarray | None:
        """The LP's minimiser over ``rows @ x <= limits`` and the equalities, or None."""
        from scipy.optimize import linprog  # only spaces with linear constraints need it

        extra = 1 if slack else 0
        equal = np.hstack([self.E, np.zeros((len(self.E), extra))])
        result = linprog(
            objective,
            A_ub=rows,
            b_ub=limits,
            A_eq=equal if len(self.E) else None,
            b_eq=self.f if len(self.E) else None,
            bounds=[(None, None)] * self.dim + [(None, 0.5)] * extra,
            method="highs",
        )
        return result.x if result.status == 0 else None

    def _plane(self) -> np.ndarray:
        """``m x r`` orthonormal basis of the directions that keep the equalities."""
        return np.eye(self.dim) if not len(self.E) else _null_space(self.E)

    def vertices(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """Up to ``count`` vertices, each minimising a random linear objective."""
        rows, limits = self._limits()
        found = [self._solve(rng.standard_normal(self.dim), rows, limits) for _ in range(count)]
        kept = [np.clip(v, 0.0, 1.0) for v in found if v is not None]
        return np.array(kept).reshape(len(kept), self.dim)

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
        basis = self._plane()  # directions stay in the equality plane
        rows, limits = self._limits()
        corners = np.vstack([found[1], self.vertices(2 * m + 2, rng)])
        u = rng.dirichlet(np.ones(len(corners)), size=n) @ corners  # inside: convex
        if basis.shape[1] == 0:  # the equalities pin a single point
            return u
        spread = (corners - corners.mean(axis=0)) @ basis  # the vertices' spread, in-plane
        for _ in range(moves if moves is not None else 20 * m + 100):
            # half the moves follow the spread, so a long thin polytope's long axis mixes
            direction = rng.standard_normal((n, basis.shape[1]))
            rounded = rng.random(n) < 0.5
            direction[rounded] = rng.standard_normal((int(rounded.sum()), len(corners))) @ spread
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
    """``m x r`` orthonormal basis of ``{x : E x = 0}`` (E's rows are non-zero)."""
    unit_rows = E / np.linalg.norm(E, axis=1, keepdims=True)
    _, singular, vt = np.linalg.svd(unit_rows)
    rank = int((singular > 1e-10 * singular.max(initial=0.0)).sum())
    return vt[rank:].T


__all__ = ["FLAT", "Polytope"]
