"""kgctl ingest through click: JSON summary, strict exit code, packaged data set hints."""

from __future__ import annotations

import json

from click.testing import CliRunner

from kgrec.cli.main import cli
from tests.etl.atomic import INTER, write_atomic


def _kgctl(db, *args):
    return CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)


def test_ingest_recbole_json_summary_and_stats(tmp_path):
    db = tmp_path / "kg.db"
    assert _kgctl(db, "init").exit_code == 0
    folder = write_atomic(tmp_path)
    result = _kgctl(db, "ingest", "recbole", str(folder), "--json", "-q", "--quarantine", str(tmp_path / "q.jsonl"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    inter = next(f for f in summary["files"] if f["file"].endswith(".inter"))
    assert inter["rows_read"] == inter["rows_loaded"] + inter["rows_rejected"] == 6
    assert summary["relationships_added"]["INTERACTED"] == 6 and summary["revision"] == "1"
    stats = json.loads(_kgctl(db, "stats", "--json").output)
    assert stats["nodes"]["User"] == 3
    assert not (tmp_path / "q.jsonl").exists()  # no bad row, no quarantine file


def test_strict_fails_with_file_line_and_reason(tmp_path):
    db = tmp_path / "kg.db"
    _kgctl(db, "init")
    folder = write_atomic(tmp_path, inter=list(INTER) + [("1", "1", "x", "1")])
    result = _kgctl(db, "ingest", "recbole", str(folder), "--strict", "-q")
    assert result.exit_code == 3
    assert "shop.inter line 8, field rating: wrong type" in result.output


def test_ingest_needs_an_initialised_database(tmp_path):
    result = _kgctl(tmp_path / "none.db", "ingest", "recbole", "--dataset", "ml-100k", "-q")
    assert result.exit_code != 0 and "kgctl init" in result.output


def test_table_needs_a_mapping(tmp_path):
    db = tmp_path / "kg.db"
    _kgctl(db, "init")
    (tmp_path / "t.csv").write_text("a\n1\n")
    result = _kgctl(db, "ingest", "table", str(tmp_path / "t.csv"))
    assert result.exit_code == 2 and "--mapping" in result.output
