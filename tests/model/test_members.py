"""A member's entry of ensemble.json: limits by tokenizer kind, the fields of each kind, its tokenizer file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ielmscan.errors import BundleError
from ielmscan.model.members import check_config, member_entry, read_tokenizer
from ielmscan.model.network import MemberConfig
from ielmscan.model.validate import Entry

from tests.bundles import bpe_tokenizer

BPE_ENTRY = {"name": "bpe", "file": "bpe.safetensors", "weight": 1.0, "tokenizer": "bpe", "vocab_size": 64,
             "tokenizer_file": "bpe.tokenizer.json", "hidden_size": 8, "num_heads": 2}


def refuse(key: str | None, problem: str) -> BundleError:
    return BundleError(f"{key} {problem}")


def test_limits_follow_the_tokenizer_kind():
    check_config(MemberConfig(tokenizer="bpe", vocab_size=9), refuse)  # a BPE member has no k to check
    with pytest.raises(BundleError, match=r"^vocab_size is 8: it must be in \[9, 65541\]"):
        check_config(MemberConfig(tokenizer="bpe", vocab_size=8), refuse)
    with pytest.raises(BundleError, match=r"^k is 0: it must be in \[1, 8\]"):
        check_config(MemberConfig(k=0), refuse)


def test_a_bpe_entry_reads_its_vocabulary_size_and_tokenizer_file(tmp_path):
    spec = member_entry(Entry(dict(BPE_ENTRY), tmp_path, "members[1]"), bpe_allowed=True)
    assert spec.config.tokenizer == "bpe" and spec.config.vocab_size == 64 and spec.config.k == 0
    assert spec.tokenizer_file == "bpe.tokenizer.json"
    assert spec.shapes["encoder.embeddings.word.weight"] == (64, 8)
    kmer = member_entry(Entry({"name": "k3", "file": "k3.safetensors", "weight": 1, "k": 3}, tmp_path), True)
    assert kmer.tokenizer_file is None and kmer.config.tokenizer == "kmer"


@pytest.mark.parametrize("change, words", [
    (dict(tokenizer="wordpiece"), "tokenizer is 'wordpiece': it must be one of 'kmer', 'bpe'"),
    (dict(k=3), "k does not belong to a bpe member"),
    (dict(vocab_size=None), "vocab_size is missing"),
    (dict(vocab_size="64"), "vocab_size must be a whole number"),
    (dict(tokenizer_file="../t.json"), "tokenizer_file '../t.json' must be a plain file name"),
    (dict(tokenizer_file="bpe.tokenizer.txt"), "must end in .json"),
    (dict(tokenizer="kmer", k=3), "vocab_size does not belong to a kmer member"),
])
def test_an_entry_mixing_the_kinds_or_naming_a_bad_file_is_refused(tmp_path, change, words):
    entry = {**BPE_ENTRY, **change}
    with pytest.raises(BundleError, match=r"members\[1\]\.") as err:
        member_entry(Entry({k: v for k, v in entry.items() if v is not None}, tmp_path, "members[1]"), True)
    assert words in str(err.value)


def test_the_tokenizer_file_must_hold_the_configs_vocabulary(tmp_path: Path):
    (tmp_path / "bpe.tokenizer.json").write_text(bpe_tokenizer(64).to_json())
    assert read_tokenizer(tmp_path, "bpe.tokenizer.json", MemberConfig(tokenizer="bpe", vocab_size=64)).vocab_size == 64
    with pytest.raises(BundleError, match="bpe.tokenizer.json holds 64 tokens, its member's vocab_size .* 80$"):
        read_tokenizer(tmp_path, "bpe.tokenizer.json", MemberConfig(tokenizer="bpe", vocab_size=80))
    data = json.loads((tmp_path / "bpe.tokenizer.json").read_text())
    data["model"]["type"] = "Unigram"
    (tmp_path / "bpe.tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match=f"model bundle {tmp_path}: bpe.tokenizer.json is not a BPE tokenizer"):
        read_tokenizer(tmp_path, "bpe.tokenizer.json", MemberConfig(tokenizer="bpe", vocab_size=64))
