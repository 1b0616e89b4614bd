"""A chunk encoded once for every member, and the rows each member's tokenizer makes of its windows."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ielmscan.inference.windows import TOKEN_STEP, BpeWindows, KmerWindows, encode_chunk
from ielmscan.kernels.encode import encode_bases, kmer_token_ids, reverse_complement, reverse_complement_codes
from ielmscan.model.tokens import PAD_ID, encode_sequences, token_rows

from tests.bundles import bpe_tokenizer

WINDOW, STRIDE, N_WINDOWS = 30, 10, 6


@pytest.fixture(scope="module")
def text() -> str:
    seq = "".join(np.random.default_rng(3).choice(list("ACGTacgt"), WINDOW + (N_WINDOWS - 1) * STRIDE))
    return seq[:33] + "NN" + seq[35:]


def windows_of(text: str) -> list[str]:
    return [text[j * STRIDE : j * STRIDE + WINDOW] for j in range(N_WINDOWS)]


def rc(seq: str) -> str:
    return reverse_complement(seq.encode()).decode()


def test_a_chunk_holds_its_codes_and_kmer_ids_of_both_strands(text):
    codes = encode_bases(text.encode())
    chunk = encode_chunk(codes, [3, 5], reverse_complement=True)
    np.testing.assert_array_equal(chunk.ids, kmer_token_ids(codes, [3, 5]))
    np.testing.assert_array_equal(chunk.codes_rc, reverse_complement_codes(codes))
    np.testing.assert_array_equal(chunk.ids_rc, kmer_token_ids(reverse_complement_codes(codes), [3, 5]))
    forward_only = encode_chunk(codes, [3], reverse_complement=False)
    assert forward_only.codes_rc is None and forward_only.ids_rc is None
    bpe_only = encode_chunk(codes, [], reverse_complement=True)  # a bundle of BPE members needs no k-mer ids
    assert bpe_only.ids.shape == (0, len(codes)) and bpe_only.ids_rc.shape == (0, len(codes))
    given = kmer_token_ids(codes, [3])
    assert encode_chunk(codes, [3], False, ids=given).ids is given  # a scan's one pass is not repeated


def test_kmer_windows_are_the_token_rows_of_each_window_and_its_reverse_complement(text):
    chunk = encode_chunk(encode_bases(text.encode()), [4], reverse_complement=True)
    windows = KmerWindows(torch.from_numpy(chunk.ids[0]), torch.from_numpy(chunk.ids_rc[0]), 4, WINDOW, STRIDE,
                          N_WINDOWS)
    index = torch.tensor([4, 0, 2])
    chosen = [windows_of(text)[i] for i in index.tolist()]
    expected = token_rows(encode_sequences(chosen + [rc(s) for s in chosen]), 4)
    np.testing.assert_array_equal(windows.rows(index).numpy(), expected)


@pytest.mark.parametrize("width", [None, WINDOW + 2])
def test_bpe_windows_are_the_tokenizers_rows_padded_to_a_step_or_a_fixed_width(text, width):
    tokenizer = bpe_tokenizer()
    codes = encode_bases(text.encode())
    windows = BpeWindows(tokenizer, codes, reverse_complement_codes(codes), WINDOW, STRIDE, N_WINDOWS, WINDOW + 2,
                         width, torch.from_numpy)
    index = torch.tensor([5, 1, 3])
    chosen = [windows_of(text)[i] for i in index.tolist()]
    expected = tokenizer.rows(encode_sequences(chosen + [rc(s) for s in chosen]))
    rows = windows.rows(index).numpy()
    if width is None:
        assert rows.shape[1] % TOKEN_STEP == 0 or rows.shape[1] == WINDOW + 2
    else:
        assert rows.shape[1] == width
    np.testing.assert_array_equal(rows[:, : expected.shape[1]], expected)
    assert (rows[:, expected.shape[1]:] == PAD_ID).all()
    forward = BpeWindows(tokenizer, codes, None, WINDOW, STRIDE, N_WINDOWS, WINDOW + 2, width, torch.from_numpy)
    assert len(forward.rows(index)) == 3
