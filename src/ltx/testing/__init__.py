"""A test kit for users of ltx: hypothesis strategies and storage fault wrappers.

Import ``ltx.testing.strategies`` to property-test your own tools against valid LTX
files and their models; only this package imports hypothesis.
"""

from ltx.testing.strategies import (
    LTXFileModel,
    encode_model,
    headers,
    histories,
    ltx_files,
    page_sets,
    page_sizes,
    pages,
    replay,
)

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
]
