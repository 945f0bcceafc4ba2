"""The wrapper writes its init line once its lifecycle has loaded (after the runtime's init), so
in the log it can land behind later invocations. It describes the environment's one init: the
cold invocation is the wrapper's first, wherever the line landed."""

from __future__ import annotations

import json
from pathlib import Path

import lifecycle_trace

IDS = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
       "33333333-3333-4333-8333-333333333333"]
STREAM = "2026/11/26/[$LATEST]e2e0000000000000000000000000001"


def _rie_stdout(init_after: int) -> str:
    """RIE-style stdout of three invocations, the wrapper's lines after invocation `init_after`."""
    lines: list[str] = []
    wrapper = [json.dumps({"lctrace": "init", "instance": STREAM, "init_ms": 41.5,
                           "outcome": "success", "start_ms": 1764115200000})]
    wrapper += [json.dumps({"lctrace": "invocation", "request_id": rid, "instance": STREAM,
                            "cold": n == 0, "init_ms": 41.5 if n == 0 else None,
                            "handler_ms": 3.0, "response_ms": 0.2, "post_response_ms": 0.1,
                            "outcome": "success"}) for n, rid in enumerate(IDS)]
    for n, rid in enumerate(IDS):
        lines.append(f"START RequestId: {rid} Version: $LATEST")
        if n == init_after:
            lines += wrapper
        lines.append(f"END RequestId: {rid}")
        init = "Init Duration: 0.02 ms\t" if n == 0 else ""
        lines.append(f"REPORT RequestId: {rid}\t{init}Duration: 45.08 ms\tBilled Duration: 46 ms"
                     "\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t")
    return "\n".join(lines) + "\n"


def test_a_late_wrapper_init_line_makes_only_the_first_invocation_cold(tmp_path: Path) -> None:
    for init_after in (0, 1, 2):
        path = tmp_path / f"rie-{init_after}.log"
        path.write_text(_rie_stdout(init_after))
        report = lifecycle_trace.analyze([str(path)])
        cold = report.invocations.set_index("request_id")["cold"].to_dict()
        assert cold == {IDS[0]: True, IDS[1]: False, IDS[2]: False}, init_after
        assert report.summary["cold_starts"] == 1
