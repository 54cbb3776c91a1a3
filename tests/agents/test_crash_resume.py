"""SIGKILL the campaign process between rounds, run it again: nothing lost, nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

from agents import CampaignAgent
from db import CampaignStore
from db.documents import MeasurementDocument, TrialDocument


def _run(uri: str, name: str, rounds: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MATLOOP_MONGODB_URI": uri}
    return subprocess.Popen(
        [sys.executable, "-m", "matloop", "campaign", "run", name, "--rounds", str(rounds)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_sigkill_between_rounds_then_resume(
    mongodb_uri: str, photo_pce10_campaign: CampaignAgent
) -> None:
    name, rounds = photo_pce10_campaign.name, 6
    process = _run(mongodb_uri, name, rounds)
    deadline = time.monotonic() + 240
    while MeasurementDocument.objects.count() < 10 + 2 * 4:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, "campaign made no progress"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = MeasurementDocument.objects.count()
    assert killed_at < 10 + rounds * 4, "killed too late to test a resume"

    resumed = _run(mongodb_uri, name, rounds)
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr.decode()

    trials = TrialDocument.objects(status="completed")
    measurements = list(MeasurementDocument.objects.no_dereference())
    assert len(measurements) == TrialDocument.objects.count() == 10 + rounds * 4
    assert trials.count() == len(measurements)
    assert max(Counter(str(m.trial.id) for m in measurements).values()) == 1
    assert len({m.idempotency_key for m in measurements}) == len(measurements)
    assert len({t.candidate for t in TrialDocument.objects}) == len(measurements)
    # every stored value is the data set's value for that candidate
    reference = {c.index: c.reference for c in CampaignStore().candidates(name)}
    by_trial = {t.id: t.candidate for t in TrialDocument.objects}
    for m in measurements:
        assert m.values == reference[by_trial[m.trial.id]]
    assert CampaignAgent(CampaignStore(), name).status().rounds == rounds
