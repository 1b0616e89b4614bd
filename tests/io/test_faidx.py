"""Tests for ielmscan.io.faidx: reading .fai/.gzi files and checking an index against its FASTA."""
from __future__ import annotations

import contextlib
import gzip
import random
from pathlib import Path

import pysam
import pytest

from ielmscan.io.faidx import FaiRecord, IndexMismatch, Malformed, check_index, open_source, read_fai


def build(tmp_path: Path, content: bytes, compressed: bool = False) -> tuple[Path, Path | None, list[FaiRecord]]:
    """``content`` as a FASTA (bgzip if asked), indexed by htslib; its path, .gzi and records."""
    path = tmp_path / "g.fa"
    path.write_bytes(content)
    if compressed:
        pysam.tabix_compress(str(path), str(tmp_path / "g.fa.gz"))
        path = tmp_path / "g.fa.gz"
    pysam.faidx(str(path))
    gzi = Path(str(path) + ".gzi") if compressed else None
    return path, gzi, read_fai(Path(str(path) + ".fai"))


def check(path: Path, gzi: Path | None, records: list[FaiRecord], full: bool) -> None:
    with contextlib.closing(open_source(path, gzi, full)) as source:
        check_index(records, source, full)


def fasta(records: list[tuple[str, str]], width: int, ending: str = "\n") -> bytes:
    out = []
    for name, seq in records:
        out.append(f">{name} some description{ending}")
        out += [seq[i : i + width] + ending for i in range(0, len(seq), width)]
    return "".join(out).encode()


def random_records(seed: int, count: int, longest: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(f"r{i}", "".join(rng.choice("ACGTNacgtn") for _ in range(rng.randint(1, longest)))) for i in range(count)]


def test_read_fai_fields_and_impossible_ones(tmp_path: Path) -> None:
    fai = tmp_path / "g.fa.fai"
    fai.write_text("chr1\t120\t6\t60\t61\nchr2\t80\t134\t60\t62\n")
    assert read_fai(fai) == [FaiRecord("chr1", 120, 6, 60, 61), FaiRecord("chr2", 80, 134, 60, 62)]
    for text in ["chr1\t120\t6\t60\n", "chr1\t-1\t6\t60\t61\n", "chr1\t120\t6\t0\t61\n", "chr1\t120\t6\t61\t61\n",
                 "chr1\t1\t6\t60\t61\nchr1\t1\t9\t60\t61\n", "a\t1\t9\t60\t61\nb\t1\t3\t60\t61\n", "a\tx\t9\t60\t61\n"]:
        fai.write_text(text)
        with pytest.raises(IndexMismatch):
            read_fai(fai)


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "bgzip"])
@pytest.mark.parametrize("ending", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_an_index_htslib_built_passes_both_checks(tmp_path: Path, compressed: bool, ending: str) -> None:
    records = random_records(1, 40, 3000)
    path, gzi, fai = build(tmp_path, fasta(records, 61, ending) + b"\n\n", compressed)
    check(path, gzi, fai, full=True)
    check(path, gzi, fai, full=False)


def test_bgzip_reads_give_the_uncompressed_bytes(tmp_path: Path) -> None:
    content = fasta(random_records(2, 30, 20_000), 70)
    path, gzi, _ = build(tmp_path, content, compressed=True)
    rng = random.Random(0)
    with contextlib.closing(open_source(path, gzi, full=False)) as source:
        assert source.size == len(content)
        for _ in range(200):
            start = rng.randrange(len(content) + 1)
            n = rng.choice([0, 1, 61, 5000, 70_000, 200_000])
            assert source.read(start, n) == content[start : start + n]


def test_the_full_check_names_the_record_and_line(tmp_path: Path) -> None:
    content = fasta([("a", "ACGT" * 30), ("b", "GGCC" * 30)], 20).replace(b"GGCCGGCCGGCCGGCCGGCC\n", b"GGCCGGCCGG CGGCCGGCC\n", 2)
    path, gzi, fai = build(tmp_path, content)
    with pytest.raises(Malformed) as info:
        check(path, gzi, fai, full=True)
    assert (info.value.record, info.value.line) == ("b", 9)  # a: lines 1-7; b: its header 8, then line 9
    assert "a space inside a sequence line" in str(info.value)
    with pytest.raises(IndexMismatch, match="record 'b'"):
        check(path, gzi, fai, full=False)  # htslib's width for b (its first line) holds a space, seen in any sample


def test_sampling_many_records_still_sees_the_end_of_the_file(tmp_path: Path) -> None:
    records = [(f"c{i}", "ACGT" * 3) for i in range(25_000)]
    path, gzi, fai = build(tmp_path, fasta(records, 60))
    check(path, gzi, fai, full=False)
    with open(path, "ab") as fh:
        fh.write(b">extra\nACGT\n")  # a record the index does not know
    with pytest.raises(IndexMismatch, match="'c24999'.*followed by '>extra'"):
        check(path, gzi, fai, full=False)


def test_a_gzi_that_is_not_one(tmp_path: Path) -> None:
    path, gzi, fai = build(tmp_path, fasta(random_records(3, 5, 100), 60), compressed=True)
    gzi.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00")  # says 5 entries, holds none
    with pytest.raises(IndexMismatch, match="not a BGZF index"):
        open_source(path, gzi, full=False)
    gzip_member = gzip.compress(b">a\nACGT\n")
    path.write_bytes(gzip_member)  # plain gzip: no BGZF blocks
    gzi.write_bytes(b"\x00" * 8)
    with pytest.raises(IndexMismatch, match="no BGZF block"):
        open_source(path, gzi, full=False)
