"""Fitting the cascade's first stage (``ielmscan model cascade``, and every ``ielmscan train``).

The first stage (:class:`ielmscan.model.cascade.Cascade`) is a linear model on each window's k-mer
spectrum. It only has to agree with the ensemble, not with the labels, so it is distilled from the
ensemble's own logits on the training sequences, and its threshold is calibrated on out-of-fold scores.
"""
from __future__ import annotations

import numpy as np

from ielmscan.errors import BundleError
from ielmscan.inference.scorer import score_sequences
from ielmscan.learn.baselines import kmer_spectrum
from ielmscan.learn.dataset import LabelledSequences
from ielmscan.model.bundle import Bundle
from ielmscan.model.cascade import DEFAULT_KS, Cascade

RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0)
FOLDS = 3


def _ridge(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge regression on standardised features, returned in raw-feature units: (coef, bias)."""
    mean, scale = X.mean(0), X.std(0)
    scale[scale == 0] = 1.0
    Z = (X - mean) / scale
    w = np.linalg.solve(Z.T @ Z + alpha * np.eye(Z.shape[1]), Z.T @ (y - y.mean()))
    coef = w / scale
    return coef, float(y.mean() - mean @ coef)


def fit_cascade(bundle: Bundle, data: LabelledSequences, recall: float = 0.99, seed: int = 0,
                device: str = "cpu", ks: tuple[int, ...] = DEFAULT_KS) -> Cascade:
    """Distil the ensemble into a linear model on k-mer spectra, then calibrate its threshold.

    The first stage only has to agree with the ensemble, not with the labels, so it is fitted (ridge
    regression) to the ensemble's own logits on the training sequences, both strands. The threshold is
    set on out-of-fold scores, so that ``recall`` of the sequences the ensemble calls pass it.
    """
    probs, _ = score_sequences(bundle, data.seqs, device)
    called = probs >= bundle.threshold
    if not called.any():
        raise BundleError("the ensemble calls none of the training sequences: cannot calibrate the cascade")
    target = np.log(np.clip(probs, 1e-6, 1 - 1e-6) / np.clip(1 - probs, 1e-6, 1))
    n = len(data.seqs)
    X = np.vstack([kmer_spectrum(data.seqs, ks), kmer_spectrum(data.reverse_complements().seqs, ks)]).astype(np.float64)
    y = np.tile(target, 2)
    fold = np.tile(np.random.default_rng(seed).permutation(n) % FOLDS, 2)  # a sequence and its RC stay together
    best: tuple[float, float, np.ndarray] | None = None
    for alpha in RIDGE_ALPHAS:
        oof = np.empty(2 * n)
        for f in range(FOLDS):
            coef, bias = _ridge(X[fold != f], y[fold != f], alpha)
            oof[fold == f] = X[fold == f] @ coef + bias
        error = float(np.mean((oof - y) ** 2))
        if best is None or error < best[0]:
            best = (error, alpha, oof[:n])
    error, alpha, oof_forward = best
    coef, bias = _ridge(X, y, alpha)
    threshold = float(np.quantile(oof_forward[called], 1.0 - recall, method="lower"))
    weights = np.zeros((len(ks), 4 ** max(ks)), dtype=np.float32)
    start = 0
    for row, k in enumerate(ks):
        weights[row, : 4**k] = coef[start : start + 4**k]
        start += 4**k
    calibration = {
        "method": "ridge regression on the ensemble's logits (both strands); threshold on out-of-fold scores",
        "target_recall": recall,
        "training_recall": float(np.mean(oof_forward[called] >= threshold)),
        "training_pass_fraction": float(np.mean(oof_forward >= threshold)),
        "training_sequences": n,
        "alpha": alpha,
        "oof_r2": float(1 - error / np.var(y)),
    }
    return Cascade(list(ks), weights, bias, threshold, calibration)
