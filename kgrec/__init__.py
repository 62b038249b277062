"""kgrec: a knowledge-graph-backed multimodal recommender platform (KGBM4Rec)."""

__version__ = "0.1.0"
