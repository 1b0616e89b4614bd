"""What `dataset build` is asked to do (:class:`BuildRequest`, the command's options and defaults) and the
checks of those options that need no input read (:func:`check_request`)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ielmscan.errors import InputError
from ielmscan.learn.background import DEFAULT_BINS
from ielmscan.model.defaults import DEFAULT_WINDOW

__all__ = ["BuildRequest", "check_request"]


@dataclass
class BuildRequest:
    """Everything `dataset build` needs; the defaults are the command's."""

    output: Path
    genome: Path | None = None
    peaks: Path | None = None
    pos_fastas: Sequence[Path] = ()
    neg_fastas: Sequence[Path] = ()
    blacklist: Path | None = None
    window: int = DEFAULT_WINDOW
    background_ratio: float = 1.0  # background windows per positive (drawn only with a genome)
    margin: int = 1000  # bases kept free of background on each side of a positive with coordinates
    max_n_frac: float = 0.0
    gc_bins: int = DEFAULT_BINS
    background_spacing: int | None = None  # least distance between background windows' starts (None: window)
    val_chroms: Sequence[str] = ()
    test_chroms: Sequence[str] = ()
    val_fraction: float = 0.1  # of the records that no chromosome option places
    test_fraction: float = 0.1
    seed: int = 0
    force: bool = False
    command: list[str] = field(default_factory=list)


def check_request(req: BuildRequest) -> None:
    """Option errors (InputError naming the option), before any input is read."""
    if isinstance(req.window, bool) or not isinstance(req.window, int) or req.window < 1:
        raise InputError(f"--window must be a whole number >= 1, got {req.window!r}")
    if req.peaks is None and not req.pos_fastas:
        raise InputError("no positives: give --peaks (with --genome) and/or --pos-fasta")
    if req.peaks is not None and req.genome is None:
        raise InputError("--peaks needs --genome (the sequence of the peaks)")
    if req.blacklist is not None and req.genome is None:
        raise InputError("--blacklist needs --genome (it keeps background windows off the listed regions)")
    if not (math.isfinite(req.background_ratio) and req.background_ratio >= 0):
        raise InputError(f"--background-ratio must be >= 0, got {req.background_ratio}")
    if not req.neg_fastas and (req.genome is None or req.background_ratio == 0):
        raise InputError("no negatives: give --neg-fasta and/or --genome with --background-ratio > 0")
    if req.margin < 0:
        raise InputError(f"--margin must be >= 0, got {req.margin}")
    if not 0 <= req.max_n_frac < 1:
        raise InputError(f"--max-n-frac must be in [0, 1), got {req.max_n_frac}")
    if req.gc_bins < 1:
        raise InputError(f"--gc-bins must be >= 1, got {req.gc_bins}")
    if req.background_spacing is not None and req.background_spacing < 1:
        raise InputError(f"--background-spacing must be >= 1, got {req.background_spacing}")
    for name, value in (("--val-fraction", req.val_fraction), ("--test-fraction", req.test_fraction)):
        if not 0 <= value < 1:
            raise InputError(f"{name} must be in [0, 1), got {value}")
    if req.val_fraction + req.test_fraction >= 1:
        raise InputError(f"--val-fraction {req.val_fraction} and --test-fraction {req.test_fraction} leave no "
                         "training data: their sum must be below 1")
    both = sorted(set(req.val_chroms) & set(req.test_chroms))
    if both:
        raise InputError(f"{', '.join(both)} named by both --val-chrom and --test-chrom")
