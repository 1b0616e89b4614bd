"""The public Python API: what `import ielmscan` offers, on the same code paths as the command line."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ielmscan
from ielmscan.errors import BundleError
from ielmscan.io.fasta import write_fasta
from tests.bundles import gc_probability


def test_import_is_light_and_names_load_on_use():
    code = "import sys, ielmscan; print('torch' in sys.modules, sorted(ielmscan.__all__)[:3])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("False")
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        ielmscan.nothing  # noqa: B018


def test_load_bundle_default_and_folder(gc_bundle_dir):
    assert ielmscan.load_bundle().ks == [6]  # the shipped default model
    assert ielmscan.load_bundle(gc_bundle_dir).ks == [1]
    with pytest.raises(BundleError, match="not a directory"):
        ielmscan.load_bundle(gc_bundle_dir / "missing")


def test_scan_score_and_predict_agree_with_the_gc_model(gc_bundle_dir, tmp_path):
    bundle = ielmscan.load_bundle(gc_bundle_dir)
    seqs = ["GC" * 100, "AT" * 100, "GCA" * 66 + "GC"]
    gc = np.array([1.0, 0.0, (2 * 66 + 2) / 200])
    probs, members = ielmscan.score_sequences(bundle, seqs)
    np.testing.assert_allclose(probs, gc_probability(gc), atol=1e-5)
    assert list(members) == ["k1"]

    fasta = write_fasta(tmp_path / "g.fa", [("chrA", "".join(seqs))])
    manifest = ielmscan.scan(fasta, tmp_path / "out", bundle, ielmscan.ScanParams(stride=200))
    assert manifest["windows_scanned"] == 3 and (tmp_path / "out.bw").is_file()

    (best,) = ielmscan.predict(bundle, [("r", seqs[1] + seqs[0])], stride=200)
    assert best.best_offset == 200 and best.probability == pytest.approx(probs[0], abs=1e-5)
