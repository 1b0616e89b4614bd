"""A variant's result and how `ielmscan variants` reports it: the numbers, the TSV rows, the VCF's INFO fields.

A result is one ALT allele of one record: the ensemble's scores of the windows covering the reference and the
alternative allele (:class:`AlleleScores`), or why it was not scored (:data:`SKIP_REASONS`). Each result is one
row of the TSV (:data:`TSV_COLUMNS`); the results of a record's ALT alleles fill the per-allele INFO fields of its
VCF record (:func:`info_fields`). With a calibrated bundle each score is also given as -log10 of its background
p-value; every difference is alt - ref. The scoring itself is :mod:`ielmscan.inference.variants`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from ielmscan.io.vcf import InfoField, VcfRecord, VcfWriter
from ielmscan.model.calibration import Calibration

SKIP_REASONS = {
    "unknown_chrom": "the chromosome is not in the genome",
    "ref_mismatch": "REF differs from the genome there, or lies outside the chromosome",
    "structural": "a structural variant: INFO SVTYPE, or REF or ALT longer than the allele length limit",
    "ambiguous_allele": "REF or ALT holds a base other than A, C, G or T",
    "no_alt": "the record has no ALT allele ('.'), or ALT spells REF",
    "symbolic": "a symbolic ALT (<DEL>, <*>, <NON_REF>, ...), a breakend or the spanning deletion '*'",
    "chromosome_end": "a window of the grid covering the allele would reach past the chromosome's start or end",
    "n_bases": "every window covering the REF or the ALT allele has more N/IUPAC bases than allowed",
}

TSV_COLUMNS = ("#chrom", "start", "end", "id", "ref", "alt", "ref_windows", "alt_windows", "ref_max", "alt_max",
               "delta_max", "ref_mean", "alt_mean", "delta_mean", "ref_max_mlog10p", "alt_max_mlog10p",
               "delta_max_mlog10p", "ref_mean_mlog10p", "alt_mean_mlog10p", "delta_mean_mlog10p", "skip")
_STATS = ("max", "mean")


@dataclass(frozen=True)
class AlleleScores:
    """The ensemble's scores of the windows covering one allele."""

    windows: int  # windows scored (those with few enough N/IUPAC bases)
    max: float
    mean: float


@dataclass(frozen=True)
class VariantResult:
    """One ALT allele of one record: its scores and the reference's, or why it was not scored."""

    record: VcfRecord
    allele: int  # 1-based index of the ALT allele; 0 for a record without one
    ref: AlleleScores | None
    alt: AlleleScores | None
    skip: str = ""  # a key of SKIP_REASONS, "" when scored

    @property
    def alt_allele(self) -> str:
        return self.record.alts[self.allele - 1] if self.allele else "."


# -- the numbers a result reports ------------------------------------------------------------------


def mlog10p(calibration: Calibration | None, value: float | None) -> float | None:
    """-log10 of the background p-value of ``value`` (None without a calibration or a value)."""
    if calibration is None or value is None:
        return None
    return float(-np.log10(calibration.p_values(np.array([value], dtype=np.float32))[0]))


def result_values(result: VariantResult, calibration: Calibration | None) -> dict[str, float | None]:
    """Every number of a result by TSV column name (None where not computed)."""
    values: dict[str, float | None] = {}
    for stat in _STATS:
        ref = getattr(result.ref, stat) if result.ref is not None else None
        alt = getattr(result.alt, stat) if result.alt is not None else None
        values[f"ref_{stat}"], values[f"alt_{stat}"] = ref, alt
        values[f"delta_{stat}"] = alt - ref if ref is not None and alt is not None else None
    for stat in _STATS:
        ref, alt = mlog10p(calibration, values[f"ref_{stat}"]), mlog10p(calibration, values[f"alt_{stat}"])
        values[f"ref_{stat}_mlog10p"], values[f"alt_{stat}_mlog10p"] = ref, alt
        values[f"delta_{stat}_mlog10p"] = alt - ref if ref is not None and alt is not None else None
    return values


def _decimals(column: str) -> int:
    return 3 if column.endswith("mlog10p") else 4  # as narrowPeak's -log10 p, and predict's probabilities


def _rounded(column: str, value: float | None) -> float | None:
    return None if value is None else round(value, _decimals(column)) + 0.0  # + 0.0: no "-0.0"


def write_tsv_header(out: TextIO) -> None:
    out.write("\t".join(TSV_COLUMNS) + "\n")


def write_tsv_row(out: TextIO, result: VariantResult, calibration: Calibration | None) -> None:
    record = result.record
    values = result_values(result, calibration)

    def text(column: str) -> str:
        value = _rounded(column, values[column])
        return "NA" if value is None else f"{value:.{_decimals(column)}f}"

    windows = [str(s.windows) if s is not None else "0" for s in (result.ref, result.alt)]
    out.write("\t".join([record.chrom, str(record.start), str(record.start + len(record.ref)), record.id, record.ref,
                         result.alt_allele, *windows, *(text(c) for c in TSV_COLUMNS[8:-1]),
                         result.skip or "."]) + "\n")


def info_fields(calibrated: bool) -> list[InfoField]:
    """The INFO fields the output VCF declares (the calibrated ones only for a calibrated bundle)."""
    scale = "ensemble probability (0-1)"
    fields = []
    for stat, what in (("MAX", "best window"), ("MEAN", "mean over the windows")):
        fields += [
            InfoField(f"IELM_REF_{stat}", "Float", f"ielmscan: {what} covering REF, {scale}"),
            InfoField(f"IELM_ALT_{stat}", "Float", f"ielmscan: {what} covering this ALT, {scale}"),
            InfoField(f"IELM_DELTA_{stat}", "Float", f"ielmscan: IELM_ALT_{stat} - IELM_REF_{stat}"),
        ]
    if calibrated:
        for stat in ("MAX", "MEAN"):
            fields += [
                InfoField(f"IELM_REF_{stat}_MLOG10P", "Float",
                          f"ielmscan: -log10 background p-value of IELM_REF_{stat} (the model's calibration)"),
                InfoField(f"IELM_ALT_{stat}_MLOG10P", "Float",
                          f"ielmscan: -log10 background p-value of IELM_ALT_{stat} (the model's calibration)"),
                InfoField(f"IELM_DELTA_{stat}_MLOG10P", "Float",
                          f"ielmscan: IELM_ALT_{stat}_MLOG10P - IELM_REF_{stat}_MLOG10P"),
            ]
    reasons = ", ".join(SKIP_REASONS)
    return fields + [InfoField("IELM_SKIP", "String", f"ielmscan: why this ALT was not scored ({reasons}); "
                                                      "'.' when scored")]


def vcf_values(results: list[VariantResult], fields: list[InfoField],
               calibration: Calibration | None) -> dict[str, list[float | str | None]]:
    """The INFO values of one record from the results of its ALT alleles (in ALT order)."""
    per_allele = [result_values(r, calibration) for r in results]
    values: dict[str, list[float | str | None]] = {}
    for info in fields:
        if info.name == "IELM_SKIP":
            values[info.name] = [r.skip or None for r in results]
        else:
            column = info.name.removeprefix("IELM_").lower()
            values[info.name] = [_rounded(column, v[column]) for v in per_allele]
    return values


# -- writing a batch's results ---------------------------------------------------------------------


def write(results: list[VariantResult], tsv: TextIO, vcf_out: VcfWriter, fields: list[InfoField],
          calibration: Calibration | None, counts: dict[str, Any]) -> None:
    """TSV rows (one per allele) and VCF records (one per record) of a batch's results, in file order."""
    i = 0
    while i < len(results):
        record = results[i].record
        j = i
        while j < len(results) and results[j].record is record:
            j += 1
        alleles = results[i:j]
        for result in alleles:
            write_tsv_row(tsv, result, calibration)
            if result.skip:
                counts["skipped"][result.skip] += 1
            else:
                counts["scored"] += 1
        counts["alleles"] += len(alleles)
        counts["records"] += 1
        vcf_out.write(record, vcf_values(alleles, fields, calibration) if record.alts else {})
        i = j
