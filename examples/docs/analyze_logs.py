"""Analyse Lambda logs from Python: the same analysis `lctrace analyze` runs.

Usage: python examples/docs/analyze_logs.py [FILE...]   (default: examples/lambda-logs.json)
"""

import sys

import lifecycle_trace

paths = sys.argv[1:] or ["examples/lambda-logs.json"]
report = lifecycle_trace.analyze(paths)

summary = report.summary
print(
    f"{summary['invocations']} invocations, {summary['cold_starts']} cold starts "
    f"({summary['cold_start_rate']:.0%}), {summary['billed_ms']:.0f} ms billed, "
    f"${summary['cost_usd']:.6f}"
)

# report.invocations is a pandas DataFrame: one row per request id
slowest = report.invocations.nlargest(3, "duration_ms")
print(slowest[["request_id", "function", "duration_ms", "billed_ms", "status"]].to_string())

for finding in report.findings:
    print(f"{finding.kind:>24}  {finding.environment}  {finding.message}")
