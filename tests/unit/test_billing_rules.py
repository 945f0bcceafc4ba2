"""Billing: per-record rule classification, windows, GB-seconds, prices (reference §6).

Every expected number is worked out by hand in the comment next to it.
"""

from __future__ import annotations

import math

import pytest

from lifecycle_trace import records as r
from lifecycle_trace.analysis import analyze_records
from lifecycle_trace.analysis.pricing import Pricing
from lifecycle_trace.errors import ConfigError
from tests.fixtures.analysis.builders import T0, init_start, invoke, stream


def one(records: list, **options: object):
    report = analyze_records(records, **options)
    assert len(report.invocations) == 1
    return report, report.invocations.iloc[0]


def test_ceil_duration_rule_keeps_init_out_of_the_window() -> None:
    # 2023 ZIP managed runtime: Duration 1948.24, Billed 1949 = ceil(1948.24), Init 265.47 free.
    env = stream(1)
    _, row = one([init_start(env, 0), *invoke(env, "a", 300, 1948.24, 1949, init_ms=265.47)])
    assert row["billing_rule"] == "duration"
    assert row["init_billed"] == False  # noqa: E712 - a pandas boolean, not a Python bool
    assert row["billed_ms"] == 1949
    # window starts at START (T0+300 ms) and is 1949 ms long
    assert row["billed_start"].value // 10**6 == T0 + 300
    assert row["billed_end"].value // 10**6 == T0 + 300 + 1949
    # 1949 ms x 128 MB = 1.949 s x 0.125 GB = 0.243625 GB-s
    assert row["gb_seconds"] == pytest.approx(0.243625)


def test_ceil_duration_plus_init_rule_starts_the_window_at_init() -> None:
    # Container image (LWA): Duration 20.65, Init 2656.67 -> ceil(2677.32) = 2678 billed.
    env = stream(2)
    _, row = one([*invoke(env, "a", 5000, 20.65, 2678, init_ms=2656.67)])
    assert row["billing_rule"] == "duration+init"
    assert bool(row["init_billed"]) is True
    # window: START - 2656.67 ms, for 2678 ms
    start_ms = row["billed_start"].value / 1e6
    assert start_ms == pytest.approx(T0 + 5000 - 2656.67, abs=0.001)
    assert row["billed_end"].value / 1e6 == pytest.approx(start_ms + 2678, abs=0.001)


def test_both_rules_in_one_input_are_decided_per_record() -> None:
    # 2025-08-15 ZIP: 3497.80 + 986.19 -> billed 3498 = ceil(D); 2026: 1448.90 + 534.39 -> 1984.
    a, b = stream(3), stream(4)
    report = analyze_records([*invoke(a, "old", 0, 3497.80, 3498, init_ms=986.19),
                              *invoke(b, "new", 10, 1448.90, 1984, init_ms=534.39)])
    rules = dict(zip(report.invocations["request_id"], report.invocations["billing_rule"],
                     strict=True))
    assert rules == {"old": "duration", "new": "duration+init"}
    assert report.summary["billed_ms"] == 3498 + 1984


def test_snapstart_billed_restore_is_inside_billed_duration_not_added_again() -> None:
    # Real 2023 SnapStart: ceil(306.34) = 307 + Billed Restore 303 = 610 = Billed Duration.
    env = stream(5, version="56")
    records = [r.RestoreStart(source="s", line=1, environment=env, timestamp_ms=T0),
               r.RestoreReport(source="s", line=2, environment=env, timestamp_ms=T0 + 363,
                               duration_ms=511.25),
               *invoke(env, "snap", 366, 306.34, 610, memory_mb=3009, restore_ms=511.25,
                       billed_restore_ms=303, version="56")]
    report, row = one(records)
    assert row["billed_ms"] == 610  # not 913
    assert row["billing_rule"] == "duration+restore"
    assert row["cold_type"] == "snapstart" and row["restore_ms"] == 511.25
    assert row["billed_start"].value / 1e6 == pytest.approx(T0 + 366 - 303)
    # 610 ms x 3009 MB = 0.61 x 3009/1024 GB-s
    assert row["gb_seconds"] == pytest.approx(0.61 * 3009 / 1024)
    assert report.summary["billed_ms"] == 610


def test_legacy_100ms_rounding_is_recognised() -> None:
    # 2020: Duration 1.76 -> Billed 100 (init 120.96 not billed).
    _, row = one(invoke(stream(6, "2020/06/04"), "x", 0, 1.76, 100, init_ms=120.96))
    assert row["billing_rule"] == "100ms"
    assert row["billed_ms"] == 100
    assert row["init_billed"] == False  # noqa: E712


def test_timeout_clamped_and_not_clamped() -> None:
    # 2020 text: 3003.16 -> billed 3000 (clamped to the 3 s limit).
    _, clamped = one(invoke(stream(7), "t1", 0, 3003.16, 3000, init_ms=127.02, status="timeout"))
    assert clamped["billing_rule"] == "clamped" and clamped["billed_ms"] == 3000
    assert clamped["status"] == "timeout"
    # AWS docs: 3016.78 + 84.00 init -> ceil(3100.78) = 3101, not clamped.
    _, open_ = one(invoke(stream(8), "t2", 0, 3016.78, 3101, init_ms=84.00, status="timeout"))
    assert open_["billing_rule"] == "duration+init" and open_["billed_ms"] == 3101


def test_suppressed_init_time_is_inside_duration_and_not_added() -> None:
    # INIT_REPORT Phase: invoke 1329.49 ms, then REPORT Duration 1338.34, Billed 1339.
    env = stream(9)
    start = invoke(env, "s", 100, 1338.34, 1339, status="error",
                   error_type="Runtime.UserCodeSyntaxError")
    suppressed = r.InitReport(source="s", line=0, environment=env, timestamp_ms=T0 + 1430,
                              duration_ms=1329.49, phase="invoke", status="error",
                              error_type="Runtime.UserCodeSyntaxError")
    _, row = one([start[0], suppressed, *start[1:]])
    assert row["billed_ms"] == 1339 and row["billing_rule"] == "duration"
    assert row["cold_type"] == "suppressed" and row["suppressed_init_ms"] == 1329.49
    assert math.isnan(row["init_ms"])


def test_missing_billed_figure_is_computed_and_rie_init_never_added() -> None:
    # RIE: Init Duration 12.34 (meaningless), Duration 5.67, no billed figure -> ceil(5.67) = 6.
    rie = invoke(None, "rie", 0, 5.67, None, memory_mb=3008, init_ms=12.34, dialect=r.RIE)
    _, row = one(rie)
    assert row["billed_ms"] == 6 and row["billed_source"] == "computed"
    assert row["cold"] and math.isnan(row["init_ms"])


def test_computed_figure_follows_the_functions_own_rule() -> None:
    # The function's other record shows ceil(D+I); a record without a billed figure
    # (Duration 10.2, Init 100.5) is then computed as ceil(110.7) = 111.
    a, b = stream(10, function="fn"), stream(11, function="fn")
    report = analyze_records([*invoke(a, "shown", 0, 20.4, 121, init_ms=100.2),
                              *invoke(b, "computed", 50, 10.2, None, init_ms=100.5)])
    row = report.invocations.set_index("request_id").loc["computed"]
    assert row["billed_ms"] == 111 and row["billing_rule"] == "computed:duration+init"


def test_cost_uses_first_tier_and_request_charge() -> None:
    # 10 invocations x 1000 ms x 1024 MB = 10 GB-s x $0.0000166667 + 10 x $0.0000002
    env = stream(12)
    records = [rec for i in range(10)
               for rec in invoke(env, f"r{i}", i * 2000, 999.5, 1000, memory_mb=1024)]
    report = analyze_records(records)
    assert report.summary["gb_seconds"] == pytest.approx(10.0)
    assert report.summary["cost_usd"] == pytest.approx(10 * 0.0000166667 + 10 * 0.2e-6)
    arm = analyze_records(records, arch="arm64")
    assert arm.summary["cost_usd"] == pytest.approx(10 * 0.0000133334 + 10 * 0.2e-6)
    flat = analyze_records(records, price_per_gb_second=0.00001)
    assert flat.summary["cost_usd"] == pytest.approx(10 * 0.00001 + 10 * 0.2e-6)
    assert flat.pricing["price_per_gb_second"] == 0.00001
    assert report.pricing["free_tier_applied"] is False


def test_monthly_tiers_apply_to_the_total() -> None:
    x86 = Pricing.build("x86_64")
    # 7e9 GB-s: 6e9 at the first price, 1e9 at the second.
    assert x86.duration_cost(7e9) == pytest.approx(6e9 * 0.0000166667 + 1e9 * 0.000015)
    # 20e9 GB-s: 6e9 + 9e9 + 5e9 across the three tiers.
    assert x86.duration_cost(20e9) == pytest.approx(
        6e9 * 0.0000166667 + 9e9 * 0.000015 + 5e9 * 0.0000133334)
    arm = Pricing.build("arm64")
    assert arm.duration_cost(8e9) == pytest.approx(7.5e9 * 0.0000133334 + 0.5e9 * 0.0000120001)
    assert x86.request_cost(1_000_000) == pytest.approx(0.20)


def test_region_from_runtime_arn_unless_overridden_and_unknown_region_said() -> None:
    env = stream(13)
    records = [init_start(env, 0, runtime_version_arn="arn:aws:lambda:eu-west-3::runtime:b4"),
               *invoke(env, "a", 200, 10, 11, init_ms=150.0)]
    assert analyze_records(records).pricing["region"] == "eu-west-3"
    assert analyze_records(records).pricing["region_source"] == "runtime ARN"
    forced = analyze_records(records, region="af-south-1").pricing
    assert forced["region"] == "af-south-1" and "no price table for af-south-1" in forced["source"]
    assert "eu-west-3 lists the same prices" in analyze_records(records).pricing["source"]
    assert "provisioned concurrency" in forced["not_included"]


def test_bad_pricing_options_fail_with_the_option_named() -> None:
    with pytest.raises(ConfigError, match="--arch"):
        Pricing.build("sparc")
    with pytest.raises(ConfigError, match="--price-per-gb-second"):
        Pricing.build("arm64", price_per_gb_second=-1)
