"""Reading delimited text: physical line numbers survive blank lines, CRLF, bad UTF-8 and rows
with the wrong field count, and every line is accounted for."""

from __future__ import annotations

from kgrec.etl.readers import LINE, read_delimited
from kgrec.etl.report import FileReport, Quarantine


def test_line_numbers_with_blank_lines_crlf_and_bad_rows(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_bytes(b"a\tb\r\n1\t2\r\n\r\n3\t4\r\n5\r\n\xff\t6\r\n7\t8\t9\r\n10\t11")
    report, quarantine = FileReport(str(path)), Quarantine()
    frame, header = read_delimited(path, delimiter="\t", report=report, quarantine=quarantine)
    assert header == ["a", "b"]
    assert frame[LINE].tolist() == [2, 4, 8] and frame["b"].tolist() == ["2", "4", "11"]
    assert {(r["line"], r["reason"].split(":")[0]) for r in quarantine.records} == {
        (5, "wrong column count"), (6, "bad encoding"), (7, "wrong column count")}
    assert report.rows_read == 6 and report.rows_rejected == 3


def test_headerless_file_with_given_names(tmp_path):
    path = tmp_path / "y.csv"
    path.write_text("u,i\nv,j\n")
    frame, _ = read_delimited(
        path, delimiter=",", names=["user", "item"], report=FileReport("y"), quarantine=Quarantine()
    )
    assert frame["user"].tolist() == ["u", "v"] and frame[LINE].tolist() == [1, 2]
