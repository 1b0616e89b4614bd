#!/usr/bin/env python
"""ielmscan performance benchmarks: encoding, model FLOP/s, end-to-end scan, memory, genome scale.

    python benchmarks/run.py [--quick] [--model DIR] [--genome-mb N] [--memory-mb 250] [--out benchmarks/results]

Prints a table and writes ``<out>/<UTC date>-<host>.json`` with the machine and every number. Every
comparison is a ratio of two measurements taken in the same run; timings are medians of repeated runs.
See benchmarks/README.md for what each number means.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
import torch
from ielmscan.kernels.encode import encode_bases, kmer_token_ids, reverse_complement_codes

from ielmscan import __version__
from ielmscan.model.bundle import Bundle, default_bundle_path, load_bundle
from ielmscan.model.convert import bert_config, to_bert_state_dict
from ielmscan.inference.devices import Precision, native_bf16, resolve_device, resolve_precision
from ielmscan.io.genome import Genome
from ielmscan.io.intervals import Interval, iter_chunks
from ielmscan.kernels.grid import WindowGrid
from ielmscan.inference.scorer import EnsembleScorer, ScorerSettings, default_batch_size
from ielmscan.model.network import forward_flops
from ielmscan.inference.scan import Scanner, ScanParams, run_scan
from ielmscan.io.synthetic import synthetic_sequence, write_synthetic_genome
from ielmscan.model.tokens import (
    CLS_ID,
    NUM_SPECIAL,
    PAD_ID,
    SEP_ID,
    UNK_ID,
    kmers_to_ids,
    seq_to_kmers,
    vocabulary,
)

KS = [3, 4, 5, 6]
WINDOW = 200
SCORE_TOLERANCE = 1e-4
MEMORY_FLAT_TARGET = 1.25  # peak RSS at full size / at 1/10 size


# -- bookkeeping -------------------------------------------------------------------------------------


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
    (a shared VM can move by 2x within minutes) fall on all of them alike, so their ratios stay fair.
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


# -- 1. encoding -------------------------------------------------------------------------------------

_NUMPY_LUT = np.full(256, 4, dtype=np.uint8)
for _code, _base in enumerate(b"ACGT"):
    _NUMPY_LUT[_base] = _NUMPY_LUT[_base + 32] = _code


def numpy_kmer_ids(seq: bytes | bytearray, ks: Sequence[int]) -> np.ndarray:
    """Plain vectorised NumPy: byte LUT, base-4 index built with shifted slices, invalid mask."""
    codes = _NUMPY_LUT[np.frombuffer(seq, dtype=np.uint8)]
    invalid = codes >= 4
    values = np.where(invalid, 0, codes).astype(np.int32)
    n = len(codes)
    out = np.full((len(ks), n), PAD_ID, dtype=np.int32)
    for row, k in enumerate(ks):
        m = n - k + 1
        if m <= 0:
            continue
        index = np.zeros(m, dtype=np.int32)
        bad = np.zeros(m, dtype=bool)
        for j in range(k):  # first base most significant
            index <<= 2
            index |= values[j : j + m]
            bad |= invalid[j : j + m]
        out[row, :m] = np.where(bad, UNK_ID, index + NUM_SPECIAL)
    return out


def bench_encoding(args: argparse.Namespace, rows: list[Row], details: dict[str, Any]) -> None:
    rng = np.random.default_rng(1)
    count = 500 if args.quick else 2000
    stretch = bytes(synthetic_sequence(count * WINDOW, rng))
    windows = [stretch[i * WINDOW : (i + 1) * WINDOW] for i in range(count)]
    texts = [w.decode() for w in windows]
    bases = count * WINDOW
    # A tokenizer holds its vocabulary; tokens.kmers_to_ids rebuilds it per call, which would flatter us.
    vocabs = {k: {tok: i for i, tok in enumerate(vocabulary(k)) if i >= NUM_SPECIAL} for k in KS}

    def python_path() -> None:
        for text in texts:
            for k in KS:
                lookup = vocabs[k]
                [lookup.get(kmer.upper(), UNK_ID) for kmer in seq_to_kmers(text, k)]

    def python_as_written() -> None:
        for text in texts:
            for k in KS:
                kmers_to_ids(seq_to_kmers(text, k), k)

    def kernel_per_window() -> None:
        for window in windows:
            kmer_token_ids(encode_bases(window), KS)

    def kernel_stretch() -> None:
        kmer_token_ids(encode_bases(stretch), KS)

    def numpy_stretch() -> None:
        numpy_kmer_ids(stretch, KS)

    # The three implementations must agree before their speeds mean anything.
    fast = kmer_token_ids(encode_bases(stretch), KS)
    if not np.array_equal(fast, numpy_kmer_ids(stretch, KS)):
        raise BenchmarkFailure("encoding: the NumPy implementation disagrees with the kernel")
    for i in range(0, count, max(1, count // 50)):
        per_window = kmer_token_ids(encode_bases(windows[i]), KS)
        for row, k in enumerate(KS):
            if per_window[row, : WINDOW - k + 1].tolist() != kmers_to_ids(seq_to_kmers(texts[i], k), k):
                raise BenchmarkFailure(f"encoding: kernel and Python path disagree on window {i}, k={k}")

    reps = args.repeats
    t_python, _ = median_time(python_path, reps)
    t_written, _ = median_time(python_as_written, max(1, reps - 1))
    t_window, _ = median_time(kernel_per_window, reps)
    t_stretch, _ = median_time(kernel_stretch, reps)
    t_numpy, _ = median_time(numpy_stretch, reps)
    py_rate = bases / t_python
    label = f"{count} x {WINDOW} bp, k=3..6"
    rows += [
        Row("encoding", f"Python path, vocab dict ({label})", py_rate, "bases/s",
            note="seq_to_kmers + dict lookup per window and k (DNABERT style)"),
        Row("encoding", "Python path as tokens.kmers_to_ids (rebuilds vocab per call)", bases / t_written, "bases/s"),
        Row("encoding", "kernel, one call per window", bases / t_window, "bases/s", "Python path", py_rate),
        Row("encoding", "kernel, one call over the windows' stretch (scanner style)", bases / t_stretch, "bases/s",
            "Python path", py_rate, ">= 100x", bases / t_stretch >= 100 * py_rate),
        Row("encoding", "NumPy vectorised, same stretch", bases / t_numpy, "bases/s", "Python path", py_rate),
        Row("encoding", "kernel vs NumPy (same stretch)", bases / t_stretch, "bases/s", "NumPy", bases / t_numpy),
    ]
    details["windows"] = {"count": count, "window": WINDOW, "ks": KS, "seconds": {
        "python_vocab_dict": t_python, "python_kmers_to_ids": t_written, "kernel_per_window": t_window,
        "kernel_stretch": t_stretch, "numpy_stretch": t_numpy}}

    # One long sequence: the kernels alone (they are serial Numba loops; thread settings do not apply).
    length = (5 if args.quick else 50) * 1_000_000
    start = time.perf_counter()
    long_seq = bytes(synthetic_sequence(length, np.random.default_rng(2)))
    generated = time.perf_counter() - start
    codes = encode_bases(long_seq)
    t_enc, _ = median_time(lambda: encode_bases(long_seq), reps)
    t_ids, _ = median_time(lambda: kmer_token_ids(codes, KS), reps)
    rate = length / (t_enc + t_ids)
    mb = length // 1_000_000
    rows += [
        Row("encoding", f"encode_bases, {mb} Mb sequence", length / t_enc, "bases/s"),
        Row("encoding", f"kmer_token_ids k=3..6, {mb} Mb sequence", length / t_ids, "bases/s"),
        Row("encoding", f"encode + ids, {mb} Mb sequence (1 thread)", rate, "bases/s", target=">= 100 Mbases/s",
            passed=rate >= 100e6),
    ]
    details["long_sequence"] = {"bases": length, "generate_s": generated, "encode_s": t_enc, "ids_s": t_ids,
                                "numba_threads_setting": numba.config.NUMBA_NUM_THREADS}


# -- 2. model FLOP/s ---------------------------------------------------------------------------------


def autocast(device: torch.device, dtype: str):
    if dtype == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def matmul_peak(device: torch.device, dtype: str, sizes: Sequence[int], tries: int) -> tuple[float, dict[int, float]]:
    """Best square ``torch.mm`` FLOP/s over ``sizes`` (best of ``tries`` each)."""
    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    sync = device_sync(device)
    per_size = {}
    for n in sizes:
        a = torch.randn(n, n, device=device).to(torch_dtype)
        b = torch.randn(n, n, device=device).to(torch_dtype)
        torch.mm(a, b)
        best = float("inf")
        for _ in range(tries):
            sync()
            start = time.perf_counter()
            torch.mm(a, b)
            sync()
            best = min(best, time.perf_counter() - start)
        per_size[n] = 2 * n**3 / best
    return max(per_size.values()), per_size


def ensemble_inputs(bundle: Bundle, batch: int, device: torch.device) -> list[torch.Tensor]:
    """Random k-mer ids with [CLS]/[SEP], 2 x batch rows (both strands) per member."""
    g = torch.Generator().manual_seed(batch)
    inputs = []
    for member in bundle.members:
        k = member.config.k
        body = torch.randint(NUM_SPECIAL, NUM_SPECIAL + 4**k, (2 * batch, bundle.window - k + 1), generator=g)
        ids = torch.cat([torch.full((2 * batch, 1), CLS_ID), body, torch.full((2 * batch, 1), SEP_ID)], dim=1)
        inputs.append(ids.to(device))
    return inputs


def bench_model(args: argparse.Namespace, bundle: Bundle, device: torch.device, rows: list[Row],
                details: dict[str, Any]) -> None:
    models = [copy.deepcopy(m.model).to(device).eval() for m in bundle.members]
    batches = [64, 256] if args.quick else [64, 256, 1024]
    sizes = [1024, 2048] if args.quick else [1024, 2048, 4096]
    sync = device_sync(device)
    for dtype in ("fp32", "bf16"):
        peak, per_size = matmul_peak(device, dtype, sizes, tries=2 if args.quick else 4)
        details[f"matmul_{dtype}"] = {"flops_per_s_by_size": per_size, "peak": peak}
        rows.append(Row("model", f"matmul peak {dtype} (torch.mm {sizes[0]}..{sizes[-1]})", peak, "FLOP/s"))
        best = 0.0
        for batch in batches:
            inputs = ensemble_inputs(bundle, batch, device)
            flops = sum(forward_flops(m.config, ids.shape[1]) * ids.shape[0] for m, ids in zip(bundle.members, inputs))

            def forward(inputs: list[torch.Tensor] = inputs, dtype: str = dtype) -> None:
                with torch.inference_mode(), autocast(device, dtype):
                    for model, ids in zip(models, inputs):
                        model(ids)

            seconds, times = median_time(forward, args.repeats, sync=sync)
            achieved = flops / seconds
            best = max(best, achieved)
            details[f"forward_{dtype}_batch{batch}"] = {"flops": flops, "seconds": times, "windows_per_s": batch / seconds}
            rows.append(Row("model", f"ensemble forward {dtype}, batch {batch} windows x 2 strands", achieved, "FLOP/s",
                            f"matmul peak {dtype}", peak, note=f"{batch / seconds:,.0f} windows/s"))
        achieved, note = scorer_flops(args, bundle, device, dtype, details)
        best = max(best, achieved)
        rows.append(Row("model", f"ielmscan's scorer {dtype}, batch {args.batch_size} windows x 2 strands ({note})",
                        achieved, "FLOP/s", f"matmul peak {dtype}", peak))
        rows.append(Row("model", f"best ensemble forward {dtype} / matmul peak", best, "FLOP/s",
                        f"matmul peak {dtype}", peak))


def scorer_flops(args: argparse.Namespace, bundle: Bundle, device: torch.device, dtype: str,
                 details: dict[str, Any]) -> tuple[float, str]:
    """FLOP/s of the forward passes as `ielmscan scan` runs them: its scorer, on a chunk of 8 batches.

    On a CPU the scorer runs batches side by side in single-threaded workers, which the plain forward
    rows above (one batch at a time on all threads) do not show.
    """
    scorer = EnsembleScorer(bundle, ScorerSettings(device=str(device), precision=Precision(dtype),
                                                   batch_size=args.batch_size))
    stride, windows = 50, 8 * args.batch_size
    rng = np.random.default_rng(windows)
    codes = encode_bases(rng.choice(np.frombuffer(b"ACGT", dtype=np.uint8), (windows - 1) * stride + bundle.window))
    ids, ids_rc = kmer_token_ids(codes, bundle.ks), kmer_token_ids(reverse_complement_codes(codes), bundle.ks)
    selected = np.arange(windows)
    seconds, times = median_time(lambda: scorer.score_members(ids, ids_rc, bundle.window, stride, selected),
                                 args.repeats)
    flops = 2 * windows * sum(forward_flops(m.config, m.config.tokens_per_window(bundle.window)) for m in bundle.members)
    details[f"scorer_{dtype}"] = {"flops": flops, "seconds": times, "windows_per_s": windows / seconds,
                                  "workers": scorer.workers, "threads_per_worker": scorer.threads_per_worker}
    return flops / seconds, f"{scorer.workers} workers x {scorer.threads_per_worker} thread(s), {windows / seconds:,.0f} windows/s"


# -- 3. end to end -----------------------------------------------------------------------------------

_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def reference_members(bundle: Bundle, device: torch.device) -> list[tuple]:
    """The bundle's members as an iEnhancer-ELM user holds them: (k, BertModel, head layers, vocab dict)."""
    import transformers

    members = []
    for member in bundle.members:
        kwargs = bert_config(member.config)
        kwargs.pop("attn_implementation")  # let transformers pick its default (SDPA where it has it)
        bert = transformers.BertModel(transformers.BertConfig(**kwargs), add_pooling_layer=False)
        bert.load_state_dict(to_bert_state_dict(member.model), strict=True)
        head_dense = copy.deepcopy(member.model.head_dense).to(device).eval()
        head_out = copy.deepcopy(member.model.head_out).to(device).eval()
        vocab = {token: i for i, token in enumerate(vocabulary(member.config.k))}
        members.append((member.config.k, bert.to(device).eval(), head_dense, head_out, vocab))
    return members


def reference_scores(
    fasta: Path, bundle: Bundle, window: int, stride: int, max_n_frac: float, batch_size: int,
    device: torch.device, limit: int | None = None,
) -> dict[str, np.ndarray]:
    """What an iEnhancer-ELM user would write: pyfaidx windows → k-mer strings → dict → BertModel + head.

    Scores every window (NaN where skipped for N, as ielmscan does), both strands averaged, members
    averaged with the bundle's weights; fp32. ``limit`` caps the windows per chromosome.
    """
    import pyfaidx

    members = reference_members(bundle, device)
    weights = bundle.normalised_weights()
    limit_n = np.float32(max_n_frac)
    results: dict[str, np.ndarray] = {}
    fa = pyfaidx.Fasta(str(fasta))
    try:
        for record in fa:  # pyfaidx records, in FASTA order
            total = WindowGrid(window, stride).count(len(record))
            total = total if limit is None else min(total, limit)
            scores = np.full(total, np.nan, dtype=np.float32)
            batch_seqs: list[str] = []
            batch_index: list[int] = []
            for j in range(total):
                seq = record[j * stride : j * stride + window].seq.upper()
                invalid = window - sum(seq.count(b) for b in "ACGT")
                if np.float32(invalid) / np.float32(window) > limit_n:
                    continue
                batch_seqs.append(seq)
                batch_index.append(j)
                if len(batch_seqs) == batch_size:
                    scores[batch_index] = _reference_batch(members, weights, batch_seqs, device)
                    batch_seqs, batch_index = [], []
            if batch_seqs:
                scores[batch_index] = _reference_batch(members, weights, batch_seqs, device)
            results[record.name] = scores
    finally:
        fa.close()
    return results


def scored_windows(scores: dict[str, np.ndarray]) -> int:
    """Windows with a score (not NaN) in per-chromosome score arrays."""
    return sum(int(np.count_nonzero(~np.isnan(chrom))) for chrom in scores.values())


@torch.inference_mode()
def _reference_batch(members: list[tuple], weights: list[float], seqs: list[str], device: torch.device) -> np.ndarray:
    """Ensemble probabilities of a batch of window strings, both strands, through BertModel + head."""
    both = seqs + [s.translate(_COMPLEMENT)[::-1] for s in seqs]
    mean = torch.zeros(len(seqs), device=device)
    for (k, bert, head_dense, head_out, vocab), weight in zip(members, weights):
        ids = [[CLS_ID] + [vocab.get(kmer, UNK_ID) for kmer in seq_to_kmers(s, k)] + [SEP_ID] for s in both]
        input_ids = torch.tensor(ids, device=device)
        states = bert(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).last_hidden_state
        pooled = states[:, 1:-1].mean(1)  # k-mer tokens only
        probs = torch.sigmoid(head_out(torch.tanh(head_dense(pooled))).squeeze(-1))
        mean += weight * 0.5 * (probs[: len(seqs)] + probs[len(seqs) :])
    return mean.float().cpu().numpy()


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
    scanner = Scanner(bundle, params(Precision.fp32))
    with Genome.open(fasta) as genome:
        mine = scanner.score_interval(genome, Interval("chr1", 0, (check - 1) * p.stride + p.window)).scores
    ref = reference_scores(fasta, bundle, p.window, p.stride, p.max_n_frac, batch, device, limit=check)["chr1"]
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
            reference_scores(fasta, bundle, p.window, p.stride, p.max_n_frac, batch, device))}
    manifests: dict[str, list[dict[str, Any]]] = {}
    for name, precision in settings.items():
        if name == "auto" and resolved_auto is Precision.fp32:
            details["auto"] = "auto resolves to fp32 on this device: not run twice"
            continue
        compiled = name.endswith("+compile")
        manifests[name] = []

        def scan(precision: Precision = precision, name: str = name, compiled: bool = compiled) -> None:
            manifests[name].append(run_scan(fasta, bundle, params(precision, compiled), str(tmp / f"e2e-{name}")))

        with Genome.open(fasta) as genome:  # compile and warm up outside the timing
            Scanner(bundle, params(precision, compiled)).score_interval(
                genome, Interval("chr1", 0, 2 * batch * p.stride + p.window))
        pipelines[name] = scan
    times = round_robin_times(pipelines, args.e2e_repeats)
    ref_seconds = statistics.median(times["reference"])
    ref_windows = scored_windows(ref_results[-1])
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


_REFERENCE_CHILD = r"""
import importlib.util, json, sys, time
from pathlib import Path
import torch
spec = importlib.util.spec_from_file_location("ielmscan_benchmarks", sys.argv[1])
harness = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = harness
spec.loader.exec_module(harness)
from ielmscan.model.bundle import load_bundle
bundle = load_bundle(sys.argv[3])
window, stride, max_n, batch = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
start = time.perf_counter()
scores = harness.reference_scores(Path(sys.argv[2]), bundle, window, stride, max_n, batch, torch.device(sys.argv[4]))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "windows": harness.scored_windows(scores)}))
"""


def fresh_processes(args: argparse.Namespace, bundle: Bundle, device: torch.device, fasta: Path, ref_windows: int,
                    rows: list[Row], details: dict[str, Any]) -> None:
    """Both pipelines as users run them: each in a new process (the CLI for ielmscan), in turn per round.

    A new process starts with glibc's malloc defaults and cold caches, which the in-process timings above
    do not see. The rates are the scans' own (ielmscan's manifest; the reference's scoring function, model
    building included); the whole processes' wall times, imports included, go to the details.
    """
    p = ScanParams().for_bundle(bundle)
    prefix = fasta.with_suffix("")
    reference = [sys.executable, "-c", _REFERENCE_CHILD, str(Path(__file__).resolve()), str(fasta), str(bundle.path),
                 str(device), str(p.window), str(p.stride), str(p.max_n_frac), str(args.batch_size)]
    scan = [sys.executable, "-m", "ielmscan.cli", "scan", str(fasta), "--model", str(bundle.path), "-o",
            f"{prefix}-fresh", "--quiet", "--device", str(device), "--batch-size", str(args.batch_size)]
    rates: dict[str, list[float]] = {"ielmscan": [], "reference": []}
    walls: dict[str, list[float]] = {"ielmscan": [], "reference": []}
    for _ in range(args.e2e_repeats):
        for name, command in (("ielmscan", scan), ("reference", reference)):
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


# -- 5. cascade (--fast) -------------------------------------------------------------------------------

REAL_GENOME = Path(__file__).resolve().parents[2] / "shared" / "data" / "genomes" / "hg38_chr16_186964-397118.fa"


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
    source = args.cascade_genome or REAL_GENOME
    if source.is_file():
        fasta = Path(shutil.copy(source, tmp / source.name))  # never index inside the shared data folder
        label = source.name
    else:
        fasta = write_synthetic_genome(tmp / "cascade.fa", {"chrC": int(args.genome_mb * 1_000_000)}, seed=9)
        label = f"synthetic {args.genome_mb:g} Mb (real genome not found)"
    Genome.open(fasta).close()
    scorer = ScorerSettings(device=str(device), precision=Precision.auto, batch_size=args.batch_size)
    manifests: dict[str, dict[str, Any]] = {}
    times: dict[str, list[float]] = {}
    for mode in ("full", "fast"):
        def scan(mode: str = mode) -> None:
            manifests[mode] = run_scan(fasta, bundle, ScanParams(fast=mode == "fast", scorer=scorer),
                                       str(tmp / f"cascade-{mode}"))
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


# -- 6. genome scale ---------------------------------------------------------------------------------

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
    scanner = Scanner(bundle, params)
    with Genome.open(fasta) as genome:  # kernels, autotuning and allocator caches before the timing
        scanner.score_interval(genome, Interval("chrS1", 0, min(length, 4 * args.batch_size * params.stride)))
    log(f"scale: scanning {args.scale_mb:g} Mb ({scanner.params.grid.count(length):,} windows; "
        f"generated in {generated:.0f} s) on {device} ...")
    with GpuUtilisation(device) as utilisation:
        manifest = run_scan(fasta, bundle, params, str(tmp / "scale"))
    # The CPU side alone (read, encode, k-mer ids of both strands), as the scan's prefetch thread runs it:
    # the rate it could feed a device that scores instantly.
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


# -- 4. memory ---------------------------------------------------------------------------------------

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


def fasta_lines(seq: np.ndarray, width: int = 60) -> bytes:
    full = len(seq) // width
    body = np.empty((full, width + 1), dtype=np.uint8)
    body[:, :width] = seq[: full * width].reshape(full, width)
    body[:, width] = ord("\n")
    rest = seq[full * width :].tobytes()
    return body.tobytes() + (rest + b"\n" if rest else b"")


def write_chromosome(path: Path, name: str, length: int, seed: int) -> Path:
    """One synthetic chromosome, generated and written ~1 Mb at a time so the generator stays small."""
    chunk = 60 * 16_384  # whole FASTA lines per chunk
    rng = np.random.default_rng(seed)
    with path.open("wb") as fh:
        fh.write(f">{name} synthetic sequence (ielmscan benchmark, seed {seed})\n".encode())
        for start in range(0, length, chunk):
            seq = synthetic_sequence(min(chunk, length - start), rng)
            fh.write(fasta_lines(np.frombuffer(bytes(seq), dtype=np.uint8)))
    return path


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


# -- report ------------------------------------------------------------------------------------------


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
                        help="FASTA for the --fast section [default: the hg38 chr16 piece in ../shared/data]")
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
    args.out.mkdir(parents=True, exist_ok=True)
    path = result_path(args.out, args.quick)
    record = {
        "machine": machine,
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "model": {"path": str(model_path), "sha256": bundle.checksum, "members": bundle.ks},
        "rows": [r.to_json() for r in rows],
        "details": details,
        "wall_s": time.perf_counter() - started,
    }
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
