"""The embedded default backend: LadybugDB (the maintained Kuzu fork), in-process, one file on disk.

Concurrency (measured, see docs/design/storage.md#concurrency-on-the-embedded-database): one
process may hold the file read-write; other processes may open it read-only at the same time and
see committed data; a second read-write open fails with a lock error, which is reported as
``DatabaseLocked``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from kgrec.errors import ConfigError, CypherError, DatabaseLocked, DatabaseNotFound, DiskFull, KgrecError, QueryTimeout
from kgrec.kg.backend import Backend
from kgrec.kg.cypher import check_identifier
from kgrec.kg.schema import ARROW_TYPES as _ARROW_TYPES

log = logging.getLogger("kgrec.kg.ladybug")


def _import_ladybug():
    import ladybug

    return ladybug


class LadybugBackend(Backend):
    dialect = "ladybug"

    def __init__(
        self, path: str | Path, *, read_only: bool = False, create: bool = True, buffer_pool_mb: int | None = None
    ):
        """``buffer_pool_mb``: LadybugDB's page cache in MiB (setting ``[ladybug] buffer_pool_mb``,
        KGREC_LADYBUG_BUFFER_POOL_MB); None or 0 keeps LadybugDB's default, a large share of RAM."""
        super().__init__(read_only=read_only)
        self.path = Path(path)
        if buffer_pool_mb is not None and (
            not isinstance(buffer_pool_mb, int) or isinstance(buffer_pool_mb, bool) or buffer_pool_mb < 0
        ):
            raise ConfigError(
                f"ladybug buffer_pool_mb must be a whole number of MiB (0 = LadybugDB's default), "
                f"got {buffer_pool_mb!r}"
            )
        self.buffer_pool_mb = buffer_pool_mb or 0
        pool = self.buffer_pool_mb * 2**20
        if self.path.is_dir():
            raise DatabaseNotFound(
                f"{self.path} is a directory, not a kgrec database file", "give a file path such as ./kgrec.db"
            )
        if not self.path.exists() and (read_only or not create):
            raise DatabaseNotFound(f"no database at {self.path}", "run `kgctl init` first, or pass --db")
        if not self.path.parent.exists():
            raise DatabaseNotFound(f"folder {self.path.parent} does not exist", "create it or pass another --db path")
        lb = _import_ladybug()
        try:
            self._db = lb.Database(str(self.path), read_only=read_only, buffer_pool_size=pool)
        except RuntimeError as exc:
            if not (read_only and _RECOVERY_PENDING in str(exc)):
                raise _translate_open_error(exc, self.path) from exc
            if checkpoint_in_progress(self.path):  # a live writer: wait for it (the caller retries)
                raise _translate_open_error(exc, self.path) from exc
            if _pending_files(self.path):
                recover_checkpoint(self.path)  # no live writer: finish or discard its checkpoint, then read
            try:
                self._db = lb.Database(str(self.path), read_only=True, buffer_pool_size=pool)
            except RuntimeError as again:
                raise _translate_open_error(again, self.path) from again
        try:
            self._conn = lb.Connection(self._db)
        except RuntimeError as exc:
            raise _translate_open_error(exc, self.path) from exc

    def describe(self) -> str:
        return f"embedded database {self.path}"

    def change_token(self) -> object | None:
        """File identity, size and modification time of the database and its write-ahead log:
        any commit or checkpoint by another process changes one of them."""
        return (self.storage_token(), _file_state(self.path.with_name(self.path.name + ".wal")))

    def storage_token(self) -> object | None:
        """The main database file's state: a checkpoint by a writer rewrites it. Commits that are
        only in the WAL do not; a reader opened earlier keeps seeing its own consistent snapshot."""
        return _file_state(self.path)

    def is_available(self) -> bool:
        return self.path.exists()

    def close(self) -> None:
        conn, db = getattr(self, "_conn", None), getattr(self, "_db", None)
        self._conn = self._db = None
        if conn is not None:
            conn.close()
        if db is not None:
            db.close()

    # ----------------------------------------------------------------- queries
    def _execute(self, cypher: str, params: Mapping[str, Any] | None, *, write: bool, timeout_s: float | None = None,
                 **bind: Any) -> pa.Table:
        if self._conn is None:
            raise KgrecError(f"{self.describe()} is closed")
        if write and self.read_only:
            self._check_writable()
        _rows = bind.get("_rows")  # noqa: F841 - LadybugDB scans Python objects by variable name
        if timeout_s:
            self._conn.set_query_timeout(max(1, int(timeout_s * 1000)))  # the engine interrupts the query itself
        try:
            result = self._conn.execute(cypher, dict(params or {}))
        except (RuntimeError, ValueError, TypeError, OverflowError) as exc:
            # the engine raises RuntimeError; parameters it cannot convert raise the others
            raise _translate_query_error(exc, cypher, timeout_s, self.path) from exc
        finally:
            if timeout_s:
                self._conn.set_query_timeout(0)
        if isinstance(result, list):  # several statements in one string
            result = result[-1]
        try:
            if not result.get_column_names():
                return pa.table({})
            return result.get_as_arrow()
        finally:
            result.close()

    # ----------------------------------------------------------------- schema
    def get_meta(self, key: str) -> str | None:
        tables = self._execute("CALL show_tables() RETURN name", {}, write=False).column("name").to_pylist()
        if "Meta" not in tables:
            return None
        return self._scalar(self.run("meta_get", {"key": key}))

    # ----------------------------------------------------------------- bulk writes
    def _conform_nodes(self, label: str, rows: pa.Table) -> pa.Table:
        if "id" not in rows.column_names:
            raise ValueError(f"rows for {label} need an 'id' column")
        props = self.schema.node(label).properties
        self.schema.check_node_properties(label, rows.column_names)
        cols = [rows.column(c).cast(_ARROW_TYPES[props[c]]) for c in rows.column_names]
        return pa.table(cols, names=rows.column_names)

    def insert_nodes(self, label: str, rows: pa.Table) -> int:
        self._check_writable()
        if rows.num_rows == 0:
            return 0
        table = self._conform_nodes(label, rows)
        text = self.cypher.render(
            "insert_nodes", label=label, column_list=", ".join(check_identifier(c) for c in table.column_names)
        )
        self._execute(text, {}, write=True, _rows=table)
        return table.num_rows

    def update_nodes(self, label: str, rows: pa.Table) -> int:
        self._check_writable()
        if rows.num_rows == 0:
            return 0
        table = self._conform_nodes(label, rows)
        sets = [c for c in table.column_names if c != "id"]
        if not sets:
            return 0
        text = self.cypher.render(
            "update_nodes", label=label, set_list=", ".join(f"n.{check_identifier(c)} = {c}" for c in sets)
        )
        self._execute(text, {}, write=True, _rows=table)
        return table.num_rows

    def insert_relationships(self, rel_type: str, rows: pa.Table) -> int:
        self._check_writable()
        rel = self.schema.rel(rel_type)
        if rows.num_rows == 0:
            return 0
        missing = {"src", "dst"} - set(rows.column_names)
        if missing:
            raise ValueError(f"rows for {rel_type} need columns src and dst")
        extra = [c for c in rows.column_names if c not in ("src", "dst")]
        self.schema.check_rel_properties(rel_type, extra)
        cols = [rows.column("src").cast(pa.string()), rows.column("dst").cast(pa.string())]
        names = ["from", "to"]
        for prop, typ in rel.properties.items():
            arrow_type = _ARROW_TYPES[typ]
            cols.append(rows.column(prop).cast(arrow_type) if prop in extra else pa.nulls(rows.num_rows, arrow_type))
            names.append(prop)
        table = pa.table(cols, names=names)
        self._execute(self.cypher.render("insert_relationships", rel_type=rel_type), {}, write=True, _rows=table)
        return table.num_rows


_RECOVERY_PENDING = "recovery is pending"
_IO_ERROR = re.compile(
    r"(?i)read from file|write to file|no space|IO exception|could not (?:read|write)|cannot (?:read|write)"
)


def _pending_files(path: Path) -> bool:
    """The files of an unfinished checkpoint (its shadow pages, its frozen WAL) are on disk."""
    return any(Path(f"{path}.{suffix}").exists() for suffix in ("shadow", "wal.checkpoint"))


def checkpoint_in_progress(path: Path) -> bool:
    """True while a live process holds the checkpoint lock files of ``path`` (it is checkpointing).

    LadybugDB's writer holds POSIX record locks on ``PATH.checkpoint.intent.lock`` and
    ``PATH.checkpoint.apply.lock`` while it checkpoints, and its read-only opens take shared locks
    on them; a shared-lock probe, released at once, tells a live checkpoint from files that a dead
    writer left behind. Without fcntl (Windows) every checkpoint counts as live."""
    try:
        import fcntl
    except ImportError:
        return True
    for suffix in ("checkpoint.intent.lock", "checkpoint.apply.lock"):
        try:
            fd = os.open(f"{path}.{suffix}", os.O_RDONLY)
        except FileNotFoundError:
            continue
        except OSError:
            return True
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.lockf(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    return False


def recover_checkpoint(path: Path) -> None:
    """Finish the checkpoint that a writer left unfinished (killed, or its disk filled up).

    LadybugDB refuses read-only opens while a checkpoint's files (shadow, frozen WAL) are on
    disk, and only a read-write open recovers them: it replays or discards the checkpoint. A
    read-write open also takes the write lock, so it fails when a live process holds the file
    for writing (that writer is checkpointing right now: ``DatabaseLocked``, retry), and
    succeeds only when the writer is gone. It is closed again at once. Callers first check
    ``checkpoint_in_progress`` so that a reader does not take the write lock from a live writer
    between its checkpoint and its next open."""
    lb = _import_ladybug()
    try:
        db = lb.Database(str(path), read_only=False)
    except RuntimeError as exc:
        err = _translate_open_error(exc, path)
        if isinstance(err, DatabaseLocked) and "locked" in err.message:
            raise DatabaseLocked(
                f"{path} is being checkpointed by a writer{_holder(str(exc))}", "retry in a moment"
            ) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseLocked(
            f"{path} has a checkpoint that a writer left unfinished, and recovering it failed: "
            f"{first}{disk_note(path)}",
            "free disk space, or open it once read-write (e.g. `kgctl init`) as a user who may write it",
        ) from None
    try:
        db.close()
    finally:
        log.warning("%s: finished the checkpoint that a writer left unfinished (it was no longer running)", path)


def _holder(text: str) -> str:
    pid = re.search(r"PID (\d+)", text)
    return f" (process {pid.group(1)})" if pid else ""


def disk_note(path: Path, *, need: int = 1 << 20) -> str:
    """``'; the disk holding FOLDER is full (N bytes free)'`` when less than ``need`` bytes are free there, else ''."""
    import shutil

    folder = Path(path).resolve().parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    return f"; the disk holding {folder} is full ({free:,} bytes free)" if free < need else ""


def _file_state(path: Path):
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


_POOL_HINT = "raise [ladybug] buffer_pool_mb / KGREC_LADYBUG_BUFFER_POOL_MB, or set it to 0 for LadybugDB's default"


def _translate_open_error(exc: RuntimeError, path: Path) -> KgrecError:
    text = str(exc)
    if "Buffer manager exception" in text:
        return ConfigError(f"cannot open {path}: {text.strip().splitlines()[0]}", _POOL_HINT)
    if "Could not set lock" in text or "lock" in text.lower():
        pid = re.search(r"PID (\d+)", text)
        holder = f" by process {pid.group(1)}" if pid else ""
        return DatabaseLocked(
            f"{path} is locked{holder}: another process has it open for writing",
            "wait for it to finish; read-only commands (stats, cypher) still work",
        )
    if "recovery is pending" in text:
        return DatabaseLocked(f"{path} is being checkpointed by a writer", "retry in a moment")
    if "Cannot create an empty database under READ ONLY" in text:
        return DatabaseNotFound(f"no database at {path}", "run `kgctl init` first")
    full = disk_note(path)
    if full:
        return DatabaseNotFound(f"cannot open {path}{full}: {text.splitlines()[0]}", "free disk space there")
    return DatabaseNotFound(
        f"cannot open {path} as a LadybugDB database: {text.splitlines()[0]}", "check the --db path"
    )


def _translate_query_error(
    exc: Exception, cypher: str, timeout_s: float | None = None, path: Path | None = None
) -> KgrecError:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else "query failed"
    if first.startswith("Interrupted"):
        limit = f"its {timeout_s:g} s limit" if timeout_s else "its time limit"
        return QueryTimeout(
            f"the query ran past {limit} and was stopped", "narrow it: a label, a WHERE on an id, a LIMIT"
        )
    if not isinstance(exc, RuntimeError):
        return CypherError(
            f"unsupported parameter value: {first}",
            "parameters are text, numbers, booleans, null or lists of one of these",
        )
    if "buffer pool is full" in text:
        return KgrecError(f"the database ran out of buffer pool memory: {first}", _POOL_HINT)
    full = disk_note(path) if path is not None and _IO_ERROR.search(text) else ""
    if full:
        return DiskFull(
            f"{full.lstrip('; ')}; the database said: {first}", "free disk space there and run the command again"
        )
    if "read-only" in text.lower() or "read only" in text.lower():
        from kgrec.errors import ReadOnlyViolation

        return ReadOnlyViolation(f"refused: {first}", "pass --write (and close other readers/writers)")
    return CypherError(first, "check the query" if "Parser" in text or "Binder" in text else None)
