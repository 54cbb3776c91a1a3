"""Stand-ins that tests of several packages share (imported as ``tests.stand_ins``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from literature.text import Span

#: A German abstract of 60 words: Latin letters, formulas and units as an English one has.
GERMAN = (
    "Supraleitung in MgB2\n\n"
    "Wir berichten über Supraleitung in Magnesiumdiborid MgB2 mit einer Sprungtemperatur "
    "von 39 K. Die Proben wurden durch Festkörperreaktion aus Magnesium und Bor bei 900 °C "
    "hergestellt. Die kritische Temperatur steigt unter Druck leicht an, während die "
    "Dotierung mit Aluminium sie deutlich senkt. Messungen des Widerstands und der "
    "Suszeptibilität zeigen einen scharfen Übergang. Die Ergebnisse deuten auf eine "
    "phononvermittelte Paarung hin, wie sie für leichte Elemente erwartet wird."
)


def install_distribution(
    root: Path, module: str, source: str, group: str, entry: str, version: str = "0.1"
) -> None:
    """A one-module package installed under ``root`` (put it on ``sys.path``).

    Args:
        root: The folder that stands for site-packages.
        module: The module's name (``my_surrogates``); the distribution's is the same
            with ``-`` for ``_``.
        source: The module's code.
        group: The entry-point group (``matloop.surrogates``).
        entry: The entry point, ``name = module:attribute``.
        version: The distribution's version.
    """
    (root / f"{module}.py").write_text(source)
    info = root / f"{module}-{version}.dist-info"
    info.mkdir()
    name = module.replace("_", "-")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry}\n")


class SpansOf:
    """A stand-in tagger that finds the given (label, text) pieces in every sentence."""

    def __init__(self, pieces: list[tuple[str, str]]) -> None:
        self.pieces = pieces

    def predict(self, texts: list[str], batch_size: int = 64) -> list[list[Span]]:
        return [
            [Span(t.index(s), t.index(s) + len(s), label) for label, s in self.pieces if s in t]
            for t in texts
        ]


def tagger_metrics(f1: dict[str, float], train_sentences: int = 900) -> dict[str, Any]:
    """Metrics as ``agents.literature.train_and_register`` stores them for a tagger.

    Args:
        f1: Held-out F1 per entity (``"micro"`` for the pooled score).
        train_sentences: Sentences it was trained on.
    """
    scores = {
        label: {"precision": f, "recall": f, "f1": f, "support": 10, "predicted": 10}
        for label, f in f1.items()
    }
    return {
        "test": scores,
        "test_documents": ["a", "b"],
        "train_sentences": train_sentences,
        "training": {"best_epoch": 3, "seconds": 1.0, "history": [{"epoch": 1, "f1": 0.5}]},
    }


#: SuperMat articles whose TEI and text files print different numbers, as the corpus has
#: them: the text file has a PACS line, a table or a figure's labels that the TEI lacks, or
#: lacks a quarter of its text, or "Ce=0.6" is "Ce=0." in it. Each is two papers, as an
#: edited file is: no rule tells these from a changed value.
SUPERMAT_NUMBERS_DIFFER = {
    "L094127001-CC",
    "L095117006-CC",
    "L095167004-CC",
    "Liu_2018_Supercond._Sci._Technol._31_125011-CC",
    "P066024503-CC",
    "P066132510-CC",
}
