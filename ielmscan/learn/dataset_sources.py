"""Where `dataset build`'s records come from: peaks on a genome and FASTA files, each record one window.

Peaks (BED or narrowPeak on the genome) give a ``window``-base window centred on the summit (narrowPeak
column 10, an offset from the start; on the interval's centre when there is none or it is -1). A window
centred on base c covers ``[c - window // 2, c - window // 2 + window)``. FASTA records of exactly ``window``
bases are kept, longer ones cut to their centred window (starting at ``(length - window) // 2``), shorter ones
dropped and counted. Peaks whose window leaves the chromosome and windows or records with more than
``max_n_frac`` N/IUPAC bases are dropped and counted too. Every sequence is uppercased.

Coordinates of FASTA records are read from their header: the first word of the form ``chrom:start-end``
(0-based, half-open, as in the DHS sets' ``id|split chrN:start-end summit=S``), else the first of the form
``chrN_start_end`` (iEnhancer-2L). They must be in the genome's assembly for the margin to mean anything.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ielmscan.errors import InputError
from ielmscan.io.fasta import read_fasta
from ielmscan.io.genome import Genome
from ielmscan.io.intervals import open_text
from ielmscan.learn.dataset import invalid_fractions

__all__ = ["Peak", "Record", "from_fasta", "from_peaks", "header_coordinates", "read_peaks"]

log = logging.getLogger(__name__)

_COLON = re.compile(r"([^\s:|]+):([0-9][0-9,]*)-([0-9][0-9,]*)")
_UNDERSCORE = re.compile(r"(chr[^\s_:|]+)_([0-9]+)_([0-9]+)")


@dataclass(frozen=True)
class Peak:
    """A BED/narrowPeak line: ``[start, end)`` (0-based, half-open) and the summit offset from start, if any."""

    chrom: str
    start: int
    end: int
    summit: int | None = None


@dataclass
class Record:
    """One window of the data set: its name, sequence, class, source and coordinates when known."""

    name: str
    seq: str  # uppercase, window bases
    label: int  # 1 positive, 0 negative
    source: str
    chrom: str | None = None  # coordinates, when known (0-based, half-open)
    start: int = 0
    end: int = 0


def read_peaks(path: str | Path, what: str = "peaks") -> list[Peak]:
    """Intervals of a BED or narrowPeak file (plain or gzip), with narrowPeak's summit (column 10, -1: none).

    Comment, ``track`` and ``browser`` lines are skipped; errors name ``file:line``.
    """
    path = Path(path)
    try:
        fh = open_text(path)  # opened once: a piped or FIFO peaks file arrives whole
    except IsADirectoryError:
        raise InputError(f"{what} {path} is a folder: give a BED or narrowPeak file") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    peaks: list[Peak] = []
    with fh:
        try:
            for lineno, line in enumerate(fh, 1):
                fields = line.split()
                if not fields or fields[0].startswith(("#", "track", "browser")):
                    continue
                peaks.append(_peak(fields, f"{path}:{lineno}"))
        except UnicodeDecodeError:
            raise InputError(f"{what} {path} is not a text file") from None
    return peaks


def _peak(fields: list[str], where: str) -> Peak:
    if len(fields) < 3:
        raise InputError(f"{where}: expected at least 3 columns (chrom, start, end), got {' '.join(fields)!r}")
    try:
        start, end = int(fields[1]), int(fields[2])
        summit = int(fields[9]) if len(fields) >= 10 else -1
    except ValueError:
        raise InputError(f"{where}: start, end and summit must be whole numbers") from None
    if not 0 <= start < end:
        raise InputError(f"{where}: need 0 <= start < end (0-based, half-open), got {start} and {end}")
    if summit >= end - start:
        raise InputError(f"{where}: summit offset {summit} lies beyond the peak ({end - start} bases)")
    return Peak(fields[0], start, end, summit if summit >= 0 else None)


def header_coordinates(header: str) -> tuple[str, int, int] | None:
    """``(chrom, start, end)`` from a FASTA header (see the module doc for the forms), or None."""
    tokens = re.split(r"[\s|]+", header)
    for pattern in (_COLON, _UNDERSCORE):
        for token in tokens:
            match = pattern.fullmatch(token)
            if match:
                start, end = int(match[2].replace(",", "")), int(match[3].replace(",", ""))
                if start < end:
                    return match[1], start, end
    return None


def _fasta_headers(path: Path) -> list[str]:
    """Whole header lines (``read_fasta`` keeps only the first word), in record order."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [text[1:] for text in (line.strip() for line in fh) if text.startswith(">")]


def from_fasta(path: Path, window: int, max_n_frac: float, label: int, role: str) -> tuple[list[Record], dict]:
    """The usable records of a FASTA file as ``window``-base records of class ``label``, and what was dropped."""
    records = read_fasta(path)
    headers = _fasta_headers(path)
    if len(headers) != len(records):  # cannot happen with read_fasta's rules; guards a change there
        headers = [name for name, _ in records]
    stats = {"records": len(records), "kept": 0, "cut_to_window": 0, "too_short": 0, "too_many_n": 0,
             "with_coordinates": 0}
    out: list[Record] = []
    for (name, seq), header in zip(records, headers):
        if len(seq) < window:
            stats["too_short"] += 1
            continue
        if len(seq) > window:
            stats["cut_to_window"] += 1
            offset = (len(seq) - window) // 2
            seq = seq[offset:offset + window]
        seq = seq.upper()
        if invalid_fractions([seq])[0] > max_n_frac:
            stats["too_many_n"] += 1
            continue
        coords = header_coordinates(header)
        stats["with_coordinates"] += coords is not None
        chrom, start, end = coords if coords is not None else (None, 0, 0)
        out.append(Record(name, seq, label, role, chrom, start, end))
    stats["kept"] = len(out)
    if not out:
        raise InputError(f"{path}: none of its {len(records)} record(s) is usable as a {window}-base window "
                         f"({stats['too_short']} shorter, {stats['too_many_n']} with too many N)")
    return out, stats


def from_peaks(genome: Genome, path: Path, window: int, max_n_frac: float) -> tuple[list[Record], dict]:
    """The ``window``-base positives of a peaks file on ``genome``, and what was dropped."""
    peaks = read_peaks(path)
    stats = {"records": len(peaks), "kept": 0, "centred_on_summit": 0, "not_in_genome": 0, "off_chromosome": 0,
             "too_many_n": 0}
    lengths = dict(genome.chroms)
    out: list[Record] = []
    for peak in peaks:
        if peak.chrom not in lengths:
            stats["not_in_genome"] += 1
            continue
        centre = peak.start + peak.summit if peak.summit is not None else (peak.start + peak.end) // 2
        start = centre - window // 2
        if start < 0 or start + window > lengths[peak.chrom]:
            stats["off_chromosome"] += 1
            continue
        seq = genome.fetch(peak.chrom, start, start + window).decode("ascii").upper()
        if invalid_fractions([seq])[0] > max_n_frac:
            stats["too_many_n"] += 1
            continue
        stats["centred_on_summit"] += peak.summit is not None
        # The margin is kept around the whole peak as well as the window.
        out.append(Record(f"{peak.chrom}:{start}-{start + window}", seq, 1, "peaks", peak.chrom,
                          min(start, peak.start), max(start + window, peak.end)))
    stats["kept"] = len(out)
    if stats["not_in_genome"]:
        log.warning("%d of %d peaks in %s lie on sequences %s lacks (skipped)", stats["not_in_genome"], len(peaks),
                    path, genome.path)
    if not out:
        raise InputError(f"{path}: none of its {len(peaks)} peak(s) gives a {window}-base window in {genome.path} "
                         f"({stats['not_in_genome']} on sequences it lacks, {stats['off_chromosome']} too close to "
                         f"an end, {stats['too_many_n']} with too many N)")
    return out, stats
