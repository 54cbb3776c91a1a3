"""JATS XML papers (PubMed Central, publishers), including Springer Nature's API output.

Springer's API wraps a JATS ``<article>`` in ``<response><records>``; it reads as format
``"springer"``, any other JATS article as ``"jats"``.
"""

from __future__ import annotations

from literature.parsing._common import (
    ABSTRACT,
    BODY,
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
from literature.parsing.errors import ParseError
from literature.text import Paper

__all__ = ["parse_jats"]

_FLOATS = frozenset({"fig", "table-wrap", "fig-group", "table-wrap-group", "chem-struct-wrap"})
# Inside a paragraph: floats become captions; images, footnotes and LaTeX twins are dropped.
_NOT_TEXT = _FLOATS | {"graphic", "inline-graphic", "media", "fn", "object-id"}
_CONTAINERS = frozenset({"disp-quote", "boxed-text", "statement", "app", "app-group"})
_SKIPPED = frozenset({"ref-list", "fn-group", "notes", "glossary", "supplementary-material"})
_SPRINGER = ("springer", "biomed central", "nature")


def parse_jats(data: bytes, source: str) -> Paper:
    """A JATS article, alone or inside a wrapper (Springer API, PMC article set)."""
    root = parse_xml(data, source)
    articles = [root] if local(root) == "article" else list(descendants(root, "article"))
    if not articles:
        raise ParseError(source, f"JATS XML without an <article> (root <{local(root)}>)")
    if len(articles) > 1:  # one file is one paper: the others would vanish unreported
        raise ParseError(source, f"{len(articles)} articles in one file; give one file each")
    [article] = articles
    meta = first(article, "front", "article-meta")
    builder = SectionBuilder()
    if meta is not None:
        _front(meta, builder)
    for part in children(article, "body", "back", "floats-group"):
        builder.start("back" if local(part) == "back" else BODY)
        _container(part, builder)
    fmt = "springer" if _is_springer(root) else "jats"
    return build_paper(source, fmt, builder.finish(), _metadata(article, meta))


def _metadata(article: Element, meta: Element | None) -> Metadata:
    if meta is None:
        return Metadata()
    authors = [
        _name(c)
        for c in descendants(meta, "contrib")
        if c.get("contrib-type", "author") == "author"
    ]
    dois = [i.text for i in children(meta, "article-id") if i.get("pub-id-type") == "doi"]
    front = first(article, "front")
    journal = next(iter(descendants(front, "journal-title")), None) if front is not None else None
    years = [flat_text(first(d, "year")) for d in children(meta, "pub-date")]
    return Metadata(
        title=flat_text(first(meta, "title-group", "article-title"), _NOT_TEXT | {"xref"}),
        doi=dois[0] if dois else None,
        authors=tuple(a for a in authors if a),
        journal=flat_text(journal) or None,
        year=next((y for y in map(parse_year, years) if y), None),
    )


def _name(contrib: Element) -> str:
    """``"Given Surname"`` as printed, or a collaboration's name."""
    name = first(contrib, "name")
    if name is not None:
        given, surname = flat_text(first(name, "given-names")), flat_text(first(name, "surname"))
        return f"{given} {surname}".strip()
    other = first(contrib, "string-name")
    return flat_text(other if other is not None else first(contrib, "collab"))


def _front(meta: Element, builder: SectionBuilder) -> None:
    """Abstracts and keywords."""
    for abstract in children(meta, "abstract"):
        kind = abstract.get("abstract-type")
        title = flat_text(first(abstract, "title"))
        builder.start(ABSTRACT if kind in (None, "summary", "abstract") else title or kind)
        for paragraph in descendants(abstract, "p"):
            _paragraph(paragraph, builder)
    for group in children(meta, "kwd-group"):
        builder.start("keywords")
        builder.add(", ".join(flat_text(k) for k in descendants(group, "kwd")))


def _container(element: Element, builder: SectionBuilder, name: str = BODY) -> None:
    """Sections, paragraphs, lists and floats of a body, back matter or section."""
    for child in children(element):
        tag = local(child)
        if tag == "sec" or tag == "ack":
            _section(child, builder, name)
        elif tag == "p":
            _paragraph(child, builder)
        elif tag == "list":
            for item in descendants(child, "list-item"):
                builder.add(flat_text(item, _skip))
        elif tag in _FLOATS:
            _floats(child, builder)
        elif tag in _CONTAINERS:
            _container(child, builder, name)


def _section(sec: Element, builder: SectionBuilder, parent: str) -> None:
    label = flat_text(first(sec, "label"))
    title = flat_text(first(sec, "title"), _NOT_TEXT) or (
        "Acknowledgements" if local(sec) == "ack" else ""
    )
    if is_references(title) or sec.get("sec-type") in ("references", "bibliography"):
        return
    name = f"{label} {title}".strip() or parent
    builder.start(name)
    _container(sec, builder, name)
    builder.start(parent)  # text after a subsection belongs to the parent again


def _paragraph(paragraph: Element, builder: SectionBuilder) -> None:
    """Add a paragraph's text; figures and tables inside it become captions."""
    builder.add(flat_text(paragraph, _skip))
    for child in paragraph.iter():
        if local(child) in _FLOATS:
            _floats(child, builder)


def _floats(element: Element, builder: SectionBuilder) -> None:
    """Captions of a figure, table or group of them (images and table data dropped)."""
    for item in element.iter():
        if local(item) in ("fig", "table-wrap", "chem-struct-wrap"):
            label = flat_text(first(item, "label"))
            caption = flat_text(first(item, "caption"), _skip)
            if caption:
                builder.caption(f"{label} {caption}".strip())


def _skip(element: Element) -> bool:
    """Drop floats, images, footnotes and reference lists, and LaTeX beside MathML."""
    tag = local(element)
    if tag in _NOT_TEXT or tag in _SKIPPED:
        return True
    parent = element.getparent()
    return tag == "tex-math" and parent is not None and bool(children(parent, "math"))


def _is_springer(root: Element) -> bool:
    publisher = " ".join(
        flat_text(e) for name in ("apiMessage", "publisher-name") for e in descendants(root, name)
    ).lower()
    return any(name in publisher for name in _SPRINGER)
