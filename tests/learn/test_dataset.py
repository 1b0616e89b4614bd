import numpy as np
import pytest

from ielmscan.learn.dataset import (
    LabelledSequences, canonical, check_lengths, duplicate_groups, invalid_fractions, load_labelled, records_needed,
    split_validation, stratified_group_folds, usable_records, validation_folds,
)
from ielmscan.errors import InputError
from ielmscan.io.fasta import write_fasta
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


def labelled(pos: list[str], neg: list[str]) -> LabelledSequences:
    return LabelledSequences([f"r{i}" for i in range(len(pos) + len(neg))], pos + neg,
                             np.r_[np.ones(len(pos)), np.zeros(len(neg))].astype(np.int64),
                             ["p.fa"] * len(pos) + ["n.fa"] * len(neg))


def test_invalid_fractions_count_n_and_iupac_as_the_scanner_does():
    np.testing.assert_allclose(invalid_fractions(["ACGT", "ACNN", "nnnn", "ACGR", ""]), [0, 0.5, 1, 0.25, 1])
    np.testing.assert_allclose(invalid_fractions(["ACGT", "ACNN", "nnnn", "ACGR"]), [0, 0.5, 1, 0.25])  # one length


def test_a_class_without_a_usable_record_is_refused_at_loading(tmp_path):
    write_fasta(tmp_path / "p.fa", [(f"p{i}", s) for i, s in enumerate(random_seqs(5))])
    write_fasta(tmp_path / "n.fa", [("n1", "N" * 30), ("n2", "ACGT" + "N" * 26)])
    with pytest.raises(InputError, match=r"n.fa: none of the 2 negative record\(s\) is usable.*more than 10% N"):
        load_labelled(tmp_path / "p.fa", tmp_path / "n.fa")


def test_identical_classes_are_refused_whatever_the_file_or_strand(tmp_path):
    seqs = random_seqs(6)
    write_fasta(tmp_path / "p.fa", [(f"p{i}", s) for i, s in enumerate(seqs)])
    write_fasta(tmp_path / "copy.fa", [(f"c{i}", reverse_complement(s.encode()).decode()) for i, s in enumerate(seqs)])
    write_fasta(tmp_path / "part.fa", [(f"c{i}", s) for i, s in enumerate(seqs[:3])])
    with pytest.raises(InputError, match="p.fa is given as both the positives and the negatives"):
        load_labelled(tmp_path / "p.fa", tmp_path / "p.fa")
    with pytest.raises(InputError, match="p.fa and .*copy.fa hold the same 6 distinct sequence.*own FASTA"):
        load_labelled(tmp_path / "p.fa", tmp_path / "copy.fa")
    with pytest.raises(InputError, match="every one of the 3 distinct negative sequence.*part.fa.*among the positives"):
        load_labelled(tmp_path / "p.fa", tmp_path / "part.fa")
    write_fasta(tmp_path / "n.fa", [("n1", random_seqs(1, seed=9)[0])])
    data = load_labelled([tmp_path / "p.fa"], [tmp_path / "part.fa", tmp_path / "n.fa"])  # one negative of its own
    assert data.origins[-1] == str(tmp_path / "n.fa") and data.sources(0).endswith("part.fa, " + str(tmp_path / "n.fa"))


def test_usable_records_leave_out_n_rich_records_and_warn_with_counts(caplog):
    pos, neg = random_seqs(4, seed=1), random_seqs(4, seed=2)
    data = labelled(pos + ["N" * 30], neg + ["ACGTAC" + "N" * 24])
    with caplog.at_level("WARNING", logger="ielmscan.learn.dataset"):
        kept = usable_records(data, 4, "this", "that")
    assert kept.seqs == pos + neg and kept.labels.tolist() == [1] * 4 + [0] * 4 and kept.origins[0] == "p.fa"
    assert "p.fa: 1 of 5 record(s) left out" in caplog.text and "n.fa: 1 of 5 record(s) left out" in caplog.text


def test_usable_records_refuse_too_few_distinct_records_of_a_class_with_the_reasons(caplog):
    pos = random_seqs(5, seed=1)
    neg = random_seqs(2, seed=2) + ["N" * 30, random_seqs(1, seed=2)[0], pos[0]]
    with caplog.at_level("WARNING"), pytest.raises(InputError) as refused:
        usable_records(labelled(pos, neg), 3, "cross-validation", "give more records")
    message = str(refused.value)
    assert message.startswith("n.fa: 2 usable distinct negative(s) in 5 record(s) (1 with more than 10% N")
    assert "1 repeating another (either strand); 1 also among the positives)" in message
    assert message.endswith("cross-validation needs at least 3 of each class: give more records")
    assert "\n" not in message and not caplog.records  # a refusal is one line, without warnings before it
    # A sequence in both classes counts for neither, but is kept, with a warning.
    with caplog.at_level("WARNING"):
        kept = usable_records(labelled(pos, neg), 2, "cross-validation", "give more records")
    assert len(kept) == 9 and "1 positive and 1 negative record(s) are 1 sequence(s) found in both" in caplog.text


def test_records_needed_fill_every_fold_and_every_training_part():
    assert records_needed(5) == 5 and records_needed(2) == 2
    assert records_needed(5, 10) == 13  # 13 in 5 folds: at most 3 held out, 10 left to train on
    assert validation_folds(0.1) == 10 and validation_folds(0.5) == 2
    rng = np.random.default_rng(0)
    for folds, inner in [(5, 10), (3, 3), (2, 10), (4, 1)]:
        n = records_needed(folds, inner)
        labels = np.r_[np.ones(n), np.zeros(n + 3)].astype(np.int64)
        fold = stratified_group_folds(labels, rng.permutation(len(labels)), folds, seed=int(rng.integers(100)))
        for f in range(folds):
            assert {0, 1} <= set(labels[fold == f]) and ((labels[fold != f] == 1).sum() >= inner)


def test_a_validation_split_without_both_classes_is_refused():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])  # 3 positives, 10 folds
    with pytest.raises(InputError, match="10% validation split of 15 records holds no positives"):
        split_validation(labels, np.arange(15), 0.1, seed=0)
    train, val = split_validation(labels, np.arange(15), 0.34, seed=0)  # 3 folds: one positive each
    assert set(labels[val]) == {0, 1} and set(labels[train]) == {0, 1}
