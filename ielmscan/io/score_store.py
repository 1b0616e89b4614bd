"""Window scores of finished scan chunks in one append-only file: what `--resume` continues from and what
`ielmscan merge` joins.

Layout: a magic line, the header (JSON, length- and CRC-framed), then one record per finished chunk: the
interval's index in the run, the chunk's first window, its window count, the float32 scores as the scan
marks them (NaN where a window was skipped, a marker where `--fast` kept it from the ensemble), and a CRC32
of the record.
The header is written to a temporary file and renamed into place, so a store either has a whole header
or does not exist; a record cut short by a kill (power loss, SIGKILL) fails its length or CRC check and
is dropped when the store is reopened to continue.
"""
from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ielmscan.errors import InputError

MAGIC = b"ielmscan window scores v1\n"
_LENGTH = struct.Struct("<I")
_RECORD = struct.Struct("<IqI")  # interval index, first window, windows
_CRC = struct.Struct("<I")


@dataclass(frozen=True)
class ChunkScores:
    """Scores of windows ``[first_window, first_window + len(scores))`` of the run's interval ``interval``."""

    interval: int
    first_window: int
    scores: np.ndarray  # float32 as the scan marks them: NaN where skipped, a negative marker where --fast rejected

    def put_into(self, scores: np.ndarray) -> None:
        """Copy these windows' scores into ``scores``, the whole interval's (one float per window)."""
        scores[self.first_window: self.first_window + len(self.scores)] = self.scores


class ScoreStore:
    """An open store, appending records; :meth:`create` starts one, :meth:`reopen` continues one."""

    def __init__(self, path: Path, header: dict[str, Any], handle: BinaryIO) -> None:
        self.path = path
        self.header = header
        self.appended = 0  # records added since it was opened
        self._handle = handle

    @classmethod
    def create(cls, path: str | Path, header: dict[str, Any]) -> ScoreStore:
        """A new store at ``path`` holding ``header`` and no records (replaces a file there)."""
        path = Path(path)
        temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with open(temp, "wb") as fh:
                fh.write(MAGIC + _frame(json.dumps(header, sort_keys=True).encode("utf-8")))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        return cls(path, header, open(path, "ab"))

    @classmethod
    def reopen(cls, path: str | Path) -> tuple[ScoreStore, list[ChunkScores]]:
        """The store at ``path`` opened for appending, with its intact records; a torn last record is cut off."""
        path = Path(path)
        header, records, intact = _read(path, strict=False)
        with open(path, "r+b") as fh:
            fh.truncate(intact)
        return cls(path, header, open(path, "ab")), records

    def append(self, chunk: ChunkScores) -> None:
        """Add a finished chunk and push it to disk, so that a kill after this call loses nothing of it."""
        scores = np.ascontiguousarray(chunk.scores, dtype="<f4")
        body = _RECORD.pack(chunk.interval, chunk.first_window, len(scores)) + scores.tobytes()
        self._handle.write(body + _CRC.pack(zlib.crc32(body)))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.appended += 1

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ScoreStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_store(path: str | Path) -> tuple[dict[str, Any], list[ChunkScores]]:
    """Header and records of a complete store (a shard's output); a damaged one is an error naming the file."""
    header, records, _ = _read(Path(path), strict=True)
    return header, records


def _frame(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload + _CRC.pack(zlib.crc32(payload))


def _read(path: Path, strict: bool) -> tuple[dict[str, Any], list[ChunkScores], int]:
    """Header, records and the byte length of the intact part. ``strict``: any damage is an error."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not a window-score file") from None
    except OSError as exc:
        raise InputError(f"cannot read window scores {path}: {exc.strerror or exc}") from None
    if not data.startswith(MAGIC):
        raise InputError(f"{path} is not an ielmscan window-score file (a scan's .checkpoint or a shard's .scores)")
    pos = len(MAGIC)
    header_bytes, pos = _unframe(data, pos)
    if header_bytes is None:
        raise InputError(f"{path}: its header is damaged; delete the file and scan again")
    try:
        header = json.loads(header_bytes)
    except ValueError:
        raise InputError(f"{path}: its header is not valid JSON; delete the file and scan again") from None
    records: list[ChunkScores] = []
    while pos < len(data):
        end = pos + _RECORD.size
        if end > len(data):
            break
        interval, first, n = _RECORD.unpack_from(data, pos)
        crc_at = end + 4 * n
        if crc_at + _CRC.size > len(data) or _CRC.unpack_from(data, crc_at)[0] != zlib.crc32(data[pos:crc_at]):
            break
        scores = np.frombuffer(data, dtype="<f4", count=n, offset=end).astype(np.float32)
        records.append(ChunkScores(interval, first, scores))
        pos = crc_at + _CRC.size
    if strict and pos != len(data):
        raise InputError(f"{path} is cut short or damaged after {len(records)} chunk(s): run that shard again")
    return header, records, pos


def _unframe(data: bytes, pos: int) -> tuple[bytes | None, int]:
    if pos + _LENGTH.size > len(data):
        return None, pos
    (length,) = _LENGTH.unpack_from(data, pos)
    start, end = pos + _LENGTH.size, pos + _LENGTH.size + length
    if end + _CRC.size > len(data) or _CRC.unpack_from(data, end)[0] != zlib.crc32(data[start:end]):
        return None, pos
    return data[start:end], end + _CRC.size
