"""FASTA records: the one reader of small sequence files and the one writer of FASTA.

Genomes are read through :mod:`ielmscan.io.genome` (indexed, streamed); this module reads files of
labelled or query sequences whole, and writes any records with 60-column lines.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path

from ielmscan.errors import InputError

LINE_WIDTH = 60
STDIN = "-"  # read_fasta's name for standard input
_INSIDE_SPACE = re.compile(r"\S\s+\S")


def read_fasta(path: str | Path) -> list[tuple[str, str]]:
    """(name, sequence) records of a small FASTA file; name = header up to the first space.

    ``"-"`` reads standard input. The file is read once, whole, so a pipe or FIFO works too. Blank lines
    and line ends (``\\n``, ``\\r\\n``) do not count; a space or tab inside a sequence line is an error
    naming the line, not a base.
    """
    if str(path) == STDIN:
        name, data = "standard input", _read_stdin()
    else:
        name = str(path)
        try:
            data = Path(path).read_bytes()
        except IsADirectoryError:
            raise InputError(f"FASTA {name} is a directory: give a FASTA file") from None
        except OSError as exc:
            raise InputError(f"cannot read FASTA {name}: {exc.strerror or exc}") from None
    if data.startswith(b"\x1f\x8b"):
        raise InputError(f"FASTA {name} is gzip-compressed: decompress it first (e.g. `gunzip -k {name}`)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"FASTA {name} is not a text file") from None
    return _records(name, text)


def _read_stdin() -> bytes:
    stream = getattr(sys.stdin, "buffer", None)
    return stream.read() if stream is not None else sys.stdin.read().encode("utf-8", "surrogateescape")


def _records(name: str, text: str) -> list[tuple[str, str]]:
    records: list[tuple[str, list[str]]] = []
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            records.append((line[1:].split(maxsplit=1)[0] if len(line) > 1 else "", []))
        elif not records:
            fastq = " (it looks like FASTQ: convert it to FASTA)" if line.startswith("@") else ""
            raise InputError(f"{name}:{number}: not a FASTA file (text before the first '>' header){fastq}")
        elif _INSIDE_SPACE.search(line):
            raise InputError(f"{name}:{number}: a space or tab inside a sequence line of record {records[-1][0]!r}: "
                             "sequence lines hold bases only")
        else:
            records[-1][1].append(line)
    if not records:
        raise InputError(f"{name}: no FASTA records (no '>' header line)")
    return [(record, "".join(parts)) for record, parts in records]


def write_fasta(path: str | Path, records: Iterable[tuple[str, bytes | bytearray | str]], description: str = "") -> Path:
    """Write records as FASTA with 60-column lines."""
    path = Path(path)
    with path.open("wb") as fh:
        for name, seq in records:
            data = seq.encode() if isinstance(seq, str) else bytes(seq)
            fh.write(f">{name}{' ' + description if description else ''}\n".encode())
            for i in range(0, len(data), LINE_WIDTH):
                fh.write(data[i : i + LINE_WIDTH] + b"\n")
    return path
