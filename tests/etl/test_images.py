"""Image references: files and IDX records, hashing, and clear errors on unreadable input."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from kgrec.etl.images import ImageError, content_hash, idx_ref, load_image, read_idx_images


def _write_idx(path, images: np.ndarray) -> None:
    n, rows, cols = images.shape
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">IIII", 0x803, n, rows, cols) + images.astype(np.uint8).tobytes())


def test_idx_reference_round_trip(tmp_path):
    imgs = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    path = tmp_path / "x-idx3-ubyte.gz"
    _write_idx(path, imgs)
    assert (read_idx_images(str(path)) == imgs).all()
    img = load_image(idx_ref(path, 2))
    assert img.mode == "RGB" and img.size == (5, 4)
    assert np.asarray(img)[..., 0].tolist() == imgs[2].tolist()
    assert content_hash(idx_ref(path, 1)) != content_hash(idx_ref(path, 2))
    with pytest.raises(ImageError, match="out of range"):
        load_image(idx_ref(path, 3))


def test_file_reference_and_grey_conversion(tmp_path):
    path = tmp_path / "p1.png"
    Image.fromarray(np.full((7, 9), 128, np.uint8), mode="L").save(path)
    img = load_image(str(path))
    assert img.mode == "RGB" and img.size == (9, 7)
    assert len(content_hash(str(path))) == 64


def test_unreadable_image_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ImageError, match="cannot decode"):
        load_image(str(bad))
    with pytest.raises(ImageError, match="cannot read"):
        load_image(str(tmp_path / "missing.png"))
