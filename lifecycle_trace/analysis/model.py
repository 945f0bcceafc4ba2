"""`analyze()`: inputs -> records -> tables -> findings -> one `Report`.

The `Report` is what every renderer and the library API share: two DataFrames (`invocations`,
`environments`), the `summary`, per-function/version summaries (`functions`), `findings`, the
`sources` read and the `pricing` used. `to_dict()`/`to_json()` give the `lctrace.report/v1`
contract (ARCHITECTURE.md, "The report contract").
"""

from __future__ import annotations

import copy
import gc
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

import numpy as np
import pandas as pd

from lifecycle_trace import config
from lifecycle_trace.analysis import findings as findings_mod
from lifecycle_trace.analysis import tables
from lifecycle_trace.analysis.classify import STATUSES, is_broadcast
from lifecycle_trace.analysis.findings import Finding
from lifecycle_trace.analysis.frames import PrebuiltColumns
from lifecycle_trace.analysis.merge import Merged, merge_records
from lifecycle_trace.analysis.pricing import Pricing
from lifecycle_trace.ingest.base import ParsedSource, SourceStats

SCHEMA = "lctrace.report/v1"
REGION_RE = re.compile(r"^arn:aws[\w-]*:lambda:([a-z0-9-]+):")


@dataclass
class Report:
    """The result of one analysis. DataFrames are the documented columns (tables.py)."""

    invocations: pd.DataFrame
    environments: pd.DataFrame
    summary: dict[str, object]
    functions: list[dict[str, object]]
    findings: list[Finding]
    sources: list[SourceStats] = field(default_factory=list)
    pricing: dict[str, object] = field(default_factory=dict)

    def to_dict(self, invocations: bool = False) -> dict[str, object]:
        """The report contract as plain JSON-ready data (numbers are numbers, absent = None)."""
        with collector_paused():  # tens of thousands of findings' dicts and lists
            return self._to_dict(invocations)

    def _to_dict(self, invocations: bool, rows: bool = False) -> dict[str, object]:
        """`rows`: the tables and findings as `jsonfmt.Rows` (their columns, for `write_json`),
        not as a list of dicts."""
        from lifecycle_trace.report import jsonfmt

        records = jsonfmt.frame_rows if rows else frame_records
        out: dict[str, object] = {
            "schema": SCHEMA,
            "sources": [{"path": s.path, "format": s.format, "records": s.records,
                         "skipped": s.skipped, "control": s.control, "errors": list(s.errors)}
                        for s in self.sources],
            "pricing": self.pricing,
            "summary": self.summary,
            "functions": self.functions,
            "environments": records(self.environments),
            "findings": (_finding_rows(self.findings) if rows
                         else [f.to_dict() for f in self.findings]),
        }
        if invocations:
            out["invocations"] = records(self.invocations)
        return out

    def to_json(self, invocations: bool = False, indent: int | None = 2) -> str:
        """`json.dumps(self.to_dict(invocations), indent=indent, allow_nan=False)`."""
        if not isinstance(indent, int):
            return json.dumps(self.to_dict(invocations), indent=indent, allow_nan=False)
        buffer = io.StringIO()
        self.write_json(buffer, invocations, indent)
        return buffer.getvalue()

    def write_json(self, out: IO[str], invocations: bool = False, indent: int = 2) -> None:
        """`to_json` written to `out` in pieces: the same text, without a dict per row or the
        whole text in memory (`report.jsonfmt`)."""
        from lifecycle_trace.report import jsonfmt

        with collector_paused():
            jsonfmt.write(self._to_dict(invocations, rows=True), out, indent)


def _finding_rows(findings: list[Finding]) -> object:
    """The findings for the JSON writer (a `jsonfmt.Rows`): each key's JSON texts made straight
    from the findings, a batch at a time -- what `Finding.to_dict` gives (`finding_columns`),
    then `json` writes, without the values' lists in between."""
    from json.encoder import encode_basestring_ascii as encode
    from operator import attrgetter

    from lifecycle_trace.report.jsonfmt import Rows, texts_of, value_text

    kinds = {kind: encode(kind) for kind in findings_mod.SEVERITY}
    severities = {kind: encode(level) for kind, level in findings_mod.SEVERITY.items()}

    def name(field: str) -> Callable[[int, int, int, int], list[str]]:
        get = attrgetter(field)
        return lambda start, stop, level, indent: [
            encode(value) if isinstance(value, str) else "null"
            for value in map(get, findings[start:stop])]

    def number(field: str) -> Callable[[int, int, int, int], list[str]]:
        get = attrgetter(field)
        return lambda start, stop, level, indent: [
            float.__repr__(value) if type(value) is float and -math.inf < value < math.inf
            else value_text(findings_mod._number(value), level, indent)
            for value in map(get, findings[start:stop])]

    def lists(values: Callable[[Finding], object]) -> Callable[[int, int, int, int], list[str]]:
        return lambda start, stop, level, indent: texts_of(
            [values(f) for f in findings[start:stop]], level, indent)

    columns = [
        lambda start, stop, level, indent: [kinds[f.kind] for f in findings[start:stop]],
        lambda start, stop, level, indent: [severities[f.kind] for f in findings[start:stop]],
        name("function"), name("version"), name("environment"), name("request_id"),
        number("billed_ms"), number("cost_usd"),
        lambda start, stop, level, indent: texts_of([f.message for f in findings[start:stop]],
                                                    level, indent),
        lists(attrgetter("evidence")),
        lists(lambda f: [r for r in f.request_ids if isinstance(r, str)]),
        lists(attrgetter("related_kinds")),
    ]
    return Rows(findings_mod.FINDING_FIELDS, len(findings), columns)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a while: building millions of short-lived
    objects with no cycles, it only costs time (restored as it was)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def frame_records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """DataFrame rows as JSON-ready dicts: timestamps ISO-8601 UTC, NaN/NA -> None."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").str.slice(0, 23) + "Z"
    out = out.astype(object).where(out.notna(), None)
    return [{k: _plain(v) for k, v in row.items()} for row in out.to_dict("records")]


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def analyze(
    paths: Sequence[str],
    *,
    input_format: str | None = None,
    function: str | None = None,
    arch: str = "x86_64",
    region: str | None = None,
    price_per_gb_second: float | None = None,
    idle_gap_s: float | None = None,
) -> Report:
    """Read the files (any format lctrace ingests) and analyse them."""
    from lifecycle_trace.ingest import read_sources

    with collector_paused():
        fast = _fast_path(paths, input_format)
        if fast is not None:
            columns, stats = fast
            return analyze_records(PrebuiltColumns(columns), sources=stats, function=function,
                                   arch=arch, region=region,
                                   price_per_gb_second=price_per_gb_second,
                                   idle_gap_s=idle_gap_s)
    parsed = read_sources(list(paths), input_format=input_format)
    stats = [p.stats for p in parsed]
    return analyze_records(_drain(parsed), sources=stats, function=function, arch=arch,
                           region=region, price_per_gb_second=price_per_gb_second,
                           idle_gap_s=idle_gap_s)


def _fast_path(paths: Sequence[str], input_format: str | None
               ) -> tuple[dict[str, dict[str, object]], list[SourceStats]] | None:
    """Inputs holding large CloudWatch exports, read with the ingest fast path (same result as
    the general path, without a record object per event); None when it does not apply."""
    from lifecycle_trace.ingest import fastpath
    from lifecycle_trace.ingest.fastinputs import read_inputs

    if not fastpath.enabled():
        return None
    try:
        return read_inputs(list(paths), input_format)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - a shortcut must never cost the answer: read it in full
        return None


def _drain(parsed: list[ParsedSource]) -> Iterator[object]:
    """Records of every source, letting go of each source's list as it is read (the records
    become columns; keeping both would double the memory of a large analysis)."""
    for source in parsed:
        records, source.records = source.records, []
        yield from records
        del records


def analyze_sources(parsed: Iterable[ParsedSource], **options: object) -> Report:
    """Analyse already-parsed sources (records from every source are merged)."""
    parsed = list(parsed)
    records = [record for source in parsed for record in source.records]
    return analyze_records(records, sources=[p.stats for p in parsed], **options)  # type: ignore[arg-type]


def analyze_records(
    records: Iterable[object],
    *,
    sources: list[SourceStats] | None = None,
    function: str | None = None,
    arch: str = "x86_64",
    region: str | None = None,
    price_per_gb_second: float | None = None,
    idle_gap_s: float | None = None,
) -> Report:
    """The analysis proper, over records from `lifecycle_trace.records`."""
    return analyze_merged(merge_records(records), sources=sources, function=function, arch=arch,
                          region=region, price_per_gb_second=price_per_gb_second,
                          idle_gap_s=idle_gap_s, consume=True)


def analyze_merged(
    merged: Merged,
    *,
    sources: list[SourceStats] | None = None,
    function: str | None = None,
    arch: str = "x86_64",
    region: str | None = None,
    price_per_gb_second: float | None = None,
    idle_gap_s: float | None = None,
    consume: bool = False,
) -> Report:
    """Everything after the merge (tables, pricing, findings). A seam for engines that build the
    `Merged` from partitions (`lifecycle_trace.engine`): the analysis itself is not forked.
    `consume`: the caller hands `merged` over, and its raw invocations (the largest frame of a
    large input) are let go once the invocations table is built from them."""
    gap = float(idle_gap_s) if idle_gap_s is not None else float(config.get_int(config.IDLE_GAP_S))
    inv = tables.build_invocations(merged, gap, consume=consume)
    pricing = Pricing.build(arch, region, _detect_region(inv), price_per_gb_second)
    rate = pricing.blended_rate(float(inv["gb_seconds"].sum()))
    inv["cost_usd"] = inv["gb_seconds"].fillna(0.0) * rate + pricing.request_price_per_million / 1e6
    envs = tables.build_environments(inv, merged)
    request_fee = pricing.request_price_per_million / 1e6
    found = findings_mod.detect(inv, merged, request_price_usd=request_fee)
    if function is not None:
        inv = inv.loc[inv["function"].eq(function)]
        envs = envs.loc[envs["function"].eq(function)]
        found = [f for f in found if f.function == function]
    public = tables.public_invocations(inv)
    described = pricing.describe()
    described["blended_price_per_gb_second"] = rate
    summary = summarize(inv, envs, found, pricing)  # (the table's status codes are counted)
    functions = []
    for (fn, ver), rows in _by_function(public):
        env_rows = envs.loc[envs["function"].eq(fn) & (
            envs["version"].eq(ver) if ver is not None else envs["version"].isna())]
        own = [f for f in found if f.function == fn
               and (f.version == ver if ver is not None else not _known(f.version))]
        whole = rows is public and len(env_rows) == len(envs) and len(own) == len(found)
        # (one function and version: its summary is the summary, not worked out twice)
        functions.append({"function": fn, "version": ver, **(
            copy.deepcopy(summary) if whole else summarize(rows, env_rows, own, pricing))})
    return Report(
        invocations=public,
        environments=envs.reset_index(drop=True),
        summary=summary,
        functions=functions,
        findings=found,
        sources=list(sources or []),
        pricing=described,
    )


def _by_function(inv: pd.DataFrame) -> list[tuple[tuple[str, str | None], pd.DataFrame]]:
    """The rows of each function and version, sorted (a missing version, None, first); a table
    of one function and one version is its own group (no grouping of a million rows)."""
    if len(inv):
        function = inv["function"].to_numpy(dtype=object)
        version = inv["version"].to_numpy(dtype=object)
        first, first_version = function[0], version[0]
        if (isinstance(first, str) and isinstance(first_version, str)
                and bool((function == first).all()) and bool((version == first_version).all())):
            return [((first, first_version), inv)]
    # versions as their rank among the distinct ones, -1 for none (a text stand-in for None
    # would not survive pandas' grouping: a "\0" came back as "")
    present = inv["version"].notna()
    names = sorted(set(inv["version"][present].tolist()))
    rank = pd.Series(-1, index=inv.index, dtype=np.int64)
    rank[present] = inv["version"][present].map({name: i for i, name in enumerate(names)})
    out = []
    for (fn, ver), rows in inv.groupby([inv["function"], rank], sort=True):
        out.append(((fn, None if ver < 0 else names[ver]), rows))
    return out


def _known(value: object) -> bool:
    """A value that is there (not None, NaN or pandas' NA)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value)) \
        and value is not pd.NA


def _detect_region(inv: pd.DataFrame) -> str | None:
    """The region in INIT_START's runtime ARN, when the input holds exactly one."""
    arns = pd.unique(inv["runtime_arn"].to_numpy(dtype=object)) if "runtime_arn" in inv else []
    regions = {m.group(1) for m in (REGION_RE.match(str(arn)) for arn in arns if pd.notna(arn))
               if m}
    return regions.pop() if len(regions) == 1 else None


def _pcts(values: pd.Series) -> dict[str, float | None]:
    data = values.dropna().astype(float)
    if data.empty:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    q = data.quantile([0.5, 0.9, 0.99]).to_numpy()
    return {"p50": round(float(q[0]), 3), "p90": round(float(q[1]), 3),
            "p99": round(float(q[2]), 3), "max": float(data.max())}


def summarize(inv: pd.DataFrame, envs: pd.DataFrame, found: list[Finding],
              pricing: Pricing) -> dict[str, object]:
    """The summary block (also used per function/version)."""
    n = int(len(inv))
    cold = int(inv["cold"].sum())
    statuses = _status_counts(inv)
    kinds = {k: 0 for k in findings_mod.SEVERITY}
    for f in found:
        kinds[f.kind] += 1
    return {
        "invocations": n,
        "cold_starts": cold,
        "cold_start_rate": round(cold / n, 6) if n else None,
        "cold_starts_by_type": {str(k): int(v) for k, v in
                                inv.loc[inv["cold"], "cold_type"].value_counts().items()},
        "cold_starts_by_cause": {str(k): int(v) for k, v in
                                 inv.loc[inv["cold"], "cold_cause"].value_counts().items()},
        "environments": int(len(envs)),
        "timeouts": int(statuses.get("timeout", 0)),
        "errors": int(statuses.get("error", 0)),
        "crashes": int(statuses.get("crash", 0)),
        "duration_ms": _pcts(inv["duration_ms"]),
        "init_ms": _pcts(inv.loc[inv["cold"], "init_ms"]),
        "billed_ms": float(inv["billed_ms"].sum()),
        "gb_seconds": round(float(inv["gb_seconds"].sum()), 6),
        "cost_usd": round(float(inv["cost_usd"].sum()), 9),
        "findings": sum(kinds.values()),
        "findings_by_kind": kinds,
        "post_response": _post_response_totals(inv, found, pricing),
        "source_disagreements": _count_present(inv["disagreements"])
        if "disagreements" in inv else 0,
    }


def _status_counts(inv: pd.DataFrame) -> dict[str, int]:
    """How many rows have each status: from the integer `status_code` the table carries (a
    count per code), else by `value_counts` of the names."""
    if "status_code" in inv:
        counts = np.bincount(inv["status_code"].to_numpy(), minlength=len(STATUSES) + 1)
        return {name: int(counts[i]) for i, name in enumerate(STATUSES)}
    return {str(k): int(v) for k, v in inv["status"].value_counts().items()}


def _count_present(column: pd.Series) -> int:
    """`column.notna().sum()`; a column that repeats one value (the merge's broadcast of an
    absent source) is read once."""
    values = column.to_numpy()
    if is_broadcast(values):
        return 0 if pd.isna(values[0]) else len(values)
    return int(column.notna().sum())


def _post_response_totals(inv: pd.DataFrame, found: list[Finding],
                          pricing: Pricing) -> dict[str, object]:
    """Billed ms and dollars spent after responses over the whole input, and the part of it the
    `post_response_overhead` findings flag."""
    flagged = [f for f in found if f.kind == "post_response_overhead"]
    measured = _count_present(inv["post_response_ms"])
    billed_ms = cost = 0.0  # (the sums of nothing measured)
    if measured:
        costs = findings_mod.post_response_cost(inv, pricing.request_price_per_million / 1e6)
        billed_ms, cost = float(costs["billed_ms"].sum()), float(costs["cost_usd"].sum())
    return {
        "invocations_measured": measured,
        "billed_ms": billed_ms,
        "cost_usd": round(cost, 9),
        "flagged_billed_ms": float(sum(f.billed_ms or 0.0 for f in flagged)),
        "flagged_cost_usd": round(float(sum(f.cost_usd or 0.0 for f in flagged)), 9),
    }
