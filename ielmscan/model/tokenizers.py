"""Member tokenizers: what turns a member's bases into its token rows, ``[CLS] tokens [SEP]`` padded with [PAD].

Two kinds, one interface (:attr:`vocab_size`, :meth:`rows`, :meth:`spans`):

- :class:`KmerTokenizer`: overlapping k-mers, ids from the Numba kernel (:mod:`ielmscan.model.tokens`). Every
  window of W bases is W-k+1 tokens, so the scanner cuts k-mer rows as strided views of one per-base id array.
- :class:`BpeTokenizer`: byte-pair encoding trained on genome sequence (DNABERT-2's tokens), a
  ``tokenizers.Tokenizer`` with a BPE model. Tokens are runs of 1 or more bases, so a window of W bases is at
  most W tokens; rows of one batch differ in length and are padded with [PAD]. Only A/C/G/T runs are
  tokenized: N and any other letter split the text and never become tokens; case is ignored.

Both use the ids 0-4 for [PAD] [UNK] [CLS] [SEP] [MASK]. A bundle stores a BPE member's tokenizer beside its
weights as ``<member>.tokenizer.json`` (the ``tokenizers`` library's own format); reading one
(:meth:`BpeTokenizer.from_data`) takes only its vocabulary and merges, checked, and puts them in ielmscan's own
pipeline around them, so a file cannot change how text is split or make a window longer than W + 2 tokens.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np
from tokenizers import Encoding, Regex, Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from ielmscan.model.tokens import BASES, CLS_ID, NUM_SPECIAL, PAD_ID, SEP_ID, SPECIAL_TOKENS, token_rows, vocab_size

KMER, BPE = "kmer", "bpe"  # the tokenizer kinds a member config names
TOKENIZER_KINDS = (KMER, BPE)
_LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)  # base code (A=0 .. T=3, 4 invalid) → its letter


class KmerTokenizer:
    """Overlapping k-mers: token i of a sequence is the k-mer at base i (an [UNK] where it holds an N)."""

    kind = KMER

    def __init__(self, k: int) -> None:
        self.k = k

    @property
    def vocab_size(self) -> int:
        return vocab_size(self.k)

    def rows(self, codes: np.ndarray) -> np.ndarray:
        """(N, L-k+3) int64 rows of (N, L) base codes: [CLS], the L-k+1 k-mer ids, [SEP]."""
        return token_rows(codes, self.k)

    def spans(self, codes: np.ndarray) -> list[np.ndarray]:
        """Per sequence, the bases each token of its row covers (between [CLS] and [SEP]): (tokens, 2) start, end."""
        starts = np.arange(max(0, codes.shape[1] - self.k + 1))
        span = np.stack([starts, starts + self.k], axis=1)
        return [span] * len(codes)

    def rows_and_spans(self, codes: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """:meth:`rows` and :meth:`spans` of the same codes."""
        return self.rows(codes), self.spans(codes)


class BpeTokenizer:
    """Byte-pair encoding of A/C/G/T runs (a ``tokenizers.Tokenizer``); see the module docstring."""

    kind = BPE

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]) -> None:
        """From a checked vocabulary (special tokens at 0-4, the rest A/C/G/T strings) and its merges, in order."""
        self.tokenizer = _pipeline(Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=SPECIAL_TOKENS[1])))

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> BpeTokenizer:
        """A vocabulary of at most ``vocab_size`` tokens (the five special ones included) learnt from ``texts``.

        Deterministic for the same texts in the same order. A pair seen only once is never merged, so on little
        data the vocabulary may come out smaller than asked: the bundle records the size it got.
        """
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=list(SPECIAL_TOKENS),
                                      initial_alphabet=list(BASES), limit_alphabet=len(BASES), show_progress=False)
        tokenizer = _pipeline(Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS[1])))
        tokenizer.train_from_iterator(texts, trainer)
        # Rebuilt from what it learnt, so a trained tokenizer is exactly what loading its file gives.
        return cls.from_data(json.loads(tokenizer.to_str()))

    @classmethod
    def from_data(cls, data: Any) -> BpeTokenizer:
        """A tokenizer from a parsed ``tokenizer.json``: its vocabulary and merges, checked (ValueError saying what is
        wrong), in ielmscan's pipeline."""
        vocab, merges = _checked_model(data)
        try:
            return cls(vocab, merges)
        except Exception as exc:  # the tokenizers library raises plain Exceptions; the checks above should leave none
            raise ValueError(f"is not a tokenizer ielmscan can read ({str(exc).splitlines()[0]})") from None

    def to_json(self) -> str:
        return self.tokenizer.to_str()

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def tokens(self) -> list[str]:
        """Every token in id order."""
        vocab = self.tokenizer.get_vocab()
        return sorted(vocab, key=vocab.__getitem__)

    @staticmethod
    def _texts(codes: np.ndarray) -> list[str]:
        return [row.tobytes().decode("ascii") for row in _LETTERS[codes]]  # N and other invalid bases split the text

    def rows(self, codes: np.ndarray) -> np.ndarray:
        """(N, T) int64 rows of (N, L) base codes: [CLS], the tokens, [SEP], then [PAD] up to T, the longest row."""
        return _padded_rows(self.tokenizer.encode_batch_fast(self._texts(codes)))  # no offsets: a third faster

    def spans(self, codes: np.ndarray) -> list[np.ndarray]:
        """Per sequence, the bases each token of its row covers (between [CLS] and [SEP]): (tokens, 2) start, end."""
        return _spans(self.tokenizer.encode_batch(self._texts(codes)))

    def rows_and_spans(self, codes: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """:meth:`rows` and :meth:`spans` of the same codes, tokenized once."""
        encodings = self.tokenizer.encode_batch(self._texts(codes))
        return _padded_rows(encodings), _spans(encodings)


def _padded_rows(encodings: list[Encoding]) -> np.ndarray:
    out = np.full((len(encodings), max((len(e.ids) for e in encodings), default=2)), PAD_ID, dtype=np.int64)
    for row, encoding in zip(out, encodings):
        row[: len(encoding.ids)] = encoding.ids
    return out


def _spans(encodings: list[Encoding]) -> list[np.ndarray]:
    return [np.asarray(e.offsets[1:-1], dtype=np.int64).reshape(-1, 2) for e in encodings]


MemberTokenizer = KmerTokenizer | BpeTokenizer


def _pipeline(tokenizer: Tokenizer) -> Tokenizer:
    """ielmscan's text pipeline around a BPE model: uppercase, split at anything but A/C/G/T, [CLS] … [SEP]."""
    tokenizer.normalizer = normalizers.Sequence([normalizers.Replace(b.lower(), b) for b in BASES])
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(f"[^{BASES}]+"), behavior="removed")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[(SPECIAL_TOKENS[CLS_ID], CLS_ID), (SPECIAL_TOKENS[SEP_ID], SEP_ID)])
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))  # in the vocabulary already: their ids stay 0-4
    return tokenizer


def _checked_model(data: Any) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The vocabulary and merges of a parsed ``tokenizer.json``, every entry checked; ValueError otherwise."""
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or model.get("type") != "BPE":
        raise ValueError(f"is not a BPE tokenizer (model type {model.get('type') if isinstance(model, dict) else None!r}, "
                         "not 'BPE')")
    vocab, merges = model.get("vocab"), model.get("merges")
    if not isinstance(vocab, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in vocab.values()):
        raise ValueError("has no vocabulary of token ids (model.vocab)")
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError(f"vocabulary ids are not 0 to {len(vocab) - 1}, each once")
    for i, special in enumerate(SPECIAL_TOKENS):
        if vocab.get(special) != i:
            raise ValueError(f"special token {special} has id {vocab.get(special)}, not {i} "
                             f"({' '.join(SPECIAL_TOKENS)} must be ids 0-{NUM_SPECIAL - 1})")
    other = next((token for token in vocab if token not in SPECIAL_TOKENS and (not token or set(token) - set(BASES))),
                 None)
    if other is not None:
        raise ValueError(f"token {other[:20]!r} is not a run of {'/'.join(BASES)}: genome tokens hold those letters only")
    missing = [base for base in BASES if base not in vocab]
    if missing:
        raise ValueError(f"lacks the single-base token {missing[0]}: every run of bases must be tokenizable")
    if not isinstance(merges, list):
        raise ValueError("has no merges list (model.merges)")
    pairs = []
    for merge in merges:
        pair = merge.split(" ") if isinstance(merge, str) else merge
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) and p in vocab for p in pair)
                and pair[0] + pair[1] in vocab):
            raise ValueError(f"merge {merge!r} does not join two tokens of the vocabulary into a third")
        pairs.append((pair[0], pair[1]))
    return vocab, pairs
