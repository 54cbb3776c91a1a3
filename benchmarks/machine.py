"""The machine a benchmark ran on, recorded beside its figures (they mean nothing without it).

Pick-for-pick reproducibility depends on more than the code: a GP fit's last digits, and
so a near-tied acquisition's choice, change with the CPU's vector instructions and the
numerical libraries' versions. Both are recorded, so that a run that no longer reproduces
can be told apart from a change in matloop.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

#: The packages whose versions decide a fit's numbers.
NUMERICAL_PACKAGES = ("numpy", "scipy", "botorch", "gpytorch")


def machine() -> dict[str, Any]:
    """Platform, CPU model and vector instructions, CPU count, torch threads, accelerator,
    the versions of torch and of :data:`NUMERICAL_PACKAGES`, and the code's commit."""
    return {
        "commit": commit(),
        "matloop": _version("matloop"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # e.g. AVX2, AVX512
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        **{name: _version(name) for name in NUMERICAL_PACKAGES},
    }


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, or the platform's word where there is none."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def commit() -> str | None:
    """The checkout's commit, ``+dirty`` after it when files differ from it; None outside git."""
    repo = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if changed else "")
