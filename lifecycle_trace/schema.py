"""Names shared by the wrapper (which writes them) and the analysis (which reads them back).

Stdlib only: the Lambda side imports this. Changing a value here is a breaking change of the
span, marker or metric contract (docs/reference and the dashboards read the same constants).
"""

from __future__ import annotations

# --- span names (ARCHITECTURE.md, "The lifecycle the proxy sees") -------------------------------
SPAN_INIT = "lambda.init"
SPAN_POLL_WAIT = "lambda.poll_wait"
SPAN_INVOCATION = "lambda.invocation"
SPAN_HANDLER = "lambda.handler"
SPAN_RESPONSE = "lambda.response"
SPAN_POST_RESPONSE = "lambda.post_response"
SPAN_STUCK = "lambda.stuck"
SPAN_RESTORE = "lambda.restore"  # X-Ray `Restore` subsegment (SnapStart); the wrapper cannot see it
PHASE_SPANS = (
    SPAN_INIT,
    SPAN_POLL_WAIT,
    SPAN_INVOCATION,
    SPAN_HANDLER,
    SPAN_RESPONSE,
    SPAN_POST_RESPONSE,
    SPAN_STUCK,
)

# --- attributes: OpenTelemetry FaaS semantic conventions ------------------------------------------
ATTR_INVOCATION_ID = "faas.invocation_id"
ATTR_COLDSTART = "faas.coldstart"
ATTR_TRIGGER = "faas.trigger"
ATTR_INSTANCE = "faas.instance"  # resource attribute = AWS_LAMBDA_LOG_STREAM_NAME
ATTR_FAAS_NAME = "faas.name"
ATTR_FAAS_VERSION = "faas.version"
ATTR_MAX_MEMORY = "faas.max_memory"
ATTR_CLOUD_RESOURCE_ID = "cloud.resource_id"
ATTR_CLOUD_PROVIDER = "cloud.provider"
ATTR_CLOUD_PLATFORM = "cloud.platform"
ATTR_CLOUD_REGION = "cloud.region"
ATTR_XRAY_TRACE_ID = "aws.xray.trace_id"
# lctrace-only attributes
ATTR_EVENT_SOURCE = "lctrace.event_source"
ATTR_RECORD_COUNT = "lctrace.record_count"
ATTR_OUTCOME = "lctrace.outcome"  # success | error | init_error | crash | timeout | stuck
ATTR_PROXY_OVERHEAD_MS = "lctrace.proxy_overhead_ms"
ATTR_REQUEST_BYTES = "lctrace.request_bytes"
ATTR_RESPONSE_BYTES = "lctrace.response_bytes"
ATTR_EVENT_BYTES = "lctrace.event_bytes"
ATTR_STUCK_KIND = "lctrace.stuck.kind"
ATTR_ELAPSED_MS = "lctrace.elapsed_ms"
ATTR_ERROR_TYPE = "lctrace.error_type"
ATTR_STATUS_CODE = "lctrace.upstream_status"
ATTR_BILLED_MS = "lctrace.billed_ms"  # billed duration of the invocation (REPORT or the window)
ATTR_MAX_MEMORY_USED = "lctrace.max_memory_used_mb"  # REPORT `Max Memory Used`

TRIGGERS = ("http", "pubsub", "datasource", "timer", "other")

# --- stderr lines the wrapper writes, read back by `lctrace analyze` -----------------------------
MARKER_KEY = "lctrace"  # every wrapper line is a one-line JSON object with this key
MARKER_STUCK = "stuck"  # {"lctrace":"stuck","kind":...,"request_id":...,"elapsed_ms":...}
MARKER_INVOCATION = "invocation"  # the `log` exporter's per-invocation line
MARKER_INIT = "init"  # the `log` exporter's init line (init_ms, instance)
WRAPPER_INIT_PHASE = "wrapper"  # InitReport.phase of that line read back (not Lambda's init|invoke)
STUCK_NEVER_POLLED = "never_polled"
STUCK_NO_RESPONSE = "no_response"
STUCK_STOPPED_POLLING = "stopped_polling"
STUCK_KINDS = (STUCK_NEVER_POLLED, STUCK_NO_RESPONSE, STUCK_STOPPED_POLLING)
# keys of the per-invocation log line (all durations in ms, floats)
LOG_FIELDS = (
    "request_id",
    "instance",
    "function",
    "version",
    "cold",
    "init_ms",
    "poll_wait_ms",
    "handler_ms",
    "response_ms",
    "post_response_ms",
    "outcome",
    "trigger",
    "event_source",
    "start_ms",
)

# --- metric names (OpenTelemetry FaaS names where they exist, lctrace.* otherwise) ----------------
METRIC_INVOKE_DURATION = "faas.invoke_duration"
METRIC_INIT_DURATION = "faas.init_duration"
METRIC_COLDSTARTS = "faas.coldstarts"
METRIC_TIMEOUTS = "faas.timeouts"
METRIC_ERRORS = "faas.errors"
METRIC_POLL_WAIT = "lctrace.poll_wait"
METRIC_POST_RESPONSE = "lctrace.post_response_duration"
METRIC_STUCK = "lctrace.stuck_events"
METRIC_BILLED = "lctrace.billed_duration"
METRIC_MEMORY_LIMIT = "lctrace.memory_limit"  # gauge, MiB configured: billed ms x this = GB-s
METRICS = (
    METRIC_INVOKE_DURATION,
    METRIC_INIT_DURATION,
    METRIC_COLDSTARTS,
    METRIC_TIMEOUTS,
    METRIC_ERRORS,
    METRIC_POLL_WAIT,
    METRIC_POST_RESPONSE,
    METRIC_STUCK,
    METRIC_BILLED,
    METRIC_MEMORY_LIMIT,
)

# --- the findings vocabulary, in order of severity (ARCHITECTURE.md) -----------------------------
FINDING_KINDS = (
    "never_polled",
    "stopped_polling",
    "no_response",
    "timeout",
    "init_timeout",
    "init_error",
    "runtime_exit",
    "out_of_memory",
    "post_response_overhead",
)
