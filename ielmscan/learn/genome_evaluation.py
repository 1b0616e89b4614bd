"""Genome evaluation (`ielmscan evaluate --scan`): how well a scan's track and calls find known elements.

Inputs are a scan's outputs, PREFIX.bw (the track), PREFIX.bed (narrowPeak calls) and PREFIX.json (the
manifest: window, stride, genome), and BED files of known elements: the truth (e.g. enhancers) and
optionally a control set (e.g. promoters). Everything is counted over the *scored bins*, the bigWig's
entries: the stride bins where at least one window was scored (gaps hold nothing). Coordinates are
0-based, half-open.

A bin is *positive* for a set when it overlaps one of its intervals (by at least one base) and *called*
when it lies inside a narrowPeak region. The track's values rank the bins (AUROC, AUPRC); so, as the
reference, does the GC content of each bin's context: the ``window`` bases centred on the bin (clipped
to the chromosome; N and other non-ACGT bases skipped). When the stride equals the window, the context
of a bin is exactly the one window scored there, so a model that only knows GC ranks the bins as GC
does. Calls are judged at region level too: precision is the share of calls overlapping the set, recall
the share of its intervals on scored bins that a call overlaps.

Several scans (e.g. genome pieces, each its own FASTA and scan) are *pooled*: every scored bin of every
scan goes into one ranking and every count is summed, as if they were one scan; the report also gives the
same numbers per scan. They must share window and stride, a sequence name must have one length in all of
their genomes, and two scans may score the same chromosome only on bins that do not overlap (shards). A
BED may hold intervals on the sequences of any of the genomes: those on a sequence that a scan's genome
lacks are ignored for that scan (and counted), one on a sequence of none of them is an error.
"""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ielmscan.errors import GenomeError, InputError
from ielmscan.io.genome import Genome
from ielmscan.io.intervals import Interval, read_bed
from ielmscan.io.scan_outputs import ScanOutputs, check_file, read_track
from ielmscan.kernels.encode import encode_bases
from ielmscan.learn.evaluate import GC_STRATUM_WIDTH
from ielmscan.learn.merged_intervals import NONE, Merged, by_chrom, inside, merge, merge_sorted, overlaps
from ielmscan.learn.metrics import binary_metrics, gc_controlled_auroc, pr_curve, roc_curve

__all__ = ["evaluate_scan"]

GC_CHUNK = 4_000_000  # bases of a chromosome read at a time for the GC of bin contexts (bounds memory)


@dataclass
class _Bins:
    """The scored bins of one chromosome: ``[starts, ends)``, track values, context GC, called or not."""

    chrom: str
    starts: np.ndarray
    ends: np.ndarray
    values: np.ndarray
    gc: np.ndarray
    called: np.ndarray


def _context_gc(genome: Genome, chrom: str, starts: np.ndarray, ends: np.ndarray, window: int) -> np.ndarray:
    """GC fraction of the ``window`` bases centred on each bin (clipped to the chromosome; non-ACGT skipped).

    NaN where the context holds no A/C/G/T base. Bins must be sorted; the chromosome is read a few Mb at a
    time and every context is summed from prefix sums of the 2-bit codes.
    """
    length = genome.length(chrom)
    first = (starts + ends) // 2 - window // 2
    lo, hi = np.clip(first, 0, length), np.clip(first + window, 0, length)
    gc = np.full(len(starts), np.nan)
    # lo and hi rise with the bins, so a group of bins needs one stretch of the chromosome.
    bounds = np.r_[0, np.flatnonzero(np.diff(lo // GC_CHUNK)) + 1, len(lo)]
    for i, j in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        if i == j:
            continue
        a = int(lo[i])
        codes = encode_bases(genome.fetch(chrom, a, int(hi[j - 1])))
        n_gc = np.r_[0, np.cumsum((codes == 1) | (codes == 2))]
        n_acgt = np.r_[0, np.cumsum(codes < 4)]
        x, y = lo[i:j] - a, hi[i:j] - a
        with np.errstate(divide="ignore", invalid="ignore"):
            gc[i:j] = (n_gc[y] - n_gc[x]) / (n_acgt[y] - n_acgt[x])
    return gc


def _scored_bins(scan: ScanOutputs, genome: Genome) -> tuple[list[_Bins], list[Interval]]:
    """The scored bins of every chromosome of the track, and the calls on them."""
    track = read_track(scan, genome)
    if not any(len(entries) for _, entries in track):
        raise InputError(f"scan track {scan.track} holds no scored bins: nothing to evaluate")
    scanned = {chrom for chrom, _ in track}
    calls = [iv for iv in read_bed(genome, scan.calls) if iv.chrom in scanned]
    merged_calls = merge(calls)
    bins = []
    for chrom, entries in track:
        starts, ends = entries[:, 0].astype(np.int64), entries[:, 1].astype(np.int64)
        gc = _context_gc(genome, chrom, starts, ends, scan.window)
        called = inside(starts, ends, merged_calls.get(chrom, NONE))
        bins.append(_Bins(chrom, starts, ends, entries[:, 2], gc, called))
    return bins, calls


def _labels(bins: list[_Bins], merged: dict[str, Merged]) -> np.ndarray:
    """Per scored bin (all chromosomes, track order): does it overlap an interval of ``merged``?"""
    return np.concatenate([overlaps(b.starts, b.ends, merged.get(b.chrom, NONE)) for b in bins])


class _Genomes:
    """The genomes of all the scans as one namespace of sequences: what a truth or control BED may name."""

    def __init__(self, genomes: Sequence[Genome]) -> None:
        self.genomes = list(genomes)
        self.lengths: dict[str, tuple[int, Genome]] = {}
        for genome in self.genomes:
            for name, length in genome.chroms:
                known, first = self.lengths.setdefault(name, (length, genome))
                if known != length:
                    raise InputError(f"sequence {name!r} has {known:,} bases in genome {first.path} but {length:,} "
                                     f"in genome {genome.path}: BED intervals on it would be ambiguous; give "
                                     "each genome piece its own sequence names")

    def length(self, name: str) -> int:
        """Length of sequence ``name`` in the genomes that hold it (what :func:`read_bed` checks)."""
        if len(self.genomes) == 1:
            return self.genomes[0].length(name)  # the genome's own message for an unknown name
        try:
            return self.lengths[name][0]
        except KeyError:
            paths = ", ".join(dict.fromkeys(str(g.path) for g in self.genomes))
            raise GenomeError(f"sequence {name!r} is in none of the scans' genomes ({paths})") from None


@dataclass
class _Scanned:
    """One scan read: its outputs, the sequence names of its genome, its scored bins and its calls."""

    outputs: ScanOutputs
    names: frozenset[str]
    bins: list[_Bins]
    calls: list[Interval]


Files = list[tuple[Path, list[Interval]]]  # one set (truth or control): each BED file with its intervals


def _scored(bins: Sequence[_Bins]) -> dict[str, Merged]:
    """The scored stretches of each chromosome (bins of several scans of one chromosome together)."""
    groups: dict[str, list[_Bins]] = {}
    for b in bins:
        groups.setdefault(b.chrom, []).append(b)
    out: dict[str, Merged] = {}
    for chrom, group in groups.items():
        starts, ends = np.concatenate([b.starts for b in group]), np.concatenate([b.ends for b in group])
        order = np.argsort(starts, kind="stable")
        out[chrom] = merge_sorted(starts[order], ends[order])
    return out


def _check_poolable(scans: Sequence[_Scanned]) -> None:
    """Pooled scans share window and stride, and no two of them score the same bases."""
    first = scans[0].outputs
    for i, a in enumerate(scans):
        o = a.outputs
        if (o.window, o.stride) != (first.window, first.stride):
            raise InputError(f"scans {first.prefix} (window {first.window}, stride {first.stride}) and {o.prefix} "
                             f"(window {o.window}, stride {o.stride}) differ: pooled scans need one window and "
                             "stride (see their manifests)")
        for b in scans[i + 1:]:
            scored = _scored(b.bins)
            for bins in a.bins:
                hit = np.flatnonzero(overlaps(bins.starts, bins.ends, scored.get(bins.chrom, NONE)))
                if len(hit):
                    k = int(hit[0])
                    raise InputError(f"scans {o.prefix} and {b.outputs.prefix} both scored {bins.chrom}:"
                                     f"[{int(bins.starts[k])}, {int(bins.ends[k])}): pooled scans must not "
                                     "overlap (shards of one chromosome are fine)")


def _read_set(genomes: _Genomes, path: Path, what: str, bins: list[_Bins], several: bool) -> list[Interval]:
    """The intervals of one BED file; InputError when none of them overlaps a scored bin of any scan."""
    check_file(path, what)
    intervals = read_bed(genomes, path)  # type: ignore[arg-type]  # only .length is asked for
    if not _labels(bins, merge(intervals)).any():
        scanned = ", ".join(dict.fromkeys(b.chrom for b in bins if len(b.starts)))
        raise InputError(f"{what} {path}: none of its {len(intervals)} intervals overlaps a scored bin of the "
                         f"scan{'s' if several else ''} (scored: {scanned})")
    return intervals


def _ranking(labels: np.ndarray, values: np.ndarray, gc: np.ndarray) -> dict[str, Any]:
    """AUROC and AUPRC of the track and of context GC for ``labels``, the GC-controlled AUROC, and curves.

    NaN (no curves) when the bins hold one class only. GC metrics skip bins whose context has no A/C/G/T.
    """
    positives = int(labels.sum())
    out: dict[str, Any] = {"bins": len(labels), "positive_bins": positives,
                           "positive_share": positives / len(labels) if len(labels) else float("nan")}
    nan = {"auroc": float("nan"), "auprc": float("nan")}
    if not 0 < positives < len(labels):
        return {**out, "model": dict(nan), "gc": dict(nan), "gc_controlled_auroc": float("nan"), "curves": {}}
    known = np.isfinite(gc)
    curves, scores = {}, {"model": (labels, values), "gc": (labels[known], gc[known])}
    for name, (y, score) in scores.items():
        if 0 < y.sum() < len(y):
            m = binary_metrics(y, score)
            out[name] = {"auroc": m["auroc"], "auprc": m["auprc"]}
            curves[name] = {"roc": roc_curve(y, score), "pr": pr_curve(y, score)}
        else:
            out[name] = dict(nan)
    out["gc_controlled_auroc"] = gc_controlled_auroc(labels, values, gc, GC_STRATUM_WIDTH)
    return {**out, "curves": curves}


def _set_report(files: Files, bins: list[_Bins], calls: list[Interval], values: np.ndarray, gc: np.ndarray,
                called: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
    """Everything about one set of intervals (truth or control); also returns its bin labels."""
    intervals = [iv for _, ivs in files for iv in ivs]
    merged = merge(intervals)
    labels = _labels(bins, merged)
    ranking = _ranking(labels, values, gc)
    n, positives, n_called = len(labels), int(labels.sum()), int(called.sum())
    called_positives = int((labels & called).sum())
    enrichment = (called_positives / n_called) / (positives / n) if n_called and positives else float("nan")
    # Intervals the scan could find (sharing a base with a scored bin), those a call overlaps, and calls
    # overlapping the set.
    scored = _scored(bins)
    on_scored = found = 0
    merged_calls = merge(calls)
    for chrom, (starts, ends) in by_chrom(intervals).items():
        reachable = overlaps(starts, ends, scored.get(chrom, NONE))
        on_scored += int(reachable.sum())
        found += int(overlaps(starts[reachable], ends[reachable], merged_calls.get(chrom, NONE)).sum())
    calls_hitting = sum(int(overlaps(starts, ends, merged.get(chrom, NONE)).sum())
                        for chrom, (starts, ends) in by_chrom(calls).items())
    report = {
        "files": [str(f) for f, _ in files],
        "intervals": len(intervals),
        **{k: v for k, v in ranking.items() if k != "curves"},
        "enrichment": {
            "value": enrichment,
            "called_bins": n_called,
            "called_positive_bins": called_positives,
            "positive_bins": positives,
            "bins": n,
        },
        "regions": {
            "calls": len(calls),
            "calls_overlapping": calls_hitting,
            "precision": calls_hitting / len(calls) if calls else float("nan"),
            "intervals_on_scored_bins": on_scored,
            "intervals_found": found,
            "recall": found / on_scored if on_scored else float("nan"),
        },
    }
    return {**report, "curves": ranking["curves"]}, labels


def _evaluate_bins(bins: list[_Bins], calls: list[Interval], sets: dict[str, Files]) -> dict[str, Any]:
    """``bins``, a report per set and ``truth_excluding_control_bins`` over these bins, with ``curves``."""
    values, gc = np.concatenate([b.values for b in bins]), np.concatenate([b.gc for b in bins])
    called = np.concatenate([b.called for b in bins])
    widths = np.concatenate([b.ends - b.starts for b in bins])
    bases, called_bases = int(widths.sum()), int(widths[called].sum())
    report: dict[str, Any] = {
        "bins": {"scored": len(values), "bases": bases, "called": int(called.sum()), "called_bases": called_bases,
                 "share_called": called_bases / bases, "bins_without_gc": int(np.isnan(gc).sum())},
    }
    curves: dict[str, Any] = {}
    labels = {}
    for name, files in sets.items():
        report[name], labels[name] = _set_report(files, bins, calls, values, gc, called)
        curves[name] = report[name].pop("curves")
    if "control" in sets:
        keep = ~labels["control"]
        kept = _ranking(labels["truth"][keep], values[keep], gc[keep])
        curves["truth_excluding_control_bins"] = kept.pop("curves")
        report["truth_excluding_control_bins"] = kept
    report["curves"] = curves
    return report


def _several(given: str | Path | Sequence[str | Path] | None) -> list[Path | str]:
    """One path, several or none, as a list."""
    if given is None:
        return []
    return [given] if isinstance(given, (str, Path)) else list(given)


def evaluate_scan(
    prefix: str | Path | Sequence[str | Path],
    truth: Sequence[str | Path],
    control: str | Path | Sequence[str | Path] | None = None,
    genome: str | Path | Sequence[str | Path] | None = None,
) -> dict[str, Any]:
    """Bin- and region-level metrics of one scan, or of several pooled, against truth BED files (and control
    BED files), beside GC.

    ``prefix`` is one scan's PREFIX or a list of them; ``genome`` overrides the manifests' FASTA: one per
    scan, in order. Returns a JSON-able report (after :func:`~ielmscan.learn.evaluate.jsonable`, which drops
    the curve arrays kept under ``curves`` for the plots): ``scans`` (files and parameters of each; with one
    scan also ``scan``), ``bins`` (scored bins and bases, called bins and bases, ``share_called``), ``truth``
    and, with a control, ``control`` (each: ``positive_bins``, ``positive_share``, ``model`` and ``gc``
    AUROC/AUPRC, ``gc_controlled_auroc``, ``enrichment``, ``regions``, ``ignored_intervals``: per file, per
    scan, the intervals on sequences its genome lacks) and ``truth_excluding_control_bins`` (the ranking of
    truth once bins overlapping the control are removed), all over the pooled bins; and ``per_scan``: the
    same (``scan``, ``bins``, the sets, ``ignored_intervals`` per file) for each scan on its own, counting the
    intervals on its genome only. The module docstring defines every term.
    """
    prefixes, genomes, controls = _several(prefix), _several(genome), _several(control)
    if not prefixes:
        raise InputError("no scan given: pass at least one --scan PREFIX")
    if not truth:
        raise InputError("no truth BED given: pass at least one --truth BED")
    if genomes and len(genomes) != len(prefixes):
        raise InputError(f"{len(genomes)} genomes for {len(prefixes)} scans: give one genome per scan, in order, "
                         "or none (each scan's manifest names its genome)")
    outputs = [ScanOutputs.find(p, g) for p, g in zip(prefixes, genomes or [None] * len(prefixes))]
    several = len(outputs) > 1
    with ExitStack() as stack:
        fastas = [stack.enter_context(Genome.open(o.genome)) for o in outputs]
        names = _Genomes(fastas)
        scans = [_Scanned(o, frozenset(name for name, _ in f.chroms), *_scored_bins(o, f))
                 for o, f in zip(outputs, fastas)]
        _check_poolable(scans)
        bins = [b for s in scans for b in s.bins]
        sets = {"truth": [(Path(p), _read_set(names, Path(p), "truth BED", bins, several)) for p in truth]}
        if controls:
            sets["control"] = [(Path(p), _read_set(names, Path(p), "control BED", bins, several)) for p in controls]
    summaries = [o.summary() for o in outputs]
    report: dict[str, Any] = {
        **({"scan": summaries[0]} if not several else {}),
        "scans": summaries,
        "gc_context_bases": outputs[0].window,
        "gc_stratum_width": GC_STRATUM_WIDTH,
        **_evaluate_bins(bins, [c for s in scans for c in s.calls], sets),
    }
    per_scan = []
    for scan, summary in zip(scans, summaries):
        own = {name: [(path, [iv for iv in ivs if iv.chrom in scan.names]) for path, ivs in files]
               for name, files in sets.items()}
        part = {"scan": summary, **_evaluate_bins(scan.bins, scan.calls, own)}
        del part["curves"]
        for name, files in sets.items():
            part[name]["ignored_intervals"] = {str(path): len(ivs) - len(kept)
                                               for (path, ivs), (_, kept) in zip(files, own[name])}
        per_scan.append(part)
    for name, files in sets.items():
        report[name]["ignored_intervals"] = {
            str(path): {part["scan"]["prefix"]: part[name]["ignored_intervals"][str(path)] for part in per_scan}
            for path, _ in files}
    curves = report.pop("curves")
    return {**report, "per_scan": per_scan, "curves": curves}
