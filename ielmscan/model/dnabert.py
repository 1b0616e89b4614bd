"""DNABERT and iEnhancer-ELM checkpoint folders read into a bundle: what ``ielmscan import-dnabert`` does.

A folder is a Hugging Face model folder: ``config.json``, ``vocab.txt`` and the weights in
``model.safetensors`` or ``pytorch_model.bin``. Two layouts are accepted:

- iEnhancer-ELM's fine-tuned classifier (``C_Bert_2FC_average``): the encoder under ``bert.`` and the head as
  ``classifier1`` (Linear(hidden, 25)) and ``classifier2`` (Linear(25, 1));
- a plain DNABERT ``BertModel`` / ``BertForMaskedLM`` folder, with the head in a separate file.

k is read from ``vocab.txt``, and so is the k-mer order: DNABERT lists its k-mers after the five special
tokens in an order of its own, and ``convert.from_bert_state_dict`` moves each embedding row to the id
ielmscan gives that k-mer. Pickled weights are read only through ``torch.load(weights_only=True)``, which
rebuilds tensors and plain containers and runs no code; safetensors are preferred when both are there.
"""
from __future__ import annotations

import json
import pickle
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from ielmscan import __version__
from ielmscan.errors import BundleError
from ielmscan.io.paths import file_sha256
from ielmscan.model.bundle import Bundle, Member, check_window
from ielmscan.model.members import check_config
from ielmscan.model.convert import BERT_PREFIX, HEAD_KEYS, from_bert_state_dict
from ielmscan.model.defaults import DEFAULT_WINDOW, MAX_K
from ielmscan.model.network import EnhancerLM, MemberConfig
from ielmscan.model.tokens import BASES, SPECIAL_TOKENS

CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.txt"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # in order of preference: safetensors is never unpickled
HEAD_NAMES = tuple(sorted(HEAD_KEYS.values()))  # classifier1.bias, classifier1.weight, classifier2.bias, ...
_TOKEN_TYPE = "embeddings.token_type_embeddings.weight"
_WORD = "embeddings.word_embeddings.weight"
Problem = Callable[[str], BundleError]  # a problem's text → the error naming the folder
_OTHER_WEIGHTS = {  # files of layouts that are recognised, but not read
    "model.safetensors.index.json": "sharded weights (model.safetensors.index.json) are not supported",
    "pytorch_model.bin.index.json": "sharded weights (pytorch_model.bin.index.json) are not supported",
    "tf_model.h5": "it holds TensorFlow weights (tf_model.h5); ielmscan reads PyTorch or safetensors weights",
    "flax_model.msgpack": "it holds Flax weights (flax_model.msgpack); ielmscan reads PyTorch or safetensors weights",
}


def import_dnabert(
    directories: Sequence[str | Path], heads: Sequence[str | Path | None] = (), window: int = DEFAULT_WINDOW
) -> Bundle:
    """A bundle with one member per checkpoint folder, equal weights and threshold 0.5 (iEnhancer-ELM's).

    ``heads``, when given, pairs one head file (or None) with each folder, in order: the head of a plain
    DNABERT folder. Raises BundleError, naming the folder or file, for anything it cannot import exactly.
    """
    if not directories:
        raise BundleError("no checkpoint folder given: name at least one DNABERT / iEnhancer-ELM folder")
    if heads and len(heads) != len(directories):
        raise BundleError(f"{len(heads)} head file(s) for {len(directories)} checkpoint folder(s): give one per folder")
    members: list[Member] = []
    sources: list[dict[str, Any]] = []
    seen: dict[int, Path] = {}
    for i, directory in enumerate(directories):
        directory = Path(directory)
        head = heads[i] if heads else None
        model, source = read_checkpoint(directory, None if head is None else Path(head))
        k = model.cfg.k
        if k in seen:
            raise BundleError(f"DNABERT checkpoints {seen[k]} and {directory} are both k={k}: a bundle holds one "
                              "member per k")
        seen[k] = directory
        members.append(Member(name=f"k{k}", config=model.cfg, weight=1.0, model=model))
        sources.append(source)
    bundle = Bundle(members=members, window=window, threshold=0.5,
                    provenance={"created_by": f"ielmscan {__version__} import-dnabert", "imported_from": sources})
    try:
        check_window(bundle, window)
    except BundleError as exc:
        raise BundleError(f"{exc}: choose the window with import-dnabert --window") from None
    return bundle


def read_checkpoint(directory: Path, head: Path | None = None) -> tuple[EnhancerLM, dict[str, Any]]:
    """One checkpoint folder (and its head file) as an ielmscan member in eval mode, and its provenance entry."""
    def bad(problem: str) -> BundleError:
        return BundleError(f"DNABERT checkpoint {directory}: {problem}")

    if not directory.is_dir():
        raise bad("not a folder" if directory.exists() else "no such folder")
    if not (directory / CONFIG_FILE).is_file():  # the first thing to say of a folder of another kind
        raise bad(f"no {CONFIG_FILE}: not a Hugging Face model folder ({CONFIG_FILE}, {VOCAB_FILE} and "
                  f"{' or '.join(WEIGHT_FILES)})")
    weights = _weights_file(directory, bad)
    k, vocab = read_vocab(directory / VOCAB_FILE, bad)
    shape = read_config(directory / CONFIG_FILE, len(vocab), bad)
    state = {key.removeprefix(BERT_PREFIX): value for key, value in load_tensors(weights).items()}
    _check_embeddings(state, len(vocab), shape["hidden_size"], weights, bad)
    own_head = [name for name in HEAD_NAMES if name in state]
    if head is not None:
        if own_head:
            raise bad(f"{weights.name} has an iEnhancer-ELM head of its own (classifier1, classifier2) and head file "
                      f"{head} was given too: give one of them")
        state.update(read_head(head))
    elif not own_head:
        other = " (its 'classifier' is BertForSequenceClassification's, not iEnhancer-ELM's two-layer head)" \
            if any(key.startswith("classifier.") for key in state) else ""
        raise bad(f"{weights.name} has no iEnhancer-ELM head (classifier1, classifier2){other}: for a plain DNABERT "
                  "model give the head file (import-dnabert --head FILE)")
    elif len(own_head) < len(HEAD_NAMES):
        raise bad(f"{weights.name} has an incomplete head: {sorted(set(HEAD_NAMES) - set(own_head))[0]} is missing")
    head_hidden = _check_head(state, shape["hidden_size"], weights if head is None else head)
    cfg = MemberConfig(k=k, head_hidden=head_hidden, **shape)
    # The limits every bundle is loaded under: never write a bundle that ielmscan would refuse to load.
    check_config(cfg, lambda key, problem: bad(f"{CONFIG_FILE}: {key or 'the model'} {problem}"))
    try:
        model = from_bert_state_dict(state, cfg, vocab=vocab)
    except BundleError as exc:
        raise bad(f"{weights.name}: {exc}") from None
    source = {"folder": str(directory), "k": k, "weights": weights.name, "weights_sha256": file_sha256(weights),
              "layout": "iEnhancer-ELM" if head is None else "DNABERT + head file"}
    if head is not None:
        source.update({"head": str(head), "head_sha256": file_sha256(head)})
    return model, source


def read_vocab(path: Path, bad: Problem | None = None) -> tuple[int, list[str]]:
    """(k, tokens in id order) of a DNABERT ``vocab.txt``: the five special tokens and all 4**k k-mers, each
    once, in any order (line n is id n)."""
    bad = bad or (lambda problem: BundleError(problem))
    if not path.is_file():
        raise bad(f"no {path.name}: DNABERT's vocabulary is needed to know k and its k-mer order")
    try:
        tokens = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise bad(f"{path.name} cannot be read ({exc})") from None
    while tokens and not tokens[-1]:
        tokens.pop()  # a blank last line is no token
    kmers = [token for token in tokens if token not in SPECIAL_TOKENS]
    for special in SPECIAL_TOKENS:
        if tokens.count(special) != 1:
            raise bad(f"{path.name} lists {special} {tokens.count(special)} times: a DNABERT vocabulary has each of "
                      f"{' '.join(SPECIAL_TOKENS)} once")
    if not kmers:
        raise bad(f"{path.name} lists no k-mers")
    k = len(kmers[0])
    if len({len(token) for token in kmers}) > 1 and set(BASES) <= set(kmers):  # single bases and longer runs
        raise bad(f"{path.name} lists tokens of several lengths, a BPE vocabulary (DNABERT-2's?): import-dnabert "
                  "reads DNABERT's k-mer models; `ielmscan train --k ...,bpe` trains a BPE member")
    for line, token in enumerate(tokens, start=1):
        if token in SPECIAL_TOKENS:
            continue
        if len(token) != k or set(token) - set(BASES):
            raise bad(f"{path.name} line {line}: {token[:20]!r} is not a {k}-mer of {BASES} (not a DNABERT k-mer "
                      "vocabulary)")
    if not 1 <= k <= MAX_K:
        raise bad(f"{path.name} lists {k}-mers: ielmscan takes k between 1 and {MAX_K}")
    if len(set(kmers)) != len(kmers) or len(kmers) != 4**k:
        repeated = sorted(token for token, n in Counter(kmers).items() if n > 1)
        problem = f"lists {repeated[0]} more than once" if repeated else f"lists {len(kmers)} {k}-mers, not all {4**k}"
        raise bad(f"{path.name} {problem}")
    return k, tokens


def read_config(path: Path, vocab_tokens: int, bad: Problem | None = None) -> dict[str, Any]:
    """The member shape a BERT ``config.json`` declares (MemberConfig keywords, without k and the head),
    checked against what ielmscan's encoder computes and against the vocabulary's length."""
    bad = bad or (lambda problem: BundleError(problem))
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise bad(f"{path.name} cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise bad(f"{path.name} is not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise bad(f"{path.name} is not a JSON object")

    def whole(key: str, default: int | None = None) -> int:
        value = config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad(f"{path.name}: {key} must be a positive whole number, not {value!r}")
        return value

    # What ielmscan's encoder computes; anything else would give other scores, so it is refused.
    expected = {"model_type": (("bert", None), "ielmscan imports BERT models"),
                "hidden_act": (("gelu",), 'ielmscan\'s encoder uses exact GELU ("gelu")'),
                "position_embedding_type": (("absolute", None), "ielmscan's encoder uses learned absolute positions")}
    for key, (allowed, reason) in expected.items():
        if config.get(key) not in allowed:
            raise bad(f"{path.name}: {key} is {config.get(key)!r}; {reason}, so it would not compute this model")
    vocab_size = whole("vocab_size")
    if vocab_size != vocab_tokens:
        raise bad(f"{path.name} says vocab_size {vocab_size}, but {VOCAB_FILE} lists {vocab_tokens} tokens")
    shape = {"hidden_size": whole("hidden_size"), "num_layers": whole("num_hidden_layers"),
             "num_heads": whole("num_attention_heads"), "intermediate_size": whole("intermediate_size"),
             "max_positions": whole("max_position_embeddings", 512),
             "layer_norm_eps": float(config.get("layer_norm_eps", 1e-12)),
             "dropout": float(config.get("hidden_dropout_prob", 0.1))}
    if shape["hidden_size"] % shape["num_heads"]:
        raise bad(f"{path.name}: hidden_size {shape['hidden_size']} is not a multiple of num_attention_heads "
                  f"{shape['num_heads']}")
    return shape


def load_tensors(path: Path) -> dict[str, Tensor]:
    """The named tensors of a safetensors file (by its ``.safetensors`` name) or of a pickled state dict, read
    with ``torch.load(weights_only=True)`` (no code runs); BundleError for anything else."""
    try:
        if path.name.endswith(".safetensors"):
            data: Any = load_file(path)
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message is a page of advice to load with weights_only=False, which would run the file's code.
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        what = f"it holds {found.group(1)}, which only running code would rebuild" if found else \
            "torch.load(weights_only=True) refused it"
        raise BundleError(f"{path}: not a state dict that loads without running code ({what}); a whole pickled model "
                          "must be re-saved with torch.save(model.state_dict(), ...)") from None
    except (SafetensorError, RuntimeError, EOFError, ValueError, OSError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        kind = "safetensors file" if path.name.endswith(".safetensors") else "PyTorch state dict"
        raise BundleError(f"{path}: not a readable {kind} ({reason[:200]})") from None
    if not isinstance(data, Mapping) or not all(isinstance(value, Tensor) for value in data.values()):
        raise BundleError(f"{path}: not a state dict (a mapping of names to tensors): re-save it with "
                          "torch.save(model.state_dict(), ...)")
    for name, tensor in data.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise BundleError(f"{path}: tensor {name} holds NaN or infinite values")
    return {str(name): tensor for name, tensor in data.items()}


def read_head(path: Path) -> dict[str, Tensor]:
    """The iEnhancer-ELM head of a plain DNABERT folder: classifier1.* and classifier2.* from a head file."""
    if not path.is_file():
        raise BundleError(f"head file {path}: {'not a file' if path.exists() else 'no such file'}")
    state = load_tensors(path)
    if any(key.removeprefix(BERT_PREFIX).startswith(("embeddings.", "encoder.")) for key in state):
        raise BundleError(f"head file {path} holds encoder weights too: it is a whole iEnhancer-ELM checkpoint; put "
                          f"it beside DNABERT's config.json and vocab.txt as pytorch_model.bin and import that folder")
    extra = sorted(set(state) - set(HEAD_NAMES))
    missing = sorted(set(HEAD_NAMES) - set(state))
    if extra or missing:
        problem = f"unexpected tensor {extra[0]}" if extra else f"{missing[0]} is missing"
        raise BundleError(f"head file {path}: {problem} (a head file holds exactly {', '.join(HEAD_NAMES)})")
    return state


def _weights_file(directory: Path, bad: Problem) -> Path:
    for name in WEIGHT_FILES:
        if (directory / name).is_file():
            return directory / name
    for name, problem in _OTHER_WEIGHTS.items():
        if (directory / name).exists():
            raise bad(problem)
    pickles = sorted(p.name for p in directory.glob("*.pt"))
    hint = f" (if {pickles[0]} is a fine-tuned iEnhancer-ELM state dict, put it there as pytorch_model.bin)" \
        if pickles else ""
    raise bad(f"no weights: expected {' or '.join(WEIGHT_FILES)} beside {CONFIG_FILE} and {VOCAB_FILE}{hint}")


def _check_embeddings(state: dict[str, Tensor], vocab_tokens: int, hidden: int, weights: Path, bad: Problem) -> None:
    """The word embedding has a row per vocab.txt token and config.json's width; token types fit ielmscan's two
    rows."""
    word = state.get(_WORD)
    if word is not None and word.dim() == 2 and word.shape[0] != vocab_tokens:
        raise bad(f"{weights.name}: {_WORD} has {word.shape[0]} rows, but {VOCAB_FILE} lists {vocab_tokens} tokens")
    if word is not None and word.dim() == 2 and word.shape[1] != hidden:
        raise bad(f"{weights.name}: {_WORD} is {word.shape[1]} wide, but {CONFIG_FILE} says hidden_size {hidden}")
    types = state.get(_TOKEN_TYPE)
    if types is not None and types.dim() == 2 and types.shape[0] != 2:
        # ielmscan, like iEnhancer-ELM (which passes no token_type_ids), only ever uses type 0; it keeps two rows
        # so that its own checkpoints map 1:1 onto BERT's.
        state[_TOKEN_TYPE] = torch.cat([types[:1], torch.zeros_like(types[:1])]) if types.shape[0] == 1 else types[:2]


def _check_head(state: dict[str, Tensor], hidden: int, source: Path) -> int:
    """The width of the head's first layer, after checking the head maps hidden → width → one logit."""
    dense, dense_bias = state["classifier1.weight"], state["classifier1.bias"]
    out, out_bias = state["classifier2.weight"], state["classifier2.bias"]
    width = dense.shape[0] if dense.dim() == 2 else -1
    expected = {"classifier1.weight": (width, hidden), "classifier1.bias": (width,),
                "classifier2.weight": (1, width), "classifier2.bias": (1,)}
    for name, tensor in zip(expected, (dense, dense_bias, out, out_bias)):
        if width < 1 or tuple(tensor.shape) != expected[name]:
            raise BundleError(f"{source}: head tensor {name} has shape {tuple(tensor.shape)}; iEnhancer-ELM's "
                              f"head is Linear({hidden}, n) → tanh → Linear(n, 1) → sigmoid, so it needs "
                              f"{expected[name]}")
    return width

