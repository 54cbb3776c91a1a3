from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from literature.corpora import (
    SUPERMAT_LABELS,
    brat_split,
    document_split,
    gold_pairs,
    load_brat,
    load_supermat,
    load_supermat_file,
    load_supermat_links,
    pair_scores,
    sentence_blocks,
    text_pair,
)
from literature.text import AnnotatedText, Sentence, Span

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "data" / "corpora"
SUPERMAT = CORPORA / "supermat"
SYNTHESIS = CORPORA / "synthesis-procedures"
pytestmark = pytest.mark.skipif(not SUPERMAT.exists(), reason="shared corpora not present")


@pytest.fixture(scope="module")
def supermat() -> dict[str, list[AnnotatedText]]:
    return load_supermat(SUPERMAT)


def test_tei_title_is_flattened_with_its_annotations() -> None:
    title = load_supermat_file(next(SUPERMAT.glob("batch-1/1609.04957-CC.*.xml")))[0]
    assert title.text == (
        "Experimental evidence of T c enhancement without the influence of spin "
        "fluctuations: NMR study on LaFeAsO 1−x H x under a pressure of 3.0 GPa"
    )
    found = [(title.text[s.start : s.end], s.label) for s in title.spans]
    assert found == [("T c", "tc"), ("LaFeAsO 1−x H x", "material"), ("3.0 GPa", "pressure")]


def test_corresp_links_values_to_materials(supermat: dict[str, list[AnnotatedText]]) -> None:
    abstract = supermat["1609.04957"][1]
    by_id = {s.id: abstract.text[s.start : s.end] for s in abstract.spans if s.id}
    value = next(s for s in abstract.spans if abstract.text[s.start : s.end] == "exceeds 45K")
    assert value.label == "tcValue"
    assert value.corresp is not None and by_id[value.corresp] == "LaFeAsO1−xHx"


def test_every_annotation_of_the_corpus_is_loaded(supermat: dict[str, list[AnnotatedText]]) -> None:
    # The counts of <rs type=...> in the 120 TEI files (grep), none lost in flattening.
    raw = Counter(
        m
        for path in SUPERMAT.glob("batch-*/*.tei.xml")
        for m in re.findall(r'<rs [^>]*type="(\w+)"', path.read_text(encoding="utf-8"))
    )
    loaded = Counter(s.label for blocks in supermat.values() for b in blocks for s in b.spans)
    assert len(supermat) == 120
    assert {label: loaded[label] for label in SUPERMAT_LABELS} == {
        label: raw[label] for label in SUPERMAT_LABELS
    }
    for blocks in supermat.values():
        for block in blocks:
            for span in block.spans:
                piece = block.text[span.start : span.end]
                assert piece and piece == piece.strip()


def test_document_split_is_disjoint_deterministic_and_stable() -> None:
    names = [f"paper-{i}" for i in range(200)]
    train, val, test = document_split(names)
    assert not set(train) & set(test) and not set(val) & set(test) and not set(train) & set(val)
    assert sorted(train + val + test) == sorted(names)
    assert document_split(list(reversed(names))) == (train, val, test)
    # Adding papers never moves an existing one to another split.
    _, _, test_more = document_split([*names, "paper-new-1", "paper-new-2"])
    assert set(test) <= set(test_more)


def test_links_file_names_match_corpus_papers(supermat: dict[str, list[AnnotatedText]]) -> None:
    links = load_supermat_links(SUPERMAT / "SuperMat-2.0-links.csv")
    assert len(links) > 900
    assert len({link.paper for link in links} & set(supermat)) >= 100


def test_gold_pairs_are_per_paper_and_whitespace_collapsed() -> None:
    links = load_supermat_links(SUPERMAT / "SuperMat-2.0-links.csv")
    paper = links[0].paper
    pairs = gold_pairs(SUPERMAT / "SuperMat-2.0-links.csv", [paper, "no-such-paper"])
    assert set(pairs) == {paper}
    expected = {text_pair(x.material, x.tc_value) for x in links if x.paper == paper}
    assert pairs[paper] == expected
    assert all("  " not in m and "\n" not in m for m, _ in pairs[paper])


def test_pair_scores_by_hand() -> None:
    assert text_pair(" MgB 2\n", "39  K") == ("MgB 2", "39 K")
    gold = {"a": {("MgB 2", "39 K"), ("Nb", "9 K")}, "b": {("Pb", "7.2 K")}}
    found = {
        "a": {("MgB 2", "39 K"), ("Nb", "8 K")},  # one hit, one miss
        "b": {("Pb", "7.2 K")},  # a hit
        "c": {("Hg", "4 K")},  # a paper without gold links does not count
    }
    scores = pair_scores(found, gold)
    assert (scores["hits"], scores["predicted"]) == (2, 3)
    assert scores["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert scores["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert scores["f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert pair_scores({}, gold)["f1"] == 0.0


@pytest.mark.skipif(not SYNTHESIS.exists(), reason="synthesis corpus not present")
def test_brat_spans_slice_back_to_the_annotated_text() -> None:
    stems = brat_split(SYNTHESIS, "test")[:5]
    blocks = load_brat(SYNTHESIS, stems)
    annotated = {
        line.split("\t")[2]
        for stem in stems
        for line in (SYNTHESIS / "data" / f"{stem}.ann").read_text(encoding="utf-8").splitlines()
        if line.startswith("T")
    }
    pieces = [b.text[s.start : s.end] for b in blocks for s in b.spans]
    assert pieces and set(pieces) <= annotated


def test_sentence_blocks_keep_spans_whole() -> None:
    text = "MgB2 is a superconductor. Its Tc is 39 K. A span. crosses here."
    block = AnnotatedText(
        "d", text, (Span(0, 4, "material"), Span(36, 40, "tcValue"), Span(44, 55, "x"))
    )

    def split(t: str) -> list[Sentence]:
        return [Sentence(m.start(), m.end()) for m in re.finditer(r"[^.]+\.", t)]

    pieces = sentence_blocks([block], split)
    texts = [p.text.strip() for p in pieces]
    assert "A span. crosses here." in " ".join(texts)
    for piece in pieces:
        for span in piece.spans:
            assert piece.text[span.start : span.end] in {"MgB2", "39 K", "span. cross"}
    assert sum(len(p.spans) for p in pieces) == 3
