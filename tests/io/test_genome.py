"""Tests for ielmscan.io.genome: FASTA opening, fetch, errors (the index itself: test_genome_index)."""
from __future__ import annotations

import gzip
import os
import random
import shutil
import tempfile
from pathlib import Path

import pysam
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ielmscan.io.genome_index as genome_index_mod
from ielmscan.errors import GenomeError
from ielmscan.io.genome import Genome
from ielmscan.kernels.grid import WindowGrid
from ielmscan.io.intervals import Interval, iter_chunks

from tests.io.test_fasta import fasta_files



def write_fasta(path: Path, records: list[tuple[str, str]], width: int = 60) -> Path:
    """Write ``records`` (header text, sequence) as FASTA with ``width`` bases per line."""
    with open(path, "w") as fh:
        for header, seq in records:
            fh.write(f">{header}\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i : i + width] + "\n")
    return path


def random_seq(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ACGTacgtN") for _ in range(n))


@pytest.fixture
def records() -> list[tuple[str, str]]:
    rng = random.Random(7)
    # Deliberately not in sorted order, with a description and a colon in names.
    return [
        ("chr2 some description", random_seq(rng, 137)),
        ("chr10", random_seq(rng, 60)),
        ("22:20000001-21000000", random_seq(rng, 45)),
        ("chrM", random_seq(rng, 7)),
    ]


def name(header: str) -> str:
    return header.split()[0]


@pytest.fixture(params=["plain", "bgzip"])
def fasta(request, tmp_path: Path, records) -> Path:
    plain = write_fasta(tmp_path / "g.fa", records, width=13)
    if request.param == "plain":
        return plain
    pysam.tabix_compress(str(plain), str(tmp_path / "g.fa.gz"))
    plain.unlink()
    return tmp_path / "g.fa.gz"


# -- opening and reading ---------------------------------------------------------------------------


def test_open_builds_missing_index_and_lists_chroms_in_fasta_order(fasta: Path, records) -> None:
    assert not Path(str(fasta) + ".fai").exists()
    with Genome.open(fasta) as g:
        assert g.chroms == [(name(h), len(s)) for h, s in records]
        assert g.path == fasta
    assert Path(str(fasta) + ".fai").is_file()
    if fasta.suffix == ".gz":
        assert Path(str(fasta) + ".gzi").is_file()
    # No temporary files are left behind next to the FASTA.
    assert sorted(p.name for p in fasta.parent.iterdir() if p.name.startswith(".")) == []


def test_fetch_returns_exact_bases_case_preserved(fasta: Path, records) -> None:
    rng = random.Random(1)
    with Genome.open(fasta) as g:
        for header, seq in records:
            chrom = name(header)
            assert g.length(chrom) == len(seq)
            assert g.fetch(chrom, 0, len(seq)) == seq.encode()
            for _ in range(30):
                a = rng.randrange(0, len(seq) + 1)
                b = rng.randrange(a, len(seq) + 1)
                assert g.fetch(chrom, a, b) == seq[a:b].encode()


def test_fetch_empty_range_and_chromosome_end(fasta: Path, records) -> None:
    chrom, seq = name(records[0][0]), records[0][1]
    with Genome.open(fasta) as g:
        assert g.fetch(chrom, 5, 5) == b""
        assert g.fetch(chrom, len(seq), len(seq)) == b""
        assert g.fetch(chrom, len(seq) - 1, len(seq)) == seq[-1:].encode()


@pytest.mark.parametrize("start,end", [(-1, 5), (0, 138), (10, 9), (137, 138)])
def test_fetch_out_of_bounds_is_an_error_not_clipped(fasta: Path, start: int, end: int) -> None:
    with Genome.open(fasta) as g:
        with pytest.raises(GenomeError, match=r"outside chr2 \(length 137\)"):
            g.fetch("chr2", start, end)


def test_unknown_sequence_name_lists_valid_names(fasta: Path) -> None:
    with Genome.open(fasta) as g:
        with pytest.raises(GenomeError, match="'chr3' is not in .*g.fa.*chr2, chr10, 22:20000001-21000000"):
            g.length("chr3")
        with pytest.raises(GenomeError, match="chr3"):
            g.fetch("chr3", 0, 1)
        # The description after the name is not part of the name.
        with pytest.raises(GenomeError):
            g.length("chr2 some description")


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "w.fa"
    path.write_bytes(b">a desc\r\nACGT\r\nAC\r\n>b\r\nGG\r\n")
    with Genome.open(path) as g:
        assert g.chroms == [("a", 6), ("b", 2)]
        assert g.fetch("a", 2, 6) == b"GTAC"


# -- errors ----------------------------------------------------------------------------------------


def _bgzip(tmp_path: Path, plain: Path) -> Path:
    out = tmp_path / (plain.name + ".gz")
    pysam.tabix_compress(str(plain), str(out))
    return out


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "is empty|holds no sequences"),
        (b"\n\n  \n", "holds no sequences"),
        (b"@read1\nACGT\n+\nIIII\n", "not a FASTA file.*'@'"),
        (b"ACGTACGT\n", "not a FASTA file"),
        (b">a\nACGT\n>b\nGG\n>a\nTTTT\n", "duplicate sequence name 'a'"),
        (b">a\nACGT\n>a x\nTTTT\n>b\nGG\n", "duplicate sequence name 'a'"),
        (b">a\nACGTAC\nAC\nACGTAC\n>b\nGG\n", "FASTA .*bad.fa(.gz)? record 'a' line 4: a sequence line after a shorter"),
    ],
    ids=["empty", "whitespace", "fastq", "no-header", "dup-last", "dup-middle", "ragged-lines"],
)
@pytest.mark.parametrize("compression", ["plain", "bgzip"])
def test_bad_fasta_gives_one_line_genome_error_naming_the_file(
    tmp_path: Path, content: bytes, message: str, compression: str
) -> None:
    path = tmp_path / "bad.fa"
    path.write_bytes(content)
    if compression == "bgzip":
        path = _bgzip(tmp_path, path)
    with pytest.raises(GenomeError, match=message) as info:
        Genome.open(path)
    assert path.name in str(info.value)
    assert "\n" not in str(info.value)


def test_plain_gzip_is_rejected_with_bgzip_advice(tmp_path: Path) -> None:
    path = tmp_path / "g.fa.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b">a\nACGT\n")
    with pytest.raises(GenomeError, match="g.fa.gz is compressed with gzip, not bgzip: recompress with `bgzip`"):
        Genome.open(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(GenomeError, match="nope.fa does not exist"):
        Genome.open(tmp_path / "nope.fa")
    with pytest.raises(GenomeError, match="is a directory"):
        Genome.open(tmp_path)


# -- real genomes ----------------------------------------------------------------------------------

REAL = {
    "grch37_chr22_20000001-21000000.fa": ("22:20000001-21000000", 1_000_000),
    "hg38_chr16_186964-397118.fa": ("chr16", 210_155),
    "yeast_chrI_R64-1-1_repeatmasked.fa": ("I", 230_218),
}


def _bases_in_file(path: Path) -> bytes:
    """The bases of a one-record FASTA, read naively."""
    return b"".join(line.strip() for line in path.read_bytes().splitlines()[1:])


@pytest.mark.parametrize("filename", sorted(REAL))
def test_real_genome_copy_and_in_place(filename: str, tmp_path: Path, monkeypatch, shared_data) -> None:
    shared = shared_data(f"genomes/{filename}")
    chrom, length = REAL[filename]
    assert len(_bases_in_file(shared)) == length

    # A copy in a writable folder: the index is built next to it.
    copy = tmp_path / filename
    shutil.copyfile(shared, copy)
    with Genome.open(copy) as g:
        assert g.chroms == [(chrom, length)]
        assert g.fai_path == Path(str(copy) + ".fai")
        check_real_content(g, shared, chrom, length)

    # In place: the shared folder must never be written to. It is read-only for ordinary users, but
    # these tests run as root, so make the write probe fail for it to take the same path they would.
    real_probe = genome_index_mod._can_create_files
    monkeypatch.setattr(
        genome_index_mod, "_can_create_files", lambda folder: folder != shared.parent and real_probe(folder)
    )
    # Other tools (or test runs as root) may have left an index there; ignore it so the cache path
    # is taken every time.
    real_fresh = genome_index_mod._is_fresh
    monkeypatch.setattr(
        genome_index_mod, "_is_fresh", lambda index, mtime: index.parent != shared.parent and real_fresh(index, mtime)
    )
    # Record where indexes get built rather than diffing the folder: other test runs may share it.
    built: list[Path] = []
    real_build = genome_index_mod._build_index
    monkeypatch.setattr(
        genome_index_mod, "_build_index", lambda fasta, fai, gzi: (built.append(fai), real_build(fasta, fai, gzi))[1]
    )
    cache = tmp_path / "cache"
    with Genome.open(shared, index_cache_dir=cache) as g:
        assert g.chroms == [(chrom, length)]
        assert g.fai_path.is_relative_to(cache)
        check_real_content(g, shared, chrom, length)
    assert len(built) == 1 and built[0].is_relative_to(cache)


def check_real_content(g: Genome, original: Path, chrom: str, length: int) -> None:
    seq = g.fetch(chrom, 0, length)
    assert seq == _bases_in_file(original)  # byte for byte, case and N kept
    if original.name.startswith("grch37"):
        assert b"N" * 100_000 in seq  # the assembly gap
        assert g.fetch(chrom, 0, 10) == b"TGGGAAGGTG"
    if original.name.startswith("hg38"):
        lower = sum(seq.count(c) for c in b"acgtn")
        assert 0.35 < lower / length < 0.45  # soft-masking kept (41 % lowercase)
    if original.name.startswith("yeast"):
        assert seq.startswith(b"N" * 62 + b"TCCTAACA")
    # Chunked reads agree with one big read, across the whole sequence.
    pieces = [c.seq[: 50_000] for c in iter_chunks(g, Interval(chrom, 0, length), WindowGrid(50_000, 50_000), 1)]
    assert b"".join(pieces) == seq[: len(pieces) * 50_000]


# -- streams ---------------------------------------------------------------------------------------


def test_fasta_from_a_pipe_or_stdin_says_a_file_is_needed(tmp_path: Path) -> None:
    fifo = tmp_path / "g.fa"
    os.mkfifo(fifo)  # nothing writes to it: opening it to read would hang
    with pytest.raises(GenomeError, match=r"FASTA from .*g.fa \(a pipe\): .*needs a file; save it first \(e.g. `cat > genome.fa`"):
        Genome.open(fifo)
    with pytest.raises(GenomeError, match=r"FASTA from standard input \('-'\): .*`bgzip -c > genome.fa.gz`"):
        Genome.open("-")
    read, write = os.pipe()
    try:
        with pytest.raises(GenomeError, match=r"\(a pipe\)"):
            Genome.open(f"/dev/fd/{read}")
    finally:
        os.close(read)
        os.close(write)


def test_a_file_cut_short_while_open_is_one_quiet_error(tmp_path: Path, capfd) -> None:
    rng = random.Random(8)
    records = [("a", random_seq(rng, 3000)), ("b", random_seq(rng, 3000))]
    path = write_fasta(tmp_path / "g.fa", records)
    with Genome.open(path) as g:
        with open(path, "r+b") as fh:
            fh.truncate(3500)
        with pytest.raises(GenomeError, match="b:.*g.fa.*changed or was cut short") as info:
            g.fetch("b", 0, 3000)
    assert "\n" not in str(info.value)
    assert capfd.readouterr().err == ""  # no [E::fai_retrieve] line


# -- property: any layout htslib accepts reads back byte for byte --------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fasta_files(), st.booleans())
def test_genome_fetch_returns_exactly_what_was_written(tmp_path, case, compressed):
    records, data = case
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # a fresh folder per example: no index carried over
    path = folder / "g.fa"
    path.write_bytes(data)
    if compressed:
        pysam.tabix_compress(str(path), str(folder / "g.fa.gz"))
        path = folder / "g.fa.gz"
    # Every record with bases reads back byte for byte, anywhere. Records without bases are left out (or kept
    # empty, as htslib decides); a file that ends with one, or has no base at all, is refused in one line.
    expected = [(name, seq) for name, seq in records if seq]
    try:
        genome = Genome.open(path)
    except GenomeError as exc:
        assert not records[-1][1] and "\n" not in str(exc) and str(path) in str(exc)
        return
    with genome:
        assert [(name, length) for name, length in genome.chroms if length] == [(n, len(s)) for n, s in expected]
        for name, seq in expected:
            assert genome.fetch(name, 0, len(seq)) == seq.encode()
            middle = len(seq) // 3
            assert genome.fetch(name, middle, len(seq) - middle // 2) == seq[middle : len(seq) - middle // 2].encode()
