#!/usr/bin/env python
"""ielmscan performance benchmarks: encoding, model FLOP/s, end-to-end scan, memory, genome scale.

    python benchmarks/run.py [--quick] [--model DIR] [--genome-mb N] [--memory-mb 250] [--out benchmarks/results]
    python -m benchmarks.run [same options]     # the same, from the repository root

Prints a table and writes ``<out>/<UTC date>-<host>.json`` with the machine and every number. Every
comparison is a ratio of two measurements taken in the same run; timings are medians of repeated runs.
See benchmarks/README.md for what each number means.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ielmscan.inference.devices import resolve_device  # noqa: E402
from ielmscan.inference.scorer import default_batch_size  # noqa: E402
from ielmscan.model.bundle import default_bundle_path, load_bundle  # noqa: E402

from benchmarks.harness import BenchmarkFailure, Row, log, machine_info, print_table, write_results  # noqa: E402
from benchmarks.sections.cascade import bench_cascade  # noqa: E402
from benchmarks.sections.e2e import bench_end_to_end  # noqa: E402
from benchmarks.sections.encoding import bench_encoding  # noqa: E402
from benchmarks.sections.memory import bench_memory  # noqa: E402
from benchmarks.sections.model import bench_model  # noqa: E402
from benchmarks.sections.scale import bench_scale  # noqa: E402


SECTIONS = ("encoding", "model", "e2e", "cascade", "memory", "scale")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and fewer repeats (a few minutes on 2 cores)")
    parser.add_argument("--model", type=Path, help="model bundle [default: the bundled trained model]")
    parser.add_argument("--genome-mb", type=float, help="end-to-end genome size in Mb [default 0.5; quick 0.1]")
    parser.add_argument("--memory-mb", type=float, help="memory test chromosome in Mb [default 250; quick 5]")
    parser.add_argument("--scale-mb", type=float,
                        help="genome-scale scan in Mb [default 100 on GPU, 1 on CPU; quick 10 and 0.2]")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                        help="folder for the JSON results [default: benchmarks/results]")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N [default auto]")
    parser.add_argument("--batch-size", type=int,
                        help="windows per forward pass, end to end, for both pipelines "
                             "[default: ielmscan's own, 64 on CPU and 1024 on GPU]")
    parser.add_argument("--repeats", type=int, help="timed repeats per measurement [default 5; quick 2]")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--cascade-genome", type=Path,
                        help="FASTA for the --fast section [default: genomes/hg38_chr16_186964-397118.fa in "
                             "$IELMSCAN_SHARED_DATA, else in ../shared/data beside the repository]")
    args = parser.parse_args(argv)
    args.genome_mb = args.genome_mb or (0.1 if args.quick else 0.5)
    args.memory_mb = args.memory_mb or (5 if args.quick else 250)
    args.repeats = args.repeats or (2 if args.quick else 5)
    args.e2e_repeats = max(1, min(args.repeats, 2 if args.quick else 3))
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}: choose from {', '.join(SECTIONS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device)
    # Both pipelines run at the batch size a user of `ielmscan scan` gets by default on this device.
    args.batch_size = args.batch_size or default_batch_size(device)
    args.scale_mb = args.scale_mb or {(True, True): 10, (True, False): 100, (False, True): 0.2,
                                      (False, False): 1}[(device.type == "cuda", args.quick)]
    model_path = args.model or default_bundle_path()
    if model_path is None:
        sys.exit("no model: give --model DIR (this installation ships no default model)")
    bundle = load_bundle(model_path)
    machine = machine_info(device)
    log(f"ielmscan benchmarks on {machine['cpu_model']} ({machine['cpus_usable']} CPUs usable, torch threads "
        f"{machine['torch_threads']}), device {device}{' ' + machine['cuda_device'] if machine['cuda_device'] else ''}"
        f"{', quick mode' if args.quick else ''}; load average {machine['load_average_at_start']}")
    rows: list[Row] = []
    details: dict[str, Any] = {}
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="ielmscan-bench-"))
    try:
        steps = {
            "encoding": lambda d: bench_encoding(args, rows, d),
            "model": lambda d: bench_model(args, bundle, device, rows, d),
            "e2e": lambda d: bench_end_to_end(args, bundle, device, tmp, rows, d),
            "memory": lambda d: bench_memory(args, tmp, rows, d),
            "cascade": lambda d: bench_cascade(args, bundle, device, tmp, rows, d),
            "scale": lambda d: bench_scale(args, bundle, device, tmp, rows, d),
        }
        for name in args.sections:
            log(f"== {name} ...")
            section_start = time.perf_counter()
            details[name] = {}
            steps[name](details[name])
            details[name]["section_wall_s"] = time.perf_counter() - section_start
    except BenchmarkFailure as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print_table(rows)
    record = {
        "machine": machine,
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "model": {"path": str(model_path), "sha256": bundle.checksum, "members": bundle.ks},
        "rows": [r.to_json() for r in rows],
        "details": details,
        "wall_s": time.perf_counter() - started,
    }
    path = write_results(args.out, args.quick, record)
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
