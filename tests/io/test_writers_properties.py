"""Properties of the text writers on arbitrary bin scores and thresholds (hypothesis).

What a reader of the outputs relies on: no crash; regions sorted, non-overlapping, inside their interval and
made only of bins at or above the threshold, and no such bin left out; narrowPeak and bedGraph lines that say
the same. The bigWig's properties are tested in tests/io/test_bigwig_properties.py; the kernels' own properties
(bins from window scores, runs above a threshold) in tests/kernels/test_reduce.py. Coordinates are 0-based,
half-open throughout.
"""
from __future__ import annotations

import io
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ielmscan.io.writers import regions_from_bins, write_bedgraph, write_narrowpeak
from ielmscan.kernels.grid import bin_edges

# No example database: nothing is left in the working tree; the failing example is printed instead.
FAST = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Bin scores as a scan makes them: probabilities, NaN where no window was scored.
probabilities = st.one_of(st.floats(0.0, 1.0, width=32), st.just(math.nan))
thresholds = st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.5, 1.0]))


@st.composite
def scored_interval(draw):
    """(chromosome length, start, end, stride, bin scores of [start, end))."""
    stride = draw(st.integers(1, 50))
    size = draw(st.integers(1, 3000))
    start = draw(st.integers(0, size - 1))
    end = draw(st.integers(start + 1, size))
    n = -(-(end - start) // stride)
    values = draw(st.lists(probabilities, min_size=n, max_size=n))
    return size, start, end, stride, np.array(values, dtype=np.float32)


@FAST
@given(scored_interval(), thresholds)
def test_regions_and_their_narrowpeak_lines_are_sorted_disjoint_and_above_the_threshold(case, threshold):
    size, start, end, stride, values = case
    scores = values.astype(np.float64)  # the threshold is compared in float64, as the kernel documents
    regions = regions_from_bins("chrA", start, end, stride, values, threshold)
    bins_start, bins_end = bin_edges(start, end, stride)
    previous_end = -1
    for r in regions:
        assert start <= r.start < r.end <= end <= size and r.start > previous_end  # sorted, apart, inside
        previous_end = r.end
        inside = (bins_start >= r.start) & (bins_end <= r.end)
        assert bins_start[inside][0] == r.start and bins_end[inside][-1] == r.end  # on bin edges
        assert (scores[inside] >= threshold).all() and r.max_score == values[inside].max()
        assert 0 <= r.summit < r.end - r.start
    called = np.zeros(len(values), bool)
    for r in regions:
        called |= (bins_start >= r.start) & (bins_end <= r.end)
    assert not (scores[~called] >= threshold).any()  # no bin at or above the threshold is left out

    out = io.StringIO()
    assert write_narrowpeak(out, regions) == len(regions)
    rows = [line.split("\t") for line in out.getvalue().splitlines()]
    assert [(row[0], int(row[1]), int(row[2])) for row in rows] == [(r.chrom, r.start, r.end) for r in regions]
    for row, r in zip(rows, regions):
        assert len(row) == 10 and 0 <= int(row[4]) <= 1000 and row[7] == row[8] == "-1"
        assert int(row[9]) == r.summit and abs(float(row[6]) - r.max_score) <= 5e-5


@FAST
@given(scored_interval())
def test_bedgraph_lines_are_the_finite_bins(case):
    _, start, end, stride, values = case
    out = io.StringIO()
    written = write_bedgraph(out, "chrA", start, end, stride, values)
    rows = [line.split("\t") for line in out.getvalue().splitlines()]
    starts, ends = bin_edges(start, end, stride)
    finite = np.isfinite(values)
    assert written == len(rows) == finite.sum()
    assert [(int(r[1]), int(r[2])) for r in rows] == list(zip(starts[finite].tolist(), ends[finite].tolist()))
    assert all(abs(float(r[3]) - v) <= 5e-5 for r, v in zip(rows, values[finite].tolist()))
