"""The report of a genome evaluation for people: the text table and the report folder (JSON and plots)."""
from __future__ import annotations

import json

from ielmscan.learn.genome_report import REPORT_NAME, table, write_report

from tests.learn import test_genome_evaluation

# Fixtures: the hand-made genome's scan and its evaluation (see test_genome_evaluation's docstring).
scanned, report = test_genome_evaluation.scanned, test_genome_evaluation.report


def test_table_and_written_report(report, tmp_path):
    text = table(report)
    assert "17 scored bins" in text and "AUROC(GC)" in text and "GC-AUROC" in text
    assert "truth_excluding_control_bins" in text
    written = write_report(report, tmp_path / "eval")
    names = {p.name for p in written}
    assert names == {REPORT_NAME} | {f"{s}_{c}.png" for s in ("truth", "control", "truth_excluding_control_bins")
                                     for c in ("roc", "pr")}
    for path in written:
        assert path.exists()
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "eval" / REPORT_NAME).read_text())
    assert saved["truth"]["enrichment"]["called_bins"] == 8 and "curves" not in saved
    assert [p.name for p in tmp_path.iterdir()] == ["eval"]  # no staging folder left
