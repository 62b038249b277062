"""LightGCN propagation, forward + backward, three sparse layouts measured in the same run:
our symmetric CSR product (backward = the same CSR product), torch's generic CSR backward, and a
COO ``torch.sparse.mm`` (what RecBole's LightGCN uses). Prints seconds per call and ratios.

    python benchmarks/lightgcn_propagation.py --db kgrec.db [--layers 2 --dim 64 --repeats 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import torch

    from kgrec.kg import open_backend
    from kgrec.models.data.interactions import InteractionData
    from kgrec.models.general.lightgcn import SymmetricSpMM, normalised_adjacency

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with open_backend(args.db, read_only=True) as backend:
        data = InteractionData.from_backend(backend)
    csr = normalised_adjacency(data.csr())
    coo = csr.to_sparse_coo().coalesce()
    weight = torch.nn.Parameter(torch.randn(data.n_users + data.n_items, args.dim))
    products = {
        "ours: CSR, symmetric backward": lambda x: SymmetricSpMM.apply(csr, x),
        "torch CSR, generic backward": lambda x: csr @ x,
        "COO torch.sparse.mm (RecBole)": lambda x: torch.sparse.mm(coo, x),
    }
    timings = {}
    for name, product in products.items():
        for _ in range(2):  # warm-up
            x = weight
            for _ in range(args.layers):
                x = product(x)
            x.sum().backward()
        started = time.perf_counter()
        for _ in range(args.repeats):
            x, total = weight, weight
            for _ in range(args.layers):
                x = product(x)
                total = total + x
            total[: len(total) // 2].sum().backward()
        timings[name] = (time.perf_counter() - started) / args.repeats
    print(f"{len(data):,} interactions, {data.n_users + data.n_items:,} nodes, {args.layers} layers, dim {args.dim}, "
          f"{torch.get_num_threads()} torch threads")
    base = timings["ours: CSR, symmetric backward"]
    for name, seconds in timings.items():
        print(f"{name:<34} {seconds * 1000:8.1f} ms per forward+backward   {seconds / base:5.2f}x ours")


if __name__ == "__main__":
    main()
