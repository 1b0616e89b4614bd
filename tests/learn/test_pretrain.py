import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ielmscan.model.bundle import load_bundle, new_bundle
from ielmscan.cli import app
from ielmscan.learn.pretrain import IGNORE, PretrainConfig, mask_spans, pretrain, sample_windows
from ielmscan.io.fasta import write_fasta
from ielmscan.model.tokens import CLS_ID, MASK_ID, SEP_ID, UNK_ID

from tests.bundles import labelled_fastas, random_bundle


def repetitive_genome(path, n: int = 30_000, seed: int = 0):
    """A genome built from a few repeated motifs: masked k-mers are predictable from context."""
    rng = np.random.default_rng(seed)
    motifs = ["".join(rng.choice(list("ACGT"), 25)) for _ in range(6)]
    seq = "".join(motifs[i] for i in rng.integers(0, 6, n // 25))
    return write_fasta(path, [("chrR", seq[: n // 2] + "N" * 300 + seq[n // 2 :])])


def test_spans_of_k_are_masked_and_special_tokens_never(tmp_path):
    k = 4
    ids = torch.randint(5, 5 + 4**k, (8, 199))
    ids[:, 0], ids[:, -1] = CLS_ID, SEP_ID
    ids[0, 50:54] = UNK_ID
    inputs, labels = mask_spans(ids, k, 0.15, 5 + 4**k, torch.Generator().manual_seed(0))
    target = labels != IGNORE
    assert not target[:, 0].any() and not target[:, -1].any() and not target[0, 50:54].any()
    assert torch.equal(labels[target], ids[target])
    share = target.float().mean().item()
    assert 0.05 < share < 0.2
    # Masked positions come in runs: most masked tokens have a masked neighbour.
    neighbour = target[:, 1:] & target[:, :-1]
    assert neighbour.sum() > 0.6 * target.sum()
    assert (inputs[target] == MASK_ID).float().mean() > 0.6
    assert torch.equal(inputs[~target], ids[~target])


def test_sample_windows_respects_stride_cap_and_n(tmp_path):
    fasta = repetitive_genome(tmp_path / "g.fa", n=10_000)
    windows = sample_windows([fasta], 200, PretrainConfig(stride=100, max_windows=10_000))
    assert windows.shape[1] == 200 and not (windows == 4).any()
    assert 90 <= len(windows) <= 100  # 10.3 kb at stride 100, minus windows touching the N run
    capped = sample_windows([fasta], 200, PretrainConfig(stride=100, max_windows=20))
    assert len(capped) == 20


@pytest.mark.slow
def test_pretraining_lowers_the_mlm_loss_and_feeds_train_init(tmp_path):
    fasta = repetitive_genome(tmp_path / "g.fa")
    bundle = new_bundle([3], hidden_size=32, num_layers=1, num_heads=2)
    report = pretrain(bundle, [fasta], PretrainConfig(epochs=3, stride=50, lr=2e-3, batch_size=32))
    history = report["members"]["k3"]
    assert history[-1]["mlm_loss"] < history[0]["mlm_loss"]
    assert history[-1]["mlm_accuracy"] > 3 / 64  # well above the 1/64 chance of guessing a 3-mer

    runner = CliRunner()
    result = runner.invoke(app, ["pretrain", str(fasta), "-o", str(tmp_path / "pre"), "--k", "3", "--hidden", "16",
                                 "--heads", "2", "--epochs", "1", "--max-windows", "100", "-q", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    pre = load_bundle(tmp_path / "pre")
    assert pre.provenance["pretraining"]["windows"] == 100
    pos, neg = labelled_fastas(tmp_path, n=30)
    result = runner.invoke(app, ["train", "--pos", str(pos), "--neg", str(neg), "--init", str(tmp_path / "pre"),
                                 "-o", str(tmp_path / "fine"), "--epochs", "1", "-q"])
    assert result.exit_code == 0, result.output
    fine = load_bundle(tmp_path / "fine")
    assert fine.ks == [3] and fine.members[0].config.hidden_size == 16
    assert fine.provenance["initialised_from"]["sha256"] == pre.checksum


def test_a_bundle_with_a_bpe_member_is_refused_before_any_window_is_read(tmp_path):
    random_bundle(tmp_path / "bpe", ks=(3,), hidden=16, bpe=64)
    fasta = repetitive_genome(tmp_path / "g.fa")
    result = CliRunner().invoke(app, ["pretrain", str(fasta), "--init", str(tmp_path / "bpe"), "-o",
                                      str(tmp_path / "pre"), "-q", "--device", "cpu"])
    assert result.exit_code == 1 and not (tmp_path / "pre").exists()
    assert result.stderr.strip() == (f"ielmscan: error: pretraining takes k-mer members: member bpe of "
                                     f"{tmp_path / 'bpe'} reads BPE tokens")
