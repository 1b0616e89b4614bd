"""The cascade's first stage as a bundle stores it: rolling linear scores, storage, validation."""
from __future__ import annotations

import numpy as np
import pytest

from ielmscan.errors import BundleError
from ielmscan.kernels.encode import encode_bases, kmer_token_ids
from ielmscan.learn.baselines import kmer_spectrum
from ielmscan.model.cascade import Cascade
from ielmscan.model.validate import Entry


def test_scores_equal_the_linear_model_on_each_windows_kmer_spectrum(tmp_path):
    rng = np.random.default_rng(0)
    ks = [1, 2]
    weights = np.zeros((2, 16), dtype=np.float32)
    weights[0, :4] = rng.normal(size=4)
    weights[1, :16] = rng.normal(size=16)
    cascade = Cascade(ks, weights, 0.25, threshold=0.0)
    seq = "".join(rng.choice(list("ACGT"), 300))
    ids = kmer_token_ids(encode_bases(seq.encode()), ks)
    got = cascade.scores(ids, 100, 50)
    spectra = kmer_spectrum([seq[j : j + 100] for j in range(0, 201, 50)], ks)
    expected = 0.25 + spectra @ np.r_[weights[0, :4], weights[1, :16]]
    np.testing.assert_allclose(got, expected, atol=1e-5)

    cascade.save(tmp_path)
    again = Cascade.load(tmp_path, Entry(cascade.to_json(), tmp_path, "cascade"))
    np.testing.assert_array_equal(again.weights, weights)
    assert (again.ks, again.bias, again.threshold) == (ks, 0.25, 0.0)
    with pytest.raises(BundleError, match=r"weights has shape \(2, 16\), config says \(3, 64\)"):
        Cascade.load(tmp_path, Entry({**cascade.to_json(), "ks": [1, 2, 3]}, tmp_path, "cascade"))
