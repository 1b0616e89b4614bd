"""Per-nucleotide attention of a bundle on sequences: what the model looks at, base by base.

The last layer's attention weights, read through the network's readable path (``Encoder.last_attention``:
the fast paths never materialise them): the [CLS] token's row, summed over the heads; each k-mer's weight
spread over its k bases, each base getting the mean of the k-mers covering it; each sequence's scores
scaled to unit L2 norm (DNABERT-viz's ``get_real_score``). Members with different k are combined base by
base: their normalised scores are averaged with the bundle's member weights and scaled to unit norm again,
or one member is read alone. Only the sequences as given (the forward strand) are read.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ielmscan.errors import InputError
from ielmscan.model.bundle import Bundle, Member
from ielmscan.model.tokens import encode_sequences, token_rows


def spread_to_bases(kmer_scores: np.ndarray, k: int) -> np.ndarray:
    """(N, L-k+1) k-mer scores → (N, L) base scores: each base gets the mean of the k-mers covering it."""
    n, kmers = kmer_scores.shape
    length = kmers + k - 1
    cumulative = np.zeros((n, kmers + 1))
    np.cumsum(kmer_scores, axis=1, out=cumulative[:, 1:])
    base = np.arange(length)
    first, last = np.maximum(base - k + 1, 0), np.minimum(base, kmers - 1)  # k-mers i with i <= base < i + k
    return (cumulative[:, last + 1] - cumulative[:, first]) / (last - first + 1)


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
    shortest, longest = max(m.config.k for m in analysed_members(bundle, member)), bundle.max_window()
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
                ids = torch.from_numpy(token_rows(codes, m.config.k))
                kmer_scores = np.concatenate([
                    # [CLS] row of the last layer, summed over heads; [CLS] and [SEP] columns dropped
                    model.encoder.last_attention(ids[b : b + batch_size].to(target))[:, :, 0, 1:-1]
                    .sum(1).double().cpu().numpy()
                    for b in range(0, len(rows), batch_size)])
                total += weight * _unit_norm(spread_to_bases(kmer_scores, m.config.k))
            total = _unit_norm(total)  # the mean of unit vectors is shorter than one
            for row, i in enumerate(rows):
                out[i] = total[row]
    return out
