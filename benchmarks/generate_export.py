"""Generate a realistic `aws logs filter-log-events` JSON export for benchmarks.

N invocations over M log streams (execution environments), interleaved by time as
FilterLogEvents returns them; a mix of the text and JSON log formats (per stream, as a function
is configured), cold starts at each stream's start, timeouts, errors, runtime exits, and
application lines (Node.js- and Python-style) between START and END. Output is one JSON document
`{"events": [...]}` (as `aws logs filter-log-events --output json` prints it), or with
`--page-size N` several pages concatenated, as a hand-paginated export looks.

Usage: python benchmarks/generate_export.py --invocations 1000000 --streams 500 -o big.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

APP_LINES = (
    "{ts}\t{rid}\tINFO\tprocessing order {n} for customer c-{m}",
    "[INFO]\t{ts}\t{rid}\tfetched {n} rows from table orders in {m} ms",
    "{ts}\t{rid}\tDEBUG\tcache miss key=user:{n} region=eu-west-1",
    "[WARNING]\t{ts}\t{rid}\tretrying downstream call attempt={m}",
)


def _iso(ms: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[
        :-3
    ] + "Z"


def _stream_events(
    rng: random.Random, stream: str, json_format: bool, count: int, start_ms: float,
    retries: float = 0.0,
) -> Iterator[tuple[float, str, str]]:
    """Yield (timestamp_ms, stream, message) for one environment's invocations, in order."""
    t = start_ms
    memory = rng.choice((128, 256, 512, 1024))
    init_ms = rng.uniform(80, 900)
    if json_format:
        yield t, stream, json.dumps(
            {
                "time": _iso(t),
                "type": "platform.initStart",
                "record": {"initializationType": "on-demand", "phase": "init",
                           "runtimeVersion": "nodejs:20.v40", "functionVersion": "$LATEST"},
            },
            separators=(",", ":"),
        )
        t += init_ms
        yield t, stream, json.dumps(
            {"time": _iso(t), "type": "platform.initReport",
             "record": {"initializationType": "on-demand", "phase": "init", "status": "success",
                        "metrics": {"durationMs": round(init_ms, 3)}}},
            separators=(",", ":"),
        )
    else:
        yield t, stream, (
            "INIT_START Runtime Version: python:3.12.v40\tRuntime Version ARN: "
            "arn:aws:lambda:eu-west-1::runtime:0123456789abcdef\n"
        )
        t += init_ms
    previous, status = "", "success"
    for i in range(count):
        rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if retries and status != "success" and rng.random() < retries:
            rid = previous  # Lambda runs a failed async event again, with its request id
        previous = rid
        roll = rng.random()
        status = "timeout" if roll < 0.01 else "error" if roll < 0.03 else "success"
        duration = 3000.0 if status == "timeout" else rng.uniform(2, 400)
        cold = i == 0
        billed = math.ceil(duration + (init_ms if cold else 0))
        if json_format:
            yield t, stream, json.dumps(
                {"time": _iso(t), "type": "platform.start",
                 "record": {"requestId": rid, "version": "$LATEST"}}, separators=(",", ":"))
        else:
            yield t, stream, f"START RequestId: {rid} Version: $LATEST\n"
        for n in range(rng.choice((0, 1, 1, 2, 2, 3))):
            at = t + duration * (n + 1) / 4
            line = rng.choice(APP_LINES).format(ts=_iso(at), rid=rid, n=n * 17 + i, m=i % 97)
            if json_format:
                line = json.dumps({"timestamp": _iso(at), "level": "INFO", "requestId": rid,
                                   "message": line.split("\t")[-1]}, separators=(",", ":"))
            yield at, stream, line + ("" if json_format else "\n")
        end = t + duration
        if json_format:
            metrics: dict[str, float] = {
                "durationMs": round(duration, 3),
                "billedDurationMs": billed,
                "memorySizeMB": memory,
                "maxMemoryUsedMB": memory // 2,
            }
            if cold:
                metrics["initDurationMs"] = round(init_ms, 3)
            record = {"requestId": rid, "metrics": metrics, "status": status}
            if status == "error":
                record["errorType"] = "Runtime.ExitError"
            yield end, stream, json.dumps(
                {"time": _iso(end), "type": "platform.report", "record": record},
                separators=(",", ":"))
        else:
            yield end, stream, f"END RequestId: {rid}\n"
            fields = [f"REPORT RequestId: {rid}", f"Duration: {duration:.2f} ms",
                      f"Billed Duration: {billed} ms", f"Memory Size: {memory} MB",
                      f"Max Memory Used: {memory // 2} MB"]
            if cold:
                fields.append(f"Init Duration: {init_ms:.2f} ms")
            if status == "timeout":
                fields.append("Status: timeout")
            elif status == "error":
                fields += ["Status: error", "Error Type: Runtime.ExitError"]
            yield end, stream, "\t".join(fields) + "\t\n"
        t = end + rng.expovariate(1 / 2000)


def generate(invocations: int, streams: int, seed: int = 7, retries: float = 0.0
             ) -> Iterator[dict]:
    """Yield FilterLogEvents event dicts for the whole export, interleaved by timestamp."""
    import heapq

    rng = random.Random(seed)
    base = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
    per_stream = [invocations // streams + (1 if s < invocations % streams else 0)
                  for s in range(streams)]
    generators = []
    for s, count in enumerate(per_stream):
        name = f"2026/01/01/[$LATEST]{uuid.UUID(int=rng.getrandbits(128)).hex}"
        start = base + rng.uniform(0, 3_600_000)
        generators.append(_stream_events(random.Random(seed * 1000 + s), name, s % 3 == 0,
                                         count, start, retries))
    event_id = 38_480_917_865_042_697_267_627_490_045_603_633_139_480_491_071_049_695_232
    for ts, stream, message in heapq.merge(*generators, key=lambda e: e[0]):
        event_id += 1
        yield {"logStreamName": stream, "timestamp": int(ts), "message": message,
               "ingestionTime": int(ts) + 412, "eventId": str(event_id)}


def write(path: Path, invocations: int, streams: int, page_size: int = 0,
          retries: float = 0.0) -> int:
    """Write the export as filter-log-events pages (concatenated when `page_size` > 0, else one
    document, as the peers' readers need), streaming; return the event count."""
    total = 0
    in_page = 0
    with path.open("w") as out:
        out.write('{\n "events": [\n')
        for event in generate(invocations, streams, retries=retries):
            if page_size and in_page == page_size:
                out.write(f'\n ],\n "nextToken": "tok{total}"\n}}\n{{\n "events": [\n')
                in_page = 0
            if in_page:
                out.write(",\n")
            out.write(json.dumps(event, indent=1).replace("\n", "\n  "))
            in_page += 1
            total += 1
        out.write("\n ]\n}\n")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=10_000)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--page-size", type=int, default=0, help="0: one document")
    parser.add_argument("--retries", type=float, default=0.0,
                        help="share of failed invocations run again with their request id")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    events = write(args.output, args.invocations, args.streams, args.page_size, args.retries)
    print(f"{args.output}: {events} events, {args.output.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
