"""The README's simulated lab runs as written, on a real database."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from db import CampaignStore

README = Path(__file__).resolve().parents[2] / "README.md"

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _example() -> str:
    """The Python block of the README's "A simulated lab of your own" section."""
    section = README.read_text().split("### A simulated lab of your own", 1)[1]
    (block,) = re.findall(r"```python\n(.*?)```", section.split("\n### ", 1)[0], re.S)
    return block


def test_the_readmes_simulated_lab_brings_its_campaign_to_its_rounds(
    mongodb_uri: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", mongodb_uri)  # as the commands would read it
    exec(compile(_example(), str(README), "exec"), {})
    measured, best = capsys.readouterr().out.split()
    assert measured == "12" and 0 < int(best) <= round(400 + 20 * math.log(8))  # the most
    trials = CampaignStore().trials("anneal")
    assert len(trials) == 12 and {t.status.value for t in trials} == {"completed"}
    assert {t.strategy for t in trials} == {"random", "gp"}
