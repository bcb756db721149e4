"""Replica URLs as Litestream writes them -> fsspec protocol, root path and options.

Litestream's S3 host forms and query parameters, its ``LITESTREAM_*`` variables and
then the ``AWS_*`` ones are honoured; explicit keyword options always win. The
environment is passed in (``env``), never read here.
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

import attrs

from ltx.storage._layout import Layout, layout_for_scheme

__all__ = ["StoreTarget", "parse_url", "redact"]

_TRUE = {"1", "true", "yes", "on", "t"}


@attrs.frozen
class StoreTarget:
    """Where a replica lives: fsspec protocol, root path inside it, options, layout."""

    scheme: str
    protocol: str
    root: str
    options: dict[str, Any]
    layout: Layout
    url: str  # for messages: credentials removed


def redact(url: str) -> str:
    """The URL without user info or secret-looking query values."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    safe = [(k, "***" if re.search(r"secret|key|token|password", k, re.I) else v) for k, v in query]
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, urllib.parse.urlencode(safe), "")
    )


def _clean(path: str) -> str:
    path = posixpath.normpath("/" + path.lstrip("/")).lstrip("/")
    return "" if path == "." else path


def _s3(
    parts: urllib.parse.SplitResult, query: dict[str, str], env: Mapping[str, str]
) -> tuple[str, dict[str, Any]]:
    host = parts.netloc.rsplit("@", 1)[-1]
    bucket, region, endpoint, path_style = host, query.get("region"), query.get("endpoint"), None
    m = re.fullmatch(r"([^.]+)\.s3\.([a-z0-9-]+)\.amazonaws\.com", host)
    if m:
        bucket, region = m.group(1), region or m.group(2)
    elif ":" in host and ".com" not in host:
        bucket, _, rest = host.partition(".")
        endpoint = endpoint or f"http://{rest}"
        path_style = True
    endpoint = endpoint or env.get("LITESTREAM_S3_ENDPOINT")
    fps = query.get("forcePathStyle", query.get("force-path-style"))
    if fps is not None:
        path_style = fps.lower() in _TRUE
    elif endpoint:
        path_style = True
    opts: dict[str, Any] = {}
    client_kwargs: dict[str, Any] = {}
    if endpoint:
        if "://" not in endpoint:
            endpoint = "https://" + endpoint
        opts["endpoint_url"] = endpoint
    if region:
        client_kwargs["region_name"] = region
    skip = query.get("skipVerify", query.get("skip-verify"))
    if skip is not None and skip.lower() in _TRUE:
        client_kwargs["verify"] = False
    if client_kwargs:
        opts["client_kwargs"] = client_kwargs
    if path_style:
        opts["config_kwargs"] = {"s3": {"addressing_style": "path"}}
    key = parts.username or env.get("LITESTREAM_ACCESS_KEY_ID") or env.get("AWS_ACCESS_KEY_ID")
    secret = (
        (urllib.parse.unquote(parts.password) if parts.password else None)
        or env.get("LITESTREAM_SECRET_ACCESS_KEY")
        or env.get("AWS_SECRET_ACCESS_KEY")
    )
    if key and secret:
        opts["key"], opts["secret"] = key, secret
    return bucket, opts


def parse_url(
    url: str, *, env: Mapping[str, str] | None = None, options: Mapping[str, Any] | None = None
) -> StoreTarget:
    """Map a Litestream replica URL to an fsspec target; ``options`` override everything."""
    env = env or {}
    if "://" not in url:
        url = "file://" + posixpath.abspath(url)
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    query = dict(urllib.parse.parse_qsl(parts.query))
    opts: dict[str, Any] = {}
    if scheme == "file":
        protocol, root = "file", posixpath.normpath(urllib.parse.unquote(parts.path) or "/")
    elif scheme == "memory":
        protocol, root = "memory", "/" + _clean(parts.netloc + parts.path)
    elif scheme in ("s3", "s3a"):
        bucket, opts = _s3(parts, query, env)
        protocol, root = "s3", posixpath.join(bucket, _clean(parts.path)).rstrip("/")
    elif scheme in ("gs", "gcs"):
        protocol, root = "gcs", posixpath.join(parts.netloc, _clean(parts.path)).rstrip("/")
        if "endpoint" in query:
            opts["endpoint_url"] = query["endpoint"]
    elif scheme in ("webdav", "webdavs"):
        http = "https" if scheme == "webdavs" else "http"
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        opts["base_url"] = f"{http}://{host}"
        user = parts.username or env.get("LITESTREAM_WEBDAV_USERNAME")
        password = parts.password or env.get("LITESTREAM_WEBDAV_PASSWORD")
        if user:
            opts["auth"] = (urllib.parse.unquote(user), urllib.parse.unquote(password or ""))
        protocol, root = "webdav", _clean(parts.path)
    else:
        protocol = scheme
        root = (parts.netloc + parts.path).rstrip("/")
    for k, v in (options or {}).items():
        if isinstance(v, dict) and isinstance(opts.get(k), dict):
            opts[k] = {**opts[k], **v}
        else:
            opts[k] = v
    return StoreTarget(
        scheme=scheme,
        protocol=protocol,
        root=root,
        options=opts,
        layout=layout_for_scheme(scheme),
        url=redact(url),
    )
