"""abs:// without a server: Litestream's URL forms and variables, the credential order,
Azure's errors in the one retry layer, and secrets kept out of every message."""

from __future__ import annotations

import pytest

import ltx
from ltx.storage import open_store, parse_url
from ltx.storage._retry import classify, scrub, translate

KEY = "a2V5LXRoYXQtaXMtc2VjcmV0/+key=="
SAS = "sv=2023-01-03&ss=b&sp=rwdlac&se=2030-01-01&sig=SIGSECRET%2Bx%3D"


def test_url_forms_and_credential_order():
    t = parse_url("abs://acct@cont/db/app", env={"LITESTREAM_AZURE_ACCOUNT_KEY": KEY})
    assert (t.protocol, t.root, t.layout.name) == ("abfs", "cont/db/app", "decimal")
    cs = t.options["connection_string"]
    assert "BlobEndpoint=https://acct.blob.core.windows.net;" in cs
    assert f"AccountName=acct;AccountKey={KEY};" in cs
    assert KEY not in t.url and "acct@" not in t.url
    # The account from the environment; a SAS token wins over the key (Litestream's order).
    env = {
        "LITESTREAM_AZURE_ACCOUNT_NAME": "envacct",
        "LITESTREAM_AZURE_ACCOUNT_KEY": KEY,
        "LITESTREAM_AZURE_SAS_TOKEN": "?" + SAS,
    }
    cs = parse_url("abs://cont/p", env=env).options["connection_string"]
    assert cs == f"BlobEndpoint=https://envacct.blob.core.windows.net;SharedAccessSignature={SAS};"
    # No key nor SAS: adlfs's default chain (azure-identity) for the account.
    t = parse_url("abs://acct@cont/p", env={})
    assert t.options["account_name"] == "acct" and "connection_string" not in t.options
    t = parse_url("abs://acct@cont/p?endpoint=https://blob.example.org/", env={})
    assert t.options["account_host"] == "blob.example.org"
    # An emulator's endpoint, path-style, over plain http.
    ep = "http://127.0.0.1:10000/devstoreaccount1"
    t = parse_url(
        f"abs://devstoreaccount1@cont/p?endpoint={ep}", env={"LITESTREAM_AZURE_ACCOUNT_KEY": KEY}
    )
    assert t.options["connection_string"].startswith(f"BlobEndpoint={ep};")
    assert t.url == f"abs://cont/p?endpoint={ep}"


def test_bad_urls_say_what_is_missing():
    with pytest.raises(ltx.UsageError, match="needs an account"):
        parse_url("abs://cont/p", env={})
    with pytest.raises(ltx.UsageError, match="needs a container"):
        parse_url("abs:///p", env={"LITESTREAM_AZURE_ACCOUNT_NAME": "a"})
    with pytest.raises(ltx.UsageError, match="needs its account"):
        parse_url("abs://c/p?endpoint=http://h:1/a", env={"LITESTREAM_AZURE_ACCOUNT_KEY": KEY})
    with pytest.raises(ltx.UsageError, match=r"unknown query parameter.*sig") as info:
        parse_url(f"abs://a@cont/p?{SAS}")
    assert "SIGSECRET" not in str(info.value)


def test_azure_errors_are_classified_by_code_status_and_type():
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceExistsError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )
    from azure.storage.blob._shared.models import StorageErrorCode

    def err(cls, code):
        e = cls("boom")
        e.error_code = code
        return e

    assert classify(err(ResourceNotFoundError, StorageErrorCode.BLOB_NOT_FOUND)) == "not_found"
    assert classify(err(ResourceNotFoundError, "ContainerNotFound")) == "not_found"
    assert classify(err(ResourceExistsError, StorageErrorCode.BLOB_ALREADY_EXISTS)) == "conflict"
    assert classify(err(HttpResponseError, "ConditionNotMet")) == "conflict"
    assert classify(err(HttpResponseError, "AuthorizationFailure")) == "denied"
    assert classify(err(HttpResponseError, StorageErrorCode.SERVER_BUSY)) == "transient"
    assert classify(err(HttpResponseError, "ContainerBeingDeleted")) == "transient"
    assert classify(ClientAuthenticationError("cannot sign")) == "denied"
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except OSError as inner:
            raise ServiceRequestError("Cannot connect") from inner
    except ServiceRequestError as exc:
        assert classify(exc) == "transient"
    assert classify(ServiceResponseError("broke off")) == "transient"


def test_messages_are_one_line_and_hold_no_secret():
    from azure.core.exceptions import HttpResponseError

    e = HttpResponseError(
        "Server failed to authenticate.\nRequestId:1\nurl=https://a.blob.core.windows.net/c?" + SAS
    )
    e.error_code = "AuthenticationFailed"
    got = translate(e, "abs://c/p", "list c/p")
    assert isinstance(got, ltx.AccessDeniedError)
    assert "\n" not in str(got) and "ErrorCode: AuthenticationFailed" in str(got)
    text = f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={KEY};x?{SAS} SharedAccessSignature={SAS}"
    out = scrub(text)
    assert "SIGSECRET" not in out and KEY not in out and "a2V5" not in out
    assert "AccountKey=***" in out and "sig=***" in out and "AccountName=a" in out


@pytest.mark.parametrize(
    ("url", "env", "kwargs", "base"),
    [
        ("abs://acct@c/p", {"LITESTREAM_AZURE_ACCOUNT_KEY": KEY}, {}, "https://acct.blob"),
        (
            "abs://c/p?endpoint=http://127.0.0.1:9/a",
            {"LITESTREAM_AZURE_SAS_TOKEN": SAS},
            {},
            "http://127.0.0.1:9/a",
        ),
        ("abs://acct@c/p", {}, {"sas_token": SAS}, "https://acct.blob"),  # adlfs's keyword
        ("abs://acct@c/p?endpoint=https://blob.example.org", {}, {}, "https://blob.example.org"),
    ],
)
def test_the_sdk_makes_one_attempt_per_call(url, env, kwargs, base):
    """Every credential form gets a client whose own retries are off (we retry in one
    layer); opening makes no request."""
    store = open_store(url, env=env, **kwargs)
    client = store.fs.service_client
    assert client.url.startswith(base)
    assert client._config.retry_policy.total_retries == 0
    assert "SIGSECRET" not in repr(store) and KEY not in repr(store)
