"""Output files: narrowPeak/BED regions, bigWig and bedGraph tracks, the run manifest.

All coordinates are 0-based, half-open (``[start, end)``), as BED and bigWig store them. Outputs are
written to temporary names and renamed at the end (:class:`OutputSet`), so a run leaves either complete
outputs or none.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pyBigWig

from ielmscan.errors import OutputError
from ielmscan.io.paths import can_create_files as _can_create_files
from ielmscan.kernels.grid import bin_edges

__all__ = [
    "BigWigWriter",
    "OutputSet",
    "Region",
    "regions_from_bins",
    "write_bedgraph",
    "write_manifest",
    "write_narrowpeak",
]


class OutputSet:
    """A group of output files ``PREFIX + suffix`` that appear together or not at all.

    Write each output to :meth:`temp`; leaving the ``with`` block normally renames every temporary
    file that was asked for to its :meth:`final` name, in the order of ``suffixes`` (put the manifest
    last: its presence then marks a complete set). Leaving it with an exception deletes them all and
    leaves existing final files untouched.
    """

    def __init__(self, prefix: str | Path, suffixes: Sequence[str]) -> None:
        self.prefix = Path(prefix)
        self.suffixes = tuple(suffixes)
        if not self.suffixes or len(set(self.suffixes)) != len(self.suffixes):
            raise ValueError(f"suffixes must be non-empty and distinct, got {list(self.suffixes)}")
        if not self.prefix.name:
            raise OutputError(f"output prefix {str(prefix)!r} has no file name part: use e.g. out/sample")
        self.folder = self.prefix.parent
        if not self.folder.is_dir():
            raise OutputError(
                f"output folder {self.folder} does not exist: create it or choose another output prefix"
            )
        if not _can_create_files(self.folder):
            raise OutputError(f"output folder {self.folder} is not writable: choose another output prefix")
        self._temps: dict[str, Path] = {}

    def final(self, suffix: str) -> Path:
        """Where the output with ``suffix`` ends up."""
        self._check(suffix)
        return self.folder / (self.prefix.name + suffix)

    def temp(self, suffix: str) -> Path:
        """A hidden temporary path in the output folder (same path for repeated calls)."""
        self._check(suffix)
        if suffix not in self._temps:
            tag = f"tmp-{os.getpid()}-{secrets.token_hex(4)}"
            self._temps[suffix] = self.folder / f".{self.prefix.name}{suffix}.{tag}"
        return self._temps[suffix]

    def _check(self, suffix: str) -> None:
        if suffix not in self.suffixes:
            raise ValueError(f"suffix {suffix!r} is not one of {list(self.suffixes)}")

    def commit(self) -> None:
        """Rename every temporary file asked for to its final name."""
        missing = [str(p) for p in self._temps.values() if not p.is_file()]
        if missing:
            self.discard()
            raise OutputError(f"output {missing[0]} was never written: no outputs were created")
        try:
            for suffix in self.suffixes:
                if suffix in self._temps:
                    os.replace(self._temps[suffix], self.final(suffix))
        except OSError as exc:
            self.discard()
            raise OutputError(f"cannot create output {exc.filename2 or exc.filename}: {exc.strerror}") from exc
        self._temps.clear()

    def discard(self) -> None:
        """Delete every temporary file; final files stay as they were."""
        for path in self._temps.values():
            with contextlib.suppress(OSError):
                path.unlink()
        self._temps.clear()

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def _bin_edges(start: int, end: int, stride: int, n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the stride bins of ``[start, end)``, checked against the number of values given."""
    starts, ends = bin_edges(start, end, stride)
    if n_values != len(starts):
        raise ValueError(f"[{start}, {end}) with stride {stride} has {len(starts)} bins, got {n_values} values")
    return starts, ends


_ENTRIES_PER_CALL = 65_536  # bins handed to pyBigWig per call


class BigWigWriter:
    """Stream stride-bin scores into a bigWig whose header lists ``chrom_sizes`` in the given order.

    Bins must arrive in header order and by increasing position. NaN (and infinite) bins become gaps:
    the file never holds NaN. Zoom levels are kept (pyBigWig's default), so browsers draw it quickly.
    """

    def __init__(self, path: str | Path, chrom_sizes: list[tuple[str, int]]) -> None:
        self.path = Path(path)
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
            raise OutputError(f"cannot write bigWig {self.path}: {exc.strerror}") from exc
        bw = pyBigWig.open(str(self.path), "w")
        if bw is None:
            raise OutputError(f"cannot write bigWig {self.path}")
        self._bw: Any = bw
        self._bw.addHeader([(name, int(size)) for name, size in chrom_sizes])
        self._last = (-1, 0)  # (header index, end) of the last add_bins call

    def add_bins(self, chrom: str, start: int, end: int, stride: int, values: np.ndarray) -> None:
        """Write scores for bins ``[start + b*stride, min(start + (b+1)*stride, end))`` (0-based, half-open)."""
        if self._bw is None:
            raise ValueError(f"bigWig {self.path} is closed")
        if chrom not in self._order:
            raise ValueError(f"chromosome {chrom!r} is not in the bigWig header of {self.path}")
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
        for a, b in zip(run_starts.tolist(), run_ends.tolist()):
            full = b if ends[b - 1] - starts[b - 1] == stride else b - 1
            for s in range(a, full, _ENTRIES_PER_CALL):
                e = min(s + _ENTRIES_PER_CALL, full)
                self._bw.addEntries(chrom, int(starts[s]), values=values[s:e], span=stride, step=stride)
            if full < b:
                self._bw.addEntries([chrom], [int(starts[b - 1])], ends=[int(ends[b - 1])],
                                    values=[float(values[b - 1])])

    def close(self) -> None:
        """Finish the file (writes the index and zoom levels); safe to call twice."""
        if self._bw is not None:
            self._bw.close()
            self._bw = None

    def __enter__(self) -> BigWigWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True)
class Region:
    """A called region ``[start, end)`` (0-based, half-open); ``summit`` is a 0-based offset from start.

    ``p_value`` and ``q_value`` belong to the region's best bin; NaN where they were not computed.
    """

    chrom: str
    start: int
    end: int
    max_score: float
    summit: int
    p_value: float = math.nan
    q_value: float = math.nan


def regions_from_bins(
    interval_chrom: str,
    start: int,
    end: int,
    stride: int,
    bin_scores: np.ndarray,
    threshold: float,
) -> list[Region]:
    """Maximal runs of stride bins of ``[start, end)`` scoring ``>= threshold`` (0-based, half-open).

    NaN bins break runs. A region's summit is the centre of its first highest-scoring bin, given as an
    offset from the region's start.
    """
    # Imported here so that importing writers (e.g. for `--help`) does not load numba.
    from ielmscan.kernels.reduce import call_regions

    scores = np.ascontiguousarray(bin_scores, dtype=np.float32).reshape(-1)
    _bin_edges(start, end, stride, scores.size)
    b0, b1, best, summit_bin = call_regions(scores, float(threshold))
    b0 = np.asarray(b0, dtype=np.int64)
    b1 = np.asarray(b1, dtype=np.int64)
    summit_bin = np.asarray(summit_bin, dtype=np.int64)
    r_start = start + b0 * stride
    r_end = np.minimum(start + b1 * stride, end)
    s_start = start + summit_bin * stride
    s_len = np.minimum(s_start + stride, end) - s_start
    summit = s_start + s_len // 2 - r_start
    return [
        Region(interval_chrom, int(a), int(b), float(m), int(s))
        for a, b, m, s in zip(r_start.tolist(), r_end.tolist(), np.asarray(best).tolist(), summit.tolist())
    ]


def write_narrowpeak(
    fh: TextIO, regions: Iterable[Region], name_prefix: str = "ielm", first_index: int = 1
) -> int:
    """Write regions as narrowPeak (BED6+4, 0-based half-open); return how many lines were written.

    Columns: chrom, start, end, name ``{name_prefix}_{n}``, score = round(1000 * max probability)
    clipped to 0..1000, strand ``.``, signalValue = max probability (4 decimals), pValue and qValue as
    -log10 (3 decimals; -1 where not computed), summit offset from start.
    """
    count = 0
    for count, r in enumerate(regions, 1):
        if not math.isfinite(r.max_score):
            raise ValueError(f"region {r.chrom}:[{r.start}, {r.end}) has a non-finite score {r.max_score}")
        score = min(1000, max(0, int(round(1000 * r.max_score))))
        fh.write(
            f"{r.chrom}\t{r.start}\t{r.end}\t{name_prefix}_{first_index + count - 1}\t{score}\t.\t"
            f"{r.max_score:.4f}\t{_minus_log10(r.p_value)}\t{_minus_log10(r.q_value)}\t{r.summit}\n"
        )
    return count


def _minus_log10(value: float) -> str:
    """narrowPeak's p/q column: -log10 with 3 decimals, or -1 when not computed (NaN)."""
    if math.isnan(value):
        return "-1"
    return f"{-math.log10(max(value, 1e-300)) + 0.0:.3f}"


def write_bedgraph(
    fh: TextIO, chrom: str, start: int, end: int, stride: int, values: np.ndarray
) -> int:
    """Write stride-bin scores of ``[start, end)`` as bedGraph lines (0-based, half-open), skipping NaN.

    Returns how many lines were written.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    starts, ends = _bin_edges(start, end, stride, values.size)
    keep = np.isfinite(values)
    lines = [
        f"{chrom}\t{a}\t{b}\t{v:.4f}\n"
        for a, b, v in zip(starts[keep].tolist(), ends[keep].tolist(), values[keep].tolist())
    ]
    fh.writelines(lines)
    return len(lines)


def _jsonable(value: Any) -> Any:
    """Plain JSON types: NumPy scalars/arrays and paths converted, NaN/inf as null (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_manifest(path: str | Path, manifest: dict) -> None:
    """Write ``manifest`` as JSON (indent 2, trailing newline)."""
    text = json.dumps(_jsonable(manifest), indent=2, allow_nan=False) + "\n"
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write manifest {path}: {exc.strerror}") from exc
