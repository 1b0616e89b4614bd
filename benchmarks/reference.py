"""The reference the end-to-end section compares against: the pipeline an iEnhancer-ELM user would write.

pyfaidx windows → k-mer strings → vocabulary dict → ``transformers.BertModel`` holding the bundle's
weights + the same head. Run as a module, it is the reference child of the fresh-process timings::

    python -m benchmarks.reference FASTA MODEL DEVICE WINDOW STRIDE MAX_N_FRAC BATCH

which prints ``{"seconds": ..., "windows": ...}`` (the scoring function's time, model building included).
"""
from __future__ import annotations

import copy
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ielmscan.kernels.grid import WindowGrid
from ielmscan.model.bundle import Bundle, load_bundle
from ielmscan.model.convert import bert_config, to_bert_state_dict
from ielmscan.model.tokens import CLS_ID, SEP_ID, UNK_ID, seq_to_kmers, vocabulary

from benchmarks.harness import REPO_ROOT

_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def reference_members(bundle: Bundle, device: torch.device) -> list[tuple]:
    """The bundle's members as an iEnhancer-ELM user holds them: (k, BertModel, head layers, vocab dict)."""
    import transformers

    members = []
    for member in bundle.members:
        kwargs = bert_config(member.config)
        kwargs.pop("attn_implementation")  # let transformers pick its default (SDPA where it has it)
        bert = transformers.BertModel(transformers.BertConfig(**kwargs), add_pooling_layer=False)
        bert.load_state_dict(to_bert_state_dict(member.model), strict=True)
        head_dense = copy.deepcopy(member.model.head_dense).to(device).eval()
        head_out = copy.deepcopy(member.model.head_out).to(device).eval()
        vocab = {token: i for i, token in enumerate(vocabulary(member.config.k))}
        members.append((member.config.k, bert.to(device).eval(), head_dense, head_out, vocab))
    return members


def reference_scores(
    fasta: Path, bundle: Bundle, window: int, stride: int, max_n_frac: float, batch_size: int,
    device: torch.device, limit: int | None = None,
) -> dict[str, np.ndarray]:
    """What an iEnhancer-ELM user would write: pyfaidx windows → k-mer strings → dict → BertModel + head.

    Scores every window (NaN where skipped for N, as ielmscan does), both strands averaged, members
    averaged with the bundle's weights; fp32. ``limit`` caps the windows per chromosome.
    """
    import pyfaidx

    members = reference_members(bundle, device)
    weights = bundle.normalised_weights()
    limit_n = np.float32(max_n_frac)
    results: dict[str, np.ndarray] = {}
    fa = pyfaidx.Fasta(str(fasta))
    try:
        for record in fa:  # pyfaidx records, in FASTA order
            total = WindowGrid(window, stride).count(len(record))
            total = total if limit is None else min(total, limit)
            scores = np.full(total, np.nan, dtype=np.float32)
            batch_seqs: list[str] = []
            batch_index: list[int] = []
            for j in range(total):
                seq = record[j * stride : j * stride + window].seq.upper()
                invalid = window - sum(seq.count(b) for b in "ACGT")
                if np.float32(invalid) / np.float32(window) > limit_n:
                    continue
                batch_seqs.append(seq)
                batch_index.append(j)
                if len(batch_seqs) == batch_size:
                    scores[batch_index] = _reference_batch(members, weights, batch_seqs, device)
                    batch_seqs, batch_index = [], []
            if batch_seqs:
                scores[batch_index] = _reference_batch(members, weights, batch_seqs, device)
            results[record.name] = scores
    finally:
        fa.close()
    return results


def scored_windows(scores: dict[str, np.ndarray]) -> int:
    """Windows with a score (not NaN) in per-chromosome score arrays."""
    return sum(int(np.count_nonzero(~np.isnan(chrom))) for chrom in scores.values())


@torch.inference_mode()
def _reference_batch(members: list[tuple], weights: list[float], seqs: list[str], device: torch.device) -> np.ndarray:
    """Ensemble probabilities of a batch of window strings, both strands, through BertModel + head."""
    both = seqs + [s.translate(_COMPLEMENT)[::-1] for s in seqs]
    mean = torch.zeros(len(seqs), device=device)
    for (k, bert, head_dense, head_out, vocab), weight in zip(members, weights):
        ids = [[CLS_ID] + [vocab.get(kmer, UNK_ID) for kmer in seq_to_kmers(s, k)] + [SEP_ID] for s in both]
        input_ids = torch.tensor(ids, device=device)
        states = bert(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).last_hidden_state
        pooled = states[:, 1:-1].mean(1)  # k-mer tokens only
        probs = torch.sigmoid(head_out(torch.tanh(head_dense(pooled))).squeeze(-1))
        mean += weight * 0.5 * (probs[: len(seqs)] + probs[len(seqs) :])
    return mean.float().cpu().numpy()


# -- the reference child -----------------------------------------------------------------------------

# `python -m benchmarks.reference` from any working directory: the child finds this package through the
# repository root put first on its sys.path, and resolves relative paths where the harness runs.
_CHILD_BOOTSTRAP = ("import sys; sys.path.insert(0, {root!r}); from benchmarks.reference import main; "
                    "sys.exit(main())")


def child_command(fasta: Path, model: Path, device: torch.device, window: int, stride: int, max_n_frac: float,
                  batch_size: int) -> list[str]:
    """The command line of a new process that scores ``fasta`` with the reference pipeline (see :func:`main`)."""
    return [sys.executable, "-c", _CHILD_BOOTSTRAP.format(root=str(REPO_ROOT)), str(fasta), str(model),
            str(device), str(window), str(stride), str(max_n_frac), str(batch_size)]


def main(argv: Sequence[str] | None = None) -> int:
    """Score a FASTA with the reference pipeline; print the scoring time and the windows scored as JSON."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 7:
        print(__doc__, file=sys.stderr)
        return 2
    fasta, model, device = Path(args[0]), args[1], torch.device(args[2])
    window, stride, max_n, batch = int(args[3]), int(args[4]), float(args[5]), int(args[6])
    bundle = load_bundle(model)
    start = time.perf_counter()
    scores = reference_scores(fasta, bundle, window, stride, max_n, batch, device)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "windows": scored_windows(scores)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
