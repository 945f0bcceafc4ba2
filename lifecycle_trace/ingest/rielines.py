"""The Runtime Interface Emulator's own stderr lines -> records (dialect RIE).

RIE writes `DD Mon YYYY HH:MM:SS,mmm [LEVEL] (rapid) <text>` (local time, so the caller's event
time is used, possibly None). Its lifecycle calls become records: `INIT START(type, phase)` ->
InitStart, `INIT RTDONE(status)` -> InitRuntimeDone, `INIT REPORT(durationMs)` -> InitReport (the
real init time; RIE's REPORT `Init Duration` is not), `INVOKE RTDONE(status, produced bytes,
duration)` -> RuntimeDone (`produced bytes` is always 0 in RIE, so not kept), `Invoke failed` /
`Init failed error=<reason> InvokeID=<id>` (keys in either order) -> RuntimeExit unless the
reason is the timeout reset `errResetReceived`, `Reset initiated: Timeout` -> TimedOut.
`INVOKE START(requestId)` and every other line -> PlatformNote (kind `INVOKE START` / `RIE`).
"""

from __future__ import annotations

import re

from lifecycle_trace.ingest.base import SourceStats
from lifecycle_trace.ingest.platform_common import cap, exit_details, leading_number
from lifecycle_trace.records import (
    RIE,
    InitReport,
    InitRuntimeDone,
    InitStart,
    PlatformNote,
    RuntimeDone,
    RuntimeExit,
    TimedOut,
)

RIE_MARK = "] (rapid) "
_RIE_CALL_RE = re.compile(
    r"(INIT START|INIT RTDONE|INIT REPORT|INVOKE START|INVOKE RTDONE)\((.*)\)"
)
_RIE_ERROR_RE = re.compile(r"error=(.*?)(?: InvokeID=|$)")
_RIE_INVOKE_ID_RE = re.compile(r"InvokeID=(\S*)")


def _rie_args(text: str) -> dict[str, str]:
    args = {}
    for part in text.split(", "):
        key, _, value = part.partition(": ")
        args[key.strip()] = value.strip()
    return args


def rie_line(rest: str, common: dict, stats: SourceStats) -> list:
    """RIE's own stderr (`[LEVEL] (rapid) ...`): lifecycle calls become records, the rest notes."""
    match = _RIE_CALL_RE.match(rest)
    if match is not None:
        call, args = match.group(1), _rie_args(match.group(2))
        if call == "INIT START":
            return [
                InitStart(
                    **common,
                    dialect=RIE,
                    initialization_type=args.get("type") or None,
                    phase=args.get("phase") or None,
                )
            ]
        if call == "INIT RTDONE":
            return [InitRuntimeDone(**common, dialect=RIE, status=args.get("status") or None)]
        if call == "INIT REPORT":
            duration = leading_number(args.get("durationMs", ""))
            if duration is None:
                stats.skip(common["line"], "RIE INIT REPORT: expected 'durationMs: <number>'")
                return []
            return [InitReport(**common, dialect=RIE, duration_ms=duration)]
        if call == "INVOKE RTDONE":  # its `produced bytes` is always 0 (an RIE bug): not kept
            return [
                RuntimeDone(
                    **common,
                    dialect=RIE,
                    status=args.get("status") or None,
                    duration_ms=leading_number(args.get("duration", "")),
                )
            ]
        request_id = args.get("requestId") or None
        return [
            PlatformNote(**common, dialect=RIE, kind=call, request_id=request_id, text=cap(rest))
        ]
    if rest.startswith(("Invoke failed ", "Init failed ")):
        error = _RIE_ERROR_RE.search(rest)
        reason = error.group(1).strip() if error else ""
        if reason and not reason.startswith("errReset"):  # errResetReceived: a timeout reset
            invoke_id = _RIE_INVOKE_ID_RE.search(rest)
            exit_status, signal = exit_details(reason)
            return [
                RuntimeExit(
                    **common,
                    dialect=RIE,
                    request_id=(invoke_id.group(1) or None) if invoke_id else None,
                    reason=reason,
                    exit_status=exit_status,
                    signal=signal,
                    error_type="Runtime.ExitError" if reason.startswith("Runtime exited") else None,
                    text=cap(rest),
                )
            ]
    elif rest.startswith("Reset initiated: Timeout"):
        return [TimedOut(**common, dialect=RIE, text=cap(rest))]
    return [PlatformNote(**common, dialect=RIE, kind="RIE", text=cap(rest))]
