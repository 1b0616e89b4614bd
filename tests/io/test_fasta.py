"""The FASTA record reader and writer."""
from __future__ import annotations

import pytest

from ielmscan.errors import InputError
from ielmscan.io.fasta import read_fasta, write_fasta


def test_read_fasta_joins_lines_and_keeps_first_word(tmp_path):
    path = tmp_path / "x.fa"
    path.write_text(">a desc here\nACG\nTT\n\n>b\nggg\n")
    assert read_fasta(path) == [("a", "ACGTT"), ("b", "ggg")]


def test_read_fasta_rejects_non_fasta_with_file_and_line(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("hello\n>a\nAC\n")
    with pytest.raises(InputError, match=r"x.txt:1"):
        read_fasta(path)
    (tmp_path / "empty.fa").write_text("")
    with pytest.raises(InputError, match="no FASTA records"):
        read_fasta(tmp_path / "empty.fa")


def test_write_fasta_wraps_lines_and_reads_back(tmp_path):
    records = [("a", "ACGT" * 40), ("b", b"nnnACG"), ("c", "")]
    path = write_fasta(tmp_path / "out.fa", records, description="made by a test")
    lines = path.read_text().splitlines()
    assert lines[0] == ">a made by a test" and len(lines[1]) == 60 and lines[3] == "ACGT" * 10
    assert read_fasta(path) == [("a", "ACGT" * 40), ("b", "nnnACG"), ("c", "")]
