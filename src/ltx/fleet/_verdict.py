"""The verdict of one fleet operation on one replica: small, JSON-ready, worst-first order.

A verdict carries the redacted URL only; the URL with its secrets stays with the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ltx.errors import (
    FormatError,
    LTXError,
    NotFoundError,
    ResolveError,
    StorageError,
    UnsupportedFormatError,
)

__all__ = ["VERDICTS", "Reason", "Verdict", "classify_error", "worst"]

# Worst first: a replica gets the worst verdict any of its reasons calls for.
VERDICTS = ("unreachable", "unsupported", "corrupt", "incomplete", "stale", "healthy")

# verify's problem kinds -> verdicts (ltx.verify.Problem.kind)
_PROBLEM_VERDICT = {
    "storage": "unreachable",
    "unsupported": "unsupported",
    "format": "corrupt",
    "checksum": "corrupt",
    "page_size": "corrupt",
    "time": "corrupt",
    "integrity": "corrupt",
    "probe": "corrupt",
    "chain": "incomplete",
    "plan": "incomplete",
    "empty": "incomplete",
    "stale": "stale",
}


@attrs.frozen
class Reason:
    """Why a replica is not healthy: the verdict it calls for, a message, the file."""

    verdict: str
    kind: str
    message: str
    path: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)

    @classmethod
    def of_problem(cls, kind: str, message: str, path: str | None = None) -> Reason:
        """A reason from a verify problem kind (unknown kinds count as corrupt)."""
        return cls(_PROBLEM_VERDICT.get(kind, "corrupt"), kind, message, path)


def worst(reasons: Iterable[Reason]) -> str:
    """The verdict the worst reason calls for; ``healthy`` when there is none."""
    found = {r.verdict for r in reasons}
    return next((v for v in VERDICTS if v in found), "healthy")


def classify_error(exc: BaseException) -> Reason:
    """A reason for an error that stopped an operation, by type along the cause chain."""
    if isinstance(exc, UnsupportedFormatError):
        return Reason("unsupported", "unsupported", f"{exc.what}: {exc.message}", exc.path)
    if isinstance(exc, FormatError):
        return Reason("corrupt", "format", exc.message, exc.path)
    if isinstance(exc, NotFoundError):
        return Reason("incomplete", "missing", str(exc))
    if isinstance(exc, StorageError):
        return Reason("unreachable", "storage", str(exc))
    if isinstance(exc, ResolveError):
        return Reason("incomplete", "plan", str(exc))
    if isinstance(exc, LTXError):
        return Reason("corrupt", type(exc).__name__, str(exc))
    return Reason("unreachable", type(exc).__name__, str(exc))


@attrs.frozen
class Verdict:
    """One replica's outcome of one operation (``op``): the verdict, the reasons naming
    files, the newest point and its age (RPO), the time taken and op-specific details."""

    url: str
    op: str
    verdict: str
    reasons: tuple[Reason, ...] = ()
    newest_txid: int | None = None
    newest_at: str | None = None
    rpo_seconds: float | None = None
    seconds: float = 0.0
    files: int = 0
    bytes: int = 0
    detail: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def healthy(self) -> bool:
        """True for the verdict ``healthy``."""
        return self.verdict == "healthy"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (one line of ``ltx fleet`` output)."""
        out = attrs.asdict(self, recurse=False)
        out["reasons"] = [r.to_json() for r in self.reasons]
        out["detail"] = dict(self.detail)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        """The verdict a ``to_json`` dict describes (for ``--resume`` and summaries)."""
        fields = {a.name for a in attrs.fields(cls)}
        kept = {k: v for k, v in data.items() if k in fields}
        kept["reasons"] = tuple(Reason(**r) for r in data.get("reasons", ()))
        return cls(**kept)

    def same_outcome(self, other: Verdict) -> bool:
        """Equal verdicts and reasons (times and sizes of the run aside)."""
        return (self.url, self.op, self.verdict, self.reasons) == (
            other.url,
            other.op,
            other.verdict,
            other.reasons,
        )
