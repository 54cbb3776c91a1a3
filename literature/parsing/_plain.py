"""Plain text papers, and the layout heuristics plain text shares with PDF text."""

from __future__ import annotations

import re
from collections.abc import Iterable

from literature.parsing._common import (
    Metadata,
    SectionBuilder,
    build_paper,
    clean,
    is_references,
    own_doi,
)
from literature.parsing._sniff import decode
from literature.text import Paper, Section

__all__ = ["is_heading", "parse_text", "sections_from_paragraphs"]

_TITLE_MAX = 250
_FRONT_LINES = 40  # about a printed first page: where a paper gives its own DOI
_KNOWN_HEADINGS = re.compile(
    r"^(?:[\dIVX]+(?:\.\d+)*\.?\s+)?(?:abstract|summary|introduction|background"
    r"|experimental(?: section| details| procedures?| methods)?|materials and methods|methods"
    r"|methodology|computational (?:details|methods)|results(?: and discussion)?|discussion"
    r"|conclusions?|conclusions and outlook|outlook|acknowledge?ments?|funding"
    r"|supporting information|supplementary (?:information|material)|keywords"
    r"|notes and references|references and notes|references?|bibliography|literature cited"
    r"|conflicts? of interest|author contributions|data availability)\s*:?$",
    re.IGNORECASE,
)
# "2. Experimental", "3.1 Synthesis of LiFePO4": numbered, short, capitalised, no full stop.
_NUMBERED_HEADING = re.compile(r"^\d{1,2}(?:\.\d{1,2}){0,3}\.?\s+[A-Z][^.]{2,80}$")
_MAX_HEADING_WORDS = 12


def parse_text(data: bytes, source: str) -> Paper:
    """A plain text paper: the first line is the title when it is short.

    Paragraphs are blocks separated by blank lines, or single lines when the file has no
    blank line; short lines naming a usual section ("Introduction", "2. Experimental") start
    sections. A line of the first page that is only a DOI ("doi: 10.1103/...") gives the
    paper's DOI, as in a PDF.
    """
    lines = decode(data, source).splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    doi = own_doi("\n".join(lines[:_FRONT_LINES]))
    title = ""
    rest = lines[1:]
    if rest and any(line.strip() for line in rest) and len(lines[0].strip()) <= _TITLE_MAX:
        title, lines = lines[0], rest
    sections = sections_from_paragraphs(_paragraphs(lines))
    return build_paper(source, "text", sections, Metadata(title=title, doi=doi))


def _paragraphs(lines: list[str]) -> list[str]:
    """Blank-line separated blocks, or one paragraph per line when there is no blank line."""
    if not any(not line.strip() for line in _trim(lines)):
        return [line for line in lines if line.strip()]
    paragraphs: list[str] = []
    block: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            block.append(line)
        elif block:
            # "Abstract" or "2. Methods" on the first line of a block is a heading
            if len(block) > 1 and is_heading(block[0]):
                paragraphs.append(block.pop(0))
            paragraphs.append(" ".join(block))
            block = []
    return paragraphs


def _trim(lines: list[str]) -> list[str]:
    """``lines`` without leading and trailing blank lines."""
    keep = [i for i, line in enumerate(lines) if line.strip()]
    return lines[keep[0] : keep[-1] + 1] if keep else []


def is_heading(line: str) -> bool:
    """Whether a one-line paragraph looks like a section heading."""
    line = clean(line)
    if not line or len(line.split()) > _MAX_HEADING_WORDS:
        return False
    return bool(_KNOWN_HEADINGS.match(line) or _NUMBERED_HEADING.match(line))


def sections_from_paragraphs(paragraphs: Iterable[str]) -> tuple[Section, ...]:
    """Group paragraphs into sections at heading lines, dropping references.

    A references section ends only at a heading with a usual name, since numbered
    reference entries can look like numbered headings.
    """
    builder = SectionBuilder()
    in_references = False
    for paragraph in paragraphs:
        heading = is_heading(paragraph)
        if in_references and not (heading and _KNOWN_HEADINGS.match(clean(paragraph))):
            continue
        if heading:
            in_references = is_references(paragraph)
            builder.start(clean(paragraph).rstrip(":"))
        else:
            builder.add(paragraph)
    return builder.finish()
