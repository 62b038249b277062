"""Write a temporal leave-one-out split as RecBole benchmark files, so RecBole trains and tests on
exactly our split (``benchmark_filename: [train, valid, test]``).

``OUT/NAME/``      NAME.train.inter / .valid.inter / .test.inter (user_id, item_id, rating,
                   timestamp), NAME.kg and NAME.link (for KG models such as KGAT / CKE)
``OUT/NAME-seq/``  the same split for sequential models: RecBole does not augment benchmark
                   files, so each row carries its history (item_id_list, newest last, at most
                   ``max_len``): one training row per training interaction after a user's first,
                   and one validation / test row per evaluated user whose history is everything
                   before the held-out item.

Ids are the graph's external ids, so RecBole's numbers refer to the same users and products.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from kgrec.models.data.interactions import InteractionData, KnowledgeGraphData
from kgrec.models.data.split import Split

INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
SEQ_HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\trating:float\ttimestamp:float"


@dataclasses.dataclass
class ExportSummary:
    folder: Path
    seq_folder: Path
    rows: dict[str, int]
    kg_triples: int
    linked_items: int


def _token(value: str) -> str:
    text = str(value)
    if any(c in text for c in "\t\n "):
        raise ValueError(f"id {text!r} contains whitespace, which RecBole's token fields cannot hold")
    return text


def _rating_text(values: np.ndarray) -> list[str]:
    return ["" if np.isnan(v) else repr(float(v)) for v in values]


def _write_inter(path: Path, part: InteractionData) -> int:
    users, items = part.user_ids[part.user], part.item_ids[part.item]
    with path.open("w", encoding="utf-8") as f:
        f.write(INTER_HEADER + "\n")
        for u, i, r, t in zip(users, items, _rating_text(part.rating), part.timestamp.tolist()):
            f.write(f"{_token(u)}\t{_token(i)}\t{r}\t{t}\n")
    return len(part)


def _write_seq(path: Path, rows: list[tuple[str, list[str], str, str, int]]) -> int:
    with path.open("w", encoding="utf-8") as f:
        f.write(SEQ_HEADER + "\n")
        for u, history, item, rating, ts in rows:
            f.write(f"{u}\t{' '.join(history)}\t{item}\t{rating}\t{ts}\n")
    return len(rows)


def sequential_rows(split: Split, max_len: int) -> dict[str, list]:
    train = split.train
    sequences = train.sequences()
    times = [
        train.timestamp[np.searchsorted(train.user, u) : np.searchsorted(train.user, u, "right")]
        for u in range(train.n_users)
    ]
    ratings = [
        train.rating[np.searchsorted(train.user, u) : np.searchsorted(train.user, u, "right")]
        for u in range(train.n_users)
    ]
    uid, iid = train.user_ids, train.item_ids
    out: dict[str, list] = {"train": [], "valid": [], "test": []}
    for u, seq in enumerate(sequences):
        names = [_token(x) for x in iid[seq]]
        rtext = _rating_text(ratings[u])
        for k in range(1, len(seq)):
            out["train"].append((_token(uid[u]), names[max(0, k - max_len) : k], names[k], rtext[k], int(times[u][k])))
    valid_item = {int(u): int(i) for u, i in zip(split.valid.user, split.valid.item)}
    for phase, part in (("valid", split.valid), ("test", split.test)):
        rtext = _rating_text(part.rating)
        for row, (u, i, t) in enumerate(zip(part.user.tolist(), part.item.tolist(), part.timestamp.tolist())):
            history = [_token(x) for x in iid[sequences[u]]]
            if phase == "test" and u in valid_item:
                history.append(_token(iid[valid_item[u]]))
            if not history:
                continue
            out[phase].append((_token(uid[u]), history[-max_len:], _token(iid[i]), rtext[row], int(t)))
    return out


def write_kg(folder: Path, name: str, kg: KnowledgeGraphData) -> tuple[int, int]:
    """``.link`` maps each item to an entity: its LINKED_TO entity when it has one, else a
    stand-in entity ``product:ID``; ``.kg`` holds every typed triple with items replaced by their
    entity (LINKED_TO itself is what .link expresses, so it is not repeated)."""
    names = kg.relation_names
    linked = names.index("LINKED_TO") if "LINKED_TO" in names else -1
    entity_of = {i: f"product:{kg.node_ids[i]}" for i in range(kg.n_items)}
    linked_items: set[int] = set()
    if linked >= 0:
        for h, t in zip(kg.head[kg.relation == linked].tolist(), kg.tail[kg.relation == linked].tolist()):
            if h < kg.n_items and h not in linked_items:  # the first linked entity stands for the item
                linked_items.add(h)
                entity_of[h] = f"{kg.node_labels[t]}:{kg.node_ids[t]}"

    def node(n: int) -> str:
        return _token(entity_of[n] if n < kg.n_items else f"{kg.node_labels[n]}:{kg.node_ids[n]}")

    triples = 0
    with (folder / f"{name}.kg").open("w", encoding="utf-8") as f:
        f.write("head_id:token\trelation_id:token\ttail_id:token\n")
        for h, r, t in zip(kg.head.tolist(), kg.relation.tolist(), kg.tail.tolist()):
            if r == linked:
                continue
            f.write(f"{node(h)}\t{_token(names[r])}\t{node(t)}\n")
            triples += 1
    with (folder / f"{name}.link").open("w", encoding="utf-8") as f:
        f.write("item_id:token\tentity_id:token\n")
        for i in range(kg.n_items):
            f.write(f"{_token(kg.node_ids[i])}\t{node(i)}\n")
    return triples, len(linked_items)


def export_split(
    split: Split, out: str | Path, name: str = "kgrec", kg: KnowledgeGraphData | None = None, max_len: int = 50
) -> ExportSummary:
    out = Path(out)
    folder, seq_folder = out / name, out / f"{name}-seq"
    folder.mkdir(parents=True, exist_ok=True)
    seq_folder.mkdir(parents=True, exist_ok=True)
    rows = {}
    for phase in ("train", "valid", "test"):
        rows[phase] = _write_inter(folder / f"{name}.{phase}.inter", getattr(split, phase))
    seq = sequential_rows(split, max_len)
    for phase in ("train", "valid", "test"):
        rows[f"seq_{phase}"] = _write_seq(seq_folder / f"{name}-seq.{phase}.inter", seq[phase])
    triples = linked = 0
    if kg is not None and len(kg.head):
        triples, linked = write_kg(folder, name, kg)
    return ExportSummary(folder, seq_folder, rows, triples, linked)
