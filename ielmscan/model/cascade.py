"""The cascade's first stage (``ielmscan scan --fast``): a linear model on each window's k-mer spectrum.

This module holds what a bundle stores of it; :mod:`ielmscan.learn.cascade` fits it (ridge regression
on normalised 1..5-mer counts, distilled from the ensemble's logits) and calibrates its threshold so that
at least a given share of the training sequences the full ensemble calls enhancers pass. It is evaluated
for every window by a rolling Numba kernel, far cheaper than the transformers; only windows that pass
go to the transformers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ielmscan.errors import BundleError


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
        from ielmscan.kernels.linear import window_linear_scores

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
