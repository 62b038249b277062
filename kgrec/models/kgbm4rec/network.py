"""The KGBM4Rec network: item tower (id + gated text/image/KG projections), BERT4Rec-style
bidirectional sequence encoder, gated user fusion with the GNN user embedding, and three heads
(ranking softmax, rating regression, like/dislike)."""

from __future__ import annotations

import torch
from torch import nn

from kgrec.models.kgbm4rec.gnn import RelationalGNN
from kgrec.models.kgbm4rec.graph import RelationalCSR


class GatedAdd(nn.Module):
    """base + sigmoid(W [base; x]) * proj(x): how much of a side signal to let in, per dimension."""

    def __init__(self, in_dim: int, dim: int, dropout: float):
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(in_dim, dim), nn.LayerNorm(dim), nn.Dropout(dropout))
        self.gate = nn.Linear(2 * dim, dim)
        nn.init.constant_(self.gate.bias, -1.0)

    def forward(self, base: torch.Tensor, x: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        side = self.proj(x)
        gate = torch.sigmoid(self.gate(torch.cat([base, side], -1)))
        out = gate * side
        if present is not None:
            out = out * present.unsqueeze(-1)
        return base + out


class KGBMNetwork(nn.Module):
    def __init__(self, *, n_items: int, n_users: int, dim: int, max_len: int, n_layers: int, n_heads: int,
                 dropout: float, use_seq: bool, use_kg: bool, text_dim: int, image_dim: int,
                 n_nodes: int, n_relations: int, gnn_layers: int, conv: str, n_bases: int, gnn_dropout: float):
        super().__init__()
        self.n_items, self.dim, self.max_len = n_items, dim, max_len
        self.pad, self.mask = 0, n_items + 1  # item i is token i + 1
        self.use_seq, self.use_kg = use_seq, use_kg
        self.item_embedding = nn.Embedding(n_items + 2, dim, padding_idx=0)
        nn.init.normal_(self.item_embedding.weight, std=0.02)
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.text = GatedAdd(text_dim, dim, dropout) if text_dim else None
        self.image = GatedAdd(image_dim, dim, dropout) if image_dim else None
        self.gnn = RelationalGNN(n_nodes, n_relations, dim, gnn_layers, conv, n_bases, gnn_dropout) if use_kg else None
        self.item_graph = GatedAdd(dim, dim, dropout) if use_kg else None
        self.user_graph = GatedAdd(dim, dim, dropout) if use_kg else None
        if use_seq:
            self.position = nn.Embedding(max_len, dim)
            nn.init.normal_(self.position.weight, std=0.02)
            layer = nn.TransformerEncoderLayer(dim, n_heads, 4 * dim, dropout, activation="gelu", batch_first=True, norm_first=False)
            self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
            self.input_norm = nn.LayerNorm(dim)
            self.input_dropout = nn.Dropout(dropout)
        else:
            self.user_embedding = nn.Embedding(n_users, dim)
            nn.init.normal_(self.user_embedding.weight, std=0.02)
        self.out_norm = nn.LayerNorm(dim)
        self.rating_head = nn.Sequential(nn.Linear(3 * dim, dim), nn.GELU(), nn.Linear(dim, 2))

    # ------------------------------------------------------------------ towers
    def item_table(self, features: dict[str, torch.Tensor], gnn_items: torch.Tensor | None) -> torch.Tensor:
        """Fused representations of all items (n_items, dim)."""
        v = self.item_embedding.weight[1:-1]
        if self.text is not None:
            v = self.text(v, features["text"], features["text_present"])
        if self.image is not None:
            v = self.image(v, features["image"], features["image_present"])
        if self.item_graph is not None and gnn_items is not None:
            v = self.item_graph(v, gnn_items)
        return v

    def graph_embeddings(self, graph: RelationalCSR, n_items: int, user_offset: int, n_users: int):
        h = self.gnn(graph)
        return h[:n_items], h[user_offset:user_offset + n_users]

    def encode(self, tokens: torch.Tensor, items: torch.Tensor, users: torch.Tensor,
               gnn_users: torch.Tensor | None) -> torch.Tensor:
        """Per-position user states (B, L, dim). ``items``: fused item table; tokens use item i+1,
        0 padding, n_items+1 mask."""
        if self.use_seq:
            table = torch.cat([self.item_embedding.weight[:1], items, self.item_embedding.weight[-1:]])
            x = table[tokens] + self.position.weight[: tokens.shape[1]].unsqueeze(0)
            x = self.input_dropout(self.input_norm(x))
            z = self.encoder(x, src_key_padding_mask=tokens == self.pad)
        else:
            z = self.user_embedding(users).unsqueeze(1).expand(-1, tokens.shape[1], -1)
        if self.user_graph is not None and gnn_users is not None:
            g = gnn_users[users].unsqueeze(1).expand(-1, tokens.shape[1], -1)
            z = self.user_graph(z, g)
        return self.out_norm(z)

    # ------------------------------------------------------------------ heads
    def rank_logits(self, z: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return z @ items.T + self.item_bias

    def rating_outputs(self, z: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rating prediction, like logit) for user states z and item representations v."""
        out = self.rating_head(torch.cat([z, v, z * v], -1))
        return out[..., 0] + 3.5, out[..., 1]
