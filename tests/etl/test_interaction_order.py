"""Ties in time keep the file's order: ``INTERACTED.seq`` is given at ingest in source order, later
ingests number after earlier ones, the temporal split's test item is the user's last row of the
file, and a database made before ``seq`` existed is upgraded in place with its data kept. Runs on
LadybugDB, and on Neo4j too when KGREC_NEO4J_URI is set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kgrec.cli.main import cli
from kgrec.errors import SchemaVersionError
from kgrec.etl import ingest_recbole
from kgrec.kg.schema import SCHEMA_VERSION
from kgrec.models.data.interactions import InteractionData
from kgrec.models.data.split import temporal_leave_one_out
from tests.etl.atomic import ITEMS, USERS, snapshot, write_atomic

# Interleaved users; equal timestamps in an order that is not the item id order.
INTER = [
    ("1", "3", "4", "100"),
    ("2", "4", "4", "300"),
    ("1", "1", "5", "200"),
    ("1", "4", "3", "200"),
    ("2", "2", "3", "300"),
    ("3", "2", "1", "500"),
    ("1", "2", "2", "200"),  # user 1's last row: item 2, although item 4 ties with it at t=200
    ("3", "1", "2", "400"),
    ("2", "1", "5", "300"),  # user 2's last row: item 1, every row of user 2 is at t=300
    ("3", "3", "1", "450"),  # user 3: times out of file order, no ties; last by time is item 2
]
# A later export: the same rows plus new ones, two of them tied with user 1's last time.
MORE = INTER + [("1", "3", "1", "200"), ("3", "4", "2", "500"), ("1", "4", "5", "50")]


def _file_order(rows) -> pd.DataFrame:
    """The rows stable-sorted by (user, timestamp): what "ties keep the file's order" means."""
    frame = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    frame["timestamp"] = frame["timestamp"].astype(int)
    return frame.sort_values(["user", "timestamp"], kind="stable")


def _split_items(backend) -> dict[str, dict[str, str]]:
    data = InteractionData.from_backend(backend)
    split = temporal_leave_one_out(data)
    return {name: {str(data.user_ids[u]): str(data.item_ids[i]) for u, i in zip(part.user, part.item)}
            for name, part in (("test", split.test), ("valid", split.valid))}


def _expected(rows) -> dict[str, dict[str, str]]:
    users = _file_order(rows).groupby("user")
    return {"test": {u: g["item"].iloc[-1] for u, g in users}, "valid": {u: g["item"].iloc[-2] for u, g in users}}


def _seq(backend) -> dict[tuple[str, str, int], int]:
    rows = backend.export_relationships("INTERACTED", ["timestamp", "seq"]).to_pylist()
    return {(r["src"], r["dst"], r["timestamp"]): r["seq"] for r in rows}


def _folder(tmp_path, name, inter):
    return write_atomic(tmp_path / name, items=ITEMS, users=USERS, inter=inter, kg=None, link=None)


def test_seq_follows_the_file_and_the_split_keeps_the_files_last_row(any_backend, tmp_path):
    ingest_recbole(any_backend, _folder(tmp_path, "v1", INTER))
    seq = _seq(any_backend)
    assert [seq[(u, i, int(t))] for u, i, _, t in INTER] == list(range(len(INTER)))
    got, want = _split_items(any_backend), _expected(INTER)
    assert got == want
    # ordering ties by item id, as kgrec did before seq, would give 4 and 4 as the test items
    assert got["test"]["1"] == "2" and got["test"]["2"] == "1" and got["valid"]["1"] == "4"


def test_incremental_ingest_numbers_after_the_graph(any_backend, tmp_path):
    ingest_recbole(any_backend, _folder(tmp_path, "v1", INTER))
    before = _seq(any_backend)
    report = ingest_recbole(any_backend, _folder(tmp_path, "v2", MORE))
    assert report.relationships_added["INTERACTED"] == 3
    after = _seq(any_backend)
    assert {k: after[k] for k in before} == before  # old rows keep their numbers
    new = [after[(u, i, int(t))] for u, i, _, t in MORE[len(INTER):]]
    assert new == list(range(len(INTER), len(MORE)))  # after every old number, in file order
    # the new row tied at user 1's last time (t=200) comes after the old ones: it is the test item
    assert _split_items(any_backend) == _expected(MORE)
    assert _split_items(any_backend)["test"]["1"] == "3"
    # re-running the same export changes nothing, numbers included
    again = ingest_recbole(any_backend, _folder(tmp_path, "v2", MORE))
    assert again.changed is False and _seq(any_backend) == after


def test_concat_of_the_split_restores_the_ingest_order(any_backend, tmp_path):
    ingest_recbole(any_backend, _folder(tmp_path, "v1", INTER))
    data = InteractionData.from_backend(any_backend)
    split = temporal_leave_one_out(data)
    whole = InteractionData.concat(split.test, split.train, split.valid)
    assert np.array_equal(whole.item, data.item) and np.array_equal(whole.seq, data.seq)


# ------------------------------------------------------------------ migration from schema version 1
OLD_INTER = [("1", "3", 5.0, 100), ("1", "4", 3.0, 200), ("1", "1", 4.0, 200), ("2", "2", 2.0, 300),
             ("2", "1", 1.0, 300), ("1", "2", 4.0, None)]


def _old_database(store):
    """A database as kgrec wrote it at schema version 1: INTERACTED without seq."""
    b = store.open()
    if b.dialect == "ladybug":  # the version-1 tables, made by hand
        for stmt in b.cypher.statements("schema"):
            b.execute(stmt.replace(", seq INT64", ""), write=True)
        assert "seq" not in b.execute("CALL table_info('INTERACTED') RETURN *").column("name").to_pylist()
    else:  # Neo4j has no column to add: the old rows are those without the property
        b.init_schema()
    b.set_meta("schema_version", "1")
    for uid in ("1", "2"):
        b.execute("CREATE (:User {id: $id})", {"id": uid}, write=True)
    for pid in ("1", "2", "3", "4"):
        b.execute("CREATE (:Product {id: $id})", {"id": pid}, write=True)
    for u, p, r, t in OLD_INTER:
        props = "{rating: $r, timestamp: $t}" if t is not None else "{rating: $r}"
        b.execute(f"MATCH (u:User {{id: $u}}), (p:Product {{id: $p}}) CREATE (u)-[:INTERACTED {props}]->(p)",
                  {"u": u, "p": p, "r": r, **({"t": t} if t is not None else {})}, write=True)
    return b


def _old_rows(b) -> list[tuple]:
    rows = b.export_relationships("INTERACTED", ["rating", "timestamp"]).to_pylist()
    return sorted((r["src"], r["dst"], r["rating"], r["timestamp"]) for r in rows)


def test_an_old_database_is_refused_until_init_upgrades_it_keeping_its_data(store, tmp_path):
    b = _old_database(store)
    with pytest.raises(SchemaVersionError, match="older than this kgrec's.*"):
        b.ensure_schema()
    with pytest.raises(SchemaVersionError):
        ingest_recbole(b, _folder(tmp_path, "v1", INTER))
    assert b.init_schema() is True
    assert b.schema_version() == SCHEMA_VERSION
    b.ensure_schema()
    assert _old_rows(b) == sorted((u, p, r, t) for u, p, r, t in OLD_INTER)
    seq = {(r["src"], r["dst"]): r["seq"] for r in b.export_relationships("INTERACTED", ["seq"]).to_pylist()}
    # numbered by (timestamp, missing first; user id; product id)
    assert seq == {("1", "2"): 0, ("1", "3"): 1, ("1", "1"): 2, ("1", "4"): 3, ("2", "1"): 4, ("2", "2"): 5}
    # so ties keep the order by product id that kgrec used before seq existed
    data = InteractionData.from_backend(b)
    assert [str(data.item_ids[i]) for i in data.item[data.user == 0]] == ["2", "3", "1", "4"]
    assert b.init_schema() is False  # idempotent
    # a new ingest numbers after the migrated rows, which keep their numbers
    ingest_recbole(b, _folder(tmp_path, "v1", INTER))
    old = {(u, p, t) for u, p, _, t in OLD_INTER}
    after = _seq(b)
    assert {(u, p): after[(u, p, t)] for u, p, t in old} == seq
    assert min(s for key, s in after.items() if key not in old) == 6


def test_an_interrupted_migration_finishes_as_an_uninterrupted_one(tmp_path):
    from tests.conftest import Store

    clean, cut = Store("ladybug", tmp_path / "a"), Store("ladybug", tmp_path / "b")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    try:
        a, b = _old_database(clean), _old_database(cut)
        a.init_schema()
        b.run("add_interaction_seq", write=True)  # killed after the column was added
        b.execute("MATCH (:User {id: '1'})-[r:INTERACTED]->(:Product {id: '2'}) SET r.seq = 0", write=True)
        assert b.schema_version() == 1
        assert b.init_schema() is True
        assert snapshot(b) == snapshot(a)
    finally:
        clean.close_all()
        cut.close_all()


def test_kgctl_init_says_it_upgraded(tmp_path):
    from tests.conftest import Store

    store = Store("ladybug", tmp_path)
    _old_database(store)
    store.close_all()
    db = str(tmp_path / "kg.db")
    res = CliRunner().invoke(cli, ["--db", db, "stats"])
    assert res.exit_code != 0 and "older than this kgrec's" in res.output and "kgctl init" in res.output
    res = CliRunner().invoke(cli, ["--db", db, "init"])
    assert res.exit_code == 0, res.output
    assert f"upgraded: embedded database {db} (schema version 1 -> {SCHEMA_VERSION}, data kept)" in res.output
    res = CliRunner().invoke(cli, ["--db", db, "init"])
    assert "already initialised" in res.output


def test_the_tie_order_check_tool(tmp_path, capsys):
    from tools.check_tie_order import main

    db = str(tmp_path / "kg.db")
    CliRunner().invoke(cli, ["--db", db, "init"], catch_exceptions=False)
    folder = _folder(tmp_path, "v1", INTER)
    CliRunner().invoke(cli, ["--db", db, "ingest", "recbole", str(folder)], catch_exceptions=False)
    assert main(["--db", db, "--inter", str(folder / "shop.inter")]) == 0
    out = capsys.readouterr().out
    assert "3 of 3 users" in out and "with ties broken by item id instead: 1 of 3 users" in out


def test_the_serving_index_history_is_the_training_order_reversed(any_backend, tmp_path):
    """What the server hands a sequence model (the index's history, newest first, reversed) is the
    same order the model was trained on, ties in time included."""
    from kgrec.serve.graph_index import GraphIndex

    ingest_recbole(any_backend, _folder(tmp_path, "v1", MORE))
    data = InteractionData.from_backend(any_backend)
    index = GraphIndex.build(any_backend)
    for u, sequence in enumerate(data.sequences()):
        items, _ = index.history(index.user_pos[str(data.user_ids[u])])
        served = [str(index.product_ids[p]) for p in items[::-1]]
        assert served == [str(data.item_ids[i]) for i in sequence]
