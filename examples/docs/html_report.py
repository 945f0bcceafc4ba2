"""Write the self-contained HTML report (what `lctrace analyze --format html -o` writes).

Usage: python examples/docs/html_report.py OUTPUT.html [FILE...]
"""

import sys

import lifecycle_trace
from lifecycle_trace.report.html import render_html

output, *paths = sys.argv[1:] or ["report.html"]
report = lifecycle_trace.analyze(paths or ["examples/lambda-logs.json"])
with open(output, "w", encoding="utf-8") as out:
    render_html(report.to_dict(), report.invocations, report.environments, out)
print(
    f"wrote {output}: {report.summary['invocations']} invocations, {len(report.findings)} findings"
)
