"""kgctl train --ablations and kgctl evaluate's ablation table, through click's runner on the tiny
real embedded KGBM4Rec graph (KG + text, no image vectors)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from kgrec.cli.main import cli

TINY = [
    "--epochs", "2", "--dim", "16", "--batch-size", "8", "-p", "max_len=8", "-p", "n_layers=1", "-p", "eval_every=1",
]
NO_IMAGE = "image: not in the data (the full model ran without it)"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run(db, *args):
    return CliRunner().invoke(cli, ["--db", db, *args], catch_exceptions=False)


def test_train_ablations_then_evaluate_prints_the_table(kg_db, tmp_path):
    out = tmp_path / "kgbm4rec"
    r = _run(kg_db, "train", "--model", "kgbm4rec", *TINY, "--ablations", "--out", str(out), "--quiet")
    assert r.exit_code == 0, r.output
    assert "ablations of kgbm4rec: training no_kg (without KG), 1 of 3" in r.stderr
    assert f"without image     {NO_IMAGE}" in r.stdout and "ablation checkpoints:" in r.stdout
    assert (out / "checkpoint.json").exists() and (out / "ablations" / "no_text" / "checkpoint.json").exists()

    r = _run(
        kg_db, "evaluate", str(out), "--model", "pop", "--plots", str(tmp_path / "plots"), "--csv-out",
        str(tmp_path / "m.csv"),
    )
    assert r.exit_code == 0, r.output
    main, ablations = r.stdout.split("\nablations of kgbm4rec", 1)
    assert "full: full ranking" in main and "sampled: 1 positive" in main  # the main table comes first, unchanged
    lines = ("ablations of kgbm4rec" + ablations).splitlines()
    assert lines[0] == f"ablations of kgbm4rec ({out}), full: full ranking over all items (training items masked)"
    assert [line[:16].strip() for line in lines[3:8]] == [
        "full", "without KG", "without sequence", "without text", "without image",
    ]
    assert lines[7].endswith(NO_IMAGE) and lines[4].endswith("%")
    assert sum(line.startswith("ablations of kgbm4rec") for line in lines) == 2  # one block per protocol
    assert (tmp_path / "plots" / "ablations_kgbm4rec.png").stat().st_size > 1000
    rows = list(csv.DictReader(io.StringIO((tmp_path / "m.csv").read_text())))
    assert {row["model"] for row in rows} == {
        "kgbm4rec", "pop", "kgbm4rec/no_kg", "kgbm4rec/no_seq", "kgbm4rec/no_text",
    }

    r = _run(kg_db, "evaluate", str(out), "--protocol", "full", "--json")
    single = json.loads(r.stdout)
    assert single["protocol"] == "full" and list(single["models"]) == ["kgbm4rec"]
    table = single["ablations"]["kgbm4rec"]
    assert table["checkpoint"] == str(out)
    assert [row["variant"] for row in table["rows"]] == ["full", "no_kg", "no_seq", "no_text", "no_image"]
    assert table["rows"][0]["metrics"] == single["models"]["kgbm4rec"]
    assert table["rows"][4] == {"variant": "no_image", "label": "without image", "modality": "image", "metrics": None,
                                "NDCG@10_vs_full_pct": None, "note": NO_IMAGE}

    # kgctl recommend still reads the full model at OUT
    r = _run(kg_db, "recommend", "u00", "-k", "3", "--model", str(out), "--json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["items"]) == 3


def test_ablations_refused_for_a_model_without_switches(kg_db, tmp_path):
    r = _run(kg_db, "train", "--model", "lightgcn", "--ablations", "--out", str(tmp_path / "l"))
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "lightgcn has no ablation switches" in r.output and "--ablations works for: kgbm4rec" in r.output
    assert not (tmp_path / "l").exists()


def test_help_explains_the_flag():
    r = CliRunner().invoke(cli, ["train", "--help"])
    assert "--ablations" in r.output and "OUT/ablations/SWITCH" in r.output


def test_tune_chooses_a_kgbm4rec_preset_on_validation(kg_db, tmp_path):
    """``kgctl tune --model kgbm4rec`` without --grid trains the two presets and keeps the one with
    the better validation NDCG@10; keys given beside them (here the tiny sizes) apply to both."""
    out = tmp_path / "tuned"
    r = _run(kg_db, "tune", "--model", "kgbm4rec", *TINY, "--out", str(out), "--json", "--quiet")
    assert r.exit_code == 0, r.output
    assert "tune kgbm4rec: training preset=default, 1 of 2" in r.stderr
    assert "tune kgbm4rec: training preset=large, 2 of 2" in r.stderr and "it/s" not in r.stderr  # --quiet
    result = json.loads(r.stdout)
    assert [row["preset"] for row in result["grid"]] == ["default", "large"]
    best = max(result["grid"], key=lambda row: row["valid_NDCG@10"])
    assert result["best"] == {"preset": best["preset"]}
    hparams = json.loads((out / "model.json").read_text())["hparams"]
    assert hparams["preset"] == best["preset"] and hparams["dim"] == 16
    assert hparams["closed_sides"] == (best["preset"] == "large")
