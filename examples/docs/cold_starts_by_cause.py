"""Cold starts per function and cause, and what their init cost, with plain pandas."""

import sys

import lifecycle_trace

report = lifecycle_trace.analyze(sys.argv[1:] or ["examples/lambda-logs.json"])
cold = report.invocations[report.invocations["cold"]]
table = cold.groupby(["function", "cold_cause"], dropna=False).agg(
    cold_starts=("request_id", "size"),
    init_ms_p50=("init_ms", "median"),
    billed_ms=("billed_ms", "sum"),
)
print(table.to_string())
