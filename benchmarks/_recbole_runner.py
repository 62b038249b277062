"""Runs ONE RecBole model on benchmark files and prints a JSON line with its test metrics and
seconds per training epoch. Executed by recbole_side_by_side.py with .venv-recbole's python
(RecBole's pins clash with kgrec's venv); not imported by kgrec.

Shims for RecBole 1.2.1 on today's torch/scipy (see docs/train-evaluate.md#recbole-side-by-side):
  * ``ray`` is imported at start by recbole.quick_start: a stub module is enough (no tuning here);
  * torch.load defaults to weights_only=True now: RecBole's own checkpoints need False;
  * scipy dropped dok_matrix._update (LightGCN builds its adjacency with it): update the
    matrix's internal dict instead;
  * KGAT builds its collaborative KG with ``dgl``, which has no build for torch 2.13: when dgl
    cannot be imported, a small stand-in provides exactly what KGAT calls (``dgl.graph``,
    ``edata``, ``filter_edges``, ``edge_subgraph(..., preserve_nodes=True)``,
    ``adjacency_matrix(transpose=False, scipy_fmt="coo")`` with rows = source nodes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types


def install_shims() -> None:
    ray = types.ModuleType("ray")
    tune = types.ModuleType("ray.tune")
    ray.tune = tune
    sys.modules.setdefault("ray", ray)
    sys.modules.setdefault("ray.tune", tune)

    import torch

    original_load = torch.load

    def load(*args, **kwargs):
        kwargs.setdefault("weights_only", False)
        return original_load(*args, **kwargs)

    torch.load = load

    import scipy.sparse as sp

    if not hasattr(sp.dok_matrix, "_update"):
        def _update(self, data):
            if hasattr(self, "_dict"):
                self._dict.update(data)
            else:
                dict.update(self, data)

        sp.dok_matrix._update = _update


class _Edges:
    def __init__(self, data):
        self.data = data


class _Graph:
    """The part of a dgl.DGLGraph that RecBole's KGAT uses."""

    def __init__(self, src, dst, num_nodes=None):
        import torch

        self.src, self.dst = torch.as_tensor(src), torch.as_tensor(dst)
        self.n = int(
            num_nodes
            if num_nodes is not None
            else (max(int(self.src.max()), int(self.dst.max())) + 1 if len(self.src) else 0)
        )
        self.edata = {}

    def edges(self):
        return self.src, self.dst

    def num_nodes(self):
        return self.n

    def filter_edges(self, predicate):
        import torch

        return torch.nonzero(predicate(_Edges(self.edata)), as_tuple=False).flatten()

    def adjacency_matrix(self, transpose=False, scipy_fmt="coo"):
        import numpy as np
        import scipy.sparse as sp

        rows, cols = (self.dst, self.src) if transpose else (self.src, self.dst)
        m = sp.coo_matrix((np.ones(len(rows)), (rows.numpy(), cols.numpy())), shape=(self.n, self.n))
        return m.asformat(scipy_fmt)


def _dgl_stub():
    dgl = types.ModuleType("dgl")
    dgl.graph = lambda edges, num_nodes=None, **_: _Graph(edges[0], edges[1], num_nodes)

    def edge_subgraph(graph, edge_ids, preserve_nodes=True, **_):
        sub = _Graph(graph.src[edge_ids], graph.dst[edge_ids], graph.n if preserve_nodes else None)
        sub.edata = {k: v[edge_ids] for k, v in graph.edata.items()}
        return sub

    dgl.edge_subgraph = edge_subgraph
    return dgl


def install_dgl_stub_if_missing() -> None:
    try:
        import dgl  # noqa: F401
    except Exception:  # not installed, or a build for another torch
        sys.modules["dgl"] = _dgl_stub()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--data-path", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--stopping-step", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--checkpoint-dir", required=True)
    parser.add_argument("--config-json", default="{}", help="extra RecBole settings")
    args = parser.parse_args()
    install_shims()
    install_dgl_stub_if_missing()

    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    sequential = args.dataset.endswith("-seq")
    load_col = {
        "inter": ["user_id", "item_id_list", "item_id", "timestamp"]
        if sequential
        else ["user_id", "item_id", "timestamp"]
    }
    extra = json.loads(args.config_json)
    if extra.pop("kg", False):
        load_col.update({"kg": ["head_id", "relation_id", "tail_id"], "link": ["item_id", "entity_id"]})
    config_dict = {
        "data_path": args.data_path,
        "benchmark_filename": ["train", "valid", "test"],
        "load_col": load_col,
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
        # the split is given by the benchmark files; these keep RecBole's evaluation at full ranking
        "eval_args": {"split": {"RS": [1.0, 0.0, 0.0]}, "group_by": "user", "order": "TO", "mode": "full"},
        "metrics": ["Hit", "NDCG", "MRR"], "topk": [1, 5, 10], "valid_metric": "NDCG@10",
        "epochs": args.epochs, "stopping_step": args.stopping_step, "eval_step": 1,
        "seed": args.seed, "reproducibility": True, "show_progress": False,
        "checkpoint_dir": args.checkpoint_dir, "use_gpu": False, "state": "WARNING",
        "user_inter_num_interval": None, "item_inter_num_interval": None,
    }
    if sequential:
        config_dict["train_neg_sample_args"] = None
        config_dict["MAX_ITEM_LIST_LENGTH"] = 50
    config_dict.update(extra)
    config = Config(model=args.model, dataset=args.dataset, config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)

    epoch_seconds: list[float] = []
    original = trainer._train_epoch

    def timed(*a, **k):
        started = time.perf_counter()
        out = original(*a, **k)
        epoch_seconds.append(time.perf_counter() - started)
        return out

    trainer._train_epoch = timed
    best_valid, _ = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    print("RESULT " + json.dumps({
        "model": args.model, "test": {k: float(v) for k, v in test.items()},
        "best_valid_NDCG@10": float(best_valid) if best_valid is not None else None,
        "epochs_run": len(epoch_seconds), "best_epoch": len(epoch_seconds) - int(trainer.cur_step),
        "seconds_per_epoch": sum(epoch_seconds) / max(len(epoch_seconds), 1),
        "train_seconds": sum(epoch_seconds),
    }), flush=True)


if __name__ == "__main__":
    main()
