"""One entry for every format: sniff the content, parse, report per file in batches."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from literature.parsing._elsevier import parse_elsevier
from literature.parsing._html import parse_html
from literature.parsing._jats import parse_jats
from literature.parsing._pdf import parse_pdf
from literature.parsing._plain import parse_text
from literature.parsing._sniff import sniff
from literature.parsing._tei import parse_tei
from literature.parsing._uspto import parse_uspto
from literature.parsing.errors import ParseError
from literature.text import Paper

__all__ = ["MAX_SENTENCES", "parse_paper", "read_paper", "read_papers"]

#: Sentences a file may hold to be read as one paper. A long review has a few thousand, a
#: thesis under 10,000; a book or a data dump has far more, and tagging it (about 10
#: sentences a second on two cores) would run for hours with nothing stored until the end.
MAX_SENTENCES = 20_000

_PARSERS: dict[str, Callable[[bytes, str], Paper]] = {
    "pdf": parse_pdf,
    "html": parse_html,
    "tei": parse_tei,
    "jats": parse_jats,
    "elsevier": parse_elsevier,
    "uspto": parse_uspto,
    "text": parse_text,
}


def parse_paper(data: bytes, source: str) -> Paper:
    r"""Parse a paper of any supported format, recognised from its content.

    Formats: plain text, HTML (generic, RSC, ACS), JATS and Springer XML, TEI XML,
    Elsevier full-text XML, USPTO patent XML and PDF.

    Args:
        data: The file's bytes.
        source: Where they came from (a path or URL), used in :attr:`Paper.source` and in
            error messages.

    Returns:
        The paper: metadata and sections with sentence offsets.

    Raises:
        ParseError: Empty, binary, truncated or malformed content, or an unknown format.

    Example:
        >>> paper = parse_paper(b"A title\n\nTc is 39 K. It rises.", "note.txt")
        >>> paper.title, paper.sections[1].sentence_text(1)
        ('A title', 'It rises.')
    """
    return _PARSERS[sniff(data, source)](data, source)


def read_paper(path: str | Path, max_sentences: int = MAX_SENTENCES) -> Paper:
    """Read and parse the paper at ``path`` (format from content, not only the extension).

    The paper's :attr:`~literature.text.Paper.source` is the file's absolute, resolved
    path, so that it names the file from any directory (``papers/a.tei.xml`` typed in
    ``/data`` is ``/data/papers/a.tei.xml``); a :class:`ParseError` names ``path`` as
    given.

    Args:
        path: The file.
        max_sentences: A file with more sentences is refused (:data:`MAX_SENTENCES`).

    Raises:
        ParseError: The file is not a readable paper, or holds more than
            ``max_sentences`` sentences.
        OSError: The file cannot be read.
    """
    path = Path(path)
    paper = parse_paper(path.read_bytes(), str(path))
    sentences = sum(len(section.sentences) for section in paper.sections)
    if sentences > max_sentences:
        raise ParseError(
            str(path),
            f"{sentences} sentences, more than the {max_sentences} a paper may have (a book "
            "or a data dump?); split it, or raise --max-sentences",
        )
    return replace(paper, source=str(path.resolve()))


def read_papers(
    paths: Iterable[str | Path], max_sentences: int = MAX_SENTENCES
) -> Iterator[tuple[Path, Paper | ParseError]]:
    """Parse many files, reporting each one and carrying on past bad ones.

    Args:
        paths: Files, or folders whose files (recursively, hidden ones excluded) are read
            in sorted order.
        max_sentences: As :func:`read_paper`.

    Yields:
        ``(path, paper)`` for each readable file, ``(path, error)`` for each other one
        (including files that cannot be opened).
    """
    for path in _expand(paths):
        try:
            yield path, read_paper(path, max_sentences)
        except ParseError as error:
            yield path, error
        except OSError as error:
            yield path, ParseError(str(path), f"cannot read file ({error.strerror or error})")


def _expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            yield path
