"""A whole lineage chain, stored with matloop's own code (imported as ``tests.lineage_chain``).

Two papers are ingested; a GP property model is trained on their Tc records and
registered (``model train --records tc``); a composition campaign takes it as its prior
mean, draws its initial design, has a lab claim its first model-guided trial and report
it. The lineage tests of the db layer, the API and the CLI walk it both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agents import CampaignAgent, LookupOracle
from agents.models import prepare_records, register_trained, train
from db import CampaignStore
from db.literature import LiteratureStore, PropertyRecordDocument
from discovery.datasets import load_csv
from discovery.domain import CampaignSettings, Direction, Trial
from literature.pipeline import build_records, normalize_mentions
from literature.records import Mention, PaperExtraction
from literature.text import Paper, Section, Sentence

TAGGER = "tagger-supermat:lineage"
#: Two papers: (DOI, title, year, readings of formula and Tc). MgB2's 39 K is read in both:
#: one record, citing both papers.
PAPER_A = (
    "10.5555/lineage.a",
    "Superconductivity in borides and niobium compounds",
    2001,
    [("MgB2", "39 K"), ("NbSe2", "7.2 K"), ("Nb3Sn", "18.3 K"), ("NbN", "16 K")],
)
PAPER_B = (
    "10.5555/lineage.b",
    "Cuprates and A15 superconductors",
    2005,
    [("MgB2", "39 K"), ("YBa2Cu3O7", "92 K"), ("La2CuO4", "38 K"), ("V3Si", "17 K")],
)
#: One paper's readings of CaB6: a bound, a value under pressure, a range, another bound.
CAB6 = [
    ("CaB6 does not superconduct down to 2 K.", [("material", "CaB6"), ("tcValue", "2 K")]),
    ("CaB6 has Tc = 33 K at 10 GPa.",
     [("material", "CaB6"), ("tcValue", "33 K"), ("pressure", "10 GPa")]),
    ("CaB6 has Tc = 87-90 K.", [("material", "CaB6"), ("tcValue", "87-90 K")]),
    ("CaB6 has Tc = 80 K.", [("material", "CaB6"), ("tcValue", "80 K")]),
    ("CaB6 has Tc above 100 K.", [("material", "CaB6"), ("tcValue", "above 100 K")]),
]  # fmt: skip
#: The campaign's pool: formulas and their measured Tc (the lookup oracle's answers).
POOL = [("MgB2", 39.0), ("NbSe2", 7.2), ("Nb3Sn", 18.3), ("NbN", 16.0), ("V3Si", 17.0),
        ("Nb3Ge", 23.2), ("MgB4", 0.5), ("NbB2", 0.6)]  # fmt: skip
CAMPAIGN = "lineage-borides"


def extraction(doi: str, title: str, year: int, readings: list[tuple[str, str]]) -> PaperExtraction:
    """A one-section paper stating each formula's Tc in a sentence, read as ingestion reads it."""
    statements = [
        (f"{formula} has Tc = {value}.", [("material", formula), ("tcValue", value)])
        for formula, value in readings
    ]
    return stated(doi, title, year, statements)


def stated(
    doi: str, title: str, year: int, statements: list[tuple[str, list[tuple[str, str]]]]
) -> PaperExtraction:
    """A one-section paper of these sentences, each with its mentions (label, text in it)."""
    text, spans, mentions = "", [], []
    for j, (sentence, pieces) in enumerate(statements):
        start = len(text) + (1 if text else 0)
        text = f"{text} {sentence}" if text else sentence
        spans.append(Sentence(start, start + len(sentence)))
        for label, piece in pieces:
            at = sentence.index(piece)
            mentions.append(Mention(label, piece, 0, j, at, at + len(piece), confidence=0.9))
    paper = Paper(
        f"/papers/{doi.replace('/', '_')}.xml",
        "tei",
        title,
        doi=doi,
        year=year,
        sections=(Section("body", text, tuple(spans)),),
    )
    normalized = normalize_mentions(paper, mentions)
    sentences = {(s, j): said for s, j, said in paper.sentences()}
    return PaperExtraction(paper, normalized, build_records(normalized, sentences), TAGGER)


@dataclass
class Chain:
    """What :func:`build_chain` stored."""

    prior: str  # the property model's version
    model: str  # the campaign model that proposed the guided trial
    random: Trial  # a trial of the initial design, measured
    guided: Trial  # the model-guided trial, claimed by xrd-1 and measured
    record_ids: list[str]  # the prior's records, as its metrics list them

    def record(self, formula: str) -> str:
        """The id of the prior's record of ``formula``."""
        found = PropertyRecordDocument.objects(formula=formula).first()
        assert found is not None, formula
        return str(found.id)


def build_chain(store: CampaignStore, folder: Path) -> Chain:
    """Ingest both papers, train the prior on their records, run the campaign one round."""
    literature = LiteratureStore()
    for paper in (PAPER_A, PAPER_B):
        assert literature.ingest(extraction(*paper)).new
    prior = register_trained(train(prepare_records(literature, "tc", "gp")))
    table = folder / "borides.csv"
    table.write_text("formula,tc\n" + "".join(f"{f},{v}\n" for f, v in POOL))
    pool = load_csv(table, [("tc", Direction.MAXIMIZE)], composition="formula")
    settings = CampaignSettings("gp", initial=2, batch_size=1, seed=0, prior_model=prior)
    agent = CampaignAgent.from_dataset(store, CAMPAIGN, pool, settings)
    oracle = LookupOracle.from_candidates(store.candidates(CAMPAIGN))
    initial = agent.propose()
    agent.observe(oracle.evaluate(initial))
    (guided,) = agent.claim("xrd-1")  # proposes the first model-guided batch and leases it
    agent.observe(oracle.evaluate([guided]))
    assert guided.model_version is not None and guided.strategy == "gp+prior"
    ids = store.load_model(prior).metrics["record_ids"]
    return Chain(prior, guided.model_version, initial[0], guided, list(ids))


__all__ = ["CAMPAIGN", "PAPER_A", "PAPER_B", "Chain", "build_chain", "extraction"]
