"""GC-matched genome background: random genome windows whose GC distribution matches a set of positives.

Positives-only training sets (DHS or ChIP peaks) need negatives. Windows drawn uniformly from a genome are
AT-richer than enhancers, so a model trained against them can score GC alone; :func:`sample_background`
draws windows whose GC histogram matches the positives' instead. The rule, step by step:

1. **Candidates.** Windows of ``window`` bases start every ``stride`` bases of every chromosome (the
   ``WindowGrid(window, stride)`` windows). A candidate is kept when at most ``max_n_frac`` of its bases
   are N or another IUPAC code, it has at least one A/C/G/T, and it overlaps no ``exclude`` interval.
   Soft-masked (lowercase) bases count like uppercase ones. A candidate's GC is the G/C share of its
   A/C/G/T bases, as :func:`ielmscan.learn.baselines.gc_content` computes it.
2. **Bins.** GC is cut into ``bins`` equal bins over [0, 1] (50 bins: width 0.02; a GC of exactly 1 is
   in the last bin; see :func:`gc_bin`). Bin b is owed ``ratio`` × (positives in bin b), rounded so that
   the owed counts add up to ``round(ratio × positives)`` (largest remainders first, ties to the lower bin);
   with ``count`` the owed counts add up to ``count`` instead, shared out the same way. Without a target
   (``target_gc=None``) the bins are owed shares of the genome's own candidates: an ordinary random
   background, GC distributed as in the genome.
3. **Drawing.** All candidates get one seeded random order. Within a bin they are taken in that order,
   skipping any whose start lies closer than ``spacing`` bases to an already taken window's start. With
   the default ``spacing = window`` no two windows overlap: overlapping negatives share bases, are not
   independent samples, and a random split could put the two halves of one stretch of genome on both
   sides. A smaller ``spacing`` lets them overlap, for genomes too small to hold the count otherwise.
   Bins are served scarcest first (most owed per candidate), so the common bins cannot take the room of
   the rare ones.
4. **Shortfalls.** A bin whose candidates run out before its count is met has a *shortfall*. It is filled
   from the nearest bins that still have candidates: bins b - 1 and b + 1 first (the lower one first),
   then b - 2 and b + 2, and so on, each giving what it can; bins are filled in ascending order. So the
   total holds whenever the genome has room, and the histogram is off only where the genome lacks
   windows of that GC. What not even the farthest bins can supply is reported as ``unfilled`` (and logged).

The result is deterministic for a seed (and the same genome, exclusions and parameters). Windows come
back in genome order, uppercase, named ``chrom:start-end`` (0-based, half-open). Each chromosome is read
and encoded once; GC and N counts of all candidates come from prefix sums, and the drawing works on
whole arrays (rounds of "take every candidate that comes first among its neighbours", which picks exactly
the windows a one-by-one pass in the random order would pick), so a 6 Mb genome takes about a second.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ielmscan.errors import InputError
from ielmscan.io.genome import Genome
from ielmscan.kernels.encode import encode_bases
from ielmscan.kernels.grid import WindowGrid

__all__ = ["DEFAULT_BINS", "BackgroundSample", "bin_edges", "gc_bin", "gc_histogram", "sample_background"]

log = logging.getLogger(__name__)

DEFAULT_BINS = 50  # GC bins of width 0.02
_EPS = 1e-9  # GC values are ratios of small integers: k/50 * 50 may land a hair below k


def gc_bin(gc: np.ndarray | Sequence[float], bins: int = DEFAULT_BINS) -> np.ndarray:
    """Bin index (0..bins-1) of each GC fraction; bin b holds [b/bins, (b+1)/bins), and GC 1 the last bin.

    NaN (a sequence without A/C/G/T) gets -1.
    """
    gc = np.asarray(gc, dtype=np.float64)
    out = np.full(gc.shape, -1, dtype=np.int64)
    ok = np.isfinite(gc)
    out[ok] = np.clip(np.floor(gc[ok] * bins + _EPS), 0, bins - 1).astype(np.int64)
    return out


def bin_edges(bins: int = DEFAULT_BINS) -> np.ndarray:
    """The ``bins + 1`` edges of the GC bins over [0, 1]."""
    return np.linspace(0.0, 1.0, bins + 1)


def gc_histogram(gc: np.ndarray | Sequence[float], bins: int = DEFAULT_BINS) -> np.ndarray:
    """Count per GC bin (NaN values are left out)."""
    b = gc_bin(gc, bins)
    return np.bincount(b[b >= 0], minlength=bins).astype(np.int64)


@dataclass
class BackgroundSample:
    """Windows drawn by :func:`sample_background`, in genome order, and how the drawing went."""

    chroms: list[str]
    starts: np.ndarray  # int64, 0-based; window i is [starts[i], starts[i] + window)
    window: int
    seqs: list[str]  # uppercase
    gc: np.ndarray  # float64, GC fraction of each window
    bins: int
    wanted: np.ndarray  # per bin: windows owed (ratio × positives in the bin, rounded)
    available: np.ndarray  # per bin: candidate windows (few N, not excluded) before drawing
    found: np.ndarray  # per bin: windows drawn from the bin itself (at most wanted)
    drawn: np.ndarray  # per bin: windows returned, fills from neighbouring bins included
    stats: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.seqs)

    @property
    def names(self) -> list[str]:
        """``chrom:start-end`` of every window (0-based, half-open)."""
        return [f"{c}:{s}-{s + self.window}" for c, s in zip(self.chroms, self.starts.tolist())]

    @property
    def shortfall(self) -> np.ndarray:
        """Per bin: windows owed that the bin itself could not supply (filled from its neighbours)."""
        return self.wanted - self.found

    @property
    def unfilled(self) -> int:
        """Windows owed that no bin could supply."""
        return int(self.wanted.sum() - len(self))

    def report(self) -> dict[str, Any]:
        """Plain-JSON summary: per-bin counts, the bins with a shortfall, totals and the parameters."""
        edges = bin_edges(self.bins)
        short = self.shortfall
        return {
            **self.stats,
            "windows": len(self),
            "wanted": int(self.wanted.sum()),
            "filled_from_other_bins": int(short.sum()) - self.unfilled,
            "unfilled": self.unfilled,
            "bin_edges": [round(float(e), 6) for e in edges],
            "per_bin": {"wanted": self.wanted.tolist(), "available": self.available.tolist(),
                        "found": self.found.tolist(), "drawn": self.drawn.tolist()},
            "shortfalls": [
                {"gc": [round(float(edges[b]), 6), round(float(edges[b + 1]), 6)], "wanted": int(self.wanted[b]),
                 "available": int(self.available[b]), "short": int(short[b])}
                for b in np.flatnonzero(short > 0).tolist()
            ],
        }


def sample_background(
    genome_path: str | Path | Genome,
    window: int,
    target_gc: np.ndarray | Sequence[float] | None,
    ratio: float = 1.0,
    exclude: Iterable[tuple[str, int, int]] = (),
    max_n_frac: float = 0.0,
    seed: int = 0,
    bins: int = DEFAULT_BINS,
    stride: int | None = None,
    spacing: int | None = None,
    chroms: Sequence[str] | None = None,
    count: int | None = None,
) -> BackgroundSample:
    """Genome windows of ``window`` bases whose GC histogram matches ``target_gc`` (the module doc has the rule).

    ``target_gc``: the positives' GC fractions (NaN values are ignored), or None for the genome's own GC
    distribution. ``ratio``: windows per positive; ``count``: how many windows in all (instead of
    ``ratio`` × positives; needed without a target).
    ``exclude``: ``(chrom, start, end)`` intervals (0-based, half-open) no window may overlap, e.g. the
    positives widened by a margin and a blacklist; intervals on sequences the genome lacks are counted and
    ignored. ``max_n_frac``: the largest share of N/IUPAC bases a window may hold (0: none).
    ``stride``: step between candidate starts (default ``max(1, window // 10)``). ``spacing``: the least
    distance between two windows' starts (default ``window``: no overlap). ``chroms``: draw only from
    these sequences (default all). ``genome_path`` may be an open :class:`Genome`, which is left open.
    """
    window, bins, seed = _check_int(window, "window", 1), _check_int(bins, "bins", 1), _check_int(seed, "seed", 0)
    stride = _check_int(max(1, window // 10) if stride is None else stride, "stride", 1)
    spacing = _check_int(window if spacing is None else spacing, "spacing", 1)
    ratio, max_n_frac = _number(ratio, "background ratio"), _number(max_n_frac, "max_n_frac")
    if not (math.isfinite(ratio) and ratio >= 0):
        raise InputError(f"background ratio must be a number >= 0, got {ratio!r}")
    if not 0 <= max_n_frac < 1:
        raise InputError(f"max_n_frac must be in [0, 1), got {max_n_frac!r}")
    if count is not None:
        count = _check_int(count, "count", 0)
    elif target_gc is None:
        raise InputError("without target GC values, say how many windows to draw (count)")
    target = np.asarray([] if target_gc is None else target_gc, dtype=np.float64).reshape(-1)
    if np.any(np.isfinite(target) & ((target < 0) | (target > 1))):
        raise InputError("target GC fractions must lie in [0, 1]")

    genome = genome_path if isinstance(genome_path, Genome) else Genome.open(genome_path)
    try:
        names = [name for name, _ in genome.chroms]
        if chroms is not None:
            for name in chroms:
                genome.length(name)  # a GenomeError naming the valid sequences otherwise
            wanted_chroms = set(chroms)
            names = [name for name in names if name in wanted_chroms]
        by_chrom, unknown = _group_intervals(exclude, {n for n, _ in genome.chroms})
        grid = WindowGrid(window, stride)
        gap = -(-spacing // stride)  # candidates closer than this many grid steps conflict
        cand = _candidates(genome, names, grid, by_chrom, int(math.floor(max_n_frac * window + _EPS)), gap)
        cand_bin = gc_bin(cand.gc, bins)
        available = np.bincount(cand_bin, minlength=bins).astype(np.int64)
        shares = gc_histogram(target, bins) if target_gc is not None else available
        wanted = _owed(shares, ratio if count is None else count / max(1, int(shares.sum())))
        drawer = _Drawer(cand.pos, cand_bin, bins, gap, cand.size, np.random.default_rng(seed))
        found = np.zeros(bins, dtype=np.int64)
        scarcity = wanted / np.maximum(available, 1)
        for b in np.lexsort((np.arange(bins), -scarcity)).tolist():  # scarcest first, ties to the lower bin
            if wanted[b]:
                found[b] = drawer.draw(b, int(wanted[b]))
        for b in np.flatnonzero(found < wanted).tolist():
            need = int(wanted[b] - found[b])
            for d in range(1, bins):
                for c in (b - d, b + d):
                    if need and 0 <= c < bins:
                        need -= drawer.draw(c, need)
                if not need:
                    break
        chosen = np.sort(drawer.chosen())  # candidate order is genome order
        seqs = _sequences(genome, names, cand, chosen, window)
    finally:
        if genome is not genome_path:
            genome.close()

    gc = cand.gc[chosen]
    sample = BackgroundSample(
        chroms=[names[i] for i in cand.chrom[chosen].tolist()], starts=cand.start[chosen], window=window, seqs=seqs,
        gc=gc, bins=bins, wanted=wanted, available=available, found=found, drawn=gc_histogram(gc, bins),
        stats={"seed": seed, "window": window, "ratio": ratio, "count": count,
               "gc_target": "positives" if target_gc is not None else "genome", "bins": bins, "stride": stride,
               "spacing": spacing, "max_n_frac": max_n_frac, "positives": int(len(target)),
               "positives_without_gc": int((~np.isfinite(target)).sum()), "chroms": names,
               "candidates": {**cand.counts, "kept": int(len(cand.gc))},
               "exclude_intervals": int(sum(len(v) for v in by_chrom.values())),
               "exclude_intervals_not_in_genome": unknown},
    )
    filled = int(sample.shortfall.sum()) - sample.unfilled
    if filled:
        edges = bin_edges(bins)
        worst = int(np.argmax(sample.shortfall))
        log.warning("the genome lacks windows of some GC: %d of %d background windows came from neighbouring GC bins "
                    "(GC %.2f-%.2f lacked most)", filled, int(wanted.sum()), edges[worst], edges[worst + 1])
    if sample.unfilled:
        log.warning("the genome has room for only %d of %d background windows (%d unfilled)", len(sample),
                    int(wanted.sum()), sample.unfilled)
    return sample


# -- steps ---------------------------------------------------------------------------------------------


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _number(value: object, name: str) -> float:
    if isinstance(value, bool):
        raise InputError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None


def _owed(counts: np.ndarray, ratio: float) -> np.ndarray:
    """``ratio × counts`` as integers adding up to ``round(ratio × counts.sum())`` (largest remainders)."""
    raw = counts * ratio
    owed = np.floor(raw + _EPS).astype(np.int64)
    rest = int(math.floor(raw.sum() + 0.5)) - int(owed.sum())
    if rest > 0:
        order = np.lexsort((np.arange(len(raw)), -(raw - owed)))
        owed[order[:rest]] += 1
    return owed


def _group_intervals(intervals: Iterable[tuple[str, int, int]], known: set[str]) -> tuple[dict[str, np.ndarray], int]:
    """Intervals per sequence as (k, 2) int64 arrays; and how many name a sequence the genome lacks."""
    grouped: dict[str, list[tuple[int, int]]] = {}
    unknown = 0
    for chrom, start, end in intervals:
        if chrom not in known:
            unknown += 1
        elif end > start:
            grouped.setdefault(chrom, []).append((max(0, int(start)), int(end)))
    return {c: np.array(v, dtype=np.int64) for c, v in grouped.items()}, unknown


@dataclass
class _Candidates:
    pos: np.ndarray  # int64: grid index in one global line, chromosomes separated by `gap` empty slots
    gc: np.ndarray  # float64
    chrom: np.ndarray  # int64 index into the sampled names
    start: np.ndarray  # int64, 0-based start on its chromosome
    size: int  # length of the global line
    counts: dict[str, int]


def _candidates(genome: Genome, names: list[str], grid: WindowGrid, exclude: dict[str, np.ndarray],
                max_invalid: int, gap: int) -> _Candidates:
    """Every grid window of the sampled sequences with few enough N and no excluded base, and its GC."""
    parts: list[tuple[np.ndarray, ...]] = []
    offset = gap  # a leading gap too, so blocking a neighbourhood never wraps around
    counts = {"windows": 0, "too_many_n": 0, "excluded": 0}
    for index, name in enumerate(names):
        starts = grid.starts(genome.length(name))
        if not len(starts):
            continue
        codes = encode_bases(genome.fetch(name, 0, genome.length(name)))
        ends = starts + grid.window
        n_valid = _window_sums(codes < 4, starts, ends)
        n_gc = _window_sums((codes == 1) | (codes == 2), starts, ends)
        few_n = (grid.window - n_valid <= max_invalid) & (n_valid > 0)
        excluded = _overlapping(starts, ends, exclude.get(name))
        keep = few_n & ~excluded
        counts["windows"] += len(starts)
        counts["too_many_n"] += int((~few_n).sum())
        counts["excluded"] += int((few_n & excluded).sum())
        j = np.flatnonzero(keep)
        parts.append((offset + j, n_gc[j] / n_valid[j], np.full(len(j), index, dtype=np.int64), starts[j]))
        offset += len(starts) + gap
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return _Candidates(empty, np.zeros(0), empty, empty, offset + gap, counts)
    pos, gc, chrom, start = (np.concatenate(column) for column in zip(*parts))
    return _Candidates(pos, gc.astype(np.float64), chrom, start, offset + gap, counts)


def _window_sums(flags: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Number of true flags in each window [start, end), from one prefix sum."""
    prefix = np.zeros(len(flags) + 1, dtype=np.int64)
    np.cumsum(flags, out=prefix[1:])
    return prefix[ends] - prefix[starts]


def _overlapping(starts: np.ndarray, ends: np.ndarray, intervals: np.ndarray | None) -> np.ndarray:
    """Which windows (sorted starts, their ends) overlap any of the (k, 2) intervals [a, b)."""
    if intervals is None or not len(intervals):
        return np.zeros(len(starts), dtype=bool)
    first = np.searchsorted(ends, intervals[:, 0], side="right")  # first window ending after a
    stop = np.searchsorted(starts, intervals[:, 1], side="left")  # first window starting at or after b
    hit = first < stop
    marks = np.zeros(len(starts) + 1, dtype=np.int64)
    np.add.at(marks, first[hit], 1)
    np.add.at(marks, stop[hit], -1)
    return np.cumsum(marks[:-1]) > 0


class _Drawer:
    """Draws candidates bin by bin in one seeded random order, keeping chosen windows ``gap`` steps apart."""

    def __init__(self, pos: np.ndarray, cand_bin: np.ndarray, bins: int, gap: int, size: int,
                 rng: np.random.Generator) -> None:
        self.pos, self.gap = pos, gap
        priority = rng.permutation(len(pos))
        order = np.lexsort((priority, cand_bin))  # by bin, then by the random order
        cuts = np.searchsorted(cand_bin[order], np.arange(bins + 1))
        self.queue = [order[cuts[b]:cuts[b + 1]] for b in range(bins)]  # per bin, in the random order
        self.blocked = np.zeros(size, dtype=bool)
        self.taken: list[np.ndarray] = []

    def draw(self, b: int, n: int) -> int:
        """Take up to ``n`` more windows from bin ``b``; returns how many it took."""
        queue = self.queue[b]
        queue = self.queue[b] = queue[~self.blocked[self.pos[queue]]]
        if not len(queue) or n <= 0:
            return 0
        pick = queue[_first_independent(self.pos[queue], n, self.gap)]
        for d in range(1 - self.gap, self.gap):
            self.blocked[self.pos[pick] + d] = True
        self.taken.append(pick)
        return len(pick)

    def chosen(self) -> np.ndarray:
        return np.concatenate(self.taken) if self.taken else np.zeros(0, dtype=np.int64)


def _first_independent(pos: np.ndarray, n: int, gap: int) -> np.ndarray:
    """Indices of the first ``n`` of ``pos`` (distinct grid positions in priority order) that a one-by-one
    pass keeps when it skips any position closer than ``gap`` to one kept before.

    Whether an item is kept depends only on the items before it, so the pass is run on a growing prefix.
    """
    size = min(len(pos), max(4 * n, 256))
    while True:
        kept = np.flatnonzero(_greedy_independent(pos[:size], gap))
        if len(kept) >= n or size == len(pos):
            return kept[:n]
        size = min(len(pos), 4 * size)


def _greedy_independent(pos: np.ndarray, gap: int) -> np.ndarray:
    """Mask of the items a one-by-one pass in index order keeps (skipping any closer than ``gap`` to a kept one).

    Computed in rounds on whole arrays: every live item that comes first among its live neighbours is kept,
    and it and its neighbours leave; this yields exactly the one-by-one pass's choice.
    """
    kept = np.zeros(len(pos), dtype=bool)
    if gap <= 1:
        kept[:] = True
        return kept
    order = np.argsort(pos, kind="stable")
    live_pos, live_rank = pos[order], order  # sorted by position; rank = place in the pass
    while len(live_pos):
        steps = range(1, min(gap, len(live_pos)))
        close = [live_pos[k:] - live_pos[:-k] < gap for k in steps]  # neighbours k places apart
        first = np.ones(len(live_pos), dtype=bool)
        for k, near in zip(steps, close):
            left_later = live_rank[:-k] > live_rank[k:]
            first[:-k] &= ~(near & left_later)
            first[k:] &= ~(near & ~left_later)
        leave = first.copy()
        for k, near in zip(steps, close):
            leave[k:] |= near & first[:-k]
            leave[:-k] |= near & first[k:]
        kept[live_rank[first]] = True
        live_pos, live_rank = live_pos[~leave], live_rank[~leave]
    return kept


def _sequences(genome: Genome, names: list[str], cand: _Candidates, chosen: np.ndarray, window: int) -> list[str]:
    """Uppercase bases of the chosen windows (in genome order), reading each chromosome's span of them once."""
    seqs: list[str] = []
    chroms = cand.chrom[chosen]
    for c in np.unique(chroms).tolist():
        starts = cand.start[chosen[chroms == c]].tolist()
        lo = starts[0]
        text = genome.fetch(names[c], lo, starts[-1] + window).decode("ascii").upper()
        seqs.extend(text[s - lo:s - lo + window] for s in starts)
    return seqs
