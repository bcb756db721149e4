"""A test kit for users of ltx: hypothesis strategies, ``StoreTests`` and fault wrappers.

Needs the ``testing`` extra (``pip install 'ltx[testing]'``: hypothesis and pytest);
``ltx.testing.faults`` needs nothing more. The strategies load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "LTXFileModel",
    "encode_model",
    "headers",
    "histories",
    "ltx_files",
    "page_sets",
    "page_sizes",
    "pages",
    "replay",
    "run_sql_transaction",
    "sql_workloads",
]


EXTRA_HINT = "ltx.testing needs {}: install the testing extra, pip install 'ltx[testing]'"


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'ltx.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module("ltx.testing.strategies"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
