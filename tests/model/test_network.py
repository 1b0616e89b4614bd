import pytest
import torch

from ielmscan.model.network import EnhancerLM, MemberConfig, count_parameters, forward_flops, parameter_shapes
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


@pytest.mark.parametrize("cfg", [
    MemberConfig(k=1, hidden_size=4, num_layers=1, num_heads=1, intermediate_size=4, head_hidden=3),
    MemberConfig(k=3, hidden_size=32, num_layers=3, num_heads=4, intermediate_size=48, max_positions=40),
    MemberConfig(k=6, hidden_size=64, num_layers=1, num_heads=4, intermediate_size=256),
])
def test_parameter_shapes_are_the_networks_without_building_it(cfg):
    # A bundle's tensors are checked against these before the network is allocated.
    assert parameter_shapes(cfg) == {name: tuple(t.shape) for name, t in EnhancerLM(cfg).state_dict().items()}


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


def test_token_mean_leaves_out_special_tokens_and_padding_and_pools_an_empty_row_to_zeros():
    from ielmscan.model.network import token_mean

    ids = torch.tensor([[CLS_ID, 7, 9, SEP_ID, PAD_ID], [CLS_ID, SEP_ID, PAD_ID, PAD_ID, PAD_ID]])
    states = torch.arange(2 * 5 * 3, dtype=torch.float32).view(2, 5, 3)
    pooled = token_mean(ids, states)
    assert torch.equal(pooled[0], states[0, 1:3].mean(0)) and torch.equal(pooled[1], torch.zeros(3))


def test_a_bpe_config_has_its_own_vocabulary_and_at_most_a_token_per_base():
    cfg = MemberConfig(tokenizer="bpe", vocab_size=300, hidden_size=16, num_heads=2, max_positions=202)
    assert cfg.vocab_size == 300 and cfg.label == "bpe300" and MemberConfig(k=6).label == "k6"
    assert cfg.tokens_per_window(200) == 202 and cfg.longest_window() == 200
    assert MemberConfig(k=6, max_positions=256).longest_window() == 259  # 254 k-mers of 6 bases
    data = cfg.to_dict()
    assert "k" not in data and data["tokenizer"] == "bpe" and MemberConfig.from_dict(data) == cfg
    kmer = MemberConfig(k=4).to_dict()
    assert "tokenizer" not in kmer and "vocab_size" not in kmer  # a k-mer entry is what it was
    assert MemberConfig(k=4, vocab_size=7).vocab_size == 5 + 4**4  # follows from k, whatever is given
    assert EnhancerLM(cfg).encoder.embeddings.word.num_embeddings == 300
