"""Tests for ielmscan.io.genome: FASTA opening, indexing (next to the file or in a cache), fetch, errors."""
from __future__ import annotations

import gzip
import os
import random
import shutil
import struct
import tempfile
from pathlib import Path

import pysam
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ielmscan.io.genome as genome_mod
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


def test_index_is_reused_and_rebuilt_when_fasta_changes(tmp_path: Path) -> None:
    path = write_fasta(tmp_path / "g.fa", [("a", "ACGTACGT")])
    with Genome.open(path) as g:
        assert g.fetch("a", 0, 8) == b"ACGTACGT"
    fai = Path(str(path) + ".fai")
    built = fai.stat().st_mtime_ns
    with Genome.open(path) as g:
        pass
    assert fai.stat().st_mtime_ns == built  # fresh index reused
    # Rewriting the FASTA makes the old index wrong: it must be rebuilt, not trusted.
    write_fasta(path, [("b", "TT"), ("a", "GGGGCCCCAAAA")], width=5)
    later = built + 10**9
    os.utime(path, ns=(later, later))
    with Genome.open(path) as g:
        assert g.chroms == [("b", 2), ("a", 12)]
        assert g.fetch("a", 3, 9) == b"GCCCCA"


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "w.fa"
    path.write_bytes(b">a desc\r\nACGT\r\nAC\r\n>b\r\nGG\r\n")
    with Genome.open(path) as g:
        assert g.chroms == [("a", 6), ("b", 2)]
        assert g.fetch("a", 2, 6) == b"GTAC"


def test_unwritable_fasta_folder_indexes_into_cache(fasta: Path, tmp_path: Path, records, monkeypatch) -> None:
    # A folder can refuse writes in ways chmod does not show (read-only mounts, ACLs); simulate
    # that by making the "folder accepts files" probe fail there.
    real_probe = genome_mod._can_create_files
    monkeypatch.setattr(
        genome_mod, "_can_create_files", lambda folder: folder != fasta.parent and real_probe(folder)
    )
    cache = tmp_path / "cache"
    with Genome.open(fasta, index_cache_dir=cache) as g:
        assert g.chroms[0] == ("chr2", 137)
        assert g.fetch("chr10", 0, 60) == records[1][1].encode()
        assert g.fai_path.parent.parent == cache
    assert not list(fasta.parent.glob("g.fa*.fai")) and not list(fasta.parent.glob("*.gzi"))
    cached = sorted(cache.glob("*/*"))
    assert [p.name for p in cached] == sorted([fasta.name + ".fai"] + ([fasta.name + ".gzi"] * g.compressed))
    # A second open reuses the cached index instead of rebuilding it.
    monkeypatch.setattr(pysam, "faidx", lambda *a: pytest.fail("index rebuilt"))
    with Genome.open(fasta, index_cache_dir=cache) as g:
        assert g.fai_path == cache / cached[0].parent.name / (fasta.name + ".fai")
        assert g.fetch("chrM", 0, 7) == records[3][1].encode()


def test_default_cache_folder_follows_xdg(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert genome_mod.default_index_cache_dir() == tmp_path / "xdg" / "ielmscan" / "faidx"


def test_real_read_only_folder_indexes_into_cache(tmp_path: Path, records) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    src = write_fasta(folder / "g.fa", records)
    folder.chmod(0o555)
    try:
        with Genome.open(src, index_cache_dir=tmp_path / "cache") as g:
            assert g.fetch("chrM", 0, 7) == records[3][1].encode()
        assert not (folder / "g.fa.fai").exists()
    finally:
        folder.chmod(0o755)


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


@pytest.mark.parametrize("compression", ["plain", "bgzip"])
def test_duplicate_names_leave_no_index_and_are_reported_on_every_open(tmp_path: Path, compression: str) -> None:
    path = write_fasta(tmp_path / "dup.fa", [("a", "ACGT"), ("b", "GG"), ("a desc", "TTTT")])
    if compression == "bgzip":
        path = _bgzip(tmp_path, path)
        (tmp_path / "dup.fa").unlink()
    for _ in range(2):  # no half-built index survives to hide the duplicate next time
        with pytest.raises(GenomeError, match=f"FASTA .*{path.name} has duplicate sequence name 'a'"):
            Genome.open(path)
        assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


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


def test_open_is_silent(tmp_path: Path, capfd) -> None:
    # htslib warns on stderr about duplicates and format errors; the library must not print.
    path = tmp_path / "dup.fa"
    path.write_bytes(b">a\nACGT\n>a\nTT\n")
    with pytest.raises(GenomeError):
        Genome.open(path)
    bad = tmp_path / "ragged.fa"
    bad.write_bytes(b">a\nACGTAC\nAC\nACGTAC\n")
    with pytest.raises(GenomeError):
        Genome.open(bad)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


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
    real_probe = genome_mod._can_create_files
    monkeypatch.setattr(
        genome_mod, "_can_create_files", lambda folder: folder != shared.parent and real_probe(folder)
    )
    # Other tools (or test runs as root) may have left an index there; ignore it so the cache path
    # is taken every time.
    real_fresh = genome_mod._is_fresh
    monkeypatch.setattr(
        genome_mod, "_is_fresh", lambda index, mtime: index.parent != shared.parent and real_fresh(index, mtime)
    )
    # Record where indexes get built rather than diffing the folder: other test runs may share it.
    built: list[Path] = []
    real_build = genome_mod._build_index
    monkeypatch.setattr(
        genome_mod, "_build_index", lambda fasta, fai, gzi: (built.append(fai), real_build(fasta, fai, gzi))[1]
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


# -- an index must describe its file ---------------------------------------------------------------


def _stale_copy(tmp_path: Path, compressed: bool) -> tuple[Path, list[tuple[str, str]]]:
    """``g.fa`` indexed, then replaced as ``cp -p`` would: other content, an older time than the index."""
    rng = random.Random(5)
    old = [("chr1", random_seq(rng, 5000)), ("chr2", random_seq(rng, 3000))]
    new = [("chr1", random_seq(rng, 4000)), ("chr2", random_seq(rng, 3100))]
    path = write_fasta(tmp_path / "g.fa", old)
    (tmp_path / "other").mkdir()
    other = write_fasta(tmp_path / "other" / "g.fa", new, width=50)
    if compressed:
        path, other = _bgzip(tmp_path, path), _bgzip(tmp_path / "other", other)
    Genome.open(path).close()
    shutil.copy2(other, path)
    hour_ago = Path(str(path) + ".fai").stat().st_mtime_ns - 3600 * 10**9
    os.utime(path, ns=(hour_ago, hour_ago))  # as `cp -p` leaves it: older than the index
    assert path.stat().st_mtime_ns < Path(str(path) + ".fai").stat().st_mtime_ns
    return path, new


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "bgzip"])
def test_index_of_another_file_is_rebuilt_whatever_its_time(tmp_path: Path, compressed: bool, caplog) -> None:
    path, new = _stale_copy(tmp_path, compressed)
    with Genome.open(path) as g:
        assert g.chroms == [(name, len(seq)) for name, seq in new]
        assert g.fetch("chr2", 0, 3100) == new[1][1].encode()
    assert "did not match" in caplog.text and "rebuilt" in caplog.text
    with Genome.open(path) as g:  # the rebuilt index is now trusted
        assert g.fetch("chr1", 3990, 4000) == new[0][1][3990:].encode()


def _indexed(tmp_path: Path, records: list[tuple[str, str]], width: int = 60) -> tuple[Path, str]:
    path = write_fasta(tmp_path / "g.fa", records, width=width)
    Genome.open(path).close()
    return path, Path(str(path) + ".fai").read_text()


@pytest.mark.parametrize("spoil", [
    lambda fai: fai.replace("chr2\t3000", "chr2\t-3000"),  # an impossible length used to drop chr2 silently
    lambda fai: fai.replace("\t60\t61\nchr3", "\t0\t61\nchr3"),  # no bases per line
    lambda fai: fai.replace("\t60\t61\nchr3", "\t70\t61\nchr3"),  # more bases than bytes per line
    lambda fai: "".join(fai.splitlines(keepends=True)[1:]),  # a record left out
    lambda fai: "".join(fai.splitlines(keepends=True)[::-1]),  # records out of file order
    lambda fai: fai.replace("chr2\t3000", "chr2\t2999"),  # one base short
    lambda fai: fai.replace("chr3\t", "chrX\t"),  # a renamed record
    lambda fai: fai + "chr4\t10\t99999\t60\t61\n",  # a record past the end of the file
    lambda fai: fai.replace("\t", " "),  # not tab-separated
    lambda fai: "",  # empty
], ids=["negative-length", "zero-line-bases", "bases-over-width", "missing-record", "reordered", "short",
        "renamed", "past-the-end", "spaces", "empty"])
def test_index_with_wrong_or_impossible_fields_is_rebuilt(tmp_path: Path, spoil, caplog) -> None:
    rng = random.Random(2)
    records = [("chr1", random_seq(rng, 5000)), ("chr2", random_seq(rng, 3000)), ("chr3", random_seq(rng, 77))]
    path, fai = _indexed(tmp_path, records)
    Path(str(path) + ".fai").write_text(spoil(fai))
    with Genome.open(path) as g:
        assert g.chroms == [(n, len(s)) for n, s in records]
        assert [g.fetch(n, 0, len(s)) for n, s in records] == [s.encode() for _, s in records]
    assert Path(str(path) + ".fai").read_text() == fai
    assert "did not match" in caplog.text


def test_index_of_a_rewrapped_file_of_the_same_size_is_rebuilt(tmp_path: Path) -> None:
    rng = random.Random(3)
    records = [("a", random_seq(rng, 600)), ("b", random_seq(rng, 600))]
    path, _ = _indexed(tmp_path, records, width=60)
    newer = Path(str(path) + ".fai").stat().st_mtime_ns
    write_fasta(path, records, width=50)  # the same bases on shorter lines: every base after line 1 moves
    os.utime(path, ns=(newer - 10**9, newer - 10**9))
    with Genome.open(path) as g:
        assert g.fetch("b", 0, 600) == records[1][1].encode()


def _gzi_entries(gzi: Path) -> list[tuple[int, int]]:
    data = gzi.read_bytes()
    return [struct.unpack_from("<QQ", data, 8 + 16 * i) for i in range(struct.unpack_from("<Q", data)[0])]


def _write_gzi(gzi: Path, entries: list[tuple[int, int]]) -> None:
    gzi.write_bytes(struct.pack("<Q", len(entries)) + b"".join(struct.pack("<QQ", c, u) for c, u in entries))


@pytest.mark.parametrize("spoil", [
    lambda e: [(c, u + 61) for c, u in e],  # consistent-looking, one line off: htslib reads wrong bases
    lambda e: [(c + 5, u) for c, u in e],  # not block starts
    lambda e: e[:1] + [(e[1][0], e[1][1] + 1)] + e[2:],  # one entry wrong
    lambda e: e[::-1],  # out of order
    lambda e: e + [(10**9, 10**10)],  # past the end of the file
], ids=["shifted", "not-block-starts", "one-wrong", "reversed", "past-the-end"])
def test_gzi_with_wrong_offsets_is_rebuilt(tmp_path: Path, spoil, caplog) -> None:
    rng = random.Random(4)
    records = [("chr1", random_seq(rng, 200_000)), ("chr2", random_seq(rng, 90_000))]
    path = _bgzip(tmp_path, write_fasta(tmp_path / "g.fa", records))
    Genome.open(path).close()
    gzi = Path(str(path) + ".gzi")
    good = _gzi_entries(gzi)
    assert len(good) >= 3  # several BGZF blocks
    _write_gzi(gzi, spoil(good))
    with Genome.open(path) as g:
        assert g.fetch("chr2", 0, 90_000) == records[1][1].encode()
    assert _gzi_entries(gzi) == good
    assert "did not match" in caplog.text and "g.fa.gz.gzi" in caplog.text


def test_wrong_index_in_a_read_only_folder_is_replaced_by_a_cached_one(tmp_path: Path, monkeypatch, caplog) -> None:
    path, new = _stale_copy(tmp_path, compressed=False)
    stale = Path(str(path) + ".fai").read_bytes()
    real_probe = genome_mod._can_create_files
    monkeypatch.setattr(genome_mod, "_can_create_files", lambda folder: folder != path.parent and real_probe(folder))
    for _ in range(2):  # the cached index is checked and reused
        with Genome.open(path, index_cache_dir=tmp_path / "cache") as g:
            assert g.fai_path.is_relative_to(tmp_path / "cache")
            assert g.fetch("chr2", 0, 3100) == new[1][1].encode()
    assert Path(str(path) + ".fai").read_bytes() == stale  # not ours to replace
    assert "read-only" in caplog.text and "samtools faidx" in caplog.text


def test_a_wrong_cached_index_is_rebuilt(tmp_path: Path, monkeypatch) -> None:
    rng = random.Random(6)
    records = [("a", random_seq(rng, 500))]
    (tmp_path / "ro").mkdir()
    path = write_fasta(tmp_path / "ro" / "g.fa", records)
    real_probe = genome_mod._can_create_files
    monkeypatch.setattr(genome_mod, "_can_create_files", lambda folder: folder != path.parent and real_probe(folder))
    with Genome.open(path, index_cache_dir=tmp_path / "cache") as g:
        cached = g.fai_path
    cached.write_text("a\t500\t3\t50\t51\n")
    with Genome.open(path, index_cache_dir=tmp_path / "cache") as g:
        assert g.fetch("a", 0, 500) == records[0][1].encode()


# -- lines htslib indexes at the wrong layout ------------------------------------------------------


@pytest.mark.parametrize("content,where,problem", [
    (b">a\nACGTA\nAC GT\nACGTA\n>b\nGG\n", "record 'a' line 3", "a space inside a sequence line"),
    (b">a\nAC\tGT\nAC\tGT\n>b\nGG\n", "record 'a' line 2", "a tab inside a sequence line"),
    (b">a\nACGTA\nACGTA\nAC GT\n>b\nGG\n", "record 'a' line 4", "a space inside a sequence line"),
    (b">a\nACGT \nACGT \nAC\n>b\nGG\n", "record 'a' line 2", "a space in a sequence line"),
    (b">a\nACGT\r\nACGTA\nAC\n>b\nGG\n", "record 'a' line 3", "a line of 5 bases ending in \\n where the record's first line has 4 ending in \\r\\n"),
    (b">a\nACGT\nACGT\n>b\nGGGG\nGG\r\nGGGG\nG\n", "record 'b' line 7", "after a shorter or a blank line"),
    (b">a\nACGT\n>b\nGGGG\n\nGGGG\n", "record 'b' line 6", "after a shorter or a blank line"),
    (b">a\nACGT\nACGTAC\n>b\nGG\n", "record 'a' line 3", "longer than the record's first line"),
    (b">a\nAC\x00T\nACGT\n>b\nGG\n", "record 'a' line 2", "a NUL byte"),
    (b">a\nAC\xc3\xa9T\nACGT\n>b\nGG\n", "record 'a' line 2", "byte 0xc3 (not ASCII)"),
    (b">a\nACGT\n>\nACGT\n", "line 3", "a header line without a name"),
], ids=["space", "tab", "space-last-line", "trailing-spaces", "crlf-mixed-equal-width", "crlf-mixed-shorter",
        "blank-line", "longer-line", "nul", "not-ascii", "no-name"])
@pytest.mark.parametrize("compression", ["plain", "bgzip"])
def test_malformed_lines_are_refused_with_record_and_line(tmp_path: Path, content: bytes, where: str,
                                                          problem: str, compression: str, capfd) -> None:
    path = tmp_path / "bad.fa"
    path.write_bytes(content)
    if compression == "bgzip":
        path = _bgzip(tmp_path, path)
        (tmp_path / "bad.fa").unlink()
    for _ in range(2):  # no index is left behind to hide the problem the second time
        with pytest.raises(GenomeError) as info:
            Genome.open(path)
        message = str(info.value)
        assert message.startswith(f"FASTA {path} {where}: "), message
        assert problem in message and "\n" not in message
        assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("content,expected", [
    (b">a\nACGT\nAC\n\n\n>b\nGG\n", {"a": b"ACGTAC", "b": b"GG"}),  # blank lines between records
    (b"\n\n>a\nACGT\nAC\n>b\nGG", {"a": b"ACGTAC", "b": b"GG"}),  # before the first; no final line end
    (b">a x\r\nACGT\r\nAC\r\n\r\n>b\r\nGG\r\n", {"a": b"ACGTAC", "b": b"GG"}),  # \r\n throughout
    (b">a\r\nACGT\nAC\n>b\nGG\n", {"a": b"ACGTAC", "b": b"GG"}),  # only the header ends in \r\n
    (b">a\nACGT\r\nAC\n>b\nGG\n", {"a": b"ACGTAC", "b": b"GG"}),  # a shorter last line with another end
    (b"> a desc\nNNNN\nnnRY\n-*\n>b\nGG\n", {"a": b"NNNNnnRY-*", "b": b"GG"}),  # any printable byte is a base
    (b">a\n>b\nGG\n", {"b": b"GG"}),  # a record without bases is left out, as htslib does
])
@pytest.mark.parametrize("compression", ["plain", "bgzip"])
def test_well_formed_files_read_exactly(tmp_path: Path, content: bytes, expected: dict[str, bytes],
                                        compression: str) -> None:
    path = tmp_path / "ok.fa"
    path.write_bytes(content)
    if compression == "bgzip":
        path = _bgzip(tmp_path, path)
    for _ in range(2):  # built, then found and checked
        with Genome.open(path) as g:
            assert {name: g.fetch(name, 0, length) for name, length in g.chroms} == expected


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
