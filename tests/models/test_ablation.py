"""Ablation runs on the tiny real embedded graph (KG + text, no image vectors): the layout on
disk, skipped modalities, idempotent re-runs, interrupted runs, and the ablation table."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from kgrec.errors import KgrecError
from kgrec.models.evaluation import report as reporting
from kgrec.models.training.checkpoint import load_checkpoint
from kgrec.models.workflows.ablation import (
    ABLATIONS_DIR,
    MANIFEST,
    ablation_switches,
    evaluate_ablations,
    find_ablations,
    skip_reason,
    train_ablations,
)
from kgrec.models.workflows.pipeline import evaluate_models, load_dataset, load_trained, train_model
from tests.models._kgbm_graph import build_tiny_graph

TINY = dict(dim=16, max_len=8, n_layers=1, n_heads=2, dropout=0.0, gnn_dropout=0.0, batch_size=8, eval_every=1,
            patience=100, verbose=False, lr=5e-3, epochs=2)
ROWS = ["full", "without KG", "without sequence", "without text", "without image"]
NO_IMAGE = "image: not in the data (the full model ran without it)"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def ds(backend):
    build_tiny_graph(backend)
    return load_dataset(backend)


def _hidden(folder):
    return sorted(p.name for p in folder.rglob(".*"))


def test_switches_and_refusal_for_a_model_without_them():
    assert ablation_switches("kgbm4rec") == {
        "no_kg": "kg", "no_seq": "sequence", "no_text": "text", "no_image": "image",
    }
    with pytest.raises(KgrecError) as err:
        ablation_switches("lightgcn")
    assert "lightgcn has no ablation switches" in err.value.message and "kgbm4rec" in err.value.hint


def test_skip_reason_from_the_full_models_modalities():
    assert skip_reason("no_kg", "kg", "on") is None
    assert skip_reason("no_kg", "kg", "on (interaction graph only: no KG relations in the data)") is None
    assert skip_reason("no_image", "image", "off (no Product.image_emb in the graph; run `kgctl embed`)") == NO_IMAGE
    assert skip_reason("no_text", "text", "off (no_text)") == "text: switched off in the full model too (no_text)"
    assert skip_reason("no_seq", "sequence", None) is None  # a model that does not report a modality: train it


def test_layout_on_disk_and_same_hparams_plus_the_switch(ds, tmp_path):
    out = tmp_path / "runs" / "kgbm4rec"
    lines = []
    run = train_ablations(ds, "kgbm4rec", TINY, seed=5, out=out, progress=False, announce=lines.append)
    assert [v.status for v in run.variants] == ["trained", "trained", "trained", "skipped"]
    assert run.variants[3].note == NO_IMAGE and set(run.results) == {"no_kg", "no_seq", "no_text"}
    assert any("training no_seq (without sequence), 2 of 3" in line for line in lines)
    assert any("skipping no_image" in line for line in lines)
    # the full checkpoint is where kgctl recommend --model OUT looks, unchanged
    full = load_checkpoint(out, ds.snapshot_id)
    assert full.meta["model"] == "kgbm4rec" and full.model.modalities["image"].startswith("off (no Product.image_emb")
    assert sorted(p.name for p in (out / ABLATIONS_DIR).iterdir()) == [MANIFEST, "no_kg", "no_seq", "no_text"]
    assert _hidden(tmp_path) == []  # no temporary folders or files left behind
    manifest = json.loads((out / ABLATIONS_DIR / MANIFEST).read_text())
    assert manifest["seed"] == 5 and manifest["snapshot_id"] == ds.snapshot_id
    assert manifest["full"]["modalities"] == full.model.modalities
    for switch, modality in [("no_kg", "kg"), ("no_seq", "sequence"), ("no_text", "text")]:
        ck = load_checkpoint(out / ABLATIONS_DIR / switch, ds.snapshot_id)
        assert ck.meta["config"]["seed"] == 5
        assert ck.meta["config"]["hparams"] == {**full.meta["config"]["hparams"], switch: True}
        assert ck.model.modalities[modality] == f"off ({switch})"
        assert ck.meta["metrics"]["history"]["modalities"] == ck.model.modalities


def test_rerun_is_idempotent_and_a_plain_retrain_drops_stale_ablations(ds, tmp_path):
    out = tmp_path / "k"
    first = train_ablations(ds, "kgbm4rec", TINY, seed=1, out=out, progress=False)
    manifest = json.loads((out / ABLATIONS_DIR / MANIFEST).read_text())
    scores = {s: first.results[s].model.score(np.arange(ds.data.n_users)) for s in first.results}
    train_ablations(ds, "kgbm4rec", TINY, seed=1, out=out, progress=False)
    again = json.loads((out / ABLATIONS_DIR / MANIFEST).read_text())
    strip = lambda m: {**m, "full": {**m["full"], "seconds": None},
                       "variants": [{**v, "seconds": None} for v in m["variants"]]}
    assert strip(again) == strip(manifest)
    for switch, expected in scores.items():
        _, model, _ = load_trained(ds, out / ABLATIONS_DIR / switch)
        np.testing.assert_allclose(model.score(np.arange(ds.data.n_users)), expected, rtol=1e-5, atol=1e-6)
    assert _hidden(tmp_path) == []
    # retraining only the full model replaces OUT as a whole: no ablations of another run beside it
    train_model(ds, "kgbm4rec", TINY, seed=2, out=out, progress=False)
    assert find_ablations(out) is None and not (out / ABLATIONS_DIR).exists()


def test_the_ablation_table(ds, tmp_path):
    out = tmp_path / "k"
    train_ablations(ds, "kgbm4rec", TINY, seed=3, out=out, progress=False)
    label, full_model, meta = load_trained(ds, out)
    protocols = ("full", "sampled")
    report = evaluate_models(ds, {label: full_model}, protocols, 2024)
    table = evaluate_ablations(
        ds, label, find_ablations(out), {p: report[p][label] for p in protocols}, protocols, 2024, full_meta=meta
    )
    assert [r.label for r in table.rows] == ROWS
    assert table.rows[-1].metrics is None and table.rows[-1].note == NO_IMAGE
    # each variant is its own checkpoint evaluated on the same test users and negatives
    _, no_kg, _ = load_trained(ds, out / ABLATIONS_DIR / "no_kg")
    direct = evaluate_models(ds, {"no_kg": no_kg}, protocols, 2024)
    assert table.rows[1].metrics == {p: direct[p]["no_kg"] for p in protocols}
    base, value = table.rows[0].metrics["full"]["NDCG@10"], table.rows[1].metrics["full"]["NDCG@10"]
    assert table.change(table.rows[1], "full") == pytest.approx(100 * (value - base) / base)
    assert table.change(table.rows[0], "full") is None and table.change(table.rows[-1], "full") is None

    text = reporting.render_ablation_tables([table], protocols)
    block = text.split("\n\n")[0].splitlines()
    assert block[0].startswith(f"ablations of kgbm4rec ({out}), full: full ranking")
    assert block[1].split() == ["variant", "HR@1", "HR@5", "HR@10", "NDCG@5", "NDCG@10", "MRR", "MSE", "like_accuracy",
                                "like_F1", "NDCG@10", "vs", "full"]
    assert [line[:16].strip() for line in block[3:8]] == ROWS
    assert block[7].split(None, 2)[2] == NO_IMAGE
    assert block[4].split()[-1] == f"{table.change(table.rows[1], 'full'):+.1f}%"
    assert "sampled: 1 positive + 99" in text.split("\n\n")[1]

    objects = reporting.to_json_objects(report, [table])
    assert [o["protocol"] for o in objects] == list(protocols)
    assert list(objects[0]["models"]) == ["kgbm4rec"]  # the models part keeps its shape
    rows = objects[0]["ablations"]["kgbm4rec"]["rows"]
    assert [r["variant"] for r in rows] == ["full", "no_kg", "no_seq", "no_text", "no_image"]
    assert rows[4]["metrics"] is None and rows[4]["note"] == NO_IMAGE
    assert rows[1]["NDCG@10_vs_full_pct"] == pytest.approx(table.change(table.rows[1], "full"))
    assert "ablations" not in reporting.to_json_objects(report)[0]  # nothing added without ablations

    csv_rows = list(csv.DictReader(io.StringIO(reporting.render_csv(report, [table]))))
    assert [(r["protocol"], r["model"]) for r in csv_rows] == [
        (p, m) for p in protocols for m in ("kgbm4rec", "kgbm4rec/no_kg", "kgbm4rec/no_seq", "kgbm4rec/no_text")]


def test_interrupted_run_keeps_finished_variants_and_says_what_is_missing(ds, tmp_path):
    out = tmp_path / "k"

    def stop_at_no_seq(line):
        if "training no_seq" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_ablations(ds, "kgbm4rec", TINY, seed=3, out=out, progress=False, announce=stop_at_no_seq)
    found = find_ablations(out)
    assert [v.status for v in found.variants] == ["trained", "pending", "pending", "skipped"]
    label, model, meta = load_trained(ds, out)
    report = evaluate_models(ds, {label: model}, ("full",), 2024)
    table = evaluate_ablations(ds, label, found, {"full": report["full"][label]}, ("full",), 2024, full_meta=meta)
    assert [r.metrics is not None for r in table.rows] == [True, True, False, False, False]
    assert table.rows[2].note.startswith("sequence: not trained (the ablation run stopped before it")
