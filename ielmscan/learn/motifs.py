"""`ielmscan motifs`: motifs from a model's attention, as in iEnhancer-ELM (adapted from DNABERT-viz).

The steps, each a function here:

1. :func:`ielmscan.learn.attention.attention_scores` — per-nucleotide attention of every positive (the
   last layer's [CLS] row, spread over the bases; members averaged), or any scores of the same lengths.
2. :func:`high_attention_regions` — runs of bases scoring above the sequence's mean, runs at most
   ``max_gap`` bases apart joined, runs shorter than ``min_length`` dropped.
3. :func:`enrichment` — each distinct region sequence (a pattern) is tested for enrichment in the
   positives against the negatives: hypergeometric upper tail over the sequences containing it, then
   Benjamini–Hochberg over all patterns; patterns with adjusted p below ``max_q`` are kept.
4. :func:`merge_patterns` — shortest patterns first, each joins the earlier groups whose founding pattern
   it overlaps best without gaps (enough matching bases), or founds a group; its regions are moved onto the
   founder's footprint.
5. :func:`motif_windows` — every instance widened (or narrowed) to ``width`` bases around that footprint;
   windows running off a sequence dropped; groups with fewer than ``min_instances`` windows dropped.

The defaults are iEnhancer-ELM's. Coordinates are 0-based, half-open.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ielmscan.kernels.encode import INVALID, encode_bases
from ielmscan.model.tokens import BASES

log = logging.getLogger(__name__)

PACKED_MAX = 32  # longest pattern whose 2-bit packing fits a uint64; longer ones are searched as strings


@dataclass(frozen=True)
class MotifParams:
    """The analysis's settings; the defaults are those iEnhancer-ELM used."""

    min_length: int = 5  # shortest high-attention region, bases
    max_gap: int = 1  # regions this many bases apart (or fewer) are joined
    max_q: float = 0.005  # Benjamini–Hochberg adjusted p-value below which a pattern is enriched
    width: int = 10  # motif width: every instance is widened to this many bases
    min_instances: int = 11  # groups with fewer instances are dropped


@dataclass
class Pattern:
    """A high-attention region sequence, with its enrichment in the positives."""

    seq: str
    regions: list[tuple[int, int, int]]  # (positive index, start, end) where it had high attention
    positives: int = 0  # positive sequences containing it (anywhere)
    negatives: int = 0
    p_value: float = 1.0
    q_value: float = 1.0  # Benjamini–Hochberg over all patterns


@dataclass
class Motif:
    """A group of merged patterns and its fixed-width instances in the positives."""

    name: str
    key: Pattern  # the founding pattern: its footprint places every instance
    patterns: list[Pattern]  # every merged pattern, the key first
    windows: list[tuple[int, int, int]]  # (positive index, start, end), ``width`` bases each
    counts: np.ndarray  # (width, 4) position frequency matrix over A, C, G, T
    matches: list = field(default_factory=list)  # filled by the database comparison

    @property
    def probabilities(self) -> np.ndarray:
        """(width, 4) letter probabilities (a column without a counted base is uniform)."""
        totals = self.counts.sum(1, keepdims=True)
        return np.where(totals > 0, self.counts / np.maximum(totals, 1), 0.25)

    @property
    def consensus(self) -> str:
        """The most frequent base per column; lower case where it is under half of the column."""
        probs = self.probabilities
        return "".join(BASES[i] if p >= 0.5 else BASES[i].lower()
                       for i, p in zip(probs.argmax(1), probs.max(1)))

    @property
    def sequences(self) -> int:
        """Distinct positive sequences with an instance."""
        return len({i for i, _, _ in self.windows})


# ---- 2. regions -----------------------------------------------------------------------------------------


def high_attention_regions(score: np.ndarray, min_length: int = 5, max_gap: int = 1) -> list[tuple[int, int]]:
    """[start, end) runs of bases scoring above the sequence's mean; runs separated by at most ``max_gap``
    bases are joined (the gap included), then runs shorter than ``min_length`` are dropped."""
    score = np.asarray(score, dtype=np.float64)
    if not len(score):
        return []
    edges = np.flatnonzero(np.diff(np.r_[0, (score > score.mean()).astype(np.int8), 0]))
    runs: list[list[int]] = []
    for start, end in zip(edges[::2].tolist(), edges[1::2].tolist()):
        if runs and start - runs[-1][1] <= max_gap:
            runs[-1][1] = end
        else:
            runs.append([start, end])
    return [(start, end) for start, end in runs if end - start >= min_length]


def collect_patterns(seqs: Sequence[str], scores: Sequence[np.ndarray], min_length: int,
                     max_gap: int) -> list[Pattern]:
    """Every distinct high-attention region sequence, with where it occurred (regions with N or other
    non-ACGT letters are left out: they cannot be counted as exact words)."""
    found: dict[str, Pattern] = {}
    for i, (seq, score) in enumerate(zip(seqs, scores)):
        for start, end in high_attention_regions(score, min_length, max_gap):
            word = seq[start:end].upper()
            if set(word) <= set(BASES):
                found.setdefault(word, Pattern(word, [])).regions.append((i, start, end))
    return list(found.values())


# ---- 3. enrichment --------------------------------------------------------------------------------------


def _pack(codes: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """2-bit packed words of ``length`` bases at every start of ``codes``, and whether each is all ACGT."""
    n = len(codes) - length + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=bool)
    invalid = np.r_[0, np.cumsum(codes == INVALID)]
    valid = invalid[length:] - invalid[:n] == 0
    clean = np.where(codes == INVALID, 0, codes).astype(np.uint64)
    words = np.zeros(n, dtype=np.uint64)
    for j in range(length):
        words = (words << np.uint64(2)) | clean[j : j + n]
    return words, valid


def sequences_containing(patterns: Sequence[str], seqs: Sequence[str]) -> np.ndarray:
    """For each pattern (A/C/G/T), how many of ``seqs`` contain it at least once (case ignored)."""
    counts = np.zeros(len(patterns), dtype=np.int64)
    if not len(seqs) or not len(patterns):
        return counts
    # All sequences end to end, an invalid base between them so no word spans two.
    joined = "N".join(s.upper() for s in seqs)
    codes = encode_bases(joined.encode("ascii", errors="replace"))
    owner = np.repeat(np.arange(len(seqs)), [len(s) + 1 for s in seqs])[: len(codes)]
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(patterns):
        by_length.setdefault(len(p), []).append(i)
    for length, which in by_length.items():
        if length > PACKED_MAX:
            upper = [s.upper() for s in seqs]
            for i in which:
                counts[i] = sum(patterns[i] in s for s in upper)
            continue
        wanted = np.array([_pack(encode_bases(patterns[i].encode()), length)[0][0] for i in which])
        words, valid = _pack(codes, length)
        hit = valid & np.isin(words, wanted)
        if not hit.any():
            continue
        pairs = np.unique(np.stack([words[hit], owner[: len(words)][hit].astype(np.uint64)]), axis=1)
        values, per_word = np.unique(pairs[0], return_counts=True)
        where = np.searchsorted(values, wanted)
        found = (where < len(values)) & (values[np.minimum(where, len(values) - 1)] == wanted)
        counts[which] = np.where(found, per_word[np.minimum(where, len(values) - 1)], 0)
    return counts


def hypergeometric_sf(x: int, total: int, successes: int, draws: int) -> float:
    """P(X >= x) for X ~ Hypergeometric: ``draws`` taken from ``total`` of which ``successes`` are marked.

    Summed in log space from log-factorials, so tiny tails (1e-300) keep their precision.
    """
    low, high = max(x, 0, draws - (total - successes)), min(draws, successes)
    if low > high:
        return 0.0

    def log_choose(n: int, k: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)

    terms = np.array([log_choose(successes, i) + log_choose(total - successes, draws - i)
                      for i in range(low, high + 1)]) - log_choose(total, draws)
    top = terms.max()
    return float(min(1.0, math.exp(top) * np.exp(terms - top).sum()))


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values) of any p-values, in their order, capped at 1."""
    p = np.asarray(p_values, dtype=np.float64)
    if not len(p):
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    adjusted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


def enrichment(patterns: list[Pattern], positives: Sequence[str], negatives: Sequence[str]) -> None:
    """Fill each pattern's counts, hypergeometric p-value (more positives containing it than chance) and
    Benjamini–Hochberg q-value over all ``patterns``."""
    words = [p.seq for p in patterns]
    pos = sequences_containing(words, positives)
    neg = sequences_containing(words, negatives)
    total, successes = len(positives) + len(negatives), len(positives)
    for pattern, x, y in zip(patterns, pos.tolist(), neg.tolist()):
        pattern.positives, pattern.negatives = x, y
        pattern.p_value = hypergeometric_sf(x, total, successes, x + y)
    for pattern, q in zip(patterns, benjamini_hochberg([p.p_value for p in patterns])):
        pattern.q_value = float(q)


# ---- 4. merging -----------------------------------------------------------------------------------------


def _one_hot(seq: str) -> np.ndarray:
    return np.stack([np.frombuffer(seq.encode(), dtype=np.uint8) == ord(b) for b in BASES]).astype(np.int64)


def ungapped_alignment(query: str, key: str) -> tuple[int, int]:
    """(matching bases, shift) of the best gap-free overlap of ``key`` on ``query``: ``key[0]`` lies at
    ``query[shift]`` (a negative shift: the key starts before the query). Ties: the smallest |shift|."""
    q, k = _one_hot(query), _one_hot(key)
    # np.correlate's full output index t pairs query[n + t - (len(key) - 1)] with key[n]
    matches = sum(np.correlate(q[c], k[c], "full") for c in range(4))
    shifts = np.arange(len(matches)) - (len(key) - 1)
    best = np.flatnonzero(matches == matches.max())
    pick = best[np.argmin(np.abs(shifts[best]))]
    return int(matches[pick]), int(shifts[pick])


def merge_patterns(patterns: list[Pattern], min_length: int) -> list[tuple[Pattern, list[Pattern], list[tuple[int, int, int]]]]:
    """Groups of similar patterns: (founding pattern, merged patterns, instances on the founder's footprint).

    Patterns are taken shortest first (then alphabetically, so the result does not depend on input order).
    A pattern joins every group whose founder it overlaps with the most matching bases, if that is at least
    max(min_length - 1, half the shorter of the two) — DNABERT-viz's rule; otherwise it founds a group.
    """
    groups: list[tuple[Pattern, list[Pattern], list[tuple[int, int, int]]]] = []
    for pattern in sorted(patterns, key=lambda p: (len(p.seq), p.seq)):
        scored = []
        for index, (key, _, _) in enumerate(groups):
            matches, shift = ungapped_alignment(pattern.seq, key.seq)
            if matches >= max(min_length - 1, 0.5 * min(len(pattern.seq), len(key.seq))):
                scored.append((matches, index, shift))
        if not scored:
            groups.append((pattern, [pattern], list(pattern.regions)))
            continue
        best = max(matches for matches, _, _ in scored)
        for matches, index, shift in scored:
            if matches == best:
                key, members, instances = groups[index]
                members.append(pattern)
                instances.extend((i, start + shift, start + shift + len(key.seq)) for i, start, _ in pattern.regions)
    return groups


# ---- 5. windows and motifs ------------------------------------------------------------------------------


def motif_windows(instances: Sequence[tuple[int, int, int]], lengths: Sequence[int],
                  width: int) -> list[tuple[int, int, int]]:
    """Each instance re-cut to ``width`` bases around its centre (an odd surplus goes to the right), in
    order, without repeats; windows that would run off their sequence (``lengths``) are dropped."""
    seen: set[tuple[int, int, int]] = set()
    windows = []
    for i, start, end in instances:
        begin = start - (width - (end - start)) // 2
        window = (i, begin, begin + width)
        if begin >= 0 and begin + width <= lengths[i] and window not in seen:
            seen.add(window)
            windows.append(window)
    return windows


def frequency_matrix(seqs: Sequence[str], windows: Sequence[tuple[int, int, int]], width: int) -> np.ndarray:
    """(width, 4) counts of A, C, G, T at each position of the windows (other letters not counted)."""
    counts = np.zeros((width, 5), dtype=np.int64)
    for i, start, end in windows:
        codes = encode_bases(seqs[i][start:end].encode("ascii", errors="replace"))
        np.add.at(counts, (np.arange(width), codes), 1)
    return counts[:, :4]


@dataclass
class MotifResult:
    """What :func:`find_motifs` found, with the counts of every step (for the summary and the manifest)."""

    motifs: list[Motif]
    params: MotifParams
    positives: int
    negatives: int
    regions: int  # high-attention regions in the positives
    patterns: int  # distinct region sequences tested
    enriched: int  # patterns with q < max_q
    groups: int  # groups after merging, before the instance filter


def find_motifs(positives: Sequence[str], negatives: Sequence[str], scores: Sequence[np.ndarray],
                params: MotifParams = MotifParams()) -> MotifResult:
    """Steps 2–5 on the positives' per-nucleotide ``scores`` (step 1); motifs ordered by instances, most
    first."""
    if len(scores) != len(positives):
        raise ValueError(f"{len(scores)} score arrays for {len(positives)} positive sequences")
    for i, (seq, score) in enumerate(zip(positives, scores)):
        if len(score) != len(seq):
            raise ValueError(f"positive {i + 1}: {len(score)} scores for {len(seq)} bases")
    patterns = collect_patterns(positives, scores, params.min_length, params.max_gap)
    enrichment(patterns, positives, negatives)
    enriched = [p for p in patterns if p.q_value < params.max_q]
    groups = merge_patterns(enriched, params.min_length)
    lengths = [len(s) for s in positives]
    kept = []
    for key, members, instances in groups:
        windows = motif_windows(instances, lengths, params.width)
        if len(windows) >= params.min_instances:
            kept.append((key, members, windows))
    kept.sort(key=lambda g: (-len(g[2]), g[0].q_value, g[0].seq))
    motifs = [Motif(f"motif_{n}", key, members, windows, frequency_matrix(positives, windows, params.width))
              for n, (key, members, windows) in enumerate(kept, 1)]
    log.info("%d regions, %d patterns, %d enriched, %d groups, %d motifs", sum(len(p.regions) for p in patterns),
             len(patterns), len(enriched), len(groups), len(motifs))
    return MotifResult(motifs, params, len(positives), len(negatives), sum(len(p.regions) for p in patterns),
                       len(patterns), len(enriched), len(groups))
