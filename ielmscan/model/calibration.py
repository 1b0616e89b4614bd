"""A bundle's background score distribution: what its scores mean on a genome.

The ensemble's probabilities come from balanced training data, so on a genome they say little by
themselves. A bundle may carry the scores (strand-averaged ensemble probabilities) of N-free windows
sampled from a background genome. A scan then gives each bin an empirical p-value, the share of
background windows that score at least as high (with the usual +1 so that it is never 0), and calls
regions from bins whose p-value is small enough. Fitting it is :mod:`ielmscan.learn.calibrate`; this
module is what the bundle stores and how it is read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ielmscan.errors import BundleError
from ielmscan.model.validate import NUMPY_DTYPES, Entry, check_finite, check_tensors, inside, tensor_header

CALIBRATION_FILE = "calibration.safetensors"
MIN_WINDOWS = 100  # fewer background windows cannot resolve the p-values calls are made at


@dataclass
class Calibration:
    scores: np.ndarray  # float32, ascending: the background windows' ensemble probabilities
    source: dict[str, Any] = field(default_factory=dict)  # genome, windows, seed, how they were drawn

    def __post_init__(self) -> None:
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        if len(scores) < MIN_WINDOWS:
            raise BundleError(f"a background calibration needs at least {MIN_WINDOWS} window scores, got {len(scores)}")
        if not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1:
            raise BundleError("background calibration scores must be probabilities in [0, 1]")
        self.scores = np.sort(scores)

    @property
    def windows(self) -> int:
        return len(self.scores)

    def exceeding(self, values: np.ndarray) -> np.ndarray:
        """For each value, the number of background windows scoring at least as high (int64)."""
        values = np.asarray(values, dtype=np.float32)
        return len(self.scores) - np.searchsorted(self.scores, values, side="left")

    def p_values(self, values: np.ndarray) -> np.ndarray:
        """Empirical p-values: (1 + background windows scoring >= value) / (1 + windows)."""
        return (self.exceeding(values) + 1.0) / (self.windows + 1.0)

    def threshold(self, max_p: float) -> float:
        """The lowest score whose p-value is at most ``max_p``: bins at or above it are called.

        Above the highest background score every p-value is 1 / (windows + 1); a ``max_p`` below that
        calls nothing, which the threshold (just above 1) says.
        """
        if not 0 < max_p <= 1:
            raise BundleError(f"p-value cut-off {max_p} must be in (0, 1]")
        allowed = math.floor(max_p * (self.windows + 1) - 1 + 1e-9)  # background windows >= s allowed
        if allowed < 0:
            return math.nextafter(1.0, 2.0)
        if allowed >= self.windows:
            return 0.0
        # At least (windows - allowed) background scores must lie strictly below s.
        return float(np.nextafter(self.scores[self.windows - allowed - 1], np.float32(2.0)))

    def to_json(self) -> dict[str, Any]:
        return {"file": CALIBRATION_FILE, "windows": self.windows, "source": self.source}

    def save(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        save_file({"scores": np.ascontiguousarray(self.scores, dtype=np.float32)}, str(directory / CALIBRATION_FILE))

    @classmethod
    def load(cls, directory: Path, entry: Entry) -> Calibration:
        """The distribution from a bundle's ``calibration`` entry and file, every field and tensor checked."""
        from safetensors.numpy import load_file

        if entry.file_name("file", CALIBRATION_FILE) != CALIBRATION_FILE:
            raise entry.error("file", f"must be {CALIBRATION_FILE}")
        source = entry.entry("source")
        if source is not None and source.has("window"):  # a scan compares its window with it
            source.integer("window", 1)
        path = inside(directory, CALIBRATION_FILE, "calibration file")
        header = tensor_header(directory, path)
        shape = header["scores"][1] if "scores" in header else ()
        check_tensors(directory, CALIBRATION_FILE, header, {"scores": shape}, NUMPY_DTYPES)  # the name and dtype
        if len(shape) != 1:
            raise BundleError(f"model bundle {directory}: {CALIBRATION_FILE}: scores has shape {shape}: it must be a "
                              "list of window scores (one dimension)")
        if entry.has("windows") and entry.integer("windows", 0) != shape[0]:
            raise entry.error("windows", f"is {entry.value('windows')}, but {CALIBRATION_FILE} holds {shape[0]} scores")
        scores = load_file(str(path))["scores"]
        check_finite(f"model bundle {directory}: {CALIBRATION_FILE}", {"scores": scores})
        try:
            return cls(scores, source.data if source is not None else {})
        except BundleError as exc:
            raise BundleError(f"model bundle {directory}: {CALIBRATION_FILE}: {exc}") from None


def benjamini_hochberg(exceeding_counts: np.ndarray, windows: int) -> np.ndarray:
    """q-values by rank: from how many scored bins had each background rank, the BH-adjusted p-value per rank.

    ``exceeding_counts[r]`` is the number of scored bins with exactly r background windows at or above
    them (their p-value is (r + 1) / (windows + 1)). Returns q for every r: min over r' >= r of
    p(r') * m / (bins with p <= p(r')), capped at 1, where m is the number of scored bins.
    """
    counts = np.asarray(exceeding_counts, dtype=np.int64)
    m = int(counts.sum())
    p = (np.arange(len(counts)) + 1.0) / (windows + 1.0)
    if m == 0:
        return np.minimum(p, 1.0)
    at_most = np.cumsum(counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(at_most > 0, p * m / at_most, np.inf)
    return np.minimum(np.minimum.accumulate(raw[::-1])[::-1], 1.0)
