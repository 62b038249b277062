"""Shared pieces of the sequence models (SASRec, BERT4Rec): item-id windows, history tokens, the
transformer encoder and the read-out of a user's state.

Item index i is token i + 1; token 0 is padding. Sequences are right-padded, as in RecBole,
so that a causal model never attends to padding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn


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


def history_tokens(sequences: Sequence[np.ndarray], length: int, mask_token: int | None = None) -> np.ndarray:
    """One row per sequence (item indices, oldest first): its last ``length`` items as right-padded
    tokens, or, with ``mask_token`` (BERT4Rec's [MASK]), its last ``length - 1`` items followed by
    that token, the position the model reads the user's state from."""
    keep = length if mask_token is None else length - 1
    tokens = pad_tokens([np.asarray(s, dtype=np.int64)[max(0, len(s) - keep):] for s in sequences], length)
    if mask_token is not None:
        tokens[np.arange(len(tokens)), (tokens > 0).sum(1)] = mask_token
    return tokens


def read_out(hidden: torch.Tensor, tokens: torch.Tensor, mask_token: int | None = None) -> torch.Tensor:
    """Each row's user state from the encoder output: at the ``mask_token`` position when one is
    given, else at the last real item (a zero state for an empty history)."""
    rows = torch.arange(len(tokens), device=tokens.device)
    if mask_token is not None:
        return hidden[rows, (tokens == mask_token).float().argmax(1)]
    last = (tokens > 0).sum(1) - 1
    state = hidden[rows, last.clamp(min=0)]
    return torch.where((last >= 0)[:, None], state, torch.zeros_like(state))


INFERENCE_ROWS = 128  # rows per length group when scoring (``by_length``)


def by_length(tokens: torch.Tensor, rows: int | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Right-padded token rows for inference, grouped by length: (row indices, those rows cut to the
    longest of them), ``rows`` at a time from the shortest to the longest. Only trailing padding
    is cut, which no real position attends to (causal attention looks back only; bidirectional
    attention masks padding keys), so each row's states are those of the uncut matrix while the
    encoder's work falls with the real lengths: on MovieLens-1M (median history 96, cut at 200)
    about half the token positions of the uncut matrix. ``rows``: default ``INFERENCE_ROWS``."""
    rows = int(rows or INFERENCE_ROWS)
    lengths = (tokens > 0).sum(1)
    order = torch.argsort(lengths, stable=True)
    out = []
    for start in range(0, len(order), rows):
        group = order[start : start + rows]
        longest = max(1, int(lengths[group].max()))
        out.append((group, tokens[group, :longest]))
    return out


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

    @classmethod
    def from_hparams(cls, n_tokens: int, hparams: Mapping[str, Any]) -> TransformerEncoder:
        """The encoder a sequence model's hyperparameters describe (``max_len``, ``dim``,
        ``layers``, ``heads``, ``inner``, ``dropout``, ``attn_dropout``)."""
        h = hparams
        return cls(n_tokens, int(h["max_len"]), int(h["dim"]), int(h["layers"]), int(h["heads"]), int(h["inner"]),
                   float(h["dropout"]), float(h["attn_dropout"]))

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
