"""FASTA index files (``.fai``, and ``.gzi`` for bgzip) checked against the FASTA they describe.

htslib trusts an index blindly: one left over from another version of the file (``cp -p``, ``tar`` and
``rsync -a`` keep an old FASTA's time) reads wrong lengths and wrong bases, and htslib itself indexes some
malformed lines (a space or tab inside a sequence line, ``\\r\\n`` and ``\\n`` mixed at equal widths) at a
layout that misplaces every base after them. So an index is used only once :func:`check_index` has found
the file laid out as the index says: every record's header line, its line width and line ends, where it
ends and what lies between records. ``full=False`` (an index found on disk) reads a few bytes per record;
``full=True`` (an index just built) reads every byte, so a malformed line is named before it does harm.

Offsets are byte offsets in the uncompressed file; lines are numbered from 1.
"""
from __future__ import annotations

import bisect
import os
import re
import struct
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FaiRecord", "IndexMismatch", "Malformed", "bgzf_block_size", "check_index", "line_problem", "open_source",
           "read_fai"]

_GRAPH = bytes(range(0x21, 0x7F))  # what htslib counts as a base (isgraph); every other byte is skipped
_NON_GRAPH = re.compile(rb"[^\x21-\x7e]")
# More than this between two records (or after the last) is not a header and blank lines: the index is wrong.
_MAX_GAP = 16 << 20
# An index found on disk is checked at this many records at most, spread over the file (many-contig assemblies),
# at four lines each, reading this many bases at each end of a line.
_SAMPLED_RECORDS = 10_000
_PEEK = 16
_PIECE = 4 << 20  # bytes read at a time in a full check


@dataclass(frozen=True)
class FaiRecord:
    name: str
    length: int
    offset: int  # byte offset of the first base (uncompressed for bgzip)
    line_bases: int
    line_width: int  # bytes per line including the terminator (\n or \r\n)


class IndexMismatch(Exception):
    """The index does not describe the file (stale, from another file, or impossible fields)."""


class Malformed(Exception):
    """A line of the FASTA that htslib indexes at the wrong layout: ``record``, 1-based ``line``, ``problem``."""

    def __init__(self, record: str, line: int, problem: str) -> None:
        super().__init__(record, line, problem)
        self.record, self.line, self.problem = record, line, problem

    def __str__(self) -> str:
        where = f"record {self.record!r} line {self.line}" if self.record else f"line {self.line}"
        return f"{where}: {self.problem}"


# -- index files --------------------------------------------------------------------------------


def read_fai(fai: Path) -> list[FaiRecord]:
    """The records of a ``.fai`` in file order; IndexMismatch if a line is unreadable or impossible."""
    text = fai.read_text(encoding="utf-8", errors="surrogateescape")  # OSError: the caller's
    records: list[FaiRecord] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split("\t")
        try:
            length, offset, line_bases, line_width = (int(f) for f in fields[1:5])
        except ValueError:
            raise IndexMismatch(f"line {lineno} of the index is not name, length, offset, line bases, width") from None
        if len(fields) != 5:
            raise IndexMismatch(f"line {lineno} of the index is not name, length, offset, line bases, width")
        name = fields[0]  # may be empty: htslib indexes a header without a name, the check refuses it
        if length < 0 or offset < 0 or (length > 0 and not 0 < line_bases < line_width):
            raise IndexMismatch(f"record {name!r} has impossible fields in the index")
        if name in seen:
            raise IndexMismatch(f"record {name!r} is listed twice in the index")
        if records and offset <= records[-1].offset:
            raise IndexMismatch(f"record {name!r} is out of file order in the index")
        seen.add(name)
        records.append(FaiRecord(name, length, offset, line_bases, line_width))
    return records


def _read_gzi(gzi: Path) -> list[tuple[int, int]]:
    """(compressed, uncompressed) offsets of BGZF blocks after the first; IndexMismatch if malformed."""
    data = gzi.read_bytes()
    if len(data) < 8 or len(data) != 8 + 16 * struct.unpack_from("<Q", data)[0]:
        raise IndexMismatch(f"{gzi.name} is not a BGZF index")
    return list(struct.iter_unpack("<QQ", data[8:]))


# -- reading bytes at uncompressed offsets ------------------------------------------------------


def bgzf_block_size(head: bytes) -> int | None:
    """BSIZE (the block's size less one) from a BGZF block's header, None if ``head`` starts no BGZF block.

    A gzip member header (ID1 ID2 CM FLG MTIME(4) XFL OS) with FLG.FEXTRA, then XLEN(2) and the extra
    subfields, one of them 'BC' holding BSIZE.
    """
    if len(head) < 12 or head[:3] != b"\x1f\x8b\x08" or not head[3] & 0x04:
        return None
    (xlen,) = struct.unpack_from("<H", head, 10)
    extra = head[12 : 12 + xlen]
    pos = 0
    while pos + 4 <= len(extra):
        si1, si2, slen = extra[pos], extra[pos + 1], struct.unpack_from("<H", extra, pos + 2)[0]
        if si1 == 66 and si2 == 67 and slen == 2 and pos + 6 <= len(extra):
            return int(struct.unpack_from("<H", extra, pos + 4)[0])
        pos += 4 + slen
    return None


class _Plain:
    """A plain FASTA read with ``pread`` through one window of ``window`` bytes."""

    def __init__(self, path: Path, window: int) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self._fd).st_size
        self._window = window
        self._start, self._data = 0, b""

    def read(self, offset: int, n: int) -> bytes:
        end = offset + n
        if not (self._start <= offset and end <= self._start + len(self._data)):
            if n >= self._window:
                return os.pread(self._fd, n, offset)
            self._start, self._data = offset, os.pread(self._fd, self._window, offset)
        return self._data[offset - self._start : end - self._start]

    def close(self) -> None:
        os.close(self._fd)


class _Bgzf:
    """A bgzip FASTA read at uncompressed offsets through its ``.gzi``, checking every entry it passes.

    A block is found from the nearest ``.gzi`` entry at or before an offset and decoded forwards from
    there; an entry that is not a real block start, or whose uncompressed offset is not the sum of the
    blocks before it, is an IndexMismatch.
    """

    def __init__(self, path: Path, gzi: Path) -> None:
        pairs = [(0, 0), *_read_gzi(gzi)]
        self._fh = open(path, "rb")
        self._csize = os.fstat(self._fh.fileno()).st_size
        self._c = [c for c, _ in pairs]
        self._u = [u for _, u in pairs]
        if any(a >= b for a, b in zip(self._c, self._c[1:])) or any(a >= b for a, b in zip(self._u, self._u[1:])):
            raise IndexMismatch(f"{gzi.name} lists blocks out of order")
        if self._c[-1] >= self._csize:
            raise IndexMismatch(f"{gzi.name} points past the end of the file")
        self._cache: OrderedDict[int, tuple[bytes, int]] = OrderedDict()
        self.size = self._u[-1] + sum(len(data) for data in self._decode_from(len(self._c) - 1, None))

    def _block(self, c: int) -> tuple[bytes, int]:
        """The data of the BGZF block at compressed offset ``c`` and the offset of the next block."""
        cached = self._cache.get(c)
        if cached is not None:
            self._cache.move_to_end(c)
            return cached
        self._fh.seek(c)
        head = self._fh.read(12)
        head += self._fh.read(struct.unpack_from("<H", head, 10)[0] if len(head) == 12 else 0)
        bsize = bgzf_block_size(head)
        xlen = len(head) - 12
        if bsize is None or bsize + 1 < 12 + xlen + 8:  # header, extra field, then CRC32 and ISIZE
            raise IndexMismatch(f"no BGZF block starts at byte {c}")
        self._fh.seek(c)
        block = self._fh.read(bsize + 1)
        if len(block) != bsize + 1:
            raise IndexMismatch(f"the BGZF block at byte {c} is cut short")
        crc, isize = struct.unpack_from("<II", block, len(block) - 8)
        try:
            data = zlib.decompress(block[12 + xlen : -8], -15)
        except zlib.error:
            raise IndexMismatch(f"the BGZF block at byte {c} does not decompress") from None
        if len(data) != isize or zlib.crc32(data) != crc:
            raise IndexMismatch(f"the BGZF block at byte {c} fails its checksum")
        self._cache[c] = (data, c + bsize + 1)
        if len(self._cache) > 8:
            self._cache.popitem(last=False)
        return data, c + bsize + 1

    def _decode_from(self, entry: int, until: int | None) -> Iterator[bytes]:
        """Blocks' data from ``.gzi`` entry ``entry`` on, up to uncompressed offset ``until`` (None: the end)."""
        c, u, later = self._c[entry], self._u[entry], entry + 1
        while c < self._csize and (until is None or u < until):
            data, c = self._block(c)
            u += len(data)
            # The next entry must be the next block's start, at the data so far; entries may skip blocks.
            if later < len(self._c) and self._c[later] <= c:
                if self._c[later] < c:
                    raise IndexMismatch(f"the .gzi entry for byte {self._c[later]} is not where a block starts")
                if self._u[later] != u:
                    raise IndexMismatch(f"the .gzi says the block at byte {c} starts at uncompressed byte "
                                        f"{self._u[later]}, not {u}")
                later += 1
            yield data
        if until is None and c != self._csize:
            raise IndexMismatch("the last BGZF block runs past the end of the file")

    def read(self, offset: int, n: int) -> bytes:
        entry = bisect.bisect_right(self._u, offset) - 1
        start = self._u[entry]
        data = b"".join(self._decode_from(entry, offset + n))
        return data[offset - start : offset - start + n]

    def close(self) -> None:
        self._fh.close()


def open_source(fasta: Path, gzi: Path | None, full: bool) -> _Plain | _Bgzf:
    """The uncompressed bytes of ``fasta``, read through ``gzi`` for bgzip; IndexMismatch if that is wrong."""
    return _Bgzf(fasta, gzi) if gzi is not None else _Plain(fasta, _PIECE if full else 4096)


# -- the check ----------------------------------------------------------------------------------


def check_index(records: list[FaiRecord], source: _Plain | _Bgzf, full: bool) -> None:
    """Raise unless ``source`` is laid out exactly as ``records`` say.

    Between records (and before the first, after the last) only blank lines and header lines may lie, the
    last header line naming the next record; a record's lines hold ``line_bases`` bases each (the last one
    up to that) and end alike. ``full`` reads every line and raises :class:`Malformed` (the file is at
    fault: it was just indexed); otherwise it reads a few bytes of a few lines of each of at most
    ``_SAMPLED_RECORDS`` records, and raises :class:`IndexMismatch` (the index is at fault).
    """
    chosen: list[int] | range = range(len(records))
    if not full and len(records) > _SAMPLED_RECORDS:
        step = len(records) / _SAMPLED_RECORDS
        chosen = sorted({int(i * step) for i in range(_SAMPLED_RECORDS)} | {len(records) - 1})
    walker = _Walker(source, full)
    walked = -1
    for i in chosen:
        # After a jump over records, only the chosen record's own header line is checked.
        walker.gap(records[walked] if walked >= 0 else None, records[i], jumped=i != walked + 1)
        walker.record(records[i])
        walked = i
    walker.tail(records[-1] if records else None)


class _Walker:
    """Walks the file from record to record, counting lines (exact in a full check)."""

    def __init__(self, source: _Plain | _Bgzf, full: bool) -> None:
        self.source, self.full = source, full
        self.pos = 0  # first byte not yet checked
        self.line = 1  # the line ``pos`` is on

    def fail(self, record: str, problem: str, line: int | None = None) -> Exception:
        if self.full:
            return Malformed(record, self.line if line is None else line, problem)
        return IndexMismatch(f"record {record!r}: {problem}")

    def gap(self, previous: FaiRecord | None, record: FaiRecord, jumped: bool) -> None:
        """Blank lines and header lines up to ``record``'s first base; ``previous`` is the record walked last."""
        if record.offset < self.pos:
            raise self.fail(record.name, "overlaps the record before it")
        if jumped:
            previous = None
            self.pos = self._header_start(record)
        elif record.offset - self.pos > _MAX_GAP:
            raise self.fail(record.name, "starts far beyond the record before it (a record is missing)")
        text = self.source.read(self.pos, record.offset - self.pos)
        if len(text) != record.offset - self.pos:
            raise self.fail(record.name, "starts past the end of the file")
        lines = text.split(b"\n")
        if len(lines) < 2 or lines.pop() != b"":
            raise self.fail(record.name, "does not start right after a header line")
        first = 0
        if previous is not None and previous.length > 0:
            if lines[0] not in (b"", b"\r"):
                raise self.fail(previous.name, "has more bases on its last line than the index says")
            first = 1  # the end of the previous record's last line
        # Blank lines, and headers of records without bases (htslib leaves those out), may come first.
        for k in range(first, len(lines) - 1):
            if lines[k] not in (b"", b"\r") and not lines[k].startswith(b">"):
                raise self.fail(record.name, f"comes after {_quote(lines[k])}, a line that is neither blank nor a "
                                "header", self.line + k)
        header = lines[-1]
        self.line += len(lines) - 1
        words = header[1:].split()
        if header.startswith(b">") and not words:
            raise self.fail("", "a header line without a name: give every record a name", self.line)
        if not header.startswith(b">") or words[0] != record.name.encode("utf-8", "surrogateescape"):
            raise self.fail(record.name, f"does not start after its own header line (found {_quote(header)})")
        self.pos = record.offset
        self.line += 1  # the record's first line

    def _header_start(self, record: FaiRecord) -> int:
        """Where the header line just before ``record.offset`` starts (looking back no further than ``pos``)."""
        for back in (4096, 65536, _MAX_GAP):
            start = max(self.pos, record.offset - back)
            text = self.source.read(start, record.offset - start)
            cut = text.rfind(b"\n", 0, len(text) - 1)
            if cut >= 0:
                return start + cut + 1
            if start == self.pos:
                break
        raise self.fail(record.name, "has no header line where the index puts it")

    def record(self, record: FaiRecord) -> None:
        """The record's lines: every line but the last of ``line_bases`` bases, each with the same line end."""
        if record.length == 0:
            return
        lb, lw = record.line_bases, record.line_width
        # More than \r\n after the bases: htslib counted bytes that are not bases, which no ending matches.
        ending = {1: b"\n", 2: b"\r\n"}.get(lw - lb, b"\0" * (lw - lb))
        body = -(-record.length // lb) - 1  # lines before the last line
        if self.full and lw <= _PIECE:
            rows_per_read = _PIECE // lw
            for first in range(0, body, rows_per_read):
                self._rows(record, first, min(rows_per_read, body - first), ending)
        else:
            rows = range(body) if self.full else sorted({0, body // 3, 2 * body // 3, body - 1} if body else ())
            for row in rows:
                start = record.offset + row * lw
                if row == 0 or self.full:
                    self._bases(record, start, 0, lb if self.full else min(lb, _PEEK), self.line + row)
                self._bases(record, start, lb - min(lb, _PEEK), min(lb, _PEEK), self.line + row)
                if self.source.read(start + lb, len(ending)) != ending:
                    raise self.fail(record.name, _bad_ending(self._line(start, lw), ending, lb), self.line + row)
        last = record.length - body * lb
        start, line = record.offset + body * lw, self.line + body
        if self.full:
            self._bases(record, start, 0, last, line)
        else:
            self._bases(record, start, 0, min(last, _PEEK), line)
            self._bases(record, start, last - min(last, _PEEK), min(last, _PEEK), line)
        self.pos, self.line = start + last, line

    def _bases(self, record: FaiRecord, line_start: int, column: int, n: int, line: int) -> None:
        """Bases ``[column, column + n)`` of the line at ``line_start``: all of them bases, none missing."""
        for piece in range(column, column + n, _PIECE):
            size = min(_PIECE, column + n - piece)
            data = self.source.read(line_start + piece, size)
            if len(data) != size:
                raise self.fail(record.name, "runs past the end of the file", line)
            if data.translate(None, _GRAPH):
                raise self.fail(record.name, _bad_bytes(data, piece, record.line_bases), line)

    def _rows(self, record: FaiRecord, first: int, count: int, ending: bytes) -> None:
        """Lines ``first`` to ``first + count`` of a record in one read (a full check)."""
        lb, lw = record.line_bases, record.line_width
        data = self.source.read(record.offset + first * lw, count * lw)
        if (len(data) == count * lw and data.translate(None, _GRAPH) == ending * count
                and data[lb::lw] == ending[:1] * count and data[lw - 1 :: lw] == b"\n" * count):
            return  # each line: lb bases, then the line end, and no other byte that is not a base
        for row in range(count):
            line = data[row * lw : (row + 1) * lw]
            number = self.line + first + row
            if line[:lb].translate(None, _GRAPH):
                raise self.fail(record.name, _bad_bytes(line[:lb], 0, lb), number)
            if len(line) < lw:
                raise self.fail(record.name, "runs past the end of the file", number)
            if line[lb:] != ending:
                start = record.offset + (first + row) * lw
                raise self.fail(record.name, _bad_ending(self._line(start, lw), ending, lb), number)
        raise AssertionError("a block that fails the check holds a bad line")  # pragma: no cover

    def _line(self, start: int, width: int) -> bytes:
        """The line at ``start`` up to its line feed (what it holds, for a message)."""
        data = self.source.read(start, 2 * width + 2)
        end = data.find(b"\n")
        return data if end < 0 else data[: end + 1]

    def tail(self, last: FaiRecord | None) -> None:
        """After the last record: the end of its last line and blank lines, nothing else."""
        size = self.source.size
        name = last.name if last is not None else ""
        if size - self.pos > _MAX_GAP:
            raise self.fail(name, "is followed by more than blank lines (a record is missing from the index)")
        lines = self.source.read(self.pos, size - self.pos).split(b"\n")
        if last is not None and last.length > 0 and lines[0] not in (b"", b"\r"):
            raise self.fail(name, "has more bases on its last line than the index says")
        for k in range(1, len(lines)):
            if lines[k] not in (b"", b"\r"):
                raise self.fail(name, f"is followed by {_quote(lines[k])}, not by blank lines", self.line + k)


def _quote(data: bytes, limit: int = 40) -> str:
    text = data[:limit].decode("latin-1")
    return repr(text + ("..." if len(data) > limit else ""))


def _describe_byte(byte: int) -> str:
    names = {0x20: "a space", 0x09: "a tab", 0x0D: "a carriage return (\\r)", 0x00: "a NUL byte"}
    if byte in names:
        return names[byte]
    return f"byte 0x{byte:02x} ({'not ASCII' if byte >= 0x80 else 'a control character'})"


def _bad_bytes(data: bytes, column: int, line_bases: int) -> str:
    """What is wrong with bases ``data`` (from ``column`` of their line) holding a byte that is no base."""
    found = _NON_GRAPH.search(data)
    assert found is not None
    byte, at = data[found.start()], column + found.start()
    if byte == 0x0A:
        return (f"a line of {at} bases where the record's lines hold {line_bases}: every line but the last must "
                "hold the same number of bases")
    return (f"{_describe_byte(byte)} inside a sequence line, which htslib would skip, misplacing every base "
            "after it: sequence lines hold bases only")


def line_problem(line: bytes) -> str | None:
    """What makes a sequence ``line`` (with or without its line end) no line of bases, if anything does."""
    text = line.rstrip(b"\n")
    text = text[:-1] if text.endswith(b"\r") else text
    return _bad_bytes(text, 0, len(text)) if text.translate(None, _GRAPH) else None


def _bad_ending(line: bytes, ending: bytes, line_bases: int) -> str:
    """Why ``line`` (up to its line feed), whose first ``line_bases`` bytes are bases, breaks the layout."""
    shown = {b"\n": "\\n", b"\r\n": "\\r\\n", b"": "nothing (the file ends)"}
    text = line[:-1] if line.endswith(b"\n") else line
    text = text[:-1] if text.endswith(b"\r") else text
    if text.translate(None, _GRAPH):
        return _bad_bytes(text, 0, line_bases).replace(" inside a ", " in a ", 1)
    end = line[len(text):]
    if end not in shown:  # pragma: no cover  (a lone \r is not a base, so it was reported above)
        end = b""
    if ending not in shown:  # htslib's width holds bytes that are not bases (reported where it finds them)
        return "a line that is not laid out like the record's first line"
    return (f"a line of {len(text)} bases ending in {shown[end]} where the record's first line has {line_bases} "
            f"ending in {shown[ending]}: every line of a record but the last must hold the same number of bases "
            "and end alike")
