"""The example function: nothing lctrace-specific - the layer traces it from the outside."""

from __future__ import annotations

import json
import time


def handler(event: dict, context: object) -> dict:
    """Answer the HTTP API with a small JSON body."""
    started = time.perf_counter()
    body = {"hello": "lctrace", "path": event.get("rawPath", "/")}
    body["handler_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps(body)}  # fmt: skip
