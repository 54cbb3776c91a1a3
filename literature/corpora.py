"""Annotated corpora for training and evaluating the tagger and the linker.

* SuperMat (Foppiano et al. 2021): superconductor papers in TEI XML with inline
  ``<rs type=... xml:id=... corresp=...>`` annotations, and ``SuperMat-2.0-links.csv``
  listing the linked (material, Tc, pressure, method) records per paper.
* Synthesis procedures (Mysore et al. 2019): BRAT standoff ``.ann`` files beside their
  ``.txt``, with the authors' train/dev/test file lists.

Both load into :class:`~literature.text.AnnotatedText` blocks (a paragraph, a caption, a
title) whose spans index the block's whitespace-normalised text.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from lxml import etree

from literature.text import AnnotatedText, Sentence, Span

TEI = "{http://www.tei-c.org/ns/1.0}"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
SUPERMAT_LABELS = ("material", "class", "tc", "tcValue", "pressure", "me_method")
SYNTHESIS_LABELS = (
    "Material",
    "Number",
    "Operation",
    "Amount-Unit",
    "Condition-Unit",
    "Material-Descriptor",
    "Condition-Misc",
    "Property-Misc",
    "Synthesis-Apparatus",
    "Nonrecipe-Material",
    "Brand",
    "Apparatus-Descriptor",
    "Amount-Misc",
    "Property-Type",
    "Condition-Type",
    "Characterization-Apparatus",
    "Property-Unit",
    "Meta",
    "Apparatus-Unit",
    "Apparatus-Property-Type",
    "Reference",
)


@dataclass(frozen=True)
class Link:
    """A gold (material, Tc) record of SuperMat-2.0-links.csv.

    Attributes:
        paper: Paper name (file name without ``-CC`` and ``.superconductors.tei.xml``).
        material: Material text as annotated.
        tc_value: Tc value text as annotated.
        pressure: Pressure text, ``""`` when none.
        method: Measurement method text, ``""`` when none.
    """

    paper: str
    material: str
    tc_value: str
    pressure: str = ""
    method: str = ""


def paper_name(path: str | Path) -> str:
    """Name shared by a SuperMat TEI file and its rows in the links file."""
    name = Path(path).name.removesuffix(".superconductors.tei.xml").removesuffix(".txt")
    return name.removesuffix("-CC")


def supermat_files(root: str | Path) -> list[Path]:
    """Every SuperMat TEI file under ``root``, sorted by name."""
    return sorted(Path(root).glob("batch-*/*.tei.xml"), key=lambda p: p.name)


def load_supermat_file(path: str | Path) -> list[AnnotatedText]:
    """Annotated blocks of one SuperMat TEI file, in reading order.

    Args:
        path: A ``*.superconductors.tei.xml`` file.

    Returns:
        One block per title, abstract paragraph, body paragraph and caption; spans carry
        their label, ``xml:id`` and ``corresp`` target (without ``#``).
    """
    tree = etree.parse(str(path))
    name = paper_name(path)
    blocks = tree.iter(f"{TEI}title", f"{TEI}p", f"{TEI}ab")
    texts = (_flatten(block, name) for block in blocks if not _inside_licence(block))
    return [text for text in texts if text.text]


def load_supermat(root: str | Path) -> dict[str, list[AnnotatedText]]:
    """All SuperMat papers under ``root`` as ``{paper name: blocks}``."""
    return {paper_name(path): load_supermat_file(path) for path in supermat_files(root)}


def load_supermat_links(path: str | Path) -> list[Link]:
    """Rows of ``SuperMat-2.0-links.csv`` with a material and a Tc value."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [
        Link(
            paper=paper_name(row["filename"]),
            material=row["material"].strip(),
            tc_value=row["tcValue"].strip(),
            pressure=row["pressure"].strip(),
            method=row["me_method"].strip(),
        )
        for row in rows
        if row["material"].strip() and row["tcValue"].strip()
    ]


Pair = tuple[str, str]
"""A linked (material text, Tc value text) pair, whitespace collapsed."""


def text_pair(material: str, value: str) -> Pair:
    """``(material, value)`` as compared with SuperMat's links: runs of whitespace collapsed."""
    return " ".join(material.split()), " ".join(value.split())


def gold_pairs(path: str | Path, papers: Collection[str]) -> dict[str, set[Pair]]:
    """The linked pairs of ``SuperMat-2.0-links.csv`` for ``papers``, per paper name.

    Papers without a link are absent from the result.
    """
    pairs: dict[str, set[Pair]] = {}
    for link in load_supermat_links(path):
        if link.paper in papers:
            pairs.setdefault(link.paper, set()).add(text_pair(link.material, link.tc_value))
    return pairs


def pair_scores(found: Mapping[str, set[Pair]], gold: Mapping[str, set[Pair]]) -> dict[str, float]:
    """Precision, recall and F1 of ``found`` pairs against ``gold``, pooled over papers.

    Only papers in ``gold`` count; a pair must match exactly (after :func:`text_pair`).

    Returns:
        ``precision``, ``recall``, ``f1`` (rounded to 4 places), ``hits``, ``predicted``.
    """
    hits = sum(len(found.get(paper, set()) & pairs) for paper, pairs in gold.items())
    predicted = sum(len(found.get(paper, set())) for paper in gold)
    total = sum(len(pairs) for pairs in gold.values())
    precision = hits / predicted if predicted else 0.0
    recall = hits / total if total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "hits": hits,
        "predicted": predicted,
    }


def document_split(
    names: Sequence[str], test_fraction: float = 0.15, val_fraction: float = 0.1
) -> tuple[list[str], list[str], list[str]]:
    """Deterministic document-level train/validation/test split by name hash.

    The hash, not the order, decides: adding papers never moves an existing paper to
    another split.

    Returns:
        ``(train, validation, test)`` lists of names, each sorted.
    """

    def bucket(name: str) -> float:
        return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    test = sorted(n for n in names if bucket(n) < test_fraction)
    val = sorted(n for n in names if test_fraction <= bucket(n) < test_fraction + val_fraction)
    train = sorted(set(names) - set(test) - set(val))
    return train, val, test


def load_brat(root: str | Path, names: Sequence[str] | None = None) -> list[AnnotatedText]:
    """Synthesis procedures in BRAT standoff format.

    Args:
        root: The corpus folder (with ``data/`` and the ``ner-*-fnames.txt`` lists).
        names: File stems to load; all in ``data/`` when ``None``.

    Returns:
        One block per paragraph of each ``.txt``, with entity spans (``T`` lines whose
        type is in :data:`SYNTHESIS_LABELS`); overlapping entities keep the longer one.
    """
    data = Path(root) / "data"
    stems = names if names is not None else sorted(p.stem for p in data.glob("*.ann"))
    blocks: list[AnnotatedText] = []
    for stem in stems:
        text = (data / f"{stem}.txt").read_text(encoding="utf-8")
        spans = _brat_spans((data / f"{stem}.ann").read_text(encoding="utf-8"))
        blocks.extend(_paragraphs(stem, text, spans))
    return blocks


def brat_split(root: str | Path, split: str) -> list[str]:
    """File stems of the authors' NER split ``train``, ``dev`` or ``test``."""
    lines = (Path(root) / f"ner-{split}-fnames.txt").read_text().split()
    return [Path(line).stem for line in lines if line.strip()]


def sentence_blocks(
    blocks: Sequence[AnnotatedText], split: Callable[[str], Sequence[Sentence]]
) -> list[AnnotatedText]:
    """Cut blocks into sentences, keeping each span whole.

    Args:
        blocks: Annotated paragraphs.
        split: Sentence splitter returning spans into its argument.

    Returns:
        One block per sentence (sentences a span crosses are joined), spans re-based.
    """
    out: list[AnnotatedText] = []
    for block in blocks:
        cuts = [(s.start, s.end) for s in split(block.text)]
        for span in block.spans:  # join the sentences a span crosses
            inside = [i for i, (a, b) in enumerate(cuts) if a < span.end and b > span.start]
            if len(inside) > 1:
                first, last = inside[0], inside[-1]
                cuts[first : last + 1] = [(cuts[first][0], cuts[last][1])]
        for start, end in cuts:
            spans = tuple(
                replace(s, start=s.start - start, end=s.end - start)
                for s in block.spans
                if start <= s.start and s.end <= end
            )
            out.append(AnnotatedText(block.document, block.text[start:end], spans))
    return out


# --- TEI --------------------------------------------------------------------------------


def _inside_licence(element: etree._Element) -> bool:
    return any(a.tag in (f"{TEI}licence", f"{TEI}availability") for a in element.iterancestors())


class _Builder:
    """Accumulates whitespace-normalised text while recording span offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.pending_space = False

    def add(self, text: str | None) -> None:
        for piece in re.split(r"(\s+)", text or ""):
            if not piece:
                continue
            if piece.isspace():
                self.pending_space = self.length > 0
            else:
                if self.pending_space:
                    self.parts.append(" ")
                    self.length += 1
                    self.pending_space = False
                self.parts.append(piece)
                self.length += len(piece)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _flatten(block: etree._Element, document: str) -> AnnotatedText:
    builder = _Builder()
    spans: list[Span] = []

    def walk(element: etree._Element) -> None:
        builder.add(element.text)
        for child in element:
            if child.tag == f"{TEI}rs":
                start = builder.length
                walk(child)
                corresp = child.get("corresp")
                spans.append(
                    Span(
                        start=start,
                        end=builder.length,
                        label=child.get("type", ""),
                        id=child.get(XML_ID),
                        corresp=corresp.lstrip("#") if corresp else None,
                    )
                )
            elif isinstance(child.tag, str):
                walk(child)
            builder.add(child.tail)

    walk(block)
    text = builder.text
    # A span opened after a pending space starts with that space once it is written.
    trimmed = (
        replace(s, start=s.start + 1) if text[s.start : s.start + 1] == " " else s for s in spans
    )
    kept = tuple(s for s in trimmed if s.label in SUPERMAT_LABELS and s.end > s.start)
    return AnnotatedText(document=document, text=text, spans=kept)


# --- BRAT -------------------------------------------------------------------------------


def _brat_spans(annotations: str) -> list[Span]:
    spans = []
    for line in annotations.splitlines():
        fields = line.split("\t")
        if not line.startswith("T") or len(fields) < 2:
            continue
        label, _, offsets = fields[1].partition(" ")
        if label not in SYNTHESIS_LABELS or ";" in offsets:  # discontinuous: skip
            continue
        start, end = (int(x) for x in offsets.split())
        spans.append(Span(start=start, end=end, label=label, id=fields[0]))
    spans.sort(key=lambda s: (s.start, -(s.end - s.start)))
    kept: list[Span] = []
    for span in spans:
        if not kept or span.start >= kept[-1].end:
            kept.append(span)
    return kept


def _paragraphs(document: str, text: str, spans: list[Span]) -> Iterator[AnnotatedText]:
    for match in re.finditer(r"[^\n]+", text):
        start, end = match.span()
        inside = [s for s in spans if start <= s.start and s.end <= end]
        yield AnnotatedText(
            document=document,
            text=match.group(),
            spans=tuple(
                Span(s.start - start, s.end - start, s.label, s.id, s.corresp) for s in inside
            ),
        )
