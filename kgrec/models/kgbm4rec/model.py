"""KGBM4Rec: knowledge-graph GNN + transformer sequence model + frozen text/image embeddings, fused.

For a user u and item i the ranking score is <z_u, v_i> + b_i where

* v_i = id_i + g_t * P_t(text_i) + g_v * P_v(image_i) + g_g * P_g(GNN_i)  (gates g from [base; side],
  and with ``popularity_gate`` also from the item's standardised log training count),
* z_u = LayerNorm(h_u + g_u * P_u(GNN_u)), h_u the transformer's state over u's time-ordered
  history (inputs are the fused item vectors v),
* GNN = relation-aware message passing over the collaborative KG (users, items, categories,
  brands, shops, tags, external entities; training interactions only).

The sequence objective (``seq_objective``) is either BERT4Rec's ``cloze`` task (bidirectional
attention, random items masked and recovered; h_u is the state at a [MASK] appended to the
history) or ``next`` (causal attention, the next item predicted at every position as SASRec
trains; h_u is the state at the last item). Heads: ranking (full softmax over items, or sampled
softmax with ``num_negatives``), rating regression (MSE) and like/dislike (rating >= 4, BCE)
from [z, v, z*v]. With ``category_weight > 0`` a category head (linear, on v without its GNN term:
id + gated text + gated image) learns the categories the training graph gives items (IN_CATEGORY),
jointly, with that weight; ``predict_category`` serves it, also for items the graph gives no
category. Each epoch trains on every user's whole training sequence, cut into windows.
Ablations: ``no_kg``, ``no_seq``, ``no_text``, ``no_image``; a modality the data lacks is
switched off and reported.

Training runs in the shared ``Trainer`` (seeding, early stopping on validation NDCG@10, progress
bars, DDP with ``kgctl train --nproc N``).
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

import numpy as np
import torch

from kgrec.errors import KgrecError
from kgrec.kg.backend import Backend
from kgrec.models.base import register
from kgrec.models.data.interactions import InteractionData
from kgrec.models.kgbm4rec.config import PRESETS, KGBMConfig
from kgrec.models.kgbm4rec.graph import (
    CollaborativeKG,
    RelationalCSR,
    subgraph_from_hetero_batch,
)
from kgrec.models.kgbm4rec.inputs import KGBMInputs
from kgrec.models.kgbm4rec.network import KGBMNetwork
from kgrec.models.kgbm4rec.sampling import Prefetcher, SampledGraphSource
from kgrec.models.modality import ModalityStatus
from kgrec.models.nn.transformer import by_length, windows
from kgrec.models.trainable import TrainableRecommender

INFERENCE_SEEDS = 512  # seed nodes per sampled subgraph when the tables are computed for scoring

DEFAULTS: dict[str, Any] = KGBMConfig().as_dict()  # the registry's view of the defaults (kgctl train --help, tune)


@register
class KGBM4Rec(TrainableRecommender):
    name = "kgbm4rec"
    predicts_rating = True
    uses_history = True
    requires: ClassVar[tuple[str, ...]] = ("kg", "text_emb", "image_emb")
    defaults = DEFAULTS
    # ``kgctl tune --model kgbm4rec`` without --grid: the two presets, chosen on validation (two
    # trainings; docs/train-evaluate.md gives their cost on ML-100k and ML-1M)
    search_space = {"preset": list(PRESETS)}
    # hyperparameter -> the modality it switches off (keys of ``modalities``); ``kgctl train
    # --model kgbm4rec --ablations`` trains one variant per switch
    ablations = {"no_kg": "kg", "no_seq": "sequence", "no_text": "text", "no_image": "image"}

    def __init__(self, **hparams: Any):
        self.config = KGBMConfig.from_hparams(hparams)  # its defaults include the trainer's keys
        super().__init__(**self.config.as_dict())
        self.hparams = self.config.as_dict()  # the same keys, for the trainer and model.json
        # what the pipeline loads for fit(graph=...): the sampled GNN reads the KG from the database per batch
        needs_kg = not self.config.sampled or self.config.category_weight > 0
        # per instance on purpose (the config decides whether the KG is loaded up front)
        self.requires = tuple(r for r in type(self).requires if r != "kg" or needs_kg)  # type: ignore[misc]
        self._backend: Backend | None = None
        self._source: SampledGraphSource | None = None
        self._prefetcher: Prefetcher | None = None
        self.sampling_stats: list[dict[str, float]] = []
        self.modalities: dict[str, ModalityStatus] = {}
        self.ckg: CollaborativeKG | None = None
        self._network_args: dict[str, Any] = {}
        self._inputs: KGBMInputs | None = None
        self._structure: RelationalCSR | None = None
        self._features: dict[str, torch.Tensor] = {}
        self._cache: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self.category_ids = np.asarray([], dtype=object)  # class order of predict_category's probabilities
        self.category_head_summary = "off (category_weight=0)"
        self._category_cache: torch.Tensor | None = None  # (n_items, n_categories) logits of the trained model
        self.history = np.zeros((0, int(self.config.max_len)), np.int64)
        self._negative_p: np.ndarray | None = None  # the sampled softmax's proposal, when not uniform

    @property
    def sampled(self) -> bool:
        """The GNN trains and infers on subgraphs sampled from the graph store (``gnn_sampler=cypher``)."""
        return self.config.gnn_sampler == "cypher"

    @property
    def reads_graph_store(self) -> bool:
        """Training reads the graph store itself (not only what ``requires`` preloads): each DDP
        rank then opens the database read-only."""
        return self.sampled and not self.config.no_kg

    @property
    def causal(self) -> bool:
        return self.config.seq_objective == "next"

    # ================================================================== setup
    def _resolve_inputs(self, train: InteractionData, kwargs: dict) -> KGBMInputs:
        if kwargs.get("inputs") is not None:
            return kwargs["inputs"]
        if kwargs.get("graph") is not None:
            return KGBMInputs.from_graph_inputs(kwargs["graph"])
        if kwargs.get("backend") is not None:
            needs_kg = (
                not self.config.no_kg and not self.sampled
            ) or self.config.category_weight > 0  # category labels live in the KG
            return KGBMInputs.from_backend(kwargs["backend"], train.item_ids, kg=needs_kg)
        return KGBMInputs()

    def _choose_modalities(self, inputs: KGBMInputs) -> dict[str, ModalityStatus]:
        hp = self.config
        on, off = ModalityStatus.on, ModalityStatus.off
        has_kg = self._source.has_kg if self._source is not None else inputs.has_kg()
        return {
            "kg": off("no_kg")
            if hp.no_kg
            else (on() if has_kg else on("interaction graph only: no KG relations in the data")),
            "sequence": off("no_seq") if hp.no_seq else on(),
            "text": off("no_text")
            if hp.no_text
            else (on() if inputs.has_text() else off("no Product.text_emb in the graph; run `kgctl embed`")),
            "image": off("no_image")
            if hp.no_image
            else (on() if inputs.has_image() else off("no Product.image_emb in the graph; run `kgctl embed`")),
        }

    def modality_summary(self) -> str:
        used = [m for m, s in self.modalities.items() if s.is_on]
        off = [f"{m} ({s.note})" for m, s in self.modalities.items() if not s.is_on]
        return f"kgbm4rec modalities used: {', '.join(used) or 'none'}" + (f"; off: {'; '.join(off)}" if off else "")

    # ================================================================== training
    def fit(  # type: ignore[override]  # the Trainer is injected (keyword-only); Recommender.fit takes none
        self, train: InteractionData, valid: InteractionData | None = None, *, trainer: Any, **kwargs: Any
    ) -> dict:
        """Train with the shared Trainer. Inputs (KG, text/image vectors) come from ``inputs=``
        (``KGBMInputs``), ``graph=`` (the pipeline's ``GraphInputs``) or ``backend=``."""
        if len(train) == 0:
            raise KgrecError("no training interactions", "ingest interactions first (kgctl ingest)")
        self._inputs = self._resolve_inputs(train, kwargs)
        self._backend = kwargs.get("backend")
        if self.sampled and not self.config.no_kg and self._backend is None:
            raise KgrecError(
                "gnn_sampler=cypher samples the GNN's subgraphs from the graph store, and no graph store was given",
                "pass backend= to fit (kgctl train does), or use gnn_sampler=full",
            )
        self._cache = self._category_cache = None
        self.sampling_stats = []
        try:
            history = trainer.fit(self, train, valid)
            self._inputs = None
            self._cache = self._tables()
            self._category_cache = self._category_logits()
        finally:
            self._end_sampling()
            self._backend = None
        history["modalities"] = {m: str(s) for m, s in self.modalities.items()}  # the string form, for JSON
        if self.sampling_stats:
            history["sampling"] = self.sampling_stats
        if self.config.category_weight > 0:
            history["category_head"] = self.category_head_summary
        return history

    def prepare(self, train: InteractionData, graph) -> None:
        hp = self.config
        inputs = self._inputs if self._inputs is not None else KGBMInputs.from_graph_inputs(graph)
        self._end_sampling()
        if self.sampled and not hp.no_kg:
            rank = (
                torch.distributed.get_rank()
                if torch.distributed.is_available() and torch.distributed.is_initialized()
                else 0
            )
            assert self._backend is not None  # checked in fit() before prepare()
            self._source = SampledGraphSource(
                self._backend,
                train,
                fanout=list(hp.fanout),
                min_degree=int(hp.kg_min_degree),
                entity_buckets=hp.entity_buckets,
                seed=int(hp.seed) + 7919 * rank,
            )
            self._prefetcher = Prefetcher(self._source, enabled=bool(hp.prefetch))
        self.modalities = self._choose_modalities(inputs)
        if hp.verbose:
            print(self.modality_summary(), file=sys.stderr)
        use = {m: s.is_on for m, s in self.modalities.items()}
        self._features = {}
        text_dim = image_dim = 0
        for name, on in (("text", use["text"]), ("image", use["image"])):
            if on:
                matrix = np.asarray(getattr(inputs, name), dtype=np.float32)
                self._features[name] = torch.from_numpy(matrix).to(self.device)
                self._features[name + "_present"] = torch.from_numpy(
                    np.asarray(getattr(inputs, name + "_present"), dtype=np.float32)
                ).to(self.device)
        text_dim = self._features["text"].shape[1] if "text" in self._features else 0
        image_dim = self._features["image"].shape[1] if "image" in self._features else 0
        self._prepare_categories(inputs, train.n_items)
        if use["kg"] and self._source is not None:  # sampled subgraphs: no full graph in memory
            self.ckg, self._structure = None, None
            n_nodes, n_relations = self._source.rows.n_rows, self._source.n_relations
        elif use["kg"]:
            self.ckg = CollaborativeKG.build(train, inputs.kg, min_degree=hp.kg_min_degree)
            self._structure = self.ckg.propagation().to(self.device)
            n_nodes, n_relations = self.ckg.n_nodes, self.ckg.n_relations
        else:
            self.ckg, self._structure, self._source = None, None, None
            n_nodes = n_relations = 0
        self._network_args = {
            "n_items": train.n_items,
            "n_users": train.n_users,
            "dim": hp.dim,
            "max_len": hp.max_len,
            "n_layers": hp.n_layers,
            "n_heads": hp.n_heads,
            "dropout": hp.dropout,
            "use_seq": use["sequence"],
            "use_kg": use["kg"],
            "text_dim": text_dim,
            "image_dim": image_dim,
            "n_nodes": n_nodes,
            "n_relations": n_relations,
            "gnn_layers": hp.gnn_layers,
            "conv": hp.conv,
            "n_bases": hp.n_bases,
            "gnn_dropout": hp.gnn_dropout,
            "causal": self.causal,
            "inner": hp.inner,
            "attn_dropout": hp.attn_dropout,
            "user_offset": self.ckg.user_offset if self.ckg else 0,
            "rating_weight": hp.rating_weight,
            "like_weight": hp.like_weight,
            "n_categories": len(self.category_ids),
            "category_weight": float(hp.category_weight),
            "gnn_every": int(hp.gnn_every),
            "closed_sides": bool(hp.closed_sides),
            "popularity_gate": bool(hp.popularity_gate),
        }
        if hp.popularity_gate:
            self._features["popularity"] = torch.from_numpy(item_popularity(train)).to(self.device)
        self._train_windows(train)
        self._negative_distribution(train)
        self.observe_history(train)

    def _prepare_categories(self, inputs: KGBMInputs, n_items: int) -> None:
        """Category targets of the items the training graph labels (IN_CATEGORY), when the
        category head is on; items without a category in the graph get no target."""
        self.category_ids = np.asarray([], dtype=object)
        if self.config.category_weight <= 0:
            self.category_head_summary = "off (category_weight=0)"
            return
        categories, target = inputs.item_categories(n_items)
        labelled = np.flatnonzero(target.sum(1) > 0)
        if len(categories) < 2 or not len(labelled):
            self.category_head_summary = "off (the graph gives fewer than 2 categories to the items)"
            if self.config.verbose:
                print(f"kgbm4rec category head {self.category_head_summary}", file=sys.stderr)
            return
        self.category_ids = categories
        self._features["category_items"] = torch.from_numpy(labelled).to(self.device)
        self._features["category_target"] = torch.from_numpy(target[labelled]).to(self.device)
        self.category_head_summary = (
            f"on ({len(categories)} categories, {len(labelled)} of {n_items} items labelled by IN_CATEGORY)"
        )
        if self.config.verbose:
            print(f"kgbm4rec category head {self.category_head_summary}", file=sys.stderr)

    def build_network(self) -> KGBMNetwork:
        return KGBMNetwork(**self._network_args).attach(self._structure, self._features)

    def _train_windows(self, train: InteractionData) -> None:
        """Every user's training sequence cut into windows (items and ratings, right-padded):
        ``max_len + 1`` long for next-item training (inputs [:-1], targets [1:]), ``max_len`` for cloze."""
        step = int(self.config.max_len)
        length = step + (1 if self.causal else 0)
        bounds = np.searchsorted(train.user, np.arange(train.n_users + 1))
        positions = [np.arange(bounds[u], bounds[u + 1]) for u in range(train.n_users)]
        if self.causal:  # windows overlap by one item, so every item but a user's first is a target once
            chunks = [p[max(0, end - length):end] for p in positions for end in range(len(p), 1, -step)]
        else:
            chunks = windows(positions, length)
        self._win_items = np.zeros((len(chunks), length), np.int64)  # token = item + 1
        self._win_ratings = np.full((len(chunks), length), np.nan, np.float32)
        self._win_users = np.zeros(len(chunks), np.int64)
        for row, c in enumerate(chunks):
            self._win_items[row, : len(c)] = train.item[c] + 1
            self._win_ratings[row, : len(c)] = train.rating[c]
            self._win_users[row] = train.user[c[0]]

    def _negative_distribution(self, train: InteractionData) -> None:
        """The sampled softmax's proposal q (``num_negatives > 0``): ``uniform``, or ``popularity``
        (q proportional to (training count + 1) ** 0.75, drawn with replacement); the network
        subtracts log(K q) from every candidate's logit (the sampled-softmax correction), so the
        popular items a uniform sample rarely contains still compete with the target."""
        self._negative_p = None
        k = self._sampled_negatives()
        if not k:
            return
        if self.config.negative_sampler == "popularity":
            weight = (train.item_counts() + 1.0) ** 0.75
            self._negative_p = weight / weight.sum()
            self._features["negative_log_kq"] = torch.from_numpy(np.log(k * self._negative_p).astype(np.float32)).to(
                self.device
            )

    def _sampled_negatives(self) -> int:
        """Negatives per batch of the sampled softmax; 0 = full softmax (also when num_negatives
        is not below the number of items)."""
        k = int(self.config.num_negatives or 0)
        return k if 0 < k < self.n_items else 0

    def batches(self, train: InteractionData, rng: np.random.Generator) -> list[tuple]:
        hp = self.config
        order = rng.permutation(len(self._win_items))
        tokens, ratings, users = self._win_items[order], self._win_ratings[order], self._win_users[order]
        if self.causal:
            inputs, targets, ratings = tokens[:, :-1], tokens[:, 1:], ratings[:, 1:]
        else:
            inputs, targets = self._cloze(tokens, rng)
        size, k = int(hp.batch_size), self._sampled_negatives()
        out = []
        for s in range(0, len(order), size):
            negatives = np.zeros(0, np.int64)
            if k:
                negatives = rng.choice(self.n_items, k, replace=self._negative_p is not None, p=self._negative_p)
            out.append(
                tuple(
                    torch.from_numpy(np.ascontiguousarray(a))
                    for a in (
                        inputs[s : s + size],
                        targets[s : s + size],
                        ratings[s : s + size],
                        users[s : s + size],
                        negatives,
                    )
                )
            )
        if self._prefetcher is not None:
            out = self._with_subgraphs(out)
        return out

    def _with_subgraphs(self, batches: list[tuple]) -> list[tuple]:
        """Each batch gets its subgraph (sampled in the background, see ``Prefetcher``): seeds are
        the batch's users and every item its loss reads (history, targets, negatives; all items
        under the full softmax, whose every item is a candidate)."""
        assert self._prefetcher is not None  # called only when sampling
        if self._prefetcher.stats.batches:
            self.sampling_stats.append(self._prefetcher.stats.as_dict())
            self._prefetcher.stats = type(self._prefetcher.stats)()
        seeds = [self.batch_seeds(*b) for b in batches]
        dist = torch.distributed.is_available() and torch.distributed.is_initialized()
        rank, world = (torch.distributed.get_rank(), torch.distributed.get_world_size()) if dist else (0, 1)
        pending = self._prefetcher.epoch(seeds, rank, world)
        return [(*b, p) for b, p in zip(batches, pending)]

    def batch_seeds(self, tokens: torch.Tensor, targets: torch.Tensor, ratings: torch.Tensor, users: torch.Tensor,
                    negatives: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(users, items) a training batch's loss reads GNN rows of: its users, and the items of its
        histories, targets and negatives (every item under the full softmax)."""
        if not negatives.numel():
            return np.unique(users.numpy()), np.arange(self.n_items)
        t = torch.cat([tokens.flatten(), targets.flatten()])
        items = np.concatenate([t[(t > 0) & (t <= self.n_items)].numpy() - 1, negatives.numpy()])
        return np.unique(users.numpy()), np.unique(items)

    def _end_sampling(self) -> None:
        """Stop the prefetch thread and let go of the graph store (a trained model scores from its tables)."""
        if self._prefetcher is not None:
            if self._prefetcher.stats.batches:
                self.sampling_stats.append(self._prefetcher.stats.as_dict())
            self._prefetcher.close()
        self._prefetcher, self._source = None, None

    def _cloze(self, tokens: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """BERT4Rec masking: each real item masked with ``mask_prob`` (at least one per window);
        a ``last_mask_prob`` share of windows masks only its last item (the inference situation)."""
        hp = self.config
        real = tokens > 0
        lengths = real.sum(1)
        masked = real & (rng.random(tokens.shape) < float(hp.mask_prob))
        only_last = rng.random(len(tokens)) < float(hp.last_mask_prob)
        none = ~masked.any(1)
        masked[only_last] = False
        pick = only_last | none
        masked[np.nonzero(pick)[0], lengths[pick] - 1] = True
        targets = np.where(masked, tokens, 0)
        inputs = np.where(masked, self.n_items + 1, tokens) if not self.config.no_seq else tokens
        return inputs, targets

    # ================================================================== inference
    @torch.no_grad()
    def _tables(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        was_training = self.net.training
        self.net.eval()
        out = self._sampled_tables() if self._source is not None else self.net.tables()
        self.net.train(was_training)
        return out

    def _sampled_tables(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The tables from GNN representations computed on sampled subgraphs, ``INFERENCE_SEEDS``
        items or users at a time (the same fan-out as training, a fixed seed: the same weights
        give the same tables); no full graph is built."""
        assert self._source is not None  # set by prepare() when sampling
        rng = np.random.default_rng(int(self.config.seed))
        dim = int(self.config.dim)
        gnn_items = torch.zeros(self.n_items, dim, device=self.device)
        gnn_users = torch.zeros(self.n_users, dim, device=self.device)
        none = np.zeros(0, np.int64)
        for n, target in ((self.n_items, gnn_items), (self.n_users, gnn_users)):
            for start in range(0, n, INFERENCE_SEEDS):
                chunk = np.arange(start, min(n, start + INFERENCE_SEEDS))
                sub = self._source.sample(
                    none if target is gnn_items else chunk, chunk if target is gnn_items else none, rng
                )
                items, users = self.net.graph_embeddings(sub.to(self.device))
                rows = torch.from_numpy(chunk).to(self.device)
                target[rows] = (items if target is gnn_items else users)[rows]
        return self.net.item_table(gnn_items), gnn_users

    def observe_history(self, known: InteractionData) -> None:
        """Use ``known`` (train, or train + validation for the test) as the users' histories:
        the last items as right-padded tokens, followed by [MASK] for the cloze objective."""
        self.history = self._history_tokens(list(known.sequences()))

    def _current_tables(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The cached tables of a trained model; recomputed from the weights during training."""
        return self._cache if self._cache is not None else self._tables()

    def _history_tokens(self, histories: list[np.ndarray]) -> np.ndarray:
        """Right-padded tokens of histories (item indices, oldest first), as ``observe_history``
        builds them: the last ``max_len`` items (``max_len - 1`` and a [MASK] for cloze)."""
        length = int(self.config.max_len)
        keep = length if self.causal else length - 1
        tokens = np.zeros((len(histories), length), np.int64)
        for row, seq in enumerate(histories):
            seq = np.asarray(seq, dtype=np.int64)
            seq = seq[-keep:] if keep > 0 else seq[:0]
            tokens[row, : len(seq)] = seq + 1
            if not self.causal:
                tokens[row, len(seq)] = self.n_items + 1
        return tokens

    @torch.no_grad()
    def user_states(self, users: np.ndarray | torch.Tensor, tables=None) -> torch.Tensor:
        """z_u for each user (eval mode): the state at the [MASK] after the history (cloze) or at
        the last history item (next)."""
        self._require_fitted()
        users = np.asarray(users.cpu() if torch.is_tensor(users) else users, dtype=np.int64)
        return self._states(self.history[users], users, tables if tables is not None else self._current_tables())

    @torch.no_grad()
    def _states(self, tokens: np.ndarray, users: np.ndarray, tables) -> torch.Tensor:
        """User states from history tokens; ``users[i] == -1`` (a user the model never saw) gets
        what the history alone gives: the transformer's state without the per-user GNN term (and,
        in the ``no_seq`` ablation, which has only per-user vectors, the mean user vector). Rows
        are encoded in groups of similar length, each cut to its longest row (``by_length``)."""
        tokens_t = torch.from_numpy(np.ascontiguousarray(tokens)).to(self.device)
        out = torch.empty(len(users), self.net.dim, device=self.device)
        for rows, part in by_length(tokens_t):
            out[rows] = self._group_states(part, users[rows.cpu().numpy()], tables)
        return out

    def _group_states(self, tokens_t: torch.Tensor, users: np.ndarray, tables) -> torch.Tensor:
        """``_states`` of one group of rows (``tokens_t`` already on the device)."""
        items, gnn_users = tables
        known = users >= 0
        was_training = self.net.training
        self.net.eval()
        z = torch.empty(len(users), tokens_t.shape[1], self.net.dim, device=self.device)
        if known.any():
            rows = torch.from_numpy(np.flatnonzero(known)).to(self.device)
            z[rows] = self.net.encode(tokens_t[rows], items, torch.from_numpy(users[known]).to(self.device), gnn_users)
        if not known.all():
            rows = torch.from_numpy(np.flatnonzero(~known)).to(self.device)
            if self.net.use_seq:
                z[rows] = self.net.encode(
                    tokens_t[rows], items, torch.zeros(len(rows), dtype=torch.long, device=self.device), None
                )
            else:
                mean = self.net.out_norm(self.net.user_embedding.weight.mean(0))
                z[rows] = mean.expand(len(rows), tokens_t.shape[1], -1)
        self.net.train(was_training)
        if self.causal:
            at = ((tokens_t > 0).sum(1) - 1).clamp(min=0)
        else:
            at = (tokens_t == self.n_items + 1).float().argmax(1)
        return z[torch.arange(len(users), device=z.device), at]

    @torch.no_grad()
    def score_histories(self, histories: list[np.ndarray], users: np.ndarray | None = None) -> np.ndarray:
        """Scores (len(histories), n_items) of users given by their current histories (item
        indices, oldest first; the server passes what the graph holds now). ``users``: the model's
        index of each user, -1 for a user it never saw, who is scored from the history alone: no
        per-user GNN term (see ``_states``). Without ``users`` every user is treated as new."""
        self._require_fitted()
        users = np.full(len(histories), -1, np.int64) if users is None else np.asarray(users, dtype=np.int64)
        if len(users) != len(histories):
            raise KgrecError(f"{len(histories)} histories but {len(users)} users")
        tables = self._current_tables()
        tokens = self._history_tokens(histories)
        out = [
            self.net.rank_logits(self._states(tokens[s : s + 512], users[s : s + 512], tables), tables[0])
            .float()
            .cpu()
            .numpy()
            for s in range(0, len(users), 512)
        ]
        return np.concatenate(out) if out else np.zeros((0, self.n_items), np.float32)

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        tables = self._current_tables()
        out = [
            self.net.rank_logits(self.user_states(users[s : s + 512], tables), tables[0])
            for s in range(0, len(users), 512)
        ]
        return torch.cat(out) if out else torch.zeros((0, self.n_items), device=self.device)

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
        tables = self._current_tables()
        uniq, inverse = np.unique(users, return_inverse=True)
        z = self.user_states(uniq, tables)[torch.from_numpy(inverse).to(self.device)]
        pred, logit = self.net.rating_outputs(z, tables[0][torch.from_numpy(items).to(self.device)])
        return pred.cpu().numpy().astype(np.float64), logit.cpu().numpy().astype(np.float64)

    @torch.no_grad()
    def predict_category(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(most likely Category id per item, probabilities (len(items), len(category_ids)) in the
        order of ``category_ids``) from the category head (on the items' content vectors, see
        ``KGBMNetwork.category_logits``)."""
        self._require_fitted()
        if self.net.category_head is None:
            raise KgrecError("this kgbm4rec model has no category head",
                             "train it with category_weight > 0 on a graph whose products have IN_CATEGORY edges")
        index = torch.as_tensor(np.asarray(items, dtype=np.int64))
        logits = self._category_cache if self._category_cache is not None else self._category_logits()
        assert logits is not None  # the model has a category head
        probabilities = torch.softmax(logits.cpu()[index].float(), -1).numpy()
        return np.asarray(self.category_ids, dtype=object)[probabilities.argmax(1)], probabilities

    @torch.no_grad()
    def _category_logits(self) -> torch.Tensor | None:
        """Category logits of every item from the current weights (eval mode); None without the head."""
        if self.net is None or self.net.category_head is None:
            return None
        was_training = self.net.training
        self.net.eval()
        out = self.net.category_logits(self.net.content_table())
        self.net.train(was_training)
        return out

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
        assert self.ckg is not None  # a graph branch has its collaborative KG
        self.net.eval()
        node_ids, structure, positions = subgraph_from_hetero_batch(batch, store_index, self.ckg)
        return self.net.gnn(structure.to(self.device), node_ids.to(self.device)), node_ids, positions

    # ================================================================== persistence
    def extra_state(self) -> dict[str, Any]:
        self._require_fitted()
        ckg = None
        if self.ckg is not None:
            ckg = {"node_labels": self.ckg.node_labels.astype(str), "node_ids": self.ckg.node_ids.astype(str),
                   "n_items": self.ckg.n_items, "n_users": self.ckg.n_users, "user_offset": self.ckg.user_offset,
                   "relation_names": list(self.ckg.relation_names)}
        assert self._cache is not None  # filled by fit and load
        items, gnn_users = self._cache
        return {
            "config": self._network_args,
            "modalities": {m: str(s) for m, s in self.modalities.items()},
            "history": self.history,
            "category_ids": [str(c) for c in self.category_ids],
            "category_logits": None if self._category_cache is None else self._category_cache.detach().cpu(),
            "items": items.detach().cpu(),
            "gnn_users": None if gnn_users is None else gnn_users.detach().cpu(),
            "ckg": ckg,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._network_args = dict(state["config"])
        self.n_users, self.n_items = self._network_args["n_users"], self._network_args["n_items"]
        self._structure, self._features = None, {}
        self.net = self.build_network()
        self.net.load_state_dict(state["net"])
        self.net.eval()
        self.modalities = {m: ModalityStatus.parse(s) for m, s in state["modalities"].items()}
        self.category_ids = np.asarray(state.get("category_ids", []), dtype=object)
        self._category_cache = state.get("category_logits")
        self.history = np.asarray(state["history"])
        self._cache = (state["items"], state["gnn_users"])
        c = state.get("ckg")
        if c is not None:
            empty = np.zeros(0, np.int64)
            self.ckg = CollaborativeKG(
                np.asarray(c["node_labels"], dtype=object), np.asarray(c["node_ids"], dtype=object), c["n_items"],
                c["n_users"], c["user_offset"], list(c["relation_names"]), empty, empty, empty,
            )

    # ------------------------------------------------------------------ helpers
    def _require_fitted(self) -> None:
        if self.net is None:
            raise KgrecError("kgbm4rec is not trained", "fit it or load a checkpoint first")

    def _require_kg(self) -> None:
        if self.net is None or not self.net.use_kg:
            raise KgrecError(
                "this kgbm4rec model has no graph branch", "train it without no_kg and with a knowledge graph"
            )
        if self._structure is None:
            raise KgrecError(
                "the full-graph structure is only available in the training process of a gnn_sampler=full model",
                "refit, or use the sampled path",
            )



def item_popularity(train: InteractionData) -> np.ndarray:
    """Each item's log(1 + training count), standardised over the items (float32; all zero when
    every item has the same count): what the popularity gates read."""
    log_count = np.log1p(train.item_counts().astype(np.float64))
    spread = log_count.std()
    if spread == 0:
        return np.zeros(train.n_items, np.float32)
    return ((log_count - log_count.mean()) / spread).astype(np.float32)
