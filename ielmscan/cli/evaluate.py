"""`ielmscan evaluate`: how well a model separates labelled sequences (beside the GC and k-mer baselines), or
how well a genome scan finds known elements (beside GC content)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ielmscan.cli.common import INPUT, MODEL, OUTPUT, Device, Force, ModelDir, app, fail, friendly_errors, load_model

USAGE = "give --pos FASTA --neg FASTA (labelled sequences) or --scan PREFIX --truth BED (a genome scan)"


@app.command(no_args_is_help=True)
@friendly_errors
def evaluate(
    pos: Annotated[Optional[Path], typer.Option("--pos", help="Positive sequences, FASTA.", exists=True,
                                                dir_okay=False, rich_help_panel=INPUT)] = None,
    neg: Annotated[Optional[Path], typer.Option("--neg", help="Negative sequences, FASTA.", exists=True,
                                                dir_okay=False, rich_help_panel=INPUT)] = None,
    scan: Annotated[Optional[list[str]], typer.Option("--scan", metavar="PREFIX", rich_help_panel=INPUT,
                                                      help="Evaluate a genome scan instead: its PREFIX.bw, "
                                                      "PREFIX.bed and PREFIX.json; repeat to pool several scans "
                                                      "(e.g. genome pieces) into one report, with a line per "
                                                      "scan.")] = None,
    truth: Annotated[Optional[list[Path]], typer.Option("--truth", metavar="BED", rich_help_panel=INPUT,
                                                        help="With --scan: known elements (e.g. enhancers); "
                                                        "repeat to join several files. Intervals on sequences "
                                                        "a scan's genome lacks are ignored for that scan.")] = None,
    control: Annotated[Optional[list[Path]], typer.Option("--control", metavar="BED", rich_help_panel=INPUT,
                                                          help="With --scan: a control set reported beside the "
                                                          "truth (e.g. promoters); repeat to join several "
                                                          "files.")] = None,
    genome: Annotated[Optional[list[Path]], typer.Option("--genome", metavar="FASTA", rich_help_panel=INPUT,
                                                         help="With --scan: the genome scanned, once per --scan "
                                                         "in their order \\[default: the one named in each "
                                                         "PREFIX.json].")] = None,
    model: ModelDir = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder for metrics.json, roc.png and "
                                                   "pr.png (with --scan: genome_metrics.json and ROC/PR plots "
                                                   "per set).", file_okay=False, rich_help_panel=OUTPUT)] = None,
    force: Force = False,
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="Add the GC and k-mer baselines "
                                            "(5-fold CV on these sequences).", rich_help_panel=MODEL)] = True,
    device: Device = "auto",
) -> None:
    """Metrics of a model on labelled sequences (Acc, Sn, Sp, MCC, AUROC, GC-controlled AUROC, AUPRC, F1)
    beside two baselines; or, with --scan, of a genome scan (several pooled, with a line per scan) against
    known elements, beside GC content."""
    labelled = pos is not None or neg is not None
    if labelled and scan:
        raise fail(f"--pos/--neg and --scan are two modes: {USAGE}, not both", 2)
    if not labelled and not scan:
        raise fail(USAGE, 2)
    if labelled:
        if pos is None or neg is None:
            raise fail(f"--{'neg' if pos is not None else 'pos'} is missing: {USAGE}", 2)
        given = [name for name, value in (("--truth", truth), ("--control", control), ("--genome", genome))
                 if value]
        if given:
            raise fail(f"{', '.join(given)} only apply with --scan: {USAGE}", 2)
    else:
        if not truth:
            raise fail("--scan needs at least one --truth BED (known elements to find)", 2)
        given = [name for name, value in (("--model", model is not None), ("--no-baselines", not baselines),
                                          ("--device", device != "auto")) if value]
        if given:
            raise fail(f"{', '.join(given)} only apply with --pos/--neg: a scan's scores are in its track", 2)
        if genome and len(genome) != len(scan):
            raise fail(f"{len(genome)} --genome for {len(scan)} --scan: give one --genome per --scan, in their "
                       "order, or none (each scan's PREFIX.json names its genome)", 2)
    from ielmscan.learn.evaluate import report_folder

    if scan:
        from ielmscan.learn.genome_evaluation import evaluate_scan
        from ielmscan.learn.genome_report import REPORT_NAME, table, write_report

        inputs = [*(f"{prefix}{suffix}" for prefix in scan for suffix in (".bw", ".bed", ".json", ".bedGraph")),
                  *truth, *(control or []), *(genome or [])]
        if output is not None:
            report_folder(output, REPORT_NAME, inputs, force)  # before the evaluation, not after it
        report = evaluate_scan(scan, truth, control=control, genome=genome)
        typer.echo(table(report))
        written = write_report(report, output, inputs, force) if output is not None else []
    else:
        from ielmscan.learn.dataset import load_labelled
        from ielmscan.learn.evaluate import evaluate as run_evaluation
        from ielmscan.learn.evaluate import table as labelled_table
        from ielmscan.learn.evaluate import write_report as write_labelled

        bundle = load_model(model)
        inputs = [pos, neg, *bundle.folders()]
        if output is not None:
            report_folder(output, inputs=inputs, force=force)
        data = load_labelled(pos, neg)
        report = run_evaluation(bundle, data, device=device, baselines=baselines)
        typer.echo(labelled_table(report))
        # The share of positives among the records evaluated (N-rich ones are left out), the PR plot's chance line.
        prevalence = report["positives"] / report["n"]
        written = (write_labelled(report, output, prevalence, inputs, force) if output is not None
                   else [])
    if written:
        typer.echo(f"ielmscan: wrote {output}/{', '.join(p.name for p in written)}", err=True)
