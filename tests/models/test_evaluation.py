"""Evaluation protocols (masking, the fixed sampled negatives, leakage) and the uncertainty of their numbers
(per-user values, bootstrap intervals, paired tests, spread over seeds)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from kgrec.errors import KgrecError
from kgrec.models.base import Recommender
from kgrec.models.data.interactions import InteractionData
from kgrec.models.data.sampling import NegativeSampler, evaluation_negatives
from kgrec.models.data.split import temporal_leave_one_out
from kgrec.models.evaluation.bootstrap import (
    BootstrapSettings,
    Interval,
    PairedResult,
    bootstrap_values,
    confidence_intervals,
    paired_comparison,
)
from kgrec.models.evaluation.metrics import (
    like_f1,
    ranking_metrics,
    ranking_per_user,
    rating_metrics,
    rating_per_user,
)
from kgrec.models.evaluation.per_user import UserMetrics
from kgrec.models.evaluation.protocol import (
    evaluate,
    evaluate_phase_per_user,
    masked_scores,
    phase,
)
from kgrec.models.evaluation.uncertainty import (
    SeedGroup,
    describe,
    seed_spread,
    verdict,
)
from kgrec.models.workflows.pipeline import load_dataset


class _Fixed(Recommender):
    """Scores given as a full (n_users, n_items) matrix; records what it was shown."""

    name = "_fixed"

    def __init__(self, scores: np.ndarray):
        super().__init__()
        self.matrix = scores
        self.n_users, self.n_items = scores.shape
        self.seen_histories: list[InteractionData] = []

    def fit(self, train, valid=None, **kwargs: Any) -> dict:
        return {}

    def observe_history(self, known: InteractionData) -> None:
        self.seen_histories.append(known)

    def score(self, users, items=None):
        out = self.matrix[np.asarray(users)]
        return out if items is None else out[:, items]

    def state(self):
        return {}

    def load_state(self, state):
        pass


def _split(tiny):
    return load_dataset(tiny).split


def test_oracle_that_knows_the_test_item_is_perfect_under_both_protocols(tiny):
    split = _split(tiny)
    scores = np.zeros((split.test.n_users, split.test.n_items))
    scores[split.test.user, split.test.item] = 10.0
    out = evaluate(_Fixed(scores), split, "test")
    for protocol in ("full", "sampled"):
        assert out[protocol]["HR@1"] == 1.0 and out[protocol]["NDCG@10"] == 1.0 and out[protocol]["MRR"] == 1.0


def test_masking_removes_known_items_and_only_them(tiny):
    """A model that replays the history (known items score highest, the test item next) wins only
    because of the known items: with masking it is perfect, without masking it never hits @1."""
    split = _split(tiny)
    known = InteractionData.concat(split.train, split.valid)
    scores = np.zeros((split.test.n_users, split.test.n_items))
    scores[known.user, known.item] = 100.0
    scores[split.test.user, split.test.item] = 50.0
    model = _Fixed(scores)
    masked = evaluate(model, split, "test", protocols=("full",))["full"]
    unmasked = evaluate(model, split, "test", protocols=("full",), mask_history=False)["full"]
    assert masked["HR@1"] == 1.0
    assert unmasked["HR@1"] == 0.0
    # masked items never reach the ranked list; the positive itself is never masked
    ph = phase(split, "test")
    users, positives = ph.held_out.user, ph.held_out.item
    rows = masked_scores(model, users, ph.known.csr(), positives)
    for r, (u, pos) in enumerate(zip(users, positives)):
        history = set(known.item[known.user == u].tolist()) - {int(pos)}
        assert all(np.isneginf(rows[r, list(history)]))
        assert np.isfinite(rows[r, pos])
        assert np.isfinite(rows[r]).sum() == split.test.n_items - len(history)


def test_validation_phase_masks_training_items_only(tiny):
    split = _split(tiny)
    ph = phase(split, "valid")
    assert np.array_equal(ph.known.csr().toarray(), split.train.csr().toarray())


def test_no_test_interaction_is_seen_before_testing(tiny):
    split = _split(tiny)
    test_rows = set(zip(split.test.user.tolist(), split.test.item.tolist(), split.test.timestamp.tolist()))
    for part in (split.train, split.valid):
        assert not test_rows & set(zip(part.user.tolist(), part.item.tolist(), part.timestamp.tolist()))
    model = _Fixed(np.zeros((split.test.n_users, split.test.n_items)))
    evaluate(model, split, "valid")
    evaluate(model, split, "test")
    valid_history, test_history = model.seen_histories
    assert len(valid_history) == len(split.train)
    assert len(test_history) == len(split.train) + len(split.valid)
    assert not test_rows & set(
        zip(test_history.user.tolist(), test_history.item.tolist(), test_history.timestamp.tolist())
    )


def test_sampled_negatives_are_fixed_distinct_and_unseen(tiny):
    split = _split(tiny)
    everything = InteractionData.concat(split.train, split.valid, split.test).csr()
    users = split.test.user
    a = evaluation_negatives(users, everything, 10, seed=7)
    b = evaluation_negatives(users, everything, 10, seed=7)
    c = evaluation_negatives(users, everything, 10, seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    for row, u in enumerate(users):
        history = set(everything[u].indices.tolist())
        negatives = a[row][a[row] >= 0].tolist()
        assert len(set(negatives)) == len(negatives) == min(10, split.test.n_items - len(history))
        assert not history & set(negatives)


def test_training_negatives_avoid_training_positives():
    matrix = InteractionData(np.array(["a", "b"], object), np.array(list("wxyz"), object), np.array([0, 0, 0, 1]),
                             np.array([0, 1, 2, 3]), np.arange(4), np.full(4, np.nan, np.float32)).csr()
    negatives = NegativeSampler(matrix).sample(np.array([0] * 50 + [1] * 50), np.random.default_rng(0))
    assert set(negatives[:50].tolist()) == {3}
    assert 3 not in set(negatives[50:].tolist())


def test_users_with_too_few_interactions_give_a_clear_message(backend):
    import pyarrow as pa

    backend.insert_nodes("User", pa.table({"id": ["a", "b"]}))
    backend.insert_nodes("Product", pa.table({"id": ["x", "y", "z"]}))
    backend.insert_relationships("INTERACTED", pa.table({"src": ["a", "b"], "dst": ["x", "y"], "timestamp": [1, 2]}))
    with pytest.warns(UserWarning, match="no validation or test set"):
        ds = load_dataset(backend)
    assert len(ds.split.train) == 2
    model = _Fixed(np.zeros((2, 3)))
    with pytest.raises(KgrecError, match="at least 3 interactions"):
        evaluate(model, temporal_leave_one_out(ds.data), "test")


# ============================================================ per-user values and uncertainty
def _oracle_scores(split, hit_users=None):
    """Scores that put the test item first for ``hit_users`` (default all) and noise elsewhere."""
    rng = np.random.default_rng(3)
    scores = rng.random((split.test.n_users, split.test.n_items))
    users = split.test.user if hit_users is None else hit_users
    items = split.test.item[np.isin(split.test.user, users)]
    scores[users, items] = 10.0
    return scores


def test_per_user_values_average_to_the_report(tiny):
    split = _split(tiny)
    model = _Fixed(np.random.default_rng(0).random((split.test.n_users, split.test.n_items)))
    result = evaluate_phase_per_user(model, phase(split, "test"))
    for protocol in ("full", "sampled"):
        per_user, metrics = result.per_user[protocol], result.metrics[protocol]
        assert len(per_user) == metrics["users"] == len(split.test)
        assert np.array_equal(per_user.users, split.test.user)
        for name, value in per_user.values().items():
            assert value == pytest.approx(metrics[name], abs=1e-12)


def test_rating_parts_give_the_rating_metrics():
    rng = np.random.default_rng(1)
    predicted = rng.uniform(1, 5, 200)
    actual = rng.integers(1, 6, 200).astype(float)
    actual[::7] = np.nan
    parts = rating_per_user(predicted, actual)
    sample = UserMetrics.from_parts(np.arange(200), {}, parts)
    expected = rating_metrics(predicted, actual)
    for name, value in sample.values().items():
        assert value == pytest.approx(expected[name], abs=1e-12)
    known = ~np.isnan(actual)
    assert sample.values()["like_F1"] == pytest.approx(like_f1(predicted[known], actual[known]))


def test_bootstrap_interval_covers_the_mean_and_is_reproducible():
    rng = np.random.default_rng(0)
    ranks = rng.geometric(0.08, 2000) - 1
    sample = UserMetrics.from_parts(np.arange(2000), ranking_per_user(ranks))
    settings = BootstrapSettings(resamples=500, seed=7)
    a, b = confidence_intervals(sample, settings), confidence_intervals(sample, settings)
    other = confidence_intervals(sample, BootstrapSettings(resamples=500, seed=8))
    assert a == b and a != other
    means = ranking_metrics(ranks)
    for name, interval in a.items():
        assert interval.low < means[name] < interval.high
        width = interval.high - interval.low
        assert 0 < width < 0.1  # about 4 standard errors for 2000 users, not a degenerate interval
    # the NDCG@10 interval is about +-1.96 standard errors of the mean
    values = ranking_per_user(ranks)["NDCG@10"]
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert a["NDCG@10"].high - a["NDCG@10"].low == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_bootstrap_interval_has_about_its_nominal_coverage():
    """Over 200 data sets drawn from a known hit rate the 95% interval holds it about 95% of the time."""
    rng = np.random.default_rng(11)
    truth, hits = 0.3, 0
    settings = BootstrapSettings(resamples=400, seed=1)
    for _ in range(200):
        sample = UserMetrics.from_parts(np.arange(300), {"HR@10": (rng.random(300) < truth).astype(float)})
        hits += confidence_intervals(sample, settings)["HR@10"].contains(truth)
    assert 0.88 <= hits / 200 <= 0.99


def test_resamples_are_shared_so_identical_models_pair_exactly(tiny):
    split = _split(tiny)
    scores = np.random.default_rng(0).random((split.test.n_users, split.test.n_items))
    ph = phase(split, "test")
    a = evaluate_phase_per_user(_Fixed(scores), ph, ("full",)).per_user["full"]
    b = evaluate_phase_per_user(_Fixed(scores.copy()), ph, ("full",)).per_user["full"]
    settings = BootstrapSettings(resamples=300, seed=2)
    boot_a, boot_b = bootstrap_values([a, b], settings)
    assert np.array_equal(boot_a, boot_b)
    for name, r in paired_comparison(a, b, settings).items():
        if np.isnan(r.ratio):  # a metric both score 0 on: no ratio
            continue
        assert r.ratio == 1.0 and r.interval.contains(1.0) and r.p_value == 1.0
        assert verdict(name, r) == "inconclusive"


def test_paired_test_finds_a_clearly_better_model(tiny):
    split = _split(tiny)
    ph = phase(split, "test")
    oracle = evaluate_phase_per_user(_Fixed(_oracle_scores(split)), ph, ("full",)).per_user["full"]
    noise = evaluate_phase_per_user(_Fixed(np.random.default_rng(5).random((split.test.n_users, split.test.n_items))),
                                    ph, ("full",)).per_user["full"]
    settings = BootstrapSettings(resamples=1000, seed=0)
    result = paired_comparison(oracle, noise, settings)
    checked = [name for name, r in result.items() if r.baseline > 0]  # the ratio needs a baseline above 0
    assert "MRR" in checked and "HR@10" in checked
    for name in checked:
        r = result[name]
        assert r.ratio > 1.5 and r.interval.low > 1.0
        assert r.p_value < 0.05 and verdict(name, r) == "better"
    # every user's reciprocal rank differs: the exact p is 2/2^16, below the smallest of 1000 permutations
    assert result["MRR"].p_value == pytest.approx(1 / 1001)
    # only the users the noise misses in its top 10 differ for HR@10: p is about 2/2^(those users)
    differing = round((1.0 - result["HR@10"].baseline) * len(oracle))
    assert result["HR@10"].p_value == pytest.approx(2 / 2 ** differing, abs=0.01)
    reverse = paired_comparison(noise, oracle, settings)["MRR"]
    assert reverse.interval.high < 1.0 and verdict("MRR", reverse) == "worse"


def test_verdict_needs_the_interval_to_exclude_one_and_knows_mse_is_lower_better():
    sure = PairedResult(0.8, 1.0, 0.8, Interval(0.7, 0.9), 0.001)
    assert verdict("MSE", sure) == "better" and verdict("NDCG@10", sure) == "worse"
    assert verdict("NDCG@10", PairedResult(1.2, 1.0, 1.2, Interval(0.99, 1.4), 0.001)) == "inconclusive"
    assert verdict("NDCG@10", PairedResult(1.2, 1.0, 1.2, Interval(1.05, 1.4), 0.2)) == "inconclusive"
    assert (
        verdict("HR@1", PairedResult(0.1, 0.0, float("nan"), Interval(float("nan"), float("nan")), 0.5)) == "undefined"
    )


def test_seed_spread_and_group_intervals():
    rng = np.random.default_rng(4)
    users = np.arange(500)
    members = {f"m/seed-{s}": UserMetrics.from_parts(users, ranking_per_user(rng.geometric(0.1 + 0.01 * s, 500) - 1))
               for s in (1, 2, 3)}
    report = {"full": {label: {**um.values(), "users": 500.0} for label, um in members.items()}}
    group = SeedGroup("m", "runs/m", (1, 2, 3), tuple(members))
    spread = seed_spread(group, report["full"])
    values = np.array([report["full"][label]["NDCG@10"] for label in members])
    assert spread.mean["NDCG@10"] == pytest.approx(values.mean())
    assert spread.std["NDCG@10"] == pytest.approx(values.std(ddof=1))
    assert spread.min["NDCG@10"] == values.min() and spread.max["NDCG@10"] == values.max()
    stats = describe(report, {"full": members}, groups=[group], baseline="m/seed-1", settings=BootstrapSettings(300, 0))
    ps = stats.protocols["full"]
    assert set(ps.intervals) == {*members, "m"} and ps.intervals["m"]["NDCG@10"].contains(spread.mean["NDCG@10"])
    assert set(ps.comparisons) == {"m/seed-2", "m/seed-3", "m"}
    with pytest.raises(KgrecError, match="unknown baseline 'x'"):
        describe(report, {"full": members}, baseline="x")


def test_bootstrap_on_an_ml1m_sized_test_set_is_fast():
    """6,040 users, 3 models, 9 metrics, 1,000 resamples: intervals for all and a paired comparison
    of two with the third, well under a few seconds even on a shared machine."""
    rng = np.random.default_rng(0)
    users = np.arange(6040)
    samples = {}
    for name, p in (("a", 0.01), ("b", 0.012), ("c", 0.015)):
        rating = rating_per_user(rng.uniform(1, 5, 6040), rng.integers(1, 6, 6040).astype(float))
        samples[name] = UserMetrics.from_parts(users, ranking_per_user(rng.geometric(p, 6040) - 1), rating)
    report = {"full": {n: {**s.values(), "users": 6040.0} for n, s in samples.items()}}
    started = time.perf_counter()
    stats = describe(report, {"full": samples}, baseline="a", settings=BootstrapSettings(1000, 0))
    seconds = time.perf_counter() - started
    assert seconds < 10.0, f"{seconds:.1f} s"
    assert stats.protocols["full"].comparisons["c"]["NDCG@10"].verdict == "better"
