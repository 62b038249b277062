"""Shared layers and losses (transformer encoder, dropout, chunked softmax, BPR loss); no model
imports another model."""
