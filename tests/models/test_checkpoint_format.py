"""Checkpoint state files: a model whose state is plain numpy arrays (popularity, text kNN) is
saved as ``state.npz`` and loads for serving without torch; other models keep ``state.pt``;
checkpoints written before ``state.npz`` existed (``state.pt`` only, no module in ``model.json``)
still load. Models are trained for real on the tiny graph."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import kgrec
from kgrec.models.base import read_state
from kgrec.models.training.checkpoint import load_checkpoint, load_for_serving
from kgrec.models.workflows.pipeline import load_dataset, train_model

from .test_training import tiny_hparams

REPO = Path(kgrec.__file__).resolve().parent.parent

CHILD = """
import json, sys
from kgrec.models.training.checkpoint import load_for_serving
ck = load_for_serving(sys.argv[1])
users = list(range(len(ck.user_ids)))
heavy = sorted(m for m in ("torch", "scipy", "pandas") if m in sys.modules)
print(json.dumps({"heavy": heavy, "model": ck.model.name, "scores": ck.model.score(users).tolist()}))
"""


def serve_in_child(path: Path) -> dict:
    """load_for_serving(path) in a fresh interpreter: its scores and which heavy libraries it imported."""
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def write_as_before(path: Path) -> None:
    """Rewrite a checkpoint the way kgrec wrote every checkpoint before ``state.npz``: the state as
    a torch file, ``model.json`` without the module."""
    torch.save(read_state(path), path / "state.pt")
    (path / "state.npz").unlink()
    meta = json.loads((path / "model.json").read_text())
    del meta["module"]
    (path / "model.json").write_text(json.dumps(meta, indent=2))


@pytest.fixture
def trained(tiny, tmp_path):
    ds = load_dataset(tiny)

    def train(name: str) -> tuple[Path, np.ndarray]:
        result = train_model(ds, name, tiny_hparams(name), seed=5, out=tmp_path / name, progress=False)
        return tmp_path / name, result.model.score(np.arange(ds.data.n_users))

    return train


@pytest.mark.parametrize("name", ["pop", "textknn"])
def test_plain_array_model_is_saved_as_npz_and_served_without_torch(trained, name):
    path, scores = trained(name)
    assert (path / "state.npz").exists() and not (path / "state.pt").exists()
    assert json.loads((path / "model.json").read_text())["module"].startswith("kgrec.models.")
    child = serve_in_child(path)
    assert child["model"] == name
    assert child["heavy"] == []  # neither torch nor scipy nor pandas
    np.testing.assert_allclose(np.asarray(child["scores"]), scores, rtol=1e-6)


@pytest.mark.parametrize("name", ["pop", "textknn"])
def test_checkpoint_written_before_npz_still_loads(trained, name):
    path, scores = trained(name)
    write_as_before(path)
    assert not (path / "state.npz").exists()
    for ck in (load_for_serving(path), load_checkpoint(path)):
        assert ck.model.name == name
        np.testing.assert_allclose(ck.model.score(np.arange(len(ck.user_ids))), scores, rtol=1e-6)
    child = serve_in_child(path)
    assert "torch" in child["heavy"]  # a torch file needs torch: what state.npz avoids
    np.testing.assert_allclose(np.asarray(child["scores"]), scores, rtol=1e-6)


def test_network_model_keeps_its_torch_state(trained):
    path, scores = trained("sasrec")
    assert (path / "state.pt").exists() and not (path / "state.npz").exists()
    assert json.loads((path / "model.json").read_text())["module"] == "kgrec.models.sequential.sasrec"
    ck = load_for_serving(path)
    assert ck.model.name == "sasrec"
    np.testing.assert_allclose(ck.model.score(np.arange(len(ck.user_ids))), scores, rtol=1e-5, atol=1e-6)


def test_saving_over_a_folder_replaces_the_other_state_file(trained):
    path, _ = trained("pop")
    write_as_before(path)
    ck = load_for_serving(path)
    ck.model.save(path)  # the same model saved again into the folder that held state.pt
    assert (path / "state.npz").exists() and not (path / "state.pt").exists()
    np.testing.assert_array_equal(read_state(path)["popularity"], ck.model.popularity)
