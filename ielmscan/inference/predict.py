"""`ielmscan predict`: one row per FASTA record with the ensemble's and each member's probability.

A record of exactly the window length is one window. A longer record is scored at every window
(``stride`` apart, plus one flush with its end) and reported as the best window's probability, the mean
over windows and the best window's offset. A shorter record cannot be scored and gets a note.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from ielmscan.model.bundle import Bundle
from ielmscan.io.fasta import read_fasta
from ielmscan.inference.scorer import EnsembleScorer, ScorerSettings
from ielmscan.inference.windows import encode_chunk
from ielmscan.kernels.encode import encode_bases, window_invalid_fraction
from ielmscan.kernels.grid import WindowGrid


@dataclass
class Prediction:
    name: str
    length: int
    windows: int  # windows scored
    probability: float  # best window (NaN when nothing could be scored)
    mean_probability: float
    best_offset: int  # 0-based start of the best window; -1 when none
    members: list[float]  # each member's probability of the best window
    note: str = ""
    strong: float = float("nan")  # layer-2 probability of "strong" for the best window, if the bundle has one


def predict_records(
    bundle: Bundle, records: Iterable[tuple[str, str]], settings: ScorerSettings, stride: int = 50,
    max_n_frac: float = 0.1,
) -> Iterator[Prediction]:
    """One :class:`Prediction` per record, in order; the scorers are closed when the iteration ends."""
    with ExitStack() as scorers:
        scorer = scorers.enter_context(EnsembleScorer(bundle, settings))
        stage2 = scorers.enter_context(EnsembleScorer(bundle.layer2, settings)) if bundle.layer2 is not None else None
        yield from _predictions(bundle, records, settings, WindowGrid(bundle.window, stride), max_n_frac, scorer, stage2)


def _predictions(bundle: Bundle, records: Iterable[tuple[str, str]], settings: ScorerSettings, grid: WindowGrid,
                 max_n_frac: float, scorer: EnsembleScorer, stage2: EnsembleScorer | None) -> Iterator[Prediction]:
    window = grid.window
    weights = np.asarray(bundle.normalised_weights(), dtype=np.float32)
    nan_members = [float("nan")] * len(bundle.members)
    for name, seq in records:
        starts = grid.covering_starts(len(seq))
        if not len(starts):
            yield Prediction(name, len(seq), 0, float("nan"), float("nan"), -1, nan_members,
                             f"shorter than the {window}-bp window")
            continue
        codes = encode_bases(seq.encode())
        # The windows laid end to end (a grid whose stride is the window), so that a flush-end window
        # needs no special grid.
        stacked = np.stack([codes[s : s + window] for s in starts])
        keep = np.flatnonzero(window_invalid_fraction(stacked.reshape(-1), window, window) <= max_n_frac)
        if not len(keep):
            yield Prediction(name, len(seq), 0, float("nan"), float("nan"), -1, nan_members,
                             f"every window has more than {max_n_frac:.0%} N or ambiguous bases")
            continue
        flat = stacked[keep].reshape(-1)
        members = scorer.score_members(encode_chunk(flat, bundle.ks, settings.reverse_complement), window, window,
                                       np.arange(len(keep)))
        ensemble = weights @ members
        best = int(np.argmax(ensemble))
        note = f"{len(starts) - len(keep)} window(s) skipped for N" if len(keep) < len(starts) else ""
        strong = float("nan")
        if stage2 is not None:
            # Layer 2 classifies the best window (the one layer 1 calls most enhancer-like).
            best_window = slice(best * window, (best + 1) * window)
            best_chunk = encode_chunk(flat[best_window], stage2.bundle.ks, settings.reverse_complement)
            strong = float(stage2.score_chunk(best_chunk, window, window, np.arange(1))[0])
        yield Prediction(name, len(seq), len(keep), float(ensemble[best]), float(ensemble.mean()),
                         int(starts[keep[best]]), [float(p) for p in members[:, best]], note, strong)


def label(prediction: Prediction, bundle: Bundle) -> str:
    """enhancer / non-enhancer; with a layer-2 bundle, strong / weak / non-enhancer."""
    if np.isnan(prediction.probability):
        return "NA"
    if prediction.probability < bundle.threshold:
        return "non-enhancer"
    if bundle.layer2 is None:
        return "enhancer"
    return "strong" if prediction.strong >= bundle.layer2.threshold else "weak"


def write_tsv(out: TextIO, bundle: Bundle, predictions: Iterator[Prediction]) -> int:
    """Header + one tab-separated row per record; returns the number of rows."""
    names = [m.name for m in bundle.members]
    strong = ["p_strong"] if bundle.layer2 is not None else []
    out.write("\t".join(["id", "length", "windows", "probability", "mean_probability", "best_offset",
                         *[f"p_{n}" for n in names], *strong, "label", "note"]) + "\n")
    rows = 0
    for p in predictions:
        fmt = lambda x: "NA" if np.isnan(x) else f"{x:.4f}"  # noqa: E731
        out.write("\t".join([p.name, str(p.length), str(p.windows), fmt(p.probability), fmt(p.mean_probability),
                             str(p.best_offset), *[fmt(m) for m in p.members],
                             *([fmt(p.strong)] if strong else []), label(p, bundle), p.note or "."]) + "\n")
        rows += 1
    return rows


def predict_fasta(bundle: Bundle, fasta: Path, out: TextIO, settings: ScorerSettings, stride: int = 50,
                  max_n_frac: float = 0.1) -> int:
    return write_tsv(out, bundle, predict_records(bundle, read_fasta(fasta), settings, stride, max_n_frac))
