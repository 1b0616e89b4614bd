"""bigWig tracks: stride-bin scores streamed into a bigWig through pyBigWig (libBigWig), its failures said in
one line. Coordinates are 0-based, half-open (``[start, end)``), as bigWig stores them."""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyBigWig

from ielmscan.errors import OutputError
from ielmscan.io.capture import captured_stderr
from ielmscan.io.temp_names import shown_name
from ielmscan.io.write_errors import failed_write, output_error
from ielmscan.io.writers import _bin_edges

__all__ = ["BigWigWriter"]


# Bins handed to pyBigWig per call: fewer than one libBigWig write buffer holds (32 kB: 8,186 fixed-step values).
# libBigWig checks a failed write only when a call starts a new block; inside a call, or when a call appends to
# the previous block, it ignores the failure and overruns its buffer (a crash, on a full disk). So no call may
# fill the buffer, and no call may append: see BigWigWriter._add_runs.
_ENTRIES_PER_CALL = 8_000


class BigWigWriter:
    """Stream stride-bin scores into a bigWig whose header lists ``chrom_sizes`` in the given order.

    Bins must arrive in header order and by increasing position. NaN (and infinite) bins become gaps:
    the file never holds NaN. Zoom levels are kept (pyBigWig's default), so browsers draw it quickly.
    libBigWig's messages never reach the terminal; a failed write (a full disk) raises :class:`OutputError`
    naming the file as the user knows it (``name``, default :func:`shown_name` of ``path``).
    """

    def __init__(self, path: str | Path, chrom_sizes: list[tuple[str, int]], name: str | Path | None = None) -> None:
        self.path = Path(path)
        self.name = Path(name) if name is not None else shown_name(self.path)
        if not chrom_sizes:
            raise ValueError("a bigWig needs at least one chromosome in its header")
        self._order = {name: i for i, (name, _) in enumerate(chrom_sizes)}
        if len(self._order) != len(chrom_sizes):
            raise ValueError("chromosome names in a bigWig header must be distinct")
        self._sizes = {name: int(size) for name, size in chrom_sizes}
        # pyBigWig crashes the interpreter on an unwritable path: find out first, in Python.
        try:
            with open(self.path, "wb"):
                pass
        except OSError as exc:
            raise output_error(f"cannot write bigWig {self.name}", exc) from exc
        self._bw: Any = None
        self._bw = self._libbigwig(pyBigWig.open, str(self.path), "w")
        if self._bw is None:
            raise OutputError(f"cannot write bigWig {self.name}: {_write_failure(self.path)}")
        self._libbigwig(self._bw.addHeader, [(name, int(size)) for name, size in chrom_sizes])
        self._last = (-1, 0)  # (header index, end) of the last add_bins call

    def _libbigwig(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``call`` with libBigWig's stderr caught; its failure (an exception, or an error it only printed,
        as bwClose does) closes the file and raises OutputError with the cause a write there now gives."""
        failed = False
        with captured_stderr() as log:
            try:
                result = call(*args, **kwargs)
            except (RuntimeError, SystemError):  # pyBigWig's failed writes (some return no exception at all)
                failed, result = True, None
        if failed or "error" in log.text.lower():
            self._abandon()
            raise OutputError(f"cannot write bigWig {self.name}: {_write_failure(self.path)}")
        return result

    def _abandon(self) -> None:
        bw, self._bw = self._bw, None
        if bw is not None:
            with captured_stderr(), contextlib.suppress(RuntimeError):
                bw.close()

    def add_bins(self, chrom: str, start: int, end: int, stride: int, values: np.ndarray) -> None:
        """Write scores for bins ``[start + b*stride, min(start + (b+1)*stride, end))`` (0-based, half-open)."""
        if self._bw is None:
            raise ValueError(f"bigWig {self.name} is closed")
        if chrom not in self._order:
            raise ValueError(f"chromosome {chrom!r} is not in the bigWig header of {self.name}")
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        starts, ends = _bin_edges(start, end, stride, values.size)
        if end > self._sizes[chrom]:
            raise ValueError(f"bins end at {end}, beyond {chrom} (length {self._sizes[chrom]})")
        key = self._order[chrom]
        last_key, last_end = self._last
        if key < last_key or (key == last_key and start < last_end):
            raise ValueError(
                f"bins {chrom}:[{start}, {end}) arrive out of order: bigWig entries must follow the "
                "header's chromosome order and increase in position without overlap"
            )
        self._last = (key, max(end, last_end) if key == last_key else end)
        # Runs of finite bins go in as fixed-step entries straight from NumPy, a slice at a time: no
        # Python list per bin, so memory stays flat however long the chromosome is. A last bin cut
        # short by the interval's end is written on its own with its true end.
        finite = np.flatnonzero(np.isfinite(values))
        if not finite.size:
            return
        breaks = np.flatnonzero(np.diff(finite) != 1)
        run_starts = np.r_[finite[0], finite[breaks + 1]]
        run_ends = np.r_[finite[breaks], finite[-1]] + 1
        self._libbigwig(self._add_runs, chrom, starts, ends, stride, values, run_starts, run_ends)

    def _add_runs(self, chrom: str, starts: np.ndarray, ends: np.ndarray, stride: int, values: np.ndarray,
                  run_starts: np.ndarray, run_ends: np.ndarray) -> None:
        # Each run of bins goes in as fixed-step slices. pyBigWig appends a slice that continues the last one
        # to its block, so the last bin of every slice but the run's last is written as a single
        # (start, end, value) entry in between: every call then starts a block (see _ENTRIES_PER_CALL). A last
        # bin cut short by the interval's end is a fixed-step entry of its own, with its true width.
        bw = self._bw
        for a, b in zip(run_starts.tolist(), run_ends.tolist()):
            full = b if ends[b - 1] - starts[b - 1] == stride else b - 1
            for s in range(a, full, _ENTRIES_PER_CALL):
                e = min(s + _ENTRIES_PER_CALL, full)
                last_slice = e == full
                stop = e if last_slice else e - 1
                bw.addEntries(chrom, int(starts[s]), values=values[s:stop], span=stride, step=stride)
                if not last_slice:
                    bw.addEntries([chrom], [int(starts[stop])], ends=[int(ends[stop])], values=[float(values[stop])])
            if full < b:
                width = int(ends[b - 1] - starts[b - 1])
                bw.addEntries(chrom, int(starts[b - 1]), values=values[b - 1 : b], span=width, step=stride)

    def close(self) -> None:
        """Finish the file (writes the index and zoom levels); safe to call twice."""
        if self._bw is not None:
            self._libbigwig(self._bw.close)
            self._bw = None

    def __enter__(self) -> BigWigWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abandon()  # the file is discarded: finishing it would only add libBigWig's complaints


def _write_failure(path: Path, library: str = "libBigWig") -> str:
    """Why writing to ``path`` fails (libBigWig and htslib do not say): see :func:`failed_write`."""
    failure = failed_write(path, library)
    return failure.strerror or str(failure)

