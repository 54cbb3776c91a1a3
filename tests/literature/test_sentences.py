"""Sentence splitting: scientific-text rules, and offsets that always cover the text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from literature.sentences import split_sentences


def sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tc is 39 K. See Fig. 2 for details.", ["Tc is 39 K.", "See Fig. 2 for details."]),
        # abbreviations
        (
            "Smith et al. reported it. We agree, e.g. Ref. 5 and Eq. 3 vs. Eqs. 4.",
            ["Smith et al. reported it.", "We agree, e.g. Ref. 5 and Eq. 3 vs. Eqs. 4."],
        ),
        (
            "Salts (i.e. NaCl, KCl, etc. In water) at ca. 5 K and approx. 10 K, No. 7.",
            ["Salts (i.e. NaCl, KCl, etc. In water) at ca. 5 K and approx. 10 K, No. 7."],
        ),
        ("Figs. 1 and Tab. 2 in Sect. 3. Done.", ["Figs. 1 and Tab. 2 in Sect. 3.", "Done."]),
        # initials, but a unit after a number ends a sentence
        ("J. P. Smith and A.-B. Lee wrote. Then.", ["J. P. Smith and A.-B. Lee wrote.", "Then."]),
        ("It was 300 K. The end.", ["It was 300 K.", "The end."]),
        # numbers, formulas and element symbols
        ("Tc = 3.5 K at 2.5 GPa. Next.", ["Tc = 3.5 K at 2.5 GPa.", "Next."]),
        ("CuSO4.5H2O and Ca50Mg20Cu25Zn5. Next.", ["CuSO4.5H2O and Ca50Mg20Cu25Zn5.", "Next."]),
        ("It was doped with Ca. The sample grew.", ["It was doped with Ca.", "The sample grew."]),
        ("Doped with Fe. and then Co. annealed.", ["Doped with Fe. and then Co. annealed."]),
        # punctuation, quotes and digits starting a sentence
        ("Is it? Yes! Really.", ["Is it?", "Yes!", "Really."]),
        (
            'He said "stop." "Go." (Later.) 12 samples.',
            ['He said "stop."', '"Go."', "(Later.)", "12 samples."],
        ),
        ("It rose.12,13 The next one.", ["It rose.12,13", "The next one."]),
        ("a lower case start. and on.", ["a lower case start. and on."]),
        # an enumerator opening a sentence numbers it
        (
            "1. Mix the powders. 2. Heat them. (b) Cool.",
            ["1. Mix the powders.", "2. Heat them.", "(b) Cool."],
        ),
        # paragraph breaks always split; single newlines never do
        ("A title\n\nThe body starts", ["A title", "The body starts"]),
        ("A line\nwrapped here. Next", ["A line\nwrapped here.", "Next"]),
        ("", []),
        ("  \n\n  ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


@pytest.mark.parametrize(
    "value", ["~39", "∼39", "≈39", "T=39", "30–40", "30-40", "39±1", "0.65(3)", "1.8×10^1"]
)
def test_a_unit_after_a_number_as_papers_write_it_ends_the_sentence(value: str) -> None:
    text = f"Tc is {value} K. Next."
    assert sentences(text) == [f"Tc is {value} K.", "Next."]


@pytest.mark.parametrize(
    "text", ["A book by J. K. Rowling sold well.", "Measured by K. Lee and T. Smith at 4 K."]
)
def test_initials_after_words_still_keep_their_full_stop(text: str) -> None:
    assert sentences(text) == [text]


@pytest.mark.parametrize(
    "reference",
    [
        "J. Phys. 12, pages 100-110 A. Smith and B. Jones, Phys. Rev. B 5, 1 (2001).",
        "Appl. Phys. Lett. 7, pp. 100-110 A. Smith, J. Chem. Soc. 3, p. 5 K. Lee.",
        "[1] J. Smith and K. Lee, Phys. Rev. Lett. 90, page 12 T. Tanaka.",
    ],
)
def test_a_reference_is_one_sentence(reference: str) -> None:
    assert sentences(reference) == [reference]


@pytest.mark.parametrize(
    "text",
    [
        "See pages 100-110 A. Smith and B. Jones wrote.",
        "See Pages 100–110, A. Smith wrote.",
        "See pp. 100-110 A. Smith wrote.",
        "See p. 5 K. Lee wrote.",
        "[1] J. Smith and K. Lee wrote.",
    ],
)
def test_an_initial_after_a_page_or_reference_marker_keeps_its_full_stop(text: str) -> None:
    # "100-110 A." is a page range and an initial, not a current in amperes: no split.
    assert sentences(text) == [text]


@pytest.mark.parametrize(
    "journal",
    [
        "Phys. Rev. B",
        "J. Chem. Phys.",
        "Appl. Phys. Lett.",
        "J. Am. Chem. Soc.",  # "Am." is americium's symbol too
        "Angew. Chem. Int. Ed.",
        "Nat. Mater.",
        "Chem. Mater.",
        "J. Phys. Chem. C",
        "Inorg. Chem.",
        "Adv. Funct. Mater.",
        "Sci. Rep.",  # the last word before the volume keeps its full stop
        "J. Alloys Compd.",
        "Acc. Chem. Res.",
        "J. Mol. Struct.",
        "Ind. Eng. Chem. Res.",
        "Z. Anorg. Allg. Chem.",
        "IEEE Trans. Magn.",
        "Dalton Trans.",  # an ambiguous word alone, before the volume
        "Am. Mineral.",
        "J. Non-Cryst. Solids",
        "Sol. Energy Mater. Sol. Cells",
    ],
)
def test_journal_abbreviations_keep_their_full_stop(journal: str) -> None:
    text = f"As in {journal} 12, 1 (2001). Next."
    assert sentences(text) == [f"As in {journal} 12, 1 (2001).", "Next."]


def test_a_reference_with_its_year_first_is_one_sentence() -> None:
    text = "[3] A. Lee, J. Am. Chem. Soc. 2019, 141, 5. Next."
    assert sentences(text) == ["[3] A. Lee, J. Am. Chem. Soc. 2019, 141, 5.", "Next."]


@pytest.mark.parametrize(
    "text",
    [
        "The sample contained Am. The next one did not.",
        "I am. The end.",
        "We added 0.5 mol. The solution turned blue.",
        "The isomer was trans. The other was cis.",
        "The gel formed a sol. The sol was dried.",
        "It became a Mineral. The end.",
    ],
)
def test_a_title_word_that_is_also_a_symbol_unit_or_word_still_ends_a_sentence(
    text: str,
) -> None:
    # only beside another abbreviated title word ("J. Am. Chem.") is "Am." a journal's
    first, second = text.split(". ", 1)
    assert sentences(text) == [f"{first}.", second]


@pytest.mark.parametrize(
    "text",
    ["It was measured at 100-110 K. A second run followed.", "A current of 100-110 A. Then."],
)
def test_a_unit_after_a_range_still_ends_the_sentence(text: str) -> None:
    first, second = text.split(". ", 1)
    assert sentences(text) == [f"{first}.", second]


def test_offsets_exclude_surrounding_whitespace() -> None:
    text = "  First one.  \n Second one.\n\n\tThird  "
    spans = split_sentences(text)
    assert [(s.start, s.end) for s in spans] == [(2, 12), (16, 27), (30, 35)]


_WORDS = st.sampled_from(
    [
        "Fig.",
        "e.g.",
        "et",
        "al.",
        "J.",
        "3.5",
        "K.",
        "Ca.",
        "ca.",
        "The",
        "the",
        "x",
        "?",
        "!",
        '"Go."',
        "(a)",
        "rose.12",
        "Tc",
        "LaFeAsO1−xHx",
        "...",
        "No.",
        "U.S.",
        "'",
        ".",
    ]
)
_GAPS = st.sampled_from([" ", "  ", "\n", "\n\n", "\t", " \n \n", "\u00a0", "\u2009", "\r\n"])


@st.composite
def scientific_text(draw: st.DrawFn) -> str:
    words = draw(st.lists(_WORDS, max_size=30))
    gaps = draw(st.lists(_GAPS, min_size=len(words) + 1, max_size=len(words) + 1))
    return gaps[0] + "".join(w + g for w, g in zip(words, gaps[1:], strict=True))


def _check_partition(text: str) -> None:
    spans = split_sentences(text)
    previous_end = 0
    for span in spans:
        assert previous_end <= span.start < span.end <= len(text)  # ordered, disjoint, in range
        piece = text[span.start : span.end]
        assert piece == piece.strip()  # no surrounding whitespace
        assert text[previous_end : span.start].strip() == ""  # only whitespace between
        previous_end = span.end
    # so every non-whitespace character lies in exactly one sentence
    assert text[previous_end:].strip() == ""
    assert sum(len("".join(text[s.start : s.end].split())) for s in spans) == len(
        "".join(text.split())
    )


@settings(max_examples=300, deadline=None)
@given(scientific_text())
def test_spans_partition_scientific_text(text: str) -> None:
    _check_partition(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_spans_partition_any_text(text: str) -> None:
    _check_partition(text)


@settings(max_examples=100, deadline=None)
@given(scientific_text())
def test_paragraph_breaks_always_split(text: str) -> None:
    for span in split_sentences(text):
        assert "\n\n" not in text[span.start : span.end].replace("\r", "")


def test_no_always_kept_journal_word_is_spelled_like_an_element() -> None:
    # such a word ("Am") goes in AMBIGUOUS_JOURNAL_WORDS, so "contained Am. The" splits
    from literature.sentences import ELEMENTS, JOURNAL_ABBREVIATIONS

    assert not {word.capitalize() for word in JOURNAL_ABBREVIATIONS} & ELEMENTS
