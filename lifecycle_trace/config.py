"""Every `LCTRACE_*` environment variable in one place, with its default and what it does.

Stdlib only (the Lambda side reads it). Precedence everywhere: explicit argument, then the
environment, then the default here. Bad values raise `ConfigError` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lifecycle_trace.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Setting:
    """One environment variable: its name, default (as text) and a one-line description."""

    name: str
    default: str | None
    doc: str


EXPORTER = Setting(
    "LCTRACE_EXPORTER",
    None,
    "Comma list of exporters: otlp, jsonl, xray, emf, log, none. Unset: otlp when OTEL_* "
    "configures an endpoint, else log.",
)
JSONL_PATH = Setting("LCTRACE_JSONL_PATH", "-", "File the jsonl exporter appends to; '-' = stdout.")
NEVER_POLLED_MS = Setting(
    "LCTRACE_NEVER_POLLED_MS",
    "8000",
    "Report never_polled when the runtime has not called GET /next this long after start "
    "(below Lambda's 10 s on-demand init limit).",
)
DEADLINE_MARGIN_MS = Setting(
    "LCTRACE_DEADLINE_MARGIN_MS",
    "500",
    "Report no_response when the handler is still running this long before the deadline.",
)
STOPPED_POLLING_MS = Setting(
    "LCTRACE_STOPPED_POLLING_MS",
    "2000",
    "Report stopped_polling when a response was posted and no GET /next followed this long.",
)
FLUSH_TIMEOUT_MS = Setting(
    "LCTRACE_FLUSH_TIMEOUT_MS",
    "50",
    "Longest the wrapper waits for exporters before forwarding GET /next.",
)
QUEUE_SIZE = Setting("LCTRACE_QUEUE_SIZE", "2048", "Spans buffered before the wrapper drops.")
CAPTURE_PAYLOADS = Setting(
    "LCTRACE_CAPTURE_PAYLOADS",
    "0",
    "Opt-in: record event and response bodies in spans, up to this many bytes (0 = never).",
)
DISABLE = Setting("LCTRACE_DISABLE", "0", "1: run the child unwrapped (no proxy, no spans).")
PROXY_PORT = Setting("LCTRACE_PROXY_PORT", "0", "Port of the proxy on 127.0.0.1; 0 = any free.")
IDLE_GAP_S = Setting(
    "LCTRACE_IDLE_GAP_S",
    "600",
    "Analysis: a cold start after this much silence across a function is caused by idle.",
)

PROMETHEUS_PORT = Setting(
    "LCTRACE_PROMETHEUS_PORT",
    None,
    "Serve the wrapper's metrics for Prometheus to scrape on 127.0.0.1:<port> (unset = off; "
    "local runs, RIE and containers - a frozen Lambda sandbox cannot be scraped).",
)
EMF_NAMESPACE = Setting(
    "LCTRACE_EMF_NAMESPACE",
    "lctrace",
    "CloudWatch namespace of the metrics the emf exporter writes.",
)
CACHE_DIR = Setting(
    "LCTRACE_CACHE_DIR",
    None,
    "Where `lctrace analyze --function` caches what it collects; unset: ~/.cache/lctrace.",
)

FASTPATH = Setting(
    "LCTRACE_FASTPATH",
    "1",
    "Analysis: 0 reads every input with the general parser (the fast path for large "
    "filter-log-events exports is a shortcut to the same result; this is its escape hatch).",
)

LAYER_HOME = Setting(
    "LCTRACE_HOME",
    "/opt/lctrace",
    "Layer wrapper script: where the layer keeps lctrace (python/) and optionally bin/python3.",
)
LAYER_PYTHON = Setting(
    "LCTRACE_PYTHON",
    None,
    "Layer wrapper script: the interpreter to try first (must be Python >= 3.11, else skipped).",
)
CHILD_PYTHONPATH = Setting(
    "LCTRACE_CHILD_PYTHONPATH",
    None,
    "Set by the layer wrapper script (not by users): the runtime's own PYTHONPATH, restored for "
    "the child so the layer's packages never shadow the function's.",
)

SETTINGS = (
    EXPORTER,
    JSONL_PATH,
    NEVER_POLLED_MS,
    DEADLINE_MARGIN_MS,
    STOPPED_POLLING_MS,
    FLUSH_TIMEOUT_MS,
    QUEUE_SIZE,
    CAPTURE_PAYLOADS,
    DISABLE,
    PROXY_PORT,
    IDLE_GAP_S,
    PROMETHEUS_PORT,
    EMF_NAMESPACE,
    CACHE_DIR,
    FASTPATH,
    LAYER_HOME,
    LAYER_PYTHON,
    CHILD_PYTHONPATH,
)


def get_str(setting: Setting, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable's value, or its default when unset or empty."""
    env = os.environ if environ is None else environ
    value = env.get(setting.name, "")
    return value if value != "" else setting.default


def get_int(setting: Setting, environ: Mapping[str, str] | None = None) -> int:
    """The variable as a non-negative int; `ConfigError` naming it when it is not one."""
    raw = get_str(setting, environ)
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{setting.name}={raw!r}: expected a whole number") from None
    if value < 0:
        raise ConfigError(f"{setting.name}={raw!r}: expected a number >= 0")
    return value


def get_bool(setting: Setting, environ: Mapping[str, str] | None = None) -> bool:
    """True for 1/true/yes/on (any case)."""
    return str(get_str(setting, environ) or "").strip().lower() in {"1", "true", "yes", "on"}
