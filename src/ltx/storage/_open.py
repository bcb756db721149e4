"""``open_store``: a URL (and options) to a Store on its scheme's fsspec filesystem."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import fsspec

from ltx.errors import LTXError, StorageError, UsageError
from ltx.storage._layout import LAYOUTS, Layout
from ltx.storage._retry import RetryPolicy, scrub, translate
from ltx.storage._store import Store
from ltx.storage._url import StoreTarget, parse_url

__all__ = ["open_store"]


def _filesystem(target: StoreTarget) -> Any:
    try:
        fs = fsspec.filesystem(target.protocol, **target.options)
    except ImportError as exc:
        hint = f" (pip install 'ltx[{target.spec.extra}]')" if target.spec.extra else ""
        raise StorageError(
            f"cannot open filesystem {target.protocol!r}: {exc}{hint}", url=target.url
        ) from None
    except LTXError:
        raise
    except ValueError as exc:
        raise StorageError(
            scrub(f"cannot open filesystem {target.protocol!r}: {exc}"), url=target.url
        ) from None
    except Exception as exc:
        raise translate(exc, target.url, "open filesystem") from None
    target.spec.configure(fs)
    return fs


def open_store(
    url: str,
    *,
    env: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
    max_concurrency: int = 16,
    layout: Layout | str | None = None,
    filesystem: Any = None,
    **storage_options: Any,
) -> Store:
    """Open the replica at ``url`` (``file://``, ``memory://``, ``s3://``, ``gs://``,
    ``abs://``, ``webdav://``, ``sftp://``, any fsspec URL).

    ``env`` supplies Litestream's variables (``LITESTREAM_*``, ``AWS_*``); keyword
    ``storage_options`` win over both URL and environment. ``layout`` overrides the
    scheme's layout (``"decimal"`` or ``"hex"``) for replicas copied between backends.
    ``filesystem`` wraps or replaces the fsspec filesystem (e.g. a fault injector).
    """
    target = parse_url(url, env=env, options=storage_options)
    if isinstance(layout, str):
        if layout not in LAYOUTS:
            known = " or ".join(map(repr, LAYOUTS))
            raise UsageError(f"layout must be {known}, got {layout!r}")
        layout = LAYOUTS[layout]
    return Store(
        _filesystem(target) if filesystem is None else filesystem,
        target.root,
        spec=target.spec,
        url=target.url,
        layout=layout,
        retry=retry,
        max_concurrency=max_concurrency,
    )
