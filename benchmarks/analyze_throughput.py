"""Time `lctrace analyze --format json` against the peers a user would otherwise reach for.

Same file, same run, each in its own process, measured with `/usr/bin/time` (wall seconds and
peak RSS). Peers extract the REPORT fields per invocation, which is the least an analysis needs:
- polars: `read_json` + explode + `str.extract_groups`
- duckdb: `read_json` (schema inferred, and with the columns given) + `regexp_extract`
- naive: `json.load` + a regex loop
`--general` adds lctrace with `LCTRACE_FASTPATH=0` (the record-per-event path, for comparison).
Usage: python benchmarks/analyze_throughput.py FILE [--only lctrace,polars]
Needs the `bench` extra (`pip install -e '.[bench]'`) and a file from generate_export.py
(`--page-size 0`, one document, since the peers cannot read concatenated pages).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPORT_RE = (
    r"REPORT RequestId: (?P<rid>[0-9a-f-]{36})\tDuration: (?P<duration>[\d.]+) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<memory>\d+) MB"
)

DUCKDB_PRELUDE = '''import duckdb, glob, os, sys
_ext = glob.glob(os.path.join(os.path.dirname(duckdb.__file__), "..", "duckdb_ext", "extensions",
                              "*", "*", "json.duckdb_extension"))
con = duckdb.connect()
if _ext:  # the pip package duckdb-ext-json (no network to download extensions here)
    con.execute(f"LOAD '{_ext[0]}'")
'''

PEERS = {
    "polars": f"""
import polars as pl, sys
df = pl.read_json(sys.argv[1]).explode("events").unnest("events")
r = df.filter(pl.col("message").str.starts_with("REPORT")).select(
    pl.col("logStreamName"), pl.col("message").str.extract_groups({REPORT_RE!r})
).unnest("message")
print(r.height, r["billed"].cast(pl.Int64).sum())
""",
    "duckdb-inferred": DUCKDB_PRELUDE + f"""
q = '''SELECT count(*), sum(CAST(regexp_extract(e.message, {REPORT_RE!r}, 3) AS BIGINT))
FROM (SELECT unnest(events) AS e FROM read_json(PATH, maximum_object_size=4000000000))
WHERE starts_with(e.message, 'REPORT')'''
print(con.sql(q.replace('PATH', repr(sys.argv[1]))).fetchall())
""",
    "duckdb-columns": DUCKDB_PRELUDE + f"""
q = '''SELECT count(*), sum(CAST(regexp_extract(e.message, {REPORT_RE!r}, 3) AS BIGINT))
FROM (SELECT unnest(events) AS e FROM read_json(PATH, maximum_object_size=4000000000,
  columns={{'events': 'STRUCT(logStreamName VARCHAR, "timestamp" BIGINT, message VARCHAR)[]'}}))
WHERE starts_with(e.message, 'REPORT')'''
print(con.sql(q.replace('PATH', repr(sys.argv[1]))).fetchall())
""",
    "naive": f"""
import json, re, sys
rx = re.compile({REPORT_RE!r})
doc = json.load(open(sys.argv[1]))
n = billed = 0
for e in doc["events"]:
    m = rx.match(e["message"])
    if m:
        n += 1; billed += int(m["billed"])
print(n, billed)
""",
}


def measure(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run argv under /usr/bin/time; return (wall s, peak RSS MB, last stdout line). Peak RSS
    is the largest single process (the parent, or one of the scan workers lctrace forks)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as timing:
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", "-o", timing.name, *argv],
            capture_output=True,
            text=True,
            env=None if env is None else {**os.environ, **env},
        )
        wall, rss_kb = timing.read().split()[-2:]
    tail = (done.stdout.strip().splitlines() or [done.stderr.strip()[-200:]])[-1][:80]
    return float(wall), int(rss_kb) / 1024, tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--only", default="")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--general", action="store_true",
                        help="also time lctrace's general path (LCTRACE_FASTPATH=0: minutes)")
    args = parser.parse_args()
    lctrace = str(Path(sys.executable).with_name("lctrace"))
    command = [lctrace, "analyze", "--format", "json", "-o", "/dev/null", str(args.file)]
    runs = {"lctrace": command}
    if args.general:
        runs["lctrace-general"] = command
    runs |= {name: [sys.executable, "-c", code, str(args.file)] for name, code in PEERS.items()}
    envs = {"lctrace-general": {"LCTRACE_FASTPATH": "0"}}
    wanted = set(filter(None, args.only.split(",")))
    size_gb = args.file.stat().st_size / 1e9
    print(f"{args.file} ({size_gb:.2f} GB)\n{'tool':18} {'wall s':>8} {'peak MB':>9}  output")
    for _ in range(args.repeat):
        for name, argv in runs.items():
            if wanted and name not in wanted:
                continue
            wall, rss, tail = measure(argv, envs.get(name))
            print(f"{name:18} {wall:8.2f} {rss:9.0f}  {tail}", flush=True)


if __name__ == "__main__":
    main()
