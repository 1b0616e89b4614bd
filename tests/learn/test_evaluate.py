import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ielmscan.model.bundle import load_bundle
from ielmscan.cli import app
from ielmscan.learn.dataset import load_labelled
from ielmscan.learn.dataset import LabelledSequences
from ielmscan.errors import InputError, OutputError
from ielmscan.learn.evaluate import evaluate, report_folder, table
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
    # GC decides these classes: the GC baseline is as good as the GC model, by AUROC ...
    assert report["models"]["baseline_gc"]["at_0.5"]["auroc"] > 0.95
    # ... and neither tells positives from negatives of the same GC.
    for name in ("baseline_gc", "k1"):
        gc_auroc = report["models"][name]["at_0.5"]["gc_controlled_auroc"]
        assert np.isnan(gc_auroc) or abs(gc_auroc - 0.5) < 0.1
    text = table(report)
    assert "ensemble" in text and "baseline_kmer" in text and "best-F1 threshold" in text and "GC-AUROC" in text


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


def test_gc_controlled_auroc_of_the_gc_model_is_one_half(tmp_path):
    # 200-bp sequences with an even G/C count: GC is a multiple of 0.01, one GC value per stratum. One
    # sequence per GC value (the network's float rounding differs between orders of the same bases).
    rng = np.random.default_rng(3)
    seqs, labels = [], []
    for i in range(60):
        n_gc = 2 * int(rng.integers(30, 70))
        seqs.append(("GC" * 100)[:n_gc] + ("AT" * 100)[: 200 - n_gc])
        labels.append(int(rng.random() < n_gc / 200))  # GC-rich sequences are mostly positive
    data = LabelledSequences([f"s{i}" for i in range(60)], seqs, np.array(labels))
    report = evaluate(gc_bundle(tmp_path / "gc"), data, baselines=False)
    for entry in report["models"].values():
        assert entry["at_0.5"]["auroc"] > 0.6
        for at in ("at_0.5", "at_best_f1"):
            assert entry[at]["gc_controlled_auroc"] == 0.5
    assert report["gc_stratum_width"] == 0.01
    header = table(report).splitlines()[0]
    assert header.index("AUROC") < header.index("GC-AUROC") < header.index("AUPRC")


def test_report_folder_moves_files_together_or_not_at_all(tmp_path):
    with report_folder(tmp_path / "out") as folder:
        (folder.staging / "metrics.json").write_text("{}")
        (folder.staging / "roc.png").write_text("a")
        assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["metrics.json", "roc.png"]
    with pytest.raises(RuntimeError):
        with report_folder(tmp_path / "failed") as folder:
            (folder.staging / "metrics.json").write_text("{}")
            raise RuntimeError("plot failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with pytest.raises(OutputError, match="already exists: --force replaces it"):
        report_folder(tmp_path / "out")
    with pytest.raises(OutputError, match="would overwrite the input"):
        report_folder(tmp_path / "out", inputs=[tmp_path / "out" / "metrics.json"], force=True)
    with pytest.raises(OutputError, match="roc.png would overwrite the input"):  # known when it is written
        with report_folder(tmp_path / "out", inputs=[tmp_path / "out" / "roc.png"], force=True) as folder:
            (folder.staging / "metrics.json").write_text("[]")
            (folder.staging / "roc.png").write_text("b")
    assert (tmp_path / "out" / "roc.png").read_text() == "a"
    with report_folder(tmp_path / "out", force=True) as folder:
        (folder.staging / "metrics.json").write_text("[]")
    assert (tmp_path / "out" / "metrics.json").read_text() == "[]" and (tmp_path / "out" / "roc.png").exists()

def test_evaluation_needs_usable_records_of_both_classes(tmp_path, data_files):
    bundle = gc_bundle(tmp_path / "gc")
    data = load_labelled(*data_files)
    one_each = LabelledSequences(["p", "n"], [data.seqs[0], data.seqs[-1]], np.array([1, 0]), ["pos.fa", "neg.fa"])
    with pytest.raises(InputError, match=r"pos.fa: 1 usable distinct positive\(s\) in 1 record\(s\); evaluation beside "
                                         r"the GC and k-mer baselines .* at least 5 of each class: .*--no-baselines"):
        evaluate(bundle, one_each)
    assert evaluate(bundle, one_each, baselines=False)["n"] == 2
    only_positives = LabelledSequences(["p"], [data.seqs[0]], np.array([1]), ["pos.fa"])
    with pytest.raises(InputError, match="needs negatives as well as pos.fa, and has none"):
        evaluate(bundle, only_positives, baselines=False)
    n_rich = data.extended(["x"], ["N" * 200], 0, "neg.fa")
    report = evaluate(bundle, n_rich, baselines=False)
    assert report["n"] == 80 and report["positives"] == 40  # the record a scan would skip is left out
