"""``kgctl embed`` moves the graph revision when it writes vectors (text and image alike), so the
snapshot id moves and a checkpoint trained before is refused; a pass that writes nothing leaves
it; a pass that fails part-way leaves its revision pending for the re-run to publish."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from PIL import Image

from kgrec.cli.main import cli
from kgrec.embed.image import ImageEncoder
from kgrec.embed.pipeline import embed_products, embed_texts
from kgrec.embed.text import TextEncoder
from kgrec.kg import open_backend
from kgrec.kg.revision import PENDING, REVISION, current_revision, pending_revision
from kgrec.models.training.checkpoint import StaleCheckpoint
from kgrec.models.workflows.pipeline import load_dataset, load_trained, train_model
from tests.models.conftest import build_tiny_graph

TITLES = {
    "m1": "Toy Story (1995)",
    "m2": "GoldenEye (1995)",
    "m3": "Toy Story 2 (1999)",
    "m4": "Schindler's List (1993)",
}


@pytest.fixture(scope="module")
def text_encoder():
    return TextEncoder()


def _movies(backend) -> None:
    backend.insert_nodes("Product", pa.table({"id": list(TITLES), "title": list(TITLES.values())}))
    backend.set_meta(REVISION, "1")  # as an ingest leaves it


def test_text_embedding_moves_the_revision_only_when_it_writes(backend, text_encoder):
    _movies(backend)
    before = backend.snapshot_id()
    (report,) = embed_products(backend, text=True, text_encoder=text_encoder, progress=False)
    assert report.encoded == 4 and report.revision == "2" and "graph revision 2" in report.summary()
    assert current_revision(backend) == "2" and pending_revision(backend) == ""
    moved = backend.snapshot_id()
    assert moved != before  # the counts did not change: the revision moved it

    (again,) = embed_products(backend, text=True, text_encoder=text_encoder, progress=False)
    assert again.encoded == 0 and again.revision is None and "graph revision" not in again.summary()
    assert current_revision(backend) == "2" and backend.snapshot_id() == moved

    backend.update_nodes("Product", pa.table({"id": ["m2"], "title": ["GoldenEye (1995 remaster)"]}))
    (changed,) = embed_products(backend, text=True, text_encoder=text_encoder, progress=False)
    assert changed.encoded == 1 and changed.revision == "3" and backend.snapshot_id() != moved


def test_image_embedding_moves_the_revision_only_when_it_writes(backend, tmp_path):
    refs = {}
    for n in range(3):
        path = tmp_path / f"i{n}.png"
        Image.fromarray(np.full((24, 24), 60 * n, np.uint8), mode="L").save(path)
        refs[f"i{n}"] = str(path)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    backend.insert_nodes("Product", pa.table({"id": ["bad"], "image_ref": [str(broken)]}))
    encoder = ImageEncoder()
    (unreadable,) = embed_products(backend, text=False, image=True, image_encoder=encoder, progress=False)
    assert unreadable.encoded == 0 and len(unreadable.skipped) == 1 and unreadable.revision is None
    assert current_revision(backend) == "0"

    backend.insert_nodes("Product", pa.table({"id": list(refs), "image_ref": list(refs.values())}))
    before = backend.snapshot_id()
    (report,) = embed_products(backend, text=False, image=True, image_encoder=encoder, progress=False)
    assert report.encoded == 3 and report.revision == "1" and backend.snapshot_id() != before
    after = backend.snapshot_id()
    (again,) = embed_products(backend, text=False, image=True, image_encoder=encoder, progress=False)
    assert again.encoded == 0 and again.revision is None and backend.snapshot_id() == after


class _FailsOnSecondBatch:
    """The real encoder, failing on its second call: a pass interrupted after its first write."""

    def __init__(self, encoder: TextEncoder):
        self.encoder, self.calls = encoder, 0
        self.record, self.dim = encoder.record, encoder.dim

    def encode(self, texts, batch_size=64):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("interrupted")
        return self.encoder.encode(texts, batch_size=batch_size)


def test_an_interrupted_pass_leaves_its_revision_for_the_re_run(backend, text_encoder):
    _movies(backend)
    with pytest.raises(RuntimeError, match="interrupted"):
        embed_texts(backend, _FailsOnSecondBatch(text_encoder), write_every=2, progress=False)
    assert current_revision(backend) == "1" and pending_revision(backend) == "2"
    stored = backend.export_nodes("Product", ["text_emb"]).to_pylist()
    assert sum(r["text_emb"] is not None for r in stored) == 2  # the first write is in the graph
    report = embed_texts(backend, text_encoder, progress=False)
    assert report.encoded == 2 and report.revision == "2"  # the revision a clean run publishes
    assert current_revision(backend) == "2" and backend.get_meta(PENDING) == ""
    # a killed write whose last vectors were already stored: the re-run writes nothing and publishes
    backend.set_meta(PENDING, "3")
    assert embed_texts(backend, text_encoder, progress=False).revision == "3"
    assert current_revision(backend) == "3" and pending_revision(backend) == ""


def test_a_checkpoint_trained_before_new_vectors_is_refused(backend, tmp_path, text_encoder, one_torch_thread):
    build_tiny_graph(backend)  # products with titles and 8-d test vectors, no text hashes yet
    tiny = backend
    ds = load_dataset(tiny)
    train_model(ds, "textknn", {}, seed=1, out=tmp_path / "ck", progress=False)
    load_trained(ds, tmp_path / "ck")  # the graph it was trained on
    (report,) = embed_products(tiny, text=True, text_encoder=text_encoder, progress=False)
    assert report.encoded == 24 and report.revision is not None
    with pytest.raises(StaleCheckpoint, match="was trained on graph snapshot"):
        load_trained(load_dataset(tiny), tmp_path / "ck")


def test_cli_embed_reports_the_revision(db_path):
    with open_backend(db_path) as backend:
        backend.init_schema()
        _movies(backend)
    runner = CliRunner()
    first = runner.invoke(cli, ["--db", db_path, "embed", "--text", "--quiet"])
    assert first.exit_code == 0 and "graph revision 2" in first.output, first.output
    second = runner.invoke(cli, ["--db", db_path, "embed", "--text", "--quiet"])
    assert second.exit_code == 0 and "nothing to encode" in second.output and "graph revision" not in second.output
    with open_backend(db_path, read_only=True) as backend:
        assert current_revision(backend) == "2"


def test_next_revision():
    from kgrec.kg.revision import next_revision

    assert [next_revision(r) for r in ("0", "9", "tiny-1", "v2.10", "hand-made")] == [
        "1",
        "10",
        "tiny-2",
        "v2.11",
        "hand-made-1",
    ]


def test_ingest_and_embed_share_the_revision_keys():
    from kgrec.etl import loader
    from kgrec.kg import revision

    assert (loader.PENDING, loader.REVISION) == (revision.PENDING, revision.REVISION)
