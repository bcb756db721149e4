"""Compaction: levels configuration, the pure planner and the streaming executor."""

from ltx.compaction.config import LevelsConfig
from ltx.compaction.executor import merge_files, run_steps, verify_file
from ltx.compaction.planner import (
    CompactStep,
    DeleteStep,
    SnapshotStep,
    Step,
    plan_compaction,
    truncate,
)

__all__ = [
    "CompactStep",
    "DeleteStep",
    "LevelsConfig",
    "SnapshotStep",
    "Step",
    "merge_files",
    "plan_compaction",
    "run_steps",
    "truncate",
    "verify_file",
]
