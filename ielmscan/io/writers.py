"""Text outputs: narrowPeak/BED regions, bedGraph tracks, the run manifest.

All coordinates are 0-based, half-open (``[start, end)``), as BED stores them.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ielmscan.io.temp_names import shown_name
from ielmscan.io.write_errors import NamedOutput, output_error
from ielmscan.kernels.grid import bin_edges

__all__ = [
    "Region",
    "regions_from_bins",
    "write_bedgraph",
    "write_manifest",
    "write_narrowpeak",
]


def _bin_edges(start: int, end: int, stride: int, n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the stride bins of ``[start, end)``, checked against the number of values given."""
    starts, ends = bin_edges(start, end, stride)
    if n_values != len(starts):
        raise ValueError(f"[{start}, {end}) with stride {stride} has {len(starts)} bins, got {n_values} values")
    return starts, ends


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


def write_manifest(target: str | Path | NamedOutput, manifest: dict) -> None:
    """Write ``manifest`` as JSON (indent 2, trailing newline) to a path or an open :class:`NamedOutput`."""
    text = json.dumps(_jsonable(manifest), indent=2, allow_nan=False) + "\n"
    if isinstance(target, NamedOutput):
        target.write(text)
        return
    try:
        Path(target).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise output_error(f"cannot write {shown_name(target)}", exc) from exc

