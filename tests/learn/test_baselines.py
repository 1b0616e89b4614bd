import itertools
from pathlib import Path

import numpy as np
import pytest

from ielmscan.learn.baselines import (
    GCBaseline,
    KmerBaseline,
    LogisticRegression,
    gc_content,
    kmer_spectrum,
)
from ielmscan.kernels.encode import reverse_complement
from ielmscan.learn import baselines
from ielmscan.learn.dataset import duplicate_groups, stratified_group_folds
from ielmscan.learn.metrics import binary_metrics



def naive_spectrum(seq: str, k: int) -> np.ndarray:
    """Obviously-correct reference: count every all-ACGT k-mer with a dict, in lexicographic ACGT order."""
    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=k)]
    counts = dict.fromkeys(kmers, 0)
    seq = seq.upper()
    for i in range(len(seq) - k + 1):
        if seq[i : i + k] in counts:
            counts[seq[i : i + k]] += 1
    total = sum(counts.values())
    return np.array([counts[m] / total if total else 0.0 for m in kmers])


def random_seqs(n: int, rng: np.random.Generator, gc: float = 0.5, length: int = 200) -> list[str]:
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return ["".join(rng.choice(list("ACGT"), length, p=p)) for _ in range(n)]


def gc_data(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Positives drawn with 60 % GC, negatives with 40 %."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return [random_seqs(1, rng, gc=0.6 if label else 0.4)[0] for label in y], y


def motif_data(n: int, seed: int, motif: str = "TACGA", copies: int = 3) -> tuple[list[str], np.ndarray]:
    """Uniform random sequences; positives carry ``copies`` non-overlapping copies of ``motif``."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    seqs = []
    for label in y:
        bases = rng.choice(list("ACGT"), 200)
        if label:
            for at in rng.choice(np.arange(0, 195, 10), copies, replace=False):
                bases[at : at + len(motif)] = list(motif)
        seqs.append("".join(bases))
    return seqs, y


def test_gc_content_counts_only_acgt_in_any_case():
    gc = gc_content(["ACGT", "ggcc", "GGNNAT", "acgtRYacgt", "NNNN"])
    np.testing.assert_allclose(gc[:4], [0.5, 1.0, 0.5, 0.5])
    assert np.isnan(gc[4])  # no A/C/G/T at all: GC fraction undefined


def test_kmer_spectrum_hand_example():
    x = kmer_spectrum(["ACGT"], ks=(1, 2))
    assert x.shape == (1, 4 + 16) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :4], [0.25, 0.25, 0.25, 0.25])
    two = x[0, 4:]
    # Base-4 index, first base most significant: AC = 0*4+1, CG = 1*4+2, GT = 2*4+3.
    expected = np.zeros(16)
    expected[[1, 6, 11]] = 1 / 3
    np.testing.assert_allclose(two, expected, rtol=1e-6)


def test_kmer_spectrum_default_has_1364_features_summing_to_one_per_k():
    x = kmer_spectrum(random_seqs(3, np.random.default_rng(0)))
    assert x.shape == (3, 4 + 16 + 64 + 256 + 1024)
    offsets = np.cumsum([0, 4, 16, 64, 256, 1024])
    for start, end in itertools.pairwise(offsets):
        np.testing.assert_allclose(x[:, start:end].sum(axis=1), 1.0, rtol=1e-5)


def test_kmer_spectrum_skips_kmers_touching_n_and_ignores_case():
    x = kmer_spectrum(["ACNGT", "acngt", "NNNN", ""], ks=(1, 2))
    np.testing.assert_array_equal(x[0], x[1])
    np.testing.assert_allclose(x[0, :4], [0.25, 0.25, 0.25, 0.25])
    two = np.zeros(16)
    two[[1, 11]] = 0.5  # AC and GT; CN and NG are skipped
    np.testing.assert_allclose(x[0, 4:], two)
    assert not x[2].any() and not x[3].any()  # no valid k-mer → all zeros, no NaN


def test_kmer_spectrum_never_joins_neighbouring_sequences():
    x = kmer_spectrum(["AC", "GT"], ks=(2,))
    assert x[0, 1] == 1.0 and x[1, 11] == 1.0  # AC, GT; "CG" across the boundary must not appear
    assert x.sum() == 2.0


def test_kmer_spectrum_matches_naive_reference_on_random_sequences_with_n():
    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACGTNacgtR"), rng.integers(0, 40))) for _ in range(30)]
    x = kmer_spectrum(seqs, ks=(1, 3, 2))
    for seq, row in zip(seqs, x):
        expected = np.concatenate([naive_spectrum(seq, k) for k in (1, 3, 2)])
        np.testing.assert_allclose(row, expected, rtol=1e-6, atol=1e-7)


def test_kmer_spectrum_rejects_bad_input():
    with pytest.raises(ValueError, match="ks"):
        kmer_spectrum(["ACGT"], ks=(0,))
    with pytest.raises(ValueError, match="single string"):
        kmer_spectrum("ACGT")


def test_logistic_regression_reaches_the_regularised_optimum():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)) * [1, 10, 0.1, 1, 1] + [0, 5, 0, 0, 0]
    y = (X[:, 0] + 0.1 * X[:, 1] + rng.normal(size=200) > 0.5).astype(int)
    model = LogisticRegression().fit(X, y, l2=0.1)
    # Gradient of mean log-loss + l2/2 |w|^2 in the standardised space must vanish.
    Z = (X - model.mean) / model.scale
    residual = model.predict_proba(X) - y
    np.testing.assert_allclose(Z.T @ residual / len(y) + 0.1 * model.coef, 0, atol=1e-6)
    assert abs(residual.mean()) < 1e-6  # unpenalised intercept
    np.testing.assert_allclose(model.mean, X.mean(axis=0))


def test_logistic_regression_is_deterministic_and_unit_free():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 3))
    y = (X[:, 0] > 0).astype(int)
    p = LogisticRegression().fit(X, y, l2=0.01).predict_proba(X)
    np.testing.assert_array_equal(p, LogisticRegression().fit(X, y, l2=0.01).predict_proba(X))
    # Standardisation inside the model: features in other units give the same predictions.
    rescaled = LogisticRegression().fit(X * [1000, 1, 0.001], y, l2=0.01).predict_proba(X * [1000, 1, 0.001])
    np.testing.assert_allclose(rescaled, p, atol=1e-6)


def test_logistic_regression_rejects_bad_input():
    X = np.arange(10.0)[:, None]
    with pytest.raises(ValueError, match="both classes"):
        LogisticRegression().fit(X, np.ones(10), l2=1.0)
    with pytest.raises(ValueError, match="NaN"):
        LogisticRegression().fit(np.r_[X[:9, 0], np.nan], np.arange(10) % 2, l2=1.0)
    model = LogisticRegression().fit(X, np.arange(10) % 2, l2=1.0)
    with pytest.raises(ValueError, match="1 features, got 2"):
        model.predict_proba(np.zeros((3, 2)))
    with pytest.raises(RuntimeError, match="not fitted"):
        LogisticRegression().predict_proba(X)


def test_kmer_baseline_inner_cv_keeps_reverse_complement_duplicates_in_one_fold(monkeypatch):
    seqs, y = gc_data(60, seed=3)
    seqs = seqs + [reverse_complement(s.encode()).decode() for s in seqs]  # every sequence on both strands
    y = np.r_[y, y]
    seen = []

    def recording(labels, groups, n_folds, seed):
        fold = stratified_group_folds(labels, groups, n_folds, seed)
        seen.append(fold)
        return fold

    monkeypatch.setattr(baselines, "stratified_group_folds", recording)
    KmerBaseline(ks=(1, 2), folds=3).fit(seqs, y)
    (fold,) = seen
    n = len(seqs) // 2
    np.testing.assert_array_equal(fold[:n], fold[n:])  # a sequence and its reverse complement never split
    assert sorted(np.unique(fold)) == [0, 1, 2]


def test_kmer_baseline_needs_as_many_samples_per_class_as_folds():
    with pytest.raises(ValueError, match="fewer than"):
        KmerBaseline(ks=(1,), folds=3).fit(["ACGT", "CCGG", "AATT", "GGCC", "TTTA"], np.r_[1, 1, 0, 0, 0])


def test_gc_baseline_separates_gc_rich_sequences():
    train, test = gc_data(200, seed=0), gc_data(200, seed=1)
    prob = GCBaseline().fit(*train).predict_proba(test[0])
    assert binary_metrics(test[1], prob)["auroc"] > 0.9
    assert prob[test[1] == 1].mean() > prob[test[1] == 0].mean()


def test_kmer_baseline_finds_a_planted_motif_that_gc_cannot():
    train, test = motif_data(300, seed=1), motif_data(300, seed=2)
    kmer = KmerBaseline().fit(*train)
    gc = GCBaseline().fit(*train)
    assert binary_metrics(test[1], kmer.predict_proba(test[0]))["auroc"] > 0.9
    assert 0.35 < binary_metrics(test[1], gc.predict_proba(test[0]))["auroc"] < 0.65
    assert kmer.l2_ in kmer.cv_loss_ and kmer.cv_loss_[kmer.l2_] == min(kmer.cv_loss_.values())


def test_kmer_baseline_with_fixed_l2_skips_cross_validation():
    train = motif_data(60, seed=3)
    model = KmerBaseline(ks=(1, 2, 3), l2=0.5).fit(*train)
    assert model.l2_ == 0.5 and model.cv_loss_ == {}
    assert model.model.l2 == 0.5 and len(model.model.coef) == 4 + 16 + 64


def read_fasta(path: Path) -> list[str]:
    seqs: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            seqs.append("")
        elif seqs:
            seqs[-1] += line.strip()
    return seqs


@pytest.mark.slow
def test_gc_baseline_cross_validated_accuracy_on_ienhancer2l(shared_data):
    data = shared_data("ienhancer2l")
    pos, neg = read_fasta(data / "train_enhancer.fa"), read_fasta(data / "train_nonenhancer.fa")
    seqs = pos + neg
    y = np.r_[np.ones(len(pos), int), np.zeros(len(neg), int)]
    accuracies = []
    fold = stratified_group_folds(y, duplicate_groups(seqs), 5, seed=0)
    for f in range(5):
        train, valid = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        model = GCBaseline().fit([seqs[i] for i in train], y[train])
        accuracies.append(binary_metrics(y[valid], model.predict_proba([seqs[i] for i in valid]))["acc"])
    assert 0.70 < np.mean(accuracies) < 0.80  # the data README: about 0.75
