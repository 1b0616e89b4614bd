"""`dataset.json`, the manifest of a data set `dataset build` wrote, and its few-line text summary.

The manifest records what went in (inputs with their sha256, the parameters, the seed), what each source gave
and dropped, the duplicates, the background's report, the splits, the counts per split and class, the GC of
both classes (histograms, means, and how well GC alone tells them apart) and the warnings; ``files`` is filled
in as the FASTA files are written.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ielmscan import __version__
from ielmscan.learn.background import bin_edges, gc_histogram
from ielmscan.learn.baselines import gc_content
from ielmscan.learn.dataset_request import BuildRequest
from ielmscan.learn.dataset_sources import Record
from ielmscan.learn.metrics import binary_metrics

__all__ = ["LABELS", "SPLITS", "manifest", "summary_table"]

SPLITS = ("train", "val", "test")
LABELS = {"pos": 1, "neg": 0}  # the classes, as file names say them


def manifest(req: BuildRequest, inputs: list[dict], sources: dict, duplicates: dict, background: Any,
             records: list[Record], split: np.ndarray, split_info: dict, warnings: list[str]) -> dict[str, Any]:
    """The manifest of the data set ``req`` built, ``split`` holding each record's split (0 train, 1 val, 2 test)."""
    labels = np.array([r.label for r in records])
    counts = {s: {c: int(((split == si) & (labels == label)).sum()) for c, label in LABELS.items()}
              for si, s in enumerate(SPLITS)}
    counts["total"] = {c: sum(counts[s][c] for s in SPLITS) for c in LABELS}
    gc = gc_content([r.seq for r in records])
    pos_gc, neg_gc = gc[labels == 1], gc[labels == 0]
    both = np.isfinite(gc)
    parameters = {key: _plain(value) for key, value in asdict(req).items() if key not in ("command", "output")}
    return {
        "created_by": "ielmscan dataset build",
        "ielmscan_version": __version__,
        "command": req.command,
        "output": str(Path(req.output).resolve()),
        "seed": req.seed,
        "parameters": parameters,
        "inputs": inputs,
        "sources": sources,
        "duplicates": duplicates,
        "background": background.report() if background is not None else None,
        "splits": split_info,
        "counts": counts,
        "gc": {
            "bin_edges": [round(float(e), 6) for e in bin_edges(req.gc_bins)],
            "pos": gc_histogram(pos_gc, req.gc_bins).tolist(),
            "neg": gc_histogram(neg_gc, req.gc_bins).tolist(),
            "pos_mean": float(np.nanmean(pos_gc)) if len(pos_gc) else None,
            "neg_mean": float(np.nanmean(neg_gc)) if len(neg_gc) else None,
            # How well GC alone tells the classes apart (0.5: not at all; GC-matched background aims there).
            "auroc_pos_vs_neg": binary_metrics(labels[both], gc[both])["auroc"] if len(set(labels[both])) == 2 else None,
        },
        "warnings": warnings,
        "files": {},
    }


def _plain(value: Any) -> Any:
    """Paths as text and sequences as lists, so the returned manifest equals the one written."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def summary_table(manifest: dict[str, Any]) -> str:
    """Counts per split and class, the background's GC matching and what was dropped, as a few text lines."""
    rows = [f"{'split':<8}{'pos':>9}{'neg':>9}"]
    for split in (*SPLITS, "total"):
        counts = manifest["counts"][split]
        if counts["pos"] or counts["neg"] or split == "total":
            rows.append(f"{split:<8}{counts['pos']:>9,}{counts['neg']:>9,}")
    gc = manifest["gc"]
    if gc["auroc_pos_vs_neg"] is not None:
        rows.append(f"GC mean: positives {gc['pos_mean']:.3f}, negatives {gc['neg_mean']:.3f}; AUROC of GC alone "
                    f"{gc['auroc_pos_vs_neg']:.3f} (0.5: GC tells nothing)")
    bg = manifest["background"]
    if bg is not None:
        rows.append(f"background: {bg['windows']:,} of {bg['wanted']:,} windows ({bg['filled_from_other_bins']:,} "
                    f"from neighbouring GC bins, {bg['unfilled']:,} unfilled)")
    dup = manifest["duplicates"]
    dropped = sum(s.get("too_short", 0) + s.get("too_many_n", 0) + s.get("off_chromosome", 0) + s.get("not_in_genome", 0)
                  for s in manifest["sources"].values())
    rows.append(f"dropped: {dropped:,} unusable record(s), {dup['within_class_dropped']:,} duplicate(s), "
                f"{dup['cross_class_dropped']:,} in both classes, {dup.get('background_dropped', 0):,} repeated "
                "background window(s)")
    return "\n".join(rows)

