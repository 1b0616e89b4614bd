"""Token vocabularies of the ensemble members, and token rows of whole sequences.

The ids are the Numba encoder's (``ielmscan.kernels.encode``, their one home): ids 0-4 are
[PAD] [UNK] [CLS] [SEP] [MASK], and k-mer ``s`` has id ``5 + int(s in base 4)`` with A=0, C=1, G=2,
T=3 and the first base most significant. This module names them, builds the ``[CLS] k-mers [SEP]``
rows that training feeds the members, and holds the slow, readable string path used for vocabulary
files and as the DNABERT-style reference that the fast kernels are checked against.
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np

from ielmscan.errors import InputError
from ielmscan.kernels.encode import (CLS_ID, MASK_ID, NUM_SPECIAL, PAD_ID, SEP_ID, UNK_ID, encode_bases,
                                     kmer_token_ids)

__all__ = ["BASES", "CLS_ID", "MASK_ID", "NUM_SPECIAL", "PAD_ID", "SEP_ID", "SPECIAL_TOKENS", "UNK_ID",
           "encode_sequences", "kmers_to_ids", "seq_to_kmers", "token_rows", "vocab_size", "vocabulary"]

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # in id order
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


def encode_sequences(seqs: Sequence[str]) -> np.ndarray:
    """(N, L) uint8 base codes of N sequences that are all L bases long (case ignored; N/IUPAC → invalid)."""
    if not len(seqs):
        return np.empty((0, 0), dtype=np.uint8)
    length = len(seqs[0])
    other = next((s for s in seqs if len(s) != length), None)
    if other is not None:
        raise InputError(f"sequences must all have one length to be scored together: {length} and {len(other)} bp")
    return encode_bases("".join(seqs).encode("ascii", errors="replace")).reshape(len(seqs), length)


def token_rows(codes: np.ndarray, k: int) -> np.ndarray:
    """(N, L-k+3) int64 token rows of (N, L) base codes: [CLS], the L-k+1 k-mer ids, [SEP]."""
    n, length = codes.shape
    ids = kmer_token_ids(np.ascontiguousarray(codes).reshape(-1), [k])[0].reshape(n, length)[:, : length - k + 1]
    out = np.empty((n, length - k + 3), dtype=np.int64)
    out[:, 0], out[:, 1:-1], out[:, -1] = CLS_ID, ids, SEP_ID
    return out
