"""FASTA access: plain or bgzip-compressed, indexed on demand (next to the FASTA or in a cache folder).

Every coordinate here is 0-based and half-open: ``[start, end)``, as in BED and Python slices.
Sequences come back as the bytes in the file (case preserved, N and IUPAC codes untouched); what they
mean is the encoder's business, not this module's.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import secrets
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import pysam

from ielmscan.errors import GenomeError
from ielmscan.io.capture import captured_stderr as _captured_stderr  # its home is io/capture.py
from ielmscan.io.paths import can_create_files as _can_create_files

__all__ = ["Genome", "default_index_cache_dir"]

GZIP_MAGIC = b"\x1f\x8b"
_WHITESPACE = b" \t\r\n"
# htslib's warning (fai_insert_index) for a record whose name it has already indexed.
_DUPLICATE_WARNING = re.compile(r'Ignoring duplicate sequence "(.*)" at byte offset \d+')


@dataclass(frozen=True)
class _FaiRecord:
    name: str
    length: int
    offset: int  # byte offset of the first base (uncompressed for bgzip)
    line_bases: int
    line_width: int  # bytes per line including the terminator (\n or \r\n)


def default_index_cache_dir() -> Path:
    """Folder for FASTA indexes that cannot be written next to their FASTA."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ielmscan" / "faidx"


class Genome:
    """An indexed FASTA file (plain or bgzip-compressed), read through ``pysam.FastaFile``.

    Build with :meth:`Genome.open`. Not thread-safe: give each thread or process its own ``Genome``.
    """

    def __init__(
        self,
        path: Path,
        fasta: pysam.FastaFile,
        records: list[_FaiRecord],
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
        ``index_cache_dir`` (default :func:`default_index_cache_dir`), in a subfolder keyed by the
        FASTA's absolute path, size and modification time.
        """
        path = Path(path)
        compressed = _check_fasta_file(path)
        fai, gzi = _find_or_build_index(path, compressed, index_cache_dir)
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
            raise GenomeError(f"cannot open FASTA {path}: {_one_line(str(error), log.text)}") from error
        try:
            records = _read_fai(fai, path)
        except BaseException:
            fasta.close()
            raise
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
            seq = self._fasta.fetch(reference=chrom, start=start, end=end)
        except (OSError, ValueError) as exc:
            raise GenomeError(
                f"cannot read {chrom}:[{start}, {end}) from {self.path}: {_one_line(str(exc))}"
            ) from exc
        data = seq.encode("ascii", errors="replace")
        if len(data) != end - start:
            # A truncated or changed file: htslib returns what it could read.
            raise GenomeError(
                f"read {len(data)} bases instead of {end - start} at {chrom}:[{start}, {end}) from "
                f"{self.path}: the file is truncated or changed after indexing (delete {self.fai_path})"
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
    if not path.exists():
        raise GenomeError(f"FASTA file {path} does not exist")
    if path.is_dir():
        raise GenomeError(f"FASTA path {path} is a directory: give the FASTA file inside it")
    try:
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


def _is_bgzf_header(head: bytes) -> bool:
    """True if the gzip member header carries the BGZF 'BC' extra subfield."""
    # gzip header: ID1 ID2 CM FLG MTIME(4) XFL OS, then XLEN(2) and subfields when FLG.FEXTRA is set.
    if len(head) < 12 or head[2] != 8 or not head[3] & 0x04:
        return False
    (xlen,) = struct.unpack_from("<H", head, 10)
    extra = head[12 : 12 + xlen]
    pos = 0
    while pos + 4 <= len(extra):
        si1, si2, slen = extra[pos], extra[pos + 1], struct.unpack_from("<H", extra, pos + 2)[0]
        if si1 == 66 and si2 == 67 and slen == 2:
            return True
        pos += 4 + slen
    return False


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
        raise GenomeError(f"bgzip FASTA {path} is corrupt: {_one_line(str(exc))}") from exc
    return None


# -- index location and building ------------------------------------------------------------------


def _find_or_build_index(
    path: Path, compressed: bool, cache_dir: Path | None
) -> tuple[Path, Path | None]:
    """Return usable (fai, gzi) paths, building them next to the FASTA or in the cache."""
    fai = path.with_name(path.name + ".fai")
    gzi = path.with_name(path.name + ".gzi") if compressed else None
    fasta_mtime = path.stat().st_mtime_ns
    if _is_fresh(fai, fasta_mtime) and (gzi is None or _is_fresh(gzi, fasta_mtime)):
        return fai, gzi
    if _can_create_files(path.parent):
        _build_index(path, fai, gzi)
        return fai, gzi
    # The FASTA's folder is read-only (shared reference data): index into a private cache instead.
    folder = (cache_dir if cache_dir is not None else default_index_cache_dir()) / _cache_key(path)
    cfai = folder / (path.name + ".fai")
    cgzi = folder / (path.name + ".gzi") if compressed else None
    if cfai.is_file() and (cgzi is None or cgzi.is_file()):
        return cfai, cgzi
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenomeError(
            f"cannot index FASTA {path}: its folder is not writable and the index cache folder "
            f"{folder} cannot be created ({exc.strerror}); pass a writable index cache folder"
        ) from exc
    _build_index(path, cfai, cgzi)
    return cfai, cgzi


def _is_fresh(index: Path, fasta_mtime_ns: int) -> bool:
    # An index older than its FASTA may point at the wrong bytes: rebuild rather than trust it.
    try:
        return index.is_file() and index.stat().st_mtime_ns >= fasta_mtime_ns
    except OSError:
        return False


def _cache_key(path: Path) -> str:
    st = path.stat()
    ident = f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}"
    return hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def _build_index(fasta: Path, fai: Path, gzi: Path | None) -> None:
    """Run ``samtools faidx`` into temporary names, then rename, so concurrent jobs never see half an index.

    On any error (duplicate names included) the temporary files are removed and nothing is renamed,
    so the next open builds the index again and reports the same error.
    """
    tag = f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp_fai = fai.with_name("." + fai.name + tag)
    tmp_gzi = gzi.with_name("." + gzi.name + tag) if gzi is not None else None
    args = [str(fasta), "--fai-idx", str(tmp_fai)]
    if tmp_gzi is not None:
        args += ["--gzi-idx", str(tmp_gzi)]
    try:
        with _captured_stderr() as log:
            try:
                pysam.faidx(*args)
                failure: str | None = None
            except pysam.utils.SamtoolsError as exc:
                failure = str(exc)
        # htslib indexes only the first of several records with one name and merely warns about the
        # rest; an index built that way would silently hide sequences, so refuse the file instead.
        dup = _DUPLICATE_WARNING.search(log.text)
        if dup is not None:
            raise GenomeError(
                f"FASTA {fasta} has duplicate sequence name {dup.group(1)!r}: names must be unique"
            )
        if failure is not None:
            # htslib's own log says what is wrong (and where); samtools' message only that it failed.
            detail = _one_line(log.text) if log.text.strip() else _one_line(failure)
            raise GenomeError(f"cannot index FASTA {fasta}: {detail}")
        if tmp_gzi is not None:
            os.replace(tmp_gzi, gzi)  # type: ignore[arg-type]
        os.replace(tmp_fai, fai)
    except OSError as exc:
        raise GenomeError(f"cannot write FASTA index {fai}: {exc.strerror}") from exc
    finally:
        for tmp in (tmp_fai, tmp_gzi):
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink()


def _one_line(*parts: str) -> str:
    """Join messages (htslib log lines, pysam errors) into one line without their prefixes."""
    out: list[str] = []
    for part in parts:
        for line in part.splitlines():
            line = line.strip().strip("'\"")
            if "samtools returned with error" in line:
                line = line.split("stderr=", 1)[-1]
            line = re.sub(r"^\[[A-Z]::\w+\]\s*", "", line).strip()
            if line and line not in out:
                out.append(line)
    return "; ".join(out) or "unknown error"


# -- index reading --------------------------------------------------------------------------------


def _read_fai(fai: Path, fasta: Path) -> list[_FaiRecord]:
    records: list[_FaiRecord] = []
    try:
        text = fai.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise GenomeError(f"cannot read FASTA index {fai}: {exc.strerror}") from exc
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split("\t")
        try:
            name = fields[0]
            length, offset, line_bases, line_width = (int(f) for f in fields[1:5])
        except (IndexError, ValueError):
            raise GenomeError(
                f"FASTA index {fai} line {lineno} is malformed: delete it so it is rebuilt"
            ) from None
        if name in seen:
            raise GenomeError(f"FASTA {fasta} has duplicate sequence name {name!r}: names must be unique")
        seen.add(name)
        records.append(_FaiRecord(name, length, offset, line_bases, line_width))
    if not records:
        raise GenomeError(f"FASTA {fasta} holds no sequences (only headers without bases)")
    return records
