"""Writers of small RecBole atomic-file data sets, in the real format (typed headers, tabs)."""

from __future__ import annotations

from pathlib import Path

HEADERS = {
    "inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float",
    "item": "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq",
    "user": "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token",
    "kg": "head_id:token\trelation_id:token\ttail_id:token",
    "link": "item_id:token\tentity_id:token",
}

ITEMS = [
    ("1", "Toy Story", "1995", "Animation Children's Comedy"),
    ("2", "GoldenEye", "1995", "Action Thriller"),
    ("3", "Four Rooms", "1995", "Thriller"),
    ("4", "Get Shorty", "1995", "Comedy Drama"),
]
USERS = [
    ("1", "24", "M", "technician", "85711"), ("2", "53", "F", "other", "94043"), ("3", "23", "M", "writer", "32067"),
]
INTER = [
    ("1", "1", "5", "874965758"),
    ("1", "2", "3", "876893171"),
    ("2", "1", "4", "888550871"),
    ("2", "3", "2", "888551000"),
    ("3", "4", "1", "878542960"),
    ("3", "1", "4", "878542961"),
]
KG = [("m.toy", "film.film.directed_by", "m.lasseter"), ("m.toy", "film.film.genre", "m.anim"),
      ("m.golden", "film.film.genre", "m.action"), ("m.lasseter", "people.person.nationality", "m.usa")]
LINK = [("1", "m.toy"), ("2", "m.golden")]


def write_atomic(folder: Path, name: str = "shop", *, items=ITEMS, users=USERS, inter=INTER, kg=KG, link=LINK,
                 extra_inter_lines: list[bytes] = ()) -> Path:
    """A RecBole data set folder ``folder/name`` with one file per suffix; returns the folder."""
    base = Path(folder) / name
    base.mkdir(parents=True, exist_ok=True)
    for suffix, rows in (("item", items), ("user", users), ("inter", inter), ("kg", kg), ("link", link)):
        if rows is None:
            continue
        body = HEADERS[suffix] + "\n" + "".join("\t".join(r) + "\n" for r in rows)
        data = body.encode("utf-8")
        if suffix == "inter":
            data += b"".join(line + b"\n" for line in extra_inter_lines)
        (base / f"{name}.{suffix}").write_bytes(data)
    return base


def snapshot(backend) -> dict:
    """Every node (id and scalar properties) and relationship (ends and properties), sorted, plus
    the revision: what "the same graph" means in the idempotence and crash tests."""
    out = {}
    for label in backend.schema.labels:
        props = [p for p, t in backend.schema.node(label).properties.items() if p != "id" and not t.endswith("[]")]
        rows = backend.export_nodes(label, props).to_pylist()
        out[label] = sorted(rows, key=lambda r: r["id"])
    for rel_type, rel in backend.schema.relationships.items():
        rows = backend.export_relationships(rel_type, list(rel.properties)).to_pylist()
        out[rel_type] = sorted(rows, key=lambda r: tuple(str(v) for v in r.values()))
    out["revision"] = backend.get_meta("revision")
    out["pending"] = backend.get_meta("ingest_pending") or ""
    return out
