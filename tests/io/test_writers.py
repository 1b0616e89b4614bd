"""Tests for ielmscan.io.writers: narrowPeak regions, bedGraph, manifest."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from ielmscan.errors import OutputError
from ielmscan.io.atomic_outputs import OutputSet
from ielmscan.io.writers import Region, regions_from_bins, write_bedgraph, write_manifest, write_narrowpeak

from tests.io.test_atomic_outputs import SUFFIXES


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


def test_the_manifest_is_named_by_its_final_name(tmp_path: Path) -> None:
    with pytest.raises(OutputError) as caught:
        with OutputSet(tmp_path / "run", SUFFIXES) as out:
            out.temp(".json").symlink_to("/dev/full")
            write_manifest(out.temp(".json"), {"a": 1})
    assert str(caught.value) == f"cannot write {tmp_path / 'run.json'}: No space left on device"

