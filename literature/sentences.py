"""Offsets-preserving sentence splitting tuned for scientific and chemistry text.

A sentence boundary is a run of whitespace that either contains a paragraph break (a blank
line) or follows ``.``, ``!`` or ``?`` (plus closing quotes or brackets) and precedes an
upper-case letter, a digit or an opening quote, unless the word before the full stop is an
abbreviation (``Fig.``, ``e.g.``, ``et al.``, ``ca.``, ``Phys. Rev.``) or an initial
(``J. Smith``), or is an enumerator opening the sentence (``2. Heat the powder.``).
Journal titles as reference lists abbreviate them (``J. Am. Chem. Soc.``, ``Angew. Chem.
Int. Ed.``) keep their full stops: title words that are also element symbols, units or
English words (``Am.``, ``Mol.``, ``Trans.``) only beside another abbreviated title word or
before a volume number, so ``The sample contained Am. The next`` still splits. A capital
letter after a number is a unit (``at 300 K. The``), unless the number is a page
(``pages 100-110 A. Smith``, ``pp. 5 K. Lee``) or a reference marker (``[1] J. Smith``).
A citation glued after the full stop (``semiconductors.12,13 The``) still ends the sentence.
Full stops inside numbers (``3.5 K``) and formulas (``CuSO4.5H2O``) are never followed by
whitespace: they never split.

Because boundaries are whitespace runs, the sentences partition the non-whitespace
characters of the text: every one of them lies in exactly one sentence.

Example:
    >>> [s.start for s in split_sentences("Tc is 39 K. See Fig. 2 for details.")]
    [0, 12]
"""

from __future__ import annotations

import re

from literature.text import Sentence

__all__ = ["split_sentences"]

# Compared case-insensitively, without the final full stop; element symbols in their own
# spelling ("Ca", "Al") are excluded below so "doped with Ca. The" still splits.
_GENERAL_ABBREVIATIONS = frozenset(
    {
        "e.g",
        "i.e",
        "al",
        "fig",
        "figs",
        "ref",
        "refs",
        "eq",
        "eqs",
        "eqn",
        "eqns",
        "vs",
        "approx",
        "ca",
        "cf",
        "no",
        "nos",
        "tab",
        "tabs",
        "sect",
        "sects",
        "sec",
        "secs",
        "etc",
        "viz",
        "resp",
        "dr",
        "prof",
        "mr",
        "mrs",
        "ms",
        "st",
        "vol",
        "vols",
        "pp",
        "p",
        "ch",
        "chap",
        "suppl",
        "inc",
        "ltd",
        "corp",
        "ed",
        "eds",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "calcd",
        "expt",
        "temp",
        "conc",
        "wt",
    }
)

# Words that journal titles abbreviate (ISO 4, as reference lists write them: "J. Am.
# Chem. Soc.", "Angew. Chem. Int. Ed.", "Nat. Mater."). These never end a sentence
# otherwise, so their full stop is always kept.
_JOURNAL_WORDS = """
    acad acc adv allg angew annu anorg appl ber bioelectron biol biosens bull calorim catal
    ceram chem commun compd comput condens corros cosmochim cryst crystallogr electroanal
    electrochem electrochim energ environ equilib eur europhys funct geochim geophys inorg
    instrum int jpn kristallogr lett lumin magn mater mech metall microsc miner nanotechnol
    nat natl nucl opt philos phys polym proc prog radiat rep rev scr sci sens soc spectrosc
    struct supercond surf technol theor therm thermochim vac
"""
JOURNAL_ABBREVIATIONS = frozenset(_JOURNAL_WORDS.split())
# Title words that are also element symbols, units or English words ("Am.", "Mol.",
# "Trans.", "Sol.", "Met."): their full stop is kept only inside a journal title, that is,
# beside another abbreviated title word or before a volume ("Dalton Trans. 12,").
# "The sample contained Am. The next ..." still ends a sentence.
_AMBIGUOUS_WORDS = """
    am anal des electron eng front ind inf ion mag mat math med met mineral mod model mol
    org planet res sol trans
"""
AMBIGUOUS_JOURNAL_WORDS = frozenset(_AMBIGUOUS_WORDS.split())
ABBREVIATIONS = _GENERAL_ABBREVIATIONS | JOURNAL_ABBREVIATIONS
# Abbreviated title words that mark a journal title beside an ambiguous one; "J." and "Z."
# are the initials of "Journal" and "Zeitschrift".
_TITLE_WORDS = JOURNAL_ABBREVIATIONS | AMBIGUOUS_JOURNAL_WORDS | {"j", "z"}
_VOLUME = re.compile(r"^\(?\d{1,4}[,:]$")

# Chemical element symbols: "Ca." or "Al." ending a sentence is a formula, not "ca."/"et al.".
_SYMBOLS = """
H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br
Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er
Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md
Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og
"""
ELEMENTS = frozenset(_SYMBOLS.split())
# Abbreviations kept even when spelled like an element ("No. 5" far outnumbers nobelium).
_ELEMENT_LIKE_ABBREVIATIONS = frozenset({"No"})

_TOKEN = re.compile(r"\S+")
_CLOSERS = "\"')]}’”»"
_OPENERS = "\"'“‘«([{"
_END = re.compile(rf"[.!?][{re.escape(_CLOSERS)}]*$")
_INITIALS = re.compile(r"^[A-Z](?:\.-?[A-Z])*$")
_ENUMERATOR = re.compile(r"^\(?(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})[.)]$")
# A number as papers write it before a unit: "300", "~39", "±14", "T=10", "30–40", "39±1",
# "0.65(3)", "1.8×10^1". A unit initial ("K.") after one ends the sentence.
_DECIMAL = r"[-+−]?\d+(?:[.,]\d+)*(?:\^[-+−]?\d+)?"
_NUMBER = re.compile(
    rf"^[(\[]?(?:[^\s=]*=)?[~∼≈≃<>≤≥±]?{_DECIMAL}(?:\(\d+\))?(?:[-–−±×]{_DECIMAL})?[)\]]?$"
)
# Numbers that carry no unit, so that a capital letter after them is an initial: pages
# ("pages 100-110 A. Smith", "pp. 5 K. Lee") and reference markers ("[1] J. Smith").
_PAGES = re.compile(r"^(?:pages?|pp?\.?)$", re.IGNORECASE)
_REFERENCE_MARKER = re.compile(r"^\[\d{1,3}\]$")
# A citation glued after the full stop, as HTML renders superscripts: "semiconductors.12,13"
# or "in 2015.(1)". Only after a lower-case word or before a parenthesis, never "2.5 K".
_CITATION = r"\d{1,3}(?:[–,-]\d{1,3})*"
_CITED_END = re.compile(
    rf"(?:[a-z]{{3,}}[.!?](?:\({_CITATION}\)|{_CITATION})|\d[.!?]\({_CITATION}\))$"
)


def split_sentences(text: str) -> tuple[Sentence, ...]:
    """Split ``text`` into sentences, as character offsets.

    Args:
        text: Any text; paragraphs separated by blank lines never share a sentence.

    Returns:
        Sentences in order, each ``text[start:end]`` without surrounding whitespace; together
        they cover every non-whitespace character of ``text`` exactly once.
    """
    tokens = list(_TOKEN.finditer(text))
    sentences: list[Sentence] = []
    start = 0
    for i, token in enumerate(tokens):
        if i == 0:
            start = token.start()
        if i + 1 == len(tokens):
            sentences.append(Sentence(start, token.end()))
            break
        following = tokens[i + 1]
        before = tuple(t.group() for t in tokens[max(0, i - 2) : i])
        after = tuple(t.group() for t in tokens[i + 1 : i + 3])
        gap = text[token.end() : following.start()]
        opens = token.start() == start
        if _is_boundary(gap, token.group(), before, after, opens):
            sentences.append(Sentence(start, token.end()))
            start = following.start()
    return tuple(sentences)


def _is_boundary(
    gap: str, token: str, before: tuple[str, ...], after: tuple[str, ...], opens: bool
) -> bool:
    """Whether the whitespace ``gap`` after ``token`` ends a sentence.

    ``before`` holds the (up to two) tokens before ``token``, nearest last; ``after`` the
    (one or two) tokens after it, nearest first. ``opens`` says ``token`` is the first of
    its sentence: an enumerator ("10.", "b)") there numbers the sentence rather than ending
    one.
    """
    if gap.count("\n") >= 2:
        return True
    if opens and _ENUMERATOR.match(token):
        return False
    following = after[0][0]
    if not (following.isupper() or following.isdigit() or following in _OPENERS):
        return False
    if not _END.search(token):
        return _CITED_END.search(token) is not None and following.isupper()
    word = token.rstrip(_CLOSERS)
    return word[-1] in "!?" or not _keeps_full_stop(word[:-1], before, after)


def _keeps_full_stop(word: str, before: tuple[str, ...], after: tuple[str, ...]) -> bool:
    """Whether the full stop after ``word`` belongs to it (an abbreviation or an initial).

    ``before`` holds the (up to two) tokens before ``word``, nearest last; ``after`` the
    tokens after it, nearest first.
    """
    word = word.lstrip(_OPENERS)
    if not word or word.endswith("."):
        # "..." and "word.." are ellipses or stray punctuation: they end the sentence.
        return False
    if word.lower() in ABBREVIATIONS and (
        word not in ELEMENTS or word in _ELEMENT_LIKE_ABBREVIATIONS
    ):
        return True
    if _title_word(word) in JOURNAL_ABBREVIATIONS or _in_journal_title(word, before, after):
        return True  # "J. Non-Cryst. Solids", "J. Am. Chem. Soc."
    if _INITIALS.match(word):
        # "at 300 K." ends a sentence with a unit; "J. Smith" has an initial.
        return not (len(word) == 1 and _has_unit(before))
    return False


def _in_journal_title(word: str, before: tuple[str, ...], after: tuple[str, ...]) -> bool:
    """Whether ``word`` is an ambiguous title word abbreviated in a journal title.

    It is ("J. Am. Chem. Soc.", "Dalton Trans. 12,") when it is capitalised and beside
    another abbreviated title word, or before a volume number.
    """
    if not word[0].isupper() or _title_word(word) not in AMBIGUOUS_JOURNAL_WORDS:
        return False
    if _VOLUME.match(after[0]):
        return True
    return any(_is_title_abbreviation(token) for token in (*before, *after))


def _is_title_abbreviation(token: str) -> bool:
    """Whether ``token`` is an abbreviated journal title word ("Chem.", "J.", "(Am.")."""
    word = token.lstrip(_OPENERS)
    return (
        len(word) > 1
        and word.endswith(".")
        and word[0].isupper()
        and _title_word(word[:-1]) in _TITLE_WORDS
    )


def _title_word(word: str) -> str:
    """``word`` as the title word lists hold it: lower case, the part after any hyphen."""
    return word.rpartition("-")[2].lower()


def _has_unit(before: tuple[str, ...]) -> bool:
    """Whether the last of ``before`` is a value that a unit may follow ("300", "~39").

    Page numbers ("pages 100-110", "p. 5") and reference markers ("[1]") have no unit.
    """
    number = before[-1].rstrip(",;:") if before else ""
    if not _NUMBER.match(number) or _REFERENCE_MARKER.match(number):
        return False
    return len(before) < 2 or _PAGES.match(before[-2]) is None
