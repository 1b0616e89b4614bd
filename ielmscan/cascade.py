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


def fit_cascade(bundle: Bundle, data: LabelledSequences, recall: float = 0.99, seed: int = 0,
                device: str = "cpu", ks: tuple[int, ...] = DEFAULT_KS) -> Cascade:
    """Fit the linear first stage on ``data`` and calibrate it against the bundle's own calls."""
    from .baselines import KmerBaseline, kmer_spectrum
    from .fitting import ensemble_probabilities

    baseline = KmerBaseline(ks=ks, seed=seed).fit(data.seqs, data.labels)
    model = baseline.model
    # Fold the standardisation into the weights: (x - mean) / scale · coef = x · coef/scale - const.
    coef = model.coef / model.scale
    bias = float(model.intercept - np.sum(model.mean * coef))
    weights = np.zeros((len(ks), 4 ** max(ks)), dtype=np.float32)
    start = 0
    for row, k in enumerate(ks):
        weights[row, : 4**k] = coef[start : start + 4**k]
        start += 4**k
    logits = kmer_spectrum(data.seqs, ks).astype(np.float64) @ coef + bias
    probs, _ = ensemble_probabilities(bundle, data.seqs, device)
    called = probs >= bundle.threshold
    if not called.any():
        raise BundleError("the ensemble calls none of the training sequences: cannot calibrate the cascade")
    threshold = float(np.quantile(logits[called], 1.0 - recall, method="lower"))
    calibration = {
        "target_recall": recall,
        "training_recall": float(np.mean(logits[called] >= threshold)),
        "training_pass_fraction": float(np.mean(logits >= threshold)),
        "training_sequences": len(data.seqs),
        "l2": baseline.l2_,
    }
    return Cascade(list(ks), weights, bias, threshold, calibration)
