"""KGBM4Rec's GNN kernels against torch's own autograd, and the GNN refresh interval (gnn_every)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgrec.models.kgbm4rec.gnn import RelationalLayer
from kgrec.models.kgbm4rec.graph import RelationalCSR
from kgrec.models.kgbm4rec.network import KGBMNetwork


def _random_graph(seed: int = 0, n: int = 60, edges: int = 400, relations: int = 6) -> RelationalCSR:
    rng = np.random.default_rng(seed)
    rel = rng.integers(0, relations - 1, edges)  # the last relation has no edges: an empty block
    return RelationalCSR.build(rng.integers(0, n, edges), rng.integers(0, n, edges), rel, n, relations)


def _reference_layer(layer: RelationalLayer, h: torch.Tensor, graph: RelationalCSR) -> torch.Tensor:
    """The layer written with torch's built-in differentiable operations only."""
    pooled = torch.sparse.mm(graph.matrix, h)
    if layer.conv == "compgcn":
        message = pooled * layer.relation[graph.row_rel]
    else:
        weights = torch.einsum("rb,bij->rij", layer.coefficients, layer.bases)
        message = torch.cat([pooled[a:b] @ weights[r] for r, a, b in graph.blocks()])
    agg = torch.zeros_like(h).index_add(0, graph.row_dst, message)
    return torch.tanh(layer.self_weight(h) + layer.neighbour_weight(agg))


@pytest.mark.parametrize("conv", ["compgcn", "rgcn"])
def test_layer_output_and_gradients_match_torch_autograd(conv):
    torch.manual_seed(0)
    graph = _random_graph()
    layer = RelationalLayer(8, 6, conv, 2)
    h = torch.randn(graph.n_nodes, 8, requires_grad=True)
    weight = torch.randn(graph.n_nodes, 8)
    wrt = [h] + list(layer.parameters())
    expected = _reference_layer(layer, h, graph)
    expected_grads = torch.autograd.grad((expected * weight).sum(), wrt)
    got = layer(h, graph)
    got_grads = torch.autograd.grad((got * weight).sum(), wrt)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    for g, e in zip(got_grads, expected_grads):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)
    if conv == "compgcn":  # the empty relation's vector gets a zero gradient, the others do not
        relation_grad = got_grads[1 + [n for n, _ in layer.named_parameters()].index("relation")]
        assert relation_grad[5].abs().sum() == 0 and (relation_grad[:5].abs().sum(1) > 0).all()


def test_transposed_product_is_the_transpose():
    graph = _random_graph(1)
    x = torch.randn(graph.matrix.shape[0], 4)
    dense = graph.matrix.to_dense()
    torch.testing.assert_close(graph.product(x, transpose=True), dense.T @ x, rtol=1e-5, atol=1e-6)
    y = torch.randn(graph.n_nodes, 4)
    torch.testing.assert_close(graph.product(y), dense @ y, rtol=1e-5, atol=1e-6)


def _network(gnn_every: int, closed_sides: bool = False, text_dim: int = 0, popularity_gate: bool = False,
             popularity: torch.Tensor | None = None) -> KGBMNetwork:
    torch.manual_seed(0)
    graph = _random_graph(2, n=30, edges=120, relations=4)
    net = KGBMNetwork(n_items=10, n_users=5, dim=8, max_len=4, n_layers=1, n_heads=2, dropout=0.0, use_seq=True,
                      use_kg=True, text_dim=text_dim, image_dim=0, n_nodes=graph.n_nodes, n_relations=4, gnn_layers=2,
                      conv="compgcn", n_bases=2, gnn_dropout=0.0, causal=True, user_offset=20, gnn_every=gnn_every,
                      closed_sides=closed_sides, popularity_gate=popularity_gate)
    features = {}
    if text_dim:
        features = {"text": torch.randn(10, text_dim), "text_present": torch.ones(10)}
    if popularity is not None:
        features["popularity"] = popularity
    return net.attach(graph, features)


def _step(net: KGBMNetwork) -> bool:
    """One training step's backward; True when the GNN's weights received a gradient."""
    net.zero_grad(set_to_none=True)
    tokens = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    targets = torch.tensor([[2, 3, 4, 0], [5, 6, 0, 0]])
    net(
        tokens, targets, torch.full((2, 4), float("nan")), torch.tensor([0, 1]), torch.zeros(0, dtype=torch.long)
    ).backward()
    return net.gnn.embedding.weight.grad is not None


def test_gnn_every_propagates_on_every_nth_training_step_only():
    net = _network(3).train()
    assert net.has_unused_parameters
    assert [_step(net) for _ in range(7)] == [True, False, False, True, False, False, True]
    every = _network(1).train()
    assert not every.has_unused_parameters and all(_step(every) for _ in range(3))


def test_gnn_every_does_not_change_inference():
    """Evaluation always propagates with the current weights, whatever the training interval."""
    stale, fresh = _network(4), _network(1)
    stale.train()
    _step(stale)  # leaves a cached propagation behind
    stale.eval(), fresh.eval()
    fresh.load_state_dict(stale.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(stale.tables()[0], fresh.tables()[0])


def test_gnn_every_must_be_positive():
    with pytest.raises(ValueError, match="gnn_every"):
        _network(0)


@pytest.mark.parametrize("corrected", [False, True])
def test_sampled_softmax_is_the_target_against_the_shared_negatives(corrected):
    """num_negatives: each target's loss is -log softmax over [target, negatives], with a negative
    that equals the target left out, and every logit less log(K q) under a non-uniform proposal;
    worked out here from the network's own scores."""
    net = _network(1).eval()
    log_kq = torch.linspace(-2.0, 1.0, 10)
    if corrected:
        net.features["negative_log_kq"] = log_kq
    tokens = torch.tensor([[1, 2, 3, 0]])
    targets = torch.tensor([[2, 3, 4, 0]])  # items 1, 2, 3 (token = item + 1)
    negatives = torch.tensor([2, 7, 9])  # item 2 is also the second position's target
    nan = torch.full((1, 4), float("nan"))
    net.rating_weight = net.like_weight = 0.0
    with torch.no_grad():
        loss = net(tokens, targets, nan, torch.tensor([0]), negatives)
        items, gnn_users = net.tables()
        z = net.encode(tokens, items, torch.tensor([0]), gnn_users)[0, :3]
        logits = z @ items.T + net.item_bias - (log_kq if corrected else 0.0)
    expected = []
    for pos, target in enumerate([1, 2, 3]):
        candidates = [target] + [n for n in (2, 7, 9) if n != target]
        expected.append(-torch.log_softmax(logits[pos, candidates], 0)[0])
    torch.testing.assert_close(loss, torch.stack(expected).mean())


def test_full_softmax_loss_is_cross_entropy_over_all_items():
    net = _network(1).eval()
    net.rating_weight = net.like_weight = 0.0
    tokens, targets = torch.tensor([[1, 2, 3, 0]]), torch.tensor([[2, 3, 4, 0]])
    with torch.no_grad():
        loss = net(
            tokens, targets, torch.full((1, 4), float("nan")), torch.tensor([0]), torch.zeros(0, dtype=torch.long)
        )
        items, gnn_users = net.tables()
        z = net.encode(tokens, items, torch.tensor([0]), gnn_users)[0, :3]
    torch.testing.assert_close(
        loss, torch.nn.functional.cross_entropy(net.rank_logits(z, items), torch.tensor([1, 2, 3]))
    )


def _states(net: KGBMNetwork) -> tuple[torch.Tensor, torch.Tensor]:
    """(fused item table, the two users' encoded states) of the current weights."""
    tokens = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    with torch.no_grad():
        items, gnn_users = net.tables()
        return items, net.encode(tokens, items, torch.tensor([0, 1]), gnn_users)


def test_closed_sides_start_as_the_id_only_network_and_open_with_training():
    """closed_sides: at initialisation the item table is the id embeddings and the user states
    ignore the GNN user vector (both side terms are exactly zero); one optimiser step opens every
    branch (text, GNN item and GNN user terms all change the output), and the GNN then gets a gradient."""
    net = _network(1, closed_sides=True, text_dim=6).eval()
    items, states = _states(net)
    torch.testing.assert_close(items, net.item_embedding.weight[1:-1].detach(), rtol=0, atol=0)
    tokens = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    with torch.no_grad():
        torch.testing.assert_close(states, net.encode(tokens, items, torch.tensor([0, 1]), None), rtol=0, atol=0)
    net.train()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    _step(net)
    optimiser.step()
    assert _step(net) and net.gnn.embedding.weight.grad.abs().sum() > 0
    net.eval()
    for branch in (net.text, net.item_graph, net.user_graph):
        assert branch.proj[1].weight.abs().min() > 0  # every dimension of every side term is open
    items, states = _states(net)
    assert not torch.allclose(items, net.item_embedding.weight[1:-1].detach())
    with torch.no_grad():
        assert not torch.allclose(states, net.encode(tokens, items, torch.tensor([0, 1]), None))


def test_open_sides_start_above_the_id_embeddings():
    """The default: the side terms start at unit scale times the gate, well above the std-0.02 ids."""
    net = _network(1, text_dim=6).eval()
    items, _ = _states(net)
    side = items - net.item_embedding.weight[1:-1].detach()
    assert side.std() > 5 * net.item_embedding.weight[1:-1].std()


POPULARITY = torch.linspace(-1.5, 1.5, 10)  # item 0 the rarest, item 9 the most frequent


def test_popularity_gate_starts_as_the_plain_gate_and_learns_from_the_first_step():
    """popularity_gate: the same draws and the same untrained output as without it (its weights
    start at zero and draw nothing); one step moves the weights of the item-side gates only."""
    plain = _network(1, text_dim=6).eval()
    gated = _network(1, text_dim=6, popularity_gate=True, popularity=POPULARITY).eval()
    for a, b in zip(_states(plain), _states(gated)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert gated.user_graph.popularity is None  # users have no item popularity
    gated.train()
    optimiser = torch.optim.Adam(gated.parameters(), lr=1e-2)
    _step(gated)
    optimiser.step()
    for branch in (gated.text, gated.item_graph):
        assert branch.popularity.abs().min() > 0


def test_popularity_gate_can_keep_side_signals_out_of_frequent_items_only():
    """With strongly negative weights the gates close for the frequent items (their vectors become
    their id embeddings) and stay open for the rare ones; without the popularity feature the
    network refuses to guess."""
    net = _network(1, text_dim=6, popularity_gate=True, popularity=POPULARITY).eval()
    with torch.no_grad():
        for branch in (net.text, net.item_graph):
            branch.popularity.fill_(-40.0)
    items, _ = _states(net)
    side = (items - net.item_embedding.weight[1:-1].detach()).norm(dim=1)
    assert side[-3:].max() < 1e-6 and side[:3].min() > 0.1
    bare = _network(1, text_dim=6, popularity_gate=True)
    with pytest.raises(ValueError, match="popularity"):
        _states(bare)
