"""`ielmscan train | pretrain | predict`: learning from and classifying labelled sequences."""
from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ielmscan.cli.common import (DEFAULT_BPE_VOCAB, DEFAULT_HEADS, DEFAULT_HIDDEN, DEFAULT_K_TEXT, DEFAULT_LAYERS,
                                 DEFAULT_WINDOW, INPUT, MODEL, OUTPUT, PERF, SCAN, BpeVocab, Device, Force, Heads, Hidden,
                                 Kmers, Layers, Members, ModelDir, ScoringBatch, ScoringThreads, Window, app,
                                 check_heads, friendly_errors, load_model, parse_ks, parse_members)
from ielmscan.inference.devices import Precision


TRAIN = "Training"


class BackgroundGC(str, Enum):
    matched = "matched"
    genome = "genome"


@app.command(no_args_is_help=True)
@friendly_errors
def train(
    pos: Annotated[Optional[list[Path]], typer.Option("--pos", metavar="FASTA", help="Positive (enhancer) sequences, FASTA "
                                                      "(repeatable).", exists=True, dir_okay=False,
                                                      rich_help_panel=INPUT)] = None,
    neg: Annotated[Optional[list[Path]], typer.Option("--neg", metavar="FASTA", help="Negative sequences, FASTA (repeatable).",
                                                      exists=True, dir_okay=False, rich_help_panel=INPUT)] = None,
    dataset: Annotated[Optional[Path], typer.Option("--dataset", help="A `ielmscan dataset build` folder: its "
                                                    "train.*.fa are added to --pos/--neg and its val.*.fa are the "
                                                    "validation split.", exists=True, file_okay=False,
                                                    rich_help_panel=INPUT)] = None,
    background: Annotated[Optional[Path], typer.Option("--background", metavar="GENOME", help="Add negative "
                                                       "windows sampled from this genome FASTA (N-free, not "
                                                       "overlapping each other), and calibrate the model on other "
                                                       "windows of it.", exists=True, dir_okay=False,
                                                       rich_help_panel=INPUT)] = None,
    background_ratio: Annotated[float, typer.Option("--background-ratio", min=0.01, max=100.0, help="Background "
                                                    "windows per positive.", rich_help_panel=INPUT)] = 1.0,
    background_gc: Annotated[BackgroundGC, typer.Option("--background-gc", help="matched: the background's GC "
                                                        "histogram matches the positives'; genome: windows drawn at "
                                                        "the genome's own GC.", rich_help_panel=INPUT)] = BackgroundGC.matched,
    calibration_windows: Annotated[int, typer.Option("--calibration-windows", min=100, help="With --background: "
                                                     "other windows of that genome, scored after training, become "
                                                     "the model's calibration (p-values and calls of a scan).",
                                                     rich_help_panel=INPUT)] = 20_000,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Bundle directory to write. Without it "
                                                   "only --cv runs.", rich_help_panel=OUTPUT)] = None,
    k: Members = DEFAULT_K_TEXT,
    bpe_vocab: BpeVocab = None,
    init: Annotated[Optional[Path], typer.Option("--init", help="Start from this bundle (e.g. from `ielmscan "
                                                 "pretrain`) instead of random weights; --k, sizes and the window are then "
                                                 "taken from it.", file_okay=False, rich_help_panel=MODEL)] = None,
    layers: Layers = DEFAULT_LAYERS,
    hidden: Hidden = DEFAULT_HIDDEN,
    heads: Heads = DEFAULT_HEADS,
    window: Window = DEFAULT_WINDOW,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Most epochs per member.", rich_help_panel=TRAIN)] = 30,
    lr: Annotated[float, typer.Option("--lr", min=1e-7, max=1.0, help="Peak learning rate (AdamW).",
                                      rich_help_panel=TRAIN)] = 5e-4,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, rich_help_panel=TRAIN)] = 64,
    patience: Annotated[int, typer.Option("--patience", min=1, help="Stop after this many epochs without "
                                          "validation AUROC improvement.", rich_help_panel=TRAIN)] = 8,
    val_fraction: Annotated[float, typer.Option("--val-fraction", min=0.02, max=0.5, help="Share held out for "
                                                "early stopping and the threshold.", rich_help_panel=TRAIN)] = 0.1,
    rc_augment: Annotated[bool, typer.Option("--rc-augment/--no-rc-augment", help="Train on a random strand "
                                             "of each sequence.", rich_help_panel=TRAIN)] = True,
    cv: Annotated[int, typer.Option("--cv", min=0, help="Run N-fold cross-validation first and report it "
                                    "(0: none).", rich_help_panel=TRAIN)] = 0,
    cv_report: Annotated[Optional[Path], typer.Option("--cv-report", help="With --cv: write per-fold metrics "
                                                      "and every sequence's out-of-fold probabilities (JSON).",
                                                      dir_okay=False, rich_help_panel=OUTPUT)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for weights, splits and batches.",
                                      rich_help_panel=TRAIN)] = 0,
    force: Force = False,
    device: Device = "cpu",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-epoch lines.", rich_help_panel=OUTPUT)] = False,
) -> None:
    """Train an ensemble on labelled sequences: every member, then the decision threshold."""
    ks, bpe = parse_members(k)
    if bpe_vocab is not None and not bpe:
        raise typer.BadParameter("it sizes the BPE member's vocabulary: add bpe to --k", param_hint="'--bpe-vocab'")
    if not pos and dataset is None:
        raise typer.BadParameter("give positives with --pos FASTA or --dataset DIR", param_hint="'--pos'")
    if output is None and cv == 0:
        raise typer.BadParameter("give --output to train a bundle, or --cv N to cross-validate", param_hint="'--output'")
    check_heads(hidden, heads)
    from ielmscan.learn.train import TrainingRequest, run_training

    request = TrainingRequest(
        pos=list(pos or []), neg=list(neg or []), output=output, ks=ks, bpe_vocab=(bpe_vocab or DEFAULT_BPE_VOCAB) if bpe else None,
        dataset=dataset, background=background,
        background_ratio=background_ratio, background_gc=background_gc.value,
        calibration_windows=calibration_windows, init=init, layers=layers, hidden=hidden, heads=heads, window=window,
        epochs=epochs, lr=lr, batch_size=batch_size, patience=patience, val_fraction=val_fraction,
        rc_augment=rc_augment, cv=cv, seed=seed, device=device, cv_report=cv_report, force=force,
        command=["ielmscan", *sys.argv[1:]],
    )
    log = None if quiet else (lambda line: typer.echo(line, err=True))
    result = run_training(request, log)
    if result.cv_table:
        typer.echo(result.cv_table)
    if output is not None:
        typer.echo(f"ielmscan: wrote bundle {output} (threshold {result.threshold:.3f}; validation "
                   f"acc {result.val_acc:.4f})", err=True)


@app.command(no_args_is_help=True)
@friendly_errors
def predict(
    fasta: Annotated[Path, typer.Argument(help="Sequences to classify (FASTA, any lengths; '-' reads standard "
                                          "input).", rich_help_panel=INPUT)],  # read_fasta checks it, '-' too
    model: ModelDir = None,
    output: Annotated[str, typer.Option("--output", "-o", metavar="TSV", help="Where to write the table "
                                        "('-' = stdout).", rich_help_panel=OUTPUT)] = "-",
    force: Force = False,
    stride: Annotated[int, typer.Option("--stride", "-s", min=1, help="Step between windows in records longer "
                                        "than the window.", rich_help_panel=SCAN)] = 50,
    max_n_frac: Annotated[float, typer.Option("--max-n-frac", min=0.0, max=1.0, help="Skip windows with more "
                                              "N/IUPAC bases than this.", rich_help_panel=SCAN)] = 0.1,
    rc: Annotated[bool, typer.Option("--rc/--no-rc", help="Average with the reverse complement.",
                                     rich_help_panel=SCAN)] = True,
    device: Device = "auto",
    precision: Annotated[Precision, typer.Option("--precision", rich_help_panel=PERF)] = Precision.fp32,
    batch_size: ScoringBatch = None,
    threads: ScoringThreads = None,
) -> None:
    """Classify sequences: one TSV row per record (probability, per-member probabilities, label)."""
    from ielmscan.inference.scorer import ScorerSettings
    from ielmscan.inference.predict import predict_fasta
    from ielmscan.io.atomic_outputs import OutputSet

    bundle = load_model(model)
    settings = ScorerSettings(device=device, precision=precision, batch_size=batch_size, reverse_complement=rc,
                              threads=threads)
    if output == "-":
        predict_fasta(bundle, fasta, sys.stdout, settings, stride, max_n_frac)
        return
    with OutputSet(output, ("",), inputs=(fasta, *bundle.folders()), force=force) as outputs, \
            outputs.open("") as out:
        rows = predict_fasta(bundle, fasta, out, settings, stride, max_n_frac)
    typer.echo(f"ielmscan: {rows} record(s) → {output}", err=True)


@app.command(no_args_is_help=True)
@friendly_errors
def pretrain(
    fastas: Annotated[list[Path], typer.Argument(help="Genome or sequence FASTA file(s) to learn from.",
                                                 exists=True, dir_okay=False, rich_help_panel=INPUT)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Bundle directory to write.",
                                         rich_help_panel=OUTPUT)],
    force: Force = False,
    init: Annotated[Optional[Path], typer.Option("--init", help="Continue from this bundle instead of random "
                                                 "weights.", file_okay=False, rich_help_panel=MODEL)] = None,
    k: Kmers = DEFAULT_K_TEXT,
    layers: Layers = DEFAULT_LAYERS,
    hidden: Hidden = DEFAULT_HIDDEN,
    heads: Heads = DEFAULT_HEADS,
    window: Window = DEFAULT_WINDOW,
    epochs: Annotated[int, typer.Option("--epochs", min=1, rich_help_panel=TRAIN)] = 3,
    lr: Annotated[float, typer.Option("--lr", min=1e-7, max=1.0, rich_help_panel=TRAIN)] = 1e-3,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, rich_help_panel=TRAIN)] = 64,
    mask_prob: Annotated[float, typer.Option("--mask-prob", min=0.01, max=0.5, help="Share of k-mer tokens "
                                             "masked (in spans of k).", rich_help_panel=TRAIN)] = 0.15,
    stride: Annotated[int, typer.Option("--stride", "-s", min=1, help="Step between sampled windows.",
                                        rich_help_panel=TRAIN)] = 100,
    max_windows: Annotated[int, typer.Option("--max-windows", min=1, help="Uniform sample of at most this many "
                                             "windows.", rich_help_panel=TRAIN)] = 100_000,
    seed: Annotated[int, typer.Option("--seed", rich_help_panel=TRAIN)] = 0,
    device: Device = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-epoch lines.", rich_help_panel=OUTPUT)] = False,
) -> None:
    """Masked-language-model pretraining of the members on genome windows (a starting point for `train --init`)."""
    ks = parse_ks(k, "pretrain")
    check_heads(hidden, heads)
    from ielmscan.model.bundle import bundle_output, load_bundle, new_bundle, save_bundle
    from ielmscan.learn.pretrain import PretrainConfig
    from ielmscan.learn.pretrain import pretrain as run_pretraining

    inputs = (*fastas, init)
    bundle_output(output, inputs, force)  # before the pretraining, not after it
    bundle = load_bundle(init) if init is not None else new_bundle(ks, hidden_size=hidden, num_layers=layers,
                                                                   num_heads=heads, window=window, seed=seed)
    cfg = PretrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, mask_prob=mask_prob, stride=stride,
                         max_windows=max_windows, seed=seed, device=device)
    log = None if quiet else (lambda line: typer.echo(line, err=True))
    report = run_pretraining(bundle, fastas, cfg, log)
    bundle.provenance = {**bundle.provenance, "created_by": "ielmscan pretrain",
                         "command": " ".join(["ielmscan", *sys.argv[1:]]), "pretraining": report}
    save_bundle(bundle, output, inputs, force)
    typer.echo(f"ielmscan: wrote pretrained bundle {output} ({report['windows']:,} windows)", err=True)
