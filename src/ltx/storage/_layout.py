"""Where each level's files live under a replica root; the real Litestream differs by scheme.

A ``Layout`` is the one home of those facts: the level folders, where they sit, and
which paths are LTX files. Stores, the survey and messages ask it; none restates it.
"""

from __future__ import annotations

import attrs

from ltx.codec import SNAPSHOT_LEVEL, format_filename, parse_filename
from ltx.errors import FormatError, UsageError

__all__ = ["Layout", "DECIMAL", "HEX", "LAYOUTS"]

_LEVELS = range(SNAPSHOT_LEVEL + 1)


@attrs.frozen
class Layout:
    """A replica layout: ``ltx/<level decimal>/`` (file, gs, webdav...) or ``<%04x>/`` (s3, oss).

    ``parent`` is the folder holding the level folders ('' for the root itself) and
    ``level_format`` the format spec of a level folder's name.
    """

    name: str
    parent: str
    level_format: str

    def _level_name(self, level: int) -> str:
        return format(level, self.level_format)

    def level_dir(self, level: int) -> str:
        """The level's folder relative to the replica root."""
        if level not in _LEVELS:
            raise UsageError(f"level must be 0..9, got {level}")
        name = self._level_name(level)
        return f"{self.parent}/{name}" if self.parent else name

    def file_path(self, level: int, min_txid: int, max_txid: int) -> str:
        """Path of one LTX file relative to the replica root."""
        return f"{self.level_dir(level)}/{format_filename(min_txid, max_txid)}"

    def parse_level_dir(self, name: str) -> int | None:
        """The level a folder name denotes, or None for anything else (never trusted as a path)."""
        for level in _LEVELS:
            if name == self._level_name(level):
                return level
        return None

    def replica_root_of(self, rel: str) -> str | None:
        """The replica root ('' for the prefix itself) of an LTX file at ``rel`` (a path
        relative to a prefix), or None when ``rel`` is not an LTX file of this layout."""
        parts = rel.split("/")
        depth = len(self.level_dir(0).split("/"))
        if len(parts) < depth + 1 or self.parse_level_dir(parts[-2]) is None:
            return None
        if self.parent and parts[-3] != self.parent:
            return None
        try:
            parse_filename(parts[-1])
        except FormatError:
            return None
        return "/".join(parts[: -depth - 1])

    def describe_levels(self) -> str:
        """The level folders looked for, for messages (``ltx/0..ltx/9``, ``0000..0009``)."""
        return f"{self.level_dir(_LEVELS[0])}..{self.level_dir(_LEVELS[-1])}"


DECIMAL = Layout("decimal", parent="ltx", level_format="d")
HEX = Layout("hex", parent="", level_format="04x")
#: The layouts by name, for ``open_store(layout="hex")``.
LAYOUTS = {layout.name: layout for layout in (DECIMAL, HEX)}
