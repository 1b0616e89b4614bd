"""Command-line interface. Parses and validates, then calls one library function per command.

Nothing heavy (torch, numba) is imported at module level, so ``ielmscan --help`` answers at once.
``ielmscan genome.fa ...`` is shorthand for ``ielmscan scan genome.fa ...``.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from . import __version__
from .devices import Precision
from .errors import IelmscanError

app = typer.Typer(
    name="ielmscan",
    help="Find enhancers in whole genomes with a multi-scale k-mer transformer ensemble (iEnhancer-ELM method).\n\n"
    "`ielmscan genome.fa` is shorthand for `ielmscan scan genome.fa`.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=False,
)
model_app = typer.Typer(help="Create and inspect model bundles.", no_args_is_help=True)
app.add_typer(model_app, name="model")

F = TypeVar("F", bound=Callable[..., Any])

INPUT, MODEL, SCAN, OUTPUT, PERF = "Input", "Model", "Scanning", "Output", "Performance"


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line on stderr and return the exit to raise."""
    typer.echo(f"ielmscan: error: {message}", err=True)
    return typer.Exit(code)


def friendly_errors(func: F) -> F:
    """Turn the library's errors into one line on stderr and exit 1 (never a traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except IelmscanError as exc:
            raise fail(str(exc)) from None
        except OSError as exc:
            where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
            raise fail(f"{exc.strerror or exc}{':' if where else ''}{where}") from None
        except KeyboardInterrupt:
            raise fail("interrupted; no outputs were written", 130) from None

    return wrapper  # type: ignore[return-value]


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"ielmscan {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Find enhancers in whole genomes."""
    import logging

    # The library logs; the CLI shows warnings as one line each on stderr.
    logging.basicConfig(level=logging.WARNING, format="ielmscan: warning: %(message)s")


def parse_ks(text: str) -> list[int]:
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of k-mer sizes, e.g. 3,4,5,6", param_hint="'--k'") from None
    if not ks or any(not 1 <= k <= 8 for k in ks) or len(set(ks)) != len(ks):
        raise typer.BadParameter(f"{text!r}: give distinct k-mer sizes between 1 and 8, e.g. 3,4,5,6", param_hint="'--k'")
    return ks


def load_model(model: Optional[Path]) -> Any:
    """The bundle at ``model``, or the packaged default; exits with one line if there is none."""
    from .bundle import default_bundle_path, load_bundle

    if model is None:
        model = default_bundle_path()
        if model is None:
            raise fail(
                "no trained default model is installed in this ielmscan yet: pass --model DIR "
                "(a bundle from `ielmscan model init` works, but its scores mean nothing)"
            )
    return load_bundle(model)


def progress_bar(quiet: bool, unit: str = "b") -> Callable[[int], Callable[[int], None]] | None:
    """A tqdm bar on stderr, unless quiet or stderr is not a terminal (batch jobs, pipes)."""
    if quiet or not sys.stderr.isatty():
        return None

    def factory(total: int) -> Callable[[int], None]:
        from tqdm import tqdm

        bar = tqdm(total=total, unit=unit, unit_scale=True, desc="scanning", file=sys.stderr, leave=False)

        def update(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()

        return update

    return factory


@app.command(no_args_is_help=True)
@friendly_errors
def scan(
    fasta: Annotated[
        Path,
        typer.Argument(
            help="Genome FASTA, plain or bgzip-compressed; a missing .fai index is built.",
            exists=True, dir_okay=False, readable=True, rich_help_panel=INPUT,
        ),
    ],
    chrom: Annotated[
        Optional[list[str]],
        typer.Option("--chrom", "-c", help="Scan only this chromosome (repeatable).", rich_help_panel=INPUT),
    ] = None,
    exclude_chrom: Annotated[
        Optional[list[str]],
        typer.Option("--exclude-chrom", "-x", help="Skip this chromosome (repeatable).", rich_help_panel=INPUT),
    ] = None,
    regions: Annotated[
        Optional[Path],
        typer.Option(
            "--regions", "-r", help="Scan only these intervals (BED, 0-based); overlaps are merged.",
            exists=True, dir_okay=False, readable=True, rich_help_panel=INPUT,
        ),
    ] = None,
    model: Annotated[
        Optional[Path],
        typer.Option("--model", "-m", help="Model bundle directory [default: the bundled trained model].",
                     file_okay=False, rich_help_panel=MODEL),
    ] = None,
    threshold: Annotated[
        Optional[float],
        typer.Option("--threshold", "-t", min=0.0, max=1.0,
                     help="Bin score at or above which bins form regions [default: the model's threshold].",
                     rich_help_panel=MODEL),
    ] = None,
    window: Annotated[
        int, typer.Option("--window", "-w", min=1, help="Window length in bases (the models' training length).",
                          rich_help_panel=SCAN)
    ] = 200,
    stride: Annotated[
        int, typer.Option("--stride", "-s", min=1, help="Step between windows = width of a track bin.",
                          rich_help_panel=SCAN)
    ] = 50,
    max_n_frac: Annotated[
        float, typer.Option("--max-n-frac", min=0.0, max=1.0,
                            help="Skip windows with more than this fraction of N/IUPAC bases.", rich_help_panel=SCAN)
    ] = 0.1,
    rc: Annotated[
        bool, typer.Option("--rc/--no-rc", help="Average each window's score with its reverse complement's.",
                           rich_help_panel=SCAN)
    ] = True,
    fast: Annotated[
        bool, typer.Option("--fast", help="Cascade: only windows passing the model's linear k-mer first stage "
                           "(calibrated for 99% recall of the ensemble's calls) go to the transformers.",
                           rich_help_panel=SCAN)
    ] = False,
    output: Annotated[
        Optional[str],
        typer.Option("--output", "-o", metavar="PREFIX",
                     help="Write PREFIX.bed (narrowPeak), PREFIX.bw and PREFIX.json; '-' streams the BED to stdout "
                          "and writes nothing else [default: FASTA name + .ielmscan, in the current folder].",
                     rich_help_panel=OUTPUT),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary line.", rich_help_panel=OUTPUT)
    ] = False,
    device: Annotated[
        str, typer.Option("--device", "-d", help="auto, cpu, cuda or cuda:N.", rich_help_panel=PERF)
    ] = "auto",
    precision: Annotated[
        Precision, typer.Option("--precision", help="bf16 autocast where the device does it natively (auto), or force one.",
                                rich_help_panel=PERF)
    ] = Precision.auto,
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", min=1, help="Windows per forward pass.", rich_help_panel=PERF)
    ] = 256,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1000, help="Bases read and encoded at a time (bounds memory).",
                          rich_help_panel=PERF)
    ] = 1_000_000,
    compile_model: Annotated[
        bool, typer.Option("--compile/--no-compile", help="torch.compile the encoders: seconds to minutes of "
                           "start-up, faster on long scans.", rich_help_panel=PERF)
    ] = False,
) -> None:
    """Scan a genome: enhancer regions (narrowPeak BED), a score track (bigWig) and a run manifest (JSON)."""
    if stride > window:
        raise typer.BadParameter(f"stride {stride} is larger than the window {window}", param_hint="'--stride'")
    if chunk_size < window:
        raise typer.BadParameter(f"chunk size {chunk_size} is smaller than the window {window}",
                                 param_hint="'--chunk-size'")
    from .bundle import check_window
    from .errors import BundleError
    from .inference import ScorerSettings
    from .scan import ScanParams, default_prefix, run_scan

    bundle = load_model(model)
    try:
        check_window(bundle, window)
    except BundleError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--window'") from None
    params = ScanParams(
        window=window, stride=stride, max_n_frac=max_n_frac, threshold=threshold, chunk_size=chunk_size, fast=fast,
        scorer=ScorerSettings(device=device, precision=precision, batch_size=batch_size, reverse_complement=rc,
                              compile=compile_model),
    )
    prefix = output if output is not None else default_prefix(fasta)
    manifest = run_scan(
        fasta, bundle, params, prefix, chroms=chrom, exclude=exclude_chrom, regions_bed=regions,
        progress_factory=progress_bar(quiet),
    )
    if not quiet:
        typer.echo(summary_line(manifest), err=True)


def summary_line(manifest: dict[str, Any]) -> str:
    outputs = manifest["outputs"]
    where = "stdout" if outputs.get("bed") == "-" else ", ".join(outputs.values())
    rate = manifest["windows_per_second"]
    return (
        f"ielmscan: {manifest['bases']:,} bp in {len(manifest['chromosomes'])} chromosome(s): "
        f"{manifest['windows_scanned']:,} windows scored, {manifest['windows_skipped']:,} skipped (N), "
        f"{manifest['regions']:,} regions at threshold {manifest['parameters']['threshold']:.3f}; "
        f"{manifest['wall_seconds']:.1f} s ({rate:,.0f} windows/s) → {where}"
    )


@model_app.command("init")
@friendly_errors
def model_init(
    output: Annotated[Path, typer.Option("--output", "-o", help="Bundle directory to write.")],
    k: Annotated[str, typer.Option("--k", help="Comma-separated k-mer sizes, one member each.")] = "3,4,5,6",
    layers: Annotated[int, typer.Option("--layers", min=1, max=24, help="Transformer layers per member.")] = 2,
    hidden: Annotated[int, typer.Option("--hidden", min=8, max=2048, help="Hidden size per member.")] = 128,
    heads: Annotated[int, typer.Option("--heads", min=1, max=64, help="Attention heads (must divide --hidden).")] = 4,
    window: Annotated[int, typer.Option("--window", min=8, help="Window length the bundle scores.")] = 200,
    max_positions: Annotated[int, typer.Option("--max-positions", min=16, help="Longest token sequence.")] = 256,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the initial weights.")] = 0,
) -> None:
    """Write a randomly initialised bundle (a starting point for training; its scores mean nothing)."""
    ks = parse_ks(k)
    if hidden % heads:
        raise typer.BadParameter(f"--hidden {hidden} is not a multiple of --heads {heads}", param_hint="'--heads'")
    from .bundle import new_bundle, save_bundle

    bundle = new_bundle(ks, hidden_size=hidden, num_layers=layers, num_heads=heads, max_positions=max_positions,
                        window=window, seed=seed)
    save_bundle(bundle, output)
    typer.echo(f"ielmscan: wrote untrained bundle {output} (k = {','.join(map(str, ks))})", err=True)


@model_app.command("combine")
@friendly_errors
def model_combine(
    layer1: Annotated[Path, typer.Argument(help="Enhancer vs non-enhancer bundle.", file_okay=False)],
    layer2: Annotated[Path, typer.Argument(help="Strong vs weak enhancer bundle (trained with --pos strong.fa "
                                           "--neg weak.fa).", file_okay=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Two-stage bundle directory to write.")],
) -> None:
    """Join a layer-1 bundle and a layer-2 (strong vs weak) bundle into one two-stage bundle."""
    from .bundle import attach_layer2, load_bundle, save_bundle

    save_bundle(attach_layer2(load_bundle(layer1), load_bundle(layer2)), output)
    typer.echo(f"ielmscan: wrote two-stage bundle {output}", err=True)


@model_app.command("cascade")
@friendly_errors
def model_cascade(
    bundle_dir: Annotated[Path, typer.Argument(help="Bundle to add the first stage to (rewritten in place).",
                                               file_okay=False)],
    pos: Annotated[Path, typer.Option("--pos", help="The bundle's positive training sequences.", exists=True,
                                      dir_okay=False)],
    neg: Annotated[Path, typer.Option("--neg", help="The bundle's negative training sequences.", exists=True,
                                      dir_okay=False)],
    recall: Annotated[float, typer.Option("--recall", min=0.5, max=1.0, help="Share of the ensemble's calls on "
                                          "the training data that must pass the first stage.")] = 0.99,
    device: Annotated[str, typer.Option("--device", "-d", help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Fit and calibrate the linear k-mer first stage that `scan --fast` uses, and store it in a bundle."""
    from .bundle import load_bundle, save_bundle
    from .cascade import fit_cascade
    from .dataset import load_labelled

    bundle = load_bundle(bundle_dir)
    bundle.cascade = fit_cascade(bundle, load_labelled(pos, neg), recall=recall, device=device)
    save_bundle(bundle, bundle_dir)
    cal = bundle.cascade.calibration
    typer.echo(f"ielmscan: added a cascade to {bundle_dir}: {cal['training_recall']:.1%} of the ensemble's calls "
               f"and {cal['training_pass_fraction']:.1%} of all training sequences pass", err=True)


@model_app.command("info")
@friendly_errors
def model_info(
    bundle_dir: Annotated[
        Optional[Path], typer.Argument(help="Bundle directory [default: the bundled trained model].")
    ] = None,
) -> None:
    """Print a bundle's members, sizes, threshold and provenance."""
    from .bundle import describe

    typer.echo(describe(load_model(bundle_dir)))


TRAIN, SIZE = "Training", "Model size (new bundles)"


@app.command(no_args_is_help=True)
@friendly_errors
def train(
    pos: Annotated[Path, typer.Option("--pos", help="Positive (enhancer) sequences, FASTA.", exists=True,
                                      dir_okay=False, rich_help_panel=INPUT)],
    neg: Annotated[Path, typer.Option("--neg", help="Negative sequences, FASTA.", exists=True, dir_okay=False,
                                      rich_help_panel=INPUT)],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Bundle directory to write. Without it "
                                                   "only --cv runs.", rich_help_panel=OUTPUT)] = None,
    k: Annotated[str, typer.Option("--k", help="Comma-separated k-mer sizes, one member each.",
                                   rich_help_panel=SIZE)] = "3,4,5,6",
    init: Annotated[Optional[Path], typer.Option("--init", help="Start from this bundle (e.g. from `ielmscan "
                                                 "pretrain`) instead of random weights; --k and sizes are then "
                                                 "taken from it.", file_okay=False, rich_help_panel=MODEL)] = None,
    layers: Annotated[int, typer.Option("--layers", min=1, max=24, rich_help_panel=SIZE)] = 1,
    hidden: Annotated[int, typer.Option("--hidden", min=8, max=2048, rich_help_panel=SIZE)] = 64,
    heads: Annotated[int, typer.Option("--heads", min=1, max=64, rich_help_panel=SIZE)] = 4,
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
    device: Annotated[str, typer.Option("--device", "-d", help="auto, cpu, cuda or cuda:N.",
                                        rich_help_panel=PERF)] = "cpu",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-epoch lines.", rich_help_panel=OUTPUT)] = False,
) -> None:
    """Train an ensemble on labelled sequences: every member, then the decision threshold."""
    ks = parse_ks(k)
    if output is None and cv == 0:
        raise typer.BadParameter("give --output to train a bundle, or --cv N to cross-validate", param_hint="'--output'")
    if hidden % heads:
        raise typer.BadParameter(f"--hidden {hidden} is not a multiple of --heads {heads}", param_hint="'--heads'")
    from .train import TrainingRequest, run_training

    request = TrainingRequest(
        pos=pos, neg=neg, output=output, ks=ks, init=init, layers=layers, hidden=hidden, heads=heads,
        epochs=epochs, lr=lr, batch_size=batch_size, patience=patience, val_fraction=val_fraction,
        rc_augment=rc_augment, cv=cv, seed=seed, device=device, cv_report=cv_report,
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
    fasta: Annotated[Path, typer.Argument(help="Sequences to classify (FASTA, any lengths).", exists=True,
                                          dir_okay=False, rich_help_panel=INPUT)],
    model: Annotated[Optional[Path], typer.Option("--model", "-m", help="Model bundle directory [default: the "
                                                  "bundled trained model].", file_okay=False,
                                                  rich_help_panel=MODEL)] = None,
    output: Annotated[str, typer.Option("--output", "-o", metavar="TSV", help="Where to write the table "
                                        "('-' = stdout).", rich_help_panel=OUTPUT)] = "-",
    stride: Annotated[int, typer.Option("--stride", "-s", min=1, help="Step between windows in records longer "
                                        "than the window.", rich_help_panel=SCAN)] = 50,
    max_n_frac: Annotated[float, typer.Option("--max-n-frac", min=0.0, max=1.0, help="Skip windows with more "
                                              "N/IUPAC bases than this.", rich_help_panel=SCAN)] = 0.1,
    rc: Annotated[bool, typer.Option("--rc/--no-rc", help="Average with the reverse complement.",
                                     rich_help_panel=SCAN)] = True,
    device: Annotated[str, typer.Option("--device", "-d", help="auto, cpu, cuda or cuda:N.",
                                        rich_help_panel=PERF)] = "auto",
    precision: Annotated[Precision, typer.Option("--precision", rich_help_panel=PERF)] = Precision.fp32,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, rich_help_panel=PERF)] = 256,
) -> None:
    """Classify sequences: one TSV row per record (probability, per-member probabilities, label)."""
    from .inference import ScorerSettings
    from .predict import predict_fasta
    from .writers import OutputSet

    bundle = load_model(model)
    settings = ScorerSettings(device=device, precision=precision, batch_size=batch_size, reverse_complement=rc)
    if output == "-":
        predict_fasta(bundle, fasta, sys.stdout, settings, stride, max_n_frac)
        return
    with OutputSet(output, ("",)) as outputs, outputs.temp("").open("w") as out:
        rows = predict_fasta(bundle, fasta, out, settings, stride, max_n_frac)
    typer.echo(f"ielmscan: {rows} record(s) → {output}", err=True)


@app.command(no_args_is_help=True)
@friendly_errors
def pretrain(
    fastas: Annotated[list[Path], typer.Argument(help="Genome or sequence FASTA file(s) to learn from.",
                                                 exists=True, dir_okay=False, rich_help_panel=INPUT)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Bundle directory to write.",
                                         rich_help_panel=OUTPUT)],
    init: Annotated[Optional[Path], typer.Option("--init", help="Continue from this bundle instead of random "
                                                 "weights.", file_okay=False, rich_help_panel=MODEL)] = None,
    k: Annotated[str, typer.Option("--k", help="Comma-separated k-mer sizes, one member each.",
                                   rich_help_panel=SIZE)] = "3,4,5,6",
    layers: Annotated[int, typer.Option("--layers", min=1, max=24, rich_help_panel=SIZE)] = 1,
    hidden: Annotated[int, typer.Option("--hidden", min=8, max=2048, rich_help_panel=SIZE)] = 64,
    heads: Annotated[int, typer.Option("--heads", min=1, max=64, rich_help_panel=SIZE)] = 4,
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
    device: Annotated[str, typer.Option("--device", "-d", help="auto, cpu, cuda or cuda:N.",
                                        rich_help_panel=PERF)] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-epoch lines.", rich_help_panel=OUTPUT)] = False,
) -> None:
    """Masked-language-model pretraining of the members on genome windows (a starting point for `train --init`)."""
    ks = parse_ks(k)
    if hidden % heads:
        raise typer.BadParameter(f"--hidden {hidden} is not a multiple of --heads {heads}", param_hint="'--heads'")
    from .bundle import load_bundle, new_bundle, save_bundle
    from .pretrain import PretrainConfig
    from .pretrain import pretrain as run_pretraining

    bundle = load_bundle(init) if init is not None else new_bundle(ks, hidden_size=hidden, num_layers=layers,
                                                                   num_heads=heads, seed=seed)
    cfg = PretrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, mask_prob=mask_prob, stride=stride,
                         max_windows=max_windows, seed=seed, device=device)
    log = None if quiet else (lambda line: typer.echo(line, err=True))
    report = run_pretraining(bundle, fastas, cfg, log)
    bundle.provenance = {**bundle.provenance, "created_by": "ielmscan pretrain",
                         "command": " ".join(["ielmscan", *sys.argv[1:]]), "pretraining": report}
    save_bundle(bundle, output)
    typer.echo(f"ielmscan: wrote pretrained bundle {output} ({report['windows']:,} windows)", err=True)


@app.command(no_args_is_help=True)
@friendly_errors
def evaluate(
    pos: Annotated[Path, typer.Option("--pos", help="Positive sequences, FASTA.", exists=True, dir_okay=False,
                                      rich_help_panel=INPUT)],
    neg: Annotated[Path, typer.Option("--neg", help="Negative sequences, FASTA.", exists=True, dir_okay=False,
                                      rich_help_panel=INPUT)],
    model: Annotated[Optional[Path], typer.Option("--model", "-m", help="Model bundle directory [default: the "
                                                  "bundled trained model].", file_okay=False,
                                                  rich_help_panel=MODEL)] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder for metrics.json, roc.png and "
                                                   "pr.png.", file_okay=False, rich_help_panel=OUTPUT)] = None,
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="Add the GC and k-mer baselines "
                                            "(5-fold CV on these sequences).", rich_help_panel=MODEL)] = True,
    device: Annotated[str, typer.Option("--device", "-d", help="auto, cpu, cuda or cuda:N.",
                                        rich_help_panel=PERF)] = "auto",
) -> None:
    """Metrics of a model on labelled sequences (Acc, Sn, Sp, MCC, AUROC, AUPRC, F1) beside two baselines."""
    import json
    import shutil
    import tempfile

    from .dataset import load_labelled
    from .evaluate import evaluate as run_evaluation
    from .evaluate import jsonable, table, write_plots

    bundle = load_model(model)
    data = load_labelled(pos, neg)
    if output is not None and not output.resolve().parent.is_dir():
        raise fail(f"cannot write to {output}: folder {output.resolve().parent} does not exist")
    report = run_evaluation(bundle, data, device=device, baselines=baselines)
    typer.echo(table(report))
    if output is not None:
        # Build every file in a temporary folder beside the target, then move them in together.
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.resolve().parent))
        try:
            (staging / "metrics.json").write_text(json.dumps(jsonable(report), indent=2) + "\n")
            write_plots(report, staging, prevalence=float(data.labels.mean()))
            output.mkdir(exist_ok=True)
            for item in staging.iterdir():
                item.replace(output / item.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        typer.echo(f"ielmscan: wrote {output}/metrics.json, roc.png, pr.png", err=True)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: route ``ielmscan FASTA ...`` to ``ielmscan scan FASTA ...``."""
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {info.name or info.callback.__name__ for info in app.registered_commands if info.callback}
    commands |= {group.name for group in app.registered_groups if group.name}
    if args and not args[0].startswith("-") and args[0] not in commands:
        args.insert(0, "scan")
    app(args=args, prog_name="ielmscan")


if __name__ == "__main__":
    main()
