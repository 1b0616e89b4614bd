"""Scan plans and shards: every window in exactly one shard, whole chunks, balanced, valid when empty."""
from __future__ import annotations

import pytest

from ielmscan.errors import InputError
from ielmscan.inference.plan import ScanPlan, Shard
from ielmscan.io.intervals import Interval
from ielmscan.kernels.grid import WindowGrid

INTERVALS = [Interval("chr1", 0, 5_000), Interval("chr2", 0, 150), Interval("chr3", 100, 2_600)]
GRID = WindowGrid(200, 50)


def test_chunks_cover_every_window_once_in_run_order():
    plan = ScanPlan(INTERVALS, GRID, chunk_windows=16)
    assert plan.total_windows == GRID.count(5_000) + 0 + GRID.count(2_500)
    seen = [(c.interval, c.first_window + j) for c in plan.chunks for j in range(c.n_windows)]
    want = [(i, j) for i, iv in enumerate(INTERVALS) for j in range(GRID.count(len(iv)))]
    assert seen == want
    assert all(c.n_windows <= 16 for c in plan.chunks)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 40])
def test_shards_partition_the_chunks_balanced_to_one_chunk(count):
    plan = ScanPlan(INTERVALS, GRID, chunk_windows=8)
    shards = [plan.shard_chunks(Shard(i, count)) for i in range(count)]
    assert [c for shard in shards for c in shard] == plan.chunks  # each chunk once, shards in run order
    sizes = [sum(c.n_windows for c in shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 2 * 8
    if count > len(plan.chunks):
        assert 0 in sizes  # more shards than chunks: some hold nothing, and that is allowed


def test_a_chromosome_may_be_split_between_shards():
    plan = ScanPlan([Interval("chr1", 0, 20_000)], GRID, chunk_windows=10)
    first, second = plan.shard_chunks(Shard(0, 2)), plan.shard_chunks(Shard(1, 2))
    assert first and second and {c.interval for c in first} == {c.interval for c in second} == {0}


@pytest.mark.parametrize("text, shard", [("1/1", Shard(0, 1)), ("3/8", Shard(2, 8)), (" 2 / 2 ", Shard(1, 2))])
def test_shard_parse(text, shard):
    assert Shard.parse(text) == shard
    assert str(Shard.parse(text)) == text.replace(" ", "")


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "a/b", "2", "-1/3"])
def test_bad_shards_are_refused(text):
    with pytest.raises(InputError, match="shard"):
        Shard.parse(text)
