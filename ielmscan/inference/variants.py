"""`ielmscan variants`: how each SNV and short indel changes the ensemble's score around it.

For every ALT allele of every VCF record, two sets of windows are scored as a scan scores them (the bundle's
window, on both strands, every member), on the scan's grid (starts every ``stride`` bases from the
chromosome's start). The edit is REF → ALT without the bases both share at their start (an indel's padding
base) and then at their end (:func:`trim_alleles`):

- **reference**: the grid windows of the genome that overlap the removed bases (for an insertion, that hold
  the base after the insertion point);
- **alternative**: the grid windows of the genome with the edit applied that overlap the inserted bases (for
  a deletion, that hold the base after the deletion). Left of the edit both sequences agree, so for an SNV
  these are the same windows with one base changed; an indel shifts what lies right of it.

Each set gives its best window (max) and its mean; with a calibrated bundle also both as -log10 of the
empirical background p-value (:mod:`ielmscan.model.calibration`); and alt - ref of each. Windows are scored in
batches of many variants; a window met twice in a batch (the REF windows of a multi-allelic record, windows
of neighbouring variants) is scored once. Records that cannot be scored are reported with a reason
(:data:`~ielmscan.inference.variant_outputs.SKIP_REASONS`), never dropped. Coordinates are 0-based, half-open.
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ielmscan import __version__
from ielmscan.errors import InputError
from ielmscan.inference.devices import Precision
from ielmscan.inference.scan import default_prefix as scan_prefix
from ielmscan.inference.scorer import EnsembleScorer, ScorerSettings
from ielmscan.inference.variant_outputs import (SKIP_REASONS, AlleleScores, VariantResult, info_fields, write,
                                               write_tsv_header)
from ielmscan.io.atomic_outputs import OutputSet
from ielmscan.io.genome import Genome
from ielmscan.io.vcf import VcfReader, VcfRecord, VcfWriter, index_vcf, vcf_index_paths
from ielmscan.io.writers import write_manifest
from ielmscan.inference.windows import encode_chunk
from ielmscan.kernels.encode import encode_bases, window_invalid_fraction
from ielmscan.kernels.grid import WindowGrid
from ielmscan.model.bundle import Bundle

log = logging.getLogger(__name__)

# The manifest last: its presence marks a complete set (and lets a rerun replace the others).
OUTPUT_SUFFIXES = (".tsv", ".vcf.gz", ".vcf.gz.tbi", ".json")
BATCH_WINDOWS = 8192  # distinct windows scored together (bounds memory: ~50 MB of ids for four members)
MAX_MISMATCH_WARNINGS = 20  # REF mismatches warned one by one; beyond that only counted (a wrong genome build)
_ACGT = frozenset("ACGT")


@dataclass
class VariantParams:
    """Everything that decides the scores, recorded in the run manifest."""

    stride: int = 50  # the scan's grid: window starts every ``stride`` bases from each chromosome's start
    max_n_frac: float = 0.1  # windows with a larger fraction of N/IUPAC bases are not scored
    max_allele_length: int = 50  # a longer REF or ALT is a structural variant (the usual 50-bp line)
    # fp32 by default: the differences between alleles are small, and bf16 moves probabilities by about as much.
    scorer: ScorerSettings = field(default_factory=lambda: ScorerSettings(precision=Precision.fp32))

    def validate(self, bundle: Bundle) -> None:
        if self.stride < 1 or self.stride > bundle.window:
            raise InputError(f"stride {self.stride} must be between 1 and the model's window ({bundle.window})")
        if not 0.0 <= self.max_n_frac <= 1.0:
            raise InputError(f"--max-n-frac {self.max_n_frac} is outside [0, 1]")
        if self.max_allele_length < 1:
            raise InputError(f"allele length limit {self.max_allele_length} must be at least 1")


@dataclass
class _Planned:
    allele: int
    skip: str = ""
    ref_rows: list[int] = field(default_factory=list)  # rows of the batch's windows
    alt_rows: list[int] = field(default_factory=list)


def trim_alleles(start: int, ref: str, alt: str) -> tuple[int, str, str]:
    """The edit an allele makes: (where it starts, bases removed, bases inserted), 0-based.

    The bases REF and ALT share at their start (the VCF's padding base of an indel), then at their end, are
    no part of the edit: a window that holds only them reads the same on both alleles, so it does not count
    as covering the variant.
    """
    prefix = 0
    while prefix < min(len(ref), len(alt)) and ref[prefix] == alt[prefix]:
        prefix += 1
    ref, alt = ref[prefix:], alt[prefix:]
    suffix = 0
    while suffix < min(len(ref), len(alt)) and ref[-1 - suffix] == alt[-1 - suffix]:
        suffix += 1
    return start + prefix, ref[: len(ref) - suffix], alt[: len(alt) - suffix]


def symbolic(alt: str) -> bool:
    """True for an ALT that is not a base sequence: <ID>, a breakend (``G]17:198982]``, ``.A``) or ``*``."""
    return not alt or alt == "*" or alt.startswith("<") or "[" in alt or "]" in alt or alt.startswith(".") \
        or alt.endswith(".")


class VariantScorer:
    """Scores the alleles of VCF records against a genome in batches; knows nothing of output files.

    :meth:`add` takes records in any order and returns the results of the records whose batch was scored;
    :meth:`flush` returns the rest. Results come back in the order the records were added.
    Use it as a context manager (or call :meth:`close`): its scorer owns a pool of threads on a CPU.
    """

    def __init__(self, bundle: Bundle, genome: Genome, params: VariantParams) -> None:
        params.validate(bundle)
        self.bundle = bundle
        self.genome = genome
        self.params = params
        self.grid = WindowGrid(bundle.window, params.stride)
        self.scorer = EnsembleScorer(bundle, params.scorer)
        self.lengths = dict(genome.chroms)
        self.windows_scored = 0
        self.mismatches = 0
        self._rows: dict[bytes, int] = {}  # window sequence → row in the batch
        self._pending: list[tuple[VcfRecord, list[_Planned]]] = []

    def close(self) -> None:
        self.scorer.close()

    def __enter__(self) -> VariantScorer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add(self, record: VcfRecord) -> list[VariantResult]:
        self._pending.append((record, self._plan(record)))
        return self.flush() if len(self._rows) >= BATCH_WINDOWS else []

    def flush(self) -> list[VariantResult]:
        """Score the batch's windows; the results of every record added so far, in order."""
        window = self.bundle.window
        scores = np.full(len(self._rows), np.nan, dtype=np.float32)
        if self._rows:
            codes = encode_bases(b"".join(self._rows))  # the windows end to end: a grid whose stride is the window
            keep = np.flatnonzero(window_invalid_fraction(codes, window, window) <= self.params.max_n_frac)
            if len(keep):
                chunk = encode_chunk(codes, self.bundle.ks, self.params.scorer.reverse_complement)
                scores[keep] = self.scorer.score_chunk(chunk, window, window, keep)
                self.windows_scored += len(keep)
        results = [self._result(record, planned, scores) for record, plan in self._pending for planned in plan]
        self._rows.clear()
        self._pending.clear()
        return results

    # -- planning: which windows each allele needs, or why it cannot be scored -------------------

    def _plan(self, record: VcfRecord) -> list[_Planned]:
        alleles = range(1, len(record.alts) + 1) if record.alts else [0]
        reason = self._record_skip(record)
        if reason:
            return [_Planned(a, reason) for a in alleles]
        return [self._plan_allele(record, a) for a in alleles]

    def _record_skip(self, record: VcfRecord) -> str:
        """Why no allele of the record can be scored ('' when they may be)."""
        length = self.lengths.get(record.chrom)
        if length is None:
            return "unknown_chrom"
        ref = record.ref.upper()
        end = record.start + len(ref)
        if record.start < 0 or end > length:
            self._warn_mismatch(record, f"REF {_short(record.ref)} lies outside {record.chrom} (length {length:,})")
            return "ref_mismatch"
        genome_ref = self.genome.fetch(record.chrom, record.start, end).decode("ascii", "replace").upper()
        if genome_ref != ref:
            self._warn_mismatch(record, f"REF {_short(record.ref)} differs from the genome's {_short(genome_ref)}")
            return "ref_mismatch"
        if record.svtype is not None:
            return "structural"
        if not set(ref) <= _ACGT:
            return "ambiguous_allele"
        return ""

    def _warn_mismatch(self, record: VcfRecord, what: str) -> None:
        self.mismatches += 1
        if self.mismatches <= MAX_MISMATCH_WARNINGS:
            log.warning("%s POS %d (%s): %s; not scored%s", record.chrom, record.pos, record.id, what,
                        " (further mismatches are only counted)" if self.mismatches == MAX_MISMATCH_WARNINGS else "")

    def _plan_allele(self, record: VcfRecord, allele: int) -> _Planned:
        if not allele:
            return _Planned(0, "no_alt")
        alt = record.alts[allele - 1].upper()
        if symbolic(alt):
            return _Planned(allele, "symbolic")
        ref = record.ref.upper()
        if max(len(ref), len(alt)) > self.params.max_allele_length:
            return _Planned(allele, "structural")
        if not set(alt) <= _ACGT:
            return _Planned(allele, "ambiguous_allele")
        edit, removed, inserted = trim_alleles(record.start, ref, alt)
        if not removed and not inserted:
            return _Planned(allele, "no_alt")  # ALT spells REF
        window, length = self.grid.window, self.lengths[record.chrom]
        # Each allele's windows are those overlapping its edited bases on its own sequence; where it has none
        # (the reference of an insertion, the alternative of a deletion), those holding the base after the edit.
        ref_starts = self.grid.overlapping(edit, edit + max(1, len(removed)))
        alt_starts = self.grid.overlapping(edit, edit + max(1, len(inserted)))
        if (ref_starts[0] < 0 or ref_starts[-1] + window > length
                or alt_starts[-1] + window > length + len(inserted) - len(removed)):
            return _Planned(allele, "chromosome_end")
        # Both start at ref_starts[0] (= alt_starts[0]); in reference coordinates, both end by edit + len(removed)
        # + window.
        first = int(ref_starts[0])
        context = self.genome.fetch(record.chrom, first, min(length, edit + len(removed) + window)).upper()
        edited = context[: edit - first] + inserted.encode() + context[edit - first + len(removed) :]
        return _Planned(allele, "", [self._row(context, s - first) for s in ref_starts],
                        [self._row(edited, s - first) for s in alt_starts])

    def _row(self, sequence: bytes, offset: int) -> int:
        return self._rows.setdefault(sequence[offset : offset + self.grid.window], len(self._rows))

    # -- results -----------------------------------------------------------------------------------

    def _result(self, record: VcfRecord, planned: _Planned, scores: np.ndarray) -> VariantResult:
        if planned.skip:
            return VariantResult(record, planned.allele, None, None, planned.skip)
        ref, alt = _summary(scores[planned.ref_rows]), _summary(scores[planned.alt_rows])
        if ref is None or alt is None:
            return VariantResult(record, planned.allele, None, None, "n_bases")
        return VariantResult(record, planned.allele, ref, alt)


def _summary(scores: np.ndarray) -> AlleleScores | None:
    scored = scores[np.isfinite(scores)].astype(np.float64)
    if not len(scored):
        return None
    return AlleleScores(len(scored), float(scored.max()), float(scored.mean()))


def _short(allele: str, most: int = 12) -> str:
    return allele if len(allele) <= most else f"{allele[:most]}... ({len(allele)} bp)"


# -- the command ------------------------------------------------------------------------------------


def default_prefix(vcf: Path) -> str:
    """Output prefix from the VCF name in the current folder: ``calls.vcf.gz`` → ``calls.ielmscan``."""
    return scan_prefix(vcf, (".gz", ".bgz", ".vcf", ".bcf"))


def run_variants(
    fasta: Path,
    vcf: Path,
    bundle: Bundle,
    params: VariantParams,
    prefix: str,
    progress_factory: Callable[[int], Callable[[int], None]] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Score the VCF's variants and write PREFIX.tsv, PREFIX.vcf.gz (+ .tbi) and PREFIX.json, all or nothing.

    Returns the run manifest. No output may be an input (the FASTA and its index, the VCF and its index, a
    file of the bundle); other existing files are replaced only with ``force``, or when an earlier run wrote
    them. These rules, every record of the VCF and its chromosome names are checked before anything is scored.
    """
    started = time.perf_counter()
    params.validate(bundle)
    with Genome.open(fasta) as genome:
        lengths = dict(genome.chroms)
        with VcfReader(vcf, lengths) as reader:
            unknown = [c for c in reader.contigs if c not in lengths]
            if reader.contigs and len(unknown) == len(reader.contigs):
                raise InputError(f"none of the chromosomes of {vcf} ({_names(unknown)}) is in {fasta} "
                                 f"({_names([n for n, _ in genome.chroms])}): is the VCF for another genome, or does "
                                 "it name chromosomes differently (chr1 / 1)?")
            if unknown:
                log.warning("%s: %d record(s) on chromosome(s) not in %s (%s) are skipped (unknown_chrom)", vcf,
                            sum(reader.contigs[c] for c in unknown), fasta, _names(unknown))
            inputs = (fasta, genome.fai_path, genome.gzi_path, vcf, *vcf_index_paths(vcf), *bundle.folders())
            with OutputSet(prefix, OUTPUT_SUFFIXES, inputs=inputs, force=force) as outset:
                calibration = bundle.calibration
                fields = info_fields(calibration is not None)
                reader.add_info(fields)
                reader.add_meta("ielmscanVersion", __version__)
                reader.add_meta("ielmscanCommand", " ".join(sys.argv))
                # Not ##reference: the input may have its own, and it names the genome its calls were made on.
                reader.add_meta("ielmscanGenome", str(fasta.resolve()))
                reader.add_meta("ielmscanModel", f"{bundle.path} (sha256 {bundle.checksum})")
                counts = {"records": 0, "alleles": 0, "scored": 0, "skipped": dict.fromkeys(SKIP_REASONS, 0)}
                progress = progress_factory(reader.records_total) if progress_factory else None
                with VariantScorer(bundle, genome, params) as scorer, \
                        VcfWriter(outset.temp(".vcf.gz"), reader, fields) as vcf_out, \
                        outset.temp(".tsv").open("w") as tsv:
                    write_tsv_header(tsv)
                    batches = _batches(scorer, reader.records())
                    for results in batches:
                        write(results, tsv, vcf_out, fields, calibration, counts)
                        if progress is not None:
                            progress(len({id(r.record) for r in results}))
                    windows_scored = scorer.windows_scored
                    mismatches = scorer.mismatches
                    device, precision = str(scorer.scorer.device), scorer.scorer.precision.value
                if mismatches > MAX_MISMATCH_WARNINGS:
                    log.warning("%s: %d record(s) in all have a REF that differs from %s (ref_mismatch)", vcf,
                                mismatches, fasta)
                index_vcf(outset.temp(".vcf.gz"), outset.temp(".vcf.gz.tbi"))
                outputs = {"tsv": str(outset.final(".tsv")), "vcf": str(outset.final(".vcf.gz")),
                           "tbi": str(outset.final(".vcf.gz.tbi"))}
                manifest = {
                    "ielmscan_version": __version__,
                    "command": sys.argv,
                    "genome": str(fasta),
                    "variants": str(vcf),
                    "model": bundle.manifest_entry(),
                    "parameters": {
                        "window": bundle.window, "stride": params.stride, "max_n_frac": params.max_n_frac,
                        "max_allele_length": params.max_allele_length,
                        "reverse_complement": params.scorer.reverse_complement, "device": device,
                        "precision": precision,
                    },
                    "calibration": calibration.to_json() if calibration is not None else None,
                    **counts,
                    "windows_scored": windows_scored,
                    "wall_seconds": round(time.perf_counter() - started, 3),
                    "outputs": outputs,
                }
                write_manifest(outset.temp(".json"), manifest)
    return manifest


def _batches(scorer: VariantScorer, records: Iterator[VcfRecord]) -> Iterator[list[VariantResult]]:
    for record in records:
        results = scorer.add(record)
        if results:
            yield results
    results = scorer.flush()
    if results:
        yield results



def _names(names: list[str], most: int = 5) -> str:
    shown = ", ".join(names[:most])
    return f"{shown}, ... ({len(names)} in all)" if len(names) > most else shown
