"""Per-base attention of a bundle: the readable path's [CLS] row spread over the bases, members combined."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ielmscan.errors import InputError
from ielmscan.learn.attention import attention_scores, check_lengths, spread_to_bases
from ielmscan.model.tokenizers import KmerTokenizer
from ielmscan.model.tokens import PAD_ID, encode_sequences, token_rows
from tests.bundles import random_bundle
from tests.learn.test_motifs import random_seq


def test_kmer_scores_are_spread_over_their_bases_and_averaged_by_coverage():
    # k = 3, three k-mers over five bases: base 1 is covered by k-mers 0 and 1, base 2 by all three.
    codes = encode_sequences(["ACGTA"])
    got = spread_to_bases(np.array([[1.0, 2.0, 3.0]]), KmerTokenizer(3).spans(codes), 5)
    np.testing.assert_allclose(got, [[1.0, 1.5, 2.0, 2.5, 3.0]])
    np.testing.assert_allclose(spread_to_bases(np.array([[4.0, 6.0]]), KmerTokenizer(1).spans(codes[:, :2]), 2),
                               [[4.0, 6.0]])


def test_token_scores_of_variable_spans_go_to_their_bases_and_uncovered_bases_get_zero():
    # Row 0: tokens of 2, 1 and 3 bases; row 1: a token, an N not covered, then one more token (padding after).
    spans = [np.array([[0, 2], [2, 3], [3, 6]]), np.array([[0, 3], [4, 6]])]
    scores = np.array([[1.0, 2.0, 3.0], [5.0, 7.0, 99.0]])
    np.testing.assert_allclose(spread_to_bases(scores, spans, 6), [[1, 1, 2, 3, 3, 3], [5, 5, 5, 0, 7, 7]])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return random_bundle(tmp_path_factory.mktemp("motif_bundle") / "b", ks=(3, 4), hidden=32)


def test_attention_scores_are_the_cls_row_of_the_readable_path_spread_and_normalised(bundle):
    rng = np.random.default_rng(0)
    seqs = [random_seq(rng, 50) for _ in range(3)] + [random_seq(rng, 41)]
    got = attention_scores(bundle, seqs, member="k4")
    assert [len(s) for s in got] == [50, 50, 50, 41]
    member = bundle.members[1]
    with torch.inference_mode():
        weights = member.model.encoder.last_attention(torch.from_numpy(token_rows(encode_sequences(seqs[:1]), 4)))
    by_hand = spread_to_bases(weights[:, :, 0, 1:-1].sum(1).double().numpy(), member.tokenizer.spans(
        encode_sequences(seqs[:1])), 50)[0]
    np.testing.assert_allclose(got[0], by_hand / np.linalg.norm(by_hand), rtol=1e-6)
    assert all(math.isclose(np.linalg.norm(s), 1.0) for s in got)


def test_attention_of_all_members_is_their_normalised_mean_and_independent_of_the_batch(bundle):
    rng = np.random.default_rng(1)
    seqs = [random_seq(rng, 40) for _ in range(5)]
    both = attention_scores(bundle, seqs, batch_size=2)
    k3, k4 = attention_scores(bundle, seqs, member="k3"), attention_scores(bundle, seqs, member="k4")
    for mean, a, b in zip(both, k3, k4):
        np.testing.assert_allclose(mean, (a + b) / np.linalg.norm(a + b), rtol=1e-6)
    for one, batched in zip(attention_scores(bundle, seqs, batch_size=5), both):
        np.testing.assert_allclose(one, batched, rtol=1e-6)


def test_attention_names_unknown_members_and_lengths_the_model_cannot_take(bundle):
    with pytest.raises(InputError, match="no member 'k9'.*k3, k4"):
        attention_scores(bundle, ["ACGT" * 10], member="k9")
    with pytest.raises(InputError, match="sequence 2 is 3 bp: the model takes 4 to"):
        attention_scores(bundle, ["ACGT" * 10, "ACG"])
    with pytest.raises(InputError, match="sequence 1 is 300 bp"):
        attention_scores(bundle, ["A" * 300])
    with pytest.raises(InputError, match="^pos.fa: sequence p2 is 300 bp: the model takes 3 to 256 bp$"):
        check_lengths(bundle, ["A" * 40, "A" * 300], "k3", ["p1", "p2"], "pos.fa")


def test_a_bpe_members_attention_goes_to_the_bases_of_its_tokens(tmp_path):
    bundle = random_bundle(tmp_path / "b", ks=(3,), hidden=16, bpe=64)
    rng = np.random.default_rng(2)
    seqs = [random_seq(rng, 40) for _ in range(3)]
    seqs[1] = seqs[1][:20] + "NN" + seqs[1][22:]
    got = attention_scores(bundle, seqs, member="bpe", batch_size=2)  # rows of one batch padded to the longest
    member = bundle.members[1]
    codes = encode_sequences(seqs)
    rows = torch.from_numpy(member.tokenizer.rows(codes))
    for i, span in enumerate(member.tokenizer.spans(codes)):
        row = rows[i : i + 1, : len(span) + 2]  # this sequence alone: no padding
        with torch.inference_mode():
            weights = member.model.encoder.last_attention(row)[0, :, 0, 1:-1].sum(0).double().numpy()
        by_hand = np.zeros(40)
        for (start, end), weight in zip(span, weights):
            by_hand[start:end] = weight  # one token covers each base
        np.testing.assert_allclose(got[i], by_hand / np.linalg.norm(by_hand), rtol=1e-5, atol=1e-7)
    assert got[1][20] == got[1][21] == 0.0  # an N is no token's
    assert (rows == PAD_ID).any()
    mixed = attention_scores(bundle, seqs)
    assert all(math.isclose(np.linalg.norm(s), 1.0) for s in mixed)
