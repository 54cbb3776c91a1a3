"""TEI XML papers: GROBID output and annotated corpora such as SuperMat.

Inline annotations (``<rs type="material">``, ``<ref>``) are flattened into plain text;
``<head>`` elements name sections, ``<figure>``/``<ab type="figureCaption">`` are captions,
and bibliographies (``<listBibl>``, ``<div type="references">``) are left out.
"""

from __future__ import annotations

from literature.parsing._common import (
    ABSTRACT,
    Element,
    Metadata,
    SectionBuilder,
    build_paper,
    children,
    descendants,
    first,
    flat_text,
    is_references,
    local,
    parse_xml,
    parse_year,
)
from literature.text import Paper

__all__ = ["parse_tei"]

_SKIP = frozenset({"listBibl", "biblStruct", "graphic", "note", "figure", "table"})
_CAPTION_TYPES = frozenset({"figureCaption", "tableCaption", "caption"})
_NOT_BODY_DIVS = frozenset({"references", "bibliography", "annex-references"})


def parse_tei(data: bytes, source: str) -> Paper:
    """A TEI paper (``<TEI>`` or ``<tei>`` in the TEI namespace)."""
    root = parse_xml(data, source)
    header = first(root, "teiHeader")
    builder = SectionBuilder()
    _front(header, builder)
    text = first(root, "text")
    for part in children(text, "front", "body", "back") if text is not None else []:
        builder.start(local(part))
        _block(part, builder)
    return build_paper(source, "tei", builder.finish(), _metadata(header))


def _metadata(header: Element | None) -> Metadata:
    """Title, DOI, authors, journal and year from the header, where present."""
    if header is None:
        return Metadata()
    statement = first(header, "fileDesc", "titleStmt")
    titles = descendants(header if statement is None else statement, "title")
    article = [t for t in titles if t.get("type", "main") == "main" and t.get("level") != "j"]
    bibl = first(header, "fileDesc", "sourceDesc", "biblStruct")
    analytic = first(bibl, "analytic")
    people = descendants(analytic, "persName") if analytic is not None else []
    journal = [t for t in descendants(header, "title") if t.get("level") == "j"]
    dois = [i.text for i in descendants(header, "idno") if i.get("type", "").lower() == "doi"]
    dates = [d.get("when") or d.text for d in descendants(header, "date")]
    return Metadata(
        title=flat_text(article[0]) if article else "",
        doi=dois[0] if dois else None,
        authors=tuple(_person(p) for p in people),
        journal=flat_text(journal[0]) if journal else None,
        year=next((y for y in map(parse_year, dates) if y), None),
    )


def _person(name: Element) -> str:
    """``"Given Family"`` from a ``persName``."""
    parts = [flat_text(n) for n in name if local(n) in ("forename", "surname")]
    return " ".join(parts) if parts else flat_text(name)


def _front(header: Element | None, builder: SectionBuilder) -> None:
    """Abstract and keywords from ``profileDesc``."""
    profile = first(header, "profileDesc")
    if profile is None:
        return
    for element in children(profile):
        name = local(element)
        if name == "abstract":
            builder.start(ABSTRACT)
            _block(element, builder)
        elif name == "ab" or name == "textClass":
            builder.start(element.get("type") or "keywords")
            builder.add(flat_text(element, _SKIP) if name == "ab" else _keywords(element))


def _keywords(text_class: Element) -> str:
    return ", ".join(flat_text(t) for t in descendants(text_class, "term"))


def _block(element: Element, builder: SectionBuilder) -> None:
    """Paragraphs, headings, captions and nested divisions of a TEI container."""
    for child in children(element):
        name = local(child)
        if name == "head":
            heading = flat_text(child, _SKIP)
            number = child.get("n")
            builder.start(f"{number} {heading}" if number else heading)
        elif name in ("p", "ab") and child.get("type") in _CAPTION_TYPES:
            builder.caption(flat_text(child, _SKIP))
        elif name in ("p", "ab", "list", "quote", "formula"):
            builder.add(flat_text(child, _SKIP))
        elif name == "figure":
            builder.caption(_figure_caption(child))
        elif name == "div" and not _is_bibliography(child):
            _block(child, builder)


def _figure_caption(figure: Element) -> str:
    """``head``/``label`` and ``figDesc`` of a figure or table."""
    parts = [flat_text(c, _SKIP) for c in children(figure, "head", "label", "figDesc")]
    return " ".join(p for p in parts if p)


def _is_bibliography(div: Element) -> bool:
    head = first(div, "head")
    return (
        div.get("type") in _NOT_BODY_DIVS
        or bool(children(div, "listBibl"))
        or (head is not None and is_references(flat_text(head)))
    )
