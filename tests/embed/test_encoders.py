"""Text and image embeddings on a real embedded database with the real default models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from PIL import Image

from kgrec.cli.main import cli
from kgrec.embed import timm_compat
from kgrec.embed.image import ImageEncoder, MultiScaleHead, lite0_keys_to_timm, packaged_lite0_weights
from kgrec.embed.neighbours import MissingEmbedding, UnknownProduct, similar_products
from kgrec.embed.pipeline import embed_products
from kgrec.embed.text import TextEncoder, TextTemplateError, build_text, check_template
from kgrec.etl.images import idx_ref
from kgrec.kg import open_backend

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")

MOVIES = [
    ("m1", "Toy Story (1995)", "Animation|Children's|Comedy"),
    ("m2", "GoldenEye (1995)", "Action|Adventure|Thriller"),
    ("m3", "Toy Story 2 (1999)", "Animation|Children's|Comedy"),
    ("m4", "Schindler's List (1993)", "Drama|War"),
]


@pytest.fixture(scope="module")
def text_encoder():
    return TextEncoder()


@pytest.fixture(scope="module")
def image_encoder():
    return ImageEncoder()


def _add_movies(backend):
    backend.insert_nodes(
        "Product",
        pa.table(
            {
                "id": [m[0] for m in MOVIES],
                "title": [m[1] for m in MOVIES],
                "category_path": [m[2] for m in MOVIES],
            }
        ),
    )


def _stored(backend, column):
    rows = backend.export_nodes(
        "Product", [column, f"{column}_model" if column.endswith("emb") else column]
    ).to_pylist()
    return {r["id"]: r for r in rows}


# --------------------------------------------------------------------------- text building
def test_build_text_drops_missing_fields_with_their_separator():
    template = "{title}. {brand}. {category_path}. {description}"
    assert (
        build_text({"title": "Toy Story", "brand": None, "category_path": "Animation"}, template)
        == "Toy Story. Animation"
    )
    assert build_text({"brand": "Acme", "description": " red dress... "}, template) == "Acme. red dress..."
    assert build_text({"title": "A"}, "Product: {title} ({year})") == "Product: A"
    assert build_text({"title": "A", "year": 1995}, "Product: {title} ({year})") == "Product: A (1995)"
    assert build_text({}, template) == ""


def test_template_with_unknown_field_is_refused():
    assert check_template("{title} {year}") == ["title", "year"]
    with pytest.raises(TextTemplateError, match="colour"):
        check_template("{title} {colour}")


# --------------------------------------------------------------------------- text embeddings
def test_text_embedding_is_incremental(backend, text_encoder):
    _add_movies(backend)
    (report,) = embed_products(backend, text=True, text_encoder=text_encoder, progress=False)
    assert (report.encoded, report.unchanged, report.dim) == (4, 0, 384)
    stored = _stored(backend, "text_emb")
    for row in stored.values():
        vector = np.asarray(row["text_emb"], np.float32)
        assert vector.shape == (384,) and abs(np.linalg.norm(vector) - 1) < 1e-4
        assert json.loads(row["text_emb_model"]) == {
            "model": "sentence-transformers/all-MiniLM-L6-v2", "dim": 384, "max_length": 256,
        }
    hashes = {r["id"]: r["text_hash"] for r in backend.export_nodes("Product", ["text_hash"]).to_pylist()}

    (again,) = embed_products(backend, text=True, text_encoder=text_encoder, progress=False)
    assert (again.encoded, again.unchanged) == (0, 4)
    assert "nothing to encode" in again.summary()

    backend.update_nodes("Product", pa.table({"id": ["m2"], "title": ["GoldenEye (1995 remaster)"]}))
    (changed,) = embed_products(backend, text=True, text_encoder=text_encoder, progress=False)
    assert (changed.encoded, changed.unchanged) == (1, 3)
    after = {r["id"]: r["text_hash"] for r in backend.export_nodes("Product", ["text_hash"]).to_pylist()}
    assert [pid for pid in after if after[pid] != hashes[pid]] == ["m2"]
    assert _stored(backend, "text_emb")["m1"]["text_emb"] == stored["m1"]["text_emb"]


def test_text_embedding_is_deterministic_and_limit_resumes(backend, text_encoder):
    _add_movies(backend)
    (first,) = embed_products(backend, text=True, limit=3, text_encoder=text_encoder, progress=False)
    assert (first.encoded, first.deferred) == (3, 1)
    (rest,) = embed_products(backend, text=True, text_encoder=text_encoder, progress=False)
    assert (rest.encoded, rest.unchanged) == (1, 3)
    again = text_encoder.encode(["Toy Story (1995). Animation|Children's|Comedy"])
    stored = np.asarray(_stored(backend, "text_emb")["m1"]["text_emb"], np.float32)
    np.testing.assert_allclose(again[0], stored, atol=1e-5)


def test_similar_by_text_puts_the_sequel_first(backend, text_encoder):
    _add_movies(backend)
    embed_products(backend, text=True, text_encoder=text_encoder, progress=False)
    table = similar_products(backend, "m1", by="text", k=3)
    assert table.column("id").to_pylist()[0] == "m3"
    assert table.column("rank").to_pylist() == [1, 2, 3]
    scores = table.column("score").to_pylist()
    assert scores == sorted(scores, reverse=True) and "m1" not in table.column("id").to_pylist()
    with pytest.raises(UnknownProduct, match="nope"):
        similar_products(backend, "nope", by="text")
    with pytest.raises(MissingEmbedding, match="no image embedding"):
        similar_products(backend, "m1", by="image")
    fused = similar_products(backend, "m1", by="fused", k=1)  # text only: fused falls back to text
    assert fused.column("id").to_pylist() == ["m3"]


# --------------------------------------------------------------------------- image model
def test_packaged_lite0_weights_map_onto_timm_and_recognise_imagenet():
    timm = timm_compat.import_timm()
    import torch

    state = torch.load(packaged_lite0_weights(), map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0")
    result = model.load_state_dict(lite0_keys_to_timm(state), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    hopper = Path(__import__("matplotlib").get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not hopper.exists():
        pytest.skip("matplotlib sample image not installed")
    img = Image.open(hopper).convert("RGB").resize((224, 224), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(img, np.float32) / 255).permute(2, 0, 1)[None]
    with torch.inference_mode():
        top = model.eval()((x - 0.5) / 0.5).softmax(-1).argmax().item()
    # The classic ImageNet label of this photograph; a randomly initialised network would not find it.
    assert timm.data.ImageNetInfo().index_to_description(top) == "military uniform"


def test_multiscale_head_weights_scales_equally():
    import torch

    torch.manual_seed(0)
    stages = [torch.rand(2, 8, 16, 16), torch.rand(2, 16, 8, 8), torch.rand(2, 32, 4, 4)]
    final = torch.rand(2, 64)
    for mode in ("topdown", "concat"):
        out = MultiScaleHead(mode)(final, stages)
        assert out.shape == (2, 64 + 8 + 16 + 32)
        torch.testing.assert_close(out.norm(dim=1), torch.ones(2))
    assert MultiScaleHead("final")(final, stages).shape == (2, 64)
    # The top-down gate from a coarse stage active only top-left makes the fine stage pool there:
    # fine channel 0 lives top-left, channel 1 elsewhere; uniform pooling favours channel 1 (3/4 of
    # the area), gated pooling channel 0.
    fine = torch.zeros(1, 2, 4, 4)
    fine[0, 0, :2, :2] = 1.0
    fine[0, 1] = 1.0 - fine[0, 0]
    coarse = torch.zeros(1, 1, 2, 2)
    coarse[0, 0, 0, 0] = 5.0
    gated = MultiScaleHead("topdown")(torch.ones(1, 1), [fine, coarse])[0, -2:]
    uniform = MultiScaleHead("concat")(torch.ones(1, 1), [fine, coarse])[0, -2:]
    assert uniform[0] < uniform[1] and gated[0] > gated[1]


def _shape_image(kind: str, size: int = 40, shift: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    if kind == "disc":
        img = ((yy - size / 2) ** 2 + (xx - size / 2 - shift) ** 2 < (size / 3) ** 2) * 220
    elif kind == "stripes":
        img = ((xx // 4) % 2) * 200
    else:
        img = (((yy // 5) + (xx // 5)) % 2) * 180
    return img.astype(np.uint8)


def test_image_embedding_skips_unreadable_and_finds_near_duplicate(backend, tmp_path, image_encoder):
    refs = {}
    for name, kind, shift in [
        ("disc", "disc", 0), ("disc2", "disc", 1), ("stripes", "stripes", 0), ("checker", "checker", 0),
    ]:
        path = tmp_path / f"{name}.png"
        Image.fromarray(_shape_image(kind, shift=shift), mode="L").save(path)  # grey input
        refs[name] = str(path)
    wide = tmp_path / "wide.jpg"  # odd-sized colour image
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 70, 3), dtype=np.uint8)).save(wide)
    refs["wide"] = str(wide)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    refs["broken"] = str(broken)
    refs["gone"] = str(tmp_path / "missing.png")
    backend.insert_nodes(
        "Product",
        pa.table(
            {"id": list(refs) + ["noimage"], "title": list(refs) + ["x"], "image_ref": list(refs.values()) + [None]}
        ),
    )
    (report,) = embed_products(
        backend, text=False, image=True, image_encoder=image_encoder, batch_size=2, progress=False
    )
    assert report.encoded == 5 and report.no_input == 1
    assert sorted(pid for pid, _ in report.skipped) == ["broken", "gone"]
    assert "2 unreadable images skipped" in report.summary()
    stored = _stored(backend, "image_emb")
    assert stored["broken"]["image_emb"] is None and stored["noimage"]["image_emb"] is None
    assert len(stored["disc"]["image_emb"]) == image_encoder.dim == 1792
    assert json.loads(stored["disc"]["image_emb_model"])["model"] == "tf_efficientnet_lite0"

    nearest = similar_products(backend, "disc", by="image", k=4).column("id").to_pylist()
    assert nearest[0] == "disc2"

    (again,) = embed_products(backend, text=False, image=True, image_encoder=image_encoder, progress=False)
    assert again.encoded == 0 and again.unchanged == 5 and len(again.skipped) == 2
    Image.fromarray(255 - _shape_image("checker"), mode="L").save(refs["checker"])  # new pixels
    (changed,) = embed_products(backend, text=False, image=True, image_encoder=image_encoder, progress=False)
    assert changed.encoded == 1 and changed.unchanged == 4


@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="Debian package dataset-fashion-mnist not installed (make data)")
def test_fashion_mnist_images_by_idx_reference(backend, image_encoder):
    ids = [f"fm{i}" for i in range(4)]
    backend.insert_nodes("Product", pa.table({"id": ids, "image_ref": [idx_ref(FASHION_MNIST, i) for i in range(4)]}))
    (report,) = embed_products(backend, text=False, image=True, image_encoder=image_encoder, progress=False)
    assert report.encoded == 4 and not report.skipped
    vectors = np.array([r["image_emb"] for r in backend.export_nodes("Product", ["image_emb"]).to_pylist()], np.float32)
    assert vectors.shape == (4, 1792) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    # Deterministic: the same image through the encoder again gives the stored vector.
    from kgrec.etl.images import load_image

    again = image_encoder.encode([load_image(idx_ref(FASHION_MNIST, 0))])
    np.testing.assert_allclose(again[0], vectors[0], atol=1e-5)


# --------------------------------------------------------------------------- CLI
def test_cli_embed_and_similar_round_trip(db_path):
    with open_backend(db_path) as backend:
        backend.init_schema()
        _add_movies(backend)
    runner = CliRunner()
    first = runner.invoke(cli, ["--db", db_path, "embed", "--text", "--quiet"])
    assert first.exit_code == 0, first.output
    assert "encoded 4 of 4 products" in first.output
    second = runner.invoke(cli, ["--db", db_path, "embed", "--quiet"])
    assert second.exit_code == 0 and "nothing to encode" in second.output
    found = runner.invoke(cli, ["--db", db_path, "similar", "m1", "--by", "text", "-k", "2", "--json"])
    assert found.exit_code == 0, found.output
    rows = json.loads(found.output)
    assert [r["rank"] for r in rows] == [1, 2] and rows[0]["id"] == "m3"
    missing = runner.invoke(cli, ["--db", db_path, "similar", "zzz"])
    assert missing.exit_code == 1 and "no product with id 'zzz'" in missing.output
    no_image = runner.invoke(cli, ["--db", db_path, "similar", "m1", "--by", "image"])
    assert no_image.exit_code == 1 and "kgctl embed --image" in no_image.output
    bad = runner.invoke(cli, ["--db", db_path, "embed", "--text-template", "{nope}"])
    assert bad.exit_code != 0 and "unknown field" in bad.output


def test_other_timm_backbone_loads_local_weights_and_mismatch_is_refused(tmp_path):
    """Loading logic only: a ViT's own state_dict saved at 224 px loads at 64 px (position
    embeddings resampled) and feeds the multi-scale head; weights of another architecture are refused."""
    import torch

    from kgrec.embed.image import EncoderError

    timm = timm_compat.import_timm()
    torch.manual_seed(0)
    weights = tmp_path / "vit_tiny.pth"
    torch.save(timm.create_model("vit_tiny_patch16_224", num_classes=0).state_dict(), weights)
    encoder = ImageEncoder("vit_tiny_patch16_224", weights=weights, image_size=64)
    assert encoder.dim > 192 and json.loads(encoder.record)["size"] == 64
    vectors = encoder.encode([Image.fromarray(_shape_image("disc")), Image.fromarray(_shape_image("stripes"))])
    assert vectors.shape == (2, encoder.dim) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    with pytest.raises(EncoderError, match="do not fit"):
        ImageEncoder("vit_tiny_patch16_224", weights=packaged_lite0_weights(), image_size=64)
    with pytest.raises(EncoderError, match="no local weights"):
        ImageEncoder("vit_tiny_patch16_224")
