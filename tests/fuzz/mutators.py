"""Mutators for the fuzz harness: bytes of LTX files and LZ4 frames, and text.

Each byte mutator takes ``(data, rnd, corpus)`` and returns new bytes; ``mutate``
stacks one to three of them. ``LENGTH_MUTATORS`` only cut, extend or shift the bytes
(the harness then holds random access to "the original index or an error").
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

__all__ = [
    "SEED_NAMES",
    "SEED_URLS",
    "MUTATORS",
    "HOSTILE_SIZE_MUTATORS",
    "LENGTH_MUTATORS",
    "mutate",
    "mutate_text",
]

SEED_NAMES = ["0000000000000001-0000000000000001.ltx", "00000000000003e8-0000000000000fff.ltx"]
SEED_URLS = [
    "s3://bucket/path/db",
    "s3://AKIA:se/cr@et@bucket/p?region=us-east-1&endpoint=http://localhost:9000",
    "s3a://b/p?forcePathStyle=true",
    "gs://bucket/db",
    "gcs://b/p?endpoint=http://x",
    "webdav://user:pw@host:8080/path",
    "webdavs://host/p",
    "sftp://user:pw@host:22/path/db?key=/x",
    "file:///tmp/db",
    "/tmp/db",
    "memory://x/y",
    "abs://acct@container/path",
]
_TEXT_BITS = [
    *":/@?#&=%[]!$'()*+,;~ .-_0123456789abcdefABCDEF\x00\n\t\u00e9\uff1a\u2100",
    "%zz",
    "%00",
    "[::1]",
    ":99999",
    ":-1",
    "://",
    "@@",
    "\ud800",
    "?region=",
    "&endpoint=",
]


def mutate_text(text: str, rnd: random.Random, seeds: Sequence[str]) -> str:
    """One to four character-level edits: insert, delete, splice with a seed, repeat a bit."""
    for _ in range(rnd.randint(1, 4)):
        op, i = rnd.randrange(4), rnd.randint(0, len(text))
        if op == 0:
            text = text[:i] + rnd.choice(_TEXT_BITS) + text[i:]
        elif op == 1:
            text = text[:i] + text[i + rnd.randint(1, 4) :]
        elif op == 2:
            text = text[:i] + rnd.choice(seeds)[rnd.randint(0, 10) :]
        else:
            j = rnd.randint(i, len(text))
            text = text[:i] + rnd.choice(_TEXT_BITS) * rnd.randint(1, 3) + text[j:]
    return text


_HEADER_FIELDS = [(4, 4), (8, 4), (12, 4), (16, 8), (24, 8), (32, 8), (40, 8), (48, 8), (56, 8)]
_HEADER_FIELDS += [(64, 4), (68, 4), (72, 8), (80, 4)]


def _flip(data: bytes, rnd: random.Random, corpus: Sequence[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 3)):
        if out:
            out[rnd.randrange(len(out))] ^= rnd.randint(1, 255)
    return bytes(out)


def _truncate(data: bytes, rnd: random.Random, corpus: Sequence[bytes]) -> bytes:
    return data[: rnd.randint(0, max(0, len(data) - 1))]


def _insert(data: bytes, rnd: random.Random, corpus: Sequence[bytes]) -> bytes:
    i = rnd.randint(0, len(data))
    return data[:i] + rnd.randbytes(rnd.choice((1, 2, 4, 6, 8, 16))) + data[i:]


def _delete(data: bytes, rnd: random.Random, corpus: Sequence[bytes]) -> bytes:
    i = rnd.randint(0, len(data))
    return data[:i] + data[i + rnd.choice((1, 2, 4, 6, 8, 24, 100)) :]


def _splice(data: bytes, rnd: random.Random, corpus: Sequence[bytes]) -> bytes:
    other = rnd.choice(corpus)
    i = rnd.randint(0, len(data))
    j = i if rnd.random() < 0.5 else rnd.randint(0, len(other))
    return data[:i] + other[j:]


def _duplicate(data: bytes, rnd: random.Random, corpus: Sequence[bytes]) -> bytes:
    i = rnd.randint(0, len(data))
    j = rnd.randint(i, min(len(data), i + 300))
    return data[:j] + data[i:j] + data[j:]


def _header_field(data: bytes, rnd: random.Random, corpus: Sequence[bytes]) -> bytes:
    at, width = rnd.choice(_HEADER_FIELDS)
    top = (1 << (8 * width)) - 1
    value = rnd.choice(
        [0, 1, 2, 3, top, top >> 1, (top >> 1) + 1, rnd.randint(0, top), 511, 1000, 131072]
        + [1 << k for k in range(9, 17)]
    )
    return data[:at] + (value & top).to_bytes(width, "big") + data[at + width :]


def _index_size(data: bytes, rnd: random.Random, corpus: Sequence[bytes]) -> bytes:
    if len(data) < 24:
        return data
    value = rnd.choice([0, 1, 2, len(data), len(data) - 130, 1 << 63, (1 << 64) - 1])
    value = max(0, value) if rnd.random() < 0.8 else rnd.randint(0, 4096)
    return data[:-24] + value.to_bytes(8, "big") + data[-16:]


def _index_bytes(data: bytes, rnd: random.Random, corpus: Sequence[bytes]) -> bytes:
    """Overwrite a spot near the end (the page index) with a long or huge uvarint."""
    if len(data) < 40:
        return data
    i = rnd.randint(max(0, len(data) - 80), len(data) - 25)
    blob = rnd.choice([b"\xff" * 9 + b"\x01", b"\x80" * 4 + b"\x10", b"\x00", b"\x01\x64\x0c"])
    return data[:i] + blob + data[i + len(blob) :]


MUTATORS = (
    _flip,
    _truncate,
    _insert,
    _delete,
    _splice,
    _duplicate,
    _header_field,
    _index_size,
    _index_bytes,
)
HOSTILE_SIZE_MUTATORS = (_header_field, _index_size, _index_bytes)
LENGTH_MUTATORS = (_truncate, _insert, _delete, _duplicate)


def mutate(
    data: bytes,
    rnd: random.Random,
    corpus: Sequence[bytes],
    mutators: Sequence[Callable[[bytes, random.Random, Sequence[bytes]], bytes]] = MUTATORS,
    used: list[Callable[..., bytes]] | None = None,
) -> bytes:
    """Apply one to three mutators drawn from ``mutators``, appending them to ``used``."""
    for _ in range(rnd.choice((1, 1, 1, 2, 3))):
        op = rnd.choice(mutators)
        data = op(data, rnd, corpus)
        if used is not None:
            used.append(op)
    return data
