"""HTML papers: generic pages and the RSC and ACS article layouts.

One walker reads every layout the way a browser lays it out: block elements end
paragraphs, inline elements and loose text join them. A *flavour* says, per publisher,
where the article is, what is a heading, what is a caption and what to leave out
(navigation, author blocks, citation markers glued to words, tables, reference lists).
Metadata come from the ``citation_*`` / Dublin Core ``<meta>`` tags publishers embed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree
from lxml import html as lxml_html

from literature.parsing._common import (
    ABSTRACT,
    BODY,
    Element,
    Metadata,
    SectionBuilder,
    build_paper,
    clean,
    flat_text,
    is_references,
    local,
    normalise_doi,
    parse_year,
)
from literature.parsing._sniff import decode
from literature.parsing.errors import ParseError
from literature.text import Paper, Section

__all__ = ["parse_html"]

_BLOCK_TAGS = """
address article aside blockquote body caption center dd details dialog div dl dt fieldset
figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html li main menu nav ol p pre
section summary table tbody td tfoot th thead tr ul
"""
_BLOCKS = frozenset(_BLOCK_TAGS.split())
# Never read as text: code, media, form controls and the page head.
_HIDDEN_TAGS = """
script style noscript template svg iframe object embed img button select input textarea head
canvas video audio map
"""
_NEVER_TEXT = frozenset(_HIDDEN_TAGS.split())
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_SPACE_IMAGE = re.compile(r"^\[[^\]]*space[^\]]*\]$", re.IGNORECASE)  # RSC's "[thin space]"
_REFERENCE_BLOCKS = frozenset(
    {"references", "ref-list", "reflist", "bibliography", "citation-list", "footnotes"}
)


@dataclass(frozen=True)
class _Flavour:
    """How one publisher lays out an article page."""

    format: str
    roots: Callable[[Element], list[Element]]
    drop: Callable[[Element], bool]
    heading: Callable[[Element], bool]
    caption: Callable[[Element], str | None]  # None: not a float; "": a float with no caption
    opens: Callable[[Element], str | None] = lambda element: None  # section opened by content
    title: Callable[[Element], str] = lambda document: ""
    journal: Callable[[Element], str] = lambda document: ""


def parse_html(data: bytes, source: str) -> Paper:
    """An HTML paper; RSC and ACS article pages are recognised and read as such."""
    document = _parse(data, source)
    meta = _meta_tags(document)
    flavour = _flavour(document, meta)
    title = flavour.title(document) or _first(meta, "citation_title", "dc.title", "og:title")
    title = title or flat_text(next(iter(document.iter("title")), None))
    roots = flavour.roots(document) or [document]
    sections = _Walker(flavour, title).read(roots)
    return build_paper(source, flavour.format, sections, _metadata(meta, title, flavour, document))


def _parse(data: bytes, source: str) -> Element:
    text = decode(data, source)
    parser = lxml_html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
    try:
        return lxml_html.document_fromstring(text.encode("utf-8"), parser=parser)
    except (etree.ParserError, ValueError) as error:
        raise ParseError(source, f"malformed HTML ({error})") from error


def _meta_tags(document: Element) -> dict[str, list[str]]:
    """``<meta>`` contents by lower-cased name or property, in document order."""
    found: dict[str, list[str]] = {}
    for meta in document.iter("meta"):
        name = (meta.get("name") or meta.get("property") or "").lower()
        content = clean(meta.get("content") or "")
        if name and content:
            found.setdefault(name, []).append(content)
    return found


def _first(meta: dict[str, list[str]], *names: str) -> str:
    return next((meta[n][0] for n in names if meta.get(n)), "")


def _metadata(
    meta: dict[str, list[str]], title: str, flavour: _Flavour, document: Element
) -> Metadata:
    identifiers = [*meta.get("citation_doi", []), *meta.get("prism.doi", [])]
    identifiers += meta.get("dc.identifier", [])
    authors = meta.get("citation_author") or meta.get("dc.creator") or meta.get("author") or []
    journal = flavour.journal(document) or _first(
        meta, "citation_journal_title", "prism.publicationname"
    )
    date = _first(
        meta, "citation_publication_date", "citation_date", "dc.date", "citation_online_date"
    )
    return Metadata(
        title=title,
        doi=next((d for d in map(normalise_doi, identifiers) if d), None),
        authors=tuple(authors),
        journal=journal or None,
        year=parse_year(date),
    )


class _Walker:
    """Reads blocks into paragraphs and sections, following one flavour's rules."""

    def __init__(self, flavour: _Flavour, title: str) -> None:
        self.flavour = flavour
        self.title = clean(title).lower()
        self.builder = SectionBuilder()
        self.buffer: list[str] = []
        self.in_references = False

    def read(self, roots: list[Element]) -> tuple[Section, ...]:
        for root in roots:
            self._visit(root)
            self._flush()
        return self.builder.finish()

    def _visit(self, element: Element) -> None:
        tag = local(element).lower()
        if tag == "br" or (tag == "img" and _SPACE_IMAGE.match(element.get("alt", ""))):
            self._text(" ")  # line breaks and RSC's pictures of spaces
        elif tag and tag not in _NEVER_TEXT and not self.flavour.drop(element):
            self._element(element, tag)
        if element.tail:
            self._text(element.tail)

    def _element(self, element: Element, tag: str) -> None:
        if self.flavour.heading(element):
            self._heading(element)
            return
        caption = self.flavour.caption(element)
        if caption is not None or tag == "table":  # tables are data, not prose
            self._flush()
            if caption and not self.in_references:
                self.builder.caption(caption)
            return
        block = tag in _BLOCKS
        if block:
            self._flush()
            opened = self.flavour.opens(element)
            if opened:
                self.in_references = False
                self.builder.start(opened)
        if element.text:
            self._text(element.text)
        for child in element:
            self._visit(child)
        if block:
            self._flush()

    def _heading(self, element: Element) -> None:
        self._flush()
        name = _text_of(element, self.flavour.drop)
        self.in_references = is_references(name)
        self.builder.start(BODY if name.lower() == self.title else name)

    def _text(self, text: str) -> None:
        if not self.in_references:
            self.buffer.append(text)

    def _flush(self) -> None:
        paragraph = clean("".join(self.buffer))
        self.buffer = []
        if paragraph:
            self.builder.add(paragraph)


# --- flavours ---------------------------------------------------------------------------


def _classes(element: Element) -> set[str]:
    return set((element.get("class") or "").split())


def _text_of(element: Element | None, drop: Callable[[Element], bool]) -> str:
    return flat_text(element, lambda e: local(e) in _NEVER_TEXT or drop(e), frozenset({"br"}))


def _generic_roots(document: Element) -> list[Element]:
    articles = [
        a
        for a in document.iter("article")
        if not any(p.tag == "article" for p in a.iterancestors())
    ]
    return articles or list(document.iter("main"))[:1] or list(document.iter("body"))[:1]


def _generic_drop(element: Element) -> bool:
    if element.tag in ("header", "footer", "nav", "aside", "form"):
        return True
    marks = _classes(element) | {element.get("id") or ""}
    return bool(marks & _REFERENCE_BLOCKS)


def _generic_caption(element: Element) -> str | None:
    if element.tag == "figure":
        return _text_of(next(iter(element.iter("figcaption")), None), _generic_drop)
    if element.tag == "table":
        return _text_of(next(iter(element.iter("caption")), None), _generic_drop)
    return None


def _generic_opens(element: Element) -> str | None:
    marks = {m.lower() for m in _classes(element) | {element.get("id") or ""}}
    return ABSTRACT if ABSTRACT in marks else None


GENERIC = _Flavour(
    format="html",
    roots=_generic_roots,
    drop=_generic_drop,
    heading=lambda e: e.tag in _HEADINGS,
    caption=_generic_caption,
    opens=_generic_opens,
)

# RSC: a flat run of h2/h3, <span>/<p class="otherpara"> paragraphs and figure tables in
# <div id="wrapper">; "Notes and references" is a <span id="sectNNN">.
_RSC_DROPPED = frozenset(
    {"left_head", "right_head", "article_info", "header_text", "rtable__wrapper", "hrule"}
)
_RSC_RUN_IN = frozenset({"c_heading_indent", "d_heading_indent", "e_heading_indent"})


def _rsc_drop(element: Element) -> bool:
    classes = _classes(element)
    return (
        element.tag == "h1"
        or bool(classes & _RSC_DROPPED)
        or {"bold", "italic"} <= classes  # "First published on ..."
        or element.get("id") == "art-admin"
        or (element.tag == "a" and (element.get("href") or "").startswith("#cit"))
    )


def _rsc_heading(element: Element) -> bool:
    if element.tag in _HEADINGS:
        return True  # the h1 (title) is dropped before this is asked
    anchored = element.tag == "span" and (element.get("id") or "").startswith("sect")
    return bool(_classes(element) & _RSC_RUN_IN) or (
        anchored and bool(element.text_content().strip())
    )


def _rsc_caption(element: Element) -> str | None:
    classes = _classes(element)
    if "image_table" in classes:
        titles = [e for e in element.iter() if "image_title" in _classes(e)]
        return _text_of(titles[0], _rsc_drop) if titles else ""
    if "table_caption" in classes:
        return _text_of(element, _rsc_drop)
    return None


def _rsc_title(document: Element) -> str:
    titles = [e for e in document.iter("span") if "title_heading" in _classes(e)]
    return _text_of(titles[0], _footnote_link) if titles else ""


def _footnote_link(element: Element) -> bool:
    """An in-page link such as a title's "†" (links to ontologies carry title words)."""
    return element.tag == "a" and (element.get("href") or "").startswith("#")


RSC = _Flavour(
    format="rsc",
    roots=lambda d: [e for e in d.iter("div") if e.get("id") == "wrapper"][:1],
    drop=_rsc_drop,
    heading=_rsc_heading,
    caption=_rsc_caption,
    opens=lambda e: ABSTRACT if "abstract" in _classes(e) else None,
    title=_rsc_title,
)

# ACS: div.hlFld-Abstract and div.hlFld-Fulltext hold NLM_sec divisions with h2 and
# span.title2 headings; citations are links "(1)" glued after the full stop.
_ACS_CITATION = re.compile(r"^\(\d+(?:\s*[,–-]\s*\d+)*\)$")
_ACS_FLOATS = frozenset({"figure", "NLM_table-wrap"})


def _acs_drop(element: Element) -> bool:
    classes = _classes(element)
    if element.tag == "a" and "ref" in classes:
        return bool(_ACS_CITATION.match(element.text_content().strip()))
    return bool(classes & {"anchors", "NLM_table-wrap-foot", "figure-thumbnail"})


def _acs_caption(element: Element) -> str | None:
    if not _classes(element) & _ACS_FLOATS:
        return None
    captions = [e for e in element.iter() if _classes(e) & {"hlFld-FigureCaption", "caption"}]
    return _text_of(captions[0], _acs_drop) if captions else ""


def _acs_roots(document: Element) -> list[Element]:
    return [e for e in document.iter("div") if _classes(e) & {"hlFld-Abstract", "hlFld-Fulltext"}]


def _acs_title(document: Element) -> str:
    titles = [e for e in document.iter("span") if "hlFld-Title" in _classes(e)]
    return _text_of(titles[0], _footnote_link) if titles else ""


def _acs_journal(document: Element) -> str:
    logos = [e for e in document.iter("div") if e.get("id") == "series-logo"]
    images = [i for logo in logos for i in logo.iter("img") if i.get("alt")]
    if images:
        return clean(images[0].get("alt"))
    match = re.search(
        r" - (.+?) \(ACS Publications\)", _text_of(document.find(".//title"), _acs_drop)
    )
    return match.group(1) if match else ""


ACS = _Flavour(
    format="acs",
    roots=_acs_roots,
    drop=_acs_drop,
    heading=lambda e: e.tag in _HEADINGS or bool(_classes(e) & {"title2", "title3", "title4"}),
    caption=_acs_caption,
    title=_acs_title,
    journal=_acs_journal,
)


def _flavour(document: Element, meta: dict[str, list[str]]) -> _Flavour:
    """RSC or ACS by their publisher tag or page structure, else the generic reader."""
    publisher = " ".join(meta.get("dc.publisher", []) + meta.get("citation_publisher", []))
    if "Royal Society of Chemistry" in publisher or (RSC.roots(document) and _rsc_title(document)):
        return RSC
    if "American Chemical Society" in publisher or _acs_roots(document):
        return ACS
    return GENERIC
