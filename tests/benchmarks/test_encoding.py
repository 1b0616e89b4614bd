"""benchmarks/sections/encoding.py: the NumPy encoder it times agrees with ielmscan's kernels."""
from __future__ import annotations

import numpy as np

from ielmscan.io.synthetic import synthetic_sequence
from ielmscan.kernels.encode import encode_bases, kmer_token_ids

from benchmarks.sections.encoding import KS, numpy_kmer_ids


def test_numpy_encoder_matches_the_kernel():
    # Soft-masked (lower case) stretches and N gaps included; a sequence shorter than the largest k too.
    for seq in (bytes(synthetic_sequence(5_000, np.random.default_rng(3))), b"ACgtNAC", b"AC"):
        np.testing.assert_array_equal(numpy_kmer_ids(seq, KS), kmer_token_ids(encode_bases(seq), KS))
