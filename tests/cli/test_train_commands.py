"""kgctl train / evaluate / tune / export recbole through click's runner, on a real database."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kgrec.cli.main import cli
from kgrec.kg import open_backend
from kgrec.models.workflows.seeds import RUN_CONTROL

SMALL = ["--dim", "8", "--batch-size", "32", "--epochs", "2"]


def _run(db, *args):
    result = CliRunner().invoke(cli, ["--db", db, *args], catch_exceptions=False)
    return result


def test_train_then_evaluate_json_csv_and_plots(tiny_db, tmp_path):
    out = tmp_path / "runs" / "lightgcn"
    r = _run(tiny_db, "train", "--model", "lightgcn", *SMALL, "--out", str(out), "--quiet")
    assert r.exit_code == 0, r.output
    assert "trained lightgcn" in r.output and (out / "checkpoint.json").exists()

    r = _run(tiny_db, "evaluate", str(out), "--model", "pop", "--json", "--plots", str(tmp_path / "plots"),
             "--csv-out", str(tmp_path / "m.csv"))
    assert r.exit_code == 0, r.output
    objects = json.loads(r.stdout)
    assert [o["protocol"] for o in objects] == ["full", "sampled"]
    assert set(objects[0]["models"]) == {"lightgcn", "pop"}
    assert 0 <= objects[0]["models"]["lightgcn"]["NDCG@10"] <= 1
    for obj in objects:  # every metric of every model carries its 95% interval
        intervals = obj["intervals"]
        assert intervals["level"] == 0.95 and intervals["resamples"] == 1000 and intervals["users"] == 16
        for name, metrics in obj["models"].items():
            for metric in ("HR@10", "NDCG@10", "MRR"):
                low, high = intervals["models"][name][metric]
                assert low <= metrics[metric] <= high
        assert "comparison" not in obj and "seeds" not in obj
    for png in ("metrics_full.png", "metrics_sampled.png", "training_curves.png"):
        assert (tmp_path / "plots" / png).stat().st_size > 1000
    rows = list(csv.DictReader(io.StringIO((tmp_path / "m.csv").read_text())))
    assert {(row["protocol"], row["model"]) for row in rows} == {
        (p, m) for p in ("full", "sampled") for m in ("lightgcn", "pop")
    }

    r = _run(tiny_db, "evaluate", str(out), "--protocol", "full", "--json")
    single = json.loads(r.stdout)
    assert single["protocol"] == "full" and list(single["models"]) == ["lightgcn"]

    r = _run(tiny_db, "evaluate", str(out))
    assert "full: full ranking" in r.output and "sampled: 1 positive + 99" in r.output and "NDCG@10" in r.output


def test_rating_model_reports_rating_metrics(tiny_db):
    r = _run(tiny_db, "evaluate", "--model", "biasmf", "--epochs", "2", "--protocol", "full", "--json")
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.stdout)["models"]["biasmf"]
    assert {"MSE", "like_accuracy", "like_F1"} <= set(metrics)


def test_bad_input_gives_one_clear_line(tiny_db, db_path, tmp_path):
    r = _run(tiny_db, "train", "--model", "nope")
    assert r.exit_code != 0 and "unknown model 'nope'" in r.output and "Traceback" not in r.output
    empty = str(tmp_path / "empty.db")
    assert _run(empty, "init").exit_code == 0
    r = _run(empty, "train", "--model", "pop")
    assert r.exit_code != 0 and "nothing to train on" in r.output
    r = _run(tiny_db, "evaluate", str(tmp_path / "missing"))
    assert r.exit_code != 0 and "no checkpoint" in r.output
    r = _run(tiny_db, "evaluate")
    assert r.exit_code != 0 and "nothing to evaluate" in r.output


def test_stale_checkpoint_refused_then_forced(tiny_db, tmp_path):
    import pyarrow as pa

    out = str(tmp_path / "pop")
    assert _run(tiny_db, "train", "--model", "pop", "--out", out).exit_code == 0
    with open_backend(tiny_db) as b:
        b.insert_relationships("INTERACTED", pa.table({"src": ["u0"], "dst": ["p1"], "timestamp": [99999]}))
        b.set_meta("revision", "tiny-2")
    r = _run(tiny_db, "evaluate", out)
    assert r.exit_code != 0 and "graph snapshot" in r.output and "--force" in r.output
    r = _run(tiny_db, "evaluate", out, "--force", "--protocol", "full")
    assert r.exit_code == 0, r.output


def test_tune_picks_on_validation(tiny_db):
    r = _run(tiny_db, "tune", "--model", "textknn", "--grid", "recent=0,2", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [row["recent"] for row in out["grid"]] == [0, 2]
    best = max(out["grid"], key=lambda row: row["valid_NDCG@10"])
    assert out["best"] == {"recent": best["recent"]}
    assert "tune textknn: training recent=0, 1 of 2" in r.stderr and "training recent=2, 2 of 2" in r.stderr


def test_export_recbole_writes_the_split(tiny_db, tmp_path):
    r = _run(tiny_db, "export", "recbole", "--split", str(tmp_path / "rb"), "--name", "tiny")
    assert r.exit_code == 0, r.output
    folder = tmp_path / "rb" / "tiny"
    lines = {p: (folder / f"tiny.{p}.inter").read_text().splitlines() for p in ("train", "valid", "test")}
    assert lines["train"][0] == "user_id:token\titem_id:token\trating:float\ttimestamp:float"
    assert len(lines["valid"]) - 1 == len(lines["test"]) - 1 == 16  # every tiny user has >= 6 interactions
    assert (folder / "tiny.kg").exists() and (folder / "tiny.link").exists()
    seq = (tmp_path / "rb" / "tiny-seq" / "tiny-seq.test.inter").read_text().splitlines()
    assert seq[0].startswith("user_id:token\titem_id_list:token_seq\titem_id:token")


def test_cli_module_runs_as_a_process(tiny_db):
    """The entry point docs/train-evaluate.md uses (``python -m kgrec.cli.main``), in a real subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "kgrec.cli.main", "--db", tiny_db, "evaluate", "--model", "pop", "--csv"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("protocol,model,HR@1")


def test_users_with_one_interaction_train_with_a_warning(db_path):
    import pyarrow as pa

    with open_backend(db_path) as b:
        b.init_schema()
        b.insert_nodes("User", pa.table({"id": ["a", "b"]}))
        b.insert_nodes("Product", pa.table({"id": ["x", "y"]}))
        b.insert_relationships("INTERACTED", pa.table({"src": ["a", "b"], "dst": ["x", "y"], "timestamp": [1, 2]}))
    r = _run(db_path, "train", "--model", "bpr", "--epochs", "1", "--quiet", "--out", str(Path(db_path).parent / "bpr"))
    assert r.exit_code == 0, r.output
    assert "warning: no user has 3 or more interactions" in r.output
    r = _run(db_path, "evaluate", str(Path(db_path).parent / "bpr"))
    assert r.exit_code != 0 and "at least 3 interactions" in r.output


def test_train_seeds_then_evaluate_shows_spread_intervals_and_the_baseline(tiny_db, tmp_path):
    out = tmp_path / "bpr"
    r = _run(tiny_db, "train", "--model", "bpr", "--dim", "8", "--batch-size", "32", "--epochs", "1", "--seeds", "1,2",
             "--out", str(out), "--quiet")
    assert r.exit_code == 0, r.output
    assert "seed 1:" in r.output and "seed 2:" in r.output
    manifest = json.loads((out / "seeds.json").read_text())
    assert manifest["model"] == "bpr" and manifest["seeds"] == [1, 2]
    assert [(run["seed"], run["folder"], run["status"]) for run in manifest["runs"]] == [
        (1, "seed-1", "trained"),
        (2, "seed-2", "trained"),
    ]
    for seed in (1, 2):
        assert json.loads((out / f"seed-{seed}" / "checkpoint.json").read_text())["config"]["seed"] == seed

    r = _run(tiny_db, "evaluate", str(out), "--model", "pop", "--baseline", "pop", "--protocol", "full", "--json",
             "--resamples", "300", "--csv-out", str(tmp_path / "m.csv"))
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    members = ["bpr/seed-1", "bpr/seed-2"]
    assert list(obj["models"]) == [*members, "pop"]
    assert set(obj["intervals"]["models"]) == {*members, "pop", "bpr"}
    spread = obj["seeds"]["bpr"]
    assert spread["seeds"] == [1, 2] and spread["models"] == members and spread["checkpoint"] == str(out.resolve())
    values = [obj["models"][m]["NDCG@10"] for m in members]
    assert spread["mean"]["NDCG@10"] == pytest.approx(sum(values) / 2)
    assert spread["min"]["NDCG@10"] == min(values) and spread["max"]["NDCG@10"] == max(values)
    assert spread["std"]["NDCG@10"] == pytest.approx(abs(values[0] - values[1]) / 2 ** 0.5)
    low, high = spread["interval"]["NDCG@10"]
    assert low <= spread["mean"]["NDCG@10"] <= high
    comparison = obj["comparison"]
    assert comparison["baseline"] == "pop" and comparison["test"] == "paired sign-flip permutation test"
    assert set(comparison["models"]) == {*members, "bpr"}
    pop_mrr = obj["models"]["pop"]["MRR"]
    for label in members:
        c = comparison["models"][label]["MRR"]
        assert c["value"] == pytest.approx(obj["models"][label]["MRR"]) and c["baseline"] == pytest.approx(pop_mrr)
        assert c["ratio"] == pytest.approx(c["value"] / pop_mrr)
        assert c["low"] <= c["ratio"] <= c["high"] and 0 < c["p"] <= 1
        assert c["verdict"] in {"better", "worse", "inconclusive"}
        assert (c["verdict"] != "inconclusive") == ((c["low"] > 1 or c["high"] < 1) and c["p"] < 0.05)

    rows = list(csv.DictReader(io.StringIO((tmp_path / "m.csv").read_text())))
    assert [(row["model"], row["row"]) for row in rows] == [
        ("bpr/seed-1", "model"),
        ("bpr/seed-2", "model"),
        ("pop", "model"),
        *(("bpr", f"seed_{s}") for s in ("mean", "std", "min", "max")),
    ]
    by_kind = {(row["model"], row["row"]): row for row in rows}
    mean_row = by_kind[("bpr", "seed_mean")]
    assert mean_row["seeds"] == "1;2" and float(mean_row["NDCG@10"]) == pytest.approx(
        spread["mean"]["NDCG@10"], abs=1e-6
    )
    assert float(mean_row["NDCG@10_ci_low"]) == pytest.approx(low, abs=1e-6)
    seed_row = by_kind[("bpr/seed-1", "model")]
    assert seed_row["seeds"] == "1" and seed_row["baseline"] == "pop"
    assert float(seed_row["MRR_ratio"]) == pytest.approx(comparison["models"]["bpr/seed-1"]["MRR"]["ratio"], abs=1e-6)
    assert seed_row["MRR_verdict"] == comparison["models"]["bpr/seed-1"]["MRR"]["verdict"]
    assert by_kind[("pop", "model")]["MRR_ratio"] == ""  # the baseline is not compared with itself

    # the seed folders given one by one form the same group; the baseline may be a folder
    r = _run(tiny_db, "evaluate", str(out / "seed-1"), str(out / "seed-2"), "--baseline", str(out / "seed-1"),
             "--protocol", "full", "--resamples", "300")
    assert r.exit_code == 0, r.output
    assert "mean and spread over seeds" in r.output and "paired comparison with bpr/seed-1" in r.output
    assert "95% CI" in r.output and "sign-flip permutation test" in r.output

    # an interrupted run: the seeds it finished are evaluated, the missing one is named
    manifest["runs"][1]["status"] = "pending"
    (out / "seeds.json").write_text(json.dumps(manifest))
    r = _run(tiny_db, "evaluate", str(out), "--protocol", "full", "--json", "--resamples", "100")
    assert r.exit_code == 0, r.output
    assert "warning: " in r.stderr and "seed 2 not trained" in r.stderr
    obj = json.loads(r.stdout)
    assert list(obj["models"]) == ["bpr/seed-1"] and "seeds" not in obj


BPR1 = ["--model", "bpr", "--dim", "8", "--batch-size", "32", "--epochs", "1", "--quiet"]


def test_group_seeds_makes_separate_runs_one_seed_set(tiny_db, tmp_path):
    runs = {s: tmp_path / ("runs" if s < 3 else "later") / f"bpr-s{s}" for s in (1, 2, 3)}
    for seed, out in runs.items():
        assert _run(tiny_db, "train", *BPR1, "--seed", str(seed), "--out", str(out)).exit_code == 0
    together = tmp_path / "together"
    assert _run(tiny_db, "train", *BPR1, "--seeds", "1,2", "--out", str(together)).exit_code == 0

    group = tmp_path / "sets" / "bpr"
    r = _run(tiny_db, "group-seeds", str(group), str(runs[2]), str(runs[1]), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"group": str(group), "model": "bpr", "runs": [
        {"seed": 1, "folder": "../../runs/bpr-s1", "finished": True},
        {"seed": 2, "folder": "../../runs/bpr-s2", "finished": True}]}
    manifest = json.loads((group / "seeds.json").read_text())
    assert manifest["seeds"] == [1, 2] and manifest["model"] == "bpr"
    trained = json.loads((runs[1] / "checkpoint.json").read_text())["config"]["hparams"]
    assert manifest["hparams"] == {k: v for k, v in trained.items() if k not in RUN_CONTROL}
    assert manifest["hparams"]["epochs"] == 1 and manifest["hparams"]["dim"] == 8
    assert sorted(p.name for p in group.iterdir()) == ["seeds.json"]  # the runs stay where they are

    def evaluated(folder):
        r = _run(tiny_db, "evaluate", str(folder), "--protocol", "full", "--json", "--resamples", "200")
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)

    # the same seeds trained apart or in one --seeds run: the same group, the same numbers
    apart, one_run = evaluated(group), evaluated(together)
    assert apart["models"] == one_run["models"] and list(apart["models"]) == ["bpr/seed-1", "bpr/seed-2"]
    assert apart["seeds"]["bpr"]["mean"] == one_run["seeds"]["bpr"]["mean"]
    assert apart["seeds"]["bpr"]["interval"] == one_run["seeds"]["bpr"]["interval"]
    # two sets of one model side by side: each seed is told apart by its set's folder
    r = _run(tiny_db, "evaluate", str(group), str(together), "--protocol", "full", "--json", "--resamples", "100")
    assert r.exit_code == 0, r.output
    both = json.loads(r.stdout)
    assert list(both["models"]) == ["bpr/seed-1", "bpr/seed-2", "bpr/seed-1 (together)", "bpr/seed-2 (together)"]
    assert list(both["seeds"]) == ["bpr", "bpr (together)"]

    # a seed trained later joins by grouping again, the group itself given as a run
    r = _run(tiny_db, "group-seeds", str(group), str(group), str(runs[3]))
    assert r.exit_code == 0 and "seeds 1, 2, 3" in r.output, r.output
    assert evaluated(group)["seeds"]["bpr"]["seeds"] == [1, 2, 3]

    # a setting the model gained after a run was trained counts at its default
    meta = json.loads((runs[1] / "checkpoint.json").read_text())
    del meta["config"]["hparams"]["reg"]
    (runs[1] / "checkpoint.json").write_text(json.dumps(meta))
    assert _run(tiny_db, "group-seeds", str(tmp_path / "old-and-new"), str(runs[1]), str(runs[2])).exit_code == 0

    pop, two_epochs = tmp_path / "pop", tmp_path / "bpr-e2"
    assert _run(tiny_db, "train", "--model", "pop", "--out", str(pop)).exit_code == 0
    r = _run(tiny_db, "train", *[a if a != "1" else "2" for a in BPR1], "--seed", "4", "--out", str(two_epochs))
    assert r.exit_code == 0, r.output
    before = (group / "seeds.json").read_text()
    for args, message in (
        ([runs[1], pop], "holds a pop model"),
        ([runs[1], two_epochs], "differs from"),
        ([runs[1], together / "seed-1"], "seed 1 is in"),
        ([runs[1]], "at least two runs"),
        ([runs[1], tmp_path], "no checkpoint at"),
    ):
        r = _run(tiny_db, "group-seeds", str(group), *map(str, args))
        assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output, r.output
    assert "epochs=2 (not 1)" in _run(tiny_db, "group-seeds", str(group), str(runs[1]), str(two_epochs)).output
    assert (group / "seeds.json").read_text() == before  # a refused group writes nothing
    r = _run(tiny_db, "group-seeds", str(together), str(runs[1]), str(runs[2]))
    assert r.exit_code != 0 and "already holds seed-1" in r.output and "new folder" in r.output


def test_seed_and_baseline_mistakes_give_one_clear_line(tiny_db, tmp_path):
    out = str(tmp_path / "pop")
    for args, message in (
        (["--seeds", "1,x"], "expected whole numbers"),
        (["--seeds", "1,2,1"], "seed 1 is given twice"),
        (["--seeds", "1,2", "--seed", "3"], "either --seed or --seeds"),
    ):
        r = _run(tiny_db, "train", "--model", "pop", *args, "--out", out)
        assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output, r.output
    r = _run(tiny_db, "evaluate", "--model", "pop", "--baseline", "nope")
    assert r.exit_code != 0 and "unknown baseline 'nope'" in r.output and "pop" in r.output
    r = _run(tiny_db, "evaluate", "--model", "pop", "--baseline", "pop", "--resamples", "0")
    assert r.exit_code != 0 and "needs bootstrap resamples" in r.output
    r = _run(tiny_db, "evaluate", "--model", "pop", "--resamples", "0", "--protocol", "full", "--json")
    assert r.exit_code == 0 and "intervals" not in json.loads(r.stdout)


BPR3 = ["--model", "bpr", "--dim", "8", "--batch-size", "16", "--epochs", "3", "--patience", "50", "--quiet"]


def test_resume_continues_a_time_capped_run_to_the_result_of_one_go(tiny_db, tmp_path, one_torch_thread):
    import pyarrow as pa

    r = _run(tiny_db, "train", *BPR3, "--out", str(tmp_path / "whole"), "--json")
    assert r.exit_code == 0, r.output
    whole = json.loads(r.stdout)

    out = str(tmp_path / "steps")
    r = _run(tiny_db, "train", *BPR3, "--out", out, "-p", "max_seconds=1e-9")
    assert r.exit_code == 0 and "best epoch 1 of 1" in r.output, r.output
    # a plain resume applies the run's own max_seconds again (one more epoch here) ...
    r = _run(tiny_db, "train", "--resume", out, "--quiet")
    assert r.exit_code == 0, r.output
    assert "resumed at epoch 2, now at epoch 2: out of time again" in r.output, r.output
    # ... -p max_seconds=0 lifts it for this invocation
    r = _run(tiny_db, "train", "--resume", out, "-p", "max_seconds=0", "--json", "--quiet")
    assert r.exit_code == 0, r.output
    (run,) = json.loads(r.stdout)["runs"]
    assert run["from_epoch"] == 2 and run["finished"] and run["status"] == "reached_epochs"
    assert run["epochs_run"] == 3 and run["valid"] == whole["valid"] and run["best_epoch"] == whole["best_epoch"]

    r = _run(tiny_db, "train", "--resume", out)
    assert r.exit_code == 0 and "nothing to do: the run finished at epoch 3 (reached its 3 epochs" in r.output
    # --epochs trains the finished run on, as one go of 4 epochs would
    four = str(tmp_path / "four")
    r = _run(tiny_db, "train", *[a if a != "3" else "4" for a in BPR3], "--out", four, "--json")
    assert r.exit_code == 0, r.output
    one_go = json.loads(r.stdout)
    r = _run(tiny_db, "train", "--resume", out, "--epochs", "4", "--json", "--quiet")
    assert r.exit_code == 0, r.output
    (run,) = json.loads(r.stdout)["runs"]
    assert run["from_epoch"] == 3 and run["epochs_run"] == 4 and run["status"] == "reached_epochs"
    assert run["valid"] == one_go["valid"] and run["best_epoch"] == one_go["best_epoch"]
    r = _run(tiny_db, "train", "--resume", out, "--epochs", "2")
    assert r.exit_code != 0 and "already trained 4 epochs" in r.output and "Traceback" not in r.output

    for args, message in (
        (["--resume", out, "--model", "bpr", "--epochs", "5"], "drop --model"),
        (["--resume", out, "-p", "lr=0.1"], "cannot change lr"),
        (["--resume", str(tmp_path / "nowhere")], "no training run at"),
        (["--epochs", "2"], "give --model NAME (or --resume DIR"),
    ):
        r = _run(tiny_db, "train", *args)
        assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output, r.output
    pop = str(tmp_path / "pop")
    assert _run(tiny_db, "train", "--model", "pop", "--out", pop).exit_code == 0
    r = _run(tiny_db, "train", "--resume", pop)
    assert r.exit_code != 0 and "no resumable training state" in r.output and "Traceback" not in r.output

    with open_backend(tiny_db) as b:
        b.insert_relationships("INTERACTED", pa.table({"src": ["u0"], "dst": ["p1"], "timestamp": [99999]}))
        b.set_meta("revision", "tiny-2")
    r = _run(tiny_db, "train", "--resume", out)
    assert r.exit_code != 0 and "graph snapshot" in r.output and "train it again" in r.output
    assert "Traceback" not in r.output


def test_resume_a_seed_set_continues_the_unfinished_seeds(tiny_db, tmp_path, one_torch_thread):
    out = tmp_path / "seeds"
    r = _run(tiny_db, "train", *BPR3, "--seeds", "1,2,3", "--out", str(out), "-p", "max_seconds=1e-9")
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "seeds.json").read_text())
    assert [(run["status"], run["finished"]) for run in manifest["runs"]] == [("trained", False)] * 3
    # seed 3 never started (the run was killed before it)
    import shutil

    shutil.rmtree(out / "seed-3")
    manifest["runs"][2].update(status="pending", seconds=None)
    (out / "seeds.json").write_text(json.dumps(manifest))
    # seed 1 is resumed to its end on its own first
    r = _run(tiny_db, "train", "--resume", str(out / "seed-1"), "-p", "max_seconds=0", "--quiet")
    assert r.exit_code == 0 and "reached its epochs" in r.output, r.output

    r = _run(tiny_db, "train", "--resume", str(out), "-p", "max_seconds=0", "--quiet", "--json")
    assert r.exit_code == 0, r.output
    runs = {run["seed"]: run for run in json.loads(r.stdout)["runs"]}
    assert runs[1]["note"].startswith("nothing to do") and runs[1]["valid"] is None
    assert runs[2]["from_epoch"] == 1 and runs[2]["finished"] and runs[2]["epochs_run"] == 3
    assert runs[3]["note"] == "trained from the start" and runs[3]["finished"] and runs[3]["epochs_run"] == 3
    manifest = json.loads((out / "seeds.json").read_text())
    assert [(run["status"], run["finished"]) for run in manifest["runs"]] == [("trained", True)] * 3
    r = _run(tiny_db, "train", "--resume", str(out))
    assert r.exit_code == 0 and r.output.count("nothing to do") == 3 and "manifest:" in r.output
    # --epochs trains every seed of the set on, and the manifest records the new total
    r = _run(tiny_db, "train", "--resume", str(out), "--epochs", "4", "--quiet", "--json")
    assert r.exit_code == 0, r.output
    assert [(run["from_epoch"], run["epochs_run"]) for run in json.loads(r.stdout)["runs"]] == [(3, 4)] * 3
    manifest = json.loads((out / "seeds.json").read_text())
    assert manifest["hparams"]["epochs"] == 4 and all(run["finished"] for run in manifest["runs"])
    r = _run(tiny_db, "evaluate", str(out), "--protocol", "full", "--resamples", "50", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["seeds"]["bpr"]["seeds"] == [1, 2, 3]


def test_evaluate_by_segment_reports_each_group_of_users_with_intervals_and_the_baseline(tiny_db, tmp_path):
    args = ["evaluate", "--model", "pop", "--model", "bpr", "--epochs", "2", "--seed", "1", "--baseline", "pop",
            "--resamples", "200", "--segment", "popularity", "--segment", "kg"]
    r = _run(tiny_db, *args, "--json", "--csv-out", str(tmp_path / "s.csv"))
    assert r.exit_code == 0, r.output
    objects = json.loads(r.stdout)
    assert [o["protocol"] for o in objects] == ["full", "sampled"]
    for obj in objects:
        segments = obj["segments"]
        by_cut: dict[str, list] = {}
        for s in segments:
            by_cut.setdefault(s["segmenting"], []).append(s)
        assert [s["segment"] for s in by_cut["kg"]] == ["linked", "unlinked"]
        assert [s["segment"] for s in by_cut["popularity"]][0] == "tail"
        for cut in by_cut.values():  # each cut covers every test user once
            assert sum(s["users"] for s in cut) == obj["models"]["pop"]["users"]
            for metric in ("NDCG@10", "HR@10"):  # the users' weighted segment values give the overall value
                overall = sum(s["models"]["bpr"][metric] * s["users"] for s in cut) / obj["models"]["bpr"]["users"]
                assert overall == pytest.approx(obj["models"]["bpr"][metric])
        for s in segments:
            assert s["models"]["bpr"]["users"] == s["users"] and s["description"]
            assert set(s["intervals"]["models"]) == {"pop", "bpr"} and s["intervals"]["users"] == s["users"]
            c = s["comparison"]["models"]["bpr"]["NDCG@10"]
            assert s["comparison"]["baseline"] == "pop" and c["verdict"] in {"better", "worse", "inconclusive",
                                                                              "undefined"}
    rows = list(csv.DictReader(io.StringIO((tmp_path / "s.csv").read_text())))
    named = {f"{s['segmenting']}:{s['segment']}" for s in objects[0]["segments"]}
    assert {"kg:linked", "kg:unlinked", "popularity:tail"} <= named
    assert {row["segment"] for row in rows} == {""} | named  # "": the overall rows
    for name in named:  # a row per protocol and model in every segment
        assert sorted((row["protocol"], row["model"]) for row in rows if row["segment"] == name) == [
            ("full", "bpr"), ("full", "pop"), ("sampled", "bpr"), ("sampled", "pop")]
    tail = [row for row in rows if row["segment"] == "popularity:tail" and row["protocol"] == "full"]
    assert [row["model"] for row in tail] == ["pop", "bpr"]
    first = next(s for s in objects[0]["segments"] if s["segment"] == "tail")
    assert float(tail[1]["NDCG@10"]) == pytest.approx(first["models"]["bpr"]["NDCG@10"], abs=1e-6)
    assert tail[1]["NDCG@10_verdict"] == first["comparison"]["models"]["bpr"]["NDCG@10"]["verdict"]

    r = _run(tiny_db, *args, "--protocol", "full")
    assert r.exit_code == 0, r.output
    assert "full: test users by how often the test item occurs in the known history" in r.output
    assert "full: test users by whether the test item is linked to the knowledge graph" in r.output
    assert "NDCG@10 vs pop" in r.output and "linked: test item linked to a knowledge-graph entity" in r.output


def test_segment_mistakes_give_one_clear_line(tiny_db):
    from kgrec.cli.train_commands import evaluate
    from kgrec.models.evaluation.segments import SEGMENTINGS

    option = next(p for p in evaluate.params if p.name == "segments")
    assert tuple(option.type.choices) == SEGMENTINGS  # the CLI offers what the library knows
    r = _run(tiny_db, "evaluate", "--model", "pop", "--segment", "kg", "--resamples", "0")
    assert r.exit_code != 0 and "need bootstrap resamples" in r.output and "Traceback" not in r.output
    r = _run(tiny_db, "evaluate", "--model", "pop", "--segment", "nope")
    assert r.exit_code != 0 and "nope" in r.output and "popularity" in r.output
