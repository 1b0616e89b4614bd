"""The motif analysis step by step, on hand-made attention scores and generated sequences with a planted motif.

A real model's attention on tiny data need not find anything, so every step after the attention itself
(tests/learn/test_attention.py) is tested on scores written down by hand.
"""
from __future__ import annotations

import numpy as np
import pytest

from ielmscan.io.fasta import write_fasta
from ielmscan.learn.motifs import (MotifParams, Pattern, benjamini_hochberg, find_motifs, frequency_matrix,
                                   high_attention_regions, hypergeometric_sf, merge_patterns, motif_windows,
                                   sequences_containing, ungapped_alignment)

PLANTED = "TGACGTCA"  # a CREB-like 8-mer


def random_seq(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list("ACGT"), length))


def planted_data(n: int = 40, length: int = 60, seed: int = 0):
    """Positives carrying PLANTED at a random place (scores high there, low elsewhere), plain negatives."""
    rng = np.random.default_rng(seed)
    positives, scores = [], []
    for _ in range(n):
        start = int(rng.integers(5, length - len(PLANTED) - 5))
        seq = random_seq(rng, length)
        positives.append(seq[:start] + PLANTED + seq[start + len(PLANTED):])
        score = rng.uniform(0.0, 0.1, length)
        score[start : start + len(PLANTED)] = 1.0
        scores.append(score)
    negatives = [random_seq(rng, length) for _ in range(n)]
    return positives, negatives, scores


def planted_fastas(folder):
    """planted_data() written as ``pos.fa`` (records p0, p1, ...) and ``neg.fa``: (pos, neg, positives, scores)."""
    positives, negatives, scores = planted_data()
    pos = write_fasta(folder / "pos.fa", [(f"p{i}", s) for i, s in enumerate(positives)])
    neg = write_fasta(folder / "neg.fa", [(f"n{i}", s) for i, s in enumerate(negatives)])
    return pos, neg, positives, scores


# ---- regions --------------------------------------------------------------------------------------------


def test_regions_are_runs_above_the_mean_with_small_gaps_bridged():
    #           0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19
    score = np.array([9, 9, 9, 0, 9, 9, 0, 0, 0, 0, 0, 0, 9, 9, 0, 0, 9, 9, 9, 9], dtype=float)
    # one-base dip at 3 is bridged: [0, 6); the two-base dip at 14-15 is not: [12, 14) and [16, 20)
    assert high_attention_regions(score, min_length=1, max_gap=1) == [(0, 6), (12, 14), (16, 20)]
    assert high_attention_regions(score, min_length=4, max_gap=1) == [(0, 6), (16, 20)]
    assert high_attention_regions(score, min_length=4, max_gap=0) == [(16, 20)]
    assert high_attention_regions(score, min_length=1, max_gap=2) == [(0, 6), (12, 20)]
    assert high_attention_regions(np.ones(10)) == []  # nothing above the mean
    assert high_attention_regions(np.array([])) == []


# ---- enrichment -----------------------------------------------------------------------------------------


def test_sequences_containing_counts_each_sequence_once_and_never_across_two():
    seqs = ["AACGTACGT", "acgTT", "TTAC", "GTTT", "NNACGN"]
    # "ACG" twice in the first, once in the (lower case) second, once in the fifth beside N;
    # "ACGT" never spans "TTAC" + "GTTT"
    counts = sequences_containing(["ACG", "ACGT", "TACG", "GGGG", "CGTACGT"], seqs)
    assert counts.tolist() == [3, 2, 1, 0, 1]


def test_sequences_containing_agrees_with_substring_search_for_short_and_long_patterns():
    rng = np.random.default_rng(2)
    seqs = [random_seq(rng, int(rng.integers(30, 80))) for _ in range(60)]
    patterns = [seqs[i][3 : 3 + n] for i, n in zip(range(0, 60, 3), [5, 6, 7, 33, 40] * 4)]
    patterns += [random_seq(rng, 6) for _ in range(20)] + [random_seq(rng, 35)]
    expected = [sum(p in s for s in seqs) for p in patterns]
    assert sequences_containing(patterns, seqs).tolist() == expected


def test_hypergeometric_tail_by_hand_and_against_scipy():
    # 4 sequences, 2 positive, the word in 2: both positive with probability C(2,2) C(2,0) / C(4,2) = 1/6.
    assert hypergeometric_sf(2, 4, 2, 2) == pytest.approx(1 / 6)
    assert hypergeometric_sf(0, 4, 2, 2) == pytest.approx(1.0)
    assert hypergeometric_sf(3, 4, 2, 2) == 0.0
    stats = pytest.importorskip("scipy.stats")
    for x, total, successes, draws in [(30, 2968, 1484, 40), (535, 2968, 1484, 781), (1, 10, 3, 4), (5, 100, 50, 5),
                                       (400, 2968, 1484, 400), (0, 50, 20, 0)]:
        expected = stats.hypergeom.sf(x - 1, total, successes, draws)
        assert hypergeometric_sf(x, total, successes, draws) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_benjamini_hochberg_by_hand():
    # sorted 0.01, 0.03, 0.04, 0.5 → ×4/rank 0.04, 0.06, 0.0533, 0.5 → running minimum from the top
    got = benjamini_hochberg([0.01, 0.04, 0.03, 0.5])
    np.testing.assert_allclose(got, [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    np.testing.assert_allclose(benjamini_hochberg([0.9, 0.9]), [0.9, 0.9])
    assert len(benjamini_hochberg([])) == 0


# ---- merging and windows --------------------------------------------------------------------------------


def test_ungapped_alignment_finds_the_best_overlap_and_its_shift():
    assert ungapped_alignment("ACGTACGT", "GTAC") == (4, 2)
    assert ungapped_alignment("TTACG", "ACGCC") == (3, 2)  # the key runs past the query's end
    assert ungapped_alignment("CGCCT", "AACGCC") == (4, -2)  # the key starts before the query


def test_merging_moves_instances_onto_the_founders_footprint():
    key = Pattern("CACGTG", [(0, 10, 16)])
    longer = Pattern("GCACGTGA", [(1, 20, 28)])  # the key sits one base into it
    shifted = Pattern("ACGTGAT", [(2, 5, 12)])  # starts one base into the key
    other = Pattern("TTTTTTT", [(3, 0, 7)])
    groups = merge_patterns([other, shifted, longer, key], min_length=5)
    assert [(g[0].seq, [p.seq for p in g[1]]) for g in groups] == [
        ("CACGTG", ["CACGTG", "ACGTGAT", "GCACGTGA"]), ("TTTTTTT", ["TTTTTTT"])]
    assert groups[0][2] == [(0, 10, 16), (2, 4, 10), (1, 21, 27)]


def test_patterns_with_too_few_matching_bases_found_their_own_group():
    groups = merge_patterns([Pattern("AAAAC", []), Pattern("AAGGGGG", [])], min_length=5)  # 2 < max(4, 2.5)
    assert len(groups) == 2


def test_windows_are_centred_cut_to_width_and_kept_inside_their_sequence():
    lengths = [30, 30]
    # span 6 → 10: two bases each side; span 7 → 10: one left, two right; span 12 → 10: one off each side
    got = motif_windows([(0, 10, 16), (0, 10, 17), (1, 4, 16), (0, 1, 7), (1, 24, 30), (1, 22, 28), (0, 10, 16)], lengths, 10)
    # off the start, off the end and the repeat are dropped; a window ending at the last base is kept
    assert got == [(0, 8, 18), (0, 9, 19), (1, 5, 15), (1, 20, 30)]


def test_frequency_matrix_counts_bases_per_column_and_skips_other_letters():
    counts = frequency_matrix(["ACGTN", "AGGTA"], [(0, 1, 5), (1, 1, 5)], 4)  # CGTN and GGTA
    np.testing.assert_array_equal(counts, [[0, 1, 1, 0], [0, 0, 2, 0], [0, 0, 0, 2], [1, 0, 0, 0]])


# ---- the whole analysis ---------------------------------------------------------------------------------


def test_a_planted_motif_with_high_attention_is_found_enriched_and_centred():
    positives, negatives, scores = planted_data()
    result = find_motifs(positives, negatives, scores, MotifParams(min_instances=10))
    assert len(result.motifs) == 1
    motif = result.motifs[0]
    assert PLANTED in motif.consensus.upper()
    assert motif.consensus.upper().index(PLANTED) == 1  # 8 bases centred in 10
    assert len(motif.windows) == 40 and motif.sequences == 40
    assert motif.key.seq == PLANTED and motif.key.positives == 40 and motif.key.q_value < 1e-10
    assert all(positives[i][start:end][1:9] == PLANTED for i, start, end in motif.windows)
    assert result.regions == 40 and result.enriched == 1


def test_a_motif_as_common_in_negatives_is_not_enriched():
    positives, _, scores = planted_data()
    rng = np.random.default_rng(5)
    negatives = [random_seq(rng, 30) + PLANTED + random_seq(rng, 22) for _ in range(40)]
    result = find_motifs(positives, negatives, scores, MotifParams(min_instances=10))
    assert result.motifs == [] and result.enriched == 0 and result.patterns == 1


def test_groups_with_too_few_instances_are_dropped():
    positives, negatives, scores = planted_data(n=12)
    assert len(find_motifs(positives, negatives, scores, MotifParams(min_instances=12)).motifs) == 1
    assert find_motifs(positives, negatives, scores, MotifParams(min_instances=13)).motifs == []


def test_scores_must_match_the_sequences():
    with pytest.raises(ValueError, match="1 score arrays for 2"):
        find_motifs(["ACGT", "ACGT"], [], [np.ones(4)])
    with pytest.raises(ValueError, match="positive 1: 3 scores for 4 bases"):
        find_motifs(["ACGT"], [], [np.ones(3)])
