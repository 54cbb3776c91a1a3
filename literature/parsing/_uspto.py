"""USPTO patent XML (grants and applications, ST.36 ``us-patent-grant`` v4.x).

Sections: the abstract, the description split at its headings (and at the
``<?BRFSUM?>``/``<?DETDESC?>`` markers that open its parts), and the claims. Tables,
chemical structure images and formulas' images are dropped.
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
    local,
    parse_xml,
    parse_year,
)
from literature.text import Paper

__all__ = ["parse_uspto"]

_NOT_TEXT = frozenset({"tables", "table", "img", "figure", "chemistry", "maths"})
_SPACES = frozenset({"br"})


def parse_uspto(data: bytes, source: str) -> Paper:
    """A US patent: title, inventors and publication year; abstract, description, claims."""
    root = parse_xml(data, source)
    builder = SectionBuilder()
    for abstract in children(root, "abstract"):
        builder.start(ABSTRACT)
        for paragraph in descendants(abstract, "p"):
            builder.add(_text(paragraph))
    description = first(root, "description")
    if description is not None:
        builder.start("description")
        _description(description, builder)
    claims = first(root, "claims")
    if claims is not None:
        builder.start("claims")
        for claim in children(claims, "claim"):
            builder.add(_text(claim))
    return build_paper(source, "uspto", builder.finish(), _metadata(root))


def _metadata(root: Element) -> Metadata:
    biblio = next((c for c in children(root) if local(c).startswith("us-bibliographic")), None)
    if biblio is None:
        return Metadata()
    published = first(biblio, "publication-reference", "document-id", "date")
    return Metadata(
        title=flat_text(first(biblio, "invention-title")),
        authors=_inventors(biblio),
        year=parse_year(flat_text(published)),
    )


def _inventors(biblio: Element) -> tuple[str, ...]:
    """Inventors (v4.2+ ``inventors``, else applicant-inventors, else applicants)."""
    people = descendants(biblio, "inventor")
    if not people:
        applicants = descendants(biblio, "applicant")
        inventors = [a for a in applicants if "inventor" in a.get("app-type", "")]
        people = inventors or applicants
    return tuple(_person(p) for p in people)


def _person(party: Element) -> str:
    book = first(party, "addressbook")
    if book is None:
        return ""
    names = [flat_text(first(book, part)) for part in ("first-name", "last-name")]
    return " ".join(n for n in names if n) or flat_text(first(book, "orgname"))


def _description(description: Element, builder: SectionBuilder) -> None:
    """Paragraphs of the description, a new section at each run of headings."""
    headings: list[str] = []
    for node in description:
        tag = local(node)
        if not tag:
            part = node.get("description") if hasattr(node, "get") else None
            if part and node.get("end") == "lead":
                headings = []
                builder.start(part)
        elif tag == "heading" or node.get("num", "").startswith("heading"):
            headings.append(flat_text(node, _NOT_TEXT))
            builder.start(" ".join(headings))
        else:
            headings = []
            for paragraph in [node] if tag == "p" else descendants(node, "p"):
                builder.add(_text(paragraph))


def _text(element: Element) -> str:
    return flat_text(element, _NOT_TEXT, _SPACES)
