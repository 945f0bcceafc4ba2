"""Records -> pandas tables (invocations, environments) -> findings -> a `Report`.

Modules: `frames` (records to columns), `merge` (one row per request id, sources joined),
`classify` (status, cold starts, phases), `coldstart` (causes), `billing` and `pricing`,
`findings`, `tables` (the documented columns), `model` (`analyze`, `Report`, summaries).
"""

from lifecycle_trace.analysis.model import Report, analyze, analyze_records, analyze_sources

__all__ = ["Report", "analyze", "analyze_records", "analyze_sources"]
