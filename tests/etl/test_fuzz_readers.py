"""Property-based fuzz test of the readers through the CLI (hypothesis; issue 14): random bytes,
encodings, quoting, huge fields and value types through every source format (RecBole atomic
files, CSV, TSV, JSON Lines and Parquet tables, Taobao). For every generated file the ingest
exits 0, every record is either loaded or quarantined (rows read = the records written = loaded
+ rejected), and nothing raises past the CLI. Bounded and derandomized: EXAMPLES per format, one
graph per format, the same inputs on every run."""

from __future__ import annotations

import csv
import io
import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from kgrec.cli.main import cli
from kgrec.etl.readers import MAX_ROW_BYTES
from kgrec.kg import open_backend

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install -e '.[dev]')")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = 6  # files per format; each holds up to 20 generated rows
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
HUGE = "h" * (MAX_ROW_BYTES + 1)  # one field over the row limit
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
# special values, among them (rarely: one in ~90 fields) a field over the row size limit
TOKENS = st.sampled_from(["u1", "p1", "42", " 7 ", "", "nan", "inf", "-inf", "1e400", "-0", "1.5", "x" * 300, "\x00",
                          "caf\u00e9", "a\u2028b", '"q"', "a,b", "a\tb", "[1, 2]", "{}", "\ufeffbom", HUGE])
FIELD = st.one_of(TEXT, TOKENS, st.integers(-2**70, 2**70).map(str), st.floats().map(repr))
VALUE = st.one_of(
    st.none(),
    TEXT,
    TOKENS,
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.booleans(),
    st.lists(st.integers(0, 9), max_size=3),
    st.dictionaries(st.sampled_from("xy"), st.integers(0, 9), max_size=2),
)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"])


def _rows(n_cols: int):
    return st.lists(st.lists(FIELD, min_size=n_cols - 1, max_size=n_cols + 1), max_size=20)


def _encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="replace")


def _lines(data: bytes) -> int:
    """Records of an unquoted delimited body: non-empty lines (one trailing CR dropped), as the reader counts."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines = lines[:-1]
    return sum(1 for line in lines if (line[:-1] if line.endswith(b"\r") else line))


def _ingest(db: str, args: list[str]) -> dict:
    result = CliRunner().invoke(cli, ["--db", db, "ingest", *args, "-q", "--json"], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # something raised past the CLI
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    for f in report["files"]:
        assert f["rows_read"] == f["rows_loaded"] + f["rows_rejected"], f
    return report


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    made = {}

    def graph(name: str) -> str:
        if name not in made:
            path = str(tmp_path_factory.mktemp(f"fuzz-{name}") / "kg.db")
            with open_backend(path) as b:
                b.init_schema()
            made[name] = path
        return made[name]

    return graph


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-files")


def test_recbole_atomic_files(graphs, files):
    @FUZZ
    @given(rows=_rows(4), junk=st.lists(st.binary(max_size=40), max_size=3), encoding=ENCODINGS)
    def run(rows, junk, encoding):
        folder = files / "rb"
        folder.mkdir(exist_ok=True)
        body = _encode("".join("\t".join(r) + "\n" for r in rows), encoding) + b"".join(j + b"\n" for j in junk)
        (folder / "rb.inter").write_bytes(b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + body)
        report = _ingest(graphs("recbole"), ["recbole", str(folder), "--quarantine", str(files / "q.jsonl")])
        if encoding != "utf-16":  # (UTF-16 lines are counted after transcoding)
            assert report["files"][0]["rows_read"] == _lines(body)

    run()


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_quoted_csv_and_tsv_tables(graphs, files, fmt):
    (files / "m.yaml").write_text("columns: {user: u, item: i, rating: r, timestamp: t, title: title}\n")

    @FUZZ
    @given(rows=st.lists(st.lists(FIELD, min_size=5, max_size=5), max_size=20), encoding=ENCODINGS,
           quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    def run(rows, encoding, quoting):
        out = io.StringIO()
        writer = csv.writer(out, delimiter="," if fmt == "csv" else "\t", quoting=quoting, lineterminator="\n")
        writer.writerow(["u", "i", "r", "t", "title"])
        writer.writerows(rows)
        path = files / f"t.{fmt}"
        path.write_bytes(_encode(out.getvalue(), encoding))
        report = _ingest(
            graphs(fmt),
            ["table", str(path), "--mapping", str(files / "m.yaml"), "--quarantine", str(files / "q.jsonl")],
        )
        f = report["files"][0]
        if encoding != "utf-16" and all(not any(c in v for c in "\r\n") for r in rows for v in r):
            assert f["rows_read"] == len(rows), (rows, f)

    run()


def test_json_lines_tables(graphs, files):
    (files / "mj.yaml").write_text("columns: {user: u, item: i, rating: r, timestamp: t}\n")
    record = st.dictionaries(st.sampled_from(["u", "i", "r", "t", "x"]), VALUE, max_size=5)
    line = st.one_of(
        record.map(lambda d: json.dumps(d, allow_nan=True)),
        st.binary(max_size=30).map(lambda b: b.decode("latin-1")),
        st.sampled_from(["[1, 2]", "null", "{", '{"u": "a", "i": ' + "[" * 20000 + "]" * 20000 + "}"]),
    )

    @FUZZ
    @given(lines=st.lists(line, max_size=20), encoding=ENCODINGS)
    def run(lines, encoding):
        path = files / "t.jsonl"
        data = _encode("\n".join(lines) + "\n", encoding)
        path.write_bytes(data)
        report = _ingest(
            graphs("jsonl"),
            ["table", str(path), "--mapping", str(files / "mj.yaml"), "--quarantine", str(files / "q.jsonl")],
        )
        f = report["files"][0]
        if encoding != "utf-16":
            assert f["rows_read"] == sum(1 for x in data.split(b"\n") if x.strip()), f

    run()


def test_parquet_tables(graphs, files):
    (files / "mp.yaml").write_text("columns: {user: u, item: i, rating: r, timestamp: t}\n")
    column = st.one_of(
        st.lists(st.one_of(st.none(), TEXT, TOKENS), min_size=3, max_size=3).map(lambda v: pa.array(v, pa.string())),
        st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=3, max_size=3).map(
            lambda v: pa.array(v, pa.int64())
        ),
        st.lists(st.one_of(st.none(), st.floats()), min_size=3, max_size=3).map(lambda v: pa.array(v, pa.float64())),
        st.lists(st.one_of(st.none(), st.lists(st.integers(0, 9), max_size=3)), min_size=3, max_size=3).map(
            lambda v: pa.array(v, pa.list_(pa.int64()))
        ),
        st.lists(st.one_of(st.none(), st.booleans()), min_size=3, max_size=3).map(lambda v: pa.array(v, pa.bool_())),
    )

    @FUZZ
    @given(u=column, i=column, r=column, t=column)
    def run(u, i, r, t):
        path = files / "t.parquet"
        pq.write_table(pa.table({"u": u, "i": i, "r": r, "t": t}), path)
        report = _ingest(
            graphs("parquet"),
            ["table", str(path), "--mapping", str(files / "mp.yaml"), "--quarantine", str(files / "q.jsonl")],
        )
        assert report["files"][0]["rows_read"] == 3

    run()


def test_taobao_csv(graphs, files):
    @FUZZ
    @given(rows=_rows(5), junk=st.lists(st.binary(max_size=40), max_size=3), encoding=ENCODINGS)
    def run(rows, junk, encoding):
        body = _encode("".join(",".join(r) + "\n" for r in rows), encoding) + b"".join(j + b"\n" for j in junk)
        path = files / "UserBehavior.csv"
        path.write_bytes(body)
        report = _ingest(graphs("taobao"), ["taobao", str(path), "--quarantine", str(files / "q.jsonl")])
        if encoding != "utf-16" or not body.startswith(b"\xff\xfe"):
            assert report["files"][0]["rows_read"] == _lines(body)

    run()


def test_non_finite_numbers_count_as_out_of_range():
    assert math.isinf(float("1e400"))  # the TOKENS above rely on this
