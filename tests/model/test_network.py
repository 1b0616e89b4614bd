import pytest
import torch
import torch.nn.functional as F

import ielmscan.model.attention as attention_module
import ielmscan.model.network as model_module
from ielmscan.model.network import EnhancerLM, MemberConfig, blocked_attention, count_parameters, forward_flops
from ielmscan.model.tokens import CLS_ID, PAD_ID, SEP_ID


def make(k: int = 3, layers: int = 2) -> EnhancerLM:
    torch.manual_seed(0)
    return EnhancerLM(MemberConfig(k=k, hidden_size=32, num_layers=layers, num_heads=4, intermediate_size=64)).eval()


def random_ids(batch: int, kmers: int, k: int = 3) -> torch.Tensor:
    body = torch.randint(5, 5 + 4**k, (batch, kmers))
    cls = torch.full((batch, 1), CLS_ID)
    return torch.cat([cls, body, torch.full((batch, 1), SEP_ID)], dim=1)


def test_forward_gives_one_finite_logit_per_sequence():
    model = make()
    logits = model(random_ids(5, 198))
    assert logits.shape == (5,)
    assert torch.isfinite(logits).all()


def test_pooling_is_the_mean_over_kmer_tokens_only():
    model = make()
    ids = random_ids(3, 20)
    states = model.encoder(ids)
    assert torch.allclose(model.pooled(ids), states[:, 1:-1].mean(1), atol=1e-6)


def test_trailing_padding_does_not_change_the_score():
    model = make()
    ids = random_ids(1, 30)
    padded = torch.cat([ids, torch.full((1, 7), PAD_ID)], dim=1)
    assert torch.allclose(model(ids), model(padded), atol=1e-5)


def test_rows_are_scored_independently_of_the_batch():
    model = make()
    ids = random_ids(6, 50)
    together = model(ids)
    alone = torch.cat([model(ids[i : i + 1]) for i in range(6)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_dropout_only_in_training_mode():
    model = make()
    ids = random_ids(4, 40)
    assert torch.equal(model(ids), model(ids))
    model.train()
    torch.manual_seed(1)
    assert not torch.equal(model(ids), model(ids))


def test_hidden_size_must_divide_into_heads():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        EnhancerLM(MemberConfig(k=3, hidden_size=30, num_heads=4))


def test_config_round_trips_through_dict_and_ignores_bundle_keys():
    cfg = MemberConfig(k=5, hidden_size=64, num_layers=3)
    assert MemberConfig.from_dict({**cfg.to_dict(), "name": "k5", "weight": 0.3}) == cfg
    assert cfg.vocab_size == 5 + 4**5
    assert cfg.tokens_per_window(200) == 198


def test_parameter_and_flop_counts_grow_with_depth():
    shallow, deep = make(layers=1), make(layers=3)
    assert count_parameters(deep) > count_parameters(shallow)
    assert forward_flops(deep.cfg, 200) == pytest.approx(3 * forward_flops(shallow.cfg, 200), rel=0.01)


def test_fast_and_masked_pooling_agree():
    model = make()
    ids = random_ids(3, 20)
    states = model.encoder(ids)
    odd = ids.clone()
    odd[0, 5] = SEP_ID  # a special token inside the row forces the masked path
    keep = torch.ones_like(odd, dtype=torch.bool)
    keep[:, 0] = keep[:, -1] = False
    keep[0, 5] = False
    expected = torch.stack([model.encoder(odd)[i][keep[i]].mean(0) for i in range(3)])
    assert torch.allclose(model.pooled(odd), expected, atol=1e-6)
    assert torch.allclose(model.pooled(ids), states[:, 1:-1].mean(1), atol=1e-6)


@pytest.mark.parametrize("block_bytes", [1, 3 * 30 * 30 * 4, 1 << 30])
def test_blocked_attention_equals_fused_attention(monkeypatch, block_bytes):
    # One head per block, a block that does not divide the 10 heads, and all heads at once.
    monkeypatch.setattr(attention_module, "ATTENTION_BLOCK_BYTES", block_bytes)
    torch.manual_seed(0)
    q, k, v = (torch.randn(5, 2, 30, 16) for _ in range(3))
    assert torch.allclose(blocked_attention(q, k, v), F.scaled_dot_product_attention(q, k, v), atol=1e-6)


def bf16_softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)
    return torch.softmax(scores, -1) @ v


def test_bf16_blocked_attention_matches_fp32_attention():
    # bf16 blocks skip the softmax's max shift; on the same (bf16) inputs the result must stay within
    # bf16 rounding of the exact attention.
    torch.manual_seed(0)
    q, k, v = (torch.randn(5, 2, 30, 16).bfloat16() for _ in range(3))
    got = blocked_attention(q, k, v)
    assert got.dtype == torch.bfloat16
    exact = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
    assert torch.allclose(got.float(), exact, atol=2e-2)
    assert (got.float() - exact).abs().mean() < 1e-3


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_bf16_attention_outside_exp_range_falls_back_to_softmax(sign):
    # Scores of ±400: exp overflows (sign +) or underflows to zero in every column (sign -); either
    # would give inf / NaN without the max shift, so those blocks must take the softmax.
    torch.manual_seed(0)
    direction = torch.randn(16)
    direction = direction / direction.norm()
    q = (40.0 * direction).expand(1, 2, 30, 16).bfloat16()
    k = (sign * 40.0 * direction).expand(1, 2, 30, 16).bfloat16()
    v = torch.randn(1, 2, 30, 16).bfloat16()
    got = blocked_attention(q, k, v)
    assert torch.isfinite(got).all()
    assert torch.equal(got, bf16_softmax_attention(q, k, v))
    assert torch.allclose(got.float(), v.float().mean(2, keepdim=True).expand_as(got), atol=1e-2)  # equal scores


def test_cpu_inference_and_fused_attention_give_the_same_scores(monkeypatch):
    model = make()
    ids = random_ids(5, 60)
    blocked = model(ids)
    monkeypatch.setattr(model_module, "blocked_attention", lambda *_: pytest.fail("blocked path taken"))
    padded = torch.cat([ids, torch.full((5, 3), PAD_ID)], dim=1)  # a mask sends attention to the fused kernel
    assert torch.allclose(model(padded), blocked, atol=1e-5)


def test_bf16_cpu_inference_compiles_into_one_graph():
    # `--compile` compiles the encoders; a data-dependent branch would split them at every attention block.
    model = make()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        explanation = torch._dynamo.explain(model.encoder)(random_ids(2, 30))
    assert explanation.graph_break_count == 0
