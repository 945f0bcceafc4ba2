"""Build the lctrace Lambda layer: a zip whose root becomes /opt.

    /opt/lctrace-wrapper          the AWS_LAMBDA_EXEC_WRAPPER script (collectors/layer/)
    /opt/lctrace/python/...       lifecycle_trace + the runtime side's dependencies only

Only what runs inside Lambda goes in: the OpenTelemetry SDK, the OTLP/HTTP exporter, the
Prometheus exporter (local runs), and optionally the gRPC exporter and aws-xray-sdk - never
pandas, boto3, typer or rich (the analysis side).

Two ways to get the dependencies:

    python collectors/layer/build.py --out dist/lctrace-layer.zip \\
        --python-version 3.12 --arch x86_64          # from PyPI, for the Lambda platform
    python collectors/layer/build.py --out layer.zip --from-env
                                                     # copied from this interpreter (offline)

`--from-env` copies the installed distributions of the interpreter running the build, so build
it with the same Python minor version and CPU architecture as the function's runtime.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = Path(__file__).resolve().parent / "lctrace-wrapper"
PACKAGE = ROOT / "lifecycle_trace"
RUNTIME_REQUIREMENTS = (
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-exporter-prometheus",
)
OPTIONAL = {
    "grpc": ("opentelemetry-exporter-otlp-proto-grpc",),
    "xray": ("aws-xray-sdk",),
}
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
SKIP_PARTS = {"__pycache__", "tests"}
# a fixed timestamp keeps the zip reproducible (zip cannot store dates before 1980)
EPOCH = (2020, 1, 1, 0, 0, 0)


def _dist_requirements(dist: metadata.Distribution) -> list[str]:
    """Names of the distribution's unconditional requirements (markers evaluated here)."""
    from packaging.requirements import Requirement

    names = []
    for raw in dist.requires or []:
        requirement = Requirement(raw)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        names.append(requirement.name)
    return names


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def copy_from_env(requirements: tuple[str, ...], target: Path) -> list[str]:
    """Copy the installed files of `requirements` and everything they need into `target`."""
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        name = _normalise(todo.pop())
        if name in seen or name == "lifecycle-trace":
            continue
        seen.add(name)
        dist = metadata.distribution(name)
        for file in dist.files or []:
            parts = Path(file).parts
            if parts[0] == ".." or SKIP_PARTS & set(parts) or file.suffix == ".pyc":
                continue  # console scripts outside site-packages, caches, bundled tests
            source = Path(dist.locate_file(file))
            if source.is_file():
                destination = target / file
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination)
        todo.extend(_dist_requirements(dist))
    return sorted(seen)


def install_from_pypi(
    requirements: tuple[str, ...], target: Path, python_version: str, arch: str
) -> None:
    """pip-install wheels for the Lambda platform (manylinux, the runtime's Python)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
         "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
         "--platform", PLATFORMS[arch], *requirements],
        check=True,
    )  # fmt: skip


def copy_package(target: Path) -> None:
    """lifecycle_trace from this checkout (sources only)."""
    shutil.copytree(
        PACKAGE,
        target / "lifecycle_trace",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )


def write_zip(staging: Path, out: Path) -> None:
    """A deterministic zip: sorted entries, fixed dates, 0755 for executables."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(staging.rglob("*")):
            if not path.is_file():
                continue
            info = zipfile.ZipInfo(path.relative_to(staging).as_posix(), date_time=EPOCH)
            executable = path.stat().st_mode & stat.S_IXUSR
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def build(
    out: Path, *, from_env: bool, extras: tuple[str, ...] = (), python_version: str = "",
    arch: str = "x86_64",
) -> Path:  # fmt: skip
    """Stage /opt's layout and zip it to `out`."""
    requirements = RUNTIME_REQUIREMENTS + tuple(r for extra in extras for r in OPTIONAL[extra])
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        shutil.copy2(WRAPPER, staging / "lctrace-wrapper")
        os.chmod(staging / "lctrace-wrapper", 0o755)
        site = staging / "lctrace" / "python"
        site.mkdir(parents=True)
        if from_env:
            copy_from_env(requirements, site)
        else:
            install_from_pypi(requirements, site, python_version, arch)
        copy_package(site)
        write_zip(staging, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the lctrace Lambda layer zip.")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "lctrace-layer.zip")
    parser.add_argument("--from-env", action="store_true",
                        help="copy dependencies from this interpreter instead of PyPI")  # fmt: skip
    parser.add_argument(
        "--with", dest="extras", action="append", default=[], choices=sorted(OPTIONAL),
        help="also ship the gRPC exporter (grpc) or aws-xray-sdk (xray)",
    )  # fmt: skip
    parser.add_argument("--python-version", default=f"{sys.version_info[0]}.{sys.version_info[1]}")
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="x86_64")
    args = parser.parse_args(argv)
    out = build(args.out, from_env=args.from_env, extras=tuple(args.extras),
                python_version=args.python_version, arch=args.arch)  # fmt: skip
    size_mb = out.stat().st_size / 1e6
    print(f"{out} ({size_mb:.1f} MB zipped); set AWS_LAMBDA_EXEC_WRAPPER=/opt/lctrace-wrapper")
    return 0


if __name__ == "__main__":
    sys.exit(main())
