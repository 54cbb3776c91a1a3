"""Link value mentions to the material they describe (SuperMat's ``corresp``).

Rules: in a sentence that says "respectively" (or "resp.") and lists n >= 2 materials
and n values of one property, the i-th value refers to the i-th material ("MgB2 and
NbSe2 have Tc of 39 K and 7 K, respectively"; "39 K and 7 K for MgB2 and NbSe2,
respectively"). Otherwise a Tc value refers to the nearest material before it in its
sentence, else the nearest one after it, else the last material of the two sentences
before. Each rule carries, as its confidence, its precision on the gold links of
SuperMat's training papers with gold entities (451 values linked to a material: the
rules fire on 376 and are right on 319; ``benchmarks/linking.py`` measures it). The
"respectively" rule fires on 18 of them, all right, where the nearest-material rules
were right on 9.

A learned pair classifier (logistic regression over distance, order, intervening
materials, "respectively" and the rules' own choice) was tried against these rules by
``benchmarks/linking.py`` and did not clearly beat them (F1 0.720 at its best threshold
against 0.711, cross-validated over the development papers), so the rules stay.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from literature.records import VALUE_PROPERTIES, Mention

# Confidence of each rule: its precision on the SuperMat training papers (gold entities).
RESPECTIVELY = 0.95  # 18 of 18; (18 + 1) / (18 + 2), as 18 cases cannot show certainty
SAME_SENTENCE_BEFORE = 0.86  # 180 of 209
SAME_SENTENCE_AFTER = 0.78  # 47 of 60
EARLIER_SENTENCE = 0.83  # 74 of 89
LOOKBACK_SENTENCES = 2

# "respectively" or its abbreviation "resp.", as a word.
_RESPECTIVELY = re.compile(r"\brespectively\b|\bresp\.", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    """A value mention, the material it refers to, and how sure the rule is."""

    value: Mention
    material: Mention
    confidence: float
    rule: str


def link_values(
    mentions: Sequence[Mention], sentences: Mapping[tuple[int, int], str] | None = None
) -> list[Link]:
    """Link every value mention to a material mention by the rules above.

    Args:
        mentions: One paper's mentions (any order).
        sentences: Text of each sentence by ``(section, sentence)``; the "respectively"
            rule needs it and is skipped without it.

    Returns:
        One link per value mention that has a material to link to, in reading order.
    """
    ordered = sorted(mentions, key=lambda m: m.key)
    materials = [m for m in ordered if m.label == "material"]
    paired = _respectively(ordered, sentences or {})
    links = []
    for value in (m for m in ordered if m.label in VALUE_PROPERTIES):
        link = paired.get(value.key) or _link(value, materials)
        if link is not None:
            links.append(link)
    return links


def link_conditions(value: Mention, mentions: Sequence[Mention], label: str) -> Mention | None:
    """The ``label`` mention (e.g. ``pressure``) nearest to ``value`` in its sentence."""
    same = [m for m in mentions if m.label == label and _sentence(m) == _sentence(value)]
    if not same:
        return None
    return min(same, key=lambda m: abs(m.start - value.start))


def _link(value: Mention, materials: Sequence[Mention]) -> Link | None:
    same = [m for m in materials if _sentence(m) == _sentence(value)]
    before = [m for m in same if m.end <= value.start]
    if before:
        return Link(value, before[-1], SAME_SENTENCE_BEFORE, "same-sentence-before")
    after = [m for m in same if m.start >= value.end]
    if after:
        return Link(value, after[0], SAME_SENTENCE_AFTER, "same-sentence-after")
    section, sentence = _sentence(value)
    earlier = [
        m
        for m in materials
        if m.section == section and sentence - LOOKBACK_SENTENCES <= m.sentence < sentence
    ]
    if earlier:
        return Link(value, earlier[-1], EARLIER_SENTENCE, "earlier-sentence")
    return None


def _respectively(
    ordered: Sequence[Mention], sentences: Mapping[tuple[int, int], str]
) -> dict[tuple[int, int, int, int, str], Link]:
    """Links of "A and B have Tc of 39 K and 7 K, respectively": i-th value, i-th material.

    Only where the sentence says "respectively" and has as many materials as values of
    one property, at least two. The order of the two lists is free: "39 K and 7 K for A
    and B, respectively" and "39 K in A and 7 K in B, respectively" pair the same way
    (on SuperMat's training papers, requiring the materials first halves the rule's
    reach, 8 values instead of 18, and every one of the 18 is right).
    """
    groups: dict[tuple[int, int], list[Mention]] = defaultdict(list)
    for mention in ordered:
        if _RESPECTIVELY.search(sentences.get(_sentence(mention), "")):
            groups[_sentence(mention)].append(mention)
    links = {}
    for group in groups.values():
        materials = [m for m in group if m.label == "material"]
        for label in VALUE_PROPERTIES:
            values = [m for m in group if m.label == label]
            if len(values) != len(materials) or len(values) < 2:
                continue
            for value, material in zip(values, materials, strict=True):
                links[value.key] = Link(value, material, RESPECTIVELY, "respectively")
    return links


def _sentence(mention: Mention) -> tuple[int, int]:
    return (mention.section, mention.sentence)
