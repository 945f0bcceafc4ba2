"""Post-pass over one source's records: request ids for lines that do not carry one.

Function output rarely names its invocation (Node prints `undefined` during init, Go and shell
runtimes print nothing), but within one execution environment invocations are sequential: a
line printed between `START` and that invocation's `REPORT` belongs to it. This pass gives such
`AppLine`s (and `TimedOut` / `RuntimeExit` / RIE `RuntimeDone` records without an id) the open
request id.

Rules, per environment, in list order:
* `Start` (or RIE stderr's `INVOKE START(requestId: ...)` note) opens its request; `Report`
  closes it. `End` does not close: extension output between
  END and REPORT (post-response work) is billed in that invocation and belongs to it.
* `InitStart` / `RestoreStart` begin init: lines keep `None` until init ends (`InitReport`,
  `InitRuntimeDone`, `RestoreReport`) or a `Start` arrives. Lines before the first `Start` keep
  `None`. RIE prints `START` before its lazy init (and merged stdout/stderr may put its
  `INIT START` on either side of `START`): an RIE init ends only at RIE's own init end lines, so
  its init output stays unattributed in either order.

Three more fixes that need the whole source:
* A source without stream names adopts the one environment its records name (`instanceId`),
  so an init and the invocations after it stay in one environment.
* RIE dialect: a warm RIE `REPORT` looks like a real one but its `Max Memory Used` is fake; when
  an environment shows any RIE record, its TEXT `Report`s are marked RIE.
* An `XRAY` note (an `XRAY TraceId:` line a container split off its REPORT event) gives its trace
  and segment ids to the `Report` just before it in the same environment.
"""

from __future__ import annotations

from dataclasses import replace

from lifecycle_trace.records import (
    RIE,
    TEXT,
    AppLine,
    InitReport,
    InitRuntimeDone,
    InitStart,
    PlatformNote,
    Record,
    Report,
    RestoreReport,
    RestoreStart,
    RuntimeDone,
    RuntimeExit,
    Start,
    TimedOut,
)

_ATTRIBUTED = (AppLine, TimedOut, RuntimeExit, RuntimeDone)
RIE_INVOKE_START = "INVOKE START"  # RIE stderr's `INVOKE START(requestId: ...)` note
_INIT_BEGINS = (InitStart, RestoreStart)
_INIT_ENDS = (InitReport, InitRuntimeDone, RestoreReport)


class _Environment:
    __slots__ = ("open_request", "in_init", "rie_init", "last_report")

    def __init__(self) -> None:
        self.open_request: str | None = None
        self.in_init = False
        self.rie_init = False  # RIE's `INIT START(...)`: only its INIT RTDONE/REPORT end init
        self.last_report: int | None = None  # index in the output of the latest Report


def attribute_app_lines(records: list[Record]) -> list[Record]:
    """A new list: `records` with request ids filled in (see the module docstring); records that
    need no change are the same objects, in the same order."""
    records = _adopt_environment(records)
    rie_environments = {record.environment for record in records if record.dialect == RIE}
    states: dict[str | None, _Environment] = {}
    out: list[Record] = []
    for record in records:
        state = states.get(record.environment)
        if state is None:
            state = states[record.environment] = _Environment()
        if isinstance(record, _ATTRIBUTED):
            if record.request_id is None and state.open_request and not state.in_init:
                record = replace(record, request_id=state.open_request)
        elif isinstance(record, Start):
            state.open_request = record.request_id
            if not state.rie_init:  # RIE inits lazily after START and always reports the end
                state.in_init = False
        elif isinstance(record, Report):
            if record.dialect == TEXT and record.environment in rie_environments:
                record = replace(record, dialect=RIE)
            state.open_request = None
            state.last_report = len(out)
        elif isinstance(record, _INIT_BEGINS):
            state.in_init = True
            state.rie_init = record.dialect == RIE
        elif isinstance(record, _INIT_ENDS):
            state.in_init = state.rie_init = False
        elif isinstance(record, PlatformNote):
            if record.kind == "XRAY":
                _merge_xray(record, state, out)
            elif record.kind == RIE_INVOKE_START and record.request_id:
                state.open_request = record.request_id
                state.in_init = False
        if not isinstance(record, Report | PlatformNote):
            state.last_report = None
        out.append(record)
    return out


def _adopt_environment(records: list[Record]) -> list[Record]:
    """A source whose container named no stream (`aws logs tail --format short`, a `LogResult`,
    a Telemetry batch) may still name one in a record (`instanceId` on `platform.initStart`).
    When a source names exactly one environment, its unnamed records are in it too; otherwise
    (several, or none) nothing changes."""
    named: dict[str, set[str]] = {}
    unnamed: set[str] = set()
    for record in records:
        if record.environment is None:
            unnamed.add(record.source)
        else:
            named.setdefault(record.source, set()).add(record.environment)
    adopt = {
        source: next(iter(environments))
        for source, environments in named.items()
        if source in unnamed and len(environments) == 1
    }
    if not adopt:
        return records
    return [
        replace(record, environment=adopt[record.source])
        if record.environment is None and record.source in adopt
        else record
        for record in records
    ]


def _merge_xray(note: PlatformNote, state: _Environment, out: list[Record]) -> None:
    if state.last_report is None:
        return
    report = out[state.last_report]
    if isinstance(report, Report) and report.trace_id is None and note.name:
        from lifecycle_trace.ingest.platform import xray_fields

        trace_id, segment_id, sampled = xray_fields(note.text)
        out[state.last_report] = replace(
            report, trace_id=trace_id, segment_id=segment_id, sampled=sampled
        )
