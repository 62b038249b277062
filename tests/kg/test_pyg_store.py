"""PyG remote-backend stores over a real embedded database."""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.loader import NodeLoader

from kgrec.kg.pyg_store import INDEX_ATTR, CypherNeighborSampler, remote_backend
from tests.models._kgbm_graph import N_ITEMS, TEXT_DIM, build_tiny_graph


def test_feature_store_reads_node_properties(backend):
    build_tiny_graph(backend)
    fs, gs = remote_backend(backend, exclude=["INTERACTED"])
    attrs = {(a.group_name, a.attr_name) for a in fs.get_all_tensor_attrs()}
    assert ("Product", "text_emb") in attrs and ("Entity", INDEX_ATTR) in attrs
    text = fs["Product", "text_emb", None]
    assert text.shape == (N_ITEMS, TEXT_DIM)
    table = backend.export_nodes("Product", ["text_emb"]).to_pylist()
    expected = {row["id"]: row["text_emb"] for row in table}
    ids = fs.index.ids["Product"].to_pylist()
    for n, node_id in enumerate(ids):
        want = expected[node_id] or [0.0] * TEXT_DIM
        assert np.allclose(text[n].numpy(), want)
    # the uncached path fetches only the requested nodes, with the same values
    fs_uncached, _ = remote_backend(backend, exclude=["INTERACTED"], cache_features=False)
    index = torch.tensor([3, 17, 0])
    assert torch.equal(fs_uncached["Product", "text_emb", index], text[index])


def test_graph_store_edge_types_and_reverse(backend):
    build_tiny_graph(backend)
    fs, gs = remote_backend(backend, exclude=["INTERACTED"])
    types = set(gs.edge_types)
    assert ("Product", "IN_CATEGORY", "Category") in types
    assert ("Category", "rev_IN_CATEGORY", "Product") in types
    assert ("Entity", "film.genre", "Entity") in types and ("Entity", "rev_film.directed_by", "Entity") in types
    assert not any(t[1].endswith("INTERACTED") for t in types)
    fwd = gs.coo(("Product", "IN_CATEGORY", "Category"))
    rev = gs.coo(("Category", "rev_IN_CATEGORY", "Product"))
    assert fwd.shape == (2, N_ITEMS)
    assert set(map(tuple, fwd.T.tolist())) == set(map(tuple, rev.flip(0).T.tolist()))
    genre = gs.coo(("Entity", "film.genre", "Entity"))
    assert genre.shape[1] == 10  # one of the two relations per entity
    # PyG's own API: get_edge_index / csc read the same edges
    row, col = gs.get_edge_index(edge_type=("Product", "IN_CATEGORY", "Category"), layout="coo")
    assert len(row) == N_ITEMS


def test_cypher_sampler_returns_full_neighbourhoods_and_respects_fanout(backend):
    build_tiny_graph(backend)
    fs, gs = remote_backend(backend, exclude=["INTERACTED"])
    loader = NodeLoader(
        (fs, gs), node_sampler=CypherNeighborSampler(gs, [-1]), input_nodes=("Category", torch.arange(3)), batch_size=3
    )
    batch = next(iter(loader))
    e = batch["Product", "IN_CATEGORY", "Category"].edge_index
    assert e.shape[1] == N_ITEMS  # every product is an in-neighbour of its category
    got = {(int(batch["Product"].n_id[s]), int(batch["Category"].n_id[d])) for s, d in e.T.tolist()}
    full = gs.coo(("Product", "IN_CATEGORY", "Category"))
    assert got == set(map(tuple, full.T.tolist()))
    sampler = CypherNeighborSampler(gs, [2], seed=1)
    batch = next(
        iter(NodeLoader((fs, gs), node_sampler=sampler, input_nodes=("Category", torch.arange(3)), batch_size=3))
    )
    e = batch["Product", "IN_CATEGORY", "Category"].edge_index
    assert e.shape[1] == 6 and torch.bincount(e[1]).tolist() == [2, 2, 2]


def test_put_edges_serves_split_edges_from_memory(backend):
    build_tiny_graph(backend)
    fs, gs = remote_backend(backend, exclude=["INTERACTED"])
    edges = torch.tensor([[0, 1], [5, 6]])
    gs.put_edges(("User", "INTERACTED", "Product"), edges)
    assert torch.equal(gs.coo(("User", "INTERACTED", "Product")), edges)
    src, dst = gs.in_neighbors(("Product", "rev_INTERACTED", "User"), torch.tensor([1]))
    assert src.tolist() == [6] and dst.tolist() == [1]


def test_subgraph_sampler_takes_seeds_of_several_labels_and_bounds_the_fanout(backend):
    from kgrec.kg.subgraph import CypherSubgraphSampler

    build_tiny_graph(backend)
    sampler = CypherSubgraphSampler(backend, [-1], seed=1)
    # the interactions come from memory (a training split), never from the database
    sampler.put_edges(("User", "INTERACTED", "Product"), ["u00", "u01"], ["p00", "p03"])
    out = sampler.sample({"Product": ["p00", "p03"], "User": ["u00"]})
    assert out.nodes["Product"][:2] == ["p00", "p03"] and out.nodes["User"][0] == "u00"  # seeds first
    src, dst = out.edges[("User", "INTERACTED", "Product")]
    assert sorted((out.nodes["User"][s], out.nodes["Product"][d]) for s, d in zip(src, dst)) == [
        ("u00", "p00"),
        ("u01", "p03"),
    ]
    src, dst = out.edges[("Product", "rev_INTERACTED", "User")]
    assert [(out.nodes["Product"][s], out.nodes["User"][d]) for s, d in zip(src, dst)] == [("p00", "u00")]
    src, dst = out.edges[("Category", "rev_IN_CATEGORY", "Product")]
    assert {out.nodes["Product"][d] for d in dst} == {"p00", "p03"}  # every product has its category
    all_categories = sampler.sample({"Category": ["c0"]})
    assert len(all_categories.edges[("Product", "IN_CATEGORY", "Category")][0]) == N_ITEMS // 3 + 1
    capped = CypherSubgraphSampler(backend, [2], seed=1).sample({"Category": ["c0"]})
    assert len(capped.edges[("Product", "IN_CATEGORY", "Category")][0]) == 2
    again = CypherSubgraphSampler(backend, [2], seed=1).sample({"Category": ["c0"]})
    assert again.nodes == capped.nodes  # seeded
    # kg_min_degree: the leaf entity (one neighbour) is left out, as the full graph leaves it out
    pruned = CypherSubgraphSampler(backend, [-1], min_degree=2).sample({"Product": ["p00"]})
    assert "e_leaf" not in pruned.nodes.get("Entity", []) and "e0" in pruned.nodes["Entity"]
    assert "e_leaf" in CypherSubgraphSampler(backend, [-1]).sample({"Product": ["p00"]}).nodes["Entity"]


def _rows(table) -> list[tuple]:
    return sorted(tuple(row.values()) for row in table.to_pylist())


def test_by_ids_queries_return_each_edge_once_in_both_forms(any_backend):
    """neighbors_in/_out and node_degrees: the key-lookup form and the node-table scan form give
    the same rows as the exported edges, each edge once however often its id is asked for, and
    nothing for ids that are not in the graph."""
    b = any_backend
    build_tiny_graph(b)
    exported = {
        rel: b.export_relationships(rel, ["relation"] if rel == "RELATED_TO" else []).to_pylist()
        for rel in ("RELATED_TO", "LINKED_TO", "IN_CATEGORY", "INTERACTED")
    }
    asked = {"Entity": ["e0", "e3", "e0", "e_leaf", "nope", "e3"], "Product": ["p00", "p05", "p00", "nope"],
             "Category": ["c1", "c1", "c2"]}
    for rel_type, src_label, dst_label in (("RELATED_TO", "Entity", "Entity"), ("LINKED_TO", "Product", "Entity"),
                                           ("IN_CATEGORY", "Product", "Category")):
        returns = ", r.relation AS relation" if rel_type == "RELATED_TO" else ""
        for query, side in (("neighbors_in", "dst"), ("neighbors_out", "src")):
            ids = asked[dst_label if side == "dst" else src_label]
            want = sorted(
                (e["src"], e["dst"], *([e["relation"]] if returns else []))
                for e in exported[rel_type]
                if e[side] in ids
            )
            assert want, (rel_type, query)
            for form in (query, f"{query}_scan"):
                text = b.cypher.render(form, src_label=src_label, rel_type=rel_type, dst_label=dst_label,
                                       return_list=returns)
                assert _rows(b.execute(text, {"ids": ids})) == want, (rel_type, form)
    neighbours: dict[str, set[str]] = {}
    for edges in exported.values():
        for e in edges:
            neighbours.setdefault(e["src"], set()).add(e["dst"])
            neighbours.setdefault(e["dst"], set()).add(e["src"])
    ids = asked["Entity"]
    want = sorted((i, len(neighbours[i])) for i in set(ids) if i in neighbours)
    assert ("e_leaf", 1) in want
    for form in ("node_degrees", "node_degrees_scan"):
        assert _rows(b.execute(b.cypher.render(form, label="Entity"), {"ids": ids})) == want, form


def test_subgraph_sampler_gives_the_same_subgraph_whichever_query_form_it_picks(backend, monkeypatch):
    """by_ids_query only picks how the database is asked (key lookups or a node-table scan); the
    sampled subgraph, pruning by degree included, must not depend on it."""
    from kgrec.kg import subgraph
    from kgrec.kg.subgraph import CypherSubgraphSampler, by_ids_query

    assert by_ids_query("neighbors_in", 18, 5) == "neighbors_in_scan"  # genres: scan the tiny table
    assert by_ids_query("neighbors_in", 4_000_000, 500) == "neighbors_in"  # a big KG: key lookups
    assert by_ids_query("node_degrees", 23_700, 6_000) == "node_degrees"  # many ids of a mid-sized label
    build_tiny_graph(backend)
    seeds = {"Product": ["p00", "p07", "p07", "p11"], "Category": ["c2"]}
    samples = []
    for limit in (0, 10**12):  # never scan, always scan
        monkeypatch.setattr(subgraph, "SCAN_LIMIT", limit)
        sampler = CypherSubgraphSampler(backend, [-1, 3], min_degree=2, seed=3)
        out = sampler.sample(seeds)
        samples.append((out.nodes, {et: (s.tolist(), d.tolist()) for et, (s, d) in out.edges.items()}))
    assert samples[0] == samples[1]
    # degrees are asked for once per pruned label and hop, not once per edge type (RELATED_TO is
    # split into 2 relations x 2 directions here)
    asked = []
    execute = backend.execute
    monkeypatch.setattr(
        backend, "execute", lambda text, params, **kw: asked.append(text) or execute(text, params, **kw)
    )
    monkeypatch.setattr(subgraph, "SCAN_LIMIT", 0)
    again = CypherSubgraphSampler(backend, [-1, 3], min_degree=2, seed=3).sample(seeds)
    assert again.nodes == samples[0][0]
    degree_queries = [t for t in asked if "count(DISTINCT" in t]
    assert 0 < len(degree_queries) <= 2 * 2  # (Entity, Category) x 2 hops
    nodes, edges = samples[0]
    assert nodes["Product"][:3] == ["p00", "p07", "p11"] and "e_leaf" not in nodes.get("Entity", [])
    for src, dst in edges.values():  # no edge twice
        assert len(set(zip(src, dst))) == len(src)


def test_edge_types_split_by_relation_share_one_neighbour_query(backend, monkeypatch):
    """RELATED_TO is one relationship type with a relation property: one edge type per relation
    value and direction, and given one memo, one query per direction answers all of them."""
    from kgrec.kg.subgraph import edge_sources, neighbor_rows

    build_tiny_graph(backend)
    sources = edge_sources(backend, ["RELATED_TO"])
    relations = sorted({s.relation for s in sources.values()})
    assert len(relations) == 2 and len(sources) == 4  # 2 relations x 2 directions
    exported = backend.export_relationships("RELATED_TO", ["relation"]).to_pylist()
    asked = []
    execute = backend.execute
    monkeypatch.setattr(
        backend, "execute", lambda text, params, **kw: asked.append(text) or execute(text, params, **kw)
    )
    ids = ["e0", "e3", "e3", "nope"]
    memo: dict = {}
    found = 0
    for source in sources.values():
        side = "src" if source.reverse else "dst"
        want = sorted((e["src"], e["dst"]) for e in exported if e[side] in ids and e["relation"] == source.relation)
        rows = neighbor_rows(backend, source, ids, label_size=11, memo=memo)
        assert sorted(zip(rows.column("src").to_pylist(), rows.column("dst").to_pylist())) == want
        found += len(want)
    assert found > 0 and len(asked) == 2  # neighbors_in and neighbors_out, each once
