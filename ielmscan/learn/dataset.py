"""Labelled training sequences: labelled FASTA pairs, duplicate-aware stratified splits, token tensors, and the
check that a labelled set can serve what is asked of it.

Exact duplicates and reverse-complement duplicates are one "group" and always land on the same side of
every split, so a validation or test fold never holds a sequence the model trained on (on either strand).
A record is usable when a scan would score it: at most :data:`MAX_N_FRACTION` of its bases N or IUPAC codes.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ielmscan.errors import InputError
from ielmscan.io.fasta import read_fasta
from ielmscan.kernels.encode import encode_bases, reverse_complement, window_invalid_fraction

log = logging.getLogger(__name__)

# The scan's default --max-n-frac: a record whose windows a scan would skip teaches and tests nothing.
MAX_N_FRACTION = 0.1
ROLES = {1: "positive", 0: "negative"}


@dataclass
class LabelledSequences:
    names: list[str]
    seqs: list[str]  # uppercase
    labels: np.ndarray  # int64, 1 = positive
    origins: list[str] = field(default_factory=list)  # per record: the file it came from ("" where unknown)

    def __post_init__(self) -> None:
        if len(self.origins) != len(self.seqs):
            self.origins = [""] * len(self.seqs)

    def __len__(self) -> int:
        return len(self.seqs)

    def extended(self, names: list[str], seqs: list[str], label: int, origin: str = "") -> LabelledSequences:
        """These records followed by ``seqs`` (uppercased), all labelled ``label``, from ``origin``."""
        return LabelledSequences(self.names + names, self.seqs + [s.upper() for s in seqs],
                                 np.r_[self.labels, np.full(len(seqs), label, dtype=np.int64)],
                                 self.origins + [origin] * len(seqs))

    def joined(self, other: LabelledSequences) -> LabelledSequences:
        """These records followed by ``other``'s."""
        return LabelledSequences(self.names + other.names, self.seqs + other.seqs, np.r_[self.labels, other.labels],
                                 self.origins + other.origins)

    def subset(self, index: np.ndarray) -> LabelledSequences:
        """The records at ``index``, in its order."""
        return LabelledSequences([self.names[i] for i in index], [self.seqs[i] for i in index], self.labels[index],
                                 [self.origins[i] for i in index])

    def sources(self, label: int) -> str:
        """Where the records of class ``label`` came from, for messages: their files, or "the positives"."""
        named = dict.fromkeys(o for o, y in zip(self.origins, self.labels) if y == label and o)
        return ", ".join(named) or f"the {ROLES[label]}s"


def load_labelled(pos: str | Path | Sequence[str | Path], neg: str | Path | Sequence[str | Path]) -> LabelledSequences:
    """Positives and negatives from FASTA files (one or several each), uppercased (case carries no meaning here).

    Refuses (:class:`InputError`) a class whose files hold no usable record, and two classes that are one set
    of sequences (every record of a class is also in the other, on either strand: the same file twice, say).
    """
    records = [(n, s.upper(), label, str(path)) for label, paths in ((1, pos), (0, neg)) for path in _paths(paths)
               for n, s in read_fasta(path)]
    data = LabelledSequences([r[0] for r in records], [r[1] for r in records],
                             np.array([r[2] for r in records], dtype=np.int64), [r[3] for r in records])
    usable = invalid_fractions(data.seqs) <= MAX_N_FRACTION
    for label in (1, 0):
        given = data.labels == label
        if given.any() and not usable[given].any():
            raise InputError(f"{data.sources(label)}: none of the {int(given.sum())} {ROLES[label]} record(s) is "
                             f"usable: each has more than {MAX_N_FRACTION:.0%} N or other ambiguous bases (a scan "
                             "skips such windows); give sequences of A, C, G and T")
    groups = duplicate_groups(data.seqs)
    own = {label: set(groups[(data.labels == label) & usable].tolist()) for label in (1, 0)}
    if own[1] and own[0] and (own[1] <= own[0] or own[0] <= own[1]):
        if data.sources(1) == data.sources(0):
            problem = f"{data.sources(1)} is given as both the positives and the negatives"
        elif own[1] == own[0]:
            problem = (f"{data.sources(1)} and {data.sources(0)} hold the same {len(own[1])} distinct "
                       "sequence(s) (on one strand or the other)")
        else:
            inner, outer = (1, 0) if own[1] <= own[0] else (0, 1)
            problem = (f"every one of the {len(own[inner])} distinct {ROLES[inner]} sequence(s) of "
                       f"{data.sources(inner)} is also among the {ROLES[outer]}s ({data.sources(outer)}, on one "
                       "strand or the other)")
        raise InputError(f"{problem}: positives and negatives must differ; give each class its own FASTA")
    return data


def _paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    return [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]


def canonical(seq: str) -> str:
    """The lexicographically smaller of a sequence and its reverse complement (IUPAC codes complemented)."""
    return min(seq, reverse_complement(seq.encode()).decode())


def duplicate_groups(seqs: Sequence[str]) -> np.ndarray:
    """Group id per sequence: equal ids for exact and reverse-complement duplicates."""
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(canonical(s.upper()), len(ids)) for s in seqs], dtype=np.int64)


def stratified_group_folds(labels: np.ndarray, groups: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold number (0..n_folds-1) per sample; groups stay whole, class balance is kept per fold.

    Groups are dealt out per class (by the label of their first member) in a seeded random order,
    each to the fold that currently holds the fewest samples of that class.
    """
    if n_folds < 2:
        raise InputError(f"need at least 2 folds, got {n_folds}")
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    group_ids, first = np.unique(groups, return_index=True)
    for cls in np.unique(labels):
        members = group_ids[labels[first] == cls]
        counts = np.zeros(n_folds, dtype=np.int64)
        for g in rng.permutation(members):
            target = int(np.argmin(counts + rng.random(n_folds) * 1e-3))  # random tie-break
            where = groups == g
            fold[where] = target
            counts[target] += int(where.sum())
    return fold


def validation_folds(fraction: float) -> int:
    """How many folds a validation split of ``fraction`` deals the records into (one of them is held out)."""
    if not 0 < fraction < 1:
        raise InputError(f"validation fraction {fraction} must be between 0 and 1")
    return max(2, round(1 / fraction))


def split_validation(labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: about ``fraction`` held out, stratified, groups kept whole.

    Refuses a split whose validation side lacks a class: its AUROC, which chooses the epoch and the
    threshold, needs both. :func:`records_needed` says how many records make that impossible.
    """
    fold = stratified_group_folds(labels, groups, validation_folds(fraction), seed)
    train, validation = np.flatnonzero(fold != 0), np.flatnonzero(fold == 0)
    for label in (1, 0):
        if not (labels[validation] == label).any():
            raise InputError(f"a {fraction:.0%} validation split of {len(labels)} records holds no {ROLES[label]}s "
                             "(copies of a sequence stay on one side): give more distinct records of each class or "
                             "a larger --val-fraction")
    return train, validation


def records_needed(folds: int, inner: int = 0) -> int:
    """Fewest distinct records of a class that a stratified ``folds``-fold split needs, so that every fold
    holds one of them and every fold's complement (its training part) at least ``inner``."""
    n = folds
    while n - -(-n // folds) < inner:  # a fold holds at most ceil(n / folds) of n records
        n += 1
    return n


def invalid_fractions(seqs: Sequence[str]) -> np.ndarray:
    """Share of N/IUPAC bases of each sequence, as the scanner's kernel counts them (1.0 for an empty one)."""
    lengths = {len(seq) for seq in seqs}
    if len(lengths) == 1 and 0 not in lengths:  # the usual case: one kernel call on the records end to end
        length = lengths.pop()
        codes = encode_bases("".join(seqs).encode("ascii", errors="replace"))
        return window_invalid_fraction(codes, length, length).astype(np.float64)
    out = np.ones(len(seqs))
    for i, seq in enumerate(seqs):
        if seq:
            codes = encode_bases(seq.encode("ascii", errors="replace"))
            out[i] = window_invalid_fraction(codes, len(codes), len(codes))[0]
    return out


def usable_records(data: LabelledSequences, need: int, purpose: str, remedy: str,
                   warn: bool = True) -> LabelledSequences:
    """The records of ``data`` that a scan would score (at most :data:`MAX_N_FRACTION` N/IUPAC bases).

    Refuses (:class:`InputError`, naming the files and the counts) unless each class keeps ``need``
    distinct records of its own (a sequence and its copies on either strand count once; one that is in
    both classes does not count), which is what ``purpose`` needs; ``remedy`` says what to do. Once the
    data pass (and only then: a refusal stays one line), records left out and sequences in both classes are
    logged as warnings, unless ``warn`` is false.
    """
    invalid = invalid_fractions(data.seqs) > MAX_N_FRACTION
    kept = data.subset(np.flatnonzero(~invalid))
    groups = duplicate_groups(kept.seqs)
    in_class = {label: set(groups[kept.labels == label].tolist()) for label in (1, 0)}
    shared = in_class[1] & in_class[0]
    for label in (1, 0):
        own = len(in_class[label] - shared)
        if own >= need:
            continue
        records = int((data.labels == label).sum())
        if not records:
            raise InputError(f"{purpose} needs {ROLES[label]}s as well as {data.sources(1 - label)}, and has none: "
                             f"{remedy}")
        dropped = int((invalid & (data.labels == label)).sum())
        in_both = int(np.isin(groups[kept.labels == label], list(shared)).sum())
        copies = records - dropped - in_both - own
        why = [f"{count} {text}" for count, text in (
            (dropped, f"with more than {MAX_N_FRACTION:.0%} N or other ambiguous bases"),
            (copies, "repeating another (either strand)"), (in_both, f"also among the {ROLES[1 - label]}s")) if count]
        raise InputError(f"{data.sources(label)}: {own} usable distinct {ROLES[label]}(s) in {records} record(s)"
                         f"{' (' + '; '.join(why) + ')' if why else ''}; {purpose} needs at least {need} of each "
                         f"class: {remedy}")
    if not warn:
        return kept
    for origin in dict.fromkeys(data.origins[i] for i in np.flatnonzero(invalid)):
        of_origin = np.array([o == origin for o in data.origins])
        log.warning("%s: %d of %d record(s) left out: more than %.0f%% N or other ambiguous bases (a scan skips "
                    "such windows)", origin or "labelled data", int((of_origin & invalid).sum()),
                    int(of_origin.sum()), 100 * MAX_N_FRACTION)
    if shared:
        both = np.isin(groups, list(shared))
        log.warning("%d positive and %d negative record(s) are %d sequence(s) found in both classes (either strand), "
                    "in %s and %s: they mislead training and evaluation; `ielmscan dataset audit` lists them, "
                    "`ielmscan dataset build` drops them", int((both & (kept.labels == 1)).sum()),
                    int((both & (kept.labels == 0)).sum()), len(shared), kept.sources(1), kept.sources(0))
    return kept


def check_lengths(data: LabelledSequences, window: int, source: str) -> None:
    """Training sequences must all be ``window`` bases: the models learn position embeddings."""
    bad = [(n, len(s)) for n, s in zip(data.names, data.seqs) if len(s) != window]
    if bad:
        name, length = bad[0]
        raise InputError(
            f"{source}: {len(bad)} sequence(s) are not {window} bp (e.g. {name}: {length} bp); "
            f"train with --window {length} (all sequences must have one length) or trim/extend them"
        )
