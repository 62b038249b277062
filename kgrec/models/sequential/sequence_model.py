"""What SASRec and BERT4Rec share: a transformer over each user's item history, the history kept
as tokens (``observe_history``), and scoring a user from the stored history (``score``) or from a
history given at request time (``score_histories``, e.g. the one the graph holds now)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from kgrec.models.nn.transformer import by_length, history_tokens, read_out
from kgrec.models.trainable import TrainableRecommender

if TYPE_CHECKING:  # annotations only: serving a checkpoint never needs the training data's imports (scipy)
    from kgrec.models.data.interactions import InteractionData


class SequenceRecommender(TrainableRecommender):
    """A subclass sets ``causal`` (True: the state at the last item, SASRec; False: the state at a
    [MASK] appended to the history, BERT4Rec) and builds a network with ``encoder`` (a
    ``TransformerEncoder``) and ``logits(states)``."""

    causal: ClassVar[bool] = True
    uses_history: ClassVar[bool] = True

    @property
    def mask_token(self) -> int | None:
        """The [MASK] token the state is read at (bidirectional models), None for causal ones."""
        return None if self.causal else self.n_items + 1

    def observe_history(self, known: InteractionData) -> None:
        self.history = history_tokens(known.sequences(), int(self.hparams["max_len"]), self.mask_token)

    def score_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Scores over all items for each row of history tokens (encoded in groups of similar
        length, each cut to its longest row: ``by_length``)."""
        states = torch.empty(len(tokens), self.net.encoder.item.embedding_dim, device=tokens.device)
        for rows, part in by_length(tokens):
            states[rows] = read_out(self.net.encoder(part, causal=self.causal), part, self.mask_token)
        return self.net.logits(states)

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        return self.score_tokens(torch.from_numpy(self.history).to(self.device)[users])

    def score_histories(self, histories: list[np.ndarray], users: np.ndarray | None = None) -> np.ndarray:
        """Scores from the given histories (their last ``max_len`` items); the model has no
        per-user parameters, so a user it never saw (-1) is scored like any other. The stored
        history is left as it is."""
        histories, _ = self.checked_histories(histories, users)
        if not histories:
            return np.zeros((0, self.n_items), np.float32)
        tokens = history_tokens(histories, int(self.hparams["max_len"]), self.mask_token)
        return self.infer(self.score_tokens, torch.from_numpy(tokens).to(self.device))

    def extra_state(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.history = np.asarray(state["history"])
