"""The shape of a new bundle when nothing else is said (iEnhancer-ELM's members k = 3..6, of the shipped models'
size), and the limits on any bundle's shape that loading enforces.

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
# A BPE member's vocabulary: DNABERT-2's size, and the k6 member's (4,101 ids), so that the two compete with
# embedding tables of one size.
DEFAULT_BPE_VOCAB = 4096

# Limits on what a bundle's ensemble.json may declare, checked before anything is allocated, so a mistyped
# or hostile bundle costs an error line, not gigabytes (docs/security.md). Generous (DNABERT-base, 12 layers
# of 768 with 512 positions, fits with room) but bounded.
MAX_HIDDEN = 4096  # hidden_size and head_hidden
MAX_LAYERS = 48
MAX_INTERMEDIATE = 16384
MAX_POSITIONS = 8192  # tokens of the longest window
MAX_PARAMETERS = 1_000_000_000  # per member: 4 GB of float32
MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # ensemble.json; a real one is a few kB
MIN_BPE_VOCAB = 9  # the five special tokens and the four bases: no merges at all
MAX_BPE_VOCAB = 65_541  # a BPE member's tokens: as many as the largest k-mer vocabulary (k = 8)
MAX_TOKENIZER_BYTES = 16 * 1024 * 1024  # a BPE member's tokenizer.json; one of 4,096 tokens is about 100 kB
