"""Numba kernels for ielmscan, shipped as ``ielmscan.kernels``: NumPy in, NumPy out.

Kernels are compiled with nogil=True so the scanner can encode the next chunk in a background thread
while the current one is on the GPU/CPU in torch. The names below are loaded on first use, so that
importing the numba-free ``ielmscan.kernels.grid`` (window geometry) does not load numba.
"""
from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    **dict.fromkeys(("BASE_LUT", "CLS_ID", "INVALID", "MASK_ID", "NUM_SPECIAL", "PAD_ID", "SEP_ID", "UNK_ID",
                     "encode_bases", "kmer_token_ids", "reverse_complement", "reverse_complement_codes",
                     "window_invalid_fraction"), "encode"),
    **dict.fromkeys(("bin_window_scores", "call_regions"), "reduce"),
    "window_linear_scores": "linear",
    "WindowGrid": "grid",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
