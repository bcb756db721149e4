"""``sftp://USER:PASSWORD@HOST:PORT/PATH`` through fsspec's paramiko filesystem.

Layout ``ltx/<level>/`` as Litestream's SFTP client. A write uploads to a temp name
and renames it: SFTP's plain rename refuses an existing target, which makes
create-if-absent atomic. The mtime is set to the header time, as Litestream does;
SFTP carries whole seconds, so exact times come from the header.
"""

from __future__ import annotations

import contextlib
import posixpath
from typing import Any

from ltx.errors import ConflictError
from ltx.storage._backend import Backend, Payload, SchemeSpec, UrlParts

__all__ = ["SPEC", "SFTPBackend"]


class SFTPBackend(Backend):
    """Temp upload + non-overwriting rename; utime to the header's second."""

    conditional_create = True
    writes_temps = True  # temp name, then into place
    concurrent_calls = False  # one paramiko channel: its requests must not interleave

    def write(self, path: str, data: Payload, timestamp_ms: int, if_absent: bool) -> None:
        fs = self.fs
        tmp = self.upload_temp(path, data)
        try:
            seconds = timestamp_ms / 1000
            fs.ftp.utime(tmp, (seconds, seconds))
            if not if_absent:
                fs.ftp.posix_rename(tmp, path)
            else:
                try:
                    fs.ftp.rename(tmp, path)
                except OSError:
                    if fs.exists(path):
                        raise ConflictError(f"{path} already exists", url=self.url) from None
                    raise
        except BaseException:
            with contextlib.suppress(OSError):
                fs.ftp.remove(tmp)
            raise


def _parse(u: UrlParts) -> tuple[str, dict[str, Any]]:
    opts: dict[str, Any] = {"host": u.parts.hostname or "localhost"}
    if u.parts.port:
        opts["port"] = u.parts.port
    if u.user:
        opts["username"] = u.user
    if u.password:
        opts["password"] = u.password
    key_path = u.query.get("key-path") or u.query.get("key_path")
    if key_path:
        opts["key_filename"] = key_path
        opts["look_for_keys"] = False
    return posixpath.normpath(u.parts.path or "/"), opts


SPEC = SchemeSpec(
    schemes=("sftp",),
    protocol="sftp",
    backend=SFTPBackend,
    parse=_parse,
    params=frozenset({"key-path", "key_path"}),
    extra="sftp",
    tested="an asyncssh SFTP server on 127.0.0.1, and the real litestream against it",
)
