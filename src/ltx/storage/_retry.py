"""Classifying backend exceptions by type and status code, and the one retry layer.

Every store call goes through ``call_with_retry``; the filesystems' own retry loops are
turned off where they can be (see each scheme's ``configure``), so a call is tried
``RetryPolicy.attempts`` times in all, not attempts times the library's retries.
"""

from __future__ import annotations

import errno
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import attrs

from ltx.errors import (
    AccessDeniedError,
    ConflictError,
    NotFoundError,
    StorageError,
    TransientStorageError,
)

__all__ = ["RetryPolicy", "classify", "translate", "call_with_retry", "scrub"]

T = TypeVar("T")

# Error codes S3-compatible stores send (botocore's ``response["Error"]["Code"]``).
_CODES = {
    "NoSuchKey": "not_found",
    "NoSuchBucket": "not_found",
    "404": "not_found",
    "NotFound": "not_found",
    "AccessDenied": "denied",
    "InvalidAccessKeyId": "denied",
    "SignatureDoesNotMatch": "denied",
    "PreconditionFailed": "conflict",
    "ConditionalRequestConflict": "conflict",
    "SlowDown": "transient",
    "Throttling": "transient",
    "ThrottlingException": "transient",
    "RequestTimeout": "transient",
    "InternalError": "transient",
    "ServiceUnavailable": "transient",
}
# Error codes Azure Blob Storage sends (azure-core's ``HttpResponseError.error_code``): more
# precise than the status (409 is a lost create race, or a container being deleted).
_AZURE_CODES = {
    "BlobNotFound": "not_found",
    "ContainerNotFound": "not_found",
    "ResourceNotFound": "not_found",
    "AuthenticationFailed": "denied",
    "AuthorizationFailure": "denied",
    "AuthorizationPermissionMismatch": "denied",
    "InsufficientAccountPermissions": "denied",
    "InvalidAuthenticationInfo": "denied",
    "BlobAlreadyExists": "conflict",
    "ConditionNotMet": "conflict",
    "LeaseIdMissing": "conflict",
    "LeaseIdMismatchWithBlobOperation": "conflict",
    "ServerBusy": "transient",
    "OperationTimedOut": "transient",
    "InternalError": "transient",
    "ContainerBeingDeleted": "transient",
}
_ERRNOS = {
    errno.ENOENT: "not_found",
    errno.EACCES: "denied",
    errno.EPERM: "denied",
    errno.EEXIST: "conflict",
    errno.ETIMEDOUT: "transient",
    errno.ECONNRESET: "transient",
    errno.ECONNREFUSED: "transient",
    errno.ECONNABORTED: "transient",
    errno.EPIPE: "transient",
    errno.EAGAIN: "transient",
    errno.EBUSY: "transient",
}
# Network failures of the HTTP/SSH clients under fsspec, by class name (no import needed).
_TRANSIENT_TYPES = frozenset(
    {
        "ClientConnectorError",
        "ServerDisconnectedError",
        "ClientPayloadError",
        "ClientOSError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ConnectError",
        "ReadTimeout",
        "ConnectTimeout",
        "WriteTimeout",
        "PoolTimeout",
        "RemoteProtocolError",
        "ServerTimeoutError",
        "FSTimeoutError",
        "IncompleteRead",
        "ResponseParserError",
        "SSHException",
        "ChecksumError",
        "ServiceRequestError",  # azure-core: the request never got an answer
        "ServiceResponseError",  # azure-core: the answer broke off
    }
)
_BY_TYPE = {
    "ResourceNotFound": "not_found",
    "ResourceAlreadyExists": "conflict",
    "SFTPFileAlreadyExists": "conflict",
    "ClientAuthenticationError": "denied",  # azure-core: 401/403, or a key that cannot sign
}


def _status_kind(status: int) -> str | None:
    if status == 404:
        return "not_found"
    if status in (401, 403):
        return "denied"
    if status == 412:
        return "conflict"
    if status in (408, 429) or 500 <= status < 600:
        return "transient"
    return None


def _status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries (botocore, aiohttp, gcsfs, httpx), if any."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        got = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return got if isinstance(got, int) else None
    for holder, attr in ((exc, "status"), (exc, "code"), (response, "status_code")):
        got = getattr(holder, attr, None)
        if isinstance(got, int) and 100 <= got < 600:
            return got
    return None


def _azure_code(exc: BaseException) -> str:
    """Azure's error code (``HttpResponseError.error_code``, a str enum) as text, or ''."""
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code)) if isinstance(code, str) else ""


def _one(exc: BaseException) -> str | None:
    """The kind one exception (not its causes) shows by type, code or status."""
    if isinstance(exc, StorageError):
        return classify(exc)
    names = [c.__name__ for c in type(exc).__mro__]
    for name in names:
        if name in _BY_TYPE:
            return _BY_TYPE[name]
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code in _CODES:
            return _CODES[code]
    azure_code = _azure_code(exc)
    if azure_code in _AZURE_CODES:
        return _AZURE_CODES[azure_code]
    status = _status(exc)
    if status is not None and _status_kind(status):
        return _status_kind(status)
    if isinstance(exc, FileExistsError):
        return "conflict"
    if isinstance(exc, FileNotFoundError):
        return "not_found"
    if isinstance(exc, PermissionError):
        return "denied"
    if isinstance(exc, (TimeoutError, ConnectionError)) or _TRANSIENT_TYPES.intersection(names):
        return "transient"
    if isinstance(exc, OSError) and exc.errno in _ERRNOS:
        return _ERRNOS[exc.errno]
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def classify(exc: BaseException) -> str:
    """One of ``transient``, ``not_found``, ``denied``, ``conflict`` or ``permanent``.

    Our own StorageErrors say so by type; a backend exception by its type, its S3
    error code, its HTTP status or its errno, looked for along its cause chain.
    """
    if isinstance(exc, StorageError):
        if isinstance(exc, TransientStorageError):
            return "transient"
        if isinstance(exc, NotFoundError):
            return "not_found"
        if isinstance(exc, AccessDeniedError):
            return "denied"
        if isinstance(exc, ConflictError):
            return "conflict"
        return "permanent"
    for link in _chain(exc):
        kind = _one(link)
        if kind is not None:
            return kind
    return "permanent"


# Credentials a client library may quote in its messages: SAS signatures and S3 presigned
# signatures (URL query), account keys and SAS tokens in Azure connection strings.
_SECRET_TEXT = re.compile(
    r"(?i)\b(sig|x-amz-signature|x-amz-credential|x-amz-security-token|accountkey"
    r"|sharedaccesssignature)=[^&;\s'\"]*"
)


def scrub(text: str) -> str:
    """``text`` with SAS signatures and connection-string secrets masked (``sig=***``)."""
    return _SECRET_TEXT.sub(lambda m: f"{m.group(1)}=***", text)


def _one_line(exc: BaseException) -> str:
    """The first line of a client's message (Azure's run on with request ids and the XML
    body), with the Azure error code when that line does not name it."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    code = _azure_code(exc)
    if code and code not in text:
        text += f" (ErrorCode: {code})"
    return text


def translate(exc: BaseException, url: str, what: str) -> StorageError:
    """Turn a backend exception into the matching StorageError child (no credentials)."""
    if isinstance(exc, StorageError):
        return exc
    kind = classify(exc)
    message = scrub(f"{what}: {type(exc).__name__}: {_one_line(exc)}")
    cls: type[StorageError] = {
        "transient": TransientStorageError,
        "not_found": NotFoundError,
        "denied": AccessDeniedError,
        "conflict": ConflictError,
    }.get(kind, StorageError)
    return cls(message, url=url)


@attrs.frozen
class RetryPolicy:
    """Exponential backoff with full jitter: ``attempts`` tries, delays capped at ``max_delay``.

    ``deadline`` (seconds, optional) bounds the whole call including its retries;
    ``on_retry`` is told of each retry (the CLI prints it), so waiting is never silent.
    """

    attempts: int = 6
    base_delay: float = 0.05
    max_delay: float = 2.0
    deadline: float | None = None
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random
    clock: Callable[[], float] = time.monotonic
    on_retry: Callable[[str, int, BaseException], None] | None = None

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        cap: float = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return self.rng() * cap


def call_with_retry(fn: Callable[[], T], *, policy: RetryPolicy, url: str, what: str) -> T:
    """Run ``fn``; retry transient failures per ``policy``; raise typed StorageErrors."""
    attempt = 0
    start = policy.clock()
    while True:
        attempt += 1
        try:
            return fn()
        except StorageError as exc:
            err: StorageError = exc
        except Exception as exc:
            err = translate(exc, url, what)
            err.__cause__ = exc
        if not isinstance(err, TransientStorageError):
            raise err
        wait = policy.delay(attempt)
        late = policy.deadline is not None and policy.clock() - start + wait > policy.deadline
        if attempt >= policy.attempts or late:
            raise TransientStorageError(
                f"{what}: gave up after {attempt} attempts in {policy.clock() - start:.1f} s: "
                f"{err}",
                url=None,
            ) from err
        if policy.on_retry is not None:
            policy.on_retry(what, attempt, err)
        policy.sleep(wait)
