"""`ielmscan train`: read labelled FASTA, cross-validate (optional), train a bundle, record provenance."""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ielmscan import __version__
from ielmscan.learn.baselines import out_of_fold_probabilities
from ielmscan.model.defaults import DEFAULT_HEADS, DEFAULT_HIDDEN, DEFAULT_LAYERS, DEFAULT_WINDOW
from ielmscan.model.bundle import Bundle, load_bundle, new_bundle, save_bundle
from ielmscan.learn.cascade import fit_cascade
from ielmscan.learn.dataset import LabelledSequences, check_lengths, load_labelled
from ielmscan.errors import InputError
from ielmscan.inference.scorer import score_sequences
from ielmscan.learn.fitting import Log, TrainConfig, cross_validate, fit
from ielmscan.learn.metrics import binary_metrics, summarize
from ielmscan.io.writers import write_manifest

TABLE_METRICS = ("acc", "sn", "sp", "mcc", "auroc")


@dataclass
class TrainingRequest:
    pos: Path
    neg: Path
    output: Path | None
    ks: list[int]
    init: Path | None = None
    layers: int = DEFAULT_LAYERS
    hidden: int = DEFAULT_HIDDEN
    heads: int = DEFAULT_HEADS
    window: int = DEFAULT_WINDOW  # ignored with ``init``: the bundle's window is used
    epochs: int = 30
    lr: float = 5e-4
    batch_size: int = 64
    patience: int = 8
    val_fraction: float = 0.1
    rc_augment: bool = True
    cv: int = 0
    seed: int = 0
    device: str = "cpu"
    cv_report: Path | None = None  # JSON with per-fold metrics and out-of-fold probabilities
    command: list[str] = field(default_factory=list)

    def config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, patience=self.patience,
            val_fraction=self.val_fraction, rc_augment=self.rc_augment, seed=self.seed, device=self.device,
        )


@dataclass
class TrainingResult:
    bundle: Bundle | None
    threshold: float
    val_acc: float
    cv: dict[str, Any] | None
    cv_table: str


def run_training(req: TrainingRequest, log: Log | None = None) -> TrainingResult:
    lines: list[str] = []

    def record(line: str) -> None:
        lines.append(line)
        if log:
            log(line)

    torch.manual_seed(req.seed)
    data = load_labelled(req.pos, req.neg)
    if data.labels.min() == data.labels.max():
        raise InputError(f"training needs both classes: {req.pos} and {req.neg}")
    template = load_bundle(req.init) if req.init is not None else None
    window = template.window if template is not None else req.window
    check_lengths(data, window, f"{req.pos} / {req.neg}")

    def make_bundle(fold: int | None) -> Bundle:
        if template is not None:
            return copy.deepcopy(template)
        return new_bundle(req.ks, hidden_size=req.hidden, num_layers=req.layers, num_heads=req.heads,
                          window=window, seed=req.seed + (0 if fold is None else 1 + fold))

    cfg = req.config()
    cv_report, table = None, ""
    if req.cv:
        cv_report = cross_validate(make_bundle, data, cfg, req.cv, record)
        fold = np.array(cv_report["fold_of_sample"])
        baselines = out_of_fold_probabilities(data.seqs, data.labels, fold, req.seed)
        cv_report["results"].update({name: [binary_metrics(data.labels[fold == f], p[fold == f], 0.5)
                                             for f in range(req.cv)] for name, p in baselines.items()})
        cv_report["out_of_fold"].update({name: p.tolist() for name, p in baselines.items()})
        cv_report["summary"] = {name: summarize(folds) for name, folds in cv_report["results"].items()}
        table = cv_table(cv_report["summary"], req.cv)
        if req.cv_report is not None:
            write_manifest(req.cv_report, {"command": " ".join(req.command), "names": data.names,
                                           "labels": data.labels.tolist(), **cv_report})
        del cv_report["fold_of_sample"], cv_report["out_of_fold"]
    if req.output is None:
        return TrainingResult(None, float("nan"), float("nan"), cv_report, table)

    bundle = make_bundle(None)
    report = fit(bundle, data, cfg, record)
    bundle.provenance = {
        "created_by": f"ielmscan {__version__} train",
        "command": " ".join(req.command),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "software": {"ielmscan": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "data": [file_record(req.pos, int(data.labels.sum())), file_record(req.neg, int((1 - data.labels).sum()))],
        "request": {key: str(value) if isinstance(value, Path) else value for key, value in asdict(req).items()},
        "split": {"train": report["n_train"], "validation": report["n_val"]},
        "validation": {"ensemble": report["ensemble_val"],
                       **{name: m["val"] for name, m in report["members"].items()}},
        "history": {name: m["history"] for name, m in report["members"].items()},
        "cross_validation": cv_report["summary"] if cv_report else None,
        "log": lines,
    }
    bundle.cascade = fit_cascade(bundle, data, seed=req.seed, device=req.device)
    bundle.provenance["reference_predictions"] = reference_predictions(bundle, data, req.device)
    if template is not None:
        bundle.provenance["initialised_from"] = {"path": str(req.init), "sha256": template.checksum}
    save_bundle(bundle, req.output)
    return TrainingResult(bundle, bundle.threshold, report["ensemble_val"]["acc"], cv_report, table)


def reference_predictions(bundle: Bundle, data: LabelledSequences, device: str, per_class: int = 3) -> list[dict[str, Any]]:
    """Ensemble probabilities of the first few training sequences of each class, so that a copy of the
    bundle can be checked to reproduce them."""
    index = [*np.flatnonzero(data.labels == 1)[:per_class], *np.flatnonzero(data.labels == 0)[:per_class]]
    probs, _ = score_sequences(bundle, [data.seqs[i] for i in index], device)
    return [{"id": data.names[i], "label": int(data.labels[i]), "probability": round(float(p), 6)}
            for i, p in zip(index, probs)]


def cv_table(summary: dict[str, dict[str, tuple[float, float]]], n_folds: int) -> str:
    """Mean ± sd per metric, one row per model."""
    header = f"{n_folds}-fold CV".ljust(16) + "".join(m.upper().ljust(18) for m in TABLE_METRICS)
    rows = [header]
    for name, stats in summary.items():
        rows.append(name.ljust(16) + "".join(f"{stats[m][0]:.4f} ± {stats[m][1]:.4f}".ljust(18) for m in TABLE_METRICS))
    return "\n".join(rows)


def file_record(path: Path, records: int) -> dict[str, Any]:
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "records": records}
