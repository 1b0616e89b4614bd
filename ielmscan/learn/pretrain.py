"""`ielmscan pretrain`: masked-language-model pretraining of the members on genome windows.

DNABERT-style: because neighbouring k-mers overlap, masking one token alone would leave it readable from
its neighbours, so whole spans of k consecutive k-mer tokens are masked; the model predicts the original
k-mers there (15 % of tokens by default; of the masked ones 80 % become [MASK], 10 % a random k-mer and
10 % stay). Windows come from any FASTA (a genome, or the training sequences themselves), on a random
strand each epoch. The MLM head is dropped afterwards: the bundle keeps the encoders for
``ielmscan train --init``.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ielmscan.errors import InputError
from ielmscan.inference.allocator import retain_freed_memory
from ielmscan.inference.devices import resolve_device
from ielmscan.io.genome import Genome
from ielmscan.io.intervals import Interval, iter_chunks
from ielmscan.kernels.encode import encode_bases, reverse_complement_codes, window_invalid_fraction
from ielmscan.kernels.grid import WindowGrid
from ielmscan.learn.fitting import Log, warmup_then_linear_decay
from ielmscan.model.bundle import Bundle
from ielmscan.model.network import EnhancerLM, MaskedLMHead
from ielmscan.model.tokenizers import KMER
from ielmscan.model.tokens import CLS_ID, MASK_ID, NUM_SPECIAL, PAD_ID, SEP_ID, UNK_ID, token_rows

IGNORE = -100  # cross-entropy label of positions that are not predicted


@dataclass
class PretrainConfig:
    epochs: int = 3
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    mask_prob: float = 0.15  # share of k-mer tokens to predict
    stride: int = 100  # between sampled windows
    max_n_frac: float = 0.0  # windows with N are not used for pretraining by default
    max_windows: int = 100_000  # uniform sample when the inputs hold more
    seed: int = 0
    device: str = "cpu"


def sample_windows(fastas: Sequence[Path], window: int, cfg: PretrainConfig) -> np.ndarray:
    """(N, window) uint8 base codes of windows every ``cfg.stride`` bases, at most ``cfg.max_windows``
    (a seeded uniform sample), skipping windows with more than ``cfg.max_n_frac`` invalid bases."""
    rng = np.random.default_rng(cfg.seed)
    grid = WindowGrid(window, cfg.stride)
    kept: list[np.ndarray] = []
    seen = 0
    for path in fastas:
        with Genome.open(path) as genome:
            for chrom, length in genome.chroms:
                for chunk in iter_chunks(genome, Interval(chrom, 0, length), grid, 5_000):
                    codes = encode_bases(chunk.seq)
                    usable = window_invalid_fraction(codes, window, cfg.stride) <= cfg.max_n_frac
                    windows = np.lib.stride_tricks.sliding_window_view(codes, window)[grid.starts(len(codes))[usable]]
                    seen += len(windows)
                    kept.append(windows.copy())
                    if sum(len(w) for w in kept) > 4 * cfg.max_windows:  # bound memory while reading
                        kept = [_subsample(np.concatenate(kept), cfg.max_windows, rng)]
    if not seen:
        raise InputError(f"no usable {window}-bp windows in {', '.join(map(str, fastas))}")
    return _subsample(np.concatenate(kept), cfg.max_windows, rng)


def _subsample(windows: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    if len(windows) <= limit:
        return windows
    return windows[np.sort(rng.choice(len(windows), limit, replace=False))]


def mask_spans(ids: torch.Tensor, k: int, mask_prob: float, vocab_size: int,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """DNABERT-style span masking of (B, T) token rows ([CLS] ... [SEP]); returns (inputs, labels)."""
    batch, length = ids.shape
    inner = length - 2  # k-mer positions 1..T-2
    spans = max(1, round(mask_prob * inner / k))
    starts = torch.randint(1, max(2, length - 1 - k + 1), (batch, spans), generator=generator)
    offsets = torch.arange(k)
    positions = (starts[:, :, None] + offsets).reshape(batch, -1).clamp(max=length - 2)
    masked = torch.zeros_like(ids, dtype=torch.bool)
    masked.scatter_(1, positions, True)
    special = (ids == CLS_ID) | (ids == SEP_ID) | (ids == PAD_ID) | (ids == UNK_ID)
    masked &= ~special
    labels = torch.where(masked, ids, torch.full_like(ids, IGNORE))
    draw = torch.rand(ids.shape, generator=generator)
    inputs = ids.clone()
    inputs[masked & (draw < 0.8)] = MASK_ID
    randomised = masked & (draw >= 0.8) & (draw < 0.9)
    inputs[randomised] = torch.randint(NUM_SPECIAL, vocab_size, (int(randomised.sum()),), generator=generator)
    return inputs, labels


def pretrain_member(model: EnhancerLM, windows: np.ndarray, cfg: PretrainConfig, log: Log | None = None,
                    name: str = "") -> list[dict[str, float]]:
    """Masked-LM training of one member's encoder in place; returns per-epoch loss and accuracy."""
    device = resolve_device(cfg.device)
    retain_freed_memory(device)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    k = model.cfg.k
    fwd = torch.from_numpy(token_rows(windows, k))
    rev = torch.from_numpy(token_rows(reverse_complement_codes(windows), k))
    head = MaskedLMHead(model)
    model.to(device).train()
    head.to(device).train()
    params = list(dict.fromkeys([*model.encoder.parameters(), *head.parameters()]))
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = len(fwd)
    total = max(1, -(-n // cfg.batch_size)) * cfg.epochs
    schedule = warmup_then_linear_decay(optimizer, total, cfg.warmup_fraction)
    history = []
    for epoch in range(1, cfg.epochs + 1):
        started = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        strand = torch.rand(n, generator=generator) < 0.5
        loss_sum = correct = predicted = 0.0
        for begin in range(0, n, cfg.batch_size):
            index = order[begin : begin + cfg.batch_size]
            rows = torch.where(strand[index, None], rev[index], fwd[index])
            inputs, labels = mask_spans(rows, k, cfg.mask_prob, model.cfg.vocab_size, generator)
            inputs, labels = inputs.to(device), labels.to(device)
            states = model.encoder(inputs)
            target = labels != IGNORE
            logits = head(states[target])
            loss = F.cross_entropy(logits, labels[target])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            count = int(target.sum())
            loss_sum += loss.item() * count
            predicted += count
            correct += int((logits.argmax(-1) == labels[target]).sum())
        row = {"epoch": epoch, "mlm_loss": loss_sum / max(predicted, 1), "mlm_accuracy": correct / max(predicted, 1),
               "seconds": time.perf_counter() - started}
        history.append(row)
        if log:
            log(f"{name} pretrain epoch {epoch}/{cfg.epochs}  mlm loss {row['mlm_loss']:.4f}  "
                f"accuracy {row['mlm_accuracy']:.4f}  ({row['seconds']:.1f} s)")
    model.cpu().eval()
    return history


def pretrain(bundle: Bundle, fastas: Sequence[Path], cfg: PretrainConfig, log: Log | None = None) -> dict[str, Any]:
    """Pretrain every member of ``bundle`` in place on windows of ``fastas``; returns a report."""
    bpe = next((m for m in bundle.members if m.config.tokenizer != KMER), None)
    if bpe is not None:  # span masking is k-mer masking; BPE members learn from labelled data alone (train)
        raise InputError(f"pretraining takes k-mer members: member {bpe.name} of {bundle.path or 'the bundle'} reads "
                         "BPE tokens")
    windows = sample_windows(fastas, bundle.window, cfg)
    if log:
        log(f"pretraining on {len(windows):,} windows of {bundle.window} bp")
    report = {"windows": len(windows), "config": asdict(cfg), "inputs": [str(p) for p in fastas], "members": {}}
    for member in bundle.members:
        report["members"][member.name] = pretrain_member(member.model, windows, cfg, log, member.name)
    return report
