"""`ielmscan merge`: the outputs of one run from the shards of a split scan (`ielmscan scan --shard i/N`).

Each shard left PREFIX.scores (its chunks' window scores) and PREFIX.json (written last: the mark of a
complete shard). Merge checks that the shards are one complete set of one run (same genome, model and
parameters; shards 1..N each once; every chunk of the run scored exactly once), puts every interval's
window scores back together and writes the outputs through the scan's own writer, so that they equal a
single run's: regions crossing a shard boundary are one region, bins on a boundary average the windows
of both shards, q-values are computed over every bin of the run.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ielmscan.errors import InputError
from ielmscan.inference.calls import Caller, IntervalResult
from ielmscan.inference.outputs import key_difference, write_outputs
from ielmscan.inference.plan import ScanPlan
from ielmscan.io.intervals import Blacklist, Interval
from ielmscan.io.score_store import ChunkScores, read_store
from ielmscan.kernels.grid import WindowGrid
from ielmscan.model.bundle import Bundle, load_bundle


def read_shard(prefix: str) -> tuple[dict[str, Any], list[ChunkScores]]:
    """A complete shard's manifest and window scores; an incomplete or foreign one is an error naming it."""
    manifest_path, scores_path = Path(f"{prefix}.json"), Path(f"{prefix}.scores")
    if not manifest_path.is_file():
        raise InputError(f"shard {prefix}: no {manifest_path} (the shard did not finish, or the prefix is wrong)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"shard {prefix}: cannot read {manifest_path}: {exc}") from None
    if not isinstance(manifest, dict) or "shard" not in manifest or "key" not in manifest:
        raise InputError(f"{manifest_path} is not the manifest of a shard (made by `ielmscan scan --shard i/N`)")
    header, records = read_store(scores_path)
    if header.get("key") != manifest["key"]:
        raise InputError(f"shard {prefix}: {scores_path} and {manifest_path} come from different runs")
    return manifest, records


def run_merge(
    shard_prefixes: Sequence[str],
    prefix: str,
    model: str | Path | None = None,
    bedgraph: bool = False,
    force: bool = False,
    stdout: TextIO | None = None,
    tabix: bool = False,
) -> dict[str, Any]:
    """Merge the shards into PREFIX.bed, .bw (.bedGraph) and .json; returns the manifest.

    ``tabix`` writes the BED (and bedGraph) bgzip-compressed with tabix indexes, as `scan --tabix` does.
    The calibration (p- and q-values) comes from the model the shards were scored with: the bundle at the
    path they recorded, or ``model``; its sha256 must be theirs.
    """
    started = time.perf_counter()
    if not shard_prefixes:
        raise InputError("merge needs the prefixes of the shards (what each `ielmscan scan --shard i/N -o PREFIX` "
                         "was given)")
    shards = [(name, *read_shard(name)) for name in shard_prefixes]
    first_name, first, _ = shards[0]
    for name, manifest, _ in shards[1:]:
        problem = key_difference(first["key"], manifest["key"])
        if problem is None and manifest["shard"]["count"] != first["shard"]["count"]:
            problem = f"number of shards ({first['shard']['count']} here, {manifest['shard']['count']} there)"
        if problem is not None:
            raise InputError(f"shards {first_name} and {name} differ in {problem}: they are not one run")
    count = first["shard"]["count"]
    seen: dict[int, str] = {}
    for name, manifest, _ in shards:
        index = manifest["shard"]["index"]
        if index in seen:
            raise InputError(f"shard {index}/{count} is given twice ({seen[index]} and {name})")
        seen[index] = name
    missing = sorted(set(range(1, count + 1)) - set(seen))
    if missing:
        raise InputError(f"incomplete set: shard(s) {', '.join(f'{i}/{count}' for i in missing)} missing "
                         f"(give every shard's prefix)")
    bundle = _shard_model(first, model)
    key, parameters = first["key"], first["parameters"]
    grid = WindowGrid(parameters["window"], parameters["stride"])
    intervals = [Interval(chrom, start, end) for chrom, start, end in key["intervals"]]
    plan = ScanPlan(intervals, grid, grid.windows_within(parameters["chunk_size"]))
    by_interval = _place(plan, shards)
    # Which windows the blacklist kept from scoring follows from its intervals in the key (older keys: none).
    blacklist = Blacklist([Interval(chrom, start, end) for chrom, start, end in key.get("blacklist", [])])
    caller = Caller(grid, bundle.calibration, parameters["threshold"], first["calls"]["rule"])
    description = {name: first[name] for name in ("genome", "model", "parameters", "calls", "key")}
    wall = sum(m["wall_seconds"] for _, m, _ in shards)
    wait = sum(m["input_wait_seconds"] for _, m, _ in shards)

    def results() -> Iterator[IntervalResult]:
        for index, interval in enumerate(intervals):
            scores = np.full(plan.windows_in(index), np.nan, dtype=np.float32)
            for record in by_interval.get(index, []):
                record.put_into(scores)
            yield caller.finish(interval, scores, blacklist.windows_in(interval, grid))

    inputs = [path for name in shard_prefixes for path in (Path(f"{name}.json"), Path(f"{name}.scores"))]
    return write_outputs(prefix, results(), caller, description, sum(len(i) for i in intervals),
                         lambda: (wall + time.perf_counter() - started, wait), inputs=[*inputs, *bundle.folders()],
                         bedgraph=bedgraph, tabix=tabix, force=force, stdout=stdout)


def _shard_model(manifest: dict[str, Any], model: str | Path | None) -> Bundle:
    recorded = manifest["model"]
    bundle = load_bundle(model if model is not None else recorded["path"])
    if bundle.checksum != recorded["sha256"]:
        raise InputError(f"model {bundle.path} is not the one the shards were scored with (sha256 differs): "
                         "give that model with --model")
    return bundle


def _place(plan: ScanPlan, shards: list[tuple[str, dict[str, Any], list[ChunkScores]]]) -> dict[int, list[ChunkScores]]:
    """Every chunk of the run from exactly one shard, by interval; a gap or an overlap is an error."""
    want = {(c.interval, c.first_window): c.n_windows for c in plan.chunks}
    found: dict[tuple[int, int], str] = {}
    by_interval: dict[int, list[ChunkScores]] = {}
    for name, _, records in shards:
        for record in records:
            where = (record.interval, record.first_window)
            if want.get(where) != len(record.scores):
                raise InputError(f"shard {name} holds window scores that are not a chunk of this run")
            if where in found:
                raise InputError(f"shards {found[where]} and {name} both scored the same windows")
            found[where] = name
            by_interval.setdefault(record.interval, []).append(record)
    if len(found) != len(want):
        raise InputError(f"the shards lack {len(want) - len(found)} chunk(s) of the run: a shard is incomplete")
    return by_interval
