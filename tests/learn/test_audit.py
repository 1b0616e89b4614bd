"""`dataset audit` as a library: planted exact, reverse-complement and near duplicates; composition; GC AUROC."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from ielmscan.errors import InputError
from ielmscan.io.fasta import write_fasta
from ielmscan.kernels.encode import reverse_complement
from ielmscan.learn.audit import _kmer_pairs, audit_files, audit_sequences, audit_table, cross_file_duplicates

LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)


def random_seqs(n: int, length: int, seed: int, gc: float = 0.5) -> list[str]:
    rng = np.random.default_rng(seed)
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return [LETTERS[rng.choice(4, length, p=p)].tobytes().decode() for _ in range(n)]


def rc(seq: str) -> str:
    return reverse_complement(seq.encode()).decode()


@pytest.fixture
def planted(tmp_path):
    """a.fa: 10 records with one exact copy inside; b.fa: an exact copy, a reverse complement and two near
    duplicates (one on each strand) of a.fa's records, and 6 unrelated ones; c.fa: unrelated."""
    a = random_seqs(10, 200, seed=0)
    a_records = [(f"a{i}", s) for i, s in enumerate(a)] + [("a0_copy", a[0])]
    fillers = random_seqs(8, 100, seed=1)
    b_records = [("b_exact", a[1].lower()), ("b_rc", rc(a[2])), ("b_near", a[3][50:150] + fillers[0]),
                 ("b_near_rc", fillers[1] + rc(a[4][:60]) + fillers[2][:40])]
    b_records += [(f"b{i}", s) for i, s in enumerate(random_seqs(6, 200, seed=2))]
    c_records = [(f"c{i}", s) for i, s in enumerate(random_seqs(5, 200, seed=3))]
    return [write_fasta(tmp_path / f"{x}.fa", recs) for x, recs in (("a", a_records), ("b", b_records),
                                                                     ("c", c_records))]


def pair(report, x: str, y: str) -> dict:
    return next(row for row in report["pairs"] if [p.rsplit("/", 1)[-1] for p in row["files"]] == [x, y])


def test_planted_exact_reverse_complement_and_near_duplicates_are_found(planted):
    report = audit_files(planted)
    assert report["totals"] == {"exact": {"within_files": 1, "across_files": 1},
                                "reverse_complement": {"within_files": 0, "across_files": 1},
                                "near": {"within_files": 0, "across_files": 2}}
    assert pair(report, "a.fa", "a.fa")["exact"] == 1
    ab = pair(report, "a.fa", "b.fa")
    assert (ab["exact"], ab["reverse_complement"], ab["near"]) == (1, 1, 2)
    assert pair(report, "b.fa", "c.fa")["near"] == 0 and pair(report, "a.fa", "c.fa")["exact"] == 0
    examples = report["examples"]
    assert {(e["a"]["name"], e["b"]["name"]) for e in examples["exact"]} == {("a0", "a0_copy"), ("a1", "b_exact")}
    assert [(e["a"]["name"], e["b"]["name"]) for e in examples["reverse_complement"]] == [("a2", "b_rc")]
    near = [(e["a"]["name"], e["b"]["name"], e["shared_kmers"]) for e in examples["near"]]
    assert near == [("a3", "b_near", 100 - 32 + 1), ("a4", "b_near_rc", 60 - 32 + 1)]  # most shared first
    assert cross_file_duplicates(report) == 2
    strict = audit_files(planted, min_shared=40)  # b_near shares 69 32-mers with a3, b_near_rc only 29 with a4
    assert [(e["a"]["name"], e["b"]["name"]) for e in strict["examples"]["near"]] == [("a3", "b_near")]


def test_clean_files_have_no_duplicates(tmp_path):
    files = [write_fasta(tmp_path / f"{i}.fa", [(f"r{j}", s) for j, s in enumerate(random_seqs(20, 300, seed=i))])
             for i in range(3)]
    report = audit_files(files)
    assert all(report["totals"][kind] == {"within_files": 0, "across_files": 0} for kind in report["totals"])
    assert cross_file_duplicates(report) == 0


def test_composition_per_file(tmp_path):
    path = write_fasta(tmp_path / "x.fa", [("one", "ggccAATT"), ("two", "GCNNAT"), ("three", "NNNN")])
    (composition,) = audit_files([path])["files"]
    assert (composition["records"], composition["length_min"], composition["length_max"]) == (3, 4, 8)
    assert composition["lowercase_share"] == pytest.approx(4 / 18)
    assert composition["n_share"] == pytest.approx(6 / 18)
    assert composition["gc_mean"] == pytest.approx(0.5)  # "three" has no A/C/G/T and is left out


def test_gc_auroc_says_how_well_gc_alone_separates_two_files():
    rich = [(f"r{i}", s) for i, s in enumerate(random_seqs(30, 200, seed=0, gc=0.7))]
    poor = [(f"p{i}", s) for i, s in enumerate(random_seqs(30, 200, seed=1, gc=0.3))]
    same = [(f"s{i}", s) for i, s in enumerate(random_seqs(30, 200, seed=2, gc=0.7))]
    report = audit_sequences(["rich", "poor", "same"], [rich, poor, same])
    assert pair(report, "rich", "poor")["gc_auroc"] == 1.0
    assert pair(report, "poor", "same")["gc_auroc"] == 0.0
    assert 0.3 < pair(report, "rich", "same")["gc_auroc"] < 0.7


def test_kmer_pairs_match_a_naive_search():
    rng = np.random.default_rng(5)
    for trial in range(40):
        k = int(rng.integers(1, 33)) if trial % 2 else 6
        seqs = random_seqs(12, int(rng.integers(5, 60)), seed=trial)
        seqs[3] = seqs[1][2:14] + seqs[3]
        seqs[5] = rc(seqs[2][:12]) + "N" + seqs[5]

        def kmers(s: str) -> set[str]:
            return {min(s[i:i + k], rc(s[i:i + k])) for i in range(len(s) - k + 1) if set(s[i:i + k]) <= set("ACGT")}

        sets = [kmers(s) for s in seqs]
        expected = {(i, j): len(sets[i] & sets[j]) for i, j in itertools.combinations(range(12), 2) if sets[i] & sets[j]}
        first, second, shared, _ = _kmer_pairs(seqs, k, 1000)
        assert dict(zip(zip(first.tolist(), second.tolist()), shared.tolist())) == expected


def test_kmers_in_too_many_records_are_left_out_and_counted():
    seqs = ["A" * 40 + "N" + s for s in random_seqs(5, 60, seed=0)]
    report = audit_sequences(["x"], [[(f"r{i}", s) for i, s in enumerate(seqs)]], k=32, max_kmer_records=3)
    assert report["totals"]["near"]["within_files"] == 0 and report["kmers_in_too_many_records"] == 1
    report = audit_sequences(["x"], [[(f"r{i}", s) for i, s in enumerate(seqs)]], k=32)
    assert report["totals"]["near"]["within_files"] == 10


def test_short_records_and_n_runs_give_no_kmers():
    report = audit_sequences(["x"], [[("short", "ACGT"), ("n", "N" * 50), ("n2", "N" * 50)]])
    assert report["totals"]["near"]["within_files"] == 0
    assert report["totals"]["exact"]["within_files"] == 1  # the two N runs are equal


def test_the_table_names_files_counts_and_examples(planted):
    text = audit_table(audit_files(planted, examples=1))
    assert "a.fa vs b.fa" in text and "b.fa" in text
    assert "exact: a.fa:a0  a.fa:a0_copy" in text
    assert "near: a.fa:a3  b.fa:b_near (69 shared 32-mers)" in text
    assert "GC AUROC" in text


def test_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="at least one"):
        audit_files([])
    with pytest.raises(InputError, match="between 1 and 32"):
        audit_sequences(["x"], [[("a", "ACGT")]], k=33)
    with pytest.raises(InputError, match=">= 1"):
        audit_sequences(["x"], [[("a", "ACGT")]], min_shared=0)


def test_thirty_thousand_records_take_seconds():
    # ~30,000 records of 200-500 bp: the size the near-duplicate search is built for (time not asserted).
    rng = np.random.default_rng(0)
    lengths = rng.integers(200, 501, 30_000)
    text = LETTERS[rng.integers(0, 4, int(lengths.sum()))].tobytes().decode()
    cuts = np.r_[0, np.cumsum(lengths)].tolist()
    seqs = [text[a:b] for a, b in zip(cuts, cuts[1:])]
    seqs[29_999] = rc(seqs[0][:250])
    report = audit_sequences(["big"], [[(f"r{i}", s) for i, s in enumerate(seqs)]], examples=3)
    assert report["totals"]["near"]["within_files"] == 1
    assert report["examples"]["near"][0]["shared_kmers"] == 250 - 32 + 1
