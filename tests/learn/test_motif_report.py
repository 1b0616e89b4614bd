"""`ielmscan motifs`' report: what the folder holds, read back, and how it replaces an earlier report."""
from __future__ import annotations

import json

import numpy as np
import pytest

import ielmscan.learn.motif_report as motif_report
from ielmscan.errors import OutputError
from ielmscan.io.motif_formats import MemeMotif, read_meme, read_table, write_meme
from ielmscan.learn.motif_report import run_motifs, summary, write_report
from ielmscan.learn.motifs import MotifParams
from tests.bundles import random_bundle
from tests.learn.test_motifs import PLANTED, planted_fastas

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """FASTA files of planted positives and plain negatives, their hand-made scores, and a small bundle."""
    folder = tmp_path_factory.mktemp("motif_report")
    pos, neg, positives, scores = planted_fastas(folder)
    return folder, pos, neg, positives, scores, random_bundle(folder / "bundle", ks=(3,), hidden=16)


@pytest.fixture()
def hand_scores(planted, monkeypatch):
    """The attention step replaced by the hand-made scores (high on the planted motif)."""
    scores = planted[4]
    monkeypatch.setattr(motif_report, "attention_scores", lambda bundle, seqs, **_: scores)


def test_the_report_holds_the_motif_its_instances_logo_and_counts(planted, hand_scores, tmp_path):
    _, pos, neg, positives, _, bundle = planted
    report = run_motifs(bundle, pos, neg, MotifParams(min_instances=10))
    out = tmp_path / "report"
    written = write_report(report, out, [pos, neg])
    assert sorted(p.name for p in written) == sorted(["motifs.meme", "motifs.tsv", "matches.tsv", "instances.tsv",
                                                      "motif_1.png", "motifs.json"])
    (meme,) = read_meme(out / "motifs.meme")
    motif = report.result.motifs[0]
    assert meme.name == "motif_1" and meme.nsites == 40 and PLANTED in meme.alt.upper()
    np.testing.assert_allclose(meme.probabilities, motif.probabilities, atol=1e-6)
    (row,) = read_table(out / "motifs.tsv")
    assert (row["motif"], row["key"], row["instances"], row["sequences"], row["width"]) == (
        "motif_1", PLANTED, "40", "40", "10")
    assert float(row["q_value"]) < 1e-10 and float(row["fold_enrichment"]) == pytest.approx(2.0)
    assert row["best_match"] == "" and row["known"] == ""  # not compared
    instances = read_table(out / "instances.tsv")
    assert len(instances) == 40
    for inst in instances:
        seq = positives[int(inst["sequence"][1:])]
        assert seq[int(inst["start"]) : int(inst["end"])] == inst["window"] and inst["window"][1:9] == PLANTED
    assert read_table(out / "matches.tsv") == []
    assert (out / "motif_1.png").read_bytes()[:8] == PNG
    manifest = json.loads((out / "motifs.json").read_text())
    assert manifest["counts"]["motifs"] == 1 and manifest["counts"]["known"] is None
    assert manifest["params"]["min_instances"] == 10 and manifest["attention"] == "mean of all members"
    assert "40 positives, 40 negatives" in summary(report) and "motif_1" in summary(report)


def test_an_earlier_report_is_replaced_only_with_force_and_loses_its_stale_logos(planted, hand_scores, tmp_path):
    _, pos, neg, _, _, bundle = planted
    out = tmp_path / "report"
    write_report(run_motifs(bundle, pos, neg, MotifParams(min_instances=10)), out)
    (out / "notes.txt").write_text("mine")
    none = run_motifs(bundle, pos, neg, MotifParams(min_instances=100))
    with pytest.raises(OutputError, match="already exists: --force replaces it"):
        write_report(none, out)
    write_report(none, out, force=True)
    assert not (out / "motif_1.png").exists() and (out / "notes.txt").read_text() == "mine"
    assert read_table(out / "motifs.tsv") == [] and json.loads((out / "motifs.json").read_text())["counts"]["motifs"] == 0


def test_a_report_never_replaces_an_input(planted, hand_scores, tmp_path):
    _, pos, neg, _, _, bundle = planted
    out = tmp_path / "report"
    out.mkdir()
    known = write_meme(out / "motifs.meme", [MemeMotif("M1", "", np.eye(4))])  # e.g. the --jaspar file
    with pytest.raises(OutputError):
        write_report(run_motifs(bundle, pos, neg, MotifParams(min_instances=10)), out, [pos, neg, known], force=True)
    assert read_meme(known)[0].name == "M1" and sorted(p.name for p in out.iterdir()) == ["motifs.meme"]


@pytest.mark.slow  # memelite compiles Tomtom with Numba on first use
def test_a_planted_known_motif_is_matched_and_counted(planted, hand_scores, tmp_path):
    pytest.importorskip("memelite")
    _, pos, neg, _, _, bundle = planted
    rng = np.random.default_rng(3)
    known = [MemeMotif("PLANTED.1", "CREB-like", np.stack([np.eye(4)["ACGT".index(b)] * 0.94 + 0.015
                                                           for b in PLANTED]))]
    known += [MemeMotif(f"RAND.{i}", "random", rng.dirichlet(np.ones(4) * 0.5, int(rng.integers(6, 16))))
              for i in range(40)]
    database = write_meme(tmp_path / "known.meme", known)
    report = run_motifs(bundle, pos, neg, MotifParams(min_instances=10), database=database, top=2)
    best = report.result.motifs[0].matches[0]
    # the planted 8-mer sits one column into the 10-wide motif (it is its own reverse complement)
    assert (best.target_id, best.target_name, best.offset, best.overlap) == ("PLANTED.1", "CREB-like", -1, 8)
    assert best.similarity > 0.9 and best.q_value < 0.05
    assert report.known() == 1 and report.shuffled_known is not None
    out = tmp_path / "report"
    write_report(report, out, [pos, neg, database])
    assert [(r["rank"], r["target_id"]) for r in read_table(out / "matches.tsv")][0] == ("1", "PLANTED.1")
    assert read_table(out / "motifs.tsv")[0]["known"] == "yes"
    assert json.loads((out / "motifs.json").read_text())["counts"]["known"] == 1
