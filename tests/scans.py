"""Comparing the outputs of two scans, as the tests of shards, resumed runs, workers and workflows do."""
from __future__ import annotations

from pathlib import Path

import pyBigWig


def assert_same_outputs(a: str | Path, b: str | Path) -> None:
    """PREFIX.bed byte for byte, and PREFIX.bw with the same chromosomes and every interval equal."""
    assert Path(f"{a}.bed").read_bytes() == Path(f"{b}.bed").read_bytes()
    with pyBigWig.open(f"{a}.bw") as x, pyBigWig.open(f"{b}.bw") as y:
        assert x.chroms() == y.chroms()
        assert all(x.intervals(c) == y.intervals(c) for c in x.chroms())
