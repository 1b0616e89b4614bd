"""The CPU attention path (blocked, shift-free in bf16) against the fused reference."""
import pytest
import torch
import torch.nn.functional as F

import ielmscan.model.attention as attention_module
import ielmscan.model.network as model_module
from ielmscan.model.attention import blocked_attention
from ielmscan.model.tokens import PAD_ID
from tests.model.test_network import make, random_ids


def bf16_softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)
    return torch.softmax(scores, -1) @ v



@pytest.mark.parametrize("block_bytes", [1, 3 * 30 * 30 * 4, 1 << 30])
def test_blocked_attention_equals_fused_attention(monkeypatch, block_bytes):
    # One head per block, a block that does not divide the 10 heads, and all heads at once.
    monkeypatch.setattr(attention_module, "ATTENTION_BLOCK_BYTES", block_bytes)
    torch.manual_seed(0)
    q, k, v = (torch.randn(5, 2, 30, 16) for _ in range(3))
    assert torch.allclose(blocked_attention(q, k, v), F.scaled_dot_product_attention(q, k, v), atol=1e-6)


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


def test_readable_attention_gives_the_outputs_of_the_fast_paths():
    # The readable path (explicit softmax, weights returned) must agree with the blocked CPU path (no mask)
    # and with the fused kernel (padding mask), and its weights must be distributions over unmasked keys.
    attention = make().encoder.layers[0].attention
    torch.manual_seed(0)
    x = torch.randn(3, 25, 32)
    with torch.inference_mode():
        readable, weights = attention.readable(x)
        assert torch.allclose(readable, attention(x, None), atol=1e-5)
        keep = torch.ones(3, 25, dtype=torch.bool)
        keep[:, 20:] = False
        masked, masked_weights = attention.readable(x, keep[:, None, None, :])
        assert torch.allclose(masked, attention(x, keep[:, None, None, :]), atol=1e-5)
    assert weights.shape == (3, 4, 25, 25)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4, 25), atol=1e-6)
    assert torch.all(masked_weights[..., 20:] == 0)


def test_last_layer_attention_equals_transformers_bert_attentions():
    transformers = pytest.importorskip("transformers")
    from ielmscan.model.convert import bert_config, to_bert_state_dict

    model, ids = make(), random_ids(2, 40)
    config = transformers.BertConfig(**bert_config(model.cfg))  # eager attention: it returns the weights
    bert = transformers.BertModel(config, add_pooling_layer=False).eval()
    bert.load_state_dict(to_bert_state_dict(model), strict=True)
    with torch.inference_mode():
        expected = bert(input_ids=ids, output_attentions=True).attentions[-1]
        got = model.encoder.last_attention(ids)
    assert got.shape == (2, 4, 42, 42)
    assert torch.allclose(got, expected, atol=1e-5)
