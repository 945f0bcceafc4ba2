"""`lctrace analyze --function NAME --since 2h`: collect from AWS (moto on 127.0.0.1, real boto3)
into the cache and analyse in one step; files given next to it join the collected logs.

Budget: one moto server (shared with the collect tests when run together), a few seconds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lifecycle_trace.cli import main
from tests.e2e import moto_server

pytestmark = pytest.mark.e2e
moto_endpoint = moto_server.moto_endpoint

FUNCTION = "orders-api"
GROUP = f"/aws/lambda/{FUNCTION}"
STREAM = "2026/11/26/[$LATEST]0f1e2d3c4b5a69788796a5b4c3d2e1f0"
COLD, TIMED_OUT = "3c1f7d2a-0b4e-4c7a-9e21-6d5f4a3b2c10", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


@pytest.fixture(scope="module")
def seeded(moto_endpoint: moto_server.MotoEndpoint) -> int:
    """A cold invocation and a timeout, 30 minutes ago; returns the first event's time."""
    moto_endpoint.reset()
    t0 = int(time.time() * 1000) - 30 * 60 * 1000
    events = [
        (t0, "INIT_START Runtime Version: python:3.12.v40\tRuntime Version ARN: "
             "arn:aws:lambda:eu-west-1::runtime:0123abcd"),
        (t0 + 412, f"START RequestId: {COLD} Version: $LATEST"),
        (t0 + 533, f"END RequestId: {COLD}"),
        (t0 + 533, f"REPORT RequestId: {COLD}\tDuration: 120.52 ms\tBilled Duration: 121 ms\t"
                   "Memory Size: 512 MB\tMax Memory Used: 71 MB\tInit Duration: 411.80 ms\t"),
        (t0 + 9000, f"START RequestId: {TIMED_OUT} Version: $LATEST"),
        (t0 + 12000, f"2026-11-26T10:00:12.000Z {TIMED_OUT} Task timed out after 3.00 seconds"),
        (t0 + 12001, f"END RequestId: {TIMED_OUT}"),
        (t0 + 12001, f"REPORT RequestId: {TIMED_OUT}\tDuration: 3000.00 ms\tBilled Duration: "
                     "3000 ms\tMemory Size: 512 MB\tMax Memory Used: 75 MB\tStatus: timeout"),
    ]
    logs = moto_endpoint.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM,
                        logEvents=[{"timestamp": ts, "message": m} for ts, m in events])
    return t0


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["analyze", *args])
    captured = capsys.readouterr()
    return int(done.value.code or 0), captured.out, captured.err


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("LCTRACE_CACHE_DIR", str(root))
    return root


def test_since_collects_into_the_cache_and_analyses(moto_endpoint, seeded: int, cache: Path,
                                                    tmp_path: Path, capsys) -> None:
    report = tmp_path / "report.json"
    code, _, err = run(["--function", FUNCTION, "--since", "2h", "--endpoint-url",
                        moto_endpoint.url, "-f", "json", "--invocations", "-o", str(report),
                        "--fail-on", "timeout"], capsys)
    assert code == 1, err  # the collected timeout trips the gate: the logs were analysed
    assert "--fail-on matched 1 finding(s): timeout" in err
    doc = json.loads(report.read_text())
    rows = {row["request_id"]: row for row in doc["invocations"]}
    assert set(rows) == {COLD, TIMED_OUT}
    assert rows[COLD]["environment"] == STREAM and rows[COLD]["function"] == FUNCTION
    assert (rows[COLD]["cold"], rows[COLD]["init_ms"], rows[COLD]["billed_ms"]) == (
        True, 411.8, 121)
    assert rows[TIMED_OUT]["status"] == "timeout"
    assert [f["kind"] for f in doc["findings"]] == ["timeout"]
    assert doc["pricing"]["region"] == "eu-west-1"  # from the runtime ARN of the collected logs
    (source,) = doc["sources"]
    assert Path(source["path"]).parent == cache and source["records"] == 8
    assert list(cache.glob("*.logs.*.jsonl.gz")) == [Path(source["path"])]


def test_files_given_next_to_since_join_the_collected_logs(moto_endpoint, seeded: int,
                                                          cache: Path, tmp_path: Path,
                                                          capsys) -> None:
    wrapper = tmp_path / "wrapper.log"
    wrapper.write_text(json.dumps({
        "lctrace": "invocation", "request_id": COLD, "instance": STREAM, "function": FUNCTION,
        "cold": True, "init_ms": 409.5, "poll_wait_ms": 0.3, "handler_ms": 70.0,
        "response_ms": 0.5, "post_response_ms": 49.0, "outcome": "success",
        "start_ms": seeded + 412}) + "\n")
    code, out, err = run([str(wrapper), "--function", FUNCTION, "--start",
                          str(seeded - 60_000), "--endpoint-url", moto_endpoint.url, "-f",
                          "json", "--invocations"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    rows = {row["request_id"]: row for row in doc["invocations"]}
    cold = rows[COLD]
    assert (cold["handler_ms"], cold["post_response_ms"], cold["phase_source"]) == (
        70.0, 49.0, "lctrace")
    assert cold["billed_ms"] == 121 and cold["sources"] == "lctrace+text"
    assert [s["format"] for s in doc["sources"]][0] != "unknown"
    assert len(doc["sources"]) == 2


@pytest.mark.parametrize(("args", "expected"), [
    ([], "lctrace: nothing to analyse: give files, or --function NAME --since 2h to collect "
         "from AWS first"),
    (["--since", "2h"], "lctrace: --since/--start/--end collect from AWS first and need "
                        "--function"),
    (["some.log", "--traces"], "lctrace: --traces/--insights/--profile/--endpoint-url collect "
                               "from AWS: add --since or --start (and --function)"),
    (["--function", "no-such-fn", "--since", "2h"], "lctrace: no function no-such-fn and no log "
                                                     "group /aws/lambda/no-such-fn in us-east-1"),
])
def test_one_line_errors_exit_2(moto_endpoint, seeded: int, cache: Path, capsys,
                                args: list[str], expected: str) -> None:
    extra = ["--endpoint-url", moto_endpoint.url] if "no-such-fn" in args else []
    code, out, err = run([*args, *extra], capsys)
    assert code == 2
    assert err.startswith(expected) and err.count("\n") == 1, err
    assert out == ""
