"""BERT-compatible encoder of k-mer or BPE token rows with the iEnhancer-ELM classification head.

The encoder follows BERT exactly (post-LayerNorm blocks, exact GELU, learned absolute positions,
token-type embeddings) so that DNABERT / iEnhancer-ELM checkpoints map onto it parameter by parameter;
attention runs through ``F.scaled_dot_product_attention`` (fused kernels) except in CPU inference,
where :func:`blocked_attention` is faster for the short heads of small members.
The head is iEnhancer-ELM's: mean of the contextual embeddings of the tokens (special tokens and padding
excluded) → dropout → Linear(hidden, 25) → tanh → Linear(25, 1) → sigmoid.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ielmscan.model.attention import blocked_attention, reference_attention
from ielmscan.model.tokenizers import BPE, KMER
from ielmscan.model.tokens import CLS_ID, PAD_ID, SEP_ID
from ielmscan.model.tokens import vocab_size as kmer_vocab_size


@dataclass
class MemberConfig:
    """Shape of one ensemble member; stored verbatim in the bundle's ``ensemble.json``."""

    k: int = 0  # k-mer size of a k-mer member (5 special tokens + 4**k k-mers); 0 for a BPE member
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 512  # width of the feed-forward layer inside each block
    max_positions: int = 256  # longest token sequence, [CLS] and [SEP] included
    dropout: float = 0.1  # used for embeddings, attention output, feed-forward and the head
    head_hidden: int = 25  # iEnhancer-ELM's head: Linear(hidden, 25) → tanh → Linear(25, 1)
    layer_norm_eps: float = 1e-12  # BERT's value, kept for checkpoint compatibility
    tokenizer: str = KMER  # "kmer", or "bpe": byte-pair encoding, its vocabulary in a file beside the weights
    vocab_size: int = 0  # token ids, special tokens included: a BPE member's own; a k-mer member's follows from k

    def __post_init__(self) -> None:
        if self.tokenizer == KMER:
            self.vocab_size = kmer_vocab_size(self.k)

    @property
    def label(self) -> str:
        """What a member reads, as listings name it: ``k6``, or ``bpe4096`` (a BPE vocabulary of 4,096 tokens)."""
        return f"k{self.k}" if self.tokenizer == KMER else f"{BPE}{self.vocab_size}"

    def to_dict(self) -> dict[str, Any]:
        """The entry of ``ensemble.json``: a k-mer member's is what it was before BPE members (no tokenizer
        fields), a BPE member's has no k."""
        data = asdict(self)
        for key in (("tokenizer", "vocab_size") if self.tokenizer == KMER else ("k",)):
            del data[key]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemberConfig:
        """Build a config from a bundle's member entry, ignoring keys that are not config fields."""
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})

    def tokens_per_window(self, window: int) -> int:
        """Tokens for a window of ``window`` bases, [CLS] and [SEP] included: its k-mers, or at most one BPE
        token per base."""
        return window - self.k + 1 + 2 if self.tokenizer == KMER else window + 2

    def longest_window(self) -> int:
        """The longest window whose tokens fit the positions (:meth:`tokens_per_window` <= ``max_positions``)."""
        return self.max_positions - 2 + (self.k - 1 if self.tokenizer == KMER else 0)


class Embeddings(nn.Module):
    def __init__(self, cfg: MemberConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=PAD_ID)
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden_size)
        # BERT's segment embedding; ielmscan always uses segment 0, kept so checkpoints map 1:1.
        self.token_type = nn.Embedding(2, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word(ids) + self.position(positions) + self.token_type.weight[0]
        return self.dropout(self.norm(x))


class SelfAttention(nn.Module):
    def __init__(self, cfg: MemberConfig) -> None:
        super().__init__()
        if cfg.hidden_size % cfg.num_heads:
            raise ValueError(f"hidden_size {cfg.hidden_size} is not a multiple of num_heads {cfg.num_heads}")
        self.num_heads = cfg.num_heads
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.output = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        batch, length, hidden = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, heads, T, H/heads)
            return t.view(batch, length, self.num_heads, hidden // self.num_heads).transpose(1, 2)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        if attn_mask is None and not self.training and x.device.type == "cpu":
            y = blocked_attention(q, k, v)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
            )
        y = y.transpose(1, 2).reshape(batch, length, hidden)  # (B, heads, T, h) -> (B, T, H)
        return self.output(y)

    def readable(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The readable reference path: (forward's output, the attention weights (B, heads, T, T)).

        No dropout: for inference and interpretation (``ielmscan motifs``), which need the weights that the
        fast paths never materialise; a test checks that the outputs agree with :meth:`forward`.
        """
        batch, length, hidden = x.shape
        q, k, v = (t.view(batch, length, self.num_heads, hidden // self.num_heads).transpose(1, 2)
                   for t in (self.query(x), self.key(x), self.value(x)))
        y, weights = reference_attention(q, k, v, attn_mask)
        return self.output(y.transpose(1, 2).reshape(batch, length, hidden)), weights


class Block(nn.Module):
    """One post-LayerNorm transformer layer, as in BERT."""

    def __init__(self, cfg: MemberConfig) -> None:
        super().__init__()
        self.attention = SelfAttention(cfg)
        self.attention_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.intermediate = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.output = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.output_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        x = self.attention_norm(x + self.dropout(self.attention(x, attn_mask)))
        hidden = F.gelu(self.intermediate(x))
        return self.output_norm(x + self.dropout(self.output(hidden)))


class Encoder(nn.Module):
    """Token ids (B, T) → contextual embeddings (B, T, hidden)."""

    def __init__(self, cfg: MemberConfig) -> None:
        super().__init__()
        self.embeddings = Embeddings(cfg)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))

    def forward(self, ids: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        # keep: (B, T) bool, False for padding keys; broadcast to (B, 1, 1, T) for SDPA.
        attn_mask = None if keep is None else keep[:, None, None, :]
        x = self.embeddings(ids)
        for layer in self.layers:
            x = layer(x, attn_mask)
        return x

    def last_attention(self, ids: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """The last layer's attention weights (B, heads, T, T), through the readable path (``readable``)."""
        attn_mask = None if keep is None else keep[:, None, None, :]
        x = self.embeddings(ids)
        for layer in self.layers[:-1]:
            x = layer(x, attn_mask)
        return self.layers[-1].attention.readable(x, attn_mask)[1]


class EnhancerLM(nn.Module):
    """One ensemble member: encoder + iEnhancer-ELM mean-pooling head. ``forward`` returns logits."""

    def __init__(self, cfg: MemberConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.head_dropout = nn.Dropout(cfg.dropout)
        self.head_dense = nn.Linear(cfg.hidden_size, cfg.head_hidden)
        self.head_out = nn.Linear(cfg.head_hidden, 1)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # BERT's initialisation: N(0, 0.02) weights, zero biases, unit LayerNorm.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()

    def pooled(self, ids: torch.Tensor) -> torch.Tensor:
        """Mean of the token embeddings (B, hidden); [CLS], [SEP] and [PAD] are left out."""
        special = (ids == PAD_ID) | (ids == CLS_ID) | (ids == SEP_ID)
        padded = bool((ids == PAD_ID).any())
        states = self.encoder(ids, keep=(ids != PAD_ID) if padded else None)
        if not padded and not bool(special[:, 1:-1].any()) and bool(special[:, [0, -1]].all()):
            # The scanner's k-mer rows: [CLS] k-mers [SEP] and nothing else; a plain slice mean is much
            # cheaper than the masked sum.
            return states[:, 1:-1].mean(1)
        return token_mean(ids, states)

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled embeddings (B, hidden) → logits (B,): the iEnhancer-ELM head."""
        hidden = torch.tanh(self.head_dense(self.head_dropout(pooled)))
        return self.head_out(hidden).squeeze(-1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T) → logits (B,)."""
        return self.classify(self.pooled(ids))


def token_mean(ids: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """Mean of ``states`` (B, T, hidden) over the real tokens of ``ids`` (B, T): [CLS], [SEP] and [PAD] left out.

    A row with no real token (a window of N alone, for a BPE member) pools to zeros.
    """
    weights = ((ids != PAD_ID) & (ids != CLS_ID) & (ids != SEP_ID)).to(states.dtype).unsqueeze(-1)  # (B, T, 1)
    return (states * weights).sum(1) / weights.sum(1).clamp_min(1.0)


class MaskedLMHead(nn.Module):
    """BERT's MLM head: dense → GELU → LayerNorm → vocabulary logits, decoder tied to the word embeddings.

    Used only by ``ielmscan pretrain``; it is not stored in bundles (fine-tuning replaces it).
    """

    def __init__(self, member: EnhancerLM) -> None:
        super().__init__()
        cfg = member.cfg
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.word = member.encoder.embeddings.word  # tied weights
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """(N, hidden) contextual embeddings of masked positions → (N, vocab) logits."""
        hidden = self.norm(F.gelu(self.dense(states)))
        return hidden @ self.word.weight.T + self.bias


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def parameter_shapes(cfg: MemberConfig) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor of a member's state dict, without building it.

    A bundle's safetensors header is checked against these before the network is allocated. Written out
    rather than read off a network on the meta device, whose first use costs seconds of start-up; a test
    holds it equal to ``EnhancerLM(cfg).state_dict()``.
    """
    h = cfg.hidden_size
    shapes: dict[str, tuple[int, ...]] = {}

    def linear(name: str, n_in: int, n_out: int) -> None:
        shapes.update({f"{name}.weight": (n_out, n_in), f"{name}.bias": (n_out,)})

    def norm(name: str) -> None:
        shapes.update({f"{name}.weight": (h,), f"{name}.bias": (h,)})

    shapes["encoder.embeddings.word.weight"] = (cfg.vocab_size, h)
    shapes["encoder.embeddings.position.weight"] = (cfg.max_positions, h)
    shapes["encoder.embeddings.token_type.weight"] = (2, h)
    norm("encoder.embeddings.norm")
    for i in range(cfg.num_layers):
        layer = f"encoder.layers.{i}"
        for name in ("query", "key", "value", "output"):
            linear(f"{layer}.attention.{name}", h, h)
        norm(f"{layer}.attention_norm")
        linear(f"{layer}.intermediate", h, cfg.intermediate_size)
        linear(f"{layer}.output", cfg.intermediate_size, h)
        norm(f"{layer}.output_norm")
    linear("head_dense", h, cfg.head_hidden)
    linear("head_out", cfg.head_hidden, 1)
    return shapes


def forward_flops(cfg: MemberConfig, tokens: int) -> float:
    """Multiply-add FLOPs (2 per MAC) of one member's forward pass over a sequence of ``tokens``."""
    h, f, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_layers
    per_layer = 2 * tokens * (4 * h * h + 2 * h * f) + 2 * 2 * tokens * tokens * h
    head = 2 * (h * cfg.head_hidden + cfg.head_hidden)
    return float(layers * per_layer + head)

