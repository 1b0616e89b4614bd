"""Synthetic genomes: deterministic, with the features every scanner path needs (GC islands, N gaps, soft-masking)."""
from __future__ import annotations

from ielmscan.io.fasta import read_fasta
from ielmscan.io.synthetic import write_synthetic_genome


def test_synthetic_genome_is_deterministic_and_holds_gaps_and_soft_masking(tmp_path):
    a = write_synthetic_genome(tmp_path / "a.fa", {"c1": 50_000, "c2": 300}, seed=3)
    b = write_synthetic_genome(tmp_path / "b.fa", {"c1": 50_000, "c2": 300}, seed=3)
    assert a.read_bytes() == b.read_bytes()
    records = read_fasta(a)
    assert [(name, len(seq)) for name, seq in records] == [("c1", 50_000), ("c2", 300)]
    assert a.read_text().splitlines()[0] == ">c1 synthetic sequence (ielmscan, seed 3)"
    seq = records[0][1]
    assert "N" * 50 in seq and any(ch.islower() for ch in seq)
    assert set(seq.upper()) <= set("ACGTN")
    assert write_synthetic_genome(tmp_path / "c.fa", {"c1": 50_000}, seed=4).read_bytes() != a.read_bytes()
