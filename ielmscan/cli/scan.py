"""`ielmscan scan` (or just `ielmscan FASTA`): the main job, and its one-line summary."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ielmscan.cli.common import (CLUSTER, INPUT, MODEL, OUTPUT, PERF, SCAN, Bedgraph, Force, ModelDir, ScanDevices, ScoringBatch,
                                 ScoringThreads, ScoringWorkers, Tabix, app, friendly_errors, load_model, progress_bar)
from ielmscan.errors import InputError
from ielmscan.inference.devices import Precision

__all__ = ["merge", "scan", "shard_summary_line", "summary_line"]


@app.command(no_args_is_help=True)
@friendly_errors
def scan(
    fasta: Annotated[
        Path,
        typer.Argument(
            help="Genome FASTA, plain or bgzip-compressed; a missing .fai index is built.",
            rich_help_panel=INPUT,  # the genome reader checks it: one line, and it says why '-' cannot be
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
    blacklist: Annotated[
        Optional[Path],
        typer.Option(
            "--blacklist", metavar="BED", help="Score no window overlapping these intervals (BED, 0-based; e.g. "
            "an ENCODE blacklist): gaps in the track, counted in the manifest.",
            exists=True, dir_okay=False, readable=True, rich_help_panel=INPUT,
        ),
    ] = None,
    model: ModelDir = None,
    threshold: Annotated[
        Optional[float],
        typer.Option("--threshold", "-t", min=0.0, max=1.0,
                     help="Call bins scoring at least this probability, instead of by p-value \\[default: from "
                          "--max-p; the model's own threshold if it has no calibration].",
                     rich_help_panel=MODEL),
    ] = None,
    max_p: Annotated[
        float,
        typer.Option("--max-p", min=0.0, max=1.0,
                     help="Call bins whose empirical p-value against the model's background genome is at most "
                          "this (0 < P <= 1).",
                     rich_help_panel=MODEL),
    ] = 0.01,
    window: Annotated[
        Optional[int], typer.Option("--window", "-w", min=1, show_default=False, rich_help_panel=SCAN,
                                    help="Window length in bases \\[default: the model's window, its training length].")
    ] = None,
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
                     help="Write PREFIX.bed (narrowPeak), PREFIX.bw and PREFIX.json; a folder (DIR/, or an existing "
                          "one) gets them named after the FASTA (DIR/hg38.ielmscan.bed); '-' writes the BED to "
                          "stdout when the scan ends and writes nothing else \\[default: FASTA name + .ielmscan, in "
                          "the current folder].",
                     rich_help_panel=OUTPUT),
    ] = None,
    bedgraph: Bedgraph = False,
    tabix: Tabix = False,
    force: Force = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary line.", rich_help_panel=OUTPUT)
    ] = False,
    shard: Annotated[
        Optional[str],
        typer.Option("--shard", metavar="i/N", help="Score only shard i of N (a balanced share of the windows; "
                     "a chromosome may be split) into PREFIX.scores and PREFIX.json; join the N shards with "
                     "`ielmscan merge`.", rich_help_panel=CLUSTER),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run of the same command from "
                           "PREFIX.checkpoint (kept after a kill, SIGTERM or a failure); without one, start.",
                           rich_help_panel=CLUSTER)
    ] = False,
    device: ScanDevices = "auto",
    precision: Annotated[
        Precision, typer.Option("--precision", help="bf16 autocast where the device does it natively (auto), or force one.",
                                rich_help_panel=PERF)
    ] = Precision.auto,
    batch_size: ScoringBatch = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1000, help="Bases read and encoded at a time (bounds memory).",
                          rich_help_panel=PERF)
    ] = 1_000_000,
    compile_model: Annotated[
        bool, typer.Option("--compile/--no-compile", help="torch.compile the encoders: seconds to minutes of "
                           "start-up; scores one batch at a time (for GPUs; on a CPU the default workers are "
                           "as fast).", rich_help_panel=PERF)
    ] = False,
    threads: ScoringThreads = None,
    workers: ScoringWorkers = None,
) -> None:
    """Scan a genome: enhancer regions (narrowPeak BED), a score track (bigWig) and a run manifest (JSON)."""
    for flag, given in (("--bedgraph", bedgraph), ("--tabix", tabix), ("--shard", shard is not None),
                        ("--resume", resume)):
        if given and output == "-":
            raise typer.BadParameter(f"{flag} writes files: give -o PREFIX instead of '-'", param_hint=f"'{flag}'")
    for flag, given in (("--bedgraph", bedgraph), ("--tabix", tabix)):
        if shard is not None and given:
            raise typer.BadParameter(f"a shard writes window scores only: give {flag} to `ielmscan merge`",
                                     param_hint=f"'{flag}'")
    if max_p <= 0:
        raise typer.BadParameter(f"{max_p} is not above 0", param_hint="'--max-p'")
    if window is not None:
        check_geometry(window, stride, chunk_size)
    from ielmscan.inference.devices import device_names

    try:
        device_names(device, workers)
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--device' / '--workers'") from None
    from ielmscan.errors import BundleError
    from ielmscan.inference.plan import Shard
    from ielmscan.inference.scan import ScanParams, default_prefix, run_scan
    from ielmscan.inference.scorer import ScorerSettings
    from ielmscan.model.bundle import check_window

    bundle = load_model(model)
    if window is None:
        window = bundle.window
        check_geometry(window, stride, chunk_size)
    try:
        check_window(bundle, window)
    except BundleError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--window'") from None
    params = ScanParams(
        window=window, stride=stride, max_n_frac=max_n_frac, threshold=threshold, max_p=max_p, chunk_size=chunk_size,
        fast=fast,
        scorer=ScorerSettings(device=device, precision=precision, batch_size=batch_size, reverse_complement=rc,
                              compile=compile_model, threads=threads, workers=workers),
    )
    prefix = output if output is not None else default_prefix(fasta)  # run_scan writes inside a folder
    try:
        part = Shard.parse(shard) if shard is not None else None
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--shard'") from None
    manifest = run_scan(
        fasta, bundle, params, prefix, chroms=chrom, exclude=exclude_chrom, regions_bed=regions,
        progress_factory=progress_bar(quiet), bedgraph=bedgraph, force=force, shard=part, resume=resume,
        blacklist_bed=blacklist, tabix=tabix,
    )
    if not quiet:
        typer.echo(shard_summary_line(manifest) if part is not None else summary_line(manifest), err=True)


@app.command(no_args_is_help=True)
@friendly_errors
def merge(
    shards: Annotated[
        list[str], typer.Argument(metavar="SHARD_PREFIX...", help="The -o PREFIX of every shard of one run "
                                  "(`ielmscan scan --shard i/N -o PREFIX`), in any order.", show_default=False)
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="PREFIX", help="Write PREFIX.bed, PREFIX.bw and PREFIX.json, "
                          "as one unsplit scan would; '-' writes the BED to stdout.", rich_help_panel=OUTPUT)
    ],
    model: Annotated[
        Optional[Path], typer.Option("--model", "-m", file_okay=False, help="The model the shards were scored "
                                     "with, where it is no longer at the path they recorded (its sha256 must "
                                     "match) \\[default: that path].", rich_help_panel=MODEL, show_default=False)
    ] = None,
    bedgraph: Bedgraph = False,
    tabix: Tabix = False,
    force: Force = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No summary line.", rich_help_panel=OUTPUT)
    ] = False,
) -> None:
    """Join the shards of a split scan into the BED, bigWig and manifest of one run (identical to an unsplit scan)."""
    from ielmscan.inference.merge import run_merge

    for flag, given in (("--bedgraph", bedgraph), ("--tabix", tabix)):
        if given and output == "-":
            raise typer.BadParameter(f"{flag} writes files: give -o PREFIX instead of '-'", param_hint=f"'{flag}'")
    manifest = run_merge(shards, output, model=model, bedgraph=bedgraph, force=force, tabix=tabix)
    if not quiet:
        typer.echo(summary_line(manifest), err=True)


def shard_summary_line(manifest: dict[str, Any]) -> str:
    shard, outputs = manifest["shard"], manifest["outputs"]
    return (f"ielmscan: shard {shard['index']}/{shard['count']}: {manifest['windows']:,} windows in "
            f"{manifest['chunks']:,} chunk(s), {manifest['bases']:,} bp; {manifest['wall_seconds']:.1f} s → "
            f"{', '.join(outputs.values())} (join the shards with `ielmscan merge`)")


def check_geometry(window: int, stride: int, chunk_size: int) -> None:
    """Option errors (exit 2) for a stride or chunk that does not fit the window."""
    if stride > window:
        raise typer.BadParameter(f"stride {stride} is larger than the window {window}", param_hint="'--stride'")
    if chunk_size < window:
        raise typer.BadParameter(f"chunk size {chunk_size} is smaller than the window {window}",
                                 param_hint="'--chunk-size'")


# Above this share of the wall time spent waiting for input, the summary says the model was held back.
INPUT_BOUND_SHARE = 0.2


def summary_line(manifest: dict[str, Any]) -> str:
    outputs = manifest["outputs"]
    where = "stdout" if outputs.get("bed") == "-" else ", ".join(outputs.values())
    rate = manifest["windows_per_second"]
    blacklisted = (f"{manifest['windows_blacklisted']:,} blacklisted, "
                   if manifest.get("windows_blacklisted") else "")
    wall, waited = manifest["wall_seconds"], manifest["input_wait_seconds"]
    # Worth saying on a fast device or a slow filesystem: the model, not the input, should set the pace.
    held_back = (f"; the model waited {waited:.1f} s ({waited / wall:.0%}) for reading and encoding"
                 if wall > 0 and waited / wall >= INPUT_BOUND_SHARE else "")
    return (
        f"ielmscan: {manifest['bases']:,} bp in {len(manifest['chromosomes'])} chromosome(s): "
        f"{manifest['windows_scanned']:,} windows scored, {manifest['windows_skipped']:,} skipped (N), "
        f"{blacklisted}"
        f"{manifest['regions']:,} regions ({manifest['share_called']:.2%} of scored bases) at threshold "
        f"{manifest['parameters']['threshold']:.3f}; "
        f"{wall:.1f} s ({rate:,.0f} windows/s){held_back} → {where}"
    )
