"""Bad input found by trying what a careless user or an attacker would (issue 14): an oversized
row, a header-only optional file, lists and objects as ids, inf/NaN in numbers, ids the API would
refuse, and a refused run's quarantine file. Each loads the good rows and quarantines the bad
one with its line and reason; rows read = loaded + rejected."""

from __future__ import annotations

import json

import pytest

from kgrec.etl import ingest_recbole, ingest_table
from kgrec.etl.readers import MAX_ROW_BYTES, SourceError
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
    path.write_text("\n".join([good[0], json.dumps({"u": "c", "i": "p3", "t": "x" * (MAX_ROW_BYTES + 10)}), good[1]]) + "\n")
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
