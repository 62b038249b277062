"""Shared layers and losses (transformer encoder, dropout, chunked softmax, BPR loss, the eval-mode switch); no model imports another model."""
