"""The scheme registry: one ``SchemeSpec`` per storage scheme, and the schemes we refuse.

Adding a scheme is one module holding its ``SPEC``, registered here (built-ins in
``_SPECS``) or from anywhere with ``register_scheme`` (and a ``StoreTests`` subclass in
the tests). ``SCHEMES`` is a read-only view of the registry. Unknown schemes fall back
to any fsspec filesystem of that name with the generic backend (not atomic against
racing writers).
"""

from __future__ import annotations

import re
import threading
import types
from collections.abc import Mapping

from ltx.errors import UsageError
from ltx.storage import _abs, _file, _gcs, _memory, _s3, _sftp, _webdav
from ltx.storage._backend import SchemeSpec

__all__ = ["SCHEMES", "REFUSED", "available_schemes", "register_scheme", "spec_for"]

_SPECS = (_file.SPEC, _memory.SPEC, _s3.SPEC, _gcs.SPEC, _webdav.SPEC, _sftp.SPEC, _abs.SPEC)
_NAME = re.compile(r"[a-z][a-z0-9+.-]*")

_registry: dict[str, SchemeSpec] = {}
_lock = threading.Lock()
#: Every registered scheme name -> its spec: a read-only live view (``register_scheme`` adds).
SCHEMES: Mapping[str, SchemeSpec] = types.MappingProxyType(_registry)

# Schemes Litestream 0.5 writes that this library does not open, and what to do instead.
REFUSED = {
    "oss": "Alibaba OSS is S3-compatible: open it as s3://BUCKET/PATH?endpoint=https://"
    "oss-REGION.aliyuncs.com (the same hex layout); OSS ignores If-None-Match, so keep a "
    "single writer",
    "nats": "NATS object-store replicas are not supported",
}


def register_scheme(spec: SchemeSpec, *, clobber: bool = False) -> None:
    """Make ``open_store`` handle every URL scheme of ``spec`` (as fsspec's
    ``register_implementation``). A name already taken by another spec is a UsageError
    unless ``clobber``; registering a refused name lifts the refusal."""
    names = [name.lower() for name in spec.schemes]
    bad = [name for name in names if not _NAME.fullmatch(name)]
    if not names or bad:
        raise UsageError(f"a scheme name is a URL scheme (letters first), got {spec.schemes!r}")
    with _lock:
        taken = [n for n in names if _registry.get(n, spec) is not spec]
        if taken and not clobber:
            raise UsageError(f"scheme {', '.join(taken)} is already registered (clobber=True)")
        for name in names:
            _registry[name] = spec


def available_schemes() -> list[str]:
    """The registered scheme names, sorted (as fsspec's ``available_protocols``)."""
    return sorted(_registry)


def spec_for(scheme: str) -> SchemeSpec:
    """The spec of a URL scheme; UsageError for refused schemes; generic for other fsspec ones."""
    scheme = scheme.lower()
    got = _registry.get(scheme)
    if got is not None:
        return got
    if scheme in REFUSED:
        raise UsageError(f"{scheme}:// is not supported: {REFUSED[scheme]}")
    return SchemeSpec(
        schemes=(scheme,), protocol=scheme, tested="not tested: any fsspec filesystem"
    )


for _spec in _SPECS:
    register_scheme(_spec)
