"""The knowledge-graph schema, read from ``cypher/ladybug/schema.cypher`` (its single source of truth)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from functools import lru_cache

import pyarrow as pa

from kgrec.kg.cypher import CYPHER_DIR, split_statements

SCHEMA_VERSION = 2  # 2: INTERACTED.seq (kgrec/kg/migrate.py upgrades version 1)
META_LABEL = "Meta"

# Arrow type of each schema property type: what export_* return and bulk writes cast to.
ARROW_TYPES = {
    "STRING": pa.string(),
    "INT64": pa.int64(),
    "DOUBLE": pa.float64(),
    "FLOAT[]": pa.list_(pa.float32()),
}

_NODE = re.compile(r"CREATE NODE TABLE IF NOT EXISTS (\w+)\((.*)\)$", re.S)
_REL = re.compile(r"CREATE REL TABLE IF NOT EXISTS (\w+)\(FROM (\w+) TO (\w+)(.*)\)$", re.S)


@dataclasses.dataclass(frozen=True)
class NodeType:
    label: str
    properties: dict[str, str]  # name -> LadybugDB type (STRING, INT64, DOUBLE, FLOAT[] ...)


@dataclasses.dataclass(frozen=True)
class RelType:
    name: str
    src: str
    dst: str
    properties: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Schema:
    nodes: dict[str, NodeType]
    relationships: dict[str, RelType]
    version: int = SCHEMA_VERSION

    @property
    def labels(self) -> list[str]:
        """Domain labels (the Meta bookkeeping label left out)."""
        return [label for label in self.nodes if label != META_LABEL]

    def node(self, label: str) -> NodeType:
        try:
            return self.nodes[label]
        except KeyError:
            raise ValueError(f"unknown node label {label!r}; known: {', '.join(self.labels)}") from None

    def rel(self, name: str) -> RelType:
        try:
            return self.relationships[name]
        except KeyError:
            raise ValueError(f"unknown relationship type {name!r}; known: {', '.join(self.relationships)}") from None

    def check_node_properties(self, label: str, columns: Iterable[str]) -> None:
        known = self.node(label).properties
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise ValueError(f"{label} has no properties {unknown}; known: {', '.join(known)}")

    def node_arrow_types(self, label: str) -> dict[str, pa.DataType]:
        return {name: ARROW_TYPES[typ] for name, typ in self.node(label).properties.items()}

    def rel_arrow_types(self, name: str) -> dict[str, pa.DataType]:
        return {prop: ARROW_TYPES[typ] for prop, typ in self.rel(name).properties.items()}

    def check_rel_properties(self, name: str, columns: Iterable[str]) -> None:
        known = self.rel(name).properties
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise ValueError(f"{name} has no properties {unknown}; known: {', '.join(known) or 'none'}")


def _props(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, typ = part.split(None, 1)
        out[name] = typ.replace("PRIMARY KEY", "").strip()
    return out


@lru_cache(maxsize=1)
def load_schema() -> Schema:
    nodes: dict[str, NodeType] = {}
    rels: dict[str, RelType] = {}
    for stmt in split_statements((CYPHER_DIR / "ladybug" / "schema.cypher").read_text(encoding="utf-8")):
        if m := _NODE.match(stmt):
            nodes[m.group(1)] = NodeType(m.group(1), _props(m.group(2)))
        elif m := _REL.match(stmt):
            rels[m.group(1)] = RelType(m.group(1), m.group(2), m.group(3), _props(m.group(4)))
        else:
            raise ValueError(f"unparsed schema statement: {stmt[:80]}")
    return Schema(nodes, rels)
