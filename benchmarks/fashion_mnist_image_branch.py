"""KGBM4Rec's image branch on Fashion-MNIST product images, with SYNTHETIC users (issue 6).

Run: ``nice -n 10 .venv/bin/python benchmarks/fashion_mnist_image_branch.py [--json-out FILE]``

What is real and what is synthetic:

* Products (real): a class-stratified random subset of Fashion-MNIST's training images (Debian
  ``dataset-fashion-mnist``), written as two IDX files and loaded with ``ingest_idx``: 80% with
  their label (Category via IN_CATEGORY), 20% *held out* without it, so neither the graph, the
  GNN nor the category head ever sees their category. ``embed_products(image=True)`` writes the
  EfficientNet-Lite0 image vectors onto them (the ``kgctl embed --image`` path).
* Users and interactions (SYNTHETIC): there are no real users of Fashion-MNIST products. Each
  synthetic user (``synthetic-user-NNNNN``) likes ``--liked`` of the 10 categories; a share
  ``--affinity`` of their interactions are with products of liked categories, the rest with others;
  the rating is 4-5 for a liked category and 1-3 otherwise, flipped with probability ``--noise``.
  So whether a user likes a product depends on the product's true category, hidden or known.
  They are written as a CSV and loaded with ``ingest_table`` and a mapping (source
  ``synthetic-fashion-mnist-users``).

Then KGBM4Rec (category head on, image branch on) and its ``no_image`` ablation are trained with
the same seed and schedule on the temporal leave-one-out training split, and compared with peers
measured in the same run: the majority class, a logistic-regression linear probe on the raw image
embeddings (scikit-learn) and, for like/dislike, each user's like rate per category (the known
category, or the probe's for held-out products).

Reported: category accuracy and macro-F1 on the held-out products; like/dislike accuracy and F1
(like head, rating >= 4) on the test interactions (each user's last), overall and on those whose
product is held out; the shared evaluation's full-ranking NDCG@10 and rating MSE for context.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from kgrec.embed.pipeline import embed_products  # noqa: E402
from kgrec.etl.image_sources import FASHION_MNIST_CLASSES, ingest_idx  # noqa: E402
from kgrec.etl.images import read_idx_images, read_idx_labels  # noqa: E402
from kgrec.etl.table import ingest_table  # noqa: E402
from kgrec.kg import open_backend  # noqa: E402
from kgrec.models.data.interactions import InteractionData  # noqa: E402
from kgrec.models.data.split import temporal_leave_one_out  # noqa: E402
from kgrec.models.evaluation.metrics import LIKE_THRESHOLD, classification_metrics, like_metrics_from_probability  # noqa: E402
from kgrec.models.evaluation.protocol import evaluate  # noqa: E402
from kgrec.models.kgbm4rec import KGBM4Rec  # noqa: E402
from kgrec.models.kgbm4rec.inputs import KGBMInputs  # noqa: E402
from kgrec.models.training.trainer import fit

FASHION = Path("/usr/share/datasets/fashion-mnist")
SYNTHETIC_SOURCE = "synthetic-fashion-mnist-users"
SYNTHETIC_PREFIX = "synthetic-"


# --------------------------------------------------------------------------- data
def write_idx_images(path: Path, pixels: np.ndarray) -> None:
    """An IDX3 file (magic 0x803) of uint8 images (n, rows, cols)."""
    n, rows, cols = pixels.shape
    path.write_bytes(struct.pack(">IIII", 0x803, n, rows, cols) + np.ascontiguousarray(pixels, np.uint8).tobytes())


def write_idx_labels(path: Path, labels: np.ndarray) -> None:
    """An IDX1 file (magic 0x801) of uint8 labels."""
    path.write_bytes(struct.pack(">II", 0x801, len(labels)) + np.asarray(labels, np.uint8).tobytes())


def sample_catalogue(per_class: int, held_out: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices into Fashion-MNIST train: (labelled, held out), stratified by class."""
    labels = read_idx_labels(FASHION / "train-labels-idx1-ubyte.gz")
    known, hidden = [], []
    for c in range(len(FASHION_MNIST_CLASSES)):
        picked = rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
        cut = int(round(per_class * held_out))
        hidden.append(picked[:cut])
        known.append(picked[cut:])
    return np.sort(np.concatenate(known)), np.sort(np.concatenate(hidden))


def synthetic_interactions(
    product_ids: np.ndarray, product_class: np.ndarray, args, rng: np.random.Generator
) -> pd.DataFrame:
    """SYNTHETIC users and ratings that depend on the products' true categories (see the module doc)."""
    n_classes = len(FASHION_MNIST_CLASSES)
    by_class = [np.flatnonzero(product_class == c) for c in range(n_classes)]
    rows = []
    for u in range(args.users):
        liked = rng.choice(n_classes, args.liked, replace=False)
        others = np.setdiff1d(np.arange(n_classes), liked)
        n = int(rng.integers(args.min_history, args.max_history + 1))
        seen: set[int] = set()
        t0 = 1_600_000_000 + int(rng.integers(0, 86_400 * 30))
        for step in range(n):
            wants_liked = rng.random() < args.affinity
            c = int(rng.choice(liked if wants_liked else others))
            item = int(rng.choice(by_class[c]))
            while item in seen:
                item = int(rng.choice(by_class[c]))
            seen.add(item)
            likes = (c in liked) != (rng.random() < args.noise)
            rating = int(rng.integers(4, 6)) if likes else int(rng.integers(1, 4))
            rows.append((f"user-{u:05d}", product_ids[item], rating, t0 + 3600 * step + int(rng.integers(0, 600))))
    return pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])


def build_database(folder: Path, args, rng: np.random.Generator, timings: dict) -> tuple:
    """The embedded database, loaded through ingest (IDX + mapped table) and embed."""
    known_idx, hidden_idx = sample_catalogue(args.per_class, args.held_out, rng)
    pixels = read_idx_images(str(FASHION / "train-images-idx3-ubyte.gz"))
    labels = read_idx_labels(FASHION / "train-labels-idx1-ubyte.gz")
    write_idx_images(folder / "known-images-idx3-ubyte", pixels[known_idx])
    write_idx_labels(folder / "known-labels-idx1-ubyte", labels[known_idx])
    write_idx_images(folder / "heldout-images-idx3-ubyte", pixels[hidden_idx])  # no labels file: no category

    backend = open_backend(str(folder / "kg.db"))
    backend.init_schema()
    t = time.perf_counter()
    progress = not args.quiet
    ingest_idx(
        backend, folder / "known-images-idx3-ubyte", folder / "known-labels-idx1-ubyte", prefix="fmnist", split="known",
        strict=True, progress=progress,
    )
    ingest_idx(
        backend, folder / "heldout-images-idx3-ubyte", None, prefix="fmnist", split="heldout", strict=True,
        progress=progress,
    )
    timings["ingest_products_s"] = time.perf_counter() - t
    ids = np.asarray(
        [f"fmnist-known-{k:06d}" for k in range(len(known_idx))]
        + [f"fmnist-heldout-{k:06d}" for k in range(len(hidden_idx))], dtype=object,
    )
    true_class = np.concatenate([labels[known_idx], labels[hidden_idx]]).astype(np.int64)

    t = time.perf_counter()
    (report,) = embed_products(backend, text=False, image=True, batch_size=64, seed=args.seed, progress=progress)
    timings["embed_s"] = time.perf_counter() - t
    timings["embed_images_per_s"] = report.encoded / timings["embed_s"]
    print(f"  {report.summary()}", flush=True)

    t = time.perf_counter()
    frame = synthetic_interactions(ids, true_class, args, rng)
    frame.to_csv(folder / "synthetic_interactions.csv", index=False)
    mapping = {
        "format": "csv", "source": SYNTHETIC_SOURCE, "user_prefix": SYNTHETIC_PREFIX, "known_products_only": True,
        "rating_range": [1, 5],
        "columns": {"user": "user", "item": "item", "rating": "rating", "timestamp": "timestamp"},
    }
    (folder / "synthetic_interactions.yaml").write_text(
        "# SYNTHETIC users of Fashion-MNIST products\n" + yaml.safe_dump(mapping)
    )
    ingest_table(
        backend, folder / "synthetic_interactions.csv", folder / "synthetic_interactions.yaml", strict=True,
        progress=progress,
    )
    timings["ingest_interactions_s"] = time.perf_counter() - t
    return backend, dict(zip(ids, true_class)), len(frame)


# --------------------------------------------------------------------------- peers
def linear_probe(x_train, y_train, x_test, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    probe = LogisticRegression(max_iter=500, C=0.5, random_state=seed).fit(scaler.transform(x_train), y_train)
    return probe.predict(scaler.transform(x_test))


def category_like_rate(
    known: InteractionData, item_class: np.ndarray, users: np.ndarray, items: np.ndarray
) -> np.ndarray:
    """Like probability of (user, item) = the user's like rate on the item's category in ``known``
    (falling back to the user's overall rate, then the global one)."""
    liked = (known.rating >= LIKE_THRESHOLD).astype(np.float64)
    frame = pd.DataFrame({"u": known.user, "c": item_class[known.item], "like": liked})
    per_pair = frame.groupby(["u", "c"])["like"].mean()
    per_user = frame.groupby("u")["like"].mean()
    overall = float(liked.mean())
    out = np.empty(len(users))
    for k, (u, i) in enumerate(zip(users, items)):
        out[k] = per_pair.get((u, item_class[i]), per_user.get(u, overall))
    return out


# --------------------------------------------------------------------------- main
def model_hparams(args, **extra) -> dict:
    return dict(dim=args.dim, max_len=50, n_layers=2, n_heads=2, dropout=0.2, attn_dropout=0.2, gnn_layers=2,
                lr=args.lr, batch_size=128, epochs=args.epochs, like_weight=1.0, rating_weight=0.1,
                category_weight=1.0, seed=args.seed, verbose=not args.quiet, **extra)


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    results: dict = {
        "config": vars(args).copy(),
        "synthetic": {
            "what": "users, their category preferences, interactions and ratings are SYNTHETIC; "
                    "products and images are real Fashion-MNIST",
            "user_id_prefix": SYNTHETIC_PREFIX + "user-", "source": SYNTHETIC_SOURCE,
        },
    }
    with tempfile.TemporaryDirectory(prefix="kgrec-fmnist-branch-") as tmp:
        folder = Path(tmp)
        print(
            f"[data] {args.per_class} Fashion-MNIST products per class, {args.held_out:.0%} held out without category; "
            f"{args.users} SYNTHETIC users", flush=True,
        )
        backend, true_class_of, n_interactions = build_database(folder, args, rng, timings)
        data = InteractionData.from_backend(backend)
        split = temporal_leave_one_out(data)
        inputs = KGBMInputs.from_backend(backend, data.item_ids)
        backend.close()
        item_class = np.asarray([true_class_of[i] for i in data.item_ids], dtype=np.int64)
        hidden = np.asarray([str(i).startswith("fmnist-heldout-") for i in data.item_ids])
        categories, target = inputs.item_categories(data.n_items)
        assert not target[hidden].any(), "a held-out product's category reached the training graph"
        assert target[~hidden].sum(1).min() == 1.0 and len(categories) == len(FASHION_MNIST_CLASSES)
        print(
            f"  graph: {data.n_items} products ({int(hidden.sum())} held out), {data.n_users} SYNTHETIC users, "

            f"{len(data)} interactions; split train {len(split.train)} / valid {len(split.valid)} / test "
            f"{len(split.test)}",
            flush=True,
        )
        results["data"] = {
            "products": data.n_items, "held_out_products": int(hidden.sum()), "users": data.n_users,
            "interactions": n_interactions, "train": len(split.train), "test": len(split.test),
            "test_on_held_out_products": int(hidden[split.test.item].sum()),
        }

        names = np.asarray(FASHION_MNIST_CLASSES, dtype=object)
        truth_hidden = names[item_class[hidden]]
        hidden_items = np.flatnonzero(hidden)
        test_hidden = hidden[split.test.item]
        known_for_test = InteractionData.concat(split.train, split.valid)
        rows: list[dict] = []

        def like_row(prob: np.ndarray) -> dict:
            out = {}
            for scope, mask in (("", np.ones(len(split.test), bool)), ("_held_out", test_hidden)):
                m = like_metrics_from_probability(prob[mask], split.test.rating[mask])
                out[f"like_accuracy{scope}"], out[f"like_F1{scope}"] = m["like_accuracy"], m["like_F1"]
            return out

        for label, extra in (("KGBM4Rec (image on)", {}), ("KGBM4Rec no_image", {"no_image": True})):
            t = time.perf_counter()
            model = KGBM4Rec(**model_hparams(args, **extra))
            history = fit(model, split.train, inputs=inputs)
            fit_s = time.perf_counter() - t
            predicted, _ = model.predict_category(hidden_items)
            category = classification_metrics(predicted, truth_hidden, labels=list(names))
            shared = evaluate(model, split, "test", protocols=("full",))["full"]  # observes train + valid
            prob = model.predict_like(split.test.user, split.test.item)
            row = {"model": label, "category_accuracy": category["accuracy"], "category_macro_F1": category["macro_F1"],
                   **like_row(prob), "NDCG@10": shared["NDCG@10"], "rating_MSE": shared["MSE"],
                   "fit_s": fit_s, "seconds_per_epoch": history["seconds_per_epoch"],
                   "modalities": history["modalities"], "category_head": history["category_head"]}
            rows.append(row)
            print(f"  {label}: fit {fit_s:.0f} s ({history['seconds_per_epoch']:.1f} s/epoch), "
                  f"category acc {row['category_accuracy']:.4f}, like acc {row['like_accuracy']:.4f}", flush=True)

        # peers, measured in the same run on the same products and split
        labelled_classes = item_class[~hidden]
        majority = int(np.bincount(labelled_classes).argmax())  # the classes are balanced: ties go to the lowest index
        train_like = float(np.mean(split.train.rating >= LIKE_THRESHOLD))
        rows.append(
            {
                "model": "majority class",
                **classification_metrics(np.full(len(hidden_items), names[majority]), truth_hidden, list(names)),
                **like_row(np.full(len(split.test), 1.0 if train_like >= 0.5 else 0.0)),
            }
        )
        rows[-1]["category_accuracy"], rows[-1]["category_macro_F1"] = (
            rows[-1].pop("accuracy"), rows[-1].pop("macro_F1"),
        )
        t = time.perf_counter()
        image = inputs.image
        probe_pred = linear_probe(image[~hidden], labelled_classes, image[hidden], args.seed)
        probe_s = time.perf_counter() - t
        probe = classification_metrics(names[probe_pred], truth_hidden, list(names))
        rows.append(
            {
                "model": "linear probe (logistic regression on raw image embeddings)",
                "category_accuracy": probe["accuracy"], "category_macro_F1": probe["macro_F1"], "fit_s": probe_s,
            }
        )
        seen_class = item_class.copy()
        seen_class[hidden] = probe_pred  # held-out products: the probe's category, never the true one
        rate = category_like_rate(known_for_test, seen_class, split.test.user, split.test.item)
        rows.append({"model": "per-user like rate by category (probe category for held-out)", **like_row(rate)})

    timings["total_s"] = time.perf_counter() - started
    results["rows"] = rows
    results["timings"] = timings
    results["machine"] = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                          "python": platform.python_version(), "load_average": os.getloadavg()}
    return results


def print_table(results: dict) -> None:
    cols = [("category_accuracy", "held-out category acc"), ("category_macro_F1", "macro-F1"),
            ("like_accuracy", "like acc (all test)"), ("like_F1", "like F1"),
            ("like_accuracy_held_out", "like acc (held-out products)"), ("like_F1_held_out", "like F1"),
            ("NDCG@10", "NDCG@10 (full)")]
    d = results["data"]
    print(
        f"\nFashion-MNIST image branch: {d['products']} real products "
        f"({d['held_out_products']} held out without category), "
        f"{d['users']} SYNTHETIC users, {d['interactions']} SYNTHETIC interactions; "
        f"{d['test']} test interactions ({d['test_on_held_out_products']} on held-out products)"
    )
    print("| model | " + " | ".join(c[1] for c in cols) + " |")
    print("| --- |" + " --- |" * len(cols))
    for row in results["rows"]:
        cells = [f"{row[k]:.4f}" if isinstance(row.get(k), float) else "-" for k, _ in cols]
        print(f"| {row['model']} | " + " | ".join(cells) + " |")
    t = results["timings"]
    print(
        f"\ntimings: products ingest {t['ingest_products_s']:.1f} s, embed {t['embed_s']:.1f} s "
        f"({t['embed_images_per_s']:.0f} images/s), interactions ingest {t['ingest_interactions_s']:.1f} s, total "
        f"{t['total_s']:.0f} s"
    )
    for row in results["rows"]:
        if "fit_s" in row:
            print(f"  {row['model']}: {row['fit_s']:.1f} s")
    m = results["machine"]
    print(
        f"machine: {m['cpus']} CPUs, torch {m['torch']} with {m['torch_threads']} thread(s), load average "
        f"{m['load_average'][0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=500, help="products per Fashion-MNIST class (10 classes)")
    parser.add_argument("--held-out", type=float, default=0.2, help="share of products loaded without their category")
    parser.add_argument("--users", type=int, default=2000, help="SYNTHETIC users")
    parser.add_argument("--liked", type=int, default=3, help="categories each synthetic user likes")
    parser.add_argument(
        "--affinity", type=float, default=0.7, help="share of a user's interactions with liked categories"
    )
    parser.add_argument("--noise", type=float, default=0.1, help="probability a rating contradicts the user's taste")
    parser.add_argument("--min-history", type=int, default=20)
    parser.add_argument("--max-history", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=30, help="fixed schedule for both models (no selection on test)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json-out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args()
    if not FASHION.exists():
        sys.exit("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)")
    results = run(args)
    print_table(results)
    if args.json_out:
        results["config"]["json_out"] = str(args.json_out)
        args.json_out.write_text(json.dumps(results, indent=2, default=str))
        print(f"wrote {args.json_out}")


if __name__ == "__main__":
    main()
