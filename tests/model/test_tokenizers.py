"""Member tokenizers: k-mer rows as before, BPE learnt deterministically from genome text (N splits, case ignored),
its file read back exactly and refused, one line each, when it is not a genome BPE tokenizer."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ielmscan.io.synthetic import synthetic_sequence
from ielmscan.model.tokenizers import BpeTokenizer, KmerTokenizer
from ielmscan.model.tokens import CLS_ID, PAD_ID, SEP_ID, SPECIAL_TOKENS, encode_sequences, token_rows


@pytest.fixture(scope="module")
def genome_text() -> list[str]:
    """A small generated genome in 500-bp pieces: lowercase stretches and N gaps in it."""
    text = synthetic_sequence(20_000, np.random.default_rng(0)).decode()
    assert "N" in text and any(c.islower() for c in text)
    return [text[i : i + 500] for i in range(0, len(text), 500)]


@pytest.fixture(scope="module")
def tokenizer(genome_text) -> BpeTokenizer:
    return BpeTokenizer.train(genome_text, 64)


def tokens_of(tokenizer: BpeTokenizer, seq: str) -> list[str]:
    """The tokens of one sequence's row between [CLS] and [SEP]."""
    vocab = tokenizer.tokens()
    row = tokenizer.rows(encode_sequences([seq]))[0]
    assert row[0] == CLS_ID
    return [vocab[i] for i in row[1:] if i not in (PAD_ID, SEP_ID)]


def test_kmer_rows_and_spans_are_the_overlapping_kmers():
    codes = encode_sequences(["ACGTAC", "ggNNTT"])
    k3 = KmerTokenizer(3)
    np.testing.assert_array_equal(k3.rows(codes), token_rows(codes, 3))
    assert k3.vocab_size == 5 + 64
    spans = k3.spans(codes)
    assert len(spans) == 2 and spans[1].tolist() == [[0, 3], [1, 4], [2, 5], [3, 6]]


def test_bpe_training_is_deterministic_with_the_special_tokens_first(genome_text, tokenizer):
    again = BpeTokenizer.train(genome_text, 64)
    assert again.to_json() == tokenizer.to_json()
    assert tokenizer.vocab_size == 64
    tokens = tokenizer.tokens()
    assert tokens[:5] == list(SPECIAL_TOKENS)
    assert set(tokens[5:9]) == set("ACGT") and all(set(t) <= set("ACGT") for t in tokens[5:])
    assert max(map(len, tokens[5:])) > 2  # merges were learnt
    assert BpeTokenizer.train(genome_text[:10], 64).to_json() != tokenizer.to_json()  # other text, other merges


def test_bpe_ignores_case_and_never_makes_a_token_of_n(genome_text, tokenizer):
    assert BpeTokenizer.train([t.upper() for t in genome_text], 64).to_json() == tokenizer.to_json()
    assert BpeTokenizer.train([t.lower() for t in genome_text], 64).to_json() == tokenizer.to_json()
    left, right = "ACGGTTAC", "TTGCCA"
    for gap in ("N", "NNNN", "R"):  # N and IUPAC letters split the text
        assert tokens_of(tokenizer, left + gap + right) == tokens_of(tokenizer, left) + tokens_of(tokenizer, right)
    assert tokens_of(tokenizer, "NNNN") == [] and tokenizer.rows(encode_sequences(["NNNN"])).tolist() == [[2, 3]]


def test_bpe_rows_are_cls_tokens_sep_then_padding_and_spans_cover_the_bases(tokenizer):
    seqs = ["ACGTTGCAACGTAATT", "GGGGCCCCNNNNATAT"]
    rows = tokenizer.rows(encode_sequences(seqs))
    spans = tokenizer.spans(encode_sequences(seqs))
    for row, span, seq in zip(rows, spans, seqs):
        real = row[row != PAD_ID]
        assert real[0] == CLS_ID and real[-1] == SEP_ID and (row[len(real):] == PAD_ID).all()
        assert len(span) == len(real) - 2
        vocab = tokenizer.tokens()
        assert [seq[a:b] for a, b in span] == [vocab[i] for i in real[1:-1]]  # each token's own bases
    assert rows.shape[1] <= 16 + 2  # never more tokens than bases
    both_rows, both_spans = tokenizer.rows_and_spans(encode_sequences(seqs))  # one tokenization for both
    np.testing.assert_array_equal(both_rows, rows)
    assert [s.tolist() for s in both_spans] == [s.tolist() for s in spans]
    k_rows, k_spans = KmerTokenizer(3).rows_and_spans(encode_sequences(seqs))
    np.testing.assert_array_equal(k_rows, KmerTokenizer(3).rows(encode_sequences(seqs)))
    assert [s.tolist() for s in k_spans] == [s.tolist() for s in KmerTokenizer(3).spans(encode_sequences(seqs))]


@pytest.mark.parametrize("length", [1, 7, 60])
def test_a_window_of_w_bases_is_at_most_w_plus_2_tokens(length):
    # A vocabulary of the single bases alone is the longest tokenization there is.
    plain = BpeTokenizer.train(["ACGT"], 9)
    assert plain.vocab_size == 9
    codes = encode_sequences(["".join(np.random.default_rng(length).choice(list("ACGT"), length))])
    assert plain.rows(codes).shape == (1, length + 2)


def test_the_file_reads_back_to_the_same_tokenizer(tokenizer):
    again = BpeTokenizer.from_data(json.loads(tokenizer.to_json()))
    assert again.to_json() == tokenizer.to_json()
    codes = encode_sequences(["ACGTTGCAACGTAATTGGCA", "TTTTTTTTTTAAAAAAAAAA"])
    np.testing.assert_array_equal(again.rows(codes), tokenizer.rows(codes))


def test_only_the_vocabulary_and_merges_of_a_file_are_read(tokenizer):
    data = json.loads(tokenizer.to_json())
    data["normalizer"] = {"type": "Replace", "pattern": {"String": "A"}, "content": "AAAA"}  # would lengthen rows
    data["model"]["dropout"] = 0.5  # would make tokens random
    codes = encode_sequences(["ACGTACGTACGT"])
    np.testing.assert_array_equal(BpeTokenizer.from_data(data).rows(codes), tokenizer.rows(codes))


def spoil(change):
    def spoiled(data):
        change(data)
        return data
    return spoiled


@pytest.mark.parametrize("change, words", [
    (lambda d: d["model"].update(type="WordPiece"), "not a BPE tokenizer"),
    (lambda d: d.pop("model"), "not a BPE tokenizer"),
    (lambda d: d["model"].update(vocab=["A", "C"]), "no vocabulary"),
    (lambda d: d["model"]["vocab"].update({"[PAD]": 5, "A": 0}), "[PAD] has id 5, not 0"),
    (lambda d: d["model"]["vocab"].update({"ACN": 64}), "'ACN' is not a run of A/C/G/T"),
    (lambda d: d["model"]["vocab"].update({"acg": 64}), "'acg' is not a run"),
    (lambda d: d["model"]["vocab"].update({"ACGTACGT": 70}), "ids are not 0 to"),
    (lambda d: d["model"].update(merges="A C"), "no merges list"),
    (lambda d: d["model"]["merges"].append(["A", "Q"]), "does not join two tokens"),
    (lambda d: d["model"]["merges"].append("ACGTTT GGGGGG"), "does not join two tokens"),
])
def test_a_file_that_is_not_a_genome_bpe_tokenizer_is_refused(tokenizer, change, words):
    data = spoil(change)(json.loads(tokenizer.to_json()))
    with pytest.raises(ValueError) as err:
        BpeTokenizer.from_data(data)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_vocabulary_without_a_base_is_refused(tokenizer):
    data = json.loads(tokenizer.to_json())
    vocab = {t: i for t, i in data["model"]["vocab"].items() if i < 9}
    del vocab["T"]
    vocab["AA"] = 8
    data["model"].update(vocab=vocab, merges=[["A", "A"]])
    with pytest.raises(ValueError, match="lacks the single-base token T"):
        BpeTokenizer.from_data(data)
