"""Build a `MetricsSink` from the environment: the standard OTEL_* variables choose the OTLP
metric exporter (http/protobuf or grpc), LCTRACE_PROMETHEUS_PORT adds a Prometheus endpoint.

Imported by `metrics.build_metrics` only when metrics are asked for; the OpenTelemetry SDK and
exporters are imported inside the functions, on the telemetry loader's thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from lifecycle_trace import config, schema
from lifecycle_trace.runtime.metrics import MetricsSink

_log = logging.getLogger("lifecycle_trace.runtime.metrics")


def _lambda_identity(environ: Mapping[str, str]) -> tuple[str | None, str | None, int | None]:
    memory = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    return (
        environ.get("AWS_LAMBDA_FUNCTION_NAME") or None,
        environ.get("AWS_LAMBDA_FUNCTION_VERSION") or None,
        int(memory) if memory.isdigit() else None,
    )


class _CountingHandler(logging.Handler):
    """Counts the OpenTelemetry SDK's own warnings (export failed, retrying) instead of letting
    them reach the function's log as tracebacks; `MetricsSink.failures` reports the count."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _quiet_sdk_logs() -> _CountingHandler:
    handler = _CountingHandler()
    for name in ("opentelemetry.sdk.metrics", "opentelemetry.exporter"):
        library_logger = logging.getLogger(name)
        library_logger.addHandler(handler)
        library_logger.propagate = False
    return handler


def _exporter_names(environ: Mapping[str, str]) -> set[str]:
    raw = config.get_str(config.EXPORTER, environ) or ""
    return {part.strip().lower() for part in raw.split(",") if part.strip()}


def _otlp_endpoint_set(environ: Mapping[str, str]) -> bool:
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def wants_otlp(environ: Mapping[str, str]) -> bool:
    """OTLP metrics are on when OTEL_METRICS_EXPORTER says otlp, or LCTRACE_EXPORTER lists otlp,
    or (LCTRACE_EXPORTER unset) an OTLP endpoint is configured - and OTEL_METRICS_EXPORTER is
    not `none`."""
    otel = {p.strip().lower() for p in environ.get("OTEL_METRICS_EXPORTER", "").split(",")}
    if "none" in otel:
        return False
    if "otlp" in otel:
        return True
    names = _exporter_names(environ)
    if names:
        return "otlp" in names
    return _otlp_endpoint_set(environ)


def _parse_headers(raw: str) -> dict[str, str]:
    from urllib.parse import unquote

    headers = {}
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


def _otlp_exporter(environ: Mapping[str, str]) -> Any:
    """The OTLP metric exporter the standard OTEL_* variables in `environ` describe
    (protocol grpc or http/protobuf - the spec's default)."""

    def pick(name: str) -> str:
        return environ.get(f"OTEL_EXPORTER_OTLP_METRICS_{name}") or environ.get(
            f"OTEL_EXPORTER_OTLP_{name}", ""
        )

    protocol = pick("PROTOCOL").strip().lower() or "http/protobuf"
    headers = _parse_headers(pick("HEADERS"))
    timeout_raw = pick("TIMEOUT")
    timeout_s = int(timeout_raw) / 1000 if timeout_raw.isdigit() else 10.0
    signal_endpoint = environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "")
    base_endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        endpoint = signal_endpoint or base_endpoint or "http://localhost:4317"
        insecure = endpoint.startswith("http://") or None
        return OTLPMetricExporter(
            endpoint=endpoint, insecure=insecure, headers=headers or None, timeout=timeout_s
        )
    if protocol not in ("http/protobuf", "http"):
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: expected grpc, http/protobuf")
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    endpoint = signal_endpoint or (
        (base_endpoint or "http://localhost:4318").rstrip("/") + "/v1/metrics"
    )
    return OTLPMetricExporter(endpoint=endpoint, headers=headers or None, timeout=timeout_s)


def _resource(environ: Mapping[str, str]) -> Any:
    from opentelemetry.sdk.resources import Resource

    attributes: dict[str, Any] = {}
    for item in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            attributes[key.strip()] = value.strip()
    function, version, memory_mb = _lambda_identity(environ)
    attributes.update({schema.ATTR_CLOUD_PROVIDER: "aws", schema.ATTR_CLOUD_PLATFORM: "aws_lambda"})
    service = environ.get("OTEL_SERVICE_NAME") or function
    optional = {
        "service.name": service,
        schema.ATTR_FAAS_NAME: function,
        schema.ATTR_FAAS_VERSION: version,
        schema.ATTR_INSTANCE: environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        schema.ATTR_CLOUD_REGION: environ.get("AWS_REGION"),
        schema.ATTR_MAX_MEMORY: memory_mb * 1024 * 1024 if memory_mb else None,
    }
    attributes.update({key: value for key, value in optional.items() if value})
    return Resource.create(attributes)


def _prometheus_port(environ: Mapping[str, str]) -> int | None:
    if environ.get(config.PROMETHEUS_PORT.name, "").strip():
        return config.get_int(config.PROMETHEUS_PORT, environ)
    return None


def _prometheus_reader(port: int, stoppers: list[Callable[[], Any]]) -> Any:
    """A Prometheus reader on its own registry, served on 127.0.0.1:port; None (logged) when
    the port cannot be bound - OTLP export still goes ahead."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=True)
    try:
        started = start_http_server(port, addr="127.0.0.1", registry=registry)
    except OSError as exc:
        _log.warning("lctrace: Prometheus endpoint 127.0.0.1:%s not started: %s", port, exc)
        return None
    if isinstance(started, tuple):  # prometheus_client >= 0.17: (server, thread)
        server = started[0]
        stoppers.extend((server.shutdown, server.server_close))
    return PrometheusMetricReader(registry=registry)


def build(environ: Mapping[str, str]) -> MetricsSink | None:
    """The sink `environ` asks for, or None; may raise (build_metrics logs and drops)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    port = _prometheus_port(environ)
    otlp = wants_otlp(environ)
    if port is None and not otlp:
        return None
    from opentelemetry.sdk.metrics import MeterProvider

    readers: list[Any] = []
    stoppers: list[Callable[[], Any]] = []
    if otlp:
        import math

        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        # No timer: a frozen sandbox cannot run one. We export in `flush`, before GET /next.
        readers.append(
            PeriodicExportingMetricReader(_otlp_exporter(environ), export_interval_millis=math.inf)
        )
    if port is not None:
        reader = _prometheus_reader(port, stoppers)
        if reader is not None:
            readers.append(reader)
    if not readers:
        return None
    provider = MeterProvider(metric_readers=readers, resource=_resource(environ))
    function, version, memory_mb = _lambda_identity(environ)
    sink = MetricsSink(
        provider,
        function=function,
        version=version,
        memory_mb=memory_mb,
        push=otlp,
        on_shutdown=tuple(stoppers),
    )
    if otlp:
        sink._sdk_log = _quiet_sdk_logs()
        # Push the zero-valued series before any record (we run off the invocation path, in
        # the telemetry loader's thread), so the first cold start is an increase from 0.
        sink.flush(config.get_int(config.FLUSH_TIMEOUT_MS, environ) * 4)
    return sink
