"""The trained model shipped inside the package."""
from __future__ import annotations


import numpy as np
import pytest

from ielmscan.model.bundle import default_bundle_path, load_bundle
from ielmscan.io.fasta import read_fasta
from ielmscan.inference.scorer import score_sequences



@pytest.fixture(scope="module")
def bundle():
    path = default_bundle_path()
    assert path is not None, "the package must ship its default model"
    return load_bundle(path)


def test_default_model_has_the_documented_members(bundle):
    assert bundle.ks == [3, 4, 5, 6]
    assert bundle.window == 200
    assert 0.0 < bundle.threshold < 1.0
    for member in bundle.members:
        assert (member.config.hidden_size, member.config.num_layers, member.config.num_heads) == (64, 1, 4)
    size = sum(p.stat().st_size for p in bundle.path.iterdir())
    assert size < 8 * 2**20  # a few MB, fit for a package


def test_default_model_provenance_names_its_training_data(bundle):
    files = [entry["file"] for entry in bundle.provenance["data"]]
    assert files == ["train_enhancer.fa", "train_nonenhancer.fa"]
    assert bundle.provenance["command"].startswith("ielmscan train")


def test_default_model_ships_a_strong_vs_weak_second_stage(bundle):
    layer2 = bundle.layer2
    assert layer2 is not None, "the default model must carry layer 2 (strong vs weak)"
    assert layer2.ks == [3, 4, 5, 6] and layer2.window == bundle.window
    assert [entry["file"] for entry in layer2.provenance["data"]] == ["train_strong.fa", "train_weak.fa"]


@pytest.mark.parametrize("stage, files", [("layer1", ("train_enhancer.fa", "train_nonenhancer.fa")),
                                          ("layer2", ("train_strong.fa", "train_weak.fa"))])
def test_default_model_reproduces_its_recorded_probabilities(bundle, stage, files, shared_data):
    model = bundle if stage == "layer1" else bundle.layer2
    records = dict(read_fasta(shared_data(f"ienhancer2l/{files[0]}"))) | dict(read_fasta(shared_data(f"ienhancer2l/{files[1]}")))
    reference = model.provenance["reference_predictions"]
    assert len(reference) >= 6
    probs, _ = score_sequences(model, [records[r["id"]].upper() for r in reference])
    np.testing.assert_allclose(probs, [r["probability"] for r in reference], atol=1e-4)
