"""The streaming scan: genome chunks → k-mer ids → ensemble scores → stride bins → track and regions.

Memory is bounded by the chunk size plus one float per window of the interval being scanned (20 MB
for a 250 Mb chromosome at stride 50): window scores of an interval are kept until it is finished so
that bins at chunk borders see every window that covers them.
"""
from __future__ import annotations

import logging
import sys
import time
from contextlib import ExitStack
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ielmscan import __version__
from ielmscan.model.bundle import Bundle, check_window
from ielmscan.model.calibration import benjamini_hochberg
from ielmscan.errors import InputError
from ielmscan.io.genome import Genome
from ielmscan.io.intervals import Chunk, Interval, iter_chunks, select_intervals
from ielmscan.inference.scorer import EnsembleScorer, ScorerSettings
from ielmscan.kernels.encode import encode_bases, kmer_token_ids, reverse_complement_codes, window_invalid_fraction
from ielmscan.kernels.grid import WindowGrid
from ielmscan.kernels.reduce import bin_window_scores
from ielmscan.inference.prefetch import WaitTime, prefetched
from ielmscan.io.writers import (BigWigWriter, OutputSet, Region, regions_from_bins, write_bedgraph, write_manifest,
                                 write_narrowpeak)

log = logging.getLogger(__name__)

OUTPUT_SUFFIXES = (".bed", ".bw", ".json")  # the manifest last: its presence marks a complete set
BEDGRAPH_SUFFIX = ".bedGraph"


@dataclass
class ScanParams:
    """Everything that decides the scores, recorded verbatim in the run manifest."""

    window: int | None = None  # bases per window; None: the bundle's (the length its members were trained on)
    stride: int = 50  # bases between window starts, and the width of a track bin
    max_n_frac: float = 0.1  # windows with a larger fraction of N/IUPAC bases are skipped
    threshold: float | None = None  # region threshold on bin scores; None: from max_p (calibrated bundles) or the bundle's
    max_p: float = 0.01  # calibrated bundles: bins whose background p-value is at most this form regions
    chunk_size: int = 1_000_000  # bases read and encoded at a time (bounds memory)
    fast: bool = False  # cascade: only windows passing the bundle's linear first stage reach the ensemble
    scorer: ScorerSettings = field(default_factory=ScorerSettings)

    def for_bundle(self, bundle: Bundle) -> ScanParams:
        """These parameters with the window resolved (the bundle's where none was given) and checked."""
        params = replace(self, window=self.window if self.window is not None else bundle.window)
        params.validate(bundle)
        return params

    def validate(self, bundle: Bundle) -> None:
        if self.window is None:
            raise InputError("no window length: resolve it with ScanParams.for_bundle(bundle)")
        if self.window < 1 or self.stride < 1:
            raise InputError(f"window ({self.window}) and stride ({self.stride}) must be positive")
        if self.stride > self.window:
            raise InputError(f"stride {self.stride} is larger than the window {self.window}: bases would be skipped")
        check_window(bundle, self.window)
        if not 0.0 <= self.max_n_frac <= 1.0:
            raise InputError(f"--max-n-frac {self.max_n_frac} is outside [0, 1]")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise InputError(f"threshold {self.threshold} is outside [0, 1]")
        if not 0.0 < self.max_p <= 1.0:
            raise InputError(f"--max-p {self.max_p} is outside (0, 1]")
        if self.chunk_size < self.window:
            raise InputError(f"chunk size {self.chunk_size} is smaller than the window {self.window}")
        if self.fast and bundle.cascade is None:
            raise InputError(f"--fast needs a bundle with a cascade first stage; {bundle.path} has none "
                             "(add one with `ielmscan model cascade`)")

    @property
    def grid(self) -> WindowGrid:
        """Where windows start and bins lie (needs a resolved window: see :meth:`for_bundle`)."""
        if self.window is None:
            raise InputError("no window length: resolve it with ScanParams.for_bundle(bundle)")
        return WindowGrid(self.window, self.stride)

    @property
    def chunk_windows(self) -> int:
        return self.grid.windows_within(self.chunk_size)


@dataclass
class PreparedChunk:
    chunk: Chunk
    keep: np.ndarray  # window indices (within the chunk) for the transformers
    ids: np.ndarray | None  # int32 (members, n) token ids, bundle order; None when nothing to score
    ids_rc: np.ndarray | None  # the same for the reverse complement, when RC averaging is on
    rejected: int  # windows the --fast first stage turned away


@dataclass
class IntervalResult:
    interval: Interval
    scores: np.ndarray  # float32 per window, NaN where skipped
    bins: np.ndarray  # float32 per stride bin, NaN where no window was scored
    regions: list[Region]
    windows_to_ensemble: int = 0  # windows the transformers scored
    windows_rejected: int = 0  # windows the --fast first stage kept from the transformers (NaN in scores)
    bases_scored: int = 0  # bases in bins that hold a score (what the track covers)

    @property
    def windows_scored(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.scores)))

    @property
    def windows_skipped(self) -> int:
        """Windows not scored for N/ambiguous bases."""
        return len(self.scores) - self.windows_scored - self.windows_rejected


class Scanner:
    """Scores intervals of a genome with an ensemble; knows nothing of output files.

    Use it as a context manager (or call :meth:`close`): its scorer owns a pool of threads on a CPU.
    """

    def __init__(self, bundle: Bundle, params: ScanParams) -> None:
        params = params.for_bundle(bundle)
        self.bundle = bundle
        self.params = params
        self.scorer = EnsembleScorer(bundle, params.scorer)
        self.calibration = bundle.calibration
        self.threshold, self.call_rule = call_threshold(bundle, params)
        # Scored bins per background rank (how many background windows score at least as high): what
        # the q-values of the whole run are computed from.
        self.exceeding = np.zeros(self.calibration.windows + 1 if self.calibration else 0, dtype=np.int64)
        # One encoding pass yields the ids of every k that the ensemble and the first stage need.
        self.cascade = bundle.cascade if params.fast else None
        extra = self.cascade.ks if self.cascade is not None else []
        # The ensemble's rows come first, in bundle order, so they are a view of the id array.
        self.id_ks = bundle.ks + [k for k in extra if k not in bundle.ks]
        self.cascade_rows = [self.id_ks.index(k) for k in extra]
        # Time the scoring loop waited for prepared chunks: high when reading/encoding is the bottleneck.
        self.input_wait = WaitTime()

    def close(self) -> None:
        self.scorer.close()

    def __enter__(self) -> Scanner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def prepare(self, chunk: Chunk) -> PreparedChunk:
        """Everything before the transformers: encode, drop N windows, apply the --fast first stage.

        Runs in the prefetch thread (the Numba kernels release the GIL), one chunk ahead of inference.
        """
        p = self.params
        codes = encode_bases(chunk.seq)
        keep = np.flatnonzero(window_invalid_fraction(codes, p.window, p.stride) <= p.max_n_frac)
        ids = ids_rc = None
        rejected = 0
        if len(keep):
            ids = kmer_token_ids(codes, self.id_ks)
            if self.cascade is not None:
                first = self.cascade.scores(ids[self.cascade_rows], p.window, p.stride)
                # Windows the first stage rejects stay unscored (NaN): the track and the bins then
                # hold ensemble probabilities only, on one scale.
                passing = first[keep] >= self.cascade.threshold
                rejected = int(np.count_nonzero(~passing))
                keep = keep[passing]
                ids = ids[: len(self.bundle.ks)]
            if len(keep) and p.scorer.reverse_complement:
                ids_rc = kmer_token_ids(reverse_complement_codes(codes), self.bundle.ks)
        return PreparedChunk(chunk, keep, ids, ids_rc, rejected)

    def score_interval(
        self, genome: Genome, interval: Interval, progress: Callable[[int], None] | None = None
    ) -> IntervalResult:
        p = self.params
        scores = np.full(p.grid.count(len(interval)), np.nan, dtype=np.float32)
        done = interval.start
        to_ensemble = rejected = 0
        chunks = (self.prepare(c) for c in iter_chunks(genome, interval, p.grid, p.chunk_windows))
        for prepared in prefetched(chunks, wait=self.input_wait):
            chunk, keep = prepared.chunk, prepared.keep
            rejected += prepared.rejected
            if len(keep):
                probs = self.scorer.score_chunk(prepared.ids, prepared.ids_rc, p.window, p.stride, keep)
                scores[chunk.first_window + keep] = probs
                to_ensemble += len(keep)
            if progress is not None:
                # Report bases up to the end of this chunk's last window start (the last chunk: interval end).
                last = chunk.first_window + chunk.n_windows == len(scores)
                reached = interval.end if last else chunk.start + chunk.n_windows * p.stride
                progress(reached - done)
                done = reached
        if progress is not None and done < interval.end:
            progress(interval.end - done)  # intervals shorter than a window
        bins = bin_window_scores(scores, p.window, p.stride, len(interval))
        regions = regions_from_bins(interval.chrom, interval.start, interval.end, p.stride, bins, self.threshold)
        if self.calibration is not None:
            scored = bins[np.isfinite(bins)]
            self.exceeding += np.bincount(self.calibration.exceeding(scored), minlength=len(self.exceeding))
            p_values = self.calibration.p_values(np.array([r.max_score for r in regions], dtype=np.float32))
            regions = [replace(r, p_value=float(pv)) for r, pv in zip(regions, p_values)]
        starts, ends = p.grid.bin_edges(interval.start, interval.end)
        scored = np.isfinite(bins)
        bases_scored = int((ends[scored] - starts[scored]).sum())
        return IntervalResult(interval, scores, bins, regions, to_ensemble, rejected, bases_scored)

    def with_q_values(self, regions: list[Region]) -> list[Region]:
        """``regions`` with the Benjamini-Hochberg q-value of their best bin among every bin scored so far."""
        if self.calibration is None or not regions:
            return regions
        q_by_rank = benjamini_hochberg(self.exceeding, self.calibration.windows)
        ranks = self.calibration.exceeding(np.array([r.max_score for r in regions], dtype=np.float32))
        return [replace(r, q_value=float(q)) for r, q in zip(regions, q_by_rank[ranks])]


def call_threshold(bundle: Bundle, params: ScanParams) -> tuple[float, str]:
    """The bin score regions are called at, and the rule in words (for the manifest).

    A given threshold wins; else a calibrated bundle's score at p = max_p; else the bundle's own
    threshold, with a warning that its calls mean little on a genome.
    """
    if params.threshold is not None:
        return params.threshold, f"bin score >= {params.threshold:g} (--threshold)"
    if bundle.calibration is not None:
        calibrated_window = bundle.calibration.source.get("window", bundle.window)
        if params.window != calibrated_window or not params.scorer.reverse_complement:
            log.warning("the model was calibrated on %s-bp windows, both strands; p-values of this scan (%s-bp "
                        "windows%s) are approximate", calibrated_window, params.window,
                        "" if params.scorer.reverse_complement else ", one strand")
        threshold = bundle.calibration.threshold(params.max_p)
        return threshold, (f"background p-value <= {params.max_p:g} (bin score >= {threshold:.4f}, against "
                           f"{bundle.calibration.windows:,} background windows)")
    log.warning("model %s has no background calibration: calls use its threshold %.3f, which means little on a "
                "genome, and narrowPeak p/q-values are -1 (add one with `ielmscan model calibrate`)",
                bundle.path, bundle.threshold)
    return bundle.threshold, f"bin score >= {bundle.threshold:g} (the model's threshold; no calibration)"


def default_prefix(fasta: Path, endings: tuple[str, ...] = (".gz", ".bgz", ".fa", ".fasta", ".fna", ".fas")) -> str:
    """Output prefix in the current folder: the input's name without ``endings`` (``hg38.fa.gz`` → ``hg38.ielmscan``)."""
    name = fasta.name
    for suffix in endings:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return f"{name}.ielmscan"


def run_scan(
    fasta: Path,
    bundle: Bundle,
    params: ScanParams,
    prefix: str,
    chroms: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    regions_bed: Path | None = None,
    progress_factory: Callable[[int], Callable[[int], None]] | None = None,
    stdout: TextIO | None = None,
    bedgraph: bool = False,
    force: bool = False,
) -> dict[str, Any]:
    """Scan a genome and write PREFIX.bed (narrowPeak), PREFIX.bw and PREFIX.json atomically.

    ``bedgraph`` adds PREFIX.bedGraph, the bigWig's bins as text. With ``prefix == "-"`` the regions
    go to ``stdout`` when the scan ends and no files are written. Returns the run manifest. No output
    may be an input (the FASTA, its index, the regions BED, a file of the bundle); outputs of an earlier
    run are replaced only with ``force``. Both are checked before scanning.
    """
    started = time.perf_counter()
    with Scanner(bundle, params) as scanner, Genome.open(fasta) as genome:
        params = scanner.params  # the window resolved
        intervals = select_intervals(genome, chroms, exclude, regions_bed)
        total_bases = sum(len(i) for i in intervals)
        progress = progress_factory(total_bases) if progress_factory else None
        per_chrom: dict[str, dict[str, int]] = {}
        regions: list[Region] = []
        if prefix == "-":
            for interval in intervals:
                result = scanner.score_interval(genome, interval, progress)
                regions += result.regions
                _count(per_chrom, result)
            # Written once the whole run is scored: q-values need every bin's p-value.
            out = stdout or sys.stdout
            write_narrowpeak(out, scanner.with_q_values(regions))
            out.flush()
            return _manifest(fasta, bundle, scanner, per_chrom, len(regions), total_bases, started, {"bed": "-"})
        suffixes = (*OUTPUT_SUFFIXES[:-1], *([BEDGRAPH_SUFFIX] if bedgraph else []), OUTPUT_SUFFIXES[-1])
        inputs = (fasta, genome.fai_path, genome.gzi_path, regions_bed, *bundle.folders())
        with OutputSet(prefix, suffixes, inputs=inputs, force=force) as outset:
            chrom_sizes = _track_header(genome, intervals)
            with ExitStack() as files:
                bw = files.enter_context(BigWigWriter(outset.temp(".bw"), chrom_sizes))
                text_track = files.enter_context(outset.temp(BEDGRAPH_SUFFIX).open("w")) if bedgraph else None
                for interval in intervals:
                    result = scanner.score_interval(genome, interval, progress)
                    bw.add_bins(interval.chrom, interval.start, interval.end, params.stride, result.bins)
                    if text_track is not None:
                        write_bedgraph(text_track, interval.chrom, interval.start, interval.end, params.stride,
                                       result.bins)
                    regions += result.regions
                    _count(per_chrom, result)
            with outset.temp(".bed").open("w") as bed:
                write_narrowpeak(bed, scanner.with_q_values(regions))
            outputs = {s.lstrip("."): str(outset.final(s)) for s in suffixes}
            manifest = _manifest(fasta, bundle, scanner, per_chrom, len(regions), total_bases, started, outputs)
            write_manifest(outset.temp(".json"), manifest)
        return manifest


def _track_header(genome: Genome, intervals: list[Interval]) -> list[tuple[str, int]]:
    """bigWig header: the scanned chromosomes with their full lengths, in FASTA order."""
    scanned = {i.chrom for i in intervals}
    return [(name, length) for name, length in genome.chroms if name in scanned]


def _count(per_chrom: dict[str, dict[str, int]], result: IntervalResult) -> None:
    entry = per_chrom.setdefault(
        result.interval.chrom,
        {"bases": 0, "bases_scored": 0, "bases_called": 0, "windows_scanned": 0, "windows_skipped": 0,
         "windows_rejected_fast": 0, "regions": 0},
    )
    entry["bases"] += len(result.interval)
    entry["bases_scored"] += result.bases_scored
    entry["bases_called"] += sum(r.end - r.start for r in result.regions)
    entry["windows_rejected_fast"] += result.windows_rejected
    entry["windows_scanned"] += result.windows_scored
    entry["windows_skipped"] += result.windows_skipped
    entry["regions"] += len(result.regions)


def _manifest(
    fasta: Path,
    bundle: Bundle,
    scanner: Scanner,
    per_chrom: dict[str, dict[str, int]],
    n_regions: int,
    total_bases: int,
    started: float,
    outputs: dict[str, str],
) -> dict[str, Any]:
    params = scanner.params
    wall = time.perf_counter() - started
    bases_scored = sum(c["bases_scored"] for c in per_chrom.values())
    bases_called = sum(c["bases_called"] for c in per_chrom.values())
    scanned = sum(c["windows_scanned"] for c in per_chrom.values())
    return {
        "ielmscan_version": __version__,
        "command": sys.argv,
        "genome": str(fasta),
        "model": {"path": str(bundle.path), "sha256": bundle.checksum, "members": bundle.ks},
        "parameters": {
            **{k: v for k, v in asdict(params).items() if k != "scorer"},
            "threshold": scanner.threshold,
            "reverse_complement": params.scorer.reverse_complement,
            "batch_size": scanner.scorer.batch_size,
            "compile": params.scorer.compile,
            "scoring_workers": scanner.scorer.workers,
            "threads_per_worker": scanner.scorer.threads_per_worker,
            "device": str(scanner.scorer.device),
            "precision": scanner.scorer.precision.value,
        },
        "calls": {
            "rule": scanner.call_rule,
            "calibration": scanner.calibration.to_json() if scanner.calibration is not None else None,
            "track": "bigWig value of a bin: mean ensemble probability (0-1) of the scored windows overlapping it",
            "p_value": ("narrowPeak pValue: -log10 of the best bin's share of background windows scoring at least "
                        "as high" if scanner.calibration is not None else "not computed (-1): no calibration"),
            "q_value": ("narrowPeak qValue: -log10 of the best bin's Benjamini-Hochberg q-value over all scored bins "
                        "of the run" if scanner.calibration is not None else "not computed (-1): no calibration"),
        },
        "chromosomes": per_chrom,
        "bases": total_bases,
        "windows_scanned": scanned,
        "windows_skipped": sum(c["windows_skipped"] for c in per_chrom.values()),
        "windows_rejected_fast": sum(c["windows_rejected_fast"] for c in per_chrom.values()),
        "regions": n_regions,
        "bases_scored": bases_scored,
        "bases_called": bases_called,
        "share_called": round(bases_called / bases_scored, 6) if bases_scored else 0.0,
        "wall_seconds": round(wall, 3),
        "windows_per_second": round(scanned / wall, 1) if wall > 0 else None,
        "input_wait_seconds": round(scanner.input_wait.seconds, 3),
        "outputs": outputs,
    }
