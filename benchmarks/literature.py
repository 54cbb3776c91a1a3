"""Literature mining: NER and linking on held-out SuperMat papers, speed, ingestion.

    python benchmarks/literature.py --tagger DIR     # a tagger saved by Tagger.save
    python benchmarks/literature.py --train          # train one first (long on CPU)
    python benchmarks/literature.py --train --save DIR  # and keep it for --tagger DIR

Measures, in one run and on the same held-out papers (document-level split of
:func:`literature.corpora.document_split`, never seen in training):

* entity-level precision/recall/F1 (strict span match) per type, for the tagger and for
  the dictionary/regex baseline fitted on the same training papers;
* linked (material, Tc) pairs against ``SuperMat-2.0-links.csv``: end to end (predicted
  entities + rules), and with gold entities (the linker alone);
* sentences/s of the tagger alone and of the whole extraction (tagger + normalisation +
  linking + sentence embeddings) on this machine's CPU, and on CUDA when present;
* ingestion of all 120 SuperMat papers into an in-memory SecantusDB, a query by element
  and Tc range, and a second ingestion that must add nothing.

Writes ``benchmarks/results/literature.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    # Run as a script, this folder comes first on sys.path and this file would shadow the
    # `literature` package it measures.
    import sys

    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))  # the repository: benchmarks.machine

import torch

from agents.literature import corpus_hash, ingest_paths
from benchmarks.machine import machine
from db import connect, ephemeral_server
from db.literature import LiteratureStore
from discovery.domain import ModelArtifact
from literature.baseline import DictionaryTagger
from literature.corpora import (
    gold_pairs,
    load_supermat_file,
    pair_scores,
    paper_name,
    supermat_files,
    text_pair,
)
from literature.linking import link_values
from literature.ner import Scores, Tagger, TrainConfig, entity_scores
from literature.pipeline import Extractor
from literature.records import Mention
from literature.sentences import split_sentences
from literature.training import load_corpus, train_on_corpus

RESULTS = Path(__file__).resolve().parent / "results"
CORPORA = Path(
    os.environ.get(
        "MATLOOP_CORPORA", Path(__file__).resolve().parents[2] / "shared" / "data" / "corpora"
    )
)


#: The training report ``--save`` keeps beside the tagger, for a later ``--tagger`` run.
TRAINING_REPORT = "training.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tagger", type=Path, help="folder of a saved tagger")
    parser.add_argument("--train", action="store_true", help="train a tagger first")
    parser.add_argument(
        "--save", type=Path, help="with --train: keep the tagger (and its report) in this folder"
    )
    parser.add_argument("--epochs", type=int, help="default: the recipe's")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument(
        "--uri", help="ingest into this MongoDB (kept) instead of a throw-away in-memory one"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS / "literature",
        help="where the .json and .md go (default benchmarks/results/literature)",
    )
    args = parser.parse_args()
    root = CORPORA / "supermat"
    data = load_corpus("supermat", root)
    # The recipe of `matloop literature train` (its defaults); --tagger names its output.
    config = TrainConfig() if args.epochs is None else TrainConfig(epochs=args.epochs)
    if args.tagger:  # its training report where --save kept one
        report = args.tagger / TRAINING_REPORT
        tagger = Tagger.load(args.tagger)
        training = json.loads(report.read_text()) if report.exists() else None
    elif args.train:
        trained = train_on_corpus(data, config)
        tagger, training = trained.tagger, asdict(trained.report)
        if args.save:
            tagger.save(args.save)
            (args.save / TRAINING_REPORT).write_text(json.dumps(training, default=str))
    else:
        parser.error("give --tagger DIR or --train")

    results: dict[str, Any] = {
        "machine": machine(),
        "split": {
            "train_sentences": len(data.train),
            "test_sentences": len(data.test),
            "test_papers": data.test_documents,
        },
        "training": training,
    }
    baseline = DictionaryTagger(data.labels).fit(data.train)
    gold = [b.spans for b in data.test]
    texts = [b.text for b in data.test]
    results["ner"] = {
        "tagger": scores_dict(entity_scores(gold, tagger.predict(texts), data.labels)),
        "baseline": scores_dict(entity_scores(gold, baseline.predict(texts), data.labels)),
    }
    results["linking"] = linking(root, data.test_documents, tagger, baseline)
    results["speed"] = speed(tagger, texts)
    if not args.skip_ingest:
        metrics = {"test": results["ner"]["tagger"], "test_documents": data.test_documents}
        results["ingest"] = ingestion(root, tagger, corpus_hash(data, config), metrics, args.uri)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=2))
    table = markdown(results)
    args.output.with_suffix(".md").write_text(table)
    print(table)


def scores_dict(scores: dict[str, Scores]) -> dict[str, dict[str, float]]:
    return {label: {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(s).items()}
            for label, s in scores.items()}  # fmt: skip


# --- linking ------------------------------------------------------------------------------


def paper_mentions(path: Path, spans_of: Any) -> tuple[list[Mention], dict[tuple[int, int], str]]:
    """Mentions of one SuperMat paper, tagged by spans_of, and the text of each sentence.

    Its blocks are cut into sentences; the texts are keyed ``(block, sentence)`` as the
    linker's "respectively" rule reads them.
    """
    mentions, by_sentence = [], {}
    for b, block in enumerate(load_supermat_file(path)):
        sentences = split_sentences(block.text)
        texts = [block.text[s.start : s.end] for s in sentences]
        by_sentence |= {(b, j): text for j, text in enumerate(texts)}
        for j, (sentence, spans) in enumerate(
            zip(sentences, spans_of(block, sentences, texts), strict=True)
        ):
            for span in spans:
                text = block.text[sentence.start :][span.start : span.end]
                mentions.append(
                    Mention(span.label, text, b, j, span.start, span.end, span.confidence)
                )
    return mentions, by_sentence


def gold_spans(block: Any, sentences: Sequence[Any], texts: Sequence[str]) -> list[list[Any]]:
    from dataclasses import replace

    return [
        [replace(s, start=s.start - sent.start, end=s.end - sent.start) for s in block.spans
         if sent.start <= s.start and s.end <= sent.end]
        for sent in sentences
    ]  # fmt: skip


def linking(
    root: Path, papers: Sequence[str], tagger: Tagger, baseline: DictionaryTagger
) -> dict[str, Any]:
    gold = gold_pairs(root / "SuperMat-2.0-links.csv", papers)
    files = {paper_name(p): p for p in supermat_files(root)}
    taggers = {
        "gold entities + rules": gold_spans,
        "tagger + rules": lambda block, sentences, texts: tagger.predict(texts),
        "baseline + rules": lambda block, sentences, texts: baseline.predict(texts),
    }
    out: dict[str, Any] = {"papers": sorted(gold), "gold_pairs": sum(map(len, gold.values()))}
    for name, spans_of in taggers.items():
        found = {
            paper: {
                text_pair(x.material.text, x.value.text)
                for x in link_values(*paper_mentions(files[paper], spans_of))
            }
            for paper in gold
        }
        out[name] = pair_scores(found, gold)
    return out


# --- speed --------------------------------------------------------------------------------


def speed(tagger: Tagger, texts: Sequence[str]) -> dict[str, Any]:
    from literature.embeddings import SentenceEncoder

    out: dict[str, Any] = {}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        tagger.model.to(device)
        encoder = SentenceEncoder(device=device)
        tagger.predict(texts[:64])  # warm-up
        began = time.perf_counter()
        tagger.predict(texts, batch_size=64 if device == "cpu" else 512)
        tag_seconds = time.perf_counter() - began
        began = time.perf_counter()
        encoder.encode(texts, batch_size=64 if device == "cpu" else 512)
        embed_seconds = time.perf_counter() - began
        out[device] = {
            "sentences": len(texts),
            "tagger_sentences_per_s": round(len(texts) / tag_seconds, 1),
            "tagger_plus_embedding_sentences_per_s": round(
                len(texts) / (tag_seconds + embed_seconds), 1
            ),
        }
    tagger.model.to("cpu")
    return out


# --- ingestion ----------------------------------------------------------------------------


def ingestion(
    root: Path, tagger: Tagger, data_hash: str, metrics: dict[str, Any], uri: str | None
) -> dict[str, Any]:
    from contextlib import nullcontext

    from literature.embeddings import SentenceEncoder
    from literature.ner import ENCODER_NAME

    files = supermat_files(root)
    with nullcontext(uri) if uri else ephemeral_server() as where:
        connect(where)
        store = LiteratureStore()
        artifact = ModelArtifact(
            "tagger-supermat",
            data_hash,
            metrics,
            tagger.to_bytes(),
            featurizer_version=ENCODER_NAME,
        )
        version = store.save_tagger(artifact)
        extractor = Extractor(tagger, version, SentenceEncoder())
        first = ingest_paths(store, extractor, files)
        counts = store.counts()
        query = store.records_query(property="tc", elements=["Fe", "As"], minimum=20, maximum=60)
        rows, fe_as = store.records(query, limit=5)
        second = ingest_paths(store, extractor, files)
        again = store.counts()
    return {
        "tagger_version": version,
        "files": len(files),
        "first": first.to_dict(),
        "second": second.to_dict(),
        "counts_after_first": counts,
        "counts_after_second": again,
        "unchanged": counts == again,
        "fe_as_tc_20_60_records": fe_as,
        "sample_records": [
            {k: r[k] for k in ("material", "value", "unit", "confidence", "n_papers")} for r in rows
        ],
    }


def markdown(r: dict[str, Any]) -> str:
    lines = [f"Machine: {r['machine']['platform']}, {r['machine']['cpus']} CPUs, "
             f"device: {r['machine']['device']}", "",
             "| entity | tagger P | tagger R | tagger F1 | baseline F1 | gold |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for label, s in r["ner"]["tagger"].items():
        b = r["ner"]["baseline"][label]
        lines.append(f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | "
                     f"{b['f1']:.3f} | {s['support']} |")  # fmt: skip
    link = r["linking"]
    lines += [
        "",
        f"Linked (material, Tc) pairs, {len(link['papers'])} held-out papers, "
        f"{link['gold_pairs']} gold pairs:",
        "",
        "| entities | P | R | F1 |",
        "|---|---|---|---|",
    ]
    for name in ("tagger + rules", "gold entities + rules", "baseline + rules"):
        s = link[name]
        lines.append(f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} |")
    lines += [
        "",
        "| device | tagger sentences/s | tagger + embeddings sentences/s |",
        "|---|---|---|",
    ]
    for device, s in r["speed"].items():
        both = s["tagger_plus_embedding_sentences_per_s"]
        lines.append(f"| {device} | {s['tagger_sentences_per_s']} | {both} |")
    if "ingest" in r:
        i = r["ingest"]
        first = i["first"]
        lines += ["", f"Ingestion of {i['files']} SuperMat papers: {first['papers']} stored, "
                  f"{first['records_new']} records ({first['papers_per_second']:.2f} papers/s); "
                  f"again: {i['second']['papers']} stored, {i['second']['skipped']} skipped, "
                  f"counts unchanged: {i['unchanged']}; Fe+As records with Tc in 20-60 K: "
                  f"{i['fe_as_tc_20_60_records']}."]  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
