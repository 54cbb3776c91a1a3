"""A Tc that belongs to another material of its sentence, or to none, is not the paper's."""

from __future__ import annotations

import pytest

from literature.linking import link_values
from literature.records import Mention

Found = tuple[str, str | None, str, str]  # (material as written, its formula, value, rule)


def links(sentences: list[str], *pieces: tuple[str, str, int]) -> list[Found]:
    """The links of ``sentences`` (section 0), given the ``(label, text, sentence)``
    mentions the tagger found, each at the first place its text stands."""
    mentions = [
        Mention(label, text, 0, j, sentences[j].index(text), sentences[j].index(text) + len(text))
        for label, text, j in pieces
    ]
    found = link_values(mentions, {(0, j): s for j, s in enumerate(sentences)})
    return [(x.material.text, x.material.normalized.get("formula"), x.value.text, x.rule)
            for x in found]  # fmt: skip


MAIN = "MgB2 films were grown."  # the paper's material, in the sentence before


@pytest.mark.parametrize(
    ("sentence", "values", "expected"),
    [
        # an aside opened right after the element
        ("Its Tc is far above those of W (Tc = 0.012 K) and Be (Tc = 0.026 K).",
         ["0.012 K", "0.026 K"],
         [("W", "W", "0.012 K"), ("Be", "Be", "0.026 K")]),
        ("A small piece of in- dium [T c (p = 0) = 3.4 K] was added to the sample.",
         ["3.4 K"], [("in- dium", "In", "3.4 K")]),
        ("Its coherence length is comparable to that of tungsten 24 (ξ 0 = 32 µm, T c = "
         "15.4 mK).", ["15.4 mK"], [("tungsten", "W", "15.4 mK")]),
        # a Tc named with the element, by its symbol or its name
        ("The measured T c (Al) ≈ 1.69 K is larger than the bulk value.", ["1.69 K"],
         [("Al", "Al", "1.69 K")]),
        ("The Tc of Al is known to be 1.2 K.", ["1.2 K"], [("Al", "Al", "1.2 K")]),
        ("The Tc of the Nb leads is 9 K.", ["9 K"], [("Nb", "Nb", "9 K")]),
        ("It was checked by the transition temperature of a Zn plate, T c = 0.875 K.",
         ["0.875 K"], [("Zn", "Zn", "0.875 K")]),
        ("The pressure was read from the T c shift of lead (T c (0kbar)=7.2K).", ["7.2K"],
         [("lead", "Pb", "7.2K")]),
        # the element's own value, and the subject of the value's clause
        ("Its Tc is higher than those of elements (Nb: 9.2 K).", ["9.2 K"],
         [("Nb", "Nb", "9.2 K")]),
        ("Tantalum exhibits a slight negative α below T c = 4.4 K; what distinguishes this "
         "feature in films is its size.", ["4.4 K"], [("Tantalum", "Ta", "4.4 K")]),
    ],
)  # fmt: skip
def test_an_untagged_element_named_with_a_value_owns_it(
    sentence: str, values: list[str], expected: list[tuple[str, str, str]]
) -> None:
    pieces = [("material", "MgB2", 0), *[("tcValue", v, 1) for v in values]]
    assert links([MAIN, sentence], *pieces) == [(*x, "element-named") for x in expected]


def test_the_element_takes_its_value_and_the_material_keeps_its_own() -> None:
    sentence = "MgB2 has Tc = 39 K, far above W (Tc = 0.012 K), and the MgB 2 films do too."
    pieces = [("material", "MgB2", 0), ("tcValue", "39 K", 0), ("tcValue", "0.012 K", 0)]
    assert links([sentence], *pieces) == [
        ("MgB2", None, "39 K", "same-sentence-before"),
        ("W", "W", "0.012 K", "element-named"),
    ]


def test_a_dopant_a_label_or_a_formula_is_no_element_that_owns_a_value() -> None:
    def linked(sentence: str, value: str) -> list[str]:
        found = links([MAIN, sentence], ("material", "MgB2", 0), ("tcValue", value, 1))
        return [material for material, *_ in found]

    assert linked("The Tc of Al is 1.2 K.", "1.2 K") == ["Al"]  # an element owns it
    # a dopant or an additive: the doped sample's value
    assert linked("Films doped with Co (Tc = 22 K) were grown.", "22 K") == ["MgB2"]
    assert linked("Films with 5% Co (Tc = 22 K) were grown.", "22 K") == ["MgB2"]
    # a one-letter symbol that labels a sample, or in no aside naming the Tc
    assert linked("Samples A and B (Tc = 38 K) were grown.", "38 K") == ["MgB2"]
    assert linked("Sample B (38 K) was grown.", "38 K") == ["MgB2"]
    # a symbol that is an English word opens no clause as a subject
    assert linked("In zero field, the films have a Tc of 39 K.", "39 K") == ["MgB2"]
    # an element doing something to the sample, not having the value
    assert linked("Carbon is known to reduce Tc to 37 K.", "37 K") == ["MgB2"]
    assert linked("Carbon doping lowers Tc to 37 K.", "37 K") == ["MgB2"]
    # "Tc (K)" is a column's unit, "Tc(H)" a Tc in a field
    assert linked("Their Tc (K) = 39 at ambient pressure.", "39") == ["MgB2"]
    assert linked("Their T c (H) = 30 K at 5 T.", "30 K") == ["MgB2"]
    # a temperature's symbol that is an element's too: "Tm", a melting temperature
    assert linked("The vortex lattice melts at Tm = 39 K.", "39 K") == ["MgB2"]


@pytest.mark.parametrize(
    ("sentences", "pieces", "expected"),
    [
        # a substrate the films were laid on is no value's, and the look-back passes it
        (["YBa2Cu3O7 films were grown by sputtering on LaAlO3.",
          "Tc is 86-92 K, depending on the substrate."],
         [("material", "YBa2Cu3O7", 0), ("material", "LaAlO3", 0), ("tcValue", "86-92 K", 1)],
         [("YBa2Cu3O7", None, "86-92 K", "earlier-sentence")]),
        (["Our films are grown by laser ablation on MgO or by sputtering on LaAlO3.",
          "Tc is 86-92 K, depending on the substrate."],
         [("material", "LaAlO3", 0), ("tcValue", "86-92 K", 1)], []),
        (["MgB2 films on SrTiO3 substrates have Tc = 39 K."],
         [("material", "MgB2", 0), ("material", "SrTiO3", 0), ("tcValue", "39 K", 0)],
         [("MgB2", None, "39 K", "same-sentence-before")]),
        (["MgB2 doped with SiC shows Tc = 37 K."],
         [("material", "MgB2", 0), ("material", "SiC", 0), ("tcValue", "37 K", 0)],
         [("MgB2", None, "37 K", "same-sentence-before")]),
    ],
)  # fmt: skip
def test_a_tagged_substrate_or_additive_is_not_the_sample(
    sentences: list[str], pieces: list[tuple[str, str, int]], expected: list[Found]
) -> None:
    assert links(sentences, *pieces) == expected


def test_a_material_measured_on_is_the_sample() -> None:
    substrate = ["MgB2 films on SrTiO3 substrates have Tc = 39 K."]
    pieces = [("material", "MgB2", 0), ("material", "SrTiO3", 0), ("tcValue", "39 K", 0)]
    assert links(substrate, *pieces) == [("MgB2", None, "39 K", "same-sentence-before")]
    # "measurements on", "studies on": the material is the one measured
    for sentence in ("Measurements on Cd2Re2O7 below 300 mK (for T c ∼ 1 K) were made.",
                     "Studies on Cd2Re2O7 were done with T c ∼ 1 K."):  # fmt: skip
        pieces = [("material", "Cd2Re2O7", 0), ("tcValue", "1 K", 0)]
        assert links([sentence], *pieces) == [
            ("Cd2Re2O7", None, "1 K", "same-sentence-before")]  # fmt: skip


@pytest.mark.parametrize(
    ("sentence", "value"),
    [
        # a temperature stated against Tc: where something was looked at
        ("The films were measured at 25 K (seven times Tc!) by mistake.", "25 K"),
        ("The resistivity at 40 K, just above Tc, is 1 µΩcm.", "40 K"),
        ("The gap was read at 2 K (0.05 T c ).", "2 K"),
        # a value the paper doubts
        ("Although reported T c ~ 115 K is doubtful, the films were reproducible.", "~ 115 K"),
        ("A dubious report of superconductivity at 115 K was not confirmed.", "115 K"),
        ("Superconductivity at 50 K, which was not reproduced, was claimed.", "50 K"),
        # another characteristic temperature's symbol
        ("The films have T 0 = 30 K well below their Tc.", "30 K"),
        ("The films have T0 = 30 K well below their Tc.", "30 K"),
        # the ordering of a site, named with it: no Tc, and no element's
        ("All data show the same magnetic order T C (Ru) of 131 K.", "131 K"),
    ],
)  # fmt: skip
def test_a_value_that_is_no_tc_of_any_material_is_linked_to_nothing(
    sentence: str, value: str
) -> None:
    assert links([MAIN, sentence], ("material", "MgB2", 0), ("tcValue", value, 1)) == []


def test_a_tc_compared_with_another_tc_stays_a_tc() -> None:
    def linked(sentence: str, value: str) -> list[str]:
        found = links([MAIN, sentence], ("material", "MgB2", 0), ("tcValue", value, 1))
        return [v for _, _, v, _ in found]

    assert linked("The films were measured at 25 K (seven times Tc!).", "25 K") == []
    assert linked("Their Tc = 39 K, above the Tc of Nb3Sn.", "39 K") == ["39 K"]
    assert linked("Their Tc = 39 K, well above Tc onset of others.", "39 K") == ["39 K"]
    assert linked("Their Tc is 39 K, twice Tc of NbSe2.", "39 K") == ["39 K"]
    assert linked("Samples with 16 K > T c were grown.", "16 K") == ["16 K"]  # a bound
    assert linked("Their T c0 = 37 K.", "37 K") == ["37 K"]  # zero resistance, not T0
    assert linked("The reported Tc of 39 K was confirmed.", "39 K") == ["39 K"]


@pytest.mark.parametrize(
    ("word", "symbol"),
    [("Nb", "Nb"), ("W", "W"), ("Tantalum", "Ta"), ("tungsten", "W"), ("aluminium", "Al"),
     ("in- dium", "In"), ("LEAD", "Pb"), ("in", None), ("NB", None), ("MgB2", None),
     ("tantalate", None)],
)  # fmt: skip
def test_element_symbol_reads_a_symbol_or_a_name(word: str, symbol: str | None) -> None:
    from literature.normalize import element_symbol  # new: its import fails before

    assert element_symbol(word) == symbol
