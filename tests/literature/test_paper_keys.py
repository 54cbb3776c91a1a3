"""Text-hash paper keys: numbers are words, and keys stored before still find their paper."""

from __future__ import annotations

import hashlib
import re

from literature.sentences import split_sentences
from literature.text import Paper, Section


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
