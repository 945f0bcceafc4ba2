"""The per-function summaries (`Report.functions`): one per function and version, sorted, an
invocation without a known version grouped under version None -- counted with the
environments and findings of that function and version, like every other group."""

from __future__ import annotations

from lifecycle_trace.analysis.model import analyze_records
from tests.fixtures.analysis.builders import invoke, timed_out

NO_VERSION = "not-a-stream-name-a"  # (a stream name that says no version)
OTHER = "not-a-stream-name-b"
V7 = "2026/01/01/fn[7]" + "c" * 32


def test_a_missing_version_is_its_own_group_with_its_environments_and_findings() -> None:
    records = [*invoke(NO_VERSION, "r1", 0, 3000.0, 3000, version=None, function="fn",
                       status="timeout"),
               timed_out(NO_VERSION, "r1", 3000, 3.0),
               *invoke(OTHER, "r2", 10, 5.0, 5, version=None, function="fn"),
               *invoke(V7, "r3", 20, 5.0, 5, version="7", function="fn"),
               *invoke(V7, "r4", 40, 5.0, 5, version="7", function="fn")]
    report = analyze_records(records)
    groups = {(f["function"], f["version"]): f for f in report.functions}
    assert list(groups) == [("fn", None), ("fn", "7")]
    missing = groups[("fn", None)]
    assert missing["invocations"] == 2 and missing["environments"] == 2
    assert missing["timeouts"] == 1 and missing["findings"] == 1
    assert groups[("fn", "7")]["invocations"] == 2
    assert groups[("fn", "7")]["environments"] == 1 and groups[("fn", "7")]["findings"] == 0
