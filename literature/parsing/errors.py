"""The one error every parser raises for input it cannot read."""

from __future__ import annotations

__all__ = ["ParseError"]


class ParseError(ValueError):
    """A file is not a readable paper: empty, binary, truncated, malformed or unknown.

    The message names the file and the problem, e.g. ``"a.xml: malformed XML (...)"``.

    Attributes:
        source: The file (path or URL) that failed.
        problem: What is wrong with it.
    """

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem

    def __reduce__(self) -> tuple[type[ParseError], tuple[str, str]]:
        # Picklable with both arguments, so errors cross process boundaries (Dask, Prefect).
        return (type(self), (self.source, self.problem))
