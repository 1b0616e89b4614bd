"""How `ielmscan variants` reports its results (:mod:`ielmscan.inference.variant_outputs`): the calibrated
-log10 p-values in the TSV and the VCF, on test_variants' planted genome and GC model."""
from __future__ import annotations

import numpy as np
import pysam
import pytest

from ielmscan.inference.variants import VariantParams, run_variants
from ielmscan.model.calibration import Calibration

from tests.bundles import gc_probability
from tests.inference import test_variants
from tests.inference.test_variants import BLOCK, FP32, SEQ, edited, ref_at, window_probabilities, write_vcf

# Fixtures: the GC model and the planted genome (see test_variants' docstring).
bundle, genome = test_variants.bundle, test_variants.genome


def test_calibrated_model_reports_background_p_values(bundle, genome, tmp_path):
    # A hand-made background of 999 window scores; no score below lies within 1e-4 of another (no float ties).
    background = gc_probability(np.linspace(0.2, 0.5, 999)).astype(np.float32)
    bundle.calibration = Calibration(background, {"genome": "hand-made"})
    anchor = BLOCK[0] - 1
    ref, alt = ref_at(anchor, 49), ref_at(anchor)
    try:
        vcf = write_vcf(tmp_path / "v.vcf", [("chr1", anchor + 1, "del", ref, alt)])
        run_variants(genome, vcf, bundle, VariantParams(scorer=FP32), str(tmp_path / "out"))
    finally:
        bundle.calibration = None
    ref_windows = window_probabilities(SEQ, [2050, 2100, 2150, 2200])
    alt_windows = window_probabilities(edited(anchor, ref, alt), [2050, 2100, 2150, 2200])
    expected = {}
    for allele, windows in (("ref", ref_windows), ("alt", alt_windows)):
        for stat, value in (("max", windows.max()), ("mean", windows.mean())):
            assert np.abs(background - value).min() > 1e-4  # the count below cannot hinge on float rounding
            # p = (1 + background windows scoring >= value) / (1 + n)
            expected[f"{allele}_{stat}"] = -np.log10((1 + np.count_nonzero(background >= value)) / 1000)
    header, row = (line.split("\t") for line in (tmp_path / "out.tsv").read_text().splitlines())
    row = dict(zip(header, row))
    for column, value in expected.items():
        assert float(row[f"{column}_mlog10p"]) == pytest.approx(value, abs=1e-3)
    assert float(row["ref_max_mlog10p"]) == pytest.approx(3.0, abs=1e-3)  # above every background window
    for stat in ("max", "mean"):
        assert float(row[f"delta_{stat}_mlog10p"]) == pytest.approx(expected[f"alt_{stat}"] - expected[f"ref_{stat}"],
                                                                    abs=1e-3)
    with pysam.VariantFile(str(tmp_path / "out.vcf.gz")) as out:
        [record] = list(out)
        assert record.info["IELM_REF_MAX_MLOG10P"][0] == pytest.approx(3.0, abs=1e-3)
        assert record.info["IELM_DELTA_MEAN_MLOG10P"][0] == pytest.approx(float(row["delta_mean_mlog10p"]), abs=1e-6)
