"""Binary classification metrics for enhancer predictors: confusion-matrix scores, ROC/PR curves, AUCs.

Pure NumPy, so results can be checked by hand. A sample is predicted positive when its probability is
``>= threshold``. Curves are computed at the distinct predicted values (tied scores form one point), the
way scikit-learn does it, so AUROC and AUPRC match ``roc_auc_score`` and ``average_precision_score``.
:func:`gc_controlled_auroc` compares positives only with negatives of the same GC content, so a scorer
that has merely learnt GC gets 0.5 from it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ielmscan.errors import InputError

__all__ = ["best_threshold", "binary_metrics", "gc_controlled_auroc", "gc_strata", "pr_curve", "roc_curve", "summarize"]

_THRESHOLD_METRICS = ("f1", "acc", "mcc")


def _check(
    y_true: object, prob: object, need_both_classes: bool = True, probabilities: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Return labels as int64 0/1 and probabilities as float64, or raise InputError.

    With ``probabilities=False`` any finite score is accepted (rank-based metrics need no [0, 1] range).
    """
    y = np.asarray(y_true)
    p = np.asarray(prob, dtype=np.float64)
    if y.ndim != 1 or p.ndim != 1:
        raise InputError(f"labels and probabilities must be 1-D, got shapes {y.shape} and {p.shape}")
    if len(y) != len(p):
        raise InputError(f"labels and probabilities differ in length: {len(y)} labels, {len(p)} probabilities")
    if len(y) == 0:
        raise InputError("no samples: labels and probabilities are empty")
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        bad = y[~np.isin(y, (0, 1))][:3] if y.dtype.kind in "biuf" else y[:3]
        raise InputError(f"labels must be 0 or 1, got values such as {bad.tolist()}")
    if not np.isfinite(p).all():
        raise InputError(f"probabilities must be finite, found {int((~np.isfinite(p)).sum())} NaN/inf values")
    if probabilities and (p.min() < 0.0 or p.max() > 1.0):
        raise InputError(f"probabilities must lie in [0, 1], got range [{p.min():g}, {p.max():g}]")
    y = y.astype(np.int64)
    if need_both_classes and (y.min() == y.max()):
        only = "positive" if y[0] == 1 else "negative"
        raise InputError(f"all {len(y)} samples are {only}: ROC/PR curves and their AUCs need both classes")
    return y, p


def _counts_at_distinct(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative true/false positives when predicting positive at each distinct score, highest first."""
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    # Last index of each run of equal scores: tied samples cross the threshold together.
    last = np.flatnonzero(np.r_[p_sorted[1:] != p_sorted[:-1], True])
    tps = np.cumsum(y_sorted)[last]
    fps = (last + 1) - tps
    return tps.astype(np.float64), fps.astype(np.float64), p_sorted[last]


def roc_curve(
    y: Sequence[int] | np.ndarray, prob: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve ``(fpr, tpr, thresholds)`` at the distinct scores, thresholds descending.

    The first point is (0, 0) with threshold ``inf`` (nothing predicted positive); the last is (1, 1).
    """
    y_arr, p = _check(y, prob)
    tps, fps, thresholds = _counts_at_distinct(y_arr, p)
    fpr = np.r_[0.0, fps / fps[-1]]
    tpr = np.r_[0.0, tps / tps[-1]]
    return fpr, tpr, np.r_[np.inf, thresholds]


def pr_curve(
    y: Sequence[int] | np.ndarray, prob: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-recall curve ``(precision, recall, thresholds)`` at the distinct scores, thresholds descending.

    Point i is the result of predicting positive when ``prob >= thresholds[i]``; recall rises to 1.
    """
    y_arr, p = _check(y, prob)
    tps, fps, thresholds = _counts_at_distinct(y_arr, p)
    return tps / (tps + fps), tps / tps[-1], thresholds


def _average_ranks(p: np.ndarray, group: np.ndarray | None = None) -> np.ndarray:
    """1-based ranks of ``p`` within each ``group`` (all one group when None); tied scores share their mean rank."""
    group = np.zeros(len(p), dtype=np.int64) if group is None else group
    order = np.lexsort((p, group))
    p_sorted, g_sorted = p[order], group[order]
    new_group = np.r_[True, g_sorted[1:] != g_sorted[:-1]]
    starts = np.flatnonzero(new_group | np.r_[True, p_sorted[1:] != p_sorted[:-1]])
    ends = np.r_[starts[1:], len(p)]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(p)), 0))[starts]
    average_rank = (starts + ends + 1) / 2.0 - group_start  # mean of the 1-based ranks starts+1 .. ends
    ranks = np.empty(len(p))
    ranks[order] = np.repeat(average_rank, ends - starts)
    return ranks


def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    # Mann-Whitney U: P(score of a random positive > score of a random negative), ties count 1/2.
    ranks = _average_ranks(p)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def gc_strata(gc: Sequence[float] | np.ndarray, width: float = 0.01) -> np.ndarray:
    """The GC stratum of each sample: ``floor(gc / width)`` as int64, -1 where ``gc`` is NaN.

    ``gc / width`` is rounded to 9 decimals before flooring, so a fraction that is an exact multiple of
    ``width`` on paper (0.29 at width 0.01, which is 28.999999999999996 in binary) opens its stratum
    instead of falling into the one below. ``gc`` must lie in [0, 1]; GC 1.0 forms a stratum of its own.
    """
    if isinstance(width, (bool, np.bool_)) or not isinstance(width, (int, float, np.integer, np.floating)) \
            or not 0.0 < width <= 1.0:
        raise InputError(f"GC stratum width must be a number in (0, 1], got {width!r}")
    g = np.asarray(gc, dtype=np.float64)
    if g.ndim != 1:
        raise InputError(f"GC fractions must be 1-D, got shape {g.shape}")
    known = ~np.isnan(g)
    if not np.isfinite(g[known]).all() or (known.any() and (g[known].min() < 0.0 or g[known].max() > 1.0)):
        raise InputError("GC fractions must lie in [0, 1] (NaN for a sample without any A/C/G/T base)")
    strata = np.full(len(g), -1, dtype=np.int64)
    strata[known] = np.floor(np.round(g[known] / width, 9)).astype(np.int64)
    return strata


def gc_controlled_auroc(
    y: Sequence[int] | np.ndarray,
    prob: Sequence[float] | np.ndarray,
    gc: Sequence[float] | np.ndarray,
    width: float = 0.01,
) -> float:
    """AUROC within GC strata: the probability that a positive outscores a negative of the same GC stratum.

    Samples are put in strata of ``width`` by their GC fraction (:func:`gc_strata`: ``floor(gc / width)``;
    a sample whose GC is NaN, without any A/C/G/T base, is in none and left out). In every stratum
    holding both classes the AUROC is computed (ties count 1/2); these are averaged weighted by the
    stratum's positive-negative pairs, n_pos × n_neg. A scorer that is a function of GC alone gets 0.5
    when each stratum holds one GC value. ``prob`` may be any finite score: only its ranks count, so
    the result is invariant under any strictly increasing transform of it; scores are compared exactly, so
    a network's float rounding can break ties that GC alone would leave. NaN when no stratum holds both
    classes (nothing to compare, as for perfectly GC-separated classes).
    """
    y_arr, p = _check(y, prob, need_both_classes=False, probabilities=False)
    strata = gc_strata(gc, width)
    if len(strata) != len(y_arr):
        raise InputError(f"labels and GC fractions differ in length: {len(y_arr)} labels, {len(strata)} GC values")
    keep = strata >= 0
    y_arr, p, strata = y_arr[keep], p[keep], strata[keep]
    _, stratum = np.unique(strata, return_inverse=True)
    n_pos = np.bincount(stratum, weights=y_arr)
    n_neg = np.bincount(stratum) - n_pos
    pairs = n_pos * n_neg
    if not pairs.sum():
        return math.nan
    rank_sum = np.bincount(stratum, weights=_average_ranks(p, stratum) * y_arr)
    mann_whitney_u = rank_sum - n_pos * (n_pos + 1) / 2.0  # 0 in strata holding one class
    return float(mann_whitney_u.sum() / pairs.sum())


def _average_precision(y: np.ndarray, p: np.ndarray) -> float:
    tps, fps, _ = _counts_at_distinct(y, p)
    precision, recall = tps / (tps + fps), tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _from_counts(tp: np.ndarray, fp: np.ndarray, tn: np.ndarray, fn: np.ndarray, metric: str) -> np.ndarray:
    """``metric`` from (arrays of) confusion-matrix counts; 0 where its denominator is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "acc":
            value = (tp + tn) / (tp + fp + tn + fn)
        elif metric == "f1":
            value = 2 * tp / (2 * tp + fp + fn)
        elif metric == "mcc":
            value = (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        else:
            raise InputError(f"unknown metric {metric!r}: choose one of {', '.join(_THRESHOLD_METRICS)}")
    return np.nan_to_num(value, nan=0.0, posinf=0.0, neginf=0.0)


def binary_metrics(
    y_true: Sequence[int] | np.ndarray, prob: Sequence[float] | np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Accuracy, sensitivity, specificity, MCC, AUROC, AUPRC and F1 of ``prob`` against 0/1 labels.

    Keys: ``acc, sn, sp, mcc, auroc, auprc, f1, threshold, n, positives``. Sn = TP/(TP+FN) (recall),
    Sp = TN/(TN+FP); MCC and F1 are 0 when their denominator is 0. Both classes must be present.
    """
    y, p = _check(y_true, prob)
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, (int, float, np.integer, np.floating)):
        raise InputError(f"threshold must be a number, got {threshold!r}")
    if not math.isfinite(threshold):
        raise InputError(f"threshold must be finite, got {threshold!r}")
    predicted = p >= threshold
    tp = float(np.sum(predicted & (y == 1)))
    fp = float(np.sum(predicted & (y == 0)))
    tn = float(np.sum(~predicted & (y == 0)))
    fn = float(np.sum(~predicted & (y == 1)))
    return {
        "acc": float(_from_counts(tp, fp, tn, fn, "acc")),
        "sn": tp / (tp + fn),  # both classes are present, so neither denominator is 0
        "sp": tn / (tn + fp),
        "mcc": float(_from_counts(tp, fp, tn, fn, "mcc")),
        "auroc": _auroc(y, p),
        "auprc": _average_precision(y, p),
        "f1": float(_from_counts(tp, fp, tn, fn, "f1")),
        "threshold": float(threshold),
        "n": float(len(y)),
        "positives": float(y.sum()),
    }


def best_threshold(y: Sequence[int] | np.ndarray, prob: Sequence[float] | np.ndarray, metric: str = "f1") -> float:
    """The predicted value that, used as threshold (``prob >= t``), maximises ``metric`` (f1, acc or mcc).

    Among equally good thresholds the one closest to 0.5 wins (the lower one if two are equally close),
    so a threshold chosen on validation data stays near the natural cut when the data do not say otherwise.
    """
    if metric not in _THRESHOLD_METRICS:
        raise InputError(f"unknown metric {metric!r}: choose one of {', '.join(_THRESHOLD_METRICS)}")
    y_arr, p = _check(y, prob)
    tps, fps, thresholds = _counts_at_distinct(y_arr, p)
    n_pos, n_neg = tps[-1], fps[-1]
    score = _from_counts(tps, fps, n_neg - fps, n_pos - tps, metric)
    best = np.flatnonzero(score >= score.max() - 1e-12)  # tolerance: equal scores reached by different sums
    distance = np.abs(thresholds[best] - 0.5)
    closest = best[distance <= distance.min() + 1e-12]
    return float(thresholds[closest].min())


def summarize(values: Sequence[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and sample standard deviation (ddof=1) of each key over folds; sd is NaN for a single fold."""
    if not values:
        raise InputError("nothing to summarize: the list of per-fold metrics is empty")
    keys = list(values[0])
    for i, fold in enumerate(values):
        if set(fold) != set(keys):
            raise InputError(f"fold {i} has keys {sorted(fold)}, fold 0 has {sorted(keys)}: they must match")
    summary: dict[str, tuple[float, float]] = {}
    for key in keys:
        column = np.array([float(fold[key]) for fold in values])
        sd = float(column.std(ddof=1)) if len(column) > 1 else math.nan
        summary[key] = (float(column.mean()), sd)
    return summary
