"""ielmscan.kernels.encode against the references in tests/naive.py."""
from __future__ import annotations

import textwrap

import tests.naive as naive
import numpy as np
import pytest
import hypothesis
from hypothesis import strategies as st

from ielmscan.model import tokens
from ielmscan.kernels import encode
from ielmscan.kernels.encode import (
    BASE_LUT,
    INVALID,
    encode_bases,
    kmer_token_ids,
    reverse_complement,
    reverse_complement_codes,
    window_invalid_fraction,
)
from ielmscan.kernels.grid import WindowGrid

EDGE_CASES = [
    b"",
    b"A",  # single base
    b"n",
    b"AC",  # shorter than most k
    b"NNNNNNNNNN",  # all N
    b"NACGTACGTTGCAN",  # N at both ends
    b"NNNACGTACGNNN",
    b"acgtacgtACGTacgt",  # lowercase (soft-masked) and mixed case
    b"ACGTRYKMSWBDHVNacgtrykmswbdhvn-.ACGT",  # every IUPAC code, gaps
    b"ACGTACGTNACGTAC",  # one N in the middle
    b"TTTTTTTTTTTTTTTTTTTT",  # the largest index for every k
    b"AAAAAAAAAAAAA",  # index 0 for every k
]
KS_SETS = [[1], [3, 4, 5, 6], [6, 5, 4, 3], [2, 12], [12], list(range(1, 13))]
SEEDS = [0, 1, 2, 3, 4]


def random_sequence(rng: np.random.Generator, n: int) -> bytes:
    """Random ACGT with lowercase stretches, N runs (some at the ends) and scattered IUPAC codes."""
    seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, n)].copy()
    for _ in range(rng.integers(0, 6)):  # soft-masked stretches
        a = rng.integers(0, n + 1)
        seq[a : a + rng.integers(1, 200)] |= 32  # the ASCII lowercase bit
    for _ in range(rng.integers(0, 6)):  # N runs, including some that touch either end
        a = rng.choice([0, n - 1, rng.integers(0, n)]) if n else 0
        seq[a : a + rng.integers(1, 30)] = ord("N") + 32 * rng.integers(0, 2)
    iupac = np.frombuffer(b"RYKMSWBDHVryk-", dtype=np.uint8)
    where = rng.random(n) < 0.005
    seq[where] = iupac[rng.integers(0, len(iupac), where.sum())]
    return seq.tobytes()


def random_cases() -> list[bytes]:
    return [random_sequence(np.random.default_rng(seed), n) for seed, n in zip(SEEDS, [1, 17, 300, 1000, 2500])]


# ---------------------------------------------------------------- lookup table and constants


def test_base_lut_matches_reference_for_every_byte():
    assert BASE_LUT.dtype == np.uint8 and BASE_LUT.shape == (256,)
    np.testing.assert_array_equal(BASE_LUT, naive.encode_bases(bytes(range(256))))
    assert [BASE_LUT[b] for b in b"ACGTacgt"] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert all(BASE_LUT[b] == INVALID for b in b"NnRYKMSWBDHVrykmswbdhv-.*0 ")


def test_special_ids_match_token_module():
    assert (encode.PAD_ID, encode.UNK_ID, encode.CLS_ID, encode.SEP_ID, encode.MASK_ID) == (0, 1, 2, 3, 4)
    assert encode.NUM_SPECIAL == 5
    assert (tokens.PAD_ID, tokens.UNK_ID, tokens.CLS_ID, tokens.SEP_ID, tokens.MASK_ID) == (0, 1, 2, 3, 4)
    assert tokens.NUM_SPECIAL == encode.NUM_SPECIAL


# ---------------------------------------------------------------- encode_bases


@pytest.mark.parametrize("seq", EDGE_CASES + random_cases())
def test_encode_bases_matches_reference(seq):
    expected = naive.encode_bases(seq)
    for given in (seq, bytearray(seq), np.frombuffer(seq, dtype=np.uint8)):
        got = encode_bases(given)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, expected)


def test_encode_bases_accepts_strided_array():
    raw = np.frombuffer(b"AxCxGxTxNx", dtype=np.uint8)[::2]
    np.testing.assert_array_equal(encode_bases(raw), [0, 1, 2, 3, 4])


@pytest.mark.parametrize(
    "bad, match",
    [
        ("ACGT", "str"),
        (np.zeros(4, dtype=np.int32), "int32"),
        (np.zeros((2, 2), dtype=np.uint8), r"\(2, 2\)"),
    ],
)
def test_encode_bases_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        encode_bases(bad)


# ---------------------------------------------------------------- kmer_token_ids


def test_kmer_token_ids_worked_example():
    ids = kmer_token_ids(encode_bases(b"ACGNT"), [1, 3])
    assert ids.dtype == np.int32 and ids.shape == (2, 5)
    np.testing.assert_array_equal(ids[0], [5, 6, 7, 1, 8])  # A C G [UNK] T
    np.testing.assert_array_equal(ids[1], [11, 1, 1, 0, 0])  # ACG = 5+0*16+1*4+2, two [UNK], two [PAD]


@pytest.mark.parametrize("ks", KS_SETS)
@pytest.mark.parametrize("seq", EDGE_CASES + random_cases())
def test_kmer_token_ids_matches_reference(seq, ks):
    codes = encode_bases(seq)
    got = kmer_token_ids(codes, ks)
    assert got.dtype == np.int32 and got.shape == (len(ks), len(seq))
    np.testing.assert_array_equal(got, naive.kmer_token_ids(codes, ks))


@pytest.mark.parametrize("seq", EDGE_CASES + random_cases())
def test_kmer_token_ids_match_string_path(seq):
    """Same ids as slicing the text into k-mer strings (ours and DNABERT-style tokens.py)."""
    ks = [3, 4, 5, 6]
    got = kmer_token_ids(encode_bases(seq), ks)
    text = seq.decode("latin-1")
    for r, k in enumerate(ks):
        assert got[r].tolist() == naive.kmer_token_ids_from_text(text, k)
        # tokens.py yields the n - k + 1 full k-mers; the remaining columns are [PAD].
        full = tokens.kmers_to_ids(tokens.seq_to_kmers(text, k), k)
        assert got[r, : len(full)].tolist() == full
        assert (got[r, len(full) :] == encode.PAD_ID).all()


def test_kmer_token_ids_rows_do_not_depend_on_other_ks():
    codes = encode_bases(random_sequence(np.random.default_rng(7), 500))
    together = kmer_token_ids(codes, [6, 3, 12, 1])
    for r, k in enumerate([6, 3, 12, 1]):
        np.testing.assert_array_equal(together[r], kmer_token_ids(codes, [k])[0])


def test_kmer_token_ids_treats_codes_above_4_as_invalid():
    codes = np.array([0, 1, 9, 2, 3, 255, 0], dtype=np.uint8)
    np.testing.assert_array_equal(kmer_token_ids(codes, [2])[0], [6, 1, 1, 16, 1, 1, 0])


def test_kmer_token_ids_accepts_strided_codes():
    codes = encode_bases(random_sequence(np.random.default_rng(8), 400))
    view = codes[::3]
    np.testing.assert_array_equal(kmer_token_ids(view, [3, 5]), naive.kmer_token_ids(view.copy(), [3, 5]))


@pytest.mark.parametrize(
    "codes, ks, match",
    [
        (np.zeros(5, dtype=np.int64), [3], "int64"),
        (np.zeros((1, 5), dtype=np.uint8), [3], r"\(1, 5\)"),
        ([0, 1, 2], [3], "list"),
        (np.zeros(5, dtype=np.uint8), [], "empty"),
        (np.zeros(5, dtype=np.uint8), [0], "got 0"),
        (np.zeros(5, dtype=np.uint8), [13], "between 1 and 12, got 13"),
        (np.zeros(5, dtype=np.uint8), [3, 4, 3], r"repeat.*\[3, 4, 3\]"),
        (np.zeros(5, dtype=np.uint8), [3.0], "3.0"),
        (np.zeros(5, dtype=np.uint8), [True], "True"),
        (np.zeros(5, dtype=np.uint8), 3, "3"),
    ],
)
def test_kmer_token_ids_rejects_bad_input(codes, ks, match):
    with pytest.raises(ValueError, match=match):
        kmer_token_ids(codes, ks)


# ---------------------------------------------------------------- window_invalid_fraction

WINDOW_STRIDES = [(1, 1), (3, 1), (4, 2), (5, 2), (5, 5), (2, 7), (8, 3), (64, 16)]


@pytest.mark.parametrize("window, stride", WINDOW_STRIDES)
@pytest.mark.parametrize("seq", EDGE_CASES + random_cases())
def test_window_invalid_fraction_matches_reference(seq, window, stride):
    codes = encode_bases(seq)
    got = window_invalid_fraction(codes, window, stride)
    expected = naive.window_invalid_fraction(codes, window, stride)
    n = len(seq)
    assert got.dtype == np.float32
    assert got.shape == ((n - window) // stride + 1 if n >= window else 0,)
    np.testing.assert_array_equal(got, expected)


def test_window_invalid_fraction_worked_example():
    codes = encode_bases(b"NACGNNACGT")  # windows of 4 every 3: NACG, GNNA, ACGT
    np.testing.assert_allclose(window_invalid_fraction(codes, 4, 3), [0.25, 0.5, 0.0])
    np.testing.assert_allclose(window_invalid_fraction(codes, 10, 1), [0.3])
    assert window_invalid_fraction(codes, 11, 1).shape == (0,)


@pytest.mark.parametrize(
    "window, stride, match",
    [(0, 1, "window must be ≥ 1, got 0"), (3, 0, "stride must be ≥ 1, got 0"), (2.5, 1, "2.5"), (3, -1, "-1")],
)
def test_window_invalid_fraction_rejects_bad_arguments(window, stride, match):
    with pytest.raises(ValueError, match=match):
        window_invalid_fraction(np.zeros(10, dtype=np.uint8), window, stride)


# ---------------------------------------------------------------- reverse complement


@pytest.mark.parametrize("seq", EDGE_CASES + random_cases() + [bytes(range(256))])
def test_reverse_complement_codes_matches_reference(seq):
    codes = np.frombuffer(seq, dtype=np.uint8)  # also exercises raw byte values ≥ 5
    got = reverse_complement_codes(codes)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, naive.reverse_complement_codes(codes))
    # Encoding commutes with reverse complement, and doing it twice restores the codes.
    np.testing.assert_array_equal(encode_bases(reverse_complement(seq)), reverse_complement_codes(encode_bases(seq)))
    np.testing.assert_array_equal(reverse_complement_codes(got), np.minimum(codes, 4))


@pytest.mark.parametrize("seq", EDGE_CASES + random_cases() + [bytes(range(256))])
def test_reverse_complement_matches_reference(seq):
    got = reverse_complement(seq)
    assert isinstance(got, bytes)
    assert got == naive.reverse_complement(seq)
    assert reverse_complement(bytearray(seq)) == got
    assert reverse_complement(got) == seq  # an involution, case and unknown bytes included


def test_reverse_complement_worked_example():
    assert reverse_complement(b"AACGTn") == b"nACGTT"
    assert reverse_complement(b"RYKMBVDHSWN-acgrykmbvdhswx") == b"xwsdhbvkmrycgt-NWSDHBVKMRY"


def test_reverse_complement_rejects_text():
    with pytest.raises(ValueError, match="str"):
        reverse_complement("ACGT")


# ---------------------------------------------------------------- pure-Python path

_NO_JIT_SCRIPT = textwrap.dedent(
    """
    import sys
    import numba
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    import tests.naive as naive
    from ielmscan.kernels import encode as e
    from tests.kernels.test_encode import EDGE_CASES, random_sequence

    assert numba.config.DISABLE_JIT
    assert not hasattr(e._kmer_token_ids, "signatures"), "kernel is still a numba dispatcher"
    seqs = EDGE_CASES + [random_sequence(np.random.default_rng(s), 300) for s in range(3)]
    for seq in seqs:
        codes = e.encode_bases(seq)
        np.testing.assert_array_equal(codes, naive.encode_bases(seq))
        for ks in ([1], [3, 4, 5, 6], [12, 2]):
            np.testing.assert_array_equal(e.kmer_token_ids(codes, ks), naive.kmer_token_ids(codes, ks))
        for window, stride in ((1, 1), (5, 2), (2, 7)):
            np.testing.assert_array_equal(
                e.window_invalid_fraction(codes, window, stride),
                naive.window_invalid_fraction(codes, window, stride),
            )
        np.testing.assert_array_equal(e.reverse_complement_codes(codes), naive.reverse_complement_codes(codes))
    print("no-jit ok")
    """
)


def test_kernels_match_reference_without_jit():
    assert "no-jit ok" in naive.run_without_jit(_NO_JIT_SCRIPT)


def test_reverse_complement_codes_of_rows_reverses_each_row_on_its_own():
    rows = np.array([[0, 1, 2, 3, 4], [4, 4, 0, 0, 1]], dtype=np.uint8)
    got = reverse_complement_codes(rows)
    assert got.tolist() == [[4, 0, 1, 2, 3], [2, 3, 3, 4, 4]]
    for row, expected in zip(rows, got):
        np.testing.assert_array_equal(naive.reverse_complement_codes(row), expected)


# ---------------------------------------------------------------- properties (hypothesis)

PROPERTY = hypothesis.settings(max_examples=50, deadline=None)
# Bases as they come: every case, N runs, IUPAC codes, and bytes that are no base at all.
TEXT = st.lists(st.sampled_from([b"A", b"C", b"G", b"T", b"a", b"c", b"g", b"t", b"N" * 5, b"n", b"R", b"y", b"-"]),
                max_size=120).map(b"".join) | st.binary(max_size=120)


@PROPERTY
@hypothesis.given(TEXT)
def test_property_encode_bases_codes_every_byte(seq):
    codes = encode_bases(seq)
    assert codes.dtype == np.uint8 and len(codes) == len(seq) and np.all(codes <= INVALID)
    np.testing.assert_array_equal(codes, naive.encode_bases(seq))
    np.testing.assert_array_equal(reverse_complement_codes(reverse_complement_codes(codes)), codes)
    assert reverse_complement(reverse_complement(seq)) == seq


@PROPERTY
@hypothesis.given(TEXT, st.lists(st.integers(1, 8), min_size=1, max_size=4, unique=True))
def test_property_kmer_token_ids_match_the_reference(seq, ks):
    codes = encode_bases(seq)
    ids = kmer_token_ids(codes, ks)
    assert ids.shape == (len(ks), len(seq))
    np.testing.assert_array_equal(ids, naive.kmer_token_ids(codes, ks))


@PROPERTY
@hypothesis.given(TEXT, st.integers(1, 40), st.integers(1, 40))
def test_property_window_invalid_fraction_one_per_window(seq, window, stride):
    codes = encode_bases(seq)
    got = window_invalid_fraction(codes, window, stride)
    assert len(got) == WindowGrid(window, stride).count(len(seq))
    assert np.all((got >= 0) & (got <= 1))
    np.testing.assert_allclose(got, naive.window_invalid_fraction(codes, window, stride), rtol=0, atol=1e-6)
