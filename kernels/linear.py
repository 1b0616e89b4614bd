"""Rolling linear k-mer scores of every window: the cheap first stage of the cascade (``--fast``).

A window's score is ``bias + sum over k of (mean weight of its valid k-mers)``: a linear model on the
window's normalised k-mer spectrum, evaluated for all windows in O(n) per k with prefix sums instead of
rebuilding each window's spectrum.
"""
from __future__ import annotations

import numba
import numpy as np

from .encode import NUM_SPECIAL
from .grid import WindowGrid


def window_linear_scores(
    ids: np.ndarray, ks: np.ndarray, weights: np.ndarray, bias: float, window: int, stride: int
) -> np.ndarray:
    """Linear k-mer score of every window (0-based starts j*stride, ``window`` bases long).

    ids: int32 (rows, n) token ids of the k-mer starting at each base (as ``kmer_token_ids``), row r
    for k = ks[r]; weights: float32 (rows, 4**max(ks)), row r holding the 4**ks[r] k-mer weights in
    id order (k-mer id minus 5); [UNK] and [PAD] tokens are not counted. Returns float32 (n_windows,).
    """
    if not isinstance(ids, np.ndarray) or ids.ndim != 2 or ids.dtype != np.int32:
        raise ValueError(f"ids must be a 2-D int32 array, got {getattr(ids, 'dtype', type(ids))}")
    ks = np.ascontiguousarray(ks, dtype=np.int64)
    if ks.ndim != 1 or len(ks) != ids.shape[0]:
        raise ValueError(f"need one k per row of ids ({ids.shape[0]}), got {ks.tolist()}")
    if not isinstance(weights, np.ndarray) or weights.ndim != 2 or weights.shape[0] != len(ks):
        raise ValueError(f"weights must be a 2-D array with one row per k, got shape {getattr(weights, 'shape', None)}")
    if len(ks) and (ks.min() < 1 or weights.shape[1] < 4 ** int(ks.max())):
        raise ValueError(f"weights need 4**k columns for every k in {ks.tolist()}, got {weights.shape[1]}")
    grid = WindowGrid(window, stride)
    out = np.empty(grid.count(ids.shape[1]), dtype=np.float32)
    if len(out):
        _window_linear_scores(np.ascontiguousarray(ids), ks, np.ascontiguousarray(weights, dtype=np.float32),
                              float(bias), grid.window, grid.stride, out)
    return out


@numba.njit(cache=True, nogil=True)
def _window_linear_scores(ids, ks, weights, bias, window, stride, out):
    n = ids.shape[1]
    total = np.full(out.shape[0], bias, dtype=np.float64)
    value = np.zeros(n + 1, dtype=np.float64)  # prefix sums of the weights of valid k-mers
    count = np.zeros(n + 1, dtype=np.int64)  # prefix counts of valid k-mers
    for r in range(ids.shape[0]):
        for i in range(n):
            token = ids[r, i]
            if token >= NUM_SPECIAL:
                value[i + 1] = value[i] + weights[r, token - NUM_SPECIAL]
                count[i + 1] = count[i] + 1
            else:
                value[i + 1] = value[i]
                count[i + 1] = count[i]
        tokens = window - ks[r] + 1  # k-mers that start inside the window and end inside it
        if tokens <= 0:
            continue
        for j in range(out.shape[0]):
            lo = j * stride
            c = count[lo + tokens] - count[lo]
            if c > 0:
                total[j] += (value[lo + tokens] - value[lo]) / c
    for j in range(out.shape[0]):
        out[j] = total[j]
