"""The graph index persisted per graph snapshot beside the database, loaded by memory map.

A one-shot ``kgctl recommend`` used to build the whole ``GraphIndex`` on every call (exporting
every interaction); a server restart did the same. The index depends only on the graph's content,
so after a build it is written to ``<database>.index/<key>/`` (one ``.npy`` file per array, JSON
for the name lists) and the next process whose graph has the same key maps the files instead of
reading the graph again. The key covers the store's change token (the database and WAL files'
identity, size and modification time: any commit or checkpoint moves it; where a store has none,
the snapshot id, counts plus the revision every ingest bumps), the parts of the index read and
the hub degree. A new key means a rebuild; older entries are removed when a new one is written.
Writes go to a temporary folder renamed into place, so a reader never sees half an index.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from kgrec.kg.backend import Backend
from kgrec.serve.embeddings import EmbeddingIndex, _Modality
from kgrec.serve.graph_index import GraphIndex, IndexPart

log = logging.getLogger("kgrec.serve.index")

FORMAT = 2
_IDS = ("user_ids", "product_ids", "entity_ids")
_LISTS = ("titles", "attr_label", "attr_ids", "attr_names", "relation_names", "entity_names")
_SKIP = {
    "generation",
    "snapshot",
    "revision",
    "user_pos",
    "product_pos",
    "embeddings",
    "build_seconds",
    "stage_seconds",
    "parts",
    "change_token",
    *_LISTS,
    *_IDS,
}


def index_dir(db: str) -> Path:
    """Where the index of the embedded database at ``db`` is kept."""
    path = Path(db)
    return path.with_name(path.name + ".index")


def index_key(backend: Backend, parts: frozenset[IndexPart], hub_degree: int) -> str:
    """The graph state's key: the change token where the store has one (any commit moves it; a
    few ``stat`` calls), else the snapshot id (counting queries)."""
    token = backend.change_token()
    state = repr(token) if token is not None else backend.snapshot_id()
    payload = json.dumps(
        {"format": FORMAT, "state": state, "parts": sorted(p.value for p in parts), "hub_degree": hub_degree},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def save(index: GraphIndex, directory: Path, key: str) -> Path | None:
    """Write ``index`` as ``directory/key`` (atomically); older entries are removed. Returns the
    folder, or None when it could not be written (a read-only location: the index is then only
    in memory, which is logged, never an error)."""
    target = directory / key
    if target.exists():
        return target
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=directory))
    except OSError as exc:
        log.info("graph index not persisted (%s): %s", directory, exc)
        return None
    try:
        for f in dataclasses.fields(index):
            if f.name not in _SKIP:
                np.save(tmp / f"{f.name}.npy", np.asarray(getattr(index, f.name)), allow_pickle=False)
        for name in _IDS:
            np.save(tmp / f"{name}.npy", np.asarray(getattr(index, name).tolist(), dtype=str), allow_pickle=False)
        for name, m in index.embeddings.modalities.items():
            for part in ("matrix", "pos", "row_of"):
                np.save(tmp / f"emb_{name}_{part}.npy", getattr(m, part), allow_pickle=False)
        meta = {
            "format": FORMAT,
            "snapshot": index.snapshot,
            "revision": index.revision,
            "parts": sorted(p.value for p in index.parts),
            "modalities": sorted(index.embeddings.modalities),
            **{name: list(getattr(index, name)) for name in _LISTS},
        }
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False))
        try:
            os.replace(tmp, target)
        except OSError:  # another process wrote the same key first
            shutil.rmtree(tmp, ignore_errors=True)
        for old in directory.iterdir():
            if old.name != key and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
        return target
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        log.info("graph index not persisted (%s): %s", directory, exc)
        return None


def load(directory: Path, key: str, generation: int) -> GraphIndex | None:
    """The index stored under ``key``, its arrays memory-mapped; None when there is none (or it
    cannot be read: it is then rebuilt)."""
    folder = directory / key
    if not (folder / "meta.json").exists():
        return None
    t0 = time.perf_counter()
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format") != FORMAT:
            return None

        def array(name: str) -> np.ndarray:
            return np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)

        values: dict[str, Any] = {f.name: array(f.name) for f in dataclasses.fields(GraphIndex) if f.name not in _SKIP}
        ids: dict[str, Any] = {name: array(name) for name in _IDS}
        modalities = {
            m: _Modality(array(f"emb_{m}_matrix"), array(f"emb_{m}_pos"), array(f"emb_{m}_row_of"))
            for m in meta["modalities"]
        }
    except (OSError, ValueError, KeyError) as exc:
        log.info("stored graph index %s unreadable, rebuilding: %s", folder, exc)
        return None
    user_ids, product_ids = ids["user_ids"], ids["product_ids"]
    index = GraphIndex(
        generation=generation, snapshot=meta["snapshot"], revision=meta.get("revision"), **ids, **values,
        user_pos={u: i for i, u in enumerate(user_ids.tolist())},
        product_pos={p: i for i, p in enumerate(product_ids.tolist())},
        **{name: meta[name] for name in _LISTS},
        embeddings=EmbeddingIndex(product_ids, modalities),
        parts=frozenset(IndexPart(p) for p in meta["parts"]),
    )
    index.build_seconds = time.perf_counter() - t0
    index.stage_seconds = {"loaded": round(index.build_seconds, 4)}
    return index


def load_or_build(backend: Backend, directory: Path | None, *, generation: int, hub_degree: int,
                  parts: frozenset[IndexPart]) -> GraphIndex:
    """The stored index of this graph state when there is one, else a fresh build (then stored)."""
    if directory is None:
        return GraphIndex.build(backend, generation=generation, hub_degree=hub_degree, parts=parts)
    key = index_key(backend, parts, hub_degree)
    index = load(directory, key, generation)
    if index is not None:
        log.info("graph index loaded from %s in %.3f s", directory / key, index.build_seconds)
        return index
    index = GraphIndex.build(backend, generation=generation, hub_degree=hub_degree, parts=parts)
    save(index, directory, key)
    return index
