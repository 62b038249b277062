"""Taobao ``UserBehavior.csv`` (Alibaba, Tianchi): no header, one event a line:
``user_id,item_id,category_id,behavior_type,timestamp`` with behaviours pv, cart, fav, buy.

There is no item catalogue: products appear with their first event, in Category
``taobao:<category_id>`` (the first category seen for an item wins). Users appear with their
first event. Identity of an event: (user, item, timestamp, behaviour); a repeat is a duplicate row.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kgrec.etl.pipeline import run_ingest
from kgrec.etl.readers import read_delimited
from kgrec.etl.report import IngestReport, Quarantine
from kgrec.etl.stage import Stage
from kgrec.etl.validate import RowChecker, timestamp_bounds

COLUMNS = ["user_id", "item_id", "category_id", "behavior_type", "timestamp"]
BEHAVIORS = ("pv", "cart", "fav", "buy")
CATEGORY_PREFIX = "taobao:"


def ingest_taobao(
    backend,
    path: str | Path,
    *,
    strict: bool = False,
    quarantine: str | Path | None = None,
    timestamp_range: tuple[int | None, int | None] | None = None,
    progress: bool = False,
) -> IngestReport:
    path = Path(path)
    lo, hi = timestamp_bounds(timestamp_range)

    def build(stage: Stage, report: IngestReport, quarantine_: Quarantine, bars, backend_) -> None:
        fr = report.file(str(path))
        with bars.stage(f"read+validate {path.name}", total=1, unit="file") as bar:
            frame, _ = read_delimited(path, delimiter=",", names=COLUMNS, report=fr, quarantine=quarantine_)
            ck = RowChecker(frame, fr, quarantine_)
            users = ck.require("user_id")
            items = ck.require("item_id")
            cats = ck.require("category_id")
            behavior = ck.one_of("behavior_type", BEHAVIORS)
            ck.reject(behavior.isna().to_numpy(), "behavior_type", "missing value")
            ts = ck.integer("timestamp", lo, hi, required=True)
            rels = pd.DataFrame({"src": users, "dst": items, "timestamp": ts, "behavior": behavior})
            ck.duplicates(rels, "user_id,item_id,timestamp,behavior_type")
            good = ck.good_mask()
            rels, cats = rels[good], cats[good]
            bar.update(1)
        products = pd.DataFrame({"id": rels["dst"], "category_path": CATEGORY_PREFIX + cats}).drop_duplicates("id")
        products["source"] = "taobao"
        stage.add_nodes("User", pd.DataFrame({"id": rels["src"].unique()}))
        stage.add_nodes("Product", products)
        stage.add_categories(products["category_path"], products["id"])
        stage.add_rels("INTERACTED", rels, primary=fr, unique=True)

    return run_ingest(backend, "taobao", build, strict=strict, quarantine=quarantine, progress=progress)
