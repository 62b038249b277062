"""Image references stored on Product nodes (``image_ref``), and reading the pixels they point to.

Pixels stay in files, never in the graph. A reference is either

* a file path or ``file://`` URL of an image (PNG, JPEG, ...), or
* ``idx:PATH#N``: image N (0-based) of an IDX3 file such as Fashion-MNIST's
  ``train-images-idx3-ubyte.gz`` (gzip or plain).

``content_hash`` is the SHA-256 of the image's bytes (the file, or the N-th IDX record), so an
unchanged image is never encoded twice.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

IDX_PREFIX = "idx:"


class ImageError(ValueError):
    """An image reference that cannot be read (missing file, bad format, index out of range)."""


def idx_ref(path: str | Path, index: int) -> str:
    return f"{IDX_PREFIX}{Path(path).resolve()}#{index}"


def _parse_idx_ref(ref: str) -> tuple[str, int]:
    body = ref[len(IDX_PREFIX):]
    path, sep, index = body.rpartition("#")
    if not sep or not index.isdigit():
        raise ImageError(f"bad IDX image reference {ref!r}; expected idx:PATH#N")
    return path, int(index)


@lru_cache(maxsize=4)
def read_idx_images(path: str) -> np.ndarray:
    """All images of an IDX3 file as a uint8 array (n, rows, cols)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read IDX file {path}: {exc.strerror}") from exc
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 16:
        raise ImageError(f"{path} is not an IDX3 image file (too short)")
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 0x00000803:
        raise ImageError(f"{path} is not an IDX3 image file (magic {magic:#x})")
    data = np.frombuffer(raw, dtype=np.uint8, offset=16)
    if data.size != n * rows * cols:
        raise ImageError(f"{path} is truncated: {data.size} bytes for {n} images of {rows}x{cols}")
    return data.reshape(n, rows, cols)


def read_idx_labels(path: str | Path) -> np.ndarray:
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic, n = struct.unpack(">II", raw[:8])
    if magic != 0x00000801:
        raise ImageError(f"{path} is not an IDX1 label file (magic {magic:#x})")
    return np.frombuffer(raw, dtype=np.uint8, offset=8)[:n]


def _local_path(ref: str) -> Path:
    return Path(ref[len("file://"):] if ref.startswith("file://") else ref)


def image_bytes(ref: str) -> bytes:
    """The raw bytes that identify the image (used for hashing)."""
    if ref.startswith(IDX_PREFIX):
        path, index = _parse_idx_ref(ref)
        images = read_idx_images(path)
        if index >= len(images):
            raise ImageError(f"{ref}: index {index} out of range ({len(images)} images)")
        return images[index].tobytes()
    try:
        return _local_path(ref).read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read image {ref}: {exc.strerror}") from exc


def content_hash(ref: str) -> str:
    return hashlib.sha256(image_bytes(ref)).hexdigest()


def load_image(ref: str):
    """The image as an RGB ``PIL.Image`` (grey and palette images converted)."""
    from PIL import Image, UnidentifiedImageError

    if ref.startswith(IDX_PREFIX):
        path, index = _parse_idx_ref(ref)
        images = read_idx_images(path)
        if index >= len(images):
            raise ImageError(f"{ref}: index {index} out of range ({len(images)} images)")
        return Image.fromarray(images[index], mode="L").convert("RGB")
    try:
        with Image.open(io.BytesIO(image_bytes(ref))) as img:
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageError(f"cannot decode image {ref}: {exc}") from exc
