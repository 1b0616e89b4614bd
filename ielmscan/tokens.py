"""Token vocabularies of the ensemble members: special tokens followed by every k-mer.

The id layout is shared with the Numba encoder (``ielmscan.kernels.encode``): ids 0-4 are
[PAD] [UNK] [CLS] [SEP] [MASK], and k-mer ``s`` has id ``5 + int(s in base 4)`` with A=0, C=1, G=2,
T=3 and the first base most significant. This module holds the slow, readable string path used for
vocabulary files and as the DNABERT-style reference that the fast kernels are checked against.
"""
from __future__ import annotations

from itertools import product

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))
NUM_SPECIAL = len(SPECIAL_TOKENS)
BASES = "ACGT"


def vocab_size(k: int) -> int:
    """Number of token ids of a k-mer member: the special tokens plus all 4**k k-mers."""
    return NUM_SPECIAL + 4**k


def vocabulary(k: int) -> list[str]:
    """All tokens of a k-mer member in id order (what a ``vocab.txt`` lists, one per line)."""
    return list(SPECIAL_TOKENS) + ["".join(p) for p in product(BASES, repeat=k)]


def seq_to_kmers(seq: str, k: int) -> list[str]:
    """Overlapping k-mers of ``seq``, as iEnhancer-ELM / DNABERT's ``seq2kmer`` produces them."""
    return [seq[i : i + k] for i in range(len(seq) - k + 1)]


def kmers_to_ids(kmers: list[str], k: int) -> list[int]:
    """Vocabulary lookup of k-mer strings; anything that is not an A/C/G/T k-mer becomes [UNK].

    Case is ignored, as it is by the scanner (soft-masking carries no meaning for the model).
    """
    lookup = {token: i for i, token in enumerate(vocabulary(k)) if i >= NUM_SPECIAL}
    return [lookup.get(kmer.upper(), UNK_ID) for kmer in kmers]
