"""The shape of a new bundle when nothing else is said: the shipped default model's.

Kept free of torch so that the command line can show these defaults in ``--help`` without loading it.
"""
from __future__ import annotations

DEFAULT_KS: tuple[int, ...] = (3, 4, 5, 6)  # one member per k, as in iEnhancer-ELM
DEFAULT_WINDOW = 200  # bases; the iEnhancer-2L training length
DEFAULT_LAYERS = 1
DEFAULT_HIDDEN = 64
DEFAULT_HEADS = 4
DEFAULT_MAX_POSITIONS = 256  # tokens, [CLS] and [SEP] included
MAX_K = 8  # 4**8 k-mers: a vocabulary of 65,541 tokens
