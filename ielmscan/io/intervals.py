"""What to scan and in which pieces: interval selection (chromosomes, BED regions), the blacklist of regions
no window may overlap, and chunking.

Every interval here is 0-based and half-open: ``[start, end)``, as in BED and Python slices.
"""
from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

from ielmscan.errors import GenomeError, InputError
from ielmscan.io.genome import GZIP_MAGIC, Genome
from ielmscan.kernels.grid import WindowGrid

__all__ = ["Blacklist", "Chunk", "Interval", "iter_chunks", "open_text", "read_bed", "select_intervals"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Interval:
    """A stretch ``[start, end)`` of one chromosome (0-based, half-open)."""

    chrom: str
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(
                f"invalid interval {self.chrom}:[{self.start}, {self.end}): "
                "need 0 <= start <= end (0-based, half-open)"
            )

    def __len__(self) -> int:
        return self.end - self.start


def select_intervals(
    genome: Genome,
    chroms: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    regions_bed: Path | None = None,
) -> list[Interval]:
    """The intervals to scan (0-based, half-open), in FASTA order then start; never empty ones.

    By default every sequence, whole. ``chroms`` keeps only those names (None or empty: all),
    ``exclude`` drops names, and
    ``regions_bed`` restricts to the BED file's intervals (first three columns), which are merged where
    they overlap or touch.
    """
    order = {name: i for i, (name, _) in enumerate(genome.chroms)}
    for name in [*(chroms or ()), *(exclude or ())]:
        genome.length(name)  # names a sequence of this genome, or GenomeError listing the valid ones
    keep = set(chroms) if chroms else set(order)  # None or empty: no restriction
    keep -= set(exclude or ())
    if regions_bed is None:
        return [Interval(name, 0, length) for name, length in genome.chroms if name in keep and length > 0]

    return _merged([iv for iv in _read_bed(genome, Path(regions_bed)) if iv.chrom in keep], order)


def _merged(intervals: list[Interval], order: dict[str, int]) -> list[Interval]:
    """``intervals`` sorted by chromosome (``order``) and start, merged where they overlap or touch."""
    intervals = sorted(intervals, key=lambda iv: (order[iv.chrom], iv.start, iv.end))
    merged: list[Interval] = []
    for iv in intervals:
        last = merged[-1] if merged else None
        if last is not None and last.chrom == iv.chrom and iv.start <= last.end:
            if iv.end > last.end:
                merged[-1] = Interval(last.chrom, last.start, iv.end)
        else:
            merged.append(iv)
    return merged


class Blacklist:
    """Regions no scanned window may overlap (ENCODE blacklists): intervals 0-based, half-open, merged, sorted
    in genome order. A window overlapping one by a single base is not scored."""

    def __init__(self, intervals: Sequence[Interval] = (), path: Path | None = None) -> None:
        self.intervals = list(intervals)
        self.path = path
        self._by_chrom: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for chrom in dict.fromkeys(iv.chrom for iv in self.intervals):
            mine = [iv for iv in self.intervals if iv.chrom == chrom]
            self._by_chrom[chrom] = (np.array([iv.start for iv in mine], dtype=np.int64),
                                     np.array([iv.end for iv in mine], dtype=np.int64))

    @classmethod
    def read(cls, genome: Genome, bed: str | Path) -> Blacklist:
        """The BED file's intervals (first three columns), merged; lines on chromosomes the genome lacks are
        ignored with a warning (a blacklist covers more contigs than an assembly may keep)."""
        bed = Path(bed)
        missing: dict[str, int] = {}
        found = list(_read_bed(genome, bed, "blacklist BED", missing))
        if missing:
            names = ", ".join(list(missing)[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            log.warning("blacklist %s: %d interval(s) on chromosome(s) not in the genome are ignored (%s)", bed,
                        sum(missing.values()), names)
        return cls(_merged(found, {name: i for i, (name, _) in enumerate(genome.chroms)}), bed)

    def within(self, intervals: Sequence[Interval]) -> Blacklist:
        """The parts of this blacklist inside ``intervals`` (what decides which of their windows are scored)."""
        parts = []
        for iv in intervals:
            for start, end in zip(*self._overlapping(iv.chrom, iv.start, iv.end)):
                parts.append(Interval(iv.chrom, max(int(start), iv.start), min(int(end), iv.end)))
        return Blacklist(parts, self.path)

    def _overlapping(self, chrom: str, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        starts, ends = self._by_chrom.get(chrom, (np.empty(0, np.int64), np.empty(0, np.int64)))
        lo, hi = np.searchsorted(ends, start, side="right"), np.searchsorted(starts, end, side="left")
        return starts[lo:hi], ends[lo:hi]

    def window_mask(self, interval: Interval, grid: WindowGrid, first_window: int = 0,
                    n_windows: int | None = None) -> np.ndarray:
        """Which of windows ``[first_window, first_window + n_windows)`` of ``interval`` (all for None)
        overlap a blacklisted interval: a bool array, one entry per window."""
        if n_windows is None:
            n_windows = grid.count(len(interval)) - first_window
        mask = np.zeros(n_windows, dtype=bool)
        if n_windows <= 0:
            return mask
        lo = interval.start + first_window * grid.stride
        for start, end in zip(*self._overlapping(interval.chrom, lo, lo + grid.span(n_windows))):
            # Window j of the interval starts at j * stride from the interval's start.
            hit = grid.overlapping(int(start) - interval.start, int(end) - interval.start) // grid.stride
            hit = hit[(hit >= first_window) & (hit < first_window + n_windows)] - first_window
            mask[hit] = True
        return mask

    def windows_in(self, interval: Interval, grid: WindowGrid) -> int:
        """How many windows of ``interval`` overlap a blacklisted interval (are not scored)."""
        return int(np.count_nonzero(self.window_mask(interval, grid))) if self._by_chrom else 0

    def __len__(self) -> int:
        return len(self.intervals)

    def __bool__(self) -> bool:
        return bool(self.intervals)


def read_bed(genome: Genome, bed: str | Path) -> list[Interval]:
    """The non-empty intervals of a BED file (first three columns), in file order, checked against ``genome``.

    Header, ``track`` and ``browser`` lines are skipped; plain or gzip; a pipe or FIFO is read once, in full.
    GenomeError names file:line.
    """
    return list(_read_bed(genome, Path(bed)))


def open_text(path: str | Path) -> TextIO:
    """A UTF-8 text file, plain or gzip, opened once: a pipe, process substitution or FIFO loses nothing.

    The gzip test reads the first two bytes from the one open stream and puts them back, instead of
    opening the file twice (a pipe cannot be reread, and a FIFO's second open waits for a new writer).
    Raises OSError like ``open``.
    """
    raw = open(path, "rb", buffering=0)
    try:
        head = b""
        while len(head) < 2 and (more := raw.read(2 - len(head))):
            head += more
        stream: BinaryIO = io.BufferedReader(_Prefixed(head, raw))
        if head == GZIP_MAGIC:
            unzipped = gzip.GzipFile(fileobj=stream, mode="rb")
            unzipped.myfileobj = stream  # closed with it, as when GzipFile opens a file by name
            stream = unzipped  # type: ignore[assignment]
        return io.TextIOWrapper(stream, encoding="utf-8")
    except BaseException:
        raw.close()
        raise


class _Prefixed(io.RawIOBase):
    """``head`` (bytes already read), then the rest of ``raw``; closing it closes ``raw``."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head, self._raw = head, raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._raw.readinto(buffer)  # type: ignore[attr-defined]

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def _read_bed(genome: Genome, bed: Path, what: str = "regions BED",
              missing: dict[str, int] | None = None) -> Iterator[Interval]:
    """Non-empty BED intervals, checked against the genome; GenomeError names file:line.

    With ``missing``, lines on chromosomes the genome lacks are counted there by name instead of refused.
    """
    names = {name for name, _ in genome.chroms} if missing is not None else set()
    try:
        fh = open_text(bed)
    except IsADirectoryError:
        raise GenomeError(f"{what} {bed} is a directory: give a BED file") from None
    except OSError as exc:
        raise GenomeError(f"cannot read {what} {bed}: {exc.strerror or exc}") from exc
    with fh:
        try:
            for lineno, line in enumerate(fh, 1):
                text = line.strip()
                if not text or text.startswith(("#", "track", "browser")):
                    continue
                fields = text.split()  # BED is tab-separated; names never contain whitespace
                where = f"{bed}:{lineno}"
                if len(fields) < 3:
                    raise GenomeError(f"{where}: expected at least 3 columns (chrom, start, end), got {text!r}")
                chrom = fields[0]
                try:
                    start, end = int(fields[1]), int(fields[2])
                except ValueError:
                    raise GenomeError(
                        f"{where}: start and end must be whole numbers, got {fields[1]!r} and {fields[2]!r}"
                    ) from None
                if start < 0 or start > end:
                    raise GenomeError(
                        f"{where}: need 0 <= start <= end (0-based, half-open), got {start} and {end}"
                    )
                if missing is not None and chrom not in names:
                    missing[chrom] = missing.get(chrom, 0) + 1
                    continue
                try:
                    length = genome.length(chrom)
                except GenomeError as exc:
                    raise GenomeError(f"{where}: {exc}") from None
                if end > length:
                    raise GenomeError(f"{where}: end {end} is beyond the end of {chrom} (length {length})")
                if end > start:
                    yield Interval(chrom, start, end)
        except UnicodeDecodeError:
            raise GenomeError(f"{what} {bed} is not a text file") from None
        except (OSError, EOFError) as exc:  # a corrupt gzip stream
            raise GenomeError(f"cannot read {what} {bed}: {exc}") from None


@dataclass(frozen=True)
class Chunk:
    """Windows ``[first_window, first_window + n_windows)`` of ``interval`` and the bases they cover.

    Window j of the interval covers ``[interval.start + j*stride, ... + window)`` (0-based, half-open);
    ``seq`` holds bases ``[start, start + (n_windows - 1)*stride + window)`` with
    ``start = interval.start + first_window*stride``.
    """

    interval: Interval
    first_window: int
    n_windows: int
    start: int
    seq: bytes


def iter_chunks(genome: Genome, interval: Interval, grid: WindowGrid, chunk_windows: int) -> Iterator[Chunk]:
    """Consecutive chunks of at most ``chunk_windows`` windows covering every window of ``interval``.

    Coordinates are 0-based, half-open. Bases are fetched one chunk at a time, so memory stays bounded
    by the chunk size however long the chromosome; neighbouring chunks share ``window - stride`` bases.
    Window j of the interval starts at ``interval.start + j * grid.stride``.
    An interval shorter than one window yields nothing.
    """
    if chunk_windows <= 0:
        raise InputError(f"chunk_windows must be positive, got {chunk_windows}")
    total = grid.count(len(interval))
    for first in range(0, total, chunk_windows):
        yield read_chunk(genome, interval, grid, first, min(chunk_windows, total - first))


def read_chunk(genome: Genome, interval: Interval, grid: WindowGrid, first_window: int, n_windows: int) -> Chunk:
    """Windows ``[first_window, first_window + n_windows)`` of ``interval`` with the bases they cover."""
    start = interval.start + first_window * grid.stride
    return Chunk(interval, first_window, n_windows, start,
                 genome.fetch(interval.chrom, start, start + grid.span(n_windows)))
