"""ielmscan.kernels.reduce against the references in tests/naive.py."""
from __future__ import annotations

import textwrap

import tests.naive as naive
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ielmscan.kernels.grid import WindowGrid
from ielmscan.kernels.reduce import bin_window_scores, call_regions

nan = np.nan
SEEDS = [0, 1, 2, 3, 4]
# (window, stride): overlapping, not a multiple, equal, gapped, single base
WINDOW_STRIDES = [(4, 2), (5, 2), (7, 3), (3, 3), (1, 1), (2, 5), (200, 50), (10, 1)]


def random_windows(seed: int, window: int, stride: int) -> tuple[np.ndarray, int]:
    """Random scores (some NaN runs) for a random number of windows, and a length they fit in."""
    rng = np.random.default_rng(seed)
    n_windows = int(rng.integers(0, 60))
    scores = rng.random(n_windows).astype(np.float32)
    for _ in range(rng.integers(0, 4)):
        a = rng.integers(0, n_windows + 1)
        scores[a : a + rng.integers(1, 8)] = nan
    minimum = (n_windows - 1) * stride + window if n_windows else 0
    return scores, minimum + int(rng.integers(0, 2 * stride + 1))


# ---------------------------------------------------------------- bin_window_scores


def test_bin_window_scores_worked_example():
    # Windows [0,4) [2,6) [4,8) in length 9; bins [0,2) [2,4) [4,6) [6,8) [8,9).
    got = bin_window_scores(np.array([1, 2, 3], dtype=np.float32), window=4, stride=2, length=9)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [1, 1.5, 2.5, 3, nan])


def test_bin_window_scores_window_not_multiple_of_stride():
    # Windows [0,5) [2,7) [4,9); bins [0,2) [2,4) [4,6) [6,8) [8,9): the last base of each window
    # spills into the next-but-one bin.
    got = bin_window_scores(np.array([1, 2, 4], dtype=np.float64), window=5, stride=2, length=9)
    np.testing.assert_allclose(got, [1, 1.5, 7 / 3, 3, 4])


def test_bin_window_scores_stride_equals_window():
    scores = np.array([0.1, nan, 0.7, 0.2], dtype=np.float32)
    got = bin_window_scores(scores, window=5, stride=5, length=23)
    np.testing.assert_array_equal(got, [scores[0], nan, scores[2], scores[3], nan])


def test_bin_window_scores_skips_nan_windows():
    scores = np.array([nan, 0.5, nan, nan, nan], dtype=np.float32)
    # Windows [0,3) .. [4,7), stride 1: only [1,4) has a score.
    np.testing.assert_array_equal(bin_window_scores(scores, 3, 1, 7), [nan, 0.5, 0.5, 0.5, nan, nan, nan])


def test_bin_window_scores_accumulates_in_float64():
    # 1e8 + 1 … in float32 a running sum would lose the small scores entirely.
    scores = np.array([1e8] + [1.0] * 20 + [-1e8], dtype=np.float32)
    got = bin_window_scores(scores, window=22, stride=1, length=43)
    assert got[21] == pytest.approx(20 / 22)


@pytest.mark.parametrize(
    "scores, window, stride, length, n_bins",
    [
        (np.array([], dtype=np.float32), 4, 2, 0, 0),
        (np.array([], dtype=np.float32), 4, 2, 9, 5),
        (np.array([0.3], dtype=np.float32), 1, 1, 1, 1),
        (np.array([0.3], dtype=np.float32), 10, 3, 10, 4),
    ],
)
def test_bin_window_scores_edge_cases(scores, window, stride, length, n_bins):
    got = bin_window_scores(scores, window, stride, length)
    assert got.shape == (n_bins,)
    np.testing.assert_array_equal(got, naive.bin_window_scores(scores, window, stride, length))


@pytest.mark.parametrize("window, stride", WINDOW_STRIDES)
@pytest.mark.parametrize("seed", SEEDS)
def test_bin_window_scores_matches_reference(seed, window, stride):
    scores, length = random_windows(seed, window, stride)
    got = bin_window_scores(scores, window, stride, length)
    expected = naive.bin_window_scores(scores, window, stride, length)
    assert got.shape == (-(-length // stride),)
    np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))


@pytest.mark.parametrize(
    "scores, window, stride, length, match",
    [
        (np.zeros(3, dtype=np.float32), 4, 2, 7, "end at 8, past length 7"),  # one window too many
        (np.zeros(1, dtype=np.float32), 4, 2, 3, "past length 3"),
        (np.zeros(3, dtype=np.float32), 0, 2, 9, "window must be ≥ 1, got 0"),
        (np.zeros(3, dtype=np.float32), 4, 0, 9, "stride must be ≥ 1, got 0"),
        (np.zeros(0, dtype=np.float32), 4, 2, -1, "length must be ≥ 0, got -1"),
        (np.zeros(3, dtype=np.int32), 4, 2, 9, "int32"),
        (np.zeros((3, 1), dtype=np.float32), 4, 2, 9, r"\(3, 1\)"),
        ([0.1, 0.2], 4, 2, 9, "list"),
        (np.zeros(3, dtype=np.float32), 4.0, 2, 9, "4.0"),
    ],
)
def test_bin_window_scores_rejects_bad_input(scores, window, stride, length, match):
    with pytest.raises(ValueError, match=match):
        bin_window_scores(scores, window, stride, length)


# ---------------------------------------------------------------- call_regions


def assert_regions_equal(got, expected):
    for g, e, dtype in zip(got, expected, (np.int64, np.int64, np.float32, np.int64)):
        assert g.dtype == dtype
        np.testing.assert_array_equal(g, e)


def test_call_regions_worked_example():
    scores = np.array([0.1, 0.6, 0.9, 0.9, 0.2, nan, 0.7, 0.7, nan, 0.8, 0.5], dtype=np.float32)
    got = call_regions(scores, 0.5)
    assert_regions_equal(
        got,
        (
            [1, 6, 9],
            [4, 8, 11],
            np.array([0.9, 0.7, 0.8], dtype=np.float32),
            [2, 6, 9],  # first bin of the run that reaches the maximum
        ),
    )


@pytest.mark.parametrize(
    "scores, threshold, expected",
    [
        ([], 0.5, ([], [], [], [])),
        ([nan, nan], 0.5, ([], [], [], [])),
        ([0.1, 0.2], 0.5, ([], [], [], [])),
        ([0.5], 0.5, ([0], [1], [0.5], [0])),  # equal to the threshold passes
        ([0.6, 0.9, 0.7], 0.5, ([0], [3], [0.9], [1])),  # one run covering everything
        ([0.6, nan, 0.7], 0.5, ([0, 2], [1, 3], [0.6, 0.7], [0, 2])),  # NaN breaks a run
        ([0.6, 0.4, 0.6], -np.inf, ([0], [3], [0.6], [0])),
        ([0.3, 0.7, 0.7, 0.7], 0.5, ([1], [4], [0.7], [1])),  # ties: first one
    ],
)
def test_call_regions_edge_cases(scores, threshold, expected):
    scores = np.array(scores, dtype=np.float32)
    expected = tuple(np.array(e, dtype=d) for e, d in zip(expected, (np.int64, np.int64, np.float32, np.int64)))
    assert_regions_equal(call_regions(scores, threshold), expected)
    assert_regions_equal(naive.call_regions(scores, threshold), expected)


def test_call_regions_compares_in_float64():
    value = np.float32(0.1)  # 0.10000000149…, so it passes a threshold of exactly 0.1
    assert call_regions(np.array([value], dtype=np.float32), 0.1)[0].tolist() == [0]
    # A threshold a hair above float32(0.2) rounds to float32(0.2) itself; in float64 it must still fail.
    value = np.float32(0.2)
    threshold = float(value) + 1e-12
    assert np.float32(threshold) == value
    assert call_regions(np.array([value], dtype=np.float32), threshold)[0].size == 0


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("seed", SEEDS)
def test_call_regions_matches_reference(seed, threshold):
    rng = np.random.default_rng(seed)
    # Rounded scores make ties and values equal to the threshold common.
    scores = np.round(rng.random(int(rng.integers(0, 300))), 1).astype(np.float32)
    scores[rng.random(scores.size) < 0.05] = nan
    assert_regions_equal(call_regions(scores, threshold), naive.call_regions(scores, threshold))


@pytest.mark.parametrize(
    "scores, threshold, match",
    [
        (np.zeros(3, dtype=np.float32), nan, "NaN"),
        (np.zeros(3, dtype=np.float32), "0.5", "'0.5'"),
        (np.zeros(3, dtype=np.int64), 0.5, "int64"),
        (np.zeros((3, 2), dtype=np.float32), 0.5, r"\(3, 2\)"),
    ],
)
def test_call_regions_rejects_bad_input(scores, threshold, match):
    with pytest.raises(ValueError, match=match):
        call_regions(scores, threshold)


# ---------------------------------------------------------------- pure-Python path

_NO_JIT_SCRIPT = textwrap.dedent(
    """
    import sys
    import numba
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    import tests.naive as naive
    from ielmscan.kernels import reduce as rd
    from tests.kernels.test_reduce import SEEDS, WINDOW_STRIDES, random_windows

    assert numba.config.DISABLE_JIT
    assert not hasattr(rd._bin_window_scores, "signatures"), "kernel is still a numba dispatcher"
    for seed in SEEDS:
        for window, stride in WINDOW_STRIDES:
            scores, length = random_windows(seed, window, stride)
            got = rd.bin_window_scores(scores, window, stride, length)
            np.testing.assert_allclose(
                got, naive.bin_window_scores(scores, window, stride, length), rtol=1e-6, equal_nan=True
            )
            bins = np.round(got, 1)
            for g, e in zip(rd.call_regions(bins, 0.5), naive.call_regions(bins, 0.5)):
                np.testing.assert_array_equal(g, e)
    print("no-jit ok")
    """
)


def test_kernels_match_reference_without_jit():
    assert "no-jit ok" in naive.run_without_jit(_NO_JIT_SCRIPT)


# ---------------------------------------------------------------- properties (hypothesis)


@st.composite
def scored_stretch(draw):
    """Window, stride, a score per window (NaN: skipped) and a stretch length the windows fit in."""
    window, stride = draw(st.integers(1, 60)), draw(st.integers(1, 60))
    scores = draw(st.lists(st.one_of(st.floats(0, 1, width=32), st.just(nan)), max_size=40))
    span = WindowGrid(window, stride).span(len(scores))
    return window, stride, np.array(scores, dtype=np.float32), span + draw(st.integers(0, 2 * stride))


@settings(max_examples=80, deadline=None)
@given(scored_stretch())
def test_property_bins_cover_exactly_the_scored_windows(case):
    window, stride, scores, length = case
    bins = bin_window_scores(scores, window, stride, length)
    grid = WindowGrid(window, stride)
    assert len(bins) == grid.bins(length)
    # A bin has a value exactly when a scored (non-NaN) window shares a base with it.
    covered = np.zeros(len(bins), dtype=bool)
    for j, score in enumerate(scores):
        if not np.isnan(score):
            covered[j : grid.last_bin(j) + 1] = True
    assert np.array_equal(~np.isnan(bins), covered)
    np.testing.assert_allclose(bins, naive.bin_window_scores(scores, window, stride, length), rtol=1e-6)
    # Each bin's value is a mean of scores: never outside their range.
    if covered.any():
        finite = scores[~np.isnan(scores)]
        assert finite.min() - 1e-6 <= np.nanmin(bins) and np.nanmax(bins) <= finite.max() + 1e-6


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1, width=32), st.just(nan)), max_size=60), st.floats(0, 1))
def test_property_regions_are_the_maximal_runs_at_or_above_the_threshold(scores, threshold):
    bins = np.array(scores, dtype=np.float32)
    starts, ends, maxima, summits = call_regions(bins, threshold)
    passing = np.zeros(len(bins), dtype=bool)
    for start, end, best, summit in zip(starts, ends, maxima, summits):
        assert start < end and start <= summit < end and bins[summit] == best == np.max(bins[start:end])
        passing[start:end] = True
    assert np.array_equal(passing, bins.astype(np.float64) >= threshold)  # NaN never passes
    assert np.all(starts[1:] > ends[:-1])  # runs never touch: each is maximal
