"""The one rule for User and Product ids, shared by ingest (which quarantines rows that break it)
and the HTTP API (which answers 422): an id that loads can be served, and an id the API refuses
never loads.

An id is 1 to ``MAX_ID_LENGTH`` characters, all printable (``str.isprintable``: no control,
format, separator other than the plain space, private-use or unassigned characters).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_ID_LENGTH = 256
RULE = f"1-{MAX_ID_LENGTH} printable characters"


def id_problem(value: Any) -> str | None:
    """Why ``value`` is not a valid id, or None when it is."""
    if not isinstance(value, str):
        return f"expected text, got {type(value).__name__}"
    if not value:
        return "empty"
    if len(value) > MAX_ID_LENGTH:
        return f"{len(value)} characters, more than {MAX_ID_LENGTH}"
    if not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        return f"contains the non-printable character U+{ord(bad):04X}"
    return None


def check_id(value: Any, what: str) -> str:
    """``value`` when it is a valid id, else ValueError naming ``what`` (user, product) and the rule."""
    problem = id_problem(value)
    if problem is not None:
        raise ValueError(f"{what} id must be {RULE} ({problem})")
    return value


def bad_ids(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Masks over a string array (nulls count as fine here): (too long, not printable).

    Vectorised: ASCII strings are checked by Arrow (control bytes 0x00-0x1F and 0x7F); only the
    rare non-ASCII strings go through Python's own ``str.isprintable``, so the rule is exactly
    ``id_problem``'s."""
    n = len(values)
    too_long = pc.fill_null(pc.greater(pc.utf8_length(values), MAX_ID_LENGTH), False).to_numpy(zero_copy_only=False)
    ascii_ = pc.fill_null(pc.string_is_ascii(values), True).to_numpy(zero_copy_only=False)
    control = pc.fill_null(pc.match_substring_regex(values, r"[\x00-\x1f\x7f]"), False).to_numpy(zero_copy_only=False)
    unprintable = np.asarray(ascii_ & control, dtype=bool).copy()
    for i in np.flatnonzero(~ascii_):
        value = values[int(i)].as_py()
        unprintable[i] = value is not None and not value.isprintable()
    return np.asarray(too_long, dtype=bool).reshape(n), unprintable.reshape(n)
