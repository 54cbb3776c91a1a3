"""Plain domain types for parsed papers and annotated text.

Every parser returns a :class:`Paper`: metadata plus sections, each section a plain text
with its sentences as character spans into that text. Everything downstream (NER,
linking, storage) addresses text by ``(section index, sentence index, start, end)``, so
a record can always be traced back to the exact characters it was read from.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Span:
    """A labelled character span ``text[start:end]``.

    Attributes:
        start: First character (inclusive).
        end: Last character (exclusive).
        label: Entity type, e.g. ``"material"`` or ``"tcValue"``.
        id: Identifier within its document (SuperMat's ``xml:id``), if any.
        corresp: Identifier of the span this one refers to (SuperMat's ``corresp``).
        confidence: How sure the tagger that found it was, in ``[0, 1]`` (1 for gold).
    """

    start: int
    end: int
    label: str
    id: str | None = None
    corresp: str | None = None
    confidence: float = 1.0


@dataclass(frozen=True)
class Sentence:
    """A sentence of a section, as offsets into the section's text."""

    start: int
    end: int


@dataclass(frozen=True)
class Section:
    r"""A titled block of a paper (title, abstract, a body section, a caption).

    Attributes:
        name: Heading or role, e.g. ``"title"``, ``"abstract"``, ``"2. Experimental"``.
        text: Plain text of the section; paragraphs are separated by ``"\\n\\n"``.
        sentences: Sentence spans into ``text``, in order, non-overlapping.
    """

    name: str
    text: str
    sentences: tuple[Sentence, ...] = ()

    def sentence_text(self, index: int) -> str:
        """Text of sentence ``index``."""
        sentence = self.sentences[index]
        return self.text[sentence.start : sentence.end]


#: A word of a text-hash key: a letter and digit run, with the decimals of a number ending
#: it ("2.3", "La1.85"), so that different values make different keys.
_WORD = re.compile(r"\w*\d(?:\.\d+)+|\w+")
#: A word of the text-hash keys stored before numbers were one word ("2.3" was 2 and 3).
_SPLIT_WORD = re.compile(r"\w+")
#: A word of a language: a run of letters, in any script.
_LETTERS = re.compile(r"[^\W\d_]+")
#: English function words that other languages written in Latin letters do not share
#: ("in", "a" are German, French and Spanish too). They are 16% or more of the words of
#: each of the 458 English papers of the corpora here, and none of a German, French,
#: Spanish or Russian abstract's.
_ENGLISH = "the of and to is are was were for with by that on as at from this be which or it"
_ENGLISH_WORDS = frozenset(f"{_ENGLISH} we its has have been not these than".split())
#: Fewer words than this say nothing of a text's language.
LANGUAGE_MIN_WORDS = 50
#: A paper whose share of English function words is below this is not in English.
ENGLISH_BELOW = 0.05
#: A near twin (:func:`near_twin`) has at least this share of the other text's words. Of the
#: SuperMat articles whose TEI and text files differ in words but not in numbers, the file
#: with fewer words has 98.2% or more of the other's (a keywords line or a word left out); of
#: two different articles of that corpus, the closest share 57% of their words.
NEAR_TWIN_SHARE = 0.9


@dataclass(frozen=True)
class Paper:
    """A parsed paper.

    Attributes:
        source: Where it was read from (a path or a URL); the absolute, resolved path
            of a file read with :func:`literature.parsing.read_paper`, as it is stored.
        format: Parser that read it: ``"text"``, ``"html"``, ``"jats"``, ``"tei"``,
            ``"elsevier"``, ``"rsc"``, ``"acs"``, ``"springer"``, ``"uspto"``, ``"pdf"``.
        title: Title, ``""`` when the file has none.
        doi: DOI in lower case without a resolver prefix, or ``None``.
        authors: Author names as printed.
        journal: Journal or publisher name, if known.
        year: Publication year, if known.
        sections: Sections in reading order.
    """

    source: str
    format: str
    title: str = ""
    doi: str | None = None
    authors: tuple[str, ...] = ()
    journal: str | None = None
    year: int | None = None
    sections: tuple[Section, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        """Identity used to deduplicate papers: ``doi:...`` or a hash of the text.

        The same article read twice, from any path or in any format, gets the same key.
        Without a DOI the hash is of the text's words, sorted: section boundaries, caption
        placement, whitespace and punctuation differ between a TEI file and its plain-text
        twin, the words do not. A word is a letter and digit run, with the decimals of a
        number ending it: ``2.3`` is one word, so "Tc = 2.3 K" and "Tc = 3.2 K" differ.
        Keys stored before (see :attr:`earlier_keys`) still count as the paper.
        """
        if self.doi:
            return f"doi:{self.doi}"
        return _words_key(self, _WORD)

    @property
    def split_number_key(self) -> str | None:
        """The text-hash key stored before numbers were one word: ``2.3`` was 2 and 3.

        ``None`` for a paper with a DOI, whose key never changed.
        """
        return None if self.doi else _words_key(self, _SPLIT_WORD)

    @property
    def legacy_key(self) -> str | None:
        """The text-hash key stored before it ignored format: one hash per section.

        ``None`` for a paper with a DOI, whose key never changed.
        """
        if self.doi:
            return None
        digest = hashlib.sha256()
        for section in self.sections:
            digest.update(" ".join(section.text.split()).encode())
            digest.update(b"\x00")
        return f"sha256:{digest.hexdigest()}"

    @property
    def earlier_keys(self) -> tuple[str, ...]:
        """Other keys this paper may be stored under, by earlier versions of matloop.

        Its :attr:`split_number_key` and :attr:`legacy_key`; and for a paper with a DOI,
        the text-hash keys it had without one: a plain-text paper printing its DOI was
        keyed by its text until its DOI was read. Newest scheme first.
        """
        textual = replace(self, doi=None) if self.doi else self
        keys = (textual.key, textual.split_number_key, textual.legacy_key)
        return tuple(dict.fromkeys(k for k in keys if k and k != self.key))

    @property
    def english_share(self) -> float | None:
        """Share of the paper's words that are English function words ("the", "of", ...).

        The tagger reads English: a paper whose share is below :data:`ENGLISH_BELOW` is
        in another language, and few or no records come out of it. ``None`` for fewer
        than :data:`LANGUAGE_MIN_WORDS` words.
        """
        words = _LETTERS.findall(" ".join(section.text for section in self.sections))
        if len(words) < LANGUAGE_MIN_WORDS:
            return None
        return sum(word.lower() in _ENGLISH_WORDS for word in words) / len(words)

    @property
    def in_english(self) -> bool:
        """Whether the paper reads as English (short ones do: too few words to tell)."""
        share = self.english_share
        return share is None or share >= ENGLISH_BELOW

    def word_counts(self) -> Counter[str]:
        """How often each word of its text-hash :attr:`key` occurs in the paper."""
        return word_counts(section.text for section in self.sections)

    def sentences(self) -> list[tuple[int, int, str]]:
        """Every sentence as ``(section index, sentence index, text)``."""
        return [
            (i, j, section.sentence_text(j))
            for i, section in enumerate(self.sections)
            for j in range(len(section.sentences))
        ]


def _words_key(paper: Paper, word: re.Pattern[str]) -> str:
    """``sha256:`` and the hash of ``paper``'s words (``word`` matches), sorted."""
    text = " ".join(section.text for section in paper.sections)
    words = sorted(word.findall(text))
    return f"sha256:{hashlib.sha256(' '.join(words).encode()).hexdigest()}"


def word_counts(texts: Iterable[str]) -> Counter[str]:
    """How often each word of ``texts`` occurs, words as a text-hash key reads them."""
    return Counter(word for text in texts for word in _WORD.findall(text))


def near_twin(words: Counter[str], other: Counter[str]) -> bool:
    """Whether two papers' words (:func:`word_counts`) are one paper's, read from two files.

    Two converters of one article differ: one leaves out a keywords line or a word that the
    other keeps. So one text's words are the other's with some left out, no more than
    :data:`NEAR_TWIN_SHARE` allows, and its numbers (words with a digit) are the same. A word
    that changed, or a number that came or went, is an edit: another paper ("Tc = 2.3 K" and
    "Tc = 3.2 K"), whose records may differ. The titles are not compared here.
    """
    if _numbers(words) != _numbers(other):
        return False
    fewer, more = sorted((words, other), key=Counter.total)
    if fewer - more:  # a word of its own: changed, not left out
        return False
    return fewer.total() >= NEAR_TWIN_SHARE * more.total()


def numbers_digest(words: Counter[str]) -> str:
    """A digest of the numbers among ``words`` (:func:`word_counts`), counts included.

    Two near twins (:func:`near_twin`) share it: it finds a twin's candidates at once.
    """
    numbers = sorted(_numbers(words).items())
    return hashlib.sha256(repr(numbers).encode()).hexdigest()


def _numbers(words: Counter[str]) -> Counter[str]:
    """The words with a digit: values, formulas, labels ("2.3", "CeCoIn5", the 2 of "Fig. 2")."""
    return Counter({word: n for word, n in words.items() if any(c.isdigit() for c in word)})


@dataclass(frozen=True)
class AnnotatedText:
    """A text with gold entity spans: one training or evaluation example.

    Attributes:
        document: Identifier of the source document (for document-level splits).
        text: The text.
        spans: Gold spans into ``text``, non-overlapping, sorted by start.
    """

    document: str
    text: str
    spans: tuple[Span, ...]
