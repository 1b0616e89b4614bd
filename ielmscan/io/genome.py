"""FASTA access: plain or bgzip-compressed, indexed on demand (next to the FASTA or in a cache folder).

Every coordinate here is 0-based and half-open: ``[start, end)``, as in BED and Python slices.
Sequences come back as the bytes in the file (case preserved, N and IUPAC codes untouched); what they
mean is the encoder's business, not this module's. Where the index comes from (found, checked, built or
cached) is :mod:`ielmscan.io.genome_index`.
"""
from __future__ import annotations

import gzip
import stat
import zlib
from pathlib import Path

import pysam

from ielmscan.errors import GenomeError
from ielmscan.io.capture import captured_stderr as _captured_stderr  # its home is io/capture.py
from ielmscan.io.capture import one_line, quiet_htslib
from ielmscan.io.faidx import FaiRecord, bgzf_block_size
from ielmscan.io.genome_index import find_or_build_index

__all__ = ["Genome"]

GZIP_MAGIC = b"\x1f\x8b"
_WHITESPACE = b" \t\r\n"


class Genome:
    """An indexed FASTA file (plain or bgzip-compressed), read through ``pysam.FastaFile``.

    Build with :meth:`Genome.open`. Not thread-safe: give each thread or process its own ``Genome``.
    """

    def __init__(
        self,
        path: Path,
        fasta: pysam.FastaFile,
        records: list[FaiRecord],
        fai_path: Path,
        gzi_path: Path | None,
    ) -> None:
        self.path = path
        self.fai_path = fai_path
        self.gzi_path = gzi_path
        self.compressed = gzi_path is not None
        self.chroms: list[tuple[str, int]] = [(r.name, r.length) for r in records]
        self._lengths = dict(self.chroms)
        self._fasta: pysam.FastaFile | None = fasta

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, index_cache_dir: Path | None = None) -> Genome:
        """Open a FASTA file, building its ``.fai`` (and ``.gzi`` for bgzip) index if missing or stale.

        The index is written next to the FASTA when that folder accepts new files, otherwise into
        ``index_cache_dir`` (default :func:`~ielmscan.io.genome_index.default_index_cache_dir`), in a
        subfolder keyed by the FASTA's absolute path, size and modification time. An index found on disk is
        used only if it describes the file (:func:`ielmscan.io.faidx.check_index`); otherwise it is rebuilt.
        """
        path = Path(path)
        compressed = _check_fasta_file(path)
        fai, gzi, records = find_or_build_index(path, compressed, index_cache_dir)
        error: Exception | None = None
        with _captured_stderr() as log:
            try:
                fasta = pysam.FastaFile(
                    str(path),
                    filepath_index=str(fai),
                    filepath_index_compressed=str(gzi) if gzi is not None else None,
                )
            except (OSError, ValueError) as exc:
                error = exc
        if error is not None:
            raise GenomeError(f"cannot open FASTA {path}: {one_line(str(error), log.text)}") from error
        return cls(path, fasta, records, fai, gzi)

    # -- access -------------------------------------------------------------------------------

    def length(self, name: str) -> int:
        """Length in bases of sequence ``name``."""
        try:
            return self._lengths[name]
        except KeyError:
            raise GenomeError(self._unknown(name)) from None

    def fetch(self, chrom: str, start: int, end: int) -> bytes:
        """Bases ``[start, end)`` of ``chrom`` (0-based, half-open) exactly as in the file.

        Bounds are strict: no clipping at the chromosome end.
        """
        length = self.length(chrom)
        if not (0 <= start <= end <= length):
            raise GenomeError(
                f"interval {chrom}:[{start}, {end}) is outside {chrom} (length {length}) in {self.path}: "
                f"need 0 <= start <= end <= {length} (0-based, half-open)"
            )
        if start == end:
            return b""
        if self._fasta is None:
            raise ValueError(f"genome {self.path} is closed")
        try:
            with quiet_htslib():
                seq = self._fasta.fetch(reference=chrom, start=start, end=end)
        except UnicodeDecodeError:
            raise GenomeError(
                f"{chrom}:[{start}, {end}) of {self.path} holds a byte that is not ASCII: sequence lines hold "
                "bases only"
            ) from None
        except (OSError, ValueError) as exc:
            raise GenomeError(
                f"cannot read {chrom}:[{start}, {end}) from {self.path}: the file changed or was cut short "
                f"while it was read ({one_line(str(exc))})"
            ) from exc
        data = seq.encode("ascii", errors="replace")
        if len(data) != end - start:
            # The file changed after it was opened and checked: htslib returns what it could read.
            raise GenomeError(
                f"read {len(data)} bases instead of {end - start} at {chrom}:[{start}, {end}) from "
                f"{self.path}: the file changed or was cut short while it was read"
            )
        return data

    def _unknown(self, name: str) -> str:
        valid = ", ".join(n for n, _ in self.chroms[:5])
        more = f", ... ({len(self.chroms)} in all)" if len(self.chroms) > 5 else ""
        return f"sequence {name!r} is not in {self.path}: valid names are {valid}{more}"

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        """Release the file handle; safe to call twice."""
        if self._fasta is not None:
            self._fasta.close()
            self._fasta = None

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Genome({str(self.path)!r}, {len(self.chroms)} sequences)"


# -- file checks ----------------------------------------------------------------------------------


def _check_fasta_file(path: Path) -> bool:
    """Raise GenomeError unless ``path`` looks like a plain or bgzip FASTA; return True for bgzip."""
    if str(path) == "-":
        raise GenomeError(_needs_a_file("standard input ('-')"))
    if not path.exists():
        raise GenomeError(f"FASTA file {path} does not exist")
    if path.is_dir():
        raise GenomeError(f"FASTA path {path} is a directory: give the FASTA file inside it")
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            # Checked before reading anything: a pipe read here would lose what it held.
            kind = "a pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a terminal or device"
            raise GenomeError(_needs_a_file(f"{path} ({kind})"))
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise GenomeError(f"cannot read FASTA {path}: {exc.strerror}") from exc
    if size == 0:
        raise GenomeError(f"FASTA file {path} is empty")
    compressed = head.startswith(GZIP_MAGIC)
    if compressed:
        if not _is_bgzf_header(head):
            raise GenomeError(
                f"FASTA {path} is compressed with gzip, not bgzip: recompress with `bgzip` "
                f"(`gunzip {path.name} && bgzip {path.name.removesuffix('.gz')}`) or decompress it"
            )
        first = _first_content_byte_bgzf(path)
    else:
        first = _first_content_byte(head, path)
    if first is None:
        raise GenomeError(f"FASTA file {path} holds no sequences (only whitespace)")
    if first != b">":
        raise GenomeError(
            f"{path} is not a FASTA file: its first character is {first.decode('latin-1')!r}, "
            "expected '>' starting a header line"
        )
    return compressed


def _needs_a_file(what: str) -> str:
    return (f"FASTA from {what}: a genome is read by random access through an index, which needs a file; "
            "save it first (e.g. `cat > genome.fa`, or `bgzip -c > genome.fa.gz`) and give that file")


def _is_bgzf_header(head: bytes) -> bool:
    """True if the gzip member header carries the BGZF 'BC' extra subfield."""
    return bgzf_block_size(head) is not None


def _first_content_byte(head: bytes, path: Path) -> bytes | None:
    stripped = head.lstrip(_WHITESPACE)
    if stripped:
        return stripped[:1]
    with open(path, "rb") as fh:  # all-whitespace start: keep looking
        while block := fh.read(1 << 20):
            stripped = block.lstrip(_WHITESPACE)
            if stripped:
                return stripped[:1]
    return None


def _first_content_byte_bgzf(path: Path) -> bytes | None:
    try:
        with gzip.open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                stripped = block.lstrip(_WHITESPACE)
                if stripped:
                    return stripped[:1]
    except (OSError, EOFError, zlib.error) as exc:
        raise GenomeError(f"bgzip FASTA {path} is corrupt: {one_line(str(exc))}") from exc
    return None
