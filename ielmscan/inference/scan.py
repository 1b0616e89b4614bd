"""The streaming scan: genome chunks → encoded chunks → ensemble scores → stride bins → track and regions.

Memory is bounded by the chunk size plus one float per window of the interval being scanned (20 MB
for a 250 Mb chromosome at stride 50): window scores of an interval are kept until it is finished so
that bins at chunk borders see every window that covers them.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ielmscan import __version__
from ielmscan.errors import InputError
from ielmscan.inference.calls import REJECTED, Caller, IntervalResult, call_threshold
from ielmscan.inference.checkpoint import CHECKPOINT_SUFFIX, Checkpoint
from ielmscan.inference.outputs import BEDGRAPH_SUFFIX, OUTPUT_SUFFIXES, run_description, write_outputs
from ielmscan.inference.params import ScanParams
from ielmscan.inference.plan import PlannedChunk, ScanPlan, Shard
from ielmscan.inference.prefetch import WaitTime, prefetched
from ielmscan.inference.scorer import EnsembleScorer
from ielmscan.inference.scorer_pool import ScorerPool
from ielmscan.io.atomic_outputs import OutputSet
from ielmscan.io.genome import Genome
from ielmscan.io.intervals import Blacklist, Chunk, Interval, read_chunk, select_intervals
from ielmscan.io.score_store import ChunkScores
from ielmscan.io.writers import write_manifest
from ielmscan.inference.windows import EncodedChunk, encode_chunk
from ielmscan.kernels.encode import encode_bases, kmer_token_ids, window_invalid_fraction
from ielmscan.model.bundle import Bundle

log = logging.getLogger(__name__)

SHARD_SUFFIXES = (".scores", ".json")  # a shard's window scores and its manifest, for `ielmscan merge`
__all__ = ["BEDGRAPH_SUFFIX", "CHECKPOINT_SUFFIX", "OUTPUT_SUFFIXES", "SHARD_SUFFIXES", "IntervalResult", "ScanParams",
           "Scanner", "Shard", "call_threshold", "default_prefix", "output_prefix", "run_scan"]


@dataclass
class PreparedChunk:
    chunk: Chunk
    keep: np.ndarray  # window indices (within the chunk) for the transformers
    encoded: EncodedChunk | None  # the chunk as the scorer reads it; None when nothing to score
    offset: int = 0  # windows of context read before the chunk's own (--fast looks at neighbouring windows)
    usable: np.ndarray | None = None  # --fast: windows without too many N, not blacklisted (context included)
    n_windows: int = 0  # the chunk's own windows, after the context before them


class Scanner:
    """Scores intervals of a genome with an ensemble; knows nothing of output files.

    Windows overlapping an interval of ``blacklist`` are not scored (NaN, as windows with too many N).
    Use it as a context manager (or call :meth:`close`): its scorers own threads (a pool on a CPU, one
    thread per device when there are several).
    """

    def __init__(self, bundle: Bundle, params: ScanParams, blacklist: Blacklist | None = None) -> None:
        params = params.for_bundle(bundle)
        self.bundle = bundle
        self.params = params
        self.blacklist = blacklist or Blacklist()
        self.scorers = ScorerPool(bundle, params.scorer)
        self.caller = Caller.for_scan(bundle, params)
        # One encoding pass yields the ids of every k that the ensemble's k-mer members and the first stage need.
        self.cascade = bundle.cascade if params.fast else None
        extra = self.cascade.ks if self.cascade is not None else []
        # The ensemble's rows come first, in bundle order, so they are a view of the id array.
        self.id_ks = bundle.ks + [k for k in extra if k not in bundle.ks]
        self.cascade_rows = [self.id_ks.index(k) for k in extra]
        # Time the scoring loop waited for prepared chunks: high when reading/encoding is the bottleneck.
        self.input_wait = WaitTime()

    def close(self) -> None:
        self.scorers.close()

    def __enter__(self) -> Scanner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def prepare(self, chunk: Chunk, offset: int = 0, n_windows: int | None = None) -> PreparedChunk:
        """Everything before the transformers: encode, drop N and blacklisted windows, apply the --fast first stage.

        ``chunk`` may hold ``offset`` windows of context before the ``n_windows`` to score (and some after):
        with --fast, a window the ensemble calls brings in every window it shares a bin with, and those may
        lie in the next or previous chunk. Runs in the prefetch thread (the Numba kernels release the GIL),
        one chunk ahead of inference.
        """
        p = self.params
        n = chunk.n_windows if n_windows is None else n_windows
        codes = encode_bases(chunk.seq)
        usable = window_invalid_fraction(codes, p.window, p.stride) <= p.max_n_frac
        if self.blacklist:
            usable &= ~self.blacklist.window_mask(chunk.interval, p.grid, chunk.first_window, chunk.n_windows)
        keep = np.flatnonzero(usable)
        encoded = None
        if len(keep):
            ids = kmer_token_ids(codes, self.id_ks) if self.id_ks else None
            if self.cascade is not None:
                first = self.cascade.scores(ids[self.cascade_rows], p.window, p.stride)
                keep = np.flatnonzero(usable & (first >= self.cascade.threshold))  # context windows included
            if len(keep):
                ensemble_ids = ids[: len(self.bundle.ks)] if ids is not None else None
                encoded = encode_chunk(codes, self.bundle.ks, p.scorer.reverse_complement, ensemble_ids)
        return PreparedChunk(chunk, keep, encoded, offset, usable if self.cascade is not None else None, n)

    def _score(self, scorer: EnsembleScorer, prepared: PreparedChunk) -> np.ndarray:
        """One chunk's window scores: NaN where not usable, REJECTED where --fast kept a window from the ensemble.

        --fast scores the windows passing the first stage, then every window that shares a bin with one the
        ensemble calls (at the scan's call threshold). A bin the full scan calls holds a window the ensemble
        calls (a bin's value is a mean of its windows); when that window passes the first stage (its
        calibrated recall) the bin is scored whole and is the full scan's. Any other bin with a REJECTED
        window is a gap (:meth:`Caller.finish`).
        """
        p = self.params
        lo, n = prepared.offset, prepared.n_windows
        done = np.full(n, np.nan, dtype=np.float32)
        if prepared.usable is None:  # a full scan: every usable window
            if len(prepared.keep):
                done[prepared.keep - lo] = scorer.score_chunk(prepared.encoded, p.window, p.stride, prepared.keep)
            return done
        usable = prepared.usable
        done[usable[lo: lo + n]] = REJECTED
        if not len(prepared.keep):
            return done
        first = scorer.score_chunk(prepared.encoded, p.window, p.stride, prepared.keep)
        called = np.zeros(len(usable), dtype=bool)
        called[prepared.keep[first >= self.caller.threshold]] = True
        reach = p.grid.bin_neighbours
        wanted = called.copy()
        for shift in range(1, reach + 1):
            wanted[shift:] |= called[:-shift]
            wanted[:-shift] |= called[shift:]
        wanted[prepared.keep] = False  # scored already
        wanted[:lo] = wanted[lo + n:] = False  # context windows are their own chunk's
        second = np.flatnonzero(wanted & usable)
        own = (prepared.keep >= lo) & (prepared.keep < lo + n)
        done[prepared.keep[own] - lo] = first[own]
        if len(second):
            done[second - lo] = scorer.score_chunk(prepared.encoded, p.window, p.stride, second)
        return done

    def scored(self, genome: Genome, intervals: Sequence[Interval],
               chunks: Sequence[PlannedChunk]) -> Iterator[tuple[PlannedChunk, ChunkScores]]:
        """Each of ``chunks`` (of ``intervals``, in run order) with its window scores, in that order.

        Reading and encoding run a chunk ahead in a background thread; with several devices, each chunk goes
        to the first free one, across interval borders.
        """
        grid = self.params.grid

        # --fast reads the windows that share a bin with the chunk's first and last windows as context.
        reach = grid.bin_neighbours if self.cascade is not None else 0

        def prepared() -> Iterator[tuple[PlannedChunk, PreparedChunk]]:
            for c in chunks:
                interval = intervals[c.interval]
                first = max(0, c.first_window - reach)
                last = min(grid.count(len(interval)), c.first_window + c.n_windows + reach)
                chunk = read_chunk(genome, interval, grid, first, last - first)
                yield c, self.prepare(chunk, c.first_window - first, c.n_windows)

        stream = prefetched(prepared(), depth=1 + len(self.scorers.scorers), wait=self.input_wait)
        scored = self.scorers.map(stream, lambda scorer, item: self._score(scorer, item[1]))
        with closing(stream), closing(scored):  # stopped early: the reader thread and queued chunks stop too
            for (planned, ready), done in scored:
                yield planned, ChunkScores(planned.interval, planned.first_window, done)

    def finish(self, interval: Interval, scores: np.ndarray) -> IntervalResult:
        """The interval's bins, regions and counts from its window scores (the blacklisted windows counted)."""
        return self.caller.finish(interval, scores, self.blacklist.windows_in(interval, self.params.grid))

    def score_interval(
        self, genome: Genome, interval: Interval, progress: Callable[[int], None] | None = None
    ) -> IntervalResult:
        """Every window of ``interval`` scored, binned and called (regions with p-values)."""
        plan = ScanPlan([interval], self.params.grid, self.params.chunk_windows)
        scores = np.full(plan.windows_in(0), np.nan, dtype=np.float32)
        for planned, record in self.scored(genome, plan.intervals, plan.chunks):
            record.put_into(scores)
            if progress is not None:
                progress(_chunk_bases(plan, planned))
        if progress is not None and len(scores) == 0:
            progress(len(interval))  # an interval shorter than a window
        return self.finish(interval, scores)


def default_prefix(fasta: Path, endings: tuple[str, ...] = (".gz", ".bgz", ".fa", ".fasta", ".fna", ".fas")) -> str:
    """Output prefix in the current folder: the input's name without ``endings`` (``hg38.fa.gz`` → ``hg38.ielmscan``)."""
    name = fasta.name
    for suffix in endings:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return f"{name}.ielmscan"


def output_prefix(output: str | Path | None, fasta: Path) -> str:
    """The prefix a scan writes to: ``output`` as given; :func:`default_prefix` when None; that default name
    inside ``output`` when it names a folder (it ends with ``/`` or is an existing folder), as MACS's
    ``--outdir`` does: ``-o results/`` writes ``results/hg38.ielmscan.bed``. ``-`` is standard output."""
    if output is None:
        return default_prefix(fasta)
    text = os.fspath(output)
    if text != "-" and (text.endswith(("/", os.sep)) or os.path.isdir(text)):
        return os.path.join(text, default_prefix(fasta))
    return text


def _intervals_to_scan(genome: Genome, fasta: Path, chroms: Sequence[str] | None, exclude: Sequence[str] | None,
                       regions_bed: Path | None) -> list[Interval]:
    """The selection (:func:`select_intervals`); InputError, saying why, when it leaves nothing to scan."""
    intervals = select_intervals(genome, chroms, exclude, regions_bed)
    if intervals:
        return intervals
    if regions_bed is not None:
        kept = " on the chromosomes kept by --chrom/--exclude-chrom" if chroms or exclude else ""
        why = f"the regions BED {regions_bed} holds no interval longer than 0{kept}"
    elif exclude:
        why = "--chrom/--exclude-chrom leave no chromosome with bases"
    else:
        why = "the sequences selected have no bases"
    raise InputError(f"nothing to scan in {fasta}: {why}")


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
    shard: Shard | None = None,
    resume: bool = False,
    blacklist_bed: Path | None = None,
    tabix: bool = False,
) -> dict[str, Any]:
    """Scan a genome and write PREFIX.bed (narrowPeak), PREFIX.bw and PREFIX.json, all or none.

    ``bedgraph`` adds PREFIX.bedGraph, the bigWig's bins as text; ``tabix`` writes the BED (and bedGraph)
    bgzip-compressed with a tabix index instead (PREFIX.bed.gz + .tbi). Windows overlapping an interval of
    ``blacklist_bed`` are not scored. A ``prefix`` naming a folder writes in it,
    named after the FASTA (:func:`output_prefix`). With ``prefix == "-"`` the regions go to ``stdout`` when
    the scan ends and no files are written. A selection with nothing to scan (every chromosome excluded, an
    empty regions BED) is an InputError. No output may be an input (the FASTA,
    its index, the regions BED, a file of the bundle); outputs of an earlier run are replaced only with
    ``force``. Both are checked before scanning.

    Finished chunks are kept in PREFIX.checkpoint until the outputs are complete; ``resume`` continues
    from it after a kill (the same command and genome: anything else is refused). ``shard`` scores only
    that shard's chunks (:mod:`ielmscan.inference.plan`) into PREFIX.scores and PREFIX.json, for
    `ielmscan merge`. Returns the run manifest (a shard's: what it scored).
    """
    started = time.perf_counter()
    prefix = output_prefix(prefix, fasta)
    if prefix == "-" and (shard is not None or resume or tabix):
        raise InputError("--shard, --resume and --tabix write files: give -o PREFIX instead of '-'")
    with ExitStack() as opened:
        # The genome and the selection are checked before the model is set up (and warns of anything).
        genome = opened.enter_context(Genome.open(fasta))
        intervals = _intervals_to_scan(genome, fasta, chroms, exclude, regions_bed)
        blacklist = Blacklist.read(genome, blacklist_bed).within(intervals) if blacklist_bed is not None else None
        scanner = opened.enter_context(Scanner(bundle, params, blacklist))
        params = scanner.params  # the window resolved
        plan = ScanPlan(intervals, params.grid, params.chunk_windows)
        description = run_description(fasta, genome, bundle, params, scanner.scorers, scanner.caller, intervals,
                                      blacklist)
        inputs = (fasta, genome.fai_path, genome.gzi_path, regions_bed, blacklist_bed, *bundle.folders())
        chunks = plan.shard_chunks(shard)
        progress = progress_factory(sum(_chunk_bases(plan, c) for c in chunks)) if progress_factory else None

        def timing() -> tuple[float, float]:
            return time.perf_counter() - started, scanner.input_wait.seconds

        if shard is not None:
            return _scan_shard(scanner, genome, plan, chunks, shard, prefix, description, inputs, force, resume,
                               progress, timing)
        checkpoint = Checkpoint(prefix, description["key"], resume, force) if prefix != "-" else None

        def results() -> Iterator[IntervalResult]:
            if checkpoint is not None:
                checkpoint.open(inputs)
            done = {(r.interval, r.first_window) for r in checkpoint.records} if checkpoint else set()
            todo = [c for c in chunks if (c.interval, c.first_window) not in done]
            # One stream of chunks for the whole run: with several devices, the next interval's first chunks
            # are scored while this one's last are.
            with closing(scanner.scored(genome, intervals, todo)) as stream:
                for index, interval in enumerate(intervals):
                    scores = np.full(plan.windows_in(index), np.nan, dtype=np.float32)
                    if checkpoint is not None:
                        checkpoint.restore(index, scores)
                    if progress is not None:
                        progress(sum(_chunk_bases(plan, c) for c in chunks if c.interval == index
                                     and (index, c.first_window) in done) + (len(interval) if len(scores) == 0 else 0))
                    for _ in range(sum(1 for c in todo if c.interval == index)):
                        planned, record = next(stream)
                        record.put_into(scores)
                        if checkpoint is not None:
                            checkpoint.add(record)
                        if progress is not None:
                            progress(_chunk_bases(plan, planned))
                    yield scanner.finish(interval, scores)

        try:
            return write_outputs(prefix, results(), scanner.caller, description, sum(len(i) for i in intervals),
                                 timing, inputs=inputs, bedgraph=bedgraph, tabix=tabix, force=force, stdout=stdout,
                                 on_complete=checkpoint.remove if checkpoint else None)
        except BaseException as exc:
            if checkpoint is not None:
                checkpoint.tell_kept(exc)
            raise


def _chunk_bases(plan: ScanPlan, chunk: PlannedChunk) -> int:
    """Bases a chunk stands for in the progress bar; an interval's chunks add up to its length."""
    interval = plan.intervals[chunk.interval]
    start = interval.start + chunk.first_window * plan.grid.stride
    last = chunk.first_window + chunk.n_windows == plan.windows_in(chunk.interval)
    end = interval.end if last else start + chunk.n_windows * plan.grid.stride
    return end - (interval.start if chunk.first_window == 0 else start)


def _scan_shard(scanner: Scanner, genome: Genome, plan: ScanPlan, chunks: list[PlannedChunk], shard: Shard,
                prefix: str, description: dict[str, Any], inputs: tuple, force: bool, resume: bool,
                progress: Callable[[int], None] | None, timing: Callable[[], tuple[float, float]]) -> dict[str, Any]:
    """Score one shard's chunks into PREFIX.scores (the checkpoint, moved into place) and PREFIX.json."""
    checkpoint = Checkpoint(prefix, description["key"], resume, force, shard)
    with OutputSet(prefix, SHARD_SUFFIXES, inputs=inputs, force=force) as outset:
        checkpoint.open(inputs)
        try:
            done = {(c.interval, c.first_window) for c in checkpoint.records}
            if progress is not None:
                progress(sum(_chunk_bases(plan, c) for c in chunks if (c.interval, c.first_window) in done))
            todo = [c for c in chunks if (c.interval, c.first_window) not in done]
            with closing(scanner.scored(genome, plan.intervals, todo)) as stream:
                for planned, record in stream:
                    checkpoint.add(record)
                    if progress is not None:
                        progress(_chunk_bases(plan, planned))
        except BaseException as exc:
            checkpoint.tell_kept(exc)
            raise
        checkpoint.close()
        os.replace(checkpoint.path, outset.temp(".scores"))
        wall, wait = timing()
        manifest = {
            "ielmscan_version": __version__, "command": sys.argv, "shard": {"index": shard.index + 1,
                                                                           "count": shard.count},
            "genome": description["genome"], "model": description["model"], "parameters": description["parameters"],
            "calls": description["calls"], "key": description["key"], "chunks": len(chunks), "windows": sum(c.n_windows for c in chunks),
            "bases": sum(_chunk_bases(plan, c) for c in chunks), "wall_seconds": round(wall, 3),
            "input_wait_seconds": round(wait, 3),
            "outputs": {s.lstrip("."): str(outset.final(s)) for s in SHARD_SUFFIXES},
            "merge": "ielmscan merge SHARD_PREFIX... -o PREFIX joins the shards into one run's outputs",
        }
        write_manifest(outset.temp(".json"), manifest)
    return manifest
