"""DNABERT / iEnhancer-ELM checkpoint folders, written here with random weights, imported and compared with
``transformers`` running iEnhancer-ELM's forward pass (``C_Bert_2FC_average``: mean of the k-mer tokens between
[CLS] and [SEP] → classifier1 → tanh → classifier2 → sigmoid)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from ielmscan.errors import BundleError
from ielmscan.inference.scorer import score_sequences
from ielmscan.model.bundle import load_bundle, save_bundle
from ielmscan.model.dnabert import import_dnabert
from ielmscan.model.tokens import SPECIAL_TOKENS, encode_sequences, token_rows, vocabulary

from tests.bundles import pickle_trap

transformers = pytest.importorskip("transformers")

LENGTH = 40  # bases per test sequence: the bundles' window
COMPLEMENT = str.maketrans("ACGT", "TGCA")


class IEnhancerELM(torch.nn.Module):
    """iEnhancer-ELM's fine-tuned classifier as its published code builds it: ``bert``, ``classifier1``,
    ``classifier2``; ``forward`` is its probability."""

    def __init__(self, config: transformers.BertConfig, head_hidden: int = 25) -> None:
        super().__init__()
        self.bert = transformers.BertModel(config)  # with the pooler, as published (unused by the head)
        self.classifier1 = torch.nn.Linear(config.hidden_size, head_hidden)
        self.classifier2 = torch.nn.Linear(head_hidden, 1)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        states = self.bert(input_ids=input_ids).last_hidden_state
        pooled = states[:, 1:-1].mean(1)  # the k-mer tokens between [CLS] and [SEP]
        return torch.sigmoid(self.classifier2(torch.tanh(self.classifier1(pooled)))).squeeze(-1)


def shuffled_vocab(k: int, seed: int) -> list[str]:
    """The five special tokens, then every k-mer in a shuffled order (DNABERT's own order is not ielmscan's)."""
    kmers = vocabulary(k)[len(SPECIAL_TOKENS):]
    random.Random(seed).shuffle(kmers)
    return list(SPECIAL_TOKENS) + kmers


def write_checkpoint(folder: Path, k: int, *, hidden: int = 32, layers: int = 2, heads: int = 4,
                     weights: str = "model.safetensors", head_file: str | None = None, masked_lm: bool = False,
                     seed: int = 0) -> IEnhancerELM:
    """A checkpoint folder with random weights; returns the network it holds.

    Without ``head_file`` it is iEnhancer-ELM's layout (encoder under ``bert.``, head inside); with it, a plain
    ``BertModel`` folder (``BertForMaskedLM``'s, as DNABERT publishes, with ``masked_lm``) and the head in
    ``folder.parent / head_file``.
    """
    torch.manual_seed(seed)
    vocab = shuffled_vocab(k, seed)
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=2 * hidden, max_position_embeddings=64, initializer_range=0.3)
    model = IEnhancerELM(config).eval()
    with torch.no_grad():  # non-trivial LayerNorms, biases and head, so that a swapped key would show
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(0.2 * torch.randn_like(p))
        # A head that spreads the pooled embeddings' small differences over the sigmoid's steep part.
        model.classifier1.weight.normal_(0.0, 3.0)
        model.classifier2.weight.normal_(0.0, 0.5)
        model.classifier2.bias.zero_()
    folder.mkdir(parents=True)
    config.to_json_file(folder / "config.json")
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    state = {name: t.detach().clone().contiguous() for name, t in model.state_dict().items()}
    if head_file is not None:
        head = {name: state.pop(name) for name in list(state) if name.startswith("classifier")}
        if masked_lm:  # encoder under bert., and an MLM head that the import leaves out
            state["cls.predictions.bias"] = torch.zeros(len(vocab))
        else:  # BertModel.save_pretrained's keys
            state = {name.removeprefix("bert."): t for name, t in state.items()}
        save_tensors(head, folder.parent / head_file)
    save_tensors(state, folder / weights)
    return model


def save_tensors(state: dict[str, torch.Tensor], path: Path) -> None:
    if path.name.endswith(".safetensors"):
        save_file(state, path)
    else:
        torch.save(state, path)


def random_seqs(n: int = 6, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("ACGT") for _ in range(LENGTH)) for _ in range(n)]


def reference(model: IEnhancerELM, folder: Path, seqs: list[str], k: int) -> np.ndarray:
    """iEnhancer-ELM's probability of each sequence, tokenised by ``transformers`` from the folder's vocab.txt."""
    tokenizer = transformers.BertTokenizer.from_pretrained(folder, do_lower_case=False)
    text = [" ".join(s[i:i + k] for i in range(len(s) - k + 1)) for s in seqs]
    ids = torch.tensor(tokenizer(text)["input_ids"])
    assert (ids != tokenizer.unk_token_id).all()
    with torch.inference_mode():
        return model(ids).numpy()


def both_strands(model: IEnhancerELM, folder: Path, seqs: list[str], k: int) -> np.ndarray:
    """The reference as ielmscan scores a sequence: the mean of its two strands' probabilities."""
    rc = [s.translate(COMPLEMENT)[::-1] for s in seqs]
    return (reference(model, folder, seqs, k) + reference(model, folder, rc, k)) / 2


@pytest.mark.parametrize("k, weights, head_file, masked_lm", [
    (3, "model.safetensors", None, False),
    (4, "pytorch_model.bin", None, False),
    (3, "pytorch_model.bin", "head.pt", False),
    (4, "model.safetensors", "head.safetensors", True),
], ids=["ielm-k3-safetensors", "ielm-k4-bin", "bertmodel-k3-bin-head-pt", "maskedlm-k4-safetensors-head-safetensors"])
def test_imported_member_computes_ienhancer_elm_probability(tmp_path, k, weights, head_file, masked_lm):
    folder = tmp_path / f"dnabert{k}"
    model = write_checkpoint(folder, k, weights=weights, head_file=head_file, masked_lm=masked_lm, seed=k)
    seqs = random_seqs()
    expected = reference(model, folder, seqs, k)
    assert expected.std() > 0.02  # the scores vary, so a wrong mapping could not agree by chance

    bundle = import_dnabert([folder], [tmp_path / head_file] if head_file else [], window=LENGTH)
    member = bundle.members[0].model
    with torch.inference_mode():  # one strand, straight through the member
        ours = torch.sigmoid(member(torch.from_numpy(token_rows(encode_sequences(seqs), k)))).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0)

    # Saved (safetensors + JSON), loaded back and scored by the scanner's path (both strands averaged).
    save_bundle(bundle, tmp_path / "bundle")
    assert sorted(p.name for p in (tmp_path / "bundle").iterdir()) == ["ensemble.json", f"k{k}.safetensors"]
    ensemble, members = score_sequences(load_bundle(tmp_path / "bundle"), seqs)
    np.testing.assert_allclose(members[f"k{k}"], both_strands(model, folder, seqs, k), atol=1e-4, rtol=0)
    np.testing.assert_allclose(ensemble, members[f"k{k}"], atol=1e-6)


def test_vocab_order_is_read_from_the_file_not_assumed(tmp_path):
    folder = tmp_path / "dnabert3"
    model = write_checkpoint(folder, 3)
    seqs = random_seqs()
    expected = reference(model, folder, seqs, 3)
    (folder / "vocab.txt").write_text("\n".join(vocabulary(3)) + "\n")  # ielmscan's order: wrong for these weights
    member = import_dnabert([folder], window=LENGTH).members[0].model
    with torch.inference_mode():
        wrong = torch.sigmoid(member(torch.from_numpy(token_rows(encode_sequences(seqs), 3)))).numpy()
    assert np.abs(wrong - expected).max() > 1e-2


def test_several_folders_make_one_member_each_with_provenance(tmp_path):
    models = {k: write_checkpoint(tmp_path / f"d{k}", k, seed=k) for k in (3, 4)}
    bundle = import_dnabert([tmp_path / "d3", tmp_path / "d4"], window=LENGTH)
    assert [m.name for m in bundle.members] == ["k3", "k4"] and bundle.threshold == 0.5
    assert bundle.normalised_weights() == [0.5, 0.5]
    sources = bundle.provenance["imported_from"]
    assert [s["k"] for s in sources] == [3, 4] and all(len(s["weights_sha256"]) == 64 for s in sources)
    seqs = random_seqs()
    ensemble, _ = score_sequences(bundle, seqs)
    expected = np.mean([both_strands(models[k], tmp_path / f"d{k}", seqs, k) for k in (3, 4)], axis=0)
    np.testing.assert_allclose(ensemble, expected, atol=1e-4, rtol=0)


def test_token_type_rows_other_than_two_are_accepted(tmp_path):
    folder = tmp_path / "d"
    model = write_checkpoint(folder, 3)
    state = load_file(folder / "model.safetensors")
    state["bert.embeddings.token_type_embeddings.weight"] = state["bert.embeddings.token_type_embeddings.weight"][:1]
    save_file(state, folder / "model.safetensors")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "type_vocab_size": 1}))
    seqs = random_seqs()
    member = import_dnabert([folder], window=LENGTH).members[0].model
    with torch.inference_mode():
        ours = torch.sigmoid(member(torch.from_numpy(token_rows(encode_sequences(seqs), 3)))).numpy()
    np.testing.assert_allclose(ours, reference(model, folder, seqs, 3), atol=1e-4, rtol=0)


def spoil_json(name: str, **changes):
    def spoil(folder: Path) -> None:
        data = json.loads((folder / name).read_text())
        (folder / name).write_text(json.dumps({**data, **changes}))
    return spoil


def spoil_vocab(edit):
    def spoil(folder: Path) -> None:
        lines = (folder / "vocab.txt").read_text().splitlines()
        (folder / "vocab.txt").write_text("\n".join(edit(lines)) + "\n")
    return spoil


def spoil_weights(edit):
    def spoil(folder: Path) -> None:
        state = load_file(folder / "model.safetensors")
        edit(state)
        save_file(state, folder / "model.safetensors")
    return spoil


def remove(name: str):
    return lambda folder: (folder / name).unlink()


def _nan(state: dict[str, torch.Tensor]) -> None:
    state["bert.encoder.layer.0.output.dense.weight"][0, 0] = float("nan")


def _drop_head(state: dict[str, torch.Tensor]) -> None:
    for name in [n for n in state if n.startswith("classifier")]:
        del state[name]


def _sequence_classification_head(state: dict[str, torch.Tensor]) -> None:
    _drop_head(state)
    state["classifier.weight"], state["classifier.bias"] = torch.zeros(2, 32), torch.zeros(2)


@pytest.mark.parametrize("spoil, words", [
    (remove("config.json"), ("config.json", "not a Hugging Face model folder")),
    (remove("vocab.txt"), ("no vocab.txt",)),
    (remove("model.safetensors"), ("no weights", "model.safetensors or pytorch_model.bin")),
    (lambda d: ((d / "model.safetensors").rename(d / "C_Bert_2FC_average_3-mer.pt")),
     ("no weights", "C_Bert_2FC_average_3-mer.pt", "pytorch_model.bin")),
    (lambda d: ((d / "model.safetensors").unlink(), (d / "model.safetensors.index.json").write_text("{}")),
     ("sharded",)),
    (lambda d: ((d / "model.safetensors").unlink(), (d / "tf_model.h5").write_bytes(b"x")), ("TensorFlow",)),
    (spoil_vocab(lambda lines: lines[:-1]), ("vocab.txt", "63 3-mers, not all 64")),
    (spoil_vocab(lambda lines: lines[:-1] + [lines[5]]), ("vocab.txt", "more than once")),
    (spoil_vocab(lambda lines: lines[:-1] + ["ACGT"]), ("vocab.txt", "line 69", "'ACGT'", "not a 3-mer")),
    (spoil_vocab(lambda lines: [t for t in lines if t != "[CLS]"] + ["AAA"]), ("[CLS]", "0 times")),
    (lambda d: (d / "config.json").write_text("{not json"), ("config.json is not valid JSON",)),
    (spoil_json("config.json", vocab_size=70), ("vocab_size 70", "vocab.txt lists 69 tokens")),
    (spoil_json("config.json", hidden_act="gelu_new"), ("hidden_act", "gelu_new")),
    (spoil_json("config.json", model_type="roberta"), ("model_type", "roberta")),
    (spoil_json("config.json", hidden_size=64), ("32 wide", "hidden_size 64")),
    (spoil_json("config.json", intermediate_size=48), ("model.safetensors", "intermediate.dense", "shape")),
    # Beyond the limits every bundle is loaded under: refused before anything is built.
    (spoil_json("config.json", max_position_embeddings=100_000_000), ("config.json", "max_positions")),
    (spoil_weights(lambda s: s.update({"bert.embeddings.word_embeddings.weight": torch.zeros(261, 32)})),
     ("261 rows", "69 tokens")),
    (spoil_weights(_nan), ("NaN", "encoder.layer.0.output.dense.weight")),
    (spoil_weights(_drop_head), ("no iEnhancer-ELM head", "--head")),
    (spoil_weights(_sequence_classification_head), ("no iEnhancer-ELM head", "BertForSequenceClassification")),
    (spoil_weights(lambda s: s.pop("classifier2.bias")), ("incomplete head", "classifier2.bias")),
    (spoil_weights(lambda s: s.update({"classifier2.weight": torch.zeros(2, 25)})), ("classifier2.weight", "(1, 25)")),
    (spoil_weights(lambda s: s.update({"bert.encoder.layer.5.output.dense.bias": torch.zeros(32)})),
     ("unexpected key encoder.layer.5",)),
], ids=["no-config", "no-vocab", "no-weights", "only-a-pt-file", "sharded", "tensorflow", "vocab-short",
        "vocab-repeat", "vocab-mixed-k", "vocab-no-cls", "config-not-json", "config-vocab-size", "config-gelu-new", "config-roberta",
        "config-hidden", "config-intermediate", "config-beyond-limits", "weights-vocab-rows", "weights-nan", "no-head",
        "sequence-classification-head",
        "incomplete-head", "head-two-outputs", "extra-layer"])
def test_bad_checkpoints_are_refused_with_one_clear_error(tmp_path, spoil, words):
    folder = tmp_path / "d3"
    write_checkpoint(folder, 3)
    spoil(folder)
    with pytest.raises(BundleError) as info:
        import_dnabert([folder], window=LENGTH)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and str(folder) in message, message
    for word in words:
        assert word in message, (word, message)


def test_pickles_are_never_run(tmp_path):
    folder = tmp_path / "d3"
    write_checkpoint(folder, 3, weights="pytorch_model.bin")
    sentinel = tmp_path / "ran"
    (folder / "pytorch_model.bin").write_bytes(pickle_trap(sentinel))
    with pytest.raises(BundleError, match="not a state dict that loads without running code"):
        import_dnabert([folder], window=LENGTH)
    assert not sentinel.exists()
    torch.save(torch.nn.Linear(2, 2), folder / "pytorch_model.bin")  # a whole pickled module, not a state dict
    with pytest.raises(BundleError, match="torch.nn.modules.linear.Linear.*state_dict"):
        import_dnabert([folder], window=LENGTH)


def test_head_file_problems(tmp_path):
    write_checkpoint(tmp_path / "plain", 3, head_file="head.pt")
    write_checkpoint(tmp_path / "ielm", 3)
    with pytest.raises(BundleError, match="no such file"):
        import_dnabert([tmp_path / "plain"], [tmp_path / "missing.pt"], window=LENGTH)
    with pytest.raises(BundleError, match="head of its own"):
        import_dnabert([tmp_path / "ielm"], [tmp_path / "head.pt"], window=LENGTH)
    whole = {f"bert.{k}": v for k, v in load_file(tmp_path / "plain" / "model.safetensors").items()}
    torch.save({**whole, **torch.load(tmp_path / "head.pt", weights_only=True)}, tmp_path / "whole.pt")
    with pytest.raises(BundleError, match="whole iEnhancer-ELM checkpoint.*pytorch_model.bin"):
        import_dnabert([tmp_path / "plain"], [tmp_path / "whole.pt"], window=LENGTH)
    head = torch.load(tmp_path / "head.pt", weights_only=True)
    torch.save({**head, "dense.weight": torch.zeros(1)}, tmp_path / "extra.pt")
    with pytest.raises(BundleError, match="unexpected tensor dense.weight"):
        import_dnabert([tmp_path / "plain"], [tmp_path / "extra.pt"], window=LENGTH)
    with pytest.raises(BundleError, match="1 head file.*2 checkpoint"):
        import_dnabert([tmp_path / "plain", tmp_path / "ielm"], [tmp_path / "head.pt"], window=LENGTH)


def test_bundle_level_problems(tmp_path):
    write_checkpoint(tmp_path / "a", 3, seed=1)
    write_checkpoint(tmp_path / "b", 3, seed=2)
    with pytest.raises(BundleError, match="both k=3"):
        import_dnabert([tmp_path / "a", tmp_path / "b"], window=LENGTH)
    with pytest.raises(BundleError, match="window 200 does not fit.*--window"):
        import_dnabert([tmp_path / "a"], window=200)  # 64 positions hold at most 64 tokens
    with pytest.raises(BundleError, match="no such folder"):
        import_dnabert([tmp_path / "c"], window=LENGTH)
