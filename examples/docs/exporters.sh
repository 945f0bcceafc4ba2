# Nothing set: the `log` exporter, one JSON line per invocation on stderr. CloudWatch keeps it
# and `lctrace analyze` reads it back - no collector, no extra cost beyond the log line.

# OTLP (spans and metrics) to an OpenTelemetry Collector; http/protobuf unless told grpc
export OTEL_EXPORTER_OTLP_ENDPOINT=http://collector.internal:4318
export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf

# Several at once: OTLP spans, CloudWatch Embedded Metric Format lines, and the log line
export LCTRACE_EXPORTER=otlp,emf,log
export LCTRACE_EMF_NAMESPACE=lctrace

# X-Ray segments to the daemon Lambda runs when active tracing is on (AWS_XRAY_DAEMON_ADDRESS)
export LCTRACE_EXPORTER=xray

# OTLP/JSON lines to a file (or '-' for stdout), as the Collector's file exporter writes them
export LCTRACE_EXPORTER=jsonl LCTRACE_JSONL_PATH=/tmp/lctrace-spans.jsonl

# Local runs and containers: a Prometheus scrape endpoint on 127.0.0.1
export LCTRACE_PROMETHEUS_PORT=9464
