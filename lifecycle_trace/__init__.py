"""lctrace: observability for the AWS Lambda execution-environment lifecycle.

The library API is small: `analyze(paths, **options) -> Report` reads Lambda logs (and traces)
in any format lctrace ingests; the `Report` holds the `invocations` and `environments`
DataFrames, the `summary`, per-function summaries, `findings`, and `to_json()`.
Heavy imports (pandas) happen on first use, so `lctrace wrap` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Report", "__version__", "analyze"]

if TYPE_CHECKING:
    from lifecycle_trace.analysis.model import Report


def analyze(paths: Any, **options: Any) -> Report:
    """Analyse Lambda log/trace files; see `lifecycle_trace.analysis.model.analyze`."""
    from lifecycle_trace.analysis.model import analyze as run

    if isinstance(paths, str):
        paths = [paths]
    return run(paths, **options)


def __getattr__(name: str) -> Any:
    if name == "Report":
        from lifecycle_trace.analysis.model import Report

        return Report
    raise AttributeError(f"module 'lifecycle_trace' has no attribute {name!r}")
