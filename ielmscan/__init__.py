"""ielmscan: genome-wide enhancer scanning with a multi-scale k-mer transformer ensemble.

The Python API, for use beside the command line::

    import ielmscan

    bundle = ielmscan.load_bundle()                      # the shipped default model (or a bundle folder)
    manifest = ielmscan.scan("genome.fa", "out/genome", bundle)   # out/genome.bed, .bw, .json
    probs, per_member = ielmscan.score_sequences(bundle, ["ACGT..." ...])  # equally long sequences
    for p in ielmscan.predict(bundle, [("id1", "ACGT...")]):          # any lengths, best window
        print(p.name, p.probability)

Names are loaded on first use, so ``import ielmscan`` (and ``ielmscan --help``) does not load torch.
Coordinates are 0-based, half-open throughout.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_HOMES = {
    "load_bundle": "ielmscan.api",
    "scan": "ielmscan.api",
    "predict": "ielmscan.api",
    "score_sequences": "ielmscan.inference.scorer",
    "Bundle": "ielmscan.model.bundle",
    "ScanParams": "ielmscan.inference.scan",
    "ScorerSettings": "ielmscan.inference.scorer",
    "Prediction": "ielmscan.inference.predict",
    "WindowGrid": "ielmscan.kernels.grid",
}

__all__ = ["__version__", *sorted(_HOMES)]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'ielmscan' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
