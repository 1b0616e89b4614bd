"""`ielmscan import-dnabert`: help, an end-to-end import scored against transformers, and bad inputs refused in
one line with nothing written (harness: bad_input.py)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ielmscan.cli import app, main
from ielmscan.inference.scorer import score_sequences
from ielmscan.model.bundle import load_bundle

from tests.cli.bad_input import Case, cases, check_refusal
from tests.model.test_dnabert import LENGTH, both_strands, random_seqs, write_checkpoint

runner = CliRunner()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A user's folder: iEnhancer-ELM's fine-tuned k=3 model in `ielm3`, a plain DNABERT k=4 model in `plain4`
    with its head in `head4.pt`."""
    write_checkpoint(tmp_path / "ielm3", 3, seed=3)
    write_checkpoint(tmp_path / "plain4", 4, weights="pytorch_model.bin", head_file="head4.pt", seed=4)
    return tmp_path


def test_help_names_the_options():
    result = runner.invoke(app, ["import-dnabert", "--help"])
    assert result.exit_code == 0
    for option in ("--output", "--head", "--window", "--force", "vocab.txt"):
        assert option in result.output


def test_import_then_scores_equal_ienhancer_elm(tmp_path, monkeypatch):
    models = {3: write_checkpoint(tmp_path / "plain3", 3, head_file="head3.safetensors", seed=3),
              4: write_checkpoint(tmp_path / "plain4", 4, weights="pytorch_model.bin", head_file="head4.pt", seed=4)}
    monkeypatch.chdir(tmp_path)
    args = ["import-dnabert", "plain3", "plain4", "--head", "head3.safetensors", "--head", "head4.pt",
            "--window", str(LENGTH), "-o", "imported"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stderr.strip().splitlines() == [
        f"ielmscan: wrote bundle imported: k = 3,4 from 2 checkpoint(s) (2 layers, hidden 32), window {LENGTH} bp"]
    bundle = load_bundle(tmp_path / "imported")
    assert bundle.window == LENGTH and bundle.ks == [3, 4]
    seqs = random_seqs()
    ensemble, _ = score_sequences(bundle, seqs)
    expected = np.mean([both_strands(models[k], tmp_path / f"plain{k}", seqs, k) for k in (3, 4)], axis=0)
    np.testing.assert_allclose(ensemble, expected, atol=1e-4, rtol=0)
    sources = json.loads((tmp_path / "imported" / "ensemble.json").read_text())["provenance"]["imported_from"]
    assert [(s["folder"], s["head"]) for s in sources] == [("plain3", "head3.safetensors"), ("plain4", "head4.pt")]
    # An existing bundle is replaced only with --force; the console entry knows the command.
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "--force" in again.stderr
    with pytest.raises(SystemExit) as done:
        main([*args, "--force"])
    assert done.value.code in (0, None)


def test_two_folders_make_a_two_member_bundle(folder):
    write_checkpoint(folder / "ielm4", 4, seed=5)
    result = runner.invoke(app, ["import-dnabert", str(folder / "ielm3"), str(folder / "ielm4"), "--window",
                                 str(LENGTH), "-o", str(folder / "out")])
    assert result.exit_code == 0, result.output
    assert load_bundle(folder / "out").ks == [3, 4]


def _empty(folder: Path) -> None:
    (folder / "empty").mkdir()


def _vocab_mismatch(folder: Path) -> None:
    config = json.loads((folder / "ielm3" / "config.json").read_text())
    (folder / "ielm3" / "config.json").write_text(json.dumps({**config, "vocab_size": 261}))


def _bpe_vocabulary(folder: Path) -> None:
    vocab = folder / "ielm3" / "vocab.txt"
    tokens = vocab.read_text().splitlines()
    vocab.write_text("\n".join(tokens + ["A", "C", "G", "T", "GGTTA"]) + "\n")  # DNABERT-2's kind of tokens


W = ["--window", str(LENGTH), "-o", "out"]


@cases(
    Case("unknown layout", _empty, ["import-dnabert", "empty", *W], ("empty", "config.json")),
    Case("no such folder", lambda d: None, ["import-dnabert", "nowhere", *W], ("nowhere", "no such folder")),
    Case("plain DNABERT without its head", lambda d: None, ["import-dnabert", "plain4", *W],
         ("plain4", "no iEnhancer-ELM head", "--head")),
    Case("vocabulary and config disagree", _vocab_mismatch, ["import-dnabert", "ielm3", *W],
         ("ielm3", "vocab_size 261", "69 tokens")),
    Case("a BPE vocabulary (DNABERT-2)", _bpe_vocabulary, ["import-dnabert", "ielm3", *W],
         ("ielm3", "vocab.txt", "a BPE vocabulary", "k-mer models", "--k ...,bpe")),
    Case("head file missing", lambda d: None, ["import-dnabert", "plain4", "--head", "nohead.pt", *W],
         ("nohead.pt", "no such file")),
    Case("heads not one per folder", lambda d: None,
         ["import-dnabert", "plain4", "ielm3", "--head", "head4.pt", *W], ("--head", "one head file per folder"), 2),
    Case("same k twice", lambda d: None, ["import-dnabert", "ielm3", "ielm3", *W], ("both k=3",)),
    Case("window too long for the positions", lambda d: None, ["import-dnabert", "ielm3", "-o", "out"],
         ("window 200",)),
    Case("output over an input", lambda d: None, ["import-dnabert", "ielm3", "--window", str(LENGTH), "-o", "ielm3"],
         ("ielm3",)),
)
def test_bad_input_is_refused_in_one_line(case, folder, capfd, monkeypatch):
    check_refusal(case, folder, capfd, monkeypatch)
