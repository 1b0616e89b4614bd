"""The background calibration a bundle stores: empirical p-values, the call threshold, q-values, storage."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ielmscan.errors import BundleError
from ielmscan.model.bundle import load_bundle, save_bundle
from ielmscan.model.calibration import CALIBRATION_FILE, Calibration, benjamini_hochberg
from tests.bundles import random_bundle

# A hand-made background: 100 windows scoring 0.00, 0.01, ..., 0.99.
BACKGROUND = np.arange(100, dtype=np.float32) / 100


def test_p_values_follow_the_empirical_definition():
    cal = Calibration(BACKGROUND[::-1].copy(), {"genome": "hand-made"})
    values = np.array([0.0, 0.005, 0.5, 0.99, 0.995, 1.0], dtype=np.float32)
    expected = [(1 + np.sum(BACKGROUND >= v)) / 101 for v in values]
    np.testing.assert_allclose(cal.p_values(values), expected)
    assert cal.p_values(np.float32([0.5]))[0] == pytest.approx(51 / 101)  # 0.50 ... 0.99: 50 windows, + 1
    assert cal.windows == 100 and np.all(np.diff(cal.scores) >= 0)


@pytest.mark.parametrize("max_p", [1.0, 0.5, 0.05, 0.02, 0.0099, 0.001])
def test_threshold_is_the_lowest_score_with_p_at_most_max_p(max_p):
    cal = Calibration(BACKGROUND)
    t = cal.threshold(max_p)
    candidates = np.r_[BACKGROUND, np.nextafter(BACKGROUND, np.float32(2)), np.float32(1.0), np.float32(0.0)]
    allowed = candidates[cal.p_values(candidates) <= max_p]
    if len(allowed):
        assert cal.p_values(np.float32([t]))[0] <= max_p
        assert t <= allowed.min() + 1e-7
    else:
        assert t > 1.0  # nothing can be called


def test_benjamini_hochberg_by_rank_matches_the_textbook_procedure():
    cal = Calibration(BACKGROUND)
    rng = np.random.default_rng(1)
    bins = rng.random(300).astype(np.float32)
    ranks = cal.exceeding(bins)
    q_by_rank = benjamini_hochberg(np.bincount(ranks, minlength=cal.windows + 1), cal.windows)
    p = cal.p_values(bins)
    order = np.argsort(p, kind="stable")
    m = len(p)
    textbook = np.empty(m)
    running = 1.0
    for i in range(m - 1, -1, -1):  # q_(i) = min over j >= i of p_(j) m / j
        running = min(running, p[order[i]] * m / (i + 1))
        textbook[order[i]] = running
    # Tied p-values share the largest rank among them, as the histogram form does.
    for value in np.unique(p):
        tied = p == value
        textbook[tied] = textbook[tied].min()
    np.testing.assert_allclose(q_by_rank[ranks], textbook)
    assert np.all(q_by_rank <= 1.0)


def test_bad_calibrations_are_refused():
    with pytest.raises(BundleError, match="at least 100"):
        Calibration(BACKGROUND[:10])
    with pytest.raises(BundleError, match="probabilities"):
        Calibration(np.r_[BACKGROUND, np.float32(np.nan)])
    with pytest.raises(BundleError, match=r"\(0, 1\]"):
        Calibration(BACKGROUND).threshold(0.0)


def test_a_bundle_stores_and_reloads_its_calibration(tmp_path):
    bundle = random_bundle(tmp_path / "b", ks=(3,), hidden=16)
    bundle.calibration = Calibration(BACKGROUND, {"genome": "hand-made", "windows": 100})
    save_bundle(bundle, tmp_path / "b", force=True)
    again = load_bundle(tmp_path / "b")
    np.testing.assert_array_equal(again.calibration.scores, BACKGROUND)
    assert again.calibration.source["genome"] == "hand-made"
    before = again.checksum
    (tmp_path / "b" / CALIBRATION_FILE).unlink()
    with pytest.raises(BundleError, match="calibration file"):
        load_bundle(tmp_path / "b")
    save_bundle(bundle, tmp_path / "b", force=True)
    assert load_bundle(tmp_path / "b").checksum == before  # the same bundle saved again: the same bytes
    manifest = json.loads((tmp_path / "b" / "ensemble.json").read_text())
    manifest["calibration"] = "scores"
    (tmp_path / "b" / "ensemble.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="calibration must be a JSON object"):
        load_bundle(tmp_path / "b")
