"""Training: loss goes down, bundles load, CV keeps duplicate groups whole, the CLI reports."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ielmscan.model.bundle import load_bundle, new_bundle
from ielmscan.cli import app
from ielmscan.learn.dataset import load_labelled
from ielmscan.inference.scorer import score_sequences
from tests.bundles import labelled_fastas
from ielmscan.learn.fitting import TrainConfig, fit
from ielmscan.io.fasta import write_fasta

runner = CliRunner()


def test_training_lowers_the_loss_and_sets_a_threshold(tmp_path):
    pos, neg = labelled_fastas(tmp_path)
    data = load_labelled(pos, neg)
    bundle = new_bundle([3], hidden_size=16, num_layers=1, num_heads=2)
    report = fit(bundle, data, TrainConfig(epochs=4, batch_size=16, lr=2e-3, val_fraction=0.2, patience=10))
    losses = [row["loss"] for row in report["members"]["k3"]["history"]]
    assert losses[-1] < losses[0]
    assert report["ensemble_val"]["auroc"] > 0.8
    assert 0.0 < bundle.threshold < 1.0
    assert report["n_train"] + report["n_val"] == 120


def test_training_is_deterministic_for_a_seed(tmp_path):
    pos, neg = labelled_fastas(tmp_path, n=30)
    data = load_labelled(pos, neg)
    probs = []
    for _ in range(2):
        bundle = new_bundle([3], hidden_size=16, num_layers=1, num_heads=2, seed=4)
        fit(bundle, data, TrainConfig(epochs=2, batch_size=16, val_fraction=0.2, seed=4))
        probs.append(score_sequences(bundle, data.seqs[:10])[0])
    np.testing.assert_array_equal(probs[0], probs[1])


def test_cli_train_writes_a_loadable_bundle_with_provenance(tmp_path):
    pos, neg = labelled_fastas(tmp_path)
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", "--pos", str(pos), "--neg", str(neg), "-o", str(out), "--k", "3,4",
                                 "--hidden", "16", "--heads", "2", "--epochs", "2", "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    assert "k3 epoch   1/2" in result.stderr and "k4 epoch   2/2" in result.stderr
    bundle = load_bundle(out)
    assert bundle.ks == [3, 4]
    prov = bundle.provenance
    assert prov["command"].startswith("ielmscan") and prov["data"][0]["records"] == 60
    assert len(prov["data"][0]["sha256"]) == 64
    assert prov["history"]["k4"][-1]["epoch"] == 2
    assert any("k3 epoch" in line for line in prov["log"])
    json.dumps(prov)  # provenance stays plain JSON
    reference = prov["reference_predictions"]
    assert [r["id"] for r in reference] == ["p0", "p1", "p2", "n0", "n1", "n2"]
    data = load_labelled(pos, neg)
    again, _ = score_sequences(bundle, [data.seqs[i] for i in (0, 1, 2, 60, 61, 62)])
    np.testing.assert_allclose(again, [r["probability"] for r in reference], atol=1e-5)


def test_cli_train_window_sets_the_bundle_window_and_length_errors_suggest_it(tmp_path):
    pos, neg = labelled_fastas(tmp_path, n=20, length=120)
    args = ["train", "--pos", str(pos), "--neg", str(neg), "--k", "3", "--hidden", "16", "--heads", "2",
            "--epochs", "1", "--batch-size", "16", "-q"]
    refused = runner.invoke(app, [*args, "-o", str(tmp_path / "m200")])
    assert refused.exit_code == 1 and "train with --window 120" in refused.stderr
    result = runner.invoke(app, [*args, "--window", "120", "-o", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert load_bundle(tmp_path / "m").window == 120


@pytest.mark.slow
def test_cli_cross_validation_reports_members_ensemble_and_baselines(tmp_path):
    pos, neg = labelled_fastas(tmp_path, n=40)
    report = tmp_path / "cv.json"
    result = runner.invoke(app, ["train", "--pos", str(pos), "--neg", str(neg), "--cv", "2", "--k", "3",
                                 "--hidden", "16", "--heads", "2", "--epochs", "2", "--batch-size", "16", "-q",
                                 "--cv-report", str(report)])
    assert result.exit_code == 0, result.output
    saved = json.loads(report.read_text())
    assert len(saved["names"]) == len(saved["labels"]) == len(saved["out_of_fold"]["ensemble"]) == 80
    assert set(saved["out_of_fold"]) >= {"ensemble", "k3", "baseline_gc", "baseline_kmer"}
    assert all(0 <= p <= 1 for p in saved["out_of_fold"]["k3"])
    table = result.stdout
    for row in ("ensemble", "k3", "baseline_gc", "baseline_kmer"):
        assert row in table
    assert "ACC" in table and "±" in table
    # GC decides these classes, so the GC baseline must be near perfect.
    gc_row = next(line for line in table.splitlines() if line.startswith("baseline_gc"))
    assert float(gc_row.split()[1]) > 0.9


def test_cli_train_needs_output_or_cv_and_equal_lengths(tmp_path):
    pos, neg = labelled_fastas(tmp_path, n=5)
    result = runner.invoke(app, ["train", "--pos", str(pos), "--neg", str(neg)])
    assert result.exit_code == 2 and "--output" in result.stderr
    short = write_fasta(tmp_path / "short.fa", [("s1", "ACGT" * 10)])
    result = runner.invoke(app, ["train", "--pos", str(short), "--neg", str(neg), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "s1: 40 bp" in result.stderr
    assert not (tmp_path / "m").exists()
