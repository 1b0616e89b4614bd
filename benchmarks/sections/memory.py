"""Section 4, memory: peak resident set of ``ielmscan scan`` in a child process, at two chromosome lengths."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ielmscan.io.genome import Genome

from benchmarks.genomes import write_chromosome
from benchmarks.harness import BenchmarkFailure, Row, log

MEMORY_FLAT_TARGET = 1.25  # peak RSS at full size / at 1/10 size

# The measured child imports ielmscan alone, never this package, so its peak is ielmscan's own.
_CHILD = r"""
import json, resource, sys, time
t = time.perf_counter()
code = 0
if sys.argv[1] == "scan":
    from ielmscan.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code or 0
else:  # baseline: what importing ielmscan + torch and loading the bundle costs
    from ielmscan.model.bundle import load_bundle
    import ielmscan.inference.scan
    load_bundle(sys.argv[2])
hwm = None
try:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
except OSError:
    pass
print(json.dumps({"exit": code, "wall_s": time.perf_counter() - t, "vmhwm_kb": hwm,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run_child(args: Sequence[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchmarkFailure(f"memory: child {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["exit"]:
        raise BenchmarkFailure(f"memory: ielmscan {' '.join(args)} exited {result['exit']}:\n{proc.stderr[-2000:]}")
    result["peak_kb"] = result["vmhwm_kb"] or result["maxrss_kb"]
    return result


def bench_memory(args: argparse.Namespace, tmp: Path, rows: list[Row], details: dict[str, Any]) -> None:
    model = tmp / "tiny-bundle"
    subprocess.run([sys.executable, "-m", "ielmscan.cli", "model", "init", "--k", "3", "--hidden", "16",
                    "--layers", "1", "--heads", "2", "-o", str(model)], check=True, capture_output=True)
    baseline = run_child(["baseline", str(model)])
    details["baseline_import_and_load"] = baseline
    settings = "tiny random bundle (k=3, hidden 16, 1 layer), --stride 200, other settings default"
    peaks = {}
    for label, mb in (("small", args.memory_mb / 10), ("full", args.memory_mb)):
        length = int(mb * 1_000_000)
        start = time.perf_counter()
        fasta = write_chromosome(tmp / f"mem-{label}.fa", "chrM1", length, seed=4)
        generated = time.perf_counter() - start
        Genome.open(fasta).close()  # index outside the measured process
        estimate = f", about {10 * details['small']['wall_s'] / 60:.0f} min" if label == "full" else ""
        log(f"memory: scanning {mb:g} Mb ({length // 200:,} windows; generated in {generated:.1f} s){estimate} ...")
        result = run_child(["scan", str(fasta), "--model", str(model), "--stride", "200", "-o",
                            str(tmp / f"mem-{label}"), "--quiet"])
        result.update(bases=length, generate_s=generated)
        details[label] = result
        peaks[label] = result["peak_kb"] * 1024
        rows.append(Row("memory", f"peak RSS scanning {mb:g} Mb chromosome", peaks[label] / 2**20, "MiB",
                        note=f"scan {result['wall_s']:.0f} s, generator {generated:.0f} s"))
        fasta.unlink()
    rows.append(Row("memory", f"peak RSS {args.memory_mb:g} Mb / {args.memory_mb / 10:g} Mb", peaks["full"] / 2**20,
                    "MiB", f"{args.memory_mb / 10:g} Mb", peaks["small"] / 2**20, f"<= {MEMORY_FLAT_TARGET}x",
                    peaks["full"] <= MEMORY_FLAT_TARGET * peaks["small"], note=settings))
    rows.append(Row("memory", "baseline: import + load bundle (no scan)", baseline["peak_kb"] / 1024, "MiB"))
    details["settings"] = settings


