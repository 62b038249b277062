"""Products-10K (JD.com product recognition): ``train.csv`` with ``name,class,group`` and the
images in a folder (``train/`` next to the CSV by default).

``name`` is an image file, ``class`` the SKU (one product, several photos) and ``group`` the
product group. Each SKU becomes Product ``p10k-<class>`` in Category ``products10k:<group>``;
its ``image_ref`` is its first readable photo (by file name) and ``extra`` lists all of them as
JSON (``{"images": [...]}``). Pixels stay in the files; ``image_hash`` is the photo's SHA-256.
A row whose photo is missing or does not decode is rejected as an unreadable image.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from kgrec.etl.image_check import check_images
from kgrec.etl.pipeline import run_ingest
from kgrec.etl.readers import SourceError, read_delimited
from kgrec.etl.report import IngestReport, Quarantine
from kgrec.etl.stage import Stage
from kgrec.etl.validate import RowChecker

PRODUCT_PREFIX = "p10k-"
CATEGORY_PREFIX = "products10k:"


def ingest_products10k(
    backend,
    folder: str | Path,
    *,
    csv_name: str = "train.csv",
    image_folder: str | Path | None = None,
    strict: bool = False,
    quarantine: str | Path | None = None,
    progress: bool = False,
) -> IngestReport:
    folder = Path(folder)
    csv_path = folder / csv_name
    images = Path(image_folder) if image_folder else folder / Path(csv_name).stem

    def build(stage: Stage, report: IngestReport, quarantine_: Quarantine, bars, backend_) -> None:
        if not images.is_dir():
            raise SourceError(f"no image folder {images}", "pass --images DIR")
        fr = report.file(str(csv_path))
        frame, header = read_delimited(csv_path, delimiter=",", report=fr, quarantine=quarantine_)
        missing = [c for c in ("name", "class", "group") if c not in header]
        if missing:
            raise SourceError(f"{csv_path} has no column {', '.join(missing)}", "expected the header name,class,group")
        ck = RowChecker(frame, fr, quarantine_)
        names = ck.require("name")
        classes = ck.require("class")
        groups = ck.require("group")
        ck.duplicates(names.to_frame(), "name")
        with bars.stage("check images", total=1, unit="folder") as bar:
            alive = ck.good_mask()
            refs, hashes, bad, reasons = check_images(names.where(alive, None), images)
            for reason in {r for r in reasons if r}:
                kind, _, detail = reason.partition(": ")
                ck.reject(bad & np.array([r == reason for r in reasons]), "name", kind, detail)
            bar.update(1)
        good = ck.good_mask()
        rows = pd.DataFrame(
            {
                "id": PRODUCT_PREFIX + classes[good], "group": groups[good], "name": names[good],
                "image_ref": refs[good], "image_hash": hashes[good],
            }
        ).sort_values(["id", "name"], kind="stable")
        per_sku = (
            rows.groupby("id", sort=False)
            .agg(
                category_path=("group", "first"), image_ref=("image_ref", "first"), image_hash=("image_hash", "first"),
                extra=("image_ref", lambda refs_: json.dumps({"images": list(refs_)})),
            )
            .reset_index()
        )
        per_sku["category_path"] = CATEGORY_PREFIX + per_sku["category_path"]
        per_sku["source"] = "products10k"
        stage.add_nodes("Product", per_sku)
        stage.add_nodes("Product", pd.DataFrame({"id": PRODUCT_PREFIX + classes[good]}), primary=fr)
        stage.add_categories(per_sku["category_path"], per_sku["id"])

    return run_ingest(backend, "products10k", build, strict=strict, quarantine=quarantine, progress=progress)
