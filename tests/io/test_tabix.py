"""Tests for ielmscan.io.tabix: bgzip outputs and their tabix index, committed with their output set; the
lengths a .tbi index holds."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import pysam
import pytest

from ielmscan.errors import OutputError
from ielmscan.io.atomic_outputs import OutputSet
from ielmscan.io.tabix import TABIX_MAX_LENGTH, check_tabix_lengths
from ielmscan.io.writers import write_manifest

TABIX = (".bed.gz", ".bed.gz.tbi", ".json")
LINES = ["chr2\t0\t50\ta\n", "chr2\t40\t90\tb\n", "chr10\t5\t15\tc\n", "chr10\t100\t200\td\n"]


def test_a_bgzip_output_and_its_tabix_index_are_committed_together_and_read_by_region(tmp_path: Path) -> None:
    with OutputSet(tmp_path / "run", TABIX) as out:
        with out.open(".bed.gz") as bed:
            bed.writelines(LINES)
        out.tabix_index(".bed.gz")
        write_manifest(out.temp(".json"), {"a": 1})
        assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []  # nothing before the commit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.bed.gz", "run.bed.gz.tbi", "run.json"]
    with pysam.TabixFile(str(tmp_path / "run.bed.gz")) as tabix:
        assert tabix.contigs == ["chr2", "chr10"]  # the file's order, not a sorted one
        assert list(tabix.fetch("chr2", 50, 60)) == ["chr2\t40\t90\tb"]  # 0-based, half-open: a ends at 50
        assert list(tabix.fetch("chr10", 0, 10)) == ["chr10\t5\t15\tc"]
    with gzip.open(tmp_path / "run.bed.gz", "rt") as fh:  # plain gzip readers (zcat) read it too
        assert fh.readlines() == LINES


def test_an_empty_bgzip_output_is_indexed(tmp_path: Path) -> None:
    with OutputSet(tmp_path / "run", TABIX[:2]) as out:
        with out.open(".bed.gz"):
            pass
        out.tabix_index(".bed.gz")
    with pysam.TabixFile(str(tmp_path / "run.bed.gz")) as tabix:
        assert tabix.contigs == []


def test_a_failed_run_leaves_neither_the_bgzip_file_nor_its_index(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with OutputSet(tmp_path / "run", TABIX) as out:
            with out.open(".bed.gz") as bed:
                bed.writelines(LINES)
            out.tabix_index(".bed.gz")
            raise RuntimeError("the scan failed")
    assert list(tmp_path.iterdir()) == []


def test_unsorted_lines_are_an_output_error_from_tabix(tmp_path: Path, capfd) -> None:
    with pytest.raises(OutputError, match=r"run\.bed\.gz\.tbi: the lines are not sorted"):
        with OutputSet(tmp_path / "run", TABIX) as out:
            with out.open(".bed.gz") as bed:
                bed.writelines(["chr1\t50\t60\n", "chr1\t0\t10\n"])
            out.tabix_index(".bed.gz")
    assert list(tmp_path.iterdir()) == []
    assert capfd.readouterr().err == ""  # htslib's own message is caught


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_bgzip_output_on_a_full_disk_names_the_final_file(tmp_path: Path, capfd) -> None:
    with pytest.raises(OutputError, match=r"cannot write .*run\.bed\.gz: No space left on device"):
        with OutputSet(tmp_path / "run", TABIX) as out:
            out.temp(".bed.gz").symlink_to("/dev/full")
            with out.open(".bed.gz") as bed:
                bed.write("chr1\t0\t10\n" * 300_000)
    assert list(tmp_path.iterdir()) == []
    assert capfd.readouterr().err == ""


def test_sequences_too_long_for_a_tbi_index_are_refused() -> None:
    check_tabix_lengths([("chr1", 248_956_422), ("chrX", TABIX_MAX_LENGTH)])
    with pytest.raises(OutputError, match="chr3B .* longer than a .tbi index"):
        check_tabix_lengths([("chr1", 1_000), ("chr3B", 830_829_764)])

