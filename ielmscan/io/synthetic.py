"""Synthetic genomes for the example, the tests and the benchmarks (no third-party sequence shipped).

Sequence is drawn base by base from a background composition, with GC-rich "islands", runs of N
(assembly gaps) and lowercase stretches (soft-masked repeats), so every path of the scanner is used.
The result is labelled synthetic in every record's description.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ielmscan.io.fasta import write_fasta

def synthetic_sequence(length: int, rng: np.random.Generator, gc: float = 0.41) -> bytearray:
    """Random A/C/G/T with GC islands, N gaps and soft-masked stretches; ``length`` bases."""
    at, cg = (1 - gc) / 2, gc / 2
    seq = bytearray(rng.choice(np.frombuffer(b"ACGT", dtype=np.uint8), size=length, p=[at, cg, cg, at]).tobytes())
    n_features = max(1, length // 20_000)
    cap = max(2, length // 5)  # no feature takes over a short sequence
    for _ in range(n_features):
        # A GC-rich island of 200-2000 bp (enhancer-like composition).
        size = int(rng.integers(1, cap)) if length < 10_000 else int(rng.integers(200, 2000))
        start = int(rng.integers(0, max(1, length - size)))
        island = rng.choice(np.frombuffer(b"ACGT", dtype=np.uint8), size=min(size, length - start), p=[0.2, 0.3, 0.3, 0.2])
        seq[start : start + len(island)] = island.tobytes()
        # A soft-masked stretch of 100-3000 bp.
        size = int(rng.integers(1, cap)) if length < 15_000 else int(rng.integers(100, 3000))
        start = int(rng.integers(0, max(1, length - size)))
        seq[start : start + size] = seq[start : start + size].lower()
    for _ in range(max(1, n_features // 4)):
        # An assembly gap of 50-5000 N.
        size = int(rng.integers(1, cap)) if length < 25_000 else int(rng.integers(50, 5000))
        start = int(rng.integers(0, max(1, length - size)))
        seq[start : start + size] = b"N" * len(seq[start : start + size])
    return seq


def write_synthetic_genome(path: str | Path, lengths: dict[str, int], seed: int = 0) -> Path:
    """A synthetic multi-chromosome FASTA at ``path``; deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    records = [(name, synthetic_sequence(length, rng)) for name, length in lengths.items()]
    return write_fasta(path, records, description=f"synthetic sequence (ielmscan, seed {seed})")
