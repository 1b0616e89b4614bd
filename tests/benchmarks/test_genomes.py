"""benchmarks/genomes.py: generated chromosomes and the shared data folder."""
from __future__ import annotations

import numpy as np

from ielmscan.io.genome import Genome

from benchmarks import genomes
from benchmarks.harness import REPO_ROOT


def test_fasta_lines_wrap_at_the_width():
    seq = np.frombuffer(b"ACGTACGTAC", dtype=np.uint8)
    assert genomes.fasta_lines(seq, width=4) == b"ACGT\nACGT\nAC\n"
    assert genomes.fasta_lines(seq[:8], width=4) == b"ACGT\nACGT\n"


def test_write_chromosome_is_a_readable_deterministic_fasta(tmp_path):
    first = genomes.write_chromosome(tmp_path / "a.fa", "chrX", 1_234, seed=4)
    second = genomes.write_chromosome(tmp_path / "b.fa", "chrX", 1_234, seed=4)
    assert first.read_bytes() == second.read_bytes()
    lines = first.read_text().splitlines()
    assert lines[0].startswith(">chrX ") and max(len(line) for line in lines[1:]) == 60
    with Genome.open(first) as genome:
        assert genome.length("chrX") == 1_234
        assert genome.fetch("chrX", 0, 1_234).decode() == "".join(lines[1:])


def test_shared_data_dir(tmp_path):
    assert genomes.shared_data_dir({genomes.SHARED_DATA_ENV: str(tmp_path)}) == tmp_path
    assert genomes.shared_data_dir({}) == REPO_ROOT.parent / "shared" / "data"
