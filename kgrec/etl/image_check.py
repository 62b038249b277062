"""Check image files named by a source and compute their content hash (pixels stay in the files).

An image that is missing or does not decode is *unreadable*: the product still loads, without an
``image_ref``, and the row goes to the quarantine with the reason.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd

URL_PREFIXES = ("http://", "https://", "s3://", "gs://")


def resolve_ref(value: str, root: Path | None) -> str:
    """A local path made absolute against ``root``; URLs and ``idx:`` references stay as given."""
    if value.startswith(URL_PREFIXES) or value.startswith("idx:"):
        return value
    path = Path(value[len("file://"):] if value.startswith("file://") else value)
    if not path.is_absolute() and root is not None:
        path = root / path
    return str(path.resolve())


def check_image_file(path: str) -> tuple[str | None, str | None]:
    """(sha256 of the file, None) for a readable image, (None, reason) otherwise."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, f"unreadable image: {exc.strerror or 'cannot read'} ({path})"
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return None, f"unreadable image: does not decode ({type(exc).__name__})"
    return hashlib.sha256(data).hexdigest(), None


def check_images(refs: pd.Series, root: Path | None) -> tuple[pd.Series, pd.Series, np.ndarray, list[str | None]]:
    """Resolve and check the non-null references in ``refs``.

    Returns (resolved refs, hashes, bad mask, reasons). URLs are kept unchecked and unhashed
    (nothing is downloaded at ingest); their hash is filled in when an embedder fetches them.
    """
    resolved = pd.Series([None] * len(refs), index=refs.index, dtype=object)
    hashes = pd.Series([None] * len(refs), index=refs.index, dtype=object)
    bad = np.zeros(len(refs), dtype=bool)
    reasons: list[str | None] = [None] * len(refs)
    for pos, value in enumerate(refs.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or not str(value).strip():
            continue
        ref = resolve_ref(str(value).strip(), root)
        if ref.startswith(URL_PREFIXES):
            resolved.iat[pos] = ref
            continue
        digest, reason = check_image_file(ref)
        if reason:
            bad[pos], reasons[pos] = True, reason
            continue
        resolved.iat[pos], hashes.iat[pos] = ref, digest
    return resolved, hashes, bad, reasons
