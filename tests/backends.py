"""The storage backends the suite runs against, and an empty replica target on each."""

from __future__ import annotations

import uuid
from typing import Any

BACKENDS = ["file", "memory", "s3", "webdav", "gcs", "sftp", "abs"]
S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}


def azure_env() -> dict[str, str]:
    """Litestream's variables for Azurite's well-known development account."""
    from tests.servers import AZURITE_ACCOUNT, AZURITE_KEY

    return {
        "LITESTREAM_AZURE_ACCOUNT_NAME": AZURITE_ACCOUNT,
        "LITESTREAM_AZURE_ACCOUNT_KEY": AZURITE_KEY,
    }


def target_for(kind: str, request: Any, tmp_path: Any) -> tuple[str, dict[str, Any]]:
    """(url, storage options) of an empty replica on backend ``kind``."""
    name = uuid.uuid4().hex[:12]
    if kind == "file":
        return (tmp_path / "replica").as_uri(), {}
    if kind == "memory":
        return f"memory://ltx-tests/{name}", {}
    if kind == "s3":
        ep = request.getfixturevalue("s3_endpoint")
        return f"s3://ltx-test/{name}/db?endpoint={ep}&region=us-east-1", {
            "key": "test",
            "secret": "test",
        }
    if kind == "webdav":
        ep = request.getfixturevalue("webdav_endpoint")
        return f"webdav://{ep[len('http://') :]}/{name}", {}
    if kind == "gcs":
        ep = request.getfixturevalue("gcs_endpoint")
        return f"gs://ltx-test/{name}", {"endpoint_url": ep, "token": "anon", "project": "test"}
    if kind == "sftp":
        ep = request.getfixturevalue("sftp_endpoint")
        return f"{ep}/{name}", {}
    if kind == "abs":
        ep = request.getfixturevalue("azurite_endpoint")
        return f"abs://ltx-test/{name}/db?endpoint={ep}", {"env": azure_env()}
    raise ValueError(kind)
