"""Intervals as sorted NumPy arrays, a pair (starts, ends) per chromosome: grouped and merged, and which of many
``[start, end)`` overlap or lie inside the merged ones (one ``searchsorted`` each). 0-based, half-open."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ielmscan.io.intervals import Interval

__all__ = ["NONE", "Merged", "by_chrom", "inside", "merge", "merge_sorted", "overlaps"]

Merged = tuple[np.ndarray, np.ndarray]  # starts and ends of sorted, non-overlapping intervals of one chromosome


def by_chrom(intervals: Sequence[Interval]) -> dict[str, Merged]:
    """Starts and ends of the intervals of each chromosome, sorted by start (not merged)."""
    groups: dict[str, list[tuple[int, int]]] = {}
    for iv in intervals:
        groups.setdefault(iv.chrom, []).append((iv.start, iv.end))
    out: dict[str, Merged] = {}
    for chrom, pairs in groups.items():
        array = np.array(pairs, dtype=np.int64)
        array = array[np.argsort(array[:, 0], kind="stable")]
        out[chrom] = (array[:, 0], array[:, 1])
    return out


def merge_sorted(starts: np.ndarray, ends: np.ndarray) -> Merged:
    """Intervals sorted by start, merged where they overlap or touch."""
    if not len(starts):
        return starts, ends
    reach = np.maximum.accumulate(ends)
    new = np.r_[True, starts[1:] > reach[:-1]]
    return starts[new], reach[np.r_[np.flatnonzero(new)[1:] - 1, len(starts) - 1]]


def merge(intervals: Sequence[Interval]) -> dict[str, Merged]:
    """Intervals per chromosome, sorted and merged where they overlap or touch."""
    return {chrom: merge_sorted(*pair) for chrom, pair in by_chrom(intervals).items()}


NONE: Merged = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))


def overlaps(starts: np.ndarray, ends: np.ndarray, merged: Merged) -> np.ndarray:
    """Whether each ``[start, end)`` shares at least one base with a merged interval."""
    m_starts, m_ends = merged
    last = np.searchsorted(m_starts, ends, side="left") - 1  # the last interval starting before end
    return (last >= 0) & (m_ends[np.maximum(last, 0)] > starts) if len(m_starts) else np.zeros(len(starts), bool)


def inside(starts: np.ndarray, ends: np.ndarray, merged: Merged) -> np.ndarray:
    """Whether each ``[start, end)`` lies inside one merged interval."""
    m_starts, m_ends = merged
    last = np.searchsorted(m_starts, starts, side="right") - 1  # the last interval starting at or before start
    return (last >= 0) & (m_ends[np.maximum(last, 0)] >= ends) if len(m_starts) else np.zeros(len(starts), bool)
