"""Write leases on a replica: one writer at a time, fenced by the store's own atomics.

On ``s3://`` this is Litestream's ``lock.json`` (``s3/leaser.go``): JSON
``{"generation", "expires_at", "owner"}``, taken with ``If-None-Match: *``, renewed or
taken over with ``If-Match`` on the ETag, released by a conditional DELETE. Other
schemes whose create-if-absent is atomic (``file://`` by hard link, ``gs://``) keep a
numbered sequence under ``lease/``: state k+1 is created only if absent, so exactly
one of two racing writers moves the lease on from state k. A scheme without an atomic
create refuses, saying why.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import posixpath
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from ltx.errors import ConflictError, LeaseHeldError, LeaseLostError, NotFoundError, UsageError
from ltx.storage._store import Store
from ltx.times import UTC, parse_timestamp

__all__ = ["DEFAULT_TTL", "Lease", "Leaser", "leaser_for"]

DEFAULT_TTL = 30.0
"""Litestream's ``DefaultLeaseTTL``: seconds a lease lasts unless renewed."""

Clock = Callable[[], dt.datetime]


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


@attrs.frozen
class Lease:
    """A lease we hold: generation, expiry, owner and the token a renewal must match."""

    generation: int
    expires_at: dt.datetime
    owner: str
    token: str

    def expired(self, now: dt.datetime) -> bool:
        """True once ``now`` is past the expiry."""
        return now > self.expires_at


def _encode(generation: int, expires_at: dt.datetime, owner: str) -> bytes:
    """The JSON Litestream's ``Lease`` marshals to (RFC 3339 with nanoseconds, UTC)."""
    stamp = expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    body = {"generation": generation, "expires_at": stamp, "owner": owner}
    return json.dumps(body, separators=(",", ":")).encode()


def _decode(data: bytes, token: str, where: str) -> Lease:
    try:
        body = json.loads(data)
        return Lease(
            int(body["generation"]),
            parse_timestamp(str(body["expires_at"])),
            str(body.get("owner", "")),
            token,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ConflictError(f"unreadable lease {where}: {exc}") from None


class Leaser(Protocol):
    """Take, renew and release a replica's write lease."""

    ttl: float

    def acquire(self) -> Lease: ...
    def renew(self, lease: Lease) -> Lease: ...
    def release(self, lease: Lease) -> None: ...


def _held(store: Store, cur: Lease) -> LeaseHeldError:
    return LeaseHeldError(
        f"write lease held by {cur.owner or 'an unnamed writer'} until "
        f"{cur.expires_at.isoformat()} (generation {cur.generation})",
        holder=cur.owner,
        expires_at=cur.expires_at,
        url=store.url,
    )


class _Base:
    def __init__(self, store: Store, owner: str, ttl: float, clock: Clock) -> None:
        self.store, self.owner, self.ttl, self.clock = store, owner, ttl, clock

    def _expiry(self) -> dt.datetime:
        return self.clock() + dt.timedelta(seconds=self.ttl)

    def _read(self) -> Lease | None:
        raise NotImplementedError

    def _put(self, data: bytes, prev: Lease | None) -> str:
        """Write the next state only if ``prev`` is still current; its token."""
        raise NotImplementedError

    def acquire(self) -> Lease:
        """Take the lease if free, expired or held under our own owner name (a restart);
        LeaseHeldError naming the holder if not."""
        cur = self._read()
        mine = cur is not None and cur.owner == self.owner  # we restarted: take it back
        if cur is not None and not cur.expired(self.clock()) and not mine:
            raise _held(self.store, cur)
        gen = cur.generation + 1 if cur is not None else 1
        expires = self._expiry()
        try:
            token = self._put(_encode(gen, expires, self.owner), cur)
        except ConflictError:
            now = self._read()
            if now is not None and (now.owner, now.generation) == (self.owner, gen):
                return now  # our own attempt landed, its reply was lost: a retry met it
            if now is not None:
                raise _held(self.store, now) from None
            raise
        return Lease(gen, expires, self.owner, token)

    def renew(self, lease: Lease) -> Lease:
        """Extend our lease; LeaseLostError when another writer moved it on."""
        expires = self._expiry()
        try:
            token = self._put(_encode(lease.generation, expires, self.owner), lease)
        except ConflictError:
            raise LeaseLostError(
                f"write lease generation {lease.generation} was taken over", url=self.store.url
            ) from None
        return Lease(lease.generation, expires, self.owner, token)


class S3Leaser(_Base):
    """Litestream's ``lock.json`` with conditional PUT and DELETE."""

    def __init__(self, store: Store, owner: str, ttl: float, clock: Clock) -> None:
        super().__init__(store, owner, ttl, clock)
        bucket, _, key = posixpath.join(store.root, "lock.json").partition("/")
        self.bucket, self.key = bucket, key

    def _s3(self, op: str, **kw: Any) -> Any:
        fs = self.store.fs

        async def go() -> Any:
            out = await fs._call_s3(op, Bucket=self.bucket, Key=self.key, **kw)
            if "Body" in out:
                async with out["Body"] as body:
                    out["Data"] = await body.read()
            return out

        from fsspec.asyn import sync

        limit = self.store.retry.deadline  # a silent endpoint: cut, as every S3 call is
        return self.store.call(lambda: sync(fs.loop, go, timeout=limit), f"{op} {self.key}")

    def _read(self) -> Lease | None:
        try:
            out = self._s3("get_object")
        except NotFoundError:
            return None
        return _decode(out["Data"], str(out.get("ETag", "")), self.key)

    def _put(self, data: bytes, prev: Lease | None) -> str:
        cond = {"IfMatch": prev.token} if prev is not None else {"IfNoneMatch": "*"}
        out = self._s3("put_object", Body=data, ContentType="application/json", **cond)
        return str(out.get("ETag", ""))

    def release(self, lease: Lease) -> None:
        """Delete lock.json if it is still ours (If-Match), as Litestream does."""
        with contextlib.suppress(ConflictError, NotFoundError):
            self._s3("delete_object", IfMatch=lease.token)


class SequenceLeaser(_Base):
    """Lease states ``lease/<k>.json`` created only if absent: the newest is current."""

    def __init__(self, store: Store, owner: str, ttl: float, clock: Clock) -> None:
        super().__init__(store, owner, ttl, clock)
        self.dir = posixpath.join(store.root, "lease")

    def _states(self) -> list[int]:
        try:
            names = self.store.call(lambda: self.store.fs.ls(self.dir, detail=False), "list lease")
        except NotFoundError:
            return []
        out = []
        for n in names:
            stem = posixpath.basename(str(n)).removesuffix(".json")
            if len(stem) == 16 and all(c in "0123456789abcdef" for c in stem):
                out.append(int(stem, 16))
        return sorted(out)

    def _path(self, k: int) -> str:
        return posixpath.join(self.dir, f"{k:016x}.json")

    def _read(self) -> Lease | None:
        states = self._states()
        if not states:
            return None
        k = states[-1]
        data = self.store.call(lambda: self.store.fs.cat_file(self._path(k)), "read lease")
        return _decode(data, str(k), self._path(k))

    def _put(self, data: bytes, prev: Lease | None) -> str:
        k = int(prev.token) + 1 if prev is not None else 1
        if prev is not None and self._states()[-1:] != [k - 1]:
            raise ConflictError("lease moved on", url=self.store.url)
        path, mark = self._path(k), uuid.uuid4().hex.encode()
        payload = data[:-1] + b',"nonce":"' + mark + b'"}'
        backend = self.store.backend
        try:
            self.store.call(lambda: backend.write(path, payload, 0, True), "create lease")
        except ConflictError:
            if self.store.call(lambda: self.store.fs.cat_file(path), "read lease") != payload:
                raise
        states = self._states()
        if (k - 1 not in states and k != 1) or states[-1] != k:
            raise ConflictError("lease moved on while we wrote", url=self.store.url)
        for old in [self._path(s) for s in states if s < k - 2]:
            with contextlib.suppress(NotFoundError, ConflictError):
                self.store.call(lambda old=old: self.store.fs.rm_file(old), "prune lease")  # type: ignore[misc]
        return str(k)

    def release(self, lease: Lease) -> None:
        """Hand the lease back: a new state that expired already, if ours is current."""
        past = self.clock() - dt.timedelta(seconds=1)
        with contextlib.suppress(ConflictError):
            self._put(_encode(lease.generation, past, self.owner), lease)


def leaser_for(
    store: Store,
    owner: str,
    *,
    ttl: float = DEFAULT_TTL,
    clock: Clock = _now,
) -> S3Leaser | SequenceLeaser:
    """The lease for ``store``'s scheme; UsageError saying why where there is none."""
    if store.scheme == "s3":
        return S3Leaser(store, owner, ttl, clock)
    if store.conditional_create:
        return SequenceLeaser(store, owner, ttl, clock)
    raise UsageError(
        f"{store.scheme}:// has no atomic create-if-absent or compare-and-swap, so two "
        "writers could both believe they hold a lease; run one replicator per replica "
        "(every LTX upload still fails rather than overwrite)"
    )
