"""Properties of the bigWig writer on arbitrary bin scores and chromosome sets (hypothesis).

What a reader of the track relies on: a bigWig that reads back as the bins written, in the header's order, its
entries covering exactly the scored bins. Coordinates are 0-based, half-open throughout.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pyBigWig
from hypothesis import given, settings
from hypothesis import strategies as st

from ielmscan.io.bigwig import BigWigWriter
from ielmscan.kernels.grid import bin_edges

from tests.io.test_writers_properties import FAST, probabilities


@st.composite
def genome_track(draw):
    """Chromosomes in FASTA order (not sorted) and, per chromosome, pieces [a, b) of one scanned interval cut at
    bin edges (as chunks are), each with its bin scores, NaN and infinity included."""
    names = draw(st.lists(st.from_regex(r"[A-Za-z0-9_]{1,8}", fullmatch=True), min_size=1, max_size=4, unique=True))
    stride = draw(st.integers(1, 50))
    chroms, pieces = [], []
    for name in names:
        size = draw(st.integers(1, 2000))
        chroms.append((name, size))
        if not draw(st.booleans()):
            continue  # a chromosome without bins (too short, or all N)
        start = draw(st.integers(0, size - 1))
        end = draw(st.integers(start + 1, size))
        cuts = sorted(draw(st.sets(st.integers(1, max(1, -(-(end - start) // stride) - 1)), max_size=3)))
        edges = [start, *(start + c * stride for c in cuts if start + c * stride < end), end]
        for a, b in zip(edges, edges[1:]):
            n = -(-(b - a) // stride)
            values = draw(st.lists(st.one_of(probabilities, st.just(math.inf)), min_size=n, max_size=n))
            pieces.append((name, a, b, np.array(values, dtype=np.float32)))
    return chroms, stride, pieces


@settings(FAST, max_examples=40)
@given(genome_track())
def test_bigwig_reads_back_as_the_bins_written(track):
    chroms, stride, pieces = track
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.bw"
        with BigWigWriter(path, chroms) as bw:
            for name, a, b, values in pieces:
                bw.add_bins(name, a, b, stride, values)
        reader = pyBigWig.open(str(path))
        try:
            assert list(reader.chroms().items()) == chroms  # the FASTA's order, not sorted
            for name, _ in chroms:
                expected = []
                for chrom, a, b, values in pieces:
                    if chrom == name:
                        starts, ends = bin_edges(a, b, stride)
                        keep = np.isfinite(values)
                        expected += zip(starts[keep].tolist(), ends[keep].tolist(), values[keep].tolist())
                got = reader.intervals(name) or []
                assert [(s, e) for s, e, _ in got] == [(s, e) for s, e, _ in expected]
                assert [np.float32(v) for _, _, v in got] == [np.float32(v) for _, _, v in expected]  # exact
        finally:
            reader.close()
