"""Window geometry: the one place that says where windows start and where track bins lie.

Window j of a stretch covers the 0-based half-open interval ``[j*stride, j*stride + window)``; a stretch
of ``length`` bases holds every window that fits inside it. Track bins are the non-overlapping
``stride``-wide pieces ``[b*stride, (b+1)*stride)`` of the stretch, the last one clipped at its end.
Window j starts exactly where bin j starts. Everything here is plain integer arithmetic (no Numba), so
the kernels, the scanner, the writers and the tests all ask the same object.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import check_int as _check_int


@dataclass(frozen=True)
class WindowGrid:
    """Windows of ``window`` bases starting every ``stride`` bases; bins of ``stride`` bases (0-based, half-open)."""

    window: int
    stride: int

    def __post_init__(self) -> None:
        _check_int(self.window, "window", 1)
        _check_int(self.stride, "stride", 1)

    def count(self, length: int) -> int:
        """Number of windows that fit in ``length`` bases (0 when ``length < window``)."""
        return (length - self.window) // self.stride + 1 if length >= self.window else 0

    def span(self, n_windows: int) -> int:
        """Bases from the first window's start to the last one's end, for ``n_windows`` consecutive windows."""
        return (n_windows - 1) * self.stride + self.window if n_windows > 0 else 0

    def starts(self, length: int) -> np.ndarray:
        """0-based starts of the windows of ``length`` bases (int64)."""
        return np.arange(self.count(length), dtype=np.int64) * self.stride

    def covering_starts(self, length: int) -> np.ndarray:
        """Window starts every ``stride`` bases plus one window flush with the end, so every base is covered.

        Used for single records (``predict``), where the last bases matter as much as the first.
        """
        starts = self.starts(length)
        if len(starts) and starts[-1] != length - self.window:
            starts = np.append(starts, length - self.window)
        return starts

    def overlapping(self, start: int, end: int) -> np.ndarray:
        """Starts of the windows that overlap ``[start, end)`` (0-based, half-open, ``start < end``; int64).

        The grid is taken as extending past both ends of the stretch: a start may be negative and a window
        may end beyond the stretch, so that a caller (variant scoring) sees which covering windows stick out.
        """
        if end <= start:
            raise ValueError(f"need start < end, got [{start}, {end})")
        # Window j overlaps when j*stride + window > start and j*stride < end.
        first, last = (start - self.window) // self.stride + 1, (end - 1) // self.stride
        return np.arange(first, last + 1, dtype=np.int64) * self.stride

    def windows_within(self, bases: int) -> int:
        """Windows per piece of ``bases`` bases, at least one (the chunk size of a scan, in windows)."""
        return max(1, self.count(bases))

    def bins(self, length: int) -> int:
        """Number of stride bins of ``length`` bases: ceil(length / stride)."""
        return bin_count(length, self.stride)

    @property
    def bin_neighbours(self) -> int:
        """Windows on each side of a window that share a bin with it: ceil(window / stride) - 1."""
        return -(-self.window // self.stride) - 1

    def last_bin(self, j: int) -> int:
        """Index of the bin holding window j's last base (window j overlaps bins j..last_bin(j))."""
        return (j * self.stride + self.window - 1) // self.stride

    def bin_edges(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Starts and ends of the bins of ``[start, end)`` in genome coordinates; the last is clipped at ``end``."""
        return bin_edges(start, end, self.stride)


def bin_count(length: int, stride: int) -> int:
    """Number of ``stride``-wide bins of ``length`` bases: ceil(length / stride)."""
    stride = _check_int(stride, "stride", 1)
    return -(-length // stride)


def bin_edges(start: int, end: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the ``stride``-wide bins of ``[start, end)``; the last one is clipped at ``end``.

    Bins depend on the stride alone, so track writers, which know no window, ask here too.
    """
    if start < 0 or end < start:
        raise ValueError(f"need 0 <= start <= end, got [{start}, {end})")
    starts = start + np.arange(bin_count(end - start, stride), dtype=np.int64) * stride
    return starts, np.minimum(starts + stride, end)
