"""Age-encrypted 0.3 objects: what 0.3.10+ writes with ``age: recipients`` in its config.

Each snapshot and WAL segment is then ``age(LZ4(data))``: Litestream pipes the LZ4
writer into ``age.Encrypt`` (binary age format, not armored), so the stored bytes start
with ``age-encryption.org/v1``. Decrypting needs one of the X25519 identities
(``AGE-SECRET-KEY-1...``) the recipients belong to; pyrage does it (the ``age`` extra).
0.5 cannot read these at all. Objects without the age header are read as they are.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Sequence
from typing import IO, Any

from ltx.errors import LegacyFormatError, UsageError

from ._lz4 import SupportsRead
from ._names import LegacyObject

__all__ = ["AGE_MAGIC", "AgeDecryptor", "is_encrypted", "parse_identities"]

AGE_MAGIC = b"age-encryption.org/v1\n"
_SPILL = 16 << 20  # decrypted bytes kept in memory before they go to a temp file
_PREFIX = "AGE-SECRET-KEY-1"


def is_encrypted(head: bytes) -> bool:
    """True when an object's first bytes are an age header."""
    return head.startswith(AGE_MAGIC[: len(head)]) if head else False


def parse_identities(identities: str | Sequence[str]) -> list[str]:
    """The ``AGE-SECRET-KEY-1...`` keys in an identity file's text or a list of them.

    Blank lines and ``#`` comments are skipped, as ``age.ParseIdentities`` skips them.
    """
    texts = [identities] if isinstance(identities, str) else list(identities)
    keys = []
    for text in texts:
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                keys.append(line)
    if not keys:
        raise UsageError("no age identity given (expected AGE-SECRET-KEY-1... lines)")
    for n, key in enumerate(keys, 1):
        if not key.upper().startswith(_PREFIX):
            raise UsageError(f"age identity {n} is not an X25519 secret key (AGE-SECRET-KEY-1...)")
    return keys


def _pyrage() -> Any:
    try:
        return importlib.import_module("pyrage")
    except ImportError:
        raise UsageError(
            "reading age-encrypted Litestream 0.3 replicas needs pyrage: pip install 'ltx[age]'"
        ) from None


class AgeDecryptor:
    """Decrypts 0.3 objects with the given identities into seekable plaintext streams."""

    def __init__(self, identities: str | Sequence[str]) -> None:
        pyrage = _pyrage()
        self._error = pyrage.DecryptError
        parsed = []
        for n, key in enumerate(parse_identities(identities), 1):
            try:
                parsed.append(pyrage.x25519.Identity.from_str(key))
            except Exception:  # pyrage.IdentityError; never echo the key
                raise UsageError(f"age identity {n} does not parse") from None
        self._identities = parsed
        self._pyrage = pyrage

    def __repr__(self) -> str:
        return f"<AgeDecryptor identities={len(self._identities)}>"

    def decrypt(self, obj: LegacyObject, source: SupportsRead) -> IO[bytes]:
        """The plaintext (LZ4 frame) of ``obj`` read from ``source``, spilled to a temp file
        past 16 MiB; LegacyFormatError naming the object when no identity opens it."""
        out = tempfile.SpooledTemporaryFile(max_size=_SPILL)  # noqa: SIM115 - returned open
        try:
            self._pyrage.decrypt_io(source, out, self._identities)
        except self._error as exc:
            out.close()
            raise LegacyFormatError(
                f"cannot decrypt the age-encrypted object ({exc}): wrong or missing age identity?",
                path=obj.path,
                offset=0,
            ) from None
        out.seek(0)
        return out


def refuse_encrypted(obj: LegacyObject) -> LegacyFormatError:
    """The error for an encrypted object read without identities."""
    return LegacyFormatError(
        "object is age-encrypted (Litestream 0.3 'age' config): pass age_identity=",
        path=obj.path,
        offset=0,
    )
