"""The RecBole export is exactly our split."""

from __future__ import annotations

from kgrec.models.data.interactions import KnowledgeGraphData
from kgrec.models.data.recbole_export import export_split
from kgrec.models.workflows.pipeline import load_dataset


def _rows(path):
    lines = path.read_text().splitlines()[1:]
    return [line.split("\t") for line in lines]


def test_export_matches_split_row_for_row(tiny, tmp_path):
    ds = load_dataset(tiny)
    kg = KnowledgeGraphData.from_backend(tiny, ds.data.item_ids)
    summary = export_split(ds.split, tmp_path, "t", kg, max_len=3)
    for phase in ("train", "valid", "test"):
        part = getattr(ds.split, phase)
        expected = {
            (str(ds.data.user_ids[u]), str(ds.data.item_ids[i]), int(t))
            for u, i, t in zip(part.user, part.item, part.timestamp)
        }
        got = {(u, i, int(t)) for u, i, _, t in _rows(tmp_path / "t" / f"t.{phase}.inter")}
        assert got == expected
    # sequential copy: the test row's history is train + valid, newest last, cut to max_len
    seq_test = {u: (hist.split(), item) for u, hist, item, _, _ in _rows(tmp_path / "t-seq" / "t-seq.test.inter")}
    u = 0
    user = str(ds.data.user_ids[u])
    train_items = [str(ds.data.item_ids[i]) for i in ds.split.train.item[ds.split.train.user == u]]
    valid_item = str(ds.data.item_ids[ds.split.valid.item[ds.split.valid.user == u][0]])
    test_item = str(ds.data.item_ids[ds.split.test.item[ds.split.test.user == u][0]])
    assert seq_test[user] == ((train_items + [valid_item])[-3:], test_item)
    # one sequential training row per training interaction after each user's first
    assert summary.rows["seq_train"] == len(ds.split.train) - ds.data.n_users
    # KG: linked items map to their entity; RELATED_TO and IN_CATEGORY triples are written
    link = dict((i, e) for i, e in _rows(tmp_path / "t" / "t.link"))
    assert link["p0"] == "Entity:e0" and link["p13"] == "product:p13"
    triples = _rows(tmp_path / "t" / "t.kg")
    assert ["Entity:e0", "film.director", "Entity:e4"] in triples
    assert ["Entity:e0", "IN_CATEGORY", "Category:even"] in triples
    assert summary.linked_items == 12
