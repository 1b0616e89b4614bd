"""The cascade's first stage (``ielmscan scan --fast``): a linear model on each window's k-mer spectrum.

It is fitted on the bundle's training data (logistic regression on normalised 1..5-mer counts) and
evaluated for every window by a rolling Numba kernel, far cheaper than the transformers. Its threshold
is calibrated so that at least ``recall`` of the training sequences the full ensemble calls enhancers
pass it; only windows that pass go to the transformers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import BundleError

if TYPE_CHECKING:
    from .bundle import Bundle
    from .dataset import LabelledSequences

CASCADE_FILE = "cascade.safetensors"
DEFAULT_KS = (1, 2, 3, 4, 5)


@dataclass
class Cascade:
    ks: list[int]
    weights: np.ndarray  # float32 (len(ks), 4**max(ks)); row r: the 4**ks[r] k-mer weights in id order
    bias: float
    threshold: float  # on the linear score (a logit); windows at or above it go to the transformers
    calibration: dict[str, Any] = field(default_factory=dict)

    def scores(self, ids: np.ndarray, window: int, stride: int) -> np.ndarray:
        """Linear scores (logits) of every window; ``ids`` has one row per k of ``self.ks``."""
        from .kernels.linear import window_linear_scores

        return window_linear_scores(ids, np.array(self.ks), self.weights, self.bias, window, stride)

    def to_json(self) -> dict[str, Any]:
        return {"file": CASCADE_FILE, "ks": self.ks, "bias": self.bias, "threshold": self.threshold,
                "calibration": self.calibration}

    def save(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        save_file({"weights": np.ascontiguousarray(self.weights, dtype=np.float32)}, str(directory / CASCADE_FILE))

    @classmethod
    def load(cls, directory: Path, entry: dict[str, Any]) -> Cascade:
        from safetensors.numpy import load_file

        path = directory / str(entry.get("file", CASCADE_FILE))
        if not path.is_file():
            raise BundleError(f"model bundle {directory}: cascade file {path.name} is missing")
        weights = load_file(str(path)).get("weights")
        ks = [int(k) for k in entry["ks"]]
        if weights is None or weights.shape != (len(ks), 4 ** max(ks)):
            raise BundleError(f"model bundle {directory}: cascade weights do not match ks {ks}")
        return cls(ks, weights, float(entry["bias"]), float(entry["threshold"]), dict(entry.get("calibration", {})))


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
    from .baselines import kmer_spectrum
    from .fitting import ensemble_probabilities, reverse_complements

    probs, _ = ensemble_probabilities(bundle, data.seqs, device)
    called = probs >= bundle.threshold
    if not called.any():
        raise BundleError("the ensemble calls none of the training sequences: cannot calibrate the cascade")
    target = np.log(np.clip(probs, 1e-6, 1 - 1e-6) / np.clip(1 - probs, 1e-6, 1))
    n = len(data.seqs)
    X = np.vstack([kmer_spectrum(data.seqs, ks), kmer_spectrum(reverse_complements(data.seqs), ks)]).astype(np.float64)
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
