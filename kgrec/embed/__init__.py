"""Text and image encoders that write embeddings onto Product nodes, and nearest-neighbour search.

Importing this package applies ``timm_compat`` first: timm and transformers (under
sentence-transformers) both import torchvision, which needs the shim beside the CPU torch.
"""

from kgrec.embed import timm_compat  # noqa: F401  (must precede torchvision/timm/transformers)

__all__ = ["embed_products", "similar_products"]


def __getattr__(name: str):
    """``embed_products`` and ``similar_products`` at package level, imported on first use."""
    if name == "embed_products":
        from kgrec.embed.pipeline import embed_products

        return embed_products
    if name == "similar_products":
        from kgrec.embed.neighbours import similar_products

        return similar_products
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
