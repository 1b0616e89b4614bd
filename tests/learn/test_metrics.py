import math

import numpy as np
import pytest

from ielmscan.learn.metrics import (best_threshold, binary_metrics, gc_controlled_auroc, gc_strata, pr_curve, roc_curve,
                                   summarize)

# Ten samples, 4 positives, scores in ranking order:
#   label  1    1    0    1    0     0     1    0    0    0
#   prob  .9   .8   .7   .6   .55   .45   .4   .3   .2   .1
# At threshold 0.5 the first five are called positive:
#   TP = 3 (.9 .8 .6)   FP = 2 (.7 .55)   FN = 1 (.4)   TN = 4 (.45 .3 .2 .1)
Y = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0])
P = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.45, 0.4, 0.3, 0.2, 0.1])


def test_hand_computed_confusion_matrix_scores():
    m = binary_metrics(Y, P)
    assert m["acc"] == pytest.approx(7 / 10)  # (TP + TN) / n
    assert m["sn"] == pytest.approx(3 / 4)  # TP / (TP + FN)
    assert m["sp"] == pytest.approx(4 / 6)  # TN / (TN + FP)
    assert m["f1"] == pytest.approx(6 / 9)  # 2TP / (2TP + FP + FN)
    # (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (12 - 2) / sqrt(5*4*6*5)
    assert m["mcc"] == pytest.approx(10 / math.sqrt(600))
    assert (m["threshold"], m["n"], m["positives"]) == (0.5, 10.0, 4.0)


def test_hand_computed_auroc_and_auprc():
    m = binary_metrics(Y, P)
    # Positive/negative pairs ranked correctly: .9 and .8 beat all 6 negatives, .6 beats 5, .4 beats 3.
    assert m["auroc"] == pytest.approx((6 + 6 + 5 + 3) / 24)
    # Precision at each positive as the threshold falls: 1/1, 2/2, 3/4, 4/7; each adds 1/4 recall.
    assert m["auprc"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 7) / 4)


def test_threshold_is_inclusive():
    m = binary_metrics(Y, P, threshold=0.6)  # .6 itself is called positive
    assert m["sn"] == pytest.approx(3 / 4)
    assert m["sp"] == pytest.approx(5 / 6)


def test_auroc_of_perfect_inverted_and_constant_predictors():
    y = np.array([0, 0, 0, 1, 1])
    ranks = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert binary_metrics(y, ranks)["auroc"] == 1.0
    assert binary_metrics(y, 1 - ranks)["auroc"] == 0.0
    assert binary_metrics(y, np.full(5, 0.7))["auroc"] == 0.5
    assert binary_metrics(y, ranks)["auprc"] == 1.0
    assert binary_metrics(y, np.full(5, 0.7))["auprc"] == pytest.approx(2 / 5)  # the prevalence


def test_tied_scores_count_half_and_are_grouped_for_auprc():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.5, 0.5, 0.8, 0.2])
    m = binary_metrics(y, p)
    # Pairs: (.8 vs .5) 1, (.8 vs .2) 1, (.5 vs .5) 1/2, (.5 vs .2) 1.
    assert m["auroc"] == pytest.approx(3.5 / 4)
    # Thresholds .8 → P=1, R=1/2; .5 → the tied pair enters together: P=2/3, R=1.
    # Ranking the tied positive first would give 1.0 instead.
    assert m["auprc"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_auroc_matches_pair_counting_and_trapezoid_roc_on_random_tied_scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.round(np.clip(0.5 + 0.2 * (y - 0.5) + rng.normal(0, 0.2, 300), 0, 1), 1)  # many ties
    pos, neg = p[y == 1], p[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    fpr, tpr, _ = roc_curve(y, p)
    trapezoid = np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)
    assert binary_metrics(y, p)["auroc"] == pytest.approx(pairs, abs=1e-12)
    assert trapezoid == pytest.approx(pairs, abs=1e-12)


def test_roc_curve_shape():
    fpr, tpr, thresholds = roc_curve(Y, P)
    assert (fpr[0], tpr[0], thresholds[0]) == (0.0, 0.0, np.inf)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert len(fpr) == len(tpr) == len(thresholds) == len(P) + 1
    assert np.all(np.diff(thresholds) < 0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert (fpr[4], tpr[4]) == (pytest.approx(1 / 6), pytest.approx(3 / 4))  # threshold .6: TP 3, FP 1


def test_pr_curve_points_are_per_distinct_threshold():
    precision, recall, thresholds = pr_curve([1, 0, 1, 0], [0.5, 0.5, 0.8, 0.2])
    np.testing.assert_allclose(thresholds, [0.8, 0.5, 0.2])
    np.testing.assert_allclose(recall, [0.5, 1.0, 1.0])
    np.testing.assert_allclose(precision, [1.0, 2 / 3, 0.5])


def test_best_threshold_depends_on_metric_and_breaks_ties_towards_half():
    # Calling the top 2 (t=.8) gives TP2 FP0 FN2 TN6; the top 4 (t=.6) gives TP3 FP1 FN1 TN5.
    # Accuracy is 0.8 for both → the one closer to 0.5 wins.
    assert best_threshold(Y, P, "acc") == 0.6
    # F1: 4/6 at .8, 6/8 at .6, 8/11 at .4.
    assert best_threshold(Y, P, "f1") == 0.6
    # MCC: 12/sqrt(384) = .61 at .8 beats 14/24 = .58 at .6.
    assert best_threshold(Y, P, "mcc") == 0.8


def test_best_threshold_rejects_unknown_metric():
    with pytest.raises(ValueError, match="auroc"):
        best_threshold(Y, P, "auroc")


def test_summarize_gives_mean_and_sample_sd():
    summary = summarize([{"acc": 0.7, "mcc": 0.4}, {"acc": 0.8, "mcc": 0.4}, {"acc": 0.9, "mcc": 0.4}])
    assert summary["acc"] == (pytest.approx(0.8), pytest.approx(0.1))
    assert summary["mcc"] == (pytest.approx(0.4), pytest.approx(0.0))
    assert math.isnan(summarize([{"acc": 0.7}])["acc"][1])


def test_summarize_rejects_empty_or_mismatched_folds():
    with pytest.raises(ValueError, match="empty"):
        summarize([])
    with pytest.raises(ValueError, match="keys"):
        summarize([{"acc": 0.7}, {"mcc": 0.1}])


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1, 1], [0.1, 0.9], "differ in length"),
        ([0, 2, 1], [0.1, 0.5, 0.9], "0 or 1"),
        ([0, 1, 1], [0.1, 1.5, 0.9], r"\[0, 1\]"),
        ([0, 1, 1], [0.1, np.nan, 0.9], "finite"),
        ([1, 1, 1], [0.1, 0.5, 0.9], "both classes"),
        ([], [], "empty"),
    ],
)
def test_invalid_inputs_raise_value_error_naming_the_problem(y, p, message):
    with pytest.raises(ValueError, match=message):
        binary_metrics(y, p)
    with pytest.raises(ValueError, match=message):
        roc_curve(y, p)


# GC-controlled AUROC, by hand. Three GC strata at width 0.1:
#   stratum 0.3: labels 1 0 0, scores .9 .4 .9   pairs 1×2: (.9 vs .4) 1, (.9 vs .9) 1/2     → 1.5 of 2
#   stratum 0.5: labels 1 1 0, scores .2 .6 .5   pairs 2×1: (.2 vs .5) 0, (.6 vs .5) 1       → 1   of 2
#   stratum 0.7: labels 1 1,   scores .8 .7      one class only: no pairs, left out
# Weighted by pairs: (1.5 + 1) / (2 + 2) = 0.625; the plain AUROC over all 8 samples differs.
GC_Y = np.array([1, 0, 0, 1, 1, 0, 1, 1])
GC_P = np.array([0.9, 0.4, 0.9, 0.2, 0.6, 0.5, 0.8, 0.7])
GC_GC = np.array([0.31, 0.35, 0.39, 0.5, 0.52, 0.58, 0.7, 0.75])


def test_gc_controlled_auroc_hand_computed():
    assert gc_controlled_auroc(GC_Y, GC_P, GC_GC, width=0.1) == pytest.approx(2.5 / 4)
    # Every sample in one stratum: the plain AUROC.
    assert gc_controlled_auroc(GC_Y, GC_P, GC_GC, width=1.0) == pytest.approx(binary_metrics(GC_Y, GC_P)["auroc"])


def test_gc_controlled_auroc_equals_pair_counting_within_strata_on_random_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    p = np.round(rng.random(400), 1)
    gc = rng.integers(30, 45, 400) / 100
    agree = ties = pairs = 0.0
    for value in np.unique(gc):
        pos, neg = p[(gc == value) & (y == 1)], p[(gc == value) & (y == 0)]
        agree += (pos[:, None] > neg[None, :]).sum()
        ties += (pos[:, None] == neg[None, :]).sum()
        pairs += len(pos) * len(neg)
    assert gc_controlled_auroc(y, p, gc) == pytest.approx((agree + ties / 2) / pairs, abs=1e-12)


def test_a_pure_function_of_gc_scores_exactly_half():
    rng = np.random.default_rng(2)
    # 100-bp sequences: GC fractions are multiples of 0.01, one GC value per stratum at width 0.01.
    gc = rng.integers(20, 80, 500) / 100
    y = (rng.random(500) < gc).astype(int)  # GC-rich sequences are mostly positive
    score = 1 / (1 + np.exp(-10 * (gc - 0.5)))
    assert binary_metrics(y, score)["auroc"] > 0.7  # plain AUROC rewards GC
    assert gc_controlled_auroc(y, score, gc, width=0.01) == 0.5


def test_gc_strata_floor_exact_multiples_despite_binary_rounding():
    gc = np.arange(101) / 100  # 0.29 / 0.01 is 28.999999999999996 in floating point
    np.testing.assert_array_equal(gc_strata(gc, 0.01), np.arange(101))
    np.testing.assert_array_equal(gc_strata([0.0, 0.049, 0.05, 1.0, np.nan], 0.05), [0, 0, 1, 20, -1])


def test_gc_controlled_auroc_of_a_perfect_scorer_and_monotone_transforms():
    rng = np.random.default_rng(3)
    gc = rng.integers(40, 60, 300) / 100
    y = rng.integers(0, 2, 300)
    assert gc_controlled_auroc(y, y + 0.1 * rng.random(300), gc) == 1.0
    p = np.clip(0.5 * y + rng.normal(0.25, 0.2, 300), 0, 1)
    value = gc_controlled_auroc(y, p, gc)
    assert 0.5 < value < 1.0
    for transform in (np.sqrt, lambda x: x**3, lambda x: np.log(x + 1e-3), lambda x: 1e6 * x - 7):
        assert gc_controlled_auroc(y, transform(p), gc) == pytest.approx(value, abs=1e-12)
    assert gc_controlled_auroc(y, -p, gc) == pytest.approx(1 - value, abs=1e-12)


def test_gc_controlled_auroc_is_nan_without_a_mixed_stratum_and_skips_nan_gc():
    y = np.array([1, 1, 0, 0])
    assert math.isnan(gc_controlled_auroc(y, [0.9, 0.8, 0.2, 0.1], [0.6, 0.6, 0.4, 0.4]))
    # A sample without any A/C/G/T base (GC NaN) belongs to no stratum.
    value = gc_controlled_auroc([1, 0, 1, 0], [0.9, 0.1, 0.05, 0.2], [0.5, 0.5, np.nan, 0.5])
    assert value == 1.0


@pytest.mark.parametrize(
    ("gc", "width", "message"),
    [
        ([0.5, 0.5], 0.01, "differ in length"),
        ([0.5, 0.5, 1.5], 0.01, r"\[0, 1\]"),
        ([0.5, 0.5, np.inf], 0.01, r"\[0, 1\]"),
        ([0.5, 0.5, 0.5], 0.0, "width"),
        ([0.5, 0.5, 0.5], 2.0, "width"),
    ],
)
def test_gc_controlled_auroc_rejects_bad_input(gc, width, message):
    with pytest.raises(ValueError, match=message):
        gc_controlled_auroc([0, 1, 1], [0.1, 0.5, 0.9], gc, width=width)
