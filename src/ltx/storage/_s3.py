"""``s3://``: S3 and compatible stores through s3fs, in Litestream's hex level layout.

One PUT (multipart above 100 MiB) with ``If-None-Match: *`` for create-if-absent;
listings carry LastModified (upload time), exact times come from the
``litestream-timestamp`` metadata by HEAD.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import urllib.parse
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
from ltx.storage._layout import HEX
from ltx.times import as_datetime, format_timestamp

__all__ = ["SPEC", "S3Backend"]

_TRUE = {"1", "true", "yes", "on", "t"}
_AWS_HOST = re.compile(r"([^.]+)\.s3\.([a-z0-9-]+)\.amazonaws\.com")


class S3Backend(Backend):
    """Conditional PUTs and metadata timestamps, as Litestream writes them."""

    conditional_create = True
    delete_batch = 1000  # DeleteObjects, as Litestream deletes
    _hooked: Any = None  # the s3fs client our PUT hook is registered on

    def bound(self, seconds: float) -> Any:
        """Each call cut at ``seconds``: an endpoint that accepts but never answers would
        otherwise hold one attempt for s3fs's read timeout (15 s), six times over."""
        self.fs = Deadline(self.fs, seconds)
        return self.fs

    def listed_time(self, entry: Mapping[str, Any]) -> dt.datetime | None:
        return as_datetime(entry.get("LastModified")) or super().listed_time(entry)

    def exact_time(self, path: str) -> dt.datetime | None:
        meta = self.fs.metadata(path) or {}
        return as_datetime({k.lower(): v for k, v in meta.items()}.get(TIMESTAMP_KEY))

    def delete_many(self, paths: list[str]) -> None:
        # One DeleteObjects per call (s3fs: no existence checks for literal paths); a
        # key already gone is no error in S3, and one left over is deleted next time.
        self.fs.rm(paths)

    def write(self, path: str, data: Payload, timestamp_ms: int, if_absent: bool) -> None:
        client = self.fs.s3
        if client is not self._hooked:  # once per client: registering checks the handler
            _small_puts_in_one_round_trip(client)
            self._hooked = client
        meta = {TIMESTAMP_KEY: format_timestamp(timestamp_ms)}
        mode = "create" if if_absent else "overwrite"
        if isinstance(data, str):
            self.fs.put_file(data, path, mode=mode, Metadata=meta)
        else:
            self.fs.pipe_file(path, data, mode=mode, Metadata=meta)


EXPECT_CONTINUE_ABOVE = 2 << 20
"""Bodies up to this size are sent without ``Expect: 100-continue`` (the Go SDK's
default threshold, so Litestream's): the handshake costs a round trip per PUT."""


def _drop_small_expect(params: dict[str, Any], **_: Any) -> None:
    from botocore.utils import determine_content_length  # s3fs's dependency, loaded by now

    headers = params.get("headers") or {}
    if "Expect" in headers:
        size = determine_content_length(params.get("body"))
        if size is not None and size <= EXPECT_CONTINUE_ABOVE:
            del headers["Expect"]


def _small_puts_in_one_round_trip(client: Any) -> None:
    """botocore asks every PUT with a body to wait for ``100 Continue`` first; a small
    level-0 file gains nothing from it and its upload (a sync's lag) pays one more round
    trip. Registered once per client (s3fs may make a new one)."""
    client.meta.events.register_last(
        "before-call.s3", _drop_small_expect, unique_id="ltx-small-put-no-expect"
    )


def _endpoint(u: UrlParts, rest_host: str | None) -> tuple[str | None, dict[str, str]]:
    """The endpoint URL without credentials, plus any key/secret it carried."""
    endpoint = u.query.get("endpoint") or rest_host or u.env.get("LITESTREAM_S3_ENDPOINT")
    if not endpoint:
        return None, {}
    if "://" not in endpoint:
        endpoint = "https://" + endpoint
    parts = urllib.parse.urlsplit(endpoint)
    creds: dict[str, str] = {}
    if parts.username:
        creds["key"] = urllib.parse.unquote(parts.username)
        creds["secret"] = urllib.parse.unquote(parts.password or "")
        host = parts.netloc.rsplit("@", 1)[-1]
        endpoint = urllib.parse.urlunsplit(parts._replace(netloc=host))
    return endpoint, creds


def _parse(u: UrlParts) -> tuple[str, dict[str, Any]]:
    host = u.parts.netloc.rsplit("@", 1)[-1]
    bucket, region, path_style, rest = host, u.query.get("region"), None, None
    m = _AWS_HOST.fullmatch(host)
    if m:
        bucket, region = m.group(1), region or m.group(2)
    elif ":" in host and ".com" not in host:
        bucket, _, rest_host = host.partition(".")
        rest, path_style = f"http://{rest_host}", True
    endpoint, creds = _endpoint(u, rest)
    fps = u.query.get("forcePathStyle", u.query.get("force-path-style"))
    if fps is not None:
        path_style = fps.lower() in _TRUE
    elif endpoint:
        path_style = True
    opts: dict[str, Any] = {}
    client_kwargs: dict[str, Any] = {}
    if endpoint:
        opts["endpoint_url"] = endpoint
    if region:
        client_kwargs["region_name"] = region
    skip = u.query.get("skipVerify", u.query.get("skip-verify"))
    if skip is not None and skip.lower() in _TRUE:
        client_kwargs["verify"] = False
    if client_kwargs:
        opts["client_kwargs"] = client_kwargs
    # One attempt per call inside botocore: ltx retries in one layer (RetryPolicy).
    config: dict[str, Any] = {"retries": {"total_max_attempts": 1}}
    if path_style:
        config["s3"] = {"addressing_style": "path"}
    opts["config_kwargs"] = config
    key = u.user or creds.get("key") or u.env.get("LITESTREAM_ACCESS_KEY_ID")
    key = key or u.env.get("AWS_ACCESS_KEY_ID")
    secret = u.password or creds.get("secret") or u.env.get("LITESTREAM_SECRET_ACCESS_KEY")
    secret = secret or u.env.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        opts["key"], opts["secret"] = key, secret
    return posixpath.join(bucket, clean_path(u.parts.path)).rstrip("/"), opts


def _configure(fs: Any) -> None:
    fs.retries = 1  # s3fs's own retry loop: one try; ltx retries in one layer


SPEC = SchemeSpec(
    schemes=("s3", "s3a"),
    protocol="s3",
    backend=S3Backend,
    layout=HEX,
    parse=_parse,
    params=frozenset(
        {"region", "endpoint", "forcePathStyle", "force-path-style", "skipVerify", "skip-verify"}
    ),
    configure=_configure,
    tested="moto server on 127.0.0.1, and the real litestream against it",
)
