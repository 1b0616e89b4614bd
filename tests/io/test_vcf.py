"""VCF reading and writing through pysam: records, bad files as one-line errors, annotated output and its index."""
from __future__ import annotations

import gzip
from pathlib import Path

import pysam
import pytest

from ielmscan.errors import InputError
from ielmscan.io.vcf import InfoField, VcfReader, VcfWriter, index_vcf, vcf_index_paths

HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
FIELDS = [InfoField("IELM_X", "Float", "a score"), InfoField("IELM_SKIP", "String", "why not")]


def vcf(tmp_path: Path, body: str, header: str = HEADER, name: str = "v.vcf") -> Path:
    path = tmp_path / name
    path.write_text(header + body)
    return path


RECORDS = ("chr1\t10\trs1\tA\tG,T\t50\tPASS\tDP=3\tGT\t1/2\n"
           "chr1\t20\t.\tAC\tA\t.\t.\t.\tGT\t0/1\n"
           "chr2\t5\tsv1\tA\t<DEL>\t.\t.\tSVTYPE=DEL;END=100\tGT\t0/1\n"
           "chr2\t7\t.\tA\t.\t.\t.\t.\tGT\t0/0\n")


def test_records_come_back_0_based_with_their_alleles(tmp_path, capfd):
    with VcfReader(vcf(tmp_path, RECORDS)) as reader:
        assert reader.records_total == 4 and reader.contigs == {"chr1": 2, "chr2": 2}
        records = list(reader.records())
    assert [(r.index, r.chrom, r.start, r.pos, r.id, r.ref, r.alts, r.svtype) for r in records] == [
        (0, "chr1", 9, 10, "rs1", "A", ("G", "T"), None),
        (1, "chr1", 19, 20, ".", "AC", ("A",), None),
        (2, "chr2", 4, 5, "sv1", "A", ("<DEL>",), "DEL"),
        (3, "chr2", 6, 7, ".", "A", (), None),
    ]
    assert capfd.readouterr().err == ""  # htslib's warnings on undeclared contigs and keys stay off the terminal


def test_a_bgzipped_vcf_and_a_bcf_read_the_same(tmp_path):
    plain = vcf(tmp_path, RECORDS)
    pysam.tabix_compress(str(plain), str(tmp_path / "v.vcf.gz"))
    with VcfReader(plain, {"chr1": 1000, "chr2": 1000}) as reader:
        expected = [(r.chrom, r.start, r.alts) for r in reader.records()]
        with pysam.VariantFile(str(tmp_path / "v.bcf"), "wb", header=reader.header) as bcf, \
                VcfReader(plain, {"chr1": 1000, "chr2": 1000}) as again:
            for record in again.records():
                bcf.write(record.raw)
    for path in (tmp_path / "v.vcf.gz", tmp_path / "v.bcf"):
        with VcfReader(path) as reader:
            assert [(r.chrom, r.start, r.alts) for r in reader.records()] == expected


@pytest.mark.parametrize("body, words", [
    ("chr1\t20\t.\tA\tG\t.\t.\t.\tGT\t0/1\nchr1\t10\t.\tA\tG\t.\t.\t.\tGT\t0/1\n", ["not sorted", "POS 10", "POS 20",
                                                                                  "bcftools sort"]),
    ("chr1\t10\t.\tA\tG\t.\t.\t.\tGT\t0/1\nchr2\t5\t.\tA\tG\t.\t.\t.\tGT\t0/1\nchr1\t30\t.\tA\tG\t.\t.\t.\tGT\t0/1\n",
     ["not sorted", "chr1 appear again"]),
    ("chr1\tx\t.\tA\tG\t.\t.\t.\tGT\t0/1\n", ["cannot read VCF", "record 1", "position 'x'"]),
    ("chr1\t10\t.\tA\tG\t.\t.\t.\tGT\t0/1\nchr1\t12\t.\tA\n", ["cannot read VCF", "record 2", "after chr1 POS 10"]),
])
def test_bad_records_are_one_line_errors_naming_the_file(tmp_path, capfd, body, words):
    path = vcf(tmp_path, body)
    with pytest.raises(InputError) as error:
        VcfReader(path)
    message = str(error.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("content, words", [
    (">chr1\nACGT\n", ["is not a VCF or BCF file"]),
    ("", ["is not a VCF or BCF file"]),
])
def test_files_that_are_not_vcf_are_refused(tmp_path, capfd, content, words):
    path = tmp_path / "v.vcf"
    path.write_text(content)
    with pytest.raises(InputError) as error:
        VcfReader(path)
    assert str(path) in str(error.value) and all(w in str(error.value) for w in words)
    assert capfd.readouterr().err == ""


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        VcfReader(tmp_path / "absent.vcf")
    with pytest.raises(InputError, match="is a directory"):
        VcfReader(tmp_path)


def test_written_records_keep_everything_and_gain_declared_info_fields(tmp_path, capfd):
    path = vcf(tmp_path, RECORDS)
    out = tmp_path / "out.vcf.gz"
    with VcfReader(path, {"chr1": 5000, "chr9": 10}) as reader:
        reader.add_info(FIELDS)
        reader.add_meta("ielmscanVersion", "9.9")
        with VcfWriter(out, reader, FIELDS) as writer:
            for record in reader.records():
                values = {"IELM_X": [0.25] + [None] * (len(record.alts) - 1), "IELM_SKIP": [None] * len(record.alts)}
                writer.write(record, values if record.alts else {})
    index_vcf(out, tmp_path / "out.vcf.gz.tbi")
    text = gzip.open(out, "rt").read()
    assert "##INFO=<ID=IELM_X,Number=A,Type=Float,Description=\"a score\">" in text
    assert "##contig=<ID=chr1,length=5000>" in text and "chr9" not in text  # only the contigs the file uses
    assert "##ielmscanVersion=9.9" in text
    body = [line.split("\t") for line in text.splitlines() if not line.startswith("#")]
    assert body[0] == ["chr1", "10", "rs1", "A", "G,T", "50", "PASS", "DP=3;IELM_X=0.25,.", "GT", "1/2"]
    assert body[2][7] == "SVTYPE=DEL;END=100;IELM_X=0.25"  # END survives though the input never declared it
    assert body[3][7] == "."  # no ALT: nothing to annotate
    with pysam.VariantFile(str(out)) as again:
        assert [r.pos for r in again.fetch("chr2")] == [5, 7]
    assert capfd.readouterr().err == ""


def test_rewriting_replaces_earlier_values_of_the_fields(tmp_path):
    path = vcf(tmp_path, "chr1\t10\t.\tA\tG\t.\t.\tIELM_X=0.9;IELM_SKIP=old\tGT\t0/1\n",
               header=HEADER.replace("#CHROM", "##INFO=<ID=IELM_X,Number=A,Type=Float,Description=\"a score\">\n"
                                               "##INFO=<ID=IELM_SKIP,Number=A,Type=String,Description=\"w\">\n#CHROM"))
    with VcfReader(path) as reader:
        reader.add_info(FIELDS)
        with VcfWriter(tmp_path / "out.vcf.gz", reader, FIELDS) as writer:
            for record in reader.records():
                writer.write(record, {"IELM_X": [0.1]})
    [line] = [l for l in gzip.open(tmp_path / "out.vcf.gz", "rt") if not l.startswith("#")]
    assert line.split("\t")[7] == "IELM_X=0.1"


def test_a_field_declared_otherwise_is_refused(tmp_path):
    path = vcf(tmp_path, "", header=HEADER.replace(
        "#CHROM", "##INFO=<ID=IELM_X,Number=1,Type=Integer,Description=\"other\">\n#CHROM"))
    with VcfReader(path) as reader, pytest.raises(InputError, match="already declares INFO IELM_X as Number=1"):
        reader.add_info(FIELDS)


def test_index_paths_are_the_tabix_and_csi_files_beside_the_vcf():
    assert vcf_index_paths(Path("/d/v.vcf.gz")) == [Path("/d/v.vcf.gz.tbi"), Path("/d/v.vcf.gz.csi")]
