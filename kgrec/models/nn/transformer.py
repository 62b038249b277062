"""Shared pieces of the sequence models (SASRec, BERT4Rec): item-id windows and history tensors.

Item index i is token i + 1; token 0 is padding. Sequences are right-padded, as in RecBole,
so that a causal model never attends to padding.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from kgrec.models.data.interactions import InteractionData


def windows(sequences: list[np.ndarray], length: int) -> list[np.ndarray]:
    """Cut each sequence (item indices) into consecutive windows of at most ``length`` items,
    aligned at the end (the most recent window is full), so every position is trained on."""
    out = []
    for seq in sequences:
        n = len(seq)
        for end in range(n, 0, -length):
            out.append(seq[max(0, end - length) : end])
    return out


def pad_tokens(chunks: list[np.ndarray], length: int) -> np.ndarray:
    """Right-padded token matrix (item index + 1; 0 = padding)."""
    out = np.zeros((len(chunks), length), dtype=np.int64)
    for row, chunk in enumerate(chunks):
        chunk = chunk[-length:]
        out[row, : len(chunk)] = chunk + 1
    return out


def history_tokens(known: InteractionData, length: int) -> np.ndarray:
    """Per user (index order), the last ``length`` known items as right-padded tokens."""
    return pad_tokens(known.sequences(), length)


class TransformerEncoder(nn.Module):
    """Item + position embeddings, dropout, LayerNorm, then post-LN transformer layers (GELU),
    the arrangement of SASRec/BERT4Rec in RecBole."""

    def __init__(
        self, n_tokens: int, max_len: int, dim: int, layers: int, heads: int, inner: int, dropout: float,
        attn_dropout: float,
    ):
        super().__init__()
        self.item = nn.Embedding(n_tokens, dim, padding_idx=0)
        self.position = nn.Embedding(max_len, dim)
        self.norm = nn.LayerNorm(dim, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            dim, heads, inner, dropout, activation="gelu", batch_first=True, layer_norm_eps=1e-12
        )
        layer.self_attn.dropout = attn_dropout
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(0.0, 0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()
        if isinstance(module, nn.LayerNorm):
            module.weight.data.fill_(1.0)
            module.bias.data.zero_()

    def forward(self, tokens: torch.Tensor, causal: bool) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.dropout(self.norm(self.item(tokens) + self.position(positions)[None]))
        if causal:
            mask = torch.triu(torch.ones(tokens.shape[1], tokens.shape[1], dtype=torch.bool, device=tokens.device), 1)
            return self.layers(x, mask=mask)
        return self.layers(x, src_key_padding_mask=tokens == 0)
