"""Intervals as sorted NumPy arrays: grouping, merging (overlapping or touching), overlap and containment."""
from __future__ import annotations

import numpy as np

from ielmscan.io.intervals import Interval
from ielmscan.learn.merged_intervals import NONE, by_chrom, inside, merge, merge_sorted, overlaps


def arrays(*pairs: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([s for s, _ in pairs], dtype=np.int64), np.array([e for _, e in pairs], dtype=np.int64)


def test_sorted_intervals_merge_where_they_overlap_or_touch():
    starts, ends = merge_sorted(*arrays((0, 5), (5, 8), (10, 12), (11, 11), (20, 25)))
    assert (starts.tolist(), ends.tolist()) == ([0, 10, 20], [8, 12, 25])
    starts, ends = merge_sorted(*arrays((0, 10), (2, 4), (6, 9), (11, 12)))  # nested in the first one
    assert (starts.tolist(), ends.tolist()) == ([0, 11], [10, 12])
    starts, ends = merge_sorted(*arrays())
    assert len(starts) == len(ends) == 0


def test_intervals_are_grouped_by_chromosome_sorted_and_merged():
    intervals = [Interval("chr2", 50, 60), Interval("chr1", 30, 40), Interval("chr1", 0, 10), Interval("chr1", 5, 20)]
    grouped = by_chrom(intervals)
    assert {c: (s.tolist(), e.tolist()) for c, (s, e) in grouped.items()} == {
        "chr2": ([50], [60]), "chr1": ([0, 5, 30], [10, 20, 40])}  # sorted by start, not merged
    merged = merge(intervals)
    assert {c: (s.tolist(), e.tolist()) for c, (s, e) in merged.items()} == {
        "chr2": ([50], [60]), "chr1": ([0, 30], [20, 40])}
    assert merge([]) == {}


def test_overlap_needs_one_shared_base_and_inside_a_whole_merged_interval():
    merged = arrays((10, 20), (30, 40))
    queries = arrays((0, 10), (5, 11), (15, 16), (19, 21), (20, 30), (25, 35), (10, 20), (30, 40), (35, 41), (40, 50))
    assert overlaps(*queries, merged).tolist() == [False, True, True, True, False, True, True, True, True, False]
    assert inside(*queries, merged).tolist() == [False, False, True, False, False, False, True, True, False, False]
    assert not overlaps(*queries, NONE).any() and not inside(*queries, NONE).any()
