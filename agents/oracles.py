"""Oracles: whatever answers a trial with a measurement (a lab, a simulation, a data set)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from discovery.domain import Candidate, Measurement, Trial, TrialStatus


class Oracle(Protocol):
    """Runs trials and returns their measurements (the instrument side of the loop)."""

    def evaluate(self, trials: Sequence[Trial]) -> list[Measurement]:
        """Measure each trial; the idempotency key must be stable for a given trial."""
        ...


class LookupOracle:
    """Answers pool trials with the measured values of a data set.

    The pool is the data set, so an "experiment" is a lookup. Keys are ``lookup:<trial>``,
    so re-evaluating a trial after a crash is acknowledged as a repeat. A trial leased to
    an instrument is measured as that instrument (a simulated lab): a running trial
    takes results from its leaseholder only.
    """

    source = "lookup"

    def __init__(self, reference: Mapping[int, Mapping[str, float]]) -> None:
        self.reference = reference

    @classmethod
    def from_candidates(cls, candidates: Sequence[Candidate]) -> LookupOracle:
        """Build from a campaign's pool (candidates carrying reference values)."""
        if not candidates:
            raise ValueError("no candidates: an open-space campaign has no pool to look up")
        missing = [c.index for c in candidates if c.reference is None]
        if missing:
            raise ValueError(
                f"candidates {missing[:5]} have no reference values: this pool is not a "
                "measured data set, so a lookup oracle cannot answer it"
            )
        return cls({c.index: dict(c.reference or {}) for c in candidates})

    def evaluate(self, trials: Sequence[Trial]) -> list[Measurement]:
        """Look up each trial's candidate."""
        results = []
        for trial in trials:
            if trial.id is None or trial.candidate is None or trial.candidate not in self.reference:
                raise ValueError(f"trial {trial.id}: not a member of the lookup pool")
            results.append(
                Measurement(
                    trial_id=trial.id,
                    values=dict(self.reference[trial.candidate]),
                    idempotency_key=f"{self.source}:{trial.id}",
                    source=trial.claimed_by
                    if trial.status is TrialStatus.RUNNING and trial.claimed_by
                    else self.source,
                )
            )
        return results
