"""Weight mapping between ielmscan members and HuggingFace BERT / DNABERT / iEnhancer-ELM checkpoints.

An ``EnhancerLM`` is a BERT encoder parameter for parameter, so conversion is only a renaming of
state-dict keys: ``to_bert_state_dict`` gives the keys of ``transformers.BertModel(config,
add_pooling_layer=False)`` built from ``bert_config(cfg)``; ``from_bert_state_dict`` reads such a dict
back, or a DNABERT / iEnhancer-ELM sequence-classification checkpoint (keys under ``bert.``, the head
as ``classifier1`` / ``classifier2`` as in iEnhancer-ELM's ``C_Bert_2FC_average``). Only torch is
needed; ``transformers`` is never imported here.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ielmscan.errors import BundleError
from ielmscan.model.network import EnhancerLM, MemberConfig
from ielmscan.model.tokens import PAD_ID, vocabulary
from ielmscan.model.validate import check_finite

BERT_PREFIX = "bert."
# iEnhancer-ELM's head names (C_Bert_2FC_average): classifier1 = Linear(hidden, 25), classifier2 = Linear(25, 1).
HEAD_KEYS: dict[str, str] = {
    "head_dense.weight": "classifier1.weight",
    "head_dense.bias": "classifier1.bias",
    "head_out.weight": "classifier2.weight",
    "head_out.bias": "classifier2.bias",
}
# Keys of BERT checkpoints that have no counterpart here: the [CLS] pooler, buffers, other heads.
_IGNORED_PREFIXES = ("pooler.", "cls.", "classifier.")
_IGNORED_SUFFIXES = ("position_ids", "token_type_ids")


def _key_map(cfg: MemberConfig) -> dict[str, str]:
    """ielmscan encoder key → BertModel key, for every encoder parameter."""
    names = {
        "encoder.embeddings.word.weight": "embeddings.word_embeddings.weight",
        "encoder.embeddings.position.weight": "embeddings.position_embeddings.weight",
        "encoder.embeddings.token_type.weight": "embeddings.token_type_embeddings.weight",
        "encoder.embeddings.norm.weight": "embeddings.LayerNorm.weight",
        "encoder.embeddings.norm.bias": "embeddings.LayerNorm.bias",
    }
    per_layer = {
        "attention.query": "attention.self.query",
        "attention.key": "attention.self.key",
        "attention.value": "attention.self.value",
        "attention.output": "attention.output.dense",
        "attention_norm": "attention.output.LayerNorm",
        "intermediate": "intermediate.dense",
        "output": "output.dense",
        "output_norm": "output.LayerNorm",
    }
    for i in range(cfg.num_layers):
        for ours, theirs in per_layer.items():
            for param in ("weight", "bias"):
                names[f"encoder.layers.{i}.{ours}.{param}"] = f"encoder.layer.{i}.{theirs}.{param}"
    return names


def bert_config(cfg: MemberConfig) -> dict[str, Any]:
    """Keyword arguments of ``transformers.BertConfig`` for a BertModel with this member's shape."""
    return {
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "intermediate_size": cfg.intermediate_size,
        "max_position_embeddings": cfg.max_positions,
        "type_vocab_size": 2,
        "layer_norm_eps": cfg.layer_norm_eps,
        "hidden_act": "gelu",  # exact (erf) GELU, as F.gelu in ielmscan.model.network
        "hidden_dropout_prob": cfg.dropout,
        "attention_probs_dropout_prob": cfg.dropout,
        "pad_token_id": PAD_ID,
        "attn_implementation": "eager",
    }


def to_bert_state_dict(model: EnhancerLM, head: bool = False) -> dict[str, Tensor]:
    """The member's encoder weights under ``BertModel`` key names (detached clones).

    With ``head=True`` the iEnhancer-ELM head is added as ``classifier1.*`` / ``classifier2.*`` (these
    keys are not BertModel's: load the rest with ``strict=True`` only without them).
    """
    state = model.state_dict()
    out = {theirs: state[ours].detach().clone() for ours, theirs in _key_map(model.cfg).items()}
    if head:
        out.update({theirs: state[ours].detach().clone() for ours, theirs in HEAD_KEYS.items()})
    return out


def from_bert_state_dict(
    state: dict[str, Tensor], cfg: MemberConfig, vocab: Sequence[str] | None = None
) -> EnhancerLM:
    """Build a member from BertModel / DNABERT / iEnhancer-ELM weights (inverse of ``to_bert_state_dict``).

    Keys may carry a ``bert.`` prefix (checkpoints of ``BertForSequenceClassification``); the pooler and
    other heads are ignored. The head is loaded from ``classifier1.*`` / ``classifier2.*`` when present,
    else the freshly initialised head is kept (fine-tune it). ``vocab`` is the checkpoint's token list in
    id order (DNABERT's ``vocab.txt``); when given, embedding rows are reordered into ielmscan's id layout.
    Raises BundleError naming the first missing, unexpected or misshapen key.
    """
    model = EnhancerLM(cfg)
    plain = {key.removeprefix(BERT_PREFIX): value for key, value in state.items()}
    ours = model.state_dict()
    loaded: dict[str, Tensor] = {}
    key_map = _key_map(cfg)
    for mine, theirs in {**key_map, **HEAD_KEYS}.items():
        if theirs not in plain:
            if mine in HEAD_KEYS:
                continue  # no head in the checkpoint: keep the fresh one
            raise BundleError(f"BERT weights: {theirs} is missing (expected for {cfg.num_layers} layers)")
        tensor = plain[theirs]
        if mine == "encoder.embeddings.word.weight" and vocab is not None:
            tensor = _reorder_vocab(tensor, vocab, cfg.k)
        if tuple(tensor.shape) != tuple(ours[mine].shape):
            raise BundleError(
                f"BERT weights: {theirs} has shape {tuple(tensor.shape)}, the config needs {tuple(ours[mine].shape)}"
            )
        check_finite("BERT weights", {theirs: tensor})  # a NaN weight would score every window NaN
        loaded[mine] = tensor.to(ours[mine].dtype)
    known = set(key_map.values()) | set(HEAD_KEYS.values())
    extra = sorted(
        key for key in plain
        if key not in known and not key.startswith(_IGNORED_PREFIXES) and not key.endswith(_IGNORED_SUFFIXES)
    )
    if extra:
        raise BundleError(f"BERT weights: unexpected key {extra[0]} (more layers than num_layers={cfg.num_layers}?)")
    model.load_state_dict(loaded, strict=False)  # strict=False: a missing head keeps its fresh init
    return model.eval()


def _reorder_vocab(weight: Tensor, vocab: Sequence[str], k: int) -> Tensor:
    """Rows of a checkpoint's word embedding put into ielmscan's token order."""
    index = {token: i for i, token in enumerate(vocab)}
    wanted = vocabulary(k)
    missing = [token for token in wanted if token not in index]
    if missing:
        raise BundleError(f"BERT vocabulary lacks {len(missing)} token(s) of the k={k} vocabulary, e.g. {missing[0]}")
    return weight[torch.tensor([index[token] for token in wanted])]
