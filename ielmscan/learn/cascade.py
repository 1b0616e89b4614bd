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
from ielmscan.kernels.encode import reverse_complement
from ielmscan.model.bundle import Bundle
from ielmscan.model.cascade import DEFAULT_KS, Cascade

RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0)
FOLDS = 3
MAX_SEQUENCES = 30_000  # enough for 1,364 ridge features; the k-mer spectra of more cost memory for nothing


def _ridge(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge regression on standardised features, returned in raw-feature units: (coef, bias)."""
    mean, scale = X.mean(0), X.std(0)
    scale[scale == 0] = 1.0
    Z = (X - mean) / scale
    w = np.linalg.solve(Z.T @ Z + alpha * np.eye(Z.shape[1]), Z.T @ (y - y.mean()))
    coef = w / scale
    return coef, float(y.mean() - mean @ coef)


def fit_cascade(bundle: Bundle, seqs: list[str], recall: float = 0.99, seed: int = 0, device: str = "cpu",
                ks: tuple[int, ...] = DEFAULT_KS, max_p: float = 0.01, max_sequences: int = MAX_SEQUENCES) -> Cascade:
    """Distil the ensemble into a linear model on k-mer spectra, then calibrate its threshold.

    The first stage only has to agree with the ensemble, not with the labels, so it is fitted (ridge
    regression) to the ensemble's own logits on ``seqs`` (training sequences, and background windows where
    there are any; at most ``max_sequences`` of them, a seeded sample), both strands. The threshold is set
    on out-of-fold scores, so that ``recall`` of the sequences the ensemble calls pass it: called at the
    calibrated threshold for ``max_p`` when the bundle has a calibration, else at its own threshold.
    """
    if len(seqs) > max_sequences:
        keep = np.sort(np.random.default_rng(seed).choice(len(seqs), max_sequences, replace=False))
        seqs = [seqs[i] for i in keep]
    probs, _ = score_sequences(bundle, seqs, device)
    call_at = bundle.calibration.threshold(max_p) if bundle.calibration is not None else bundle.threshold
    called = probs >= call_at
    if not called.any():
        raise BundleError(f"the ensemble calls none of the {len(seqs):,} sequences at {call_at:.4f}: cannot calibrate "
                          "the cascade (give it sequences it calls, e.g. the positives)")
    target = np.log(np.clip(probs, 1e-6, 1 - 1e-6) / np.clip(1 - probs, 1e-6, 1))
    n = len(seqs)
    rc = [reverse_complement(seq.encode()).decode() for seq in seqs]
    X = np.vstack([kmer_spectrum(seqs, ks), kmer_spectrum(rc, ks)]).astype(np.float64)
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
        "called_at": call_at,
        "called_by": f"background p-value <= {max_p:g}" if bundle.calibration is not None else "the bundle's threshold",
        "alpha": alpha,
        "oof_r2": float(1 - error / np.var(y)),
    }
    return Cascade(list(ks), weights, bias, threshold, calibration)
