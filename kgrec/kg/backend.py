"""The graph-store protocol. Everything above ``kgrec.kg`` talks to a ``Backend`` and never
knows whether it is the embedded LadybugDB or Neo4j.

Results come back as ``pyarrow.Table`` (columns named by the query's RETURN aliases).
Bulk writes take Arrow tables with an ``id`` column (nodes) or ``src``/``dst`` columns
(relationships) plus schema properties; staging and de-duplication live in ``kgrec.etl``.
"""

from __future__ import annotations

import abc
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from kgrec.errors import ReadOnlyViolation, SchemaVersionError
from kgrec.kg.cypher import CypherLibrary, check_identifier
from kgrec.kg.migrate import migrate
from kgrec.kg.schema import SCHEMA_VERSION, Schema, load_schema

# Clauses that write. Used to refuse writes early with a clear message; the database's own
# read-only mode (LadybugDB read-only open, Neo4j READ transactions) is the real guard.
_WRITE_CLAUSE = re.compile(
    r"\b(CREATE|MERGE|SET|DELETE|DETACH|REMOVE|DROP|ALTER|COPY|INSTALL|LOAD\s+EXTENSION|IMPORT|CHECKPOINT)\b",
    re.IGNORECASE,
)
_STRING_OR_COMMENT = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|//[^\n]*|/\*.*?\*/", re.S)


def write_clauses(cypher: str) -> list[str]:
    """Write clauses in ``cypher`` (outside strings and comments), upper-cased, in order."""
    bare = _STRING_OR_COMMENT.sub(" ", cypher)
    return [m.group(1).upper() for m in _WRITE_CLAUSE.finditer(bare)]


def conform_table(table: pa.Table, columns: Mapping[str, pa.DataType]) -> pa.Table:
    """``table`` with exactly ``columns`` (in order), each cast to its type; an empty result gets typed columns."""
    if table.num_columns == 0 and table.num_rows == 0:
        return pa.table({name: pa.array([], typ) for name, typ in columns.items()})
    arrays = []
    for name, typ in columns.items():
        col = table.column(name)
        arrays.append(col if col.type.equals(typ) else col.cast(typ))
    return pa.table(arrays, names=list(columns))


class Backend(abc.ABC):
    """A knowledge-graph store. Open one with ``kgrec.kg.open_backend``."""

    dialect: str = ""

    def __init__(self, *, read_only: bool = False):
        self.read_only = read_only
        self.schema: Schema = load_schema()
        self.cypher = CypherLibrary(self.dialect)

    # ----------------------------------------------------------------- lifecycle
    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abc.abstractmethod
    def describe(self) -> str:
        """Where this backend points, safe to print (no credentials)."""

    def change_token(self) -> object | None:
        """A cheap value that changes whenever another process commits to the store, or None
        when the store isolates readers itself (a server with transactions). Readers compare it
        before and after their queries to tell whether they saw one consistent graph."""
        return None

    def storage_token(self) -> object | None:
        """A cheap value that changes when the stored data a reader already opened is rewritten
        in place (an embedded checkpoint); None where that cannot happen."""
        return None

    def is_available(self) -> bool:
        """False when the store is gone (embedded file removed); servers report on first query."""
        return True

    # ----------------------------------------------------------------- queries
    @abc.abstractmethod
    def _execute(self, cypher: str, params: Mapping[str, Any] | None, *, write: bool, timeout_s: float | None = None,
                 **bind: Any) -> pa.Table:
        """Run one statement; ``bind`` holds Arrow tables scanned by name (embedded bulk copy).
        ``timeout_s``: the store itself stops the query after that long (``QueryTimeout``)."""

    def execute(self, cypher: str, params: Mapping[str, Any] | None = None, *, write: bool = False,
                timeout_s: float | None = None) -> pa.Table:
        """Run one user-supplied statement. Writes are refused unless ``write=True``; with
        ``timeout_s`` the store interrupts the query when it runs longer (``QueryTimeout``)."""
        found = write_clauses(cypher)
        if found and not write:
            raise ReadOnlyViolation(
                f"refused: the query writes ({', '.join(dict.fromkeys(found))}) and this session is read-only",
                "pass --write to allow writes",
            )
        if write and self.read_only:
            raise ReadOnlyViolation("refused: the database was opened read-only")
        return self._execute(cypher, params or {}, write=write, timeout_s=timeout_s)

    def run(self, name: str, params: Mapping[str, Any] | None = None, *, write: bool = False, **bind: Any) -> pa.Table:
        """Run the named query from ``kgrec/cypher/<name>.cypher`` with parameters (``bind``: Arrow
        tables an embedded dialect's file scans by name, as ``_execute`` takes them)."""
        statements = self.cypher.statements(name)
        result = pa.table({})
        for stmt in statements:
            result = self._execute(stmt, params or {}, write=write, **bind)
        return result

    # ----------------------------------------------------------------- schema
    def _create_schema(self) -> None:
        """Run the dialect's ``schema`` statements (``kgrec/cypher/<dialect>/schema.cypher``)."""
        self._check_writable()
        for stmt in self.cypher.statements("schema"):
            self._execute(stmt, {}, write=True)

    def init_schema(self) -> bool:
        """Create the schema if missing, or upgrade an older one in place (``kgrec.kg.migrate``),
        and record its version. Returns True when anything was created or upgraded."""
        found = self.schema_version()
        if found is not None:
            self._check_version(found)
            return bool(migrate(self, found))
        self._create_schema()
        self.set_meta("schema_version", str(SCHEMA_VERSION))
        return True

    def _check_version(self, found: int) -> None:
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.describe()} has schema version {found}, newer than this kgrec supports ({SCHEMA_VERSION})",
                "upgrade kgrec; the database was left untouched",
            )

    def schema_version(self) -> int | None:
        value = self.get_meta("schema_version")
        return int(value) if value is not None else None

    def ensure_schema(self) -> None:
        """Raise a clear error when the database has no kgrec schema or a newer one."""
        from kgrec.errors import DatabaseNotFound

        found = self.schema_version()
        if found is None:
            raise DatabaseNotFound(f"{self.describe()} has no kgrec schema", "run `kgctl init` first")
        self._check_version(found)
        if found < SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.describe()} has schema version {found}, older than this kgrec's ({SCHEMA_VERSION})",
                "run `kgctl init` on it once: it upgrades the database in place and keeps its data",
            )

    @abc.abstractmethod
    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None:
        self.run("meta_set", {"key": key, "value": value}, write=True)

    # ----------------------------------------------------------------- bulk writes
    @abc.abstractmethod
    def insert_nodes(self, label: str, rows: pa.Table) -> int:
        """Add nodes whose ids are not in the graph yet (the caller de-duplicates). Returns the count."""

    @abc.abstractmethod
    def update_nodes(self, label: str, rows: pa.Table) -> int:
        """Set the given properties on existing nodes, matched by ``id``. Returns the row count."""

    @abc.abstractmethod
    def insert_relationships(self, rel_type: str, rows: pa.Table) -> int:
        """Add relationships (``src``, ``dst`` ids plus properties); both ends must exist."""

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyViolation(f"refused: {self.describe()} was opened read-only")

    # ----------------------------------------------------------------- export
    def export_nodes(self, label: str, properties: Iterable[str] = ()) -> pa.Table:
        """All nodes of ``label`` as a table: ``id`` then the named properties, typed by the schema."""
        props = list(properties)
        self.schema.check_node_properties(label, props)
        returns = "".join(f", n.{check_identifier(p)} AS {p}" for p in props)
        types = self.schema.node_arrow_types(label)
        columns = {"id": pa.string(), **{p: types[p] for p in props}}
        return self._query_table(self.cypher.render("export_nodes", label=label, return_list=returns), columns)

    def export_relationships(self, rel_type: str, properties: Iterable[str] = ()) -> pa.Table:
        """All relationships of one type: ``src``, ``dst`` (ids) then the named properties, typed by the schema."""
        rel = self.schema.rel(rel_type)
        props = list(properties)
        self.schema.check_rel_properties(rel_type, props)
        returns = "".join(f", r.{check_identifier(p)} AS {p}" for p in props)
        text = self.cypher.render(
            "export_relationships", rel_type=rel.name, src_label=rel.src, dst_label=rel.dst, return_list=returns
        )
        types = self.schema.rel_arrow_types(rel_type)
        columns = {"src": pa.string(), "dst": pa.string(), **{p: types[p] for p in props}}
        return self._query_table(text, columns)

    def _query_table(self, cypher: str, columns: Mapping[str, pa.DataType]) -> pa.Table:
        """Run a parameterless read query whose result columns have known types. Backends may stream."""
        table = self._execute(cypher, {}, write=False)
        return conform_table(table, columns)

    def _scalars(self, statements: list[str]) -> list[Any]:
        """The first value of each read statement's result (None when empty). Backends may batch these."""
        return [self._scalar(self._execute(stmt, {}, write=False)) for stmt in statements]

    def _scalar(self, table: pa.Table) -> Any:
        return table.column(0)[0].as_py() if table.num_rows else None

    def counts(self) -> dict[str, dict[str, int]]:
        """``{"nodes": {label: n}, "relationships": {type: n}}`` over the domain schema."""
        labels, types = self.schema.labels, list(self.schema.relationships)
        statements = [self.cypher.render("count_nodes", label=label) for label in labels]
        statements += [self.cypher.render("count_relationships", rel_type=name) for name in types]
        values = [int(v or 0) for v in self._scalars(statements)]
        return {"nodes": dict(zip(labels, values[:len(labels)])),
                "relationships": dict(zip(types, values[len(labels):]))}

    def snapshot_id(self) -> str:
        """An id of the graph's current content: counts plus the revision that every ingest bumps."""
        payload = json.dumps({"counts": self.counts(), "revision": self.get_meta("revision")}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
