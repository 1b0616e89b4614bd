"""The reference baselines every enhancer model is reported against: GC content and a k-mer spectrum.

Both are logistic regressions: on the GC fraction alone (which already separates the iEnhancer-2L
classes well), and on normalised 1..5-mer counts. Bases are read with the kernels' byte table, so
case carries no meaning and N / IUPAC codes are skipped, exactly as the scanner treats them.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ielmscan.errors import InputError
from ielmscan.kernels.encode import BASE_LUT, INVALID
from ielmscan.learn.dataset import duplicate_groups, stratified_group_folds

__all__ = ["GCBaseline", "KmerBaseline", "LogisticRegression", "gc_content", "kmer_spectrum"]

DEFAULT_KS: tuple[int, ...] = (1, 2, 3, 4, 5)
# Half-decade steps; weaker penalties overfit the 1364 features of ~2000 training sequences badly
# (iEnhancer-2L CV log-loss 1.0 at 1e-2, 4.1 at 1e-4) and take many more L-BFGS iterations.
L2_GRID: tuple[float, ...] = (1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0)
KMER_CV_FOLDS = 3  # folds of the k-mer baseline's choice of l2: each class needs this many training records


def _check_seqs(seqs: Sequence[str]) -> None:
    if isinstance(seqs, (str, bytes)):
        raise InputError("seqs must be a sequence of strings, got a single string: wrap it in a list")
    for i, seq in enumerate(seqs):
        if not isinstance(seq, str):
            raise InputError(f"sequence {i} must be a str, got {type(seq).__name__}")


def _encode_joined(seqs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """All sequences as one code array, each followed by an INVALID separator, and each base's sequence index.

    The separator makes every k-mer that would span two sequences invalid, so all sequences can be
    processed in one vectorised pass.
    """
    _check_seqs(seqs)
    text = "".join(seq + "\n" for seq in seqs).encode("ascii", errors="replace")  # non-ASCII → '?' → invalid
    codes = BASE_LUT[np.frombuffer(text, dtype=np.uint8)]
    lengths = np.fromiter((len(seq) + 1 for seq in seqs), dtype=np.int64, count=len(seqs))
    owner = np.repeat(np.arange(len(seqs)), lengths)
    return codes, owner


def gc_content(seqs: Sequence[str]) -> np.ndarray:
    """Fraction of G/C among the A/C/G/T bases of each sequence (any case); NaN if it has none."""
    codes, owner = _encode_joined(seqs)
    valid = codes != INVALID
    n_valid = np.bincount(owner[valid], minlength=len(seqs))
    n_gc = np.bincount(owner[(codes == 1) | (codes == 2)], minlength=len(seqs))
    with np.errstate(divide="ignore", invalid="ignore"):
        return n_gc / n_valid


def kmer_spectrum(seqs: Sequence[str], ks: Sequence[int] = DEFAULT_KS) -> np.ndarray:
    """Normalised k-mer counts, shape (len(seqs), sum(4**k)), float32.

    For each k in ``ks`` (in that order) the 4**k columns are the k-mers in base-4 order, first base
    most significant (A=0, C=1, G=2, T=3: "AA", "AC", ..., "TT"), divided by the number of valid k-mers
    in the sequence. K-mers touching a non-ACGT base are skipped; a sequence without any valid k-mer
    gets zeros.
    """
    ks = tuple(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 8 for k in ks):
        raise InputError(f"ks must be a non-empty list of k-mer sizes between 1 and 8, got {list(ks)}")
    codes, owner = _encode_joined(seqs)
    invalid_before = np.r_[0, np.cumsum(codes == INVALID)]  # invalid bases among codes[:i]
    blocks = []
    for k in ks:
        starts = len(codes) - k + 1
        if starts <= 0:
            blocks.append(np.zeros((len(seqs), 4**k), dtype=np.float32))
            continue
        index = np.zeros(starts, dtype=np.int64)
        for j in range(k):  # rolling base-4 number of the k bases starting at each position
            index = index * 4 + codes[j : j + starts]
        valid = invalid_before[k : k + starts] == invalid_before[:starts]
        flat = owner[:starts][valid] * 4**k + index[valid]
        counts = np.bincount(flat, minlength=len(seqs) * 4**k).reshape(len(seqs), 4**k).astype(np.float64)
        totals = counts.sum(axis=1, keepdims=True)
        blocks.append((counts / np.maximum(totals, 1.0)).astype(np.float32))
    return np.concatenate(blocks, axis=1)


def _check_features(X: object, n_features: int | None = None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]  # one feature per sample, e.g. GC content
    if X.ndim != 2:
        raise InputError(f"features must be a 2-D array (samples × features), got shape {X.shape}")
    if not np.isfinite(X).all():
        rows = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise InputError(f"features of {len(rows)} samples are NaN/inf (first: sample {rows[0]})")
    if n_features is not None and X.shape[1] != n_features:
        raise InputError(f"model was fitted on {n_features} features, got {X.shape[1]}")
    return X


def _check_labels(y: object, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise InputError(f"expected {n} labels, got shape {y.shape}")
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        raise InputError("labels must be 0 or 1")
    if y.min() == y.max():
        raise InputError(f"all {n} training labels are {int(y[0])}: a classifier needs both classes")
    return y.astype(np.float64)


class LogisticRegression:
    """L2-regularised logistic regression on standardised features, fitted by full-batch L-BFGS in float64.

    The objective is mean log-loss + ``l2``/2 · ‖w‖² (intercept not penalised). Features are
    standardised with the training mean and standard deviation, stored on the model, so
    :meth:`predict_proba` takes raw features. Fitting starts from zeros, so it is deterministic.
    """

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.coef: np.ndarray | None = None
        self.intercept: float = 0.0
        self.l2: float = 0.0

    def fit(self, X: np.ndarray, y: np.ndarray, l2: float = 1e-2, max_iter: int = 500) -> LogisticRegression:
        """Fit on features ``X`` (n × d, or n for one feature) and 0/1 labels ``y``; returns self."""
        X = _check_features(X)
        target = _check_labels(y, len(X))
        if not (np.isfinite(l2) and l2 >= 0):
            raise InputError(f"l2 must be a finite number ≥ 0, got {l2!r}")
        self.mean = X.mean(axis=0)
        sd = X.std(axis=0)
        self.scale = np.where(sd > 0, sd, 1.0)  # constant features stay 0 after centring
        Z = torch.from_numpy((X - self.mean) / self.scale)
        t = torch.from_numpy(target)
        w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
        b = torch.zeros((), dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS(
            [w, b], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
            tolerance_grad=1e-9, tolerance_change=1e-12,
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = F.binary_cross_entropy_with_logits(Z @ w + b, t) + 0.5 * l2 * (w @ w)
            loss.backward()
            return loss

        optimizer.step(closure)
        self.coef = w.detach().numpy().copy()
        self.intercept = float(b.detach())
        self.l2 = float(l2)
        return self

    def _require_fitted(self) -> None:
        if self.coef is None:
            raise RuntimeError("the model is not fitted: call fit() first")

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Logits (log-odds of class 1) for raw features ``X``."""
        self._require_fitted()
        X = _check_features(X, len(self.coef))
        return (X - self.mean) / self.scale @ self.coef + self.intercept

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probability of class 1 for each row of raw features ``X``."""
        z = self.decision_function(X)
        return np.exp(-np.logaddexp(0.0, -z))  # sigmoid without overflow for large |z|


class GCBaseline:
    """Logistic regression on GC content alone."""

    def __init__(self, l2: float = 1e-4) -> None:
        self.l2 = l2
        self.model = LogisticRegression()

    def fit(self, seqs: Sequence[str], y: Sequence[int] | np.ndarray) -> GCBaseline:
        self.model.fit(gc_content(seqs), y, l2=self.l2)
        return self

    def predict_proba(self, seqs: Sequence[str]) -> np.ndarray:
        return self.model.predict_proba(gc_content(seqs))


class KmerBaseline:
    """Logistic regression on the normalised k-mer spectrum (1..5-mers by default).

    With ``l2=None``, :meth:`fit` picks l2 from ``grid`` by stratified ``folds``-fold cross-validation
    (mean validation log-loss; ties go to the stronger penalty) on the data it is given, with exact and
    reverse-complement duplicates kept in one fold, then refits on all of it. The chosen value is ``self.l2_``; per-candidate losses are in ``self.cv_loss_``.
    """

    def __init__(
        self,
        ks: Sequence[int] = DEFAULT_KS,
        l2: float | None = None,
        grid: Sequence[float] = L2_GRID,
        folds: int = KMER_CV_FOLDS,
        seed: int = 0,
    ) -> None:
        self.ks = tuple(ks)
        self.l2 = l2
        self.grid = tuple(grid)
        self.folds = folds
        self.seed = seed
        self.l2_: float | None = None
        self.cv_loss_: dict[float, float] = {}
        self.model = LogisticRegression()

    def fit(self, seqs: Sequence[str], y: Sequence[int] | np.ndarray) -> KmerBaseline:
        X = kmer_spectrum(seqs, self.ks)
        y = _check_labels(y, len(X))
        if self.l2 is not None:
            self.l2_ = float(self.l2)
        else:
            for label in (0, 1):
                if np.count_nonzero(y == label) < self.folds:
                    raise InputError(f"class {label} has {np.count_nonzero(y == label)} samples, fewer than "
                                     f"the {self.folds} CV folds")
            fold = stratified_group_folds(y.astype(np.int64), duplicate_groups(seqs), self.folds, self.seed)
            self.cv_loss_ = {l2: self._cv_loss(X, y, fold, l2) for l2 in self.grid}
            best = min(self.cv_loss_.values())
            self.l2_ = max(l2 for l2, loss in self.cv_loss_.items() if loss <= best + 1e-12)
        self.model.fit(X, y, l2=self.l2_)
        return self

    def _cv_loss(self, X: np.ndarray, y: np.ndarray, fold: np.ndarray, l2: float) -> float:
        losses = []
        for f in range(self.folds):
            valid, train = np.flatnonzero(fold == f), np.flatnonzero(fold != f)
            p = LogisticRegression().fit(X[train], y[train], l2=l2).predict_proba(X[valid])
            p = np.clip(p, 1e-12, 1 - 1e-12)
            losses.append(-np.mean(y[valid] * np.log(p) + (1 - y[valid]) * np.log(1 - p)))
        return float(np.mean(losses))

    def predict_proba(self, seqs: Sequence[str]) -> np.ndarray:
        return self.model.predict_proba(kmer_spectrum(seqs, self.ks))


def out_of_fold_probabilities(seqs: Sequence[str], y: np.ndarray, fold: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Probabilities of both baselines for every sequence, each from a model fitted on the other folds.

    ``fold`` gives each sequence's fold number; returns {"baseline_gc": ..., "baseline_kmer": ...}.
    """
    out = {"baseline_gc": np.zeros(len(seqs)), "baseline_kmer": np.zeros(len(seqs))}
    for f in np.unique(fold):
        train, test = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        seqs_train, seqs_test = [seqs[i] for i in train], [seqs[i] for i in test]
        for name, model in (("baseline_gc", GCBaseline()), ("baseline_kmer", KmerBaseline(seed=seed))):
            out[name][test] = model.fit(seqs_train, y[train]).predict_proba(seqs_test)
    return out
