"""Snapshots staged on local disk: encoded page by page into a temp file beside the
database (the system temp folder when that folder is read-only), in bounded memory,
after checking the folder has room for the worst case.

The upload then reads the file (``Store.write`` takes a path); a crash leaves a stale
file that the next replicator on this database removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from ltx.codec import Encoder, Header
from ltx.errors import NoSpaceError

__all__ = ["download", "remove_stale", "room_needed", "stage"]


def _prefix(db_path: str) -> str:
    return f".{os.path.basename(db_path)}-ltx-stage-"


def room_needed(pages: int, page_size: int) -> int:
    """Bytes an LTX file of ``pages`` pages may take at most: LZ4's worst case per page
    (it may grow incompressible data by 1/255) plus frame headers, index and trailer."""
    return pages * (page_size + page_size // 255 + 64) + (64 << 10)


def stage(db_path: str, header: Header, pages: Iterable[tuple[int, bytes]], count: int) -> Path:
    """Encode ``count`` ascending ``pages`` under ``header`` into a temp file beside
    ``db_path``; NoSpaceError (naming the folder) before writing when it lacks room."""
    fd, tmp = _room(db_path, room_needed(count, header.page_size))
    try:
        with os.fdopen(fd, "wb") as out:
            enc = Encoder(out, header)
            for pgno, data in pages:
                enc.write_page(pgno, data)
            enc.close()
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def download(db_path: str, src: BinaryIO, size: int) -> Path:
    """Copy ``size`` bytes of ``src`` (another replica's file) into a temp file beside
    ``db_path`` in 1 MiB pieces; NoSpaceError first when the folder lacks room."""
    fd, tmp = _room(db_path, size)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def _room(db_path: str, needed: int) -> tuple[int, str]:
    """A new temp file (fd, path) beside ``db_path``, or in the system temp folder when
    the database's folder is read-only, once that folder has ``needed`` bytes free;
    NoSpaceError naming the folder otherwise."""
    for folder in _folders(db_path):
        free = shutil.disk_usage(folder).free
        if free < needed:
            raise NoSpaceError(folder, needed=needed, free=free)
        try:
            return tempfile.mkstemp(prefix=_prefix(db_path), suffix=".ltx", dir=folder)
        except PermissionError:
            if folder == tempfile.gettempdir():
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _folders(db_path: str) -> list[str]:
    """Where files are staged: beside the database, else the system temp folder."""
    return [os.path.dirname(os.path.abspath(db_path)), tempfile.gettempdir()]


def remove_stale(db_path: str) -> None:
    """Remove staged files a killed replicator of this database left behind."""
    prefix = _prefix(db_path)
    for folder in _folders(db_path):
        for name in os.listdir(folder):
            if name.startswith(prefix) and name.endswith(".ltx"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))
