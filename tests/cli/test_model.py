"""`ielmscan model ...`: calibrating a bundle on a background genome, and what a scan then reports."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from ielmscan.cli import app
from ielmscan.io.synthetic import write_synthetic_genome
from ielmscan.model.bundle import load_bundle
from tests.bundles import gc_bundle, labelled_fastas, random_bundle

runner = CliRunner()


def test_model_calibrate_then_scan_reports_p_values_and_the_share_called(tmp_path):
    random_bundle(tmp_path / "m", ks=(3,), hidden=16)
    background = write_synthetic_genome(tmp_path / "bg.fa", {"b1": 120_000}, seed=4)
    result = runner.invoke(app, ["model", "calibrate", str(tmp_path / "m"), "--background", str(background),
                                 "--windows", "1000"])
    assert result.exit_code == 0, result.output
    bundle = load_bundle(tmp_path / "m")
    assert 100 <= bundle.calibration.windows <= 1000 and bundle.calibration.source["genome"] == "bg.fa"

    genome = write_synthetic_genome(tmp_path / "g.fa", {"chr1": 30_000}, seed=9)
    scan = runner.invoke(app, ["scan", str(genome), "--model", str(tmp_path / "m"), "-o", str(tmp_path / "out")])
    assert scan.exit_code == 0, scan.output
    assert "no background calibration" not in scan.stderr and "of scored bases" in scan.stderr
    manifest = json.loads((tmp_path / "out.json").read_text())
    assert manifest["calls"]["rule"].startswith("background p-value <= 0.01")
    assert 0 <= manifest["share_called"] < 0.2
    for line in (tmp_path / "out.bed").read_text().splitlines():
        p_column, q_column = map(float, line.split("\t")[7:9])
        assert p_column >= 2 - 1e-9 and 0 <= q_column <= p_column  # p <= 0.01; q >= p

    bad = runner.invoke(app, ["scan", str(genome), "--model", str(tmp_path / "m"), "--max-p", "0", "-o", "-"])
    assert bad.exit_code == 2 and "--max-p" in bad.stderr


def test_model_calibrate_refits_an_existing_first_stage(tmp_path):
    gc_bundle(tmp_path / "m")  # scores by GC: it calls the GC-rich positives
    pos, neg = labelled_fastas(tmp_path, n=40)
    assert runner.invoke(app, ["model", "cascade", str(tmp_path / "m"), "--pos", str(pos), "--neg", str(neg)]).exit_code == 0
    assert load_bundle(tmp_path / "m").cascade.calibration["called_by"] == "the bundle's threshold"
    background = write_synthetic_genome(tmp_path / "bg.fa", {"b1": 200_000}, seed=4)
    result = runner.invoke(app, ["model", "calibrate", str(tmp_path / "m"), "--background", str(background),
                                 "--windows", "1000"])
    assert result.exit_code == 0, result.output
    cascade = load_bundle(tmp_path / "m").cascade
    assert cascade.calibration["called_by"] == "background p-value <= 0.01"
    assert cascade.calibration["training_recall"] >= 0.9
