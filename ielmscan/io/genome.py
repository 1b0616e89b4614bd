"""FASTA access: plain or bgzip-compressed, indexed on demand (next to the FASTA or in a cache folder).

Every coordinate here is 0-based and half-open: ``[start, end)``, as in BED and Python slices.
Sequences come back as the bytes in the file (case preserved, N and IUPAC codes untouched); what they
mean is the encoder's business, not this module's.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import re
import secrets
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path

import pysam

from ielmscan.errors import GenomeError
from ielmscan.io.capture import captured_stderr as _captured_stderr  # its home is io/capture.py
from ielmscan.io.faidx import (FaiRecord, IndexMismatch, Malformed, bgzf_block_size, check_index, line_problem,
                               open_source, read_fai)
from ielmscan.io.paths import can_create_files as _can_create_files

__all__ = ["Genome", "default_index_cache_dir"]

GZIP_MAGIC = b"\x1f\x8b"
_WHITESPACE = b" \t\r\n"
# htslib's warning (fai_insert_index) for a record whose name it has already indexed.
_DUPLICATE_WARNING = re.compile(r'Ignoring duplicate sequence "(.*)" at byte offset \d+')
logger = logging.getLogger(__name__)


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
        ``index_cache_dir`` (default :func:`default_index_cache_dir`), in a subfolder keyed by the
        FASTA's absolute path, size and modification time. An index found on disk is used only if it
        describes the file (:func:`ielmscan.io.faidx.check_index`); otherwise it is rebuilt.
        """
        path = Path(path)
        compressed = _check_fasta_file(path)
        fai, gzi, records = _find_or_build_index(path, compressed, index_cache_dir)
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
            with _quiet_htslib():
                seq = self._fasta.fetch(reference=chrom, start=start, end=end)
        except UnicodeDecodeError:
            raise GenomeError(
                f"{chrom}:[{start}, {end}) of {self.path} holds a byte that is not ASCII: sequence lines hold "
                "bases only"
            ) from None
        except (OSError, ValueError) as exc:
            raise GenomeError(
                f"cannot read {chrom}:[{start}, {end}) from {self.path}: the file changed or was cut short "
                f"while it was read ({_one_line(str(exc))})"
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
        raise GenomeError(f"bgzip FASTA {path} is corrupt: {_one_line(str(exc))}") from exc
    return None


# -- index location and building ------------------------------------------------------------------


def _find_or_build_index(
    path: Path, compressed: bool, cache_dir: Path | None
) -> tuple[Path, Path | None, list[FaiRecord]]:
    """Return (fai, gzi, records) of an index that describes ``path``, built next to it or in the cache."""
    fai = path.with_name(path.name + ".fai")
    gzi = path.with_name(path.name + ".gzi") if compressed else None
    found = _checked_index(path, fai, gzi)
    if isinstance(found, list):
        return fai, gzi, found
    if _can_create_files(path.parent):
        records = _build_index(path, fai, gzi)
        if found:
            logger.warning("FASTA index %s did not match %s (%s): rebuilt it", _named(fai, gzi), path, found)
        return fai, gzi, records
    # The FASTA's folder is read-only (shared reference data): index into a private cache instead.
    folder = (cache_dir if cache_dir is not None else default_index_cache_dir()) / _cache_key(path)
    if found:
        logger.warning("FASTA index %s does not match %s (%s) and its folder is read-only: using an index in "
                       "%s (`samtools faidx %s` by someone who may write there fixes it)", _named(fai, gzi), path,
                       found, folder, path)
    cfai = folder / (path.name + ".fai")
    cgzi = folder / (path.name + ".gzi") if compressed else None
    cached = _checked_index(path, cfai, cgzi)
    if isinstance(cached, list):
        return cfai, cgzi, cached
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenomeError(
            f"cannot index FASTA {path}: its folder is not writable and the index cache folder "
            f"{folder} cannot be created ({exc.strerror}); pass a writable index cache folder"
        ) from exc
    return cfai, cgzi, _build_index(path, cfai, cgzi)


def _named(fai: Path, gzi: Path | None) -> str:
    return f"{fai} (with {gzi.name})" if gzi is not None else str(fai)


def _checked_index(path: Path, fai: Path, gzi: Path | None) -> list[FaiRecord] | str:
    """The records of an existing index that describes ``path``; else why not ('' if missing or older).

    Never trusted on its time alone: ``cp -p``, ``tar`` and ``rsync -a`` give a new FASTA an old time.
    """
    fasta_mtime = path.stat().st_mtime_ns
    if not (_is_fresh(fai, fasta_mtime) and (gzi is None or _is_fresh(gzi, fasta_mtime))):
        return ""
    try:
        records = read_fai(fai)
        with contextlib.closing(open_source(path, gzi, full=False)) as source:
            check_index(records, source, full=False)
    except IndexMismatch as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    return records


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


def _build_index(fasta: Path, fai: Path, gzi: Path | None) -> list[FaiRecord]:
    """Run ``samtools faidx`` into temporary names, check the file against the result, then rename.

    Concurrent jobs never see half an index. On any error (duplicate names or a malformed line included)
    the temporary files are removed and nothing is renamed, so the next open reports the same error.
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
            raise GenomeError(_build_failure(fasta, gzi is not None, log.text, failure))
        records = _checked_new_index(fasta, tmp_fai, tmp_gzi)
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
    return records


def _checked_new_index(fasta: Path, fai: Path, gzi: Path | None) -> list[FaiRecord]:
    """The records of an index htslib has just built, once every line of ``fasta`` agrees with them."""
    try:
        records = read_fai(fai)
        if not any(record.length for record in records):
            raise GenomeError(f"FASTA {fasta} holds no sequences (only headers without bases)")
        with contextlib.closing(open_source(fasta, gzi, full=True)) as source:
            check_index(records, source, full=True)
    except Malformed as exc:
        raise GenomeError(f"FASTA {fasta} {exc}") from None
    except IndexMismatch as exc:
        raise GenomeError(f"cannot index FASTA {fasta}: {exc}") from None
    return records


# htslib's reasons for refusing to index a FASTA (fai_build_core), and what they mean for the user.
_HTSLIB_REASONS = [
    (re.compile(r"Format error, unexpected .* at line (\d+)"),
     "a sequence line after a shorter or a blank line: every line of a record but the last must hold the same "
     "number of bases, with no blank lines between them"),
    (re.compile(r"Different line length in sequence '.*' at line (\d+)"),
     "a line longer than the record's first line (or ending in \\r\\n where that one ends in \\n): every line "
     "of a record but the last must hold the same number of bases and end alike"),
    (re.compile(r"carriage return not followed by new line at line (\d+)"),
     "a carriage return (\\r) without a line feed: give every line the same line end (e.g. with `dos2unix`)"),
]


def _build_failure(fasta: Path, compressed: bool, htslib_log: str, failure: str) -> str:
    """One line saying why htslib would not index ``fasta``: the record and line where it can be told."""
    for pattern, problem in _HTSLIB_REASONS:
        found = pattern.search(htslib_log)
        if found is not None:
            number = int(found.group(1))
            record, line = _line_of(fasta, compressed, number)
            where = f"record {record!r} line {number}" if record is not None else f"line {number}"
            return f"FASTA {fasta} {where}: {line_problem(line) or problem}"
    last = re.search(r"The last entry '(.*)' has no sequence", htslib_log)
    if last is not None:
        return f"FASTA {fasta} ends with a header line ('>{last.group(1)}') without bases: remove it"
    # htslib gives up without a reason (samtools then says 'File truncated') on two layouts.
    lone_cr, last_line = _ending_and_last_line(fasta, compressed)
    if lone_cr:
        return (f"FASTA {fasta} ends its lines with a carriage return alone (\\r, old Mac style): convert them "
                "to \\n (e.g. `tr '\\r' '\\n'`)")
    if last_line.startswith(b">"):
        name = last_line[1:].split()
        return (f"FASTA {fasta} ends with a header line ('>{(name[0] if name else b'').decode('utf-8', 'replace')}') "
                "without bases: remove it or add its sequence")
    # htslib's own log says what is wrong (and where); samtools' message only that it failed.
    detail = _one_line(htslib_log) if htslib_log.strip() else _one_line(failure)
    return f"cannot index FASTA {fasta}: {detail}"


def _lines(fasta: Path, compressed: bool) -> Iterator[bytes]:
    """The lines of ``fasta`` (bgzip decompressed), read on an error path only; none if it cannot be read."""
    with contextlib.suppress(OSError, EOFError, zlib.error):
        with (gzip.open(fasta, "rb") if compressed else open(fasta, "rb")) as fh:
            yield from fh


def _line_of(fasta: Path, compressed: bool, number: int) -> tuple[str | None, bytes]:
    """The record that line ``number`` (1-based) of ``fasta`` belongs to, and that line."""
    name = None
    for at, text in enumerate(_lines(fasta, compressed), 1):
        if at == number:
            return name, text
        if text.startswith(b">"):
            words = text[1:].split()
            name = (words[0] if words else b"").decode("utf-8", "replace")
    return name, b""


def _ending_and_last_line(fasta: Path, compressed: bool) -> tuple[bool, bytes]:
    """Whether a line of ``fasta`` ends in a carriage return alone, and its last line that is not blank."""
    last = b""
    for text in _lines(fasta, compressed):
        if b"\r" in text.rstrip(b"\r\n") or (text.endswith(b"\r")):
            return True, last
        if text.strip():
            last = text.strip()
    return False, last


@contextlib.contextmanager
def _quiet_htslib() -> Iterator[None]:
    """Keep htslib's error lines off the terminal while reading; the error raised says what went wrong.

    (Through its verbosity, not file descriptor 2: reads run in a background thread beside the progress bar.)
    """
    previous = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(previous)


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
