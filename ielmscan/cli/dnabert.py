"""`ielmscan import-dnabert`: DNABERT / iEnhancer-ELM checkpoint folders into a bundle, one member per folder."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ielmscan.cli.common import DEFAULT_WINDOW, INPUT, OUTPUT, Force, Window, app, fail, friendly_errors


@app.command("import-dnabert")
@friendly_errors
def import_dnabert(
    folders: Annotated[list[Path], typer.Argument(
        metavar="DIR", show_default=False,
        help="Hugging Face model folders (config.json, vocab.txt, model.safetensors or pytorch_model.bin), one "
             "member each: iEnhancer-ELM's fine-tuned models (head classifier1/classifier2 inside), or plain "
             "DNABERT models with --head.")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="BUNDLE", rich_help_panel=OUTPUT,
                                         help="Bundle directory to write.")],
    head: Annotated[Optional[list[Path]], typer.Option(
        "--head", metavar="FILE", show_default=False, rich_help_panel=INPUT,
        help="The iEnhancer-ELM head (classifier1.*, classifier2.*; safetensors, or a state dict read with "
             "torch.load(weights_only=True)) of a plain DNABERT folder. Give it once per DIR, in the same order.")]
    = None,
    window: Window = DEFAULT_WINDOW,
    force: Force = False,
) -> None:
    """Import DNABERT k-mer checkpoints (iEnhancer-ELM's fine-tuned models) as a bundle the scanner runs: k and
    the k-mer order come from each folder's vocab.txt, and each member computes iEnhancer-ELM's probability."""
    heads = list(head or [])
    if heads and len(heads) != len(folders):
        raise fail(f"--head given {len(heads)} time(s) for {len(folders)} DIR(s): give one head file per folder, in "
                   "the same order, or none", 2)
    from ielmscan.model.bundle import bundle_output, save_bundle
    from ielmscan.model.dnabert import import_dnabert as build

    inputs = [*folders, *heads]
    bundle_output(output, inputs, force)  # refuse a bad output before reading gigabytes of weights
    bundle = build(folders, heads, window=window)
    save_bundle(bundle, output, inputs, force)
    shape = bundle.members[0].config
    typer.echo(f"ielmscan: wrote bundle {output}: k = {','.join(map(str, bundle.ks))} from {len(folders)} "
               f"checkpoint(s) ({shape.num_layers} layers, hidden {shape.hidden_size}), window {window} bp", err=True)
