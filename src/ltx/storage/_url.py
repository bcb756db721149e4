"""Replica URLs as Litestream writes them -> scheme spec, fsspec options and root path.

Each scheme's spec parses its own URL form (see ``_registry``); this module splits the
URL, refuses unknown query parameters, applies keyword options over URL and
environment, and redacts URLs for messages. The environment is passed in, never read.
"""

from __future__ import annotations

import difflib
import posixpath
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ltx.errors import UsageError
from ltx.storage._backend import SchemeSpec, UrlParts
from ltx.storage._layout import Layout
from ltx.storage._registry import spec_for
from ltx.storage._retry import scrub

__all__ = ["StoreTarget", "parse_url", "redact", "reject_misspelled"]


def reject_misspelled(options: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    """TypeError for a storage option that looks like a misspelled keyword of ``where``
    (``cache_dri`` for ``cache_dir``): options pass on to fsspec, which takes anything."""
    for key in options:
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.75)
        if close and key not in known:
            raise TypeError(
                f"{where}() got an unexpected keyword argument {key!r}; did you mean "
                + " or ".join(repr(c) for c in close)
                + "?"
            )


# Query parameters whose values are never secret; every other value is masked.
_SHOWN = frozenset(
    {"region", "endpoint", "forcePathStyle", "force-path-style", "skipVerify", "skip-verify"}
)
_SECRET_PARAMS = frozenset(
    {"access-key-id", "secret-access-key", "access_key_id", "secret_access_key", "key", "secret"}
)
# scheme://USER:SECRET@host where SECRET holds a raw "/" (AWS secrets may): the userinfo
# runs to the last "@" before the query, and must contain a ":".
_RAW_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^?#]*:[^?#]*)@([^@?#/]*)(.*)$", re.S)


@attrs.frozen
class StoreTarget:
    """Where a replica lives: its scheme's spec, root path inside it, options, layout."""

    scheme: str
    spec: SchemeSpec
    root: str
    options: dict[str, Any] = attrs.field(repr=False)
    layout: Layout
    url: str  # for messages: credentials removed

    @property
    def protocol(self) -> str:
        """The fsspec protocol."""
        return self.spec.protocol


def _quote_userinfo(url: str) -> str:
    """Percent-encode a userinfo that holds raw "/" so the URL splits where Litestream's does."""
    m = _RAW_USERINFO.match(url)
    if m is None or "/" not in m.group(2):
        return url
    user, _, secret = m.group(2).partition(":")
    enc = urllib.parse.quote(user, safe="") + ":" + urllib.parse.quote(secret, safe="%")
    return f"{m.group(1)}{enc}@{m.group(3)}{m.group(4)}"


def _strip_userinfo(value: str) -> str:
    parts = urllib.parse.urlsplit(value) if "://" in value else None
    if parts is None or "@" not in parts.netloc:
        return value
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


def redact(url: str) -> str:
    """The URL without user info anywhere and with every query value masked but a few.

    Never raises: a URL that does not parse comes back as ``scheme://<unparsable URL>``.
    """
    try:
        return _redact(url)
    except (ValueError, UnicodeError):
        return url.split("://", 1)[0][:16] + "://<unparsable URL>"


def _redact(url: str) -> str:
    url = _quote_userinfo(url)
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return url.split("://", 1)[0] + "://<unparsable URL>"
    shown = [(k, scrub(_strip_userinfo(v)) if k in _SHOWN else "***") for k, v in query]
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, urllib.parse.urlencode(shown, safe="*:/"), "")
    )


def _split(url: str) -> tuple[urllib.parse.SplitResult, dict[str, str]]:
    try:
        parts = urllib.parse.urlsplit(_quote_userinfo(url))
        _ = parts.port  # raises ValueError for a non-numeric port
    except (ValueError, UnicodeError) as exc:
        raise UsageError(f"cannot parse replica URL {redact(url)}: {exc}") from None
    return parts, dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))


def _check_params(spec: SchemeSpec, query: Mapping[str, str], url: str) -> None:
    unknown = sorted(set(query) - spec.params)
    if not unknown:
        return
    if set(unknown) & _SECRET_PARAMS:
        raise UsageError(
            f"{redact(url)}: credentials do not go in the query string; use "
            "LITESTREAM_ACCESS_KEY_ID / LITESTREAM_SECRET_ACCESS_KEY (or AWS_*), "
            "user:secret@ in the URL, or the key=/secret= keyword options"
        )
    known = ", ".join(sorted(spec.params)) or "none"
    raise UsageError(
        f"{redact(url)}: unknown query parameter(s) {', '.join(unknown)} "
        f"for {spec.schemes[0]}:// (known: {known})"
    )


def _merge(opts: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(opts)
    for k, v in overrides.items():
        out[k] = {**out[k], **v} if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_url(
    url: str, *, env: Mapping[str, str] | None = None, options: Mapping[str, Any] | None = None
) -> StoreTarget:
    """Map a Litestream replica URL to an fsspec target; ``options`` override everything.

    A bare path means ``file://``. UsageError names the URL (redacted) when it does not
    parse, uses a refused scheme, or carries a query parameter the scheme does not know.
    """
    if "://" not in url:
        url = "file://" + posixpath.abspath(url)
    parts, query = _split(url)
    scheme = parts.scheme.lower()
    spec = spec_for(scheme)
    _check_params(spec, query, url)
    try:
        root, opts = spec.parse(UrlParts(parts=parts, query=query, env=env or {}))
    except UsageError as exc:  # the parser's own words, which never quote a secret
        raise UsageError(f"{redact(url)}: {exc}") from None
    except (ValueError, UnicodeError) as exc:
        # The text of a parser's error may quote the URL: name only its kind.
        raise UsageError(
            f"cannot parse replica URL {redact(url)}: {type(exc).__name__} in a URL part"
        ) from None
    return StoreTarget(
        scheme=scheme,
        spec=spec,
        root=root,
        options=_merge(opts, options or {}),
        layout=spec.layout,
        url=redact(url),
    )
