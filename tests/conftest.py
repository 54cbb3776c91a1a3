"""Session fixtures: a real SecantusDB server over TCP, a fresh database per test."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from agents import CampaignAgent
from benchmarks.scripts import sibling
from db import CampaignStore, connect, disconnect, ephemeral_server
from db.connection import client
from discovery.datasets import PoolDataset, load_olympus
from discovery.domain import CampaignSettings, Direction, Objective
from discovery.spaces import ContinuousParameter, SearchSpace
from literature.pipeline import build_records, normalize_mentions
from literature.records import Mention, PaperExtraction
from literature.text import Paper, Section, Sentence
from literature.vectors import to_bytes

REPO = Path(__file__).resolve().parents[1]
PHOTO_PCE10 = REPO / "matloop" / "data" / "olympus" / "photo_pce10"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test``), a worker runs tests as one process would.

    Its torch takes its share of the cores: every worker's torch would otherwise start one
    intra-op thread per core, and on the 2-core box two workers' threads only wait on each
    other. And it forgets the ``COLUMNS=80`` and ``LINES=24`` it starts with: the
    commands' consoles would fix their width at import, and a test's own ``COLUMNS``
    would be ignored.
    """
    if "PYTEST_XDIST_WORKER" in os.environ:
        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        threads = max(1, len(os.sched_getaffinity(0)) // workers)  # the cores it may use
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)  # the servers and commands it starts


@pytest.fixture(scope="session")
def tradeoff_dataset() -> PoolDataset:
    """40 points on a line; a = x rewards large x, b = 1 - x^2 small x: all Pareto-optimal."""
    x = np.linspace(0.0, 1.0, 40)
    return PoolDataset(
        name="tradeoff",
        space=SearchSpace((ContinuousParameter("x", 0.0, 1.0),)),
        objectives=(Objective("a", Direction.MAXIMIZE), Objective("b", Direction.MAXIMIZE)),
        points=[{"x": float(v)} for v in x],
        values=np.stack([x, 1.0 - x**2], axis=1),
        source="test",
    )


@pytest.fixture
def small_gp_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Campaign GPs fit on 30 results and condition on 60 (the best 10): many results, fast."""
    import discovery.surrogates as surrogates

    monkeypatch.setattr(surrogates, "HYPER_ROWS", 30)
    monkeypatch.setattr(surrogates, "EXACT_ROWS", 60)
    monkeypatch.setattr(surrogates, "EXACT_BEST", 10)


@pytest.fixture(scope="session")
def benchmark_script() -> Callable[[str], ModuleType]:
    """Imports a script of ``benchmarks/`` by name."""
    return sibling


@pytest.fixture(scope="session")
def mongodb_server() -> Iterator[str]:
    """URI of an in-memory SecantusDB process on a free port (``mongodb://127.0.0.1:P``)."""
    with ephemeral_server() as uri:
        yield uri


@pytest.fixture
def mongodb_uri(mongodb_server: str) -> Iterator[str]:
    """URI of a fresh, connected database on the session server; dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    uri = f"{mongodb_server}/{name}"
    connect(uri)
    yield uri
    client().drop_database(name)
    disconnect()


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BERT of one narrow layer with the packaged encoder's tokenizer: a 4 MB tagger.

    For taggers that tests store. The packaged encoder makes an 83 MB tagger, and the
    in-memory test server frees a dropped database's GridFS chunks lazily: a worker whose
    tests stored one each filled the server's 1 GiB cache under CI's load (WT_CACHE_FULL,
    answered as "internal server error").
    """
    from transformers import BertConfig, BertModel

    from literature.ner import encoder_path

    folder = tmp_path_factory.mktemp("tiny_encoder")
    narrow = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64)  # fmt: skip
    BertModel(narrow, add_pooling_layer=False).save_pretrained(folder)
    packaged = Path(encoder_path())
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(packaged / name, folder / name)
    return folder


@pytest.fixture(scope="session")
def untrained_tagger_bytes(tiny_encoder: Path) -> bytes:
    """A tagger with an untrained head (material, tcValue; seed 0), as stored: any spans.

    For tests of the plumbing around a tagger, not of its quality; on :func:`tiny_encoder`.
    """
    from literature.ner import Tagger

    return Tagger.from_encoder(("material", "tcValue"), tiny_encoder, seed=0).to_bytes()


@pytest.fixture(scope="session")
def supermat_root() -> Path:
    """The SuperMat corpus (TEI with ``.txt`` twins), from ``$MATLOOP_CORPORA`` or shared/."""
    base = Path(os.environ.get("MATLOOP_CORPORA") or REPO.parent / "shared" / "data" / "corpora")
    root = base / "supermat"
    if not root.is_dir():
        pytest.skip(f"SuperMat corpus not found at {root}")
    return root


@pytest.fixture
def store(mongodb_uri: str) -> CampaignStore:
    return CampaignStore()


@pytest.fixture
def cli(mongodb_uri: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner of ``matloop`` commands on the test's fresh database."""
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)
    return CliRunner()


@pytest.fixture(scope="session")
def photo_pce10_dataset() -> PoolDataset:
    return load_olympus(PHOTO_PCE10)


@pytest.fixture
def photo_pce10_campaign(store: CampaignStore, photo_pce10_dataset: PoolDataset) -> CampaignAgent:
    """A GP campaign on photo_pce10 (initial 10, batches of 4, seed 0), nothing proposed yet."""
    settings = CampaignSettings("gp", initial=10, batch_size=4, seed=0)
    return CampaignAgent.from_dataset(store, "photo-pce10", photo_pce10_dataset, settings)


# -- literature: extractions built from hand-placed mentions (no tagger involved) -----------
TAGGER_VERSION = "tagger-supermat:abc"
SUPERCONDUCTORS = {
    "MgB2": ("MgB2 superconducts at 39 K.", [("material", "MgB2"), ("tcValue", "39 K")]),
    "LSCO": (
        "La1.85Sr0.15CuO4 has Tc = 38 K.",
        [("material", "La1.85Sr0.15CuO4"), ("tcValue", "38 K")],
    ),
    "NbSe2": (
        "NbSe2 becomes superconducting below 7.2 K.",
        [("material", "NbSe2"), ("tcValue", "7.2 K")],
    ),
    # MgB2's 39 K again, with the uncertainty it was measured to
    "MgB2 ± 0.5": ("MgB2 has Tc = 39 ± 0.5 K.", [("material", "MgB2"), ("tcValue", "39 ± 0.5 K")]),
    "MgB2 (1)": ("MgB2 has Tc = 39(1) K.", [("material", "MgB2"), ("tcValue", "39(1) K")]),
}


def unit_vector(i: int) -> np.ndarray:
    """The i-th 384-d basis vector: a stand-in sentence embedding with known cosines."""
    vector = np.zeros(384, dtype=np.float32)
    vector[i] = 1.0
    return vector


def make_extraction(doi: str, names: list[str]) -> PaperExtraction:
    """A one-section paper of the named SUPERCONDUCTORS sentences, normalised and linked.

    Sentence ``j`` of the paper gets embedding ``unit_vector(j + len(doi))``.
    """
    text, spans, mentions = "", [], []
    for j, name in enumerate(names):
        sentence, found = SUPERCONDUCTORS[name]
        start = len(text) + (1 if text else 0)
        text = f"{text} {sentence}" if text else sentence
        spans.append(Sentence(start, start + len(sentence)))
        for label, piece in found:
            at = sentence.index(piece)
            mentions.append(Mention(label, piece, 0, j, at, at + len(piece), confidence=0.9))
    paper = Paper(
        f"{doi}.xml",
        "tei",
        f"Paper {doi}",
        doi=doi,
        sections=(Section("body", text, tuple(spans)),),
    )
    normalized = normalize_mentions(paper, mentions)
    embeddings = {(0, j): to_bytes(unit_vector(j + len(doi))) for j in range(len(names))}
    sentences = {(s, j): text for s, j, text in paper.sentences()}
    records = build_records(normalized, sentences)  # as the extractor links them
    return PaperExtraction(paper, normalized, records, TAGGER_VERSION, embeddings)


@pytest.fixture
def literature_samples() -> SimpleNamespace:
    """``.extraction(doi, names)``, ``.unit(i)``, ``.sentences[name]``, ``.version``."""
    return SimpleNamespace(
        extraction=make_extraction,
        unit=unit_vector,
        sentences={name: s for name, (s, _) in SUPERCONDUCTORS.items()},
        version=TAGGER_VERSION,
    )


@pytest.fixture(scope="module")
def single_torch_thread() -> Iterator[None]:
    """One intra-op torch thread for a module of tiny models, restored afterwards.

    Tiny networks gain nothing from intra-op threads, and on a busy machine the threads
    only wait on each other (a 100x slowdown was measured). Module-scoped so that it is
    set before a module's trained-model fixtures; use it with
    ``pytestmark = pytest.mark.usefixtures("single_torch_thread")``.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
