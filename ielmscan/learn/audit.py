"""`ielmscan dataset audit`: duplicates and composition of FASTA training files, within and across files.

Three kinds of duplicate pair are counted (case ignored), for each file and each pair of files:

- **exact**: the same sequence;
- **reverse complement**: one is the other's reverse complement (and not also equal to it);
- **near**: not an exact or reverse-complement pair, but sharing at least one ``k``-mer (default 32) on
  either strand (or at least ``min_shared`` distinct ones). K-mers are packed two bits a base into 64-bit integers (exact for k <= 32, so no hash
  collisions), both strands folded to the smaller value, sorted once; records sharing a value are pairs.
  K-mers with N/IUPAC bases are skipped, and so is a k-mer found in more than ``max_kmer_records`` records
  (low-complexity or repeat sequence that would pair everything with everything): their number is reported.

Per file it reports the composition (records, length range, mean GC, lowercase and N shares) and, for
every pair of files, how well GC alone tells them apart: the AUROC of GC with the first file as the
positive class (0.5: not at all; far from 0.5: a model can learn GC instead of sequence).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ielmscan.errors import InputError
from ielmscan.io.fasta import read_fasta
from ielmscan.kernels.encode import BASE_LUT, INVALID, encode_bases
from ielmscan.learn.baselines import gc_content
from ielmscan.learn.dataset import duplicate_groups
from ielmscan.learn.metrics import binary_metrics

__all__ = ["DEFAULT_K", "KINDS", "audit_files", "audit_sequences", "audit_table", "cross_file_duplicates"]

DEFAULT_K = 32
KINDS = ("exact", "reverse_complement", "near")


def audit_files(paths: Sequence[str | Path], k: int = DEFAULT_K, examples: int = 5, max_kmer_records: int = 1000,
                min_shared: int = 1) -> dict[str, Any]:
    """Audit FASTA files (see the module doc); a plain-JSON report."""
    if not paths:
        raise InputError("give at least one FASTA file to audit")
    return audit_sequences([str(p) for p in paths], [read_fasta(path) for path in paths], k, examples,
                           max_kmer_records, min_shared)


def audit_sequences(labels: Sequence[str], records: Sequence[Sequence[tuple[str, str]]], k: int = DEFAULT_K,
                    examples: int = 5, max_kmer_records: int = 1000, min_shared: int = 1) -> dict[str, Any]:
    """The audit of ``records[f]`` (``(name, sequence)`` pairs) of each file ``labels[f]``.

    A near pair must share at least ``min_shared`` distinct k-mers (1: any; more skips pairs that share
    only a stretch of a common repeat).
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 32:
        raise InputError(f"k-mer length must be between 1 and 32, got {k!r}")
    if isinstance(min_shared, bool) or not isinstance(min_shared, int) or min_shared < 1:
        raise InputError(f"the least number of shared k-mers must be a whole number >= 1, got {min_shared!r}")
    names = [name for recs in records for name, _ in recs]
    seqs = [seq.upper() for recs in records for _, seq in recs]
    file_of = np.repeat(np.arange(len(records)), [len(recs) for recs in records])
    gc = gc_content(seqs) if seqs else np.zeros(0)
    groups = duplicate_groups(seqs) if seqs else np.zeros(0, dtype=np.int64)

    first, second = _group_pairs(groups)
    same: dict[str, int] = {}
    text_id = np.array([same.setdefault(s, len(same)) for s in seqs], dtype=np.int64)
    exact = text_id[first] == text_id[second]  # else one is the other's reverse complement
    near_first, near_second, shared, skipped = _kmer_pairs(seqs, k, max_kmer_records)
    near = (groups[near_first] != groups[near_second]) & (shared >= min_shared)  # not exact or RC duplicates
    order = np.lexsort((near_second[near], near_first[near], -shared[near]))  # most shared k-mers first
    found = {"exact": (first[exact], second[exact], None),
             "reverse_complement": (first[~exact], second[~exact], None),
             "near": (near_first[near][order], near_second[near][order], shared[near][order])}

    def where(i: int) -> dict[str, str]:
        return {"file": labels[file_of[i]], "name": names[i]}

    n_files = len(records)
    pairs = {}
    listed: dict[str, list[dict[str, Any]]] = {}
    for kind, (a, b, score) in found.items():
        fa, fb = file_of[a], file_of[b]
        pairs[kind] = np.zeros((n_files, n_files), dtype=np.int64)
        np.add.at(pairs[kind], (np.minimum(fa, fb), np.maximum(fa, fb)), 1)
        listed[kind] = [{"a": where(i), "b": where(j), **({"shared_kmers": int(score[x])} if score is not None else {})}
                        for x, (i, j) in enumerate(zip(a[:examples].tolist(), b[:examples].tolist()))]
    rows = []
    for a in range(n_files):
        for b in range(a, n_files):
            row: dict[str, Any] = {"files": [labels[a], labels[b]], **{kind: int(pairs[kind][a, b]) for kind in KINDS}}
            if a != b:
                row["gc_auroc"] = _gc_auroc(gc[file_of == a], gc[file_of == b])
            rows.append(row)
    return {
        "k": k,
        "min_shared_kmers": min_shared,
        "max_kmer_records": max_kmer_records,
        "kmers_in_too_many_records": skipped,
        "files": [_composition(label, recs, gc[file_of == f]) for f, (label, recs) in enumerate(zip(labels, records))],
        "pairs": rows,
        "totals": {kind: {"within_files": int(np.trace(pairs[kind])),
                          "across_files": int(np.triu(pairs[kind], 1).sum())} for kind in KINDS},
        "examples": listed,
    }


def cross_file_duplicates(report: dict[str, Any]) -> int:
    """Exact and reverse-complement duplicate pairs whose two records lie in different files."""
    return sum(report["totals"][kind]["across_files"] for kind in ("exact", "reverse_complement"))


def audit_table(report: dict[str, Any]) -> str:
    """The report as text: composition per file, duplicate pairs and GC AUROC per file pair, a few examples."""
    files = report["files"]
    short = _short_names([f["path"] for f in files])
    width = max([4, *map(len, short.values())])
    lines = [f"{'file':<{width}}  {'records':>8}  {'length':>11}  {'GC':>5}  {'lower':>6}  {'N':>6}"]
    for f in files:
        gc = f"{f['gc_mean']:.3f}" if f["gc_mean"] is not None else "NA"
        lines.append(f"{short[f['path']]:<{width}}  {f['records']:>8,}  {f['length_min']:>5}-{f['length_max']:<5}  {gc:>5}  "
                     f"{f['lowercase_share']:>6.3f}  {f['n_share']:>6.3f}")
    labels = [short[a] if a == b else f"{short[a]} vs {short[b]}" for a, b in (row["files"] for row in report["pairs"])]
    pair_width = max([15, *map(len, labels)])
    near = f"near(k={report['k']})"
    lines += ["", f"{'duplicate pairs':<{pair_width}}  {'exact':>7}  {'rev-comp':>8}  {near:>10}  {'GC AUROC':>8}"]
    for label, row in zip(labels, report["pairs"]):
        auroc = row.get("gc_auroc")
        lines.append(f"{label:<{pair_width}}  {row['exact']:>7,}  {row['reverse_complement']:>8,}  {row['near']:>10,}  "
                     + (f"{auroc:>8.3f}" if auroc is not None else f"{'':>8}"))
    lines.append("(GC AUROC: how well GC alone tells the first file from the second; 0.5 = not at all)")
    for kind, found in report["examples"].items():
        for example in found:
            a, b = example["a"], example["b"]
            extra = f" ({example['shared_kmers']} shared {report['k']}-mers)" if "shared_kmers" in example else ""
            lines.append(f"{kind.replace('_', ' ')}: {short[a['file']]}:{a['name']}  {short[b['file']]}:{b['name']}{extra}")
    if report["kmers_in_too_many_records"]:
        lines.append(f"{report['kmers_in_too_many_records']:,} k-mer(s) found in more than "
                     f"{report['max_kmer_records']:,} records were not used for near duplicates")
    return "\n".join(lines)


def _short_names(paths: list[str]) -> dict[str, str]:
    """File names without their folders when that leaves them distinct, else as given."""
    names = {p: Path(p).name for p in paths}
    return names if len(set(names.values())) == len(names) else {p: p for p in paths}


def _composition(label: str, records: Sequence[tuple[str, str]], gc: np.ndarray) -> dict[str, Any]:
    lengths = np.array([len(seq) for _, seq in records], dtype=np.int64)
    raw = np.frombuffer("".join(seq for _, seq in records).encode("ascii", errors="replace"), dtype=np.uint8)
    total = max(1, len(raw))
    return {
        "path": label,
        "records": len(records),
        "length_min": int(lengths.min()) if len(lengths) else 0,
        "length_max": int(lengths.max()) if len(lengths) else 0,
        "length_mean": float(lengths.mean()) if len(lengths) else 0.0,
        "gc_mean": float(np.nanmean(gc)) if np.isfinite(gc).any() else None,
        "lowercase_share": float(((raw >= ord("a")) & (raw <= ord("z"))).sum() / total),
        "n_share": float((BASE_LUT[raw] == INVALID).sum() / total),
    }


def _gc_auroc(first: np.ndarray, second: np.ndarray) -> float | None:
    first, second = first[np.isfinite(first)], second[np.isfinite(second)]
    if not len(first) or not len(second):
        return None
    labels = np.r_[np.ones(len(first), dtype=np.int64), np.zeros(len(second), dtype=np.int64)]
    return binary_metrics(labels, np.r_[first, second])["auroc"]


def _group_pairs(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i < j) of records in the same duplicate group, in order of i then j."""
    order = np.argsort(groups, kind="stable")
    return _run_pairs(groups[order], order)


def _run_pairs(keys: np.ndarray, owners: np.ndarray, max_run: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) of ``owners`` within each run of equal sorted ``keys``; runs longer than ``max_run`` skipped."""
    if len(keys) < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = _run_starts(keys)
    lengths = np.diff(np.r_[starts, len(keys)])
    use = lengths >= 2
    if max_run is not None:
        use &= lengths <= max_run
    starts, lengths = starts[use], lengths[use]
    first, second = [], []
    for d in range(1, int(lengths.max()) if len(lengths) else 0):  # members d places apart within a run
        runs = lengths > d
        base = np.repeat(starts[runs], lengths[runs] - d) + _ramp(lengths[runs] - d)
        a, b = owners[base], owners[base + d]
        first.append(np.minimum(a, b))
        second.append(np.maximum(a, b))
    if not first:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    first_all, second_all = np.concatenate(first), np.concatenate(second)
    order = np.lexsort((second_all, first_all))
    return first_all[order].astype(np.int64), second_all[order].astype(np.int64)


def _run_starts(keys: np.ndarray) -> np.ndarray:
    """Index of the first item of each run of equal values in ``keys`` (none for no keys)."""
    return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, dtype=np.int64)


def _ramp(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., c - 1 for every c in ``counts``, concatenated."""
    ends = np.cumsum(counts)
    return np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - counts, counts)


def _kmer_pairs(seqs: list[str], k: int, max_kmer_records: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Record pairs (i < j) sharing a k-mer on either strand, the number of distinct k-mers they share, and
    the number of k-mers left out for lying in more than ``max_kmer_records`` records."""
    kmers, owners = _canonical_kmers(seqs, k)
    # Most k-mers occur once: find the repeated values with a plain sort (fast) and order only those.
    ordered = np.sort(kmers)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    empty = np.zeros(0, dtype=np.int64)
    if not len(repeated):
        return empty, empty, empty, 0
    hit = repeated[np.minimum(np.searchsorted(repeated, kmers), len(repeated) - 1)] == kmers
    order = np.argsort(kmers[hit], kind="stable")  # owners stay ascending within a k-mer
    kmers, owners = kmers[hit][order], owners[hit][order]
    once = np.r_[True, (kmers[1:] != kmers[:-1]) | (owners[1:] != owners[:-1])]  # a k-mer once per record
    kmers, owners = kmers[once], owners[once]
    skipped = int((np.diff(np.r_[_run_starts(kmers), len(kmers)]) > max_kmer_records).sum())
    first, second = _run_pairs(kmers, owners, max_kmer_records)
    if not len(first):
        return first, second, empty, skipped
    code = first * len(seqs) + second
    code, shared = np.unique(code, return_counts=True)
    return code // len(seqs), code % len(seqs), shared.astype(np.int64), skipped


def _canonical_kmers(seqs: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every k-mer of every record without N/IUPAC, as the smaller of its two strands' 2-bit packings, and
    its record. Records are joined with a separator, which no valid k-mer can span."""
    lengths = np.fromiter((len(s) + 1 for s in seqs), dtype=np.int64, count=len(seqs))
    codes = encode_bases("".join(s + "\n" for s in seqs).encode("ascii", errors="replace"))
    n = len(codes) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    invalid = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum(codes == INVALID, out=invalid[1:])
    ok = np.flatnonzero(invalid[k:] == invalid[:n])  # k-mer starts without an invalid base
    bases = (codes & 3).astype(np.uint64)
    forward = _packed(bases, k, n)
    # The reverse complement of the k-mer at i is the k-mer at n - 1 - i of the reversed complement.
    backward = _packed((np.uint64(3) - bases)[::-1].copy(), k, n)[::-1]
    owners = np.repeat(np.arange(len(seqs), dtype=np.int64), lengths)[ok]
    return np.minimum(forward[ok], backward[ok]), owners


def _packed(bases: np.ndarray, k: int, n: int) -> np.ndarray:
    """2-bit packing (first base most significant) of the k-mers starting at 0..n-1 of ``bases`` (uint64 codes).

    Built by doubling (1-, 2-, 4-, ... -mers) and joining the powers of two that make up k: a handful of
    whole-array passes instead of k.
    """
    powers = {1: bases}
    size = 1
    while 2 * size <= k:
        half = powers[size]
        powers[2 * size] = (half[:-size] << np.uint64(2 * size)) | half[size:]
        size *= 2
    value: np.ndarray | None = None
    done = 0
    for size in sorted(powers, reverse=True):
        if k - done >= size:
            piece = powers[size][done:done + n]
            value = piece.copy() if value is None else (value << np.uint64(2 * size)) | piece
            done += size
    assert value is not None
    return value
