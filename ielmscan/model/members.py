"""A member's entry of ``ensemble.json`` as loading reads it: every field checked, its tokenizer file read.

The limits on a member's shape (:data:`CONFIG_LIMITS`, :func:`check_config`) are checked before anything is
allocated, on load and when a bundle is made (``new_bundle``, ``import-dnabert``), so ielmscan never writes a
bundle it would refuse to load. A BPE member's tokenizer file is read and checked here too
(:func:`read_tokenizer`): size, JSON, a BPE model, special ids 0-4, A/C/G/T tokens only, and as many tokens as
the member's config (whose embedding the tensor header check holds to the same size).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ielmscan.errors import BundleError
from ielmscan.model.defaults import (MAX_BPE_VOCAB, MAX_HIDDEN, MAX_INTERMEDIATE, MAX_K, MAX_LAYERS, MAX_PARAMETERS,
                                     MAX_POSITIONS, MAX_TOKENIZER_BYTES, MIN_BPE_VOCAB)
from ielmscan.model.network import MemberConfig, parameter_shapes
from ielmscan.model.tokenizers import BPE, KMER, TOKENIZER_KINDS, BpeTokenizer
from ielmscan.model.validate import REQUIRED, Entry, inside, read_json, show

# Ranges of a member's shape (ielmscan.model.defaults says why they are bounded), checked on load and in new_bundle.
CONFIG_LIMITS: dict[str, tuple[int, int]] = {
    "hidden_size": (1, MAX_HIDDEN), "num_layers": (1, MAX_LAYERS), "intermediate_size": (1, MAX_INTERMEDIATE),
    "max_positions": (3, MAX_POSITIONS), "head_hidden": (1, MAX_HIDDEN),
}
# What sets the vocabulary, by tokenizer kind: a k-mer member's k, a BPE member's own size.
VOCAB_LIMITS: dict[str, tuple[str, int, int]] = {KMER: ("k", 1, MAX_K),
                                                 BPE: ("vocab_size", MIN_BPE_VOCAB, MAX_BPE_VOCAB)}
_LIMIT = " (ielmscan's limit)"
TOKENIZER_SUFFIX = ".tokenizer.json"


def _limits(kind: str) -> dict[str, tuple[int, int]]:
    key, low, high = VOCAB_LIMITS[kind]
    return {key: (low, high), **CONFIG_LIMITS}


def check_config(cfg: MemberConfig, error: Callable[[str | None, str], Exception]) -> dict[str, tuple[int, ...]]:
    """Check a member's shape against ielmscan's limits before anything is allocated; return its tensors' shapes.

    ``error(field, problem)`` makes the exception, so a bundle's message can name its file and entry.
    """
    for key, (low, high) in _limits(cfg.tokenizer).items():
        value = getattr(cfg, key)
        if not low <= value <= high:
            raise error(key, f"is {value}: it must be in [{low}, {high}]{_LIMIT}")
    if cfg.hidden_size % cfg.num_heads:
        raise error("num_heads", f"is {cfg.num_heads}: it must divide hidden_size {cfg.hidden_size}")
    shapes = parameter_shapes(cfg)  # nothing allocated yet
    parameters = sum(math.prod(shape) for shape in shapes.values())
    if parameters > MAX_PARAMETERS:
        raise error(None, f"declares {parameters:,} parameters: ielmscan loads at most {MAX_PARAMETERS:,} per member")
    return shapes


@dataclass
class MemberEntry:
    """A member as ensemble.json declares it, every field checked; its network is not built yet."""

    name: str
    file: str
    weight: float
    config: MemberConfig
    shapes: dict[str, tuple[int, ...]]
    tokenizer_file: str | None  # a BPE member's tokenizer.json


def member_entry(e: Entry, bpe_allowed: bool) -> MemberEntry:
    """One ``members[i]`` entry; ``bpe_allowed``: the manifest's format version knows BPE members."""
    defaults = MemberConfig(k=1)
    kind = e.value("tokenizer", KMER)
    if kind not in TOKENIZER_KINDS:
        raise e.error("tokenizer", f"is {show(kind)}: it must be one of {', '.join(map(repr, TOKENIZER_KINDS))}")
    if kind == BPE and not bpe_allowed:
        raise e.error("tokenizer", "is 'bpe', but the manifest's format version 1 holds k-mer members only")
    foreign = ("k",) if kind == BPE else ("vocab_size", "tokenizer_file")  # the other kind's fields
    other = next((key for key in foreign if e.has(key)), None)
    if other is not None:
        raise e.error(other, f"does not belong to a {kind} member (a k-mer member has a k, a BPE member a vocab_size "
                             "and a tokenizer_file)")
    sizes = {key: e.integer(key, low, high, REQUIRED if key in ("k", "vocab_size") else getattr(defaults, key), _LIMIT)
             for key, (low, high) in _limits(kind).items()}
    cfg = MemberConfig(
        **sizes,
        tokenizer=kind,
        num_heads=e.integer("num_heads", 1, sizes["hidden_size"], defaults.num_heads),
        dropout=e.number("dropout", 0.0, 1.0, defaults.dropout, open_high=True),
        layer_norm_eps=e.number("layer_norm_eps", 0.0, 1.0, defaults.layer_norm_eps, open_low=True),
    )
    shapes = check_config(cfg, e.error)
    name = e.file_name("name")  # saving writes NAME.safetensors into the bundle folder
    tokenizer_file = e.file_name("tokenizer_file", suffix=".json") if kind == BPE else None
    return MemberEntry(name, e.file_name("file"), e.number("weight", 0.0), cfg, shapes, tokenizer_file)


def read_tokenizer(directory: Path, name: str, cfg: MemberConfig) -> BpeTokenizer:
    """A BPE member's tokenizer file ``name`` of the bundle ``directory``, checked against the member's config."""
    path = inside(directory, name, "tokenizer file")
    data = read_json(directory, path, MAX_TOKENIZER_BYTES, "a tokenizer file")
    try:
        tokenizer = BpeTokenizer.from_data(data)
    except ValueError as exc:
        raise BundleError(f"model bundle {directory}: {name} {exc}") from None
    if tokenizer.vocab_size != cfg.vocab_size:
        raise BundleError(f"model bundle {directory}: {name} holds {tokenizer.vocab_size:,} tokens, its member's "
                          f"vocab_size (and embedding) {cfg.vocab_size:,}")
    return tokenizer
