"""Vectorised row validation: each check marks bad rows with one mask, quarantines them, moves on.

A row is rejected for the first check it fails, in the order the checks run. All checks work on
whole columns (pandas/numpy); Python only touches the rows that are rejected.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kgrec.etl.keys import encode, group
from kgrec.etl.readers import LINE, nested_mask
from kgrec.etl.report import FileReport, Quarantine
from kgrec.ids import MAX_ID_LENGTH, RULE, bad_ids

# Timestamps are Unix seconds; anything before 1970 or more than a day in the future is out of range.
DEFAULT_TIMESTAMP_RANGE = (0, None)


def timestamp_bounds(bounds: tuple[int | None, int | None] | None) -> tuple[int, int]:
    lo, hi = bounds or DEFAULT_TIMESTAMP_RANGE
    return (0 if lo is None else int(lo)), (int(time.time()) + 86400 if hi is None else int(hi))


class RowChecker:
    """Checks over one file's string rows; ``good()`` gives the rows that passed every check."""

    def __init__(self, frame: pd.DataFrame, report: FileReport, quarantine: Quarantine):
        self.frame = frame
        self.report = report
        self.quarantine = quarantine
        self.bad = np.zeros(len(frame), dtype=bool)
        self.raw_columns = [c for c in frame.columns if c != LINE]

    def __len__(self) -> int:
        return len(self.frame)

    def reject(self, mask, field: str | None, kind: str, detail: str | None = None) -> None:
        """Quarantine the rows in ``mask`` not rejected yet, with reason ``kind`` (``: detail``)."""
        mask = np.asarray(mask, dtype=bool) & ~self.bad
        if not mask.any():
            return
        self._record(mask, field, kind, detail, "row rejected")
        self.bad |= mask
        n = int(mask.sum())
        self.report.rows_rejected += n
        self.report.reasons[f"{kind} ({field})" if field else kind] += n

    def drop_value(self, mask, field: str, kind: str, detail: str | None = None) -> None:
        """A bad value in an optional descriptive column: recorded in the quarantine, the row still loads."""
        mask = np.asarray(mask, dtype=bool) & ~self.bad
        if not mask.any():
            return
        self._record(mask, field, kind, detail, "value dropped")
        self.report.values_dropped[f"{kind} ({field})"] += int(mask.sum())

    def _record(self, mask, field, kind, detail, action) -> None:
        idx = np.flatnonzero(mask)
        sub = self.frame.iloc[idx]
        reason = f"{kind}: {detail}" if detail else kind
        rows = sub[self.raw_columns].astype(object).where(sub[self.raw_columns].notna(), None).to_dict("records")
        for line, row in zip(sub[LINE].tolist(), rows):
            self.quarantine.add(self.report.file, int(line), field, reason, row, action=action)

    # ---------------------------------------------------------------- field checks
    def require(self, column: str, kind: str = "missing id") -> pd.Series:
        """Ids: present and not blank, text or a number (a list or an object is a wrong type), and
        within the id rule of ``kgrec.ids`` that the API applies too; surrounding spaces removed."""
        values = self.frame[column]
        arr = _arrow_strings(values)
        trimmed = pc.utf8_trim_whitespace(arr)
        missing = pc.fill_null(pc.equal(pc.utf8_length(trimmed), 0), True).to_numpy(zero_copy_only=False)
        self.reject(missing, column, kind)
        nested = nested_mask(self.frame, column)
        if nested is not None:
            self.reject(nested, column, "wrong type", "expected a text or number id, got a list or an object")
        too_long, unprintable = bad_ids(trimmed)
        self.reject(too_long, column, "bad id", f"longer than {MAX_ID_LENGTH} characters (ids are {RULE})")
        self.reject(unprintable, column, "bad id", f"control or other non-printable characters (ids are {RULE})")
        if pc.any(pc.not_equal(trimmed, arr)).as_py():
            return pd.Series(trimmed.to_pandas(), index=values.index)
        return values

    def integer(self, column: str, lo: int | None = None, hi: int | None = None, *, required: bool = False,
                round_down: bool = False, optional: bool = False) -> pd.Series:
        """Whole numbers as nullable Int64; ``round_down`` accepts fractions (timestamps) and floors them.

        ``optional``: a descriptive property (year, age, price): a bad value becomes null and is
        recorded, the row still loads. Otherwise a bad value rejects the row."""
        raw = self.frame[column]
        number = _to_numbers(raw)
        present = raw.notna().to_numpy()
        wrong, infinite = _not_numbers(raw, number.to_numpy(dtype=float, na_value=np.nan), present)
        finite = np.isfinite(number.to_numpy(dtype=float, na_value=np.nan))
        if not round_down:
            frac = (
                present
                & finite
                & (np.floor(number.to_numpy(dtype=float, na_value=0.0)) != number.to_numpy(dtype=float, na_value=0.0))
            )
            wrong |= frac
        flag = self.drop_value if optional else self.reject
        flag(wrong, column, "wrong type", "expected a whole number")
        flag(infinite, column, "out of range", "not a finite number")
        if required:
            self.reject(~present, column, "missing value")
        values = np.floor(number.to_numpy(dtype=float, na_value=np.nan))
        values[wrong | infinite] = np.nan
        values[self._range(values, column, lo, hi, flag)] = np.nan
        out = pd.array(np.where(np.isfinite(values), values, 0).astype(np.int64), dtype="Int64")
        out[~np.isfinite(values)] = pd.NA
        return pd.Series(out, index=raw.index)

    def number(self, column: str, lo: float | None = None, hi: float | None = None, *, required: bool = False,
               optional: bool = False) -> pd.Series:
        raw = self.frame[column]
        values = _to_numbers(raw).to_numpy(dtype=float, na_value=np.nan, copy=True)
        present = raw.notna().to_numpy()
        flag = self.drop_value if optional else self.reject
        wrong, infinite = _not_numbers(raw, values, present)
        flag(wrong, column, "wrong type", "expected a number")
        flag(infinite, column, "out of range", "not a finite number")
        if required:
            self.reject(~present, column, "missing value")
        values[wrong | infinite] = np.nan
        values[self._range(values, column, lo, hi, flag)] = np.nan
        return pd.Series(values, index=raw.index)

    def _range(self, values: np.ndarray, column: str, lo, hi, flag) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            out = np.zeros(len(values), dtype=bool)
            if lo is not None:
                out |= values < lo
            if hi is not None:
                out |= values > hi
        if out.any():
            flag(
                out, column, "out of range",
                f"allowed {lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}",
            )
        return out

    def one_of(self, column: str, allowed) -> pd.Series:
        values = self.frame[column].str.strip()
        self.reject(values.notna().to_numpy() & ~values.isin(list(allowed)).to_numpy(), column, "wrong value",
                    f"expected one of {', '.join(sorted(allowed))}")
        return values

    def known(self, values: pd.Series, catalogue: pd.Index | set, field: str, kind: str) -> None:
        """Reject rows whose id is not in ``catalogue`` (an unknown foreign id)."""
        known = values.isin(catalogue if isinstance(catalogue, pd.Index) else list(catalogue)).to_numpy()
        self.reject(values.notna().to_numpy() & ~known, field, kind)

    def duplicates(self, keys: pd.DataFrame, field: str) -> None:
        """Reject later rows whose key repeats an earlier good row of this file."""
        alive = np.flatnonzero(~self.bad)
        (mat,) = encode([keys[c].iloc[alive] for c in keys.columns])
        gid, first = group(mat)
        dup = np.zeros(len(keys), dtype=bool)
        dup[alive] = np.arange(len(alive)) != first[gid]
        self.reject(dup, field, "duplicate row")

    def good_mask(self) -> np.ndarray:
        return ~self.bad


def _arrow_strings(values: pd.Series) -> pa.Array:
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(values.astype(object).where(values.notna(), None).tolist())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) else arr.cast(pa.string())


_NAN_TEXT = ["nan", "+nan", "-nan"]


def _not_numbers(raw: pd.Series, values: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks of present values that are no number at all (wrong type) and of those that are a
    number but not a finite one: NaN, inf, -inf, or too large for a float (out of range). A
    Parquet/JSON float NaN reads as the text ``nan``, so both formats land in the same mask."""
    nan_text = np.zeros(len(raw), dtype=bool)
    parsed_nan = present & np.isnan(values)
    if parsed_nan.any():
        idx = np.flatnonzero(parsed_nan)
        nan_text[idx] = raw.iloc[idx].astype(str).str.strip().str.lower().isin(_NAN_TEXT).to_numpy()
    wrong = parsed_nan & ~nan_text
    infinite = present & (np.isinf(values) | nan_text)
    return wrong, infinite


def _to_numbers(values: pd.Series) -> pd.Series:
    """Strings to float64 (NaN where missing or not a number): Arrow's parser, pandas on failure."""
    try:
        arr = _arrow_strings(values)
        parsed = pc.cast(pc.utf8_trim_whitespace(arr), pa.float64())
        return pd.Series(parsed.to_numpy(zero_copy_only=False).copy(), index=values.index)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return pd.to_numeric(values, errors="coerce").astype(float)
