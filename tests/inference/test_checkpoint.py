"""PREFIX.checkpoint: finished chunks saved and put back; a checkpoint of another run is refused by what differs.

(Killing and resuming whole scans: tests/inference/test_resume.py.)
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

from ielmscan.errors import InputError, OutputError
from ielmscan.inference.calls import REJECTED
from ielmscan.inference.checkpoint import Checkpoint
from ielmscan.io.score_store import ChunkScores

KEY = {
    "genome": {"bytes": 10}, "model_sha256": "abc", "intervals": [["chr1", 0, 1000]], "chrom_sizes": [["chr1", 1000]],
    "parameters": {"window": 200, "stride": 50, "device": "cpu"}, "blacklist": [["chr1", 100, 200]],
}


def saved(tmp_path, key=KEY) -> Checkpoint:
    checkpoint = Checkpoint(str(tmp_path / "run"), key, resume=False, force=False)
    checkpoint.open(())
    checkpoint.add(ChunkScores(0, 0, np.array([0.5, REJECTED, 0.25, np.nan], dtype=np.float32)))
    checkpoint.add(ChunkScores(0, 4, np.array([0.75], dtype=np.float32)))
    checkpoint.tell_kept()  # as after a kill: the file stays
    return checkpoint


def test_saved_chunks_are_put_back_in_place(tmp_path):
    saved(tmp_path)
    again = Checkpoint(str(tmp_path / "run"), KEY, resume=True, force=False)
    again.open(())
    scores = np.full(6, np.nan, dtype=np.float32)
    again.restore(0, scores)
    # Scored, --fast-rejected and skipped windows come back as they were: the counts are read off them.
    np.testing.assert_array_equal(scores, [0.5, REJECTED, 0.25, np.nan, 0.75, np.nan])
    again.remove()
    assert not (tmp_path / "run.checkpoint").exists()


def test_a_checkpoint_is_kept_unless_resumed_or_forced(tmp_path):
    saved(tmp_path)
    with pytest.raises(OutputError, match="--resume"):
        Checkpoint(str(tmp_path / "run"), KEY, resume=False, force=False).open(())
    forced = Checkpoint(str(tmp_path / "run"), KEY, resume=False, force=True)
    forced.open(())
    assert forced.records == []


@pytest.mark.parametrize("where, value, words", [
    (("parameters", "device"), "cuda", "the parameter device"),  # another kind of device may score otherwise
    (("parameters", "stride"), 25, "the parameter stride"),
    (("blacklist",), [["chr1", 100, 250]], "the blacklist"),
    (("blacklist",), [], "the blacklist"),
])
def test_a_checkpoint_of_another_run_is_refused_by_what_differs(tmp_path, where, value, words):
    saved(tmp_path)
    other = copy.deepcopy(KEY)
    target = other
    for name in where[:-1]:
        target = target[name]
    target[where[-1]] = value
    with pytest.raises(InputError, match=f"differs in {words}"):
        Checkpoint(str(tmp_path / "run"), other, resume=True, force=False).open(())

