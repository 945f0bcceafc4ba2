"""`merge.stream_facts` (environment, function and version of each merged invocation, from the
best source) against the plain pandas statement of its rule, on random raw rows with every
source missing somewhere: the record's own fields, then any record of its environment, then
the names records of the environment give (`env_functions`), then the log stream's name, then
the input file's name."""

from __future__ import annotations

from pathlib import PurePath

import numpy as np
import pandas as pd
import pytest

from lifecycle_trace.analysis.frames import parse_streams
from lifecycle_trace.analysis.merge import ENV_COLUMNS, stream_facts

FUNCTIONS = ["start_function", "report_function", "rd_function", "wr_function",
             "init_function", "span_function"]
VERSIONS = ["start_version", "init_version", "span_version"]
STREAMS = ["2026/01/01/[$LATEST]" + "a" * 32, "2026/01/02/my-fn[7]" + "b" * 32,
           "2026/01/03/[12]" + "c" * 32, "not-a-stream", "source:some/file.log"]


def _expected(inv: pd.DataFrame, env_functions: pd.Series) -> pd.DataFrame:
    def coalesce(columns: list[str]) -> pd.Series:
        out = pd.Series(np.nan, index=inv.index, dtype=object)
        for column in columns:
            out = out.where(out.notna(), inv[column])
        return out

    env = coalesce(ENV_COLUMNS)
    streams = parse_streams(env)
    function = coalesce(FUNCTIONS)
    function = function.where(function.notna(), function.groupby(env).transform("first"))
    function = function.where(function.notna(), env.map(env_functions))
    function = function.where(function.notna(), streams["stream_function"])
    files = coalesce(["start_file", "report_file"])
    stems = files.map(lambda path: PurePath(str(path)).name.split(".")[0], na_action="ignore")
    function = function.where(function.notna(), stems).fillna("unknown")
    version = coalesce(VERSIONS)
    version = version.where(version.notna(), version.groupby(env).transform("first"))
    version = version.where(version.notna(), streams["stream_version"])
    return pd.DataFrame({"environment": env, "environment_code": pd.factorize(env)[0],
                         "function": function, "version": version,
                         "stream_date_ms": streams["stream_date_ms"]})


@pytest.mark.parametrize("seed", range(12))
def test_stream_facts_is_the_plain_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    share = rng.uniform(0.0, 1.0)  # how often a field is missing

    def column(values: list[object]) -> list[object]:
        return [values[int(rng.integers(len(values)))] if rng.random() > share else np.nan
                for _ in range(n)]

    # rows come grouped by environment (as the merge makes them), with some unsorted runs
    envs = sorted(column(STREAMS), key=lambda e: (isinstance(e, float), str(e)))
    if seed % 3 == 0:
        rng.shuffle(envs)
    data = {"start_env": envs, **{name: column(STREAMS) if seed % 2 else [np.nan] * n
                                  for name in ENV_COLUMNS[1:]}}
    data.update({name: column(["fn-a", "fn-b"]) for name in FUNCTIONS})
    data.update({name: column(["$LATEST", "3"]) for name in VERSIONS})
    data.update({"start_file": column(["logs/export.json", "other.txt"]),
                 "report_file": column(["b.gz"])})
    inv = pd.DataFrame(data, index=[f"k{i}" for i in range(n)])
    env_functions = pd.Series({STREAMS[2]: "named-by-init", STREAMS[3]: "named-by-marker"})
    got = stream_facts(inv, env_functions)
    want = _expected(inv, env_functions)
    for name in want:
        left = got[name].to_numpy(dtype=object if name != "stream_date_ms" else float)
        right = want[name].to_numpy(dtype=object if name != "stream_date_ms" else float)
        assert pd.isna(left).tolist() == pd.isna(right).tolist(), name
        known = ~pd.isna(right)
        assert left[known].tolist() == right[known].tolist(), name
