"""Check that the graph's temporal split keeps a RecBole ``.inter`` file's order for ties in time.

For every user of the file, the test item of kgrec's temporal leave-one-out split (read from the
graph as training does: ``InteractionData.from_backend``) must be the user's last row of the file
stable-sorted by timestamp, i.e. among rows with the user's latest timestamp, the one latest in
the file. Prints how many users agree, and for comparison how many would agree if ties were broken
by item id (what kgrec did before ``INTERACTED.seq``). Exits 1 when any user disagrees.

    python tools/check_tie_order.py --db ml1m.db                 # the installed ml-1m.inter
    python tools/check_tie_order.py --db kg.db --inter DIR/x.inter --id-prefix P
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np
import pandas as pd

from kgrec.etl.recbole import packaged_dataset
from kgrec.kg import open_backend
from kgrec.models.data.interactions import InteractionData, time_order
from kgrec.models.data.split import temporal_leave_one_out


def file_last_rows(path: str, id_prefix: str = "") -> dict[str, str]:
    """user id -> item id of the user's last row, the file stable-sorted by timestamp."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    frame["timestamp"] = pd.to_numeric(frame["timestamp"]).astype(np.int64)
    last = frame.sort_values("timestamp", kind="stable").groupby("user_id", sort=False).tail(1)
    return {id_prefix + u: id_prefix + i for u, i in zip(last["user_id"], last["item_id"])}


def split_last_items(data: InteractionData, *, by_item: bool = False) -> dict[str, str]:
    """user id -> test item id of the temporal leave-one-out split (``by_item``: ties by item id)."""
    if by_item:
        data = dataclasses.replace(data.subset(time_order(data.user, data.timestamp, data.item)), seq=None)
    test = temporal_leave_one_out(data).test
    return {str(data.user_ids[u]): str(data.item_ids[i]) for u, i in zip(test.user, test.item)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="the graph (embedded file or bolt URI)")
    parser.add_argument("--inter", help="the .inter file ingested (default: the installed ml-1m.inter)")
    parser.add_argument("--id-prefix", default="", help="the --id-prefix the ingest used")
    args = parser.parse_args(argv)
    inter = args.inter or str(packaged_dataset("ml-1m") / "ml-1m.inter")
    expected = file_last_rows(inter, args.id_prefix)
    with open_backend(args.db, read_only=True, create=False) as backend:
        backend.ensure_schema()
        data = InteractionData.from_backend(backend)
    got, by_item = split_last_items(data), split_last_items(data, by_item=True)
    same = sum(got.get(u) == i for u, i in expected.items())
    same_by_item = sum(by_item.get(u) == i for u, i in expected.items())
    print(f"{inter}: {len(expected):,} users")
    print(f"test item = the file's last row (stable-sorted by timestamp): {same:,} of {len(expected):,} users")
    print(f"with ties broken by item id instead: {same_by_item:,} of {len(expected):,} users")
    return 0 if same == len(expected) else 1


if __name__ == "__main__":
    sys.exit(main())
