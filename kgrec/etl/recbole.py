"""RecBole atomic files: ``.inter``, ``.item``, ``.user``, ``.kg``, ``.link`` in one folder.

Each file is tab-separated with a typed header (``user_id:token  item_id:token  rating:float``).
What becomes what:

* ``.item``: Product (title from ``movie_title``/``title``, year from ``release_year``/``year``,
  ``price``, ``description``); genres (``class``/``genre``, a space-separated ``token_seq``) become
  Category nodes with IN_CATEGORY.
* ``.user``: User (``age``, ``gender``, ``occupation``, ``zip_code``).
* ``.inter``: INTERACTED (``rating``, ``timestamp``). Users appear implicitly with their first
  interaction; when a ``.item`` catalogue is part of the run, an interaction whose item is neither
  in it nor already in the graph is rejected as an unknown product.
* ``.kg``: head/tail become Entity nodes, each triple a RELATED_TO with ``relation``.
* ``.link``: Product LINKED_TO Entity (same unknown-product rule as ``.inter``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kgrec.etl.pipeline import run_ingest
from kgrec.etl.readers import SourceError, installed_package_path, read_delimited
from kgrec.etl.report import IngestReport, Quarantine
from kgrec.etl.stage import Stage
from kgrec.etl.validate import RowChecker, timestamp_bounds

SUFFIXES = ("item", "user", "inter", "link", "kg")  # processing order: catalogue first
TITLE = ("movie_title", "title", "item_name", "name")
YEAR = ("release_year", "year")
GENRES = ("class", "genre", "genres", "categories", "category")
PACKAGED = {"ml-100k": ("recbole", "dataset_example/ml-100k", "pip install --no-deps recbole==1.2.1")}


def packaged_dataset(name: str) -> Path:
    """The folder of a data set shipped inside an installed package (``ml-100k`` in recbole)."""
    if name not in PACKAGED:
        raise SourceError(f"unknown packaged RecBole data set {name!r}", f"known: {', '.join(PACKAGED)}")
    package, sub, install = PACKAGED[name]
    folder = installed_package_path(name, package, sub, install)
    if not folder.is_dir():
        raise SourceError(f"{folder} is missing from the installed {package}", f"reinstall it: {install}")
    return folder


def atomic_files(folder: str | Path) -> dict[str, Path]:
    """The atomic files of a RecBole data set folder, by suffix (one file per suffix)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"{folder} is not a folder of RecBole atomic files")
    found: dict[str, Path] = {}
    for suffix in SUFFIXES:
        files = sorted(folder.glob(f"*.{suffix}"))
        preferred = [f for f in files if f.stem == folder.name]
        if len(files) > 1 and not preferred:
            raise SourceError(f"{folder} has several .{suffix} files: {', '.join(f.name for f in files)}",
                              f"keep one, or name it {folder.name}.{suffix}")
        if files:
            found[suffix] = (preferred or files)[0]
    if "inter" not in found and "item" not in found and "kg" not in found:
        raise SourceError(f"{folder} has no .inter, .item or .kg file", "point at a RecBole data set folder")
    return found


def _read(path: Path, report, quarantine) -> pd.DataFrame:
    frame, header = read_delimited(path, delimiter="\t", report=report, quarantine=quarantine)
    names = [h.split(":", 1)[0] for h in header]
    return frame.rename(columns=dict(zip(header, names)))


def _pick(frame: pd.DataFrame, names) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def _need(frame: pd.DataFrame, path: Path, *names: str) -> None:
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise SourceError(f"{path} has no column {', '.join(missing)}", f"its header has: {', '.join(c for c in frame.columns if c != '_line')}")


def ingest_recbole(
    backend,
    path: str | Path | None = None,
    *,
    dataset: str | None = None,
    strict: bool = False,
    quarantine: str | Path | None = None,
    rating_range: tuple[float, float] | None = None,
    timestamp_range: tuple[int | None, int | None] | None = None,
    id_prefix: str = "",
    progress: bool = False,
) -> IngestReport:
    """Load a RecBole atomic-file folder (``path``) or a packaged data set (``dataset='ml-100k'``).

    ``id_prefix`` is prepended to user and item ids (not to KG entities), to keep data sets with
    overlapping numeric ids apart in one graph."""
    if (path is None) == (dataset is None):
        raise SourceError("give either a folder or a packaged data set name", "e.g. --dataset ml-100k")
    folder = packaged_dataset(dataset) if dataset else Path(path)
    if dataset == "ml-100k" and rating_range is None:
        rating_range = (1, 5)
    files = atomic_files(folder)
    tag = f"recbole:{dataset or folder.name}"
    ts_lo, ts_hi = timestamp_bounds(timestamp_range)
    r_lo, r_hi = rating_range or (None, None)

    def build(stage: Stage, report: IngestReport, quarantine: Quarantine, bars, backend_) -> None:
        catalogue = None
        with bars.stage(f"read+validate {folder.name}", total=len(files), unit="file") as bar:
            for suffix, file in files.items():
                fr = report.file(str(file))
                frame = _read(file, fr, quarantine)
                ck = RowChecker(frame, fr, quarantine)
                if suffix == "item":
                    catalogue = _items(frame, ck, file, stage, fr, tag, backend_, id_prefix)
                elif suffix == "user":
                    _users(frame, ck, file, stage, fr, id_prefix)
                elif suffix == "inter":
                    _inter(frame, ck, file, stage, fr, catalogue, (r_lo, r_hi), (ts_lo, ts_hi), id_prefix)
                elif suffix == "link":
                    _link(frame, ck, file, stage, fr, catalogue, id_prefix)
                elif suffix == "kg":
                    _kg(frame, ck, file, stage, fr)
                bar.update(1)

    return run_ingest(backend, tag, build, strict=strict, quarantine=quarantine, progress=progress)


def _prefixed(prefix: str, ids: pd.Series) -> pd.Series:
    return prefix + ids if prefix else ids


def _items(frame, ck: RowChecker, file, stage: Stage, fr, tag: str, backend, pfx: str) -> pd.Index:
    _need(frame, file, "item_id")
    ids = _prefixed(pfx, ck.require("item_id"))
    props: dict[str, pd.Series] = {}
    if col := _pick(frame, TITLE):
        props["title"] = frame[col].str.strip()
    if col := _pick(frame, YEAR):
        props["year"] = ck.integer(col, 0, 3000, optional=True)
    if "price" in frame.columns:
        props["price"] = ck.number("price", 0, None, optional=True)
    if "description" in frame.columns:
        props["description"] = frame["description"]
    ck.duplicates(ids.to_frame(), "item_id")
    good = ck.good_mask()
    products = pd.DataFrame({"id": ids[good], **{k: v[good] for k, v in props.items()}})
    products["source"] = tag
    stage.add_nodes("Product", products, primary=fr)
    if col := _pick(frame, GENRES):
        genres = frame[col][good].str.split().explode().dropna()
        item_of = ids[good].loc[genres.index]
        stage.add_categories(genres, item_of)
    existing = pd.Index(backend.export_nodes("Product").column("id").to_pylist())
    return pd.Index(products["id"]).union(existing)


def _users(frame, ck: RowChecker, file, stage: Stage, fr, pfx: str) -> None:
    _need(frame, file, "user_id")
    ids = _prefixed(pfx, ck.require("user_id"))
    props = {}
    if "age" in frame.columns:
        props["age"] = ck.integer("age", 0, 150, optional=True)
    for src, dst in (("gender", "gender"), ("occupation", "occupation"), ("zip_code", "zip"), ("zip", "zip"), ("name", "name")):
        if src in frame.columns:
            props[dst] = frame[src].str.strip()
    ck.duplicates(ids.to_frame(), "user_id")
    good = ck.good_mask()
    stage.add_nodes("User", pd.DataFrame({"id": ids[good], **{k: v[good] for k, v in props.items()}}), primary=fr)


def _inter(frame, ck: RowChecker, file, stage: Stage, fr, catalogue, rating_range, ts_range, pfx: str) -> None:
    _need(frame, file, "user_id", "item_id")
    users = _prefixed(pfx, ck.require("user_id"))
    items = _prefixed(pfx, ck.require("item_id"))
    rating = ck.number("rating", *rating_range) if "rating" in frame.columns else None
    ts = ck.integer("timestamp", *ts_range, round_down=True) if "timestamp" in frame.columns else None
    if catalogue is not None:
        ck.known(items, catalogue, "item_id", "unknown product")
    rels = pd.DataFrame({"src": users, "dst": items})
    if ts is not None:
        rels["timestamp"] = ts
    if rating is not None:
        rels["rating"] = rating
    ck.duplicates(rels.reindex(columns=["src", "dst", "timestamp"]), "user_id,item_id,timestamp")
    good = ck.good_mask()
    rels = rels[good]
    stage.add_nodes("User", pd.DataFrame({"id": rels["src"].unique()}))
    if catalogue is None:
        stage.add_nodes("Product", pd.DataFrame({"id": rels["dst"].unique()}))
    stage.add_rels("INTERACTED", rels, primary=fr, unique=True)


def _link(frame, ck: RowChecker, file, stage: Stage, fr, catalogue, pfx: str) -> None:
    _need(frame, file, "item_id", "entity_id")
    items = _prefixed(pfx, ck.require("item_id"))
    entities = ck.require("entity_id")
    if catalogue is not None:
        ck.known(items, catalogue, "item_id", "unknown product")
    rels = pd.DataFrame({"src": items, "dst": entities})
    ck.duplicates(rels, "item_id,entity_id")
    rels = rels[ck.good_mask()]
    if catalogue is None:
        stage.add_nodes("Product", pd.DataFrame({"id": rels["src"].unique()}))
    stage.add_nodes("Entity", pd.DataFrame({"id": rels["dst"].unique()}))
    stage.add_rels("LINKED_TO", rels, primary=fr, unique=True)


def _kg(frame, ck: RowChecker, file, stage: Stage, fr) -> None:
    _need(frame, file, "head_id", "relation_id", "tail_id")
    heads = ck.require("head_id")
    relations = ck.require("relation_id")
    tails = ck.require("tail_id")
    rels = pd.DataFrame({"src": heads, "dst": tails, "relation": relations})
    ck.duplicates(rels, "head_id,relation_id,tail_id")
    rels = rels[ck.good_mask()]
    stage.add_nodes("Entity", pd.DataFrame({"id": pd.concat([rels["src"], rels["dst"]]).unique()}))
    stage.add_rels("RELATED_TO", rels, primary=fr, unique=True)
