"""The CPU inference attention path: softmax(q kᵀ / √d) v a cache-sized block of heads at a time.

Kept out of the network's way: :class:`ielmscan.model.network.SelfAttention` calls it for CPU inference
without a padding mask and uses ``F.scaled_dot_product_attention`` everywhere else; a test checks that
the two agree. Why this path is faster for the small members is measured in docs/performance.md.
"""
from __future__ import annotations

import math

import torch

# Attention scores computed per step of :func:`blocked_attention`: a block of heads' (T, T) matrices
# that stays in a core's L2 cache between the two matrix products and the softmax.
ATTENTION_BLOCK_BYTES = 2 << 20
# Row sums of exp(scores) inside this range mean no term overflowed and the largest kept full precision
# (bf16 shares fp32's exponent range: normal from 1.2e-38, finite below 3.4e38); outside it, the block
# is recomputed with the max-shifted softmax.
SHIFT_FREE_ROW_SUMS = (1e-30, 1e30)
LOG2_E = 1.0 / math.log(2.0)


def _shift_free_attention(
    q: torch.Tensor, k_t: torch.Tensor, v: torch.Tensor, scale: float
) -> torch.Tensor | None:
    """exp(scale · q kᵀ) v / rowsum for a block of (n, T, d) heads, or None where exp left its safe range.

    Softmax is shift-invariant, so skipping its max subtraction changes nothing but rounding while the
    exponentials stay in range, and dividing the (T, d) output by the row sums instead of the (T, T)
    weights saves the normalising pass. exp(x) is computed as 2^(x·log2 e), which is faster than exp in
    bf16. The row sums accumulate in fp32, and the division runs in fp32 (a bf16 by bf16 broadcast
    division is far slower). Figures: docs/performance.md.
    """
    weights = torch.bmm(q * (scale * LOG2_E), k_t).exp2_()
    sums = weights.sum(-1, keepdim=True, dtype=torch.float32)
    low, high = torch.aminmax(sums)
    if not (bool(low > SHIFT_FREE_ROW_SUMS[0]) and bool(high < SHIFT_FREE_ROW_SUMS[1])):  # NaN fails too
        return None
    return (torch.bmm(weights, v) / sums).to(v.dtype)


def blocked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q kᵀ / √d) v for (B, heads, T, d) tensors without a mask, a block of heads at a time.

    PyTorch's fused CPU kernel is tiled for long heads; with d = 16 and T ≈ 200 it takes most of the
    default ensemble's forward pass and gains nothing from bf16. Two batched matrix products around an
    in-cache softmax are faster under bf16 (level in fp32) at the same scores. In bf16 the softmax's max
    and normalisation passes then cost more than its exponentials, so bf16 blocks skip them
    (:func:`_shift_free_attention`). In fp32 that change measured slower, so fp32 keeps the softmax.
    Figures: docs/performance.md.
    """
    batch, heads, length, dim = q.shape
    scale = dim**-0.5  # applied to each block's q, where it is contiguous and small
    q3 = q.reshape(batch * heads, length, dim)
    k3 = k.reshape(batch * heads, length, dim).transpose(1, 2)
    v3 = v.reshape(batch * heads, length, dim)
    step = max(1, ATTENTION_BLOCK_BYTES // (length * length * q.element_size()))
    # Its range check is data-dependent, which would break a compiled graph at every block; compiled
    # code keeps the softmax, which the compiler fuses itself.
    shift_free = q.dtype == torch.bfloat16 and not torch.compiler.is_compiling()
    blocks = []
    for i in range(0, batch * heads, step):
        qb, kb, vb = q3[i : i + step], k3[i : i + step], v3[i : i + step]
        out = _shift_free_attention(qb, kb, vb, scale) if shift_free else None
        blocks.append(out if out is not None else torch.bmm(torch.softmax(torch.bmm(qb * scale, kb), -1), vb))
    return torch.cat(blocks).view(batch, heads, length, dim)


def attention_probabilities(q: torch.Tensor, k: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q kᵀ / √d) written out: the (B, heads, T, T) attention weights of (B, heads, T, d) tensors.

    The readable reference path: the fast paths (:func:`blocked_attention`, the fused kernels) never hold
    these weights, and interpretation (``ielmscan motifs``) needs them. ``attn_mask`` is the encoder's
    boolean mask, broadcastable to (B, heads, T, T), True where a key may be attended (False: padding).
    """
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    return torch.softmax(scores, dim=-1)


def reference_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(softmax(q kᵀ / √d) v, the weights): what every fast path computes, with the weights it never keeps."""
    weights = attention_probabilities(q, k, attn_mask)
    return weights @ v, weights
