"""Supervised training of ensemble members, the ensemble threshold, and cross-validation (the engine of `ielmscan train`).

Model selection (the epoch to keep, the decision threshold) uses only a validation split carved from
the training data, stratified and with duplicates and reverse-complement duplicates kept on one side.
Training is deterministic for a given seed on the CPU.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ielmscan.inference.allocator import retain_freed_memory
from ielmscan.inference.devices import resolve_device
from ielmscan.inference.scorer import score_codes, score_sequences
from ielmscan.kernels.encode import reverse_complement, reverse_complement_codes
from ielmscan.errors import InputError
from ielmscan.learn.dataset import (ROLES, LabelledSequences, duplicate_groups, split_validation,
                                    stratified_group_folds)
from ielmscan.learn.metrics import best_threshold, binary_metrics
from ielmscan.model.bundle import Bundle, Member
from ielmscan.model.network import EnhancerLM
from ielmscan.model.tokenizers import BpeTokenizer, MemberTokenizer
from ielmscan.model.tokens import PAD_ID, encode_sequences

Log = Callable[[str], None]


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1  # of all steps, linear warm-up then linear decay to zero
    patience: int = 8  # epochs without validation improvement before stopping
    val_fraction: float = 0.1
    rc_augment: bool = True  # train on a random strand of each sequence
    seed: int = 0
    device: str = "cpu"
    threshold_metric: str = "acc"  # what the ensemble threshold maximises on validation


def warmup_then_linear_decay(optimizer: torch.optim.Optimizer, total_steps: int,
                             warmup_fraction: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate rising linearly over the first ``warmup_fraction`` of the steps, then falling to zero."""
    warmup = max(1, int(warmup_fraction * total_steps))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup))),
    )


def member_probabilities(member: Member, codes: np.ndarray, device: str) -> np.ndarray:
    """One member's strand-averaged probabilities of (N, L) base codes (the scorer's path, fp32)."""
    return score_codes(Bundle(members=[member], window=codes.shape[1]), codes, device)[0]


def strand_rows(codes: np.ndarray, tokenizer: MemberTokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows of (N, L) base codes and of their reverse complements, for training a member: one width for
    both (a BPE member's rows are padded with [PAD] to the longest)."""
    rows = torch.from_numpy(tokenizer.rows(np.concatenate([codes, reverse_complement_codes(codes)])))
    return rows[: len(codes)], rows[len(codes) :]


def train_bpe(seqs: list[str], vocab_size: int) -> BpeTokenizer:
    """A BPE tokenizer learnt from both strands of ``seqs`` (a member reads both, in training and in scoring);
    deterministic for the same sequences in the same order."""
    return BpeTokenizer.train((strand for seq in seqs for strand in (seq, reverse_complement(seq.encode()).decode())),
                              vocab_size)


def training_split(data: LabelledSequences, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: stratified, ``cfg.val_fraction`` held out, duplicates and reverse-complement
    duplicates on one side."""
    return split_validation(data.labels, duplicate_groups(data.seqs), cfg.val_fraction, cfg.seed)


def train_member(
    member: Member,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    cfg: TrainConfig,
    log: Log | None = None,
) -> tuple[EnhancerLM, list[dict[str, float]]]:
    """Train one member; keep the weights of the epoch with the best validation AUROC.

    train / val: ((N, L) base codes, labels).
    """
    model, name = member.model, member.name
    device = resolve_device(cfg.device)
    retain_freed_memory(device)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    model.to(device)
    fwd, rev = strand_rows(train[0], member.tokenizer)
    y = train[1]
    labels = torch.from_numpy(y.astype(np.float32))
    n = len(fwd)
    steps_per_epoch = max(1, -(-n // cfg.batch_size))
    total = steps_per_epoch * cfg.epochs
    decay, no_decay = [], []
    for pname, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "norm" in pname else decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr
    )
    schedule = warmup_then_linear_decay(optimizer, total, cfg.warmup_fraction)
    best_auc, best_state, stale = -1.0, copy.deepcopy(model.state_dict()), 0
    history: list[dict[str, float]] = []
    for epoch in range(1, cfg.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=generator)
        strand = torch.rand(n, generator=generator) < 0.5 if cfg.rc_augment else torch.zeros(n, dtype=torch.bool)
        running = 0.0
        for begin in range(0, n, cfg.batch_size):
            index = order[begin : begin + cfg.batch_size]
            batch = torch.where(strand[index, None], rev[index], fwd[index])
            batch = batch[:, : int((batch != PAD_ID).sum(1).max())].to(device)  # [PAD] columns of longer rows only
            loss = F.binary_cross_entropy_with_logits(model(batch), labels[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            running += loss.item() * len(index)
        prob = member_probabilities(member, val[0], cfg.device)
        metrics = binary_metrics(val[1], prob)
        row = {"epoch": epoch, "loss": running / n, "val_acc": metrics["acc"], "val_auroc": metrics["auroc"],
               "val_mcc": metrics["mcc"], "seconds": time.perf_counter() - started}
        history.append(row)
        if log:
            log(f"{name} epoch {epoch:>3}/{cfg.epochs}  loss {row['loss']:.4f}  val acc {row['val_acc']:.4f}  "
                f"auroc {row['val_auroc']:.4f}  mcc {row['val_mcc']:.4f}  ({row['seconds']:.1f} s)")
        if metrics["auroc"] > best_auc + 1e-4:
            best_auc, best_state, stale = metrics["auroc"], copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    model.load_state_dict(best_state)
    return model.eval(), history


def fit(
    bundle: Bundle,
    data: LabelledSequences,
    cfg: TrainConfig,
    log: Log | None = None,
    train_index: np.ndarray | None = None,
    val_index: np.ndarray | None = None,
) -> dict[str, Any]:
    """Train every member of ``bundle`` in place, then set the ensemble threshold on validation.

    Without explicit indices, a stratified, duplicate-aware validation split of ``cfg.val_fraction`` is
    carved from ``data``. Returns a report (per-member history, validation metrics, split sizes).
    """
    if train_index is None or val_index is None:
        train_index, val_index = training_split(data, cfg)
    codes = encode_sequences(data.seqs)
    y_train, y_val = data.labels[train_index], data.labels[val_index]
    train, val = (codes[train_index], y_train), (codes[val_index], y_val)
    report: dict[str, Any] = {"n_train": len(train_index), "n_val": len(val_index), "members": {}}
    val_probs = []
    for member in bundle.members:
        model, history = train_member(member, train, val, cfg, log)
        member.model = model.cpu().eval()
        prob = member_probabilities(member, val[0], cfg.device)  # the kept (best) epoch's weights
        val_probs.append(prob)
        report["members"][member.name] = {"history": history, "val": binary_metrics(y_val, prob)}
    weights = np.array(bundle.normalised_weights())
    ensemble = np.tensordot(weights, np.stack(val_probs), axes=1)
    bundle.threshold = float(best_threshold(y_val, ensemble, cfg.threshold_metric))
    report["ensemble_val"] = binary_metrics(y_val, ensemble, bundle.threshold)
    report["threshold"] = bundle.threshold
    report["config"] = asdict(cfg)
    return report


def cross_validate(
    make_bundle: Callable[[int, list[str]], Bundle],
    data: LabelledSequences,
    cfg: TrainConfig,
    n_folds: int,
    log: Log | None = None,
) -> dict[str, Any]:
    """N-fold CV: per fold, train a fresh bundle on the other folds (with an inner validation split for
    early stopping and the threshold), then score the held-out fold. Folds keep duplicate groups whole, and
    depend on the records and the seed alone, so that runs with other members score the same folds.

    ``make_bundle(fold, sequences)`` makes the fold's bundle; ``sequences`` are those its members train on (what a
    BPE member's tokenizer learns from).
    """
    groups = duplicate_groups(data.seqs)
    fold = stratified_group_folds(data.labels, groups, n_folds, cfg.seed)
    # Every split is made (and refused, when a part would lack a class) before any fold is trained.
    for f in range(n_folds):
        missing = [ROLES[label] for label in (1, 0) if not (data.labels[fold == f] == label).any()]
        if missing:
            raise InputError(f"fold {f + 1} of {n_folds} holds no {' and no '.join(missing)}s (copies of a sequence "
                             "stay in one fold): give more distinct records of each class, or fewer folds")
    splits = []
    for f in range(n_folds):
        test_index, rest = np.flatnonzero(fold == f), np.flatnonzero(fold != f)
        inner_train, inner_val = split_validation(data.labels[rest], groups[rest], cfg.val_fraction, cfg.seed + f)
        splits.append((test_index, rest[inner_train], rest[inner_val]))
    results: dict[str, list[dict[str, float]]] = {}
    oof: dict[str, np.ndarray] = {}  # out-of-fold probabilities per model, for later analysis
    for f, (test_index, train_index, val_index) in enumerate(splits):
        bundle = make_bundle(f, [data.seqs[i] for i in train_index])
        if log:
            log(f"fold {f + 1}/{n_folds}: train {len(train_index)}, validation {len(val_index)}, test {len(test_index)}")
        fit(bundle, data, cfg, log, train_index, val_index)
        test_seqs = [data.seqs[i] for i in test_index]
        y_test = data.labels[test_index]
        ensemble, per_member = score_sequences(bundle, test_seqs, cfg.device)
        for name, prob in {"ensemble": ensemble, **per_member}.items():
            oof.setdefault(name, np.full(len(data), np.nan))[test_index] = prob
        oof.setdefault("ensemble_threshold", np.full(len(data), np.nan))[test_index] = bundle.threshold
        results.setdefault("ensemble", []).append(binary_metrics(y_test, ensemble, bundle.threshold))
        for name, prob in per_member.items():
            results.setdefault(name, []).append(binary_metrics(y_test, prob, 0.5))
        if log:
            m = results["ensemble"][-1]
            log(f"fold {f + 1}/{n_folds} test: ensemble acc {m['acc']:.4f}  mcc {m['mcc']:.4f}  auroc {m['auroc']:.4f}")
    return {"folds": n_folds, "fold_of_sample": fold.tolist(), "results": results,
            "out_of_fold": {name: values.tolist() for name, values in oof.items()}}
