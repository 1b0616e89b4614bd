"""`ielmscan motifs`: motifs the model attends to in positives, enriched against negatives, compared with
JASPAR (iEnhancer-ELM's interpretability analysis, adapted from DNABERT-viz)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ielmscan.cli.common import (INPUT, MODEL, OUTPUT, Device, Force, ModelDir, ScoringBatch, app, fail,
                                 friendly_errors, load_model)

MOTIFS, KNOWN = "Motif finding", "Known motifs"


@app.command(no_args_is_help=True)
@friendly_errors
def motifs(
    pos: Annotated[Path, typer.Option("--pos", help="Positive sequences (e.g. enhancers), FASTA.", exists=True,
                                      dir_okay=False, rich_help_panel=INPUT)],
    neg: Annotated[Path, typer.Option("--neg", help="Negative sequences, FASTA: the background of the "
                                      "enrichment test.", exists=True, dir_okay=False, rich_help_panel=INPUT)],
    output: Annotated[Path, typer.Option("--output", "-o", file_okay=False, rich_help_panel=OUTPUT,
                                         help="Folder for motifs.meme, motifs.tsv, matches.tsv, instances.tsv, "
                                              "a logo per motif (motif_N.png) and motifs.json.")],
    model: ModelDir = None,
    member: Annotated[Optional[str], typer.Option("--member", metavar="NAME", rich_help_panel=MODEL,
                                                  help="Analyse one member's attention (e.g. k6) \\[default: the "
                                                       "members' per-base attention averaged].")] = None,
    min_length: Annotated[int, typer.Option("--min-length", min=1, rich_help_panel=MOTIFS,
                                            help="Shortest high-attention region, bases.")] = 5,
    max_gap: Annotated[int, typer.Option("--max-gap", min=0, rich_help_panel=MOTIFS,
                                         help="Join high-attention runs at most this many bases apart.")] = 1,
    max_q: Annotated[float, typer.Option("--max-q", min=0.0, max=1.0, rich_help_panel=MOTIFS,
                                         help="Keep patterns enriched in the positives below this Benjamini-"
                                              "Hochberg adjusted hypergeometric p-value.")] = 0.005,
    width: Annotated[int, typer.Option("--width", min=1, rich_help_panel=MOTIFS,
                                       help="Motif width: every instance is cut to this many bases.")] = 10,
    min_instances: Annotated[int, typer.Option("--min-instances", min=1, rich_help_panel=MOTIFS,
                                               help="Drop motifs with fewer instances.")] = 11,
    jaspar: Annotated[str, typer.Option("--jaspar", metavar="RELEASE|FILE|none", rich_help_panel=KNOWN,
                                        help="Compare with a JASPAR release's CORE vertebrate motifs (shipped "
                                             "offline by pyjaspar), a MEME file, or none.")] = "JASPAR2026",
    top: Annotated[int, typer.Option("--top", min=1, rich_help_panel=KNOWN,
                                     help="Best matches listed per motif in matches.tsv.")] = 3,
    match_q: Annotated[float, typer.Option("--match-q", min=0.0, max=1.0, rich_help_panel=KNOWN,
                                           help="A motif matches a known one when its best Tomtom q-value is "
                                                "below this.")] = 0.05,
    force: Force = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary on the terminal.",
                                        rich_help_panel=OUTPUT)] = False,
    device: Device = "auto",
    batch_size: ScoringBatch = None,
) -> None:
    """Motifs in the positives that the model attends to and that are enriched against the negatives:
    position frequency matrices (MEME), logos, a summary, and the best JASPAR matches (Tomtom)."""
    from ielmscan.learn.jaspar import check_comparison_packages
    from ielmscan.learn.motif_report import motif_folder, run_motifs, summary, write_report
    from ielmscan.learn.motifs import MotifParams

    if jaspar.lower() == "none":
        database = None
    else:
        database = jaspar
        if not Path(jaspar).is_file() and ("/" in jaspar or jaspar.endswith((".meme", ".txt"))):
            raise fail(f"--jaspar {jaspar}: no such file", 2)
        check_comparison_packages(database)
    bundle = load_model(model)
    inputs = [pos, neg, *bundle.folders(), *([Path(jaspar)] if database and Path(jaspar).is_file() else [])]
    motif_folder(output, inputs, force)  # before the analysis, not after it
    params = MotifParams(min_length=min_length, max_gap=max_gap, max_q=max_q, width=width,
                         min_instances=min_instances)
    report = run_motifs(bundle, pos, neg, params, member=member, database=database, top=top, match_q=match_q,
                        device=device, batch_size=batch_size)
    written = write_report(report, output, inputs, force)
    if not quiet:
        typer.echo(summary(report))
        typer.echo(f"ielmscan: wrote {output}/ ({len(written)} files)", err=True)
