"""`ielmscan train`: read labelled FASTA, cross-validate (optional), train a bundle, record provenance."""
from __future__ import annotations

import copy
import json
import datetime as dt
import hashlib
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ielmscan import __version__
from ielmscan.learn.baselines import gc_content, out_of_fold_probabilities
from ielmscan.model.defaults import DEFAULT_HEADS, DEFAULT_HIDDEN, DEFAULT_LAYERS, DEFAULT_WINDOW
from ielmscan.model.bundle import Bundle, bundle_output, load_bundle, new_bundle, save_bundle
from ielmscan.learn.calibrate import DEFAULT_WINDOWS, calibrate
from ielmscan.learn.cascade import fit_cascade
from ielmscan.learn.dataset import (LabelledSequences, check_lengths, load_labelled, records_needed, usable_records,
                                    validation_folds)
from ielmscan.errors import InputError
from ielmscan.inference.scorer import score_sequences
from ielmscan.learn.fitting import Log, TrainConfig, cross_validate, fit, train_bpe, training_split
from ielmscan.learn.metrics import binary_metrics, summarize
from ielmscan.io.atomic_outputs import OutputSet
from ielmscan.io.writers import write_manifest

TABLE_METRICS = ("acc", "sn", "sp", "mcc", "auroc")


@dataclass
class TrainingRequest:
    pos: list[Path]  # positive FASTA files
    neg: list[Path]  # negative FASTA files (may be empty with ``background``)
    output: Path | None
    ks: list[int]  # one k-mer member per k
    bpe_vocab: int | None = None  # and a BPE member with a vocabulary of this many tokens, learnt from its training data
    dataset: Path | None = None  # a `dataset build` folder: train.{pos,neg}.fa, and val.* as the validation split
    background: Path | None = None  # genome FASTA to sample negative windows from
    background_ratio: float = 1.0  # background windows per positive
    background_gc: str = "matched"  # "matched": the positives' GC histogram; "genome": the genome's own
    calibration_windows: int = DEFAULT_WINDOWS  # other background windows scored for the bundle's calibration
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
    force: bool = False  # replace an earlier run's bundle and report (never an input)
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

    # Where the results go is checked before hours of training, and again when they are written.
    sources = (*req.pos, *req.neg, req.dataset, req.background, req.init)
    report_output = OutputSet(req.cv_report, ("",), sources, req.force) if req.cv_report is not None else None
    if req.output is not None:
        bundle_output(req.output, (*sources, req.cv_report), req.force)
    torch.manual_seed(req.seed)
    template = load_bundle(req.init) if req.init is not None else None
    window = template.window if template is not None else req.window
    inputs = training_inputs(req, window, record)
    data, validation = inputs.data, inputs.validation

    def make_bundle(fold: int | None, train_seqs: list[str]) -> Bundle:
        if template is not None:
            return copy.deepcopy(template)  # its BPE member keeps its tokenizer
        bpe = None
        if req.bpe_vocab is not None:
            bpe = train_bpe(train_seqs, req.bpe_vocab)
            record(f"{'' if fold is None else f'fold {fold + 1}: '}BPE tokenizer: {bpe.vocab_size:,} tokens learnt "
                   f"from {len(train_seqs):,} training sequences (both strands)")
        return new_bundle(req.ks, hidden_size=req.hidden, num_layers=req.layers, num_heads=req.heads,
                          window=window, seed=req.seed + (0 if fold is None else 1 + fold), bpe=bpe)

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
        if report_output is not None:
            with report_output:
                write_manifest(report_output.temp(""), {"command": " ".join(req.command), "names": data.names,
                                                        "labels": data.labels.tolist(), **cv_report})
        del cv_report["fold_of_sample"], cv_report["out_of_fold"]
    if req.output is None:
        return TrainingResult(None, float("nan"), float("nan"), cv_report, table)

    if validation is not None:  # the dataset's own validation split
        train_index, val_index = np.flatnonzero(~validation), np.flatnonzero(validation)
    else:
        train_index, val_index = training_split(data, cfg)
    bundle = make_bundle(None, [data.seqs[i] for i in train_index])
    report = fit(bundle, data, cfg, record, train_index, val_index)
    bundle.provenance = {
        "created_by": f"ielmscan {__version__} train",
        "command": " ".join(req.command),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "software": {"ielmscan": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "data": inputs.files,
        **({"background": inputs.background} if inputs.background else {}),
        "request": json.loads(json.dumps(asdict(req), default=str)),  # paths as text
        "split": {"train": report["n_train"], "validation": report["n_val"]},
        "validation": {"ensemble": report["ensemble_val"],
                       **{name: m["val"] for name, m in report["members"].items()}},
        "history": {name: m["history"] for name, m in report["members"].items()},
        "cross_validation": cv_report["summary"] if cv_report else None,
        "log": lines,
    }
    if req.background is not None:
        # Calibrated on other windows of the background genome than the training negatives: the model has
        # seen those, and would score them lower than the genome it will scan.
        bundle.calibration, calibration_seqs = calibrate(bundle, req.background, windows=req.calibration_windows,
                                                         seed=req.seed + 1, device=req.device,
                                                         exclude=inputs.background_windows)
        record(f"calibration: {bundle.calibration.windows:,} background windows; p <= 0.01 at score "
               f"{bundle.calibration.threshold(0.01):.4f}")
    else:
        calibration_seqs = []
    bundle.cascade = fit_cascade(bundle, data.seqs + calibration_seqs, seed=req.seed, device=req.device)
    bundle.provenance["reference_predictions"] = reference_predictions(bundle, data, req.device)
    if template is not None:
        bundle.provenance["initialised_from"] = {"path": str(req.init), "sha256": template.checksum}
    save_bundle(bundle, req.output, (*sources, req.cv_report), req.force)
    return TrainingResult(bundle, bundle.threshold, report["ensemble_val"]["acc"], cv_report, table)


@dataclass
class TrainingInputs:
    data: LabelledSequences
    validation: np.ndarray | None  # True for the records of a given validation split; None: carve one out
    files: list[dict[str, Any]]  # what provenance records of each input file
    background: dict[str, Any] | None  # the background sample's report
    background_windows: list[tuple[str, int, int]]  # where the background negatives lie (0-based, half-open)


def training_inputs(req: TrainingRequest, window: int, log: Log | None = None) -> TrainingInputs:
    """The labelled records a request names: its files, a dataset folder's, and genome background windows."""
    pos, neg = list(req.pos), list(req.neg)
    val_pos: list[Path] = []
    val_neg: list[Path] = []
    if req.dataset is not None:
        train_pos, train_neg = req.dataset / "train.pos.fa", req.dataset / "train.neg.fa"
        if not train_pos.is_file():
            raise InputError(f"dataset {req.dataset}: no train.pos.fa in it (is it a `ielmscan dataset build` folder?)")
        pos.append(train_pos)
        neg.extend([train_neg] if train_neg.is_file() else [])
        val_pos = [p for p in [req.dataset / "val.pos.fa"] if p.is_file()]
        val_neg = [p for p in [req.dataset / "val.neg.fa"] if p.is_file()]
    if not pos:
        raise InputError("training needs positive sequences: give --pos or --dataset")
    data = load_labelled(pos, neg)
    files = [file_record(path, role) for role, paths in (("positive", pos), ("negative", neg)) for path in paths]
    background = None
    windows: list[tuple[str, int, int]] = []
    if req.background is not None:
        positives = [seq for seq, label in zip(data.seqs, data.labels) if label == 1]
        sample = background_windows(req.background, window, positives, req.background_ratio, req.background_gc,
                                    req.seed)
        data = data.extended(sample.names, sample.seqs, 0, f"background windows of {req.background}")
        background = {"genome": str(req.background), "gc": req.background_gc, **sample.report()}
        windows = [(c, int(a), int(a) + sample.window) for c, a in zip(sample.chroms, sample.starts.tolist())]
        if log:
            log(f"background: {len(sample):,} windows of {req.background} ({req.background_gc} GC)")
    if not (data.labels == 0).any():
        raise InputError(f"training needs negatives as well as the positives of {data.sources(1)}: give --neg FASTA "
                         "or --background GENOME")
    val = load_labelled(val_pos, val_neg) if val_pos or val_neg else None
    if val is not None:
        files += [file_record(path, f"validation {role}") for role, paths in (("positive", val_pos),
                                                                               ("negative", val_neg)) for path in paths]
    check_lengths(data if val is None else data.joined(val), window,
                  ", ".join(str(p) for p in pos + neg + val_pos + val_neg))
    data, validation = usable_training_records(data, val, req)
    return TrainingInputs(data, validation, files, background, windows)


def usable_training_records(data: LabelledSequences, val: LabelledSequences | None,
                            req: TrainingRequest) -> tuple[LabelledSequences, np.ndarray | None]:
    """The usable records (:func:`~ielmscan.learn.dataset.usable_records`) of the training data and of a given
    validation split, refused unless each class has enough distinct records for what ``req`` asks: a
    validation split that holds both classes, and with ``--cv K`` folds that each do, each with its own."""
    inner = validation_folds(req.val_fraction)
    split = f"a {req.val_fraction:.0%} validation split"
    cv_need = records_needed(req.cv, inner) if req.cv else 0
    cv_purpose = f"--cv {req.cv} (both classes in each fold, and in {split} of the other folds)"
    cv_remedy = "give more records, or fewer folds"
    if val is None:
        fit_need = inner if req.output is not None else 0
        need, purpose, remedy = max((fit_need, f"training with {split}", "give more records, or a larger "
                                     "--val-fraction"), (cv_need, cv_purpose, cv_remedy), key=lambda ask: ask[0])
        return usable_records(data, need, purpose, remedy), None
    data = usable_records(data, 1, "training", "give the training split more records")
    val = usable_records(val, 1, "the validation split (val.*.fa)", "build the dataset again with a validation "
                         "split that holds both classes")
    whole = data.joined(val)
    if req.cv:  # cross-validation deals out the dataset's training and validation records alike
        usable_records(whole, cv_need, cv_purpose, cv_remedy, warn=False)
    return whole, np.r_[np.zeros(len(data), bool), np.ones(len(val), bool)]


def background_windows(genome: Path, window: int, positives: list[str], ratio: float, gc: str, seed: int):
    """Negative windows sampled from ``genome``: GC-matched to ``positives`` or drawn at the genome's own GC."""
    from ielmscan.learn.background import sample_background

    if gc == "matched":
        target = gc_content(positives)
    elif gc == "genome":
        target = None
    else:
        raise InputError(f"background GC {gc!r}: choose matched or genome")
    return sample_background(genome, window, target, ratio=ratio, seed=seed, count=round(ratio * len(positives)))


def reference_predictions(bundle: Bundle, data: LabelledSequences, device: str, per_class: int = 3) -> list[dict[str, Any]]:
    """Ensemble probabilities of the first few training sequences of each class, with the sequences, so
    that any copy of the bundle can be checked to reproduce them without the training data."""
    index = [*np.flatnonzero(data.labels == 1)[:per_class], *np.flatnonzero(data.labels == 0)[:per_class]]
    probs, _ = score_sequences(bundle, [data.seqs[i] for i in index], device)
    return [{"id": data.names[i], "label": int(data.labels[i]), "sequence": data.seqs[i],
             "probability": round(float(p), 6)} for i, p in zip(index, probs)]


def cv_table(summary: dict[str, dict[str, tuple[float, float]]], n_folds: int) -> str:
    """Mean ± sd per metric, one row per model."""
    header = f"{n_folds}-fold CV".ljust(16) + "".join(m.upper().ljust(18) for m in TABLE_METRICS)
    rows = [header]
    for name, stats in summary.items():
        rows.append(name.ljust(16) + "".join(f"{stats[m][0]:.4f} ± {stats[m][1]:.4f}".ljust(18) for m in TABLE_METRICS))
    return "\n".join(rows)


def file_record(path: Path, role: str) -> dict[str, Any]:
    """An input file as provenance records it: name, role, sha256 and number of records."""
    data = path.read_bytes()
    return {"file": path.name, "role": role, "sha256": hashlib.sha256(data).hexdigest(),
            "records": data.count(b">")}
