"""Labelled training sequences: labelled FASTA pairs, duplicate-aware stratified splits, token tensors.

Exact duplicates and reverse-complement duplicates are one "group" and always land on the same side of
every split, so a validation or test fold never holds a sequence the model trained on (on either strand).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ielmscan.errors import InputError
from ielmscan.io.fasta import read_fasta
from ielmscan.kernels.encode import reverse_complement


@dataclass
class LabelledSequences:
    names: list[str]
    seqs: list[str]  # uppercase
    labels: np.ndarray  # int64, 1 = positive

    def __len__(self) -> int:
        return len(self.seqs)

    def extended(self, names: list[str], seqs: list[str], label: int) -> LabelledSequences:
        """These records followed by ``seqs`` (uppercased), all labelled ``label``."""
        return LabelledSequences(self.names + names, self.seqs + [s.upper() for s in seqs],
                                 np.r_[self.labels, np.full(len(seqs), label, dtype=np.int64)])



def load_labelled(pos: str | Path | Sequence[str | Path], neg: str | Path | Sequence[str | Path]) -> LabelledSequences:
    """Positives and negatives from FASTA files (one or several each), uppercased (case carries no meaning here)."""
    records = [(n, s.upper(), label) for label, paths in ((1, pos), (0, neg)) for path in _paths(paths)
               for n, s in read_fasta(path)]
    return LabelledSequences([r[0] for r in records], [r[1] for r in records],
                             np.array([r[2] for r in records], dtype=np.int64))


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


def split_validation(labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: about ``fraction`` held out, stratified, groups kept whole."""
    if not 0 < fraction < 1:
        raise InputError(f"validation fraction {fraction} must be between 0 and 1")
    n_folds = max(2, round(1 / fraction))
    fold = stratified_group_folds(labels, groups, n_folds, seed)
    return np.flatnonzero(fold != 0), np.flatnonzero(fold == 0)


def check_lengths(data: LabelledSequences, window: int, source: str) -> None:
    """Training sequences must all be ``window`` bases: the models learn position embeddings."""
    bad = [(n, len(s)) for n, s in zip(data.names, data.seqs) if len(s) != window]
    if bad:
        name, length = bad[0]
        raise InputError(
            f"{source}: {len(bad)} sequence(s) are not {window} bp (e.g. {name}: {length} bp); "
            f"train with --window {length} (all sequences must have one length) or trim/extend them"
        )
