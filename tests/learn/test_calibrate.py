"""Calibrating a bundle: background windows at the genome's own GC, scored as a scan scores them."""
from __future__ import annotations

import numpy as np

from ielmscan.inference.scorer import score_sequences
from ielmscan.io.fasta import read_fasta
from ielmscan.io.synthetic import write_synthetic_genome
from ielmscan.learn.calibrate import calibrate
from ielmscan.model.bundle import load_bundle


def test_calibration_scores_are_the_bundles_scores_of_unseen_background_windows(gc_bundle_dir, tmp_path):
    bundle = load_bundle(gc_bundle_dir)
    genome = write_synthetic_genome(tmp_path / "bg.fa", {"b1": 150_000, "b2": 60_000}, seed=2)
    calibration, seqs = calibrate(bundle, genome, windows=500, seed=3)
    assert calibration.windows == len(seqs) == 500
    assert all(len(s) == bundle.window and "N" not in s and s == s.upper() for s in seqs)
    np.testing.assert_allclose(calibration.scores, np.sort(score_sequences(bundle, seqs)[0]), atol=1e-7)
    assert calibration.source["genome"] == "bg.fa" and calibration.source["gc"] == "genome"
    _, same = calibrate(bundle, genome, windows=500, seed=3)
    assert same == seqs  # deterministic for a seed
    # Windows to keep out (e.g. the training negatives) are never drawn.
    keep_out = [("b1", 0, 150_000)]
    _, others = calibrate(bundle, genome, windows=200, seed=3, exclude=keep_out)
    b2 = dict(read_fasta(genome))["b2"].upper()
    assert len(others) == 200 and all(window in b2 for window in others)
