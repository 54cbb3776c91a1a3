"""Linking Tc values to materials: the rules against a learned pair classifier.

    python benchmarks/linking.py [--output benchmarks/results/linking]

The issue asks for rules first and a learned classifier if it beats them. Both are
scored on gold entities, on the SuperMat development papers only (the training and
validation papers of :func:`literature.corpora.document_split`; the held-out papers are
never read), by grouped 5-fold cross-validation over papers: the classifier is fitted on
four fifths of the papers and links the fifth. Pairs are compared as text with
``SuperMat-2.0-links.csv``, as in ``benchmarks/literature.py``.

The classifier is a logistic regression over (value, material) candidates within the
rules' reach (the value's sentence and the two before it), with the rules' own choice
among its features, so that it can learn to follow them. A value keeps every material
whose probability passes the threshold; the table shows each threshold.

Each rule's confidence in :mod:`literature.linking` is its precision measured here on
the training papers alone: over the values the gold annotation links to a material
(``corresp``, which may name several targets), how often the rule picks one of them.
The "respectively" rule is also compared with what the nearest-material rules would
have picked for the same values.

Writes ``benchmarks/results/linking.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # this folder must not shadow the `literature` package
    import sys

    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))  # the repository: benchmarks.machine

import numpy as np
from sklearn.linear_model import LogisticRegression

from benchmarks.machine import machine
from literature.corpora import (
    Pair,
    document_split,
    gold_pairs,
    load_supermat,
    load_supermat_file,
    pair_scores,
    paper_name,
    supermat_files,
    text_pair,
)
from literature.linking import LOOKBACK_SENTENCES, Link, link_values
from literature.records import Mention
from literature.sentences import split_sentences

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1] / "shared" / "data" / "corpora" / "supermat"
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6)
FOLDS = 5


@dataclass(frozen=True)
class Entity:
    """A gold mention with its SuperMat identifiers and its sentence's text."""

    mention: Mention
    id: str | None
    corresp: str | None
    sentence: str


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=HERE / "results" / "linking",
        help="where the .json and .md go (default benchmarks/results/linking)",
    )
    args = parser.parse_args()
    papers = load_supermat(ROOT)
    train, validation, _ = document_split(list(papers))  # the test papers stay unread
    development = sorted({*train, *validation})
    files = {paper_name(p): p for p in supermat_files(ROOT)}
    gold = gold_pairs(ROOT / "SuperMat-2.0-links.csv", development)
    entities = {name: gold_entities(files[name]) for name in development}

    rules = {
        name: {text_pair(x.material.text, x.value.text) for x in rule_links(found)}
        for name, found in entities.items()
    }
    results: dict[str, Any] = {
        "papers": len(development),
        "gold_pairs": sum(len(g) for g in gold.values()),
        "rules": pair_scores(rules, gold),
        "rule_precision": rule_precision([entities[name] for name in train]),
    }
    probabilities = cross_validated(entities)
    results["classifier"] = {
        str(tau): pair_scores(links_above(probabilities, tau), gold) for tau in THRESHOLDS
    }
    results["machine"] = machine()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=2))
    table = markdown(results)
    args.output.with_suffix(".md").write_text(table)
    print(table)


def gold_entities(path: Path) -> list[Entity]:
    """A paper's gold mentions, addressed by (block, sentence) as the pipeline does."""
    found = []
    for b, block in enumerate(load_supermat_file(path)):
        for j, sentence in enumerate(split_sentences(block.text)):
            text = block.text[sentence.start : sentence.end]
            for span in block.spans:
                if sentence.start <= span.start and span.end <= sentence.end:
                    start, end = span.start - sentence.start, span.end - sentence.start
                    mention = Mention(span.label, text[start:end], b, j, start, end)
                    found.append(Entity(mention, span.id, span.corresp, text))
    return sorted(found, key=lambda e: e.mention.key)


def sentence_texts(entities: list[Entity]) -> dict[tuple[int, int], str]:
    """Each sentence's text by ``(section, sentence)``, as the pipeline gives the linker."""
    return {(e.mention.section, e.mention.sentence): e.sentence for e in entities}


def rule_links(entities: list[Entity]) -> list[Link]:
    """The rule linker's links on a paper's gold mentions."""
    return link_values([e.mention for e in entities], sentence_texts(entities))


def targets(entity: Entity) -> set[str]:
    """The ids a gold ``corresp`` points at (``"x1,#x2"`` names two)."""
    return {t.strip().lstrip("#") for t in (entity.corresp or "").split(",") if t.strip()}


def rule_precision(papers: list[list[Entity]]) -> dict[str, Any]:
    """Each rule's precision on the values the gold links to a material.

    Returns:
        ``gold`` (values linked to a material), per rule its ``fires`` and ``right``, and
        ``nearest_on_respectively``: how many of the "respectively" rule's values the
        nearest-material rules alone would have linked right.
    """
    fires: Counter[str] = Counter()
    right: Counter[str] = Counter()
    gold = nearest_right = 0
    for entities in papers:
        by_key = {e.mention.key: e for e in entities}
        materials = {e.id for e in entities if e.mention.label == "material"}
        values = [e for e in entities if e.mention.label == "tcValue"]
        linked = {e.mention.key: targets(e) & materials for e in values if targets(e) & materials}
        gold += len(linked)
        nearest = {x.value.key: x for x in link_values([e.mention for e in entities])}
        for x in rule_links(entities):
            if x.value.key in linked:
                fires[x.rule] += 1
                right[x.rule] += by_key[x.material.key].id in linked[x.value.key]
                if x.rule == "respectively":
                    chosen = nearest[x.value.key].material.key
                    nearest_right += by_key[chosen].id in linked[x.value.key]
    return {
        "gold": gold,
        "rules": {
            rule: {"fires": n, "right": right[rule], "precision": round(right[rule] / n, 4)}
            for rule, n in fires.most_common()
        },
        "nearest_on_respectively": nearest_right,
    }


def candidates(entities: list[Entity]) -> list[tuple[Entity, Entity, list[float], bool]]:
    """(value, material, features, is a gold link) for every pair within the rules' reach."""
    materials = [e for e in entities if e.mention.label == "material"]
    values = [e for e in entities if e.mention.label == "tcValue"]
    chosen = {x.value.key: x.material.key for x in rule_links(entities)}
    by_sentence: dict[tuple[str, tuple[int, int]], list[Entity]] = defaultdict(list)
    for e in entities:
        by_sentence[e.mention.label, (e.mention.section, e.mention.sentence)].append(e)
    rows = []
    for value in values:
        v = value.mention
        here = (v.section, v.sentence)
        for material in materials:
            m = material.mention
            back = v.sentence - m.sentence
            if m.section != v.section or not 0 <= back <= LOOKBACK_SENTENCES:
                continue
            lo, hi = sorted((m.key, v.key))
            between = sum(lo < x.mention.key < hi for x in materials)
            same_values = by_sentence["tcValue", here]
            same_materials = by_sentence["material", here]
            respectively = "respectively" in value.sentence
            in_order = (
                back == 0
                and len(same_values) == len(same_materials)
                and same_values.index(value) == same_materials.index(material)
            )
            gap = (v.start - m.end) if m.key < v.key else (m.start - v.end)
            features = [
                back == 0,
                back == 0 and m.key < v.key,
                back,
                math.log1p(between),
                between == 0,
                math.log1p(max(gap, 0)) if back == 0 else 0.0,
                chosen.get(v.key) == m.key,
                math.log1p(len(same_values)),
                math.log1p(len(same_materials)),
                respectively,
                respectively and in_order,
                "=" in m.text,
                any(c.isdigit() for c in m.text),
                len(m.text.split()) > 3,
            ]
            linked = material.id in targets(value)
            rows.append((value, material, [float(f) for f in features], linked))
    return rows


def cross_validated(
    entities: dict[str, list[Entity]],
) -> list[tuple[str, Entity, Entity, float]]:
    """Out-of-fold link probabilities of every candidate pair of every paper."""
    rows = {name: candidates(found) for name, found in entities.items()}
    names = sorted(rows)
    random.Random(0).shuffle(names)
    out = []
    for k in range(FOLDS):
        held = names[k::FOLDS]
        fit = [r for name in names if name not in held for r in rows[name]]
        model = LogisticRegression(max_iter=2000)
        model.fit(np.array([r[2] for r in fit]), np.array([r[3] for r in fit]))
        for name in held:
            if rows[name]:
                p = model.predict_proba(np.array([r[2] for r in rows[name]]))[:, 1]
                out += [(name, r[0], r[1], float(q)) for r, q in zip(rows[name], p, strict=True)]
    return out


def links_above(
    probabilities: list[tuple[str, Entity, Entity, float]], threshold: float
) -> dict[str, set[Pair]]:
    found: dict[str, set[Pair]] = defaultdict(set)
    for name, value, material, p in probabilities:
        if p >= threshold:
            found[name].add(text_pair(material.mention.text, value.mention.text))
    return found


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Linking on gold entities: {results['papers']} SuperMat development papers, "
        f"{results['gold_pairs']} gold (material, Tc) pairs, grouped {FOLDS}-fold CV.",
        "",
        "| linker | P | R | F1 |",
        "|---|---|---|---|",
    ]
    rows = {"rules": results["rules"]}
    rows |= {f"classifier, p >= {tau}": r for tau, r in results["classifier"].items()}
    for name, r in rows.items():
        lines.append(f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} |")
    per_rule = results["rule_precision"]
    lines += [
        "",
        f"Each rule on the training papers' {per_rule['gold']} values linked to a material "
        "(its confidence in `literature/linking.py`):",
        "",
        "| rule | fires | right | precision |",
        "|---|---|---|---|",
    ]
    for rule, r in per_rule["rules"].items():
        lines.append(f"| {rule} | {r['fires']} | {r['right']} | {r['precision']:.3f} |")
    lines += [
        "",
        f"On the values the respectively rule links, the nearest-material rules alone are "
        f"right on {per_rule['nearest_on_respectively']} of "
        f"{per_rule['rules'].get('respectively', {}).get('fires', 0)}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
