"""Neo4j 5 backend through the official ``neo4j`` Bolt driver (py2neo is end-of-life).

Writes are batched ``UNWIND`` statements; reads that the user asked to be read-only run in READ
transactions, so the server itself refuses writes. Credentials are never printed or logged:
``describe()`` shows the URI without user info.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import pyarrow as pa

from kgrec.errors import AuthenticationFailed, ConnectionFailed, CypherError, KgrecError, ReadOnlyViolation
from kgrec.kg.backend import Backend

BATCH_SIZE = 5000
_USERINFO = re.compile(r"//[^@/]*@")


def redact_uri(uri: str) -> str:
    return _USERINFO.sub("//", uri)


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
    ):
        super().__init__(read_only=read_only)
        import neo4j
        from neo4j import exceptions as nx

        self.uri = uri
        self.database = database
        self.batch_size = batch_size
        self._nx = nx
        self._access = neo4j.READ_ACCESS if read_only else neo4j.WRITE_ACCESS
        try:
            self._driver = neo4j.GraphDatabase.driver(uri, auth=(user, password or ""))
            self._driver.verify_connectivity()
        except nx.AuthError as exc:
            raise AuthenticationFailed(
                f"Neo4j at {self.describe()} refused the credentials",
                "set KGREC_NEO4J_USER / KGREC_NEO4J_PASSWORD",
            ) from None
        except (nx.ServiceUnavailable, nx.DriverError, OSError, ValueError) as exc:
            raise ConnectionFailed(
                f"cannot reach Neo4j at {self.describe()}: {type(exc).__name__}",
                "is the server running? `docker compose up -d` starts one",
            ) from None

    def describe(self) -> str:
        db = f" (database {self.database})" if self.database else ""
        return f"Neo4j {redact_uri(self.uri)}{db}"

    def close(self) -> None:
        driver = getattr(self, "_driver", None)
        self._driver = None
        if driver is not None:
            driver.close()

    # ----------------------------------------------------------------- queries
    def _session(self, write: bool):
        import neo4j

        return self._driver.session(
            database=self.database, default_access_mode=neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS
        )

    def _execute(self, cypher: str, params: Mapping[str, Any] | None, *, write: bool, **bind: Any) -> pa.Table:
        if self._driver is None:
            raise KgrecError(f"{self.describe()} is closed")
        if write:
            self._check_writable()

        def work(tx):
            result = tx.run(cypher, dict(params or {}))
            keys = list(result.keys())
            records = [r.values() for r in result]
            return keys, records

        nx = self._nx
        try:
            with self._session(write) as session:
                keys, records = session.execute_write(work) if write else session.execute_read(work)
        except nx.CypherSyntaxError as exc:
            raise CypherError(f"Cypher syntax error: {exc.message}", "check the query") from None
        except nx.ClientError as exc:
            if "read" in (exc.message or "").lower() and "access mode" in (exc.message or "").lower():
                raise ReadOnlyViolation(f"refused by Neo4j: {exc.message}", "pass --write to allow writes") from None
            raise CypherError(f"Neo4j refused the query: {exc.message}") from None
        except nx.AuthError:
            raise AuthenticationFailed(f"Neo4j at {self.describe()} refused the credentials") from None
        except (nx.ServiceUnavailable, nx.SessionExpired) as exc:
            raise ConnectionFailed(f"lost the connection to {self.describe()}: {type(exc).__name__}") from None
        return _to_arrow(keys, records)

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
    def _create_schema(self) -> None:
        self._check_writable()
        for stmt in self.cypher.statements("schema"):
            self._execute(stmt, {}, write=True)

    def get_meta(self, key: str) -> str | None:
        return self._scalar(self.run("meta_get", {"key": key}))

    # ----------------------------------------------------------------- bulk writes (batched UNWIND)
    def _batches(self, rows: list[dict]):
        for start in range(0, len(rows), self.batch_size):
            yield rows[start : start + self.batch_size]

    def insert_nodes(self, label: str, rows: pa.Table) -> int:
        self._check_writable()
        self.schema.check_node_properties(label, rows.column_names)
        text = self.cypher.render("insert_nodes", label=label)
        records = _records(rows)
        for batch in self._batches(records):
            self._execute(text, {"rows": batch}, write=True)
        return len(records)

    def update_nodes(self, label: str, rows: pa.Table) -> int:
        self._check_writable()
        self.schema.check_node_properties(label, rows.column_names)
        text = self.cypher.render("update_nodes", label=label)
        records = _records(rows)
        for batch in self._batches(records):
            self._execute(text, {"rows": batch}, write=True)
        return len(records)

    def insert_relationships(self, rel_type: str, rows: pa.Table) -> int:
        self._check_writable()
        rel = self.schema.rel(rel_type)
        props = [c for c in rows.column_names if c not in ("src", "dst")]
        self.schema.check_rel_properties(rel_type, props)
        text = self.cypher.render("insert_relationships", rel_type=rel.name, src_label=rel.src, dst_label=rel.dst)
        records = [
            {"src": r["src"], "dst": r["dst"], "props": {p: r[p] for p in props if r[p] is not None}}
            for r in _records(rows)
        ]
        for batch in self._batches(records):
            self._execute(text, {"rows": batch}, write=True)
        return len(records)


def _records(rows: pa.Table) -> list[dict]:
    """Arrow rows as dicts with nulls dropped (Neo4j stores no null properties)."""
    return [{k: v for k, v in row.items() if v is not None} for row in rows.to_pylist()]


def _to_arrow(keys: list[str], records: list[list]) -> pa.Table:
    if not records:
        return pa.table({k: pa.array([], pa.null()) for k in keys})
    columns = list(zip(*records))
    arrays = []
    for col in columns:
        try:
            arrays.append(pa.array([_plain(v) for v in col]))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array([None if v is None else str(_plain(v)) for v in col], pa.string()))
    return pa.table(arrays, names=keys)


def _plain(value: Any) -> Any:
    """Driver graph objects (nodes, relationships, paths) as plain dicts for tables and JSON."""
    from neo4j import graph

    if isinstance(value, graph.Node):
        return {"labels": sorted(value.labels), **dict(value)}
    if isinstance(value, graph.Relationship):
        return {"type": value.type, **dict(value)}
    if isinstance(value, graph.Path):
        return {"nodes": [_plain(n) for n in value.nodes], "relationships": [_plain(r) for r in value.relationships]}
    return value
