"""Session fixtures for the literature tests: real publisher articles, SuperMat, PDF makers.

The publisher articles (RSC, ACS, Elsevier, Springer, USPTO) are chemdataextractor2's own
test data. They are not committed here: the fixture downloads the source distribution from
the package index once into ``.cache/`` (or ``$MATLOOP_TEST_CACHE``) and reuses it.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CDE = "chemdataextractor2"
CDE_VERSION = "2.4.1"
CDE_DATA = f"{CDE}-{CDE_VERSION}/tests/data"


def _cache() -> Path:
    return Path(os.environ.get("MATLOOP_TEST_CACHE") or REPO / ".cache") / CDE


def _download(cache: Path) -> Path:
    """The sdist, downloaded once with pip (an ordinary registry client)."""
    archive = cache / f"{CDE}-{CDE_VERSION}.tar.gz"
    if archive.exists():
        return archive
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary=:all:"]
    command += [f"{CDE}=={CDE_VERSION}", "-d", str(cache)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not archive.exists():
        pytest.skip(f"cannot download {CDE}=={CDE_VERSION} from the index: {done.stderr[-400:]}")
    return archive


def _extract(archive: Path, cache: Path) -> None:
    """Extract tests/data only, atomically (a parallel session may be doing the same)."""
    scratch = Path(tempfile.mkdtemp(dir=cache))
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(CDE_DATA + "/")]
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: refuse unsafe members
                tar.extractall(scratch, members=members, filter="data")
            else:
                tar.extractall(scratch, members=members)
        target = cache / f"{CDE}-{CDE_VERSION}"
        if not target.exists():
            os.replace(scratch / f"{CDE}-{CDE_VERSION}", target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def cde_test_data() -> Path:
    """chemdataextractor2 2.4.1's ``tests/data``: 13 publisher articles and more."""
    cache = _cache()
    data = cache / CDE_DATA
    if not data.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        _extract(_download(cache), cache)
    return data


def _pdf(pages: Sequence[Sequence[str]], metadata: dict[str, str] | None = None) -> bytes:
    """A PDF with one text line per string (TrueType fonts, so text is extractable)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    with (
        matplotlib.rc_context({"pdf.fonttype": 42}),
        PdfPages(buffer, metadata=metadata or {}) as pdf,
    ):
        for lines in pages:
            figure = plt.figure(figsize=(8.5, 11))
            for i, line in enumerate(lines):
                figure.text(0.06, 0.95 - 0.025 * i, line, fontsize=9)
            pdf.savefig(figure)
            plt.close(figure)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def make_pdf() -> Callable[..., bytes]:
    """``make_pdf(pages, metadata=None)``: PDF bytes with the given text lines per page."""
    return _pdf
