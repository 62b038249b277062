"""Image folders and IDX files: references and content hashes on Product nodes, never pixels."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from kgrec.etl import ingest_idx, ingest_image_folder
from kgrec.etl.images import content_hash, idx_ref, load_image

FMNIST = Path("/usr/share/datasets/fashion-mnist")


def _write_idx(path, images: np.ndarray, labels: np.ndarray, labels_path) -> None:
    n, rows, cols = images.shape
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">IIII", 0x803, n, rows, cols) + images.astype(np.uint8).tobytes())
    with gzip.open(labels_path, "wb") as fh:
        fh.write(struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes())


def test_image_folder_attaches_images_to_known_products(backend, tmp_path):
    backend.insert_nodes("Product", pa.table({"id": ["p1", "p2", "p3"]}))
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "p1.png")
    Image.fromarray(np.ones((5, 5, 3), np.uint8)).save(tmp_path / "p2.jpg")
    (tmp_path / "p3.png").write_bytes(b"garbage")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "p9.png")
    q = tmp_path / "q.jsonl"
    report = ingest_image_folder(backend, tmp_path, quarantine=q)
    f = report.files[0]
    assert (f.rows_read, f.rows_updated, f.rows_rejected) == (4, 2, 2) and f.adds_up
    reasons = {json.loads(x)["row"]["id"]: json.loads(x)["reason"] for x in q.read_text().splitlines()}
    assert reasons["p9"] == "unknown product" and reasons["p3"].startswith("unreadable image")
    p1 = backend.execute("MATCH (p:Product {id: 'p1'}) RETURN p.image_ref AS r, p.image_hash AS h").to_pylist()[0]
    assert p1["h"] == content_hash(p1["r"])
    again = ingest_image_folder(backend, tmp_path)
    assert not again.changed


def test_idx_images_become_products_with_references_and_categories(backend, tmp_path):
    imgs = np.arange(4 * 3 * 3, dtype=np.uint8).reshape(4, 3, 3)
    _write_idx(
        tmp_path / "train-images-idx3-ubyte.gz", imgs, np.array([0, 9, 3, 12]), tmp_path / "train-labels-idx1-ubyte.gz"
    )
    q = tmp_path / "q.jsonl"
    report = ingest_idx(
        backend, tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte.gz", quarantine=q
    )
    f = report.files[0]
    assert (f.rows_read, f.rows_new, f.rows_rejected) == (4, 3, 1)  # label 12 is not a Fashion-MNIST class
    rows = backend.execute(
        "MATCH (p:Product)-[:IN_CATEGORY]->(c) RETURN p.id AS id, "
        "p.image_ref AS r, p.image_hash AS h, c.id AS c ORDER BY id"
    ).to_pylist()
    assert [r["id"] for r in rows] == ["fmnist-train-000000", "fmnist-train-000001", "fmnist-train-000002"]
    assert [r["c"] for r in rows] == ["T-shirt/top", "Ankle boot", "Dress"]
    assert rows[1]["r"] == idx_ref(tmp_path / "train-images-idx3-ubyte.gz", 1)
    assert rows[1]["h"] == content_hash(rows[1]["r"])
    assert np.asarray(load_image(rows[2]["r"]))[..., 0].tolist() == imgs[2].tolist()


@pytest.mark.skipif(
    not (FMNIST / "t10k-images-idx3-ubyte.gz").exists(), reason="dataset-fashion-mnist is not installed"
)
def test_real_fashion_mnist_test_split(backend):
    report = ingest_idx(backend, FMNIST / "t10k-images-idx3-ubyte.gz", FMNIST / "t10k-labels-idx1-ubyte.gz")
    assert report.files[0].rows_new == 10_000
    counts = backend.counts()
    assert counts["nodes"]["Product"] == 10_000 and counts["nodes"]["Category"] == 10
    per_class = backend.execute("MATCH (p:Product)-[:IN_CATEGORY]->(c) RETURN c.id AS c, count(*) AS n").to_pylist()
    assert {r["n"] for r in per_class} == {1000}
