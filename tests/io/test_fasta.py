"""The FASTA record reader and writer."""
from __future__ import annotations

import gzip
import io
import os
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def test_read_fasta_reads_standard_input_once(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b">a\nAC\nGT\n>b x\nNN\n")))
    assert read_fasta("-") == [("a", "ACGT"), ("b", "NN")]


def test_read_fasta_reads_a_named_fifo(tmp_path):
    fifo = tmp_path / "q.fa"
    os.mkfifo(fifo)

    def write():
        with open(fifo, "wb") as fh:
            fh.write(b">a\n" + b"ACGT" * 5000 + b"\n")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert read_fasta(fifo) == [("a", "ACGT" * 5000)]
    writer.join(10)


@pytest.mark.parametrize("content, message", [
    (gzip.compress(b">a\nACGT\n"), "q.fa is gzip-compressed: decompress it first"),
    (b">a\nAC\xff\xfeGT\n", "q.fa is not a text file"),
    (b">a\nACGT\nAC GT\n", r"q.fa:3: a space or tab inside a sequence line of record 'a'"),
    (b">a\nACGT\nAC\tGT\n", r"q.fa:3: a space or tab inside a sequence line of record 'a'"),
    (b"@r1\nACGT\n+\nIIII\n", r"q.fa:1: not a FASTA file .*FASTQ"),
    (b"\n\n", "q.fa: no FASTA records"),
])
def test_read_fasta_refuses_what_it_would_misread(tmp_path, content, message):
    (tmp_path / "q.fa").write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_fasta(tmp_path / "q.fa")


def test_read_fasta_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="cannot read FASTA .*nope.fa: No such file"):
        read_fasta(tmp_path / "nope.fa")
    with pytest.raises(InputError, match="is a directory"):
        read_fasta(tmp_path)


# -- property: whatever the layout, the bases come back as written ----------------------------------

NAMES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters=">"), min_size=1, max_size=12)
SEQUENCES = st.lists(st.sampled_from(["A", "C", "G", "T", "a", "c", "g", "t", "N" * 7, "n", "R", "Y", "-"]),
                     max_size=80).map("".join)


@st.composite
def fasta_files(draw):
    """Records with unique names, written with a drawn line width, line end and blank lines between them."""
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    records = [(name, draw(SEQUENCES)) for name in names]
    width = draw(st.integers(1, 90))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = []
    for name, seq in records:
        text.append(f">{name}{draw(st.sampled_from(['', ' a description', chr(9) + 'tab']))}{ending}")
        text += [seq[i : i + width] + ending for i in range(0, len(seq), width)]
        text.append(ending * draw(st.integers(0, 2)))
    return records, "".join(text).encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fasta_files())
def test_read_fasta_returns_exactly_what_was_written(tmp_path, case):
    records, data = case
    path = tmp_path / "p.fa"
    path.write_bytes(data)
    assert read_fasta(path) == records
