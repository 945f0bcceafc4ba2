"""`lctrace collect` and `fetch_to_cache` end to end against moto on 127.0.0.1.

The CLI runs in-process through `lifecycle_trace.cli.main` (exit codes and stderr as a user
sees them), and once as a real subprocess interrupted with SIGINT behind a proxy that holds
one request, to prove Ctrl-C keeps what was written and prints a working resume command.
"""

from __future__ import annotations

import gzip
import http.client
import json
import shlex
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lifecycle_trace.cli import main
from lifecycle_trace.collect import fetch_to_cache
from lifecycle_trace.collect.output import sidecar_path
from lifecycle_trace.errors import ConfigError
from tests.e2e import moto_server, test_collect_moto
from tests.e2e.test_collect_moto import KINESIS, SNAPSTART_GROUP, Seeded

pytestmark = pytest.mark.e2e
moto_endpoint = moto_server.moto_endpoint
seeded = test_collect_moto.seeded
KINESIS_FUNCTION = "pt-1488-DummyLogDataFunction-gnWXPvL6jJyG"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run `lctrace ARGS` in-process; return (exit code, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(args)
    return int(done.value.code or 0), capsys.readouterr().err


def _lines(path: Path) -> list[dict]:
    data = path.read_bytes()
    data = gzip.decompress(data) if path.name.endswith(".gz") else data
    return [json.loads(line) for line in data.decode().splitlines()]


def test_logs_by_function_cover_every_stream(
    moto_endpoint, seeded: Seeded, tmp_path: Path, capsys
) -> None:
    group = f"/aws/lambda/{KINESIS_FUNCTION}"
    start, end = seeded.span_ms(group)
    output = tmp_path / "fn.jsonl.gz"
    code, err = run(
        [
            "collect",
            "logs",
            "--function",
            KINESIS_FUNCTION,
            "--start",
            str(start),
            "--end",
            str(end),
            "-o",
            str(output),
            "--endpoint-url",
            moto_endpoint.url,
            "--page-size",
            "2",
        ],
        capsys,
    )
    assert code == 0, err
    assert "wrote 6 events from 2 streams" in err
    assert "━" in err  # the progress bar was drawn (on stderr)
    assert {line["logStreamName"] for line in _lines(output)} == set(seeded.groups[group])
    assert seeded.sources[group].name == KINESIS


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--function", "no-such-fn", "--since", "2h"],
            "lctrace: no function no-such-fn and no log group /aws/lambda/no-such-fn in "
            "us-east-1 (check --function and --region)",
        ),
        (
            ["--log-group", "/aws/lambda/absent", "--since", "2h"],
            "lctrace: log group /aws/lambda/absent does not exist in us-east-1 (check --log-group "
            "and --region)",
        ),
        (
            ["--log-group", "g", "--since", "2h", "--start", "2024-01-01"],
            "lctrace: give either --since or --start/--end, not both",
        ),
        (
            ["--log-group", "g", "--since", "2 fortnights"],
            "lctrace: --since '2 fortnights': expected a number and a unit, like 30m, 2h or 7d",
        ),
        (["--resume"], "lctrace: nothing to resume: no out.jsonl.resume.json next to "),
        (
            ["-g", "g", "--insights", "--filter-pattern", "REPORT"],
            "lctrace: --filter-pattern and --page-size apply to FilterLogEvents, not --insights",
        ),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    moto_endpoint, seeded: Seeded, tmp_path: Path, capsys, args: list[str], expected: str
) -> None:
    output = tmp_path / "out.jsonl"
    code, err = run(
        [
            "collect",
            "logs",
            *args,
            "-o",
            str(output),
            "--endpoint-url",
            moto_endpoint.url,
            "--quiet",
        ],
        capsys,
    )
    assert code == 2
    assert err.startswith(expected) and err.count("\n") == 1, err
    assert not output.exists()


def test_no_credentials_is_one_line(
    moto_endpoint, seeded: Seeded, tmp_path: Path, capsys, monkeypatch
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, err = run(
        [
            "collect",
            "logs",
            "-g",
            SNAPSTART_GROUP,
            "--since",
            "1h",
            "-o",
            str(tmp_path / "x.jsonl"),
            "--endpoint-url",
            moto_endpoint.url,
            "-q",
        ],
        capsys,
    )
    assert code == 2
    assert err == (
        "lctrace: no AWS credentials found: pass --profile, set AWS_PROFILE or "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws configure`\n"
    )


def test_unknown_profile_is_one_line(moto_endpoint, tmp_path: Path, capsys) -> None:
    code, err = run(
        ["collect", "logs", "-g", "g", "-o", str(tmp_path / "x.jsonl"), "--profile", "nobody"],
        capsys,
    )
    assert (code, err) == (
        2,
        "lctrace: AWS profile 'nobody' is not in ~/.aws/config or ~/.aws/credentials\n",
    )


def test_empty_range_is_said_plainly_and_exits_0(
    moto_endpoint, seeded: Seeded, tmp_path: Path, capsys
) -> None:
    output = tmp_path / "empty.jsonl"
    code, err = run(
        [
            "collect",
            "logs",
            "-g",
            SNAPSTART_GROUP,
            "--start",
            "2019-01-01",
            "--end",
            "2019-01-02",
            "-o",
            str(output),
            "--endpoint-url",
            moto_endpoint.url,
            "-q",
        ],
        capsys,
    )
    assert code == 0
    assert err == (
        f"no log events in {SNAPSTART_GROUP} from 2019-01-01 00:00:00 to "
        f"2019-01-02 00:00:00 UTC; wrote an empty {output}\n"
    )
    assert output.read_bytes() == b"" and not sidecar_path(output).exists()


def test_unfinished_collection_needs_resume_or_overwrite(
    moto_endpoint, seeded: Seeded, tmp_path: Path, capsys
) -> None:
    output = tmp_path / "out.jsonl"
    sidecar_path(output).write_text(
        json.dumps(
            {
                "kind": "logs",
                "query": {
                    "log_group": SNAPSTART_GROUP,
                    "start_ms": 0,
                    "end_ms": 1,
                    "filter_pattern": None,
                },
                "offset": 0,
                "cursor": None,
                "totals": {},
                "version": 1,
            }
        )
    )
    common = ["-g", SNAPSTART_GROUP, "-o", str(output), "--endpoint-url", moto_endpoint.url, "-q"]
    code, err = run(["collect", "logs", "--since", "1h", *common], capsys)
    assert code == 2 and "pass --resume to continue it or --overwrite" in err
    code, err = run(["collect", "logs", "--resume", "--since", "1h", *common], capsys)
    assert code == 2 and "drop --since/--start/--end" in err
    code, err = run(
        [
            "collect",
            "logs",
            "--resume",
            "-g",
            "/other",
            "-o",
            str(output),
            "--endpoint-url",
            moto_endpoint.url,
            "-q",
        ],
        capsys,
    )
    assert code == 2 and "log_group differ" in err
    start, end = seeded.span_ms(SNAPSTART_GROUP)
    code, err = run(
        ["collect", "logs", "--overwrite", "--start", str(start), "--end", str(end), *common],
        capsys,
    )
    assert code == 0 and len(_lines(output)) == 47


def test_insights_and_traces_commands(
    moto_endpoint, seeded: Seeded, tmp_path: Path, capsys
) -> None:
    start, end = seeded.span_ms(SNAPSTART_GROUP)
    output = tmp_path / "insights.jsonl"
    code, err = run(
        [
            "collect",
            "logs",
            "-g",
            SNAPSTART_GROUP,
            "--insights",
            "--start",
            str(start),
            "--end",
            str(end),
            "-o",
            str(output),
            "--endpoint-url",
            moto_endpoint.url,
            "-q",
        ],
        capsys,
    )
    assert code == 0 and "wrote 47 rows from 1 Insights queries" in err
    assert [set(page) for page in _lines(output)] == [{"results", "statistics", "status"}]

    docs = test_collect_moto._segment_documents()
    moto_endpoint.client("xray").put_trace_segments(
        TraceSegmentDocuments=[json.dumps(doc) for doc in docs]
    )
    output = tmp_path / "traces.jsonl"
    code, err = run(
        [
            "collect",
            "traces",
            "-f",
            "todo-list-app-dev-postTask",
            "--start",
            "2023-04-12T22:40:00Z",
            "--end",
            "2023-04-12T22:50:00Z",
            "--filter-expression",
            "",
            "-o",
            str(output),
            "--endpoint-url",
            moto_endpoint.url,
            "-q",
        ],
        capsys,
    )
    assert code == 0 and "wrote 2 traces (3 segments" in err, err
    assert sum(len(page["Traces"]) for page in _lines(output)) == 2


def test_fetch_to_cache_reuses_a_settled_range(
    moto_endpoint, seeded: Seeded, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("LCTRACE_CACHE_DIR", str(tmp_path / "cache"))
    group = f"/aws/lambda/{KINESIS_FUNCTION}"
    start, end = seeded.span_ms(group)
    (path,) = fetch_to_cache(
        function=KINESIS_FUNCTION, start=str(start), end=str(end), endpoint_url=moto_endpoint.url
    )
    assert path.parent == tmp_path / "cache" and path.name.endswith(".jsonl.gz")
    assert len(_lines(path)) == 6
    again = fetch_to_cache(
        function=KINESIS_FUNCTION, start=str(start), end=str(end), endpoint_url=moto_endpoint.url
    )
    assert again == [path]
    other = fetch_to_cache(
        function=KINESIS_FUNCTION,
        start=str(start),
        end=str(end - 20),
        endpoint_url=moto_endpoint.url,
    )
    assert other[0] != path and len(_lines(other[0])) == 3  # a different query, its own file
    # relative ranges are fetched again each time (the range moves), into one file per query
    first = fetch_to_cache(
        function=KINESIS_FUNCTION, since="1h", endpoint_url=moto_endpoint.url, now_ms=end + 1000
    )
    second = fetch_to_cache(
        function=KINESIS_FUNCTION, since="1h", endpoint_url=moto_endpoint.url, now_ms=end + 2000
    )
    assert first == second and len(_lines(first[0])) == 6
    assert len(list((tmp_path / "cache").iterdir())) == 3
    (insights,) = fetch_to_cache(
        log_group=group,
        start=str(start),
        end=str(end),
        insights=True,
        endpoint_url=moto_endpoint.url,
    )
    assert ".insights." in insights.name
    assert sum(len(page["results"]) for page in _lines(insights)) == 6
    with pytest.raises(ConfigError, match="exactly one of --function or --log-group"):
        fetch_to_cache(function="a", log_group="b", since="1h")


class HoldingProxy(ThreadingHTTPServer):
    """Forwards every request to moto, but holds request number `hold_at` until released, and
    answers the requests numbered in `throttle` with CloudWatch's ThrottlingException."""

    daemon_threads = True

    def __init__(
        self, upstream: str, hold_at: int = 0, throttle: frozenset[int] = frozenset()
    ) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = urlsplit(upstream)
        self.hold_at = hold_at
        self.throttle = throttle
        self.count = 0
        self.lock = threading.Lock()
        self.holding = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: HoldingProxy

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        with self.server.lock:
            self.server.count += 1
            number = self.server.count
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if number == self.server.hold_at:
            self.server.holding.set()
            self.server.release.wait(30)
            return  # the client was interrupted while waiting for this answer
        if number in self.server.throttle:
            data = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        upstream = http.client.HTTPConnection(
            self.server.upstream.hostname, self.server.upstream.port, timeout=30
        )
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        upstream.request("POST", self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_ctrl_c_keeps_what_was_written_and_prints_a_working_resume_command(
    moto_endpoint, seeded: Seeded, tmp_path: Path
) -> None:
    start, end = seeded.span_ms(SNAPSTART_GROUP)
    proxy = HoldingProxy(moto_endpoint.url, hold_at=4)  # pages 1-3 written, 4th in flight
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    output = tmp_path / "interrupted.jsonl.gz"
    lctrace = [sys.executable, "-c", "from lifecycle_trace.cli import main; main()"]
    try:
        child = subprocess.Popen(
            [
                *lctrace,
                "collect",
                "logs",
                "-g",
                SNAPSTART_GROUP,
                "--start",
                str(start),
                "--end",
                str(end),
                "--page-size",
                "5",
                "-o",
                str(output),
                "--endpoint-url",
                proxy.url,
                "--quiet",
            ],
            env=moto_endpoint.env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proxy.holding.wait(30), "the collector never reached its 4th request"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        proxy.release.set()
    assert child.returncode == 130, err
    assert "interrupted: kept 15 events" in err and str(output) in err
    assert len(_lines(output)) == 15  # valid gzip holding exactly the pages written
    resume_line = next(line for line in err.splitlines() if line.startswith("resume with: "))
    command = shlex.split(resume_line.removeprefix("resume with: "))
    assert command[:3] == ["lctrace", "collect", "logs"] and "--resume" in command
    try:
        finished = subprocess.run(
            [*lctrace, *command[1:]],
            env=moto_endpoint.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        proxy.shutdown()
    assert finished.returncode == 0, finished.stderr
    assert "wrote 47 events from 1 streams" in finished.stderr
    expected = [m for _, m in next(iter(seeded.groups[SNAPSTART_GROUP].values()))]
    assert [line["message"] for line in _lines(output)] == expected
    assert not sidecar_path(output).exists()


def test_throttling_is_retried_by_botocore(
    moto_endpoint, seeded: Seeded, tmp_path: Path, capsys
) -> None:
    start, end = seeded.span_ms(SNAPSTART_GROUP)
    proxy = HoldingProxy(moto_endpoint.url, throttle=frozenset({2}))
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    output = tmp_path / "throttled.jsonl"
    try:
        code, err = run(
            [
                "collect",
                "logs",
                "-g",
                SNAPSTART_GROUP,
                "--start",
                str(start),
                "--end",
                str(end),
                "--page-size",
                "20",
                "-o",
                str(output),
                "--endpoint-url",
                proxy.url,
                "-q",
            ],
            capsys,
        )
    finally:
        proxy.shutdown()
    assert code == 0, err
    assert proxy.count == 4  # 3 pages + the throttled attempt of page 2, retried
    assert len(_lines(output)) == 47


def test_throttling_past_the_retries_is_one_line_and_keeps_the_pages(
    moto_endpoint, seeded: Seeded, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    start, end = seeded.span_ms(SNAPSTART_GROUP)
    proxy = HoldingProxy(moto_endpoint.url, throttle=frozenset({2, 3}))
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    output = tmp_path / "throttled.jsonl"
    try:
        code, err = run(
            [
                "collect",
                "logs",
                "-g",
                SNAPSTART_GROUP,
                "--start",
                str(start),
                "--end",
                str(end),
                "--page-size",
                "20",
                "-o",
                str(output),
                "--endpoint-url",
                proxy.url,
                "-q",
            ],
            capsys,
        )
    finally:
        proxy.shutdown()
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(
        f"lctrace: AWS kept throttling log group {SNAPSTART_GROUP} after "
        "retries (FilterLogEvents: ThrottlingException: Rate exceeded)"
    )
    assert err.rstrip().endswith("kept what was written, `--resume` continues")
    assert len(_lines(output)) == 20 and sidecar_path(output).exists()
    code, err = run(
        [
            "collect",
            "logs",
            "-o",
            str(output),
            "--resume",
            "--endpoint-url",
            moto_endpoint.url,
            "-q",
        ],
        capsys,
    )
    assert code == 0 and len(_lines(output)) == 47


def test_no_traces_is_said_plainly_with_the_usual_reasons(
    moto_endpoint, tmp_path: Path, capsys
) -> None:
    output = tmp_path / "none.jsonl"
    code, err = run(
        [
            "collect",
            "traces",
            "-f",
            "never-traced",
            "--start",
            "2019-01-01",
            "--end",
            "2019-01-01T01:00:00Z",
            "--filter-expression",
            "",
            "-o",
            str(output),
            "--endpoint-url",
            moto_endpoint.url,
            "-q",
        ],
        capsys,
    )
    assert code == 0 and output.read_bytes() == b""
    assert err.splitlines() == [
        f"X-Ray has no traces of never-traced from 2019-01-01 00:00:00 to 2019-01-01 01:00:00 "
        f"UTC; wrote an empty {output}",
        "  (X-Ray keeps traces 30 days; the function needs active tracing; with CloudWatch "
        "Transaction Search on, spans are in the aws/spans log group)",
    ]
