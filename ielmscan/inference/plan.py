"""The chunks a scan is made of, and how `--shard i/N` deals them out.

A scan reads each interval in chunks of ``chunk_windows`` windows (``iter_chunks``). The plan lists those
chunks in run order (intervals in FASTA order, windows in order) with the number of windows before each.
A shard is a contiguous run of whole chunks: shard i of N takes the chunks whose first window falls in
the i-th N-th of all windows, so shards are balanced by scanned bases to within one chunk, a chromosome
may be split between shards, and a shard may hold no chunk at all. Whole chunks keep every window's
score bit-identical to a single run's: the scorer batches windows within a chunk, never across chunks.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ielmscan.errors import InputError
from ielmscan.io.intervals import Interval
from ielmscan.kernels.grid import WindowGrid


@dataclass(frozen=True)
class PlannedChunk:
    interval: int  # index of the interval in the run
    first_window: int  # within the interval
    n_windows: int
    windows_before: int  # windows of the whole run before this chunk


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``; written ``index+1/count`` on the command line."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise InputError(f"shard {self.index + 1}/{self.count}: need 1 <= i <= N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/8"`` → the second of eight shards."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise InputError(f"--shard {text!r}: write it as i/N, e.g. 1/8 (the first of eight shards)")
        i, n = int(match[1]), int(match[2])
        if n < 1 or not 1 <= i <= n:
            raise InputError(f"--shard {text}: i must be between 1 and N")
        return cls(i - 1, n)

    def __str__(self) -> str:
        return f"{self.index + 1}/{self.count}"


class ScanPlan:
    """Every chunk of a scan of ``intervals`` in run order."""

    def __init__(self, intervals: Sequence[Interval], grid: WindowGrid, chunk_windows: int) -> None:
        if chunk_windows < 1:
            raise InputError(f"chunk_windows must be positive, got {chunk_windows}")
        self.intervals = list(intervals)
        self.grid = grid
        self.chunk_windows = chunk_windows
        self.chunks: list[PlannedChunk] = []
        before = 0
        for index, interval in enumerate(self.intervals):
            total = grid.count(len(interval))
            for first in range(0, total, chunk_windows):
                n = min(chunk_windows, total - first)
                self.chunks.append(PlannedChunk(index, first, n, before))
                before += n
        self.total_windows = before

    def windows_in(self, interval: int) -> int:
        return self.grid.count(len(self.intervals[interval]))

    def shard_chunks(self, shard: Shard | None) -> list[PlannedChunk]:
        """The chunks of ``shard`` (all of them for None), in run order."""
        if shard is None:
            return list(self.chunks)
        return [c for c in self.chunks if c.windows_before * shard.count // max(self.total_windows, 1) == shard.index]
