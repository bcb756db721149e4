"""``webdav://`` and ``webdavs://`` through webdav4: upload to a temp name, then MOVE."""

from __future__ import annotations

import contextlib
import posixpath
from typing import Any

from ltx.errors import ConflictError
from ltx.storage._backend import Backend, Payload, SchemeSpec, UrlParts, clean_path
from ltx.storage._retry import classify

__all__ = ["SPEC", "WebDAVBackend"]


class WebDAVBackend(Backend):
    """MOVE with ``Overwrite: F`` makes create-if-absent atomic where the server honours it."""

    conditional_create = True
    writes_temps = True  # temp name, then into place

    def write(self, path: str, data: Payload, timestamp_ms: int, if_absent: bool) -> None:
        fs = self.fs
        tmp = self.upload_temp(path, data)
        try:
            fs.client.move(tmp, path, overwrite=not if_absent)
        except Exception as exc:
            with contextlib.suppress(Exception):
                fs.rm_file(tmp)
            if if_absent and classify(exc) == "conflict":
                raise ConflictError(f"{path} already exists", url=self.url) from None
            raise
        fs.invalidate_cache(posixpath.dirname(path))


def _parse(u: UrlParts) -> tuple[str, dict[str, Any]]:
    http = "https" if u.parts.scheme.lower() == "webdavs" else "http"
    host = u.parts.hostname or ""
    if u.parts.port:
        host += f":{u.parts.port}"
    opts: dict[str, Any] = {"base_url": f"{http}://{host}"}
    user = u.user or u.env.get("LITESTREAM_WEBDAV_USERNAME")
    password = u.password or u.env.get("LITESTREAM_WEBDAV_PASSWORD")
    if user:
        opts["auth"] = (user, password or "")
    return clean_path(u.parts.path), opts


SPEC = SchemeSpec(
    schemes=("webdav", "webdavs"),
    protocol="webdav",
    backend=WebDAVBackend,
    parse=_parse,
    extra="webdav",
    tested="wsgidav (gunicorn) on 127.0.0.1, and the real litestream against it",
)
