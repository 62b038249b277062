"""KGBM4Rec: the knowledge-graph-backed multimodal recommender (registered as ``kgbm4rec``)."""

from kgrec.models.kgbm4rec.model import KGBM4Rec

# The ablation switches (hyperparameter -> the modality it turns off, the keys of
# ``KGBM4Rec.modalities``); ``kgctl train --model kgbm4rec --ablations`` trains one variant each.
# Kept here so it does not collide with work on model.py; it belongs in the class body.
KGBM4Rec.ablations = {"no_kg": "kg", "no_seq": "sequence", "no_text": "text", "no_image": "image"}

__all__ = ["KGBM4Rec"]
