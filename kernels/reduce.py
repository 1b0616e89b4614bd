"""Window scores → non-overlapping stride bins (for tracks); bins above a threshold → regions (for BED).

All coordinates are 0-based half-open, in bases or in bins as each function says.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ._validate import check_int as _check_int
from .grid import WindowGrid


def _check_scores(scores: object, name: str) -> np.ndarray:
    """Return ``scores`` as a C-contiguous 1-D float64 array, or raise ValueError."""
    if not isinstance(scores, np.ndarray):
        raise ValueError(f"{name} must be a 1-D numpy float array, got {type(scores).__name__}")
    if scores.dtype.kind != "f":
        raise ValueError(f"{name} must have a floating dtype (float32/float64), got {scores.dtype}")
    if scores.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {scores.shape}")
    # float64 so sums and threshold comparisons are exact for float32 input, and one compiled version.
    return np.ascontiguousarray(scores, dtype=np.float64)


def bin_window_scores(scores: np.ndarray, window: int, stride: int, length: int) -> np.ndarray:
    """Average window scores into non-overlapping bins of ``stride`` bases.

    Window j covers bases [j*stride, j*stride + window); bin b covers [b*stride, min((b+1)*stride,
    length)); there are ceil(length / stride) bins. A bin's value is the mean of the non-NaN scores of
    all windows sharing at least one base with it, NaN if there are none (NaN = window skipped).
    Returns float32 (accumulated in float64).
    """
    scores64 = _check_scores(scores, "scores")
    grid = WindowGrid(window, stride)
    length = _check_int(length, "length", 0)
    n_windows = scores64.shape[0]
    if grid.span(n_windows) > length:
        raise ValueError(
            f"{n_windows} windows of {window} bases every {stride} bases end at {grid.span(n_windows)}, "
            f"past length {length}; at most {grid.count(length)} windows fit"
        )
    out = np.empty(grid.bins(length), dtype=np.float32)
    _bin_window_scores(scores64, grid.window, grid.stride, out)
    return out


@numba.njit(cache=True, nogil=True)
def _bin_window_scores(scores: np.ndarray, window: int, stride: int, out: np.ndarray) -> None:
    n_bins = out.shape[0]
    sums = np.zeros(n_bins, dtype=np.float64)
    counts = np.zeros(n_bins, dtype=np.int64)
    for j in range(scores.shape[0]):
        s = scores[j]
        if np.isnan(s):
            continue
        # Window j starts exactly at bin j's start and overlaps every bin up to the one holding its
        # last base (WindowGrid.last_bin, inlined for Numba).
        last_bin = (j * stride + window - 1) // stride
        for b in range(j, last_bin + 1):
            sums[b] += s
            counts[b] += 1
    for b in range(n_bins):
        out[b] = sums[b] / counts[b] if counts[b] > 0 else np.nan


def call_regions(
    bin_scores: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Maximal runs of consecutive bins with score ≥ ``threshold`` (NaN never passes and breaks a run).

    Returns (start_bin int64, end_bin int64, max_score float32, summit_bin int64), one entry per run;
    bins are 0-based half-open [start_bin, end_bin), and summit_bin is the first bin of the run that
    attains its maximum. The comparison is done in float64.
    """
    scores64 = _check_scores(bin_scores, "bin_scores")
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(
        threshold, (int, float, np.integer, np.floating)
    ):
        raise ValueError(f"threshold must be a real number, got {threshold!r}")
    if math.isnan(threshold):
        raise ValueError("threshold must be a real number, got NaN")
    # A run needs at least one bin and runs are separated by at least one bin.
    capacity = (scores64.shape[0] + 1) // 2
    starts = np.empty(capacity, dtype=np.int64)
    ends = np.empty(capacity, dtype=np.int64)
    maxima = np.empty(capacity, dtype=np.float64)
    summits = np.empty(capacity, dtype=np.int64)
    n_runs = _call_regions(scores64, float(threshold), starts, ends, maxima, summits)
    return (
        starts[:n_runs].copy(),
        ends[:n_runs].copy(),
        maxima[:n_runs].astype(np.float32),
        summits[:n_runs].copy(),
    )


@numba.njit(cache=True, nogil=True)
def _call_regions(
    scores: np.ndarray,
    threshold: float,
    starts: np.ndarray,
    ends: np.ndarray,
    maxima: np.ndarray,
    summits: np.ndarray,
) -> int:
    n_runs = 0
    in_run = False
    for b in range(scores.shape[0]):
        s = scores[b]
        if s >= threshold:  # False for NaN
            if not in_run:
                in_run = True
                starts[n_runs] = b
                maxima[n_runs] = s
                summits[n_runs] = b
            elif s > maxima[n_runs]:  # strict: the first bin reaching the maximum stays the summit
                maxima[n_runs] = s
                summits[n_runs] = b
        elif in_run:
            in_run = False
            ends[n_runs] = b
            n_runs += 1
    if in_run:
        ends[n_runs] = scores.shape[0]
        n_runs += 1
    return n_runs
