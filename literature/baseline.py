"""A dictionary and regular-expression tagger: the baseline the learned tagger must beat.

Entity strings seen in training are looked up (longest first, on word boundaries);
values and pressures are also matched by pattern, and formula-like words count as
materials. Same ``predict`` interface as :class:`literature.ner.Tagger`.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence

from literature.text import AnnotatedText, Span

_NUMBER = r"\d+(?:\.\d+)?"
_QUALIFIER = r"(?:(?:up to|about|around|above|below|near|almost|nearly|over|of|~|≈|<|>|≥|≤)\s*)?"
# Not inside a number, nor a power split off a unit ("W m -1 K -1" has no "1 K").
_VALUE = rf"(?<![\d.])(?<![A-Za-zμµΩÅ]-)(?<![A-Za-zμµΩÅ]\s-){_NUMBER}"
PATTERNS: dict[str, re.Pattern[str]] = {
    "tcValue": re.compile(rf"{_QUALIFIER}{_VALUE}(?:\s*[-–]\s*{_NUMBER})?\s?(?:m?K)\b"),
    "pressure": re.compile(rf"{_VALUE}(?:\s*[-–]\s*{_NUMBER})?\s?(?:GPa|MPa|kbar|bar)\b"),
    # Two or more element-like capitals with amounts: MgB2, La2-xSrxCuO4, FeSe0.5Te0.5.
    "material": re.compile(
        r"(?<![\w-])(?:[A-Z][a-z]?(?:\d+(?:\.\d+)?|[1-9]?[-−+]?[xyzδ])*){2,}(?![\w-])"
    ),
}


class DictionaryTagger:
    """Tags by exact lookup of training entity strings plus patterns.

    Args:
        labels: Entity types to tag.
        min_count: Keep a training string only if it was annotated this often with its
            most frequent label, and more often annotated than not.
    """

    def __init__(self, labels: Sequence[str], min_count: int = 1) -> None:
        self.labels = tuple(labels)
        self.min_count = min_count
        self.lexicon: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None

    def fit(self, blocks: Sequence[AnnotatedText]) -> DictionaryTagger:
        """Learn the lexicon from annotated blocks."""
        labelled: dict[str, Counter[str]] = defaultdict(Counter)
        for block in blocks:
            for span in block.spans:
                if span.label in self.labels:
                    labelled[block.text[span.start : span.end]][span.label] += 1
        seen = Counter[str]()
        if labelled:
            alternation = "|".join(re.escape(s) for s in sorted(labelled, key=len, reverse=True))
            finder = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)")
            for block in blocks:
                seen.update(m.group() for m in finder.finditer(block.text))
        for text, labels in labelled.items():
            label, count = labels.most_common(1)[0]
            if count >= self.min_count and count * 2 >= seen[text]:
                self.lexicon[text] = label
        if self.lexicon:
            words = sorted(self.lexicon, key=len, reverse=True)
            self._pattern = re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, words))})(?!\w)")
        return self

    def predict(self, texts: Sequence[str], batch_size: int = 0) -> list[list[Span]]:
        """Spans of each text: lexicon matches first, then patterns in free characters."""
        return [self._tag(text) for text in texts]

    def _tag(self, text: str) -> list[Span]:
        taken = [False] * len(text)
        spans: list[Span] = []

        def claim(start: int, end: int, label: str) -> None:
            if end > start and not any(taken[start:end]):
                taken[start:end] = [True] * (end - start)
                spans.append(Span(start, end, label))

        if self._pattern is not None:
            for match in self._pattern.finditer(text):
                claim(match.start(), match.end(), self.lexicon[match.group()])
        for label, pattern in PATTERNS.items():
            if label in self.labels:
                for match in pattern.finditer(text):
                    claim(match.start(), match.end(), label)
        return sorted(spans, key=lambda s: s.start)
