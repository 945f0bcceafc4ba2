"""The docs cannot drift: they build strictly, generated pages match their sources (`--help`,
schema, metrics, config), every finding kind and input format is documented, and every code
file the docs include runs."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from lifecycle_trace.ingest import FORMATS
from lifecycle_trace.schema import FINDING_KINDS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SNIPPETS = ROOT / "examples" / "docs"
SAMPLE = ROOT / "examples" / "lambda-logs.json"
INCLUDE = re.compile(r'--8<-- "([^"]+)"')


def load(script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(script, DOCS / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mkdocs_build_strict_includes_the_snippets(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or "mkdocs"
    result = subprocess.run(
        [mkdocs, "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    site = tmp_path / "site"
    for page in ("findings", "formats", "python-api", "reference/cli", "reference/spans"):
        assert (site / page / "index.html").is_file(), page
    assert "nlargest" in (site / "python-api" / "index.html").read_text()  # snippet inlined
    assert not list(site.glob("gen_*.py"))


def test_cli_reference_matches_help() -> None:
    generator = load("gen_cli_reference")
    expected = generator.render()
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    assert page == expected, (
        "docs/reference/cli.md disagrees with `lctrace --help`: "
        "run python docs/gen_cli_reference.py"
    )


def test_cli_reference_covers_every_command_and_option() -> None:
    import typer

    from lifecycle_trace.cli.app import app

    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    seen = []

    def walk(command: object, path: list[str]) -> None:
        seen.append(path)
        assert f"## `{' '.join(['lctrace', *path])}`" in page
        for param in command.params:
            for option in param.opts:
                if option.startswith("--"):
                    assert option in page, (path, option)
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    assert ["analyze"] in seen and ["collect", "logs"] in seen


def test_generated_reference_pages_are_current() -> None:
    generator = load("gen_reference")
    for path, text in generator.render().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} is stale: run python docs/gen_reference.py"
        )


def test_every_finding_kind_is_documented_in_severity_order() -> None:
    text = (DOCS / "findings.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## `([a-z_]+)`$", text, flags=re.M)
    assert headings == list(FINDING_KINDS)
    for kind in FINDING_KINDS:
        section = text.split(f"## `{kind}`", 1)[1].split("\n## ", 1)[0]
        for part in ("**What it means.**", "**How it is detected.**", "**How to fix it.**"):
            assert part in section, (kind, part)


def test_every_input_format_is_documented() -> None:
    text = (DOCS / "formats.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\| `([a-z0-9][a-z0-9-]*)` \|", text, flags=re.M)
    assert sorted(documented) == sorted(FORMATS)


def test_every_snippet_file_is_included_and_every_include_exists() -> None:
    included = {match for page in DOCS.rglob("*.md") for match in INCLUDE.findall(page.read_text())}
    assert included, "no snippets included"
    for name in included:
        assert (ROOT / name).is_file(), name
    files = {f"examples/docs/{p.name}" for p in SNIPPETS.iterdir() if p.is_file()}
    assert files == included


def test_getting_started_commands_are_the_readmes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [
        line
        for line in (SNIPPETS / "getting-started.sh").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(commands) == 2
    for command in commands:
        assert f"\n{command}\n" in readme, command


@pytest.mark.parametrize("script", sorted(p.name for p in SNIPPETS.glob("*.sh")))
def test_shell_snippets_parse(script: str) -> None:
    result = subprocess.run(["bash", "-n", str(SNIPPETS / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def run_snippet(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SNIPPETS / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def sample_report() -> dict:
    import lifecycle_trace

    return json.loads(lifecycle_trace.analyze([str(SAMPLE)]).to_json())


def test_python_snippet_analyze_logs(sample_report: dict) -> None:
    result = run_snippet("analyze_logs.py")
    assert result.returncode == 0, result.stderr
    summary = sample_report["summary"]
    assert result.stdout.startswith(
        f"{summary['invocations']} invocations, {summary['cold_starts']} cold starts"
    )
    for finding in sample_report["findings"]:
        assert finding["message"] in result.stdout


def test_python_snippet_cold_starts_by_cause(sample_report: dict) -> None:
    result = run_snippet("cold_starts_by_cause.py")
    assert result.returncode == 0, result.stderr
    for cause in sample_report["summary"]["cold_starts_by_cause"]:
        assert cause in result.stdout


def test_python_snippet_html_report(tmp_path: Path, sample_report: dict) -> None:
    output = tmp_path / "report.html"
    result = run_snippet("html_report.py", str(output), str(SAMPLE))
    assert result.returncode == 0, result.stderr
    page = output.read_text(encoding="utf-8")
    invocations = sample_report["summary"]["invocations"]
    assert f'data-metric="summary.invocations" data-value="{invocations}"' in page


def test_python_snippet_ci_gate_fails_on_a_stuck_runtime(sample_report: dict) -> None:
    result = run_snippet("ci_gate.py")
    blocking = [f for f in sample_report["findings"] if f["kind"] == "never_polled"]
    assert blocking, "the sample is expected to hold a never_polled runtime"
    assert result.returncode == 1, result.stderr
    assert f"never_polled: {blocking[0]['function']}" in result.stdout


def test_python_api_page_matches_the_library(sample_report: dict) -> None:
    import inspect

    import lifecycle_trace
    from lifecycle_trace.analysis.model import analyze

    text = (DOCS / "python-api.md").read_text(encoding="utf-8")
    for name, parameter in inspect.signature(analyze).parameters.items():
        shown = (
            name
            if parameter.default is inspect.Parameter.empty
            else f"{name}={parameter.default!r}"
        )
        assert shown.replace("'", '"') in text, shown
    report = lifecycle_trace.analyze([str(SAMPLE)])
    table = text.split("## The invocations table", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", table))
    assert documented, "no columns documented"
    assert documented <= set(report.invocations.columns), documented - set(
        report.invocations.columns
    )
    for name in lifecycle_trace.__all__:  # every public name is documented
        assert name == "__version__" or re.search(rf"`(lifecycle_trace\.)?{name}\b", text), name


def test_cli_reference_equals_the_installed_commands_help() -> None:
    """The page's blocks are what the real `lctrace ... --help` prints (`wrap` is excluded: the
    console script hands its arguments to the wrapped command on the cold-start path)."""
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    blocks = dict(re.findall(r"## `([^`]+)`\n\n```text\n(.*?)\n```", page, flags=re.S))
    lctrace = Path(sys.executable).parent / "lctrace"
    env = {**os.environ, "COLUMNS": "100", "TERMINAL_WIDTH": "100", "NO_COLOR": "1", "TERM": "dumb"}
    checked = 0
    for title, block in blocks.items():
        args = title.split()[1:]
        if args[:1] == ["wrap"]:
            continue
        printed = subprocess.run(
            [str(lctrace), *args, "--help"], capture_output=True, text=True, env=env, timeout=60
        ).stdout
        lines = [line.rstrip() for line in printed.splitlines() if line.strip()]
        assert lines == [line for line in block.splitlines() if line.strip()], (
            f"lctrace {' '.join(args)} --help changed: run python docs/gen_cli_reference.py"
        )
        checked += 1
    assert checked >= 3


def test_every_lctrace_variable_the_docs_name_exists() -> None:
    from lifecycle_trace import config
    from lifecycle_trace.runtime.telemetry import EXPORTERS

    known = {setting.name for setting in config.SETTINGS}
    # the layer's shell wrapper reads a few of its own before Python (and config) even starts
    layer_script = (ROOT / "collectors" / "layer" / "lctrace-wrapper").read_text()
    known |= set(re.findall(r"\bLCTRACE_[A-Z_]+[A-Z]\b", layer_script))
    texts = [p.read_text() for p in DOCS.rglob("*.md")] + [
        p.read_text() for p in SNIPPETS.iterdir()
    ]
    named = {name for text in texts for name in re.findall(r"\bLCTRACE_[A-Z_]+[A-Z]\b", text)}
    assert named and named <= known, named - known
    chosen = re.findall(r"LCTRACE_EXPORTER=([a-z,]+)", (SNIPPETS / "exporters.sh").read_text())
    assert {name for value in chosen for name in value.split(",")} <= set(EXPORTERS)


@pytest.mark.parametrize("script", sorted(p.name for p in SNIPPETS.glob("*.php")))
def test_php_snippets_parse(script: str) -> None:
    php = shutil.which("php")
    assert php, "php (Debian's php-cli) is needed: it is in .ci/apt-packages"
    result = subprocess.run([php, "-l", str(SNIPPETS / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.e2e
def test_python_snippet_analyze_dask_gives_the_same_report(sample_report: dict) -> None:
    """The Dask snippet starts a real local cluster (worker processes on 127.0.0.1)."""
    result = run_snippet("analyze_dask.py")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = sample_report["summary"]
    assert result.stdout.splitlines() == [
        f"{summary['invocations']} invocations, {summary['cold_starts']} cold starts",
        f"{summary['billed_ms']:.0f} ms billed, ${summary['cost_usd']:.6f}",
        f"{len(sample_report['findings'])} findings",
    ]
