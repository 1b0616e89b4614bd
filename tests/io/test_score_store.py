"""The window-score store: what a resumed scan continues from and what merge joins must survive kills."""
from __future__ import annotations

import numpy as np
import pytest

from ielmscan.errors import InputError
from ielmscan.io.score_store import ChunkScores, ScoreStore, read_store

HEADER = {"key": {"window": 200, "stride": 50}, "intervals": [["chr1", 0, 1000]]}


def chunks() -> list[ChunkScores]:
    rng = np.random.default_rng(0)
    first = rng.random(7).astype(np.float32)
    first[2] = np.nan
    first[4] = -1.0  # the scan's marker of a window --fast kept from the ensemble
    return [ChunkScores(0, 0, first), ChunkScores(0, 7, rng.random(5).astype(np.float32)),
            ChunkScores(3, 0, np.zeros(0, np.float32))]


def assert_same(got: list[ChunkScores], want: list[ChunkScores]) -> None:
    assert [(c.interval, c.first_window) for c in got] == [(c.interval, c.first_window) for c in want]
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.scores, b.scores)  # NaN where NaN, bit-exact floats


def test_records_read_back_exactly_with_the_header(tmp_path):
    with ScoreStore.create(tmp_path / "s.scores", HEADER) as store:
        for chunk in chunks():
            store.append(chunk)
    header, records = read_store(tmp_path / "s.scores")
    assert header == HEADER
    assert_same(records, chunks())
    assert not list(tmp_path.glob(".*")), "no temporary file is left"


@pytest.mark.parametrize("cut", [1, 5, 20, 33])
def test_a_record_torn_by_a_kill_is_dropped_on_reopen_and_appending_continues(tmp_path, cut):
    path = tmp_path / "run.checkpoint"
    with ScoreStore.create(path, HEADER) as store:
        for chunk in chunks()[:2]:
            store.append(chunk)
    whole = path.read_bytes()
    path.write_bytes(whole[:-cut])  # the last record only partly reached the disk
    store, records = ScoreStore.reopen(path)
    assert_same(records, chunks()[:1])
    with store:
        store.append(chunks()[1])
    assert path.read_bytes() == whole
    assert_same(read_store(path)[1], chunks()[:2])


def test_a_flipped_byte_is_caught_by_the_checksum(tmp_path):
    path = tmp_path / "run.checkpoint"
    with ScoreStore.create(path, HEADER) as store:
        for chunk in chunks()[:2]:
            store.append(chunk)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    _, records = ScoreStore.reopen(path)
    assert_same(records, chunks()[:1])


def test_a_complete_store_is_required_where_one_is_read_whole(tmp_path):
    path = tmp_path / "shard.scores"
    with ScoreStore.create(path, HEADER) as store:
        store.append(chunks()[0])
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(InputError, match="cut short"):
        read_store(path)


@pytest.mark.parametrize("content, message", [(b"chr1\t0\t10\n", "not an ielmscan window-score file"),
                                              (b"ielmscan window scores v1\n\x05\x00", "header is damaged")])
def test_other_files_are_refused_by_name(tmp_path, content, message):
    path = tmp_path / "x.scores"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        read_store(path)
    assert str(path) in str(err.value)
