"""Telling formats apart by content: PDF magic, XML root element, HTML, plain text, junk."""

from __future__ import annotations

import codecs
import re
from pathlib import PurePath

from literature.parsing.errors import ParseError

__all__ = ["decode", "sniff"]

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_HEAD = 65536
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_ROOT = re.compile(r"<([A-Za-z_][\w.:-]*)")
_CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_:.-]+)""", re.IGNORECASE)
_HTML_TAGS = frozenset(
    {"html", "head", "body", "div", "p", "h1", "h2", "h3", "section", "article", "meta", "title"}
)
_HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml", ".shtml"})

# Root element (local name) -> format family.
_XML_ROOTS = {
    "tei": "tei",
    "teicorpus": "tei",
    "article": "jats",
    "response": "jats",  # Springer Nature API: <response><records><article>
    "pmc-articleset": "jats",
    "full-text-retrieval-response": "elsevier",
    "converted-article": "elsevier",
    "simple-article": "elsevier",
    "us-patent-grant": "uspto",
    "us-patent-application": "uspto",
}
_BINARY = "binary content of an unknown format (not text, XML, HTML or PDF)"
_ELSEVIER_NS = "http://www.elsevier.com/xml/"


def sniff(data: bytes, source: str) -> str:
    """Format family of ``data``, from its content; the suffix of ``source`` breaks ties.

    Returns:
        ``pdf``, ``html``, ``tei``, ``jats``, ``elsevier``, ``uspto`` or ``text``.

    Raises:
        ParseError: Empty or binary content, or XML of an unknown kind.
    """
    if not data.strip(b" \t\r\n\f\v\x00"):
        raise ParseError(source, "empty file")
    if b"%PDF-" in data[:1024]:
        return "pdf"
    head = decode(data[:_HEAD], source, partial=True).lstrip("\ufeff \t\r\n")
    if not head.startswith("<"):
        return "text"
    root = _root_name(head)
    if root is None:
        return "text"
    name = root.rsplit(":", 1)[-1].lower()
    if name == "html" or (name in _HTML_TAGS and name != "article"):
        return "html"
    if name == "article" and _ELSEVIER_NS in head[:4096]:
        return "elsevier"
    if name in _XML_ROOTS:
        return _XML_ROOTS[name]
    suffix = PurePath(source).suffix.lower()
    if suffix in _HTML_SUFFIXES:
        return "html"
    if suffix in (".txt", ".text"):
        return "text"  # prose that happens to start with "<"
    raise ParseError(source, f"unknown format (XML root element <{root}>)")


def _root_name(head: str) -> str | None:
    """Name of the first element, past the XML declaration, doctype and comments."""
    match = _ROOT.search(_COMMENT.sub("", head))
    return match.group(1) if match else None


def decode(data: bytes, source: str, *, partial: bool = False) -> str:
    """Text of ``data``: BOM, UTF-8, a declared charset, then Windows-1252.

    Args:
        data: Raw bytes.
        source: File name for messages.
        partial: ``data`` is a prefix that may end mid-character.

    Raises:
        ParseError: The bytes are binary, not text.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" not in data:
        declared = _declared_charset(data)
        for encoding in ("utf-8", *([declared] if declared else []), "cp1252"):
            try:
                text = _decode(data, encoding, partial)
            except (UnicodeDecodeError, LookupError):
                continue
            if _looks_binary(text):
                break
            return text
    raise ParseError(source, _BINARY)


def _decode(data: bytes, encoding: str, partial: bool) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        # A prefix may cut the last character in two; anything earlier is a real error.
        if partial and error.start >= len(data) - 3:
            return data[: error.start].decode(encoding)
        raise


def _declared_charset(data: bytes) -> str | None:
    match = _CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


def _looks_binary(text: str) -> bool:
    """More than 2% control characters (other than whitespace) is not text."""
    sample = text[:_HEAD]
    controls = sum(1 for c in sample if c < " " and c not in "\t\n\r\f\v")
    return controls > 0.02 * max(len(sample), 1)
