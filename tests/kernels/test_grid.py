"""WindowGrid: where windows start and where track bins lie, against hand-counted cases."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ielmscan.kernels.grid import WindowGrid, bin_count, bin_edges


@pytest.mark.parametrize(
    "length,window,stride,expected",
    [(0, 5, 1, 0), (4, 5, 1, 0), (5, 5, 1, 1), (6, 5, 1, 2), (10, 5, 5, 2), (14, 5, 5, 2), (15, 5, 5, 3),
     (200, 200, 50, 1), (1000, 200, 50, 17)],
)
def test_count_is_the_number_of_windows_that_fit(length: int, window: int, stride: int, expected: int) -> None:
    grid = WindowGrid(window, stride)
    assert grid.count(length) == expected
    starts = grid.starts(length)
    assert len(starts) == expected
    if expected:
        assert starts[0] == 0 and np.all(np.diff(starts) == stride)
        assert starts[-1] + window <= length < starts[-1] + stride + window  # no further window fits


def test_span_of_consecutive_windows() -> None:
    grid = WindowGrid(200, 50)
    assert [grid.span(n) for n in (0, 1, 2, 17)] == [0, 200, 250, 1000]
    assert grid.span(grid.count(1000)) <= 1000


def test_covering_starts_add_one_window_flush_with_the_end() -> None:
    grid = WindowGrid(200, 50)
    assert grid.covering_starts(200).tolist() == [0]
    assert grid.covering_starts(320).tolist() == [0, 50, 100, 120]
    assert grid.covering_starts(300).tolist() == [0, 50, 100]  # already flush: nothing added
    assert grid.covering_starts(199).tolist() == []


def test_overlapping_windows_are_exactly_those_sharing_a_base_with_the_interval() -> None:
    grid = WindowGrid(200, 50)
    assert grid.overlapping(999, 1040).tolist() == [800, 850, 900, 950, 1000]
    assert grid.overlapping(1000, 1001).tolist() == [850, 900, 950, 1000]  # [800, 1000) ends just before
    assert grid.overlapping(0, 1).tolist() == [-150, -100, -50, 0]  # the grid extended before the stretch
    for start, end in [(0, 1), (37, 38), (150, 420), (999, 1000)]:
        brute = [s for s in range(-500, 2000, 50) if s < end and s + 200 > start]
        assert grid.overlapping(start, end).tolist() == brute
    assert WindowGrid(5, 1).overlapping(10, 12).tolist() == [6, 7, 8, 9, 10, 11]
    with pytest.raises(ValueError):
        grid.overlapping(5, 5)


def test_windows_within_a_chunk_is_at_least_one() -> None:
    grid = WindowGrid(200, 50)
    assert grid.windows_within(1_000_000) == 19_997
    assert grid.windows_within(100) == 1


def test_bins_and_their_edges_clip_the_last_bin() -> None:
    grid = WindowGrid(200, 50)
    assert grid.bins(0) == 0 and grid.bins(50) == 1 and grid.bins(51) == 2
    starts, ends = grid.bin_edges(1000, 1120)
    assert starts.tolist() == [1000, 1050, 1100] and ends.tolist() == [1050, 1100, 1120]
    assert bin_count(120, 50) == 3
    assert [a.tolist() for a in bin_edges(5, 5, 50)] == [[], []]


def test_window_overlaps_bins_from_its_own_to_its_last_base() -> None:
    grid = WindowGrid(200, 50)
    assert [grid.last_bin(j) for j in (0, 1, 5)] == [3, 4, 8]
    assert WindowGrid(10, 25).last_bin(2) == 2  # stride larger than the window: one bin per window


@pytest.mark.parametrize("window,stride", [(0, 1), (5, 0), (-1, 5), (2.5, 1), (True, 1)])
def test_bad_geometry_is_refused(window, stride) -> None:
    with pytest.raises(ValueError):
        WindowGrid(window, stride)
    with pytest.raises(ValueError):
        bin_edges(10, 5, 1)


# -- properties (hypothesis) -----------------------------------------------------------------------

GEOMETRY = st.tuples(st.integers(1, 300), st.integers(1, 300), st.integers(0, 3000))  # window, stride, length


@settings(max_examples=100, deadline=None)
@given(GEOMETRY)
def test_property_windows_fit_and_bins_tile_the_stretch(geometry) -> None:
    window, stride, length = geometry
    grid = WindowGrid(window, stride)
    starts = grid.starts(length)
    assert len(starts) == grid.count(length)
    assert np.all(starts + window <= length)  # every window fits ...
    assert (starts[-1] if len(starts) else -stride) + stride + window > length  # ... and no further one would
    assert grid.span(len(starts)) == (starts[-1] + window if len(starts) else 0)
    bin_starts, bin_ends = grid.bin_edges(0, length)
    assert len(bin_starts) == grid.bins(length)
    # Bins tile [0, length) exactly: no gap, no overlap, none empty.
    assert np.array_equal(bin_starts[1:], bin_ends[:-1]) and np.all(bin_ends > bin_starts)
    assert (bin_starts[0] if len(bin_starts) else 0) == 0 and (bin_ends[-1] if len(bin_ends) else 0) == length
    for j, start in enumerate(starts):
        # Window j starts where bin j starts and ends in bin last_bin(j).
        assert bin_starts[j] == start
        last = grid.last_bin(j)
        assert bin_starts[last] < start + window <= bin_ends[last]
    covering = grid.covering_starts(length)
    if length >= window and stride <= window:  # a stride past the window leaves gaps between windows
        covered = np.zeros(length, dtype=bool)
        for start in covering:
            covered[start : start + window] = True
        assert covered.all() and covering[-1] == length - window


@pytest.mark.parametrize("window, stride", [(200, 50), (200, 60), (50, 50), (7, 3)])
def test_bin_neighbours_are_the_windows_sharing_a_bin(window, stride):
    grid = WindowGrid(window, stride)
    j = 40
    sharing = [i for i in range(100) if i != j and grid.last_bin(i) >= j and i <= grid.last_bin(j)]
    assert sharing == [*range(j - grid.bin_neighbours, j), *range(j + 1, j + grid.bin_neighbours + 1)]
