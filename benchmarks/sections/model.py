"""Section 2, model: FLOP/s of the ensemble's forward pass and of ielmscan's scorer against the matmul peak."""
from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from ielmscan.inference.devices import Precision
from ielmscan.inference.scorer import EnsembleScorer, ScorerSettings
from ielmscan.inference.windows import encode_chunk
from ielmscan.kernels.encode import encode_bases
from ielmscan.model.bundle import Bundle
from ielmscan.model.network import forward_flops
from ielmscan.model.tokens import CLS_ID, NUM_SPECIAL, SEP_ID

from benchmarks.harness import Row, device_sync, median_time


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
    settings = ScorerSettings(device=str(device), precision=Precision(dtype), batch_size=args.batch_size)
    with EnsembleScorer(bundle, settings) as scorer:
        stride, windows = 50, 8 * args.batch_size
        rng = np.random.default_rng(windows)
        codes = encode_bases(rng.choice(np.frombuffer(b"ACGT", dtype=np.uint8), (windows - 1) * stride + bundle.window))
        chunk = encode_chunk(codes, bundle.ks, reverse_complement=True)
        selected = np.arange(windows)
        seconds, times = median_time(lambda: scorer.score_members(chunk, bundle.window, stride, selected),
                                     args.repeats)
    flops = 2 * windows * sum(forward_flops(m.config, m.config.tokens_per_window(bundle.window)) for m in bundle.members)
    details[f"scorer_{dtype}"] = {"flops": flops, "seconds": times, "windows_per_s": windows / seconds,
                                  "workers": scorer.workers, "threads_per_worker": scorer.threads_per_worker}
    return flops / seconds, f"{scorer.workers} workers x {scorer.threads_per_worker} thread(s), {windows / seconds:,.0f} windows/s"


