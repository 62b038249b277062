"""What ``POST /cypher`` sends to the store and returns: parameters checked by kind
(``param_problem``), results as plain JSON (``plain``), and queries run one at a time on a
read-only connection of their own with the store's own time limit (``CypherRunner``)."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import threading
import uuid
from typing import Any

from kgrec.errors import DatabaseUnavailable
from kgrec.kg.reader import GraphReader


def param_problem(name: str, value: Any) -> str | None:
    """Why a /cypher parameter cannot be sent to the store (None when it can): the stores take
    text, numbers, booleans and null, and non-empty lists of one of these kinds; JSON objects,
    nested or mixed lists, non-finite or 64-bit-overflowing numbers are refused by name."""
    def scalar(v: Any, where: str) -> str | None:
        if isinstance(v, bool | str):
            return None
        if isinstance(v, int):
            return None if -(2**63) <= v < 2**63 else f"{where}: the integer {v} does not fit in 64 bits"
        if isinstance(v, float):
            return None if math.isfinite(v) else f"{where}: {v} is not a finite number"
        return f"{where}: a JSON {_json_kind(v)} is not supported"

    if value is None:
        return None
    if isinstance(value, list):
        if not value:
            return f"${name}: an empty list has no element type; leave the parameter out or give a value"
        kinds = {_json_kind(v) for v in value}
        if len(kinds) != 1 or kinds & {"object", "array", "null"}:
            return (f"${name}: a list must hold values of one kind (text, number or boolean), "
                    f"not {', '.join(sorted(kinds))}")
        for i, v in enumerate(value):
            problem = scalar(v, f"${name}[{i}]")
            if problem:
                return problem
        return None
    return scalar(value, f"${name}")


def _json_kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "text"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def plain(value: Any) -> Any:
    """A store value as plain JSON: non-finite floats as the strings NaN/Infinity/-Infinity,
    dates as ISO text, durations in seconds, bytes as base64, anything else unknown as text."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return plain(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


class CypherRunner:
    """Runs /cypher queries on a read-only connection of their own, one at a time, each stopped
    by the store at ``timeout_s``: a heavy query never holds the reader that /recommend, /paths
    and /health use. A query that waits longer than ``timeout_s`` for its turn is refused."""

    def __init__(self, settings, timeout_s: float):
        self.reader = GraphReader(settings)  # opens on the first query
        self.timeout_s = timeout_s
        self._turn = threading.Lock()

    def run(self, query: str, params: dict) -> list[dict]:
        if not self._turn.acquire(timeout=self.timeout_s):
            raise DatabaseUnavailable(f"another /cypher query is still running (each may run {self.timeout_s:g} s)")
        try:
            return self.reader.read(
                lambda b, g: b.execute(query, params, write=False, timeout_s=self.timeout_s).to_pylist()
            )
        finally:
            self._turn.release()

    def close(self) -> None:
        self.reader.close()
