import io

import numpy as np
import pytest
from typer.testing import CliRunner

from ielmscan.model.bundle import load_bundle
from ielmscan.cli import app
from ielmscan.inference.devices import Precision
from ielmscan.inference.scorer import ScorerSettings
from ielmscan.inference.predict import predict_records, write_tsv
from ielmscan.io.fasta import write_fasta

from tests.bundles import gc_bundle, gc_probability

FP32 = ScorerSettings(device="cpu", precision=Precision.fp32)


@pytest.fixture
def bundle(tmp_path):
    gc_bundle(tmp_path / "gc", threshold=0.5)
    return load_bundle(tmp_path / "gc")


def test_exact_long_short_and_n_records(bundle):
    records = [
        ("exact", "GC" * 100),
        ("long", "A" * 150 + "G" * 150),
        ("short", "ACGT" * 25),
        ("gappy", "A" * 100 + "N" * 50 + "C" * 50),
        ("partly", "N" * 100 + "G" * 200),
    ]
    out = {p.name: p for p in predict_records(bundle, records, FP32)}
    assert out["exact"].probability == pytest.approx(gc_probability(1.0), abs=1e-5)
    assert out["exact"].windows == 1 and out["exact"].best_offset == 0
    long = out["long"]
    assert long.windows == 3 and long.best_offset == 100
    assert long.probability == pytest.approx(gc_probability(0.75), abs=1e-5)
    assert long.mean_probability == pytest.approx(float(np.mean(gc_probability([0.25, 0.5, 0.75]))), abs=1e-5)
    assert long.members == [pytest.approx(long.probability, abs=1e-6)]
    assert np.isnan(out["short"].probability) and "shorter than the 200-bp window" in out["short"].note
    assert np.isnan(out["gappy"].probability) and "N" in out["gappy"].note
    # Only the flush-end window [100, 300) is free of N.
    assert out["partly"].windows == 1 and out["partly"].best_offset == 100 and "skipped" in out["partly"].note


def test_tsv_has_a_header_member_columns_and_labels(bundle):
    buf = io.StringIO()
    rows = write_tsv(buf, bundle, predict_records(bundle, [("hi", "G" * 200), ("lo", "A" * 200), ("s", "A")], FP32))
    lines = [line.split("\t") for line in buf.getvalue().splitlines()]
    assert rows == 3
    assert lines[0] == ["id", "length", "windows", "probability", "mean_probability", "best_offset", "p_k1",
                        "label", "note"]
    assert lines[1][-2] == "enhancer" and lines[2][-2] == "non-enhancer" and lines[3][-2] == "NA"
    assert lines[3][3] == "NA"


def test_cli_predict_to_file(tmp_path, bundle):
    fasta = write_fasta(tmp_path / "q.fa", [("a", "GC" * 100), ("b", "AT" * 150)])
    result = CliRunner().invoke(app, ["predict", str(fasta), "--model", str(bundle.path), "-o", str(tmp_path / "p.tsv")])
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "p.tsv").read_text().splitlines()
    assert len(rows) == 3 and rows[1].startswith("a\t200\t1\t")
    result = CliRunner().invoke(app, ["predict", str(fasta), "--model", str(bundle.path)])
    assert result.stdout.splitlines()[2].startswith("b\t300\t")
    threaded = CliRunner().invoke(app, ["predict", str(fasta), "--model", str(bundle.path), "--threads", "3"])
    assert threaded.exit_code == 0 and threaded.stdout == result.stdout  # same table whatever the thread count


def test_two_stage_bundle_labels_strong_weak_and_non_enhancer(tmp_path):
    from ielmscan.model.bundle import attach_layer2, save_bundle

    # Layer 1 calls GC-rich windows enhancers; layer 2 calls only the very GC-rich ones strong.
    gc_bundle(tmp_path / "l1", threshold=0.5)
    gc_bundle(tmp_path / "l2", threshold=float(gc_probability(0.9)))
    save_bundle(attach_layer2(load_bundle(tmp_path / "l1"), load_bundle(tmp_path / "l2")), tmp_path / "both")
    both = load_bundle(tmp_path / "both")
    records = [("strong", "G" * 200), ("weak", "G" * 150 + "A" * 50), ("none", "A" * 200)]
    buf = io.StringIO()
    write_tsv(buf, both, predict_records(both, records, FP32))
    rows = [line.split("\t") for line in buf.getvalue().splitlines()]
    assert rows[0][6:9] == ["p_k1", "p_strong", "label"]
    assert [r[8] for r in rows[1:]] == ["strong", "weak", "non-enhancer"]
    assert float(rows[2][7]) == pytest.approx(gc_probability(0.75), abs=1e-4)
    result = CliRunner().invoke(app, ["model", "combine", str(tmp_path / "l1"), str(tmp_path / "l2"),
                                      "-o", str(tmp_path / "cli")])
    assert result.exit_code == 0 and load_bundle(tmp_path / "cli").layer2 is not None


def test_cli_predict_reads_standard_input(tmp_path, bundle):
    records = [("a", "GC" * 100), ("b", "AT" * 150)]
    fasta = write_fasta(tmp_path / "q.fa", records)
    from_file = CliRunner().invoke(app, ["predict", str(fasta), "--model", str(bundle.path)])
    from_stdin = CliRunner().invoke(app, ["predict", "-", "--model", str(bundle.path)], input=fasta.read_bytes())
    assert from_stdin.exit_code == 0, from_stdin.output
    assert from_stdin.stdout == from_file.stdout and len(from_stdin.stdout.splitlines()) == 3


def test_cli_predict_missing_or_bad_fasta_is_one_line(tmp_path, bundle):
    (tmp_path / "q.fa.gz").write_bytes(b"\x1f\x8b\x08\x00")
    for name, words in [("nope.fa", "nope.fa"), ("q.fa.gz", "gzip-compressed")]:
        result = CliRunner().invoke(app, ["predict", str(tmp_path / name), "--model", str(bundle.path)])
        assert result.exit_code == 1 and words in result.stderr
        assert result.stderr.startswith("ielmscan: error: ") and len(result.stderr.splitlines()) == 1
