from __future__ import annotations

import pytest

from literature.linking import (
    RESPECTIVELY,
    RIGHT_AFTER,
    applied_fields,
    formula_like,
    link_conditions,
    link_field,
    link_values,
    names_other_transition,
    states_change,
    states_limit,
    states_other_property,
    unnamed_formulas,
)
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


def conditions(sentence: str, values: list[str], pressures: list[str]) -> dict[str, str | None]:
    """The pressure each value of ``sentence`` is read at, given the tagged mentions."""
    mentions = found(sentence, *[("tcValue", v) for v in values],
                     *[("pressure", p) for p in pressures])  # fmt: skip
    texts = {(0, 0): sentence}
    linked = [(v, link_conditions(v, mentions, "pressure", texts)) for v in mentions[: len(values)]]
    return {v.text: None if p is None else p.text for v, p in linked}


@pytest.mark.parametrize(
    ("sentence", "values", "pressures", "expected"),
    [
        # ambient pressure stated next to a value, untagged: no condition of the sentence's
        ("HgBa2Ca2Cu3O8 has the highest Tc of 133 K at ambient pressure, rising to 164 K "
         "under 30 GPa.", ["133 K", "164 K"], ["30 GPa"], {"133 K": None, "164 K": "30 GPa"}),
        ("FeSe has Tc of 8 K at ambient pressure and 37 K under 8.9 GPa.", ["8 K", "37 K"],
         ["8.9 GPa"], {"8 K": None, "37 K": "8.9 GPa"}),
        ("The ambient-pressure Tc of FeSe is 8 K and rises to 37 K at 8.9 GPa.",
         ["8 K", "37 K"], ["8.9 GPa"], {"8 K": None, "37 K": "8.9 GPa"}),
        # a condition right after another value, or in its clause, is that value's
        ("HgBa2Ca2Cu3O8 has a Tc of 133 K, rising to 164 K under 30 GPa.", ["133 K", "164 K"],
         ["30 GPa"], {"133 K": None, "164 K": "30 GPa"}),
        ("FeSe has a Tc of 8 K, and under 2 GPa it reaches 37 K.", ["8 K", "37 K"],
         ["2 GPa"], {"8 K": None, "37 K": "2 GPa"}),
        ("Tc of FeSe is 30 K while FeTe has 14 K at 2 GPa.", ["30 K", "14 K"], ["2 GPa"],
         {"30 K": None, "14 K": "2 GPa"}),
        # values listed together share it; so do all a condition that opens the sentence
        ("FeSe shows Tc of 8 K, 10 K and 12 K at 1 GPa.", ["8 K", "10 K", "12 K"], ["1 GPa"],
         {"8 K": "1 GPa", "10 K": "1 GPa", "12 K": "1 GPa"}),
        ("Under 8.9 GPa, FeSe has a Tc of 30 K and FeTe a Tc of 14 K.", ["30 K", "14 K"],
         ["8.9 GPa"], {"30 K": "8.9 GPa", "14 K": "8.9 GPa"}),
        ("The Tc at 2 GPa is 3.3 K for Cs, 6.3 K for Rb and 9.6 K for K.",
         ["3.3 K", "6.3 K", "9.6 K"], ["2 GPa"],
         {"3.3 K": "2 GPa", "6.3 K": "2 GPa", "9.6 K": "2 GPa"}),
        # another property's value in GPa is no pressure
        ("Nb3Sn has Tc = 18 K and a bulk modulus of 160 GPa.", ["18 K"], ["160 GPa"],
         {"18 K": None}),
        ("Nb3Sn has Tc = 18 K under 2 GPa and a bulk modulus of 160 GPa.", ["18 K"],
         ["2 GPa", "160 GPa"], {"18 K": "2 GPa"}),
        ("The Vickers hardness of Nb3Sn is about 12 GPa and its Tc = 18 K.", ["18 K"],
         ["12 GPa"], {"18 K": None}),
        ("Nb3Sn has a yield strength of 0.2 GPa and Tc = 18 K.", ["18 K"], ["0.2 GPa"],
         {"18 K": None}),
        # a stress applied to the sample is a condition
        ("Sr2RuO4 has Tc rising to 3.5 K under a uniaxial stress of 0.7 GPa.", ["3.5 K"],
         ["0.7 GPa"], {"3.5 K": "0.7 GPa"}),
        ("Under a stress of 0.7 GPa, Sr2RuO4 has Tc = 3.5 K.", ["3.5 K"], ["0.7 GPa"],
         {"3.5 K": "0.7 GPa"}),
        # a condition in a clause of no value, after a value, is the next value's
        ("FeSe has a Tc of 8 K; at 1.5 GPa, the Tc is 21 K.", ["8 K", "21 K"], ["1.5 GPa"],
         {"8 K": None, "21 K": "1.5 GPa"}),
        ("FeSe has a Tc of 8 K, but under 1.5 GPa, it reaches 21 K.", ["8 K", "21 K"],
         ["1.5 GPa"], {"8 K": None, "21 K": "1.5 GPa"}),
        ("FeSe has a Tc of 8 K and, at 1.5 GPa, a Tc of 21 K.", ["8 K", "21 K"], ["1.5 GPa"],
         {"8 K": None, "21 K": "1.5 GPa"}),
        ("FeSe has a Tc of 21 K at 1.5 GPa, but at ambient pressure, it has 8 K.",
         ["21 K", "8 K"], ["1.5 GPa"], {"21 K": "1.5 GPa", "8 K": None}),
        # ... unless the next value has its own right after it, or the clause describes
        # the value before it
        ("FeSe has a Tc of 8 K, at 1.5 GPa, and 21 K at 3 GPa.", ["8 K", "21 K"],
         ["1.5 GPa", "3 GPa"], {"8 K": "1.5 GPa", "21 K": "3 GPa"}),
        ("FeSe has a Tc of 8 K, measured at 1.5 GPa, and FeTe a Tc of 14 K.", ["8 K", "14 K"],
         ["1.5 GPa"], {"8 K": "1.5 GPa", "14 K": "1.5 GPa"}),
        # "respectively" with as many conditions listed as values: i-th to i-th
        ("MgB2 shows Tc of 39 K and 37 K at 0 and 1 GPa, respectively.", ["39 K", "37 K"],
         ["0", "1 GPa"], {"39 K": "0", "37 K": "1 GPa"}),
        ("FeSe has Tc of 30 K and 35 K at 5 GPa and 10 GPa, respectively.", ["30 K", "35 K"],
         ["5 GPa", "10 GPa"], {"30 K": "5 GPa", "35 K": "10 GPa"}),
        ("At ambient pressure and 2 GPa, Tc is 39 K and 41 K, respectively.",
         ["39 K", "41 K"], ["2 GPa"], {"39 K": None, "41 K": "2 GPa"}),
        # one condition for a list of materials' values is every value's
        ("MgB2 and NbSe2 have Tc of 39 K and 7 K at 1 GPa, respectively.", ["39 K", "7 K"],
         ["1 GPa"], {"39 K": "1 GPa", "7 K": "1 GPa"}),
        # "AP", untagged where a condition stands, is ambient pressure
        ("At 2 GPa the Tc of RbOs2O6 is 8.2 K, compared to 6.3 K at AP.", ["8.2 K", "6.3 K"],
         ["2 GPa"], {"8.2 K": "2 GPa", "6.3 K": None}),
        ("At 2 GPa the Tc of RbOs2O6 is 8.2 K, compared to 6.3 K in AP films.",
         ["8.2 K", "6.3 K"], ["2 GPa"], {"8.2 K": "2 GPa", "6.3 K": "2 GPa"}),  # as-prepared?
        # the state before a change is not read at the condition the change leads to
        ("T c increases from 1.0 K to 3.0 K at 2 GPa and then decreases to vanish above "
         "3 GPa.", ["1.0 K", "3.0 K"], ["2 GPa", "3 GPa"], {"1.0 K": None, "3.0 K": "2 GPa"}),
        ("The T c at 2 GPa is 8.2 K, raised from 6.3 K.", ["8.2 K", "6.3 K"], ["2 GPa"],
         {"8.2 K": "2 GPa", "6.3 K": None}),
        ("The T c at 2 GPa is 8.2 K, raised from 6.3 K at AP.", ["8.2 K", "6.3 K"], ["2 GPa"],
         {"8.2 K": "2 GPa", "6.3 K": None}),
        # ... unless its own stands right after it
        ("Tc increases from 1.0 K at 0.5 GPa to 3.0 K at 2 GPa.", ["1.0 K", "3.0 K"],
         ["0.5 GPa", "2 GPa"], {"1.0 K": "0.5 GPa", "3.0 K": "2 GPa"}),
        # a range of readings is no change: both ends share the condition
        ("Under 2 GPa, FeSe films show Tc from 30 K to 35 K.", ["30 K", "35 K"], ["2 GPa"],
         {"30 K": "2 GPa", "35 K": "2 GPa"}),
    ],
)  # fmt: skip
def test_a_value_takes_the_condition_it_was_read_at(
    sentence: str, values: list[str], pressures: list[str], expected: dict[str, str | None]
) -> None:
    assert conditions(sentence, values, pressures) == expected


@pytest.mark.parametrize(
    ("before", "other"),
    [("a bulk modulus of ", True), ("the shear modulus G = ", True), ("B0 = ", True),
     ("a Vickers hardness (HV) of about ", True), ("a tensile strength of ", True),
     ("elastic constant C11 = ", True), ("FeSe has Tc of 8 K at ", False),
     ("a yield stress of ", True), ("the ultimate tensile strength is ", True),
     ("a compressive strength of about ", True), ("a flow stress of ", True),
     ("Tc rises with pressure up to ", False), ("the coupling strength is enhanced at ", False),
     ("Applying a pressure of ", False), ("under a uniaxial stress of ", False),
     ("a hydrostatic stress of ", False), ("an applied stress of ", False),
     ("a stress of ", False)],
)  # fmt: skip
def test_words_that_state_another_property_in_gpa(before: str, other: bool) -> None:
    assert states_other_property(before) is other


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
    assert "respectively" not in {rule for _, _, rule in pairs(uneven, mentions)}


def multi(sentences: list[str], *pieces: tuple[str, str, int]) -> list[tuple[str, str, str]]:
    """(material, value, rule) of each link in ``sentences`` (section 0), given the
    ``(label, text, sentence)`` mentions the tagger found."""
    mentions = [mention(label, text, j, sentences[j].index(text)) for label, text, j in pieces]
    links = link_values(mentions, {(0, j): s for j, s in enumerate(sentences)})
    return [(x.material.text, x.value.text, x.rule) for x in links]


@pytest.mark.parametrize(
    ("sentence", "materials", "values", "expected"),
    [
        # the fallback would give both values to the one material: it gets neither
        ("MgB2 and NbSe2 have Tc of 39 K, 7 K and 2 K, respectively.", ["MgB2", "NbSe2"],
         ["39 K", "7 K", "2 K"], []),
        # an untagged formula makes up the count: its value stays unlinked
        ("CsV3Sb5 and KV3Sb5 exhibit Tc values of 2.5 K and 0.93 K, respectively.",
         ["KV3Sb5"], ["2.5 K", "0.93 K"], [("KV3Sb5", "0.93 K", "respectively")]),
        ("CsV3Sb5 and KV3Sb5 exhibit Tc values of 2.5 K and 0.93 K, respectively.",
         ["CsV3Sb5"], ["2.5 K", "0.93 K"], [("CsV3Sb5", "2.5 K", "respectively")]),
        # a mention that lists several materials may take several values
        ("AOs2O6 (A = Cs, Rb, K) have Tc = 3.3 K, 6.3 K and 9.6 K, respectively.",
         ["AOs2O6 (A = Cs, Rb, K)"], ["3.3 K", "6.3 K", "9.6 K"],
         [("AOs2O6 (A = Cs, Rb, K)", v, "same-sentence-before")
          for v in ("3.3 K", "6.3 K", "9.6 K")]),
    ],
)  # fmt: skip
def test_respectively_with_uneven_counts_never_gives_one_material_two_values(
    sentence: str, materials: list[str], values: list[str], expected: list[tuple[str, ...]]
) -> None:
    pieces = [("material", m) for m in materials] + [("tcValue", v) for v in values]
    assert pairs(sentence, found(sentence, *pieces)) == expected


@pytest.mark.parametrize(
    ("sentence", "material", "values"),
    [
        ("MgB2 shows Tc of 39 K and 37 K at 0 and 1 GPa, respectively.", "MgB2",
         ["39 K", "37 K"]),
        ("Nb3Sn films of 100 and 50 nm have Tc of 18 K and 17 K, respectively.", "Nb3Sn",
         ["18 K", "17 K"]),
        ("MgB2 and its films have Tc of 39 K and 35 K, respectively.", "MgB2",
         ["39 K", "35 K"]),
    ],
)  # fmt: skip
def test_respectively_over_one_materials_series_gives_it_every_value(
    sentence: str, material: str, values: list[str]
) -> None:
    pieces = [("material", material)] + [("tcValue", v) for v in values]
    assert pairs(sentence, found(sentence, *pieces)) == [
        (material, v, "same-sentence-before") for v in values]  # fmt: skip


def test_respectively_counts_a_material_written_twice_once() -> None:
    twice = "MgB2 shows Tc of 39 K, 38 K and 37 K at 0, 1 and 2 GPa, respectively, as MgB2 does."
    again = mention("material", "MgB2", 0, twice.rindex("MgB2"))
    values = found(twice, ("tcValue", "39 K"), ("tcValue", "38 K"), ("tcValue", "37 K"))
    links = link_values([mention("material", "MgB2", 0, 0), again, *values], {(0, 0): twice})
    assert [(x.material.start, x.value.text) for x in links] == [
        (0, "39 K"), (0, "38 K"), (0, "37 K")]  # fmt: skip


def test_respectively_counts_the_materials_from_the_materials_sentence_on() -> None:
    series = ["MgB2 films were grown.",
              "Films of 100 and 50 nm have Tc of 39 K and 37 K, respectively."]  # fmt: skip
    pieces = [("material", "MgB2", 0), ("tcValue", "39 K", 1), ("tcValue", "37 K", 1)]
    assert multi(series, *pieces) == [
        ("MgB2", "39 K", "earlier-sentence"), ("MgB2", "37 K", "earlier-sentence")]  # fmt: skip
    two = ["MgB2 and NbSe2 were grown.", "They have Tc of 39 K and 7 K, respectively."]
    pieces = [("material", "MgB2", 0), ("material", "NbSe2", 0), ("tcValue", "39 K", 1),
              ("tcValue", "7 K", 1)]  # fmt: skip
    assert multi(two, *pieces) == []
    # an untagged formula is a second material: NbSe2 would take both values
    untagged = "MgB2 and NbSe2 have Tc of 39 K, 7 K and 2 K, respectively."
    tagged = [("material", "NbSe2"), ("tcValue", "39 K"), ("tcValue", "7 K"), ("tcValue", "2 K")]
    assert pairs(untagged, found(untagged, *tagged)) == []


def test_respectively_with_uneven_counts_keeps_a_material_with_one_value() -> None:
    sentence = "Tc of 39 K in MgB2 and 7 K in NbSe2, respectively, and 2 K."
    pieces = [("material", "MgB2"), ("material", "NbSe2"), ("tcValue", "39 K"),
              ("tcValue", "7 K"), ("tcValue", "2 K")]  # fmt: skip
    # each of the first two takes the material right after it; NbSe2 would take 2 K too
    # (nearest before), so neither of its values is kept
    assert pairs(sentence, found(sentence, *pieces)) == [
        ("MgB2", "39 K", "right-after")]  # fmt: skip


@pytest.mark.parametrize(
    "word", ["H3S", "NbN", "TiN", "MoGe", "Nb3Ge", "V3Si", "CaH6", "NbTi", "La2-xSrxCuO4",
             "YBa2Cu3O7-δ", "SrTiO3"],
)  # fmt: skip
def test_formula_like_words(word: str) -> None:
    assert formula_like(word)


@pytest.mark.parametrize(
    "word", ["K", "Tc", "GPa", "MPa", "I", "In", "Nb", "BCS", "FC", "ZFC", "II", "IV", "HP",
             "XRD", "Fig", "Hc2", "mK", "kbar", "CW"],
)  # fmt: skip
def test_words_that_are_not_formulas(word: str) -> None:
    assert not formula_like(word)


def test_unnamed_formulas_are_the_untagged_ones_and_not_parts_or_holders() -> None:
    text = "NbN on MgO substrates, with CuO2 planes and bi- layers of FeSe 2 layers, and H3S."
    words = unnamed_formulas([mention("material", "NbN", 0, 0)], {(0, 0): text})
    assert [w.text for w in words[0, 0]] == ["H3S"]


def test_substrates_additives_and_sources_are_no_unnamed_formulas() -> None:
    text = ("MgB2 grown on MgO from MgH2, with 5 wt% SiC, with BaZrO3 nanorods, Y2O3 "
            "nanoparticles, BaSnO3 additions and NbN, unlike TiN, compared with H3S.")  # fmt: skip
    words = unnamed_formulas([mention("material", "MgB2", 0, 0)], {(0, 0): text})
    assert [w.text for w in words[0, 0]] == ["NbN", "TiN", "H3S"]


@pytest.mark.parametrize(
    ("sentence", "material", "value"),
    [
        ("MgB2 grown on MgO has Tc = 39 K.", "MgB2", "39 K"),
        ("MgB2 films on SiC have Tc = 38 K.", "MgB2", "38 K"),
        ("YBa2Cu3O7 with BaZrO3 nanorods has Tc = 90 K.", "YBa2Cu3O7", "90 K"),
        ("MgB2 made from MgH2 onto an Al2O3 wafer has Tc = 38 K.", "MgB2", "38 K"),
        ("MgB2 doped by SiC nanoparticles shows Tc = 37 K.", "MgB2", "37 K"),
        ("YBa2Cu3O7 without Y2O3 inclusions has Tc = 91 K.", "YBa2Cu3O7", "91 K"),
    ],
)  # fmt: skip
def test_a_substrate_or_additive_does_not_stop_the_nearest_material(
    sentence: str, material: str, value: str
) -> None:
    pieces = [("material", material), ("tcValue", value)]
    assert pairs(sentence, found(sentence, *pieces)) == [
        (material, value, "same-sentence-before")]  # fmt: skip


def test_an_untagged_formula_stops_the_look_back() -> None:
    sentences = ["Ba0.5Sr0.5TiO3 shows a Curie temperature of 253 K.",
                 "H3S superconducts at 203 K under 155 GPa."]  # fmt: skip
    pieces = [("material", "Ba0.5Sr0.5TiO3", 0), ("tcValue", "203 K", 1)]
    assert multi(sentences, *pieces) == []
    sentences = [
        "NbN films were grown.",
        "The TiN buffer has Tc of 4.5 K, and MoGe is superconducting below 7 K.",
    ]
    pieces = [("material", "NbN", 0), ("tcValue", "4.5 K", 1), ("tcValue", "7 K", 1)]
    assert multi(sentences, *pieces) == []


def test_an_untagged_formula_in_a_sentence_between_stops_the_look_back() -> None:
    sentences = ["NbN films were grown.", "A TiN cap was added.", "Tc is 16 K."]
    assert multi(sentences, ("material", "NbN", 0), ("tcValue", "16 K", 2)) == []
    sentences = ["NbN films were grown.", "A cap was added.", "Tc is 16 K."]
    assert multi(sentences, ("material", "NbN", 0), ("tcValue", "16 K", 2)) == [
        ("NbN", "16 K", "earlier-sentence")]  # fmt: skip


def test_an_untagged_formula_between_stops_the_nearest_material() -> None:
    sentence = "Nb3Sn: Tc = 18.3 K; Nb3Ge: Tc = 23.2 K; V3Si: Tc = 17.1 K."
    pieces = [("material", "Nb3Sn"), ("tcValue", "18.3 K"), ("tcValue", "23.2 K"),
              ("tcValue", "17.1 K")]  # fmt: skip
    assert pairs(sentence, found(sentence, *pieces)) == [
        ("Nb3Sn", "18.3 K", "same-sentence-before")]  # fmt: skip
    after = "Tc of 4.5 K is found in the TiN buffer below MoGe."
    assert pairs(after, found(after, ("tcValue", "4.5 K"), ("material", "MoGe"))) == []
    after = "Tc of 4.5 K is found in the buffer below MoGe."
    assert pairs(after, found(after, ("tcValue", "4.5 K"), ("material", "MoGe"))) == [
        ("MoGe", "4.5 K", "same-sentence-after")]  # fmt: skip
    before = "The TiN buffer has Tc of 4.5 K, unlike MoGe."  # TiN is the nearest before
    assert pairs(before, found(before, ("tcValue", "4.5 K"), ("material", "MoGe"))) == []


def test_untagged_words_that_are_no_formula_or_the_same_material_stop_nothing() -> None:
    sentences = ["MgB2 films were grown.", "The MgB2 films have Tc of 39 K at 1 GPa (BCS, FC)."]
    assert multi(sentences, ("material", "MgB2", 0), ("tcValue", "39 K", 1)) == [
        ("MgB2", "39 K", "earlier-sentence")]  # fmt: skip
    sentence = "Nb3Sn on Al2O3 substrates with CuO2 planes has Tc = 18 K."
    pieces = [("material", "Nb3Sn"), ("tcValue", "18 K")]
    assert pairs(sentence, found(sentence, *pieces)) == [
        ("Nb3Sn", "18 K", "same-sentence-before")]  # fmt: skip
    # without the sentences' text, nothing is known of untagged words
    mentions = [mention("material", "Ba0.5Sr0.5TiO3", 0, 0), mention("tcValue", "203 K", 1, 21)]
    assert [x.rule for x in link_values(mentions)] == ["earlier-sentence"]


@pytest.mark.parametrize(
    "before",
    ["The overall change in Tc is only ", "Tc rises by ", "Tc increased by about ",
     "Tc rising by ", "Tc going up by ",
     "a transition width of ", "ΔTc = ", "The Tc difference between MgB2 and NbSe2 is ",
     "a shift of up to ", "with a broadening of ", "The change in Tc at 5 GPa is ",
     "Tc is suppressed by ", "the width of the superconducting transition is ", "δTc ~ ",
     "an increase in Tc of ", "Tc drops by ", "the Tc drop is ",
     "a drop of the transition temperature of ",
     # a change defined as a difference of Tc's; Δ as the increment sign, a triangle or
     # the Symbol font's glyph; a difference of temperatures, ΔT
     "Broad resistivity transition width ∆T c = T c (onset) -T c (zero) ∼ ",
     "ΔTc = Tc(onset) − Tc(zero) = ", "the difference Tc,onset - Tc,zero is ",
     "∆T c = ", "△Tc of ", "The transition widths (\uf044T c ) are \uf044T c = ",
     "a sharp transition ∆ T of ", "△T = "],
)  # fmt: skip
def test_words_that_state_a_change(before: str) -> None:
    assert states_change(before)


@pytest.mark.parametrize(
    "before",
    ["MgB2 has Tc of ", "Tc increases to ", "Tc increases from ", "an increase in Tc up to ",
     "Tc shifts to ", "Despite the change in growth conditions the films have a Tc of ",
     "Tc drops sharply at ", "Tc increases with pressure and reaches ", "YBa2Cu3O7-δ Tc = ",
     "The change in Tc is 0.3 K while MgB2 has Tc of ", "Tc increases with x and is ",
     "the resistivity drops at ", "With increasing pressure, Tc is ", "Tc was raised to ",
     "the shift of Tc from ", "superconducts below ", "the transition temperature is ",
     "The pressure was read from the Tc shift of lead (Tc(0 kbar) = ",
     # a drop or onset of resistance is where Tc is, not a change of it
     "A sharp drop in resistance at temperatures of ",
     "For MgB2 the onset of the resistance drop is ", "the resistivity drop is ",
     "a jump in the specific heat at temperatures of ",
     # a Tc with its criterion, named again after a change: its value
     "ΔTc = 1 K and Tc(onset) = ", "MgB2 has T c (onset) of ", "at a temperature T = "],
)  # fmt: skip
def test_words_that_state_a_value(before: str) -> None:
    assert not states_change(before)


def test_a_change_of_the_property_is_linked_to_nothing() -> None:
    sentences = ["MgB2 films were grown.", "The overall change in Tc is only 0.3K."]
    assert multi(sentences, ("material", "MgB2", 0), ("tcValue", "0.3K", 1)) == []
    shift = "In MgB2 Tc drops by 2 K."  # the tagged span may hold the word before the number
    assert pairs(shift, found(shift, ("material", "MgB2"), ("tcValue", "by 2 K"))) == []
    listed = "MgB2 and NbSe2 have Tc of 39 K and 7 K, respectively, a difference of 32 K."
    pieces = [("material", "MgB2"), ("material", "NbSe2"), ("tcValue", "39 K"),
              ("tcValue", "7 K"), ("tcValue", "32 K")]  # fmt: skip
    assert pairs(listed, found(listed, *pieces)) == [
        ("MgB2", "39 K", "respectively"), ("NbSe2", "7 K", "respectively")]  # fmt: skip


def test_a_drop_of_resistance_gives_the_value_where_tc_is() -> None:
    sentence = "For MgB2 the onset of the resistance drop is 39 K."
    assert pairs(sentence, found(sentence, ("material", "MgB2"), ("tcValue", "39 K"))) == [
        ("MgB2", "39 K", "same-sentence-before")]  # fmt: skip
    sentences = ["MgB2 films were grown.", "A sharp drop in resistance at temperatures of 39 K."]
    assert multi(sentences, ("material", "MgB2", 0), ("tcValue", "39 K", 1)) == [
        ("MgB2", "39 K", "earlier-sentence")]  # fmt: skip


@pytest.mark.parametrize(
    ("before", "other"),
    [("respectively, T c =7.1 K and T CDW =", True), ("T_N ≈ ", True), ("T* ~ ", True),
     ("T_{SDW} of about ", True), ("TCDW = ", True), ("T s of ", True),
     ("Tc = ", False), ("T c = ", False), ("T C = ", False), ("T c onset = ", False),
     ("T onset = ", False), ("T zero = ", False), ("at T = ", False),
     ("the T N and Tc of ", False), ("T CDW = 94 K and T c = ", False)],
)  # fmt: skip
def test_the_symbol_of_another_transition(before: str, other: bool) -> None:
    assert names_other_transition(before) is other


@pytest.mark.parametrize(
    ("before", "other"),
    [("RuSr2GdCu2O8 with ferromagnetic Curie temperature TC = ", True),
     ("The Curie temperature T C ∼ ", True), ("down to Curie temperature T C of ", True),
     ("an unusually high Néel temperature, T N, of about ", True),
     ("the Néel temperature (T N ) of ", True), ("the magnetic ordering temperature is ",
     True), ("a CDW transition at ", True),
     ("a structural phase transition at ", True), ("antiferromagnetic ordering at ", True),
     ("the spin-density-wave transition temperature T SDW = ", True),
     ("a metal-insulator transition near ", True), ("a Debye temperature of ", True),
     # Tc's
     ("and supercon- ducting transition temperature Tc = ", False),
     ("the transition temperature is ", False), ("the ferromagnetic superconductor has TC = ",
     False), ("the superconducting and magnetic transition temperatures of ", False),
     ("the Curie temperature of 131 K and Tc of ", False),
     # an order not named: in La2CuO4.11 superconductivity and magnetism set in together
     ("the absence of a clear magnetic contri- bution at the simultaneous ordering "
      "temperature of ", False),
     ("in an applied magnetic field of 14 T at ", False)],
)  # fmt: skip
def test_the_name_of_another_transition(before: str, other: bool) -> None:
    assert names_other_transition(before) is other


def test_a_value_of_another_transition_is_linked_to_nothing() -> None:
    sentence = "For CsV3Sb5 we find, respectively, T c =7.1 K and T CDW =32 K."
    pieces = [("material", "CsV3Sb5"), ("tcValue", "7.1 K"), ("tcValue", "32 K")]
    assert pairs(sentence, found(sentence, *pieces)) == [
        ("CsV3Sb5", "7.1 K", "same-sentence-before")]  # fmt: skip


@pytest.mark.parametrize(
    ("sentence", "materials", "values", "expected"),
    [
        # "VALUE for MATERIAL": each value is the material's that follows it, not the
        # nearest one before it
        ("Tc rises from 40 K for x ∼ 0.15 to 70 K for x ∼ 0.40.", ["x ∼ 0.15", "x ∼ 0.40"],
         ["40 K", "70 K"], ["x ∼ 0.15", "x ∼ 0.40"]),
        ("Tc increases from 0 K (y = 0) to 42 K (y = 1.0).", ["y = 0", "y = 1.0"],
         ["0 K", "42 K"], ["y = 0", "y = 1.0"]),
        ("Tc is 6 K for the Pb-free series and 12 K for the Pb-doped series.",
         ["Pb-free series", "Pb-doped series"], ["6 K", "12 K"],
         ["Pb-free series", "Pb-doped series"]),
        ("The Tc of LSCO reaches its maximum of 38 K at x = 0.15.", ["LSCO", "x = 0.15"],
         ["38 K"], ["x = 0.15"]),
        ("Substituting Rh in CeIrIn5 raises Tc up to 1 K in CeRhIrIn5.",
         ["CeIrIn5", "CeRhIrIn5"], ["1 K"], ["CeRhIrIn5"]),
    ],
)  # fmt: skip
def test_a_value_takes_the_material_named_right_after_it(
    sentence: str, materials: list[str], values: list[str], expected: list[str]
) -> None:
    pieces = [("material", m) for m in materials] + [("tcValue", v) for v in values]
    links = link_values(found(sentence, *pieces), {(0, 0): sentence})
    assert [(x.material.text, x.value.text, x.rule) for x in links] == [
        (m, v, "right-after") for m, v in zip(expected, values, strict=True)]  # fmt: skip
    assert {x.confidence for x in links} == {RIGHT_AFTER}


@pytest.mark.parametrize(
    "sentence",
    [
        "Nb3Ge has a Tc of 23 K, lower than the 39 K of MgB2.",
        "The Tc of MgB2 is 39 K, higher than the 23 K of Nb3Ge.",
    ],
)
def test_a_value_compared_with_another_material_s_is_that_material_s(sentence: str) -> None:
    pieces = [("material", "Nb3Ge"), ("material", "MgB2"), ("tcValue", "39 K")]
    links = link_values(found(sentence, *pieces, ("tcValue", "23 K")), {(0, 0): sentence})
    assert {(x.material.text, x.value.text) for x in links} == {
        ("Nb3Ge", "23 K"), ("MgB2", "39 K")}  # fmt: skip


@pytest.mark.parametrize(
    ("sentence", "materials", "value", "expected"),
    [
        # other words between the value and the next material: no such join
        ("MgB2 has a Tc of 39 K in contrast to NbSe2.", ["MgB2", "NbSe2"], "39 K",
         ("MgB2", "same-sentence-before")),
        ("MgB2 has a Tc of 39 K, unlike NbSe2.", ["MgB2", "NbSe2"], "39 K",
         ("MgB2", "same-sentence-before")),
        ("For x = 0.15 the Tc is 38 K.", ["x = 0.15"], "38 K",
         ("x = 0.15", "same-sentence-before")),
        ("A Tc of 39 K in zero field was found for MgB2.", ["MgB2"], "39 K",
         ("MgB2", "same-sentence-after")),
        ("Tc increases from 21 K in the first sample to 60 K in FeSe.", ["FeSe"], "21 K",
         ("FeSe", "same-sentence-after")),
    ],
)  # fmt: skip
def test_a_material_after_other_words_is_not_named_right_after_the_value(
    sentence: str, materials: list[str], value: str, expected: tuple[str, str]
) -> None:
    pieces = [("material", m) for m in materials] + [("tcValue", value)]
    assert pairs(sentence, found(sentence, *pieces)) == [(expected[0], value, expected[1])]


def test_a_material_the_tagger_missed_right_after_a_value_keeps_it() -> None:
    # x ∼ 0.40 untagged: 70 K is its value, not x ∼ 0.15's
    doping = "Tc rises from 40 K for x ∼ 0.15 to 70 K for x ∼ 0.40."
    pieces = [("material", "x ∼ 0.15"), ("tcValue", "40 K"), ("tcValue", "70 K")]
    assert pairs(doping, found(doping, *pieces)) == [("x ∼ 0.15", "40 K", "right-after")]
    formula = "Unlike MgB2, a Tc of 203 K for H3S was found."
    assert pairs(formula, found(formula, ("material", "MgB2"), ("tcValue", "203 K"))) == []


@pytest.mark.parametrize(
    "before",
    ["The resistivity was measured down to ", "Resistivity measurements were carried out down to ",
     "Bi2Se3 remains metallic down to ", "There is no static magnetism in SLCO down to ",
     "at temperatures as low as ", "The samples were cooled to ", "measured down to about ",
     "decreasing the temperature down to ", "The resistivity measured above ",
     "Measurements above ", "penetration depth measure- ments on B0.63K0.37BiO3 (T c ≈ 31 K) "
     "down to ",
     # the range a measurement spanned, either end, and how far a measured behaviour held
     "single crystals with T c = 87 -90 K in a temperature range between ",
     "C(T ) was mea- sured between ", "The specific heat was measured between temperatures of ",
     "The specific heat was measured between temperatures of 20K and ",
     "The resistivity was measured from 2 K to ", "data were taken from ",
     "MgB 2 , which shows super- conductivity at T c = 39 K 3 , also exhibits T 2 depen- "
     "dence in the resistivity up to ", "The magnetization was measured up to ",
     "The resistivity follows a linear behaviour up to ", "Tc = 30 K was measured down to ",
     # where a measurement was taken
     "The resistivity of FeSe at ", "The upper critical field of FeSe at ",
     "The magnetization of FeSe measured at ", "XRD patterns of MgB2 collected at ",
     "The specific heat at ",
     # a junction named by its layers names no Tc
     "conductance curves measured in superconductor-insulator-superconductor (SIS) between "],
)  # fmt: skip
def test_words_that_state_a_measurement_limit(before: str) -> None:
    assert states_limit(before)


@pytest.mark.parametrize(
    "before",
    ["Tc is suppressed down to ", "The Tc of MgB2 decreases down to ",
     "superconductivity is suppressed down to ", "Tc falls with x, reaching down to ",
     "MgB2 films with Tc as low as ", "The films have a reduced Tc, as low as ",
     "the transition shifts down to ", "the critical temperature drops to as low as ",
     "MgB2 superconducts above ", "Tc is above ", "MgB2 has Tc of ",
     # a search for superconductivity that found none: an upper bound of the Tc
     "No superconductivity was observed down to ", "Bi2Se3 is non-superconducting above ",
     "no trace of superconductivity could be detected (resistively) down to ",
     "no drops in resistivity are observed above 7 GPa down to ",
     # a range or a rise of the Tc: "between" and "up to" with no measurement
     "La2−xSrxCuO4 with x = 0.15 shows Tc between ", "Tc of FeSe ranges from ",
     "FeSe samples show Tc from ", "Tc in the temperature range between ", "Tc up to ",
     "The sample remains superconducting up to ", "Tc increases linearly up to ",
     "Tc is suppressed from 40 K down to ", "Tc of FeSe increases from 30 K to ",
     # "at" where a measurement shows the transition, or with no measurement
     "The resistivity of FeSe drops to zero at ", "a jump in the specific heat at ",
     "Magnetization measurements show superconductivity at ", "FeSe shows zero resistance at ",
     "the onset of diamagnetism in the susceptibility at ", "FeSe becomes superconducting at ",
     "The Tc of FeSe measured by resistivity is at ",
     # a resistive onset written as a decrease
     "The resistance of FeSe starts to decrease at ",
     "A rapid decrease of the resistivity is observed at ",
     "Resistivity data of the x = 0.1 sample reveal a decline at "],
)  # fmt: skip
def test_words_that_state_no_measurement_limit(before: str) -> None:
    assert not states_limit(before)


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        ("The resistivity was measured down to 0.4 K.", []),
        ("Bi2Se3 remains metallic down to 0.4 K.", []),
        ("Measurements above 0.4 K show no anomaly.", []),
        ("No superconductivity was observed down to 0.4 K.",
         [("Bi2Se3", "0.4 K", "earlier-sentence")]),  # Tc < 0.4 K: normalisation's bound
        ("Under pressure, Tc is suppressed down to 0.4 K.",
         [("Bi2Se3", "0.4 K", "earlier-sentence")]),
    ],
)  # fmt: skip
def test_a_measurement_limit_is_linked_to_nothing(
    second: str, expected: list[tuple[str, str, str]]
) -> None:
    sentences = ["Bi2Se3 crystals were grown.", second]
    assert multi(sentences, ("material", "Bi2Se3", 0), ("tcValue", "0.4 K", 1)) == expected


def test_a_measurement_limit_is_not_counted_in_a_respectively_list() -> None:
    sentence = "MgB2 and NbSe2 have Tc of 39 K and 7 K, respectively, measured down to 2 K."
    pieces = [("material", "MgB2"), ("material", "NbSe2"), ("tcValue", "39 K"),
              ("tcValue", "7 K"), ("tcValue", "2 K")]  # fmt: skip
    assert pairs(sentence, found(sentence, *pieces)) == [
        ("MgB2", "39 K", "respectively"), ("NbSe2", "7 K", "respectively")]  # fmt: skip


@pytest.mark.parametrize(
    ("sentence", "values", "expected"),
    [
        ("MgB 2 fibers showed an onset of superconductivity in an externally applied magnetic "
         "field of 14 T at 10.2 K, 14.8 K, and 18.5 K for pure, 0.6%, and 2.1% carbon doping.",
         ["10.2 K", "14.8 K", "18.5 K"], {"10.2 K": 14.0, "14.8 K": 14.0, "18.5 K": 14.0}),
        ("It shows an onset T onset c , of ∼ 15 K at 9 T and a rise.", ["15 K"], {"15 K": 9.0}),
        ("The transition is seen at approximately 4 K even under a high magnetic field of ∼7 T.",
         ["4 K"], {"4 K": 7.0}),
        ("We expect an onset in an applied 14 T field at a temperature between 15 K and 18 K.",
         ["between 15 K and 18 K"], {"between 15 K and 18 K": 14.0}),
        ("Tc is 39 K at μ0H = 0.5 T and 35 K at 5 T.", ["39 K", "35 K"],
         {"39 K": 0.5, "35 K": 5.0}),
        ("Tc is 39 K and 35 K at 1 T and 5 T, respectively.", ["39 K", "35 K"],
         {"39 K": 1.0, "35 K": 5.0}),
        # a measuring field, in Oe: read, and left to the pipeline's threshold
        ("The onset of a diamagnetic signal at 43 K in a field of 3 Oe.", ["43 K"],
         {"43 K": 3e-4}),
        # a field elsewhere in the sentence, or one that is a property's value, is none
        ("The system is not saturated at 50 T, far above the paramagnetic limit of µ o H = 4 T "
         "for this sample with T c ~ 2.4K.", ["2.4K"], {"2.4K": None}),
        ("We estimate TC = 4.6 K, HC2(0) = 61.0 T and HC1(0) = 28.1 Oe.", ["4.6 K"],
         {"4.6 K": None}),
        ("They report Tc of 18 K and a critical field of 30 T.", ["18 K"], {"18 K": None}),
        ("Tc = 18 K was measured in magnetic fields up to 6 T.", ["Tc = 18 K"],
         {"Tc = 18 K": None}),
        ("In a field of 10 Oe after cooling, a signal appears at 4 K.", ["4 K"], {"4 K": None}),
        ("MgB2 has Tc = 39 K at 2 T c of NbSe2.", ["39 K"], {"39 K": None}),  # twice a Tc
    ],
)  # fmt: skip
def test_a_value_takes_the_field_stated_with_it(
    sentence: str, values: list[str], expected: dict[str, float | None]
) -> None:
    mentions = found(sentence, *[("tcValue", v) for v in values])
    texts = {(0, 0): sentence}
    fields = [*mentions, *applied_fields(texts)]
    linked = {v.text: link_field(v, fields, texts) for v in mentions}
    assert {v: f and f.normalized["value"] for v, f in linked.items()} == expected
