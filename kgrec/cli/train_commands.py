"""kgctl train / evaluate / tune / export recbole: thin wrappers over kgrec.models.workflows.pipeline."""

from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path

import click

from kgrec.errors import KgrecError


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _params(pairs: tuple[str, ...], *, lists: bool = False) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected name=value, got {pair!r}", param_hint="--param")
        out[key.replace("-", "_")] = [_parse_value(v) for v in value.split(",")] if lists else _parse_value(value)
    return out


def _model_names() -> list[str]:
    from kgrec.models.base import model_names

    return model_names()


def _hparam_options(f):
    for name, typ, text in reversed([
        ("epochs", int, "Maximum epochs (early stopping on validation NDCG@10 may stop sooner)."),
        ("lr", float, "Learning rate (Adam)."),
        ("dim", int, "Embedding size."),
        ("layers", int, "Graph or transformer layers."),
        ("batch-size", int, "Training batch size."),
        ("patience", int, "Validations without improvement before stopping."),
    ]):
        f = click.option(f"--{name}", type=typ, default=None, help=text + " Default: the model's tuned value.")(f)
    return click.option(
        "--param",
        "-p",
        "params",
        multiple=True,
        metavar="NAME=VALUE",
        help="Any other model hyperparameter, e.g. -p dropout=0.2; repeatable. -p lr_schedule=cosine decays the "
        "learning rate from --lr to 0 over the epochs (default: constant). kgbm4rec: -p preset=large is the "
        "configuration for catalogues with many interactions per item (width 128, side branches closed at "
        "the start and gated by popularity; chosen on ML-1M), -p preset=default the ML-100k one; "
        "kgctl tune --model kgbm4rec chooses between them on validation. -p gnn_sampler=cypher "
        "-p fanout=15,10 trains the GNN on subgraphs sampled from the database (for knowledge graphs "
        "too large to hold in memory); the default gnn_sampler=full is exact and faster where the graph fits.",
    )(f)


def _collect(epochs, lr, dim, layers, batch_size, patience, params) -> dict:
    values = {"epochs": epochs, "lr": lr, "dim": dim, "layers": layers, "batch_size": batch_size, "patience": patience}
    values = {k: v for k, v in values.items() if v is not None}
    values.update(_params(params))
    return values


def _open_dataset(obj):
    from kgrec.models.workflows.pipeline import load_dataset

    backend = obj.open(read_only=True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = load_dataset(backend)
        for w in caught:
            click.echo(f"warning: {w.message}", err=True)
        return backend, ds
    except BaseException:
        backend.close()
        raise


@click.command()
@click.option(
    "--model", "-m", "model_name", default=None, metavar="NAME",
    help="Model to train (an unknown name lists the available ones); required unless --resume.",
)
@_hparam_options
@click.option("--seed", type=int, default=None, help="Random seed (default: the `seed` setting, 42).")
@click.option("--seeds", "seed_list", default=None, metavar="S1,S2,...",
              help="Train once per seed (same hyperparameters): checkpoints OUT/seed-S1, OUT/seed-S2, ... and the "
                   "manifest OUT/seeds.json; `kgctl evaluate OUT` then shows the mean and spread over the seeds.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Checkpoint folder to write (default runs/NAME).")
@click.option("--nproc", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Local DDP processes (gloo on CPU, NCCL on GPU). Multi-node: see docs/train-evaluate.md (torchrun).")
@click.option("--ablations", is_flag=True,
              help="Also train one variant per ablation switch of the model (kgbm4rec: no_kg, no_seq, no_text, "
                   "no_image), same seed and hyperparameters, saved under OUT/ablations/SWITCH; `kgctl evaluate OUT` "
                   "then prints the ablation table. A modality the data lacks is not retrained.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Continue the run whose --out folder is DIR (or every unfinished seed of a --seeds folder) from "
                   "its next epoch, with its own model, hyperparameters, seed and early stopping. Refused when the "
                   "graph changed since; a finished run has nothing to do. Only -p max_seconds=N (a fresh time budget "
                   "for this invocation, 0: none) and --epochs N (train a run that reached its epochs on to N in all, "
                   "as if it had been started with N) may be given.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def train(
    obj,
    model_name,
    epochs,
    lr,
    dim,
    layers,
    batch_size,
    patience,
    params,
    seed,
    seed_list,
    out,
    nproc,
    ablations,
    resume_dir,
    quiet,
    as_json,
) -> None:
    """Train a model on the graph's temporal leave-one-out training part and save a checkpoint.

    Validation (each user's second-last interaction) drives early stopping on full-ranking
    NDCG@10; the test interaction is never seen. Models: pop, bpr, lightgcn, sasrec, bert4rec,
    cke, textknn, biasmf (and any registered later).

    With --ablations (models with ablation switches, e.g. kgbm4rec) the full model is saved at
    OUT as usual and each variant under OUT/ablations/SWITCH; `kgctl evaluate OUT` adds the
    ablation table (full, without KG, without sequence, without text, without image).

    With --seeds 1,2,3 the model is trained once per seed into OUT/seed-1, OUT/seed-2, ... (plus
    the manifest OUT/seeds.json); `kgctl evaluate OUT` evaluates every seed and adds the mean,
    standard deviation, min and max over them.

    Neural models write a resumable training state into OUT after every epoch; --resume OUT
    continues a run that was stopped (by -p max_seconds=N, or killed) where it left off, with
    the same result as an uninterrupted run. -p max_seconds=N with --resume gives this
    invocation N seconds of training; --epochs N with --resume trains a run that reached its
    epochs on to N epochs in all (the result of N epochs in one go; not for a run that
    stopped early).

    \b
    Example:
      kgctl train --model lightgcn --epochs 100 --out runs/lightgcn
      kgctl train --model kgbm4rec --epochs 20 --ablations --out runs/kgbm4rec
      kgctl train --model bpr --seeds 1,2,3 --out runs/bpr
      kgctl evaluate runs/lightgcn runs/kgbm4rec runs/bpr --baseline bpr
      kgctl train --model sasrec --epochs 200 --out runs/sasrec -p max_seconds=3600
      kgctl train --resume runs/sasrec -p max_seconds=3600
      kgctl train --resume runs/sasrec --epochs 300
    """
    from kgrec.models.base import get_model_class
    from kgrec.models.training import distributed
    from kgrec.models.workflows.ablation import ablation_switches, train_ablations
    from kgrec.models.workflows.pipeline import train_model
    from kgrec.models.workflows.seeds import check_seeds

    if resume_dir is not None:
        given = {"--model": model_name, "--seed": seed, "--seeds": seed_list, "--out": out,
                 "--lr": lr, "--dim": dim, "--layers": layers, "--batch-size": batch_size, "--patience": patience,
                 "--ablations": ablations or None, "--nproc": None if nproc == 1 else nproc}
        clashes = [name for name, value in given.items() if value is not None]
        if clashes:
            raise click.BadParameter(
                f"--resume continues a run as it was started; drop {', '.join(clashes)}", param_hint="--resume"
            )
        extra = _params(params)
        if epochs is not None:
            extra["epochs"] = epochs
        _resume(obj, resume_dir, extra, quiet, as_json)
        return
    if model_name is None:
        raise click.UsageError("give --model NAME (or --resume DIR to continue a run)")
    get_model_class(model_name)  # unknown names fail before the database is read
    if ablations:
        ablation_switches(model_name)  # so does a model without ablation switches
    seeds = None
    if seed_list is not None:
        if seed is not None:
            raise click.BadParameter("give either --seed or --seeds", param_hint="--seeds")
        if ablations:
            raise click.BadParameter(
                "--seeds and --ablations cannot be combined; train the ablations per seed", param_hint="--seeds"
            )
        seeds = check_seeds(_seed_values(seed_list))
    hparams = _collect(epochs, lr, dim, layers, batch_size, patience, params)
    seed = obj.settings.seed if seed is None else seed
    out = out or str(Path("runs") / model_name)
    torchrun = distributed.init_from_env()
    lead = distributed.rank() == 0
    backend, ds = _open_dataset(obj)
    run = None
    with backend:
        if seeds is not None:
            _train_seeds(
                ds, model_name, hparams, seeds, out if lead else None, 1 if torchrun else nproc, quiet, as_json, lead
            )
            return
        kwargs = dict(seed=seed, out=out if lead else None, nproc=1 if torchrun else nproc, progress=not quiet)
        if ablations:
            run = train_ablations(ds, model_name, hparams, **kwargs,
                                  announce=lambda text: click.echo(text, err=True) if lead else None)
            result = run.full
        else:
            result = train_model(ds, model_name, hparams, **kwargs)
    if not lead:
        return
    summary = {
        "model": model_name, "checkpoint": str(result.checkpoint) if result.checkpoint else None,
        "best_epoch": result.history.get("best_epoch"), "epochs_run": result.history.get("epochs_run"),
        "seconds_per_epoch": result.history.get("seconds_per_epoch"), "valid": result.valid,
        "hparams": result.model.hparams,
    }
    if run is not None:
        summary["seconds"] = run.full_seconds
        summary["ablations"] = [_variant_summary(v, run) for v in run.variants]
    if as_json:
        click.echo(json.dumps(summary, default=str))
        return
    valid = ", ".join(f"{k} {v:.4f}" for k, v in result.valid.items() if k != "users")
    click.echo(f"trained {model_name}: best epoch {summary['best_epoch']} of {summary['epochs_run']}, "
               f"{summary['seconds_per_epoch'] or 0:.2f} s/epoch")
    click.echo(f"validation (full ranking): {valid or 'no validation users'}")
    click.echo(f"checkpoint: {summary['checkpoint']}")
    if run is not None:
        click.echo(_ablation_lines(run))


def _resume(obj, folder: str, params: dict, quiet: bool, as_json: bool) -> None:
    from kgrec.models.workflows.resume import resume

    backend, ds = _open_dataset(obj)
    with backend:
        outcome = resume(ds, folder, params=params, progress=not quiet,
                         announce=lambda text: click.echo(text, err=True))
    if as_json:
        rows = [
            {"folder": str(run.folder), "model": run.model, "seed": run.seed, "from_epoch": run.from_epoch,
             "status": run.status, "finished": run.finished, "note": run.note,
             "best_epoch": run.result.history.get("best_epoch") if run.result else None,
             "epochs_run": run.result.history.get("epochs_run") if run.result else None,
             "valid": run.result.valid if run.result else None}
            for run in outcome.runs
        ]
        manifest = str(outcome.manifest) if outcome.manifest else None
        click.echo(json.dumps({"folder": str(outcome.folder), "manifest": manifest, "runs": rows}, default=str))
        return
    for run in outcome.runs:
        click.echo(f"{run.model} seed {run.seed} ({run.folder}): {run.note}")
        if run.result is not None:
            valid = ", ".join(f"{k} {v:.4f}" for k, v in run.result.valid.items() if k != "users")
            click.echo(f"  best epoch {run.result.history.get('best_epoch')}; validation (full ranking): "
                       f"{valid or 'no validation users'}")
    if outcome.manifest is not None:
        click.echo(f"manifest: {outcome.manifest}")


def _seed_values(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(
            f"expected whole numbers separated by commas, got {text!r}", param_hint="--seeds"
        ) from None


def _train_seeds(ds, model_name, hparams, seeds, out, nproc, quiet, as_json, lead) -> None:
    from kgrec.models.workflows.seeds import train_seeds

    run = train_seeds(ds, model_name, hparams, seeds, out=out, nproc=nproc, progress=not quiet,
                      announce=lambda text: click.echo(text, err=True) if lead else None)
    if not lead:
        return
    rows = []
    for record in run.records:
        result = run.results[record.seed]
        rows.append({"seed": record.seed, "checkpoint": str(result.checkpoint) if result.checkpoint else None,
                     "best_epoch": result.history.get("best_epoch"), "epochs_run": result.history.get("epochs_run"),
                     "seconds": record.seconds, "valid": result.valid})
    if as_json:
        click.echo(
            json.dumps(
                {
                    "model": model_name,
                    "seeds": seeds,
                    "manifest": str(run.manifest) if run.manifest else None,
                    "hparams": run.results[seeds[0]].model.hparams,
                    "runs": rows,
                },
                default=str,
            )
        )
        return
    click.echo(f"trained {model_name} with seeds {', '.join(map(str, seeds))}:")
    for row in rows:
        ndcg = row["valid"].get("NDCG@10")
        click.echo(f"  seed {row['seed']}: best epoch {row['best_epoch']} of {row['epochs_run']}, validation NDCG@10 "
                   f"{'-' if ndcg is None else f'{ndcg:.4f}'}, checkpoint {row['checkpoint']}")
    click.echo(f"manifest: {run.manifest}")


def _variant_summary(variant, run) -> dict:
    result = run.results.get(variant.switch)
    return {"switch": variant.switch, "label": variant.label, "status": variant.status, "note": variant.note or None,
            "seconds": variant.seconds, "valid": result.valid if result else None,
            "checkpoint": str(result.checkpoint) if result and result.checkpoint else None}


def _ablation_lines(run) -> str:
    """Validation NDCG@10 and seconds of the full model and each variant."""
    rows = [("full", run.full.valid.get("NDCG@10"), run.full_seconds, "")]
    for v in run.variants:
        result = run.results.get(v.switch)
        rows.append((v.label, result.valid.get("NDCG@10") if result else None, v.seconds, v.note))
    width = max(len(r[0]) for r in rows)
    lines = ["ablations (same seed and hyperparameters; validation NDCG@10, full ranking):"]
    for label, ndcg, seconds, note in rows:
        if note:
            lines.append(f"  {label.ljust(width)}  {note}")
        else:
            lines.append(f"  {label.ljust(width)}  {'-' if ndcg is None else f'{ndcg:.4f}'}  ({seconds or 0:.1f} s)")
    if run.manifest is not None:
        lines.append(f"ablation checkpoints: {run.manifest.parent}")
    return "\n".join(lines)


@click.command()
@click.argument("checkpoints", nargs=-1, type=click.Path(file_okay=False))
@click.option("--model", "-m", "train_models", multiple=True, metavar="NAME",
              help="Also train NAME now with its tuned defaults and evaluate it (repeatable; no checkpoint kept).")
@click.option("--epochs", type=int, default=None, help="Epoch cap for models trained with --model.")
@click.option("--seed", type=int, default=None, help="Seed for models trained with --model.")
@click.option("--protocol", type=click.Choice(["full", "sampled", "both"]), default="both", show_default=True,
              help="full: rank against all items; sampled: 1 positive + 99 fixed negatives.")
@click.option("--negative-seed", type=int, default=2024, show_default=True,
              help="Seed of the sampled negatives (same for every model).")
@click.option("--baseline", default=None, metavar="NAME",
              help="Compare every model with NAME (a model label of the table, a --model name, or a checkpoint "
                   "folder given here), paired over the same users: ratio of the metric, its 95%% CI "
                   "(paired bootstrap) and a p-value "
                   "(paired sign-flip permutation test); better/worse only when the CI excludes 1.0.")
@click.option("--resamples", type=click.IntRange(0, 1_000_000), default=1000, show_default=True,
              help="Bootstrap resamples of the users (also the permutations of the paired test); 0: no intervals.")
@click.option("--bootstrap-seed", type=int, default=0, show_default=True,
              help="Seed of the resamples and permutations.")
@click.option("--json", "fmt", flag_value="json",
              help='Print {"protocol": ..., "models": {name: {metric: value}}, "intervals": ..., '
              '"seeds": ..., "comparison": ...} (a list of those with both protocols), plus "ablations": '
              '{name: {"checkpoint": ..., "rows": [...]}} for checkpoints trained with --ablations.')
@click.option("--csv", "fmt", flag_value="csv",
              help="Print CSV: protocol, model, one column per metric, the CI columns, seed-group "
              "rows and the comparison columns (ablation variants as MODEL/SWITCH rows).")
@click.option("--csv-out", type=click.Path(dir_okay=False), default=None, help="Also write the CSV to this file.")
@click.option(
    "--plots", type=click.Path(file_okay=False), default=None,
    help="Write PNG plots (metric bars, training curves, ablation bars) to this folder.",
)
@click.option("--segment", "segments", multiple=True, type=click.Choice(["popularity", "kg"]),
              help="Also report the test users in segments, each with its intervals and --baseline comparison "
              "(repeatable): popularity = three groups of about equal size by how often the test item occurs "
              "in the known history (tail, middle, head); kg = test item linked to a knowledge-graph entity "
              "or not.")
@click.option("--force", is_flag=True, help="Use checkpoints trained on an older snapshot of the graph (warns).")
@click.pass_obj
def evaluate(
    obj,
    checkpoints,
    train_models,
    epochs,
    seed,
    protocol,
    negative_seed,
    baseline,
    resamples,
    bootstrap_seed,
    fmt,
    csv_out,
    plots,
    segments,
    force,
) -> None:
    """Evaluate checkpoints (and/or freshly trained --model NAMEs) on the test interactions.

    Temporal leave-one-out: each user's last interaction is the test item, the second-last the
    validation item. Items the user interacted with before are masked. Metrics: HR@1/5/10,
    NDCG@5/10, MRR, and MSE / like accuracy / like F1 (rating >= 4) for rating models. Every
    metric carries a 95% confidence interval (percentile bootstrap over the test users).

    A folder written by `kgctl train --seeds` evaluates every seed and adds the mean and spread
    (std, min, max) over the seeds. With --baseline NAME each model is compared with NAME on the
    same users. With --segment the same is reported per group of test users (by the test item's
    popularity, or by whether it is linked to the knowledge graph): where a model wins, not only
    whether it does on average.

    A checkpoint trained with `kgctl train --ablations` also evaluates its variants and prints an
    ablation table after the main one (full, without KG, without sequence, without text, without
    image; the same metrics and the change of NDCG@10 vs the full model).

    \b
    Example:
      kgctl evaluate runs/lightgcn runs/sasrec --plots runs/plots
      kgctl evaluate runs/kgbm4rec runs/lightgcn --model pop --baseline pop
      kgctl evaluate runs/bpr --model pop --json
      kgctl evaluate runs/sasrec runs/kgbm4rec --baseline runs/sasrec --segment popularity --segment kg
    """
    from kgrec.models.evaluation import plots as plotting
    from kgrec.models.evaluation import report as reporting
    from kgrec.models.evaluation.bootstrap import BootstrapSettings
    from kgrec.models.workflows.compare import evaluate_run

    if not checkpoints and not train_models:
        raise KgrecError("nothing to evaluate", "give checkpoint folders (from kgctl train) or --model NAME")
    protocols = ("full", "sampled") if protocol == "both" else (protocol,)
    bootstrap = BootstrapSettings(resamples, bootstrap_seed) if resamples else None
    backend, ds = _open_dataset(obj)
    with backend, _echo_warnings():
        run = evaluate_run(
            ds,
            checkpoints,
            train_models,
            epochs=epochs,
            seed=obj.settings.seed if seed is None else seed,
            protocols=protocols,
            negative_seed=negative_seed,
            baseline=baseline,
            bootstrap=bootstrap,
            force=force,
            segments=segments,
        )
    report, tables, stats = run.report, run.tables, run.statistics
    csv_text = reporting.render_csv(report, tables, stats, run.segments)
    if csv_out:
        Path(csv_out).parent.mkdir(parents=True, exist_ok=True)
        Path(csv_out).write_text(csv_text)
    if plots:
        written = plotting.metric_bars(report, plots)
        curves = plotting.training_curves(run.histories, plots)
        written += [curves] if curves else []
        written += plotting.ablation_bars(tables, plots)
        click.echo(f"plots: {', '.join(str(p) for p in written)}", err=True)
    if fmt == "json":
        click.echo(reporting.render_json(report, tables, stats, run.segments))
    elif fmt == "csv":
        click.echo(csv_text, nl=False)
    else:
        click.echo(reporting.render_table(report, stats=stats))
        if run.segments:
            click.echo("")
            click.echo(reporting.render_segments(run.segments))
        if tables:
            click.echo("")
            click.echo(reporting.render_ablation_tables(tables, protocols))


@contextlib.contextmanager
def _echo_warnings():
    """Print the warnings raised inside the block as `warning: ...` lines on stderr (library
    deprecation notices, e.g. from torch, are left out: users cannot act on them)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                if not issubclass(w.category, DeprecationWarning):
                    click.echo(f"warning: {w.message}", err=True)


@click.command()
@click.option("--model", "-m", "model_name", required=True, metavar="NAME", help="Model to tune.")
@click.option("--grid", "-g", "grid_pairs", multiple=True, metavar="NAME=V1,V2",
              help="Values to try for one hyperparameter (repeatable); default: the model's search space.")
@_hparam_options
@click.option("--seed", type=int, default=None, help="Seed used for every grid point.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Save the best model's checkpoint here.")
@click.option("--json", "as_json", is_flag=True, help="Print the grid results as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bars (the line per grid point still goes to stderr).")
@click.pass_obj
def tune(
    obj, model_name, grid_pairs, epochs, lr, dim, layers, batch_size, patience, params, seed, out, as_json, quiet
) -> None:
    """Grid-search hyperparameters on the validation set (full-ranking NDCG@10); the test set is
    not touched. Prints one row per grid point and the best setting. Without --grid, the model's
    own search space: for kgbm4rec its two presets (default, large), two trainings."""
    from kgrec.models.base import get_model_class
    from kgrec.models.training.checkpoint import save_checkpoint
    from kgrec.models.workflows.tune import tune as run_tune

    get_model_class(model_name)
    fixed = _collect(epochs, lr, dim, layers, batch_size, patience, params)
    space = _params(grid_pairs, lists=True) if grid_pairs else None
    seed = obj.settings.seed if seed is None else seed
    backend, ds = _open_dataset(obj)
    with backend:
        result = run_tune(ds, model_name, space, fixed, seed=seed, progress=not quiet,
                          announce=lambda text: click.echo(text, err=True))
    if out:
        model = result.best.model
        save_checkpoint(
            out, model, ds.data.user_ids, ds.data.item_ids, ds.snapshot_id,
            config={"model": model_name, "hparams": model.hparams, "seed": seed, "tuned": result.best_params},
            metrics={"valid": result.best.valid, "history": result.best.history, "grid": result.rows},
        )
    if as_json:
        click.echo(json.dumps({"model": model_name, "best": result.best_params, "grid": result.rows}, default=str))
        return
    keys = list(result.rows[0]) if result.rows else []
    click.echo("  ".join(keys))
    for row in result.rows:
        click.echo("  ".join(f"{row[k]:.4f}" if isinstance(row[k], float) else str(row[k]) for k in keys))
    click.echo(f"best on validation: {json.dumps(result.best_params)}")


@click.group()
def export() -> None:
    """Export data from the graph for other tools."""


@export.command("recbole")
@click.option(
    "--split", "out", required=True, type=click.Path(file_okay=False),
    help="Folder for the RecBole benchmark files of the temporal leave-one-out split.",
)
@click.option(
    "--name", default="kgrec", show_default=True, help="Dataset name (file prefix; the sequential copy is NAME-seq)."
)
@click.option("--max-len", type=int, default=50, show_default=True, help="History length in the sequential files.")
@click.pass_obj
def export_recbole(obj, out, name, max_len) -> None:
    """Write the exact split kgctl train/evaluate use as RecBole benchmark files:
    NAME.train/.valid/.test.inter (+ NAME.kg, NAME.link when the graph has KG edges) and
    NAME-seq/ with item_id_list histories for RecBole's sequential models.

    \b
    RecBole settings to read them (see benchmarks/recbole_side_by_side.py):
      benchmark_filename: [train, valid, test]
      eval_args: {split: {RS: [1.0, 0.0, 0.0]}, order: TO, group_by: user, mode: full}
    """
    from kgrec.models.data.interactions import KnowledgeGraphData
    from kgrec.models.data.recbole_export import export_split

    backend, ds = _open_dataset(obj)
    with backend:
        kg = KnowledgeGraphData.from_backend(backend, ds.data.item_ids)
        summary = export_split(ds.split, out, name, kg, max_len)
    click.echo(
        f"wrote {summary.folder} (train {summary.rows['train']}, valid {summary.rows['valid']}, test "
        f"{summary.rows['test']} "
        f"interactions; {summary.kg_triples} KG triples, {summary.linked_items} items linked to entities) and "
        f"{summary.seq_folder}"
    )


@click.command("group-seeds")
@click.argument("out", type=click.Path(file_okay=False))
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the group as JSON.")
def group_seeds(out, runs, as_json) -> None:
    """Group separately trained RUNS of one model into the seed set OUT.

    RUNS are checkpoint folders (`kgctl train --seed S --out DIR`, trained one at a time or on
    different machines) or seed-set folders (`kgctl train --seeds`), whose trained seeds all
    join. They must hold the same model, trained on the same graph snapshot with the same
    hyperparameters and a different seed each; anything else is refused with the difference
    named. Only OUT/seeds.json is written (the runs stay where they are) and a re-run replaces
    it, so a seed trained later is added by grouping again. `kgctl evaluate OUT` then treats the
    runs as one model: each seed, their mean and spread, and with --baseline the comparison
    pooled over the seeds.

    \b
    Example:
      kgctl train --model sasrec --seed 1 --out runs/sasrec-s1
      kgctl train --model sasrec --seed 2 --out runs/sasrec-s2
      kgctl group-seeds runs/sasrec runs/sasrec-s1 runs/sasrec-s2
      kgctl evaluate runs/sasrec runs/kgbm4rec --baseline sasrec
    """
    from kgrec.models.workflows.seeds import group_seeds as group

    grouped = group(out, list(runs))
    rows = [{"seed": r.seed, "folder": r.folder, "finished": r.finished} for r in grouped.records]
    if as_json:
        click.echo(json.dumps({"group": str(grouped.path), "model": grouped.model, "runs": rows}))
        return
    click.echo(f"seed group {grouped.path}: {grouped.model}, seeds {', '.join(str(r['seed']) for r in rows)}")
    for row in rows:
        late = "" if row["finished"] else " (stopped by its time budget; `kgctl train --resume` it to finish)"
        click.echo(f"  seed {row['seed']}: {row['folder']}{late}")
    click.echo(f"evaluate it with: kgctl evaluate {grouped.path}")


COMMANDS = [train, evaluate, tune, export, group_seeds]
