"""Shared fixtures: paths to the shared samples and to the Runtime Interface Emulator binary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SAMPLES = SHARED / "samples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """`../shared/samples`: real Lambda logs from public projects."""
    assert SAMPLES.is_dir(), f"shared samples missing at {SAMPLES}"
    return SAMPLES


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def rie_binary() -> Path:
    """The real AWS Runtime Interface Emulator (x86-64), fetched once from the aws-sam-cli wheel."""
    env = os.environ.get("LCTRACE_RIE")
    if env and Path(env).exists():
        return Path(env)
    out = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "fetch_rie.py")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip().splitlines()[-1]
    return Path(out)
