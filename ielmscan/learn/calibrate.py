"""Calibrating a bundle against a background genome (``ielmscan model calibrate``, and ``train --background``).

N-free windows are drawn from the background genome at its own GC composition (the same sampler that
draws training negatives, without GC matching), scored by the bundle exactly as a scan scores windows
(both strands, fp32), and their scores become the bundle's :class:`~ielmscan.model.calibration.Calibration`.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from ielmscan.inference.scorer import score_sequences
from ielmscan.io.genome import Genome
from ielmscan.learn.background import sample_background
from ielmscan.model.bundle import Bundle
from ielmscan.model.calibration import Calibration

DEFAULT_WINDOWS = 20_000  # resolves p-values down to 5e-5, several hundred windows above p = 0.01


def calibrate(bundle: Bundle, genome: str | Path, windows: int = DEFAULT_WINDOWS, seed: int = 0,
              device: str = "cpu", exclude: Iterable[tuple[str, int, int]] = ()) -> tuple[Calibration, list[str]]:
    """Background score distribution of ``bundle`` on ``windows`` windows of ``genome``, and those windows.

    ``exclude``: intervals (0-based, half-open) no window may overlap, e.g. the training negatives'.
    """
    sample = sample_background(genome, bundle.window, None, count=windows, seed=seed, exclude=exclude)
    scores, _ = score_sequences(bundle, sample.seqs, device)
    source = {"genome": Path(genome).name, "genome_sequences_sha256": _sequences_digest(Path(genome)),
              "windows": len(sample), "seed": seed, "window": bundle.window, "gc": "genome",
              "method": "N-free windows at the genome's own GC, not overlapping; strand-averaged fp32 scores"}
    return Calibration(scores, source), sample.seqs


def _sequences_digest(genome: Path) -> str:
    """sha256 of the genome's sequence names and lengths: cheap, and names the background that was used."""
    with Genome.open(genome) as opened:
        listing = "".join(f"{name}\t{length}\n" for name, length in opened.chroms)
    return hashlib.sha256(listing.encode()).hexdigest()
