"""Slow, obviously-correct references for the kernels (one per kernel), in plain Python/NumPy.

Tests compare every kernel against these on edge cases and seeded random data. Coordinates are
0-based half-open, as in the kernels.
"""
from __future__ import annotations

import math

import numpy as np

_CODE = {"A": 0, "C": 1, "G": 2, "T": 3}
_TEXT_COMPLEMENT = {
    "A": "T", "T": "A", "C": "G", "G": "C", "R": "Y", "Y": "R", "K": "M", "M": "K",
    "B": "V", "V": "B", "D": "H", "H": "D", "S": "S", "W": "W", "N": "N",
}  # fmt: skip


def encode_bases(seq: bytes) -> np.ndarray:
    """Code of every byte: A/C/G/T in either case → 0-3, any other byte → 4."""
    return np.array([_CODE.get(chr(b).upper(), 4) if b < 128 else 4 for b in seq], dtype=np.uint8)


def kmer_token_id(kmer: list[int]) -> int:
    """Token id of one k-mer given as codes: 5 + base-4 number (first base most significant), 1 if invalid."""
    if any(c >= 4 for c in kmer):
        return 1
    index = 0
    for c in kmer:
        index = index * 4 + c
    return 5 + index


def kmer_token_ids(codes: np.ndarray, ks: list[int]) -> np.ndarray:
    """Row r, column i: id of codes[i:i+k] for k = ks[r]; 0 ([PAD]) where i + k > n."""
    n = len(codes)
    out = np.zeros((len(ks), n), dtype=np.int32)
    for r, k in enumerate(ks):
        for i in range(n):
            out[r, i] = 0 if i + k > n else kmer_token_id([int(c) for c in codes[i : i + k]])
    return out


def kmer_token_ids_from_text(seq: str, k: int) -> list[int]:
    """The string path: slice k-mer strings, upper-case them, look them up; [PAD] for the last k-1."""
    ids = []
    for i in range(len(seq)):
        kmer = seq[i : i + k].upper()
        if len(kmer) < k:
            ids.append(0)
        elif all(ch in "ACGT" for ch in kmer):
            ids.append(5 + int(kmer.translate(str.maketrans("ACGT", "0123")), 4))
        else:
            ids.append(1)
    return ids


def window_invalid_fraction(codes: np.ndarray, window: int, stride: int) -> np.ndarray:
    """Fraction of codes ≥ 4 in each full window [j*stride, j*stride + window)."""
    out = []
    start = 0
    while start + window <= len(codes):
        out.append(np.count_nonzero(codes[start : start + window] >= 4) / window)
        start += stride
    return np.array(out, dtype=np.float32)


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    """Reversed codes with 0↔3, 1↔2 and everything else → 4."""
    return np.array([3 - int(c) if c < 4 else 4 for c in reversed(codes)], dtype=np.uint8)


def reverse_complement(seq: bytes) -> bytes:
    """Reverse complement keeping case; IUPAC codes complemented; other bytes unchanged."""
    out = []
    for b in reversed(seq):
        ch = chr(b)
        if b < 128 and ch.upper() in _TEXT_COMPLEMENT:
            comp = _TEXT_COMPLEMENT[ch.upper()]
            ch = comp.lower() if ch.islower() else comp
        out.append(ord(ch))
    return bytes(out)


def bin_window_scores(scores: np.ndarray, window: int, stride: int, length: int) -> np.ndarray:
    """Per bin [b*stride, min((b+1)*stride, length)): mean of non-NaN scores of overlapping windows."""
    n_bins = math.ceil(length / stride)
    out = np.full(n_bins, np.nan, dtype=np.float32)
    for b in range(n_bins):
        bin_start, bin_end = b * stride, min((b + 1) * stride, length)
        hits = [
            float(s)
            for j, s in enumerate(scores)
            # Two half-open intervals overlap iff each starts before the other ends.
            if j * stride < bin_end and bin_start < j * stride + window and not math.isnan(s)
        ]
        if hits:
            out[b] = sum(hits) / len(hits)
    return out


def call_regions(
    bin_scores: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Maximal runs of bins with float(score) ≥ threshold: (start, end excl., max, first argmax)."""
    passing = [not math.isnan(s) and float(s) >= threshold for s in bin_scores]
    runs = []
    b = 0
    while b < len(passing):
        if passing[b]:
            e = b
            while e < len(passing) and passing[e]:
                e += 1
            values = [float(s) for s in bin_scores[b:e]]
            best = max(values)
            runs.append((b, e, best, b + values.index(best)))
            b = e
        else:
            b += 1
    return (
        np.array([r[0] for r in runs], dtype=np.int64),
        np.array([r[1] for r in runs], dtype=np.int64),
        np.array([r[2] for r in runs], dtype=np.float32),
        np.array([r[3] for r in runs], dtype=np.int64),
    )


def run_without_jit(script: str) -> str:
    """Run ``script`` (with the repository root as argv[1], so ``tests.*`` imports) with Numba's JIT off; return stdout."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run([sys.executable, "-c", script, str(Path(__file__).resolve().parents[1])], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def window_linear_scores(ids: np.ndarray, ks, weights: np.ndarray, bias: float, window: int, stride: int) -> np.ndarray:
    """Per window: bias + for each k the mean weight of its valid k-mers (ids >= 5)."""
    n = ids.shape[1]
    n_windows = (n - window) // stride + 1 if n >= window else 0
    out = []
    for j in range(n_windows):
        score = bias
        for r, k in enumerate(ks):
            tokens = ids[r, j * stride : j * stride + window - k + 1]
            valid = [weights[r, t - 5] for t in tokens if t >= 5]
            if valid:
                score += sum(valid) / len(valid)
        out.append(score)
    return np.array(out, dtype=np.float64)
