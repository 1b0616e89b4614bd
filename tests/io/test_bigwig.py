"""Tests for ielmscan.io.bigwig: the bigWig writer (header order, NaN gaps, bins out of order, slices), and its
failures to write said in one line."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyBigWig
import pytest

import ielmscan.io.bigwig as bigwig_mod
from ielmscan.errors import OutputError
from ielmscan.io.bigwig import BigWigWriter

# Header order deliberately not sorted: readers must see the FASTA order.
SIZES = [("chr2", 1000), ("chr10", 95), ("chr1", 500)]


def test_bigwig_header_order_entries_and_nan_gaps(tmp_path: Path) -> None:
    path = tmp_path / "t.bw"
    with BigWigWriter(path, SIZES) as bw:
        bw.add_bins("chr2", 100, 160, 20, np.array([0.5, np.nan, 0.25], dtype=np.float32))
        bw.add_bins("chr2", 160, 200, 20, np.array([np.nan, np.nan]))
        bw.add_bins("chr10", 0, 95, 20, np.array([0.1, 0.2, 0.3, 0.4, 1.0]))  # last bin is 15 bases
        bw.add_bins("chr1", 0, 20, 20, np.array([np.inf]))
    reader = pyBigWig.open(str(path))
    try:
        assert list(reader.chroms().items()) == SIZES
        got = reader.intervals("chr2")
        assert [(s, e) for s, e, _ in got] == [(100, 120), (140, 160)]
        assert [v for _, _, v in got] == pytest.approx([0.5, 0.25])
        got = reader.intervals("chr10")
        assert [(s, e) for s, e, _ in got] == [(0, 20), (20, 40), (40, 60), (60, 80), (80, 95)]
        assert [v for _, _, v in got] == pytest.approx([0.1, 0.2, 0.3, 0.4, 1.0])
        assert not reader.intervals("chr1")
        values = reader.values("chr2", 0, 1000)
        assert math.isnan(values[120]) and values[100] == pytest.approx(0.5)
        assert reader.header()["nLevels"] >= 1  # zoom levels kept
        assert reader.header()["maxVal"] == pytest.approx(1.0)
    finally:
        reader.close()


@pytest.mark.parametrize(
    "calls",
    [
        [("chr10", 0, 20), ("chr2", 0, 20)],  # chromosome before an earlier-listed one
        [("chr2", 100, 140), ("chr2", 120, 160)],  # overlap
        [("chr2", 100, 140), ("chr2", 0, 20)],  # going back
    ],
)
def test_bigwig_out_of_order_is_rejected(tmp_path: Path, calls) -> None:
    with BigWigWriter(tmp_path / "t.bw", SIZES) as bw:
        first, second = calls
        bw.add_bins(*first, 20, np.zeros(-(-(first[2] - first[1]) // 20)))
        with pytest.raises(ValueError, match="out of order"):
            bw.add_bins(*second, 20, np.zeros(-(-(second[2] - second[1]) // 20)))


def test_bigwig_bad_bins(tmp_path: Path) -> None:
    with BigWigWriter(tmp_path / "t.bw", SIZES) as bw:
        with pytest.raises(ValueError, match="has 3 bins, got 2 values"):
            bw.add_bins("chr2", 0, 41, 20, np.zeros(2))
        with pytest.raises(ValueError, match="beyond chr10"):
            bw.add_bins("chr10", 80, 100, 20, np.zeros(1))
        with pytest.raises(ValueError, match="chrX"):
            bw.add_bins("chrX", 0, 20, 20, np.zeros(1))


def test_bigwig_unwritable_path_is_an_output_error(tmp_path: Path) -> None:
    # pyBigWig itself crashes the interpreter here.
    with pytest.raises(OutputError, match="missing"):
        BigWigWriter(tmp_path / "missing" / "t.bw", SIZES)


# -- failures to write: named as the user knows the output, errno kept, no C library on the terminal ------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_bigwig_on_a_full_disk_is_an_output_error_with_libbigwig_kept_quiet(tmp_path: Path, capfd) -> None:
    temp = tmp_path / ".run.bw.tmp-1-0123abcd"
    temp.symlink_to("/dev/full")  # pyBigWig fails there as on a full disk
    with pytest.raises(OutputError, match=r"^cannot write bigWig .*run\.bw: No space left on device$"):
        with BigWigWriter(temp, SIZES) as bw:
            bw.add_bins("chr2", 0, 1000, 20, np.ones(50))
    assert capfd.readouterr().err == ""  # no "[bwClose] There was an error ..." on the terminal


# A bigWig that fills the disk part-way (a file-size limit stands in for the disk): every write failure must
# come back as an OutputError. libBigWig used to overrun its buffer on such a failure inside a call: a crash.
_FILLS_UP = """
import resource, signal, sys
import numpy as np
from ielmscan.io.bigwig import BigWigWriter
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    with BigWigWriter(sys.argv[1], [("chr1", 10_000_000), ("chr2", 1000)]) as bw:
        bw.add_bins("chr1", 0, 10_000_000, 50, np.random.default_rng(0).random(200_000))
        bw.add_bins("chr2", 0, 1000, 50, np.full(20, 0.5))
    print("complete")
except Exception as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE as a full disk")
@pytest.mark.parametrize("limit", [2_000, 30_000, 250_000, 700_000])
def test_a_bigwig_that_fills_the_disk_part_way_fails_cleanly(tmp_path: Path, limit: int) -> None:
    path = tmp_path / "t.bw"
    proc = subprocess.run([sys.executable, "-c", _FILLS_UP, str(path), str(limit)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]  # not killed by SIGSEGV
    assert proc.stdout.strip() == f"OutputError cannot write bigWig {path}: File too large"
    assert proc.stderr == ""


def test_a_bigwig_written_in_slices_reads_back_whole(tmp_path: Path) -> None:
    # More bins than one call takes: slices, the single entries between them, a short last bin.
    n = bigwig_mod._ENTRIES_PER_CALL * 2 + 7
    values = np.random.default_rng(1).random(n)
    values[5] = np.nan
    end = (n - 1) * 20 + 13
    with BigWigWriter(tmp_path / "t.bw", [("c", end)]) as bw:
        bw.add_bins("c", 0, end, 20, values)
    with pyBigWig.open(str(tmp_path / "t.bw")) as reader:
        got = reader.intervals("c")
    keep = np.isfinite(values)
    starts = np.arange(n) * 20
    assert [s for s, _, _ in got] == starts[keep].tolist()
    assert [e for _, e, _ in got] == np.minimum(starts + 20, end)[keep].tolist()
    assert np.allclose([v for _, _, v in got], values[keep], atol=1e-6)

