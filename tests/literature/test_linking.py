from __future__ import annotations

import pytest

from literature.linking import RESPECTIVELY, link_conditions, link_values
from literature.records import Mention


def mention(label: str, text: str, sentence: int, start: int, section: int = 0) -> Mention:
    return Mention(label, text, section, sentence, start, start + len(text))


def found(sentence: str, *pieces: tuple[str, str]) -> list[Mention]:
    """Mentions of ``(label, text)`` pieces, each at its place in sentence 0."""
    return [mention(label, text, 0, sentence.index(text)) for label, text in pieces]


def pairs(sentence: str, mentions: list[Mention]) -> list[tuple[str, str, str]]:
    links = link_values(mentions, {(0, 0): sentence})
    return [(x.material.text, x.value.text, x.rule) for x in links]


def test_a_value_takes_the_nearest_material_before_it_in_its_sentence() -> None:
    # "MgB2 and NbSe2 have Tc of 39 K" -> NbSe2
    mentions = [mention("material", "MgB2", 0, 0), mention("material", "NbSe2", 0, 9),
                mention("tcValue", "39 K", 0, 26)]  # fmt: skip
    (link,) = link_values(mentions)
    assert link.material.text == "NbSe2" and link.rule == "same-sentence-before"


def test_else_the_nearest_after_it_else_an_earlier_sentence() -> None:
    after = [mention("tcValue", "39 K", 0, 10), mention("material", "MgB2", 0, 20),
             mention("material", "FeSe", 0, 30)]  # fmt: skip
    assert link_values(after)[0].material.text == "MgB2"
    earlier = [mention("material", "FeSe", 3, 0), mention("material", "MgB2", 4, 0),
               mention("tcValue", "39 K", 5, 7)]  # fmt: skip
    (link,) = link_values(earlier)
    assert link.material.text == "MgB2" and link.rule == "earlier-sentence"


def test_no_link_across_sections_or_too_far_back() -> None:
    mentions = [
        mention("material", "MgB2", 0, 0, section=0),
        mention("tcValue", "39 K", 0, 0, section=1),
        mention("material", "FeSe", 0, 0, section=2),
        mention("tcValue", "8 K", 9, 0, section=2),
    ]
    assert link_values(mentions) == []


def test_links_come_in_reading_order_whatever_the_input_order() -> None:
    mentions = [mention("tcValue", "8 K", 1, 10), mention("material", "FeSe", 1, 0),
                mention("tcValue", "39 K", 0, 10), mention("material", "MgB2", 0, 0)]  # fmt: skip
    assert [(x.material.text, x.value.text) for x in link_values(mentions)] == [
        ("MgB2", "39 K"), ("FeSe", "8 K")]  # fmt: skip


def test_pressure_condition_is_the_nearest_in_the_sentence() -> None:
    value = mention("tcValue", "45 K", 0, 30)
    mentions = [value, mention("pressure", "1 GPa", 0, 0), mention("pressure", "3 GPa", 0, 40),
                mention("pressure", "9 GPa", 1, 31)]  # fmt: skip
    found = link_conditions(value, mentions, "pressure")
    assert found is not None and found.text == "3 GPa"
    assert link_conditions(value, [value], "pressure") is None


@pytest.mark.parametrize(
    "sentence",
    [
        "MgB2 and NbSe2 have Tc of 39 K and 7 K, respectively.",
        "Tc of 39 K and 7 K were found for MgB2 and NbSe2, respectively.",
        "Tc is 39 K in MgB2 and 7 K in NbSe2, respectively.",
        "MgB2 and NbSe2 (Tc = 39 K and 7 K resp.) were grown.",
    ],
)
def test_respectively_links_the_ith_value_to_the_ith_material(sentence: str) -> None:
    mentions = found(sentence, ("material", "MgB2"), ("material", "NbSe2"),
                     ("tcValue", "39 K"), ("tcValue", "7 K"))  # fmt: skip
    assert pairs(sentence, mentions) == [
        ("MgB2", "39 K", "respectively"), ("NbSe2", "7 K", "respectively")]  # fmt: skip
    assert link_values(mentions, {(0, 0): sentence})[0].confidence == RESPECTIVELY


def test_respectively_needs_the_word_as_many_materials_as_values_and_the_text() -> None:
    plain = "MgB2 and NbSe2 have Tc of 39 K and 7 K."
    mentions = found(plain, ("material", "MgB2"), ("material", "NbSe2"),
                     ("tcValue", "39 K"), ("tcValue", "7 K"))  # fmt: skip
    assert {m for m, _, _ in pairs(plain, mentions)} == {"NbSe2"}  # nearest before, both
    assert {x.rule for x in link_values(mentions)} == {"same-sentence-before"}  # no text
    uneven = "MgB2 and NbSe2 have Tc of 39 K, 7 K and 2 K, respectively."
    mentions = found(uneven, ("material", "MgB2"), ("material", "NbSe2"),
                     ("tcValue", "39 K"), ("tcValue", "7 K"), ("tcValue", "2 K"))  # fmt: skip
    assert {rule for _, _, rule in pairs(uneven, mentions)} == {"same-sentence-before"}
    one = "MgB2 and its films have Tc of 39 K and 35 K, respectively."
    mentions = found(one, ("material", "MgB2"), ("tcValue", "39 K"), ("tcValue", "35 K"))
    assert {rule for _, _, rule in pairs(one, mentions)} == {"same-sentence-before"}
