"""Product images: a folder of image files, or IDX files (Fashion-MNIST).

Only references and content hashes go into the graph (``Product.image_ref``, ``image_hash``);
pixels stay in the files.

* Folder: the file name without extension is the product id (or a CSV with an id and a file
  column names them). Images attach to products already in the graph; an image of an unknown
  product is rejected, unless ``create_products`` is set. Unreadable images are rejected.
* IDX: image N becomes Product ``<prefix>-<split>-<N:06d>`` (``fmnist-train-000123``) with
  ``image_ref = idx_ref(path, N)``, and its label's class name as its Category.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from kgrec.etl.image_check import check_images
from kgrec.etl.images import ImageError, idx_ref, read_idx_images, read_idx_labels
from kgrec.etl.pipeline import run_ingest
from kgrec.etl.readers import LINE, SourceError, read_delimited
from kgrec.etl.report import IngestReport, Quarantine
from kgrec.etl.stage import Stage
from kgrec.etl.validate import RowChecker

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot"]


def ingest_image_folder(
    backend,
    folder: str | Path,
    *,
    index_csv: str | Path | None = None,
    id_column: str = "id",
    file_column: str = "image",
    create_products: bool = False,
    strict: bool = False,
    quarantine: str | Path | None = None,
    progress: bool = False,
) -> IngestReport:
    folder = Path(folder)

    def build(stage: Stage, report: IngestReport, quarantine_: Quarantine, bars, backend_) -> None:
        if not folder.is_dir():
            raise SourceError(f"{folder} is not a folder of images")
        if index_csv is not None:
            fr = report.file(str(index_csv))
            frame, header = read_delimited(index_csv, delimiter=",", report=fr, quarantine=quarantine_, quoted=True)
            for c in (id_column, file_column):
                if c not in header:
                    raise SourceError(f"{index_csv} has no column {c!r}", f"its columns: {', '.join(header)}")
            frame = frame.rename(columns={id_column: "id", file_column: "file"})
        else:
            fr = report.file(str(folder))
            files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            frame = pd.DataFrame({"id": [p.stem for p in files], "file": [p.name for p in files]})
            frame[LINE] = np.arange(1, len(frame) + 1, dtype=np.int64)  # position in the sorted listing
            fr.rows_read += len(frame)
        ck = RowChecker(frame, fr, quarantine_)
        ids = ck.require("id")
        ck.require("file", "missing value")
        if not create_products:
            known = pd.Index(backend_.export_nodes("Product").column("id").to_pylist())
            ck.known(ids, known, "id", "unknown product")
        ck.duplicates(ids.to_frame(), "id")
        with bars.stage("check images", total=1, unit="folder") as bar:
            refs, hashes, bad, reasons = check_images(frame["file"].where(ck.good_mask(), None), folder)
            for reason in {r for r in reasons if r}:
                kind, _, detail = reason.partition(": ")
                ck.reject(bad & np.array([r == reason for r in reasons]), "file", kind, detail)
            bar.update(1)
        good = ck.good_mask()
        stage.add_nodes("Product", pd.DataFrame({"id": ids[good], "image_ref": refs[good], "image_hash": hashes[good]}),
                        primary=fr)

    return run_ingest(backend, f"images:{folder.name}", build, strict=strict, quarantine=quarantine, progress=progress)


def _split_of(path: Path) -> str:
    name = path.name.lower()
    return "test" if name.startswith("t10k") or "test" in name else "train"


def ingest_idx(
    backend,
    images: str | Path,
    labels: str | Path | None = None,
    *,
    prefix: str = "fmnist",
    split: str | None = None,
    class_names: list[str] | None = None,
    source: str = "fashion-mnist",
    limit: int | None = None,
    strict: bool = False,
    quarantine: str | Path | None = None,
    progress: bool = False,
) -> IngestReport:
    """Products from an IDX3 image file (and IDX1 labels); ``limit`` takes the first N images."""
    images = Path(images)
    split = split or _split_of(images)
    names = class_names or FASHION_MNIST_CLASSES

    def build(stage: Stage, report: IngestReport, quarantine_: Quarantine, bars, backend_) -> None:
        try:
            pixels = read_idx_images(str(images.resolve()))
            label_values = read_idx_labels(labels) if labels is not None else None
        except (ImageError, OSError) as exc:
            raise SourceError(str(exc)) from None
        n = len(pixels) if limit is None else min(limit, len(pixels))
        if label_values is not None and len(label_values) < n:
            raise SourceError(f"{labels} has {len(label_values)} labels for {len(pixels)} images in {images}")
        fr = report.file(str(images))
        with bars.stage(f"hash {images.name}", total=n, unit="image") as bar:
            digests = []
            for k in range(n):
                digests.append(hashlib.sha256(pixels[k].tobytes()).hexdigest())
                if k % 5000 == 4999:
                    bar.update(5000)
            bar.update(n % 5000)
        ids = [f"{prefix}-{split}-{k:06d}" for k in range(n)]
        frame = pd.DataFrame({"id": ids, "label": None if label_values is None else label_values[:n].astype(str)})
        frame[LINE] = np.arange(n, dtype=np.int64)  # the image's index in the IDX file
        fr.rows_read += n
        ck = RowChecker(frame, fr, quarantine_)
        categories = None
        if label_values is not None:
            lab = ck.integer("label", 0, len(names) - 1, required=True)
            valid = lab.notna().to_numpy()
            picked = np.full(len(lab), None, dtype=object)
            picked[valid] = np.asarray(names, dtype=object)[lab[valid].to_numpy(dtype=np.int64)]
            categories = pd.Series(picked, index=lab.index)
        good = ck.good_mask()
        ref_base = idx_ref(images, 0)[:-1]  # "idx:/abs/path#", resolved once
        products = pd.DataFrame({
            "id": frame["id"][good],
            "image_ref": [f"{ref_base}{k}" for k in np.flatnonzero(good)],
            "image_hash": np.asarray(digests, dtype=object)[good],
            "source": source,
        })
        if categories is not None:
            products["category_path"] = categories[good].to_numpy()
        stage.add_nodes("Product", products, primary=fr)
        if categories is not None:
            stage.add_categories(products["category_path"], products["id"])

    return run_ingest(backend, f"idx:{images.name}", build, strict=strict, quarantine=quarantine, progress=progress)
