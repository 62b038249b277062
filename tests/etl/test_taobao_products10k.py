"""Taobao UserBehavior.csv and Products-10K (train.csv + image folder), on fixtures in their public formats."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from kgrec.etl import ingest_products10k, ingest_taobao

USER_BEHAVIOR = (
    "1,2268318,2520377,pv,1511544070\n"
    "1,2333346,2520771,pv,1511561733\n"
    "1,2333346,2520771,buy,1511561800\n"
    "100,2268318,2520377,cart,1511572885\n"
    "100,2268318,2520377,cart,1511572885\n"  # duplicate event
    "100,3911125,982926,fav,1511573000\n"
    "101,3911125,982926,like,1511573100\n"   # unknown behaviour
    "101,3911125,982926,pv,yesterday\n"      # wrong type
    "101,3911125\n"                          # wrong column count
)


def _rows(backend, cypher):
    return backend.execute(cypher).to_pylist()


def test_taobao_user_behavior(backend, tmp_path):
    path = tmp_path / "UserBehavior.csv"
    path.write_text(USER_BEHAVIOR)
    q = tmp_path / "q.jsonl"
    report = ingest_taobao(backend, path, quarantine=q)
    f = report.files[0]
    assert (f.rows_read, f.rows_new, f.rows_rejected) == (9, 5, 4) and f.adds_up
    assert {json.loads(x)["line"] for x in q.read_text().splitlines()} == {5, 7, 8, 9}
    counts = backend.counts()
    assert counts["nodes"]["User"] == 2 and counts["nodes"]["Product"] == 3 and counts["nodes"]["Category"] == 3
    buy = _rows(backend, "MATCH (:User {id: '1'})-[r:INTERACTED]->(p:Product {id: '2333346'})-[:IN_CATEGORY]->(c) "
                         "RETURN r.behavior AS b, r.timestamp AS t, c.id AS c ORDER BY t")
    assert buy == [
        {"b": "pv", "t": 1511561733, "c": "taobao:2520771"}, {"b": "buy", "t": 1511561800, "c": "taobao:2520771"},
    ]
    again = ingest_taobao(backend, path)
    assert not again.changed and again.files[0].rows_unchanged == 5


def test_products10k_train_csv_and_images(backend, tmp_path):
    images = tmp_path / "train"
    images.mkdir()
    for k in range(4):
        Image.fromarray(np.full((10, 10, 3), 50 * k, np.uint8)).save(images / f"{k}.jpg")
    (images / "5.jpg").write_bytes(b"\x00\x01 not a jpeg")
    (tmp_path / "train.csv").write_text(
        "name,class,group\n0.jpg,10,1\n1.jpg,10,1\n2.jpg,11,1\n3.jpg,12,2\n5.jpg,13,2\n6.jpg,14,2\n"
    )
    q = tmp_path / "q.jsonl"
    report = ingest_products10k(backend, tmp_path, quarantine=q)
    f = report.files[0]
    assert (f.rows_read, f.rows_new, f.rows_rejected) == (6, 4, 2) and f.adds_up
    assert {json.loads(x)["reason"].split(":")[0] for x in q.read_text().splitlines()} == {"unreadable image"}
    sku = _rows(
        backend,
        "MATCH (p:Product {id: 'p10k-10'})-[:IN_CATEGORY]->(c) RETURN "
        "p.image_ref AS i, p.image_hash AS h, p.extra AS e, c.id AS c",
    )[0]
    assert sku["i"] == str((images / "0.jpg").resolve()) and len(sku["h"]) == 64 and sku["c"] == "products10k:1"
    assert json.loads(sku["e"])["images"] == [str((images / "0.jpg").resolve()), str((images / "1.jpg").resolve())]
    assert backend.counts()["nodes"]["Product"] == 3
