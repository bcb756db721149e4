"""Classifying backend exceptions and retrying the transient ones with backoff and jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

import attrs

from ltx.errors import (
    AccessDeniedError,
    ConflictError,
    NotFoundError,
    StorageError,
    TransientStorageError,
)

__all__ = ["RetryPolicy", "classify", "translate", "call_with_retry"]

T = TypeVar("T")

_TRANSIENT_WORDS = (
    "slowdown",
    "slow down",
    "throttl",
    "timeout",
    "timed out",
    "reset by peer",
    "connection reset",
    "connection aborted",
    "connection refused",
    "broken pipe",
    "temporarily",
    "service unavailable",
    "internal error",
    "internalerror",
    "server disconnected",
    "too many requests",
    " 500",
    " 502",
    " 503",
    " 504",
    "requesttimeout",
)
_CONFLICT_WORDS = (
    "preconditionfailed",
    "precondition failed",
    " 412",
    "conditionalrequestconflict",
)
_DENIED_WORDS = (
    "accessdenied",
    "access denied",
    "forbidden",
    "invalidaccesskeyid",
    "signaturedoesnotmatch",
    " 401",
    " 403",
)
_NOT_FOUND_WORDS = ("nosuchbucket", "nosuchkey", "not found", " 404")


def classify(exc: BaseException) -> str:
    """One of ``transient``, ``not_found``, ``denied``, ``conflict`` or ``permanent``."""
    if isinstance(exc, TransientStorageError):
        return "transient"
    if isinstance(exc, StorageError):
        if isinstance(exc, NotFoundError):
            return "not_found"
        if isinstance(exc, AccessDeniedError):
            return "denied"
        if isinstance(exc, ConflictError):
            return "conflict"
        return "permanent"
    if isinstance(exc, FileExistsError):
        return "conflict"
    text = f" {type(exc).__name__} {exc}".lower()
    if any(w in text for w in _CONFLICT_WORDS):
        return "conflict"
    if isinstance(exc, FileNotFoundError):
        return "not_found"
    if isinstance(exc, PermissionError) or any(w in text for w in _DENIED_WORDS):
        return "denied"
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return "transient"
    if any(w in text for w in _TRANSIENT_WORDS):
        return "transient"
    names = {c.__name__ for c in type(exc).__mro__}
    if names & {
        "ClientConnectorError",
        "ServerDisconnectedError",
        "ClientPayloadError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "EndpointConnectionError",
        "ConnectError",
        "ReadTimeout",
        "RemoteProtocolError",
        "ServerTimeoutError",
    }:
        return "transient"
    if any(w in text for w in _NOT_FOUND_WORDS):
        return "not_found"
    return "permanent"


def translate(exc: BaseException, url: str, what: str) -> StorageError:
    """Turn a backend exception into the matching StorageError child (no credentials)."""
    if isinstance(exc, StorageError):
        return exc
    kind = classify(exc)
    message = f"{what}: {type(exc).__name__}: {exc}"
    cls: type[StorageError] = {
        "transient": TransientStorageError,
        "not_found": NotFoundError,
        "denied": AccessDeniedError,
        "conflict": ConflictError,
    }.get(kind, StorageError)
    return cls(message, url=url)


@attrs.frozen
class RetryPolicy:
    """Exponential backoff with full jitter: ``attempts`` tries, delays capped at ``max_delay``."""

    attempts: int = 6
    base_delay: float = 0.05
    max_delay: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        cap: float = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return self.rng() * cap


def call_with_retry(fn: Callable[[], T], *, policy: RetryPolicy, url: str, what: str) -> T:
    """Run ``fn``; retry transient failures per ``policy``; raise typed StorageErrors."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except StorageError as exc:
            err: StorageError = exc
        except Exception as exc:
            err = translate(exc, url, what)
            err.__cause__ = exc
        if not isinstance(err, TransientStorageError) or attempt >= policy.attempts:
            if isinstance(err, TransientStorageError):
                raise TransientStorageError(
                    f"{what}: gave up after {attempt} attempts: {err}", url=None
                ) from err
            raise err
        policy.sleep(policy.delay(attempt))
