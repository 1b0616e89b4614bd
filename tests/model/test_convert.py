from __future__ import annotations

import pytest
import torch

from ielmscan.model.convert import bert_config, from_bert_state_dict, to_bert_state_dict
from ielmscan.errors import BundleError
from ielmscan.model.network import EnhancerLM, MemberConfig
from ielmscan.model.tokens import CLS_ID, SEP_ID, vocabulary

CFG = MemberConfig(k=3, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64, max_positions=64)


def make(seed: int = 0) -> EnhancerLM:
    torch.manual_seed(seed)
    model = EnhancerLM(CFG).eval()
    with torch.no_grad():  # non-trivial LayerNorms and biases, so a swapped key would show
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model


def random_ids(batch: int = 4, kmers: int = 40, k: int = 3, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    body = torch.randint(5, 5 + 4**k, (batch, kmers), generator=g)
    return torch.cat([torch.full((batch, 1), CLS_ID), body, torch.full((batch, 1), SEP_ID)], dim=1)


def test_round_trip_gives_identical_outputs():
    model, ids = make(), random_ids()
    back = from_bert_state_dict(to_bert_state_dict(model, head=True), CFG)
    assert torch.equal(model(ids), back(ids))
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, back.state_dict()[name]), name


def test_bert_prefix_and_pooler_are_accepted_and_missing_head_stays_fresh():
    model, ids = make(), random_ids()
    state = {f"bert.{key}": value for key, value in to_bert_state_dict(model).items()}
    state["bert.pooler.dense.weight"] = torch.zeros(CFG.hidden_size, CFG.hidden_size)
    state["bert.embeddings.position_ids"] = torch.arange(CFG.max_positions)[None]
    torch.manual_seed(123)
    fresh = EnhancerLM(CFG).eval()
    torch.manual_seed(123)
    back = from_bert_state_dict(state, CFG)
    assert torch.equal(back.encoder(ids), model.encoder(ids))
    assert torch.equal(back.head_dense.weight, fresh.head_dense.weight)


def test_vocab_order_of_a_checkpoint_is_mapped_to_ielmscan_ids():
    model, ids = make(), random_ids()
    tokens = vocabulary(3)
    order = [0, 1, 2, 3, 4] + list(range(len(tokens) - 1, 4, -1))  # k-mers listed in reverse
    state = to_bert_state_dict(model)
    state["embeddings.word_embeddings.weight"] = state["embeddings.word_embeddings.weight"][order]
    back = from_bert_state_dict(state, CFG, vocab=[tokens[i] for i in order])
    assert torch.equal(back.encoder(ids), model.encoder(ids))


def test_mismatched_weights_name_the_key():
    state = to_bert_state_dict(make())
    with pytest.raises(BundleError, match="encoder.layer.1"):
        from_bert_state_dict({k: v for k, v in state.items() if "layer.1." not in k}, CFG)
    with pytest.raises(BundleError, match="word_embeddings"):
        from_bert_state_dict(state, MemberConfig(k=4, hidden_size=32, num_layers=2, num_heads=4,
                                                 intermediate_size=64, max_positions=64))
    with pytest.raises(BundleError, match="unexpected key encoder.layer.1"):
        from_bert_state_dict(state, MemberConfig(k=3, hidden_size=32, num_layers=1, num_heads=4,
                                                 intermediate_size=64, max_positions=64))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_bert_weights_are_refused_naming_the_key(value):
    state = to_bert_state_dict(make(), head=True)
    state["classifier2.bias"][0] = value
    with pytest.raises(BundleError, match="BERT weights: tensor classifier2.bias holds NaN or infinite values"):
        from_bert_state_dict(state, CFG)


def test_transformers_bert_model_matches_encoder_and_head():
    transformers = pytest.importorskip("transformers")
    model, ids = make(), random_ids(batch=3, kmers=CFG.max_positions - 2)
    bert = transformers.BertModel(transformers.BertConfig(**bert_config(CFG)), add_pooling_layer=False).eval()
    bert.load_state_dict(to_bert_state_dict(model), strict=True)
    with torch.inference_mode():
        states = bert(input_ids=ids).last_hidden_state
        assert torch.allclose(states, model.encoder(ids), atol=1e-4, rtol=0)
        # iEnhancer-ELM's head on the BertModel output: mean over the k-mer tokens (positions 1..T-2).
        pooled = states[:, 1:-1].mean(1)
        logits = model.head_out(torch.tanh(model.head_dense(pooled))).squeeze(-1)
        assert torch.allclose(logits, model(ids), atol=1e-4, rtol=0)
