from __future__ import annotations

import textwrap

import tests.naive as naive
import numpy as np
import pytest

from ielmscan.learn.baselines import kmer_spectrum
from ielmscan.kernels.encode import encode_bases, kmer_token_ids
from ielmscan.kernels.linear import window_linear_scores

KS = np.array([1, 2, 3])


def random_weights(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(len(KS), 64)).astype(np.float32)


@pytest.mark.parametrize("seq", [b"", b"ACG", b"N" * 50, b"ACGTNacgtRYKM" * 7, b"NNACGTACGTGGCCAATTNN"])
@pytest.mark.parametrize("window, stride", [(10, 3), (5, 5), (20, 1)])
def test_matches_the_reference_on_edge_cases(seq, window, stride):
    ids = kmer_token_ids(encode_bases(seq), KS)
    w = random_weights()
    got = window_linear_scores(ids, KS, w, 0.25, window, stride)
    np.testing.assert_allclose(got, naive.window_linear_scores(ids, KS, w, 0.25, window, stride), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_matches_the_reference_on_random_data(seed):
    rng = np.random.default_rng(seed)
    seq = bytes(rng.choice(list(b"ACGTacgtN"), 3_000, p=[0.22] * 4 + [0.02] * 4 + [0.04]))
    ids = kmer_token_ids(encode_bases(seq), KS)
    w = random_weights(seed)
    np.testing.assert_allclose(window_linear_scores(ids, KS, w, -1.0, 200, 50),
                               naive.window_linear_scores(ids, KS, w, -1.0, 200, 50), rtol=1e-5, atol=1e-5)


def test_equals_a_linear_model_on_the_kmer_spectrum():
    # The rolling score is exactly bias + spectrum · weights for each window.
    rng = np.random.default_rng(5)
    seq = "".join(rng.choice(list("ACGT"), 1_000))
    w = random_weights(1)
    ids = kmer_token_ids(encode_bases(seq.encode()), KS)
    got = window_linear_scores(ids, KS, w, 0.5, 100, 100)
    spectrum = kmer_spectrum([seq[i : i + 100] for i in range(0, 901, 100)], tuple(KS))
    flat = np.concatenate([w[r, : 4**k] for r, k in enumerate(KS)])
    np.testing.assert_allclose(got, 0.5 + spectrum @ flat, rtol=1e-4, atol=1e-4)


def test_rejects_bad_arguments():
    ids = kmer_token_ids(encode_bases(b"ACGTACGT"), KS)
    with pytest.raises(ValueError, match="one k per row"):
        window_linear_scores(ids, np.array([1, 2]), random_weights(), 0.0, 4, 1)
    with pytest.raises(ValueError, match="4\\*\\*k columns"):
        window_linear_scores(ids, KS, np.zeros((3, 16), np.float32), 0.0, 4, 1)
    with pytest.raises(ValueError, match="int32"):
        window_linear_scores(ids.astype(np.int64), KS, random_weights(), 0.0, 4, 1)


_NO_JIT_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import numba, numpy as np
    import tests.naive as naive
    from ielmscan.kernels.encode import encode_bases, kmer_token_ids
    from ielmscan.kernels.linear import window_linear_scores, _window_linear_scores
    assert not isinstance(_window_linear_scores, numba.core.registry.CPUDispatcher)
    ks = np.array([1, 2, 3])
    ids = kmer_token_ids(encode_bases(b"ACGTNNACGGTTAC" * 5), ks)
    w = np.random.default_rng(0).normal(size=(3, 64)).astype(np.float32)
    np.testing.assert_allclose(window_linear_scores(ids, ks, w, 0.1, 12, 4),
                               naive.window_linear_scores(ids, ks, w, 0.1, 12, 4), rtol=1e-5, atol=1e-5)
    print("no-jit ok")
    """
)


def test_kernel_matches_reference_without_jit():
    assert "no-jit ok" in naive.run_without_jit(_NO_JIT_SCRIPT)
