"""Where a FASTA's index comes from: found next to the FASTA or in a cache folder, checked, or built.

An index on disk is used only once :func:`ielmscan.io.faidx.check_index` has found the FASTA laid out as it
says; otherwise ``samtools faidx`` builds a new one under a temporary name, every line of the FASTA is
checked against it, and only then is it renamed into place. It is written next to the FASTA when that folder
accepts new files, otherwise into a cache folder (:func:`default_index_cache_dir`), in a subfolder keyed by
the FASTA's absolute path, size and modification time. When htslib refuses a file, the record and line it
stumbled on are named.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import re
import secrets
import zlib
from collections.abc import Iterator
from pathlib import Path

import pysam

from ielmscan.errors import GenomeError
from ielmscan.io.capture import captured_stderr, one_line
from ielmscan.io.faidx import FaiRecord, IndexMismatch, Malformed, check_index, line_problem, open_source, read_fai
from ielmscan.io.paths import can_create_files as _can_create_files

__all__ = ["default_index_cache_dir", "find_or_build_index"]

# htslib's warning (fai_insert_index) for a record whose name it has already indexed.
_DUPLICATE_WARNING = re.compile(r'Ignoring duplicate sequence "(.*)" at byte offset \d+')
logger = logging.getLogger(__name__)


def default_index_cache_dir() -> Path:
    """Folder for FASTA indexes that cannot be written next to their FASTA."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ielmscan" / "faidx"


# -- index location and building ------------------------------------------------------------------


def find_or_build_index(
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
        with captured_stderr() as log:
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
    detail = one_line(htslib_log) if htslib_log.strip() else one_line(failure)
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
