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
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyBigWig

from ielmscan.errors import GenomeError, InputError
from ielmscan.io.genome import Genome
from ielmscan.io.intervals import Interval, read_bed
from ielmscan.io.writers import write_manifest
from ielmscan.kernels.encode import encode_bases
from ielmscan.learn.evaluate import GC_STRATUM_WIDTH, jsonable, staged_folder
from ielmscan.learn.metrics import binary_metrics, gc_controlled_auroc, pr_curve, roc_curve

__all__ = ["ScanOutputs", "evaluate_scan", "table", "write_report"]

REPORT_NAME = "genome_metrics.json"
GC_CHUNK = 4_000_000  # bases of a chromosome read at a time for the GC of bin contexts (bounds memory)
BIGWIG_MAGIC = (bytes.fromhex("26fc8f88"), bytes.fromhex("888ffc26"))  # either byte order
TRACK_CHUNK = 10_000_000  # bases of a chromosome whose bigWig entries are read at a time

Merged = tuple[np.ndarray, np.ndarray]  # starts and ends of sorted, non-overlapping intervals of one chromosome


@dataclass(frozen=True)
class ScanOutputs:
    """The files of a scan and the manifest's parameters that the evaluation needs."""

    prefix: str
    track: Path
    calls: Path
    manifest: Path
    genome: Path
    window: int
    stride: int
    threshold: float | None

    @classmethod
    def find(cls, prefix: str | Path, genome: str | Path | None = None) -> ScanOutputs:
        """PREFIX.bw, PREFIX.bed and PREFIX.json, checked; ``genome`` overrides the manifest's FASTA."""
        prefix = str(prefix)
        track, calls, manifest = (Path(prefix + suffix) for suffix in (".bw", ".bed", ".json"))
        for path, what in ((manifest, "scan manifest"), (track, "scan track"), (calls, "scan calls")):
            _check_file(path, what)
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            parameters = data["parameters"]
            window, stride = int(parameters["window"]), int(parameters["stride"])
            named = data["genome"]
            threshold = parameters.get("threshold")
            threshold = float(threshold) if threshold is not None else None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"scan manifest {manifest} is not readable JSON: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"scan manifest {manifest} has no valid parameters.window, parameters.stride and "
                             f"genome ({type(exc).__name__}: {exc}): is it an ielmscan scan's PREFIX.json?") from None
        if window < 1 or stride < 1:
            raise InputError(f"scan manifest {manifest}: window {window} and stride {stride} must be positive")
        if genome is None:
            fasta = Path(str(named))
            if not fasta.is_absolute() and not fasta.exists() and (manifest.parent / fasta).exists():
                fasta = manifest.parent / fasta  # a relative path written where the scan ran
            if not fasta.is_file():
                raise InputError(f"genome {fasta} named in scan manifest {manifest} not found: pass --genome FASTA")
        else:
            fasta = Path(genome)
            _check_file(fasta, "genome")
        return cls(prefix, track, calls, manifest, fasta, window, stride, threshold)


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(f"{what} {path} not found")
    if not path.is_file():
        raise InputError(f"{what} {path} is not a file")


@dataclass
class _Bins:
    """The scored bins of one chromosome: ``[starts, ends)``, track values, context GC, called or not."""

    chrom: str
    starts: np.ndarray
    ends: np.ndarray
    values: np.ndarray
    gc: np.ndarray
    called: np.ndarray


def _read_track(scan: ScanOutputs, genome: Genome) -> list[tuple[str, np.ndarray]]:
    """Every chromosome of the bigWig with its entries as an (n, 3) array of start, end, value."""
    # libBigWig writes its own complaints to stderr on a file that is not a bigWig: check the magic first.
    with open(scan.track, "rb") as fh:
        magic = fh.read(4)
    try:
        bw = pyBigWig.open(str(scan.track)) if magic in BIGWIG_MAGIC else None
    except RuntimeError:
        bw = None
    if bw is None or not bw.isBigWig():
        raise InputError(f"scan track {scan.track} is not a bigWig file")
    try:
        out = []
        for chrom, length in bw.chroms().items():
            try:
                if genome.length(chrom) != length:
                    raise InputError(f"scan track {scan.track}: {chrom} has {length} bases there but "
                                     f"{genome.length(chrom)} in genome {scan.genome}: not the genome scanned")
            except GenomeError:
                raise InputError(f"scan track {scan.track}: chromosome {chrom!r} is not in genome {scan.genome}: "
                                 "not the genome scanned (pass --genome FASTA)") from None
            pieces = []
            for a in range(0, length, TRACK_CHUNK):
                entries = np.array(bw.intervals(chrom, a, min(a + TRACK_CHUNK, length)) or [], dtype=np.float64)
                if len(entries):
                    pieces.append(entries[entries[:, 0] >= a])  # an entry across the boundary was read before
            entries = np.concatenate(pieces) if pieces else np.empty((0, 3))
            out.append((chrom, entries[np.isfinite(entries[:, 2])]))
        return out
    finally:
        bw.close()


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


def _by_chrom(intervals: Sequence[Interval]) -> dict[str, Merged]:
    """Starts and ends of the intervals of each chromosome, sorted by start (not merged)."""
    groups: dict[str, list[tuple[int, int]]] = {}
    for iv in intervals:
        groups.setdefault(iv.chrom, []).append((iv.start, iv.end))
    out: dict[str, Merged] = {}
    for chrom, pairs in groups.items():
        array = np.array(pairs, dtype=np.int64)
        array = array[np.argsort(array[:, 0], kind="stable")]
        out[chrom] = (array[:, 0], array[:, 1])
    return out


def _merge_sorted(starts: np.ndarray, ends: np.ndarray) -> Merged:
    """Intervals sorted by start, merged where they overlap or touch."""
    if not len(starts):
        return starts, ends
    reach = np.maximum.accumulate(ends)
    new = np.r_[True, starts[1:] > reach[:-1]]
    return starts[new], reach[np.r_[np.flatnonzero(new)[1:] - 1, len(starts) - 1]]


def _merge(intervals: Sequence[Interval]) -> dict[str, Merged]:
    """Intervals per chromosome, sorted and merged where they overlap or touch."""
    return {chrom: _merge_sorted(*pair) for chrom, pair in _by_chrom(intervals).items()}


_NONE: Merged = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))


def _overlaps(starts: np.ndarray, ends: np.ndarray, merged: Merged) -> np.ndarray:
    """Whether each ``[start, end)`` shares at least one base with a merged interval."""
    m_starts, m_ends = merged
    last = np.searchsorted(m_starts, ends, side="left") - 1  # the last interval starting before end
    return (last >= 0) & (m_ends[np.maximum(last, 0)] > starts) if len(m_starts) else np.zeros(len(starts), bool)


def _inside(starts: np.ndarray, ends: np.ndarray, merged: Merged) -> np.ndarray:
    """Whether each ``[start, end)`` lies inside one merged interval."""
    m_starts, m_ends = merged
    last = np.searchsorted(m_starts, starts, side="right") - 1  # the last interval starting at or before start
    return (last >= 0) & (m_ends[np.maximum(last, 0)] >= ends) if len(m_starts) else np.zeros(len(starts), bool)


def _scored_bins(scan: ScanOutputs, genome: Genome) -> tuple[list[_Bins], list[Interval]]:
    """The scored bins of every chromosome of the track, and the calls on them."""
    track = _read_track(scan, genome)
    if not any(len(entries) for _, entries in track):
        raise InputError(f"scan track {scan.track} holds no scored bins: nothing to evaluate")
    scanned = {chrom for chrom, _ in track}
    calls = [iv for iv in read_bed(genome, scan.calls) if iv.chrom in scanned]
    merged_calls = _merge(calls)
    bins = []
    for chrom, entries in track:
        starts, ends = entries[:, 0].astype(np.int64), entries[:, 1].astype(np.int64)
        gc = _context_gc(genome, chrom, starts, ends, scan.window)
        called = _inside(starts, ends, merged_calls.get(chrom, _NONE))
        bins.append(_Bins(chrom, starts, ends, entries[:, 2], gc, called))
    return bins, calls


def _labels(bins: list[_Bins], merged: dict[str, Merged]) -> np.ndarray:
    """Per scored bin (all chromosomes, track order): does it overlap an interval of ``merged``?"""
    return np.concatenate([_overlaps(b.starts, b.ends, merged.get(b.chrom, _NONE)) for b in bins])


def _read_set(genome: Genome, path: Path, what: str, bins: list[_Bins]) -> list[Interval]:
    """The intervals of one BED file; InputError when none of them overlaps a scored bin."""
    _check_file(path, what)
    intervals = read_bed(genome, path)
    if not _labels(bins, _merge(intervals)).any():
        scanned = ", ".join(b.chrom for b in bins if len(b.starts))
        raise InputError(f"{what} {path}: none of its {len(intervals)} intervals overlaps a scored bin of the "
                         f"scan (scored: {scanned})")
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


def _set_report(files: list[Path], intervals: list[Interval], bins: list[_Bins], calls: list[Interval],
                values: np.ndarray, gc: np.ndarray, called: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
    """Everything about one set of intervals (truth or control); also returns its bin labels."""
    merged = _merge(intervals)
    labels = _labels(bins, merged)
    ranking = _ranking(labels, values, gc)
    n, positives, n_called = len(labels), int(labels.sum()), int(called.sum())
    called_positives = int((labels & called).sum())
    enrichment = (called_positives / n_called) / (positives / n) if n_called and positives else float("nan")
    # Intervals the scan could find (sharing a base with a scored bin), those a call overlaps, and calls
    # overlapping the set.
    scored = {b.chrom: _merge_sorted(b.starts, b.ends) for b in bins}
    on_scored = found = 0
    merged_calls = _merge(calls)
    for chrom, (starts, ends) in _by_chrom(intervals).items():
        reachable = _overlaps(starts, ends, scored.get(chrom, _NONE))
        on_scored += int(reachable.sum())
        found += int(_overlaps(starts[reachable], ends[reachable], merged_calls.get(chrom, _NONE)).sum())
    calls_hitting = sum(int(_overlaps(starts, ends, merged.get(chrom, _NONE)).sum())
                        for chrom, (starts, ends) in _by_chrom(calls).items())
    report = {
        "files": [str(f) for f in files],
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


def evaluate_scan(
    prefix: str | Path,
    truth: Sequence[str | Path],
    control: str | Path | None = None,
    genome: str | Path | None = None,
) -> dict[str, Any]:
    """Bin- and region-level metrics of a scan against truth BED files (and a control BED), beside GC.

    Returns a JSON-able report (after :func:`~ielmscan.learn.evaluate.jsonable`, which drops the curve
    arrays kept under ``curves`` for the plots): ``scan`` (files and parameters), ``bins`` (scored bins
    and bases, called bins and bases, ``share_called``), ``truth`` and, with a control, ``control`` (each:
    ``positive_bins``, ``positive_share``, ``model`` and ``gc`` AUROC/AUPRC, ``gc_controlled_auroc``,
    ``enrichment``, ``regions``) and ``truth_excluding_control_bins`` (the ranking of truth once bins
    overlapping the control are removed). The module docstring defines every term.
    """
    if not truth:
        raise InputError("no truth BED given: pass at least one --truth BED")
    scan = ScanOutputs.find(prefix, genome)
    with Genome.open(scan.genome) as fasta:
        bins, calls = _scored_bins(scan, fasta)
        truth_paths = [Path(p) for p in truth]
        truth_intervals = [iv for p in truth_paths for iv in _read_set(fasta, p, "truth BED", bins)]
        control_intervals = _read_set(fasta, Path(control), "control BED", bins) if control is not None else None
    values, gc = np.concatenate([b.values for b in bins]), np.concatenate([b.gc for b in bins])
    called = np.concatenate([b.called for b in bins])
    widths = np.concatenate([b.ends - b.starts for b in bins])
    bases, called_bases = int(widths.sum()), int(widths[called].sum())
    report: dict[str, Any] = {
        "scan": {"prefix": scan.prefix, "track": str(scan.track), "calls": str(scan.calls),
                 "manifest": str(scan.manifest), "genome": str(scan.genome), "window": scan.window,
                 "stride": scan.stride, "threshold": scan.threshold},
        "gc_context_bases": scan.window,
        "gc_stratum_width": GC_STRATUM_WIDTH,
        "bins": {"scored": len(values), "bases": bases, "called": int(called.sum()), "called_bases": called_bases,
                 "share_called": called_bases / bases, "bins_without_gc": int(np.isnan(gc).sum())},
    }
    curves: dict[str, Any] = {}
    report["truth"], truth_labels = _set_report(truth_paths, truth_intervals, bins, calls, values, gc, called)
    curves["truth"] = report["truth"].pop("curves")
    if control_intervals is not None:
        report["control"], control_labels = _set_report([Path(control)], control_intervals, bins, calls,
                                                        values, gc, called)
        curves["control"] = report["control"].pop("curves")
        keep = ~control_labels
        kept = _ranking(truth_labels[keep], values[keep], gc[keep])
        curves["truth_excluding_control_bins"] = kept.pop("curves")
        report["truth_excluding_control_bins"] = kept
    report["curves"] = curves
    return report


SETS = ("truth", "control", "truth_excluding_control_bins")


def _fmt(value: float, spec: str = ".3f") -> str:
    return "-" if value is None or np.isnan(value) else format(value, spec)


def table(report: dict[str, Any]) -> str:
    """The report as text: one row per set of intervals, then what the columns mean."""
    b, scan = report["bins"], report["scan"]
    lines = [f"{scan['prefix']}: {b['scored']:,} scored bins ({b['bases']:,} bases, window {scan['window']}, "
             f"stride {scan['stride']}); called: {b['called']:,} bins, {_fmt(100 * b['share_called'], '.2f')}% "
             "of the bases"]
    heads = ("set", "positive bins", "AUROC", "AUPRC", "AUROC(GC)", "AUPRC(GC)", "GC-AUROC", "enrichment",
             "precision", "recall")
    widths = (30, 18, 8, 8, 11, 11, 10, 12, 11, 8)
    lines.append("".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip())
    for name in SETS:
        if name not in report:
            continue
        s = report[name]
        enrichment, regions = s.get("enrichment", {}), s.get("regions", {})
        cells = (
            name, f"{s['positive_bins']:,} ({_fmt(100 * s['positive_share'], '.2f')}%)",
            _fmt(s["model"]["auroc"]), _fmt(s["model"]["auprc"]), _fmt(s["gc"]["auroc"]), _fmt(s["gc"]["auprc"]),
            _fmt(s["gc_controlled_auroc"]), _fmt(enrichment.get("value", float("nan")), ".2f"),
            _fmt(regions.get("precision", float("nan"))), _fmt(regions.get("recall", float("nan"))),
        )
        lines.append("".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
    lines.append(f"AUROC(GC), AUPRC(GC): the GC content of each bin's {report['gc_context_bases']}-bp context as the "
                 f"score; GC-AUROC: the track's AUROC within GC strata of {report['gc_stratum_width']:g}")
    lines.append("enrichment: share of positive bins among called bins / among all scored bins; precision: "
                 "calls overlapping the set; recall: its intervals on scored bins overlapped by a call")
    return "\n".join(lines)


def write_plots(report: dict[str, Any], folder: Path) -> list[Path]:
    """ROC and PR curves of the track and of GC content, one pair of PNGs per set: ``{set}_roc.png``, ``{set}_pr.png``."""
    from ielmscan.learn.plots import plot_pr, plot_roc

    paths = []
    names = {"model": "model track", "gc": f"GC of the {report['gc_context_bases']}-bp context"}
    for name, curves in report["curves"].items():
        if not curves:
            continue
        s = report[name]
        roc = {names[k]: (c["roc"][0], c["roc"][1], s[k]["auroc"]) for k, c in curves.items()}
        pr = {names[k]: (c["pr"][0], c["pr"][1], s[k]["auprc"]) for k, c in curves.items()}
        label = name.replace("_", " ")
        paths += [folder / f"{name}_roc.png", folder / f"{name}_pr.png"]
        plot_roc(roc, paths[-2], title=f"ROC of the scored bins: {label}")
        plot_pr(pr, paths[-1], prevalence=s["positive_share"], title=f"Precision-recall of the scored bins: {label}")
    return paths


def write_report(report: dict[str, Any], output: str | Path) -> list[Path]:
    """Write ``genome_metrics.json`` and the plots into ``output`` at once (staged); their final paths."""
    with staged_folder(Path(output)) as staging:
        write_manifest(staging / REPORT_NAME, jsonable(report))  # strict JSON: NaN as null
        names = [REPORT_NAME, *(p.name for p in write_plots(report, staging))]
    return [Path(output) / name for name in names]
