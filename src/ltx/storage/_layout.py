"""Where each level's files live under a replica root; the real Litestream differs by scheme."""

from __future__ import annotations

import re

import attrs

from ltx.codec import format_filename
from ltx.errors import UsageError

__all__ = ["Layout", "DECIMAL", "HEX"]


@attrs.frozen
class Layout:
    """A replica layout: ``ltx/<level decimal>/`` (file, gs, webdav...) or ``<%04x>/`` (s3, oss)."""

    name: str

    def level_dir(self, level: int) -> str:
        """The level's folder relative to the replica root."""
        if not 0 <= level <= 9:
            raise UsageError(f"level must be 0..9, got {level}")
        return f"ltx/{level}" if self.name == "decimal" else f"{level:04x}"

    def file_path(self, level: int, min_txid: int, max_txid: int) -> str:
        """Path of one LTX file relative to the replica root."""
        return f"{self.level_dir(level)}/{format_filename(min_txid, max_txid)}"

    def parse_level_dir(self, name: str) -> int | None:
        """The level a folder name denotes, or None for anything else (never trusted as a path)."""
        if self.name == "decimal":
            return int(name) if re.fullmatch(r"[0-9]", name) else None
        return int(name, 16) if re.fullmatch(r"000[0-9]", name) else None


DECIMAL = Layout("decimal")
HEX = Layout("hex")
