"""The staging area of one ingest run: every node and relationship the validated rows say exist.

Sources add pandas frames: nodes by label (``id`` plus schema properties), relationships by type
(``src``, ``dst`` plus properties). A *primary* frame has one row per accepted source row, so that
the loader can say for each row whether it was new, updated or already in the graph.

Relationship identity (what makes two rows the same relationship):

* ``INTERACTED``: (user, product, timestamp, behavior). The same user buying the same product
  at two times is two interactions; the same event exported twice is one. ``rating`` is a
  property of the event and is updated when a newer export changes it.
* ``RELATED_TO``: (head, tail, relation).
* every other type: (source, target).
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from kgrec.etl.report import FileReport

# relationship type -> (identity columns beyond src/dst, updatable property columns)
REL_IDENTITY = {"INTERACTED": (["timestamp", "behavior"], ["rating"]), "RELATED_TO": (["relation"], [])}


def rel_identity(rel_type: str) -> tuple[list[str], list[str]]:
    extra, updatable = REL_IDENTITY.get(rel_type, ([], []))
    return ["src", "dst", *extra], list(updatable)


@dataclasses.dataclass
class Primary:
    report: FileReport
    kind: str  # "node" or "rel"
    name: str  # label or relationship type
    keys: pd.DataFrame  # one row per accepted source row: id, or the relationship identity
    frame_index: int = 0  # position of its frame in Stage.nodes[name] / Stage.rels[name]


@dataclasses.dataclass
class Stage:
    nodes: dict[str, list[pd.DataFrame]] = dataclasses.field(default_factory=dict)
    rels: dict[str, list[pd.DataFrame]] = dataclasses.field(default_factory=dict)
    primaries: list[Primary] = dataclasses.field(default_factory=list)
    unique_rels: set[str] = dataclasses.field(default_factory=set)  # types added with unique=True

    def add_nodes(self, label: str, frame: pd.DataFrame, *, primary: FileReport | None = None) -> None:
        frame = frame.reset_index(drop=True)
        self.nodes.setdefault(label, []).append(frame)
        if primary is not None:
            self.primaries.append(Primary(primary, "node", label, frame[["id"]], len(self.nodes[label]) - 1))

    def add_rels(self, rel_type: str, frame: pd.DataFrame, *, primary: FileReport | None = None,
                 unique: bool = False) -> None:
        """``unique``: the caller already rejected rows repeating this type's identity (saves a pass)."""
        frame = frame.reset_index(drop=True)
        if unique:
            self.unique_rels.add(rel_type)
        self.rels.setdefault(rel_type, []).append(frame)
        if primary is not None:
            keys, _ = rel_identity(rel_type)
            self.primaries.append(
                Primary(primary, "rel", rel_type, frame.reindex(columns=keys), len(self.rels[rel_type]) - 1)
            )

    def add_categories(self, paths: pd.Series, product_ids: pd.Series, separator: str = " > ") -> None:
        """Category nodes for paths like ``Clothing > Dresses > Maxi``: ids are the path prefixes,
        each child SUBCATEGORY_OF its parent, and each product IN_CATEGORY its leaf."""
        mask = paths.notna() & (paths.str.strip() != "")
        paths, product_ids = paths[mask], product_ids[mask]
        if paths.empty:
            return
        parts = paths.str.split(separator.strip(), regex=False).map(lambda p: [x.strip() for x in p if x.strip()])
        leaf = parts.map(lambda p: separator.join(p))
        self.add_rels("IN_CATEGORY", pd.DataFrame({"src": product_ids.to_numpy(), "dst": leaf.to_numpy()}))
        distinct = pd.Series(parts.map(tuple).unique())
        rows, edges = {}, []
        for p in distinct:
            for depth in range(len(p)):
                cid = separator.join(p[: depth + 1])
                rows[cid] = (p[depth], depth)
                if depth:
                    edges.append((cid, separator.join(p[:depth])))
        self.add_nodes("Category", pd.DataFrame(
            {"id": list(rows), "name": [v[0] for v in rows.values()], "level": [v[1] for v in rows.values()]}))
        if edges:
            self.add_rels("SUBCATEGORY_OF", pd.DataFrame(edges, columns=["src", "dst"]))
