"""Bookkeeping shared by every section: table rows, timing, the machine, the printed table and the JSON."""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
import torch

from ielmscan import __version__
from ielmscan.inference.devices import native_bf16

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout holding benchmarks/


@dataclass
class Row:
    """One line of the final table; ``ratio`` is value / reference where both exist."""

    section: str
    metric: str
    value: float
    unit: str
    reference: str = ""
    reference_value: float | None = None
    target: str = ""
    passed: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.reference_value in (None, 0):
            return None
        return self.value / self.reference_value

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "ratio": self.ratio}


class BenchmarkFailure(RuntimeError):
    """A correctness check inside the benchmark failed: the timings would compare different things."""


# -- timing ------------------------------------------------------------------------------------------


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 1, sync: Callable[[], None] | None = None) -> tuple[float, list[float]]:
    """Median wall time of ``fn`` over ``repeats`` runs after ``warmup`` untimed runs; also all times."""
    sync = sync or (lambda: None)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def round_robin_times(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Wall times of each of ``fns`` over ``repeats`` rounds, one run of each in turn per round.

    Timing the pipelines in turn rather than one after the other makes a drift in the machine's speed
    (a shared VM can change speed severalfold within minutes; docs/performance.md has the figures) fall
    on all of them alike, so their ratios stay fair.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def device_sync(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


# -- output ------------------------------------------------------------------------------------------


def human(value: float, unit: str) -> str:
    if unit == "min":
        return f"{value:.3g} min" if value < 1000 else f"{value:,.0f} min"
    if unit in ("s", "x", "GiB", "MiB", "%"):
        return f"{value:.3g} {unit}" if unit != "x" else f"{value:.3g}x"
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def log(message: str) -> None:
    print(message, flush=True)


def print_table(rows: list[Row]) -> None:
    header = ("section", "metric", "value", "reference", "ratio", "target", "pass")
    table = [header]
    for r in rows:
        ref = f"{r.reference} {human(r.reference_value, r.unit)}".strip() if r.reference_value is not None else r.reference
        ratio = f"{r.ratio:.3g}x" if r.ratio is not None else ""
        verdict = "" if r.passed is None else ("PASS" if r.passed else "FAIL")
        table.append((r.section, r.metric, human(r.value, r.unit), ref, ratio, r.target, verdict))
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    for i, line in enumerate(table):
        print("  ".join(str(cell).ljust(w) for cell, w in zip(line, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    notes = [f"  {r.section} / {r.metric}: {r.note}" for r in rows if r.note]
    if notes:
        print("\nnotes:")
        print("\n".join(notes))


def result_path(out: Path, quick: bool) -> Path:
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    host = re.sub(r"[^A-Za-z0-9._-]+", "_", socket.gethostname() or platform.machine()) or "machine"
    path = out / f"{date}-{host}{'-quick' if quick else ''}.json"
    if path.exists():  # keep earlier results of the same day
        path = path.with_name(f"{path.stem}-{dt.datetime.now(dt.timezone.utc).strftime('%H%M%S')}.json")
    return path


def write_results(out: Path, quick: bool, record: dict[str, Any]) -> Path:
    """``record`` as JSON in a new file under ``out`` (see :func:`result_path`); returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = result_path(out, quick)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path


# -- machine -----------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: ")) and ":" in line:
                name = line.split(":", 1)[1].strip()
                if name and not name.isdigit():
                    return name
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict[str, Any]:
    try:
        import transformers

        transformers_version: str | None = transformers.__version__
    except ImportError:
        transformers_version = None
    info: dict[str, Any] = {
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "ielmscan": __version__,
        "torch": torch.__version__,
        "numba": numba.__version__,
        "numpy": np.__version__,
        "transformers": transformers_version,
        "device": str(device),
        "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "native_bf16": native_bf16(device),
    }
    return info
