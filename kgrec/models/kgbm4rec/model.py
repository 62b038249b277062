"""KGBM4Rec: knowledge-graph GNN + BERT4Rec-style sequence + frozen text/image embeddings, fused.

For a user u and item i the ranking score is <z_u, v_i> + b_i where

* v_i = id_i + g_t * P_t(text_i) + g_v * P_v(image_i) + g_g * P_g(GNN_i)  (gates g from [base; side]),
* z_u = LayerNorm(h_u + g_u * P_u(GNN_u)), h_u the bidirectional transformer's state at a [MASK]
  appended to u's time-ordered history (inputs are the fused item vectors v),
* GNN = relation-aware message passing over the collaborative KG (users, items, categories,
  brands, shops, tags, external entities; training interactions only).

Heads: ranking (full softmax over items, or sampled softmax with ``num_negatives``), rating
regression (MSE) and like/dislike (rating >= 4, BCE) from [z, v, z*v]. Training is BERT4Rec's
cloze task: masked positions are predicted from both directions; some sequences mask only their
last item, which is the inference situation. Ablations: ``no_kg``, ``no_seq``, ``no_text``,
``no_image``; a modality the data lacks is switched off and reported.
"""

from __future__ import annotations

import copy
import sys
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from kgrec.errors import KgrecError
from kgrec.models.base import Recommender, register
from kgrec.models.data import InteractionData
from kgrec.models.kgbm4rec._dev_eval import full_ranking
from kgrec.models.kgbm4rec.graph import CollaborativeKG, RelationalCSR, subgraph_from_hetero_batch
from kgrec.models.kgbm4rec.inputs import KGBMInputs
from kgrec.models.kgbm4rec.network import KGBMNetwork

LIKE_THRESHOLD = 4.0

DEFAULTS: dict[str, Any] = {
    "dim": 64, "max_len": 50, "n_layers": 2, "n_heads": 2, "dropout": 0.2,
    "mask_prob": 0.2, "last_mask_prob": 0.25,
    "gnn_layers": 2, "conv": "compgcn", "n_bases": 4, "gnn_dropout": 0.1, "kg_min_degree": 1,
    "lr": 1e-3, "weight_decay": 0.0, "batch_size": 128, "epochs": 100, "patience": 10, "eval_every": 2,
    "rating_weight": 0.1, "like_weight": 0.1, "num_negatives": 0,
    "no_kg": False, "no_seq": False, "no_text": False, "no_image": False,
    "seed": 2024, "verbose": True,
}


@register
class KGBM4Rec(Recommender):
    name = "kgbm4rec"
    predicts_rating = True
    requires = ("kg", "text_emb", "image_emb")
    defaults = DEFAULTS
    search_space = {"conv": ["compgcn", "rgcn"], "max_len": [50, 100], "dropout": [0.2, 0.3], "mask_prob": [0.2, 0.3]}

    def __init__(self, **hparams: Any):
        super().__init__(**hparams)
        self.hparams = {**DEFAULTS, **{k: v for k, v in self.hparams.items() if v is not None}}
        unknown = set(self.hparams) - set(DEFAULTS)
        if unknown:
            raise KgrecError(f"unknown kgbm4rec hyperparameters: {', '.join(sorted(unknown))}", f"known: {', '.join(DEFAULTS)}")
        self.modalities: dict[str, str] = {}
        self.net: KGBMNetwork | None = None
        self.ckg: CollaborativeKG | None = None
        self._structure: RelationalCSR | None = None
        self._features: dict[str, torch.Tensor] = {}
        self._history: list[np.ndarray] = []
        self._items: torch.Tensor | None = None
        self._gnn_users: torch.Tensor | None = None

    # ================================================================== setup
    def _resolve_inputs(self, train: InteractionData, kwargs: dict) -> KGBMInputs:
        if kwargs.get("inputs") is not None:
            return kwargs["inputs"]
        if kwargs.get("graph") is not None:
            return KGBMInputs.from_graph_inputs(kwargs["graph"])
        if kwargs.get("backend") is not None:
            return KGBMInputs.from_backend(kwargs["backend"], train.item_ids, kg=not self.hparams["no_kg"])
        return KGBMInputs()

    def _choose_modalities(self, inputs: KGBMInputs) -> dict[str, str]:
        hp = self.hparams
        out = {}
        out["kg"] = "off (no_kg)" if hp["no_kg"] else ("on" if inputs.has_kg() else "on (interaction graph only: no KG relations in the data)")
        out["sequence"] = "off (no_seq)" if hp["no_seq"] else "on"
        out["text"] = "off (no_text)" if hp["no_text"] else ("on" if inputs.has_text() else "off (no Product.text_emb in the graph; run `kgctl embed`)")
        out["image"] = "off (no_image)" if hp["no_image"] else ("on" if inputs.has_image() else "off (no Product.image_emb in the graph; run `kgctl embed`)")
        return out

    def modality_summary(self) -> str:
        used = [m for m, s in self.modalities.items() if s.startswith("on")]
        off = [f"{m} {s[4:]}" for m, s in self.modalities.items() if not s.startswith("on")]
        return f"kgbm4rec modalities used: {', '.join(used) or 'none'}" + (f"; off: {'; '.join(off)}" if off else "")

    def _build(self, train: InteractionData, inputs: KGBMInputs) -> None:
        hp = self.hparams
        self.modalities = self._choose_modalities(inputs)
        use = {m: s.startswith("on") for m, s in self.modalities.items()}
        self._features = {}
        text_dim = image_dim = 0
        if use["text"]:
            self._features["text"] = torch.from_numpy(np.asarray(inputs.text, dtype=np.float32))
            self._features["text_present"] = torch.from_numpy(np.asarray(inputs.text_present, dtype=np.float32))
            text_dim = self._features["text"].shape[1]
        if use["image"]:
            self._features["image"] = torch.from_numpy(np.asarray(inputs.image, dtype=np.float32))
            self._features["image_present"] = torch.from_numpy(np.asarray(inputs.image_present, dtype=np.float32))
            image_dim = self._features["image"].shape[1]
        if use["kg"]:
            self.ckg = CollaborativeKG.build(train, inputs.kg, min_degree=hp["kg_min_degree"])
            self._structure = self.ckg.propagation()
        else:
            self.ckg, self._structure = None, None
        self._config = dict(
            n_items=train.n_items, n_users=train.n_users, dim=hp["dim"], max_len=hp["max_len"], n_layers=hp["n_layers"],
            n_heads=hp["n_heads"], dropout=hp["dropout"], use_seq=use["sequence"], use_kg=use["kg"],
            text_dim=text_dim, image_dim=image_dim,
            n_nodes=self.ckg.n_nodes if self.ckg else 0, n_relations=self.ckg.n_relations if self.ckg else 0,
            gnn_layers=hp["gnn_layers"], conv=hp["conv"], n_bases=hp["n_bases"], gnn_dropout=hp["gnn_dropout"],
        )
        self.net = KGBMNetwork(**self._config)

    # ================================================================== training
    def fit(self, train: InteractionData, valid: InteractionData | None = None, **kwargs: Any) -> dict:
        hp = self.hparams
        if len(train) == 0:
            raise KgrecError("no training interactions", "ingest interactions first (kgctl ingest)")
        torch.manual_seed(hp["seed"])
        rng = np.random.default_rng(hp["seed"])
        self.n_users, self.n_items = train.n_users, train.n_items
        self._build(train, self._resolve_inputs(train, kwargs))
        log = _logger(hp["verbose"])
        log(self.modality_summary())
        self._history = _sequences(train)
        self._ratings_from(train)
        seen = train.csr()
        eval_users = eval_targets = None
        if valid is not None and len(valid):
            eval_users, eval_targets = valid.user, valid.item
        optimizer = torch.optim.AdamW(self.net.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
        users_with_history = np.asarray([u for u in range(self.n_users) if len(self._history[u])], dtype=np.int64)
        history: dict[str, Any] = {"loss": [], "valid": [], "valid_metrics": [], "valid_metric": "NDCG@10", "train_seconds": [], "modalities": dict(self.modalities)}
        best, best_state, bad = -1.0, None, 0
        progress = _progress(hp["epochs"], hp["verbose"])
        for epoch in range(hp["epochs"]):
            started = time.perf_counter()
            self.net.train()
            order = rng.permutation(users_with_history)
            losses = []
            for start in range(0, len(order), hp["batch_size"]):
                batch_users = order[start:start + hp["batch_size"]]
                loss = self._step(batch_users, train, rng)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), 5.0)
                optimizer.step()
                losses.append(float(loss.detach()))
            history["train_seconds"].append(time.perf_counter() - started)
            history["loss"].append(float(np.mean(losses)))
            postfix = {"loss": f"{history['loss'][-1]:.4f}"}
            if eval_users is not None and ((epoch + 1) % hp["eval_every"] == 0 or epoch + 1 == hp["epochs"]):
                self._refresh_cache()
                metrics = full_ranking(self.score, eval_users, eval_targets, seen)
                metrics["epoch"] = epoch + 1
                history["valid_metrics"].append(metrics)  # every metric, per validation
                history["valid"].append((epoch + 1, metrics["NDCG@10"]))  # the shared Trainer's shape
                postfix["val_ndcg10"] = f"{metrics['NDCG@10']:.4f}"
                if metrics["NDCG@10"] > best:
                    best, best_state, bad = metrics["NDCG@10"], copy.deepcopy(self.net.state_dict()), 0
                else:
                    bad += 1
                    if bad >= hp["patience"]:
                        progress.set_postfix(postfix)
                        break
            progress.set_postfix(postfix)
            progress.update(1)
        progress.close()
        if best_state is not None:
            self.net.load_state_dict(best_state)
            history["best_valid"] = max(history["valid_metrics"], key=lambda m: m["NDCG@10"])
            history["best_epoch"] = history["best_valid"]["epoch"]
        else:
            history["best_epoch"] = len(history["loss"])
        # the same summary keys as the shared Trainer's history
        history["epochs_run"] = len(history["loss"])
        history["seconds_per_epoch"] = float(np.mean(history["train_seconds"])) if history["train_seconds"] else 0.0
        self._refresh_cache()
        return history

    def _step(self, batch_users: np.ndarray, train: InteractionData, rng: np.random.Generator) -> torch.Tensor:
        hp = self.hparams
        tokens, targets, ratings = self._cloze_batch(batch_users, rng)
        gnn_items = gnn_users = None
        if self.net.use_kg:
            gnn_items, gnn_users = self.net.graph_embeddings(self._structure, self.n_items, self.ckg.user_offset, self.n_users)
        items = self.net.item_table(self._features, gnn_items)
        users = torch.from_numpy(batch_users)
        z = self.net.encode(tokens, items, users, gnn_users)
        masked = targets > 0
        z_m, t_m, r_m = z[masked], targets[masked] - 1, ratings[masked]
        if hp["num_negatives"] and hp["num_negatives"] < self.n_items:
            negatives = torch.from_numpy(rng.integers(0, self.n_items, hp["num_negatives"]))
            candidates = torch.cat([t_m, negatives])
            logits = z_m @ items[candidates].T + self.net.item_bias[candidates]
            logits[:, len(t_m):] = logits[:, len(t_m):].masked_fill(negatives.unsqueeze(0) == t_m.unsqueeze(1), float("-inf"))
            loss = F.cross_entropy(logits, torch.arange(len(t_m)))
        else:
            loss = F.cross_entropy(self.net.rank_logits(z_m, items), t_m)
        rated = ~torch.isnan(r_m)
        if rated.any() and (hp["rating_weight"] or hp["like_weight"]):
            pred, like_logit = self.net.rating_outputs(z_m[rated], items[t_m[rated]])
            r = r_m[rated]
            loss = loss + hp["rating_weight"] * F.mse_loss(pred, r)
            loss = loss + hp["like_weight"] * F.binary_cross_entropy_with_logits(like_logit, (r >= LIKE_THRESHOLD).float())
        return loss

    def _cloze_batch(self, batch_users: np.ndarray, rng: np.random.Generator):
        hp, L = self.hparams, self.hparams["max_len"]
        tokens = np.zeros((len(batch_users), L), dtype=np.int64)
        targets = np.zeros_like(tokens)
        ratings = np.full(tokens.shape, np.nan, dtype=np.float32)
        for row, u in enumerate(batch_users):
            seq, rat = self._history[u], self._ratings[u]
            end = len(seq)
            if end > L and rng.random() < 0.5:
                end = int(rng.integers(L, len(seq) + 1))
            window, wr = seq[max(0, end - L):end] + 1, rat[max(0, end - L):end]
            n = len(window)
            tokens[row, L - n:] = window
            ratings[row, L - n:] = wr
            if rng.random() < hp["last_mask_prob"]:
                mask = np.zeros(n, bool)
                mask[-1] = True
            else:
                mask = rng.random(n) < hp["mask_prob"]
                if not mask.any():
                    mask[rng.integers(n)] = True
            targets[row, L - n:][mask] = window[mask]
            if self.net.use_seq:
                tokens[row, L - n:][mask] = self.net.mask
        return torch.from_numpy(tokens), torch.from_numpy(targets), torch.from_numpy(ratings)

    # ================================================================== inference
    @torch.no_grad()
    def _refresh_cache(self) -> None:
        """Item table and GNN user embeddings for scoring (eval mode, computed once)."""
        self.net.eval()
        gnn_items = gnn_users = None
        if self.net.use_kg:
            gnn_items, gnn_users = self.net.graph_embeddings(self._structure, self.n_items, self.ckg.user_offset, self.n_users)
        self._items = self.net.item_table(self._features, gnn_items)
        self._gnn_users = gnn_users

    def observe_history(self, known: InteractionData) -> None:
        """Use ``known`` (train, or train + validation for the test) as the users' histories."""
        self._history = _sequences(known)
        self._ratings_from(known)

    @torch.no_grad()
    def user_states(self, users: np.ndarray) -> torch.Tensor:
        """z_u: the encoder state at a [MASK] appended to each user's history (eval mode)."""
        self._require_fitted()
        self.net.eval()
        L = self.hparams["max_len"]
        tokens = np.zeros((len(users), L), dtype=np.int64)
        for row, u in enumerate(np.asarray(users)):
            seq = self._history[int(u)][-(L - 1):] + 1 if L > 1 else np.zeros(0, np.int64)
            tokens[row, L - 1 - len(seq):L - 1] = seq
            tokens[row, L - 1] = self.net.mask
        z = self.net.encode(torch.from_numpy(tokens), self._items, torch.as_tensor(np.asarray(users), dtype=torch.long), self._gnn_users)
        return z[:, -1]

    @torch.no_grad()
    def score(self, users: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
        out = []
        users = np.asarray(users, dtype=np.int64)
        for start in range(0, len(users), 512):
            z = self.user_states(users[start:start + 512])
            s = self.net.rank_logits(z, self._items)
            out.append((s if items is None else s[:, torch.as_tensor(np.asarray(items), dtype=torch.long)]).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.n_items if items is None else len(items)), np.float32)

    @torch.no_grad()
    def predict_rating(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted rating (clipped to 1..5) of each (user, item) pair."""
        pred, _ = self._rating_pairs(users, items)
        return np.clip(pred, 1.0, 5.0)

    @torch.no_grad()
    def predict_like(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Probability that the user likes the item (rating >= 4)."""
        _, logit = self._rating_pairs(users, items)
        return 1.0 / (1.0 + np.exp(-logit))

    def _rating_pairs(self, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
        uniq, inverse = np.unique(users, return_inverse=True)
        z = self.user_states(uniq)[torch.from_numpy(inverse)]
        pred, logit = self.net.rating_outputs(z, self._items[torch.from_numpy(items)])
        return pred.numpy().astype(np.float64), logit.numpy().astype(np.float64)

    # ------------------------------------------------------------------ GNN paths
    @torch.no_grad()
    def gnn_full(self) -> torch.Tensor:
        """GNN representations of every node from the cached full-graph CSR (eval mode)."""
        self._require_kg()
        self.net.eval()
        return self.net.gnn(self._structure)

    @torch.no_grad()
    def gnn_sampled(self, batch, store_index) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """GNN representations computed on a mini-batch sampled from the graph store (a PyG
        ``HeteroData`` from ``NodeLoader``/``NeighborLoader`` over ``kgrec.kg.pyg_store``).
        Returns (representations of the subgraph's nodes, their global ids, positions per label)."""
        self._require_kg()
        self.net.eval()
        node_ids, structure, positions = subgraph_from_hetero_batch(batch, store_index, self.ckg)
        return self.net.gnn(structure, node_ids), node_ids, positions

    # ================================================================== persistence
    def state(self) -> dict[str, Any]:
        self._require_fitted()
        flat = np.concatenate(self._history) if self._history else np.zeros(0, np.int64)
        flat_r = np.concatenate(self._ratings) if self._ratings else np.zeros(0, np.float32)
        ckg = None
        if self.ckg is not None:
            ckg = {"node_labels": self.ckg.node_labels.astype(str), "node_ids": self.ckg.node_ids.astype(str),
                   "n_items": self.ckg.n_items, "n_users": self.ckg.n_users, "user_offset": self.ckg.user_offset,
                   "relation_names": list(self.ckg.relation_names)}
        return {
            "config": self._config, "network": self.net.state_dict(), "modalities": self.modalities,
            "items": self._items, "gnn_users": self._gnn_users,
            "history": flat, "history_ratings": flat_r, "history_lengths": np.asarray([len(s) for s in self._history]),
            "ckg": ckg,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._config = dict(state["config"])
        self.net = KGBMNetwork(**self._config)
        self.net.load_state_dict(state["network"])
        self.net.eval()
        self.modalities = dict(state["modalities"])
        self.n_users, self.n_items = self._config["n_users"], self._config["n_items"]
        self._items, self._gnn_users = state["items"], state["gnn_users"]
        bounds = np.r_[0, np.cumsum(state["history_lengths"])]
        self._history = [state["history"][a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        self._ratings = [state["history_ratings"][a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        c = state.get("ckg")
        if c is not None:
            empty = np.zeros(0, np.int64)
            self.ckg = CollaborativeKG(np.asarray(c["node_labels"], dtype=object), np.asarray(c["node_ids"], dtype=object),
                                       c["n_items"], c["n_users"], c["user_offset"], list(c["relation_names"]), empty, empty, empty)

    # ------------------------------------------------------------------ helpers
    def _require_fitted(self) -> None:
        if self.net is None or self._items is None:
            raise KgrecError("kgbm4rec is not trained", "fit it or load a checkpoint first")

    def _require_kg(self) -> None:
        if self.net is None or not self.net.use_kg:
            raise KgrecError("this kgbm4rec model has no graph branch", "train it without no_kg and with a knowledge graph")
        if self._structure is None:
            raise KgrecError("the full-graph structure is only available in the training process", "refit, or use the sampled path")

    @property
    def _ratings(self) -> list[np.ndarray]:
        return self.__dict__.setdefault("_ratings_list", [])

    @_ratings.setter
    def _ratings(self, value: list[np.ndarray]) -> None:
        self.__dict__["_ratings_list"] = value

    def _ratings_from(self, data: InteractionData) -> None:
        bounds = np.searchsorted(data.user, np.arange(data.n_users + 1))
        self._ratings = [data.rating[bounds[u]:bounds[u + 1]] for u in range(data.n_users)]


def _sequences(data: InteractionData) -> list[np.ndarray]:
    bounds = np.searchsorted(data.user, np.arange(data.n_users + 1))
    return [data.item[bounds[u]:bounds[u + 1]].astype(np.int64) for u in range(data.n_users)]


def _logger(verbose: bool):
    def log(message: str) -> None:
        if verbose:
            print(message, file=sys.stderr)
    return log


def _progress(total: int, verbose: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="kgbm4rec", unit="epoch", disable=not verbose, file=sys.stderr, leave=False)
