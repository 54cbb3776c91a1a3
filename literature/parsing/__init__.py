"""Parsers that turn papers (text, HTML, publisher XML, TEI, patents, PDF) into ``Paper``s.

Every format goes through :func:`parse_paper` (bytes) or :func:`read_paper` (a path); the
format is recognised from the content. Malformed input raises :class:`ParseError`, whose
message names the file and the problem; :func:`read_papers` reports per file and goes on.
"""

from literature.parsing._api import MAX_SENTENCES, parse_paper, read_paper, read_papers
from literature.parsing.errors import ParseError

__all__ = ["MAX_SENTENCES", "ParseError", "parse_paper", "read_paper", "read_papers"]
