"""Bad input found by trying what a careless user or an attacker would (issue 14): an oversized
row, a header-only optional file, lists and objects as ids, inf/NaN in numbers, ids the API would
refuse, and a refused run's quarantine file. Each loads the good rows and quarantines the bad
one with its line and reason; rows read = loaded + rejected."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kgrec.etl import ingest_recbole, ingest_table
from kgrec.etl.readers import MAX_ROW_BYTES, SourceError
from kgrec.ids import MAX_ID_LENGTH
from tests.etl.atomic import INTER, write_atomic


def _quarantined(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _report(report, suffix: str):
    return next(f for f in report.files if f.file.endswith(suffix))


def test_an_oversized_row_is_quarantined_with_its_line_and_the_rest_loads(backend, tmp_path):
    huge = ("1", "2", "4", "9" * (40 << 20))  # a 40 MB field in line 8 of the .inter file
    folder = write_atomic(tmp_path, inter=list(INTER) + [huge, ("3", "2", "5", "878542999")])
    q = tmp_path / "q.jsonl"
    report = ingest_recbole(backend, folder, quarantine=q)
    inter = _report(report, ".inter")
    assert (inter.rows_read, inter.rows_new, inter.rows_rejected) == (8, 7, 1) and inter.adds_up
    (record,) = _quarantined(q)
    assert record["line"] == 8 and record["reason"].startswith("row too large")
    assert f"{MAX_ROW_BYTES:,}" in record["reason"] and len(record["row"]) < 1000
    assert backend.counts()["relationships"]["INTERACTED"] == 7


def test_an_oversized_json_line_is_quarantined(backend, tmp_path):
    path = tmp_path / "e.jsonl"
    good = [json.dumps({"u": "a", "i": "p1"}), json.dumps({"u": "b", "i": "p2"})]
    path.write_text(
        "\n".join([good[0], json.dumps({"u": "c", "i": "p3", "t": "x" * (MAX_ROW_BYTES + 10)}), good[1]]) + "\n"
    )
    (tmp_path / "m.yaml").write_text("columns: {user: u, item: i}\n")
    report = ingest_table(backend, path, tmp_path / "m.yaml", quarantine=tmp_path / "q.jsonl")
    f = report.files[0]
    assert (f.rows_read, f.rows_new, f.rows_rejected) == (3, 2, 1)
    assert [r["line"] for r in _quarantined(tmp_path / "q.jsonl")] == [2]


def test_a_header_only_optional_file_is_reported_and_the_rest_loads(backend, tmp_path):
    folder = write_atomic(tmp_path, users=[])  # shop.user holds its header line only
    report = ingest_recbole(backend, folder)
    user = _report(report, ".user")
    assert (user.rows_read, user.rows_rejected) == (0, 0) and user.adds_up
    assert _report(report, ".inter").rows_new == len(INTER)
    assert "no rows in this file" in report.summary()
    assert backend.counts()["relationships"]["INTERACTED"] == len(INTER)


def test_parquet_lists_and_structs_are_no_ids(backend, tmp_path):
    table = pa.table({
        "u": pa.array(["a", "b", "c"]),
        "i": pa.array([[2, 3], None, [4]], pa.list_(pa.int64())),
        "j": pa.array(["p1", "p2", "p3"]),
    })
    path = tmp_path / "e.parquet"
    pq.write_table(table, path)
    (tmp_path / "m.yaml").write_text("columns: {user: u, item: i}\n")
    q = tmp_path / "q.jsonl"
    report = ingest_table(backend, path, tmp_path / "m.yaml", quarantine=q)
    f = report.files[0]
    assert (f.rows_read, f.rows_new, f.rows_rejected) == (3, 0, 3)
    reasons = {(r["line"], r["reason"].split(":")[0]) for r in _quarantined(q)}
    assert reasons == {(1, "wrong type"), (2, "missing id"), (3, "wrong type")}
    assert backend.counts()["nodes"]["Product"] == 0


def test_json_objects_and_arrays_are_no_ids(backend, tmp_path):
    path = tmp_path / "e.jsonl"
    rows = [{"u": {"x": 1}, "i": "p1"}, {"u": "b", "i": [2, 3]}, {"u": "c", "i": "p2"}, {"u": 7, "i": 8}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "m.yaml").write_text("columns: {user: u, item: i}\n")
    q = tmp_path / "q.jsonl"
    report = ingest_table(backend, path, tmp_path / "m.yaml", quarantine=q)
    f = report.files[0]
    assert (f.rows_read, f.rows_new, f.rows_rejected) == (4, 2, 2)
    assert {(r["line"], r["field"], r["reason"].split(":")[0]) for r in _quarantined(q)} == {
        (1, "u", "wrong type"), (2, "i", "wrong type")}
    users = backend.execute("MATCH (u:User) RETURN u.id AS id ORDER BY id").column("id").to_pylist()
    assert users == ["7", "c"]


def test_inf_and_nan_in_parquet_are_out_of_range_like_in_tsv(backend, tmp_path):
    table = pa.table({
        "u": ["a", "b", "c", "d", "e"],
        "i": ["p1", "p2", "p3", "p4", "p5"],
        "r": pa.array([4.0, float("inf"), float("nan"), None, -float("inf")], pa.float64()),
        "t": pa.array([1700000000.0, 1700000001.0, 1700000002.0, 1700000003.0, 1700000004.0]),
    })
    pq.write_table(table, tmp_path / "e.parquet")
    (tmp_path / "m.yaml").write_text("columns: {user: u, item: i, rating: r, timestamp: t}\n")
    q = tmp_path / "q.jsonl"
    report = ingest_table(backend, tmp_path / "e.parquet", tmp_path / "m.yaml", quarantine=q)
    f = report.files[0]
    assert (f.rows_read, f.rows_new, f.rows_rejected) == (5, 2, 3) and f.adds_up
    parquet = sorted((r["line"], r["field"], r["reason"]) for r in _quarantined(q))
    assert parquet == [(2, "r", "out of range: not a finite number"), (3, "r", "out of range: not a finite number"),
                       (5, "r", "out of range: not a finite number")]
    # the same values written as text in a TSV give the same answers
    (tmp_path / "e.tsv").write_text(
        "u\ti\tr\tt\na2\tp1\t4\t1700000000\nb2\tp2\tinf\t1\nc2\tp3\tnan\t2\nd2\tp4\t\t3\ne2\tp5\t-inf\t4\n"
    )
    q2 = tmp_path / "q2.jsonl"
    report = ingest_table(backend, tmp_path / "e.tsv", tmp_path / "m.yaml", quarantine=q2)
    assert sorted((r["line"] - 1, r["field"], r["reason"]) for r in _quarantined(q2)) == parquet


def test_whole_float_columns_still_read_as_integers(backend, tmp_path):
    table = pa.table({"u": ["a", "b"], "i": pa.array([1.0, 2.0]), "t": pa.array([1700000000.0, None])})
    pq.write_table(table, tmp_path / "e.parquet")
    (tmp_path / "m.yaml").write_text("columns: {user: u, item: i, timestamp: t}\n")
    report = ingest_table(backend, tmp_path / "e.parquet", tmp_path / "m.yaml")
    assert report.files[0].rows_new == 2
    ids = backend.execute("MATCH (p:Product) RETURN p.id AS id ORDER BY id").column("id").to_pylist()
    assert ids == ["1", "2"]


def test_ids_the_api_would_refuse_are_quarantined(backend, tmp_path):
    from kgrec.ids import id_problem

    long_id = "x" * (MAX_ID_LENGTH + 1)
    rows = [
        ("u1", "p1"),
        ("u\x01bad", "p1"),
        ("u2", long_id),
        ("u3", "p\u2028x"),
        ("u4", "x" * MAX_ID_LENGTH),
        ("u5", "caf\u00e9"),
    ]
    (tmp_path / "e.csv").write_text("user,sku\n" + "".join(f"{u},{i}\n" for u, i in rows), encoding="utf-8")
    (tmp_path / "m.yaml").write_text("columns: {user: user, item: sku}\n")
    q = tmp_path / "q.jsonl"
    report = ingest_table(backend, tmp_path / "e.csv", tmp_path / "m.yaml", quarantine=q)
    f = report.files[0]
    assert (f.rows_read, f.rows_new, f.rows_rejected) == (6, 3, 3)
    assert sorted((r["line"], r["reason"].split(":")[0]) for r in _quarantined(q)) == [
        (3, "bad id"),
        (4, "bad id"),
        (5, "bad id"),
    ]
    for label in ("User", "Product"):  # every id that loaded passes the API's own check
        assert all(id_problem(i) is None for i in backend.export_nodes(label).column("id").to_pylist())


def test_a_refused_run_leaves_no_quarantine_file(backend, tmp_path):
    folder = write_atomic(tmp_path, extra_inter_lines=[b"1\t2"])  # one bad row, then a refusal
    (folder / "shop.link").write_text("item_id:token\tno_entity:token\n1\tm.toy\n")
    q = tmp_path / "out" / "q.jsonl"
    with pytest.raises(SourceError, match="no column entity_id"):
        ingest_recbole(backend, folder, quarantine=q)
    assert not q.exists() and not q.parent.exists()
    q.parent.mkdir()
    q.write_text('{"kept": "from an earlier run"}\n')
    with pytest.raises(SourceError):
        ingest_recbole(backend, folder, quarantine=q)
    assert q.read_text() == '{"kept": "from an earlier run"}\n'


def test_a_json_line_nested_thousands_deep_is_quarantined_not_a_crash(tmp_path):
    """pyarrow's JSON reader dies with SIGSEGV on a line nested ~20,000 deep (found by the fuzz
    test); such a file takes the line-by-line reader. Run as a child process: a crash must not
    take the test run with it."""
    import subprocess
    import sys

    rows = [
        json.dumps({"u": "a", "name": "no item"}),
        '{"u": "b", "i": ' + "[" * 20000 + "]" * 20000 + "}",
        json.dumps({"u": "c", "i": "p2"}),
    ]
    (tmp_path / "e.jsonl").write_text("\n".join(rows) + "\n")
    (tmp_path / "m.yaml").write_text("columns: {user: u, item: i}\n")
    kgctl = [sys.executable, "-m", "kgrec.cli.main", "--db", str(tmp_path / "kg.db")]
    env = {**__import__("os").environ, "PYTHONPATH": __import__("os").getcwd()}
    subprocess.run([*kgctl, "init"], check=True, capture_output=True, env=env, timeout=120)
    res = subprocess.run(
        [
            *kgctl,
            "ingest",
            "table",
            str(tmp_path / "e.jsonl"),
            "--mapping",
            str(tmp_path / "m.yaml"),
            "--quarantine",
            str(tmp_path / "q.jsonl"),
            "-q",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    f = json.loads(res.stdout.strip().splitlines()[-1])["files"][0]
    assert (f["rows_read"], f["rows_loaded"], f["rows_rejected"]) == (3, 1, 2)
    assert sorted((r["line"], r["reason"].split(":")[0]) for r in _quarantined(tmp_path / "q.jsonl")) == [
        (1, "missing id"),
        (2, "wrong type"),
    ]


def test_a_quarantine_that_cannot_be_written_is_one_line_not_a_traceback(tmp_path):
    import errno
    import subprocess
    import sys

    from kgrec.cli.main import os_error_line

    assert os_error_line(OSError(errno.ENOSPC, "No space left on device", "/data/q.jsonl")) == (
        "the disk is full: no space left to write /data/q.jsonl (in /data); free disk space and run it again")
    folder = write_atomic(tmp_path, extra_inter_lines=[b"1\t2"])  # one bad row: the quarantine is opened
    (tmp_path / "plain-file").write_text("not a folder")
    env = {**__import__("os").environ, "PYTHONPATH": __import__("os").getcwd()}
    kgctl = [sys.executable, "-m", "kgrec.cli.main", "--db", str(tmp_path / "kg.db")]
    subprocess.run([*kgctl, "init"], check=True, capture_output=True, env=env, timeout=120)
    res = subprocess.run(
        [*kgctl, "ingest", "recbole", str(folder), "-q", "--quarantine", str(tmp_path / "plain-file" / "q.jsonl")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.startswith("error: ") and "plain-file" in res.stderr and len(res.stderr.splitlines()) == 1, (
        res.stderr
    )
