"""Read source files into string tables with the physical line number of every row.

Every value comes back as a string (or null for an empty field); typing is the validator's job,
so a wrong type becomes a quarantined row and not a failed file. Rows that cannot even be split
into fields (bad UTF-8, wrong column count) are quarantined here.

Unquoted delimited text (RecBole atomic files, Taobao, Products-10K) is checked without a
Python loop over rows: line and delimiter positions are found with numpy, lines with the wrong
field count are blanked out, and pyarrow parses the rest.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from kgrec.errors import KgrecError
from kgrec.etl.report import FileReport, Quarantine

LINE = "_line"  # column holding each row's 1-based physical line (or record) number
NESTED = "kgrec_nested"  # frame.attrs key: {column: positions of rows whose value was a list or an object}
# A row (a line of delimited text or JSON Lines) longer than this is quarantined, not parsed: it
# is no real record, and one such line must not refuse the whole file.
MAX_ROW_BYTES = 4 << 20  # 4 MiB
_BLOCK_BYTES = 1 << 24  # parser block; every row that is parsed fits in one (MAX_ROW_BYTES is smaller)
_PREVIEW_CHARS = 200  # what the quarantine keeps of an oversized row


class SourceError(KgrecError):
    """A whole file cannot be read (missing, wrong header, unknown format)."""


def installed_package_path(name: str, package: str, sub: str, install: str) -> Path:
    """``sub`` inside the installed ``package`` (a data set shipped in a Python package), or a
    SourceError saying how to install it."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SourceError(
            f"data set {name} needs the {package} package, which is not installed", f"install it: {install}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / sub
    if not path.exists():
        raise SourceError(f"{path} is missing from the installed {package}", f"reinstall it: {install}")
    return path


def reject_one(report: FileReport, quarantine: Quarantine, line, field, reason: str, row) -> None:
    quarantine.add(report.file, line, field, reason, row)
    report.rows_read += 1
    report.rows_rejected += 1
    report.reasons[reason.split(":")[0]] += 1


def nested_mask(frame: pd.DataFrame, column: str) -> np.ndarray | None:
    """Rows whose ``column`` held a list or an object (Parquet list/struct, JSON array/object),
    kept as JSON text in the frame; None when there are none."""
    positions = frame.attrs.get(NESTED, {}).get(column)
    if positions is None or not len(positions):
        return None
    mask = np.zeros(len(frame), dtype=bool)
    mask[np.asarray(positions, dtype=np.int64)] = True
    return mask


def _too_large(n_bytes: int) -> str:
    return f"row too large: {n_bytes:,} bytes, the limit is {MAX_ROW_BYTES:,}"


def _preview(text: str, n_bytes: int) -> str:
    return text if len(text) <= _PREVIEW_CHARS else f"{text[:_PREVIEW_CHARS]}... ({n_bytes:,} bytes, cut)"


def read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"no such file: {path}") from None
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror}") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte order mark (Excel's "Unicode text")
        return _utf16_to_utf8(raw)
    return raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw


def _utf16_to_utf8(raw: bytes) -> bytes:
    """A UTF-16 file (with BOM) as UTF-8, line by line: a line that is not valid UTF-16 becomes a
    line that is not valid UTF-8 either (its raw bytes after 0xFF), so the reader quarantines
    that line as a bad encoding and keeps the others; line numbers stay the same."""
    encoding = "utf-16-le" if raw.startswith(b"\xff\xfe") else "utf-16-be"
    body = raw[2:]
    even = len(body) - len(body) % 2
    units = np.frombuffer(body[:even], dtype="<u2" if encoding == "utf-16-le" else ">u2")
    cuts = np.r_[0, np.flatnonzero(units == 10) + 1, len(units)]
    lines = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        chunk = body[2 * a : 2 * b]
        try:
            lines.append(chunk.decode(encoding).encode("utf-8"))
        except UnicodeDecodeError:
            newline = chunk.endswith("\n".encode(encoding))
            lines.append(
                b"\xff" + (chunk[:-2] if newline else chunk).replace(b"\n", b" ") + (b"\n" if newline else b"")
            )
    if len(body) % 2:  # a dangling odd byte
        lines.append(b"\xff")
    return b"".join(lines)


def _line_bounds(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nl = np.flatnonzero(arr == 10)
    starts = np.r_[0, nl + 1]
    ends = np.r_[nl, len(arr)]
    if len(starts) and starts[-1] == len(arr):  # file ends with a newline: no last line
        starts, ends = starts[:-1], ends[:-1]
    has_cr = (ends > starts) & (arr[np.maximum(ends - 1, 0)] == 13) if len(arr) else np.zeros(0, bool)
    return starts, ends - has_cr


def read_delimited(
    path: str | Path,
    *,
    delimiter: str,
    report: FileReport,
    quarantine: Quarantine,
    names: list[str] | None = None,
    quoted: bool = False,
) -> tuple[pd.DataFrame, list[str]]:
    """Rows of a delimited text file as strings plus ``_line``; ``names=None`` reads a header row.

    Returns the frame and the header names as written in the file.
    """
    path = Path(path)
    raw = read_bytes(path)
    if quoted and b'"' not in raw:
        quoted = False  # nothing quoted: the exact, vectorised path applies
    arr = np.frombuffer(raw, dtype=np.uint8).copy()
    starts, ends = _line_bounds(arr)
    nonempty = ends > starts
    line_ok = nonempty.copy()
    first = int(np.argmax(nonempty)) if nonempty.any() else 0
    header: list[str]
    if names is None:
        if not nonempty.any():
            raise SourceError(f"{path} is empty; expected a header line")
        if ends[first] - starts[first] > MAX_ROW_BYTES:
            raise SourceError(f"{path}: the header line is {int(ends[first] - starts[first]):,} bytes long, "
                              f"more than the {MAX_ROW_BYTES:,} a row may have", "is this the right file?")
        try:
            header = raw[starts[first] : ends[first]].decode("utf-8").split(delimiter)
        except UnicodeDecodeError:
            raise SourceError(f"{path}: the header line is not valid UTF-8") from None
        header = [h.strip().strip('"') for h in header]
        line_ok[first] = False
        data_from = ends[first] + 1
    else:
        header = list(names)
        data_from = 0
    ncols = len(header)

    def original(i: int | np.integer) -> str:
        return raw[starts[i] : ends[i]].decode("utf-8", "backslashreplace")

    # oversized lines: quarantined (with a preview) before the parser sees them
    for i in np.flatnonzero(line_ok & (ends - starts > MAX_ROW_BYTES)):
        size = int(ends[i] - starts[i])
        head = raw[starts[i] : starts[i] + 4 * _PREVIEW_CHARS].decode("utf-8", "backslashreplace")
        reject_one(report, quarantine, int(i) + 1, None, _too_large(size), _preview(head, size))
        line_ok[i] = False
        arr[starts[i] : ends[i]] = 10

    # bad UTF-8: find the lines (slow path only when the whole file does not decode)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        for i in np.flatnonzero(line_ok):
            try:
                raw[starts[i] : ends[i]].decode("utf-8")
            except UnicodeDecodeError as exc:
                reject_one(
                    report, quarantine, int(i) + 1, None, f"bad encoding: not UTF-8 at byte {exc.start}", original(i)
                )
                line_ok[i] = False
                arr[starts[i] : ends[i]] = 10

    def blank_wrong_counts() -> None:
        """Quarantine and blank out lines whose field count is wrong (delimiters per line + 1)."""
        counts = np.ones(len(starts), dtype=np.int64)
        filled = ends > starts
        if filled.any():
            is_delim = (arr == ord(delimiter)).view(np.uint8)
            # each sum runs from a line's start to the next non-empty line's start: only newlines lie between
            counts[filled] += np.add.reduceat(is_delim, starts[filled], dtype=np.int64)
        wrong = line_ok & (counts != ncols)
        for i in np.flatnonzero(wrong):
            reject_one(
                report, quarantine, int(i) + 1, None,
                f"wrong column count: {counts[i]} fields, expected {ncols}", original(i),
            )
            arr[starts[i] : ends[i]] = 10
        line_ok[:] &= ~wrong

    skipped: list[tuple[str, int, int]] = []  # quoted CSV: rows the parser could not split right

    def on_invalid(row) -> str:
        skipped.append((row.text, row.actual_columns, row.expected_columns))
        return "skip"

    def parse() -> pa.Table:
        return pacsv.read_csv(
            io.BytesIO(arr[data_from:].tobytes()),
            read_options=pacsv.ReadOptions(column_names=header, use_threads=not quoted, block_size=block_size),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"' if quoted else False,
                newlines_in_values=quoted,
                invalid_row_handler=on_invalid if quoted else None,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header}, strings_can_be_null=True, null_values=[""],
                quoted_strings_can_be_null=False,
            ),
        )

    block_size = _BLOCK_BYTES
    def no_rows() -> pa.Table:  # a header and nothing else (or only rejected lines)
        return pa.table({h: pa.array([], pa.string()) for h in header})

    try:
        if not line_ok.any():
            table = no_rows()
        else:
            try:  # fast path: the parser finds no wrong field count
                table = parse()
            except pa.ArrowInvalid as exc:
                if quoted and "straddling" in str(exc):
                    # a quoted value spans lines and the record outgrew a block: parse it as one block
                    block_size = max(len(arr) - data_from + 1, _BLOCK_BYTES)
                    table = parse()
                elif quoted or "columns" not in str(exc):
                    raise
                else:
                    blank_wrong_counts()
                    table = parse() if line_ok.any() else no_rows()
    except pa.ArrowInvalid as exc:
        raise SourceError(f"cannot parse {path}: {str(exc).splitlines()[0]}") from None
    # skipped rows of a quoted CSV: find their lines by text (only runs when there are some)
    by_text: dict[str, list[int]] = {}
    if skipped:
        for i in np.flatnonzero(line_ok):
            by_text.setdefault(original(i), []).append(int(i))
    for text, actual, expected in skipped:
        candidates = by_text.get(text)
        line = candidates.pop(0) if candidates else None
        if line is not None:
            line_ok[line] = False
        reject_one(report, quarantine, None if line is None else line + 1, None,
                   f"wrong column count: {actual} fields, expected {expected}", text)
    frame = table.to_pandas()
    lines = np.flatnonzero(line_ok) + 1
    if len(lines) != len(frame):  # quoted values spanning lines: number records instead
        lines = np.arange(len(frame)) + (2 if names is None else 1)
    frame[LINE] = lines.astype(np.int64)
    report.rows_read += len(frame)
    return frame, header


def read_table_file(
    path: str | Path, *, fmt: str | None, report: FileReport, quarantine: Quarantine, delimiter: str | None = None
) -> pd.DataFrame:
    """CSV/TSV (header row), Parquet or JSON Lines as strings plus ``_line`` (record number for Parquet)."""
    path = Path(path)
    fmt = (fmt or infer_format(path)).lower()
    if fmt in ("csv", "tsv"):
        frame, _ = read_delimited(
            path, delimiter=delimiter or ("\t" if fmt == "tsv" else ","), report=report, quarantine=quarantine,
            quoted=True,
        )
        return frame
    if fmt == "parquet":
        import pyarrow.parquet as pq

        if not path.exists():
            raise SourceError(f"no such file: {path}")
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise SourceError(
                f"cannot read {path} as Parquet: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            ) from None
        frame = _strings(table)
        frame[LINE] = np.arange(1, len(frame) + 1, dtype=np.int64)
        report.rows_read += len(frame)
        return frame
    if fmt in ("jsonl", "ndjson", "json"):
        return _read_jsonl(path, report, quarantine)
    raise SourceError(
        f"unknown table format {fmt!r} for {path}", "use csv, tsv, parquet or jsonl (format: in the mapping)"
    )


def infer_format(path: Path) -> str:
    name = path.name.lower()
    for suffix, fmt in (
        (".csv", "csv"), (".tsv", "tsv"), (".parquet", "parquet"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
        (".json", "jsonl"),
    ):
        if suffix in name:
            return fmt
    raise SourceError(f"cannot tell the format of {path} from its name", "set format: in the mapping file")


def _strings(table: pa.Table) -> pd.DataFrame:
    """Every column as strings (nulls kept); numbers print without a spurious '.0'; a float NaN
    or infinity prints as ``nan``/``inf``/``-inf`` (so the validator treats it as it treats that
    text in a TSV); a list or struct value becomes its JSON text and its row is recorded in
    ``frame.attrs[NESTED]`` (an id must not be one)."""
    cols, nested = {}, {}
    for name, col in zip(table.column_names, table.columns):
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        if pa.types.is_floating(col.type):
            col = _float_strings(col)
        elif _is_nested(col.type):
            values = col.to_pylist()
            nested[name] = np.flatnonzero([v is not None for v in values])
            col = pa.array([None if v is None else json.dumps(v, default=str) for v in values], pa.string())
        if not pa.types.is_string(col.type):
            try:
                col = col.cast(pa.string())
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
                col = pa.array(
                    [None if v is None else json.dumps(v, default=str) for v in col.to_pylist()], pa.string()
                )
        cols[name] = col
    frame = pa.table(cols).to_pandas() if cols else pd.DataFrame()
    if nested:
        frame.attrs[NESTED] = nested
    return frame


def _is_nested(typ: pa.DataType) -> bool:
    return pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ) \
        or pa.types.is_struct(typ) or pa.types.is_map(typ) or pa.types.is_union(typ)


def _float_strings(col: pa.Array) -> pa.Array:
    """A float column as text: whole numbers without '.0' when every finite value is whole."""
    values = col.to_numpy(zero_copy_only=False).astype(np.float64)  # nulls -> NaN here; restored below
    null = col.is_null().to_numpy(zero_copy_only=False)
    finite = np.isfinite(values) & ~null
    whole = finite.any() and bool(np.all(values[finite] == np.round(values[finite]))) \
        and bool(np.all(np.abs(values[finite]) < 2**53))
    if not whole:
        return col.cast(pa.string())  # Arrow prints nan, inf, -inf as such
    text = (
        pa.array(np.where(finite, values, 0).astype(np.int64))
        .cast(pa.string())
        .to_numpy(zero_copy_only=False)
        .astype(object)
    )
    text[~finite] = np.where(np.isnan(values[~finite]), "nan", np.where(values[~finite] > 0, "inf", "-inf"))
    text[null] = None
    return pa.array(text, pa.string())


def _read_jsonl(path: Path, report: FileReport, quarantine: Quarantine) -> pd.DataFrame:
    raw = read_bytes(path)
    body = raw.rstrip(b"\n")
    longest = max((len(line) for line in body.split(b"\n")), default=0) if len(body) > MAX_ROW_BYTES else len(body)
    if body and b"\n\n" not in body and not body.startswith(b"\n") and b"\r" not in body and longest <= MAX_ROW_BYTES \
            and _nesting(body) <= _MAX_FAST_NESTING:
        import pyarrow.json as pajson

        try:  # fast path: Arrow's parser; any problem falls back to the line-by-line reader below
            table = pajson.read_json(io.BytesIO(body), read_options=pajson.ReadOptions(block_size=_BLOCK_BYTES))
            frame = _strings(table)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            frame = None
        if frame is not None and frame.shape[1] > 0:
            frame[LINE] = np.arange(1, len(frame) + 1, dtype=np.int64)
            report.rows_read += len(frame)
            return frame
    records: list[dict[str, str | None]] = []
    lines: list[int] = []
    nested: dict[str, list[int]] = {}
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        if len(line) > MAX_ROW_BYTES:
            reject_one(report, quarantine, number, None, _too_large(len(line)),
                       _preview(line[: 4 * _PREVIEW_CHARS].decode("utf-8", "backslashreplace"), len(line)))
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            reject_one(
                report, quarantine, number, None, f"bad encoding: not UTF-8 at byte {exc.start}",
                line.decode("utf-8", "backslashreplace"),
            )
            continue
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            reject_one(report, quarantine, number, None, f"wrong type: not a JSON object ({msg})", text)
            continue
        if not isinstance(value, dict):
            reject_one(report, quarantine, number, None, "wrong type: not a JSON object", text)
            continue
        record = {}
        for k, v in value.items():
            if isinstance(v, (dict, list)):
                nested.setdefault(k, []).append(len(records))
            record[k] = None if v is None else (v if isinstance(v, str) else _json_text(v))
        records.append(record)
        lines.append(number)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    frame[LINE] = np.asarray(lines, dtype=np.int64)
    if nested:
        frame.attrs[NESTED] = {k: np.asarray(v, dtype=np.int64) for k, v in nested.items()}
    report.rows_read += len(frame)
    return frame


# Arrow's JSON parser recurses per nesting level and crashes the process (SIGSEGV) on a line
# nested some thousands deep; deeper files take the line-by-line reader (RecursionError there
# is a quarantined row).
_MAX_FAST_NESTING = 64


def _nesting(body: bytes) -> int:
    """An upper bound of the bracket nesting depth (brackets inside strings count too)."""
    arr = np.frombuffer(body, dtype=np.uint8)
    step = (np.isin(arr, (ord("["), ord("{"))).astype(np.int32) - np.isin(arr, (ord("]"), ord("}"))).astype(np.int32))
    return int(np.cumsum(step).max()) if len(step) else 0


def _json_text(value) -> str:
    """A JSON value other than a string as text: numbers as JSON writes them (nan/inf as the
    words, which the validator rejects as out of range), lists and objects as JSON."""
    if isinstance(value, float) and not np.isfinite(value):
        return "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return json.dumps(value)
