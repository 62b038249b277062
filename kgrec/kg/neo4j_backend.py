"""Neo4j 5 backend through the official ``neo4j`` Bolt driver (py2neo is end-of-life).

- Sessions: reads run in READ transactions (``execute_read``), so the server itself refuses a
  write in a read-only session; writes run in WRITE transactions (``execute_write``). Both are
  managed transactions, retried by the driver on transient errors; all sessions share one
  bookmark manager, so reads see earlier writes on a cluster too (causal consistency). A statement with
  ``CALL { ... } IN TRANSACTIONS`` cannot run inside a transaction and is sent auto-commit.
- Bulk writes: batched ``UNWIND $rows`` statements (``batch_size`` rows each, one transaction per
  batch). The input is checked before the first batch is written (duplicate ids, ids already in
  the graph, relationship ends that do not exist), so bad input writes nothing, as on the
  embedded backend.
- Export: results stream from the server (``fetch_size`` records per round trip) into Arrow
  record batches typed by the schema; counts run in one read transaction against the count store.
- Errors become one-line ``KgrecError``s: unreachable server -> ConnectionFailed (after
  ``connect_timeout`` seconds at most), wrong credentials -> AuthenticationFailed, syntax error ->
  CypherError, write in a read session -> ReadOnlyViolation.
- Credentials are never printed or logged: user info is taken out of the URI before the driver
  sees it, ``describe()`` and every message show the URI without it, and the driver's own logs
  mask the password.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from kgrec import __version__
from kgrec.config import redact_uri, split_uri_credentials
from kgrec.errors import (
    AuthenticationFailed,
    ConfigError,
    ConnectionFailed,
    CypherError,
    DatabaseNotFound,
    KgrecError,
    QueryTimeout,
    ReadOnlyViolation,
)
from kgrec.kg.backend import Backend, conform_table

__all__ = ["Neo4jBackend", "redact_uri"]

BATCH_SIZE = 5000
FETCH_SIZE = 10_000
CONNECT_TIMEOUT = 5.0
_IN_TRANSACTIONS = re.compile(r"\bIN\s+(?:\d+\s+|\$\w+\s+)?(?:CONCURRENT\s+)?TRANSACTIONS\b", re.IGNORECASE)
_ACCESS_MODE_CODES = (
    "Neo.ClientError.Statement.AccessMode",
    "Neo.ClientError.Transaction.ForbiddenDueToTransactionType",
    "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase",
    "Neo.ClientError.General.ReadOnly",
)

# The driver logs server notifications (an unknown label in a count on an empty graph, say) and
# routing retries at WARNING level; with no handler anywhere Python would print them on stderr
# next to our one-line errors. A NullHandler (the library convention) keeps them quiet; an
# application that configures logging still receives them through propagation.
logging.getLogger("neo4j").addHandler(logging.NullHandler())


class Neo4jBackend(Backend):
    dialect = "neo4j"

    def __init__(
        self,
        uri: str,
        *,
        user: str = "neo4j",
        password: str | None = None,
        database: str | None = None,
        read_only: bool = False,
        batch_size: int = BATCH_SIZE,
        fetch_size: int = FETCH_SIZE,
        connect_timeout: float = CONNECT_TIMEOUT,
    ):
        super().__init__(read_only=read_only)
        import neo4j

        uri, uri_user, uri_password = split_uri_credentials(uri)
        self.uri = uri
        self.database = database or None
        self.batch_size = int(batch_size)
        self.fetch_size = int(fetch_size)
        self._driver = None
        # every session of this backend shares one bookmark manager, so each read sees the writes
        # before it even when neo4j:// routes reads to another cluster member
        self._bookmarks = neo4j.GraphDatabase.bookmark_manager()
        auth = (uri_user or user or "neo4j", uri_password if uri_password is not None else (password or ""))
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri,
                auth=auth,
                connection_timeout=connect_timeout,
                # the Bolt handshake counts against the acquisition deadline, not connection_timeout:
                # keep both short so a server that accepts TCP but never answers fails fast too
                connection_acquisition_timeout=2 * connect_timeout,
                user_agent=f"kgrec/{__version__}",
            )
            self._driver.verify_connectivity()
        except Exception as exc:  # noqa: BLE001 - every failure becomes one clear line
            self.close()
            raise self._translate(exc, connecting=True) from None

    def describe(self) -> str:
        db = f" (database {self.database})" if self.database else ""
        return f"Neo4j at {redact_uri(self.uri)}{db}"

    def close(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            driver.close()

    # ----------------------------------------------------------------- errors
    def _translate(self, exc: Exception, *, connecting: bool = False) -> KgrecError:
        return translate_error(exc, where=self.describe(), database=self.database, connecting=connecting)

    # ----------------------------------------------------------------- sessions
    def _session(self, write: bool, fetch_size: int | None = None):
        import neo4j

        if self._driver is None:
            raise KgrecError(f"{self.describe()} is closed")
        return self._driver.session(
            database=self.database,
            default_access_mode=neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS,
            fetch_size=fetch_size or 1000,
            bookmark_manager=self._bookmarks,
        )

    def _transact(self, work, *, write: bool, fetch_size: int | None = None):
        """Run ``work(tx)`` in one managed READ or WRITE transaction, with errors translated."""
        if write:
            self._check_writable()
        try:
            with self._session(write, fetch_size) as session:
                return session.execute_write(work) if write else session.execute_read(work)
        except Exception as exc:  # noqa: BLE001
            raise self._translate(exc) from None

    # ----------------------------------------------------------------- queries
    def _execute(self, cypher: str, params: Mapping[str, Any] | None, *, write: bool, timeout_s: float | None = None,
                 **bind: Any) -> pa.Table:
        params = dict(params or {})

        def work(tx):
            result = tx.run(cypher, params)
            return list(result.keys()), list(result)

        if timeout_s:  # the server's transaction timeout stops the query
            import neo4j

            work = neo4j.unit_of_work(timeout=timeout_s)(work)

        if _IN_TRANSACTIONS.search(_bare(cypher)):
            keys, records = self._autocommit(cypher, params, write=write)
        else:
            keys, records = self._transact(work, write=write)
        return _to_arrow(keys, records)

    def _autocommit(self, cypher: str, params: dict, *, write: bool):
        """``CALL {...} IN TRANSACTIONS`` must run outside an explicit transaction."""
        if write:
            self._check_writable()
        try:
            with self._session(write) as session:
                result = session.run(cypher, params)
                return list(result.keys()), list(result)
        except Exception as exc:  # noqa: BLE001
            raise self._translate(exc) from None

    def _query_table(self, cypher: str, columns: Mapping[str, pa.DataType]) -> pa.Table:
        """Stream a read query into schema-typed Arrow record batches of ``fetch_size`` rows."""
        names, types = list(columns), list(columns.values())
        schema = pa.schema(list(zip(names, types)))
        chunk = self.fetch_size

        def work(tx):
            result = tx.run(cypher)
            keys = list(result.keys())
            if keys != names:
                raise KgrecError(f"export query returned columns {keys}, expected {names}")
            batches, rows = [], []
            for record in result:
                rows.append(record)  # a Record is a tuple of the row's values
                if len(rows) >= chunk:
                    batches.append(_record_batch(rows, schema))
                    rows = []
            if rows:
                batches.append(_record_batch(rows, schema))
            return batches

        batches = self._transact(work, write=False, fetch_size=chunk)
        return conform_table(pa.Table.from_batches(batches, schema=schema), columns)

    def _scalars(self, statements: list[str]) -> list[Any]:
        """All count queries in one read transaction (Neo4j answers them from its count store)."""

        def work(tx):
            out = []
            for stmt in statements:
                record = tx.run(stmt).single()
                out.append(record[0] if record is not None else None)
            return out

        return self._transact(work, write=False)

    # ----------------------------------------------------------------- vector search
    def vector_neighbours(self, label: str, prop: str, node_id: str, k: int) -> pa.Table | None:
        """Nearest nodes by an ONLINE cosine vector index on ``label.prop`` (``id, title, score``), or
        None when there is no such index (the caller then searches exactly)."""
        indexes = self.run("vector_indexes").to_pylist()
        name = next(
            (
                ix["name"]
                for ix in indexes
                if ix["labels"] == [label] and ix["properties"] == [prop] and str(ix["similarity"]).lower() == "cosine"
            ),
            None,
        )
        if name is None:
            return None
        text = self.cypher.render("vector_neighbours", label=label, property=prop)
        return self._execute(text, {"id": node_id, "k": int(k), "index": name}, write=False)

    # ----------------------------------------------------------------- schema
    def get_meta(self, key: str) -> str | None:
        return self._scalar(self.run("meta_get", {"key": key}))

    def delete_kgrec_nodes(self) -> None:
        """Delete every node with one of kgrec's labels (Meta included) and its relationships, in
        batches; nodes with no kgrec label stay, and so do the constraints and indexes
        (``init_schema`` is idempotent). What tests use to empty a graph, never ``MATCH (n) DELETE``."""
        self._check_writable()
        self.run("delete_kgrec_nodes", {"labels": list(self.schema.nodes)}, write=True)

    # ----------------------------------------------------------------- bulk writes (batched UNWIND)
    def _slices(self, table: pa.Table) -> Iterator[pa.Table]:
        for start in range(0, table.num_rows, self.batch_size):
            yield table.slice(start, self.batch_size)

    def _write_batches(self, text: str, batches: Iterator[list[dict]]) -> None:
        """One WRITE transaction per batch, all on one session."""
        self._check_writable()
        try:
            with self._session(True) as session:
                for rows in batches:
                    session.execute_write(lambda tx, rows=rows: tx.run(text, {"rows": rows}).consume())
        except Exception as exc:  # noqa: BLE001
            raise self._translate(exc) from None

    def _ids_matching(self, query: str, label: str, ids: pa.Array, limit: int = 5) -> list[str]:
        """Up to ``limit`` ids that the named id-check query (existing_ids, missing_ids) returns, batch by batch."""
        text = self.cypher.render(query, label=label)
        found: list[str] = []
        for start in range(0, len(ids), self.batch_size):
            part = ids.slice(start, self.batch_size).to_pylist()
            answer = self._execute(text, {"ids": part, "limit": limit - len(found)}, write=False)
            found += answer.column("id").to_pylist()
            if len(found) >= limit:
                break
        return found

    def insert_nodes(self, label: str, rows: pa.Table) -> int:
        self._check_writable()
        table = conform_rows(rows, self.schema.node_arrow_types(label), label, key="id")
        if table.num_rows == 0:
            return 0
        ids = pc.unique(table.column("id").combine_chunks())
        if len(ids) != table.num_rows:
            dupes = _duplicates(table.column("id"))
            raise CypherError(f"{label} rows repeat ids {dupes}; nothing was written", "de-duplicate the input")
        existing = self._ids_matching("existing_ids", label, ids)
        if existing:
            raise CypherError(
                f"{label} ids already in the graph: {existing}; nothing was written",
                "insert only new ids (update_nodes changes existing ones)",
            )
        text = self.cypher.render("insert_nodes", label=label)
        self._write_batches(text, (_node_rows(part) for part in self._slices(table)))
        return table.num_rows

    def update_nodes(self, label: str, rows: pa.Table) -> int:
        self._check_writable()
        table = conform_rows(rows, self.schema.node_arrow_types(label), label, key="id")
        if table.num_rows == 0 or table.num_columns == 1:
            return 0
        text = self.cypher.render("update_nodes", label=label)
        # nulls are kept: SET n += {p: null} removes p, the same as setting it to null on the embedded store
        self._write_batches(text, (part.to_pylist() for part in self._slices(table)))
        return table.num_rows

    def insert_relationships(self, rel_type: str, rows: pa.Table) -> int:
        self._check_writable()
        rel = self.schema.rel(rel_type)
        missing_cols = {"src", "dst"} - set(rows.column_names)
        if missing_cols:
            raise ValueError(f"rows for {rel_type} need columns src and dst")
        types = {"src": pa.string(), "dst": pa.string(), **self.schema.rel_arrow_types(rel_type)}
        table = conform_rows(rows, types, rel_type)
        if table.num_rows == 0:
            return 0
        for end, label in (("src", rel.src), ("dst", rel.dst)):
            missing = self._ids_matching("missing_ids", label, pc.unique(table.column(end).combine_chunks()))
            if missing:
                raise CypherError(
                    f"{rel_type} rows name {label} ids that are not in "
                    f"the graph ({end}): {missing}; nothing was written",
                    f"insert the {label} nodes first",
                )
        text = self.cypher.render("insert_relationships", rel_type=rel.name, src_label=rel.src, dst_label=rel.dst)
        self._write_batches(text, (_rel_rows(part) for part in self._slices(table)))
        return table.num_rows


def translate_error(exc: Exception, *, where: str, database: str | None = None, connecting: bool = False) -> KgrecError:
    """The one-line error a user sees for a driver or server exception (no credentials in it).

    ``where`` names the server (``describe()``); an exception that is no driver error is re-raised.
    """
    from neo4j import exceptions as nx

    if isinstance(exc, KgrecError):
        return exc
    message = _first_line(getattr(exc, "message", None) or str(exc))
    code = getattr(exc, "code", None) or ""
    if isinstance(exc, nx.AuthError):
        return AuthenticationFailed(
            f"{where} refused the user name or password",
            "set KGREC_NEO4J_USER and KGREC_NEO4J_PASSWORD (docker-compose.yml takes the password from "
            "KGREC_NEO4J_PASSWORD)",
        )
    if isinstance(exc, (nx.ServiceUnavailable, nx.SessionExpired, nx.ConnectionAcquisitionTimeoutError, OSError)):
        reason = _connection_reason(str(exc))
        verb = "cannot reach" if connecting else "lost the connection to"
        return ConnectionFailed(
            f"{verb} {where}{': ' + reason if reason else ''}",
            "is the server running? `docker compose up -d` starts one; check the host and port in --db",
        )
    if isinstance(exc, nx.ConfigurationError) or (connecting and isinstance(exc, ValueError)):
        return ConfigError(
            f"cannot use {where}: {redact_uri(message)}", "check the --db URI (bolt://host:7687 or neo4j://host)"
        )
    if isinstance(exc, nx.CypherSyntaxError):
        return CypherError(f"Cypher syntax error: {message}", "check the query")
    if code in _ACCESS_MODE_CODES or isinstance(exc, nx.ForbiddenOnReadOnlyDatabase):
        return ReadOnlyViolation(f"refused by Neo4j: {message}", "pass --write to allow writes")
    if code.startswith("Neo.ClientError.Security."):  # rate limit, missing privileges ...
        return AuthenticationFailed(f"{where} refused access: {message}", "check the Neo4j user and its privileges")
    if code == "Neo.ClientError.Database.DatabaseNotFound":
        return DatabaseNotFound(
            f"{where}: the server has no database {database!r}",
            "set KGREC_NEO4J_DATABASE to an existing database (or leave it unset for the default)",
        )
    if isinstance(exc, nx.ConstraintError):
        return CypherError(f"Neo4j constraint violated: {message}")
    if code.startswith("Neo.ClientError.Transaction.TransactionTimedOut"):
        return QueryTimeout(
            f"{where} stopped the query at its time limit", "narrow it: a label, a WHERE on an id, a LIMIT"
        )
    if isinstance(exc, nx.TransientError):
        return ConnectionFailed(f"{where} is busy or unavailable: {message}", "try again")
    if isinstance(exc, nx.Neo4jError):
        return CypherError(f"Neo4j refused the query: {message}" + (f" [{code}]" if code else ""))
    if isinstance(exc, nx.DriverError):
        return KgrecError(f"Neo4j driver error with {where}: {type(exc).__name__}: {message}")
    raise exc


def conform_rows(rows: pa.Table, types: Mapping[str, pa.DataType], what: str, key: str | None = None) -> pa.Table:
    """The input columns cast to their schema types (ids to strings, embeddings to float32 lists)."""
    if key is not None and key not in rows.column_names:
        raise ValueError(f"rows for {what} need an {key!r} column")
    unknown = [c for c in rows.column_names if c not in types]
    if unknown:
        raise ValueError(f"{what} has no properties {unknown}; known: {', '.join(types)}")
    cols = []
    for name in rows.column_names:
        col = rows.column(name)
        try:
            cols.append(col if col.type.equals(types[name]) else col.cast(types[name]))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValueError(f"{what}.{name}: cannot convert {col.type} to {types[name]}: {exc}") from None
    table = pa.table(cols, names=rows.column_names)
    if key is not None and table.column(key).null_count:
        raise ValueError(f"rows for {what} have a null {key!r}")
    return table


def _node_rows(part: pa.Table) -> list[dict]:
    """Row maps without nulls (Neo4j stores no null properties; a new node simply lacks them)."""
    return [{k: v for k, v in row.items() if v is not None} for row in part.to_pylist()]


def _rel_rows(part: pa.Table) -> list[dict]:
    props = [c for c in part.column_names if c not in ("src", "dst")]
    return [
        {"src": row["src"], "dst": row["dst"], "props": {p: row[p] for p in props if row[p] is not None}}
        for row in part.to_pylist()
    ]


def _duplicates(column: pa.ChunkedArray, limit: int = 5) -> list:
    counts = pc.value_counts(column)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    return repeated.field("values").to_pylist()[:limit]


_tuple_item = tuple.__getitem__


def _columns(rows: list, width: int) -> list[list]:
    """Rows (driver Records, which are tuples underneath, or plain tuples) as column lists.

    ``tuple.__getitem__`` reads a Record's values directly; Record's own ``__iter__`` and
    ``__getitem__`` are Python-level and made conversion about 8x slower (benchmarks/).
    """
    return [[_tuple_item(r, i) for r in rows] for i in range(width)]


def _record_batch(rows: list, schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for col, field in zip(_columns(rows, len(schema)), schema):
        try:
            arrays.append(pa.array(col, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            bad = next((v for v in col if v is not None and not _fits(v, field.type)), None)
            raise KgrecError(
                f"property {field.name!r} holds {bad!r} ({type(bad).__name__}), not {field.type}",
                "fix the values written outside kgrec so that they match kgrec/cypher/ladybug/schema.cypher",
            ) from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _fits(value: Any, typ: pa.DataType) -> bool:
    try:
        pa.array([value], type=typ)
        return True
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False


_STRINGS_AND_COMMENTS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|//[^\n]*|/\*.*?\*/", re.S)


def _bare(cypher: str) -> str:
    return _STRINGS_AND_COMMENTS.sub(" ", cypher)


def _first_line(text: str) -> str:
    text = (text or "").strip()
    return text.splitlines()[0] if text else "no details"


def _connection_reason(text: str) -> str:
    """The useful part of a driver connection error, e.g. '[Errno 111] Connection refused'."""
    reasons = re.findall(r"reason (.+?)\)*$", text, re.M)
    if reasons:
        return reasons[-1].strip()
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    last = re.sub(r"Resolved\w*Address\(\('([^']*)', (\d+)[^)]*\)\)", r"\1:\2", lines[-1])
    return re.sub(r"\s*\(deadline Deadline\([^)]*\)\)", "", last).rstrip(":")


def _to_arrow(keys: list[str], records: list) -> pa.Table:
    if not records:
        return pa.table({k: pa.array([], pa.null()) for k in keys})
    arrays = []
    for col in _columns(records, len(keys)):
        values = col if all(type(v) in _SCALARS for v in col) else [_plain(v) for v in col]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
    return pa.table(arrays, names=keys)


_SCALARS = (str, int, float, bool, type(None))


def _plain(value: Any) -> Any:
    """Driver graph objects (nodes, relationships, paths) as plain dicts for tables and JSON."""
    if type(value) in _SCALARS:
        return value
    from neo4j import graph

    if isinstance(value, graph.Node):
        return {"labels": sorted(value.labels), **dict(value)}
    if isinstance(value, graph.Relationship):
        return {"type": value.type, **dict(value)}
    if isinstance(value, graph.Path):
        return {"nodes": [_plain(n) for n in value.nodes], "relationships": [_plain(r) for r in value.relationships]}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
