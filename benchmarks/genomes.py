"""Genomes for the benchmarks: long generated chromosomes, and where the shared real data lives."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ielmscan.io.synthetic import synthetic_sequence

from benchmarks.harness import REPO_ROOT

SHARED_DATA_ENV = "IELMSCAN_SHARED_DATA"  # the same variable the test suite reads (tests/conftest.py)


def shared_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The shared real-data folder: ``$IELMSCAN_SHARED_DATA`` where set, else ``../shared/data`` beside the
    repository root. It may not exist; callers check the files they need and fall back or skip."""
    environ = os.environ if environ is None else environ
    return Path(environ[SHARED_DATA_ENV]) if environ.get(SHARED_DATA_ENV) else REPO_ROOT.parent / "shared" / "data"


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
