"""Local SQLite database files: checksum and snapshot encoding (``ltx checksum``, ``encode-db``)."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ltx.codec import (
    HEADER_FLAG_NO_CHECKSUM,
    Encoder,
    Header,
    Trailer,
    checksum_database,
    lock_pgno,
    sqlite_page_count,
    sqlite_page_size,
)
from ltx.errors import FormatError, OutputExistsError, UsageError

__all__ = [
    "checksum_db",
    "clean_leftovers",
    "database_output",
    "database_output_at",
    "encode_db",
    "image_pages",
    "write_db_snapshot",
]

_SIDECARS = ("-wal", "-shm", "-journal")


def image_pages(image: bytes, page_size: int) -> dict[int, bytes]:
    """pgno -> page of a database image held in memory (for diffing two images)."""
    return {
        p + 1: image[p * page_size : (p + 1) * page_size] for p in range(len(image) // page_size)
    }


def checksum_db(path: str | os.PathLike[str]) -> int:
    """The LTX database checksum of a SQLite file, equal to Go's ``ltx checksum``."""
    with open(path, "rb") as fp:
        try:
            return checksum_database(fp)
        except FormatError as exc:
            raise exc.at(os.fspath(path)) from None


def write_db_snapshot(
    src: BinaryIO,
    out: BinaryIO,
    *,
    max_txid: int = 1,
    timestamp: int | None = None,
    flags: int = 0,
    name: str | None = None,
) -> tuple[Header, Trailer]:
    """Encode a SQLite database image read from ``src`` as a snapshot (MinTXID 1) into ``out``.

    Commit is the page count in the SQLite header, as Go's ``encode-db``; the lock page
    is skipped. ``flags=HEADER_FLAG_NO_CHECKSUM`` gives a Litestream-style snapshot.
    """
    first = src.read(100)
    try:
        page_size = sqlite_page_size(first)
        commit = sqlite_page_count(first)
    except FormatError as exc:
        raise exc.at(name) from None
    header = Header(
        flags=flags,
        page_size=page_size,
        commit=commit,
        min_txid=1,
        max_txid=max_txid,
        timestamp=int(time.time() * 1000) if timestamp is None else timestamp,
    )
    enc = Encoder(out, header)
    lock = lock_pgno(page_size)
    buf = first
    for pgno in range(1, commit + 1):
        buf += src.read(page_size - len(buf))
        if len(buf) != page_size:
            raise FormatError(
                f"database ends inside page {pgno} (header says {commit} pages)",
                path=name,
                offset=(pgno - 1) * page_size + len(buf),
            )
        if pgno != lock:
            enc.write_page(pgno, buf)
        buf = b""
    trailer = enc.close()
    return header, trailer


def encode_db(
    db_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    timestamp: int | None = None,
    no_checksum: bool = False,
) -> tuple[Header, Trailer]:
    """Like Go's ``ltx encode-db``: write ``db_path`` as a snapshot LTX file at ``out``.

    The output goes to a temp file beside ``out``, is fsynced and renamed into place.
    """
    db_path, out_path = Path(db_path), Path(out)
    if db_path.resolve() == out_path.resolve():
        raise UsageError("input and output must be different files")
    flags = HEADER_FLAG_NO_CHECKSUM if no_checksum else 0
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.tmp-", dir=out_path.parent)
    try:
        with os.fdopen(fd, "wb") as fp, open(db_path, "rb") as src:
            result = write_db_snapshot(
                src, fp, timestamp=timestamp, flags=flags, name=os.fspath(db_path)
            )
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return result


def _tmp_name(out: Path) -> Path:
    return out.with_name(f".{out.name}.ltx-restore-{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")


def clean_leftovers(out: Path) -> list[Path]:
    """Remove temp files of restores to ``out`` whose process is gone (e.g. SIGKILLed)."""
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.ltx-restore-(\d+)-[0-9a-f]+\.tmp$")
    removed = []
    for entry in out.parent.iterdir() if out.parent.is_dir() else ():
        m = pattern.match(entry.name)
        if m is None or _alive(int(m.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # ours: perhaps another thread's restore in progress
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def database_output(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[int]:
    """``database_output_at`` without the temp file's path."""
    with database_output_at(path, overwrite=overwrite) as (fd, _tmp):
        yield fd


@contextlib.contextmanager
def database_output_at(
    path: str | os.PathLike[str], *, overwrite: bool = False
) -> Iterator[tuple[int, Path]]:
    """A file descriptor on a temp file beside ``path`` that becomes ``path`` when the block
    ends cleanly: fsynced, the old ``-wal``/``-shm``/``-journal`` removed first (as
    ``litestream restore -force``, so SQLite never replays a stale WAL onto the result),
    then renamed. On error the temp file goes and ``path`` is untouched. The mode is
    0666 less the umask. Leftovers of killed earlier runs are removed first. The temp
    file's path comes with the descriptor, for other processes that write into it.
    """
    out = Path(path)
    if out.exists() and not overwrite:
        raise OutputExistsError(
            f"{out} exists; pass overwrite=True (CLI: --overwrite) to replace it"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(out)
    tmp = _tmp_name(out)
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        yield fd, tmp
        os.fsync(fd)
        os.close(fd)
        fd = -1
        for suffix in _SIDECARS:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{out}{suffix}")
        os.replace(tmp, out)
        _fsync_dir(out.parent)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
