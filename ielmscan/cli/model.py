"""`ielmscan model ...`: create, inspect and assemble model bundles."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ielmscan.cli.common import (DEFAULT_HEADS, DEFAULT_HIDDEN, DEFAULT_K_TEXT, DEFAULT_LAYERS, DEFAULT_WINDOW, Device,
                                 Force, Heads, Hidden, Kmers, Layers, Window, check_heads, friendly_errors, load_model,
                                 model_app, parse_ks)


@model_app.command("init")
@friendly_errors
def model_init(
    output: Annotated[Path, typer.Option("--output", "-o", help="Bundle directory to write.")],
    force: Force = False,
    k: Kmers = DEFAULT_K_TEXT,
    layers: Layers = DEFAULT_LAYERS,
    hidden: Hidden = DEFAULT_HIDDEN,
    heads: Heads = DEFAULT_HEADS,
    window: Window = DEFAULT_WINDOW,
    max_positions: Annotated[int, typer.Option("--max-positions", min=16, help="Longest token sequence.")] = 256,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the initial weights.")] = 0,
) -> None:
    """Write a randomly initialised bundle (a starting point for training; its scores mean nothing)."""
    ks = parse_ks(k, "model init")
    check_heads(hidden, heads)
    from ielmscan.model.bundle import new_bundle, save_bundle

    bundle = new_bundle(ks, hidden_size=hidden, num_layers=layers, num_heads=heads, max_positions=max_positions,
                        window=window, seed=seed)
    save_bundle(bundle, output, force=force)
    typer.echo(f"ielmscan: wrote untrained bundle {output} (k = {','.join(map(str, ks))})", err=True)


@model_app.command("combine")
@friendly_errors
def model_combine(
    layer1: Annotated[Path, typer.Argument(help="Enhancer vs non-enhancer bundle.", file_okay=False)],
    layer2: Annotated[Path, typer.Argument(help="Strong vs weak enhancer bundle (trained with --pos strong.fa "
                                           "--neg weak.fa).", file_okay=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Two-stage bundle directory to write.")],
    force: Force = False,
) -> None:
    """Join a layer-1 bundle and a layer-2 (strong vs weak) bundle into one two-stage bundle."""
    from ielmscan.model.bundle import attach_layer2, load_bundle, save_bundle

    first, second = load_bundle(layer1), load_bundle(layer2)
    save_bundle(attach_layer2(first, second), output, (*first.folders(), *second.folders()), force)
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
    device: Device = "auto",
) -> None:
    """Fit and calibrate the linear k-mer first stage that `scan --fast` uses, and store it in a bundle."""
    from ielmscan.model.bundle import load_bundle, save_bundle
    from ielmscan.learn.cascade import fit_cascade
    from ielmscan.learn.dataset import load_labelled

    bundle = load_bundle(bundle_dir)
    bundle.cascade = fit_cascade(bundle, load_labelled(pos, neg).seqs, recall=recall, device=device)
    save_bundle(bundle, bundle_dir, (pos, neg), force=True)  # its job: rewrite the bundle it was given
    cal = bundle.cascade.calibration
    typer.echo(f"ielmscan: added a cascade to {bundle_dir}: {cal['training_recall']:.1%} of the ensemble's calls "
               f"and {cal['training_pass_fraction']:.1%} of all training sequences pass", err=True)


@model_app.command("calibrate")
@friendly_errors
def model_calibrate(
    bundle_dir: Annotated[Path, typer.Argument(help="Bundle to calibrate (rewritten in place).", file_okay=False)],
    background: Annotated[Path, typer.Option("--background", metavar="GENOME", help="Background genome FASTA "
                                             "(plain or bgzip) to sample windows from.", exists=True,
                                             dir_okay=False)],
    windows: Annotated[int, typer.Option("--windows", min=1000, help="Background windows to score.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the window sample.")] = 0,
    device: Device = "auto",
) -> None:
    """Store the bundle's score distribution on a background genome: scans then give p- and q-values and call
    regions by p-value (`scan --max-p`). A `--fast` first stage is refitted on the same windows."""
    from ielmscan.learn.calibrate import calibrate
    from ielmscan.learn.cascade import fit_cascade
    from ielmscan.model.bundle import load_bundle, save_bundle

    bundle = load_bundle(bundle_dir)
    bundle.calibration, seqs = calibrate(bundle, background, windows=windows, seed=seed, device=device)
    if bundle.cascade is not None:
        # Its threshold kept 99 % of the calls at the old call threshold; calls now come from p-values.
        bundle.cascade = fit_cascade(bundle, seqs, seed=seed, device=device, ks=tuple(bundle.cascade.ks))
    save_bundle(bundle, bundle_dir, (background,), force=True)  # its job: rewrite the bundle it was given
    typer.echo(f"ielmscan: calibrated {bundle_dir} on {bundle.calibration.windows:,} windows of {background}; "
               f"p <= 0.01 at score {bundle.calibration.threshold(0.01):.4f}", err=True)


@model_app.command("info")
@friendly_errors
def model_info(
    bundle_dir: Annotated[
        Optional[Path], typer.Argument(help="Bundle directory \\[default: the bundled trained model].")
    ] = None,
) -> None:
    """Print a bundle's members, sizes, threshold and provenance."""
    from ielmscan.model.bundle import describe

    typer.echo(describe(load_model(bundle_dir)))
