"""Fail a CI job when the logs show a stuck runtime (`lctrace analyze --fail-on` does the same).

Usage: python examples/docs/ci_gate.py [FILE...]; exit status 1 when a blocking finding exists.
"""

import sys

import lifecycle_trace

BLOCKING = {"never_polled", "stopped_polling", "no_response", "init_error"}

report = lifecycle_trace.analyze(sys.argv[1:] or ["examples/lambda-logs.json"])
blocking = [finding for finding in report.findings if finding.kind in BLOCKING]
for finding in blocking:
    print(f"{finding.kind}: {finding.function} {finding.environment}: {finding.message}")
    for line in finding.evidence:
        print(f"    {line}")
sys.exit(1 if blocking else 0)
