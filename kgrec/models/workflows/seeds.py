"""One model trained with several seeds, in one run, and read back as a group.

Layout on disk (``kgctl train --model bpr --seeds 1,2,3 --out OUT``)::

    OUT/seeds.json     manifest: model, hyperparameters, snapshot, each seed's folder and status
                       (``status`` trained/pending; ``finished``: false while a time-capped seed can
                       still be continued with ``kgctl train --resume OUT``)
    OUT/seed-1/        one checkpoint per seed (the layout of any checkpoint)
    OUT/seed-2/ ...

The manifest is rewritten atomically after every seed, so an interrupted run leaves the finished
seeds usable and says which are missing. Runs trained separately (``kgctl train --seed S --out
DIR``, one at a time or on different machines) become such a set with ``group_seeds`` (``kgctl
group-seeds OUT DIR...``): the manifest then names each member folder relative to OUT.
``kgctl evaluate OUT`` (or some of the seed folders) evaluates every trained seed and adds the
mean and spread over the seeds.

    from kgrec.models.workflows.seeds import train_seeds, find_seed_set, group_seeds
    run = train_seeds(ds, "bpr", {"epochs": 20}, [1, 2, 3], out="runs/bpr")
    group_seeds("runs/sasrec-set", ["runs/sasrec-s1", "runs/sasrec-s2", "runs/sasrec-s3"])
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kgrec.errors import KgrecError
from kgrec.models.training.checkpoint import model_class_of, read_meta, write_json_atomic

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


def finished_training(history: dict[str, Any]) -> bool:
    """A run trained to its end (early stopping or all its epochs), not stopped by ``max_seconds``."""
    return not history.get("stopped_by_time", False)


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
        record.finished = finished_training(results[record.seed].history)
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

    def trained_folders(self) -> list[Path]:
        """The folders of the trained seeds; a clear error when there is none yet."""
        if not self.trained:
            raise KgrecError(f"{self.path} holds no trained seed yet",
                             "train or resume it first (kgctl train --resume)")
        return [self.path / r.folder for r in self.trained]

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
            folders = found.trained_folders()
            missing = [r.seed for r in found.records if r.status != TRAINED]
            if missing:
                notes.append(f"{path}: seed {', '.join(map(str, missing))} not trained (the run stopped before it)")
            members = [CheckpointEntry(f, path, r.seed) for f, r in zip(folders, found.trained)]
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


# ====================================================================== grouping separate runs
# training settings that do not change what a run learns; members of a group may differ in them
RUN_CONTROL = frozenset({"seed", "verbose", "prefetch", "max_seconds"})


@dataclasses.dataclass(frozen=True)
class GroupMember:
    """One separately trained run that joins a seed group."""

    path: Path
    model: str
    seed: int
    snapshot_id: str
    hparams: dict[str, Any]
    seconds: float | None
    finished: bool


def _member(path: Path) -> GroupMember:
    meta = read_meta(path)
    config = meta.get("config") or {}
    # a setting added to the model after the run was trained counts at its default value
    try:
        defaults = model_class_of(path).defaults
    except (OSError, ValueError, KeyError) as exc:
        raise KgrecError(f"cannot read {path / 'model.json'}: {exc}", "give folders written by kgctl train") from None
    hparams = {**defaults, **(config.get("hparams") or {})}
    seed = config.get("seed", hparams.get("seed"))
    if seed is None:
        raise KgrecError(f"{path}/checkpoint.json records no seed", "retrain it with kgctl train --seed S")
    history = (meta.get("metrics") or {}).get("history") or {}
    return GroupMember(path, str(meta.get("model")), int(seed), str(meta.get("snapshot_id")),
                       {k: v for k, v in hparams.items() if k not in RUN_CONTROL},
                       history.get("train_seconds"), finished_training(history))


def _members_of(raw: str | Path) -> list[Path]:
    """A checkpoint folder is one member; a seed-set folder (its manifest) gives its trained seeds."""
    path = Path(raw)
    found = find_seed_set(path)
    return [path] if found is None else found.trained_folders()


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    def shown(d: dict[str, Any], k: str) -> str:
        return repr(d[k]) if k in d else "unset"

    return [f"{k}={shown(b, k)} (not {shown(a, k)})" for k in sorted(set(a) | set(b))
            if k not in a or k not in b or a[k] != b[k]]


def group_seeds(out: str | Path, runs: list[str | Path] | tuple[str | Path, ...]) -> SeedSet:
    """Make ``out`` a seed set over separately trained ``runs`` (checkpoint folders, or seed-set
    folders whose trained seeds all join): one model, one graph snapshot, the same hyperparameters
    (settings in ``RUN_CONTROL`` aside) and a different seed each. ``kgctl evaluate out`` then
    reports the mean and spread over the seeds and, with ``--baseline``, the pooled comparison.
    Only ``out/seeds.json`` is written (the runs stay where they are, named relative to ``out``);
    re-running replaces it. A clear error, and nothing written, when the runs do not form a group."""
    out = Path(out)
    paths: list[Path] = []
    seen: set[Path] = set()
    for raw in runs:
        for path in _members_of(raw):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                paths.append(path)
    if len(paths) < 2:
        raise KgrecError("a seed group needs at least two runs", "give two or more checkpoint folders")
    if out.exists() and not out.is_dir():
        raise KgrecError(f"{out} is a file", "give a folder for the group")
    if out.is_dir():
        other = sorted(p.name for p in out.iterdir() if p.name != MANIFEST and not p.name.startswith(f".{MANIFEST}."))
        if other:
            raise KgrecError(f"{out} already holds {', '.join(other[:3])}{' ...' if len(other) > 3 else ''}",
                             "group the runs into a new folder (only a group's seeds.json may be replaced)")
    members = [_member(p) for p in paths]
    first = members[0]
    by_seed: dict[int, GroupMember] = {}
    for m in members:
        if m.model != first.model:
            raise KgrecError(f"{m.path} holds a {m.model} model, {first.path} a {first.model} model",
                             "a seed group repeats one model; group each model separately")
        if m.snapshot_id != first.snapshot_id:
            raise KgrecError(f"{m.path} was trained on graph snapshot {m.snapshot_id}, {first.path} on "
                             f"{first.snapshot_id}", "retrain the runs on the same graph")
        if m.seed in by_seed:
            raise KgrecError(f"seed {m.seed} is in {by_seed[m.seed].path} and in {m.path}",
                             "a seed group needs a different seed per run")
        differ = _differences(first.hparams, m.hparams)
        if differ:
            raise KgrecError(f"{m.path} differs from {first.path} in {', '.join(differ)}",
                             "a seed group repeats one configuration; only the seed may differ")
        by_seed[m.seed] = m
    ordered = [by_seed[s] for s in sorted(by_seed)]
    records = [SeedRecord(m.seed, os.path.relpath(m.path.resolve(), out.resolve()), TRAINED, m.seconds, m.finished)
               for m in ordered]
    write_json_atomic(out / MANIFEST, Manifest(first.model, first.hparams, first.snapshot_id,
                                               [m.seed for m in ordered], records).payload())
    return SeedSet(out, first.model, records)
