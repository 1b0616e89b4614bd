"""PREFIX.checkpoint: the window scores of the finished chunks of an unfinished scan (what --resume continues
from), and, moved into place, a shard's PREFIX.scores."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ielmscan.errors import InputError, OutputError
from ielmscan.inference.outputs import key_difference
from ielmscan.inference.plan import Shard
from ielmscan.io.paths import check_not_inputs
from ielmscan.io.score_store import ChunkScores, ScoreStore

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIX = ".checkpoint"  # finished chunks of an unfinished scan (what --resume continues from)


class Checkpoint:
    """PREFIX.checkpoint: the window scores of the finished chunks of an unfinished scan.

    Created when scoring starts (after the outputs were checked), appended to after every chunk, removed
    once the outputs are complete. A scan that finds one refuses to start over unless told (``--resume``
    continues it, ``--force`` discards it), so that hours of work are never thrown away by a rerun.
    """

    def __init__(self, prefix: str, key: dict[str, Any], resume: bool, force: bool,
                 shard: Shard | None = None) -> None:
        self.path = Path(f"{prefix}{CHECKPOINT_SUFFIX}")
        self.header = {"key": key, "shard": None if shard is None else [shard.index, shard.count]}
        self.resume, self.force = resume, force
        self.store: ScoreStore | None = None
        self.records: list[ChunkScores] = []
        self.saved = 0
        self._by_interval: dict[int, list[ChunkScores]] = {}

    def open(self, inputs: tuple) -> None:
        check_not_inputs([self.path], inputs)
        if self.path.is_dir():
            raise OutputError(f"{self.path} is a folder; the scan keeps its checkpoint under that name: move it")
        if self.path.exists() and self.resume:
            self.store, self.records = ScoreStore.reopen(self.path)
            theirs = self.store.header
            problem = key_difference(self.header["key"], theirs.get("key", {})) if "key" in theirs else "its format"
            if problem is None and theirs.get("shard") != self.header["shard"]:
                problem = "the shard"
            if problem is not None:
                self.store.close()
                raise InputError(f"{self.path} was written by another scan (it differs in {problem}): rerun the "
                                 f"command that made it with --resume, or remove {self.path} (or add --force) to "
                                 "start over")
            log.info("resuming from %s: %d chunk(s) already scored", self.path, len(self.records))
        elif self.path.exists() and not self.force:
            raise OutputError(f"{self.path} holds the scores of an interrupted scan: add --resume to continue it, "
                              "or --force to start over")
        else:
            if self.resume:
                log.info("no checkpoint %s to resume from: scanning from the start", self.path)
            self.store = ScoreStore.create(self.path, self.header)
        for record in self.records:
            self._by_interval.setdefault(record.interval, []).append(record)

    def restore(self, interval: int, scores: np.ndarray) -> None:
        """Put the interval's saved chunks into ``scores`` (the whole interval's)."""
        for record in self._by_interval.pop(interval, []):
            record.put_into(scores)

    def add(self, chunk: ChunkScores) -> None:
        """Save a finished chunk (``chunk.interval``: the interval's index in the run)."""
        assert self.store is not None
        self.store.append(chunk)

    def close(self) -> None:
        if self.store is not None:
            self.saved = len(self.records) + self.store.appended
            self.store.close()
            self.store = None

    def tell_kept(self, exc: BaseException | None = None) -> None:
        """After a failure or a kill: keep what is saved and say how to go on from it.

        The saying goes into ``exc``'s notes (the command line prints them in its one error line), or the
        log without one. What counts is what is on disk: a kill may land between a record's write and its count.
        """
        if self.store is None:  # refused before it was opened: another run's checkpoint is not ours to touch
            return
        self.close()
        try:
            store, records = ScoreStore.reopen(self.path)
            store.close()
        except (InputError, OSError):
            records = []
        if not records:  # nothing worth keeping: leave no file behind
            self.path.unlink(missing_ok=True)
            return
        note = (f"{len(records)} finished chunk(s) are kept in {self.path}: run the same command with --resume to "
                "continue")
        if exc is None:
            log.warning(note)
        else:
            add_note(exc, note)

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def add_note(exc: BaseException, note: str) -> None:
    """Attach ``note`` to ``exc`` (PEP 678 ``__notes__``, also on Python 3.10)."""
    notes = getattr(exc, "__notes__", None)
    if not isinstance(notes, list):
        notes = []
        exc.__notes__ = notes
    notes.append(note)
