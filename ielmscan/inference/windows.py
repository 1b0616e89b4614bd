"""A chunk as the scorer reads it, and the token rows of its windows, made by each member's tokenizer.

A chunk is encoded once (:func:`encode_chunk`): its base codes, and the per-base ids of every k-mer member in one
kernel pass, on both strands when RC averaging is on. A k-mer member's windows are strided views of its id row
(:class:`KmerWindows`: no window is built in Python, and only the id arrays travel to the device); a BPE member's
tokenizer encodes the codes of the windows a batch selects (:class:`BpeWindows`), rows padded with [PAD]. Either
gives the rows of a batch of windows, forward strand first, then the reverse complements in the same order.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ielmscan.kernels.encode import kmer_token_ids, reverse_complement_codes
from ielmscan.model.tokenizers import BpeTokenizer
from ielmscan.model.tokens import CLS_ID, PAD_ID, SEP_ID

# A BPE batch's rows are padded to a multiple of this many tokens: a handful of shapes per member, so that
# oneDNN's per-shape primitive cache (never freed; see scorer.batch_bucket) stays small.
TOKEN_STEP = 16


@dataclass(eq=False)  # arrays: equal only to itself
class EncodedChunk:
    """One chunk's bases, encoded once for every member (see the module docstring)."""

    codes: np.ndarray  # uint8 (n,) base codes
    ids: np.ndarray  # int32 (k-mer members, n): the id of the k-mer starting at each base, one row per k-mer member
    codes_rc: np.ndarray | None = None  # the reverse complement's codes (None without RC averaging)
    ids_rc: np.ndarray | None = None  # the reverse complement's k-mer ids


def encode_chunk(codes: np.ndarray, ks: list[int], reverse_complement: bool,
                 ids: np.ndarray | None = None) -> EncodedChunk:
    """``codes`` encoded for members with k-mer sizes ``ks`` (bundle order); ``ids``: the forward ids when the caller
    has them already (a scan encodes the first stage's k in the same pass)."""
    def kmer_ids(c: np.ndarray) -> np.ndarray:
        return kmer_token_ids(c, ks) if ks else np.empty((0, len(c)), dtype=np.int32)

    ids = kmer_ids(codes) if ids is None else ids
    if not reverse_complement:
        return EncodedChunk(codes, ids)
    rc = reverse_complement_codes(codes)
    return EncodedChunk(codes, ids, rc, kmer_ids(rc))


class KmerWindows:
    """A k-mer member's windows of a chunk: (n_windows, tokens) strided views of its per-base ids on the device."""

    def __init__(self, fwd: torch.Tensor, rev: torch.Tensor | None, k: int, window: int, stride: int,
                 n_windows: int) -> None:
        tokens = window - k + 1
        # Window j of the chunk; window n_windows-1-j of its reverse complement holds the reverse complement of j.
        self.fwd = fwd[: (n_windows - 1) * stride + tokens].unfold(0, tokens, stride)
        self.rev = rev[: (n_windows - 1) * stride + tokens].unfold(0, tokens, stride) if rev is not None else None

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """[CLS] k-mers [SEP] of the windows ``index`` (and then of their reverse complements)."""
        batch = self.fwd[index]
        if self.rev is not None:
            batch = torch.cat([batch, self.rev[len(self.rev) - 1 - index]])
        cls = torch.full((batch.shape[0], 1), CLS_ID, dtype=batch.dtype, device=batch.device)
        return torch.cat([cls, batch, torch.full_like(cls, SEP_ID)], dim=1)


class BpeWindows:
    """A BPE member's windows of a chunk: views of the base codes, tokenized batch by batch.

    ``width``: pad every row to this many tokens (a fixed shape for a compiled encoder); None pads a batch to its
    longest row, rounded up to :data:`TOKEN_STEP`, and never beyond ``longest`` (the window's most tokens).
    """

    def __init__(self, tokenizer: BpeTokenizer, codes: np.ndarray, codes_rc: np.ndarray | None, window: int,
                 stride: int, n_windows: int, longest: int, width: int | None,
                 to_device: Callable[[np.ndarray], torch.Tensor]) -> None:
        def views(c: np.ndarray) -> np.ndarray:
            return np.lib.stride_tricks.sliding_window_view(c, window)[::stride][:n_windows]

        self.tokenizer, self.longest, self.width, self.to_device = tokenizer, longest, width, to_device
        self.fwd = views(codes)
        self.rev = views(codes_rc) if codes_rc is not None else None

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """[CLS] tokens [SEP] [PAD]… of the windows ``index`` (and then of their reverse complements)."""
        chosen = index.cpu().numpy()
        codes = self.fwd[chosen]
        if self.rev is not None:
            codes = np.concatenate([codes, self.rev[len(self.rev) - 1 - chosen]])
        rows = self.tokenizer.rows(codes)
        width = self.width or min(-(-rows.shape[1] // TOKEN_STEP) * TOKEN_STEP, self.longest)
        return self.to_device(np.pad(rows, ((0, 0), (0, width - rows.shape[1])), constant_values=PAD_ID))
