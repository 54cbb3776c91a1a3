"""Link value mentions to the material they describe (SuperMat's ``corresp``).

Rules: a Tc value refers to the nearest material before it in its sentence, else the
nearest one after it, else the last material of the two sentences before. Each rule
carries, as its confidence, its precision on the gold links of SuperMat's training
papers with gold entities (343 links: the rules fire on 297 and are right on 246).

A learned pair classifier (logistic regression over distance, order, intervening
materials, "respectively" and the rules' own choice) was tried against these rules by
``benchmarks/linking.py`` and did not clearly beat them (F1 0.708 at its best threshold
against 0.689, cross-validated over the development papers), so the rules stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from literature.records import VALUE_PROPERTIES, Mention

# Confidence of each rule: its precision on the SuperMat training papers (gold entities).
SAME_SENTENCE_BEFORE = 0.85  # 157 of 185
SAME_SENTENCE_AFTER = 0.74  # 43 of 58
EARLIER_SENTENCE = 0.81  # 44 of 54
LOOKBACK_SENTENCES = 2


@dataclass(frozen=True)
class Link:
    """A value mention, the material it refers to, and how sure the rule is."""

    value: Mention
    material: Mention
    confidence: float
    rule: str


def link_values(mentions: Sequence[Mention]) -> list[Link]:
    """Link every value mention to a material mention by the rules above.

    Args:
        mentions: One paper's mentions (any order).

    Returns:
        One link per value mention that has a material to link to, in reading order.
    """
    ordered = sorted(mentions, key=lambda m: m.key)
    materials = [m for m in ordered if m.label == "material"]
    links = []
    for value in (m for m in ordered if m.label in VALUE_PROPERTIES):
        link = _link(value, materials)
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


def _sentence(mention: Mention) -> tuple[int, int]:
    return (mention.section, mention.sentence)
