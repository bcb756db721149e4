"""The scheme registry: one ``SchemeSpec`` per storage scheme, and the schemes we refuse.

Adding a scheme is one module holding its ``SPEC`` plus one line in ``_SPECS`` (and a
``StoreTests`` subclass in the tests). Unknown schemes fall back to any fsspec
filesystem of that name with the generic backend (not atomic against racing writers).
"""

from __future__ import annotations

from ltx.errors import UsageError
from ltx.storage import _abs, _file, _gcs, _memory, _s3, _sftp, _webdav
from ltx.storage._backend import SchemeSpec

__all__ = ["SCHEMES", "REFUSED", "spec_for"]

_SPECS = (_file.SPEC, _memory.SPEC, _s3.SPEC, _gcs.SPEC, _webdav.SPEC, _sftp.SPEC, _abs.SPEC)

SCHEMES: dict[str, SchemeSpec] = {name: spec for spec in _SPECS for name in spec.schemes}

# Schemes Litestream 0.5 writes that this library does not open, and what to do instead.
REFUSED = {
    "oss": "Alibaba OSS is S3-compatible: open it as s3://BUCKET/PATH?endpoint=https://"
    "oss-REGION.aliyuncs.com (the same hex layout); OSS ignores If-None-Match, so keep a "
    "single writer",
    "nats": "NATS object-store replicas are not supported",
}


def spec_for(scheme: str) -> SchemeSpec:
    """The spec of a URL scheme; UsageError for refused schemes; generic for other fsspec ones."""
    scheme = scheme.lower()
    if scheme in REFUSED:
        raise UsageError(f"{scheme}:// is not supported: {REFUSED[scheme]}")
    got = SCHEMES.get(scheme)
    if got is not None:
        return got
    return SchemeSpec(
        schemes=(scheme,), protocol=scheme, tested="not tested: any fsspec filesystem"
    )
