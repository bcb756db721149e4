"""A replica named as Litestream's commands name it: a database path and a
``litestream.yml`` (``--config``), whose ``dbs`` entry for that path gives the replica.

Litestream 0.5's format: ``dbs: [{path, replica: {url | type, path, bucket, region,
endpoint, ...}}]`` (``replicas:``, a list, is the deprecated form and still read; its
first entry is used); ``$VAR`` and ``${VAR}`` are expanded from the environment before
parsing, as Litestream does unless ``-no-expand-env``; ``access-key-id`` and
``secret-access-key`` may sit at the top level or on the replica.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ltx.errors import NotFoundError, UsageError

__all__ = ["apply_config", "replica_of"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def _load(path: Path, environ: Mapping[str, str], expand: bool) -> dict[str, Any]:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        raise UsageError("--config needs PyYAML: pip install 'ltx[config]'") from None
    try:
        text = path.expanduser().read_text()
    except FileNotFoundError:
        raise NotFoundError(f"config file not found: {path}") from None
    if expand:
        text = _VAR.sub(lambda m: environ.get(m.group(1) or m.group(2), ""), text)
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"cannot read {path} as YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: the top level must be a mapping (dbs: ...)")
    return doc


def _url(rc: Mapping[str, Any], where: str) -> str:
    """The replica URL of one ``replica:`` block."""
    if rc.get("url"):
        return str(rc["url"])
    kind = str(rc.get("type") or "file")
    path = str(rc.get("path") or "").strip("/")
    if kind == "file":
        if not rc.get("path"):
            raise UsageError(f"{where}: a file replica needs a path")
        return str(Path(str(rc["path"])).expanduser().resolve())
    if kind in ("s3", "gs", "gcs") and rc.get("bucket"):
        scheme = "s3" if kind == "s3" else "gs"
        query = {k: str(rc[k]) for k in ("region", "endpoint") if rc.get(k)}
        tail = f"?{urllib.parse.urlencode(query)}" if query else ""
        return f"{scheme}://{rc['bucket']}/{path}{tail}"
    raise UsageError(f"{where}: give the replica a url (type {kind!r} without one is not read)")


def replica_of(
    db_path: str, config: str, environ: Mapping[str, str], *, expand: bool = True
) -> tuple[str, dict[str, str]]:
    """The replica URL and environment for database ``db_path`` in the ``config`` file."""
    path = Path(config)
    doc = _load(path, environ, expand)
    want = Path(db_path).expanduser().resolve()
    for i, db in enumerate(doc.get("dbs") or []):
        if not isinstance(db, dict) or not db.get("path"):
            continue
        if Path(str(db["path"])).expanduser().resolve() != want:
            continue
        where = f"{path}: dbs[{i}]"
        rc = db.get("replica") or next(iter(db.get("replicas") or []), None)
        if not isinstance(rc, dict):
            raise UsageError(f"{where} ({db['path']}) has no replica")
        env = dict(environ)
        for key, var in (
            ("access-key-id", "LITESTREAM_ACCESS_KEY_ID"),
            ("secret-access-key", "LITESTREAM_SECRET_ACCESS_KEY"),
        ):
            value = rc.get(key) or doc.get(key)
            if value:
                env[var] = str(value)
        return _url(rc, where), env
    raise NotFoundError(f"database {want} is not in {path} (looked at the paths under dbs:)")


def apply_config(args: Any) -> None:
    """With ``--config``, read ``args.url`` as a database path and put the replica URL
    and its environment in its place (``args.env``)."""
    config = getattr(args, "config", None)
    args.env = None
    if config is None or not hasattr(args, "url"):
        return
    expand = not getattr(args, "no_expand_env", False)
    args.url, args.env = replica_of(args.url, config, os.environ, expand=expand)
