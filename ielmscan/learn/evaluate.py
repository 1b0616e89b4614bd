"""`ielmscan evaluate`: metrics of a bundle on labelled sequences, beside two reference baselines.

The baselines (GC content alone; k-mer spectrum k ≤ 5 with a linear model) are not trained models of
the bundle: they are fitted by 5-fold cross-validation on the evaluation data itself, so each
sequence is scored by a baseline that did not see it. A model is only worth using where it clearly
beats them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ielmscan.learn.baselines import out_of_fold_probabilities
from ielmscan.inference.scorer import score_sequences
from ielmscan.model.bundle import Bundle
from ielmscan.learn.dataset import LabelledSequences, check_lengths, duplicate_groups, stratified_group_folds
from ielmscan.learn.metrics import best_threshold, binary_metrics, pr_curve, roc_curve

COLUMNS = ("acc", "sn", "sp", "mcc", "auroc", "auprc", "f1")
BASELINE_FOLDS = 5


def baseline_probabilities(data: LabelledSequences, seed: int = 0) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities of both baselines on ``data`` (duplicate-aware stratified folds)."""
    fold = stratified_group_folds(data.labels, duplicate_groups(data.seqs), BASELINE_FOLDS, seed)
    return out_of_fold_probabilities(data.seqs, data.labels, fold, seed)


def evaluate(bundle: Bundle, data: LabelledSequences, device: str = "cpu", baselines: bool = True) -> dict[str, Any]:
    """Metrics per model (ensemble, members, baselines) at the relevant thresholds, plus curves."""
    check_lengths(data, bundle.window, "evaluation data")
    y = data.labels
    ensemble, members = score_sequences(bundle, data.seqs, device)
    probs: dict[str, np.ndarray] = {"ensemble": ensemble, **members}
    if baselines:
        probs.update(baseline_probabilities(data))
    models: dict[str, Any] = {}
    for name, p in probs.items():
        best = best_threshold(y, p, "f1")
        entry = {
            "at_0.5": binary_metrics(y, p, 0.5),
            "at_best_f1": binary_metrics(y, p, best),
            "best_f1_threshold": best,
        }
        if name == "ensemble":
            entry["at_model_threshold"] = binary_metrics(y, p, bundle.threshold)
        models[name] = entry
    return {
        "n": len(y),
        "positives": int(y.sum()),
        "model": {"path": str(bundle.path), "sha256": bundle.checksum, "threshold": bundle.threshold},
        "models": models,
        "curves": {name: {"roc": roc_curve(y, p), "pr": pr_curve(y, p)} for name, p in probs.items()},
    }


def table(report: dict[str, Any]) -> str:
    """Rows: the ensemble at its own threshold and at 0.5, then every other model at 0.5."""
    head = "model".ljust(16) + "threshold".ljust(11) + "".join(c.upper().ljust(8) for c in COLUMNS)
    rows = [head]

    def row(name: str, m: dict[str, float]) -> str:
        return name.ljust(16) + f"{m['threshold']:.3f}".ljust(11) + "".join(f"{m[c]:.4f}".ljust(8) for c in COLUMNS)

    ens = report["models"]["ensemble"]
    rows.append(row("ensemble", ens["at_model_threshold"]))
    for name, entry in report["models"].items():
        rows.append(row(name, entry["at_0.5"]))
    rows.append(f"best-F1 threshold of the ensemble: {ens['best_f1_threshold']:.3f} "
                f"(F1 {ens['at_best_f1']['f1']:.4f}); baselines: {BASELINE_FOLDS}-fold CV on these sequences")
    return "\n".join(rows)


def write_plots(report: dict[str, Any], folder: Path, prevalence: float) -> list[Path]:
    from ielmscan.learn.plots import plot_pr, plot_roc

    curves = report["curves"]
    models = report["models"]
    roc = {n: (c["roc"][0], c["roc"][1], models[n]["at_0.5"]["auroc"]) for n, c in curves.items()}
    pr = {n: (c["pr"][0], c["pr"][1], models[n]["at_0.5"]["auprc"]) for n, c in curves.items()}
    paths = [folder / "roc.png", folder / "pr.png"]
    plot_roc(roc, paths[0])
    plot_pr(pr, paths[1], prevalence=prevalence)
    return paths


def jsonable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without curve arrays (they are in the plots)."""
    return {key: value for key, value in report.items() if key != "curves"}
