"""Bases → 2-bit codes → per-base k-mer token ids for several k at once, invalid masks, reverse complement.

Codes: A=0, C=1, G=2, T=3 (either case), everything else (N, IUPAC ambiguity codes, gaps, any other
byte) = ``INVALID`` (4). Soft-masking (lowercase) carries no meaning here.

Token ids of a member with k-mer size k: 0 [PAD], 1 [UNK], 2 [CLS], 3 [SEP], 4 [MASK], then
``NUM_SPECIAL + index`` where ``index`` is the k-mer read as a base-4 number, first base most
significant (k=3 "ACG" → 5 + 0*16 + 1*4 + 2 = 11). The layout matches ``ielmscan.model.tokens``.

All positions are 0-based; a k-mer at position i covers the half-open interval [i, i + k).
"""
from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from ._validate import check_int as _check_int
from .grid import WindowGrid

INVALID: int = 4
PAD_ID: int = 0
UNK_ID: int = 1
CLS_ID: int = 2
SEP_ID: int = 3
MASK_ID: int = 4
NUM_SPECIAL: int = 5
MAX_K: int = 12  # 4**12 k-mers (16.7 M) is already far beyond any vocabulary a model uses


def _make_base_lut() -> np.ndarray:
    lut = np.full(256, INVALID, dtype=np.uint8)
    for code, base in enumerate(b"ACGT"):
        lut[base] = code
        lut[base + 32] = code  # lowercase (soft-masked) bases encode like uppercase ones
    lut.flags.writeable = False
    return lut


BASE_LUT: np.ndarray = _make_base_lut()

# Code-level complement: 0↔3, 1↔2, and every other byte value (4 and anything larger) → INVALID.
_CODE_COMPLEMENT = np.full(256, INVALID, dtype=np.uint8)
_CODE_COMPLEMENT[:4] = (3, 2, 1, 0)
_CODE_COMPLEMENT.flags.writeable = False


def _make_text_complement() -> bytes:
    table = bytearray(range(256))  # unknown bytes map to themselves
    pairs = (b"AT", b"CG", b"RY", b"KM", b"BV", b"DH", b"SS", b"WW", b"NN")
    for a, b in pairs:  # iterating b"AT" yields the two byte values
        for x, y in ((a, b), (b, a)):
            table[x] = y  # uppercase stays uppercase ...
            table[x + 32] = y + 32  # ... and lowercase stays lowercase
    return bytes(table)


_TEXT_COMPLEMENT: bytes = _make_text_complement()


def _check_codes(codes: object, name: str = "codes") -> np.ndarray:
    """Return ``codes`` as a C-contiguous 1-D uint8 array, or raise ValueError."""
    if not isinstance(codes, np.ndarray):
        raise ValueError(f"{name} must be a 1-D numpy uint8 array, got {type(codes).__name__}")
    if codes.dtype != np.uint8:
        raise ValueError(f"{name} must have dtype uint8, got {codes.dtype}")
    if codes.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {codes.shape}")
    # One compiled specialisation (C layout) instead of one per stride pattern.
    return np.ascontiguousarray(codes)


def encode_bases(seq: bytes | bytearray | np.ndarray) -> np.ndarray:
    """Map every byte of ``seq`` to its 2-bit code (A/C/G/T in either case → 0-3, anything else → 4).

    ``seq`` is text as bytes/bytearray or a 1-D uint8 array of ASCII bytes. Returns a new uint8 array of
    the same length.
    """
    if isinstance(seq, (bytes, bytearray)):
        raw = np.frombuffer(seq, dtype=np.uint8)
    elif isinstance(seq, np.ndarray):
        raw = _check_codes(seq, "seq")
    else:
        raise ValueError(
            f"seq must be bytes, bytearray or a 1-D uint8 array, got {type(seq).__name__}"
        )
    out = np.empty(raw.shape[0], dtype=np.uint8)
    _encode_bases(raw, BASE_LUT, out)
    return out


@numba.njit(cache=True, nogil=True)
def _encode_bases(raw: np.ndarray, lut: np.ndarray, out: np.ndarray) -> None:
    for i in range(raw.shape[0]):
        out[i] = lut[raw[i]]


def _check_ks(ks: Sequence[int]) -> np.ndarray:
    """Return ``ks`` as an int64 array after checking 1 ≤ k ≤ MAX_K, non-empty and no duplicates."""
    if isinstance(ks, (str, bytes)) or not isinstance(ks, (Sequence, np.ndarray)):
        raise ValueError(f"ks must be a sequence of k-mer sizes, got {ks!r}")
    if len(ks) == 0:
        raise ValueError("ks must name at least one k-mer size, got an empty sequence")
    checked = [_check_int(k, "every k in ks", 1) for k in ks]
    for k in checked:
        if k > MAX_K:
            raise ValueError(f"every k in ks must be between 1 and {MAX_K}, got {k}")
    if len(set(checked)) != len(checked):
        raise ValueError(f"ks must not repeat a k-mer size, got {list(checked)}")
    return np.asarray(checked, dtype=np.int64)


def kmer_token_ids(codes: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """Token id of the k-mer starting at every position, for every k in ``ks``, in one pass.

    Returns int32 of shape (len(ks), n): row r, column i holds the id of the k-mer
    ``codes[i:i+k]`` (0-based half-open, k = ks[r]); [UNK] if any of its bases is invalid (code ≥ 4),
    [PAD] where it would run off the end (i + k > n).
    """
    codes = _check_codes(codes)
    ks_arr = _check_ks(ks)
    masks = (np.int64(1) << (2 * ks_arr)) - 1
    full_mask = int((1 << (2 * int(ks_arr.max()))) - 1)
    out = np.empty((ks_arr.shape[0], codes.shape[0]), dtype=np.int32)
    _kmer_token_ids(codes, ks_arr, masks, full_mask, out)
    return out


@numba.njit(cache=True, nogil=True)
def _kmer_token_ids(
    codes: np.ndarray, ks: np.ndarray, masks: np.ndarray, full_mask: int, out: np.ndarray
) -> None:
    n = codes.shape[0]
    nk = ks.shape[0]
    max_k = 0
    for r in range(nk):
        max_k = max(max_k, ks[r])
    value = 0  # 2-bit codes of the last bases, newest in the low bits
    run = 0  # number of valid bases ending at the current position
    # Prologue: the first max_k - 1 positions, where some k-mers do not yet have a start column.
    head = min(n, max_k - 1)
    for p in range(head):
        c = int(codes[p])  # widen: with the JIT disabled, uint8 arithmetic would wrap
        if c < 4:
            value = ((value << 2) | c) & full_mask  # keep only the bits the largest k needs
            run += 1
        else:
            value = 0
            run = 0
        for r in range(nk):
            k = ks[r]
            start = p - k + 1
            if start >= 0:
                out[r, start] = NUM_SPECIAL + (value & masks[r]) if run >= k else UNK_ID
    # Main loop: every k-mer ending at p has a start column, so no bounds test is needed.
    for p in range(head, n):
        c = int(codes[p])  # widen: with the JIT disabled, uint8 arithmetic would wrap
        if c < 4:
            value = ((value << 2) | c) & full_mask
            run += 1
        else:
            value = 0
            run = 0
        for r in range(nk):
            k = ks[r]
            out[r, p - k + 1] = NUM_SPECIAL + (value & masks[r]) if run >= k else UNK_ID
    # The last k - 1 columns of each row start a k-mer that runs off the end.
    for r in range(nk):
        for i in range(max(n - ks[r] + 1, 0), n):
            out[r, i] = PAD_ID


def window_invalid_fraction(codes: np.ndarray, window: int, stride: int) -> np.ndarray:
    """Fraction of invalid bases (code ≥ 4) in each window of ``codes``.

    Window j covers the 0-based half-open interval [j*stride, j*stride + window); there are
    (n - window) // stride + 1 windows if n ≥ window, else none. Returns float32 of that length.
    """
    codes = _check_codes(codes)
    grid = WindowGrid(window, stride)
    out = np.empty(grid.count(codes.shape[0]), dtype=np.float32)
    _window_invalid_fraction(codes, grid.window, grid.stride, out)
    return out


@numba.njit(cache=True, nogil=True)
def _window_invalid_fraction(codes: np.ndarray, window: int, stride: int, out: np.ndarray) -> None:
    # Two cursors walk the prefix count of invalid bases (one at each window edge); both only move
    # forward, so this is O(n) time without an O(n) prefix array.
    lo = 0  # window start position reached so far
    hi = 0  # window end position reached so far
    count_lo = 0  # invalid bases in codes[:lo]
    count_hi = 0  # invalid bases in codes[:hi]
    for j in range(out.shape[0]):
        start = j * stride
        end = start + window
        while hi < end:
            if codes[hi] >= 4:
                count_hi += 1
            hi += 1
        while lo < start:
            if codes[lo] >= 4:
                count_lo += 1
            lo += 1
        out[j] = (count_hi - count_lo) / window


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of 2-bit codes: reversed order, 0↔3, 1↔2, invalid (≥ 4) → 4. New uint8 array.

    ``codes`` is one sequence (1-D) or a stack of equally long sequences (2-D, one per row: each row is
    reverse-complemented on its own).
    """
    if isinstance(codes, np.ndarray) and codes.ndim == 2 and codes.dtype == np.uint8:
        return _CODE_COMPLEMENT[codes[:, ::-1]]
    codes = _check_codes(codes)
    return _CODE_COMPLEMENT[codes[::-1]]


def reverse_complement(seq: bytes | bytearray) -> bytes:
    """Reverse complement of a text sequence, keeping case.

    IUPAC codes are complemented (A↔T, C↔G, R↔Y, K↔M, B↔V, D↔H; S, W, N are their own complement);
    any other byte stays itself.
    """
    if not isinstance(seq, (bytes, bytearray)):
        raise ValueError(f"seq must be bytes or bytearray, got {type(seq).__name__}")
    return bytes(seq).translate(_TEXT_COMPLEMENT)[::-1]
