"""`ielmscan dataset build`: a labelled training set from peaks, FASTA files and GC-matched genome background.

The way the DNABERT-2 colorectal-enhancer study built its sets, in order:

1. **Positives** from peaks (BED or narrowPeak on ``genome``: a ``window``-base window centred on the summit,
   narrowPeak column 10, an offset from the start; on the interval's centre when there is none or it is -1)
   and/or from FASTA files. A window centred on base c covers ``[c - window // 2, c - window // 2 + window)``.
   FASTA records of exactly ``window`` bases are kept, longer ones cut to their centred window (starting at
   ``(length - window) // 2``), shorter ones dropped and counted. Peaks whose window leaves the chromosome
   and windows or records with more than ``max_n_frac`` N/IUPAC bases are dropped and counted too.
2. **Negatives** from FASTA files (same length rule) and/or ``background_ratio`` windows per positive drawn
   from ``genome`` by :func:`ielmscan.learn.background.sample_background`, GC-matched to the positives and
   kept off the positives ± ``margin`` (positives with coordinates on a sequence of the genome), the
   ``blacklist`` and N runs.
3. **Duplicates.** Exact and reverse-complement duplicates among the given records are collapsed to their
   first occurrence; a sequence given in both classes is dropped from both and counted. Then background
   windows that repeat a kept record or an earlier background window (either strand) are dropped and counted.
4. **Splits.** Records with coordinates on a ``val_chroms`` / ``test_chroms`` sequence go to val / test, on
   any other sequence to train. Every other record (all of them when no chromosome is named) is split
   stratified by class, ``val_fraction`` and ``test_fraction`` of each class held out, duplicate groups kept
   together (:func:`ielmscan.learn.dataset.stratified_group_folds`). Background windows follow the chromosome
   split, unless no positive lies on a sequence of the genome (positives from another assembly, background
   from a genome piece): their chromosomes then say nothing about the positives', and they are stratified.

The options and their checks are :mod:`ielmscan.learn.dataset_request`'s. Records are read by
:mod:`ielmscan.learn.dataset_sources` (coordinates of FASTA records come from their
header; its docstring gives the forms) and described by :mod:`ielmscan.learn.dataset_manifest`
(``dataset.json`` and the summary printed). Every sequence written is uppercase (case carries no meaning
here, and soft-masking differs between sources).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ielmscan.errors import InputError
from ielmscan.io.atomic_outputs import OutputFolder
from ielmscan.io.fasta import write_fasta
from ielmscan.io.genome import Genome
from ielmscan.io.paths import file_sha256
from ielmscan.io.writers import write_manifest
from ielmscan.learn.background import sample_background
from ielmscan.learn.baselines import gc_content
from ielmscan.learn.dataset import duplicate_groups, stratified_group_folds
from ielmscan.learn.dataset_manifest import LABELS, SPLITS, manifest
from ielmscan.learn.dataset_request import BuildRequest, check_request
from ielmscan.learn.dataset_sources import Peak, Record, from_fasta, from_peaks, read_peaks

__all__ = ["BuildResult", "build_dataset"]

log = logging.getLogger(__name__)

MANIFEST_NAME = "dataset.json"


@dataclass
class BuildResult:
    output: Path
    manifest: dict[str, Any]


def dataset_output(req: BuildRequest) -> OutputFolder:
    """Where the data set goes, checked: never over an input; into an existing non-empty folder, or over an
    earlier data set, only with ``force``, replacing that set's files and keeping every other file."""
    inputs = (req.genome, req.peaks, *req.pos_fastas, *req.neg_fastas, req.blacklist)
    return OutputFolder(req.output, "data set", MANIFEST_NAME, inputs=inputs, force=req.force, owned=_dataset_files,
                        shared=True)


def _dataset_files(folder: Path) -> set[str]:
    """The files an earlier data set in ``folder`` lists in its ``dataset.json``."""
    return {MANIFEST_NAME, *json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))["files"]}


# -- building --------------------------------------------------------------------------------------


def build_dataset(req: BuildRequest) -> BuildResult:
    """Read the inputs, draw the background, collapse duplicates, split, and write ``req.output`` atomically."""
    check_request(req)
    output = Path(req.output)
    dataset_output(req)  # before reading anything
    inputs: list[dict[str, Any]] = []
    sources: dict[str, dict] = {}
    warnings: list[str] = []
    genome = Genome.open(req.genome) if req.genome is not None else None
    try:
        if genome is not None:
            inputs.append(_input("genome", Path(req.genome)))
        given: list[Record] = []
        if req.peaks is not None and genome is not None:
            records, sources[f"peaks {req.peaks}"] = from_peaks(genome, Path(req.peaks), req.window, req.max_n_frac)
            given += records
            inputs.append(_input("peaks", Path(req.peaks)))
        for role, paths, label in (("pos_fasta", req.pos_fastas, 1), ("neg_fasta", req.neg_fastas, 0)):
            for path in paths:
                records, sources[f"{role} {path}"] = from_fasta(Path(path), req.window, req.max_n_frac, label, role)
                given += records
                inputs.append(_input(role, Path(path)))
        records, duplicates = _collapse(given)
        if not any(r.label == 1 for r in records):
            raise InputError("every positive also appears among the negatives (either strand): nothing is left")
        background = None
        if genome is not None and req.background_ratio > 0:
            blacklist = read_peaks(req.blacklist, "blacklist") if req.blacklist is not None else []
            if req.blacklist is not None:
                inputs.append(_input("blacklist", Path(req.blacklist)))
            background, drawn = _background(genome, records, blacklist, req, warnings)
            kept_background, duplicates["background_dropped"] = _drop_repeats(records, drawn)
            records += kept_background
        if not any(r.label == 0 for r in records):
            raise InputError("no negatives are left after dropping duplicates and records that do not fit")
    finally:
        if genome is not None:
            genome.close()

    split, split_info = _assign_splits(records, req, warnings)
    split_info["background_by_chromosome"] = any(r.source == "background" and r.chrom is not None for r in records)
    result_manifest = manifest(req, inputs, sources, duplicates, background, records, split, split_info, warnings)
    files = {f"{s}.{c}.fa": [(r.name, r.seq) for r, where in zip(records, split.tolist())
                             if where == si and r.label == LABELS[c]]
             for si, s in enumerate(SPLITS) for c in LABELS}
    with dataset_output(req) as out:
        for name, recs in files.items():
            if recs:
                write_fasta(out.staging / name, recs)
                result_manifest["files"][name] = {"records": len(recs), "sha256": file_sha256(out.staging / name)}
        write_manifest(out.staging / MANIFEST_NAME, result_manifest)
    return BuildResult(output, result_manifest)


def _input(role: str, path: Path) -> dict[str, Any]:
    return {"role": role, "path": str(path.resolve()), "bytes": path.stat().st_size, "sha256": file_sha256(path)}



def _collapse(records: list[Record]) -> tuple[list[Record], dict[str, Any]]:
    """First occurrence of each exact / reverse-complement group; groups found in both classes dropped whole."""
    if not records:
        return [], {"within_class_dropped": 0, "cross_class_dropped": 0, "cross_class_groups": 0}
    groups = duplicate_groups([r.seq for r in records])
    labels = np.array([r.label for r in records])
    in_pos = np.zeros(groups.max() + 1, dtype=bool)
    in_neg = np.zeros_like(in_pos)
    in_pos[groups[labels == 1]] = True
    in_neg[groups[labels == 0]] = True
    conflict = in_pos[groups] & in_neg[groups]
    first = np.zeros(len(records), dtype=bool)
    first[np.unique(groups, return_index=True)[1]] = True
    keep = first & ~conflict
    stats = {"within_class_dropped": int((~first & ~conflict).sum()), "cross_class_dropped": int(conflict.sum()),
             "cross_class_groups": int((in_pos & in_neg).sum()),
             "cross_class_examples": [records[i].name for i in np.flatnonzero(conflict)[:5].tolist()]}
    if conflict.any():
        log.warning("%d record(s) in %d group(s) appear among both positives and negatives (either strand): dropped "
                    "from both", stats["cross_class_dropped"], stats["cross_class_groups"])
    return [r for r, k in zip(records, keep.tolist()) if k], stats


def _drop_repeats(kept: list[Record], new: list[Record]) -> tuple[list[Record], int]:
    """``new`` records that repeat no kept record and no earlier new one (either strand)."""
    groups = duplicate_groups([r.seq for r in kept + new])
    first = np.zeros(len(groups), dtype=bool)
    first[np.unique(groups, return_index=True)[1]] = True
    fresh = first[len(kept):].tolist()
    return [r for r, f in zip(new, fresh) if f], fresh.count(False)


def _background(genome: Genome, records: list[Record], blacklist: list[Peak], req: BuildRequest,
                warnings: list[str]) -> tuple[Any, list[Record]]:
    positives = [r for r in records if r.label == 1]
    lengths = dict(genome.chroms)
    placed = [r for r in positives if r.chrom is not None]
    elsewhere = sum(r.chrom not in lengths for r in placed)
    if elsewhere:
        _warn(warnings, f"{elsewhere} positive(s) with coordinates lie on sequences {genome.path} lacks: no margin "
                        "could be kept around them (another assembly or genome piece?)")
    exclude = [(r.chrom, r.start - req.margin, r.end + req.margin) for r in placed]
    exclude += [(p.chrom, p.start, p.end) for p in blacklist]
    sample = sample_background(genome, req.window, gc_content([r.seq for r in positives]), ratio=req.background_ratio,
                               exclude=exclude, max_n_frac=req.max_n_frac, seed=req.seed, bins=req.gc_bins,
                               spacing=req.background_spacing)
    if sample.unfilled:
        _warn(warnings, f"the genome had room for only {len(sample)} of {int(sample.wanted.sum())} background windows")
    # When no positive lies on the genome, its chromosomes mean nothing next to the positives' (another
    # assembly or a piece): the background then joins the stratified split instead of the chromosome split.
    same_space = any(r.chrom in lengths for r in placed)
    drawn = [Record(name, seq, 0, "background", chrom if same_space else None, start, start + req.window)
             for name, seq, chrom, start in zip(sample.names, sample.seqs, sample.chroms, sample.starts.tolist())]
    return sample, drawn


def _warn(warnings: list[str], message: str) -> None:
    warnings.append(message)
    log.warning("%s", message)


def _assign_splits(records: list[Record], req: BuildRequest, warnings: list[str]) -> tuple[np.ndarray, dict]:
    """0 train, 1 val, 2 test per record."""
    split = np.full(len(records), -1, dtype=np.int64)
    by_chrom = bool(req.val_chroms or req.test_chroms)
    if by_chrom:
        val, test = set(req.val_chroms), set(req.test_chroms)
        seen = {r.chrom for r in records}
        for name in sorted((val | test) - seen):
            _warn(warnings, f"no record lies on {name} (named by --val-chrom / --test-chrom)")
        for i, r in enumerate(records):
            if r.chrom is not None:
                split[i] = 1 if r.chrom in val else 2 if r.chrom in test else 0
    rest = np.flatnonzero(split < 0)
    folds = _fold_count(req.val_fraction, req.test_fraction)
    if len(rest):
        if folds:
            labels = np.array([records[i].label for i in rest.tolist()])
            fold = stratified_group_folds(labels, duplicate_groups([records[i].seq for i in rest.tolist()]), folds,
                                          req.seed)
            n_val = _folds_for(req.val_fraction, folds)
            n_test = _folds_for(req.test_fraction, folds)
            split[rest] = np.where(fold < n_val, 1, np.where(fold < n_val + n_test, 2, 0))
        else:
            split[rest] = 0
    labels = np.array([r.label for r in records])
    for si, name in enumerate(SPLITS):
        classes = set(labels[split == si].tolist())
        if len(classes) == 1:
            _warn(warnings, f"the {name} split holds only {'positives' if 1 in classes else 'negatives'}")
    return split, {"by_chromosome": by_chrom, "val_chroms": list(req.val_chroms), "test_chroms": list(req.test_chroms),
                   "stratified_records": int(len(rest)), "stratified_folds": folds}


def _fold_count(val: float, test: float) -> int:
    """Fewest equal folds (2..100) that express both fractions; 0 when nothing is held out."""
    if val == 0 and test == 0:
        return 0
    for folds in range(2, 101):
        if all(abs(f * folds - round(f * folds)) < 1e-6 for f in (val, test)):
            return folds
    return 100


def _folds_for(fraction: float, folds: int) -> int:
    return max(1, round(fraction * folds)) if fraction > 0 else 0
