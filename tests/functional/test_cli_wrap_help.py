"""`lctrace wrap --help` shows the command's help; it must not try to run `--help` as a runtime."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LCTRACE = Path(sys.executable).with_name("lctrace")


def test_wrap_help_prints_usage_instead_of_running_it() -> None:
    for flag in ("--help", "-h"):
        done = subprocess.run(
            [str(LCTRACE), "wrap", flag], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert "Usage: lctrace wrap" in done.stdout
        assert "unwrapped" not in done.stderr
