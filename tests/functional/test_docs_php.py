"""The PHP bootstraps the findings page shows, run as what they are: Lambda custom runtimes
under the real Runtime Interface Emulator, behind `lctrace wrap`.

End-to-end (real RIE, real PHP): it lives with the docs tests because it checks the docs'
claims — the broken bootstrap is reported `never_polled`, the fixed one serves invocation
after invocation in one environment. Budget: about 10 s.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

import lifecycle_trace
from tests.e2e.rie_harness import RieHarness, wrapped_bootstrap

pytestmark = pytest.mark.e2e
SNIPPETS = Path(__file__).resolve().parents[2] / "examples" / "docs"
APP = """<?php
// The framework the doc's bootstrap boots: handle() echoes the event; run() waits for work
// that never comes through the Runtime API.
return new class {
    public function boot(): void {}
    public function handle($event) { return ['echo' => $event]; }
    public function run(): void { sleep(3600); }
};
"""


def function_dir(tmp_path: Path, snippet: str) -> tuple[Path, Path]:
    php = shutil.which("php")
    assert php, "php (Debian's php-cli, php-curl) is needed: they are in .ci/apt-packages"
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "autoload.php").write_text("<?php\n")
    (tmp_path / "bootstrap").mkdir()
    (tmp_path / "bootstrap" / "app.php").write_text(APP)
    shutil.copy(SNIPPETS / snippet, tmp_path / "bootstrap.php")
    (tmp_path / "lambda").mkdir()  # where the wrapped bootstrap script goes
    return Path(php), tmp_path / "bootstrap.php"


def analyze_output(tmp_path: Path, output: str) -> dict:
    log = tmp_path / "rie-output.log"
    log.write_text(output, encoding="utf-8")
    return json.loads(lifecycle_trace.analyze([str(log)]).to_json())


def test_fixed_php_bootstrap_serves_every_invocation_in_one_environment(
    rie_binary: Path, tmp_path: Path
) -> None:
    php, script = function_dir(tmp_path, "bootstrap-polls.php")
    bootstrap = wrapped_bootstrap(tmp_path / "lambda", [str(php), str(script)])
    with RieHarness(rie_binary, bootstrap, workdir=tmp_path, timeout_s=3) as rie:
        replies = [rie.invoke(json.dumps({"n": n})) for n in range(3)]
        # the wrapper loads its lifecycle after the runtime's init and then catches up, so its
        # lines may trail the replies: wait for all three (bounded), as a log reader would
        deadline = time.monotonic() + 10
        while rie.stdout().count('"lctrace":"invocation"') < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        output = rie.stdout()
    assert [reply.status for reply in replies] == [200, 200, 200]
    assert [json.loads(reply.body) for reply in replies] == [{"echo": {"n": n}} for n in range(3)]
    # the wrapper's own lines: one environment, cold once, then reused
    lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"lctrace"')]
    invocations = [line for line in lines if line["lctrace"] == "invocation"]
    assert [line["cold"] for line in invocations] == [True, False, False]
    assert len({line["instance"] for line in invocations}) == 1
    assert [line["outcome"] for line in invocations] == ["success"] * 3
    report = analyze_output(tmp_path, output)
    assert report["summary"]["invocations"] == 3
    assert report["summary"]["cold_starts"] == 1  # the wrapper's late init line: first one only
    assert not [f for f in report["findings"] if f["kind"] in ("never_polled", "stopped_polling")]


def test_never_polling_php_bootstrap_is_reported_never_polled(
    rie_binary: Path, tmp_path: Path
) -> None:
    php, script = function_dir(tmp_path, "bootstrap-never-polls.php")
    bootstrap = wrapped_bootstrap(tmp_path / "lambda", [str(php), str(script)])
    env = {"LCTRACE_NEVER_POLLED_MS": "500"}
    with RieHarness(rie_binary, bootstrap, env=env, workdir=tmp_path, timeout_s=2) as rie:
        reply = rie.invoke(b'{"n": 1}')
        assert rie.wait_for('"kind":"never_polled"')
        output = rie.stdout()
    assert b"Task timed out" in reply.body
    kinds = [finding["kind"] for finding in analyze_output(tmp_path, output)["findings"]]
    assert "never_polled" in kinds
