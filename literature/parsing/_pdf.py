"""PDF papers through pypdf: text per page, paragraphs and sections by layout heuristics.

pypdf is imported inside :func:`parse_pdf`, so reading other formats never loads it.
"""

from __future__ import annotations

import io
import re
import statistics
from typing import Any

from literature.parsing._common import Metadata, build_paper, clean, normalise_doi, own_doi
from literature.parsing._plain import is_heading, sections_from_paragraphs
from literature.parsing.errors import ParseError
from literature.text import Paper

__all__ = ["parse_pdf"]

_TITLE_MAX = 250
_SHORT_LINE = 0.75  # a line this much shorter than usual, ending a sentence, ends a paragraph
_PAGE_NUMBER = re.compile(r"^\d{1,4}$")
_NOT_A_TITLE = re.compile(r"^(?:microsoft \w+ - |untitled)|\.(?:docx?|tex|pdf|dvi)$", re.I)
_INFO_KEYS = ("title", "author", "subject")
_AUTHOR_SEPARATORS = re.compile(r"\s*;\s*|\s*,?\s+and\s+|\s*&\s*")


def parse_pdf(data: bytes, source: str) -> Paper:
    """A PDF paper: metadata from the document info, text from every page.

    Raises:
        ParseError: The PDF is malformed, or has no extractable text (no pages, blank
            pages or scanned images).
    """
    reader, pages = _read(data, source)
    if not any(page.strip() for page in pages):
        raise ParseError(source, "PDF has no extractable text (empty, blank or scanned)")
    info = _info(reader)
    lines = [line for page in pages for line in _page_lines(page)]
    title = info.get("title", "")
    if not title and lines and len(lines[0]) <= _TITLE_MAX:
        title = lines[0]
    if lines and clean(lines[0]) == clean(title):
        lines = lines[1:]
    metadata = Metadata(
        title=title,
        doi=normalise_doi(info.get("subject", "")) or own_doi(pages[0]),
        authors=_authors(info.get("author", "")),
    )
    return build_paper(source, "pdf", sections_from_paragraphs(_paragraphs(lines)), metadata)


def _read(data: bytes, source: str) -> tuple[Any, list[str]]:
    """The reader and the text of each page."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        return reader, [page.extract_text() or "" for page in reader.pages]
    except Exception as error:  # pypdf raises many types on broken files; all mean "malformed"
        raise ParseError(source, f"malformed PDF ({type(error).__name__}: {error})") from error


def _info(reader: Any) -> dict[str, str]:
    """Title, author and subject from the document information, where meaningful."""
    try:
        metadata = reader.metadata
    except Exception:  # a broken info dictionary only costs the metadata
        return {}
    if metadata is None:
        return {}
    found = {key: clean(str(metadata.get(f"/{key.title()}") or "")) for key in _INFO_KEYS}
    if _NOT_A_TITLE.search(found["title"]):
        found["title"] = ""
    return found


def _authors(raw: str) -> tuple[str, ...]:
    return tuple(a for a in _AUTHOR_SEPARATORS.split(raw) if a)


def _page_lines(page: str) -> list[str]:
    """Non-empty lines of a page, without bare page numbers."""
    lines = [clean(line) for line in page.splitlines()]
    return [line for line in lines if line and not _PAGE_NUMBER.match(line)]


def _paragraphs(lines: list[str]) -> list[str]:
    """Join lines into paragraphs: headings stand alone; a short line ending a sentence ends one."""
    lengths = [len(line) for line in lines if len(line) > 20]
    usual = statistics.median(lengths) if lengths else 0
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if is_heading(line):
            paragraphs.extend(p for p in (current, line) if p)
            current = ""
            continue
        current = _join(current, line)
        if line[-1] in ".!?:" and len(line) < _SHORT_LINE * usual:
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return paragraphs


def _join(text: str, line: str) -> str:
    """Append a line, mending words hyphenated across the line break ("investi-" "gated")."""
    if not text:
        return line
    if len(text) > 1 and text[-1] == "-" and text[-2].islower() and line[:1].islower():
        return text[:-1] + line
    return f"{text} {line}"
