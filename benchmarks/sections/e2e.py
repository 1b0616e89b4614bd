"""Section 3, end to end: ``ielmscan scan`` against the reference pipeline, in process and in new processes."""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ielmscan.inference.devices import Precision, resolve_precision
from ielmscan.inference.scan import Scanner, ScanParams, run_scan
from ielmscan.inference.scorer import ScorerSettings
from ielmscan.io.genome import Genome
from ielmscan.io.intervals import Interval
from ielmscan.io.synthetic import write_synthetic_genome
from ielmscan.model.bundle import Bundle

from benchmarks import reference
from benchmarks.harness import BenchmarkFailure, Row, log, round_robin_times

SCORE_TOLERANCE = 1e-4


def bench_end_to_end(args: argparse.Namespace, bundle: Bundle, device: torch.device, tmp: Path, rows: list[Row],
                     details: dict[str, Any]) -> None:
    try:
        import transformers  # noqa: F401
    except ImportError:
        log("end-to-end: skipped, the reference pipeline needs transformers: pip install -e '.[bench]'")
        details["skipped"] = "transformers not installed (pip install -e '.[bench]')"
        return
    length = int(args.genome_mb * 1_000_000)
    fasta = write_synthetic_genome(tmp / "e2e.fa", {"chr1": length * 3 // 5, "chr2": length - length * 3 // 5}, seed=3)
    Genome.open(fasta).close()  # build the .fai outside the timings
    batch = args.batch_size
    settings = {"fp32": Precision.fp32, "auto": Precision.auto, "auto+compile": Precision.auto}
    resolved_auto = resolve_precision(Precision.auto, device)

    def params(precision: Precision, compile_model: bool = False) -> ScanParams:
        return ScanParams(scorer=ScorerSettings(device=str(device), precision=precision, batch_size=batch,
                                                compile=compile_model))

    # Same windows, same scores: checked before anything is timed.
    p = ScanParams().for_bundle(bundle)  # the scan defaults: window (the bundle's), stride, N policy
    check = 128 if args.quick else 512
    with Scanner(bundle, params(Precision.fp32)) as scanner, Genome.open(fasta) as genome:
        mine = scanner.score_interval(genome, Interval("chr1", 0, (check - 1) * p.stride + p.window)).scores
    ref = reference.reference_scores(fasta, bundle, p.window, p.stride, p.max_n_frac, batch, device,
                                     limit=check)["chr1"]
    same_gaps = np.array_equal(np.isnan(mine), np.isnan(ref))
    diff = float(np.nanmax(np.abs(mine - ref))) if same_gaps and not np.isnan(mine).all() else float("inf")
    details["check"] = {"windows": check, "scored": int(np.count_nonzero(~np.isnan(mine))), "max_abs_diff": diff}
    if not same_gaps or diff > SCORE_TOLERANCE:
        raise BenchmarkFailure(f"end-to-end: ielmscan and the reference pipeline disagree (max |diff| {diff:.3g}, "
                               f"same skipped windows: {same_gaps}) - timings would compare different things")
    log(f"end-to-end: scores agree on {check} windows (max |diff| {diff:.2g})")

    ref_results: list[dict[str, np.ndarray]] = []
    pipelines: dict[str, Callable[[], Any]] = {
        "reference": lambda: ref_results.append(
            reference.reference_scores(fasta, bundle, p.window, p.stride, p.max_n_frac, batch, device))}
    manifests: dict[str, list[dict[str, Any]]] = {}
    for name, precision in settings.items():
        if name == "auto" and resolved_auto is Precision.fp32:
            details["auto"] = "auto resolves to fp32 on this device: not run twice"
            continue
        compiled = name.endswith("+compile")
        manifests[name] = []

        def scan(precision: Precision = precision, name: str = name, compiled: bool = compiled) -> None:
            manifests[name].append(run_scan(fasta, bundle, params(precision, compiled), str(tmp / f"e2e-{name}"),
                                            force=True))  # each repeat replaces the last

        # Compile and warm up outside the timing.
        with Genome.open(fasta) as genome, Scanner(bundle, params(precision, compiled)) as scanner:
            scanner.score_interval(genome, Interval("chr1", 0, 2 * batch * p.stride + p.window))
        pipelines[name] = scan
    times = round_robin_times(pipelines, args.e2e_repeats)
    ref_seconds = statistics.median(times["reference"])
    ref_windows = reference.scored_windows(ref_results[-1])
    for name, runs in manifests.items():
        windows = runs[-1]["windows_scanned"]
        if windows != ref_windows:
            raise BenchmarkFailure(f"end-to-end: ielmscan scored {windows} windows, the reference {ref_windows}")
        label = name.replace("auto", f"auto (= {resolved_auto.value})")
        details[f"ielmscan_{name}"] = {"seconds": times[name], "windows": windows,
                                       "precision": runs[-1]["parameters"]["precision"]}
        rows.append(Row("end-to-end", f"ielmscan scan {label}, {args.genome_mb:g} Mb",
                        windows / statistics.median(times[name]), "windows/s",
                        "pyfaidx + transformers fp32", ref_windows / ref_seconds))
    details["reference"] = {"seconds": times["reference"], "windows": ref_windows}
    rows.append(Row("end-to-end", f"reference pipeline fp32, {args.genome_mb:g} Mb", ref_windows / ref_seconds, "windows/s",
                    note="pyfaidx, k-mer strings, vocab dict, BertModel + head, batch " + str(batch)
                    + "; pipelines timed in turn"))
    fresh_processes(args, bundle, device, fasta, ref_windows, rows, details)


def fresh_processes(args: argparse.Namespace, bundle: Bundle, device: torch.device, fasta: Path, ref_windows: int,
                    rows: list[Row], details: dict[str, Any]) -> None:
    """Both pipelines as users run them: each in a new process (the CLI for ielmscan), in turn per round.

    A new process starts with glibc's malloc defaults and cold caches, which the in-process timings above
    do not see. The rates are the scans' own (ielmscan's manifest; the reference's scoring function, model
    building included); the whole processes' wall times, imports included, go to the details.
    """
    p = ScanParams().for_bundle(bundle)
    prefix = fasta.with_suffix("")
    ref_child = reference.child_command(fasta, bundle.path, device, p.window, p.stride, p.max_n_frac, args.batch_size)
    scan = [sys.executable, "-m", "ielmscan.cli", "scan", str(fasta), "--model", str(bundle.path), "-o",
            f"{prefix}-fresh", "--force", "--quiet", "--device", str(device), "--batch-size", str(args.batch_size)]
    rates: dict[str, list[float]] = {"ielmscan": [], "reference": []}
    walls: dict[str, list[float]] = {"ielmscan": [], "reference": []}
    for _ in range(args.e2e_repeats):
        for name, command in (("ielmscan", scan), ("reference", ref_child)):
            start = time.perf_counter()
            proc = subprocess.run(command, capture_output=True, text=True, check=False)
            walls[name].append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise BenchmarkFailure(f"end-to-end: fresh {name} process failed:\n{proc.stderr[-2000:]}")
            if name == "ielmscan":
                manifest = json.loads(Path(f"{prefix}-fresh.json").read_text())
                windows, rate = manifest["windows_scanned"], manifest["windows_per_second"]
            else:
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                windows, rate = result["windows"], result["windows"] / result["seconds"]
            if windows != ref_windows:
                raise BenchmarkFailure(f"end-to-end: fresh {name} process scored {windows} windows, not {ref_windows}")
            rates[name].append(rate)
    details["fresh_processes"] = {"windows_per_second": rates, "process_wall_s": walls}
    mine, theirs = statistics.median(rates["ielmscan"]), statistics.median(rates["reference"])
    on_cpu = device.type == "cpu"
    rows.append(Row("end-to-end", f"ielmscan scan, new process (CLI defaults), {args.genome_mb:g} Mb", mine,
                    "windows/s", "reference, new process", theirs, ">= 3x" if on_cpu else "",
                    mine / theirs >= 3 if on_cpu else None,
                    note=f"whole processes, imports included: {statistics.median(walls['ielmscan']):.1f} s vs "
                         f"{statistics.median(walls['reference']):.1f} s; one process of each per round"))


