"""Fetch the AWS Lambda Runtime Interface Emulator binary from the aws-sam-cli wheel, cached.

The RIE ships inside the PyPI wheel `aws-sam-cli` as `samcli/local/rapid/aws-lambda-rie-x86_64`.
We download the wheel with pip (no dependencies), unzip that one member and cache it under
`.cache/rie/` so later runs cost nothing. Prints the binary's path.
"""

from __future__ import annotations

import glob
import os
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MEMBER = "samcli/local/rapid/aws-lambda-rie-x86_64"


def fetch(cache_dir: Path) -> Path:
    target = cache_dir / "aws-lambda-rie-x86_64"
    if target.exists() and target.stat().st_size > 1_000_000:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, "aws-sam-cli"],
            check=True,
        )
        wheel = glob.glob(os.path.join(tmp, "aws_sam_cli-*.whl"))[0]
        with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as src:
            partial = target.with_suffix(".part")
            partial.write_bytes(src.read())
            partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            partial.replace(target)
    return target


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    print(fetch(Path(os.environ.get("LCTRACE_RIE_CACHE", root / ".cache" / "rie"))))
