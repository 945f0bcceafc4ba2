"""The JSON written in pieces is `json.dumps(..., indent=2, allow_nan=False)` byte for byte."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from lifecycle_trace.analysis import findings as findings_mod
from lifecycle_trace.analysis.findings import Finding
from lifecycle_trace.analysis.model import Report, frame_records
from lifecycle_trace.report import jsonfmt


def written(doc: object, indent: int = 2) -> str:
    out = io.StringIO()
    jsonfmt.write(doc, out, indent)
    return out.getvalue()


def mixed_frame(n: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    floats = rng.normal(size=n) * 1e4
    floats[1], floats[2], floats[3] = np.nan, np.inf, -0.0
    times = pd.to_datetime(rng.integers(1.7e12, 1.8e12, size=n), unit="ms", utc=True)
    return pd.DataFrame({
        "text": pd.Series(["a", None, "é \"q\" \\ \n", np.nan, "x", "", "tab\t"][:n],
                          dtype=object),
        "str": pd.Series(["s", np.nan, "t", "u", np.nan, "v", "w"][:n], dtype="str"),
        "float": floats, "int": np.arange(n, dtype=np.int64) - 3,
        "int32": np.arange(n, dtype=np.int32), "bool": np.arange(n) % 2 == 0,
        "boolean": pd.array([True, None, False, True, None, False, True][:n], dtype="boolean"),
        "ns": pd.Series(times).where(np.arange(n) != 2),
        "us": pd.Series(times.as_unit("us")) + pd.Timedelta(microseconds=987),
        "numbers": pd.Series([np.float64(1.5), 2, None, np.int64(4), np.nan, float("inf"),
                              True][:n], dtype=object),
        "nested": pd.Series([{"a": [1, 2.5, None]}, [], ["x", "y"], {}, None, ("t",), 7][:n],
                            dtype=object),
        "all_nan": np.full(n, np.nan),
    })


def test_frame_rows_are_frame_records() -> None:
    frame = mixed_frame()
    for indent in (2, 4):
        doc = {"rows": frame_records(frame)}
        assert written({"rows": jsonfmt.frame_rows(frame)}, indent) == json.dumps(
            doc, indent=indent, allow_nan=False)


def test_batches_and_empty_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonfmt, "BATCH", 3)  # several batches of rows
    frame = mixed_frame()
    doc = {"a": 1, "b": {"c": jsonfmt.frame_rows(frame), "d": []},
           "e": jsonfmt.frame_rows(frame.iloc[:0]), "f": jsonfmt.Rows([], 2, [])}
    expected = {"a": 1, "b": {"c": frame_records(frame), "d": []}, "e": [], "f": [{}, {}]}
    assert written(doc) == json.dumps(expected, indent=2, allow_nan=False)
    assert written(jsonfmt.frame_rows(frame)) == json.dumps(frame_records(frame), indent=2)


def test_repeated_values_and_constant_columns() -> None:
    n = 300
    frame = pd.DataFrame({
        "few": np.tile([128.0, -0.0, 0.0, np.nan, 1e20, 2.5, -np.inf], n // 7 + 1)[:n],
        "many": np.linspace(-1, 1, n), "p%s": pd.Series(["50%s"] * n, dtype=object),
        "%d": np.full(n, 1.5), "zeros": np.zeros(n),
    })
    assert written(jsonfmt.frame_rows(frame)) == json.dumps(frame_records(frame), indent=2)


def test_times_outside_the_quick_range_are_written_as_pandas_writes_them() -> None:
    old = pd.Series(pd.to_datetime([-1, 5, 1.5e12], unit="ms", utc=True))
    frame = pd.DataFrame({"t": old + pd.Timedelta(microseconds=250)})
    assert written(jsonfmt.frame_rows(frame)) == json.dumps(frame_records(frame), indent=2)


def test_values_are_written_as_json_writes_them() -> None:
    values = ["x", None, 1.25, -3, True, False, [], ["a", "b"], ["a", 1], {"k": [1.0]}, (1, 2),
              {}, "ü", 1e300, -0.0, np.float64(2.5)]
    rows = jsonfmt.Rows(["v", "w"], len(values), [values, list(reversed(values))])
    expected = [{"v": v, "w": w} for v, w in zip(values, reversed(values), strict=True)]
    assert written({"r": rows}) == json.dumps({"r": expected}, indent=2, allow_nan=False)
    with pytest.raises(ValueError):
        written({"r": jsonfmt.Rows(["v"], 1, [[float("nan")]])})


def test_findings_columns_are_their_dicts() -> None:
    found = [Finding("timeout", "f", "env", "r1", 12.0, "m", ["l1", "l2"], "1", ["r1", np.nan],
                     cost_usd=np.float64(0.5)),
             Finding("post_response_overhead", np.nan, None, None, np.nan, "n", [], None, [],
                     ["timeout"], None)]
    columns = findings_mod.finding_columns(found)
    rows = [dict(zip(findings_mod.FINDING_FIELDS, values, strict=True))
            for values in zip(*columns, strict=True)]
    assert rows == [f.to_dict() for f in found]
    assert list(found[0].to_dict()) == list(findings_mod.FINDING_FIELDS)


def test_report_json_is_json_dumps_of_its_dict() -> None:
    found = [Finding("timeout", "f", "env", "r1", 12.0, "m", ["l1"], "1", ["r1"])]
    frame = mixed_frame()
    report = Report(invocations=frame, environments=frame.iloc[:3], summary={"n": 1},
                    functions=[{"function": "f", "version": None}], findings=found,
                    pricing={"p": 0.5})
    for invocations in (False, True):
        expected = json.dumps(report.to_dict(invocations), indent=2, allow_nan=False)
        assert report.to_json(invocations) == expected
        out = io.StringIO()
        report.write_json(out, invocations)
        assert out.getvalue() == expected
    assert report.to_json(indent=None) == json.dumps(report.to_dict(), allow_nan=False)


def test_findings_written_from_their_fields_are_their_dicts() -> None:
    found = [Finding("timeout", "f", "env", "r1", 12.0, "m \\u00e9", ["l1", "l2"], "1",
                     ["r1", np.nan, "r2"], cost_usd=np.float64(0.5)),
             Finding("runtime_exit", np.nan, None, None, np.nan, "n", [], None, [], ["timeout"],
                     None),
             Finding("out_of_memory", "g", "e", "r3", 7, "o", ["x"], pd.NA, ["r3"],
                     cost_usd=-0.0)]
    report = Report(invocations=pd.DataFrame(), environments=pd.DataFrame(), summary={},
                    functions=[], findings=found)
    assert report.to_json() == json.dumps(report.to_dict(), indent=2, allow_nan=False)
    report.findings = [Finding("timeout", "f", "e", "r", float("inf"), "m")]
    with pytest.raises(ValueError):
        report.to_json()
