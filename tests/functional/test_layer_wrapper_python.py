"""The exec-wrapper script must never break the function: an interpreter too old for lctrace
(python3.9/3.10 managed runtimes) is skipped, and with none usable the runtime runs unwrapped."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "collectors" / "layer" / "lctrace-wrapper"


def _fake_python(bin_dir: Path, name: str, marker: Path) -> Path:
    """An executable named like an interpreter that records it was started and runs nothing."""
    fake = bin_dir / name
    fake.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {marker}\nexit 0\n")
    fake.chmod(0o755)
    return fake


def _run(tmp_path: Path, lctrace_python: Path) -> subprocess.CompletedProcess[str]:
    tools = tmp_path / "tools"  # a PATH with no python3 on it, only what the script calls
    tools.mkdir(exist_ok=True)
    for tool in ("readlink", "echo"):
        os.symlink(shutil.which(tool), tools / tool)
    env = {
        "PATH": str(tools),
        "LCTRACE_PYTHON": str(lctrace_python),
        "LCTRACE_HOME": str(tmp_path / "no-layer"),
    }
    return subprocess.run(
        ["/bin/sh", str(SCRIPT), "/bin/echo", "handler ran"],
        env=env, capture_output=True, text=True, timeout=30,
    )


def test_an_interpreter_older_than_3_11_is_skipped_and_the_runtime_runs_unwrapped(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "started"
    old = _fake_python(tmp_path, "python3.9", marker)
    done = _run(tmp_path, old)
    assert done.returncode == 0
    assert done.stdout == "handler ran\n"  # the original command line ran, untouched
    assert "no Python >= 3.11" in done.stderr and done.stderr.count("\n") == 1
    assert not marker.exists()  # the old interpreter was never started


def test_a_recent_interpreter_is_used_for_the_wrapper(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    recent = _fake_python(tmp_path, "python3.12", marker)
    done = _run(tmp_path, recent)
    assert done.returncode == 0
    # no layer directory: the script runs `python -m lifecycle_trace wrap -- CMD...`
    assert marker.read_text().split() == [
        str(recent), "-m", "lifecycle_trace", "wrap", "--", "/bin/echo", "handler", "ran",
    ]
