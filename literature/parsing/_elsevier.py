"""Elsevier full-text XML (the Article Retrieval API, ``ce:``/``ja:`` namespaces).

Metadata come from ``coredata`` (Dublin Core and PRISM) with the article head as fallback;
sections from ``ce:sections``; figure and table captions from ``ce:floats``, placed after
the section that first refers to them; the bibliography in the tail is left out.
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

__all__ = ["parse_elsevier"]

_ARTICLES = ("article", "converted-article", "simple-article")
_FLOATS = frozenset({"figure", "table", "e-component", "textbox"})
_NOT_TEXT = _FLOATS | {"display", "float-anchor", "footnote", "inline-figure", "bib-reference"}
_SPACES = frozenset({"hsp", "vsp", "br"})
_PARAGRAPHS = frozenset({"para", "simple-para"})
_HIGHLIGHTS = {"author-highlights": "highlights", "graphical": "graphical abstract"}


def parse_elsevier(data: bytes, source: str) -> Paper:
    """An Elsevier article; an abstract-only response gives title and abstract."""
    root = parse_xml(data, source)
    article = root if local(root) in _ARTICLES else _find_article(root)
    builder = SectionBuilder()
    if article is None:
        builder.start(ABSTRACT)
        builder.add(_description(first(root, "coredata")))
    else:
        _article(article, builder)
    return build_paper(source, "elsevier", builder.finish(), _metadata(root, article))


def _find_article(root: Element) -> Element | None:
    return next((e for e in root.iter() if local(e) in _ARTICLES), None)


def _metadata(root: Element, article: Element | None) -> Metadata:
    core = first(root, "coredata")
    head = first(article, "head") if article is not None else None
    authors = [
        f"{flat_text(first(a, 'given-name'))} {flat_text(first(a, 'surname'))}".strip()
        for a in (descendants(head, "author") if head is not None else [])
    ]
    if not authors and core is not None:
        authors = [flat_text(c) for c in children(core, "creator")]
    return Metadata(
        title=flat_text(first(head, "title"), _NOT_TEXT | {"cross-ref"})
        or flat_text(first(core, "title")),
        doi=flat_text(first(core, "doi")) or _article_doi(article),
        authors=tuple(authors),
        journal=flat_text(first(core, "publicationName"))
        or flat_text(next(iter(descendants(root, "srctitle")), None))
        or None,
        year=parse_year(flat_text(first(core, "coverDate")))
        or parse_year(flat_text(next(iter(descendants(root, "cover-date-year")), None))),
    )


def _article_doi(article: Element | None) -> str | None:
    doi = first(article, "item-info", "doi") if article is not None else None
    return flat_text(doi) or None


def _description(core: Element | None) -> str:
    """The abstract of an abstract-only response, without its "Abstract" label."""
    text = flat_text(first(core, "description"))
    return text.removeprefix("Abstract").strip()


def _article(article: Element, builder: SectionBuilder) -> None:
    captions = _captions(article)
    head = first(article, "head")
    if head is not None:
        _head(head, builder, captions)
    for part in children(article, "body", "back", "tail"):
        for child in children(part):
            _block(child, builder, captions, "body")
    for caption in captions.values():  # floats no paragraph refers to
        builder.caption(caption)


def _captions(article: Element) -> dict[str, str]:
    """Caption text of every figure and table, by id, in document order."""
    found: dict[str, str] = {}
    for item in article.iter():
        if local(item) in ("figure", "table") and first(item, "caption") is not None:
            label = flat_text(first(item, "label"))
            text = flat_text(first(item, "caption"), _NOT_TEXT, _SPACES)
            found[item.get("id") or f"float{len(found)}"] = f"{label} {text}".strip()
    return found


def _head(head: Element, builder: SectionBuilder, captions: dict[str, str]) -> None:
    """Abstracts, highlights and keywords."""
    for abstract in children(head, "abstract"):
        title = flat_text(first(abstract, "section-title"))
        kind = abstract.get("class", "author")
        builder.start(_HIGHLIGHTS.get(kind) or title or ABSTRACT)
        for paragraph in _outermost(abstract, _PARAGRAPHS):
            _paragraph(paragraph, builder, captions)
    for keywords in children(head, "keywords"):
        builder.start("keywords")
        builder.add(", ".join(flat_text(k) for k in children(keywords, "keyword")))


def _block(element: Element, builder: SectionBuilder, captions: dict[str, str], name: str) -> None:
    """A section, paragraph or list of the body, an appendix or acknowledgements."""
    tag = local(element)
    if tag in _PARAGRAPHS or tag == "list":
        _paragraph(element, builder, captions)
    elif tag in ("section", "acknowledgment", "appendices", "sections"):
        title = flat_text(first(element, "section-title"), _NOT_TEXT)
        if tag == "acknowledgment":
            title = title or "Acknowledgements"
        if is_references(title) or tag == "bibliography":
            return
        own = f"{flat_text(first(element, 'label'))} {title}".strip() or name
        builder.start(own)
        for child in children(element):
            _block(child, builder, captions, own)
        builder.start(name)


def _paragraph(paragraph: Element, builder: SectionBuilder, captions: dict[str, str]) -> None:
    """Add a paragraph, its list items as paragraphs of their own (bullets dropped).

    Floats the paragraph anchors are captioned after the current section.
    """
    builder.add(flat_text(paragraph, _NOT_TEXT | {"list"}, _SPACES))
    for item in _outermost(paragraph, {"list-item"}):
        builder.add(flat_text(item, _NOT_TEXT | {"label"}, _SPACES))
    for anchor in paragraph.iter():
        if local(anchor) == "float-anchor" and anchor.get("refid") in captions:
            builder.caption(captions.pop(anchor.get("refid")))


def _outermost(element: Element, names: frozenset[str] | set[str]) -> list[Element]:
    """Descendants named ``names`` that are not inside another one of them."""
    found: list[Element] = []
    for child in children(element):
        if local(child) in names:
            found.append(child)
        else:
            found.extend(_outermost(child, names))
    return found
