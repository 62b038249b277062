"""The one reader of stored vector columns (kgrec/kg/vectors.py) and its rule, on a real embedded
database, and every consumer of Product.text_emb following it."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pytest

from kgrec.kg.vectors import MixedVectorSizes, read_vectors

IDS = [f"p{i}" for i in range(10)]


def _products(backend, vectors: dict[str, list[float] | None], column: str = "text_emb") -> None:
    backend.insert_nodes("Product", pa.table({"id": IDS, "title": [f"Film {i}" for i in IDS]}))
    backend.update_nodes("Product", pa.table({"id": list(vectors), column: list(vectors.values())}))


def _mixed_graph(backend, column: str = "text_emb") -> None:
    """Six products with 4-d vectors, p6 and p7 with 3-d ones (a re-embed with another model that
    stopped part-way), p8 without, p9 with an empty list."""
    rng = np.random.default_rng(0)
    vectors = {f"p{i}": rng.normal(size=4).tolist() for i in range(6)}
    vectors.update({"p6": [1.0, 0.0, 0.0], "p7": [0.0, 1.0, 0.0], "p9": []})
    _products(backend, vectors, column)


def test_reads_vectors_and_treats_null_and_empty_as_none(backend):
    vectors = {"p0": [1.0, 2.0, 3.0], "p2": [4.0, 5.0, 6.0], "p3": [], "p5": [7.0, 8.0, 9.0]}
    _products(backend, vectors)
    table = backend.export_nodes("Product", ["text_emb"])
    got = read_vectors(table, "text_emb")
    ids = table.column("id").to_pylist()
    assert got.dim == 3 and len(got) == 3
    assert {ids[r]: row.tolist() for r, row in zip(got.rows.tolist(), got.matrix)} == {
        "p0": [1.0, 2.0, 3.0], "p2": [4.0, 5.0, 6.0], "p5": [7.0, 8.0, 9.0]}
    assert got.matrix.dtype == np.float32
    # scatter into another order; rows mapped to -1 are left out
    order = {p: n for n, p in enumerate(reversed(IDS))}
    target = np.asarray([order[i] if i != "p5" else -1 for i in ids])
    matrix, present = got.scatter(target, len(IDS))
    assert present.tolist() == [i in ("p0", "p2") for i in reversed(IDS)]
    assert matrix[order["p2"]].tolist() == [4.0, 5.0, 6.0] and not matrix[order["p9"]].any()


def test_no_vectors_at_all():
    table = pa.table({"id": ["a", "b"], "text_emb": pa.array([None, []], pa.list_(pa.float32()))})
    got = read_vectors(table, "text_emb")
    assert len(got) == 0 and got.dim == 0
    assert got.scatter(np.arange(2), 2, dim=8)[0].shape == (2, 8)
    assert len(read_vectors(pa.table({"id": pa.array([], pa.string()), "v": pa.array([], pa.null())}), "v")) == 0


def test_sliced_chunked_fixed_size_and_double_columns_read_the_same():
    rng = np.random.default_rng(1)
    values = [rng.normal(size=5).tolist() if i % 3 else None for i in range(30)]
    plain = pa.table({"id": [str(i) for i in range(30)], "v": pa.array(values, pa.list_(pa.float32()))})
    want = read_vectors(plain, "v")
    sliced = plain.slice(7, 20)
    got = read_vectors(sliced, "v")
    assert got.rows.tolist() == [r - 7 for r in want.rows.tolist() if 7 <= r < 27]
    assert np.array_equal(got.matrix, want.matrix[(want.rows >= 7) & (want.rows < 27)])
    chunked = pa.concat_tables([plain.slice(0, 11), plain.slice(11)])
    assert np.array_equal(read_vectors(chunked, "v").matrix, want.matrix)
    doubles = pa.table({"id": plain.column("id"), "v": pa.array(values, pa.list_(pa.float64()))})
    assert np.allclose(read_vectors(doubles, "v").matrix, want.matrix)
    present = [v for v in values if v is not None]
    fixed = pa.table({"v": pa.FixedSizeListArray.from_arrays(pa.array(np.asarray(present, np.float32).ravel()), 5)})
    assert np.array_equal(read_vectors(fixed, "v").matrix, want.matrix)


def test_vectors_of_another_size_are_an_error_naming_products_sizes_and_fix(backend):
    _mixed_graph(backend)
    with pytest.raises(MixedVectorSizes) as err:
        read_vectors(backend.export_nodes("Product", ["text_emb"]), "text_emb")
    text = str(err.value)
    assert "Product.text_emb holds vectors of different sizes: 6 of size 4, 2 of another size" in text
    assert "p6 (3)" in text and "p7 (3)" in text and "p0" not in text
    assert "`kgctl embed --text` without --limit" in text


def test_many_products_of_another_size_are_counted_not_all_listed():
    values = [[1.0, 2.0]] * 20 + [[1.0]] * 8
    table = pa.table({"id": [f"x{i}" for i in range(28)], "image_emb": values})
    expected = r"20 of size 2, 8 of another size: x20 \(1\), .*x24 \(1\) and 3 more.*kgctl embed --image"
    with pytest.raises(MixedVectorSizes, match=expected):
        read_vectors(table, "image_emb")


def test_every_reader_of_product_vectors_follows_the_rule(backend, caplog):
    from kgrec.embed.neighbours import similar_products
    from kgrec.kg.pyg_store import remote_backend
    from kgrec.models.data.interactions import item_vectors
    from kgrec.serve.embeddings import EmbeddingIndex

    _mixed_graph(backend)
    with pytest.raises(MixedVectorSizes, match="p6 \\(3\\)"):
        item_vectors(backend, np.asarray(IDS, dtype=object), "text_emb")
    with pytest.raises(MixedVectorSizes, match="p6 \\(3\\)"):
        similar_products(backend, "p0", by="text")
    fs, _ = remote_backend(backend, exclude=["INTERACTED"])
    with pytest.raises(MixedVectorSizes, match="p6 \\(3\\)"):
        fs["Product", "text_emb", None]
    # the server keeps answering: it leaves the modality out and says why in its log
    with caplog.at_level(logging.WARNING, logger="kgrec.serve.embeddings"):
        index = EmbeddingIndex.from_backend(backend)
    assert "text" not in index.modalities and len(index) == 0
    assert "p6 (3)" in index.left_out["text"] and "p6 (3)" in caplog.text


def test_consumers_read_the_same_vectors(backend):
    from kgrec.embed.neighbours import load_embeddings
    from kgrec.kg.pyg_store import remote_backend
    from kgrec.models.data.interactions import item_vectors

    rng = np.random.default_rng(2)
    vectors = {p: rng.normal(size=6).tolist() for p in IDS if p not in ("p3", "p8")}
    _products(backend, vectors)
    order = np.asarray(sorted(IDS, reverse=True), dtype=object)
    matrix, present = item_vectors(backend, order, "text_emb")
    assert present.tolist() == [p in vectors for p in order]
    for n, p in enumerate(order):
        assert np.allclose(matrix[n], vectors.get(p, [0.0] * 6))
    fs, _ = remote_backend(backend, exclude=["INTERACTED"])
    text = fs["Product", "text_emb", None].numpy()
    for n, p in enumerate(fs.index.ids["Product"].to_pylist()):
        assert np.allclose(text[n], vectors.get(p, [0.0] * 6))
    loaded = load_embeddings(backend, "text")
    assert sorted(loaded.ids) == sorted(vectors)
    for n, p in enumerate(loaded.ids):
        v = np.asarray(vectors[p], np.float32)
        assert np.allclose(loaded.vectors[n].numpy(), v / np.linalg.norm(v), atol=1e-6)
