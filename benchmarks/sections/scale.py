"""Section 6, genome scale: one long scan's windows/s, the human genome extrapolated, GPU use, input waits."""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import torch

from ielmscan.inference.devices import Precision
from ielmscan.inference.scan import Scanner, ScanParams, run_scan
from ielmscan.inference.scorer import ScorerSettings
from ielmscan.io.genome import Genome
from ielmscan.io.intervals import Interval, iter_chunks
from ielmscan.model.bundle import Bundle

from benchmarks.genomes import write_chromosome
from benchmarks.harness import Row, cpu_model, log

HUMAN_GENOME_BASES = 3_100_000_000
GENOME_TARGET_MINUTES = 15.0  # on one H200-class GPU, stride 50, both strands, the default ensemble
INPUT_WAIT_TARGET = 0.05  # share of the scan the model may spend waiting for reading and encoding
UTILISATION_PERIOD_S = 0.5


def nvidia_smi_id(device: torch.device, visible: str | None) -> str:
    """The ``nvidia-smi -i`` id of a CUDA device: its index among ``CUDA_VISIBLE_DEVICES`` (indices or UUIDs)."""
    index = device.index or 0
    listed = [entry.strip() for entry in (visible or "").split(",") if entry.strip()]
    return listed[index] if index < len(listed) else str(index)


class GpuUtilisation:
    """Samples a CUDA device's utilisation (share of time a kernel ran, as nvidia-smi reports it) in a thread.

    Uses NVML through ``torch.cuda.utilization`` (the nvidia-ml-py package), else ``nvidia-smi``; on
    other devices, or where neither answers, it records nothing.
    """

    def __init__(self, device: torch.device, period: float = UTILISATION_PERIOD_S) -> None:
        self.device = device
        self.period = period
        self.samples: list[float] = []
        self.source: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def read(self) -> float | None:
        try:
            value = float(torch.cuda.utilization(self.device))
            self.source = "nvml"
            return value
        except Exception:  # nvidia-ml-py missing or NVML unusable: ask nvidia-smi
            pass
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                  "-i", nvidia_smi_id(self.device, os.environ.get("CUDA_VISIBLE_DEVICES"))],
                                 capture_output=True, text=True, timeout=10, check=True).stdout
            self.source = "nvidia-smi"
            return float(out.strip().splitlines()[0])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            return None

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            value = self.read()
            if value is None:
                return
            self.samples.append(value)

    def __enter__(self) -> GpuUtilisation:
        if self.device.type == "cuda":
            self._thread = threading.Thread(target=self._run, name="gpu-utilisation", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.samples) if self.samples else None


def machine_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def genome_minutes(windows_per_second: float, stride: int, bases: float = HUMAN_GENOME_BASES) -> float:
    """Minutes to scan ``bases`` at ``stride`` (one window per stride) at the measured rate."""
    return bases / stride / windows_per_second / 60


def bench_scale(args: argparse.Namespace, bundle: Bundle, device: torch.device, tmp: Path, rows: list[Row],
                details: dict[str, Any]) -> None:
    """One long scan at the scan defaults: windows/s, the human genome extrapolated, GPU use, input waits."""
    length = int(args.scale_mb * 1_000_000)
    start = time.perf_counter()
    fasta = write_chromosome(tmp / "scale.fa", "chrS1", length, seed=6)
    generated = time.perf_counter() - start
    Genome.open(fasta).close()
    params = ScanParams(scorer=ScorerSettings(device=str(device), precision=Precision.auto,
                                              batch_size=args.batch_size))
    with Scanner(bundle, params) as scanner:
        with Genome.open(fasta) as genome:  # kernels, autotuning and allocator caches before the timing
            scanner.score_interval(genome, Interval("chrS1", 0, min(length, 4 * args.batch_size * params.stride)))
        log(f"scale: scanning {args.scale_mb:g} Mb ({scanner.params.grid.count(length):,} windows; "
            f"generated in {generated:.0f} s) on {device} ...")
        with GpuUtilisation(device) as utilisation:
            manifest = run_scan(fasta, bundle, params, str(tmp / "scale"))
        # The CPU side alone (read, encode, k-mer ids of both strands), as the scan's prefetch thread runs
        # it: the rate it could feed a device that scores instantly.
        with Genome.open(fasta) as genome:
            start = time.perf_counter()
            prepared = sum(len(scanner.prepare(chunk).keep) for chunk in
                           iter_chunks(genome, Interval("chrS1", 0, length), scanner.params.grid,
                                       scanner.params.chunk_windows))
            prepare_s = time.perf_counter() - start
    fasta.unlink()
    needed = HUMAN_GENOME_BASES / params.stride / (GENOME_TARGET_MINUTES * 60)
    rate = manifest["windows_per_second"]
    minutes = genome_minutes(rate, params.stride)
    wait_share = manifest["input_wait_seconds"] / manifest["wall_seconds"]
    on_gpu = device.type == "cuda"
    name = machine_name(device)
    details.update(bases=length, generate_s=generated, manifest=manifest, hg_minutes=minutes, prepare_s=prepare_s,
                   input_wait_share=wait_share, utilisation_samples=utilisation.samples,
                   utilisation_source=utilisation.source)
    setting = f"{manifest['parameters']['precision']}, batch {manifest['parameters']['batch_size']}"
    rows.append(Row("scale", f"scan of {args.scale_mb:g} Mb on {name}", rate, "windows/s",
                    note=f"{setting}, both strands, {manifest['wall_seconds']:.0f} s"))
    rows.append(Row("scale", "3.1 Gb genome at stride 50, extrapolated", minutes, "min",
                    target=f"<= {GENOME_TARGET_MINUTES:g} min on one GPU",
                    passed=minutes <= GENOME_TARGET_MINUTES if on_gpu else None,
                    note=f"{HUMAN_GENOME_BASES / params.stride / 1e6:.0f} M windows at the rate above"
                         + ("" if on_gpu else "; the target is for a GPU")))
    if utilisation.mean is not None:
        rows.append(Row("scale", f"GPU utilisation during the scan ({utilisation.source})", utilisation.mean, "%",
                        note=f"mean of {len(utilisation.samples)} samples, every {UTILISATION_PERIOD_S:g} s"))
    elif on_gpu:
        details["utilisation"] = "not available: neither NVML (nvidia-ml-py) nor nvidia-smi answered"
    rows.append(Row("scale", "reading + encoding alone, one thread", prepared / prepare_s, "windows/s",
                    f"rate for {GENOME_TARGET_MINUTES:g} min", needed, ">= 1x", prepared / prepare_s >= needed,
                    note="what the scan's prefetch thread can feed a device; both strands, k = "
                         + ", ".join(map(str, bundle.ks))))
    rows.append(Row("scale", "model waiting for reading and encoding", 100 * wait_share, "%",
                    target=f"<= {100 * INPUT_WAIT_TARGET:g} %", passed=wait_share <= INPUT_WAIT_TARGET,
                    note=f"{manifest['input_wait_seconds']:.1f} s of {manifest['wall_seconds']:.0f} s"))


