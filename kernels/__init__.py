"""Numba kernels for ielmscan, shipped as ``ielmscan.kernels``."""
# Kernels are compiled with nogil=True so the scanner can encode the next chunk in a background thread
# while the current one is on the GPU/CPU in torch.
from __future__ import annotations

from .encode import (
    BASE_LUT,
    CLS_ID,
    INVALID,
    MASK_ID,
    NUM_SPECIAL,
    PAD_ID,
    SEP_ID,
    UNK_ID,
    encode_bases,
    kmer_token_ids,
    reverse_complement,
    reverse_complement_codes,
    window_invalid_fraction,
)
from .reduce import bin_window_scores, call_regions

__all__ = [
    "BASE_LUT",
    "CLS_ID",
    "INVALID",
    "MASK_ID",
    "NUM_SPECIAL",
    "PAD_ID",
    "SEP_ID",
    "UNK_ID",
    "bin_window_scores",
    "call_regions",
    "encode_bases",
    "kmer_token_ids",
    "reverse_complement",
    "reverse_complement_codes",
    "window_invalid_fraction",
]
