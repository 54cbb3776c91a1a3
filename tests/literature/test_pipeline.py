from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from literature.baseline import DictionaryTagger
from literature.linking import SAME_SENTENCE_BEFORE
from literature.ner import Tagger
from literature.parsing import parse_paper
from literature.pipeline import (
    Extractor,
    build_records,
    link_records,
    normalize_mentions,
    rejection,
)
from literature.records import Mention, PaperExtraction, impossible
from literature.text import Paper, Section, Sentence
from tests.stand_ins import SpansOf

TEXT = (
    "We grew La2−xSrxCuO4 crystals. For x = 0.15 the Tc is 38 K. "
    "The cuprate family shows Tc up to 133 K at 3 GPa. MgB2 superconducts at 39 K."
)


def paper() -> Paper:
    spans = []
    start = 0
    pieces = (
        "We grew La2−xSrxCuO4 crystals.",
        "For x = 0.15 the Tc is 38 K.",
        "The cuprate family shows Tc up to 133 K at 3 GPa.",
        "MgB2 superconducts at 39 K.",
    )
    for piece in pieces:
        start = TEXT.index(piece, start)
        spans.append(Sentence(start, start + len(piece)))
    return Paper("test.txt", "text", "A test", sections=(Section("body", TEXT, tuple(spans)),))


def found(label: str, text: str, sentence: int, p: Paper) -> Mention:
    sentence_text = p.sections[0].sentence_text(sentence)
    start = sentence_text.index(text)
    return Mention(label, text, 0, sentence, start, start + len(text), confidence=0.9)


def test_records_resolve_doping_convert_units_and_skip_classes() -> None:
    p = paper()
    mentions = [
        found("material", "La2−xSrxCuO4", 0, p),
        found("material", "x = 0.15", 1, p),
        found("tcValue", "38 K", 1, p),
        found("class", "cuprate", 2, p),
        found("material", "cuprate family", 2, p),
        found("tcValue", "up to 133 K", 2, p),
        found("pressure", "3 GPa", 2, p),
        found("material", "MgB2", 3, p),
        found("tcValue", "39 K", 3, p),
    ]
    normalized = normalize_mentions(p, mentions)
    by_text = {m.text: m.normalized for m in normalized}
    assert by_text["x = 0.15"]["formula"] == "La1.85Sr0.15CuO4"
    assert by_text["up to 133 K"]["value"] == pytest.approx(133.0)
    assert by_text["3 GPa"]["value"] == pytest.approx(3.0)
    records = build_records(normalized)
    assert [(r.material, r.value, r.unit) for r in records] == [
        ("La1.85Sr0.15CuO4", 38.0, "K"), ("MgB2", 39.0, "K")]  # fmt: skip
    first = records[0]
    assert first.formula == "La1.85Sr0.15CuO4" and first.property == "tc"
    assert first.confidence == pytest.approx(0.9 * 0.9 * SAME_SENTENCE_BEFORE)
    assert first.value_mention.sentence == 1 and first.material_mention.text == "x = 0.15"


def test_extractor_mentions_slice_their_sentences() -> None:
    tagger = Tagger.from_encoder(("material", "tcValue"), seed=1)  # untrained: any spans
    p = parse_paper(TEXT.encode(), "note.txt")
    extraction = Extractor(tagger, "tagger-test:0").extract(p)
    assert extraction.model_version == "tagger-test:0"
    assert extraction.mentions  # the random head tags something: the loop below is not empty
    for m in extraction.mentions:
        sentence = p.sections[m.section].sentence_text(m.sentence)
        assert sentence[m.start : m.end] == m.text
        assert 0 < m.confidence <= 1
    assert extraction.embeddings == {}


def test_sentence_embeddings_do_not_depend_on_batching() -> None:
    from literature.embeddings import SentenceEncoder

    encoder = SentenceEncoder(device="cpu")
    texts = ["MgB2 superconducts at 39 K.", "Iron pnictides " * 20, "Tc", "Pressure raises Tc."]
    batched = encoder.encode(texts, batch_size=2)  # sorted by length: not the input order
    alone = np.concatenate([encoder.encode([t]) for t in texts])
    assert batched.shape == (4, 384)
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_a_tc_below_absolute_zero_gives_no_record_and_is_counted() -> None:
    text = "MgB2 superconducts at 39 K. Nb has Tc = −1 K. Pb shows Tc near -300 °C."
    p = parse_paper(text.encode(), "cold.txt")
    pieces = [("material", m) for m in ("MgB2", "Nb", "Pb")]
    pieces += [("tcValue", v) for v in ("39 K", "−1 K", "-300 °C")]
    extraction = Extractor(SpansOf(pieces), "tagger-test:0").extract(p)  # type: ignore[arg-type]
    values = {m.text: m.normalized["value"] for m in extraction.mentions if m.label == "tcValue"}
    assert values["−1 K"] == -1.0 and values["-300 °C"] == pytest.approx(-26.85)  # as read
    assert [(r.material, r.value) for r in extraction.records] == [("MgB2", 39.0)]
    assert extraction.records_rejected == 2
    sentences = {(s, j): text for s, j, text in p.sentences()}
    assert build_records(extraction.mentions, sentences) == extraction.records
    linked = link_records(extraction.mentions, sentences)
    assert len(linked) == 3 and impossible(linked[1]) and impossible(linked[2])
    spread = replace(linked[0], low=-5.0, high=10.0, value=2.5)  # "−5–10 K"
    assert impossible(spread) and not impossible(replace(linked[0], property="kappa", value=-1))


def test_two_doped_series_in_one_paragraph_take_each_its_own_sentence_s_x() -> None:
    # the paragraph's x = 0.11 and x = 0.08 are ambiguous; each sentence's is not
    text = (
        "For LaO1-xFxFeAs with x = 0.11 we find Tc of 26 K. "
        "The Tc of Ba(Fe1-xCox)2As2 is 22 K for x = 0.08."
    )
    pieces = [("material", "LaO1-xFxFeAs"), ("material", "Ba(Fe1-xCox)2As2")]
    pieces += [("tcValue", "26 K"), ("tcValue", "22 K")]
    paper = parse_paper(text.encode(), "series.txt")
    extraction = Extractor(SpansOf(pieces), "tagger-test:0").extract(paper)  # type: ignore[arg-type]
    assert [(r.formula, r.value) for r in extraction.records] == [
        ("LaO0.89F0.11FeAs", 26.0),
        ("BaFe1.84Co0.16As2", 22.0),
    ]


def test_a_delta_the_paragraph_states_wins_over_its_sentence_s_default() -> None:
    text = "Our films all have δ = 0.4. The film of YBa2Cu3O7−δ shows Tc of 60 K."
    pieces = [("material", "YBa2Cu3O7−δ"), ("tcValue", "60 K")]
    paper = parse_paper(text.encode(), "delta.txt")
    extraction = Extractor(SpansOf(pieces), "tagger-test:0").extract(paper)  # type: ignore[arg-type]
    assert [r.formula for r in extraction.records] == ["YBa2Cu3O6.6"]  # not δ = 0's YBa2Cu3O7


def test_a_tc_of_0_k_is_no_transition_and_gives_no_record() -> None:
    # "from 0 K (y = 0)": the y = 0 end does not superconduct; a prior would learn Tc 0
    text = "MgB2 superconducts at 39 K. Hg2Sr2YCu2O8 has Tc = 0 K. Nb3Ge has Tc of 0-23 K."
    pieces = [("material", m) for m in ("MgB2", "Hg2Sr2YCu2O8", "Nb3Ge")]
    pieces += [("tcValue", v) for v in ("39 K", "0 K", "0-23 K")]
    paper = parse_paper(text.encode(), "zero.txt")
    extraction = Extractor(SpansOf(pieces), "tagger-test:0").extract(paper)  # type: ignore[arg-type]
    assert [(r.material, r.low, r.high) for r in extraction.records] == [
        ("MgB2", 39.0, 39.0),
        ("Nb3Ge", 0.0, 23.0),  # a range from 0 K is a claim
    ]
    assert extraction.records_rejected == 1
    above_zero = replace(extraction.records[0], value=0.0, low=0.0, high=None, qualifier=">")
    assert not impossible(above_zero)  # "Tc > 0 K": it superconducts


def records_of(text: str, pieces: list[tuple[str, str]]) -> list[tuple[str, dict[str, float]]]:
    """(material, conditions) of each record read from ``text`` with the given mentions."""
    extractor = Extractor(SpansOf(pieces), "tagger-test:0")  # type: ignore[arg-type]
    return [
        (r.material, r.conditions)
        for r in extractor.extract(parse_paper(text.encode(), "p.txt")).records
    ]


def test_the_extractor_links_respectively_in_order() -> None:
    text = "We grew films. MgB2 and NbSe2 have Tc of 39 K and 7 K, respectively."
    pieces = [("material", "MgB2"), ("material", "NbSe2"), ("tcValue", "39 K"), ("tcValue", "7 K")]
    extractor = Extractor(SpansOf(pieces), "tagger-test:0")  # type: ignore[arg-type]
    records = extractor.extract(parse_paper(text.encode(), "p.txt")).records
    assert [(r.material, r.value) for r in records] == [("MgB2", 39.0), ("NbSe2", 7.0)]


@pytest.mark.parametrize("pressure", ["ambient pressure", "0 GPa", "0.1 MPa", "1 atm", "1 bar"])
def test_a_reading_at_ambient_pressure_has_no_condition(pressure: str) -> None:
    pieces = [("material", "FeSe"), ("tcValue", "8 K"), ("pressure", pressure)]
    assert records_of(f"FeSe has a Tc of 8 K at {pressure}.", pieces) == [("FeSe", {})]


@pytest.mark.parametrize(
    ("text", "pressure", "conditions"),
    [
        ("Under 8.9 GPa, FeSe has a Tc of 30 K.", "8.9 GPa", {"pressure_gpa": 8.9}),
        ("In the range 4-10 GPa, FeSe has a Tc of 30 K.", "4-10 GPa",
         {"pressure_gpa_low": 4.0, "pressure_gpa_high": 10.0}),
        ("Below 20 GPa, FeSe has a Tc of 30 K.", "Below 20 GPa", {"pressure_gpa_high": 20.0}),
        ("Above 150 GPa, FeSe has a Tc of 30 K.", "Above 150 GPa", {"pressure_gpa_low": 150.0}),
    ],
)  # fmt: skip
def test_a_pressure_range_or_bound_keeps_its_ends(
    text: str, pressure: str, conditions: dict[str, float]
) -> None:
    pieces = [("material", "FeSe"), ("tcValue", "30 K"), ("pressure", pressure)]
    assert records_of(text, pieces) == [("FeSe", conditions)]


@pytest.mark.parametrize(
    ("value", "qualifier", "low", "high"),
    [
        ("up to 40 K", "<=", None, 40.0),  # an upper bound: nothing said of how low
        ("over 45 K", ">", 45.0, None),  # a lower bound
        ("30-48 K", "=", 30.0, 48.0),
        ("39 K", "=", 39.0, 39.0),
    ],
)
def test_a_bound_is_read_with_one_end(
    value: str, qualifier: str, low: float | None, high: float | None
) -> None:
    extractor = Extractor(SpansOf([("material", "FeSe"), ("tcValue", value)]), "tagger-test:0")  # type: ignore[arg-type]
    (record,) = extractor.extract(parse_paper(f"FeSe has Tc {value}.".encode(), "p.txt")).records
    assert (record.qualifier, record.low, record.high) == (qualifier, low, high)


def test_a_material_without_a_formula_gets_its_elements() -> None:
    pieces = [("material", "LSCO"), ("material", "BSCCO"), ("tcValue", "38 K"), ("tcValue", "90 K")]
    text = "LSCO has Tc 38 K. BSCCO has Tc 90 K."
    extraction = Extractor(SpansOf(pieces), "tagger-test:0").extract(  # type: ignore[arg-type]
        parse_paper(text.encode(), "p.txt")
    )
    found = {r.material: r.material_mention.normalized for r in extraction.records}
    assert found["LSCO"]["elements"] == ["Cu", "La", "O", "Sr"] and "formula" not in found["LSCO"]
    assert found["BSCCO"]["elements"] == ["Bi", "Ca", "Cu", "O", "Sr"]


def extraction_of(text: str, pieces: list[tuple[str, str]]) -> PaperExtraction:
    """What the extractor reads in ``text`` when the tagger finds exactly ``pieces``."""
    extractor = Extractor(SpansOf(pieces), "tagger-test:0")  # type: ignore[arg-type]
    return extractor.extract(parse_paper(text.encode(), "p.txt"))


@pytest.mark.parametrize(
    ("text", "pressure", "conditions"),
    [
        ("Applying a pressure of 8.9 Gpa, the Tc of FeTe0.5Se0.5 rises to 26 K.", "8.9 Gpa",
         {"pressure_gpa": 8.9}),
        ("At 17 Kbar, the Tc of FeTe0.5Se0.5 rises to 26 K.", "17 Kbar", {"pressure_gpa": 1.7}),
        # the tagger leaves the bound's words out of the span; they are read all the same
        ("The Tc of FeTe0.5Se0.5 rises to 26 K up to 1.5 GPa.", "1.5 GPa",
         {"pressure_gpa_high": 1.5}),
        ("Above 10 GPa, the Tc of FeTe0.5Se0.5 rises to 26 K.", "10 GPa",
         {"pressure_gpa_low": 10.0}),
    ],
)  # fmt: skip
def test_a_pressure_is_read_in_any_case_and_with_its_bound(
    text: str, pressure: str, conditions: dict[str, float]
) -> None:
    pieces = [("material", "FeTe0.5Se0.5"), ("tcValue", "26 K"), ("pressure", pressure)]
    assert records_of(text, pieces) == [("FeTe0.5Se0.5", conditions)]


@pytest.mark.parametrize(
    ("text", "pressure"),
    [
        ("Under high pressure, the Tc of FeSe rises to 37 K.", "high pressure"),
        ("At 5 GP, the Tc of FeSe rises to 37 K.", "5 GP"),
    ],
)
def test_a_value_under_a_pressure_that_cannot_be_read_is_not_stored_as_ambient(
    text: str, pressure: str
) -> None:
    pieces = [("material", "FeSe"), ("tcValue", "37 K"), ("pressure", pressure)]
    extraction = extraction_of(text, pieces)
    assert extraction.records == [] and extraction.records_rejected == 1
    (linked,) = link_records(extraction.mentions)
    assert linked.pressure_mention is not None and linked.pressure_mention.text == pressure
    assert rejection(linked) == "unread pressure"


def test_a_delta_stated_in_the_text_gives_the_formula() -> None:
    text = "The YBa2Cu3O7-δ film with δ = 0.4 shows Tc = 60 K."
    pieces = [("material", "YBa2Cu3O7-δ"), ("tcValue", "60 K")]
    (record,) = extraction_of(text, pieces).records
    assert (record.formula, record.value) == ("YBa2Cu3O6.6", 60.0)


def test_a_family_label_is_never_its_sites_element() -> None:
    text = "The M-1222 (M= Nb and Ta) phases have Tc of 30 K. RE-1222 (RE = Eu) has Tc of 40 K."
    pieces = [("material", "M-1222 (M= Nb and Ta)"), ("material", "RE-1222 (RE = Eu)")]
    pieces += [("tcValue", "30 K"), ("tcValue", "40 K")]
    records = extraction_of(text, pieces).records  # a family of two: a class, no record
    assert [(r.material, r.formula) for r in records] == [("RE-1222 (RE = Eu)", None)]


@pytest.mark.parametrize(
    ("text", "value", "qualifier", "low", "high"),
    [
        ("At ambient pressure the maximum Tc of LaFeAsO0.9H0.1 is over 45 K.", "45 K", ">",
         45.0, None),
        ("For LaFeAsO0.86H0.14, Tc increases up to 48 K.", "48 K", "<=", None, 48.0),
        ("The Tc of LaFeAsO0.86H0.14 films stays below 19 K.", "19 K", "<", None, 19.0),
        ("LaFeAsO0.86H0.14 shows Tc up to about 48 K.", "48 K", "<=", None, 48.0),
        ("LaFeAsO0.86H0.14 becomes superconducting below 19 K.", "19 K", "=", 19.0, 19.0),
        ("LaFeAsO0.86H0.14 keeps the Tc quoted above, 39 K, in films.", "39 K", "=", 39.0,
         39.0),
        ("In LaFeAsO0.86H0.14 the Tc is approximately 40 K.", "40 K", "~", 40.0, 40.0),
        # a comma between the Tc and its comparison
        ("Of all films, LaFeAsO0.86H0.14 gave the highest T c , above 11 K.", "11 K", ">",
         11.0, None),
    ],
)  # fmt: skip
def test_a_bound_is_read_from_the_words_before_the_tagged_value(
    text: str, value: str, qualifier: str, low: float | None, high: float | None
) -> None:
    material = next(m for m in ("LaFeAsO0.9H0.1", "LaFeAsO0.86H0.14") if m in text)
    (record,) = extraction_of(text, [("material", material), ("tcValue", value)]).records
    assert (record.qualifier, record.low, record.high) == (qualifier, low, high)


def test_a_mention_of_only_variable_values_is_no_record_and_is_counted() -> None:
    text = "Samples from x = 0.05 to x = 0.44 1 superconduct at 30 K. MgB2 superconducts at 39 K."
    pieces = [("material", "x = 0.05 to x = 0.44 1"), ("material", "MgB2")]
    pieces += [("tcValue", "30 K"), ("tcValue", "39 K")]
    extraction = extraction_of(text, pieces)
    assert [r.material for r in extraction.records] == ["MgB2"]
    assert extraction.records_rejected == 1
    assert [rejection(r) for r in link_records(extraction.mentions)] == ["no material", None]


def test_a_doping_value_with_its_base_formula_is_a_record() -> None:
    text = "We grew La2−xSrxCuO4 crystals. For x = 0.15 the Tc is 38 K."
    pieces = [("material", "La2−xSrxCuO4"), ("material", "x = 0.15"), ("tcValue", "38 K")]
    (record,) = extraction_of(text, pieces).records
    assert record.formula == "La1.85Sr0.15CuO4"


@pytest.mark.parametrize(
    ("text", "pieces", "expected"),
    [
        # a material the tagger missed (H3S, TiN, MoGe, CsV3Sb5, Nb3Ge, V3Si) keeps its value
        ("Ba0.5Sr0.5TiO3 shows a Curie temperature of 253 K. H3S superconducts at 203 K under "
         "155 GPa.", [("material", "Ba0.5Sr0.5TiO3"), ("tcValue", "203 K"),
                      ("pressure", "155 GPa")], []),
        ("NbN films were grown. The TiN buffer has Tc of 4.5 K, and MoGe is superconducting "
         "below 7 K.", [("material", "NbN"), ("tcValue", "4.5 K"), ("tcValue", "7 K")], []),
        ("CsV3Sb5 and KV3Sb5 exhibit Tc values of 2.5 K and 0.93 K, respectively.",
         [("material", "KV3Sb5"), ("tcValue", "2.5 K"), ("tcValue", "0.93 K")],
         [("KV3Sb5", 0.93)]),
        ("Nb3Sn: Tc = 18.3 K; Nb3Ge: Tc = 23.2 K; V3Si: Tc = 17.1 K.",
         [("material", "Nb3Sn"), ("tcValue", "18.3 K"), ("tcValue", "23.2 K"),
          ("tcValue", "17.1 K")], [("Nb3Sn", 18.3)]),
        # a change of the property is not the property
        ("MgB2 films were grown. The overall change in Tc is only 0.3K.",
         [("material", "MgB2"), ("tcValue", "0.3K")], []),
    ],
)  # fmt: skip
def test_a_value_of_a_material_the_tagger_missed_or_a_change_is_no_record(
    text: str, pieces: list[tuple[str, str]], expected: list[tuple[str, float]]
) -> None:
    records = [(r.material, r.value) for r in extraction_of(text, pieces).records]
    assert records == expected


@pytest.mark.parametrize(
    ("text", "first", "second", "joined"),
    [
        ("La2−xSrxCuO4 with x = 0.15 shows Tc between 36 and 38 K.", "36 and", "38 K",
         "between 36 and 38 K"),
        ("La2−xSrxCuO4 with x = 0.15 shows Tc between 36 and 38 K.", "36", "38 K",
         "between 36 and 38 K"),
        ("La2−xSrxCuO4 with x = 0.15 shows Tc between 36 K and 38 K.", "36 K", "38 K",
         "between 36 K and 38 K"),
        ("La2−xSrxCuO4 with x = 0.15 shows Tc from 36 K to 38 K.", "36 K", "38 K",
         "from 36 K to 38 K"),
        ("La2−xSrxCuO4 with x = 0.15 shows Tc from 36 – 38 K.", "36", "38 K",
         "from 36 – 38 K"),
        ("La2−xSrxCuO4 with x = 0.15 shows Tc between 36 and 38 K.", "between 36", "38 K",
         "between 36 and 38 K"),
        # no "between" or "from": "to" or a dash still joins the ends
        ("La2−xSrxCuO4 with x = 0.15 shows Tc of 36 K to 38 K.", "36 K", "38 K",
         "36 K to 38 K"),
        ("La2−xSrxCuO4 with x = 0.15 shows Tc = 36–38 K.", "36", "38 K", "36–38 K"),
        # a range over samples, not a change
        ("La2−xSrxCuO4 with x = 0.15 shows Tc ranging from 36 K to 38 K.", "36 K", "38 K",
         "from 36 K to 38 K"),
        # a change in another clause
        ("As x increases, La2−xSrxCuO4 with x = 0.15 shows Tc from 36 K to 38 K.", "36 K",
         "38 K", "from 36 K to 38 K"),
    ],
)  # fmt: skip
def test_a_range_the_tagger_split_is_one_reading(
    text: str, first: str, second: str, joined: str
) -> None:
    pieces = [("material", "La2−xSrxCuO4"), ("material", "x = 0.15")]
    extraction = extraction_of(text, [*pieces, ("tcValue", first), ("tcValue", second)])
    (value,) = [m for m in extraction.mentions if m.label == "tcValue"]
    sentence = extraction.paper.sections[0].sentence_text(value.sentence)
    assert value.text == joined == sentence[value.start : value.end]
    (record,) = extraction.records
    assert (record.formula, record.value, record.low, record.high) == (
        "La1.85Sr0.15CuO4", 37.0, 36.0, 38.0)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [
        ("FeSe shows Tc of 36 K and 38 K.", "36 K", "38 K"),  # no "between" or "from"
        ("FeSe shows Tc from 36 K in films and 38 K.", "36 K", "38 K"),  # words between
        ("FeSe shows Tc between 36 K and 38 GPa.", "36 K", "38 GPa"),  # not one label
        # a change from one state to another
        ("Tc of FeSe increases from 30 K to 40 K under pressure.", "30 K", "40 K"),
        ("In FeSe Tc rose sharply with pressure from 8 K to 37 K.", "8 K", "37 K"),
        ("FeSe films show Tc suppressed from 8 K to 4 K.", "8 K", "4 K"),
        ("The Tc of FeSe goes from 8 K to 37 K.", "8 K", "37 K"),
        ("Pressure raises the Tc of FeSe 8 K to 37 K.", "8 K", "37 K"),  # no "from"
        ("Annealing shifts the Tc of FeSe from 8 to 10 K.", "8", "10 K"),
        # every verb the linking reads as a change: one list
        ("The Tc of FeSe declines from 9 K to 4 K.", "9 K", "4 K"),
        ("Tc of FeSe is elevated from 8 K to 37 K.", "8 K", "37 K"),
        ("The Tc of FeSe, rising from 8 K to 37 K, is high.", "8 K", "37 K"),
        ("The Tc of FeSe kept going up from 8 K to 37 K.", "8 K", "37 K"),
        # an aside on one end names that end alone (a criterion, a sample): no one reading
        ("Tc of FeSe ranges from 36 K (onset) to 38 K.", "36 K", "38 K"),
    ],
)
def test_two_values_that_are_not_a_range_stay_two(text: str, first: str, second: str) -> None:
    label = "pressure" if "GPa" in second else "tcValue"
    pieces = [("material", "FeSe"), ("tcValue", first), (label, second)]
    texts = [m.text for m in extraction_of(text, pieces).mentions if m.label != "material"]
    assert texts == [first, second]


def test_a_pressure_range_the_tagger_split_is_one_condition() -> None:
    text = "Between 1 and 2 GPa, FeSe has a Tc of 30 K."
    pieces = [("material", "FeSe"), ("tcValue", "30 K"), ("pressure", "1"), ("pressure", "2 GPa")]
    assert records_of(text, pieces) == [
        ("FeSe", {"pressure_gpa_low": 1.0, "pressure_gpa_high": 2.0})]  # fmt: skip


def test_a_change_from_one_state_to_another_gives_two_records() -> None:
    text = "Tc of FeSe increases from 30 K to 40 K under pressure."
    pieces = [("material", "FeSe"), ("tcValue", "30 K"), ("tcValue", "40 K")]
    records = extraction_of(text, pieces).records
    assert [(r.material, r.value, r.low, r.high) for r in records] == [
        ("FeSe", 30.0, 30.0, 30.0), ("FeSe", 40.0, 40.0, 40.0)]  # fmt: skip


def test_a_condition_after_a_change_word_still_joins_its_range() -> None:
    text = "FeSe keeps a Tc of 30 K as the pressure increases from 1 to 2 GPa."
    pieces = [("material", "FeSe"), ("tcValue", "30 K"), ("pressure", "1"), ("pressure", "2 GPa")]
    assert records_of(text, pieces) == [
        ("FeSe", {"pressure_gpa_low": 1.0, "pressure_gpa_high": 2.0})]  # fmt: skip


def test_a_third_value_does_not_join_a_range() -> None:
    text = "FeSe shows Tc between 36 and 38 K and 40 K in films."
    pieces = [("material", "FeSe"), ("tcValue", "36"), ("tcValue", "38 K"), ("tcValue", "40 K")]
    values = [m.text for m in extraction_of(text, pieces).mentions if m.label == "tcValue"]
    assert values == ["between 36 and 38 K", "40 K"]


@pytest.mark.parametrize(
    ("value", "uncertainty"), [("14.5 ± 0.3 K", 0.3), ("38(1) K", 1.0), ("14.5 K", None)]
)
def test_a_record_keeps_the_uncertainty_stated_with_its_value(
    value: str, uncertainty: float | None
) -> None:
    extraction = extraction_of(
        f"Nb3Sn has Tc = {value}.", [("material", "Nb3Sn"), ("tcValue", value)]
    )
    [record] = extraction.records
    assert record.uncertainty == uncertainty


@pytest.mark.parametrize(
    ("text", "pieces", "expected"),
    [
        # the 133 K is stated at ambient pressure; the 30 GPa is the 164 K's
        ("HgBa2Ca2Cu3O8 has the highest Tc of 133 K at ambient pressure, rising to 164 K "
         "under 30 GPa.", [("material", "HgBa2Ca2Cu3O8"), ("tcValue", "133 K"),
                           ("tcValue", "164 K"), ("pressure", "30 GPa")],
         [(133.0, {}), (164.0, {"pressure_gpa": 30.0})]),
        # a modulus in GPa is no pressure
        ("Nb3Sn has Tc = 18 K and a bulk modulus of 160 GPa.",
         [("material", "Nb3Sn"), ("tcValue", "18 K"), ("pressure", "160 GPa")],
         [(18.0, {})]),
        # a stress applied to the sample is
        ("The Tc of Sr2RuO4 rises to 3.5 K under a uniaxial stress of 0.7 GPa.",
         [("material", "Sr2RuO4"), ("tcValue", "3.5 K"), ("pressure", "0.7 GPa")],
         [(3.5, {"pressure_gpa": 0.7})]),
        # a clause of no value after a value introduces the next one
        *[(text, [("material", "FeSe"), ("tcValue", "8 K"), ("tcValue", "21 K"),
                  ("pressure", "1.5 GPa")], [(8.0, {}), (21.0, {"pressure_gpa": 1.5})])
          for text in ("FeSe has a Tc of 8 K; at 1.5 GPa, the Tc is 21 K.",
                       "FeSe has a Tc of 8 K, but under 1.5 GPa, it reaches 21 K.",
                       "FeSe has a Tc of 8 K and, at 1.5 GPa, a Tc of 21 K.")],
        # "respectively": the i-th condition listed is the i-th value's; 0 GPa is ambient
        ("MgB2 shows Tc of 39 K and 37 K at 0 and 1 GPa, respectively.",
         [("material", "MgB2"), ("tcValue", "39 K"), ("tcValue", "37 K"), ("pressure", "0"),
          ("pressure", "1 GPa")], [(39.0, {}), (37.0, {"pressure_gpa": 1.0})]),
        ("FeSe has Tc of 30 K and 35 K at 5 GPa and 10 GPa, respectively.",
         [("material", "FeSe"), ("tcValue", "30 K"), ("tcValue", "35 K"),
          ("pressure", "5 GPa"), ("pressure", "10 GPa")],
         [(30.0, {"pressure_gpa": 5.0}), (35.0, {"pressure_gpa": 10.0})]),
    ],
)  # fmt: skip
def test_a_pressure_elsewhere_in_the_sentence_is_not_the_values_condition(
    text: str, pieces: list[tuple[str, str]], expected: list[tuple[float, dict[str, float]]]
) -> None:
    extraction = extraction_of(text, pieces)
    assert [(r.value, r.conditions) for r in extraction.records] == expected
    assert extraction.records_rejected == 0


def test_a_modulus_the_pattern_tagger_reads_as_a_pressure_is_no_condition() -> None:
    tagger = DictionaryTagger(("material", "tcValue", "pressure")).fit([])
    text = "Nb3Sn has Tc = 18 K and a bulk modulus of 160 GPa."
    extraction = Extractor(tagger, "baseline:0").extract(parse_paper(text.encode(), "p.txt"))  # type: ignore[arg-type]
    assert ("pressure", "160 GPa") in [(m.label, m.text) for m in extraction.mentions]
    assert [(r.material, r.value, r.conditions) for r in extraction.records] == [
        ("Nb3Sn", 18.0, {})]  # fmt: skip


@pytest.mark.parametrize("rate", ["0.5 K/GPa", "0.5 K GPa-1", "0.5 K per GPa", "0.5 K/min"])
def test_a_rate_whose_unit_the_tagger_cut_short_is_no_tc(rate: str) -> None:
    text = f"MgB2 has Tc = 39 K and a dTc/dP of {rate}."
    pieces = [("material", "MgB2"), ("tcValue", "39 K"), ("tcValue", "0.5 K")]
    extraction = extraction_of(text, pieces)
    assert [(r.material, r.value) for r in extraction.records] == [("MgB2", 39.0)]
    (rate_mention,) = [m for m in extraction.mentions if m.text == "0.5 K"]
    assert rate_mention.normalized == {}


def test_a_value_of_another_transition_is_no_tc() -> None:
    text = "For CsV3Sb5 we find, respectively, T c =7.1 K and T CDW =32 K."
    pieces = [("material", "CsV3Sb5"), ("tcValue", "7.1 K"), ("tcValue", "32 K")]
    records = extraction_of(text, pieces).records
    assert [(r.material, r.value) for r in records] == [("CsV3Sb5", 7.1)]


def test_each_value_of_a_doping_series_is_the_dopings_named_right_after_it() -> None:
    text = "We grew La2−xSrxCuO4 crystals. Tc rises from 40 K for x ∼ 0.15 to 70 K for x ∼ 0.40."
    pieces = [("material", "La2−xSrxCuO4"), ("material", "x ∼ 0.15"), ("tcValue", "40 K"),
              ("tcValue", "70 K")]  # fmt: skip
    records = extraction_of(text, [*pieces, ("material", "x ∼ 0.40")]).records
    assert [(r.formula, r.value) for r in records] == [
        ("La1.85Sr0.15CuO4", 40.0), ("La1.6Sr0.4CuO4", 70.0)]  # fmt: skip
    # x ∼ 0.40 untagged: 70 K is a material's the tagger missed, not x ∼ 0.15's
    records = extraction_of(text, pieces).records
    assert [(r.formula, r.value) for r in records] == [("La1.85Sr0.15CuO4", 40.0)]


@pytest.mark.parametrize(
    ("second", "value", "expected"),
    [
        # how far the measurement went: no Tc
        ("The resistivity was measured down to 0.4 K.", "0.4 K", []),
        ("Bi2Se3 remains metallic down to 0.4 K.", "0.4 K", []),
        # a search that found no superconductivity: Tc < 0.4 K
        ("No superconductivity was observed down to 0.4 K.", "0.4 K", [("<", None, 0.4)]),
        # the Tc itself
        ("Under pressure, Tc is suppressed down to 5 K.", "5 K", [("=", 5.0, 5.0)]),
        ("Bi2Se3 films have a Tc as low as 5 K.", "5 K", [("=", 5.0, 5.0)]),
    ],
)  # fmt: skip
def test_a_measurement_limit_is_no_tc_record(
    second: str, value: str, expected: list[tuple[str, float | None, float | None]]
) -> None:
    text = f"We grew Bi2Se3 crystals. {second}"
    records = extraction_of(text, [("material", "Bi2Se3"), ("tcValue", value)]).records
    assert [(r.qualifier, r.low, r.high) for r in records] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # each value with its own sample: two readings, not a range
        ("Tc of FeSe increases from 21 K in the first sample to 60 K in the second one.",
         [(21.0, 21.0, 21.0), (60.0, 60.0, 60.0)]),
        ("Tc of FeSe ranges from 21 K to 60 K.", [(40.5, 21.0, 60.0)]),
    ],
)  # fmt: skip
def test_values_of_two_samples_are_no_range(
    text: str, expected: list[tuple[float, float, float]]
) -> None:
    pieces = [("material", "FeSe"), ("tcValue", "21 K"), ("tcValue", "60 K")]
    records = extraction_of(text, pieces).records
    assert [(r.value, r.low, r.high) for r in records] == expected


def test_values_of_a_change_after_an_aside_are_no_range() -> None:
    text = (
        "In both series Tc of La2−yBayCuO4 increases from 0 K (y = 0) to 42 K (y = 1.0) for "
        "the first series and from 21 K to 60 K in the second one."
    )
    pieces = [("material", "La2−yBayCuO4"), ("material", "y = 0"), ("material", "y = 1.0")]
    pieces += [("tcValue", v) for v in ("0 K", "42 K", "21 K", "60 K")]
    values = [m.text for m in extraction_of(text, pieces).mentions if m.label == "tcValue"]
    assert values == ["0 K", "42 K", "21 K", "60 K"]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        # an aside or a formula's parentheses between the change and "from"
        ("Tc of FeSe increases (see Figure 2) from 8 K to 37 K.", ["8 K", "37 K"]),
        ("Tc rises in Ba(1−x)KxFe2As2 from 3 K to 38 K.", ["3 K", "38 K"]),
        # "from … to …" repeated after a change, over commas too
        ("Tc of FeSe rises from 8 K to 9 K in films, and from 21 K to 60 K in bulk.",
         ["8 K", "9 K", "21 K", "60 K"]),
        ("Tc of FeSe rises from 8 K to 9 K, then from 21 K to 60 K.",
         ["8 K", "9 K", "21 K", "60 K"]),
        ("Tc of FeSe rises from 8 K to 9 K in films, from 21 K to 60 K in bulk and from "
         "30 K to 40 K in wires.", ["8 K", "9 K", "21 K", "60 K", "30 K", "40 K"]),
    ],
)  # fmt: skip
def test_a_change_read_past_asides_or_repeated_gives_two_states(
    text: str, values: list[str]
) -> None:
    pieces = [("material", "FeSe"), ("material", "Ba(1−x)KxFe2As2")]
    pieces += [("tcValue", v) for v in values]
    texts = [m.text for m in extraction_of(text, pieces).mentions if m.label == "tcValue"]
    assert texts == values


@pytest.mark.parametrize(
    ("text", "values", "joined"),
    [
        ("Tc of FeSe ranges from 21 K to 60 K.", ["21 K", "60 K"], ["from 21 K to 60 K"]),
        ("Tc of FeSe lies between 21 and 60 K.", ["21", "60 K"], ["between 21 and 60 K"]),
        ("FeSe samples show Tc from 21 K to 60 K.", ["21 K", "60 K"], ["from 21 K to 60 K"]),
        # an aside is no change, nor does a change inside one reach past it
        ("Tc of FeSe (a layered compound) ranges from 21 K to 60 K.", ["21 K", "60 K"],
         ["from 21 K to 60 K"]),
        ("Tc of FeSe (which rises under pressure) ranges from 21 K to 60 K.", ["21 K", "60 K"],
         ["from 21 K to 60 K"]),
        # a repeated "from" after no change, or with a verb of its own
        ("Tc of FeSe ranges from 8 K to 9 K in films and from 21 K to 60 K in bulk.",
         ["8 K", "9 K", "21 K", "60 K"], ["from 8 K to 9 K", "from 21 K to 60 K"]),
        ("Tc of FeSe rises from 8 K to 9 K under pressure and ranges from 21 K to 60 K.",
         ["8 K", "9 K", "21 K", "60 K"], ["8 K", "9 K", "from 21 K to 60 K"]),
        # a change in another part of the sentence
        ("Tc of FeSe rises from 8 K to 9 K, while films show Tc from 21 K to 60 K.",
         ["8 K", "9 K", "21 K", "60 K"], ["8 K", "9 K", "from 21 K to 60 K"]),
    ],
)  # fmt: skip
def test_a_range_stays_one_reading_beside_asides_and_changes(
    text: str, values: list[str], joined: list[str]
) -> None:
    pieces = [("material", "FeSe"), *[("tcValue", v) for v in values]]
    texts = [m.text for m in extraction_of(text, pieces).mentions if m.label == "tcValue"]
    assert texts == joined


@pytest.mark.parametrize(
    ("text", "material"),
    [
        # an amount with its uncertainty, and heavy water: deuterium is no element here
        ("The refined composition, Na 0.31(3) CoO 2 •1.25(2)D 2 O, suggests that the maximum "
         "T c is achieved at 4.5 K.", "Na 0.31(3) CoO 2 •1.25(2)D 2 O"),
        # an amount that does not read
        ("The system can be obtained from Na z' CoO 2 by de-intercalating Na + ions. The "
         "transition temperature T c is ~4.5 K.", "Na z' CoO 2"),
    ],
)  # fmt: skip
def test_a_formula_that_does_not_read_wholly_is_no_smaller_one(text: str, material: str) -> None:
    value = "4.5 K" if "4.5 K." in text else "~4.5 K"
    (record,) = extraction_of(text, [("material", material), ("tcValue", value)]).records
    assert (record.formula, record.material_mention.normalized.get("elements")) == (None, None)


@pytest.mark.parametrize(
    ("material", "formula"),
    [("Na 0.31(3) CoO 2 •1.25(2)H 2 O", "Na0.31CoH2.5O3.25"), ("Na 0.31(3) CoO 2", "Na0.31CoO2")],
)
def test_a_refined_amount_is_read_without_its_uncertainty(material: str, formula: str) -> None:
    text = f"The refined composition, {material}, superconducts at 4.5 K."
    (record,) = extraction_of(text, [("material", material), ("tcValue", "4.5 K")]).records
    assert record.formula == formula


@pytest.mark.parametrize(
    ("material", "text", "values", "expected"),
    [
        # a change defined as a difference of Tc's; Δ in the Symbol font
        ("RuSr 2 GdCu 2 O 8", "Broad resistivity transition width ∆T c = T c (onset) -T c "
         "(zero) ∼ 15-20 K observed is most likely originated from the coexistence.",
         ["15-20 K"], []),
        ("FeTe 0.5 Se 0.5", "The transition widths (\uf044T c ) are \uf044T c = 4.6 K for "
         "65 nm.", ["4.6 K"], []),
        # another transition's temperature, whatever its symbol
        ("RuSr 2 GdCu 2 O 8", "A spontaneous vortex state (SVS) between 30 K and 56 K was "
         "observed for the weak-ferromagnetic superconductor RuSr 2 GdCu 2 O 8 with "
         "ferromagnetic Curie temperature TC = 131 K and supercon- ducting transition "
         "temperature Tc = 56 K.", ["131 K", "56 K"], [(56.0, "=", 56.0, 56.0)]),
        # the range a measurement spanned; how far a measured behaviour held
        ("Bi 2 Sr 2 CaCu 2 O 8-x", "We present electron-tunneling spectroscopy of slightly "
         "overdoped Bi 2 Sr 2 CaCu 2 O 8-x (Bi2212) single crystals with T c = 87 -90 K in a "
         "temperature range between 14 K and 290 K using a break-junction technique.",
         ["87 -90 K", "14 K", "290 K"], [(88.5, "=", 87.0, 90.0)]),
        ("MgB 2", "Interest- ingly, a layered compound MgB 2 , which shows super- conductivity "
         "at T c = 39 K 3 , also exhibits T 2 depen- dence in the resistivity up to 240 K 4,5 .",
         ["39 K", "240 K"], [(39.0, "=", 39.0, 39.0)]),
        # no drop in resistivity down to 4.2 K: Tc < 4.2 K there
        ("RbOs 2 O 6", "It is reduced gradually with further increasing pressure, and at last "
         "no drops in resistivity are observed above 7 GPa down to 4.2 K.", ["4.2 K"],
         [(4.2, "<", None, 4.2)]),
    ],
)  # fmt: skip
def test_values_that_are_no_tc_of_the_material_or_only_bound_it(
    material: str,
    text: str,
    values: list[str],
    expected: list[tuple[float, str, float | None, float | None]],
) -> None:
    pieces = [("material", material), *[("tcValue", v) for v in values]]
    records = extraction_of(f"We grew {material} samples. {text}", pieces).records
    assert [(r.value, r.qualifier, r.low, r.high) for r in records] == expected


@pytest.mark.parametrize(
    ("text", "values", "pressures", "expected"),
    [
        # "AP": ambient pressure
        ("In the case of RbOs 2 O 6 , as shown in , the T c at 2 GPa is 8.2 K, raised from "
         "6.3 K at AP.", ["8.2 K", "6.3 K"], ["2 GPa"],
         [(8.2, {"pressure_gpa": 2.0}), (6.3, {})]),
        ("At 2 GPa the T c of RbOs 2 O 6 is 8.2 K, compared to 6.3 K at AP.", ["8.2 K", "6.3 K"],
         ["2 GPa"], [(8.2, {"pressure_gpa": 2.0}), (6.3, {})]),
        # the state before a change is not read at the condition the change leads to
        ("In the α-pyrochlore oxide superconductor Cd 2 Re 2 O 7 the high pressure study "
         "revealed that T c increases from 1.0 K to 3.0 K at 2 GPa and then decreases to "
         "vanish above 3 GPa.", ["1.0 K", "3.0 K"], ["2 GPa", "3 GPa"],
         [(1.0, {}), (3.0, {"pressure_gpa": 2.0})]),
        ("In Cd 2 Re 2 O 7 T c increases from 1.0 K at 0.5 GPa to 3.0 K at 2 GPa.",
         ["1.0 K", "3.0 K"], ["0.5 GPa", "2 GPa"],
         [(1.0, {"pressure_gpa": 0.5}), (3.0, {"pressure_gpa": 2.0})]),
    ],
)  # fmt: skip
def test_a_value_is_read_at_ambient_pressure_or_before_a_change(
    text: str,
    values: list[str],
    pressures: list[str],
    expected: list[tuple[float, dict[str, float]]],
) -> None:
    material = "RbOs 2 O 6" if "RbOs" in text else "Cd 2 Re 2 O 7"
    pieces = [("material", material), *[("tcValue", v) for v in values]]
    pieces += [("pressure", p) for p in pressures]
    assert [(r.value, r.conditions) for r in extraction_of(text, pieces).records] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MgB 2 fibers reacted at 1200 o C for 48 hours showed an onset of superconductivity in "
         "an externally applied magnetic field of 14 T at 10.2 K, 14.8 K, and 18.5 K for pure, "
         "0.6%, and 2.1% carbon doping .", [{"field_t": 14.0}] * 3),
        # a measuring field is no condition
        ("MgB 2 fibers showed an onset of a diamagnetic signal in an applied magnetic field of "
         "10 Oe at 10.2 K, 14.8 K, and 18.5 K.", [{}] * 3),
        # nor is a field stated apart from the values
        ("MgB 2 fibers have an upper critical field of 14 T, and an onset of superconductivity "
         "at 10.2 K, 14.8 K, and 18.5 K.", [{}] * 3),
    ],
)  # fmt: skip
def test_a_tc_read_in_a_magnetic_field_keeps_the_field(
    text: str, expected: list[dict[str, float]]
) -> None:
    pieces = [("material", "MgB 2"), *[("tcValue", v) for v in ("10.2 K", "14.8 K", "18.5 K")]]
    assert [r.conditions for r in extraction_of(text, pieces).records] == expected


@pytest.mark.parametrize(
    ("text", "pieces", "read"),
    [  # from the diff review: ordinary sentences the limit and right-after rules misread
        ("Resistivity data show that MgB2 superconducts above 35 K.", ["MgB2", "35 K"],
         [("MgB2", 35.0)]),
        ("Resistivity measurements show superconductivity up to 55 K in SmFeAsO.",
         ["SmFeAsO", "55 K"], [("SmFeAsO", 55.0)]),
        ("MgB2 wires showed Tc = 38 K in Fe sheaths.", ["MgB2", "38 K", "Fe"], [("MgB2", 38.0)]),
        ("YBCO films with Tc = 90 K at the SrTiO3 interface.", ["YBCO", "90 K", "SrTiO3"],
         [("YBa2Cu3O7", 90.0)]),
        ("MgB2 samples have Tc = 39 K (Nb: 9.2 K).", ["MgB2", "39 K", "Nb", "9.2 K"],
         [("MgB2", 39.0), ("Nb", 9.2)]),
        ("CeCoIn5 has Tc = 2.3 K in the CeMIn5 family.", ["CeCoIn5", "2.3 K", "CeMIn5 family"],
         [("CeCoIn5", 2.3)]),
        ("We grew La2-xSrxCuO4 crystals with Tc = 38 K for x = 0.15.", ["La2-xSrxCuO4", "38 K"],
         [("La1.85Sr0.15CuO4", 38.0)]),
        ("The resistivity of MgB2 was measured between 14 K and 290 K.",
         ["MgB2", "14 K", "290 K"], []),
    ],
)  # fmt: skip
def test_a_value_goes_to_the_sample_measured_and_a_tc_after_a_measurement_stays(
    text: str, pieces: list[str], read: list[tuple[str, float]]
) -> None:
    tagged = [("tcValue" if piece[0].isdigit() else "material", piece) for piece in pieces]
    records = extraction_of(text, tagged).records
    assert [(r.material, r.value) for r in records] == read


def test_a_value_cut_inside_its_number_is_read_whole_and_a_formula_count_is_no_value() -> None:
    text = (
        "NaCoO2 superconducts at T = 3.5 K. "
        "The fullerides A 3 C 60 are cubic. "
        "MgB2 has T c ~ 39.4 K. "
        "Rh orders near 0.25 mK."
    )
    p = parse_paper(text.encode(), "cut.txt")
    pieces = [("material", m) for m in ("NaCoO2", "MgB2", "Rh")]
    # the tagger's tokens: "3" of "3.5 K", a formula's count, "4 K" of "39.4 K", "0.2" of
    # "0.25 mK" (a unit after a number cut at its end is read with it)
    pieces += [("tcValue", v) for v in ("3", "4 K", "0.2")]
    extraction = Extractor(SpansOf(pieces), "tagger-test:0").extract(p)  # type: ignore[arg-type]
    values = [
        (m.text, m.normalized.get("value")) for m in extraction.mentions if m.label == "tcValue"
    ]
    assert values == [("3.5 K", 3.5), ("3", None), ("39.4 K", 39.4), ("0.25 mK", 0.00025)]
    for m in extraction.mentions:  # the widened spans still slice their sentences
        assert p.sections[m.section].sentence_text(m.sentence)[m.start : m.end] == m.text
    assert [(r.material, r.value) for r in extraction.records] == [
        ("NaCoO2", 3.5), ("MgB2", 39.4), ("Rh", 0.00025)]  # fmt: skip


def test_only_a_unit_of_the_values_kind_is_read_after_a_number_cut_short() -> None:
    from literature.normalize import unit_of_kind_at

    assert unit_of_kind_at("3.5 mK and", 3, "temperature") == 6
    assert unit_of_kind_at("3.5 in the film", 3, "temperature") is None  # inches
    assert unit_of_kind_at("2.5 kbar", 3, "pressure") == 8


def test_a_temperature_a_measurement_was_taken_at_is_no_tc() -> None:
    text = "The resistivity of FeSe at 300 K is 2 mOhm cm, and its Tc is 8 K."
    records = extraction_of(text, [("material", "FeSe"), ("tcValue", "300 K"), ("tcValue", "8 K")])
    assert [(r.material, r.value) for r in records.records] == [("FeSe", 8.0)]
