"""Recommendation models, their shared interface, training and evaluation."""
