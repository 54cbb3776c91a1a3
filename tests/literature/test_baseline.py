"""The dictionary and pattern baseline tagger (literature/baseline.py)."""

from __future__ import annotations

import pytest

from literature.baseline import DictionaryTagger


def values(text: str) -> list[tuple[str, str]]:
    """(label, text) of the pattern tagger's value and pressure spans in ``text``."""
    spans = DictionaryTagger(("tcValue", "pressure")).fit([]).predict([text])[0]
    return [(s.label, text[s.start : s.end]) for s in spans]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a conductivity of 2 W m -1 K -1 at 300 K", [("tcValue", "300 K")]),
        ("D = 5 cm 2 s -1 K", []),
        ("2 W m-1 K-1", []),
    ],
)
def test_a_power_split_off_a_unit_is_no_value(text: str, expected: list[tuple[str, str]]) -> None:
    # "m -1 K -1" written by PDF extraction: "1 K" is the power of m and then K, not 1 K
    assert values(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tc of 39 K", [("tcValue", "of 39 K")]),
        ("a 20-30 K range", [("tcValue", "20-30 K")]),
        ("45K at 2 GPa", [("tcValue", "45K"), ("pressure", "2 GPa")]),
        ("T=10 K", [("tcValue", "10 K")]),
    ],
)
def test_values_are_still_tagged(text: str, expected: list[tuple[str, str]]) -> None:
    assert values(text) == expected
