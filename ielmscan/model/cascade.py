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

from ielmscan.model.defaults import MAX_K
from ielmscan.model.validate import NUMPY_DTYPES, Entry, check_finite, check_tensors, inside, tensor_header


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
    def load(cls, directory: Path, entry: Entry) -> Cascade:
        """The first stage from a bundle's ``cascade`` entry and its file, every field and tensor checked."""
        from safetensors.numpy import load_file

        name = entry.file_name("file", CASCADE_FILE, suffix=".safetensors")
        ks = entry.integers("ks", 1, MAX_K)
        bias, threshold = entry.number("bias"), entry.number("threshold")  # a logit: any finite number
        calibration = entry.entry("calibration")
        for key in ("target_recall", "training_recall", "training_pass_fraction"):  # what `model info` shows
            if calibration is not None and calibration.has(key):
                calibration.number(key, 0.0, 1.0)
        path = inside(directory, name, "cascade file")
        check_tensors(directory, name, tensor_header(directory, path), {"weights": (len(ks), 4 ** max(ks))},
                      NUMPY_DTYPES)
        weights = load_file(str(path))["weights"].astype(np.float32)
        check_finite(f"model bundle {directory}: {name}", {"weights": weights})
        return cls(ks, weights, bias, threshold, calibration.data if calibration is not None else {})
