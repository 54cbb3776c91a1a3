"""From a parsed paper to mentions, linked property records and sentence embeddings.

The steps: tag every sentence, normalise each mention (materials with
:func:`~literature.normalize.resolve_doping` per section so that ``"x = 0.1"`` finds its
base formula; values with pint), link values to materials, and embed each sentence for
search. Nothing here touches storage: the result is a plain
:class:`~literature.records.PaperExtraction`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from literature.linking import (
    applied_fields,
    follows_change,
    link_conditions,
    link_field,
    link_values,
    names_change,
)
from literature.normalize import (
    MaterialName,
    parse_quantity,
    resolve_doping,
    unit_of_kind_at,
    variables_only,
)
from literature.records import (
    AMBIENT_GPA,
    MEASURING_FIELD_T,
    VALUE_PROPERTIES,
    Mention,
    PaperExtraction,
    PropertyRecord,
    impossible,
)
from literature.text import Paper

if TYPE_CHECKING:
    from literature.embeddings import SentenceEncoder
    from literature.ner import Tagger

# Quantity kind and default unit of each value label.
QUANTITY_KINDS: dict[str, tuple[str, str]] = {
    "tcValue": ("temperature", "K"),
    "pressure": ("pressure", "GPa"),
}

# What joins the two ends of a range the tagger split ("between [36 and] [38 K]"): the
# first end's unit, if written, then "and", "to" or a dash.
_RANGE_JOIN = re.compile(r"\s*(?:°\s?[CF]|[A-Za-zµμ]{1,4})?\s*(?P<word>and|to|[-–—−])\s*")
# The word that opens a range, just before its first number.
_RANGE_OPENS = re.compile(r"\b(between|from)\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class Extractor:
    """Reads papers with one tagger version and, optionally, a sentence encoder.

    Args:
        tagger: The entity tagger.
        model_version: Registry version of ``tagger``, recorded on every mention.
        encoder: Sentence encoder for search embeddings; none are made when ``None``.
        batch_size: Sentences per forward pass.
    """

    def __init__(
        self,
        tagger: Tagger,
        model_version: str,
        encoder: SentenceEncoder | None = None,
        batch_size: int = 64,
    ) -> None:
        self.tagger = tagger
        self.model_version = model_version
        self.encoder = encoder
        self.batch_size = batch_size

    def extract(self, paper: Paper) -> PaperExtraction:
        """Mentions, records and embeddings of ``paper``."""
        located = paper.sentences()
        texts = [text for _, _, text in located]
        spans = self.tagger.predict(texts, batch_size=self.batch_size)
        mentions = [
            Mention(
                label=span.label,
                text=text[span.start : span.end],
                section=section,
                sentence=sentence,
                start=span.start,
                end=span.end,
                confidence=round(span.confidence, 4),
            )
            for (section, sentence, text), found in zip(located, spans, strict=True)
            for span in found
        ]
        mentions = normalize_mentions(paper, mentions)
        embeddings: dict[tuple[int, int], bytes] = {}
        if self.encoder is not None and texts:
            from literature.vectors import to_bytes

            vectors = self.encoder.encode(texts, batch_size=self.batch_size)
            embeddings = {
                (s, j): to_bytes(v) for (s, j, _), v in zip(located, vectors, strict=True)
            }
        linked = link_records(mentions, {(s, j): text for s, j, text in located})
        records = [r for r in linked if rejection(r) is None]
        return PaperExtraction(
            paper=paper,
            mentions=mentions,
            records=records,
            model_version=self.model_version,
            embeddings=embeddings,
            records_rejected=len(linked) - len(records),
        )


def normalize_mentions(paper: Paper, mentions: Sequence[Mention]) -> list[Mention]:
    """Mentions with their ``normalized`` readings filled in, in reading order.

    A range the tagger split in two is read as one first (:func:`join_ranges`).
    Materials are read section by section in order, so a doping value (``"x = 0.1"``)
    resolves against the formula that came before it in the same section. A value reads
    its qualifier from the words before it in its sentence when the mention has none (a
    tagged "45 K" in "Tc exceeds 45 K" is ``">"``: :func:`~literature.normalize.parse_quantity`),
    and a value whose unit the sentence goes on dividing ("dTc/dP of [0.5 K]/GPa") is a
    rate and is left unread.
    """
    ordered = join_ranges(paper, _whole_numbers(paper, mentions))
    materials: dict[int, list[int]] = defaultdict(list)
    for index, mention in enumerate(ordered):
        if mention.label == "material":
            materials[mention.section].append(index)
    result: list[Mention] = list(ordered)
    for section, indices in materials.items():
        text, of = paper.sections[section].text, paper.sections[section].sentence_text
        sentences = [of(ordered[i].sentence) for i in indices]
        names = resolve_doping([ordered[i].text for i in indices], text, sentences)
        for i, name in zip(indices, names, strict=True):
            result[i] = replace(ordered[i], normalized=_material_fields(name))
    for i, mention in enumerate(result):
        if mention.label in QUANTITY_KINDS:
            kind, unit = QUANTITY_KINDS[mention.label]
            sentence = paper.sections[mention.section].sentence_text(mention.sentence)
            quantity = parse_quantity(
                mention.text,
                default_unit=unit,
                kind=kind,
                before=sentence[: mention.start],
                after=sentence[mention.end :],
            )
            if quantity is not None:
                result[i] = replace(
                    mention,
                    normalized={
                        "value": quantity.value,
                        "low": quantity.low,
                        "high": quantity.high,
                        "uncertainty": quantity.uncertainty,
                        "unit": quantity.unit,
                        "qualifier": quantity.qualifier,
                    },
                )
    return result


def _whole_numbers(paper: Paper, mentions: Sequence[Mention]) -> list[Mention]:
    """Mentions in reading order, each value the tagger cut inside a number made whole.

    A tagger's tokens may split "3.5 K" into "3", "." and "5 K": a value mention "[3].5 K"
    read as it is would be 3 K. Its span is widened over the digits and decimal point it
    cuts through on either side, and over a unit of its kind just after a number cut at
    its end: "[3.5 mK]" (not "in" after a temperature: inches). Value mentions of one
    label that then overlap ("[3.5]" and "[3.5 K]") are one, over both spans, with the
    lower confidence.
    """
    result: list[Mention] = []
    last_value: dict[tuple[int, int, str], int] = {}  # where each sentence's last value is
    for mention in sorted(mentions, key=lambda m: m.key):
        if mention.label not in QUANTITY_KINDS:
            result.append(mention)
            continue
        sentence = paper.sections[mention.section].sentence_text(mention.sentence)
        kind = QUANTITY_KINDS[mention.label][0]
        start, end = mention.start, mention.end
        while start > 0 and _continues_number(sentence, start - 1, start):
            start -= 1
        while end < len(sentence) and _continues_number(sentence, end, end - 1):
            end += 1
        if end > mention.end and (unit_end := unit_of_kind_at(sentence, end, kind)) is not None:
            end = unit_end  # "[3].5 mK": the unit after the number cut is the value's
        where = (mention.section, mention.sentence, mention.label)
        at = last_value.get(where)
        if at is not None and start < result[at].end:  # overlaps the value before it: one
            before = result[at]
            start, end = before.start, max(end, before.end)
            confidence = min(before.confidence, mention.confidence)
            result[at] = replace(before, text=sentence[start:end], end=end, confidence=confidence)
            continue
        if (start, end) != (mention.start, mention.end):
            mention = replace(mention, text=sentence[start:end], start=start, end=end)
        last_value[where] = len(result)
        result.append(mention)
    return result


def _continues_number(sentence: str, at: int, inside: int) -> bool:
    """Whether ``sentence[at]`` belongs to the number that ``sentence[inside]`` is part of.

    A digit does, and so does a decimal point with a digit on its other side.
    """
    if not sentence[inside].isdigit() and sentence[inside] != ".":
        return False
    if sentence[at].isdigit():
        return True
    beyond = at + (at - inside)
    return sentence[at] == "." and 0 <= beyond < len(sentence) and sentence[beyond].isdigit()


def join_ranges(paper: Paper, mentions: Sequence[Mention]) -> list[Mention]:
    """Mentions in reading order, each range the tagger split in two made one mention.

    Two value mentions of one label, next to each other in a sentence, are the two ends
    of one range when only "to" or a dash (after the first end's unit, if written) comes
    between the numbers, or "and" after "between": "Tc of [16 K] to [17 K]", "[36]–[38
    K]", "from [36 K] to [38 K]", "between [36] and [38 K]" (each with one number: a
    third value does not join the range; "Tc of [16 K] and [17 K]" stays two). The
    range's mention runs from "between"/"from", if written, to the end of the second
    (``"between 36 and 38 K"``, which reads as 36 to 38 K), with the lower confidence of
    the two; read apart, they would be two points. Two values of a property after a
    change word and "from" in one clause stay two: "Tc increases from [30 K] to [40 K]
    under pressure" gives the state before and the one after, not a range. So do two
    without "from" after a change verb ("pressure raises Tc [8 K] to [37 K]"), and those
    after a "from" that repeats such a change ("… and from [21 K] to [60 K] in the
    second series"); asides in parentheses between the change and "from" are read past.
    Conditions still join there ("as the pressure increases from [1] to [5 GPa]"): a
    value read over them holds over the range.
    """
    ordered = sorted(mentions, key=lambda m: m.key)
    joined: list[Mention] = []
    for mention in ordered:
        last = joined[-1] if joined else None
        if last is not None and (both := _range_of(paper, last, mention)) is not None:
            joined[-1] = both
        else:
            joined.append(mention)
    return joined


def _range_of(paper: Paper, first: Mention, second: Mention) -> Mention | None:
    """``first`` and ``second`` as one range mention, or ``None`` when they are not one."""
    if (
        first.label not in QUANTITY_KINDS
        or second.label != first.label
        or (first.section, first.sentence) != (second.section, second.sentence)
        or second.start < first.end
    ):
        return None
    low, high = list(_NUMBER.finditer(first.text)), list(_NUMBER.finditer(second.text))
    if len(low) != 1 or len(high) != 1:  # one end each: no third end joins a range
        return None
    sentence = paper.sections[first.section].sentence_text(first.sentence)
    middle = sentence[first.start + low[0].end() : second.start + high[0].start()]
    before = sentence[: first.start + low[0].start()]
    opens = _RANGE_OPENS.search(before)
    joint = _RANGE_JOIN.fullmatch(middle)
    # "and" joins the ends of a range only after "between": "Tc of [16 K] and [17 K]" is two
    if joint is None or (opens is None and joint["word"] == "and"):
        return None
    if first.label in VALUE_PROPERTIES and (
        follows_change(before) or (opens is None and names_change(before))
    ):
        return None  # "Tc increases from [30 K] to [40 K]", "raises Tc [8 K] to …": two states
    start = first.start if opens is None else min(first.start, opens.start())
    return replace(
        first,
        text=sentence[start : second.end],
        start=start,
        end=second.end,
        confidence=min(first.confidence, second.confidence),
        normalized={},
    )


def build_records(
    mentions: Sequence[Mention], sentences: Mapping[tuple[int, int], str] | None = None
) -> list[PropertyRecord]:
    """Property records from linked value and material mentions, rejected ones dropped.

    As :func:`link_records`, less the records that :func:`rejection` refuses.
    """
    return [r for r in link_records(mentions, sentences) if rejection(r) is None]


def rejection(record: PropertyRecord) -> str | None:
    """Why a linked reading is not stored, or ``None`` when it is.

    * ``"impossible"``: the reading cannot be a claim
      (:func:`~literature.records.impossible`: a Tc below 0 K, or at 0 K).
    * ``"unread pressure"``: the value was linked to a pressure mention that did not read
      as a pressure ("high pressure", "5 GP"). Stored without it, the value would pass for
      the material's value at ambient pressure, which the paper does not say.
    * ``"no material"``: the material mention only gives values of variables that no
      formula took (``"x = 0.05 to x = 0.44"``, ``"R = Gd"``:
      :func:`~literature.normalize.variables_only`).

    Each is counted in :attr:`~literature.records.PaperExtraction.records_rejected`.
    """
    if impossible(record):
        return "impossible"
    pressure = record.pressure_mention
    if pressure is not None and "value" not in pressure.normalized:
        return "unread pressure"
    material = record.material_mention
    named = material.normalized.get("formula") or material.normalized.get("elements")
    if not named and variables_only(material.text):
        return "no material"
    return None


def link_records(
    mentions: Sequence[Mention], sentences: Mapping[tuple[int, int], str] | None = None
) -> list[PropertyRecord]:
    """Property records from linked value and material mentions, as read.

    A value that did not parse to a number, or whose material is a class of materials,
    gives no record; nor does one the linker leaves unlinked, whose material the tagger
    missed or that states a change of the property ("the change in Tc is 0.3 K"), which
    it can tell only from ``sentences`` (:func:`~literature.linking.link_values`).
    Confidence = value confidence x material confidence x link confidence. The pressure
    the value was read at (:func:`~literature.linking.link_conditions`: the i-th of a
    "respectively" list of as many as the values, else the one right after it, else the
    nearest that is no other value's; none where ambient pressure is
    stated by it, and never another property's value, "a bulk modulus of 160 GPa")
    becomes the record's ``conditions`` (:func:`_pressure_conditions`: none at
    ambient pressure) and its ``pressure_mention``; one that did not read as a pressure
    gives no conditions, so :func:`rejection` refuses the record rather than let it pass
    for an ambient reading. An applied magnetic field stated with the value, untagged
    ("an onset in an applied magnetic field of 14 T at [10.2 K]":
    :func:`~literature.linking.link_field`), is its ``field_t`` in T, unless it is a
    measuring field (:data:`~literature.records.MEASURING_FIELD_T`, 100 Oe or less).

    Args:
        mentions: One paper's normalised mentions.
        sentences: Text of each sentence by ``(section, sentence)``, for the linker's
            "respectively" rule, untagged formulas and changes
            (:func:`~literature.linking.link_values`).
    """
    records = []
    fields = [*mentions, *applied_fields(sentences or {})]
    for link in link_values(mentions, sentences):
        value, material = link.value, link.material
        if "value" not in value.normalized or material.normalized.get("is_class"):
            continue
        name, unit = VALUE_PROPERTIES[value.label]
        conditions: dict[str, Any] = {}
        pressure = link_conditions(value, mentions, "pressure", sentences)
        if pressure is not None and "value" in pressure.normalized:
            conditions = _pressure_conditions(pressure.normalized)
        field = link_field(value, fields, sentences)
        if field is not None and field.normalized["value"] > MEASURING_FIELD_T:
            conditions["field_t"] = field.normalized["value"]
        records.append(
            PropertyRecord(
                material=material.normalized.get("formula")
                or material.normalized.get("name")
                or material.text,
                formula=material.normalized.get("formula"),
                property=name,
                value=value.normalized["value"],
                low=value.normalized["low"],
                high=value.normalized["high"],
                unit=unit,
                qualifier=value.normalized["qualifier"],
                confidence=round(value.confidence * material.confidence * link.confidence, 4),
                material_mention=material,
                value_mention=value,
                conditions=conditions,
                pressure_mention=pressure,
                uncertainty=value.normalized.get("uncertainty"),
            )
        )
    return records


def _pressure_conditions(reading: dict[str, Any]) -> dict[str, float]:
    """A record's conditions for the pressure it was read at, in GPa.

    A point gives ``pressure_gpa``; a range gives ``pressure_gpa_low`` and
    ``pressure_gpa_high``, a bound only its side ("below 20 GPa": ``pressure_gpa_high``),
    so no pressure the paper never stated (a range's middle) is stored. At or below
    atmospheric pressure ("ambient", "1 atm", "0.1 MPa", "0 GPa") the reading is the
    material's plain value: no condition.

    Args:
        reading: A pressure mention's ``normalized`` fields (``value``, ``low``, ``high``,
            ``qualifier``), in GPa; a bound has only its side
            (:class:`~literature.normalize.QuantityValue`).

    Returns:
        The conditions, ``{}`` at ambient pressure.
    """
    low, high = reading["low"], reading["high"]
    if high is not None and high <= AMBIENT_GPA:
        return {}
    if low is not None and low == high:
        return {"pressure_gpa": reading["value"]}
    bounds = {"pressure_gpa_low": low, "pressure_gpa_high": high}
    return {key: bound for key, bound in bounds.items() if bound is not None}


def _material_fields(name: MaterialName) -> dict[str, Any]:
    """A material mention's ``normalized`` fields: ``elements`` whenever they are known.

    ``"LSCO"`` has no formula (its x is not given) but its elements are La, Sr, Cu and O
    (:attr:`~literature.normalize.MaterialName.elements`).
    """
    fields: dict[str, Any] = {"name": name.name, "is_class": name.is_class}
    if name.formula is not None:
        fields["formula"] = name.formula
    if name.elements:
        fields["elements"] = list(name.elements)
    if name.variables:
        fields["variables"] = dict(name.variables)
    return fields
