"""`ielmscan variants`: each SNV and short indel's effect on the ensemble's score, and its one-line summary."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ielmscan.cli.common import (INPUT, OUTPUT, PERF, SCAN, Device, Force, ModelDir, ScoringBatch, ScoringThreads,
                                 app, friendly_errors, load_model, progress_bar)
from ielmscan.inference.devices import Precision

__all__ = ["variants", "summary_line"]


@app.command(no_args_is_help=True)
@friendly_errors
def variants(
    fasta: Annotated[Path, typer.Argument(help="Genome FASTA, plain or bgzip-compressed; a missing .fai index is "
                                               "built.", exists=True, dir_okay=False, readable=True,
                                          rich_help_panel=INPUT)],
    vcf: Annotated[Path, typer.Argument(help="Variants: VCF (plain, gzip or bgzip) or BCF, sorted by position.",
                                        exists=True, dir_okay=False, readable=True, rich_help_panel=INPUT)],
    model: ModelDir = None,
    stride: Annotated[int, typer.Option("--stride", "-s", min=1, rich_help_panel=SCAN,
                                        help="The scan's grid: windows start every this many bases from each "
                                             "chromosome's start; 1 scores every window overlapping a variant.")] = 50,
    max_n_frac: Annotated[float, typer.Option("--max-n-frac", min=0.0, max=1.0, rich_help_panel=SCAN,
                                              help="Leave out windows with more than this fraction of N/IUPAC "
                                                   "bases.")] = 0.1,
    max_allele_length: Annotated[int, typer.Option("--max-allele-length", min=1, rich_help_panel=SCAN,
                                                   help="A longer REF or ALT is a structural variant, "
                                                        "skipped.")] = 50,
    rc: Annotated[bool, typer.Option("--rc/--no-rc", help="Average each window's score with its reverse "
                                     "complement's.", rich_help_panel=SCAN)] = True,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", metavar="PREFIX", rich_help_panel=OUTPUT,
        help="Write PREFIX.tsv, PREFIX.vcf.gz (+ .tbi) and PREFIX.json \\[default: VCF name + .ielmscan, in the "
             "current folder].")] = None,
    force: Force = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary line.",
                                        rich_help_panel=OUTPUT)] = False,
    device: Device = "auto",
    precision: Annotated[Precision, typer.Option("--precision", rich_help_panel=PERF,
                                                 help="fp32 by default: allele differences are small, and bf16 "
                                                      "moves scores about as much.")] = Precision.fp32,
    batch_size: ScoringBatch = None,
    threads: ScoringThreads = None,
) -> None:
    """Score variants: each allele's windows against the reference's (max, mean, calibrated), as TSV and VCF."""
    from ielmscan.inference.scorer import ScorerSettings
    from ielmscan.inference.variants import VariantParams, default_prefix, run_variants

    bundle = load_model(model)
    if stride > bundle.window:
        raise typer.BadParameter(f"stride {stride} is larger than the model's window {bundle.window}",
                                 param_hint="'--stride'")
    params = VariantParams(stride=stride, max_n_frac=max_n_frac, max_allele_length=max_allele_length,
                           scorer=ScorerSettings(device=device, precision=precision, batch_size=batch_size,
                                                 reverse_complement=rc, threads=threads))
    prefix = output if output is not None else default_prefix(vcf)
    manifest = run_variants(fasta, vcf, bundle, params, prefix, progress_factory=progress_bar(quiet, unit="rec"),
                            force=force)
    if not quiet:
        typer.echo(summary_line(manifest), err=True)


def summary_line(manifest: dict[str, Any]) -> str:
    skipped = {reason: n for reason, n in manifest["skipped"].items() if n}
    why = f" ({', '.join(f'{n:,} {reason}' for reason, n in skipped.items())})" if skipped else ""
    return (f"ielmscan: {manifest['records']:,} record(s), {manifest['alleles']:,} allele(s): {manifest['scored']:,} "
            f"scored, {sum(skipped.values()):,} skipped{why}; {manifest['windows_scored']:,} windows in "
            f"{manifest['wall_seconds']:.1f} s → {', '.join(manifest['outputs'].values())}")
