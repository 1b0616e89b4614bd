"""The GC-matched background sampler on a small planted genome: where windows may lie, GC matching, shortfalls."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ielmscan.errors import GenomeError, InputError
from ielmscan.io.fasta import write_fasta
from ielmscan.learn.background import (_greedy_independent, _owed, bin_edges, gc_bin, gc_histogram,
                                       sample_background)
from ielmscan.learn.baselines import gc_content

CHROM_LENGTH = 20_000
BLOCK = 500
N_RUN = ("chr1", 10_000, 10_600)
SOFT_MASKED = ("chr2", 4_000, 9_000)
# GC-rich planted regions, [start, end) on every chromosome, and the summit offset of each.
PLANTED = [(2_000, 2_400), (7_000, 7_400), (12_000, 12_400), (17_000, 17_400)]
SUMMIT = 150


def _bases(rng: np.random.Generator, n: int, gc: float) -> bytes:
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return rng.choice(np.frombuffer(b"ACGT", dtype=np.uint8), n, p=p).tobytes()


def planted_sequences(seed: int = 0, chroms: int = 4) -> dict[str, bytearray]:
    """``chroms`` chromosomes of 20 kb: 500-bp blocks of GC 0.3-0.7, a GC-rich (0.65) region of 400 bp at
    each of ``PLANTED`` (the peaks), a 600-bp N run on chr1 and a soft-masked stretch on chr2."""
    rng = np.random.default_rng(seed)
    seqs = {}
    for c in range(1, chroms + 1):
        blocks = rng.choice([0.3, 0.4, 0.5, 0.6, 0.7], CHROM_LENGTH // BLOCK)
        seq = bytearray(b"".join(_bases(rng, BLOCK, gc) for gc in blocks))
        for start, end in PLANTED:
            seq[start:end] = _bases(rng, end - start, 0.65)
        seqs[f"chr{c}"] = seq
    chrom, start, end = N_RUN
    seqs[chrom][start:end] = b"N" * (end - start)
    chrom, start, end = SOFT_MASKED
    seqs[chrom][start:end] = seqs[chrom][start:end].lower()
    return seqs


def planted_genome(path: Path, seed: int = 0, chroms: int = 4) -> tuple[Path, dict[str, str]]:
    """The planted genome written as FASTA, and its sequences (as written)."""
    seqs = planted_sequences(seed, chroms)
    write_fasta(path, seqs.items())
    return path, {name: seq.decode() for name, seq in seqs.items()}


def peak_windows(seqs: dict[str, str], window: int = 200) -> list[str]:
    """The windows centred on the planted summits (the positives of these tests)."""
    return [seqs[c][s + SUMMIT - window // 2:s + SUMMIT - window // 2 + window].upper()
            for c in seqs for s, _ in PLANTED]


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return planted_genome(tmp_path_factory.mktemp("genome") / "planted.fa")


def overlaps(chrom: str, start: int, end: int, intervals) -> bool:
    return any(c == chrom and start < e and s < end for c, s, e in intervals)


def test_windows_are_the_genomes_bases_uppercase_n_free_and_named(genome):
    path, seqs = genome
    sample = sample_background(path, 200, gc_content(peak_windows(seqs)), ratio=2, seed=1)
    assert len(sample) == 32
    for name, chrom, start, seq in zip(sample.names, sample.chroms, sample.starts.tolist(), sample.seqs):
        assert name == f"{chrom}:{start}-{start + 200}"
        assert seq == seqs[chrom][start:start + 200].upper()
        assert set(seq) <= set("ACGT")
    assert not any(overlaps(c, s, s + 200, [N_RUN]) for c, s in zip(sample.chroms, sample.starts.tolist()))
    order = sorted(zip(sample.chroms, sample.starts.tolist()), key=lambda cs: (int(cs[0][3:]), cs[1]))
    assert order == list(zip(sample.chroms, sample.starts.tolist())), "windows come back in genome order"


def test_windows_overlap_neither_each_other_nor_the_excluded_intervals(genome):
    path, seqs = genome
    exclude = [(c, s - 1000, e + 1000) for c in seqs for s, e in PLANTED] + [("chr3", 0, 5_000), ("chrX", 0, 10)]
    target = np.linspace(0.3, 0.7, 60)
    sample = sample_background(path, 200, target, exclude=exclude, seed=3)
    assert len(sample) == 60
    starts = list(zip(sample.chroms, sample.starts.tolist()))
    for (c1, s1), (c2, s2) in zip(starts, starts[1:]):
        assert c1 != c2 or s2 - s1 >= 200
    assert not any(overlaps(c, s, s + 200, exclude) for c, s in starts)
    report = sample.report()
    assert report["exclude_intervals_not_in_genome"] == 1 and report["candidates"]["excluded"] > 0


def test_gc_histogram_of_the_windows_matches_the_targets(genome):
    path, seqs = genome
    target = gc_content(peak_windows(seqs) + [seqs["chr3"][i:i + 200] for i in range(0, 20_000, 700)])
    sample = sample_background(path, 200, target, ratio=2, seed=0)
    assert sample.shortfall.sum() == 0
    np.testing.assert_array_equal(sample.drawn, 2 * gc_histogram(target))
    np.testing.assert_array_equal(gc_histogram(sample.gc), sample.drawn)
    np.testing.assert_allclose(gc_content(sample.seqs), sample.gc)
    assert abs(np.mean(sample.gc) - np.mean(target)) < 0.01


def test_a_shortfall_is_reported_and_filled_from_the_nearest_bins(genome):
    path, _ = genome
    sample = sample_background(path, 200, np.full(10, 0.95), seed=0)  # the genome has no such windows
    assert len(sample) == 10 and sample.unfilled == 0
    report = sample.report()
    assert report["filled_from_other_bins"] == 10
    assert [s["gc"] for s in report["shortfalls"]] == [[0.94, 0.96]] and report["shortfalls"][0]["short"] == 10
    # Every window comes from the highest bins that had candidates left: none from below a bin left untouched.
    drawn_bins = gc_bin(sample.gc)
    top_available = int(np.flatnonzero(sample.available)[-1])
    assert drawn_bins.max() <= top_available
    untouched = [b for b in range(drawn_bins.min(), top_available + 1) if sample.available[b] and b not in drawn_bins]
    assert untouched == []


def test_what_no_bin_can_supply_is_unfilled_and_logged(genome, caplog):
    path, _ = genome
    with caplog.at_level(logging.WARNING, logger="ielmscan.learn.background"):
        sample = sample_background(path, 200, np.full(100, 0.5), ratio=5, seed=0)  # 500 windows: 80 kb can't
    assert 0 < len(sample) < 400 and sample.unfilled == 500 - len(sample)
    assert "room for only" in caplog.text


def test_the_same_seed_gives_the_same_windows_and_another_seed_others(genome):
    path, seqs = genome
    target = gc_content(peak_windows(seqs))
    first = sample_background(path, 200, target, ratio=3, seed=7)
    again = sample_background(path, 200, target, ratio=3, seed=7)
    other = sample_background(path, 200, target, ratio=3, seed=8)
    assert first.names == again.names and first.seqs == again.seqs
    assert first.names != other.names


def test_soft_masked_bases_count_like_uppercase(tmp_path, genome):
    path, seqs = genome
    upper = write_fasta(tmp_path / "upper.fa", [(name, seq.upper()) for name, seq in seqs.items()])
    lower = write_fasta(tmp_path / "lower.fa", [(name, seq.lower()) for name, seq in seqs.items()])
    target = np.linspace(0.3, 0.7, 40)
    a, b = (sample_background(p, 200, target, seed=2) for p in (upper, lower))
    assert a.names == b.names and a.seqs == b.seqs and a.report()["candidates"] == b.report()["candidates"]


def test_max_n_frac_admits_windows_with_a_few_n(tmp_path):
    rng = np.random.default_rng(0)
    seq = bytearray(_bases(rng, 5_000, 0.5))
    seq[::50] = b"N" * len(seq[::50])  # an N every 50 bases: every 200-base window holds 4
    path = write_fasta(tmp_path / "n.fa", [("chrN", seq)])
    assert len(sample_background(path, 200, [0.5] * 5, seed=0)) == 0
    sample = sample_background(path, 200, [0.5] * 5, max_n_frac=0.02, seed=0)
    assert len(sample) == 5 and all(seq.count("N") == 4 for seq in sample.seqs)
    assert sample.report()["candidates"]["too_many_n"] == 0


def test_a_smaller_spacing_lets_windows_overlap(genome):
    path, _ = genome
    sample = sample_background(path, 200, np.full(50, 0.5), ratio=6, spacing=50, seed=0)
    assert len(sample) == 300
    starts = list(zip(sample.chroms, sample.starts.tolist()))
    gaps = [s2 - s1 for (c1, s1), (c2, s2) in zip(starts, starts[1:]) if c1 == c2]
    assert min(gaps) >= 50 and min(gaps) < 200


def test_count_sets_the_total_and_without_a_target_the_genomes_own_gc_is_drawn(genome):
    path, seqs = genome
    sample = sample_background(path, 200, gc_content(peak_windows(seqs)), count=40, seed=0)
    assert len(sample) == 40 and sample.wanted.sum() == 40 and sample.report()["gc_target"] == "positives"
    plain = sample_background(path, 200, None, count=100, seed=0)
    assert len(plain) == 100 and plain.report()["gc_target"] == "genome"
    np.testing.assert_array_equal(plain.wanted, _owed(plain.available, 100 / plain.available.sum()))
    with pytest.raises(InputError, match="count"):
        sample_background(path, 200, None)


def test_chroms_restricts_the_draw(genome):
    path, _ = genome
    sample = sample_background(path, 200, np.full(20, 0.5), chroms=["chr4"], seed=0)
    assert set(sample.chroms) == {"chr4"}
    with pytest.raises(GenomeError, match="chr9"):
        sample_background(path, 200, [0.5], chroms=["chr9"])


@pytest.mark.parametrize("kwargs, message", [
    ({"window": 0}, "window"),
    ({"ratio": -1.0}, "ratio"),
    ({"max_n_frac": 1.0}, "max_n_frac"),
    ({"bins": 0}, "bins"),
    ({"spacing": 0}, "spacing"),
    ({"target_gc": [1.5]}, "target GC"),
])
def test_bad_arguments_raise_input_error(genome, kwargs, message):
    arguments = {"window": 200, "target_gc": [0.5], **kwargs}
    with pytest.raises(InputError, match=message):
        sample_background(genome[0], **arguments)


def test_gc_bins_are_half_open_and_gc_one_is_in_the_last():
    assert gc_bin([0.0, 0.02, 0.06, 0.5, 0.999, 1.0, np.nan]).tolist() == [0, 1, 3, 25, 49, 49, -1]
    assert bin_edges(50)[[0, 1, -1]].tolist() == [0.0, 0.02, 1.0]
    assert gc_histogram([0.1, 0.1, np.nan, 0.9], bins=10).tolist() == [0, 2, 0, 0, 0, 0, 0, 0, 0, 1]


def test_owed_counts_add_up_to_the_rounded_total():
    assert _owed(np.array([1, 1, 1]), 0.5).tolist() == [1, 1, 0]  # 1.5 → 2, largest remainders, lower bin first
    assert _owed(np.array([3, 0, 2]), 2.0).tolist() == [6, 0, 4]
    assert _owed(np.array([5, 5]), 0.0).tolist() == [0, 0]


def test_drawing_picks_what_a_one_by_one_pass_in_the_random_order_picks():
    rng = np.random.default_rng(0)
    for _ in range(200):
        gap = int(rng.integers(1, 12))
        pos = rng.choice(400, size=int(rng.integers(1, 150)), replace=False)
        kept: list[int] = []
        for p in pos.tolist():
            if all(abs(p - q) >= gap for q in kept):
                kept.append(p)
        assert sorted(pos[_greedy_independent(pos, gap)].tolist()) == sorted(kept)


def test_a_6_mb_genome_gives_30000_windows(tmp_path):
    # The size the sampler is built for (a second or less; the performance is not asserted).
    from ielmscan.io.synthetic import write_synthetic_genome

    path = write_synthetic_genome(tmp_path / "six.fa", {f"chr{i}": 1_500_000 for i in range(1, 5)}, seed=3)
    target = np.clip(np.random.default_rng(0).normal(0.42, 0.05, 30_000), 0, 1)
    sample = sample_background(path, 200, target, spacing=100, seed=0)
    assert len(sample) == 30_000 and sample.unfilled == 0
    assert abs(sample.gc.mean() - target.mean()) < 0.01
