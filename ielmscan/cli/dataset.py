"""`ielmscan dataset build | audit`: make labelled training sets, and check any set for duplicates and GC bias."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ielmscan.cli.common import DEFAULT_WINDOW, INPUT, OUTPUT, Force, app, fail, friendly_errors
from ielmscan.errors import IelmscanError

dataset_app = typer.Typer(help="Build training sets (peaks, FASTA, GC-matched background) and audit them.",
                          no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")

WINDOWS, BACKGROUND, SPLITS, CHECKS = "Windows", "Background", "Splits", "Checks"
InFile = dict(exists=True, dir_okay=False)  # every input is a file that must exist


@dataset_app.command(no_args_is_help=True)
@friendly_errors
def build(
    *,
    peaks: Annotated[Optional[Path], typer.Option("--peaks", help="Positive regions, BED or narrowPeak (windows "
                                                  "centred on the summit, column 10, or else the centre); needs "
                                                  "--genome.", rich_help_panel=INPUT, **InFile)] = None,
    genome: Annotated[Optional[Path], typer.Option("--genome", "-g", help="Genome FASTA (plain or bgzip): the "
                                                   "peaks' sequence, and where background is drawn.",
                                                   rich_help_panel=INPUT, **InFile)] = None,
    pos_fasta: Annotated[Optional[list[Path]], typer.Option("--pos-fasta", metavar="FASTA", help="Positive sequences, FASTA "
                                                            "(repeatable).", rich_help_panel=INPUT, **InFile)] = None,
    neg_fasta: Annotated[Optional[list[Path]], typer.Option("--neg-fasta", metavar="FASTA", help="Negative sequences, FASTA "
                                                            "(repeatable).", rich_help_panel=INPUT, **InFile)] = None,
    blacklist: Annotated[Optional[Path], typer.Option("--blacklist", help="BED of regions no background window may "
                                                      "touch.", rich_help_panel=INPUT, **InFile)] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write: train/val/test .pos.fa and .neg.fa, "
                                         "dataset.json.", rich_help_panel=OUTPUT)],
    window: Annotated[int, typer.Option("--window", min=1, help="Window length: longer FASTA records are cut to "
                                        "their centre, shorter ones dropped.", rich_help_panel=WINDOWS)] = DEFAULT_WINDOW,
    max_n_frac: Annotated[float, typer.Option("--max-n-frac", min=0.0, max=0.99, help="Drop windows with a larger "
                                              "share of N/IUPAC bases.", rich_help_panel=WINDOWS)] = 0.0,
    background_ratio: Annotated[float, typer.Option("--background-ratio", min=0.0, help="Background windows per "
                                                    "positive, GC-matched, drawn from --genome (0: none).",
                                                    rich_help_panel=BACKGROUND)] = 1.0,
    margin: Annotated[int, typer.Option("--margin", min=0, help="Bases kept free of background on each side of a "
                                        "positive with coordinates.", rich_help_panel=BACKGROUND)] = 1000,
    gc_bins: Annotated[int, typer.Option("--gc-bins", min=1, max=1000, help="GC bins for matching (50: width "
                                         "0.02).", rich_help_panel=BACKGROUND)] = 50,
    background_spacing: Annotated[Optional[int], typer.Option(
        "--background-spacing", min=1, show_default=False, rich_help_panel=BACKGROUND,
        help="Least distance between two background windows' starts \\[default: the window, so none overlap]")] = None,
    val_chrom: Annotated[Optional[list[str]], typer.Option("--val-chrom", metavar="NAME", help="Records on this sequence go to "
                                                           "validation (repeatable).", rich_help_panel=SPLITS)] = None,
    test_chrom: Annotated[Optional[list[str]], typer.Option("--test-chrom", metavar="NAME", help="Records on this sequence go to "
                                                            "test (repeatable).", rich_help_panel=SPLITS)] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction", min=0.0, max=0.9, help="Share of each class held "
                                                "out for validation (of the records no --*-chrom places).",
                                                rich_help_panel=SPLITS)] = 0.1,
    test_fraction: Annotated[float, typer.Option("--test-fraction", min=0.0, max=0.9, help="Share of each class "
                                                 "held out for test (likewise).", rich_help_panel=SPLITS)] = 0.1,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed for the background and the splits.",
                                      rich_help_panel=SPLITS)] = 0,
    force: Force = False,
) -> None:
    """Build a labelled training set: positives, negatives (FASTA and/or GC-matched genome background), splits."""
    from ielmscan.learn.dataset_build import build_dataset
    from ielmscan.learn.dataset_request import BuildRequest, check_request
    from ielmscan.learn.dataset_manifest import summary_table

    request = BuildRequest(
        output=output, genome=genome, peaks=peaks, pos_fastas=pos_fasta or [], neg_fastas=neg_fasta or [],
        blacklist=blacklist, window=window, background_ratio=background_ratio, margin=margin, max_n_frac=max_n_frac,
        gc_bins=gc_bins, background_spacing=background_spacing, val_chroms=val_chrom or [], test_chroms=test_chrom or [],
        val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, force=force,
        command=["ielmscan", *sys.argv[1:]],
    )
    try:
        check_request(request)
    except IelmscanError as exc:  # a bad combination of options: exit 2, like any other option error
        raise fail(str(exc), 2) from None
    result = build_dataset(request)
    typer.echo(summary_table(result.manifest))
    typer.echo(f"ielmscan: wrote {output}/ ({', '.join(result.manifest['files'])}, dataset.json)", err=True)


@dataset_app.command(no_args_is_help=True)
@friendly_errors
def audit(
    fastas: Annotated[list[Path], typer.Argument(help="FASTA files to check, within and across each other.",
                                                 **InFile)],
    near_k: Annotated[int, typer.Option("--near-k", min=8, max=32, help="Records sharing a k-mer this long (either "
                                        "strand) are near duplicates.", rich_help_panel=CHECKS)] = 32,
    near_min_kmers: Annotated[int, typer.Option("--near-min-kmers", min=1, help="Near duplicates share at least this many "
                                                "distinct k-mers (above 1, pairs that share only a piece of a common "
                                                "repeat are not counted).", rich_help_panel=CHECKS)] = 1,
    examples: Annotated[int, typer.Option("--examples", min=0, help="Example pairs listed per kind.",
                                          rich_help_panel=OUTPUT)] = 5,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the full report as JSON.",
                                                     dir_okay=False, rich_help_panel=OUTPUT)] = None,
    force: Force = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when an exact or reverse-complement duplicate "
                                         "spans two files.", rich_help_panel=CHECKS)] = False,
) -> None:
    """Duplicates (exact, reverse-complement, near), composition, and how well GC alone separates the files."""
    from ielmscan.io.atomic_outputs import OutputSet
    from ielmscan.io.writers import write_manifest
    from ielmscan.learn.audit import audit_files, audit_table, cross_file_duplicates

    if len({path.resolve() for path in fastas}) < len(fastas):
        raise fail("a file is named twice: give each FASTA once", 2)
    # Checked before the audit: the JSON must replace neither a FASTA nor, without --force, an earlier report.
    json_output = OutputSet(json_out, ("",), inputs=fastas, force=force) if json_out is not None else None
    report = audit_files(fastas, k=near_k, examples=examples, min_shared=near_min_kmers)
    typer.echo(audit_table(report))
    if json_output is not None:
        with json_output:
            write_manifest(json_output.temp(""), report)
    found = cross_file_duplicates(report)
    if strict and found:
        raise fail(f"{found} exact or reverse-complement duplicate pair(s) span two files", 1)
