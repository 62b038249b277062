"""One model trained with several seeds, in one run, and read back as a group.

Layout on disk (``kgctl train --model bpr --seeds 1,2,3 --out OUT``)::

    OUT/seeds.json     manifest: model, hyperparameters, snapshot, each seed's folder and status
                       (``status`` trained/pending; ``finished``: false while a time-capped seed can
                       still be continued with ``kgctl train --resume OUT``)
    OUT/seed-1/        one checkpoint per seed (the layout of any checkpoint)
    OUT/seed-2/ ...

The manifest is rewritten atomically after every seed, so an interrupted run leaves the finished
seeds usable and says which are missing. ``kgctl evaluate OUT`` (or some of the seed folders)
evaluates every trained seed and adds the mean and spread over the seeds.

    from kgrec.models.workflows.seeds import train_seeds, find_seed_set
    run = train_seeds(ds, "bpr", {"epochs": 20}, [1, 2, 3], out="runs/bpr")
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kgrec.errors import KgrecError
from kgrec.models.training.checkpoint import write_json_atomic

MANIFEST = "seeds.json"
MANIFEST_VERSION = 1
TRAINED, PENDING = "trained", "pending"


def seed_folder(seed: int) -> str:
    return f"seed-{seed}"


def check_seeds(seeds: list[int] | tuple[int, ...]) -> list[int]:
    """The seeds as a list; a clear error when there are none or one repeats."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise KgrecError("no seeds given", "e.g. --seeds 1,2,3")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise KgrecError(f"seed {repeated[0]} is given twice", "give each seed once, e.g. --seeds 1,2,3")
    return seeds


@dataclasses.dataclass
class SeedRecord:
    seed: int
    folder: str
    status: str = PENDING
    seconds: float | None = None
    finished: bool = False  # trained to its end (early stopping or all epochs), not stopped by max_seconds


@dataclasses.dataclass
class Manifest:
    """``OUT/seeds.json``: one place that writes and reads it."""

    model: str
    hparams: dict[str, Any]
    snapshot_id: str
    seeds: list[int]
    records: list[SeedRecord]

    def payload(self) -> dict[str, Any]:
        return {"version": MANIFEST_VERSION, "model": self.model, "hparams": self.hparams,
                "snapshot_id": self.snapshot_id, "seeds": self.seeds,
                "runs": [dataclasses.asdict(r) for r in self.records]}


def _record(r: dict[str, Any]) -> SeedRecord:
    status = str(r.get("status", PENDING))
    # manifests from before ``finished`` existed: a trained seed counted as finished
    return SeedRecord(int(r["seed"]), str(r["folder"]), status, r.get("seconds"),
                      bool(r.get("finished", status == TRAINED)))


def read_manifest(path: str | Path) -> Manifest:
    """The manifest in folder ``path``; a clear error when it is missing or unreadable."""
    manifest = Path(path) / MANIFEST
    try:
        meta = json.loads(manifest.read_text())
        return Manifest(str(meta["model"]), dict(meta.get("hparams") or {}), str(meta.get("snapshot_id")),
                        [int(s) for s in meta.get("seeds", [])], [_record(r) for r in meta["runs"]])
    except FileNotFoundError:
        raise KgrecError(f"no seed manifest {manifest}", "train with kgctl train --seeds") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise KgrecError(f"cannot read the seed manifest {manifest}: {exc}", "re-run kgctl train --seeds") from None


@dataclasses.dataclass
class SeedRun:
    """What ``train_seeds`` returns: each seed's TrainResult (by seed) and the manifest path."""

    model: str
    records: list[SeedRecord]
    results: dict[int, Any]  # seed -> pipeline.TrainResult
    manifest: Path | None


def train_seeds(
    ds,
    name: str,
    hparams: dict[str, Any] | None,
    seeds: list[int] | tuple[int, ...],
    *,
    out: str | Path | None = None,
    nproc: int = 1,
    progress: bool = True,
    announce: Callable[[str], None] | None = None,
) -> SeedRun:
    """Train model ``name`` once per seed with the same hyperparameters; checkpoints go to
    ``out/seed-<seed>`` and the manifest to ``out/seeds.json`` (nothing is written with
    ``out=None``). ``announce`` receives one line per seed as it starts."""
    from kgrec.models.workflows.pipeline import train_model

    seeds = check_seeds(seeds)
    hparams = dict(hparams or {})
    say = announce or (lambda text: None)
    records = [SeedRecord(s, seed_folder(s)) for s in seeds]
    manifest = Path(out) / MANIFEST if out is not None else None

    def write() -> None:
        if manifest is not None:
            write_json_atomic(manifest, Manifest(name, hparams, ds.snapshot_id, seeds, records).payload())

    write()
    results = {}
    for k, record in enumerate(records, 1):
        say(f"{name}: training seed {record.seed}, {k} of {len(records)}")
        started = time.perf_counter()
        results[record.seed] = train_model(ds, name, hparams, seed=record.seed,
                                           out=None if out is None else Path(out) / record.folder,
                                           nproc=nproc, progress=progress)
        record.status, record.seconds = TRAINED, time.perf_counter() - started
        record.finished = not results[record.seed].history.get("stopped_by_time", False)
        write()
    return SeedRun(name, records, results, manifest)


# ====================================================================== reading a run back
@dataclasses.dataclass
class SeedSet:
    """The seeds stored under one folder (from its manifest)."""

    path: Path
    model: str
    records: list[SeedRecord]

    @property
    def trained(self) -> list[SeedRecord]:
        return [r for r in self.records if r.status == TRAINED]

    def record_of(self, folder: Path) -> SeedRecord | None:
        for r in self.records:
            if r.folder == folder.name:
                return r
        return None


def find_seed_set(path: str | Path) -> SeedSet | None:
    """The seed set whose manifest is in folder ``path``, or None when there is none."""
    path = Path(path)
    if not (path / MANIFEST).is_file():
        return None
    meta = read_manifest(path)
    return SeedSet(path, meta.model, meta.records)


@dataclasses.dataclass(frozen=True)
class CheckpointEntry:
    """One checkpoint folder to evaluate; ``seed_set`` is set when it is one seed of a set."""

    path: Path
    seed_set: Path | None = None
    seed: int | None = None


def expand_checkpoints(paths: list[str] | tuple[str, ...]) -> tuple[list[CheckpointEntry], list[str]]:
    """The checkpoint folders behind ``paths``: a seed-set folder becomes its trained seeds, a
    seed folder given on its own is tagged with its set; other folders stay as they are.
    Also returns notes on seeds a run has not finished (to print as warnings)."""
    entries: list[CheckpointEntry] = []
    notes: list[str] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        found = find_seed_set(path)
        if found is not None:
            if not found.trained:
                raise KgrecError(f"{path} holds no trained seed yet", "re-run kgctl train --seeds")
            missing = [r.seed for r in found.records if r.status != TRAINED]
            if missing:
                notes.append(f"{path}: seed {', '.join(map(str, missing))} not trained (the run stopped before it)")
            members = [CheckpointEntry(path / r.folder, path, r.seed) for r in found.trained]
        else:
            parent = find_seed_set(path.parent) if path.parent != path else None
            record = parent.record_of(path) if parent is not None else None
            members = [CheckpointEntry(path, path.parent, record.seed) if record is not None else CheckpointEntry(path)]
        for entry in members:
            key = entry.path.resolve()
            if key not in seen:
                seen.add(key)
                entries.append(entry)
    return entries, notes
