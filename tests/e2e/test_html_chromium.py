"""The HTML report in a real headless Chromium (Debian's `chromium`), driven over the DevTools
protocol on 127.0.0.1: no console errors, no network requests, the page renders (screenshot
not blank, charts painted), the page's script ran, and the figures in the rendered DOM equal
the JSON report's. Budget: under 60 s."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifecycle_trace.report.html import build_html
from lifecycle_trace.report.html_timeline import MAX_DETAILED
from tests.unit.test_html import EVIL, assert_figures_match, make_invocations, make_report, parse

pytestmark = pytest.mark.e2e
CHROMIUM = os.environ.get("LCTRACE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHART_BLUE = (0x25, 0x63, 0xEB)


class DevTools:
    """A minimal WebSocket client (RFC 6455, client side) speaking the Chrome DevTools protocol
    over one browser connection with flattened target sessions."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .encode()
        )  # fmt: skip
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.next_id = 0
        self.events: list[dict] = []

    def _read(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("DevTools connection closed")
            data += chunk
        return data

    def _receive(self) -> dict:
        payload = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            payload += self._read(length)
            if first & 0x80:  # FIN
                return json.loads(payload)

    def send(self, method: str, session: str | None = None, **params: object) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(data) < 126:
            header += bytes([0x80 | len(data)])
        elif len(data) < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(data))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(data))
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
        self.sock.sendall(header + mask + masked)
        while True:
            reply = self._receive()
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout_s: float = 20) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for index, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(index)
            self.events.append(self._receive())
        raise TimeoutError(method)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: it is in .ci/apt-packages"
    profile = tmp_path_factory.mktemp("chromium-profile")
    process = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-extensions", f"--user-data-dir={profile}",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().split()) == 2):
            assert process.poll() is None, "chromium exited during start-up"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.05)
        port, path = port_file.read_text().split()
        yield DevTools(int(port), path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def open_page(
    browser: DevTools, page: Path, filter_findings: bool = True
) -> tuple[str, dict[str, list]]:
    """Load `page` in a fresh tab; its DOM after scripts ran, and every problem seen."""
    target = browser.send("Target.createTarget", url="about:blank")["targetId"]
    session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", session)
    browser.send(
        "Emulation.setDeviceMetricsOverride", session,
        width=1280, height=1800, deviceScaleFactor=1, mobile=False,
    )  # fmt: skip
    browser.events.clear()
    browser.send("Page.navigate", session, url=page.as_uri())
    browser.wait_for("Page.loadEventFired")
    dom = browser.send(
        "Runtime.evaluate", session,
        expression="document.documentElement.outerHTML", returnByValue=True,
    )["result"]["value"]  # fmt: skip
    # the findings filter works: pick one kind, count the rows left visible
    shown = None if not filter_findings else browser.send(
        "Runtime.evaluate", session, returnByValue=True,
        expression="(() => { const s = document.getElementById('finding-filter');"
        " s.value = 'timeout'; s.dispatchEvent(new Event('change'));"
        " return document.getElementById('findings-shown').textContent; })()",
    )["result"]["value"]  # fmt: skip
    # sortable tables: click a header, the rows follow its numbers
    order = browser.send(
        "Runtime.evaluate", session, returnByValue=True,
        expression="(() => { const t = document.querySelector('details table.sortable');"
        " if (!t) return null; const th = [...t.tHead.rows[0].cells]"
        ".find(c => c.textContent === 'Duration'); th.click();"
        " return [...t.tBodies[0].rows].map(r => parseFloat(r.cells[th.cellIndex]"
        ".getAttribute('data-sort')) || 0); })()",
    )["result"].get("value")  # fmt: skip
    shot = browser.send(
        "Page.captureScreenshot", session, format="png",
        clip={"x": 0, "y": 0, "width": 1280, "height": 1800, "scale": 0.25},
    )["data"]  # fmt: skip
    problems: dict[str, list] = {"console": [], "exceptions": [], "log": [], "network": []}
    for event in browser.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            problems["console"].append(params)
        elif method == "Runtime.exceptionThrown":
            problems["exceptions"].append(params)
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            problems["log"].append(params["entry"])
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file:", "data:", "about:")):
                problems["network"].append(url)
    browser.send("Target.closeTarget", targetId=target)
    return dom, {"shown": shown, "order": order, "png": base64.b64decode(shot), **problems}


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered 8-bit RGB(A) rows of a PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, width = 8, b"", 0
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), (depth, color)
            pixel = 4 if color == 6 else 3
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    raw, stride, rows, previous = zlib.decompress(idat), width * pixel, [], bytes(width * pixel)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            left = line[x - pixel] if x >= pixel else 0
            up, up_left = previous[x], previous[x - pixel] if x >= pixel else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - up_left
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - up_left)
                near = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[x] = (line[x] + near) & 0xFF
        rows.append(bytes(line))
        previous = bytes(line)
    return width, height, [bytes(r[i : i + 3]) for r in rows for i in range(0, stride, pixel)]


def assert_rendered(png: bytes) -> None:
    width, height, pixels = decode_png(png)
    assert (width, height) == (320, 450)
    colors = Counter(pixels)
    background, count = colors.most_common(1)[0]
    painted = 1 - count / len(pixels)
    assert len(colors) > 50 and painted > 0.05, (len(colors), painted)
    assert any(all(abs(a - b) <= 12 for a, b in zip(p, CHART_BLUE, strict=True)) for p in colors)


def assert_clean(result: dict) -> None:
    for kind in ("console", "exceptions", "log", "network"):
        assert result[kind] == [], (kind, result[kind])


def test_small_report_renders_without_errors_and_shows_the_json_figures(
    browser: DevTools, tmp_path: Path
) -> None:
    frame = make_invocations(240, 12)
    report = make_report(frame, EVIL)  # log text with script/img injection in every string
    page = tmp_path / "report.html"
    page.write_text(build_html(report, frame, None), encoding="utf-8")
    dom, result = open_page(browser, page)
    assert_clean(result)
    assert 'data-ready="1"' in dom  # the page's own script ran (CSP allowed it)
    assert result["shown"] == str(sum(f["kind"] == "timeout" for f in report["findings"]))
    figures = parse(dom)
    assert len(figures.metrics) > 40
    assert result["order"] == sorted(result["order"]) and len(result["order"]) == 25
    assert_figures_match(report, figures.metrics)
    assert_rendered(result["png"])


def test_large_report_is_aggregated_and_still_clean(browser: DevTools, tmp_path: Path) -> None:
    frame = make_invocations(MAX_DETAILED * 3, 60)
    report = make_report(frame)
    page = tmp_path / "large.html"
    page.write_text(build_html(report, frame, None), encoding="utf-8")
    dom, result = open_page(browser, page)
    assert_clean(result)
    assert 'data-timeline-mode="aggregated"' in dom and "Timeline aggregated" in dom
    figures = parse(dom).metrics
    assert {"summary.invocations", "summary.cost_usd", "functions.1.billed_ms"} <= set(figures)
    assert_figures_match(report, figures)
    assert_rendered(result["png"])


def test_lctrace_analyze_format_html_on_real_logs(
    browser: DevTools, tmp_path: Path, samples_dir: Path
) -> None:
    """The real command line: `lctrace analyze ... --format html -o` on the shared samples and
    the bundled example, compared with `--format json` of the same inputs."""
    root = Path(__file__).resolve().parents[2]
    paths = [str(p) for p in sorted(samples_dir.iterdir()) if p.suffix != ".md"]
    paths.append(str(root / "examples" / "lambda-logs.json"))
    command = [sys.executable, "-m", "lifecycle_trace", "analyze", *paths]
    page = tmp_path / "report.html"
    subprocess.run([*command, "--format", "html", "-o", str(page)], check=True, timeout=60)
    report_json = json.loads(
        subprocess.run(
            [*command, "--format", "json"], check=True, capture_output=True, timeout=60
        ).stdout
    )
    dom, result = open_page(browser, page)
    assert_clean(result)
    assert result["shown"] == str(sum(f["kind"] == "timeout" for f in report_json["findings"]))
    figures = parse(dom).metrics
    assert {"summary.invocations", "summary.cost_usd", "findings.0.billed_ms"} <= set(figures)
    assert_figures_match(report_json, figures)
    assert_rendered(result["png"])


def test_empty_report_renders_without_errors(browser: DevTools, tmp_path: Path) -> None:
    summary = {
        "invocations": 0,
        "cold_starts": 0,
        "cold_start_rate": None,
        "billed_ms": 0,
        "cost_usd": 0.0,
        "duration_ms": dict.fromkeys(("p50", "p90", "p99", "max")),
    }
    report = {"schema": "lctrace.report/v1", "sources": [], "findings": [], "functions": [],
              "summary": summary}  # fmt: skip
    page = tmp_path / "empty.html"
    page.write_text(build_html(report, None, None), encoding="utf-8")
    browser_dom, result = open_page(browser, page, filter_findings=False)
    assert_clean(result)
    assert 'data-ready="1"' in browser_dom and "No findings." in browser_dom
    assert_figures_match(report, parse(browser_dom).metrics)
