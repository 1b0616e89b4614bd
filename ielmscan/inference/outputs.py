"""A scan's outputs from its finished intervals (BED, bigWig, bedGraph, manifest), and what identifies a run.

One writer for a scan and for `ielmscan merge`: the merged outputs of shards are the single run's outputs
because they come from the same window scores through the same code. The run key is what a resumed scan
and the shards of a merge must share: genome (size and index checksum), model checksum, every parameter
that decides a score or a call (the device kind among them, not the number of devices), the intervals
scanned and the blacklisted parts of them.
"""
from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ielmscan import __version__
from ielmscan.inference.calls import Caller, IntervalResult
from ielmscan.io.atomic_outputs import OutputSet
from ielmscan.io.bigwig import BigWigWriter
from ielmscan.io.genome import Genome
from ielmscan.io.intervals import Blacklist, Interval
from ielmscan.io.tabix import check_tabix_lengths
from ielmscan.io.writers import Region, write_bedgraph, write_manifest, write_narrowpeak
from ielmscan.model.bundle import Bundle

if TYPE_CHECKING:
    from ielmscan.inference.params import ScanParams
    from ielmscan.inference.scorer_pool import ScorerPool

OUTPUT_SUFFIXES = (".bed", ".bw", ".json")  # the manifest last: its presence marks a complete set
BEDGRAPH_SUFFIX = ".bedGraph"
# Parameters that may differ between a resumed run or the shards of a merge: they do not change a score.
# (The blacklist's path neither: the key holds its intervals.)
UNKEYED_PARAMETERS = ("scoring_workers", "threads_per_worker", "devices", "blacklist")


def run_description(fasta: Path, genome: Genome, bundle: Bundle, params: ScanParams, scorers: ScorerPool,
                    caller: Caller, intervals: list[Interval], blacklist: Blacklist | None = None) -> dict[str, Any]:
    """What the manifest says of a run before anything is scored, and the run's key (``description["key"]``)."""
    parameters = {
        **{k: v for k, v in asdict(params).items() if k != "scorer"},
        "threshold": caller.threshold,
        "reverse_complement": params.scorer.reverse_complement,
        "batch_size": scorers.batch_size,
        "compile": params.scorer.compile,
        "scoring_workers": scorers.workers,
        "threads_per_worker": scorers.threads_per_worker,
        "device": scorers.kind,  # cpu or cuda: a chunk scores the same on any device of the kind
        "devices": scorers.devices,
        "precision": scorers.precision.value,
        "blacklist": str(blacklist.path) if blacklist is not None else None,
    }
    model = bundle.manifest_entry()
    calls = {
        "rule": caller.rule,
        "calibration": caller.calibration.to_json() if caller.calibration is not None else None,
        "track": "bigWig value of a bin: mean ensemble probability (0-1) of the scored windows overlapping it",
        "p_value": ("narrowPeak pValue: -log10 of the best bin's share of background windows scoring at least "
                    "as high" if caller.calibration is not None else "not computed (-1): no calibration"),
        "q_value": ("narrowPeak qValue: -log10 of the best bin's Benjamini-Hochberg q-value over all scored bins "
                    "of the run" if caller.calibration is not None else "not computed (-1): no calibration"),
    }
    key = {
        "genome": genome_identity(genome),
        "model_sha256": bundle.checksum,
        "parameters": {k: v for k, v in parameters.items() if k not in UNKEYED_PARAMETERS},
        "intervals": [[i.chrom, i.start, i.end] for i in intervals],
        "chrom_sizes": track_header(genome, intervals),
        # The blacklisted parts of the scanned intervals: what decides which windows are not scored.
        "blacklist": [[i.chrom, i.start, i.end] for i in blacklist.intervals] if blacklist is not None else [],
    }
    return {"genome": str(fasta), "model": model, "parameters": parameters, "calls": calls, "key": key}


def genome_identity(genome: Genome, blocks: int = 64, block_size: int = 4096) -> dict[str, Any]:
    """The FASTA's size, its index's checksum and a checksum of ``blocks`` evenly spaced pieces of it: equal
    for copies of one genome, different for another even of the same layout, and cheap for 3 Gb."""
    path = Path(genome.path)
    size = path.stat().st_size
    sample = hashlib.sha256()
    with open(path, "rb") as fh:
        for i in range(blocks):
            fh.seek(max(0, size - block_size) * i // max(1, blocks - 1))
            sample.update(fh.read(block_size))
    return {"bytes": size, "index_sha256": hashlib.sha256(Path(genome.fai_path).read_bytes()).hexdigest(),
            "sample_sha256": sample.hexdigest()}


def track_header(genome: Genome, intervals: list[Interval]) -> list[list[Any]]:
    """bigWig header: the scanned chromosomes with their full lengths, in FASTA order."""
    scanned = {i.chrom for i in intervals}
    return [[name, length] for name, length in genome.chroms if name in scanned]


def key_difference(want: dict[str, Any], got: dict[str, Any]) -> str | None:
    """The first thing two run keys disagree on, in words; None when they agree."""
    if want["genome"] != got["genome"]:
        return "the genome (its size or index differs)"
    if want["model_sha256"] != got["model_sha256"]:
        return "the model (its sha256 differs)"
    for name in sorted(set(want["parameters"]) | set(got["parameters"])):
        a, b = want["parameters"].get(name), got["parameters"].get(name)
        if a != b:
            return f"the parameter {name} ({a} here, {b} there)"
    if want["intervals"] != got["intervals"]:
        return "the chromosomes or regions scanned"
    if want.get("blacklist", []) != got.get("blacklist", []):
        return "the blacklist (the blacklisted parts of the scanned regions differ)"
    return None


class Tally:
    """Counts per chromosome and in all, as the manifest reports them."""

    def __init__(self) -> None:
        self.per_chrom: dict[str, dict[str, int]] = {}

    def add(self, result: IntervalResult) -> None:
        entry = self.per_chrom.setdefault(
            result.interval.chrom,
            {"bases": 0, "bases_scored": 0, "bases_called": 0, "windows_scanned": 0, "windows_skipped": 0,
             "windows_blacklisted": 0, "windows_rejected_fast": 0, "regions": 0},
        )
        entry["bases"] += len(result.interval)
        entry["bases_scored"] += result.bases_scored
        entry["bases_called"] += sum(r.end - r.start for r in result.regions)
        entry["windows_rejected_fast"] += result.windows_rejected
        entry["windows_scanned"] += result.windows_scored
        entry["windows_skipped"] += result.windows_skipped
        entry["windows_blacklisted"] += result.windows_blacklisted
        entry["regions"] += len(result.regions)

    def total(self, name: str) -> int:
        return sum(c[name] for c in self.per_chrom.values())


def manifest(description: dict[str, Any], tally: Tally, total_bases: int, wall: float, input_wait: float,
             outputs: dict[str, str]) -> dict[str, Any]:
    bases_scored, bases_called = tally.total("bases_scored"), tally.total("bases_called")
    scanned = tally.total("windows_scanned")
    return {
        "ielmscan_version": __version__,
        "command": sys.argv,
        "genome": description["genome"],
        "model": description["model"],
        "parameters": description["parameters"],
        "calls": description["calls"],
        "chromosomes": tally.per_chrom,
        "bases": total_bases,
        "windows_scanned": scanned,
        "windows_skipped": tally.total("windows_skipped"),
        "windows_blacklisted": tally.total("windows_blacklisted"),
        "windows_rejected_fast": tally.total("windows_rejected_fast"),
        "regions": tally.total("regions"),
        "bases_scored": bases_scored,
        "bases_called": bases_called,
        "share_called": round(bases_called / bases_scored, 6) if bases_scored else 0.0,
        "wall_seconds": round(wall, 3),
        "windows_per_second": round(scanned / wall, 1) if wall > 0 else None,
        "input_wait_seconds": round(input_wait, 3),
        "outputs": outputs,
    }


def write_outputs(
    prefix: str,
    results: Iterable[IntervalResult],
    caller: Caller,
    description: dict[str, Any],
    total_bases: int,
    timing: Callable[[], tuple[float, float]],
    *,
    inputs: Iterable[Path | str | None] = (),
    bedgraph: bool = False,
    tabix: bool = False,
    force: bool = False,
    stdout: TextIO | None = None,
    on_complete: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Consume ``results`` (intervals in run order) into PREFIX.bed, .bw (.bedGraph) and .json, all or none.

    ``tabix`` writes PREFIX.bed.gz (and PREFIX.bedGraph.gz) with a tabix index each (``.tbi``) instead of the
    text files. Both are in run order, intervals in FASTA order then by start: each chromosome's lines are
    together and their starts increase, as tabix needs. With ``prefix == "-"`` the regions go to ``stdout``
    once every interval is done (q-values need every bin) and nothing else is written. ``timing()`` gives
    (wall seconds, input wait seconds) at the end; ``on_complete`` runs once the outputs are in place (a scan
    removes its checkpoint there).
    """
    tally = Tally()
    regions: list[Region] = []
    stride = description["parameters"]["stride"]
    if prefix == "-":
        for result in results:
            regions += result.regions
            tally.add(result)
        out = stdout or sys.stdout
        write_narrowpeak(out, caller.with_q_values(regions))
        out.flush()
        if on_complete is not None:
            on_complete()
        return manifest(description, tally, total_bases, *timing(), {"bed": "-"})
    chrom_sizes = [(name, length) for name, length in description["key"]["chrom_sizes"]]
    bed, track = (".bed.gz", f"{BEDGRAPH_SUFFIX}.gz") if tabix else (".bed", BEDGRAPH_SUFFIX)
    texts = [bed, *([track] if bedgraph else [])]
    indexes = {text: [f"{text}.tbi"] if tabix else [] for text in texts}  # committed with their files
    suffixes = (bed, *indexes[bed], ".bw", *(s for t in texts[1:] for s in (t, *indexes[t])), OUTPUT_SUFFIXES[-1])
    if tabix:
        check_tabix_lengths(chrom_sizes)
    with OutputSet(prefix, suffixes, inputs=inputs, force=force) as outset:
        with ExitStack() as files:
            bw = files.enter_context(BigWigWriter(outset.temp(".bw"), chrom_sizes))
            text_track = files.enter_context(outset.open(track)) if bedgraph else None
            for result in results:
                iv = result.interval
                bw.add_bins(iv.chrom, iv.start, iv.end, stride, result.bins)
                if text_track is not None:
                    write_bedgraph(text_track, iv.chrom, iv.start, iv.end, stride, result.bins)
                regions += result.regions
                tally.add(result)
        with outset.open(bed) as calls:
            write_narrowpeak(calls, caller.with_q_values(regions))
        if tabix:
            for text in texts:
                outset.tabix_index(text)
        outputs = {s.lstrip("."): str(outset.final(s)) for s in suffixes}
        result_manifest = manifest(description, tally, total_bases, *timing(), outputs)
        write_manifest(outset.temp(".json"), result_manifest)
    if on_complete is not None:
        on_complete()
    return result_manifest
