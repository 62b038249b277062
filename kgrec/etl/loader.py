"""Load a ``Stage`` into the graph: diff against what is there, write only what is new or changed.

Idempotence and incrementality come from the diff: staged nodes are compared by ``id`` with
``backend.export_nodes``, staged relationships by their identity (``kgrec.etl.stage``) with
``backend.export_relationships``, in pandas. Only new nodes and relationships are bulk-inserted
(``insert_nodes`` / ``insert_relationships``: one COPY each on LadybugDB, batched UNWIND on Neo4j)
and only nodes whose provided properties differ are updated. A missing (null) source value never
erases a stored one.

Crash safety: writes run in this order, each one a statement that is atomic on LadybugDB:

1. ``Meta ingest_pending = R`` (R = the revision this run will publish)
2. insert new nodes, label by label;  3. update changed nodes
4. insert new relationships, type by type;  5. update changed relationship properties
6. ``Meta revision = R``;  7. ``Meta ingest_pending = ""``

New interactions get their ingest sequence numbers (``INTERACTED.seq``, source order) after the
graph's largest before step 1, so a re-run numbers whatever is still missing as a clean run would.

A run killed after any prefix leaves a graph that is a subset of the target plus some updates;
the re-run's diff finds exactly the missing part and writes it, and because step 1 left
``ingest_pending = R`` the re-run publishes the same revision R a clean run would have. So a
killed run followed by a re-run ends with the graph (and revision) a clean run gives.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pandas as pd
import pyarrow as pa

from kgrec.etl.keys import encode, group, match
from kgrec.etl.progress import Progress
from kgrec.etl.report import IngestReport
from kgrec.etl.stage import Stage, rel_identity
from kgrec.kg.backend import Backend
from kgrec.kg.interaction_order import numbered

PENDING = "ingest_pending"
REVISION = "revision"
NEW, UPDATED, UNCHANGED = 0, 1, 2
UPDATE_BATCH = 5000
_TS_NONE = -1  # stands for a missing timestamp inside identity keys (timestamps are >= 0)


def _normalise(frame: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    out = {}
    for col in frame.columns:
        typ = types.get(col, "STRING")
        s = frame[col]
        if typ == "INT64":
            out[col] = pd.to_numeric(s, errors="coerce").astype("Int64") if s.dtype != "Int64" else s
        elif typ == "DOUBLE":
            out[col] = pd.to_numeric(s, errors="coerce").astype("Float64")
        else:
            out[col] = s.astype("string") if s.dtype != "string" else s
    return pd.DataFrame(out, index=frame.index)


class _Plan:
    def __init__(self):
        self.node_inserts: dict[str, pd.DataFrame] = {}
        self.node_updates: dict[str, pd.DataFrame] = {}
        self.rel_inserts: dict[str, pd.DataFrame] = {}
        self.rel_updates: dict[str, pd.DataFrame] = {}

    @property
    def empty(self) -> bool:
        return not any(len(f) for part in (self.node_inserts, self.node_updates, self.rel_inserts, self.rel_updates)
                       for f in part.values())


def _plan_nodes(backend: Backend, label: str, frames: list[pd.DataFrame], plan: _Plan) -> dict[str, set]:
    """Staged nodes of one label vs the graph; returns the ids that are new and those updated."""
    types = backend.schema.node(label).properties
    cols = ["id"] + sorted({c for f in frames for c in f.columns if c != "id"})
    parts = []
    for f in frames:
        f = f.reindex(columns=cols)
        parts.append(f.drop_duplicates("id") if len(f.columns) == 1 or f[cols[1:]].isna().all().all() else f)
    full = _normalise(pd.concat(parts, ignore_index=True), types)
    full = full[full["id"].notna()]
    if not full["id"].is_unique:
        full = full.groupby("id", sort=False, dropna=True).first().reset_index()  # first non-null value wins
    props = cols[1:]
    existing = _normalise(backend.export_nodes(label, props).to_pandas(), types)
    is_old = full["id"].isin(pd.Index(existing["id"])).to_numpy()
    plan.node_inserts[label] = full[~is_old]
    old = full[is_old].merge(existing, on="id", how="left", suffixes=("", "__old"))
    changed = np.zeros(len(old), dtype=bool)
    for p in props:
        differs = ~(old[p] == old[p + "__old"]).fillna(False).to_numpy(dtype=bool)
        changed |= old[p].notna().to_numpy() & differs
    upd = old[changed]
    plan.node_updates[label] = pd.DataFrame({"id": upd["id"], **{p: upd[p].fillna(upd[p + "__old"]) for p in props}})
    return {"new": set(full["id"][~is_old]), "updated": set(upd["id"])}


def _plan_rels(backend: Backend, rel_type: str, frames: list[pd.DataFrame], unique: bool, plan: _Plan):
    """Staged relationships of one type vs the graph; returns (group id per staged row, status per group)."""
    rel = backend.schema.rel(rel_type)
    keys, updatable = rel_identity(rel_type)
    cols = keys + [c for c in dict.fromkeys(c for f in frames for c in f.columns) if c not in keys]
    full = frames[0].reindex(columns=cols) if len(frames) == 1 else pd.concat(
        [f.reindex(columns=cols) for f in frames], ignore_index=True)
    props = [c for c in cols if c not in ("src", "dst") and c in rel.properties]
    existing = _existing_rels(backend, rel_type, props, full)
    if unique and existing.num_rows == 0:  # first load of this type: everything is new
        plan.rel_inserts[rel_type] = full
        return np.arange(len(full)), np.full(len(full), NEW, dtype=np.int8)
    staged_keys, existing_keys = encode([full[k] for k in keys], [existing.column(k) for k in keys])
    if unique:  # one frame whose rows the source already de-duplicated on this identity
        gid = np.arange(len(full))
        staged, skeys = full, staged_keys
    else:
        gid, first = group(staged_keys)
        staged, skeys = full.iloc[first].reset_index(drop=True), staged_keys[first]
    i, j = match(skeys, existing_keys)
    status = np.full(len(staged), NEW, dtype=np.int8)
    status[i] = UNCHANGED
    changed_rows = []
    for p in updatable:
        if p not in staged.columns:
            continue
        s_val = pd.to_numeric(staged[p], errors="coerce").to_numpy(dtype=float, na_value=np.nan)[i]
        e_val = existing.column(p).to_numpy(zero_copy_only=False).astype(float)[j]
        diff = ~np.isnan(s_val) & ~(s_val == e_val)
        changed_rows.append(i[diff])
    if changed_rows:
        ci = np.unique(np.concatenate(changed_rows))
        status[ci] = UPDATED
        plan.rel_updates[rel_type] = staged.iloc[ci]
    plan.rel_inserts[rel_type] = staged[status == NEW] if (status != NEW).any() else staged
    return gid, status


def _existing_rels(backend: Backend, rel_type: str, props: list[str], staged: pd.DataFrame) -> pa.Table:
    """The stored relationships that staged rows could match. Interactions match only within the
    staged time range (timestamp is part of their identity), so a delta of new events reads a
    slice of the graph instead of every interaction."""
    if rel_type == "INTERACTED" and "timestamp" in staged.columns and len(staged):
        ts = pd.to_numeric(staged["timestamp"], errors="coerce")
        if ts.notna().any():
            params = {"lo": int(ts.min()), "hi": int(ts.max()), "nulls": bool(ts.isna().any())}
            return backend.run("export_interactions_in_time_range", params)
    return backend.export_relationships(rel_type, props)


def apply_stage(backend: Backend, stage: Stage, report: IngestReport, progress: Progress) -> IngestReport:
    """Diff the stage against the graph, write the difference crash-safely, fill ``report``."""
    plan = _Plan()
    node_status: dict[str, dict] = {}
    rel_status: dict[str, tuple] = {}
    with progress.stage("compare with graph", total=len(stage.nodes) + len(stage.rels)) as bar:
        for label, frames in stage.nodes.items():
            node_status[label] = _plan_nodes(backend, label, frames, plan)
            bar.update(1)
        for rel_type, frames in stage.rels.items():
            unique = len(frames) == 1 and rel_type in stage.unique_rels
            rel_status[rel_type] = _plan_rels(backend, rel_type, frames, unique, plan)
            bar.update(1)

    # per-row accounting of the primary frames
    for prim in stage.primaries:
        fr = prim.report
        if prim.kind == "node":
            st = node_status[prim.name]
            ids = prim.keys["id"].astype("string")
            new = ids.isin(list(st["new"])).to_numpy(dtype=bool)
            upd = ids.isin(list(st["updated"])).to_numpy(dtype=bool) & ~new
            counts = np.array([new.sum(), upd.sum(), len(ids) - new.sum() - upd.sum()])
        else:
            gid, status = rel_status[prim.name]
            start = sum(len(f) for f in stage.rels[prim.name][: prim.frame_index])
            counts = np.bincount(status[gid[start : start + len(prim.keys)]], minlength=3)
        fr.rows_new += int(counts[NEW])
        fr.rows_updated += int(counts[UPDATED])
        fr.rows_unchanged += int(counts[UNCHANGED])

    _number_interactions(backend, plan)
    pending = backend.get_meta(PENDING) or ""
    current = backend.get_meta(REVISION)
    if plan.empty and not pending:
        report.revision, report.changed = current or "0", False
        return report
    from kgrec.kg.revision import next_revision  # the revision protocol kgctl embed follows too

    target = pending or next_revision(current or "0")
    steps = sum(1 for part in (plan.node_inserts, plan.node_updates, plan.rel_inserts, plan.rel_updates)
                for f in part.values() if len(f))
    wrote = _FaultPoint()
    with progress.stage("write graph", total=steps) as bar:
        backend.set_meta(PENDING, target)
        wrote()
        for label, frame in plan.node_inserts.items():
            if len(frame):
                report.nodes_added[label] = backend.insert_nodes(label, _arrow(frame))
                bar.update(1)
                wrote()
        for label, frame in plan.node_updates.items():
            if len(frame):
                report.nodes_updated[label] = backend.update_nodes(label, _arrow(frame))
                bar.update(1)
                wrote()
        for rel_type, frame in plan.rel_inserts.items():
            if len(frame):
                report.relationships_added[rel_type] = backend.insert_relationships(
                    rel_type, _rel_arrow(backend, rel_type, frame))
                bar.update(1)
                wrote()
        for rel_type, frame in plan.rel_updates.items():
            if len(frame):
                report.relationships_updated[rel_type] = _update_rels(backend, rel_type, frame)
                bar.update(1)
                wrote()
        backend.set_meta(REVISION, target)
        wrote()
        backend.set_meta(PENDING, "")
        wrote()
    report.revision, report.changed = target, True
    return report


def _number_interactions(backend: Backend, plan: _Plan) -> None:
    """New interactions get their ingest sequence numbers (``INTERACTED.seq``) in staged order,
    which is source order, after every number in the graph (``kgrec.kg.interaction_order``)."""
    frame = plan.rel_inserts.get("INTERACTED")
    if frame is not None and len(frame):
        plan.rel_inserts["INTERACTED"] = frame.assign(seq=numbered(backend, len(frame)))


class _FaultPoint:
    """Fault injection for the crash test: with ``KGREC_FAULT_KILL_AFTER_WRITES=N`` the process
    kills itself (SIGKILL, as ``kill -9``) right after its N-th write statement."""

    def __init__(self):
        value = os.environ.get("KGREC_FAULT_KILL_AFTER_WRITES")
        self.limit = int(value) if value else None
        self.done = 0

    def __call__(self) -> None:
        self.done += 1
        if self.limit is not None and self.done >= self.limit:
            os.kill(os.getpid(), signal.SIGKILL)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)


def _rel_arrow(backend: Backend, rel_type: str, frame: pd.DataFrame) -> pa.Table:
    props = backend.schema.rel(rel_type).properties
    cols, names = [_string_array(frame["src"]), _string_array(frame["dst"])], ["src", "dst"]
    for p, typ in props.items():
        if p in frame.columns:
            s = frame[p]
            if typ == "INT64":
                arr = pa.array(pd.to_numeric(s, errors="coerce").astype("Int64"), type=pa.int64())
            elif typ == "DOUBLE":
                arr = pa.array(pd.to_numeric(s, errors="coerce").astype(float), type=pa.float64(), from_pandas=True)
            else:
                arr = _string_array(s)
            cols.append(arr)
            names.append(p)
    return pa.table(cols, names=names).combine_chunks()  # one chunk a column: the engine copies it faster


def _string_array(s: pd.Series) -> pa.Array:
    try:
        arr = pa.array(s, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(s.astype(object).where(s.notna(), None).tolist())
    return arr.cast(pa.string())


def _update_rels(backend: Backend, rel_type: str, frame: pd.DataFrame) -> int:
    if rel_type != "INTERACTED":  # the only relationship type with updatable properties
        return 0
    ts = (
        pd.to_numeric(frame["timestamp"], errors="coerce")
        if "timestamp" in frame.columns
        else pd.Series(np.nan, index=frame.index)
    )
    behavior = frame["behavior"] if "behavior" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    rows = [
        {"src": str(s), "dst": str(d), "timestamp": _TS_NONE if pd.isna(t) else int(t),
         "behavior": "" if b is None or pd.isna(b) else str(b), "rating": float(r)}
        for s, d, t, b, r in zip(frame["src"], frame["dst"], ts, behavior,
                                 pd.to_numeric(frame["rating"]).to_numpy(dtype=float))
    ]
    for start in range(0, len(rows), UPDATE_BATCH):
        backend.run("update_interactions", {"rows": rows[start : start + UPDATE_BATCH]}, write=True)
    return len(rows)
