"""Tests for ielmscan.io.writers: atomic output sets and folders, bigWig, narrowPeak, bedGraph, bgzip + tabix,
manifest."""
from __future__ import annotations

import errno
import gzip
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyBigWig
import pysam
import pytest

import ielmscan.io.writers as writers_mod
from ielmscan.errors import OutputError
from ielmscan.io.writers import (
    TABIX_MAX_LENGTH,
    BigWigWriter,
    OutputFolder,
    OutputSet,
    Region,
    check_tabix_lengths,
    regions_from_bins,
    remove_stale_temps,
    replace_together,
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
        with OutputSet(tmp_path / "run", SUFFIXES, force=True) as out:
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


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` (hidden ones too) with its bytes; None for a folder."""
    return {str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes()) for p in sorted(folder.rglob("*"))}


def write_set(prefix: Path, text: str, force: bool = False, suffixes=SUFFIXES) -> None:
    with OutputSet(prefix, suffixes, force=force) as out:
        for suffix in suffixes:
            out.temp(suffix).write_text(f"{text}{suffix}")


def test_an_earlier_set_is_replaced_only_with_force(tmp_path: Path) -> None:
    write_set(tmp_path / "run", "first")
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match=r"run\.bw already exists: --force replaces it"):
        write_set(tmp_path / "run", "second")
    assert snapshot(tmp_path) == before
    write_set(tmp_path / "run", "second", force=True)
    assert {name: text.decode() for name, text in snapshot(tmp_path).items()} == {
        f"run{s}": f"second{s}" for s in SUFFIXES}  # no backups or temporary files left


@pytest.mark.parametrize("failing_call", [1, 2, 3, 4, 5, 6])
def test_a_failed_rename_leaves_the_earlier_set_exactly_as_it_was(tmp_path: Path, monkeypatch, failing_call) -> None:
    # Three earlier finals moved aside, then three new files renamed in: a failure at any of the six.
    write_set(tmp_path / "run", "first")
    before = snapshot(tmp_path)
    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append((src, dst))
        if len(calls) == failing_call:
            raise OSError(errno.EIO, "Input/output error", str(src), None, str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OutputError, match="cannot create output .*run.* earlier outputs are unchanged"):
        write_set(tmp_path / "run", "second", force=True)
    monkeypatch.undo()
    assert snapshot(tmp_path) == before


def test_the_manifest_is_renamed_last(tmp_path: Path, monkeypatch) -> None:
    write_set(tmp_path / "run", "first")
    renamed_in = []
    real_replace = os.replace

    def watching_replace(src, dst):
        if Path(src).name.startswith(".run") and ".tmp-" in Path(src).name:
            renamed_in.append(Path(dst).name)
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", watching_replace)
    write_set(tmp_path / "run", "second", force=True)
    assert renamed_in == ["run.bw", "run.bed", "run.json"]


@pytest.mark.parametrize("blocker, message", [
    ("folder", "run.bed is a folder"),
    ("input", "would overwrite the input"),
])
def test_a_blocked_final_name_is_refused_before_any_work(tmp_path: Path, blocker, message) -> None:
    write_set(tmp_path / "run", "first", suffixes=(".bw", ".json"))
    if blocker == "folder":
        (tmp_path / "run.bed").mkdir()
        inputs = ()
    else:
        (tmp_path / "run.bed").write_text("chr1\t0\t10\n")
        inputs = (tmp_path / "run.bed",)
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match=message):
        OutputSet(tmp_path / "run", SUFFIXES, inputs=inputs, force=True)
    assert snapshot(tmp_path) == before


def test_a_folder_taking_a_final_name_during_the_run_stops_the_commit_before_any_rename(tmp_path: Path) -> None:
    write_set(tmp_path / "run", "first", suffixes=(".bw", ".json"))
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match="run.bed is a folder"):
        with OutputSet(tmp_path / "run", SUFFIXES, force=True) as out:
            for suffix in SUFFIXES:
                out.temp(suffix).write_text("second")
            (tmp_path / "run.bed").mkdir()
    assert snapshot(tmp_path) == {**before, "run.bed": None}
    (tmp_path / ".new.bed").write_text("second")
    (tmp_path / ".new.json").write_text("second")
    with pytest.raises(OutputError, match="run.bed: a folder of that name is in the way"):
        replace_together([(tmp_path / ".new.json", tmp_path / "run.json"),
                          (tmp_path / ".new.bed", tmp_path / "run.bed")])
    assert (tmp_path / "run.json").read_text() == "first.json"


def test_replace_together_retires_files_of_the_earlier_set(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("old a")
    (tmp_path / "stale").write_text("old")
    (tmp_path / ".a.new").write_text("new a")
    replace_together([(tmp_path / ".a.new", tmp_path / "a")], retire=[tmp_path / "stale"])
    assert snapshot(tmp_path) == {"a": b"new a"}


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporary_files_of_a_dead_run_are_removed_and_a_running_ones_kept(tmp_path: Path) -> None:
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = dead_pid()
        stale = [tmp_path / f".run.bed.tmp-{dead}-0123abcd", tmp_path / f".run.json.tmp-{dead}-89abcdef"]
        kept = [tmp_path / f".run.bed.tmp-{alive.pid}-0123abcd", tmp_path / f".run.bed.tmp-{os.getpid()}-0123abcd",
                tmp_path / f".other.bed.tmp-{dead}-0123abcd", tmp_path / f".run.bed.bak-{dead}-0123abcd"]
        for path in stale + kept:
            path.write_text("partial")
        assert sorted(remove_stale_temps(tmp_path, ["run.bed", "run.json"])) == sorted(stale)
        assert sorted(tmp_path.iterdir()) == sorted(kept)
        kept[1].unlink()
        # Making an output set of that prefix cleans up the same way, before anything else.
        stale[0].write_text("partial")
        write_set(tmp_path / "run", "new")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [*(p.name for p in (kept[0], kept[2], kept[3])), "run.bed", "run.bw", "run.json"])
    finally:
        alive.kill()
        alive.wait()


# -- OutputFolder ----------------------------------------------------------------------------------


def write_folder(folder: Path, files: dict[str, str], **kwargs) -> None:
    kwargs = {"kind": "thing", "marker": "thing.json", **kwargs}
    with OutputFolder(folder, **kwargs) as out:
        for name, text in files.items():
            (out.staging / name).write_text(text)


def owned_by_manifest(folder: Path) -> set[str]:
    return set(json.loads((folder / "thing.json").read_text()))


def test_a_new_folder_appears_whole_and_readable(tmp_path: Path) -> None:
    write_folder(tmp_path / "out", {"a.txt": "a", "thing.json": "[]"})
    assert snapshot(tmp_path) == {"out": None, "out/a.txt": b"a", "out/thing.json": b"[]"}
    assert (tmp_path / "out").stat().st_mode & 0o005 == 0o005


@pytest.mark.parametrize("present, kwargs, message", [
    ({"thing.json": "[]"}, {}, "thing .*out already exists: --force replaces it"),
    ({"mine.txt": "mine"}, {}, "the folder exists and is not a thing"),
    ({"mine.txt": "mine"}, {"force": True}, "the folder exists and is not a thing"),
    ({"mine.txt": "mine"}, {"shared": True}, "exists and is not empty: --force writes into it"),
    ({"thing.json": "[]", "a.txt": "mine"}, {"force": True, "owned": owned_by_manifest}, "a.txt is not part of"),
    ({"in.fa": ">x"}, {"force": True, "shared": True, "inputs": ["IN/in.fa"]}, "would overwrite the input"),
    ({}, {"inputs": ["IN"]}, "would overwrite the input"),
])
def test_an_existing_folder_is_written_only_by_the_rules(tmp_path: Path, present, kwargs, message) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for name, text in present.items():
        (out / name).write_text(text)
    kwargs["inputs"] = [str(p).replace("IN", str(out)) for p in kwargs.get("inputs", [])]
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match=message):
        write_folder(out, {"a.txt": "new", "in.fa": "new", "thing.json": "[]"}, **kwargs)
    assert snapshot(tmp_path) == before


def test_forced_rewrite_replaces_and_retires_only_the_earlier_outputs_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_folder(out, {"a.txt": "a1", "b.txt": "b1", "thing.json": '["a.txt", "b.txt"]'}, owned=owned_by_manifest)
    (out / "notes.txt").write_text("mine")
    write_folder(out, {"a.txt": "a2", "thing.json": '["a.txt"]'}, owned=owned_by_manifest, force=True)
    assert snapshot(tmp_path) == {"out": None, "out/a.txt": b"a2", "out/notes.txt": b"mine",
                                  "out/thing.json": b'["a.txt"]'}


def test_a_failed_folder_write_or_commit_leaves_the_earlier_folder_as_it_was(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    write_folder(out, {"a.txt": "a1", "thing.json": '["a.txt"]'}, owned=owned_by_manifest)
    before = snapshot(tmp_path)
    with pytest.raises(RuntimeError):
        with OutputFolder(out, "thing", "thing.json", force=True) as folder:
            (folder.staging / "a.txt").write_text("half")
            raise RuntimeError("plot failed")
    assert snapshot(tmp_path) == before
    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error", str(src))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OutputError, match="earlier outputs are unchanged"):
        write_folder(out, {"a.txt": "a2", "thing.json": "[]"}, owned=owned_by_manifest, force=True)
    monkeypatch.undo()
    assert snapshot(tmp_path) == before
    with pytest.raises(OutputError, match="thing.json was never written"):
        write_folder(tmp_path / "new", {"a.txt": "a"})
    assert snapshot(tmp_path) == before


def test_a_killed_runs_staging_folder_is_removed(tmp_path: Path) -> None:
    stale = tmp_path / f".out.tmp-{dead_pid()}-0123abcd"
    stale.mkdir()
    (stale / "a.txt").write_text("half")
    write_folder(tmp_path / "out", {"thing.json": "[]"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


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


def test_earlier_run_outputs_are_those_a_manifest_or_a_predict_header_vouches_for(tmp_path):
    from ielmscan.io.writers import earlier_run_outputs

    bed, bw, manifest, mine = (tmp_path / n for n in ("run.bed", "run.bw", "run.json", "mine.tsv"))
    bed.write_text("chr1\t0\t50\n")
    bw.write_bytes(b"\x00")
    manifest.write_text(json.dumps({"ielmscan_version": "0.1.0", "outputs": {"bed": str(bed), "bw": str(bw)}}))
    mine.write_text("my own table\n")
    table = tmp_path / "p.tsv"
    table.write_text("id\tlength\twindows\tprobability\tmean_probability\n")
    found = earlier_run_outputs([bed, bw, manifest, mine, table, tmp_path / "missing.bed"])
    assert found == {p.resolve() for p in (bed, bw, manifest, table)}
    manifest.write_text(json.dumps({"outputs": {"bed": str(bed)}}))  # not an ielmscan manifest
    assert earlier_run_outputs([bed, manifest]) == set()


# -- failures to write: named as the user knows the output, errno kept, no C library on the terminal ------------


def test_shown_name_turns_temporary_and_staging_names_back_into_final_ones(tmp_path: Path) -> None:
    assert writers_mod.shown_name(tmp_path / ".out.bw.tmp-123-0123abcd") == tmp_path / "out.bw"
    assert writers_mod.shown_name(Path(".model.tmp-9-89abcdef/k3.safetensors")) == Path("model/k3.safetensors")
    assert writers_mod.shown_name(Path("plain/out.bed")) == Path("plain/out.bed")


class Full(io.StringIO):
    """A text stream on a full disk."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    flush = write  # type: ignore[assignment]


def test_a_named_output_names_itself_and_keeps_the_errno() -> None:
    out = writers_mod.NamedOutput(Full(), "results/out.bed")
    with pytest.raises(OutputError, match=r"^cannot write results/out.bed: No space left on device$") as caught:
        out.write("chr1\t0\t10\n")
    assert caught.value.errno == errno.ENOSPC
    with pytest.raises(OutputError) as closed:
        writers_mod.NamedOutput(None, "x").write("a")
    assert closed.value.errno == errno.EBADF


def test_a_broken_pipe_stays_recognisable() -> None:
    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    with pytest.raises(OutputError) as caught:
        writers_mod.StandardOutput(Gone()).write("x")
    assert caught.value.errno == errno.EPIPE and "standard output" in str(caught.value)


def test_standard_output_follows_sys_stdout_and_counts_what_it_passes_on(monkeypatch) -> None:
    target = io.StringIO()
    before = writers_mod.StandardOutput.handed_over
    monkeypatch.setattr(sys, "stdout", writers_mod.StandardOutput(target))  # as the CLI installs it
    print("a line")
    writers_mod.StandardOutput().write("more\n")  # follows sys.stdout, looks through it: counted once
    assert target.getvalue() == "a line\nmore\n"
    assert writers_mod.StandardOutput.handed_over - before == len("a line\nmore\n")


def test_discarding_pending_output_leaves_a_replaced_stdout_alone(monkeypatch) -> None:
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stdout", writers_mod.StandardOutput(replaced))
    writers_mod.discard_pending_output()  # a test runner's stream: nothing to do, and no error
    print("still here")
    assert replaced.getvalue() == "still here\n"


def test_a_full_disk_while_writing_an_output_set_names_the_final_file(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(OutputError, match=r"cannot write .*run\.bed: No space left on device"):
        with OutputSet(tmp_path / "run", SUFFIXES) as out:
            with out.open(".bed") as bed:
                monkeypatch.setattr(bed, "_stream", Full())
                bed.write("chr1\t0\t10\n")
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone


def test_the_manifest_is_named_by_its_final_name(tmp_path: Path) -> None:
    with pytest.raises(OutputError) as caught:
        with OutputSet(tmp_path / "run", SUFFIXES) as out:
            out.temp(".json").symlink_to("/dev/full")
            write_manifest(out.temp(".json"), {"a": 1})
    assert str(caught.value) == f"cannot write {tmp_path / 'run.json'}: No space left on device"


def test_a_full_disk_in_an_output_folder_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"cannot write model bundle .*m: No space left on device"):
        with OutputFolder(tmp_path / "m", "model bundle", "ensemble.json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_bigwig_on_a_full_disk_is_an_output_error_with_libbigwig_kept_quiet(tmp_path: Path, capfd) -> None:
    temp = tmp_path / ".run.bw.tmp-1-0123abcd"
    temp.symlink_to("/dev/full")  # pyBigWig fails there as on a full disk
    with pytest.raises(OutputError, match=r"^cannot write bigWig .*run\.bw: No space left on device$"):
        with BigWigWriter(temp, SIZES) as bw:
            bw.add_bins("chr2", 0, 1000, 20, np.ones(50))
    assert capfd.readouterr().err == ""  # no "[bwClose] There was an error ..." on the terminal


# A bigWig that fills the disk part-way (a file-size limit stands in for the disk): every write failure must
# come back as an OutputError. libBigWig used to overrun its buffer on such a failure inside a call: a crash.
_FILLS_UP = """
import resource, signal, sys
import numpy as np
from ielmscan.io.writers import BigWigWriter
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    with BigWigWriter(sys.argv[1], [("chr1", 10_000_000), ("chr2", 1000)]) as bw:
        bw.add_bins("chr1", 0, 10_000_000, 50, np.random.default_rng(0).random(200_000))
        bw.add_bins("chr2", 0, 1000, 50, np.full(20, 0.5))
    print("complete")
except Exception as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE as a full disk")
@pytest.mark.parametrize("limit", [2_000, 30_000, 250_000, 700_000])
def test_a_bigwig_that_fills_the_disk_part_way_fails_cleanly(tmp_path: Path, limit: int) -> None:
    path = tmp_path / "t.bw"
    proc = subprocess.run([sys.executable, "-c", _FILLS_UP, str(path), str(limit)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]  # not killed by SIGSEGV
    assert proc.stdout.strip() == f"OutputError cannot write bigWig {path}: File too large"
    assert proc.stderr == ""


def test_a_bigwig_written_in_slices_reads_back_whole(tmp_path: Path) -> None:
    # More bins than one call takes: slices, the single entries between them, a short last bin.
    n = writers_mod._ENTRIES_PER_CALL * 2 + 7
    values = np.random.default_rng(1).random(n)
    values[5] = np.nan
    end = (n - 1) * 20 + 13
    with BigWigWriter(tmp_path / "t.bw", [("c", end)]) as bw:
        bw.add_bins("c", 0, end, 20, values)
    with pyBigWig.open(str(tmp_path / "t.bw")) as reader:
        got = reader.intervals("c")
    keep = np.isfinite(values)
    starts = np.arange(n) * 20
    assert [s for s, _, _ in got] == starts[keep].tolist()
    assert [e for _, e, _ in got] == np.minimum(starts + 20, end)[keep].tolist()
    assert np.allclose([v for _, _, v in got], values[keep], atol=1e-6)


def test_a_closed_stream_fails_only_when_written() -> None:
    out = writers_mod.StandardOutput(None)
    out.flush()  # a command that prints nothing does not care that stdout is closed
    assert out.closed and not hasattr(out, "isatty")  # what libraries that only look at it see (colorama)
    with out:
        pass
    with pytest.raises(OutputError, match="standard output: it is closed"):
        out.write("a result\n")


# -- bgzip + tabix ---------------------------------------------------------------------------------

TABIX = (".bed.gz", ".bed.gz.tbi", ".json")
LINES = ["chr2\t0\t50\ta\n", "chr2\t40\t90\tb\n", "chr10\t5\t15\tc\n", "chr10\t100\t200\td\n"]


def test_a_bgzip_output_and_its_tabix_index_are_committed_together_and_read_by_region(tmp_path: Path) -> None:
    with OutputSet(tmp_path / "run", TABIX) as out:
        with out.open(".bed.gz") as bed:
            bed.writelines(LINES)
        out.tabix_index(".bed.gz")
        write_manifest(out.temp(".json"), {"a": 1})
        assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []  # nothing before the commit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.bed.gz", "run.bed.gz.tbi", "run.json"]
    with pysam.TabixFile(str(tmp_path / "run.bed.gz")) as tabix:
        assert tabix.contigs == ["chr2", "chr10"]  # the file's order, not a sorted one
        assert list(tabix.fetch("chr2", 50, 60)) == ["chr2\t40\t90\tb"]  # 0-based, half-open: a ends at 50
        assert list(tabix.fetch("chr10", 0, 10)) == ["chr10\t5\t15\tc"]
    with gzip.open(tmp_path / "run.bed.gz", "rt") as fh:  # plain gzip readers (zcat) read it too
        assert fh.readlines() == LINES


def test_an_empty_bgzip_output_is_indexed(tmp_path: Path) -> None:
    with OutputSet(tmp_path / "run", TABIX[:2]) as out:
        with out.open(".bed.gz"):
            pass
        out.tabix_index(".bed.gz")
    with pysam.TabixFile(str(tmp_path / "run.bed.gz")) as tabix:
        assert tabix.contigs == []


def test_a_failed_run_leaves_neither_the_bgzip_file_nor_its_index(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with OutputSet(tmp_path / "run", TABIX) as out:
            with out.open(".bed.gz") as bed:
                bed.writelines(LINES)
            out.tabix_index(".bed.gz")
            raise RuntimeError("the scan failed")
    assert list(tmp_path.iterdir()) == []


def test_unsorted_lines_are_an_output_error_from_tabix(tmp_path: Path, capfd) -> None:
    with pytest.raises(OutputError, match=r"run\.bed\.gz\.tbi: the lines are not sorted"):
        with OutputSet(tmp_path / "run", TABIX) as out:
            with out.open(".bed.gz") as bed:
                bed.writelines(["chr1\t50\t60\n", "chr1\t0\t10\n"])
            out.tabix_index(".bed.gz")
    assert list(tmp_path.iterdir()) == []
    assert capfd.readouterr().err == ""  # htslib's own message is caught


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_bgzip_output_on_a_full_disk_names_the_final_file(tmp_path: Path, capfd) -> None:
    with pytest.raises(OutputError, match=r"cannot write .*run\.bed\.gz: No space left on device"):
        with OutputSet(tmp_path / "run", TABIX) as out:
            out.temp(".bed.gz").symlink_to("/dev/full")
            with out.open(".bed.gz") as bed:
                bed.write("chr1\t0\t10\n" * 300_000)
    assert list(tmp_path.iterdir()) == []
    assert capfd.readouterr().err == ""


def test_sequences_too_long_for_a_tbi_index_are_refused() -> None:
    check_tabix_lengths([("chr1", 248_956_422), ("chrX", TABIX_MAX_LENGTH)])
    with pytest.raises(OutputError, match="chr3B .* longer than a .tbi index"):
        check_tabix_lengths([("chr1", 1_000), ("chr3B", 830_829_764)])


def test_a_rerun_retires_the_earlier_runs_outputs_it_no_longer_writes(tmp_path):
    # First run: BED, bedGraph and manifest; the rerun writes a bgzip BED instead and no bedGraph.
    prefix = tmp_path / "run"
    with OutputSet(prefix, (".bed", ".bedGraph", ".json")) as first:
        for suffix in (".bed", ".bedGraph"):
            first.temp(suffix).write_text("chr1\t0\t10\n")
        write_manifest(first.temp(".json"), {"ielmscan_version": "x", "outputs": {
            s.lstrip("."): str(first.final(s)) for s in (".bed", ".bedGraph", ".json")}})
    (tmp_path / "run.notes").write_text("mine")  # the user's, listed by no manifest
    with OutputSet(prefix, (".bed.gz", ".json")) as second:
        second.temp(".bed.gz").write_bytes(b"new")
        write_manifest(second.temp(".json"), {"ielmscan_version": "x", "outputs": {
            s.lstrip("."): str(second.final(s)) for s in (".bed.gz", ".json")}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.bed.gz", "run.json", "run.notes"]


def test_a_rerun_never_retires_an_input_or_a_file_beside_another_prefix(tmp_path):
    prefix = tmp_path / "run"
    other = tmp_path / "other.bed"
    other.write_text("keep")
    with OutputSet(prefix, (".bed", ".json")) as first:
        first.temp(".bed").write_text("x")
        write_manifest(first.temp(".json"), {"ielmscan_version": "x", "outputs": {
            "bed": str(first.final(".bed")), "json": str(first.final(".json")), "other": str(other)}})
    with OutputSet(prefix, (".bed.gz", ".json"), inputs=[prefix.with_suffix(".bed")]) as second:
        second.temp(".bed.gz").write_bytes(b"new")
        write_manifest(second.temp(".json"), {"ielmscan_version": "x", "outputs": {}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.bed", "run.bed", "run.bed.gz", "run.json"]
