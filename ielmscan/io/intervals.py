"""What to scan and in which pieces: interval selection (chromosomes, BED regions) and chunking.

Every interval here is 0-based and half-open: ``[start, end)``, as in BED and Python slices.
"""
from __future__ import annotations

import gzip
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from ielmscan.errors import GenomeError, InputError
from ielmscan.io.genome import GZIP_MAGIC, Genome
from ielmscan.kernels.grid import WindowGrid

__all__ = ["Chunk", "Interval", "iter_chunks", "open_text", "read_bed", "select_intervals"]


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

    wanted = [iv for iv in _read_bed(genome, Path(regions_bed)) if iv.chrom in keep]
    wanted.sort(key=lambda iv: (order[iv.chrom], iv.start, iv.end))
    merged: list[Interval] = []
    for iv in wanted:
        last = merged[-1] if merged else None
        if last is not None and last.chrom == iv.chrom and iv.start <= last.end:
            if iv.end > last.end:
                merged[-1] = Interval(last.chrom, last.start, iv.end)
        else:
            merged.append(iv)
    return merged


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


def _read_bed(genome: Genome, bed: Path) -> Iterator[Interval]:
    """Non-empty BED intervals, checked against the genome; GenomeError names file:line."""
    try:
        fh = open_text(bed)
    except IsADirectoryError:
        raise GenomeError(f"regions BED {bed} is a directory: give a BED file") from None
    except OSError as exc:
        raise GenomeError(f"cannot read regions BED {bed}: {exc.strerror or exc}") from exc
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
                try:
                    length = genome.length(chrom)
                except GenomeError as exc:
                    raise GenomeError(f"{where}: {exc}") from None
                if end > length:
                    raise GenomeError(f"{where}: end {end} is beyond the end of {chrom} (length {length})")
                if end > start:
                    yield Interval(chrom, start, end)
        except UnicodeDecodeError:
            raise GenomeError(f"regions BED {bed} is not a text file") from None
        except (OSError, EOFError) as exc:  # a corrupt gzip stream
            raise GenomeError(f"cannot read regions BED {bed}: {exc}") from None


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
