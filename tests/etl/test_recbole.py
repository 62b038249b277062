"""RecBole atomic files: full load, quarantine of every kind of bad row, strict mode, idempotence,
incremental exports, and the real MovieLens-100k with its Freebase graph."""

from __future__ import annotations

import importlib.util
import json

import pytest

from kgrec.etl import IngestRejected, ingest_recbole
from kgrec.etl.recbole import packaged_dataset
from tests.etl.atomic import INTER, ITEMS, snapshot, write_atomic


def _rows(backend, cypher):
    return backend.execute(cypher).to_pylist()


def test_loads_every_atomic_file(backend, tmp_path):
    folder = write_atomic(tmp_path)
    report = ingest_recbole(backend, folder)
    counts = backend.counts()
    assert counts["nodes"]["Product"] == 4 and counts["nodes"]["User"] == 3
    assert counts["nodes"]["Entity"] == 6 and counts["nodes"]["Category"] == 6
    assert counts["relationships"]["INTERACTED"] == 6 and counts["relationships"]["RELATED_TO"] == 4
    assert counts["relationships"]["LINKED_TO"] == 2 and counts["relationships"]["IN_CATEGORY"] == 8
    toy = _rows(backend, "MATCH (p:Product {id: '1'}) RETURN p.title AS t, p.year AS y, p.source AS s")[0]
    assert toy == {"t": "Toy Story", "y": 1995, "s": "recbole:shop"}
    genres = _rows(backend, "MATCH (:Product {id: '1'})-[:IN_CATEGORY]->(c:Category) RETURN c.id AS cid ORDER BY cid")
    assert [g["cid"] for g in genres] == ["Animation", "Children's", "Comedy"]
    rel = _rows(
        backend, "MATCH (:Entity {id: 'm.toy'})-[r:RELATED_TO]->(e:Entity {id: 'm.lasseter'}) RETURN r.relation AS r"
    )
    assert rel == [{"r": "film.film.directed_by"}]
    edge = _rows(
        backend, "MATCH (:User {id: '2'})-[r:INTERACTED]->(:Product {id: '3'}) RETURN r.rating AS r, r.timestamp AS t"
    )
    assert edge == [{"r": 2.0, "t": 888551000}]
    user = _rows(backend, "MATCH (u:User {id: '2'}) RETURN u.age AS a, u.gender AS g, u.zip AS z")[0]
    assert user == {"a": 53, "g": "F", "z": "94043"}
    assert all(f.adds_up and f.rows_rejected == 0 for f in report.files)
    assert report.revision == "1" and backend.get_meta("revision") == "1"


def test_bad_rows_are_quarantined_and_the_run_goes_on(backend, tmp_path):
    inter = list(INTER) + [
        ("1", "3", "abc", "874965800"),    # wrong type (rating)
        ("", "3", "4", "874965801"),       # missing id
        ("1", "99", "4", "874965802"),     # unknown product: not in the .item catalogue
        ("1", "1", "5", "874965758"),      # duplicate row
        ("2", "2", "7", "874965803"),      # rating out of range 1..5
        ("2", "4", "3", "-5"),             # timestamp out of range
    ]
    bad_lines = [b"3\t2\t\xff\xfe\t874965804", b"3\t3\t4"]  # bad encoding; wrong column count
    folder = write_atomic(tmp_path, inter=inter, extra_inter_lines=bad_lines)
    qfile = tmp_path / "bad.jsonl"
    report = ingest_recbole(backend, folder, quarantine=qfile, rating_range=(1, 5))
    inter_report = next(f for f in report.files if f.file.endswith(".inter"))
    assert inter_report.rows_read == 14
    assert inter_report.rows_new == 6 and inter_report.rows_rejected == 8 and inter_report.adds_up
    records = [json.loads(line) for line in qfile.read_text().splitlines()]
    by_line = {r["line"]: r for r in records}
    # header is line 1, the six good rows lines 2-7
    assert by_line[8]["reason"].startswith("wrong type") and by_line[8]["field"] == "rating"
    assert by_line[8]["row"] == {"user_id": "1", "item_id": "3", "rating": "abc", "timestamp": "874965800"}
    assert by_line[9]["reason"] == "missing id" and by_line[9]["field"] == "user_id"
    assert by_line[10]["reason"] == "unknown product" and by_line[10]["field"] == "item_id"
    assert by_line[11]["reason"] == "duplicate row"
    assert by_line[12]["reason"].startswith("out of range") and by_line[12]["field"] == "rating"
    assert by_line[13]["reason"].startswith("out of range") and by_line[13]["field"] == "timestamp"
    assert by_line[14]["reason"].startswith("bad encoding")
    assert by_line[15]["reason"].startswith("wrong column count")
    assert all(r["file"].endswith("shop.inter") and r["action"] == "row rejected" for r in records)
    assert backend.counts()["relationships"]["INTERACTED"] == 6
    assert sum(inter_report.reasons.values()) == 8


def test_strict_stops_at_the_first_bad_row_and_writes_nothing(backend, tmp_path):
    folder = write_atomic(tmp_path, inter=list(INTER) + [("1", "2", "x", "874965800")])
    with pytest.raises(IngestRejected, match=r"shop.inter line 8, field rating: wrong type"):
        ingest_recbole(backend, folder, strict=True)
    counts = backend.counts()
    assert sum(counts["nodes"].values()) == 0 and sum(counts["relationships"].values()) == 0
    assert backend.get_meta("revision") is None


def test_same_input_twice_leaves_the_graph_unchanged(backend, tmp_path):
    folder = write_atomic(tmp_path)
    ingest_recbole(backend, folder)
    before = snapshot(backend)
    again = ingest_recbole(backend, folder)
    assert snapshot(backend) == before
    assert not again.changed and again.revision == "1"
    assert all(f.rows_new == 0 and f.rows_unchanged == f.rows_read for f in again.files)


def test_newer_export_adds_only_what_is_new_and_updates_changed_properties(backend, tmp_path):
    ingest_recbole(backend, write_atomic(tmp_path / "v1"))
    snap_id = backend.snapshot_id()
    items = [(i, "Toy Story (re-release)" if i == "1" else t, y, g) for i, t, y, g in ITEMS] + [
        ("5", "Copycat", "1995", "Crime")
    ]
    inter = [(u, i, "2" if (u, i) == ("1", "2") else r, t) for u, i, r, t in INTER] + [("4", "5", "3", "879000000")]
    report = ingest_recbole(backend, write_atomic(tmp_path / "v2", "shop", items=items, inter=inter))
    files = {f.file.rsplit(".", 1)[1]: f for f in report.files}
    assert (files["item"].rows_new, files["item"].rows_updated, files["item"].rows_unchanged) == (1, 1, 3)
    assert (files["inter"].rows_new, files["inter"].rows_updated, files["inter"].rows_unchanged) == (1, 1, 5)
    assert report.nodes_added == {"Product": 1, "Category": 1, "User": 1}
    assert report.relationships_added == {"IN_CATEGORY": 1, "INTERACTED": 1}
    assert report.relationships_updated == {"INTERACTED": 1}
    assert _rows(backend, "MATCH (p:Product {id: '1'}) RETURN p.title AS t")[0]["t"] == "Toy Story (re-release)"
    changed = _rows(backend, "MATCH (:User {id: '1'})-[r:INTERACTED]->(:Product {id: '2'}) RETURN r.rating AS r")
    assert changed == [{"r": 2.0}]
    assert backend.counts()["relationships"]["INTERACTED"] == 7
    assert report.revision == "2" and backend.snapshot_id() != snap_id


def test_interactions_without_a_catalogue_create_products_and_users(backend, tmp_path):
    folder = write_atomic(tmp_path, items=None, users=None, kg=None, link=None)
    report = ingest_recbole(backend, folder)
    assert backend.counts()["nodes"]["Product"] == 4 and backend.counts()["nodes"]["User"] == 3
    assert report.files[0].rows_new == 6


def test_bad_optional_value_is_dropped_and_the_row_kept(backend, tmp_path):
    items = list(ITEMS) + [("5", "unknown", "unkonwn", "unknown")]
    qfile = tmp_path / "q.jsonl"
    report = ingest_recbole(backend, write_atomic(tmp_path, items=items), quarantine=qfile)
    item_report = next(f for f in report.files if f.file.endswith(".item"))
    assert item_report.rows_new == 5 and item_report.rows_rejected == 0
    assert item_report.values_dropped == {"wrong type (release_year)": 1}
    record = json.loads(qfile.read_text())
    assert record["action"] == "value dropped" and record["line"] == 6
    assert _rows(backend, "MATCH (p:Product {id: '5'}) RETURN p.year AS y") == [{"y": None}]


@pytest.mark.skipif(importlib.util.find_spec("recbole") is None, reason="recbole is not installed")
def test_real_movielens_100k_with_its_knowledge_graph_loads_completely(backend):
    report = ingest_recbole(backend, dataset="ml-100k")
    counts = backend.counts()
    assert counts["nodes"]["User"] == 943 and counts["nodes"]["Product"] == 1682
    assert counts["relationships"]["INTERACTED"] == 100_000
    assert counts["relationships"]["RELATED_TO"] == 91_631
    assert counts["relationships"]["LINKED_TO"] == 1598
    assert counts["nodes"]["Entity"] == 34_628
    assert counts["nodes"]["Category"] == 19  # 18 genres and "unknown"
    assert sum(f.rows_rejected for f in report.files) == 0
    assert len(_rows(backend, "MATCH ()-[r:RELATED_TO]->() RETURN DISTINCT r.relation AS r")) == 24
    toy = _rows(
        backend, "MATCH (p:Product {id: '1'})-[:LINKED_TO]->(e:Entity) RETURN p.title AS t, p.year AS y, e.id AS e"
    )
    assert toy[0]["t"] == "Toy Story" and toy[0]["y"] == 1995
    rated = _rows(
        backend,
        "MATCH (:User {id: '196'})-[r:INTERACTED]->(:Product {id: '242'}) RETURN r.rating AS r, r.timestamp AS t",
    )
    assert rated == [{"r": 3.0, "t": 881250949}]


def test_packaged_dataset_names_are_checked():
    from kgrec.etl.readers import SourceError

    with pytest.raises(SourceError, match="unknown packaged"):
        packaged_dataset("ml-20m")
