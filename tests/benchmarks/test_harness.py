"""benchmarks/harness.py and the entry point benchmarks/run.py: rows, timing, the table, the result file."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks import harness
from benchmarks.harness import REPO_ROOT, Row
from tests.bundles import random_bundle


def test_row_ratio_and_json():
    row = Row("s", "m", 6.0, "x", "ref", 3.0, ">= 2x", True)
    assert row.ratio == 2.0
    assert Row("s", "m", 6.0, "x").ratio is None and Row("s", "m", 6.0, "x", reference_value=0).ratio is None
    record = row.to_json()
    assert record["ratio"] == 2.0 and record["passed"] is True and record["metric"] == "m"


def test_human_units():
    assert harness.human(2.5e9, "FLOP/s") == "2.5 GFLOP/s"
    assert harness.human(1234.0, "min") == "1,234 min"
    assert harness.human(3.0, "x") == "3x"
    assert harness.human(12.5, "MiB") == "12.5 MiB"


def test_median_time_and_round_robin():
    calls = []
    seconds, times = harness.median_time(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and len(times) == 3 and seconds >= 0
    order = []
    times = harness.round_robin_times({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, 2)
    assert order == ["a", "b", "a", "b"] and {k: len(v) for k, v in times.items()} == {"a": 2, "b": 2}


def test_table_prints_verdicts_and_notes(capsys):
    harness.print_table([Row("enc", "rate", 2e6, "bases/s", "Python", 1e6, ">= 100x", False, note="n1"),
                         Row("mem", "peak", 12.0, "MiB")])
    out = capsys.readouterr().out
    assert "2 Mbases/s" in out and "Python 1 Mbases/s" in out and "2x" in out and "FAIL" in out
    assert "enc / rate: n1" in out


def test_results_never_overwrite_each_other(tmp_path):
    first = harness.write_results(tmp_path / "out", True, {"rows": []})
    second = harness.write_results(tmp_path / "out", True, {"rows": [1]})
    assert first != second and first.name.endswith("-quick.json")
    assert json.loads(second.read_text()) == {"rows": [1]}


@pytest.mark.parametrize("command", [["benchmarks/run.py"], ["-m", "benchmarks.run"]])
def test_entry_points(command):
    proc = subprocess.run([sys.executable, *command, "--help"], cwd=REPO_ROOT, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "--cascade-genome" in proc.stdout and "IELMSCAN_SHARED_DATA" in proc.stdout


def test_unknown_section_is_refused(capsys):
    from benchmarks.run import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--sections", "encoding,nope"])
    assert "unknown section" in capsys.readouterr().err
    args = parse_args(["--quick", "--sections", "encoding, scale"])
    assert args.sections == ["encoding", "scale"] and args.repeats == 2 and args.e2e_repeats == 2


def test_main_runs_the_chosen_sections_and_writes_the_record(tmp_path, capsys):
    from benchmarks.run import main

    random_bundle(tmp_path / "rand", ks=(3,), hidden=16)  # no first stage: the cascade section skips
    assert main(["--model", str(tmp_path / "rand"), "--device", "cpu", "--sections", "cascade,scale",
                 "--scale-mb", "0.01", "--out", str(tmp_path / "out")]) == 0
    (path,) = (tmp_path / "out").glob("*.json")
    record = json.loads(path.read_text())
    assert set(record) == {"machine", "arguments", "model", "rows", "details", "wall_s"}
    assert record["details"]["cascade"]["skipped"] == "model has no cascade"
    assert {row["section"] for row in record["rows"]} == {"scale"}
    assert record["arguments"]["sections"] == ["cascade", "scale"] and record["model"]["members"] == [3]
    assert "3.1 Gb genome at stride 50, extrapolated" in capsys.readouterr().out
