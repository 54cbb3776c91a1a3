"""Pieces every format shares: text cleaning, section building, metadata and XML helpers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from literature.parsing.errors import ParseError
from literature.sentences import split_sentences
from literature.text import Paper, Section

Element = Any  # lxml elements (etree._Element, html.HtmlElement); lxml ships no stubs here.

BODY = "body"
CAPTION = "caption"
ABSTRACT = "abstract"

_REFERENCES = re.compile(
    r"^(?:[\dIVX]+\.?\s*)?(?:notes and references|references and notes|references?(?: cited)?"
    r"|bibliography|literature cited|cited literature|works cited)\s*:?$",
    re.IGNORECASE,
)
# "<" and ">" occur in real DOIs (Wiley's SICI ones: 10.1002/(SICI)...35:4<423::AID-JBM3>...)
_DOI = re.compile(r"10\.\d{4,9}/[^\s\"']+")
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?=\d{4}(?!\d)|(?!\d))")  # also YYYYMMDD


def clean(text: str) -> str:
    """Collapse every whitespace run to one space and strip the ends."""
    return " ".join(text.split())


def make_section(name: str, paragraphs: Iterable[str]) -> Section | None:
    r"""A section of cleaned paragraphs joined by ``"\n\n"``, with its sentences.

    Returns:
        The section, or ``None`` when no paragraph has text.
    """
    text = "\n\n".join(p for p in (clean(p) for p in paragraphs) if p)
    if not text:
        return None
    name = clean(name) or BODY
    if name.lower() == ABSTRACT:
        name = ABSTRACT
    return Section(name=name, text=text, sentences=split_sentences(text))


def is_references(heading: str) -> bool:
    """Whether a heading names a references or bibliography section."""
    return _REFERENCES.match(clean(heading)) is not None


def normalise_doi(raw: str | None) -> str | None:
    """The first DOI in ``raw``, lower-cased, without resolver or ``doi:`` prefix.

    ``"https://doi.org/10.1039/C6OB02074G"`` -> ``"10.1039/c6ob02074g"``; ``None`` if none.
    """
    match = _DOI.search(raw or "")
    return _trim_doi(match.group()).lower() if match else None


#: A line that is only a DOI label, near a paper's start: the paper's own. A DOI inside other
#: text may be a reference cited there, and two papers citing it would share one key.
_OWN_DOI = re.compile(
    r"^\s*(?:doi\s*:?|https?://(?:dx\.)?doi\.org/)\s*(10\.\d{4,9}/\S+)\s*$", re.I | re.M
)


def own_doi(front: str) -> str | None:
    """The DOI that ``front`` (a paper's first page or lines) prints alone on a line.

    ``"doi: 10.1103/PhysRevB.99.014501"`` -> ``"10.1103/physrevb.99.014501"``; ``None`` if
    no line is only a DOI.
    """
    match = _OWN_DOI.search(front)
    return normalise_doi(match.group(1)) if match else None


def _trim_doi(doi: str) -> str:
    """Drop punctuation that ends the sentence around a DOI, not the DOI's own brackets."""
    while doi and (
        doi[-1] in ".,;"
        or (doi[-1] == ")" and doi.count(")") > doi.count("("))
        or (doi[-1] == "]" and doi.count("]") > doi.count("["))
        or (doi[-1] == ">" and doi.count(">") > doi.count("<"))
    ):
        doi = doi[:-1]
    return doi


def parse_year(raw: str | None) -> int | None:
    """The first plausible year in ``raw`` (``"2016/09/26"``, ``"20050111"`` -> 2016, 2005)."""
    match = _YEAR.search(raw or "")
    return int(match.group()) if match else None


class SectionBuilder:
    """Collects paragraphs into sections in reading order.

    Captions met inside a section are held back and emitted right after it, so a figure
    placed mid-section does not cut the section in two.
    """

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self._name = BODY
        self._paragraphs: list[str] = []
        self._captions: list[str] = []

    def start(self, name: str) -> None:
        """Close the current section and open one called ``name``."""
        self._close()
        self._name = name

    def add(self, paragraph: str) -> None:
        """Add a paragraph to the current section."""
        self._paragraphs.append(paragraph)

    def caption(self, text: str) -> None:
        """Add a figure or table caption, emitted after the current section."""
        self._captions.append(text)

    def finish(self) -> tuple[Section, ...]:
        """Close the current section and return all sections."""
        self._close()
        return tuple(self.sections)

    def _close(self) -> None:
        for section in (
            make_section(self._name, self._paragraphs),
            *(make_section(CAPTION, [c]) for c in self._captions),
        ):
            if section is not None:
                self.sections.append(section)
        self._paragraphs, self._captions = [], []


@dataclass(frozen=True)
class Metadata:
    """Bibliographic fields a format may carry; see :class:`~literature.text.Paper`."""

    title: str = ""
    doi: str | None = None
    authors: tuple[str, ...] = ()
    journal: str | None = None
    year: int | None = None


def build_paper(
    source: str, format: str, sections: Iterable[Section], metadata: Metadata | None = None
) -> Paper:
    """A paper with a leading ``"title"`` section; raises if it has no text at all."""
    metadata = metadata or Metadata()
    title = clean(metadata.title)
    title_section = make_section("title", [title]) if title else None
    body = tuple(sections)
    if not body and title_section is None:
        raise ParseError(source, f"no text found in the {format} document")
    return Paper(
        source=source,
        format=format,
        title=title,
        doi=normalise_doi(metadata.doi),
        authors=tuple(a for a in (clean(a) for a in metadata.authors) if a),
        journal=clean(metadata.journal or "") or None,
        year=metadata.year,
        sections=(title_section, *body) if title_section else body,
    )


# --- XML -------------------------------------------------------------------------------


def parse_xml(data: bytes, source: str) -> Element:
    """The root element of ``data``; :class:`ParseError` when it is not well-formed XML.

    External entities and DTDs are never fetched.
    """
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as error:
        raise ParseError(source, f"malformed XML ({error})") from error
    if root is None:
        raise ParseError(source, "malformed XML (no root element)")
    return root


def local(element: Element) -> str:
    """Tag name without namespace; ``""`` for comments and processing instructions."""
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def children(element: Element, *names: str) -> list[Element]:
    """Child elements whose local name is one of ``names`` (all elements if none given)."""
    return [c for c in element if local(c) and (not names or local(c) in names)]


def first(element: Element | None, *path: str) -> Element | None:
    """The first element reached by following local names ``path`` from ``element``."""
    for name in path:
        if element is None:
            return None
        element = next(iter(children(element, name)), None)
    return element


def descendants(element: Element, name: str) -> list[Element]:
    """Descendant elements with local name ``name``, in document order."""
    return [e for e in element.iter() if local(e) == name]


def flat_text(
    element: Element | None,
    skip: Callable[[Element], bool] | frozenset[str] = frozenset(),
    spaces: frozenset[str] = frozenset(),
) -> str:
    """Cleaned text of ``element`` with inline markup flattened.

    Args:
        element: Element to read; ``None`` gives ``""``.
        skip: Local names (or a predicate) of descendants whose own text is dropped; their
            tail text, which belongs to the parent, is kept.
        spaces: Local names that stand for a space (line breaks, spacing elements).
    """
    if element is None:
        return ""
    skipped = skip if callable(skip) else (lambda e: local(e) in skip)
    parts: list[str] = []
    _collect(element, skipped, spaces, parts)
    return clean("".join(parts))


def _collect(
    element: Element, skip: Callable[[Element], bool], spaces: frozenset[str], parts: list[str]
) -> None:
    if element.text:
        parts.append(element.text)
    for child in element:
        name = local(child)
        if name in spaces:
            parts.append(" ")
        if name and not skip(child):
            _collect(child, skip, spaces, parts)
        if child.tail:
            parts.append(child.tail)
