"""``file://``: temp file + fsync + rename (hard link for create-if-absent); mtime = header time."""

from __future__ import annotations

import os
import shutil
import urllib.parse
from collections.abc import Mapping
from typing import Any, BinaryIO

from ltx.errors import AccessDeniedError, ConflictError, UsageError
from ltx.storage._backend import Backend, Payload, SchemeSpec, UrlParts, temp_name

__all__ = ["SPEC", "LocalBackend"]


class LocalBackend(Backend):
    """Atomic writes on a local filesystem; the mtime carries the LTX header time exactly."""

    exact_listing_times = True
    conditional_create = True
    writes_temps = True  # temp name, then into place
    read_around = 0  # local reads cost no round trip

    def open_local(self, path: str, buffer: int) -> BinaryIO | None:
        return open(path, "rb", buffering=buffer)

    def local_path(self, path: str) -> str | None:
        return path

    def listed_ns(self, path: str, entry: Mapping[str, Any]) -> int | None:
        """The mtime to the nanosecond (fsspec's float mtime loses the last digits)."""
        try:
            return os.stat(path).st_mtime_ns
        except OSError:
            return None

    def inside_root(self, path: str) -> bool:
        """Symlinks may not lead a level folder or a file outside the replica root."""
        root = os.path.realpath(self.root)
        return os.path.commonpath([root, os.path.realpath(path)]) == root

    def write(self, path: str, data: Payload, timestamp_ms: int, if_absent: bool) -> None:
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        if not self.inside_root(directory):
            raise AccessDeniedError(
                f"{directory} resolves outside the replica root {self.root} (a symlink?); "
                "refusing to write through it",
                url=self.url,
            )
        tmp = temp_name(path)
        try:
            if isinstance(data, str):
                shutil.copyfile(data, tmp)
                with open(tmp, "rb+") as fp:
                    os.fsync(fp.fileno())
            else:
                with open(tmp, "wb") as fp:
                    fp.write(data)
                    fp.flush()
                    os.fsync(fp.fileno())
            ns = timestamp_ms * 1_000_000
            os.utime(tmp, ns=(ns, ns))
            if if_absent:
                try:
                    os.link(tmp, path)  # atomic, fails if the name exists
                except FileExistsError:
                    raise ConflictError(f"{path} already exists", url=self.url) from None
            else:
                os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _parse(u: UrlParts) -> tuple[str, dict[str, Any]]:
    host = u.parts.netloc
    if host not in ("", "localhost"):
        rel = host + u.parts.path
        raise UsageError(
            f"names the host {host!r}, not a folder: write "
            f"file://{os.path.abspath(rel)} (three slashes, an absolute path) or just {rel}"
        )
    root = os.path.normpath(urllib.parse.unquote(u.parts.path) or "/")
    return root, {}


SPEC = SchemeSpec(
    schemes=("file",),
    protocol="file",
    backend=LocalBackend,
    parse=_parse,
    tested="always (local folders)",
)
