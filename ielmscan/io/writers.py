"""Output files: narrowPeak/BED regions, bigWig and bedGraph tracks, the run manifest.

All coordinates are 0-based, half-open (``[start, end)``), as BED and bigWig store them. Outputs are
written to temporary names and renamed at the end, all or nothing (:class:`OutputSet` for files beside a
prefix, :class:`OutputFolder` for a folder of files), so a run leaves either complete outputs or none; no
output ever replaces one of the run's inputs, nor an earlier output without ``force``.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pyBigWig

from ielmscan.errors import OutputError
from ielmscan.io.paths import can_create_files as _can_create_files
from ielmscan.io.paths import check_not_inputs, check_outputs, pid_running
from ielmscan.kernels.grid import bin_edges

__all__ = [
    "BigWigWriter",
    "OutputFolder",
    "OutputSet",
    "Region",
    "regions_from_bins",
    "remove_stale_temps",
    "replace_together",
    "write_bedgraph",
    "write_manifest",
    "write_narrowpeak",
]


_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.tmp-(?P<pid>[0-9]+)-[0-9a-f]{8}")


def _hidden_name(name: str, kind: str) -> str:
    """``.NAME.KIND-PID-XXXXXXXX``: a hidden name in the same folder, tagged with this process's id."""
    return f".{name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def remove_stale_temps(folder: Path, names: Iterable[str]) -> list[Path]:
    """Delete the temporary files ``.NAME.tmp-PID-XXXXXXXX`` of these final names left by a process that no
    longer runs (a run killed with SIGKILL, or by a power cut); return what was removed.

    A temporary file of a running process (this one included) is kept: that run is still writing it.
    """
    wanted = set(names)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match and match["name"] in wanted and not pid_running(int(match["pid"])):
            _remove(Path(entry.path))
            removed.append(Path(entry.path))
    return removed


def replace_together(moves: Sequence[tuple[Path, Path]], retire: Sequence[Path] = ()) -> None:
    """Rename each ``(temporary, final)`` pair, in order, so that every final changes or none does.

    Every final name is checked first (a folder in the way of a file, or the other way round, or a folder
    that accepts no new files, stops it before anything is renamed). Existing finals, and the files of an
    earlier set that the new one no longer has (``retire``), are then renamed aside to hidden backup names,
    the new files renamed in (the last pair last: put the manifest there) and the backups deleted. If a
    rename fails, the new files go back to their temporary names and the backups to their own, so an
    earlier complete set is left exactly as it was.
    """
    for tmp, final in moves:
        if not os.path.lexists(tmp):
            raise OutputError(f"output {final} was never written: no outputs were changed")
        in_the_way = os.path.lexists(final) and final.is_dir() != tmp.is_dir()
        if in_the_way:
            what = "folder" if final.is_dir() else "file"
            raise OutputError(f"cannot create output {final}: a {what} of that name is in the way")
    for parent in dict.fromkeys(final.parent for _, final in moves):
        if not _can_create_files(parent):
            raise OutputError(f"cannot create outputs in {parent}: the folder is not writable")
    backups: list[tuple[Path, Path]] = []
    done: list[tuple[Path, Path]] = []
    final = moves[0][1] if moves else Path()
    try:
        # The manifest (last) is moved aside first: from then on the earlier set no longer looks complete.
        for final in [*(f for _, f in reversed(moves)), *retire]:
            if os.path.lexists(final):
                backup = final.parent / _hidden_name(final.name, "bak")
                os.replace(final, backup)
                backups.append((final, backup))
        for tmp, final in moves:
            os.replace(tmp, final)
            done.append((tmp, final))
    except OSError as exc:
        lost = []
        for tmp, new in reversed(done):
            with contextlib.suppress(OSError):
                os.replace(new, tmp)
        for old, backup in reversed(backups):
            try:
                os.replace(backup, old)
            except OSError:
                lost.append(f"{old} is kept as {backup}")
        kept = f"; could not put back: {', '.join(lost)}" if lost else "; the earlier outputs are unchanged"
        raise OutputError(f"cannot create output {final}: {exc.strerror or exc}{kept}") from exc
    for _, backup in backups:
        _remove(backup)


PREDICT_HEADER = "id\tlength\twindows\tprobability\t"  # how an ielmscan predict table begins


def earlier_run_outputs(finals: Sequence[Path]) -> set[Path]:
    """Which of ``finals`` (resolved) an earlier ielmscan run wrote, so that a rerun may replace them.

    A run manifest (an existing ``.json`` among them holding ``ielmscan_version`` and ``outputs``) vouches
    for itself and the outputs it lists; a table that begins with the ``predict`` header vouches for
    itself. Anything else is the user's and needs ``--force``.
    """
    earlier: set[Path] = set()
    for final in finals:
        if not final.is_file():
            continue
        try:
            with final.open("rb") as fh:
                head = fh.read(1 << 20)
        except OSError:
            continue
        if final.suffix == ".json":
            try:
                manifest = json.loads(head)
            except ValueError:
                continue
            if isinstance(manifest, dict) and "ielmscan_version" in manifest and isinstance(manifest.get("outputs"), dict):
                earlier.add(final.resolve())
                earlier.update(Path(str(o)).resolve() for o in manifest["outputs"].values() if o != "-")
        elif head.startswith(PREDICT_HEADER.encode()):
            earlier.add(final.resolve())
    return earlier


class OutputSet:
    """A group of output files ``PREFIX + suffix`` that appear together or not at all.

    Write each output to :meth:`temp`; leaving the ``with`` block normally renames every temporary
    file that was asked for to its :meth:`final` name, all or nothing (:func:`replace_together`), in the
    order of ``suffixes`` (put the manifest last: its presence then marks a complete set). Leaving it
    with an exception deletes them all and leaves existing final files untouched.

    No final name may be one of ``inputs`` (compared as files: links and hard links count). An existing
    file is replaced only with ``force``, unless an earlier ielmscan run wrote it (:func:`earlier_run_outputs`):
    rerunning a command into the same prefix just replaces its results. Both are checked when the set is
    made, before any work, and again at the end. Temporary files of these outputs left by a killed run are
    removed.
    """

    def __init__(
        self,
        prefix: str | Path,
        suffixes: Sequence[str],
        inputs: Iterable[str | Path | None] = (),
        force: bool = False,
    ) -> None:
        self.prefix = Path(prefix)
        self.suffixes = tuple(suffixes)
        if not self.suffixes or len(set(self.suffixes)) != len(self.suffixes):
            raise ValueError(f"suffixes must be non-empty and distinct, got {list(self.suffixes)}")
        if not self.prefix.name:
            raise OutputError(f"output prefix {str(prefix)!r} has no file name part: use e.g. out/sample")
        self.folder = self.prefix.parent
        if not self.folder.is_dir():
            raise OutputError(
                f"output folder {self.folder} does not exist: create it or choose another output prefix"
            )
        if not _can_create_files(self.folder):
            raise OutputError(f"output folder {self.folder} is not writable: choose another output prefix")
        self.inputs = tuple(inputs)
        self.force = force
        remove_stale_temps(self.folder, [self.prefix.name + s for s in self.suffixes])
        self._check_finals([self.final(s) for s in self.suffixes])
        self._temps: dict[str, Path] = {}

    def _check_finals(self, finals: list[Path]) -> None:
        check_not_inputs(finals, self.inputs)
        earlier = earlier_run_outputs(finals)
        check_outputs([f for f in finals if f.resolve() not in earlier], self.inputs, self.force)

    def final(self, suffix: str) -> Path:
        """Where the output with ``suffix`` ends up."""
        self._check(suffix)
        return self.folder / (self.prefix.name + suffix)

    def temp(self, suffix: str) -> Path:
        """A hidden temporary path in the output folder (same path for repeated calls)."""
        self._check(suffix)
        if suffix not in self._temps:
            self._temps[suffix] = self.folder / _hidden_name(self.prefix.name + suffix, "tmp")
        return self._temps[suffix]

    def _check(self, suffix: str) -> None:
        if suffix not in self.suffixes:
            raise ValueError(f"suffix {suffix!r} is not one of {list(self.suffixes)}")

    def commit(self) -> None:
        """Rename every temporary file asked for to its final name, all or nothing."""
        moves = [(self._temps[s], self.final(s)) for s in self.suffixes if s in self._temps]
        try:
            self._check_finals([final for _, final in moves])
            replace_together(moves)
        except OutputError:
            self.discard()
            raise
        self._temps.clear()

    def discard(self) -> None:
        """Delete every temporary file; final files stay as they were."""
        for path in self._temps.values():
            with contextlib.suppress(OSError):
                path.unlink()
        self._temps.clear()

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


class OutputFolder:
    """A folder of output files that appear together or not at all: a model bundle, a data set, a report.

    Write every file into :attr:`staging` inside the ``with`` block; leaving it normally moves them into
    ``folder``: a new folder is renamed into place whole, an existing one gets its files renamed in with
    :func:`replace_together` (``marker`` last). ``marker`` is the file that marks a folder of this
    ``kind`` (``ensemble.json``, ``dataset.json``, ``metrics.json``). The rules, checked when the object
    is made (before any work) and again at the end:

    - no output may replace one of ``inputs``, with or without ``force``;
    - an empty or absent folder is written; one holding ``marker`` (an earlier output of this kind) is
      replaced only with ``force``: the files the earlier output owns (``owned(folder)``, read from its
      marker; by default the names this run writes) are replaced, or removed when the new output has no
      file of that name, and every other file in the folder is kept;
    - a non-empty folder without ``marker`` is written into with ``force`` when ``shared`` (its files are
      kept), and never otherwise ("it is not a model bundle");
    - no new file may take the name of an existing file that the earlier output does not own.

    Staging folders (``.NAME.tmp-PID-XXXXXXXX``) left by a killed run are removed.
    """

    def __init__(
        self,
        folder: str | Path,
        kind: str,
        marker: str,
        inputs: Iterable[str | Path | None] = (),
        force: bool = False,
        owned: Callable[[Path], set[str]] | None = None,
        shared: bool = False,
    ) -> None:
        self.folder = Path(folder)
        self.kind, self.marker, self.force, self.shared = kind, marker, force, shared
        self.inputs = tuple(inputs)
        self._owned = owned
        self._staging: Path | None = None
        resolved = self.folder.resolve()
        self._name, self._parent = resolved.name, resolved.parent
        if not self._name:
            raise OutputError(f"cannot write {kind} {self.folder}: choose a folder with a name")
        check_not_inputs([self.folder], self.inputs)
        if os.path.lexists(self.folder) and not self.folder.is_dir():
            raise OutputError(f"output {self.folder} exists and is not a folder: choose another output")
        if not self._parent.is_dir():
            raise OutputError(f"cannot write {kind} {self.folder}: folder {self._parent} does not exist")
        remove_stale_temps(self._parent, [self._name])
        if self.folder.is_dir():
            remove_stale_temps(self.folder, [self._name])
        self._check()

    def _earlier(self) -> set[str] | None:
        """The names an earlier output of this kind in the folder owns; None if the folder holds none."""
        if not (self.folder / self.marker).is_file():
            return None
        if self._owned is None:
            return {self.marker}
        try:
            names = set(self._owned(self.folder))
        except (OSError, ValueError, TypeError, KeyError):
            names = set()
        return {n for n in names if n and Path(n).name == n and n not in (".", "..")} | {self.marker}

    def _check(self, names: Iterable[str] = ()) -> list[Path]:
        """Check the rules for an output with these file names; return the earlier files to remove."""
        names = list(names)
        earlier = self._earlier()
        planned = [self.folder / n for n in (*names, *(earlier or ()))]
        check_not_inputs([self.folder, *planned], self.inputs)
        if not self.folder.is_dir():
            return []
        ours = self._staging.name if self._staging is not None else None
        present = [e.name for e in os.scandir(self.folder) if e.name != ours]
        if present and earlier is not None and not self.force:
            raise OutputError(f"{self.kind} {self.folder} already exists: --force replaces it, or choose another "
                              "output")
        if present and earlier is None:
            if not self.shared:
                raise OutputError(f"cannot write {self.kind} {self.folder}: the folder exists and is not a "
                                  f"{self.kind}; choose another output")
            if not self.force:
                raise OutputError(f"output folder {self.folder} exists and is not empty: --force writes into it "
                                  "(its other files are kept), or choose another output")
        replaceable = set(names) if self._owned is None else (earlier or set())
        for name in names:
            if name in present and name not in replaceable:
                raise OutputError(f"cannot write {self.kind} {self.folder}: {self.folder / name} is not part of "
                                  f"the earlier {self.kind}; move it or choose another output")
        return [self.folder / n for n in sorted((earlier or set()) - set(names)) if n in present]

    @property
    def staging(self) -> Path:
        """The folder to write the outputs into (inside the ``with`` block)."""
        if self._staging is None:
            raise ValueError("OutputFolder.staging is only there inside its with block")
        return self._staging

    def __enter__(self) -> OutputFolder:
        where = self.folder if self.folder.is_dir() else self._parent
        staging = where / _hidden_name(self._name, "tmp")
        try:
            staging.mkdir()  # not mkdtemp, whose private folder would become a bundle others cannot read
        except OSError as exc:
            raise OutputError(f"cannot write {self.kind} {self.folder}: {exc.strerror or exc} ({where})") from exc
        self._staging = staging
        return self

    def commit(self) -> None:
        """Move the staged files into the folder, all or nothing."""
        staging = self.staging
        try:
            names = sorted((p.name for p in staging.iterdir()), key=lambda n: (n == self.marker, n))
            if self.marker not in names:
                raise OutputError(f"{self.kind} {self.folder}: {self.marker} was never written; nothing was changed")
            _readable(staging)
            retire = self._check(names)
            if not self.folder.is_dir():
                try:  # a plain rename: it fails, replacing nothing, if a folder with files took the name
                    os.rename(staging, self.folder)
                except OSError as exc:
                    raise OutputError(f"cannot create {self.kind} {self.folder}: {exc.strerror or exc}") from exc
            else:
                replace_together([(staging / n, self.folder / n) for n in names], retire)
        except BaseException:
            self.discard()
            raise
        self.discard()

    def discard(self) -> None:
        """Delete the staging folder (after a commit, the empty one left behind)."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def _readable(folder: Path) -> None:
    """Give the staged files the permissions of ordinary new files (safetensors writes them private)."""
    umask = os.umask(0)
    os.umask(umask)
    for root, _, files in os.walk(folder):
        for name in files:
            os.chmod(Path(root) / name, 0o666 & ~umask)


def _bin_edges(start: int, end: int, stride: int, n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the stride bins of ``[start, end)``, checked against the number of values given."""
    starts, ends = bin_edges(start, end, stride)
    if n_values != len(starts):
        raise ValueError(f"[{start}, {end}) with stride {stride} has {len(starts)} bins, got {n_values} values")
    return starts, ends


_ENTRIES_PER_CALL = 65_536  # bins handed to pyBigWig per call


class BigWigWriter:
    """Stream stride-bin scores into a bigWig whose header lists ``chrom_sizes`` in the given order.

    Bins must arrive in header order and by increasing position. NaN (and infinite) bins become gaps:
    the file never holds NaN. Zoom levels are kept (pyBigWig's default), so browsers draw it quickly.
    """

    def __init__(self, path: str | Path, chrom_sizes: list[tuple[str, int]]) -> None:
        self.path = Path(path)
        if not chrom_sizes:
            raise ValueError("a bigWig needs at least one chromosome in its header")
        self._order = {name: i for i, (name, _) in enumerate(chrom_sizes)}
        if len(self._order) != len(chrom_sizes):
            raise ValueError("chromosome names in a bigWig header must be distinct")
        self._sizes = {name: int(size) for name, size in chrom_sizes}
        # pyBigWig crashes the interpreter on an unwritable path: find out first, in Python.
        try:
            with open(self.path, "wb"):
                pass
        except OSError as exc:
            raise OutputError(f"cannot write bigWig {self.path}: {exc.strerror}") from exc
        bw = pyBigWig.open(str(self.path), "w")
        if bw is None:
            raise OutputError(f"cannot write bigWig {self.path}")
        self._bw: Any = bw
        self._bw.addHeader([(name, int(size)) for name, size in chrom_sizes])
        self._last = (-1, 0)  # (header index, end) of the last add_bins call

    def add_bins(self, chrom: str, start: int, end: int, stride: int, values: np.ndarray) -> None:
        """Write scores for bins ``[start + b*stride, min(start + (b+1)*stride, end))`` (0-based, half-open)."""
        if self._bw is None:
            raise ValueError(f"bigWig {self.path} is closed")
        if chrom not in self._order:
            raise ValueError(f"chromosome {chrom!r} is not in the bigWig header of {self.path}")
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        starts, ends = _bin_edges(start, end, stride, values.size)
        if end > self._sizes[chrom]:
            raise ValueError(f"bins end at {end}, beyond {chrom} (length {self._sizes[chrom]})")
        key = self._order[chrom]
        last_key, last_end = self._last
        if key < last_key or (key == last_key and start < last_end):
            raise ValueError(
                f"bins {chrom}:[{start}, {end}) arrive out of order: bigWig entries must follow the "
                "header's chromosome order and increase in position without overlap"
            )
        self._last = (key, max(end, last_end) if key == last_key else end)
        # Runs of finite bins go in as fixed-step entries straight from NumPy, a slice at a time: no
        # Python list per bin, so memory stays flat however long the chromosome is. A last bin cut
        # short by the interval's end is written on its own with its true end.
        finite = np.flatnonzero(np.isfinite(values))
        if not finite.size:
            return
        breaks = np.flatnonzero(np.diff(finite) != 1)
        run_starts = np.r_[finite[0], finite[breaks + 1]]
        run_ends = np.r_[finite[breaks], finite[-1]] + 1
        for a, b in zip(run_starts.tolist(), run_ends.tolist()):
            full = b if ends[b - 1] - starts[b - 1] == stride else b - 1
            for s in range(a, full, _ENTRIES_PER_CALL):
                e = min(s + _ENTRIES_PER_CALL, full)
                self._bw.addEntries(chrom, int(starts[s]), values=values[s:e], span=stride, step=stride)
            if full < b:
                self._bw.addEntries([chrom], [int(starts[b - 1])], ends=[int(ends[b - 1])],
                                    values=[float(values[b - 1])])

    def close(self) -> None:
        """Finish the file (writes the index and zoom levels); safe to call twice."""
        if self._bw is not None:
            self._bw.close()
            self._bw = None

    def __enter__(self) -> BigWigWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True)
class Region:
    """A called region ``[start, end)`` (0-based, half-open); ``summit`` is a 0-based offset from start.

    ``p_value`` and ``q_value`` belong to the region's best bin; NaN where they were not computed.
    """

    chrom: str
    start: int
    end: int
    max_score: float
    summit: int
    p_value: float = math.nan
    q_value: float = math.nan


def regions_from_bins(
    interval_chrom: str,
    start: int,
    end: int,
    stride: int,
    bin_scores: np.ndarray,
    threshold: float,
) -> list[Region]:
    """Maximal runs of stride bins of ``[start, end)`` scoring ``>= threshold`` (0-based, half-open).

    NaN bins break runs. A region's summit is the centre of its first highest-scoring bin, given as an
    offset from the region's start.
    """
    # Imported here so that importing writers (e.g. for `--help`) does not load numba.
    from ielmscan.kernels.reduce import call_regions

    scores = np.ascontiguousarray(bin_scores, dtype=np.float32).reshape(-1)
    _bin_edges(start, end, stride, scores.size)
    b0, b1, best, summit_bin = call_regions(scores, float(threshold))
    b0 = np.asarray(b0, dtype=np.int64)
    b1 = np.asarray(b1, dtype=np.int64)
    summit_bin = np.asarray(summit_bin, dtype=np.int64)
    r_start = start + b0 * stride
    r_end = np.minimum(start + b1 * stride, end)
    s_start = start + summit_bin * stride
    s_len = np.minimum(s_start + stride, end) - s_start
    summit = s_start + s_len // 2 - r_start
    return [
        Region(interval_chrom, int(a), int(b), float(m), int(s))
        for a, b, m, s in zip(r_start.tolist(), r_end.tolist(), np.asarray(best).tolist(), summit.tolist())
    ]


def write_narrowpeak(
    fh: TextIO, regions: Iterable[Region], name_prefix: str = "ielm", first_index: int = 1
) -> int:
    """Write regions as narrowPeak (BED6+4, 0-based half-open); return how many lines were written.

    Columns: chrom, start, end, name ``{name_prefix}_{n}``, score = round(1000 * max probability)
    clipped to 0..1000, strand ``.``, signalValue = max probability (4 decimals), pValue and qValue as
    -log10 (3 decimals; -1 where not computed), summit offset from start.
    """
    count = 0
    for count, r in enumerate(regions, 1):
        if not math.isfinite(r.max_score):
            raise ValueError(f"region {r.chrom}:[{r.start}, {r.end}) has a non-finite score {r.max_score}")
        score = min(1000, max(0, int(round(1000 * r.max_score))))
        fh.write(
            f"{r.chrom}\t{r.start}\t{r.end}\t{name_prefix}_{first_index + count - 1}\t{score}\t.\t"
            f"{r.max_score:.4f}\t{_minus_log10(r.p_value)}\t{_minus_log10(r.q_value)}\t{r.summit}\n"
        )
    return count


def _minus_log10(value: float) -> str:
    """narrowPeak's p/q column: -log10 with 3 decimals, or -1 when not computed (NaN)."""
    if math.isnan(value):
        return "-1"
    return f"{-math.log10(max(value, 1e-300)) + 0.0:.3f}"


def write_bedgraph(
    fh: TextIO, chrom: str, start: int, end: int, stride: int, values: np.ndarray
) -> int:
    """Write stride-bin scores of ``[start, end)`` as bedGraph lines (0-based, half-open), skipping NaN.

    Returns how many lines were written.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    starts, ends = _bin_edges(start, end, stride, values.size)
    keep = np.isfinite(values)
    lines = [
        f"{chrom}\t{a}\t{b}\t{v:.4f}\n"
        for a, b, v in zip(starts[keep].tolist(), ends[keep].tolist(), values[keep].tolist())
    ]
    fh.writelines(lines)
    return len(lines)


def _jsonable(value: Any) -> Any:
    """Plain JSON types: NumPy scalars/arrays and paths converted, NaN/inf as null (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_manifest(path: str | Path, manifest: dict) -> None:
    """Write ``manifest`` as JSON (indent 2, trailing newline)."""
    text = json.dumps(_jsonable(manifest), indent=2, allow_nan=False) + "\n"
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write manifest {path}: {exc.strerror}") from exc
