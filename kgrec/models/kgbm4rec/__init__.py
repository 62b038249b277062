"""KGBM4Rec: the knowledge-graph-backed multimodal recommender (registered as ``kgbm4rec``)."""

from kgrec.models.kgbm4rec.model import KGBM4Rec

__all__ = ["KGBM4Rec"]
