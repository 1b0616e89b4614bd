"""Tests for ielmscan.io.writers: atomic output sets, bigWig, narrowPeak, bedGraph, manifest."""
from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pyBigWig
import pytest

import ielmscan.io.writers as writers_mod
from ielmscan.errors import OutputError
from ielmscan.io.writers import (
    BigWigWriter,
    OutputSet,
    Region,
    regions_from_bins,
    write_bedgraph,
    write_manifest,
    write_narrowpeak,
)

SUFFIXES = (".bw", ".bed", ".json")

# -- OutputSet -------------------------------------------------------------------------------------


def test_output_set_commits_all_files_on_clean_exit(tmp_path: Path) -> None:
    with OutputSet(tmp_path / "run", SUFFIXES) as out:
        temps = {s: out.temp(s) for s in SUFFIXES}
        for suffix, path in temps.items():
            assert path.parent == tmp_path and path.name.startswith(".run" + suffix + ".tmp-")
            assert out.temp(suffix) == path  # stable
            path.write_text(suffix)
        assert not any(out.final(s).exists() for s in SUFFIXES)  # nothing final before the end
    for suffix in SUFFIXES:
        assert (tmp_path / ("run" + suffix)).read_text() == suffix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.bed", "run.bw", "run.json"]


def test_output_set_exception_leaves_no_new_or_changed_files(tmp_path: Path) -> None:
    (tmp_path / "run.bed").write_text("old results\n")
    with pytest.raises(RuntimeError, match="boom"):
        with OutputSet(tmp_path / "run", SUFFIXES) as out:
            for suffix in SUFFIXES:
                out.temp(suffix).write_text("partial")
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.bed"]
    assert (tmp_path / "run.bed").read_text() == "old results\n"


def test_output_set_temp_requested_but_never_written(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="never written"):
        with OutputSet(tmp_path / "run", SUFFIXES) as out:
            out.temp(".bw").write_text("x")
            out.temp(".bed")
    assert list(tmp_path.iterdir()) == []


def test_output_set_rejects_missing_or_unwritable_folder(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(OutputError, match=f"output folder {tmp_path / 'nope'} does not exist"):
        OutputSet(tmp_path / "nope" / "run", SUFFIXES)
    # Tests run as root, where chmod cannot make a folder read-only: make the write probe fail.
    monkeypatch.setattr(writers_mod, "_can_create_files", lambda folder: False)
    with pytest.raises(OutputError, match=f"output folder {tmp_path} is not writable"):
        OutputSet(tmp_path / "run", SUFFIXES)


def test_output_set_unknown_suffix(tmp_path: Path) -> None:
    out = OutputSet(tmp_path / "run", SUFFIXES)
    with pytest.raises(ValueError, match=".tsv"):
        out.temp(".tsv")


# -- bigWig ----------------------------------------------------------------------------------------

# Header order deliberately not sorted: readers must see the FASTA order.
SIZES = [("chr2", 1000), ("chr10", 95), ("chr1", 500)]


def test_bigwig_header_order_entries_and_nan_gaps(tmp_path: Path) -> None:
    path = tmp_path / "t.bw"
    with BigWigWriter(path, SIZES) as bw:
        bw.add_bins("chr2", 100, 160, 20, np.array([0.5, np.nan, 0.25], dtype=np.float32))
        bw.add_bins("chr2", 160, 200, 20, np.array([np.nan, np.nan]))
        bw.add_bins("chr10", 0, 95, 20, np.array([0.1, 0.2, 0.3, 0.4, 1.0]))  # last bin is 15 bases
        bw.add_bins("chr1", 0, 20, 20, np.array([np.inf]))
    reader = pyBigWig.open(str(path))
    try:
        assert list(reader.chroms().items()) == SIZES
        got = reader.intervals("chr2")
        assert [(s, e) for s, e, _ in got] == [(100, 120), (140, 160)]
        assert [v for _, _, v in got] == pytest.approx([0.5, 0.25])
        got = reader.intervals("chr10")
        assert [(s, e) for s, e, _ in got] == [(0, 20), (20, 40), (40, 60), (60, 80), (80, 95)]
        assert [v for _, _, v in got] == pytest.approx([0.1, 0.2, 0.3, 0.4, 1.0])
        assert not reader.intervals("chr1")
        values = reader.values("chr2", 0, 1000)
        assert math.isnan(values[120]) and values[100] == pytest.approx(0.5)
        assert reader.header()["nLevels"] >= 1  # zoom levels kept
        assert reader.header()["maxVal"] == pytest.approx(1.0)
    finally:
        reader.close()


@pytest.mark.parametrize(
    "calls",
    [
        [("chr10", 0, 20), ("chr2", 0, 20)],  # chromosome before an earlier-listed one
        [("chr2", 100, 140), ("chr2", 120, 160)],  # overlap
        [("chr2", 100, 140), ("chr2", 0, 20)],  # going back
    ],
)
def test_bigwig_out_of_order_is_rejected(tmp_path: Path, calls) -> None:
    with BigWigWriter(tmp_path / "t.bw", SIZES) as bw:
        first, second = calls
        bw.add_bins(*first, 20, np.zeros(-(-(first[2] - first[1]) // 20)))
        with pytest.raises(ValueError, match="out of order"):
            bw.add_bins(*second, 20, np.zeros(-(-(second[2] - second[1]) // 20)))


def test_bigwig_bad_bins(tmp_path: Path) -> None:
    with BigWigWriter(tmp_path / "t.bw", SIZES) as bw:
        with pytest.raises(ValueError, match="has 3 bins, got 2 values"):
            bw.add_bins("chr2", 0, 41, 20, np.zeros(2))
        with pytest.raises(ValueError, match="beyond chr10"):
            bw.add_bins("chr10", 80, 100, 20, np.zeros(1))
        with pytest.raises(ValueError, match="chrX"):
            bw.add_bins("chrX", 0, 20, 20, np.zeros(1))


def test_bigwig_unwritable_path_is_an_output_error(tmp_path: Path) -> None:
    # pyBigWig itself crashes the interpreter here.
    with pytest.raises(OutputError, match="missing"):
        BigWigWriter(tmp_path / "missing" / "t.bw", SIZES)


# -- regions and narrowPeak ------------------------------------------------------------------------


def test_regions_from_bins_coordinates_and_summits() -> None:
    # Interval [1000, 1175) in 9 bins of 20: the last bin is [1160, 1175), 15 bases long.
    scores = np.array([0.9, 0.95, 0.95, 0.2, 0.3, 0.7, np.nan, 0.8, 0.99], dtype=np.float32)
    regions = regions_from_bins("c", 1000, 1175, 20, scores, 0.6)
    assert [(r.chrom, r.start, r.end, r.summit) for r in regions] == [
        ("c", 1000, 1060, 30),  # summit: first 0.95 bin [1020, 1040), centre 1030
        ("c", 1100, 1120, 10),
        ("c", 1140, 1175, 27),  # clipped last bin [1160, 1175): centre 1167
    ]
    assert [r.max_score for r in regions] == pytest.approx([0.95, 0.7, 0.99])
    assert regions_from_bins("c", 0, 60, 20, np.array([np.nan, 0.1, 0.2]), 0.5) == []


def test_regions_from_bins_rejects_wrong_bin_count() -> None:
    with pytest.raises(ValueError, match="has 3 bins"):
        regions_from_bins("c", 0, 60, 20, np.zeros(4, dtype=np.float32), 0.5)


def test_narrowpeak_columns() -> None:
    regions = [
        Region("chr2", 100, 300, 0.87654, 42),
        Region("chr2", 500, 520, 1.0, 0),
        Region("chr10", 0, 20, 0.0004, 19),
    ]
    fh = io.StringIO()
    assert write_narrowpeak(fh, regions, name_prefix="s1", first_index=7) == 3
    text = fh.getvalue()
    assert text.endswith("\n") and "\r" not in text
    rows = [line.split("\t") for line in text.splitlines()]
    assert rows == [
        ["chr2", "100", "300", "s1_7", "877", ".", "0.8765", "-1", "-1", "42"],
        ["chr2", "500", "520", "s1_8", "1000", ".", "1.0000", "-1", "-1", "0"],
        ["chr10", "0", "20", "s1_9", "0", ".", "0.0004", "-1", "-1", "19"],
    ]
    assert write_narrowpeak(io.StringIO(), []) == 0


def test_narrowpeak_default_names_and_score_clipping() -> None:
    fh = io.StringIO()
    write_narrowpeak(fh, [Region("c", 0, 10, 1.2, 5), Region("c", 20, 30, -0.1, 5)])
    rows = [line.split("\t") for line in fh.getvalue().splitlines()]
    assert [r[3] for r in rows] == ["ielm_1", "ielm_2"]
    assert [r[4] for r in rows] == ["1000", "0"]


# -- bedGraph and manifest -------------------------------------------------------------------------


def test_bedgraph_skips_nan_and_clips_last_bin() -> None:
    fh = io.StringIO()
    n = write_bedgraph(fh, "c", 10, 55, 20, np.array([0.123456, np.nan, 1.0]))
    assert n == 2
    assert fh.getvalue() == "c\t10\t30\t0.1235\nc\t50\t55\t1.0000\n"


def test_manifest_round_trips_with_numpy_values(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    write_manifest(
        path,
        {"genome": Path("/g.fa"), "threshold": np.float32(0.5), "windows": np.int64(3), "nan": float("nan"),
         "chroms": [("chr1", 10)]},
    )
    text = path.read_text()
    assert text.endswith("}\n") and "\n  " in text  # indent 2, trailing newline
    assert json.loads(text) == {
        "genome": "/g.fa", "threshold": 0.5, "windows": 3, "nan": None, "chroms": [["chr1", 10]],
    }


def test_manifest_unwritable(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="m.json"):
        write_manifest(tmp_path / "missing" / "m.json", {})
