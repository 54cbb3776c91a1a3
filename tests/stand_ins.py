"""Stand-ins that tests of several packages share (imported as ``tests.stand_ins``)."""

from __future__ import annotations

from literature.text import Span


class SpansOf:
    """A stand-in tagger that finds the given (label, text) pieces in every sentence."""

    def __init__(self, pieces: list[tuple[str, str]]) -> None:
        self.pieces = pieces

    def predict(self, texts: list[str], batch_size: int = 64) -> list[list[Span]]:
        return [
            [Span(t.index(s), t.index(s) + len(s), label) for label, s in self.pieces if s in t]
            for t in texts
        ]
