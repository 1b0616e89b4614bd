"""Training: loss goes down, bundles load, CV keeps duplicate groups whole, the CLI reports."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ielmscan.model.bundle import load_bundle
from ielmscan.cli import app
from ielmscan.errors import InputError
from ielmscan.learn.dataset import duplicate_groups, load_labelled, stratified_group_folds
from ielmscan.learn.train import TrainingRequest, training_inputs
from ielmscan.inference.scorer import score_sequences
from tests.bundles import labelled_fastas
from ielmscan.io.fasta import read_fasta, write_fasta
from ielmscan.io.synthetic import write_synthetic_genome

runner = CliRunner()


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


def test_cli_train_with_several_files_and_genome_background_calibrates_the_bundle(tmp_path):
    pos, neg = labelled_fastas(tmp_path, n=30)
    (tmp_path / "more").mkdir()
    more, _ = labelled_fastas(tmp_path / "more", n=10, seed=5)
    genome = write_synthetic_genome(tmp_path / "g.fa", {"g1": 40_000, "g2": 30_000}, seed=3)
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", "--pos", str(pos), "--pos", str(more), "--neg", str(neg), "--background",
                                 str(genome), "--k", "3", "--hidden", "16", "--heads", "2", "--epochs", "1",
                                 "--batch-size", "16", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    bundle = load_bundle(out)
    prov = bundle.provenance
    assert [(d["file"], d["role"], d["records"]) for d in prov["data"]] == [
        ("pos.fa", "positive", 30), ("pos.fa", "positive", 10), ("neg.fa", "negative", 30)]
    assert prov["background"]["windows"] == 40 and prov["background"]["gc"] == "matched"
    assert prov["split"]["train"] + prov["split"]["validation"] == 30 + 10 + 30 + 40
    calibration = bundle.calibration
    assert calibration is not None and 100 <= calibration.windows < 350  # what the small genome holds
    assert calibration.source["genome"] == "g.fa" and calibration.source["gc"] == "genome"
    assert bundle.cascade.calibration["called_by"] == "background p-value <= 0.01"
    info = runner.invoke(app, ["model", "info", str(out)])
    assert "calibration" in info.stdout and "background windows of g.fa" in info.stdout


def test_cli_train_on_a_dataset_uses_its_validation_split(tmp_path):
    pos, neg = labelled_fastas(tmp_path, n=40)
    built = runner.invoke(app, ["dataset", "build", "--pos-fasta", str(pos), "--neg-fasta", str(neg),
                                "--background-ratio", "0", "--val-fraction", "0.25", "-o", str(tmp_path / "ds")])
    assert built.exit_code == 0, built.output
    def records(split: str) -> int:
        return sum((tmp_path / "ds" / f"{split}.{c}.fa").read_text().count(">") for c in ("pos", "neg"))

    val, train = records("val"), records("train")
    result = runner.invoke(app, ["train", "--dataset", str(tmp_path / "ds"), "--k", "3", "--hidden", "16",
                                 "--heads", "2", "--epochs", "1", "--batch-size", "16", "-o", str(tmp_path / "m"), "-q"])
    assert result.exit_code == 0, result.output
    prov = load_bundle(tmp_path / "m").provenance
    assert prov["split"]["validation"] == val > 0 and prov["split"]["train"] == train > 0  # test records unused
    assert {d["role"] for d in prov["data"]} == {"positive", "negative", "validation positive", "validation negative"}
    missing = runner.invoke(app, ["train", "--k", "3", "-o", str(tmp_path / "m2")])
    assert missing.exit_code == 2 and "--pos" in missing.stderr


def request(tmp_path, pos, neg, **kw) -> TrainingRequest:
    return TrainingRequest(pos=[pos], neg=[neg], output=tmp_path / "m", ks=[3], **kw)


def test_training_asks_for_enough_distinct_records_for_its_splits_before_any_work(tmp_path):
    pos, neg = labelled_fastas(tmp_path, n=12)
    assert len(training_inputs(request(tmp_path, pos, neg), 200).data) == 24  # a 10% split: 10 of each
    with pytest.raises(InputError, match=r"pos.fa: 12 usable distinct positive\(s\) in 12 record\(s\); --cv 5 .*"
                                         "needs at least 13 of each class: give more records, or fewer folds"):
        training_inputs(request(tmp_path, pos, neg, cv=5), 200)
    with pytest.raises(InputError, match="with a 5% validation split needs at least 20 of each class.*--val-fraction"):
        training_inputs(request(tmp_path, pos, neg, val_fraction=0.05), 200)
    pos, neg = labelled_fastas(tmp_path, n=13)
    assert len(training_inputs(request(tmp_path, pos, neg, cv=5), 200).data) == 26


def test_training_warns_of_records_in_both_classes_and_leaves_out_n_rich_ones(tmp_path, caplog):
    pos, neg = labelled_fastas(tmp_path, n=15)
    positives = read_fasta(pos)
    write_fasta(neg, [*read_fasta(neg), *positives[:3], ("n_rich", "N" * 150 + "ACGT" * 12 + "AC")])
    with caplog.at_level("WARNING"):
        inputs = training_inputs(request(tmp_path, pos, neg), 200)
    assert len(inputs.data) == 15 + 18
    assert "3 positive and 3 negative record(s) are 3 sequence(s) found in both classes" in caplog.text
    assert "neg.fa: 1 of 19 record(s) left out" in caplog.text


def test_a_dataset_validation_split_must_hold_both_classes(tmp_path):
    (tmp_path / "ds").mkdir()
    labelled_fastas(tmp_path / "ds", n=20)
    (tmp_path / "ds" / "pos.fa").rename(tmp_path / "ds" / "train.pos.fa")
    (tmp_path / "ds" / "neg.fa").rename(tmp_path / "ds" / "train.neg.fa")
    (tmp_path / "v").mkdir()
    val_pos, _ = labelled_fastas(tmp_path / "v", n=3, seed=4)
    val_pos.rename(tmp_path / "ds" / "val.pos.fa")
    req = TrainingRequest(pos=[], neg=[], output=tmp_path / "m", ks=[3], dataset=tmp_path / "ds")
    with pytest.raises(InputError, match=r"the validation split \(val.\*.fa\) needs negatives as well as "
                                         r".*val.pos.fa, and has none"):
        training_inputs(req, 200)


def test_cli_train_with_a_bpe_member_learns_its_tokenizer_and_writes_it_in_the_bundle(tmp_path):
    pos, neg = labelled_fastas(tmp_path, n=30)
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", "--pos", str(pos), "--neg", str(neg), "-o", str(out), "--k", "4,bpe",
                                 "--bpe-vocab", "64", "--hidden", "16", "--heads", "2", "--epochs", "1",
                                 "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    assert "BPE tokenizer: 64 tokens learnt from 54 training sequences" in result.stderr
    assert "bpe epoch   1/1" in result.stderr
    bundle = load_bundle(out)
    assert [m.name for m in bundle.members] == ["k4", "bpe"] and bundle.labels == [4, "bpe64"]
    assert (out / "bpe.tokenizer.json").is_file() and bundle.provenance["request"]["bpe_vocab"] == 64
    reference = bundle.provenance["reference_predictions"]
    again, _ = score_sequences(bundle, [r["sequence"] for r in reference])
    np.testing.assert_allclose(again, [r["probability"] for r in reference], atol=1e-5)
    info = runner.invoke(app, ["model", "info", str(out)])
    assert "bpe64" in info.stdout


def test_cli_cross_validation_with_a_bpe_member_alone_scores_the_folds_of_the_records_and_seed(tmp_path):
    pos, neg = labelled_fastas(tmp_path, n=20)
    report = tmp_path / "cv.json"
    result = runner.invoke(app, ["train", "--pos", str(pos), "--neg", str(neg), "--cv", "2", "--k", "bpe",
                                 "--bpe-vocab", "48", "--hidden", "16", "--heads", "2", "--epochs", "1",
                                 "--batch-size", "16", "-q", "--cv-report", str(report)])
    assert result.exit_code == 0, result.output
    saved = json.loads(report.read_text())
    assert set(saved["out_of_fold"]) >= {"ensemble", "bpe", "baseline_kmer"} and "bpe " in result.stdout
    assert all(0 <= p <= 1 for p in saved["out_of_fold"]["bpe"])
    # The folds are the records' and the seed's alone: what `--k 6` (or any members) gets on the same data.
    data = load_labelled(pos, neg)
    folds = stratified_group_folds(data.labels, duplicate_groups(data.seqs), 2, 0)
    assert saved["fold_of_sample"] == folds.tolist() and saved["names"] == data.names


@pytest.mark.parametrize("args, words", [
    (["train", "--pos", "pos.fa", "--neg", "neg.fa", "--cv", "2", "--bpe-vocab", "64"], "add bpe to --k"),
    (["train", "--pos", "pos.fa", "--neg", "neg.fa", "--cv", "2", "--k", "3,bpe,bpe"], "distinct"),
    (["model", "init", "--k", "3,bpe", "-o", "m"], "model init makes k-mer members only"),
    (["pretrain", "pos.fa", "--k", "bpe", "-o", "m"], "pretrain makes k-mer members only"),
])
def test_bpe_is_asked_for_where_it_can_be_made(tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    labelled_fastas(tmp_path, n=5)
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and words in " ".join(result.stderr.split()), result.stderr
    assert not (tmp_path / "m").exists()
