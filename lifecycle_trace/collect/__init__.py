"""AWS IO: fetch what `lctrace analyze` reads (CloudWatch Logs, Logs Insights, X-Ray) into files.

Collectors take a boto3 client and a writable binary stream and never parse what they fetch.
"""

from lifecycle_trace.collect.cache import fetch_to_cache
from lifecycle_trace.collect.insights import LIFECYCLE_QUERY, collect_insights
from lifecycle_trace.collect.logs import collect_logs
from lifecycle_trace.collect.traces import collect_traces

__all__ = ["LIFECYCLE_QUERY", "collect_insights", "collect_logs", "collect_traces",
           "fetch_to_cache"]
