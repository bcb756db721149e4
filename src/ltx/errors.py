"""The ltx exception tree: one root, children that also inherit the matching built-in.

Every error says what was wrong and where; the values (path, offset, pgno, TXIDs,
checksums) are kept as attributes so callers never parse messages.
"""

from __future__ import annotations

__all__ = [
    "LTXError",
    "FormatError",
    "BadMagicError",
    "HeaderFieldError",
    "UnsupportedFormatError",
    "UnsupportedVersionError",
    "UnsupportedFlagsError",
    "TruncatedError",
    "ChecksumMismatchError",
    "PageOrderError",
    "FrameError",
    "PageIndexError",
    "DatabaseFormatError",
    "LegacyFormatError",
    "UsageError",
    "OutputExistsError",
    "NoSpaceError",
    "StorageError",
    "NotFoundError",
    "AccessDeniedError",
    "ConflictError",
    "TransientStorageError",
    "LeaseHeldError",
    "LeaseLostError",
    "ResolveError",
    "TxidNotAvailableError",
    "PageNotFoundError",
]


def _where(path: str | None, offset: int | None) -> str:
    parts = []
    if path:
        parts.append(str(path))
    if offset is not None:
        parts.append(f"offset {offset}")
    return ": ".join(parts)


class LTXError(Exception):
    """Root of every error ltx raises on purpose; catch this to catch them all."""


class FormatError(LTXError, ValueError):
    """Bytes that are not a valid LTX file; the file is corrupt or not LTX at all."""

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None):
        self.message = message
        self.path = path
        self.offset = offset
        where = _where(path, offset)
        super().__init__(f"{where}: {message}" if where else message)

    def at(self, path: str | None) -> FormatError:
        """Return this error with the file name filled in (used by callers that know it)."""
        if self.path is None and path is not None:
            self.path = path
            where = _where(path, self.offset)
            self.args = (f"{where}: {self.message}",)
        return self


class BadMagicError(FormatError):
    """The file does not start with the LTX magic ``LTX1``."""


class HeaderFieldError(FormatError):
    """A header field breaks a rule of the format (flags, page size, TXIDs, checksums)."""

    def __init__(
        self,
        message: str,
        *,
        field: str,
        path: str | None = None,
        offset: int | None = None,
    ):
        self.field = field
        super().__init__(message, path=path, offset=offset)


class UnsupportedFormatError(FormatError):
    """Well-formed bytes of a newer format than this reader knows (not corruption):
    ``what`` says which (an LTX version, header flags)."""

    what: str = ""


class UnsupportedVersionError(BadMagicError, UnsupportedFormatError):
    """The magic names a later LTX version (``LTX2``...) than the ``LTX1`` we read."""

    def __init__(self, message: str, *, version: int, **where: object) -> None:
        self.version = version
        self.what = f"LTX version {version}"
        super().__init__(message, **where)  # type: ignore[arg-type]


class UnsupportedFlagsError(HeaderFieldError, UnsupportedFormatError):
    """Header flag bits this reader does not know, as a newer LTX writer would set."""

    def __init__(self, message: str, *, flags: int, **where: object) -> None:
        self.flags = flags
        self.what = f"LTX header flags 0x{flags:08x}"
        super().__init__(message, field="flags", **where)  # type: ignore[arg-type]


class TruncatedError(FormatError):
    """The file ends before a structure it announced; it was cut short."""


class ChecksumMismatchError(FormatError):
    """A stored checksum differs from the computed one: the bytes were altered."""

    def __init__(
        self,
        message: str,
        *,
        expected: int,
        actual: int,
        what: str,
        path: str | None = None,
        offset: int | None = None,
    ):
        self.expected = expected
        self.actual = actual
        self.what = what
        super().__init__(
            f"{message} (stored {expected:016x}, computed {actual:016x})",
            path=path,
            offset=offset,
        )


class PageOrderError(FormatError):
    """Pages out of order, duplicated, past Commit, the lock page, or a snapshot with holes."""

    def __init__(
        self,
        message: str,
        *,
        pgno: int,
        path: str | None = None,
        offset: int | None = None,
    ):
        self.pgno = pgno
        super().__init__(message, path=path, offset=offset)


class FrameError(FormatError):
    """A page frame is malformed: bad flags, bad size or LZ4 data that does not decode."""


class PageIndexError(FormatError):
    """The page index is malformed or does not match the page frames."""


class DatabaseFormatError(FormatError):
    """A SQLite database image breaks the SQLite file format (header, b-tree page, record).

    The one type for bad SQLite bytes whatever the entry point (codec, ``dbfile``, a 0.3
    snapshot, ``sqlitefmt``). ``pgno`` names the page where it was found (None for the
    database header).
    """

    def __init__(
        self,
        message: str,
        *,
        pgno: int | None = None,
        path: str | None = None,
        offset: int | None = None,
    ):
        self.pgno = pgno
        if pgno is not None:
            message = f"page {pgno}: {message}"
        super().__init__(message, path=path, offset=offset)


class LegacyFormatError(FormatError):
    """A Litestream 0.3 object (LZ4 frame, WAL segment or name) is malformed.

    A snapshot whose SQLite header is bad raises ``DatabaseFormatError`` naming it.
    """


class UsageError(LTXError, ValueError):
    """The caller asked for something the format forbids (e.g. pages out of order)."""


class OutputExistsError(LTXError, FileExistsError):
    """A local output (restore target) exists and overwriting was not asked for."""


class NoSpaceError(LTXError, OSError):
    """Too little free space in a local folder for a file we must stage there; ``path``
    names the folder, ``needed`` and ``free`` are bytes."""

    def __init__(self, path: str, *, needed: int, free: int):
        self.path, self.needed, self.free = path, needed, free
        super().__init__(f"{path}: {needed} bytes needed to stage a snapshot, {free} free")

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StorageError(LTXError, OSError):
    """A storage operation failed; ``url`` names the replica or object (never credentials)."""

    def __init__(self, message: str, *, url: str | None = None):
        self.url = url
        super().__init__(f"{url}: {message}" if url else message)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class NotFoundError(StorageError, FileNotFoundError):
    """The object, bucket or replica does not exist."""


class AccessDeniedError(StorageError, PermissionError):
    """The store refused the credentials or the operation."""


class ConflictError(StorageError, FileExistsError):
    """Another writer got there first (the file exists or the replica moved on).

    Re-read the replica and retry.
    """


class LeaseHeldError(ConflictError):
    """Another writer holds the replica's write lease; ``holder`` and ``expires_at`` say
    who and until when (an aware datetime)."""

    def __init__(self, message: str, *, holder: str, expires_at: object, url: str | None = None):
        self.holder = holder
        self.expires_at = expires_at
        super().__init__(message, url=url)


class LeaseLostError(ConflictError):
    """The write lease we held was taken or expired: we stopped writing to the replica."""


class TransientStorageError(StorageError):
    """A fault that may pass (5xx, throttling, reset, timeout); retried with backoff."""


class ResolveError(LTXError, LookupError):
    """The replica cannot answer the question asked of it."""


class TxidNotAvailableError(ResolveError):
    """The target cannot be rebuilt exactly from the files that exist.

    ``before`` and ``after`` are the nearest restorable TXIDs (or None).
    """

    def __init__(
        self,
        message: str,
        *,
        txid: int | None = None,
        before: int | None = None,
        after: int | None = None,
    ):
        self.txid = txid
        self.before = before
        self.after = after
        near = []
        if before is not None:
            near.append(f"nearest before: {before:016x}")
        if after is not None:
            near.append(f"nearest after: {after:016x}")
        super().__init__(f"{message} ({', '.join(near)})" if near else message)


class PageNotFoundError(ResolveError):
    """The page number is past the end of the database at that point in time."""

    def __init__(self, message: str, *, pgno: int, txid: int | None = None):
        self.pgno = pgno
        self.txid = txid
        super().__init__(message)
