"""Variant scoring against a synthetic genome with a planted GC block, scored by the GC model: every expected
score is a GC fraction worked out from the sequence here, independently of the code under test."""
from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pysam
import pytest

from ielmscan.errors import InputError, OutputError
from ielmscan.inference import variants as variants_module
from ielmscan.inference.devices import Precision
from ielmscan.inference.scan import ScanParams, Scanner
from ielmscan.inference.scorer import ScorerSettings
from ielmscan.inference.variant_outputs import SKIP_REASONS, TSV_COLUMNS
from ielmscan.inference.variants import (VariantParams, VariantScorer, default_prefix, run_variants, symbolic,
                                         trim_alleles)
from ielmscan.io.fasta import write_fasta
from ielmscan.io.genome import Genome
from ielmscan.io.synthetic import synthetic_sequence
from ielmscan.io.vcf import VcfReader
from ielmscan.io.intervals import Interval
from ielmscan.model.bundle import load_bundle

from tests.bundles import gc_bundle, gc_probability

W, S = 200, 50  # the GC model's window and the default stride
BLOCK = (2200, 2248)  # the planted GC block: "GC" * 24
LONE_BASE = 3040  # a single A planted in the synthetic genome's N gap [2839, 3239)
FP32 = ScorerSettings(device="cpu", precision=Precision.fp32)


def planted_sequence() -> str:
    """4.2 kb of synthetic sequence (seed 9: a soft-masked stretch [798, 1325), an N gap [2839, 3239)) with a
    GC block planted where the windows are at GC ~0.44, and one A inside the N gap."""
    seq = synthetic_sequence(4200, np.random.default_rng(9))
    seq[BLOCK[0] : BLOCK[1]] = b"GC" * 24
    seq[LONE_BASE] = ord("A")
    return seq.decode()


SEQ = planted_sequence()


def write_genome(folder: Path) -> Path:
    return write_fasta(folder / "g.fa", [("chr1", SEQ), ("chr2", SEQ[:1000])])


def write_vcf(path: Path, rows: list[tuple], header: str = "") -> Path:
    """Rows (chrom, POS, ID, REF, ALT[, INFO]) as a minimal VCF (no contig lines: they come from the genome)."""
    lines = ["##fileformat=VCFv4.2", *filter(None, header.splitlines()),
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for row in rows:
        chrom, pos, vid, ref, alt, *info = row
        lines.append("\t".join([chrom, str(pos), vid, ref, alt, ".", ".", info[0] if info else "."]))
    path.write_text("\n".join(lines) + "\n")
    return path


def ref_at(start: int, length: int = 1) -> str:
    return SEQ[start : start + length].upper()


def other(base: str) -> str:
    """A base that differs from ``base``."""
    return "C" if base != "C" else "G"


def window_probabilities(seq: str, starts: list[int]) -> np.ndarray:
    """The GC model's probability of each window [s, s + W) of ``seq``."""
    windows = [seq[s : s + W].upper() for s in starts]
    assert all(len(w) == W for w in windows)
    return gc_probability([(w.count("G") + w.count("C")) / W for w in windows])


def edited(start: int, ref: str, alt: str) -> str:
    assert SEQ[start : start + len(ref)].upper() == ref
    return SEQ[:start] + alt + SEQ[start + len(ref) :]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gc")
    gc_bundle(folder / "gc")
    return load_bundle(folder / "gc")


@pytest.fixture
def genome(tmp_path):
    return write_genome(tmp_path)


def score(bundle, genome: Path, vcf: Path, **kwargs) -> list:
    with Genome.open(genome) as g, VcfReader(vcf) as reader, \
            VariantScorer(bundle, g, VariantParams(scorer=FP32, **kwargs)) as scorer:
        results = []
        for record in reader.records():
            results += scorer.add(record)
        return results + scorer.flush()


def test_a_deletion_that_removes_the_planted_block_loses_the_high_score(bundle, genome, tmp_path):
    anchor = BLOCK[0] - 1
    ref, alt = ref_at(anchor, 49), ref_at(anchor)
    [result] = score(bundle, genome, write_vcf(tmp_path / "v.vcf", [("chr1", anchor + 1, "del", ref, alt)]))
    # The edit removes [2200, 2248) (the padding base 2199 stays): the grid windows overlapping it start at
    # 2050 ... 2200; on the edited sequence the same starts hold base 2200, the first after the deletion. The
    # window [2000, 2200) holds only the padding base of the block: the same on both alleles, not counted.
    ref_windows = window_probabilities(SEQ, [2050, 2100, 2150, 2200])
    alt_windows = window_probabilities(edited(anchor, ref, alt), [2050, 2100, 2150, 2200])
    assert result.skip == "" and (result.ref.windows, result.alt.windows) == (4, 4)
    assert result.ref.max == pytest.approx(ref_windows.max(), abs=1e-5)
    assert result.ref.mean == pytest.approx(ref_windows.mean(), abs=1e-5)
    assert result.alt.max == pytest.approx(alt_windows.max(), abs=1e-5)
    assert result.alt.mean == pytest.approx(alt_windows.mean(), abs=1e-5)
    # The block made an enhancer call (above the model's threshold, 0.5); without it there is none.
    assert result.ref.max > 0.6 and result.alt.max < 0.4


def test_a_multiallelic_snv_is_split_per_allele_on_the_same_windows(bundle, genome, tmp_path):
    pos = 2210  # a G of the block
    assert ref_at(pos) == "G"
    results = score(bundle, genome, write_vcf(tmp_path / "v.vcf", [("chr1", pos + 1, "rs1", "G", "A,C,T")]))
    starts = [2050, 2100, 2150, 2200]  # the grid windows over base 2210
    ref_windows = window_probabilities(SEQ, starts)
    assert [r.alt_allele for r in results] == ["A", "C", "T"] and [r.allele for r in results] == [1, 2, 3]
    for result in results:
        alt_windows = window_probabilities(edited(pos, "G", result.alt_allele), starts)
        assert (result.ref.windows, result.alt.windows) == (4, 4)
        assert result.ref.max == pytest.approx(ref_windows.max(), abs=1e-5)
        assert result.alt.mean == pytest.approx(alt_windows.mean(), abs=1e-5)
    a, c, t = results
    assert c.alt.max == pytest.approx(c.ref.max, abs=1e-6)  # G → C keeps the GC fraction
    assert a.alt.max < a.ref.max and a.alt.max == pytest.approx(t.alt.max, abs=1e-6)


def test_an_insertion_in_soft_masked_sequence_cuts_its_windows_around_the_inserted_bases(bundle, genome, tmp_path):
    pos = 1000  # inside the soft-masked stretch: the genome has lowercase bases there
    assert SEQ[pos].islower()
    ref, alt = ref_at(pos), ref_at(pos) + "G" * 30
    [result] = score(bundle, genome, write_vcf(tmp_path / "v.vcf", [("chr1", pos + 1, "ins", ref, alt)]))
    # The edit inserts 30 G before base 1001: REF's windows hold base 1001 (starts 850 ... 1000), ALT's overlap the
    # inserted [1001, 1031) on the edited sequence: starts 850 ... 1000 too.
    ref_windows = window_probabilities(SEQ, [850, 900, 950, 1000])
    alt_windows = window_probabilities(edited(pos, ref, alt), [850, 900, 950, 1000])
    assert result.ref.mean == pytest.approx(ref_windows.mean(), abs=1e-5)
    assert result.alt.mean == pytest.approx(alt_windows.mean(), abs=1e-5)
    assert result.alt.max == pytest.approx(alt_windows.max(), abs=1e-5) and result.alt.max > result.ref.max


def test_a_window_holding_only_the_padding_base_does_not_count(bundle, genome, tmp_path):
    pos = 1199  # the grid window [1000, 1200) ends at this padding base
    ref, alt = ref_at(pos), ref_at(pos) + "GC" * 10
    [result] = score(bundle, genome, write_vcf(tmp_path / "v.vcf", [("chr1", pos + 1, "ins", ref, alt)]))
    ref_windows = window_probabilities(SEQ, [1050, 1100, 1150, 1200])  # not 1000: it reads the same on both
    alt_windows = window_probabilities(edited(pos, ref, alt), [1050, 1100, 1150, 1200])
    assert (result.ref.windows, result.alt.windows) == (4, 4)
    assert result.ref.mean == pytest.approx(ref_windows.mean(), abs=1e-5)
    assert result.alt.mean == pytest.approx(alt_windows.mean(), abs=1e-5)


@pytest.mark.parametrize("start, ref, alt, edit", [
    (10, "A", "G", (10, "A", "G")),  # SNV
    (10, "AC", "GT", (10, "AC", "GT")),  # MNV
    (10, "A", "ACG", (11, "", "CG")),  # insertion after its padding base
    (10, "ACG", "A", (11, "CG", "")),  # deletion
    (10, "CAT", "CT", (11, "A", "")),  # a shared last base too
    (10, "ACGT", "ACGA", (13, "T", "A")),  # an SNV written with context
    (10, "A", "A", (11, "", "")),  # no change
])
def test_trim_alleles_keeps_only_the_edit(start, ref, alt, edit):
    assert trim_alleles(start, ref, alt) == edit


def test_stride_one_scores_every_window_overlapping_the_variant(bundle, genome, tmp_path):
    [result] = score(bundle, genome, write_vcf(tmp_path / "v.vcf", [("chr1", 2211, ".", "G", "A")]), stride=1)
    starts = list(range(2210 - W + 1, 2211))
    assert result.ref.windows == result.alt.windows == W
    assert result.ref.mean == pytest.approx(window_probabilities(SEQ, starts).mean(), abs=1e-5)


def test_reference_scores_are_the_scans_window_scores(bundle, genome, tmp_path):
    rows = [("chr1", p + 1, ".", ref_at(p), other(ref_at(p))) for p in (700, 1234, 2210, 2500)]
    results = score(bundle, genome, write_vcf(tmp_path / "v.vcf", rows))
    with Genome.open(genome) as g, Scanner(bundle, ScanParams(stride=S, scorer=FP32)) as scanner:
        windows = scanner.score_interval(g, Interval("chr1", 0, len(SEQ))).scores
    for (_, pos, *_), result in zip(rows, results):
        covering = windows[[s // S for s in range(0, len(SEQ), S) if s <= pos - 1 < s + W and s + W <= len(SEQ)]]
        assert result.ref.max == pytest.approx(float(covering.max()), abs=1e-6)
        assert result.ref.mean == pytest.approx(float(covering.mean()), abs=1e-6)


def test_results_do_not_depend_on_the_batch(bundle, genome, tmp_path, monkeypatch):
    rows = [("chr1", p + 1, ".", ref_at(p), other(ref_at(p))) for p in range(600, 2700, 97)]
    vcf = write_vcf(tmp_path / "v.vcf", rows)
    whole = score(bundle, genome, vcf)
    monkeypatch.setattr(variants_module, "BATCH_WINDOWS", 3)  # a batch of about one record
    pieces = score(bundle, genome, vcf)
    assert [(r.record.pos, r.ref.windows, r.alt.windows) for r in whole] == \
        [(r.record.pos, r.ref.windows, r.alt.windows) for r in pieces]

    def numbers(results):
        return [(r.ref.max, r.ref.mean, r.alt.max, r.alt.mean) for r in results]

    # The same windows scored in other company: equal up to float rounding in the padded batches.
    np.testing.assert_allclose(numbers(whole), numbers(pieces), atol=1e-6)


def skipped(bundle, genome, tmp_path, rows, **kwargs) -> list[str]:
    return [r.skip for r in score(bundle, genome, write_vcf(tmp_path / "v.vcf", rows, "##INFO=<ID=SVTYPE,"
                                                            "Number=1,Type=String,Description=\"type\">"), **kwargs)]


def test_what_cannot_be_scored_is_reported_with_its_reason(bundle, genome, tmp_path):
    rows = [  # sorted, as the file must be
        ("chr1", 20, "start", ref_at(19), other(ref_at(19))),  # the grid's windows over it would start before base 0
        ("chr1", 2000, "long", ref_at(1999, 60), ref_at(1999)),  # a 59-bp deletion
        ("chr1", 2211, "wrong", "T", "A"),  # the genome has G
        ("chr1", 2211, "sym", "G", "<DEL>"),
        ("chr1", 2211, "bnd", "G", "G]chr2:100]"),
        ("chr1", 2211, "star", "G", "*"),
        ("chr1", 2211, "sv", "G", "GA", "SVTYPE=INS"),
        ("chr1", 2211, "iupac", "G", "R"),
        ("chr1", 2211, "none", "G", "."),
        ("chr1", 2211, "same", "G", "g"),
        ("chr1", LONE_BASE + 1, "gap", "A", "G"),  # every window around it is mostly N
        ("chr1", 4190, "end", ref_at(4189), other(ref_at(4189))),  # the grid's windows over it would end past the chromosome
        ("chrZ", 2211, "other", "G", "A"),  # not in the genome
    ]
    assert skipped(bundle, genome, tmp_path, rows) == [
        "chromosome_end", "structural", "ref_mismatch", "symbolic", "symbolic", "symbolic", "structural",
        "ambiguous_allele", "no_alt", "no_alt", "n_bases", "chromosome_end", "unknown_chrom"]
    assert set(SKIP_REASONS) == {"unknown_chrom", "ref_mismatch", "chromosome_end", "n_bases", "symbolic",
                                 "structural", "ambiguous_allele", "no_alt"}


def test_chromosome_end_and_allele_length_follow_the_grid_and_the_limit(bundle, genome, tmp_path):
    # Base 150 is the first one whose grid windows (starts 0 ... 150) all lie inside the chromosome.
    rows = [("chr1", 150, ".", ref_at(149), other(ref_at(149))), ("chr1", 151, ".", ref_at(150), other(ref_at(150))),
            ("chr1", 2000, "long", ref_at(1999, 60), ref_at(1999))]
    assert skipped(bundle, genome, tmp_path, rows) == ["chromosome_end", "", "structural"]
    assert skipped(bundle, genome, tmp_path, rows, max_allele_length=60)[2] == ""


def test_a_ref_mismatch_warns_once_per_record(bundle, genome, tmp_path, caplog):
    rows = [("chr1", 2211, "rs9", "T", "A"), ("chr1", 2212, ".", "CC", "C")]
    with caplog.at_level(logging.WARNING):
        assert skipped(bundle, genome, tmp_path, rows) == ["ref_mismatch", "ref_mismatch"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "chr1 POS 2211 (rs9): REF T differs from the genome's G" in lines[0]


def test_symbolic_alleles():
    assert all(symbolic(a) for a in ("<DEL>", "<*>", "<NON_REF>", "*", "A[chr2:5[", "]chr2:5]A", ".A", "A."))
    assert not any(symbolic(a) for a in ("A", "ACGT", "N"))


# -- run_variants: the files --------------------------------------------------------------------------


def test_run_writes_the_tsv_the_annotated_vcf_its_index_and_a_manifest(bundle, genome, tmp_path):
    anchor = BLOCK[0] - 1
    vcf = write_vcf(tmp_path / "v.vcf", [
        ("chr1", anchor + 1, "del", ref_at(anchor, 49), ref_at(anchor)),
        ("chr1", 2211, "rs1", "G", "A,<NON_REF>"),
        ("chr2", 10, "edge", ref_at(9), other(ref_at(9))),
        ("chrZ", 5, "other", "A", "G"),
    ])
    manifest = run_variants(genome, vcf, bundle, VariantParams(scorer=FP32), str(tmp_path / "out"))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == [
        "out.json", "out.tsv", "out.vcf.gz", "out.vcf.gz.tbi"]
    assert json.loads((tmp_path / "out.json").read_text()) == manifest
    assert manifest["records"] == 4 and manifest["alleles"] == 5 and manifest["scored"] == 2
    assert {k: v for k, v in manifest["skipped"].items() if v} == {"symbolic": 1, "chromosome_end": 1,
                                                                   "unknown_chrom": 1}

    lines = (tmp_path / "out.tsv").read_text().splitlines()
    assert lines[0].split("\t") == list(TSV_COLUMNS)
    rows = [dict(zip(TSV_COLUMNS, line.split("\t"))) for line in lines[1:]]
    assert [(r["#chrom"], r["start"], r["end"], r["alt"], r["skip"]) for r in rows] == [
        ("chr1", "2199", "2248", ref_at(anchor), "."), ("chr1", "2210", "2211", "A", "."),
        ("chr1", "2210", "2211", "<NON_REF>", "symbolic"), ("chr2", "9", "10", other(ref_at(9)), "chromosome_end"),
        ("chrZ", "4", "5", "G", "unknown_chrom")]
    ref_windows = window_probabilities(SEQ, [2050, 2100, 2150, 2200])
    deletion = rows[0]
    assert float(deletion["ref_max"]) == pytest.approx(ref_windows.max(), abs=1e-4)
    assert float(deletion["delta_max"]) == pytest.approx(float(deletion["alt_max"]) - float(deletion["ref_max"]),
                                                         abs=1.5e-4)
    assert deletion["ref_max_mlog10p"] == "NA"  # no calibration
    assert rows[2]["ref_max"] == "NA" and rows[2]["ref_windows"] == "0"

    with pysam.VariantFile(str(tmp_path / "out.vcf.gz")) as out:
        assert {"IELM_REF_MAX", "IELM_ALT_MEAN", "IELM_DELTA_MAX", "IELM_SKIP"} <= set(out.header.info)
        assert "IELM_REF_MAX_MLOG10P" not in out.header.info  # declared only for a calibrated model
        assert out.header.info["IELM_DELTA_MAX"].number == "A"
        assert out.header.contigs["chr1"].length == len(SEQ)  # declared from the genome
        records = list(out.fetch("chr1", 2205, 2215))  # the tabix index works
        assert [r.id for r in records] == ["del", "rs1"]
        del_record, snv = records
        assert del_record.info["IELM_REF_MAX"][0] == pytest.approx(float(deletion["ref_max"]), abs=1e-6)
        assert snv.info["IELM_SKIP"] == (None, "symbolic")
        assert snv.info["IELM_ALT_MAX"][1] is None
        [unknown] = list(out.fetch("chrZ"))
        assert unknown.info["IELM_SKIP"] == ("unknown_chrom",)


def test_no_chromosome_in_common_is_an_error_naming_the_vcf_and_writes_nothing(bundle, genome, tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf", [("1", 2211, ".", "G", "A"), ("2", 5, ".", "A", "G")])
    with pytest.raises(InputError, match=r"none of the chromosomes of .*v\.vcf \(1, 2\) is in .*g\.fa"):
        run_variants(genome, vcf, bundle, VariantParams(scorer=FP32), str(tmp_path / "out"))
    assert not list(tmp_path.glob("*out*"))


def test_an_empty_vcf_gives_empty_outputs(bundle, genome, tmp_path):
    manifest = run_variants(genome, write_vcf(tmp_path / "v.vcf", []), bundle, VariantParams(scorer=FP32),
                            str(tmp_path / "out"))
    assert manifest["records"] == 0
    assert (tmp_path / "out.tsv").read_text().count("\n") == 1
    with pysam.VariantFile(str(tmp_path / "out.vcf.gz")) as out:
        assert list(out) == []


def test_outputs_never_replace_the_input_vcf(bundle, genome, tmp_path):
    vcf = write_vcf(tmp_path / "calls.vcf", [("chr1", 2211, ".", "G", "A")])
    pysam.tabix_compress(str(vcf), str(tmp_path / "calls.vcf.gz"))
    before = (tmp_path / "calls.vcf.gz").read_bytes()
    with pytest.raises(OutputError, match="would overwrite the input"):
        run_variants(genome, tmp_path / "calls.vcf.gz", bundle, VariantParams(scorer=FP32), str(tmp_path / "calls"),
                     force=True)
    assert (tmp_path / "calls.vcf.gz").read_bytes() == before


def test_a_failed_run_leaves_no_outputs(bundle, genome, tmp_path, monkeypatch):
    vcf = write_vcf(tmp_path / "v.vcf", [("chr1", 2211, ".", "G", "A")])

    def broken(*args, **kwargs):
        raise RuntimeError("the device fell over")

    monkeypatch.setattr(variants_module.EnsembleScorer, "score_chunk", broken)
    with pytest.raises(RuntimeError):
        run_variants(genome, vcf, bundle, VariantParams(scorer=FP32), str(tmp_path / "out"))
    assert not [p for p in tmp_path.iterdir() if "out" in p.name]


def test_default_prefix_drops_the_vcf_endings():
    assert default_prefix(Path("/data/calls.vcf.gz")) == "calls.ielmscan"
    assert default_prefix(Path("calls.bcf")) == "calls.ielmscan"


def test_bad_parameters_are_refused(bundle, genome, tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf", [])
    with pytest.raises(InputError, match="stride 300"):
        run_variants(genome, vcf, bundle, VariantParams(stride=300), str(tmp_path / "out"))
    with pytest.raises(InputError, match="max-n-frac"):
        run_variants(genome, vcf, bundle, VariantParams(max_n_frac=2.0), str(tmp_path / "out"))


def test_a_bgzipped_vcf_reads_like_the_plain_one(bundle, genome, tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf", [("chr1", 2211, ".", "G", "A")])
    pysam.tabix_compress(str(vcf), str(tmp_path / "v.vcf.gz"))
    assert gzip.open(tmp_path / "v.vcf.gz").read() == vcf.read_bytes()
    plain, packed = score(bundle, genome, vcf), score(bundle, genome, tmp_path / "v.vcf.gz")
    assert (plain[0].ref, plain[0].alt) == (packed[0].ref, packed[0].alt)


def test_ref_mismatches_beyond_the_limit_are_counted_not_warned(bundle, genome, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(variants_module, "MAX_MISMATCH_WARNINGS", 2)
    vcf = write_vcf(tmp_path / "v.vcf", [("chr1", p, ".", "T", "A") for p in (2201, 2203, 2205, 2207)])  # all G/C
    with caplog.at_level(logging.WARNING):
        manifest = run_variants(genome, vcf, bundle, VariantParams(scorer=FP32), str(tmp_path / "out"))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and "further mismatches are only counted" in lines[1]
    assert "4 record(s) in all have a REF that differs" in lines[2]
    assert manifest["skipped"]["ref_mismatch"] == 4
