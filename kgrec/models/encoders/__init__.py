"""Text and image encoders that write embeddings onto Product nodes, and nearest-neighbour search.

Importing this package applies ``timm_compat`` first: timm and transformers (under
sentence-transformers) both import torchvision, which needs the shim beside the CPU torch.
"""

from kgrec.models.encoders import timm_compat  # noqa: F401  (must precede torchvision/timm/transformers)
