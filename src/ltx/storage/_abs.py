"""``abs://[ACCOUNT@]CONTAINER/PATH``: Azure Blob Storage through adlfs, as Litestream 0.5.

Layout ``<path>/ltx/<level>/`` (decimal), as Litestream's ABS client. A write is one
upload with ``If-None-Match: *`` for create-if-absent (the block commit is conditional
too, so large files stay atomic) and the ``litestreamtimestamp`` metadata Litestream
writes (Azure metadata keys cannot hold a hyphen); listings carry that metadata.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Mapping
from typing import Any

from ltx.errors import ConflictError, UsageError
from ltx.storage._backend import Backend, Payload, SchemeSpec, UrlParts, clean_path
from ltx.storage._retry import classify
from ltx.times import as_datetime, format_timestamp

__all__ = ["SPEC", "AzureBackend", "TIMESTAMP_METADATA"]

TIMESTAMP_METADATA = "litestreamtimestamp"
"""Litestream's metadata key for the LTX header time on Azure (no hyphen allowed)."""


class AzureBackend(Backend):
    """Conditional uploads and metadata timestamps, read back from listings."""

    conditional_create = True
    exact_listing_times = True

    def listed_time(self, entry: Mapping[str, Any]) -> dt.datetime | None:
        meta = entry.get("metadata") or {}
        got = as_datetime(meta.get(TIMESTAMP_METADATA))
        return got or as_datetime(entry.get("creation_time")) or super().listed_time(entry)

    def write(self, path: str, data: Payload, timestamp_ms: int, if_absent: bool) -> None:
        from azure.storage.blob import ContentSettings
        from fsspec.asyn import sync

        fs = self.fs
        container, blob, _ = fs.split_path(path)
        opts: dict[str, Any] = {
            "overwrite": not if_absent,  # False sends If-None-Match: *
            "metadata": {TIMESTAMP_METADATA: format_timestamp(timestamp_ms)},
            "content_settings": ContentSettings(content_type="application/octet-stream"),
        }

        async def upload() -> None:
            async with fs.service_client.get_blob_client(container=container, blob=blob) as bc:
                if isinstance(data, str):
                    with open(data, "rb") as fp:
                        await bc.upload_blob(fp, **opts)
                else:
                    await bc.upload_blob(data, **opts)

        try:
            sync(fs.loop, upload)
        except Exception as exc:
            if if_absent and classify(exc) == "conflict":
                raise ConflictError(f"{path} already exists", url=self.url) from None
            raise
        finally:
            fs.invalidate_cache(posixpath.dirname(path))


def _connection_string(endpoint: str, account: str | None, key: str | None, sas: str) -> str:
    parts = [f"BlobEndpoint={endpoint.rstrip('/')}"]
    if sas:
        parts.append(f"SharedAccessSignature={sas.lstrip('?')}")
    elif key and account:
        parts += [f"AccountName={account}", f"AccountKey={key}"]
    return ";".join(parts) + ";"


def _parse(u: UrlParts) -> tuple[str, dict[str, Any]]:
    container = u.parts.hostname or ""
    if not container:
        raise UsageError("abs:// needs a container: abs://[ACCOUNT@]CONTAINER/PATH")
    account = u.user or u.env.get("LITESTREAM_AZURE_ACCOUNT_NAME")
    key = u.password or u.env.get("LITESTREAM_AZURE_ACCOUNT_KEY")
    sas = u.env.get("LITESTREAM_AZURE_SAS_TOKEN", "")
    endpoint = u.query.get("endpoint")
    if not endpoint and not account:
        raise UsageError(
            "abs:// needs an account: abs://ACCOUNT@CONTAINER/PATH, "
            "LITESTREAM_AZURE_ACCOUNT_NAME, or ?endpoint= for an emulator"
        )
    if key and not account and not sas:
        raise UsageError("an Azure account key needs its account: abs://ACCOUNT@CONTAINER/PATH")
    endpoint = endpoint or f"https://{account}.blob.core.windows.net"
    root = posixpath.join(container, clean_path(u.parts.path)).rstrip("/")
    # adlfs keeps listings and ignores ls(refresh=True): a store must see new files.
    opts: dict[str, Any] = {"use_listings_cache": False}
    # Litestream's order: a SAS token, then the shared key, then the default chain.
    if sas or (key and account) or not account or endpoint.startswith("http://"):
        opts["connection_string"] = _connection_string(endpoint, account, key, sas)
        return root, opts
    opts["account_name"] = account
    host = endpoint.split("://", 1)[-1].rstrip("/")
    if host != f"{account}.blob.core.windows.net":
        opts["account_host"] = host
    return root, opts


def _configure(fs: Any) -> None:
    """A client like adlfs's, but one attempt per call: ltx retries in one layer."""
    from azure.storage.blob.aio import BlobServiceClient

    if getattr(fs, "_ltx_one_try", False):
        return
    if fs.connection_string:
        client = BlobServiceClient.from_connection_string(fs.connection_string, retry_total=0)
    else:
        credential: Any = fs.credential
        if credential is None and fs.account_key:
            credential = {"account_name": fs.account_name, "account_key": fs.account_key}
        url = fs.account_url
        if credential is None and fs.sas_token:
            url += fs.sas_token if fs.sas_token.startswith("?") else "?" + fs.sas_token
        client = BlobServiceClient(url, credential=credential, retry_total=0)
    fs.service_client = client
    fs._ltx_one_try = True


SPEC = SchemeSpec(
    schemes=("abs",),
    protocol="abfs",
    backend=AzureBackend,
    parse=_parse,
    params=frozenset({"endpoint"}),
    configure=_configure,
    extra="azure",
    tested="Azurite on 127.0.0.1, and the real litestream against it",
)
