"""The trained model shipped inside the package."""
from __future__ import annotations

import numpy as np
import pytest

from ielmscan.inference.scorer import score_sequences
from ielmscan.io.fasta import read_fasta
from ielmscan.model.bundle import default_bundle_path, load_bundle


@pytest.fixture(scope="module")
def bundle():
    path = default_bundle_path()
    assert path is not None, "the package must ship its default model"
    return load_bundle(path)


def test_default_model_has_the_documented_members(bundle):
    # One k = 6 member (docs/model-card.md, "Choosing the default"); the benchmark model keeps k = 3..6.
    assert bundle.ks == [6]
    assert bundle.window == 200
    assert 0.0 < bundle.threshold < 1.0
    for member in bundle.members:
        assert (member.config.hidden_size, member.config.num_layers, member.config.num_heads) == (64, 1, 4)
    size = sum(p.stat().st_size for p in bundle.path.rglob("*") if p.is_file())
    assert size < 8 * 2**20  # a few MB, fit for a package


def test_default_model_provenance_names_its_training_data_and_background(bundle):
    prov = bundle.provenance
    assert prov["command"].startswith("ielmscan train")
    assert {(entry["file"], entry["role"]) for entry in prov["data"]} == {("train.pos.fa", "positive"),
                                                                        ("train.neg.fa", "negative")}
    assert prov["background"]["genome"].endswith("grch37_chr22_1-22000000.fa.gz")
    assert "/work/" not in str(prov) and "/tmp/" not in str(prov)  # no paths of the machine it was made on


def test_default_model_is_calibrated_on_a_background_genome_with_a_first_stage(bundle):
    calibration = bundle.calibration
    assert calibration is not None and calibration.windows >= 4_000
    assert calibration.source["genome"] == "grch37_chr22_1-22000000.fa.gz"
    assert 0.0 < calibration.threshold(0.01) < 1.0
    assert bundle.cascade is not None
    assert bundle.cascade.calibration["called_by"] == "background p-value <= 0.01"


def test_default_model_ships_a_strong_vs_weak_second_stage(bundle):
    layer2 = bundle.layer2
    assert layer2 is not None, "the default model must carry layer 2 (strong vs weak)"
    assert layer2.ks == [3, 4, 5, 6] and layer2.window == bundle.window
    assert [entry["file"] for entry in layer2.provenance["data"]] == ["train_strong.fa", "train_weak.fa"]


def test_default_model_reproduces_its_recorded_probabilities(bundle):
    reference = bundle.provenance["reference_predictions"]
    assert len(reference) >= 6
    probs, _ = score_sequences(bundle, [r["sequence"] for r in reference])
    np.testing.assert_allclose(probs, [r["probability"] for r in reference], atol=1e-4)


def test_default_layer2_reproduces_its_recorded_probabilities(bundle, shared_data):
    layer2 = bundle.layer2
    records = dict(read_fasta(shared_data("ienhancer2l/train_strong.fa"))) | dict(
        read_fasta(shared_data("ienhancer2l/train_weak.fa")))
    reference = layer2.provenance["reference_predictions"]
    probs, _ = score_sequences(layer2, [records[r["id"]].upper() for r in reference])
    np.testing.assert_allclose(probs, [r["probability"] for r in reference], atol=1e-4)


def test_the_benchmark_model_ships_beside_the_default_by_name():
    from typer.testing import CliRunner

    from ielmscan import load_bundle as api_load
    from ielmscan.cli import app

    benchmark = api_load("ienhancer2l")
    assert benchmark.ks == [3, 4, 5, 6] and benchmark.calibration is None
    assert [entry["file"] for entry in benchmark.provenance["data"]] == ["train_enhancer.fa", "train_nonenhancer.fa"]
    info = CliRunner().invoke(app, ["model", "info", "ienhancer2l"])
    assert info.exit_code == 0 and "models/ienhancer2l" in info.stdout
