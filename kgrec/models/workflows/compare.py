"""What ``kgctl evaluate`` runs: load the checkpoints (seed sets expanded, ablations found), train
the ``--model`` names, evaluate everything on the same test users, and describe the uncertainty
(intervals, spread over seeds, paired comparison with a baseline).

    from kgrec.models.workflows.compare import evaluate_run
    run = evaluate_run(ds, ["runs/bpr", "runs/lightgcn"], ["pop"], baseline="pop")
    run.report, run.statistics
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

from kgrec.errors import KgrecError
from kgrec.models.base import Recommender, get_model_class
from kgrec.models.evaluation.ablation_table import AblationTable
from kgrec.models.evaluation.bootstrap import BootstrapSettings
from kgrec.models.evaluation.protocol import DEFAULT_NEGATIVE_SEED, PROTOCOLS, Phase, phase
from kgrec.models.evaluation.segments import (
    SEGMENTINGS,
    Segmenting,
    SegmentStatistics,
    describe_segments,
    kg_segments,
    popularity_segments,
)
from kgrec.models.evaluation.uncertainty import SeedGroup, Statistics, describe
from kgrec.models.workflows.ablation import evaluate_ablations, find_ablations
from kgrec.models.workflows.pipeline import (
    Evaluation,
    evaluate_models_per_user,
    load_trained,
    train_model,
)
from kgrec.models.workflows.seeds import expand_checkpoints

DEFAULT_BOOTSTRAP = BootstrapSettings()


@dataclasses.dataclass
class EvaluationRun:
    evaluation: Evaluation
    statistics: Statistics | None  # None when intervals were switched off
    tables: list[AblationTable]
    histories: dict[str, dict[str, Any]]  # label -> training history (for the plots)
    segments: list[SegmentStatistics] = dataclasses.field(default_factory=list)

    @property
    def report(self) -> dict[str, dict[str, dict[str, float]]]:
        return self.evaluation.report


def _unique(label: str, taken: set[str], path: Path | None = None) -> str:
    if label not in taken:
        return label
    for candidate in ([f"{label} ({path.name})", f"{label} ({path})"] if path is not None else []) + [
        f"{label} (trained now)"
    ]:
        if candidate not in taken:
            return candidate
    k = 2
    while f"{label} #{k}" in taken:
        k += 1
    return f"{label} #{k}"


def evaluate_run(
    ds,
    checkpoints: list[str] | tuple[str, ...] = (),
    train_models: list[str] | tuple[str, ...] = (),
    *,
    epochs: int | None = None,
    seed: int = 42,
    protocols: tuple[str, ...] = PROTOCOLS,
    negative_seed: int = DEFAULT_NEGATIVE_SEED,
    baseline: str | None = None,
    bootstrap: BootstrapSettings | None = DEFAULT_BOOTSTRAP,
    force: bool = False,
    progress: bool = True,
    segments: list[str] | tuple[str, ...] = (),
) -> EvaluationRun:
    """Evaluate checkpoint folders (a seed-set folder counts as all its seeds) and models trained
    now from ``train_models`` on the test interactions. ``baseline`` names one of them: a label of
    the report, a seed set's label, or a folder as given in ``checkpoints``. With ``bootstrap``
    None no intervals or comparisons are computed. ``segments`` names segmentings of the test
    users (``popularity``, ``kg``; ``kgrec.models.evaluation.segments``): each segment gets its
    own metrics, intervals and comparison."""
    if not checkpoints and not train_models:
        raise KgrecError("nothing to evaluate", "give checkpoint folders (from kgctl train) or --model NAME")
    if baseline is not None and bootstrap is None:
        raise KgrecError("a baseline comparison needs bootstrap resamples", "drop --resamples 0 or --baseline")
    if segments and bootstrap is None:
        raise KgrecError("segments are reported with their intervals, which need bootstrap resamples",
                         "drop --resamples 0 or --segment")
    segmentings = []
    if segments:
        test = phase(ds.split, "test")
        segmentings = [segmenting_of(ds, test, name) for name in dict.fromkeys(segments)]
    for name in train_models:
        get_model_class(name)
    entries, notes = expand_checkpoints(checkpoints)
    for note in notes:
        warnings.warn(note, stacklevel=2)

    models: dict[str, Recommender] = {}
    histories: dict[str, dict[str, Any]] = {}
    metas: dict[str, dict] = {}
    found_ablations = []
    members: dict[Path, list[tuple[int, str, str]]] = {}  # seed-set folder -> (seed, label, model name)
    label_of_path: dict[Path, str] = {}
    for entry in entries:
        name, model, meta = load_trained(ds, entry.path, force=force)
        base = name if entry.seed is None else f"{name}/seed-{entry.seed}"
        # a seed of a set is told apart by its set's folder, as the set's own label is
        label = _unique(base, set(models), entry.path if entry.seed_set is None else entry.seed_set)
        models[label], metas[label] = model, meta
        histories[label] = meta.get("metrics", {}).get("history", {})
        label_of_path[entry.path.resolve()] = label
        if entry.seed_set is not None:
            assert entry.seed is not None  # set together with seed_set (expand_checkpoints)
            members.setdefault(entry.seed_set.resolve(), []).append((entry.seed, label, name))
        found = find_ablations(entry.path)
        if found is not None:
            found_ablations.append((label, found, meta))

    groups = []
    taken = set(models)
    for folder, seeded in members.items():
        if len(seeded) < 2:
            label_of_path[folder] = seeded[0][1]
            continue
        label = _unique(seeded[0][2], taken, folder)
        taken.add(label)
        groups.append(SeedGroup(label, str(folder), tuple(s for s, _, _ in seeded), tuple(lbl for _, lbl, _ in seeded)))
        label_of_path[folder] = label
    planned = {}
    for name in train_models:
        planned[name] = _unique(name, taken)
        taken.add(planned[name])

    if baseline is not None:
        baseline = _resolve_baseline(baseline, taken, label_of_path)

    for name, label in planned.items():
        hp = {"epochs": epochs} if epochs else {}
        result = train_model(ds, name, hp, seed=seed, progress=progress)
        models[label], histories[label] = result.model, result.history

    evaluation = evaluate_models_per_user(ds, models, protocols, negative_seed)
    tables = [evaluate_ablations(ds, label, found, {p: evaluation.report[p][label] for p in protocols}, protocols,
                                 negative_seed, full_meta=meta, force=force)
              for label, found, meta in found_ablations]
    statistics = None
    if bootstrap is not None:
        statistics = describe(
            evaluation.report, evaluation.per_user, groups=groups, baseline=baseline, settings=bootstrap
        )
    segment_stats = []
    if bootstrap is not None and segmentings:
        segment_stats = describe_segments(
            evaluation.per_user, segmentings, groups=groups, baseline=baseline, settings=bootstrap
        )
    return EvaluationRun(evaluation, statistics, tables, histories, segment_stats)


def segmenting_of(ds, test: Phase, name: str) -> Segmenting:
    """The test users of ``ds`` (its ``test`` phase) cut by ``name`` (one of ``SEGMENTINGS``)."""
    if name == "popularity":
        return popularity_segments(test.known, test.held_out)
    if name == "kg":
        kg = ds.graph_inputs(("kg",)).kg
        assert kg is not None  # asked for
        return kg_segments(kg, test.held_out)
    raise KgrecError(f"unknown segmenting {name!r}", f"choose from {', '.join(SEGMENTINGS)}")


def _resolve_baseline(name: str, labels: set[str], label_of_path: dict[Path, str]) -> str:
    if name in labels:
        return name
    by_path = label_of_path.get(Path(name).resolve())
    if by_path is not None:
        return by_path
    raise KgrecError(f"unknown baseline {name!r}: it is not among the evaluated models",
                     f"choose one of: {', '.join(sorted(labels))}; or a checkpoint folder given to evaluate")
