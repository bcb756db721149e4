"""CRC-64/GO-ISO (Go's ``hash/crc64`` with the ISO table) and the LTX checksums built on it.

One CRC function for the whole package: fastcrc when installed, else a pure-Python
table implementation that the tests cross-check against it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ltx.errors import UsageError

__all__ = [
    "CHECKSUM_FLAG",
    "crc64",
    "crc64_pure",
    "crc64_combine",
    "checksum_page",
    "DatabaseChecksum",
]

CHECKSUM_FLAG = 1 << 63
_MASK = 0xFFFFFFFFFFFFFFFF
_POLY_REFLECTED = 0xD800000000000000


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY_REFLECTED if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def crc64_pure(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-64/GO-ISO of ``data``, continuing from a previous finished value ``crc``."""
    table = _TABLE
    crc ^= _MASK
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK


def _load_fast() -> Callable[[bytes | bytearray | memoryview, int], int] | None:
    try:
        from fastcrc import crc64 as _fast
    except ImportError:  # pragma: no cover - fastcrc is a declared dependency
        return None
    go_iso = _fast.go_iso

    def crc64_fast(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
        if not isinstance(data, bytes):
            data = bytes(data)
        return int(go_iso(data, initial=crc))

    return crc64_fast


crc64: Callable[[bytes | bytearray | memoryview, int], int] = _load_fast() or crc64_pure
"""CRC-64/GO-ISO of ``data`` continuing from ``crc`` (0 to start); fast path when available."""


def _mulmod(a: int, b: int) -> int:
    """a * b modulo the polynomial, both in reflected form (bit 63 is x^0)."""
    product = 0
    bit = 1 << 63
    while a:
        if a & bit:
            product ^= b
            a ^= bit
        bit >>= 1
        b = (b >> 1) ^ _POLY_REFLECTED if b & 1 else b >> 1
    return product


def _powers_of_x() -> list[int]:
    """x^(2^k) modulo the polynomial for k = 0..66 (any length below 2^64 bytes), reflected."""
    out = [1 << 62]  # x^1
    for _ in range(66):
        out.append(_mulmod(out[-1], out[-1]))
    return out


_X_POW2 = _powers_of_x()


def crc64_combine(crc_a: int, crc_b: int, len_b: int) -> int:
    """CRC-64 of A + B from the CRCs of A and of B (each started at 0) and B's length.

    The pre- and post-inversions cancel, so the CRC of A shifted over ``len_b`` zero
    bytes (a multiplication by x^(8 len_b) modulo the polynomial) XOR the CRC of B is the
    CRC of the concatenation. Lets parts of one file be checksummed by separate workers.
    """
    if not 0 <= len_b < 1 << 64:
        raise UsageError(f"length {len_b} out of range")
    shift = 1 << 63  # x^0
    n, k = len_b, 3  # 8 * len_b = len_b << 3
    while n:
        if n & 1:
            shift = _mulmod(_X_POW2[k], shift)
        n >>= 1
        k += 1
    return _mulmod(shift, crc_a) ^ crc_b


def checksum_page(pgno: int, data: bytes | bytearray | memoryview) -> int:
    """The LTX page checksum: flag | CRC-64(u32be(pgno) + data)."""
    return CHECKSUM_FLAG | crc64(data, crc64(pgno.to_bytes(4, "big"), 0))


class DatabaseChecksum:
    """Rolling database checksum: XOR of page checksums, lock page excluded.

    Starts at the flag (the empty database); ``add`` and ``remove`` are their own inverse.
    """

    __slots__ = ("_value",)

    def __init__(self, value: int = CHECKSUM_FLAG) -> None:
        self._value = value | CHECKSUM_FLAG

    @property
    def value(self) -> int:
        """The current checksum, bit 63 set."""
        return self._value

    def add(self, pgno: int, data: bytes | bytearray | memoryview) -> None:
        """XOR one page in (or out: applying it twice cancels)."""
        self._value = CHECKSUM_FLAG | (self._value ^ checksum_page(pgno, data))

    def merge(self, other: DatabaseChecksum) -> None:
        """Fold in the pages another checksum holds (XOR is order-free), e.g. a part's."""
        self._value = CHECKSUM_FLAG | (self._value ^ other._value)

    def update(self, pages: Iterable[tuple[int, bytes]]) -> None:
        """Add every ``(pgno, data)`` pair."""
        for pgno, data in pages:
            self.add(pgno, data)
