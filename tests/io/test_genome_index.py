"""Tests for ielmscan.io.genome_index: a FASTA's index found (next to the file or in a cache), checked, or built,
through Genome.open."""
from __future__ import annotations

import os
import random
import shutil
import struct
from pathlib import Path

import pysam
import pytest

import ielmscan.io.genome_index as genome_index_mod
from ielmscan.errors import GenomeError
from ielmscan.io.genome import Genome

from tests.io import test_genome
from tests.io.test_genome import _bgzip, random_seq, write_fasta

# Fixtures: the four-record FASTA, plain and bgzip, and its records (see test_genome).
records, fasta = test_genome.records, test_genome.fasta


# -- where the index goes: next to the FASTA, or in the cache --------------------------------------


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


def test_unwritable_fasta_folder_indexes_into_cache(fasta: Path, tmp_path: Path, records, monkeypatch) -> None:
    # A folder can refuse writes in ways chmod does not show (read-only mounts, ACLs); simulate
    # that by making the "folder accepts files" probe fail there.
    real_probe = genome_index_mod._can_create_files
    monkeypatch.setattr(
        genome_index_mod, "_can_create_files", lambda folder: folder != fasta.parent and real_probe(folder)
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
    assert genome_index_mod.default_index_cache_dir() == tmp_path / "xdg" / "ielmscan" / "faidx"


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


# -- files htslib will not index -------------------------------------------------------------------


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
    real_probe = genome_index_mod._can_create_files
    monkeypatch.setattr(
        genome_index_mod, "_can_create_files", lambda folder: folder != path.parent and real_probe(folder)
    )
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
    real_probe = genome_index_mod._can_create_files
    monkeypatch.setattr(
        genome_index_mod, "_can_create_files", lambda folder: folder != path.parent and real_probe(folder)
    )
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
