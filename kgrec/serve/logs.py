"""Access logs without secrets: query-string parameters that look like credentials (token,
password, key, secret ...) are written as REDACTED. ``log_config()`` is uvicorn's logging
configuration with the filter on every handler; `kgctl serve` passes it to uvicorn."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode

SECRET_PARAMS = re.compile(r"(token|password|passwd|pwd|secret|key|auth|credential|signature|session)", re.IGNORECASE)
REDACTED = "REDACTED"


def redact_url(url: str) -> str:
    """``url`` with the values of query parameters that look like secrets replaced by REDACTED."""
    path, sep, query = url.partition("?")
    if not sep:
        return url
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(SECRET_PARAMS.search(k) for k, _ in pairs) and "%" not in query:
        return url
    return path + "?" + urlencode([(k, REDACTED if SECRET_PARAMS.search(k) else v) for k, v in pairs], safe="/:")


class RedactQueryFilter(logging.Filter):
    """Access-log filter: uvicorn logs ``(client, method, path?query, http, status)``; secrets in
    the query string are replaced before the line is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_url(args[2]), *args[3:])
        return True


def log_config(base: dict | None = None) -> dict:
    """uvicorn's logging configuration with ``RedactQueryFilter`` on every handler."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(base or LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_query"] = {"()": f"{__name__}.RedactQueryFilter"}
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", [])
        if "redact_query" not in handler["filters"]:
            handler["filters"].append("redact_query")
    return config
