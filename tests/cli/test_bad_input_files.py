"""Bad genome, sequence and interval files, as a new user gives them: one row each (harness: bad_input.py).

The refusals come first (one line naming the file and the problem, exit 1, nothing left behind); then odd
files that are right and must give right results: CRLF, IUPAC codes, all N, contigs shorter than a window, an
index left from another file, a BED from a pipe.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ielmscan.cli import app, main
from ielmscan.io.synthetic import write_synthetic_genome

from tests.cli.bad_input import Case, cases, check_refusal, genome_folder, nothing

SCAN = ["--model", "model", "-o", "out"]


@pytest.fixture
def folder(tmp_path: Path, random_bundle_dir: Path) -> Path:
    return genome_folder(tmp_path, random_bundle_dir)


def write(name: str, content: bytes):  # noqa: ANN201 (a spoiler for Case)
    return lambda d: (d / name).write_bytes(content)


LINES = b"ACGTACGTAC" * 6 + b"\n"  # one 60-base line


@cases(
    # -- the genome FASTA ------------------------------------------------------------------------
    Case("not a FASTA", write("bad.fa", b"hello world\n"), ["scan", "bad.fa", *SCAN], ("bad.fa",)),
    Case("missing FASTA", nothing, ["scan", "nope.fa", *SCAN], ("nope.fa", "does not exist")),
    Case("a folder given as FASTA", lambda d: (d / "genome").mkdir(), ["scan", "genome", *SCAN],
         ("genome", "is a directory")),
    Case("empty FASTA", write("empty.fa", b""), ["scan", "empty.fa", *SCAN], ("empty.fa", "is empty")),
    Case("only blank lines", write("blank.fa", b"\n \n\n"), ["scan", "blank.fa", *SCAN], ("blank.fa", "no sequences")),
    Case("binary file", write("bin.fa", bytes(range(256)) * 8), ["scan", "bin.fa", *SCAN],
         ("bin.fa", "not a FASTA file")),
    Case("FASTQ", write("reads.fq", b"@r1\nACGT\n+\nIIII\n"), ["scan", "reads.fq", *SCAN],
         ("reads.fq", "not a FASTA file", "'@'")),
    Case("plain gzip", write("g2.fa.gz", gzip.compress(b">chr1\n" + LINES * 30)), ["scan", "g2.fa.gz", *SCAN],
         ("g2.fa.gz", "gzip, not bgzip", "bgzip")),
    Case("duplicate record names", write("dup.fa", b">chr1\n" + LINES * 5 + b">chr2\n" + LINES + b">chr1 again\n" + LINES),
         ["scan", "dup.fa", *SCAN], ("dup.fa", "duplicate sequence name 'chr1'")),
    Case("a header without bases at the end", write("h.fa", b">chr1\n" + LINES * 5 + b">chr2\n"), ["scan", "h.fa", *SCAN],
         ("h.fa", "chr2", "without bases")),
    Case("a header without a name", write("h.fa", b">chr1\n" + LINES * 5 + b">\n" + LINES), ["scan", "h.fa", *SCAN],
         ("h.fa", "line 7", "without a name")),
    # -- lines htslib would index at the wrong place (every base after them would move) -------------
    Case("space inside a sequence line", write("s.fa", b">chr1\n" + LINES * 2 + LINES.replace(b"GTAC", b"GT C", 1) + LINES * 3),
         ["scan", "s.fa", *SCAN], ("s.fa", "record 'chr1' line 4", "a space")),
    Case("tab inside every line", write("s.fa", b">chr1\n" + LINES.replace(b"GT", b"G\tT", 1) * 6),
         ["scan", "s.fa", *SCAN], ("s.fa", "record 'chr1' line 2", "a tab")),
    Case("\\r\\n and \\n mixed at equal widths",
         write("m.fa", b">chr1\n" + LINES[:-1] + b"\r\n" + (LINES[:-1] + b"A\n") * 2 + b"AC\n"), ["scan", "m.fa", *SCAN],
         ("m.fa", "record 'chr1' line 3", "61 bases ending in \\n", "60 ending in \\r\\n")),
    Case("blank line inside a record", write("b.fa", b">chr1\n" + LINES * 2 + b"\n" + LINES * 2), ["scan", "b.fa", *SCAN],
         ("b.fa", "record 'chr1' line 5", "blank line")),
    Case("a shorter line inside a record", write("r.fa", b">chr1\n" + LINES + LINES[:30] + b"\n" + LINES),
         ["scan", "r.fa", *SCAN], ("r.fa", "record 'chr1' line 4", "same number of bases")),
    Case("a NUL byte", write("z.fa", b">chr1\n" + LINES + LINES.replace(b"A", b"\0", 1) + LINES), ["scan", "z.fa", *SCAN],
         ("z.fa", "record 'chr1' line 3", "NUL")),
    Case("a byte that is not ASCII", write("u.fa", b">chr1\n" + LINES + LINES.replace(b"AC", "é".encode(), 1) + LINES),
         ["scan", "u.fa", *SCAN], ("u.fa", "record 'chr1' line 3", "not ASCII")),
    Case("a byte that is not ASCII, longer line", write("u.fa", b">chr1\n" + LINES + LINES.replace(b"A", "é".encode(), 1) + LINES),
         ["scan", "u.fa", *SCAN], ("u.fa", "record 'chr1' line 3", "not ASCII")),
    Case("old Mac line ends", write("mac.fa", b">chr1\r" + LINES[:-1] + b"\r" + LINES[:-1] + b"\r"), ["scan", "mac.fa", *SCAN],
         ("mac.fa", "carriage return alone")),
    # -- streams: a genome is read by random access ---------------------------------------------
    Case("FASTA from standard input", nothing, ["scan", "-", *SCAN], ("standard input", "needs a file", "cat > genome.fa"),
         stdin=">chr1\nACGT\n"),
    Case("FASTA as a named pipe", lambda d: os.mkfifo(d / "pipe.fa"), ["scan", "pipe.fa", *SCAN],
         ("pipe.fa", "a pipe", "needs a file", "bgzip")),
    # -- the regions BED -------------------------------------------------------------------------
    Case("regions BED naming an unknown chromosome", write("r.bed", b"chr1\t0\t500\nchrZ\t0\t10\n"),
         ["scan", "g.fa", "--regions", "r.bed", *SCAN], ("r.bed:2", "'chrZ'"), may_create=("g.fa.fai",)),
    Case("regions BED past the chromosome end", write("r.bed", b"chr1\t0\t5000\n"),
         ["scan", "g.fa", "--regions", "r.bed", *SCAN], ("r.bed:1", "beyond the end of chr1"), may_create=("g.fa.fai",)),
    Case("binary regions BED", write("r.bed", b"\xff\xfe\x00\x01" * 50), ["scan", "g.fa", "--regions", "r.bed", *SCAN],
         ("r.bed", "not a text file"), may_create=("g.fa.fai",)),
    # -- sequences for predict -------------------------------------------------------------------
    Case("predict: missing FASTA", nothing, ["predict", "nope.fa", "--model", "model"], ("nope.fa", "No such file")),
    Case("predict: a folder", lambda d: (d / "seqs").mkdir(), ["predict", "seqs", "--model", "model"],
         ("seqs", "is a directory")),
    Case("predict: gzip FASTA", write("q.fa.gz", gzip.compress(b">a\nACGT\n")), ["predict", "q.fa.gz", "--model", "model"],
         ("q.fa.gz", "gzip-compressed", "gunzip")),
    Case("predict: binary file", write("q.fa", bytes(range(128, 256))), ["predict", "q.fa", "--model", "model"],
         ("q.fa", "not a text file")),
    Case("predict: FASTQ", write("q.fq", b"@r1\nACGT\n+\nIIII\n"), ["predict", "q.fq", "--model", "model"],
         ("q.fq:1", "FASTQ")),
    Case("predict: space inside a sequence line", write("q.fa", b">a\nACGT\nAC GT\n"), ["predict", "q.fa", "--model", "model"],
         ("q.fa:3", "space or tab", "'a'")),
    Case("predict: empty standard input", nothing, ["predict", "-", "--model", "model"], ("standard input", "no FASTA records"),
         stdin=""),
)
def test_bad_file_is_refused_in_one_line(case, folder, capfd, monkeypatch):
    check_refusal(case, folder, capfd, monkeypatch)


@cases(
    # click checks these options' files itself (exit 2, a box today)
    Case("missing regions BED", nothing, ["scan", "g.fa", "--regions", "nope.bed", *SCAN], ("nope.bed",), exit_code=2),
    Case("regions BED is a folder", lambda d: (d / "r.bed").mkdir(), ["scan", "g.fa", "--regions", "r.bed", *SCAN],
         ("r.bed",), exit_code=2),
)
def test_bad_option_file_is_an_option_error_in_one_line(case, folder, capfd, monkeypatch):
    check_refusal(case, folder, capfd, monkeypatch)


@pytest.mark.parametrize("argv, words", [
    (["nope.fa", *SCAN], ("nope.fa", "does not exist")),
    (["-", *SCAN], ("standard input", "needs a file")),
], ids=["missing FASTA", "FASTA from standard input"])
def test_the_fasta_first_shorthand_refuses_alike(folder, capsys, monkeypatch, argv, words):
    # `ielmscan FASTA ...` is routed by the console entry point, not by the app the harness runs.
    monkeypatch.chdir(folder)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 1 and err[-1].startswith("ielmscan: error: ")
    assert all(word in err[-1] for word in words)


# -- odd files that are right: exit 0 and the right result ------------------------------------------

runner = CliRunner()


def scan_ok(folder: Path, capfd: pytest.CaptureFixture[str], *args: str) -> dict:
    """Run ``ielmscan scan ... -o out`` in ``folder``; it must succeed quietly (no C library lines); the manifest."""
    capfd.readouterr()
    result = runner.invoke(app, ["scan", *args, "--model", str(folder / "model"), "-o", str(folder / "out"), "-q"])
    raw = capfd.readouterr()
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "[E::" not in raw.err and "[W::" not in raw.err
    return json.loads((folder / "out.json").read_text())


@pytest.mark.parametrize("content, bases, scored", [
    (b">chr1 crlf\r\n" + (LINES[:-1] + b"\r\n") * 10, {"chr1": 600}, True),
    (b">chr1\n" + b"ACGTRYKMSWBDHVN" * 4 + b"\n" + LINES * 9 + b">chr2\n" + b"acgtnACGTN" * 30 + b"\n",
     {"chr1": 600, "chr2": 300}, True),  # IUPAC codes and soft-masking
    (b">chr1\n" + b"N" * 60 + b"\n" * 1 + (b"N" * 60 + b"\n") * 9, {"chr1": 600}, False),  # all N: nothing to score
    (b">c1\nACGTACGTAC\n>c2\nGGCC\n", {"c1": 10, "c2": 4}, False),  # every contig shorter than a window
    (b"\n>chr1\n" + LINES * 5 + b"\n\n>chr2\n" + LINES * 5, {"chr1": 300, "chr2": 300}, True),  # blank lines, no final \n
], ids=["crlf", "iupac-and-lowercase", "all-n", "contigs-shorter-than-a-window", "blank-lines"])
def test_odd_but_valid_genome_is_scanned(folder, capfd, content, bases, scored):
    (folder / "odd.fa").write_bytes(content)
    manifest = scan_ok(folder, capfd, str(folder / "odd.fa"))
    assert {name: c["bases"] for name, c in manifest["chromosomes"].items()} == bases
    assert (manifest["windows_scanned"] > 0) == scored
    if not scored:  # the manifest says why nothing was scored
        assert manifest["regions"] == 0 and manifest["bases_scored"] == 0


def test_index_left_from_another_file_is_not_trusted(folder, capfd):
    scan_ok(folder, capfd, str(folder / "g.fa"))  # indexes g.fa
    (folder / "out.json").unlink()
    (folder / "new").mkdir()
    other = write_synthetic_genome(folder / "new" / "g.fa", {"chrA": 900, "chrB": 700}, seed=2)
    shutil.copy2(other, folder / "g.fa")  # as `cp -p` leaves it: older than the index beside it
    old = (folder / "g.fa.fai").stat().st_mtime_ns - 10**12
    os.utime(folder / "g.fa", ns=(old, old))
    manifest = scan_ok(folder, capfd, str(folder / "g.fa"), "--force")
    assert {name: c["bases"] for name, c in manifest["chromosomes"].items()} == {"chrA": 900, "chrB": 700}


def test_fai_with_impossible_fields_is_rebuilt_not_dropping_a_chromosome(folder, capfd):
    write_synthetic_genome(folder / "g.fa", {"chr1": 1_500, "chr2": 800}, seed=1)
    (folder / "g.fa.fai").write_text("chr1\t1500\t49\t60\t61\nchr2\t-800\t1600\t60\t61\n")
    manifest = scan_ok(folder, capfd, str(folder / "g.fa"))
    assert {name: c["bases"] for name, c in manifest["chromosomes"].items()} == {"chr1": 1500, "chr2": 800}


@pytest.mark.parametrize("how", ["pipe", "fifo"])
def test_regions_bed_from_a_pipe_is_read_whole(folder, capfd, how):
    lines = [f"chr1\t{start}\t{start + 250}\tregion{start}\n" for start in range(0, 1251)]
    data = "".join(lines).encode()
    assert len(data) > 8192  # more than the read that a second open used to lose
    if how == "pipe":
        read, write_end = os.pipe()
        path, target = f"/dev/fd/{read}", lambda: os.fdopen(write_end, "wb")
    else:
        path = str(folder / "regions.bed")
        os.mkfifo(path)
        target = lambda: open(path, "wb")  # noqa: E731

    def feed() -> None:
        with target() as fh:
            fh.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        manifest = scan_ok(folder, capfd, str(folder / "g.fa"), "--regions", path)
    finally:
        writer.join(10)
        if how == "pipe":
            os.close(read)
    assert manifest["bases"] == 1500  # the intervals [0, 1500) merged: the first lines arrived too
