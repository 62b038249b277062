"""Evaluation protocols (full ranking, 1 + 99 sampled), metrics, report tables and plots."""
