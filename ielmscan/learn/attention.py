"""Per-nucleotide attention of a bundle on sequences: what the model looks at, base by base.

The last layer's attention weights, read through the network's readable path (``Encoder.last_attention``:
the fast paths never materialise them): the [CLS] token's row, summed over the heads; each token's weight
spread over the bases it covers (a k-mer's k bases, a BPE token's run), each base getting the mean of the
tokens covering it (one BPE token covers each base, an N none: 0); each sequence's scores scaled to unit L2
norm (DNABERT-viz's ``get_real_score``). Members with different tokens are combined base by base: their
normalised scores are averaged with the bundle's member weights and scaled to unit norm again, or one member
is read alone. Only the sequences as given (the forward strand) are read.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ielmscan.errors import InputError
from ielmscan.model.bundle import Bundle, Member
from ielmscan.model.tokens import PAD_ID, encode_sequences


def spread_to_bases(token_scores: np.ndarray, spans: Sequence[np.ndarray], length: int) -> np.ndarray:
    """(N, T) token scores → (N, length) base scores: each base gets the mean of the tokens covering it, 0 if none.

    ``spans[i]``: (n_i, 2) the bases [start, end) that token j of row i covers (its score is column j, j < n_i).
    """
    rows = np.concatenate([np.full(len(span), i) for i, span in enumerate(spans)]).astype(np.int64)
    columns = np.concatenate([np.arange(len(span)) for span in spans]).astype(np.int64)
    edges = np.concatenate(list(spans)).astype(np.int64).reshape(-1, 2)
    values = token_scores[rows, columns]
    sums, counts = np.zeros((len(spans), length + 1)), np.zeros((len(spans), length + 1))
    for array, value in ((sums, values), (counts, 1.0)):  # +value where a token starts, -value where it ends
        np.add.at(array, (rows, edges[:, 0]), value)
        np.add.at(array, (rows, edges[:, 1]), -value)
    sums, counts = np.cumsum(sums, axis=1)[:, :length], np.cumsum(counts, axis=1)[:, :length]
    return np.where(counts > 0, sums / np.maximum(counts, 1.0), 0.0)


def _unit_norm(scores: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(scores, axis=1, keepdims=True)
    return scores / np.where(norms > 0, norms, 1.0)


def analysed_members(bundle: Bundle, member: str | None = None) -> list[Member]:
    """The members whose attention is read: all, or the one named ``member``."""
    if member is None:
        return list(bundle.members)
    members = [m for m in bundle.members if m.name == member]
    if not members:
        raise InputError(f"the model has no member {member!r}: its members are "
                         f"{', '.join(m.name for m in bundle.members)}")
    return members


def check_lengths(bundle: Bundle, seqs: Sequence[str], member: str | None = None,
                  names: Sequence[str] | None = None, source: str = "") -> None:
    """Every sequence must fit the analysed members: at least the largest k, at most the longest window."""
    shortest = max(1, *(m.config.k for m in analysed_members(bundle, member)))  # a BPE member's k is 0
    longest = bundle.max_window()
    for i, seq in enumerate(seqs):
        if not shortest <= len(seq) <= longest:
            name = names[i] if names is not None else str(i + 1)
            raise InputError(f"{source}{': ' if source else ''}sequence {name} is {len(seq)} bp: the model takes "
                             f"{shortest} to {longest} bp")


def attention_scores(bundle: Bundle, seqs: Sequence[str], member: str | None = None, device: str = "cpu",
                     batch_size: int | None = None) -> list[np.ndarray]:
    """Per-nucleotide attention of each sequence (float64, one value per base; see the module docstring).

    ``member``: analyse that member alone (its name, e.g. ``k6``) instead of the weighted mean of all.
    Sequences of any length the members take are accepted; equal lengths are batched together.
    """
    import torch

    from ielmscan.inference.devices import resolve_device
    from ielmscan.inference.scorer import default_batch_size

    members = analysed_members(bundle, member)
    check_lengths(bundle, seqs, member)
    weights = np.asarray([m.weight for m in members], dtype=np.float64)
    weights /= weights.sum()
    target = resolve_device(device)
    batch_size = batch_size or default_batch_size(target)
    out: list[np.ndarray] = [np.empty(0)] * len(seqs)
    by_length: dict[int, list[int]] = {}
    for i, seq in enumerate(seqs):
        by_length.setdefault(len(seq), []).append(i)
    with torch.inference_mode():
        for length, rows in by_length.items():
            codes = encode_sequences([seqs[i] for i in rows])
            total = np.zeros((len(rows), length))
            for weight, m in zip(weights, members):
                model = m.model.to(target).eval()
                rows_of_ids, spans = m.tokenizer.rows_and_spans(codes)
                ids = torch.from_numpy(rows_of_ids)
                keep = ids != PAD_ID if bool((ids == PAD_ID).any()) else None  # a BPE member's padded rows
                token_scores = np.concatenate([
                    # [CLS] row of the last layer, summed over heads; the [CLS] column dropped
                    model.encoder.last_attention(ids[b : b + batch_size].to(target),
                                                 None if keep is None else keep[b : b + batch_size].to(target))
                    [:, :, 0, 1:].sum(1).double().cpu().numpy()
                    for b in range(0, len(rows), batch_size)])
                total += weight * _unit_norm(spread_to_bases(token_scores, spans, length))
            total = _unit_norm(total)  # the mean of unit vectors is shorter than one
            for row, i in enumerate(rows):
                out[i] = total[row]
    return out
