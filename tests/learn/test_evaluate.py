import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ielmscan.model.bundle import load_bundle
from ielmscan.cli import app
from ielmscan.learn.dataset import load_labelled
from ielmscan.learn.evaluate import evaluate, table
from ielmscan.io.fasta import write_fasta

from tests.bundles import gc_bundle, gc_probability


@pytest.fixture
def data_files(tmp_path):
    rng = np.random.default_rng(0)

    def draw(gc: float) -> str:
        return "".join(rng.choice(list("ACGT"), 200, p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]))

    pos = write_fasta(tmp_path / "pos.fa", [(f"p{i}", draw(0.6)) for i in range(40)])
    neg = write_fasta(tmp_path / "neg.fa", [(f"n{i}", draw(0.4)) for i in range(40)])
    return pos, neg


@pytest.mark.slow
def test_metrics_match_the_known_model(tmp_path, data_files):
    gc_bundle(tmp_path / "gc", threshold=0.5)
    bundle = load_bundle(tmp_path / "gc")
    data = load_labelled(*data_files)
    report = evaluate(bundle, data)
    gc = np.array([(s.count("G") + s.count("C")) / 200 for s in data.seqs])
    predicted = gc_probability(gc) >= 0.5
    acc = float(np.mean(predicted == data.labels.astype(bool)))
    assert report["models"]["ensemble"]["at_model_threshold"]["acc"] == pytest.approx(acc)
    assert report["models"]["k1"]["at_0.5"]["acc"] == pytest.approx(acc)
    # GC decides these classes: the GC baseline is as good as the GC model, by AUROC.
    assert report["models"]["baseline_gc"]["at_0.5"]["auroc"] > 0.95
    text = table(report)
    assert "ensemble" in text and "baseline_kmer" in text and "best-F1 threshold" in text


@pytest.mark.slow
def test_cli_evaluate_writes_metrics_and_plots(tmp_path, data_files):
    gc_bundle(tmp_path / "gc")
    pos, neg = data_files
    result = CliRunner().invoke(app, ["evaluate", "--pos", str(pos), "--neg", str(neg), "--model",
                                      str(tmp_path / "gc"), "-o", str(tmp_path / "eval"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(metrics["models"]) == {"ensemble", "k1", "baseline_gc", "baseline_kmer"}
    for png in ("roc.png", "pr.png"):
        assert (tmp_path / "eval" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "AUROC" in result.stdout
    assert not list(tmp_path.glob(".eval.tmp-*"))
