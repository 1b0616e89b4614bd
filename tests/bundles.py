"""Small real model bundles for tests (a random one, one whose score is a known function of GC) and a labelled set.

The GC bundle is a genuine ``EnhancerLM`` whose weights are set by hand so that the transformer
layers pass token embeddings through unchanged and the head sees the window's GC fraction:
p(window) = sigmoid(OUT_W * tanh(DENSE_W * sqrt(2) * (2 * gc - 1)) + OUT_B). Tests can then predict
every window, bin, region and summit of a hand-made genome exactly.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ielmscan.io.fasta import write_fasta
from ielmscan.io.synthetic import synthetic_sequence
from ielmscan.model.bundle import Bundle, new_bundle, save_bundle
from ielmscan.model.tokenizers import BpeTokenizer

DENSE_W = 1.0
OUT_W = 4.0
OUT_B = 0.0


def bpe_tokenizer(vocab: int = 64, seed: int = 0) -> BpeTokenizer:
    """A small BPE tokenizer learnt from 20 kb of synthetic sequence (soft-masked stretches and N gaps in it)."""
    text = synthetic_sequence(20_000, np.random.default_rng(seed)).decode()
    return BpeTokenizer.train([text[i : i + 500] for i in range(0, len(text), 500)], vocab)


def random_bundle(directory: Path, ks: tuple[int, ...] = (3, 4), hidden: int = 32, layers: int = 1, seed: int = 0,
                  bpe: int | None = None) -> Bundle:
    """Random members, one per k (and a BPE member with a ``bpe``-token vocabulary), saved to ``directory``."""
    bundle = new_bundle(list(ks), hidden_size=hidden, num_layers=layers, num_heads=4, max_positions=256, seed=seed,
                        bpe=bpe_tokenizer(bpe) if bpe else None)
    # Random init gives probabilities that barely vary; widen the head so scores differ between windows.
    with torch.no_grad():
        for member in bundle.members:
            member.model.head_dense.weight.mul_(50.0)
            member.model.head_out.weight.mul_(20.0)
    save_bundle(bundle, directory)
    return bundle


def full_bundle(directory: Path) -> Bundle:
    """A random bundle (k = 3, 4) with every optional part: a first stage, a calibration and a layer2 (k = 5)."""
    import tempfile

    from ielmscan.model.bundle import attach_layer2
    from ielmscan.model.calibration import Calibration
    from ielmscan.model.cascade import Cascade

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as parts:
        bundle = attach_layer2(random_bundle(Path(parts) / "l1"), random_bundle(Path(parts) / "l2", ks=(5,), hidden=16))
    bundle.cascade = Cascade([1, 2], rng.normal(size=(2, 16)).astype(np.float32), 0.1, 0.0, {"training_recall": 0.99})
    bundle.calibration = Calibration(rng.uniform(size=200).astype(np.float32), {"genome": "random", "window": 200})
    save_bundle(bundle, directory)
    return bundle


def pickle_trap(marker: Path) -> bytes:
    """Weights pickled as torch.save writes them, which create the file ``marker`` if anything unpickles them."""
    import io

    class Trap:
        def __reduce__(self) -> tuple[object, ...]:
            return (open, (str(marker), "w"))

    buffer = io.BytesIO()
    torch.save({"encoder.embeddings.word.weight": Trap()}, buffer)
    return buffer.getvalue()


def gc_probability(gc: np.ndarray | float) -> np.ndarray:
    """The GC bundle's probability for a window with GC fraction ``gc``."""
    gc = np.asarray(gc, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-(OUT_W * np.tanh(DENSE_W * math.sqrt(2.0) * (2 * gc - 1)) + OUT_B)))


def gc_bundle(directory: Path, threshold: float = 0.5) -> Bundle:
    """A one-member (k=1) bundle that scores a window by its GC fraction (see module docstring)."""
    bundle = new_bundle([1], hidden_size=4, num_layers=1, num_heads=1, intermediate_size=4, max_positions=256)
    model = bundle.members[0].model
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for norm in (model.encoder.embeddings.norm, model.encoder.layers[0].attention_norm,
                     model.encoder.layers[0].output_norm):
            norm.weight.fill_(1.0)
        # Token ids 5..8 are A, C, G, T: G/C → (+1, -1, 0, 0), A/T → (-1, +1, 0, 0). After LayerNorm
        # these are ±(sqrt 2, -sqrt 2, 0, 0); zero attention/FFN outputs leave them unchanged.
        word = model.encoder.embeddings.word.weight
        for token, sign in ((5, -1.0), (6, 1.0), (7, 1.0), (8, -1.0)):
            word[token, 0], word[token, 1] = sign, -sign
        model.head_dense.weight[0, 0] = DENSE_W
        model.head_out.weight[0, 0] = OUT_W
        model.head_out.bias[0] = OUT_B
    bundle.threshold = threshold
    save_bundle(bundle, directory)
    return bundle


def labelled_fastas(folder, n: int = 60, seed: int = 0, length: int = 200):
    """GC-rich positives and AT-rich negatives, ``length`` bp each: easy to learn in a few steps."""
    rng = np.random.default_rng(seed)

    def draw(gc: float) -> str:
        return "".join(rng.choice(list("ACGT"), length, p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]))

    pos = write_fasta(folder / "pos.fa", [(f"p{i}", draw(0.62)) for i in range(n)])
    neg = write_fasta(folder / "neg.fa", [(f"n{i}", draw(0.38)) for i in range(n)])
    return pos, neg
