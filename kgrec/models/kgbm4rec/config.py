"""KGBM4Rec's hyperparameters as one typed dataclass, and the typed status of each modality.

The field names are the keys on the command line (``kgctl train --model kgbm4rec -p key=value``)
and in a checkpoint's ``model.json`` (``hparams``); a ``model.json`` written before a field
existed loads with that field's default.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from kgrec.errors import KgrecError
from kgrec.models.trainable import LR_SCHEDULES

SEQ_OBJECTIVES = ("cloze", "next")
NEGATIVE_SAMPLERS = ("popularity", "uniform")
CONVOLUTIONS = ("compgcn", "rgcn")
GNN_SAMPLERS = ("full", "cypher")
DEFAULT_FANOUT = (15, 10, 5)
# Named starting points (``-p preset=NAME``): a preset's values apply first, then every key given
# beside it. "default" is the dataclass defaults, chosen on ML-100k (about 60 ratings per film); "large" is
# the configuration that reached the target on ML-1M (270 ratings per film), where the id embeddings
# learn well on their own: side branches start closed and read each item's popularity, width 128,
# no rating or like losses. ``kgctl tune --model kgbm4rec`` chooses between them on validation.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "large": {"dim": 128, "closed_sides": True, "popularity_gate": True, "rating_weight": 0.0, "like_weight": 0.0},
}


@dataclasses.dataclass
class KGBMConfig:
    """Defaults chosen on ML-100k validation NDCG@10 (docs/design/model.md); ``preset`` names the
    starting point the other fields were filled from (PRESETS); build it with ``from_hparams``,
    which applies the preset, rather than directly."""

    preset: str = "default"
    # sequence encoder
    dim: int = 64
    max_len: int = 50
    n_layers: int = 2
    n_heads: int = 2
    inner: int = 256
    dropout: float = 0.5
    attn_dropout: float = 0.5
    seq_objective: str = "next"  # next (causal, SASRec-style) or cloze (BERT4Rec)
    mask_prob: float = 0.2
    last_mask_prob: float = 0.25
    # graph
    gnn_layers: int = 2
    conv: str = "compgcn"  # compgcn or rgcn
    n_bases: int = 4
    gnn_dropout: float = 0.1
    kg_min_degree: int = 2  # KG nodes with fewer distinct neighbours are dropped (items never)
    gnn_every: int = 1  # one full-graph GNN propagation per this many steps
    # the text, image and GNN branches start at zero (the untrained network is the id-only one)
    # instead of at unit scale, which swamps the std-0.02 id embeddings for the first epochs
    closed_sides: bool = False
    # the item-side gates (text, image, GNN item term) also read each item's standardised log
    # training count, through weights that start at zero: side signals can be let in for rare
    # items and kept out for frequent ones, whose id embeddings have plenty to learn from
    popularity_gate: bool = False
    # the GNN's graph: "full" (one in-memory CSR of the whole graph) or "cypher" (per-batch
    # subgraphs sampled from the graph store, ``fanout`` neighbours per hop; empty: 15, 10, 5, ...)
    gnn_sampler: str = "full"
    fanout: tuple[int, ...] = ()
    # rows of the KG's non-item, non-user nodes in the sampled GNN: None = one per node up to
    # 131,072 nodes and hashed into 131,072 rows beyond; 0 = one per node; N = hashed into N rows
    entity_buckets: int | None = None
    prefetch: bool = True  # sample the next batch's subgraph on a background thread
    # optimisation (the trainer's keys)
    lr: float = 1e-3
    lr_schedule: str = "constant"  # or "cosine": from lr to 0 over the epochs (kgrec.models.training.schedule)
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 200
    patience: int = 8
    eval_every: int = 3
    clip_grad_norm: float | None = 5.0
    max_seconds: float | None = None
    # heads and losses
    rating_weight: float = 0.1
    like_weight: float = 0.1
    num_negatives: int = 0  # 0: full softmax; K: sampled softmax with K shared negatives per batch
    negative_sampler: str = "popularity"
    category_weight: float = 0.0
    # ablations
    no_kg: bool = False
    no_seq: bool = False
    no_text: bool = False
    no_image: bool = False
    seed: int = 2024
    verbose: bool = True

    def __post_init__(self) -> None:
        for name, choices in (("preset", tuple(PRESETS)), ("seq_objective", SEQ_OBJECTIVES),
                              ("lr_schedule", LR_SCHEDULES), ("negative_sampler", NEGATIVE_SAMPLERS),
                              ("conv", CONVOLUTIONS), ("gnn_sampler", GNN_SAMPLERS)):
            if getattr(self, name) not in choices:
                raise KgrecError(f"unknown {name} {getattr(self, name)!r}", f"choose from {', '.join(choices)}")
        self.fanout = parse_fanout(self.fanout, self.gnn_layers)
        if self.gnn_sampler == "cypher" and self.gnn_every != 1:
            raise KgrecError(
                "gnn_every > 1 reuses one full-graph propagation; it does not apply to gnn_sampler=cypher",
                "drop gnn_every",
            )
        if self.entity_buckets is not None and self.entity_buckets < 0:
            raise KgrecError(f"entity_buckets must be >= 0 (0: one row per node), got {self.entity_buckets}")

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> KGBMConfig:
        """From ``-p key=value`` pairs or a checkpoint's ``hparams`` (values converted to the
        field's type; None means the default; an unknown key is an error)."""
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(hparams) - known)
        if unknown:
            raise KgrecError(
                f"unknown kgbm4rec hyperparameters: {', '.join(unknown)}", f"known: {', '.join(sorted(known))}"
            )
        given = {k: _convert(k, v, hints[k]) for k, v in hparams.items() if v is not None}
        return cls(**{**PRESETS.get(given.get("preset", "default"), {}), **given})  # unknown: __post_init__

    def as_dict(self) -> dict[str, Any]:
        """The hyperparameters under their keys (JSON-ready: the fan-out as a list)."""
        out = dataclasses.asdict(self)
        out["fanout"] = list(self.fanout)
        return out

    @property
    def sampled(self) -> bool:
        return self.gnn_sampler == "cypher"


def parse_fanout(value: Any, layers: int) -> tuple[int, ...]:
    """``fanout``: neighbours sampled per hop, one per GNN layer (``"15,10"``, a list, or empty for
    the default 15, 10, 5, ...); -1 keeps every neighbour."""
    if value is None or value == "" or (isinstance(value, (list, tuple)) and not value):
        base = list(DEFAULT_FANOUT)
        return tuple((base + [base[-1]] * layers)[:layers])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        parts = [int(value)]
    elif isinstance(value, str):
        try:
            parts = [int(v) for v in value.replace(" ", "").split(",") if v]
        except ValueError:
            raise KgrecError(
                f"fanout {value!r} is not a comma-separated list of integers", "e.g. -p fanout=15,10"
            ) from None
    else:
        parts = [int(v) for v in value]
    if len(parts) != layers:
        raise KgrecError(f"fanout {','.join(map(str, parts))} gives {len(parts)} hops for {layers} GNN layers",
                         "give one fan-out per layer (gnn_layers), e.g. -p fanout=15,10")
    if any(p == 0 or p < -1 for p in parts):
        raise KgrecError(f"fanout {','.join(map(str, parts))}: each hop takes -1 (all neighbours) or a positive count")
    return tuple(parts)


def _convert(name: str, value: Any, hint: Any) -> Any:
    if name == "fanout":
        return value  # parsed in __post_init__, which knows the number of layers
    options = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    kind = options[0]
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                return value.lower() in ("true", "1")
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise KgrecError(f"kgbm4rec hyperparameter {name}={value!r} is not {getattr(kind, '__name__', kind)}") from None
