"""A one-shot `kgctl recommend --model CK` with a plain-array checkpoint (MostPopular, trained on
the real embedded database) imports neither torch nor scipy (nor PyG, nor scikit-learn); once the
graph index is stored beside the database (every call after the first one after an ingest), not
pandas either. The command runs as a fresh ``python -X importtime`` process and every module it
imported is read from the report. The same checkpoint rewritten the way checkpoints were written
before ``state.npz`` (a torch file) still serves the same answer, and that process does import
torch (which shows the check sees it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import kgrec
from kgrec.models.base import read_state

REPO = Path(kgrec.__file__).resolve().parent.parent
NEVER = {"torch", "scipy", "torch_geometric", "sklearn"}
# building the graph index (the first call after an ingest) imports pandas through pyarrow's
# pa.array; mapping the stored index does not
HEAVY = NEVER | {"pandas"}
IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)\s*$")


def one_shot(db: str, user: str, checkpoint: Path) -> tuple[dict, set[str]]:
    """``kgctl recommend USER --json --model CHECKPOINT`` in a fresh process: its answer and the
    top-level packages it imported."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-X", "importtime", "-m", "kgrec.cli.main", "--db", db,
           "recommend", user, "--json", "--model", str(checkpoint)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    packages = {m.group(1).split(".")[0] for line in out.stderr.splitlines() if (m := IMPORTED.match(line))}
    assert "kgrec" in packages and "numpy" in packages  # the report was read
    return json.loads(out.stdout), packages


def test_one_shot_recommend_with_a_plain_array_checkpoint_imports_no_torch(graph_db, pop_checkpoint):
    assert (pop_checkpoint / "state.npz").exists()
    first, packages = one_shot(graph_db, "u3", pop_checkpoint)  # builds and stores the graph index
    assert not packages & NEVER, sorted(packages & NEVER)
    answer, packages = one_shot(graph_db, "u3", pop_checkpoint)  # maps it
    assert not packages & HEAVY, sorted(packages & HEAVY)
    assert answer == first
    assert answer["user"] == "u3" and answer["model"] == "pop" and answer["items"]
    assert any(p["source"] == "model" for item in answer["items"] for p in item["sources"])

    # the same model in a checkpoint from before state.npz: same answer, torch needed to read it
    torch.save(read_state(pop_checkpoint), pop_checkpoint / "state.pt")
    (pop_checkpoint / "state.npz").unlink()
    meta = json.loads((pop_checkpoint / "model.json").read_text())
    del meta["module"]
    (pop_checkpoint / "model.json").write_text(json.dumps(meta))
    old_answer, old_packages = one_shot(graph_db, "u3", pop_checkpoint)
    assert "torch" in old_packages
    assert old_answer == answer


def test_product_positions_are_found_without_pyarrow():
    # the model source maps the graph's products to the checkpoint's item indices with numpy (the
    # pyarrow way imported pandas): first occurrence of a repeated id, -1 for unknown ones
    from kgrec.serve.sources.model import positions_in

    known = np.asarray(["p9", "p1", "p10", "p1", "p2"])
    values = np.asarray(["p1", "p2", "p3", "p10", "p9", "p100", ""])
    assert positions_in(values, known).tolist() == [1, 4, -1, 2, 0, -1, -1]
    assert positions_in(values, np.asarray([], dtype=str)).tolist() == [-1] * len(values)
    assert positions_in(np.asarray([], dtype=str), known).tolist() == []
