"""`ielmscan evaluate`: metrics of a bundle on labelled sequences, beside two reference baselines.

The baselines (GC content alone; k-mer spectrum k ≤ 5 with a linear model) are not trained models of
the bundle: they are fitted by 5-fold cross-validation on the evaluation data itself, so each
sequence is scored by a baseline that did not see it. A model is only worth using where it clearly
beats them. Every model also gets a GC-controlled AUROC (positives compared only with negatives of the
same GC stratum), which a model that has merely learnt GC content cannot push above 0.5.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ielmscan.io.atomic_outputs import OutputFolder
from ielmscan.io.writers import write_manifest
from ielmscan.learn.baselines import KMER_CV_FOLDS, gc_content, out_of_fold_probabilities
from ielmscan.inference.scorer import score_sequences
from ielmscan.model.bundle import Bundle
from ielmscan.learn.dataset import (LabelledSequences, check_lengths, duplicate_groups, records_needed,
                                    stratified_group_folds, usable_records)
from ielmscan.learn.metrics import best_threshold, binary_metrics, gc_controlled_auroc, pr_curve, roc_curve

COLUMNS = ("acc", "sn", "sp", "mcc", "auroc", "gc_controlled_auroc", "auprc", "f1")
LABELS = {"gc_controlled_auroc": "GC-AUROC"}  # table headers that are not the key in upper case
BASELINE_FOLDS = 5
GC_STRATUM_WIDTH = 0.01  # GC fraction per stratum of the GC-controlled AUROC


def baseline_probabilities(data: LabelledSequences, seed: int = 0) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities of both baselines on ``data`` (duplicate-aware stratified folds)."""
    fold = stratified_group_folds(data.labels, duplicate_groups(data.seqs), BASELINE_FOLDS, seed)
    return out_of_fold_probabilities(data.seqs, data.labels, fold, seed)


def evaluate(bundle: Bundle, data: LabelledSequences, device: str = "cpu", baselines: bool = True) -> dict[str, Any]:
    """Metrics per model (ensemble, members, baselines) at the relevant thresholds, plus curves.

    Records a scan would skip (mostly N) are left out; too few usable records of a class are refused
    (:func:`~ielmscan.learn.dataset.usable_records`). Each set of metrics also holds ``gc_controlled_auroc`` (:func:`~ielmscan.learn.metrics.gc_controlled_auroc`,
    GC strata of ``GC_STRATUM_WIDTH``); it does not depend on the threshold.
    """
    check_lengths(data, bundle.window, f"{data.sources(1)}, {data.sources(0)}")
    if baselines:
        data = usable_records(data, records_needed(BASELINE_FOLDS, KMER_CV_FOLDS),
                              f"evaluation beside the GC and k-mer baselines ({BASELINE_FOLDS}-fold cross-validation "
                              "on these sequences)", "give more records, or --no-baselines")
    else:
        data = usable_records(data, 1, "evaluation (AUROC compares positives with negatives)",
                              "give records of both classes")
    y = data.labels
    gc = gc_content(data.seqs)
    ensemble, members = score_sequences(bundle, data.seqs, device)
    probs: dict[str, np.ndarray] = {"ensemble": ensemble, **members}
    if baselines:
        probs.update(baseline_probabilities(data))
    models: dict[str, Any] = {}
    for name, p in probs.items():
        gc_auroc = gc_controlled_auroc(y, p, gc, GC_STRATUM_WIDTH)

        def at(threshold: float) -> dict[str, float]:
            return {**binary_metrics(y, p, threshold), "gc_controlled_auroc": gc_auroc}

        best = best_threshold(y, p, "f1")
        entry = {"at_0.5": at(0.5), "at_best_f1": at(best), "best_f1_threshold": best}
        if name == "ensemble":
            entry["at_model_threshold"] = at(bundle.threshold)
        models[name] = entry
    return {
        "n": len(y),
        "positives": int(y.sum()),
        "gc_stratum_width": GC_STRATUM_WIDTH,
        "model": {"path": str(bundle.path), "sha256": bundle.checksum, "threshold": bundle.threshold},
        "models": models,
        "curves": {name: {"roc": roc_curve(y, p), "pr": pr_curve(y, p)} for name, p in probs.items()},
    }


def table(report: dict[str, Any]) -> str:
    """Rows: the ensemble at its own threshold and at 0.5, then every other model at 0.5."""
    labels = [LABELS.get(c, c.upper()) for c in COLUMNS]
    widths = [max(8, len(label) + 1) for label in labels]
    head = "model".ljust(16) + "threshold".ljust(11) + "".join(label.ljust(w) for label, w in zip(labels, widths))
    rows = [head]

    def row(name: str, m: dict[str, float]) -> str:
        values = "".join(f"{m[c]:.4f}".ljust(w) for c, w in zip(COLUMNS, widths))
        return name.ljust(16) + f"{m['threshold']:.3f}".ljust(11) + values

    ens = report["models"]["ensemble"]
    rows.append(row("ensemble", ens["at_model_threshold"]))
    for name, entry in report["models"].items():
        rows.append(row(name, entry["at_0.5"]))
    rows.append(f"best-F1 threshold of the ensemble: {ens['best_f1_threshold']:.3f} "
                f"(F1 {ens['at_best_f1']['f1']:.4f}); baselines: {BASELINE_FOLDS}-fold CV on these sequences")
    rows.append(f"GC-AUROC: AUROC within GC strata of {GC_STRATUM_WIDTH:g} (positives against negatives of the "
                "same GC); 0.5 for a model that only knows GC")
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


METRICS_NAME = "metrics.json"


def report_folder(output: str | Path, marker: str = METRICS_NAME, inputs: Iterable[str | Path | None] = (),
                  force: bool = False) -> OutputFolder:
    """Where an evaluation report goes, checked: never over one of ``inputs``; into an existing non-empty
    folder, or over an earlier report (``marker``), only with ``force``, and then only files of the report's
    names are replaced. Make it early to fail before the evaluation; its files move in together at the end."""
    return OutputFolder(output, "evaluation report", marker, inputs=inputs, force=force, shared=True)


def write_report(report: dict[str, Any], output: Path, prevalence: float, inputs: Iterable[str | Path | None] = (),
                 force: bool = False) -> list[Path]:
    """Write ``metrics.json``, ``roc.png`` and ``pr.png`` into ``output`` at once (:func:`report_folder`); their
    final paths."""
    with report_folder(output, METRICS_NAME, inputs, force) as folder:
        write_manifest(folder.staging / METRICS_NAME, jsonable(report))  # strict JSON: NaN as null
        names = [METRICS_NAME, *(p.name for p in write_plots(report, folder.staging, prevalence))]
    return [Path(output) / name for name in names]
