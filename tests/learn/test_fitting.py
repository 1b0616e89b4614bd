"""The training loop: fit() on labelled sequences."""
import numpy as np
import pytest

from ielmscan.errors import InputError

from ielmscan.inference.scorer import score_sequences
from ielmscan.learn.dataset import LabelledSequences, load_labelled
from ielmscan.learn import fitting
from ielmscan.learn.fitting import TrainConfig, cross_validate, fit, strand_rows, train_bpe
from ielmscan.model.bundle import new_bundle
from ielmscan.kernels.encode import reverse_complement
from ielmscan.model.tokenizers import BpeTokenizer
from ielmscan.model.tokens import PAD_ID, encode_sequences
from tests.bundles import labelled_fastas


def test_training_lowers_the_loss_and_sets_a_threshold(tmp_path):
    pos, neg = labelled_fastas(tmp_path)
    data = load_labelled(pos, neg)
    bundle = new_bundle([3], hidden_size=16, num_layers=1, num_heads=2)
    report = fit(bundle, data, TrainConfig(epochs=4, batch_size=16, lr=2e-3, val_fraction=0.2, patience=10))
    losses = [row["loss"] for row in report["members"]["k3"]["history"]]
    assert losses[-1] < losses[0]
    assert report["ensemble_val"]["auroc"] > 0.8
    assert 0.0 < bundle.threshold < 1.0
    assert report["n_train"] + report["n_val"] == 120


def test_training_is_deterministic_for_a_seed(tmp_path):
    pos, neg = labelled_fastas(tmp_path, n=30)
    data = load_labelled(pos, neg)
    probs = []
    for _ in range(2):
        bundle = new_bundle([3], hidden_size=16, num_layers=1, num_heads=2, seed=4)
        fit(bundle, data, TrainConfig(epochs=2, batch_size=16, val_fraction=0.2, seed=4))
        probs.append(score_sequences(bundle, data.seqs[:10])[0])
    np.testing.assert_array_equal(probs[0], probs[1])


def test_cross_validation_refuses_a_fold_without_a_class_before_training_any(tmp_path):
    pos, neg = labelled_fastas(tmp_path, n=20)
    data = load_labelled(pos, neg)
    keep = np.r_[np.arange(3), np.arange(20, 40)]  # 3 positives cannot fill 5 folds
    data = LabelledSequences([data.names[i] for i in keep], [data.seqs[i] for i in keep], data.labels[keep])
    made = []
    with pytest.raises(InputError, match="fold . of 5 holds no positives.*fewer folds"):
        cross_validate(lambda fold, seqs: made.append(fold), data, TrainConfig(epochs=1), 5)
    assert made == []


def test_a_bpe_member_learns_from_padded_rows_of_both_strands(tmp_path):
    pos, neg = labelled_fastas(tmp_path, n=40)
    data = load_labelled(pos, neg)
    tokenizer = train_bpe(data.seqs, 64)
    bundle = new_bundle([], hidden_size=16, num_layers=1, num_heads=2, bpe=tokenizer)
    fwd, rev = strand_rows(encode_sequences(data.seqs[:5]), tokenizer)
    assert fwd.shape == rev.shape and (fwd == PAD_ID).any()  # one width for both strands, [PAD] after short rows
    report = fit(bundle, data, TrainConfig(epochs=4, batch_size=16, lr=2e-3, val_fraction=0.2, patience=10))
    losses = [row["loss"] for row in report["members"]["bpe"]["history"]]
    assert losses[-1] < losses[0] and report["ensemble_val"]["auroc"] > 0.8


def test_the_bpe_tokenizer_learns_from_both_strands_deterministically(tmp_path):
    pos, neg = labelled_fastas(tmp_path, n=10)
    seqs = load_labelled(pos, neg).seqs
    both = [s for seq in seqs for s in (seq, reverse_complement(seq.encode()).decode())]
    assert train_bpe(seqs, 48).to_json() == train_bpe(seqs, 48).to_json() == BpeTokenizer.train(both, 48).to_json()


def test_each_fold_makes_its_bundle_from_its_own_training_sequences(tmp_path, monkeypatch):
    pos, neg = labelled_fastas(tmp_path, n=15)
    data = load_labelled(pos, neg)
    given: list[tuple[int, list[str]]] = []

    def make(fold, seqs):
        given.append((fold, seqs))
        return new_bundle([2], hidden_size=8, num_layers=1, num_heads=2)

    monkeypatch.setattr(fitting, "fit", lambda bundle, data, cfg, log, train, val: None)  # what a fold learns from
    report = cross_validate(make, data, TrainConfig(epochs=1, batch_size=16), 3)
    assert [fold for fold, _ in given] == [0, 1, 2]
    fold = np.array(report["fold_of_sample"])
    for f, seqs in given:
        held_out = {data.seqs[i] for i in np.flatnonzero(fold == f)}
        assert seqs and not held_out & set(seqs)  # the test fold's sequences are never learnt from
