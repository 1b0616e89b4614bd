"""`ielmscan motifs` as a user meets it: options and their defaults, one-line errors, a run end to end."""
from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from ielmscan.cli import app
from ielmscan.io.motif_formats import read_meme, read_table
from tests.bundles import random_bundle
from tests.learn.test_motifs import planted_fastas

runner = CliRunner()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_motifs")
    pos, neg, _, _ = planted_fastas(folder)
    random_bundle(folder / "bundle")
    return folder, ["--pos", str(pos), "--neg", str(neg), "--model", str(folder / "bundle")]


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ielmscan: error: "), result.stderr
    return lines[0]


def test_help_lists_every_option_with_iEnhancer_ELMs_defaults():
    result = runner.invoke(app, ["motifs", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for option, default in [("--min-length", "5"), ("--max-gap", "1"), ("--max-q", "0.005"), ("--width", "10"),
                            ("--min-instances", "11"), ("--jaspar", "JASPAR2026"), ("--match-q", "0.05"),
                            ("--top", "3")]:
        assert option in text and f"[default: {default}]" in text, option
    for option in ("--pos", "--neg", "--output", "--model", "--member", "--device", "--force", "--quiet"):
        assert option in text


def test_a_run_writes_a_report_that_parses(inputs):
    folder, args = inputs
    out = folder / "out"
    result = runner.invoke(app, ["motifs", *args, "-o", str(out), "--jaspar", "none", "--min-instances", "2",
                                 "--max-q", "1"])
    assert result.exit_code == 0, result.output
    assert "40 positives, 40 negatives" in result.stdout and "wrote" in result.stderr
    manifest = json.loads((out / "motifs.json").read_text())
    rows = read_table(out / "motifs.tsv")
    assert manifest["counts"]["motifs"] == len(rows) and manifest["params"]["max_q"] == 1.0
    assert manifest["database"] is None and manifest["model"]["members"] == ["k3", "k4"]
    motifs = read_meme(out / "motifs.meme") if rows else []
    assert [m.name for m in motifs] == [r["motif"] for r in rows]
    assert all((out / f"{r['motif']}.png").is_file() for r in rows)
    assert set(manifest["outputs"]) | {"motifs.json"} == {p.name for p in out.iterdir()}
    again = runner.invoke(app, ["motifs", *args, "-o", str(out), "--jaspar", "none"])
    assert "already exists: --force replaces it" in one_line_error(again, 1)
    quiet = runner.invoke(app, ["motifs", *args, "-o", str(out), "--jaspar", "none", "--force", "-q"])
    assert quiet.exit_code == 0 and quiet.stdout == ""


def test_one_member_can_be_analysed_and_an_unknown_one_is_named(inputs):
    folder, args = inputs
    ok = runner.invoke(app, ["motifs", *args, "-o", str(folder / "k4"), "--jaspar", "none", "--member", "k4"])
    assert ok.exit_code == 0, ok.output
    assert json.loads((folder / "k4" / "motifs.json").read_text())["attention"] == "k4"
    bad = runner.invoke(app, ["motifs", *args, "-o", str(folder / "k9"), "--jaspar", "none", "--member", "k9"])
    assert "no member 'k9'" in one_line_error(bad, 1) and not (folder / "k9").exists()


def test_database_problems_are_one_line_before_any_work(inputs, monkeypatch):
    folder, args = inputs
    missing = runner.invoke(app, ["motifs", *args, "-o", str(folder / "x"), "--jaspar", str(folder / "no.meme")])
    assert "no such file" in one_line_error(missing, 2)
    pytest.importorskip("pyjaspar")
    unknown = runner.invoke(app, ["motifs", *args, "-o", str(folder / "x"), "--jaspar", "JASPAR1999"])
    assert "not a file, nor a JASPAR release" in one_line_error(unknown, 1)
    monkeypatch.setitem(sys.modules, "memelite", None)
    absent = runner.invoke(app, ["motifs", *args, "-o", str(folder / "x")])
    assert "pip install 'ielmscan[motifs]'" in one_line_error(absent, 1)
    assert not (folder / "x").exists()


@pytest.mark.slow  # JASPAR from pyjaspar, and Tomtom compiled on first use
def test_a_run_compares_with_jaspar(inputs):
    pytest.importorskip("pyjaspar")
    pytest.importorskip("memelite")
    folder, args = inputs
    out = folder / "jaspar"
    result = runner.invoke(app, ["motifs", *args, "-o", str(out), "--min-instances", "2", "--max-q", "1",
                                 "--top", "2"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "motifs.json").read_text())
    assert manifest["database"] == "JASPAR2026 CORE vertebrates" and manifest["database_motifs"] > 800
    rows, matches = read_table(out / "motifs.tsv"), read_table(out / "matches.tsv")
    assert len(matches) == 2 * len(rows)
    assert all(r["best_match"].startswith("MA") and r["known"] in ("yes", "no") for r in rows)
    assert manifest["counts"]["known"] == sum(r["known"] == "yes" for r in rows)
