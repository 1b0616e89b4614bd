"""Section 5, cascade: ``scan --fast`` against the full scan, speed-up and recall, on the real genome if found."""
from __future__ import annotations

import argparse
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ielmscan.inference.devices import Precision
from ielmscan.inference.scan import ScanParams, run_scan
from ielmscan.inference.scorer import ScorerSettings
from ielmscan.io.genome import Genome
from ielmscan.io.synthetic import write_synthetic_genome
from ielmscan.model.bundle import Bundle

from benchmarks.genomes import shared_data_dir
from benchmarks.harness import Row, log, median_time

CASCADE_GENOME = Path("genomes") / "hg38_chr16_186964-397118.fa"  # within the shared data folder


def cascade_genome(explicit: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """Where this section looks for its real genome: ``--cascade-genome`` where given, else
    :data:`CASCADE_GENOME` in the shared data folder (``$IELMSCAN_SHARED_DATA``, else ``../shared/data``
    beside the repository root). The file may not exist: the section then scans a synthetic genome."""
    return explicit if explicit is not None else shared_data_dir(environ) / CASCADE_GENOME


def region_recall(full: list[tuple[str, int, int]], fast: list[tuple[str, int, int]]) -> float:
    """Share of the full scan's regions that overlap at least one --fast region."""
    if not full:
        return float("nan")
    found = sum(any(c == fc and s < fe and fs < e for fc, fs, fe in fast) for c, s, e in full)
    return found / len(full)


def bench_cascade(args: argparse.Namespace, bundle: Bundle, device: torch.device, tmp: Path, rows: list[Row],
                  details: dict[str, Any]) -> None:
    if bundle.cascade is None:
        log("cascade: skipped, the model has no first stage (ielmscan model cascade)")
        details["skipped"] = "model has no cascade"
        return
    source = cascade_genome(args.cascade_genome)
    if source.is_file():
        fasta = Path(shutil.copy(source, tmp / source.name))  # never index inside the shared data folder
        label = source.name
    else:
        fasta = write_synthetic_genome(tmp / "cascade.fa", {"chrC": int(args.genome_mb * 1_000_000)}, seed=9)
        label = f"synthetic {args.genome_mb:g} Mb (real genome not found)"
        log(f"cascade: {source} not found; scanning a {label}")
    Genome.open(fasta).close()
    scorer = ScorerSettings(device=str(device), precision=Precision.auto, batch_size=args.batch_size)
    manifests: dict[str, dict[str, Any]] = {}
    times: dict[str, list[float]] = {}
    for mode in ("full", "fast"):
        def scan(mode: str = mode) -> None:
            manifests[mode] = run_scan(fasta, bundle, ScanParams(fast=mode == "fast", scorer=scorer),
                                       str(tmp / f"cascade-{mode}"), force=True)  # repeats replace
        seconds, times[mode] = median_time(scan, args.e2e_repeats, warmup=0)
    regions = {mode: [(c, int(s), int(e)) for c, s, e, *_ in
                      (line.split("\t") for line in (tmp / f"cascade-{mode}.bed").read_text().splitlines())]
               for mode in ("full", "fast")}
    recall = region_recall(regions["full"], regions["fast"])
    full_s, fast_s = float(np.median(times["full"])), float(np.median(times["fast"]))
    sent = manifests["fast"]["windows_scanned"] / max(1, manifests["full"]["windows_scanned"])
    details.update({"genome": label, "seconds": times, "regions": {m: len(r) for m, r in regions.items()},
                    "share_to_ensemble": sent})
    rows.append(Row("cascade", f"--fast speed-up, {label}", full_s / fast_s, "x", target=">= 5x",
                    passed=full_s / fast_s >= 5, note=f"{sent:.1%} of windows reach the transformers"))
    rows.append(Row("cascade", f"recall of full-scan regions, {label}", recall, "", target=">= 0.99",
                    passed=recall >= 0.99, note=f"{len(regions['full'])} full-scan regions"))


