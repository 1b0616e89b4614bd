"""The small public Python API (re-exported by ``ielmscan``): load a bundle, scan a genome, predict records.

Each function is a thin, documented entry to the same code the command line runs; nothing here prints.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ielmscan.errors import BundleError
from ielmscan.inference.devices import Precision
from ielmscan.inference.predict import Prediction, predict_records
from ielmscan.inference.scan import ScanParams, run_scan
from ielmscan.inference.scorer import ScorerSettings
from ielmscan.model.bundle import Bundle, default_bundle_path, shipped_bundle_path
from ielmscan.model.bundle import load_bundle as _load_bundle_folder

__all__ = ["load_bundle", "predict", "scan"]


def load_bundle(path: str | Path | None = None) -> Bundle:
    """The model bundle in folder ``path`` (or a shipped model's name: ``default``, ``ienhancer2l``), or the
    default model shipped with ielmscan when ``path`` is None."""
    if path is not None and not Path(path).exists() and shipped_bundle_path(str(path)) is not None:
        path = shipped_bundle_path(str(path))
    if path is None:
        path = default_bundle_path()
        if path is None:
            raise BundleError("no trained default model is installed in this ielmscan: give a bundle folder")
    return _load_bundle_folder(path)


def scan(
    fasta: str | Path,
    prefix: str | Path,
    bundle: Bundle | None = None,
    params: ScanParams | None = None,
    chroms: Sequence[str] | None = None,
    regions_bed: str | Path | None = None,
    force: bool = False,
    blacklist_bed: str | Path | None = None,
    tabix: bool = False,
    resume: bool = False,
) -> dict[str, Any]:
    """Scan a genome FASTA like ``ielmscan scan``: writes PREFIX.bed, PREFIX.bw, PREFIX.json; returns the manifest.

    ``params`` holds the window (default: the bundle's), stride, N policy, threshold and device settings.
    ``blacklist_bed``: windows overlapping its intervals are not scored; ``tabix``: PREFIX.bed.gz + .tbi
    instead of PREFIX.bed; ``resume``: continue from PREFIX.checkpoint after an interrupted run.
    An output never replaces an input; ``force`` lets it replace the outputs of an earlier scan.
    """
    return run_scan(Path(fasta), bundle or load_bundle(), params or ScanParams(), str(prefix), chroms=chroms,
                    regions_bed=Path(regions_bed) if regions_bed is not None else None, force=force,
                    blacklist_bed=Path(blacklist_bed) if blacklist_bed is not None else None, tabix=tabix,
                    resume=resume)


def predict(
    bundle: Bundle,
    records: Iterable[tuple[str, str]],
    settings: ScorerSettings | None = None,
    stride: int = 50,
    max_n_frac: float = 0.1,
) -> Iterator[Prediction]:
    """Classify (name, sequence) records of any length like ``ielmscan predict``: one Prediction per record.

    Default settings are the command's: fp32, both strands, the device picked automatically.
    """
    return predict_records(bundle, records, settings or ScorerSettings(precision=Precision.fp32), stride, max_n_frac)
