"""Text-hash paper keys: numbers are words, keys stored before still find their paper; twins."""

from __future__ import annotations

import hashlib
import re
from collections import Counter

from literature.sentences import split_sentences
from literature.text import NEAR_TWIN_SHARE, Paper, Section, near_twin, word_counts


def paper(*texts: str, doi: str | None = None) -> Paper:
    """A plain-text paper of one section per text."""
    sections = tuple(Section(f"s{i}", t, split_sentences(t)) for i, t in enumerate(texts))
    return Paper("p.txt", "text", doi=doi, sections=sections)


def test_a_number_is_one_word_so_different_values_are_different_papers() -> None:
    low, high = paper("The Tc of CeCoIn5 is 2.3 K."), paper("The Tc of CeCoIn5 is 3.2 K.")
    assert low.key != high.key
    # the key stored before split 2.3 into 2 and 3: the same words, one key
    assert low.split_number_key == high.split_number_key
    words = sorted(re.findall(r"\w+", "The Tc of CeCoIn5 is 2.3 K."))
    assert low.split_number_key == f"sha256:{hashlib.sha256(' '.join(words).encode()).hexdigest()}"


def test_the_key_still_ignores_sections_spacing_and_punctuation() -> None:
    one = paper("La1.85Sr0.15CuO4 has Tc = 38 K.", "Fig. 2 shows it.")
    other = paper("Fig. 2 shows it!", "La1.85Sr0.15CuO4  has Tc: 38 K")
    assert one.key == other.key
    assert one.key != paper("La1.15Sr0.85CuO4 has Tc = 38 K.", "Fig. 2 shows it.").key


def test_earlier_keys_hold_each_older_scheme_once() -> None:
    decimal = paper("Tc is 2.3 K.")
    assert decimal.earlier_keys == (decimal.split_number_key, decimal.legacy_key)
    whole = paper("Tc is 39 K.")  # no decimals: the old word key is the key itself
    assert whole.split_number_key == whole.key and whole.earlier_keys == (whole.legacy_key,)
    with_doi = paper("Tc is 2.3 K.", doi="10.1/x")
    assert with_doi.split_number_key is None
    assert with_doi.earlier_keys == (decimal.key, decimal.split_number_key, decimal.legacy_key)


ARTICLE = (
    "Superconductivity in MgB2. We report that MgB2 becomes superconducting at 39 K, found by "
    "resistivity and magnetization measurements on dense polycrystalline samples sintered at "
    "950 C under argon; the transition is sharp and the upper critical field reaches 14 T."
)


def words(text: str) -> Counter[str]:
    return word_counts([text])


def test_a_text_with_a_word_left_out_and_the_same_numbers_is_a_near_twin() -> None:
    dropped = ARTICLE.replace(" and magnetization", "")  # a converter lost an annotated word
    assert near_twin(words(ARTICLE), words(dropped)) and near_twin(words(dropped), words(ARTICLE))
    keywords = f"{ARTICLE} Keywords: superconductivity, borides"  # a line one file lacks
    assert near_twin(words(keywords), words(ARTICLE))
    assert near_twin(words(ARTICLE), words(ARTICLE))


def test_an_edit_is_no_near_twin_whatever_few_words_it_changes() -> None:
    edits = (
        ARTICLE.replace("39 K", "39.5 K"),  # a value changed
        ARTICLE.replace("MgB2 becomes", "MgB3 becomes"),  # a formula
        f"{ARTICLE} At 2 GPa it is 37 K.",  # numbers added (a table, a sentence)
        ARTICLE.replace(", found by", ". Tc = 38 K, found by"),
        ARTICLE.replace("sharp", "broad"),  # no number, but a word that is not left out
    )
    for edited in edits:
        assert not near_twin(words(ARTICLE), words(edited)), edited
        assert not near_twin(words(edited), words(ARTICLE)), edited


def test_a_near_twin_leaves_out_no_more_than_its_share_of_words() -> None:
    assert NEAR_TWIN_SHARE == 0.9
    full = words(ARTICLE)
    short = full.copy()
    assert full.total() == 40
    short.subtract({"the": 1, "and": 1, "on": 1, "under": 1})  # 36 of the 40 words: 90%
    assert near_twin(full, short)
    short.subtract({"at": 1})  # 35 of 40: 87.5%
    assert not near_twin(full, short)
