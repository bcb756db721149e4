"""``gs://``: Google Cloud Storage through gcsfs; ``litestream-timestamp`` metadata in listings.

gcsfs retries inside its own calls and cannot be told not to, so this scheme's store
makes one attempt per call (``own_retries``): still one retry layer, gcsfs's.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Mapping
from typing import Any

from ltx.storage._backend import (
    TIMESTAMP_KEY,
    Backend,
    Deadline,
    Payload,
    SchemeSpec,
    UrlParts,
    clean_path,
)
from ltx.times import as_datetime, format_timestamp

__all__ = ["SPEC", "GCSBackend"]


class GCSBackend(Backend):
    """Generation-match create (``ifGenerationMatch=0``); times from listing metadata."""

    exact_listing_times = True
    conditional_create = True

    def __init__(self, fs: Any, url: str, root: str = "") -> None:
        super().__init__(fs, url, root)
        # gcsfs retries inside its calls; a wrapper around it (faults, caching) does not.
        # (gcsfs 2025 hands out ExtendedGcsFileSystem, a subclass.)
        self.own_retries = any(c.__name__ == "GCSFileSystem" for c in type(fs).__mro__)

    def bound(self, seconds: float) -> Any:
        """gcsfs retries up to six times with backoff (about 35 s) inside one call: each
        call gets the deadline as fsspec's ``timeout``, which cancels it when late."""
        if self.own_retries:
            self.fs = Deadline(self.fs, seconds)
        return self.fs

    def listed_time(self, entry: Mapping[str, Any]) -> dt.datetime | None:
        meta = entry.get("metadata") or {}
        got = as_datetime(meta.get(TIMESTAMP_KEY))
        return got or as_datetime(entry.get("timeCreated")) or super().listed_time(entry)

    def write(self, path: str, data: Payload, timestamp_ms: int, if_absent: bool) -> None:
        meta = {TIMESTAMP_KEY: format_timestamp(timestamp_ms)}
        mode = "create" if if_absent else "overwrite"
        if isinstance(data, str):
            with open(data, "rb") as fp:
                self.fs.pipe_file(path, fp.read(), metadata=meta, mode=mode)
        else:
            self.fs.pipe_file(path, data, metadata=meta, mode=mode)


def _parse(u: UrlParts) -> tuple[str, dict[str, Any]]:
    opts: dict[str, Any] = {}
    if "endpoint" in u.query:
        opts["endpoint_url"] = u.query["endpoint"]
    return posixpath.join(u.parts.netloc, clean_path(u.parts.path)).rstrip("/"), opts


SPEC = SchemeSpec(
    schemes=("gs", "gcs"),
    protocol="gcs",
    backend=GCSBackend,
    parse=_parse,
    params=frozenset({"endpoint"}),
    extra="gcs",
    tested="gcp-storage-emulator on 127.0.0.1 (it ignores ifGenerationMatch=0)",
)
