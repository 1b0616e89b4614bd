"""Tests for ielmscan.io.intervals: interval selection (chromosomes, BED regions), the blacklist and chunking."""
from __future__ import annotations

import gzip
import os
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from ielmscan.errors import GenomeError
from ielmscan.io.genome import Genome
from ielmscan.kernels.grid import WindowGrid
from ielmscan.io.intervals import Blacklist, Chunk, Interval, iter_chunks, open_text, read_bed, select_intervals

from tests.io.test_genome import random_seq, write_fasta


# -- interval selection ----------------------------------------------------------------------------


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Genome]:
    path = write_fasta(tmp_path / "s.fa", [("c2", "A" * 100), ("c1", "C" * 50), ("c3", "G" * 30)])
    with Genome.open(path) as g:
        yield g


def test_default_selection_is_every_chromosome_whole_in_fasta_order(small: Genome) -> None:
    assert select_intervals(small) == [Interval("c2", 0, 100), Interval("c1", 0, 50), Interval("c3", 0, 30)]


def test_chroms_and_exclude(small: Genome) -> None:
    # FASTA order wins over the order the names are given in.
    assert select_intervals(small, chroms=["c3", "c2"]) == [Interval("c2", 0, 100), Interval("c3", 0, 30)]
    assert select_intervals(small, exclude=["c1"]) == [Interval("c2", 0, 100), Interval("c3", 0, 30)]
    assert select_intervals(small, chroms=["c1"], exclude=["c1"]) == []
    assert select_intervals(small, chroms=[]) == select_intervals(small)  # empty: no restriction
    with pytest.raises(GenomeError, match="'chrX' is not in .*s.fa.*c2, c1, c3"):
        select_intervals(small, chroms=["c1", "chrX"])
    with pytest.raises(GenomeError, match="'chrY'"):
        select_intervals(small, exclude=["chrY"])


def test_regions_bed_merged_sorted_and_intersected(small: Genome, tmp_path: Path) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text(
        "track name=x\n"
        "browser position c1:1-10\n"
        "# comment\n"
        "\n"
        "c3\t5\t10\n"
        "c1\t40\t50\tname\t0\t+\n"
        "c2\t10\t20\n"
        "c2\t15\t30\n"  # overlaps the previous one
        "c2\t30\t35\n"  # touches it: merged too
        "c2\t50\t60\n"
        "c2\t0\t5\n"
        "c1\t7\t7\n"  # empty: dropped
        "c1\t0\t3\n"
    )
    assert select_intervals(small, regions_bed=bed) == [
        Interval("c2", 0, 5),
        Interval("c2", 10, 35),
        Interval("c2", 50, 60),
        Interval("c1", 0, 3),
        Interval("c1", 40, 50),
        Interval("c3", 5, 10),
    ]
    assert select_intervals(small, exclude=["c2"], regions_bed=bed) == [
        Interval("c1", 0, 3),
        Interval("c1", 40, 50),
        Interval("c3", 5, 10),
    ]
    assert select_intervals(small, chroms=["c3"], regions_bed=bed) == [Interval("c3", 5, 10)]


@pytest.mark.parametrize(
    "line,message",
    [
        ("c1\t5", "r.bed:2: expected at least 3 columns"),
        ("c1\tfive\t9", "r.bed:2: start and end must be whole numbers"),
        ("c1\t9\t5", r"r.bed:2: need 0 <= start <= end"),
        ("c1\t-1\t5", r"r.bed:2: need 0 <= start <= end"),
        ("c1\t10\t51", r"r.bed:2: end 51 is beyond the end of c1 \(length 50\)"),
        ("chr1\t10\t20", "r.bed:2: sequence 'chr1' is not in"),
    ],
)
def test_bad_regions_bed_names_file_and_line(small: Genome, tmp_path: Path, line: str, message: str) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text(f"c2\t0\t10\n{line}\n")
    with pytest.raises(GenomeError, match=message):
        select_intervals(small, regions_bed=bed)


def test_missing_regions_bed(small: Genome, tmp_path: Path) -> None:
    with pytest.raises(GenomeError, match="missing.bed"):
        select_intervals(small, regions_bed=tmp_path / "missing.bed")


# -- windows and chunks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "interval,window,stride,chunk_windows",
    [
        (Interval("c", 0, 1000), 200, 50, 4),
        (Interval("c", 0, 1000), 200, 50, 17),  # exactly one chunk
        (Interval("c", 0, 1000), 200, 50, 1000),  # chunk bigger than needed
        (Interval("c", 13, 997), 7, 3, 5),  # interval not at 0, last window short of the end
        (Interval("c", 0, 1000), 10, 25, 3),  # stride larger than window
        (Interval("c", 100, 300), 200, 1, 1),  # exactly one window
        (Interval("c", 0, 1000), 1, 1, 64),
    ],
)
def test_iter_chunks_covers_each_window_once_and_reassembles(
    tmp_path: Path, interval: Interval, window: int, stride: int, chunk_windows: int
) -> None:
    seq = random_seq(random.Random(3), 1000)
    with Genome.open(write_fasta(tmp_path / "c.fa", [("c", seq)], width=61)) as g:
        chunks = list(iter_chunks(g, interval, WindowGrid(window, stride), chunk_windows))
    starts: list[int] = []
    for chunk in chunks:
        assert isinstance(chunk, Chunk) and chunk.interval == interval
        assert 1 <= chunk.n_windows <= chunk_windows
        assert chunk.start == interval.start + chunk.first_window * stride
        # Memory bound: a chunk never holds more bases than its windows span.
        assert len(chunk.seq) == (chunk.n_windows - 1) * stride + window
        assert chunk.seq == seq[chunk.start : chunk.start + len(chunk.seq)].encode()
        for j in range(chunk.n_windows):
            w_start = chunk.start + j * stride
            starts.append(w_start)
            assert chunk.seq[j * stride : j * stride + window] == seq[w_start : w_start + window].encode()
    expected = [interval.start + j * stride for j in range(WindowGrid(window, stride).count(len(interval)))]
    assert starts == expected  # every window once, in order
    assert [c.first_window for c in chunks] == list(range(0, len(expected), chunk_windows))


def test_iter_chunks_short_interval_yields_nothing(small: Genome) -> None:
    assert list(iter_chunks(small, Interval("c3", 0, 30), WindowGrid(31, 1), 10)) == []
    assert list(iter_chunks(small, Interval("c3", 10, 10), WindowGrid(1, 1), 10)) == []


def test_iter_chunks_fetches_lazily(small: Genome, monkeypatch) -> None:
    fetched: list[tuple[int, int]] = []
    real = small.fetch

    def spy(chrom: str, start: int, end: int) -> bytes:
        fetched.append((start, end))
        return real(chrom, start, end)

    monkeypatch.setattr(small, "fetch", spy)
    it = iter_chunks(small, Interval("c2", 0, 100), WindowGrid(10, 5), 3)
    next(it)
    assert fetched == [(0, 20)]  # one chunk read, not the whole chromosome


def test_iter_chunks_interval_past_chromosome_end_is_an_error(small: Genome) -> None:
    with pytest.raises(GenomeError, match="outside c3"):
        list(iter_chunks(small, Interval("c3", 0, 40), WindowGrid(10, 10), 2))


# -- BED files read from streams ------------------------------------------------------------------


def _big_bed() -> tuple[bytes, list[Interval]]:
    """A BED well over 8 kB (the size of the read that used to be lost to a second open)."""
    lines, intervals = [], []
    for i in range(1500):
        start = (i * 7) % 90
        intervals.append(Interval("c2", start, start + 5))
        lines.append(f"c2\t{start}\t{start + 5}\tname{i}\n")
    return "".join(lines).encode(), intervals


def _writer(target: Callable[[], BinaryIO], data: bytes) -> threading.Thread:
    """A thread that writes ``data`` into what ``target()`` opens, in small pieces, then closes it."""

    def run() -> None:
        with target() as fh:
            for i in range(0, len(data), 1000):
                fh.write(data[i : i + 1000])
                fh.flush()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_bed_from_a_pipe_arrives_whole(small: Genome, compress: bool) -> None:
    data, expected = _big_bed()
    assert len(data) > 8192
    read, write = os.pipe()
    writer = _writer(lambda: os.fdopen(write, "wb"), gzip.compress(data) if compress else data)
    try:
        assert read_bed(small, f"/dev/fd/{read}") == expected  # as `--regions <(...)` gives it
    finally:
        writer.join(10)
        os.close(read)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_bed_from_a_named_fifo_arrives_whole_without_hanging(small: Genome, tmp_path: Path, compress: bool) -> None:
    data, expected = _big_bed()
    fifo = tmp_path / "regions.bed"
    os.mkfifo(fifo)
    writer = _writer(lambda: open(fifo, "wb"), gzip.compress(data) if compress else data)
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(read_bed(small, fifo)), daemon=True)
    reader.start()
    reader.join(20)
    if reader.is_alive():  # a second open of the FIFO waits for a writer that never comes
        with open(fifo, "wb"):
            pass
        pytest.fail("reading the regions FIFO hung")
    writer.join(10)
    assert result == [expected]  # every line, in order


def test_open_text_reads_plain_and_gzip_and_closes_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.bed").write_bytes(b"c1\t0\t5\n")
    (tmp_path / "a.bed.gz").write_bytes(gzip.compress(b"c1\t0\t5\n"))
    (tmp_path / "one").write_bytes(b"c")  # shorter than the gzip magic
    before = len(os.listdir("/proc/self/fd"))
    for name in ("a.bed", "a.bed.gz"):
        with open_text(tmp_path / name) as fh:
            assert fh.read() == "c1\t0\t5\n"
    with open_text(tmp_path / "one") as fh:
        assert fh.read() == "c"
    assert len(os.listdir("/proc/self/fd")) == before


def test_corrupt_or_binary_bed_is_one_line(small: Genome, tmp_path: Path) -> None:
    bed = tmp_path / "r.bed.gz"
    bed.write_bytes(gzip.compress(b"c1\t0\t5\n" * 100)[:-20])
    with pytest.raises(GenomeError, match="cannot read regions BED .*r.bed.gz"):
        select_intervals(small, regions_bed=bed)
    bed.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(GenomeError, match="r.bed.gz is not a text file"):
        select_intervals(small, regions_bed=bed)


# -- the blacklist ---------------------------------------------------------------------------------


def test_blacklist_is_merged_sorted_and_ignores_chromosomes_the_genome_lacks(small: Genome, tmp_path: Path,
                                                                               caplog) -> None:
    bed = tmp_path / "black.bed"
    bed.write_text("track name=black\nc1\t30\t40\nchrUn\t0\t5\nc2\t50\t60\nc2\t10\t20\nc2\t15\t25\nchrUn\t9\t12\n"
                   "chrM\t0\t1\nc3\t5\t5\n")
    with caplog.at_level("WARNING"):
        blacklist = Blacklist.read(small, bed)
    assert blacklist.intervals == [Interval("c2", 10, 25), Interval("c2", 50, 60), Interval("c1", 30, 40)]
    assert "3 interval(s)" in caplog.text and "chrUn, chrM" in caplog.text and str(bed) in caplog.text
    assert blacklist.within([Interval("c2", 20, 55)]).intervals == [Interval("c2", 20, 25), Interval("c2", 50, 55)]
    assert not Blacklist.read(small, _write(tmp_path / "none.bed", "chrUn\t0\t5\n"))


def test_bad_blacklist_lines_name_the_file_and_line(small: Genome, tmp_path: Path) -> None:
    bed = _write(tmp_path / "black.bed", "c1\t0\t10\nc1\t20\tx\n")
    with pytest.raises(GenomeError, match=f"{bed}:2"):
        Blacklist.read(small, bed)
    with pytest.raises(GenomeError, match="blacklist BED .* directory"):
        Blacklist.read(small, tmp_path)
    # A listed chromosome of the genome must still fit it: the blacklist of another assembly is an error.
    with pytest.raises(GenomeError, match="beyond the end of c1"):
        Blacklist.read(small, _write(tmp_path / "long.bed", "c1\t0\t51\n"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("window, stride", [(10, 3), (7, 7), (12, 5), (1, 1)])
def test_blacklisted_windows_are_exactly_those_overlapping_an_interval(window: int, stride: int) -> None:
    rng = random.Random(window * 100 + stride)
    grid = WindowGrid(window, stride)
    for _ in range(40):
        offset = rng.randrange(0, 30)
        interval = Interval("c", offset, offset + rng.randrange(0, 200))
        starts = [rng.randrange(0, 260) for _ in range(rng.randrange(0, 6))]
        listed = sorted((s, s + rng.randrange(1, 15)) for s in starts)
        blacklist = Blacklist([Interval("c", s, e) for s, e in _merge(listed)])
        total = grid.count(len(interval))
        naive = [any(interval.start + j * stride < e and interval.start + j * stride + window > s for s, e in listed)
                 for j in range(total)]
        assert blacklist.window_mask(interval, grid).tolist() == naive
        assert blacklist.windows_in(interval, grid) == sum(naive)
        first = rng.randrange(0, total + 1)
        n = rng.randrange(0, total - first + 1)
        assert blacklist.window_mask(interval, grid, first, n).tolist() == naive[first:first + n]
        assert not Blacklist([Interval("other", 0, 1000)]).window_mask(interval, grid).any()


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in intervals:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged
