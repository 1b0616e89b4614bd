import numpy as np
import pytest

from ielmscan.learn.dataset import (
    canonical, check_lengths, duplicate_groups, load_labelled, split_validation, stratified_group_folds,
)
from ielmscan.errors import InputError
from ielmscan.kernels.encode import reverse_complement


def random_seqs(n: int, length: int = 30, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def test_load_labelled_uppercases_and_labels(tmp_path):
    (tmp_path / "p.fa").write_text(">p1\nacgt\n")
    (tmp_path / "n.fa").write_text(">n1\nTTTT\n>n2\nGGGG\n")
    data = load_labelled(tmp_path / "p.fa", tmp_path / "n.fa")
    assert data.seqs == ["ACGT", "TTTT", "GGGG"]
    assert data.labels.tolist() == [1, 0, 0]
    more = data.extended(["b1"], ["acca"], 0)
    assert more.seqs[-1] == "ACCA" and more.labels.tolist() == [1, 0, 0, 0] and more.names[-1] == "b1"


def test_reverse_complement_duplicates_share_a_group():
    seqs = ["AACG", "CGTT", "AACG", "GGGA", "TCCC", "ACGT"]
    assert canonical("CGTT") == canonical("AACG")
    groups = duplicate_groups(seqs)
    assert groups[0] == groups[1] == groups[2]
    assert groups[3] == groups[4]
    assert len(set(groups.tolist())) == 3


@pytest.mark.parametrize("n_folds", [2, 5])
def test_folds_never_split_duplicate_or_rc_pairs_and_stay_stratified(n_folds):
    seqs = random_seqs(200)
    # Plant exact and reverse-complement duplicates.
    for i in range(0, 40, 2):
        seqs[i + 1] = seqs[i] if i % 4 else reverse_complement(seqs[i].encode()).decode()
    labels = np.array([1] * 100 + [0] * 100)
    labels[1:40:2] = labels[0:40:2]
    groups = duplicate_groups(seqs)
    fold = stratified_group_folds(labels, groups, n_folds, seed=3)
    for i in range(0, 40, 2):
        assert fold[i] == fold[i + 1]
    for f in range(n_folds):
        share = labels[fold == f].mean()
        assert abs(share - labels.mean()) < 0.08
        assert abs((fold == f).sum() - len(seqs) / n_folds) <= 3
    assert np.array_equal(fold, stratified_group_folds(labels, groups, n_folds, seed=3))


def test_validation_split_is_disjoint_and_about_the_asked_size():
    seqs = random_seqs(100, seed=1)
    labels = np.array([0, 1] * 50)
    train, val = split_validation(labels, duplicate_groups(seqs), 0.2, seed=0)
    assert set(train).isdisjoint(val) and len(train) + len(val) == 100
    assert 15 <= len(val) <= 25
    with pytest.raises(InputError):
        split_validation(labels, duplicate_groups(seqs), 1.5, seed=0)


def test_training_sequences_must_have_the_window_length(tmp_path):
    (tmp_path / "p.fa").write_text(">p1\n" + "A" * 200 + "\n>p2\n" + "A" * 150 + "\n")
    (tmp_path / "n.fa").write_text(">n1\n" + "C" * 200 + "\n")
    data = load_labelled(tmp_path / "p.fa", tmp_path / "n.fa")
    with pytest.raises(InputError, match="p2: 150 bp"):
        check_lengths(data, 200, "training data")


def test_ambiguity_codes_are_complemented_when_grouping():
    # R (A/G) pairs with Y (C/T): "ACR" and its reverse complement "YGT" are one group.
    assert canonical("YGT") == canonical("ACR")
