"""CloudWatch Logs Insights queries over a function's log group, built from the schema's names.

They read what every Lambda function logs (the platform REPORT line, in the text and the JSON
log format) and what the lctrace wrapper adds (stuck markers, the `log` exporter's per-invocation
lines). Written to `collectors/insights/dashboard-<name>.query` and used by the CloudWatch
dashboard, so the console and Grafana run the same text.
"""

from __future__ import annotations

from dataclasses import dataclass

from lifecycle_trace import schema

# Fields Logs Insights discovers in Lambda's text REPORT line (AWS "Supported logs and
# discovered fields"); @memorySize is in bytes (MB x 1 000 000).
REPORT_FIELDS = ("@type", "@initDuration", "@duration", "@billedDuration", "@memorySize",
                 "@maxMemoryUsed", "@requestId")  # fmt: skip
# The same facts in the JSON log format (`platform.report` records), flattened by Insights.
JSON_REPORT_FIELDS = ("type", "record.status", "record.metrics.initDurationMs",
                      "record.metrics.billedDurationMs", "record.metrics.memorySizeMB",
                      "record.requestId")  # fmt: skip
SYSTEM_FIELDS = ("@timestamp", "@logStream", "@message", "@log")
# Keys of the wrapper's stuck marker line (ARCHITECTURE.md: at least kind, request_id,
# elapsed_ms; the lifecycle adds instance and function).
STUCK_MARKER_FIELDS = ("kind", "request_id", "elapsed_ms", "instance", "function")

_IS_REPORT = '(@type = "REPORT" or type = "platform.report")'
_INIT_MS = "coalesce(@initDuration, `record.metrics.initDurationMs`)"
_BILLED_MS = "coalesce(@billedDuration, `record.metrics.billedDurationMs`)"
_MEMORY_MB = "coalesce(@memorySize / 1000000, `record.metrics.memorySizeMB`)"
_MARKER = f'{schema.MARKER_KEY} = "{{kind}}"'


@dataclass(frozen=True, slots=True)
class InsightsQuery:
    """One query: its file stem, a title for the dashboard panel and the query text."""

    name: str
    title: str
    description: str
    text: str

    @property
    def filename(self) -> str:
        return f"dashboard-{self.name}.query"


QUERIES: tuple[InsightsQuery, ...] = (
    InsightsQuery(
        "cold-start-rate",
        "Cold-start % (REPORT lines)",
        "Share of invocations whose REPORT carries an Init Duration (text or JSON log format). "
        "Suppressed inits and SnapStart restores have none and count as warm.",
        f"filter {_IS_REPORT}\n"
        f"| fields {_INIT_MS} as init_ms\n"
        "| stats count(*) as invocations, count(init_ms) as cold_starts,\n"
        "    100 * count(init_ms) / count(*) as cold_start_pct by bin(5m)",
    ),
    InsightsQuery(
        "init-duration",
        "Init duration (REPORT lines)",
        "Init Duration of cold starts: p50, p99 and max per 5 minutes.",
        f"filter {_IS_REPORT}\n"
        f"| fields {_INIT_MS} as init_ms\n"
        "| filter ispresent(init_ms)\n"
        "| stats count(*) as cold_starts, pct(init_ms, 50) as init_p50_ms,\n"
        "    pct(init_ms, 99) as init_p99_ms, max(init_ms) as init_max_ms by bin(5m)",
    ),
    InsightsQuery(
        "billed-duration",
        "Billed duration and GB-seconds (REPORT lines)",
        "Billed Duration as AWS reports it (init included where AWS bills it) and GB-seconds = "
        "billed ms / 1000 x memory MB / 1024.",
        f"filter {_IS_REPORT}\n"
        f"| fields {_BILLED_MS} as billed_ms,\n"
        f"    {_MEMORY_MB} as memory_mb\n"
        "| stats sum(billed_ms) as billed_ms_total, pct(billed_ms, 99) as billed_p99_ms,\n"
        "    sum(billed_ms / 1000 * memory_mb / 1024) as gb_seconds by bin(5m)",
    ),
    InsightsQuery(
        "timeouts",
        "Timeouts",
        "New-style REPORT `Status: timeout` (text or JSON) and old-style `Task timed out` lines "
        "(before 2024 there was no Status field, so the two never count one timeout twice).",
        f"filter ({_IS_REPORT}\n"
        '    and (@message like /Status: timeout/ or record.status = "timeout"))\n'
        "    or @message like /Task timed out after/\n"
        "| stats count(*) as timeouts by bin(5m)",
    ),
    InsightsQuery(
        "never-polled",
        "Never-polled runtimes (lctrace markers)",
        "The wrapper's marker when the runtime had not called GET /next within "
        "LCTRACE_NEVER_POLLED_MS of start: a bootstrap that never entered its loop.",
        f"filter {_MARKER.format(kind=schema.MARKER_STUCK)}\n"
        f'    and kind = "{schema.STUCK_NEVER_POLLED}"\n'
        "| fields @timestamp, @logStream, function, elapsed_ms\n"
        "| sort @timestamp desc\n"
        "| limit 200",
    ),
    InsightsQuery(
        "stuck-events",
        "Stuck runtimes by kind (lctrace markers)",
        "never_polled, no_response (handler still running near the deadline) and "
        "stopped_polling (response posted, no next GET /next).",
        f"filter {_MARKER.format(kind=schema.MARKER_STUCK)}\n"
        "| stats count(*) as events by kind, bin(5m)",
    ),
    InsightsQuery(
        "phases",
        "Phases from the wrapper's log lines",
        "The lctrace `log` exporter's per-invocation line: poll wait (frozen, free), handler "
        "and post-response work (billed).",
        f"filter {_MARKER.format(kind=schema.MARKER_INVOCATION)}\n"
        "| stats count(*) as invocations, pct(poll_wait_ms, 99) as poll_wait_p99_ms,\n"
        "    pct(handler_ms, 99) as handler_p99_ms,\n"
        "    avg(post_response_ms) as post_response_avg_ms,\n"
        "    pct(post_response_ms, 99) as post_response_p99_ms by bin(5m)",
    ),
)
QUERIES_BY_NAME = {query.name: query for query in QUERIES}
