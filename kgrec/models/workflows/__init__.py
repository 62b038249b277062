"""Workflows that wire data, models, training and evaluation: train/evaluate pipeline, tuning,
ablations. Nothing inside kgrec.models imports this package."""
