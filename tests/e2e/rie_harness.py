"""Run the real AWS Runtime Interface Emulator around a bootstrap, invoke it, read its output.

    with RieHarness(rie_binary, bootstrap, env={...}, timeout_s=2) as rie:
        result = rie.invoke(b'{"a": 1}')
        assert result.status == 200 and result.body == b'{"a": 1}'
        assert "REPORT RequestId" in rie.stdout()

RIE starts the bootstrap lazily on the first invoke and crashes on overlapping invokes, so
`invoke` is serialised. RIE forces `AWS_LAMBDA_RUNTIME_API` and ignores
`AWS_LAMBDA_EXEC_WRAPPER`: `wrapped_bootstrap` writes a bootstrap script that execs
`python -m lifecycle_trace wrap -- COMMAND` instead. On `stop` the runtime processes are killed
too (RIE runs them in their own process group, so they would survive RIE).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
REPO = Path(__file__).resolve().parents[2]
EXAMPLE_RUNTIME = REPO / "examples" / "bootstraps" / "runtime.py"
WRAPPER_SCRIPT = REPO / "lifecycle_trace" / "runtime" / "wrapper.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_script(path: Path, command: list[str]) -> Path:
    """A `#!/bin/sh` script that execs `command` (quoted); made executable."""
    path.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(c) for c in command) + "\n")
    path.chmod(0o755)
    return path


def wrapped_bootstrap(directory: Path, command: list[str], python: str = sys.executable) -> Path:
    """A bootstrap that runs `command` behind `lctrace wrap` (what the layer's wrapper does)."""
    return write_script(
        directory / "bootstrap", [python, "-m", "lifecycle_trace", "wrap", "--", *command]
    )


def layer_style_bootstrap(
    directory: Path, command: list[str], python: str = sys.executable
) -> Path:
    """Like `wrapped_bootstrap`, but started the way the layer's exec wrapper starts lctrace:
    `python -S .../lifecycle_trace/runtime/wrapper.py` with lctrace and its dependencies on
    PYTHONPATH (no site initialisation, no package import before the spawn), the runtime
    getting the original PYTHONPATH back."""
    import site
    import sysconfig

    paths = [str(REPO), sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    unique = list(dict.fromkeys(paths))
    script = directory / "bootstrap"
    script.write_text(
        "#!/bin/sh\n"
        'LCTRACE_CHILD_PYTHONPATH="${PYTHONPATH-}"\nexport LCTRACE_CHILD_PYTHONPATH\n'
        f"PYTHONPATH={shlex.quote(':'.join(unique))}\nexport PYTHONPATH\n"
        "exec "
        + " ".join(shlex.quote(c) for c in [python, "-S", str(WRAPPER_SCRIPT), "--", *command])
        + "\n"
    )
    script.chmod(0o755)
    return script


def example_runtime_command(python: str = sys.executable) -> list[str]:
    """The misbehaving-on-request custom runtime of examples/bootstraps/runtime.py."""
    return [python, str(EXAMPLE_RUNTIME)]


@dataclass(frozen=True, slots=True)
class InvokeResult:
    status: int
    body: bytes
    headers: dict[str, str]
    elapsed_ms: float

    def json(self):  # type: ignore[no-untyped-def]
        import json

        return json.loads(self.body)


def _children(pid: int) -> list[int]:
    """Descendant pids of `pid`, from /proc (RIE's runtimes live in other process groups)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class RieHarness:
    """One RIE process on free 127.0.0.1 ports with `bootstrap` as its runtime."""

    def __init__(
        self,
        rie_binary: Path,
        bootstrap: Path,
        env: dict[str, str] | None = None,
        workdir: Path | None = None,
        timeout_s: int = 2,
        log_level: str = "info",
    ) -> None:
        self.rie_binary = Path(rie_binary)
        self.bootstrap = Path(bootstrap)
        self.workdir = Path(workdir) if workdir else self.bootstrap.parent
        self.api_port = free_port()
        self.invoke_port = free_port()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("LCTRACE_", "OTEL_"))}
        base.update(
            {
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(timeout_s)),
                "AWS_LAMBDA_FUNCTION_NAME": "lctrace-e2e",
                "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/26/[$LATEST]e2e0000000000000000000000000001",
                "AWS_REGION": "us-east-1",
            }
        )
        base.update(env or {})
        self.env = base
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self.stdout_path = self.workdir / f"rie-{self.invoke_port}.stdout"
        self.stderr_path = self.workdir / f"rie-{self.invoke_port}.stderr"
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None

    # --- process ------------------------------------------------------------------------------
    def start(self, ready_timeout_s: float = 10.0) -> RieHarness:
        """Start RIE; new ports and another try when one was taken meanwhile (free_port races
        with every other process on the machine)."""
        for attempt in range(3):
            try:
                return self._start_once(ready_timeout_s)
            except RuntimeError as exc:
                if "address already in use" not in str(exc) or attempt == 2:
                    raise
                self.api_port, self.invoke_port = free_port(), free_port()
        raise AssertionError("unreachable")

    def _start_once(self, ready_timeout_s: float) -> RieHarness:
        cmd = [
            str(self.rie_binary),
            "--runtime-api-address",
            f"127.0.0.1:{self.api_port}",
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{self.invoke_port}",
            "--log-level",
            self.log_level,
            str(self.bootstrap),
        ]
        out, err = self.stdout_path.open("wb"), self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.workdir,
            env=self.env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        out.close()
        err.close()
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"RIE exited early: {self.stderr()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.invoke_port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("RIE did not start listening")

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self.proc is None:
            return
        victims = _children(self.proc.pid)
        for pid in [self.proc.pid, *victims]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.proc = None

    def __enter__(self) -> RieHarness:
        """Start RIE unless `start()` already did (`with RieHarness(...).start() as rie:` must
        not start a second RIE and orphan the first)."""
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- invoking -----------------------------------------------------------------------------
    def invoke(
        self,
        payload: bytes | str = b"{}",
        headers: dict[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> InvokeResult:
        """One invoke, serialised with any other (RIE crashes on overlap); keep-alive."""
        body = payload.encode() if isinstance(payload, str) else payload
        with self._lock:
            for attempt in (0, 1):
                if self._conn is None:
                    self._conn = http.client.HTTPConnection(
                        "127.0.0.1", self.invoke_port, timeout=timeout_s
                    )
                start = time.perf_counter()
                try:
                    self._conn.request("POST", INVOKE_PATH, body=body, headers=headers or {})
                    resp = self._conn.getresponse()
                    data = resp.read()
                except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                    self._conn.close()
                    self._conn = None
                    if attempt:
                        raise
                    continue
                elapsed = (time.perf_counter() - start) * 1000
                if resp.getheader("Connection", "").lower() == "close":
                    self._conn.close()
                    self._conn = None
                return InvokeResult(resp.status, data, dict(resp.getheaders()), elapsed)
        raise AssertionError("unreachable")

    # --- output -------------------------------------------------------------------------------
    def stdout(self) -> str:
        """RIE's stdout: START/END/REPORT plus the runtime's (and wrapper's) stdout and stderr."""
        return self.stdout_path.read_bytes().decode("utf-8", "replace")

    def stderr(self) -> str:
        """RIE's own log lines (`[INFO] (rapid) ...`)."""
        return self.stderr_path.read_bytes().decode("utf-8", "replace")

    def wait_for(self, text: str, timeout_s: float = 5.0, stream: str = "stdout") -> bool:
        """Poll the output until `text` appears (e.g. a line written after the invoke returned)."""
        deadline = time.monotonic() + timeout_s
        read = self.stdout if stream == "stdout" else self.stderr
        while time.monotonic() < deadline:
            if text in read():
                return True
            time.sleep(0.02)
        return text in read()


def read_jsonl_spans(path: Path) -> list[dict]:
    """Spans of an OTLP/JSON lines file, each with `resource` (dict) and `attrs` (dict) added."""
    import json

    spans: list[dict] = []
    if not Path(path).exists():
        return spans
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        request = json.loads(line)
        for resource_spans in request["resourceSpans"]:
            resource = _attr_dict(resource_spans["resource"].get("attributes", []))
            for scope_spans in resource_spans["scopeSpans"]:
                for span in scope_spans["spans"]:
                    span["resource"] = resource
                    span["attrs"] = _attr_dict(span.get("attributes", []))
                    spans.append(span)
    return spans


def _attr_dict(attributes: list[dict]) -> dict:
    out = {}
    for attr in attributes:
        value = attr["value"]
        ((kind, raw),) = value.items()
        if kind == "intValue":
            raw = int(raw)
        elif kind == "arrayValue":
            raw = [next(iter(v.values())) for v in raw.get("values", [])]
        out[attr["key"]] = raw
    return out


def marker_lines(text: str, kind: str | None = None) -> list[dict]:
    """The wrapper's one-line JSON objects (`{"lctrace": ...}`) in some output."""
    import json

    found = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith('{"lctrace"'):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if kind is None or obj.get("lctrace") == kind:
            found.append(obj)
    return found
