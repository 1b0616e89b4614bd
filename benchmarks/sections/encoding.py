"""Section 1, encoding: bases per second of the Python k-mer path, the Numba kernels and plain NumPy (k = 3..6)."""
from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numba
import numpy as np

from ielmscan.io.synthetic import synthetic_sequence
from ielmscan.kernels.encode import encode_bases, kmer_token_ids
from ielmscan.model.tokens import NUM_SPECIAL, PAD_ID, UNK_ID, kmers_to_ids, seq_to_kmers, vocabulary

from benchmarks.harness import BenchmarkFailure, Row, median_time

KS = [3, 4, 5, 6]
WINDOW = 200

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


