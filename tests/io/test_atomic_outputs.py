"""Tests for ielmscan.io.atomic_outputs: output sets and folders that appear complete or not at all, earlier
runs' outputs replaced and retired."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ielmscan.io.atomic_outputs as atomic_mod
from ielmscan.errors import OutputError
from ielmscan.io.atomic_outputs import (
    OutputFolder,
    OutputSet,
    remove_stale_temps,
    replace_together,
)
from ielmscan.io.writers import write_manifest

from tests.io.test_write_errors import Full

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
    monkeypatch.setattr(atomic_mod, "_can_create_files", lambda folder: False)
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


def test_earlier_run_outputs_are_those_a_manifest_or_a_predict_header_vouches_for(tmp_path):
    from ielmscan.io.atomic_outputs import earlier_run_outputs

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


# -- failures to write: named as the user knows the output, errno kept, no C library on the terminal ------------


def test_a_full_disk_while_writing_an_output_set_names_the_final_file(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(OutputError, match=r"cannot write .*run\.bed: No space left on device"):
        with OutputSet(tmp_path / "run", SUFFIXES) as out:
            with out.open(".bed") as bed:
                monkeypatch.setattr(bed, "_stream", Full())
                bed.write("chr1\t0\t10\n")
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone


def test_a_full_disk_in_an_output_folder_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"cannot write model bundle .*m: No space left on device"):
        with OutputFolder(tmp_path / "m", "model bundle", "ensemble.json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert list(tmp_path.iterdir()) == []

